"""Critical proportion for continual pretraining: recovery, edge cases, errors, step law."""

import json

import numpy as np
import pandas as pd
import pytest

from raymix.errors import UserError
from raymix.proposal.critical_share import (
    CriticalProportion,
    critical_from_runs,
    critical_proportion,
)
from raymix.runs import Runs

C, K, T = 2.8, 0.01, 4.0  # about the paper's Pile-loss law in the share of Python
PROPORTIONS = np.repeat([0.1, 0.3, 0.5, 0.7, 0.9], 3)  # replicates, as with seeds


def _law(r, c=C):
    return c + K * np.exp(T * np.asarray(r))


def _noisy(y, seed=0, scale=5e-4):
    return y + np.random.default_rng(seed).normal(0, scale, len(y))


def _baseline_for(r_star, c=C):
    return float(_law(r_star, c))


def test_recovers_known_critical_proportion():
    result = critical_proportion(PROPORTIONS, _noisy(_law(PROPORTIONS)), _baseline_for(0.6),
                                 domain="code")
    assert isinstance(result, CriticalProportion)
    assert result.feasible and result.message == ""
    assert result.proportion == pytest.approx(0.6, abs=0.03)
    assert result.law["t"] == pytest.approx(T, rel=0.2)
    assert result.law["n_points"] == len(PROPORTIONS) and result.law["rmse"] < 2e-3
    assert result.tokens is None and result.domain == "code"
    json.dumps(result.to_dict())  # the CLI writes it as JSON


def test_infeasible_when_even_zero_is_above_baseline():
    result = critical_proportion(PROPORTIONS, _noisy(_law(PROPORTIONS)), C - 0.05)
    assert not result.feasible and result.proportion == 0.0
    assert "no proportion keeps it" in result.message


def test_whole_range_safe_and_extrapolation_flagged():
    y = _noisy(_law(PROPORTIONS))
    assert critical_proportion(PROPORTIONS, y, _law(1.0) + 0.1).proportion == 1.0
    # runs only at 0.1 - 0.5 and a crossing near 0.8: the answer is flagged as extrapolated
    inside = PROPORTIONS <= 0.5
    result = critical_proportion(PROPORTIONS[inside], y[inside], _baseline_for(0.8))
    assert result.feasible and "outside the proportions run" in result.message


def test_from_wide_runs():
    share = np.array([0.2, 0.4, 0.6, 0.8])
    ids = [f"run{i}" for i in range(len(share))]
    mixtures = pd.DataFrame({"pile": 1 - share, "python": share}, index=ids)
    objective = pd.Series(_law(share), index=ids, name="objective")
    runs = Runs(mixtures=mixtures, metrics=objective.to_frame("pile_loss"),
                objective=objective, target="pile_loss")
    result = critical_from_runs(runs, "python", _baseline_for(0.5))
    assert result.domain == "python" and result.proportion == pytest.approx(0.5, abs=0.01)
    with pytest.raises(UserError, match=r"^domain: no domain 'code'.*pile, python"):
        critical_from_runs(runs, "code", 3.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": [0.2, 0.2, 0.8, 0.8], "losses": [2.9, 2.9, 3.0, 3.0]},
     "3 or more distinct proportions"),
    ({"baseline": float("nan")}, "^baseline: "),
    ({"baseline": "2.9"}, "^baseline: "),
    ({"losses": _law(PROPORTIONS)[::-1]}, "do not show the loss on the original data rising"),
    ({"weights": PROPORTIONS + 0.5}, r"must lie in \[0, 1\]"),
    ({"losses": [2.9, 3.0]}, "one loss per run"),
    ({"at_tokens": 1e9}, "at_tokens needs the tokens"),
    ({"tokens": np.ones(len(PROPORTIONS))}, "needs 3 or more per proportion"),
])
def test_errors_are_one_line_user_errors(kwargs, match):
    args = {"weights": PROPORTIONS, "losses": _law(PROPORTIONS), "baseline": 2.9} | kwargs
    with pytest.raises(UserError, match=match) as info:
        critical_proportion(args.pop("weights"), args.pop("losses"), args.pop("baseline"),
                            **args)
    assert "\n" not in str(info.value)


def test_step_law_extrapolates_to_a_longer_run():
    # every proportion's loss falls as E_r + B / T^beta; E_r follows the mixing law
    levels = np.array([0.2, 0.4, 0.6, 0.8])
    tokens = np.array([1e9, 2e9, 3e9, 4e9, 5e9])
    B, beta, at = 3.0, 0.5, 2e10
    r = np.repeat(levels, len(tokens))
    seen = np.tile(tokens, len(levels))
    losses = _noisy(_law(r) + B * (seen / 1e9) ** -beta, scale=2e-4)
    floor_at = C + B * (at / 1e9) ** -beta  # the law's floor at the target length
    baseline = _baseline_for(0.55, c=floor_at)
    result = critical_proportion(r, losses, baseline, tokens=seen, at_tokens=at)
    assert result.tokens == at
    assert result.proportion == pytest.approx(0.55, abs=0.05)
    assert result.law["step_law"]["beta"] == pytest.approx(beta, rel=0.3)
    # the last checkpoint alone is still above the long run's loss: a smaller answer
    last = seen == tokens[-1]
    assert critical_proportion(r[last], losses[last], baseline).proportion < 0.4
