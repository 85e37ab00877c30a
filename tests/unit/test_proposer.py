"""Fit and proposal end to end on known response surfaces, and the report."""

import json

import numpy as np
import pandas as pd
import pytest

from raymix.config import FitConfig, SearchConfig
from raymix.errors import ConfigError, UserError
from raymix.proposal import propose_mixture
from raymix.regression import fit_regressor
from raymix.regression.selection import CVResult, cross_validate, make_regressor, select_best
from raymix.report import write_report

DOMAINS = ["web", "code", "books", "math"]
PRIOR = dict(zip(DOMAINS, [0.1, 0.2, 0.3, 0.4]))  # far from the bowl's optimum
OPTIMUM = np.array([0.35, 0.3, 0.2, 0.15])
SMALL_SEARCH = SearchConfig(method="simulate", draws=20_000, top_k=50, bootstrap=20)
TREES = FitConfig(regressors=["ridge", "lightgbm"], ensemble=False)
RIDGE = FitConfig(regressors=["ridge"], cv_folds=4)


def _mixtures(n, seed=0, k=None):
    k = len(DOMAINS) if k is None else k
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(k, 0.8), size=n)


def _bowl(w):
    """A convex response surface with its minimum (3.0) at OPTIMUM."""
    return 3.0 + ((w - OPTIMUM) ** 2).sum(axis=1)


@pytest.fixture(scope="module")
def bowl_runs():
    X = _mixtures(200)
    noise = np.random.default_rng(1).normal(0, 1e-3, len(X))
    frame = pd.DataFrame(X, columns=DOMAINS, index=pd.Index([f"run{i:03d}" for i in range(200)]))
    return frame, pd.Series(_bowl(X) + noise, index=frame.index)


@pytest.fixture(scope="module")
def bowl_proposal(bowl_runs):
    mixtures, loss = bowl_runs
    return propose_mixture(mixtures, loss, prior=PRIOR, fit_config=TREES, search=SMALL_SEARCH)


# ----------------------------------------------------------------------------- regressors


def test_ridge_recovers_a_linear_response():
    X = _mixtures(60)
    y = 3 + X @ np.array([0.5, -0.2, 0.1, 0.3]) + np.random.default_rng(0).normal(0, 0.005, 60)
    result = cross_validate("ridge", X, y, folds=5)
    assert result.spearman > 0.95
    assert result.mae < 0.02


def test_lightgbm_fits_a_nonlinear_response_that_ridge_cannot():
    X = _mixtures(200)
    y = _bowl(X)
    results = [cross_validate(name, X, y, folds=5) for name in ("ridge", "lightgbm")]
    ridge, lgbm = results
    assert lgbm.spearman > 0.9 > ridge.spearman
    assert select_best(results) is lgbm


def test_lightgbm_learns_from_forty_runs():
    X = _mixtures(40)
    y = 3 + X @ np.array([0.5, -0.2, 0.1, 0.3])
    assert cross_validate("lightgbm", X, y, folds=5).spearman > 0.6


def test_cv_predictions_are_out_of_fold_and_aligned():
    X = _mixtures(53)
    y = 3 + X[:, 0]
    result = cross_validate("ridge", X, y, folds=5, seed=3)
    assert result.predictions.shape == y.shape
    assert sorted(np.bincount(result.fold)) == [10, 10, 11, 11, 11]
    # each prediction comes from a model that never saw that run
    for fold in range(5):
        held_out = result.fold == fold
        model = make_regressor("ridge").fit(X[~held_out], y[~held_out])
        np.testing.assert_allclose(result.predictions[held_out], model.predict(X[held_out]))


@pytest.mark.parametrize(
    "X, y, folds, message",
    [
        (_mixtures(3), np.arange(3.0), 5, "too few runs to fit: 3 runs for 5 CV folds"),
        (_mixtures(5), np.arange(5.0), 2, "each fold must leave at least 3 runs"),
        (_mixtures(10), np.r_[np.arange(9.0), np.nan], 5, "missing or infinite"),
        (_mixtures(10), np.ones(10), 5, "the same for every run"),
        (_mixtures(10), np.arange(9.0), 5, "one value per run"),
    ],
)
def test_bad_training_data_is_a_user_error(X, y, folds, message):
    with pytest.raises(UserError, match=message):
        cross_validate("ridge", X, y, folds=folds)


def test_unknown_regressor_names_the_config_field():
    with pytest.raises(UserError, match=r"^regressors: unknown regressor 'xgboost'"):
        make_regressor("xgboost")


def test_select_best_breaks_ties_by_mae_and_ranks_nan_last():
    def result(name, spearman, mae):
        return CVResult(name, spearman, 0.0, mae, 0.0, np.zeros(1), np.zeros(1, dtype=int))

    assert select_best([result("a", 0.9, 0.2), result("b", 0.9, 0.1)]).name == "b"
    assert select_best([result("a", np.nan, 0.0), result("b", -0.5, 1.0)]).name == "b"


# ----------------------------------------------------------------------------- proposal


def test_proposal_finds_the_optimum_of_a_convex_surface(bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    out = bowl_proposal.to_dict()
    proposed = np.array([out["mixture"][d] for d in DOMAINS])
    assert out["regressor"]["name"] == "lightgbm"
    assert np.abs(proposed - OPTIMUM).sum() < 0.15
    # truly better than every baseline on the known surface
    baselines = out["baselines"]
    true_loss = _bowl(proposed[None, :])[0]
    for name in ("uniform", "token_proportional"):
        assert true_loss < _bowl(np.array([list(baselines[name]["mixture"].values())]))[0]
        assert out["predicted_target_loss"] <= baselines[name]["predicted_target_loss"]
        assert baselines[name]["predicted_gap_to_proposal"] >= 0
    assert true_loss < baselines["best_observed"]["observed_target_loss"]


@pytest.mark.parametrize("regressor, method", [("gp", "cmaes"), ("implicit_law", "exact"),
                                               ("lightgbm", "tpe")])
def test_other_regressors_and_methods_find_the_optimum(bowl_runs, regressor, method):
    mixtures, loss = bowl_runs
    search = SearchConfig(method=method, trials=300, restarts=8, draws=5000,
                          uncertainty=False)  # the search alone (test_uncertainty.py: the rest)
    p = propose_mixture(mixtures, loss, prior=PRIOR, search=search,
                fit_config=FitConfig(regressors=[regressor], cv_folds=3))
    assert p.search.method == method
    assert np.abs(p.weights - OPTIMUM).sum() < 0.25, p.mixture


def test_proposal_dict_is_json_and_complete(bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    out = json.loads(json.dumps(bowl_proposal.to_dict()))
    assert set(out) == {"target", "mixture", "predicted_target_loss", "predicted_std",
                        "predicted_std_source", "uncertainty", "baselines", "nearest_run",
                        "regressor", "regressors", "noise_floor", "n_runs", "constraints",
                        "search", "warnings"}
    assert list(out["mixture"]) == DOMAINS
    assert sum(out["mixture"].values()) == pytest.approx(1.0)
    assert set(out["regressors"]) == {"ridge", "lightgbm"}
    assert {"name", "cv_spearman", "cv_mae", "cv_pearson", "cv_r2", "cv_rmse"} <= set(
        out["regressor"])
    # no GP: the uncertainty is the cross-validated RMSE
    assert out["predicted_std"] == pytest.approx(out["regressor"]["cv_rmse"])
    assert "cross-validated RMSE" in out["predicted_std_source"]
    assert out["uncertainty"]["refits"] == 20 and out["uncertainty"]["regressor"] == "lightgbm"
    assert out["search"]["method"] == "simulate"
    assert out["n_runs"] == 200 and out["noise_floor"] is None
    best = out["baselines"]["best_observed"]
    assert best["run"] == loss.idxmin()
    assert best["observed_target_loss"] == pytest.approx(loss.min())
    assert best["gap_above_noise"] is None  # no repeated mixtures: noise unmeasured


def test_target_series_is_aligned_by_run_label(bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    shuffled = loss.sample(frac=1.0, random_state=0)
    again = propose_mixture(mixtures, shuffled, prior=PRIOR, fit_config=TREES, search=SMALL_SEARCH)
    np.testing.assert_allclose(again.weights, bowl_proposal.weights)
    with pytest.raises(UserError, match="no target loss for 1 run"):
        propose_mixture(mixtures, loss.iloc[1:], prior=PRIOR, fit_config=RIDGE, search=SMALL_SEARCH)


@pytest.mark.parametrize("method", ["simulate", "exact"])
def test_proposal_never_breaks_a_bound(method):
    X = _mixtures(40)
    y = 3 + X @ np.array([-0.5, 0.2, -0.1, 0.3])  # linear: pushes the proposal to the bounds
    rng = np.random.default_rng(0)
    tried = 0
    for trial in range(12):
        lower = rng.dirichlet(np.ones(4)) * rng.uniform(0, 0.8)
        upper = np.minimum(1.0, lower + rng.uniform(0.1, 0.7, 4))
        if upper.sum() < 1:
            continue
        tried += 1
        search = SearchConfig(method=method, draws=2000, top_k=20, seed=trial, restarts=4,
                              bootstrap=10, min_weight=dict(zip(DOMAINS, lower)),
                              max_weight=dict(zip(DOMAINS, upper)))
        out = propose_mixture(pd.DataFrame(X, columns=DOMAINS), y, prior=PRIOR, fit_config=RIDGE,
                      search=search).to_dict()
        for mixture in [out["mixture"], out["baselines"]["uniform"]["mixture"],
                        out["baselines"]["token_proportional"]["mixture"]]:
            w = np.array([mixture[d] for d in DOMAINS])
            assert np.all(w >= lower - 1e-9) and np.all(w <= upper + 1e-9)
            assert w.sum() == pytest.approx(1.0, abs=1e-9)
        # every bootstrap refit's optimum keeps the bounds too
        spread = out["uncertainty"]["weights"]
        assert all(lower[i] - 1e-9 <= spread[d][0] <= spread[d][1] <= upper[i] + 1e-9
                   for i, d in enumerate(DOMAINS))
        for name in ("uniform", "token_proportional"):
            assert out["predicted_target_loss"] <= out["baselines"][name]["predicted_target_loss"]
    assert tried >= 6


def test_repetition_cap_of_the_target_run_binds():
    X = _mixtures(40)
    y = 3 - X[:, 3]  # more "math" is always better, but it holds few tokens
    tokens = {"web": 10**9, "code": 10**9, "books": 10**9, "math": 10**6}
    search = SearchConfig(draws=5000, top_k=20, target_tokens=10**7, max_epochs=4)
    out = propose_mixture(pd.DataFrame(X, columns=DOMAINS), y, prior=PRIOR, fit_config=RIDGE,
                  search=search, available_tokens=tokens).to_dict()
    assert out["constraints"]["upper"]["math"] == pytest.approx(0.4)
    assert out["mixture"]["math"] == pytest.approx(0.4)
    binding = {b["domain"]: b for b in out["constraints"]["binding"]}
    assert binding["math"]["bound"] == "upper" and "repetition" in binding["math"]["constraint"]


def test_infeasible_constraints_name_the_field():
    X = pd.DataFrame(_mixtures(20), columns=DOMAINS)
    y = 3 - X["math"]
    with pytest.raises(ConfigError, match=r"search\.max_epochs"):
        propose_mixture(X, y, fit_config=RIDGE, available_tokens=dict.fromkeys(DOMAINS, 10**6),
                search=SearchConfig(target_tokens=10**9, max_epochs=1))
    with pytest.raises(ConfigError, match=r"search\.target_tokens"):
        propose_mixture(X, y, fit_config=RIDGE,
                        search=SearchConfig(target_tokens=10**9, max_epochs=1))
    with pytest.raises(ConfigError, match=r"constraints\.max_weight\.poetry"):
        propose_mixture(X, y, fit_config=RIDGE, search=SearchConfig(max_weight={"poetry": 0.2}),
                where="constraints")


def test_noise_floor_from_repeated_mixtures_marks_small_gaps():
    rng = np.random.default_rng(0)
    X = np.repeat(_mixtures(30), 2, axis=0)  # every mixture run with two seeds
    y = 3 + 0.01 * X[:, 0] + rng.normal(0, 0.05, len(X))  # the signal is far below the noise
    out = propose_mixture(pd.DataFrame(X, columns=DOMAINS), y, prior=PRIOR, fit_config=RIDGE,
                  search=SMALL_SEARCH).to_dict()
    noise = out["noise_floor"]
    assert noise["mixtures"] == 30 and noise["std"] == pytest.approx(0.05, rel=0.35)
    assert noise["min_meaningful_difference"] == pytest.approx(2 * np.sqrt(2) * noise["std"])
    assert out["baselines"]["uniform"]["gap_above_noise"] is False


def test_fit_returns_the_refitted_best_and_all_results():
    X = _mixtures(60)
    y = _bowl(X)
    fitted = fit_regressor(X, y, ["ridge", "lightgbm"], folds=5, ensemble=False)
    assert [r.name for r in fitted.results] == ["ridge", "lightgbm"]
    assert fitted.chosen.name == "lightgbm"
    mean, std = fitted.predict(X[:3])
    assert mean.shape == std.shape == (3,)


# ----------------------------------------------------------------------------- report


def test_report_writes_markdown_and_pngs(tmp_path, bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    metrics = pd.DataFrame({"a_loss": loss, "b_loss": loss + mixtures["web"]})
    report = write_report(tmp_path / "report", bowl_proposal.fit, loss, target="t",
                          mixtures=mixtures, metrics=metrics,
                          proposal=bowl_proposal.to_dict())
    text = report.read_text()
    assert report.name == "report.md"
    for png in ("cv_fit.png", "weights.png", "residuals.png", "sensitivity.png",
                "interaction.png"):
        data = (report.parent / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        assert f"]({png})" in text
    assert "**lightgbm** (chosen)" in text and "token_proportional" in text
    assert "d loss / d weight" in text
    assert not list(report.parent.glob(".*.tmp"))  # no temporary files left behind


def test_warnings_tell_a_missed_best_run_from_one_outside_the_bounds():
    from raymix.mixtures import Constraints
    from raymix.proposal import Proposal, SearchResult, fit_warnings
    from raymix.proposal.proposer import Baseline
    from raymix.regression import FitResult

    def proposal(best_weight, gap):
        chosen = CVResult("ridge", 0.9, 0.9, 0.01, 0.8, np.zeros(1), np.zeros(1, dtype=int))
        fitted = FitResult(estimator=None, chosen=chosen, results=[chosen], noise=None,
                           domains=["a", "b"], n_runs=10)
        box = Constraints(["a", "b"], lower=np.zeros(2), upper=np.array([0.5, 1.0]),
                          prior=np.full(2, 0.5))
        found = SearchResult(["a", "b"], np.array([0.5, 0.5]), 3.0, 3.0, "simulate")
        return Proposal(fit=fitted, constraints=box, search=found, predicted_target_loss=3.0,
                        predicted_std=0.0, baselines={"best_observed": Baseline(
                            {"a": best_weight, "b": 1 - best_weight}, 3.0 + gap, 0.0, gap,
                            observed_target_loss=3.0, run="r7")})

    assert "search missed it" in fit_warnings(proposal(0.4, -0.05))[0]
    assert fit_warnings(proposal(0.9, -0.05)) == []  # a: 0.9 breaks the bound of 0.5
    assert fit_warnings(proposal(0.4, 0.05)) == []


def test_a_proposal_far_from_every_run_is_flagged_as_an_extrapolation():
    """A linear fit on runs near one mixture follows its trend to a vertex no run tried."""
    from raymix.proposal import fit_warnings

    rng = np.random.default_rng(0)
    X = rng.dirichlet([40, 30, 20, 10], size=20)
    loss = 3.0 - 0.8 * X[:, 3] + rng.normal(0, 0.002, 20)
    runs = pd.DataFrame(X, columns=list("abcd"))
    far = propose_mixture(runs, loss, fit_config=FitConfig(regressors=["ridge"], cv_folds=3),
                  search=SearchConfig(method="exact", restarts=4))
    assert far.nearest_run["distance"] > 0.5
    assert any("far from every run" in w for w in fit_warnings(far))
    near = propose_mixture(runs, loss, fit_config=FitConfig(regressors=["gp"], cv_folds=3),
                   search=SearchConfig(method="pessimistic", draws=2000))
    assert near.nearest_run["distance"] < 0.5
    assert not any("far from every run" in w for w in fit_warnings(near))
