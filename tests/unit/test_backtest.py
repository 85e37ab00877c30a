"""The backtest that chooses the scaling-law settings: its split, its choice, its fallback."""

import json

import numpy as np
import pandas as pd
import pytest

import raymix.workflows.inputs as inputs
from raymix.config import FitConfig
from raymix.runs.long import long_runs_from_frame
from raymix.scaling import (
    BacktestResult,
    JointScalingLaw,
    NestedScalingLaw,
    Setting,
    TargetSize,
    backtest_scaling,
    rule_setting,
    settings_to_try,
)
from raymix.scaling.backtest import CandidateScore, candidate_splits, choose

DOMAINS = ["web", "code", "books"]
SIZES = (1e7, 3e7, 1e8, 3e8)
TOKENS = np.geomspace(1e9, 8e9, 7)


def _table(loss, n_mixtures=6, sizes=SIZES, tokens=TOKENS, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(DOMAINS)), size=n_mixtures)
    rows = []
    for i, w in enumerate(weights):
        for params in sizes:
            for d in tokens:
                rows.append({"run": f"m{i}-{params:.0e}", "params": params, "tokens": d,
                             **dict(zip(DOMAINS, w)),
                             "loss": loss(i, w, params, d) + rng.normal(0, noise)})
    return long_runs_from_frame(pd.DataFrame(rows), ["loss"])


def joint_loss(i, w, params, tokens):
    """Chinchilla's form: E, alpha and beta shared, A and B per mixture."""
    A = 40 * (1 + w[0])
    B = 300 * (1 + w[1])
    return 1.7 + A * params ** -0.3 + B * tokens ** -0.28


def step_per_mixture_loss(i, w, params, tokens):
    """Each mixture learns at its own rate in tokens: no shared beta fits them all."""
    beta = 0.15 + 0.25 * w[2]
    return 1.5 + 60 * params ** -0.3 + 3 * (tokens / 1e9) ** -beta


# ----------------------------------------------------------------------------- the split


@pytest.mark.parametrize("at, ratio", [(TargetSize(params=9e8), (3.0, 1.0)),
                                       (TargetSize(params=3e8, tokens=TOKENS[-1] * 2), None)])
def test_the_split_has_the_ratio_nearest_the_one_asked_for(at, ratio):
    runs = _table(joint_loss, n_mixtures=3)
    splits = candidate_splits(runs, at)
    nearest = splits[0][0]
    assert nearest.distance == pytest.approx(min(s.distance for s, _ in splits))
    if ratio is not None:  # 3x the largest size: fit up to 1e8, predict 3e8
        assert nearest.ratio == pytest.approx(ratio)
        assert (nearest.fit_params, nearest.at.params) == (1e8, 3e8)
    else:  # 2x the tokens: the checkpoint ratio nearest 2 (steps of 8^(1/6) = 1.41)
        step = TOKENS[1] / TOKENS[0]
        assert nearest.ratio[1] == pytest.approx(step ** 2)  # 1.41^2 = 2.0
        assert nearest.ratio[0] == pytest.approx(1.0)
    held = splits[0][1]
    assert len(held) == nearest.n_mixtures == 3  # every mixture is measured there


# ----------------------------------------------------------------------------- the choice


def test_on_runs_of_the_joint_form_the_backtest_chooses_the_joint_law():
    runs = _table(joint_loss, noise=0.004)
    at = TargetSize(params=1e9, tokens=3e10)
    result = backtest_scaling(runs, at, settings_to_try(), rule_setting(runs))
    assert rule_setting(runs).law == "nested"  # 4 sizes: the rule would take nested
    assert result.note is None and result.chosen.law == "joint"
    scores = {str(s.setting): s for s in result.scores}
    joint = scores[str(Setting("joint"))]
    nested = scores[str(Setting("nested"))]
    assert joint.mean_abs_error_pct < nested.mean_abs_error_pct
    table = result.table()
    assert table["chosen"].sum() == 1 and table.loc[str(result.chosen), "chosen"]
    json.dumps(result.to_dict())  # JSON-ready for stages_


def test_with_a_step_exponent_per_mixture_the_backtest_chooses_the_nested_law():
    runs = _table(step_per_mixture_loss, sizes=(1e7, 3e7, 1e8), tokens=np.geomspace(1e9, 3e10, 9))
    result = backtest_scaling(runs, TargetSize(tokens=1e11), settings_to_try(), rule_setting(runs))
    assert result.chosen == Setting("nested", False, "all")


def test_a_near_tie_goes_to_the_better_ranking():
    a, b, c = Setting("nested"), Setting("joint"), Setting("nested", True)
    scores = [CandidateScore(a, 1.00, 0.5, 0.60, 5), CandidateScore(b, 1.03, 0.5, 0.90, 5),
              CandidateScore(c, 2.0, 1.0, 1.0, 5), CandidateScore(Setting("joint", False,
                                                                          "final"), error="x")]
    assert choose(scores) == b  # within 5% of the best error, better Spearman
    scores[1].mean_abs_error_pct = 1.2  # no longer a near-tie
    assert choose(scores) == a
    assert choose([CandidateScore(a, error="cannot")]) is None


# ----------------------------------------------------------------------------- no backtest


def test_one_size_and_one_checkpoint_give_the_note_and_the_rule():
    runs = _table(joint_loss, sizes=(1e8,), tokens=(4e9,))
    result = backtest_scaling(runs, TargetSize(params=1e9, tokens=1e10), settings_to_try(),
                              rule_setting(runs))
    assert result.split is None and "no backtest" in result.note
    assert result.chosen == rule_setting(runs) == Setting("joint", False, "all")


def test_no_mixture_measured_at_a_held_out_scale_gives_the_note():
    one = _table(joint_loss, n_mixtures=1, sizes=(1e7,), tokens=TOKENS[:3], seed=1).frame
    other = _table(joint_loss, n_mixtures=1, sizes=(1e8,), tokens=TOKENS[:3], seed=2).frame
    frame = pd.concat([one.assign(run="a"), other.assign(run="b")]).rename(
        columns={"objective": "loss"})
    runs = long_runs_from_frame(frame, ["loss"], domains=DOMAINS)
    result = backtest_scaling(runs, TargetSize(params=1e9), settings_to_try(), rule_setting(runs))
    assert result.split is None and "using the rule (joint, all checkpoints)" in result.note


# ----------------------------------------------------------------------------- fit.law auto


def test_auto_settings_run_the_backtest_and_store_its_table():
    runs = _table(joint_loss, noise=0.004)
    law = inputs.law_at_target(runs, TargetSize(params=1e9, tokens=3e10), FitConfig())
    assert isinstance(law, JointScalingLaw)
    stored = law.stages_["backtest"]
    assert stored["chosen_setting"]["law"] == "joint" and len(stored["candidates"]) == 6
    json.dumps(law.stages_)


@pytest.mark.parametrize("config, expected", [
    (FitConfig(law="nested", share_exponents=False, checkpoints="all"), (False, "all")),
    (FitConfig(law="nested", share_exponents="true", checkpoints="final"), (True, "final")),
    (FitConfig(law="joint", checkpoints="all"), None),
])
def test_explicit_settings_skip_the_backtest(monkeypatch, config, expected):
    def refuse(*args, **kwargs):
        raise AssertionError("the backtest ran")

    monkeypatch.setattr(inputs, "backtest_scaling", refuse)
    runs = _table(joint_loss, sizes=(1e7, 3e7, 1e8))
    law = inputs.law_at_target(runs, TargetSize(params=3e8), config)
    assert "backtest" not in law.stages_
    if expected is None:
        assert isinstance(law, JointScalingLaw)
    else:
        assert type(law) is NestedScalingLaw
        assert (law.share_step_exponent, law.checkpoints) == expected


def test_settings_to_try_leave_open_only_the_auto_values():
    assert len(settings_to_try()) == 6  # nested x shared x checkpoints, joint x checkpoints
    assert settings_to_try("joint", True, "all") == [Setting("joint", False, "all")]
    assert {s.law for s in settings_to_try("auto", False, "final")} == {"nested", "joint"}


def test_settings_that_cannot_reach_the_target_are_not_fitted():
    runs = _table(joint_loss, sizes=(1e7, 3e7))  # 2 sizes: no nested size law
    result = backtest_scaling(runs, TargetSize(params=1e8), settings_to_try(), rule_setting(runs))
    nested = [s for s in result.scores if s.setting.law == "nested"]
    assert len(nested) == 4 and all("needs 3 sizes" in s.error for s in nested)
    assert result.chosen.law == "joint" and result.split is not None



def test_a_choice_that_cannot_fit_all_the_runs_falls_back_to_the_rule(monkeypatch):
    def nested_anyway(runs, at, settings, fallback, min_tokens):
        return BacktestResult(at, (1.0, 1.0), None, chosen=Setting("nested"))

    monkeypatch.setattr(inputs, "backtest_scaling", nested_anyway)
    runs = _table(joint_loss, sizes=(1e7, 3e7))  # 2 sizes: the nested size law cannot fit
    law = inputs.law_at_target(runs, TargetSize(params=1e8), FitConfig())
    assert isinstance(law, JointScalingLaw)
    assert "cannot be fitted on all the runs" in law.stages_["backtest"]["note"]
    assert law.stages_["backtest"]["chosen"] == str(Setting("joint"))


def test_the_report_names_the_law_used_and_shows_the_backtest(tmp_path):
    from raymix.workflows.fitting import fit

    runs = _table(joint_loss, noise=0.004)
    fitted = fit(runs, fit_config=FitConfig(regressors=["ridge"], cv_folds=3),
                 at=TargetSize(params=1e9, tokens=3e10), report=tmp_path)
    assert fitted.scaling.stages_["backtest"]["chosen_setting"]["law"] == "joint"
    report = (tmp_path / "report.md").read_text()
    assert "## Joint scaling law" in report and "Nested scaling laws" not in report
    assert "backtest of the settings" in report
    page = (tmp_path / "index.html").read_text()
    assert 'id="backtest"' in page and "Joint scaling law" in page
