"""The confirmation round's pieces: which mixtures it trains again, and its verdict."""

import json

import numpy as np
import pandas as pd
import pytest

from raymix.config import FitConfig, SearchConfig, parse_config
from raymix.errors import UserError
from raymix.proposal import propose_mixture
from raymix.proposal.confirmation import (
    Candidate,
    confirmation_candidates,
    confirmation_verdict,
    total_variation,
)
from raymix.proposal.proposer import confirmed_proposal
from raymix.runs import SweepLayout
from raymix.workflows.confirm_state import ConfirmState

DOMAINS = ["web", "code", "books", "math"]
OPTIMUM = np.array([0.4, 0.3, 0.2, 0.1])
SEARCH = SearchConfig(method="simulate", draws=20_000, top_k=50,
                      max_weight={"web": 0.5})


@pytest.fixture(scope="module")
def runs():
    """A bowl with its minimum at OPTIMUM; run-0 and its repeat run-0-s1 share a mixture."""
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.full(4, 0.8), size=80)
    X[1] = X[0]
    X[2] = [0.9, 0.05, 0.03, 0.02]  # the best run of all, but outside web <= 0.5
    y = 3.0 + ((X - OPTIMUM) ** 2).sum(axis=1) + rng.normal(0, 1e-3, len(X))
    y[2] = 2.0
    index = ["run-0", "run-0-s1"] + [f"run-{i}" for i in range(2, len(X))]
    return pd.DataFrame(X, columns=DOMAINS, index=index), y


@pytest.fixture(scope="module")
def proposal(runs):
    mixtures, y = runs
    return propose_mixture(mixtures, y, fit_config=FitConfig(regressors=["ridge", "gp"]),
                           search=SEARCH)


def test_candidates_are_distinct_and_inside_the_bounds(runs, proposal):
    mixtures, y = runs
    chosen = confirmation_candidates(proposal, mixtures, y, SEARCH, fit_count=3,
                                     observed_count=2, min_distance=0.05)
    assert [c.source for c in chosen] == ["fit"] * 3 + ["observed"] * 2
    assert chosen[0].name == "proposal"
    assert chosen[0].mixture == pytest.approx(proposal.mixture)
    W = np.array([c.weights(DOMAINS) for c in chosen])
    for i in range(len(W)):
        assert all(total_variation(W[i], W[j]) >= 0.05 for j in range(i))
    assert np.all(W[:, 0] <= 0.5 + 1e-9)  # the search's bound holds for every candidate
    # the observed ones are the best runs inside the bounds (run-2, the best, is not)
    observed = [c for c in chosen if c.source == "observed"]
    X = mixtures.to_numpy()
    eligible = [i for i in range(2, len(y))  # in the bounds, not a fit candidate's twin
                if X[i, 0] <= 0.5 and total_variation(X[i], W[:3]).min() >= 0.05]
    assert observed[0].observed <= min(y[i] for i in eligible) + 1e-12
    assert observed[0].observed <= observed[1].observed
    assert all(c.name != "run-2" for c in chosen)


def test_repeats_count_once_with_their_mean(runs, proposal):
    mixtures, y = runs
    y = y.copy()
    y[0], y[1] = 1.0, 1.2  # run-0 and its repeat: the best mixture, mean 1.1
    chosen = confirmation_candidates(proposal, mixtures, y, SEARCH, fit_count=0,
                                     observed_count=2, min_distance=0.0)
    assert chosen[0].name == "run-0" and chosen[0].observed == pytest.approx(1.1)
    assert chosen[1].name != "run-0-s1"


def test_earlier_rounds_are_not_confirmed_again(runs, proposal):
    mixtures, y = runs
    first = confirmation_candidates(proposal, mixtures, y, SEARCH, fit_count=2,
                                    observed_count=1, min_distance=0.05)
    again = confirmation_candidates(proposal, mixtures, y, SEARCH, fit_count=2,
                                    observed_count=1, min_distance=0.05,
                                    exclude=[c.weights(DOMAINS) for c in first], prefix="r2-")
    assert all(c.name.startswith("r2-") for c in again)
    for c in again:
        assert min(total_variation(c.weights(DOMAINS), f.weights(DOMAINS)) for f in first) >= 0.05


def _candidates(*names):
    return [Candidate(n, "fit", {"web": 1.0}, 3.0, 0.1) for n in names]


def test_the_verdict_names_the_measured_best_and_weighs_the_gap_against_noise():
    measured = {"a": [3.00, 3.02, 3.01], "b": [3.10, 3.12, 3.11], "c": [3.011, 3.021, 3.031]}
    verdict = confirmation_verdict(_candidates("a", "b", "c", "d"), measured)
    assert verdict.winner == "a" and verdict.order == ["a", "c", "b"]
    assert verdict.noise_std == pytest.approx(0.01)
    assert verdict.runner_up == "c" and verdict.margin == pytest.approx(0.011)
    assert verdict.margin_beyond_noise is False  # 0.011 < 2 * 0.01 * sqrt(2/3)
    assert verdict.candidates["b"].beaten_beyond_noise is True
    assert verdict.candidates["d"].measured is None  # no finished run
    one_seed = confirmation_verdict(_candidates("a", "b"), {"a": [3.0], "b": [3.1]})
    assert one_seed.noise_std is None and one_seed.margin_beyond_noise is None
    assert confirmation_verdict(_candidates("a"), {}) is None


def test_a_confirmed_proposal_is_the_winner(runs, proposal):
    mixtures, y = runs
    winner = np.array([0.3, 0.3, 0.2, 0.2])
    verdict = confirmation_verdict(
        [Candidate("run-7", "observed", dict(zip(DOMAINS, winner)), 3.0, 0.1, 3.0),
         Candidate("proposal", "fit", proposal.mixture, 2.9, 0.1)],
        {"run-7": [3.00, 3.01], "proposal": [3.20, 3.21]})
    confirmed = confirmed_proposal(proposal, mixtures, y, winner, verdict)
    assert confirmed.mixture == pytest.approx(dict(zip(DOMAINS, winner)))
    assert confirmed.search.mixture == pytest.approx(proposal.weights)  # what the fit found
    data = json.loads(json.dumps(confirmed.to_dict()))
    assert data["confirmation"]["winner"] == "run-7"
    assert data["mixture"] == pytest.approx(dict(zip(DOMAINS, winner)))
    assert data["predicted_target_loss"] == pytest.approx(
        float(proposal.fit.predict(winner[None, :])[0][0]))
    assert not any("far from every run" in w for w in confirmed.warnings)


def _sweep_config(tmp_path, **confirm):
    return parse_config({
        "name": "c", "data": {"domains": [{"name": "a", "source": "builtin:code"},
                                          {"name": "b", "source": "builtin:poetry"}]},
        "target": {"name": "t", "source": "builtin:python_reference"},
        "compute": {"storage": str(tmp_path)}, "confirm": confirm})


def test_changed_confirm_settings_are_refused_and_more_rounds_extend(tmp_path):
    cfg = _sweep_config(tmp_path, seeds=3)
    state = ConfirmState.load(cfg)
    state.rounds.append(_candidates("proposal", "run-3"))
    state.save(cfg)
    before = SweepLayout(tmp_path).confirmation.read_text()
    with pytest.raises(UserError) as info:
        ConfirmState.load(_sweep_config(tmp_path, seeds=2))
    assert info.value.field == "confirm.seeds"
    assert "confirm.seeds = 3, not 2" in str(info.value) and "confirm.json" in str(info.value)
    assert SweepLayout(tmp_path).confirmation.read_text() == before  # nothing written
    more = ConfirmState.load(_sweep_config(tmp_path, seeds=3, rounds=2))
    assert [c.name for c in more.rounds[0]] == ["proposal", "run-3"]
    ids = more.run_ids(cfg, 0, more.rounds[0][0])
    assert len(ids) == 3 and ids[0].startswith("confirm1-proposal-") and ids[2].endswith("-s2")
    # no finished run yet: no verdict, and every run is still to be trained
    assert more.verdict(cfg) is None and more.measured(cfg)[1:] == (0, 6)


def test_plan_keeps_a_rounds_runs_when_rewritten_and_drops_them_when_chosen_again(tmp_path):
    from raymix.sweep.plan import add_runs, drop_confirmation_runs, save_plan

    cfg = _sweep_config(tmp_path)
    base = pd.DataFrame({"run": ["run-0000", "run-0001"], "seed": 0, "scale": "base",
                         "a": [0.3, 0.6], "b": [0.7, 0.4]})
    save_plan(cfg, base)
    round_runs = pd.DataFrame({"run": ["confirm1-proposal-abc123-s0",
                                       "confirm1-run-0001-def456-s0"],
                               "seed": 1000, "scale": "base", "a": [0.5, 0.6], "b": [0.5, 0.4]})
    add_runs(cfg, round_runs)
    add_runs(cfg, round_runs)  # a resumed round adds nothing twice
    plan = SweepLayout(tmp_path).plan
    assert pd.read_csv(plan)["run"].tolist() == base["run"].tolist() + round_runs["run"].tolist()
    extended = pd.concat([base, base.assign(run=["s-run-0000", "s-run-0001"], scale="s")])
    save_plan(cfg, extended)  # a scale added later: the round's runs stay, after the plan's
    assert pd.read_csv(plan)["run"].tolist() == (extended["run"].tolist()
                                                 + round_runs["run"].tolist())
    drop_confirmation_runs(cfg)
    assert pd.read_csv(plan)["run"].tolist() == extended["run"].tolist()
