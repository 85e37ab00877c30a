"""The proposal's bootstrap uncertainty: intervals, P(beats), weight spread, repeats, seeds."""

import numpy as np
import pandas as pd
import pytest

from raymix.config import FitConfig, SearchConfig
from raymix.config.checks import check_search
from raymix.errors import ConfigError, UserError
from raymix.proposal import propose_mixture
from raymix.proposal.proposer import _confirmation_warnings, confirmed_proposal
from raymix.proposal.uncertainty import (
    EXPENSIVE_REFITS,
    refit,
    refits_for,
    resample,
)
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.regression import Ensemble, SimplexGP, fit_regressor
from raymix.regression.noise import mixture_groups

DOMAINS = ["web", "code", "books", "math"]
OPTIMUM = np.array([0.35, 0.3, 0.2, 0.15])
RIDGE_TREES = FitConfig(regressors=["ridge", "lightgbm"], ensemble=False)
SMOOTH = FitConfig(regressors=["gp"], ensemble=False)
SEARCH = SearchConfig(method="simulate", draws=5_000, top_k=20, bootstrap=30)


def _runs(n=60, seed=0, noise=0.005):
    rng = np.random.default_rng(seed)
    X = rng.dirichlet(np.full(len(DOMAINS), 0.8), size=n)
    y = 3.0 + 10 * ((X - OPTIMUM) ** 2).sum(axis=1) + rng.normal(0, noise, n)
    return pd.DataFrame(X, columns=DOMAINS), pd.Series(y)


@pytest.fixture(scope="module")
def proposal():
    mixtures, loss = _runs()
    return propose_mixture(mixtures, loss, fit_config=SMOOTH, search=SEARCH)


def test_intervals_hold_the_prediction_and_probabilities_are_fractions(proposal):
    u = proposal.uncertainty
    assert u.refits == 30 and u.predictions.shape == (30, 4) and u.optima.shape == (30, 4)
    lo, hi = u.interval
    assert lo <= proposal.predicted_target_loss <= hi and lo < hi
    lo, hi = u.run_interval
    assert lo <= proposal.predicted_target_loss <= hi
    assert set(u.p_beats) == {"uniform", "token_proportional", "best_observed"}
    assert all(0.0 <= p <= 1.0 for p in u.p_beats.values())
    # the bowl's optimum is far from uniform: every refit agrees the proposal beats it
    assert u.p_beats["uniform"] == 1.0
    for w_lo, w_hi in u.weights.values():
        assert 0.0 <= w_lo <= w_hi <= 1.0
    assert 0.0 <= u.mean_distance <= 1.0
    out = proposal.to_dict()
    assert out["uncertainty"]["interval"] == list(u.interval)
    assert out["uncertainty"]["refits"] == 30 and out["uncertainty"]["search"]["candidates"] <= 2000
    assert "predictive standard deviation" in out["predicted_std_source"]


def test_seeded_results_are_identical_and_the_seed_matters():
    mixtures, loss = _runs()
    fitted = fit_regressor(mixtures, loss, ["ridge", "lightgbm"], ensemble=False)
    first, again = (propose_mixture(mixtures, loss, fitted=fitted, search=SEARCH).to_dict()
                    for _ in range(2))
    assert first["uncertainty"] == again["uncertainty"]
    other = propose_mixture(mixtures, loss, fitted=fitted,
                            search=SearchConfig(**{**vars(SEARCH), "seed": 1})).to_dict()
    assert other["uncertainty"]["interval"] != first["uncertainty"]["interval"]


def test_best_observed_run_clearly_better_warns_with_a_small_probability():
    mixtures, loss = _runs(40, noise=0.0)
    mixtures.loc[len(mixtures)] = OPTIMUM  # a run at the optimum: clearly the best
    loss.loc[len(loss)] = 3.0
    # a single random candidate: the search cannot find the optimum
    blind = SearchConfig(method="simulate", draws=1, top_k=1, bootstrap=30, seed=3)
    out = propose_mixture(mixtures, loss, fit_config=FitConfig(regressors=["ridge", "loglinear"],
                          ensemble=False), search=blind)
    assert out.uncertainty.p_beats["best_observed"] < 0.2
    best = [w for w in out.warnings if "best observed run" in w]
    assert len(best) == 1 and "bootstrap refits" in best[0]


def test_low_probability_of_beating_the_best_run_warns_even_when_predicted_better(proposal):
    # the same proposal, with a bootstrap that mostly disagrees with its own fit
    from raymix.proposal import fit_warnings

    u = proposal.uncertainty
    proposal.uncertainty = type(u)(**{**vars(u), "p_beats": {**u.p_beats, "best_observed": 0.3}})
    try:
        assert proposal.baselines["best_observed"].predicted_gap_to_proposal > 0
        assert not any("bootstrap refits" in w for w in proposal.warnings)
        assert any("30% of 30 bootstrap refits" in w for w in fit_warnings(proposal))
    finally:
        proposal.uncertainty = u


def test_repeats_are_resampled_as_one_mixture():
    X = np.array([[0.5, 0.5], [0.5, 0.5 + 1e-9], [0.5, 0.5], [0.2, 0.8], [0.9, 0.1], [0.9, 0.1]])
    groups = mixture_groups(X)
    assert groups[0] == groups[1] == groups[2] and groups[4] == groups[5]
    assert len(set(groups)) == 3
    rng = np.random.default_rng(0)
    sizes = np.bincount(groups)
    for _ in range(200):
        rows = resample(groups, rng)
        # a drawn mixture brings as many of its own runs as it has: never a part of them
        counts = np.bincount(groups[rows], minlength=len(sizes))
        assert np.all(counts % sizes == 0)


def test_bad_bootstrap_setting_is_refused_naming_the_field():
    mixtures, loss = _runs(30)
    with pytest.raises(ConfigError, match=r"search\.bootstrap") as caught:
        propose_mixture(mixtures, loss, fit_config=RIDGE_TREES,
                        search=SearchConfig(method="simulate", draws=500, bootstrap=0))
    assert isinstance(caught.value, UserError) and caught.value.field == "search.bootstrap"
    with pytest.raises(ConfigError, match=r"constraints\.bootstrap"):
        propose_mixture(mixtures, loss, fit_config=RIDGE_TREES, where="constraints",
                        search=SearchConfig(method="simulate", draws=500, bootstrap=1))
    with pytest.raises(ConfigError, match=r"search\.bootstrap"):
        check_search(SearchConfig(bootstrap=0), DOMAINS)


def test_uncertainty_can_be_turned_off():
    mixtures, loss = _runs(30)
    out = propose_mixture(mixtures, loss, fit_config=RIDGE_TREES,
                          search=SearchConfig(method="simulate", draws=500, uncertainty=False))
    assert out.uncertainty is None and out.to_dict()["uncertainty"] is None


def test_refits_refit_every_member_and_keep_the_gps_hyperparameters():
    mixtures, loss = _runs(40)
    X, y = mixtures.to_numpy(), loss.to_numpy()
    ensemble = Ensemble(("ridge", "gp")).fit(X, y)
    again = refit(ensemble, X[:30], y[:30])
    assert again is not ensemble and len(again.estimators_) == 2
    gp, gp_again = ensemble.estimators_[1], again.estimators_[1]
    assert isinstance(gp_again, SimplexGP)
    np.testing.assert_array_equal(gp_again.theta_, gp.theta_)
    assert len(gp_again.alpha_) == 30  # conditioned on the resample, not the original runs
    assert not np.allclose(again.predict(X), ensemble.predict(X))


def test_expensive_regressors_get_fewer_refits_and_say_so():
    mixtures, loss = _runs(30)
    fitted = fit_regressor(mixtures, loss, ["ridge"], ensemble=False)
    assert refits_for(fitted, 100) == (100, None)
    fitted.chosen.name = "ensemble(ridge+implicit_law)"
    refits, note = refits_for(fitted, 100)
    assert refits == EXPENSIVE_REFITS and "implicit_law" in note
    fitted.chosen.name = "gp"  # a GP is cheap on few runs
    assert refits_for(fitted, 100) == (100, None)


def test_a_confirmed_proposal_judges_the_same_refits_at_the_winner(proposal):
    mixtures, loss = _runs()
    winner = np.full(len(DOMAINS), 1 / len(DOMAINS))  # uniform: worse than the proposal
    confirmed = confirmed_proposal(proposal, mixtures, loss.to_numpy(), winner,
                                   ConfirmationVerdict.from_dict(
                                       {"winner": "uniform", "candidates": {}}))
    moved = confirmed.uncertainty
    np.testing.assert_array_equal(moved.optima, proposal.uncertainty.optima)
    assert moved.interval != proposal.uncertainty.interval
    assert moved.p_beats["uniform"] == 0.0  # the winner is the uniform mixture itself
    assert moved.interval[0] <= confirmed.predicted_target_loss <= moved.interval[1]


def test_confirmation_measuring_the_best_run_better_than_the_proposal_warns():
    verdict = {"winner": "run7", "candidates": {
        "proposal": {"source": "fit", "measured": 3.10},
        "top_k_mean": {"source": "fit", "measured": 3.12},
        "run7": {"source": "observed", "measured": 3.05}}}
    warnings = _confirmation_warnings(ConfirmationVerdict.from_dict(verdict))
    assert len(warnings) == 1 and "run7" in warnings[0] and "0.05" in warnings[0]
    verdict["candidates"]["run7"]["measured"] = 3.2
    assert _confirmation_warnings(ConfirmationVerdict.from_dict(verdict)) == []


def test_terminal_report_and_tracker_show_the_bootstrap(proposal, tmp_path):
    import json

    from raymix.cli.summaries import summarise_proposal
    from raymix.report import write_report
    from raymix.tracking import SweepSummary

    out = json.loads(json.dumps(proposal.to_dict()))
    lo, hi = out["uncertainty"]["interval"]
    text = summarise_proposal(proposal)
    assert f"90% interval: {lo:.4f} to {hi:.4f}" in text and "30 bootstrap refits" in text
    assert "P(proposal beats): uniform 1.00" in text
    mixtures, loss = _runs()
    report = write_report(tmp_path / "report", proposal.fit, loss, target="t",
                          mixtures=mixtures, proposal=out).read_text()
    assert "Bootstrap: 30 refits of gp" in report and "P(the proposal beats)" in report
    assert "Bootstrap: 30 refits of gp" in (tmp_path / "report" / "index.html").read_text()
    (tmp_path / "proposal.json").write_text(json.dumps(out))
    metrics = SweepSummary.of(tmp_path / "proposal.json", None).metrics
    assert metrics["uncertainty/interval_low"] == lo
    assert metrics["uncertainty/p_beats_best_observed"] == out["uncertainty"]["p_beats"][
        "best_observed"]
    # a proposal.json written before the bootstrap: its words where the dict now is
    old = {**out, "uncertainty": out["predicted_std_source"]}
    del old["predicted_std_source"]
    (tmp_path / "proposal.json").write_text(json.dumps(old))
    assert not any(k.startswith("uncertainty/")
                   for k in SweepSummary.of(tmp_path / "proposal.json", None).metrics)
    report = write_report(tmp_path / "old", proposal.fit, loss, target="t", mixtures=mixtures,
                          proposal=old).read_text()
    assert "predictive standard deviation" in report and "Bootstrap:" not in report
