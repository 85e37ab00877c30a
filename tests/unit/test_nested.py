"""Nested scaling laws: known step, size and mixing laws are recovered and extrapolated."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from raymix.cli.arguments import parse_at
from raymix.errors import ConfigNotice, UserError
from raymix.regression import fit_regressor
from raymix.report.scaling_plots import (
    plot_predicted_vs_actual,
    plot_size_laws,
    plot_step_laws,
)
from raymix.runs.long import long_runs_from_frame
from raymix.scaling import NestedScalingLaw, TargetSize
from raymix.workflows.inputs import check_at

DOMAINS = ["web", "code", "books"]
T = np.array([-1.2, 0.4, 0.8])  # mixing law slopes: web helps
TOKENS = np.geomspace(1e9, 6e9, 8)
SIZES = (1e7, 3e7, 1e8, 3e8)


def true_loss(w, params, tokens):
    """Mixing law x size law x step law: L = 1.4 + 0.6 exp(t.w) + 300/N^0.3 + 400/D^0.28.

    At a fixed size it is a step law in D, at fixed tokens a size law in N, and at a
    fixed scale an explicit mixing law in w: every stage has an exact answer.
    """
    return 1.4 + 0.6 * np.exp(np.asarray(w) @ T) + 300 * params ** -0.3 + 400 * tokens ** -0.28


def _mixtures(n, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(len(DOMAINS)), size=n)


def _table(weights, sizes=SIZES, tokens=TOKENS, noise=0.0, seeds=(0,), loss=true_loss):
    rng = np.random.default_rng(1)
    rows = []
    for i, w in enumerate(weights):
        for params in sizes:
            for seed in seeds:
                for d in tokens:
                    rows.append({"run": f"m{i}-{params:.0e}-s{seed}", "params": params,
                                 "tokens": d, "seed": seed, **dict(zip(DOMAINS, w)),
                                 "loss": loss(w, params, d) + rng.normal(0, noise) if noise
                                 else loss(w, params, d)})
    return pd.DataFrame(rows)


def _runs(table):
    return long_runs_from_frame(table, ["loss"])


# ----------------------------------------------------------------------------- step law


def test_step_law_recovers_E_B_beta_from_noisy_checkpoints():
    E, B, beta = 2.3, 1000.0, 0.3  # the loss falls by 1 over the checkpoints
    table = _table(_mixtures(3), sizes=(1e8,), tokens=np.geomspace(1e9, 1e10, 10), noise=0.002,
                   loss=lambda w, n, d: E + B * d ** -beta)
    law = NestedScalingLaw().fit(_runs(table), TargetSize(tokens=1e11))
    for curve in law.curves_["step"].values():
        assert curve.law[2] == pytest.approx(beta, rel=0.25)
    np.testing.assert_allclose(law.predicted_, E + B * 1e11 ** -beta, atol=0.02)
    assert law.stages_["size"]["skipped"]  # one size: the step law's value is the prediction
    holdout = law.stages_["step"]["holdout"]
    assert holdout["n_curves"] == 3 and holdout["max_relative_error_pct"] < 1.0
    json.dumps(law.stages_)  # JSON-ready


def test_shared_step_exponent_is_one_beta_per_size():
    table = _table(_mixtures(4), sizes=(1e7, 1e8), noise=0.001)
    law = NestedScalingLaw(share_step_exponent=True).fit(_runs(table), TargetSize(tokens=3e10))
    betas = {size: {c.law[2] for (m, s), c in law.curves_["step"].items() if s == size}
             for size in (1e7, 1e8)}
    assert all(len(b) == 1 for b in betas.values())
    assert next(iter(betas[1e8])) == pytest.approx(0.28, rel=0.25)
    truth = [true_loss(w, 1e8, 3e10) for w in law.mixtures_.to_numpy()]
    np.testing.assert_allclose(law.predicted_, truth, atol=0.02)


def test_seeds_are_averaged_and_short_curves_use_their_measured_value():
    weights = _mixtures(2)
    table = _table(weights, sizes=(1e8,), seeds=(0, 1))
    table.loc[table["seed"] == 0, "loss"] += 0.05
    table.loc[table["seed"] == 1, "loss"] -= 0.05
    short = _table(_mixtures(1, seed=5), sizes=(1e8,), tokens=TOKENS[-2:])
    short["run"] = "short"
    runs = _runs(pd.concat([table, short], ignore_index=True))
    law = NestedScalingLaw().fit(runs, TargetSize())  # default: the last checkpoint all reached
    assert law.at_.tokens == TOKENS[-1]
    truth = [true_loss(w, 1e8, TOKENS[-1]) for w in law.mixtures_.to_numpy()]
    np.testing.assert_allclose(law.predicted_, truth, atol=1e-4)
    assert law.runs_of_["m0-1e+08-s0"] == ["m0-1e+08-s0", "m0-1e+08-s1"]
    assert "short" in law.predicted_.index  # 2 checkpoints, one of them the target

    far = NestedScalingLaw().fit(runs, TargetSize(tokens=1e10))
    assert "short" not in far.predicted_.index and "fewer than 3 checkpoints" in far.notes_[-1]


def test_final_checkpoints_make_one_curve_of_runs_of_several_lengths():
    w = _mixtures(1)[0]
    rows = []
    for i, d in enumerate(TOKENS):  # one run per length; its mid-run checkpoint is off-curve
        for tokens, offset in ((d / 2, 0.3), (d, 0.0)):
            rows.append({"run": f"r{i}", "params": 1e8, "tokens": tokens,
                         **dict(zip(DOMAINS, w)), "loss": true_loss(w, 1e8, tokens) + offset})
    law = NestedScalingLaw(checkpoints="final").fit(_runs(pd.DataFrame(rows)),
                                                    TargetSize(tokens=2e10))
    assert law.predicted_.iloc[0] == pytest.approx(true_loss(w, 1e8, 2e10), abs=1e-3)
    assert len(law.runs_of_[law.predicted_.index[0]]) == len(TOKENS)


# ----------------------------------------------------------------------------- size law


def test_size_law_recovers_E_A_alpha():
    law = NestedScalingLaw().fit(_runs(_table(_mixtures(3))), TargetSize(params=3e9, tokens=3e10))
    for mixture, curve in law.curves_["size"].items():
        w = law.mixtures_.loc[mixture].to_numpy()
        E = 1.4 + 0.6 * np.exp(w @ T) + 400 * 3e10 ** -0.28
        assert curve.law == pytest.approx((E, 300.0, 0.3), rel=1e-3)
    truth = [true_loss(w, 3e9, 3e10) for w in law.mixtures_.to_numpy()]
    np.testing.assert_allclose(law.predicted_, truth, atol=1e-5)
    assert law.stages_["size"]["holdout"]["max_relative_error_pct"] < 0.01


def test_shared_size_exponent_needs_only_two_sizes_per_mixture():
    weights = _mixtures(4)
    two_sizes = _table(weights[1:], sizes=SIZES[:2])
    two_sizes["run"] = "two-" + two_sizes["run"]
    table = pd.concat([_table(weights[:1]), two_sizes], ignore_index=True)
    at = TargetSize(params=1e9, tokens=TOKENS[-1])
    alone = NestedScalingLaw().fit(_runs(table), at)
    assert list(alone.predicted_.index) == ["m0-1e+07-s0"]
    assert "too few sizes" in alone.notes_[-1]
    shared = NestedScalingLaw(share_size_exponent=True).fit(_runs(table), at)
    assert len(shared.predicted_) == 4
    alphas = {c.law[2] for c in shared.curves_["size"].values()}
    assert len(alphas) == 1 and alphas.pop() == pytest.approx(0.3, rel=1e-3)
    truth = [true_loss(w, 1e9, TOKENS[-1]) for w in shared.mixtures_.to_numpy()]
    np.testing.assert_allclose(shared.predicted_, truth, atol=1e-4)


# ----------------------------------------------------------------------------- the pipeline


def test_whole_pipeline_predicts_an_unseen_scale_and_feeds_the_mixing_law():
    weights = _mixtures(12)
    law = NestedScalingLaw().fit(_runs(_table(weights)), TargetSize(params=1e9, tokens=2e10))
    truth = np.array([true_loss(w, 1e9, 2e10) for w in law.mixtures_.to_numpy()])
    np.testing.assert_allclose(law.predicted_, truth, atol=1e-4)
    # between the scales too
    mixture = law.mixtures_.index[0]
    w = law.mixtures_.loc[mixture].to_numpy()
    assert law.predict_curve(mixture, 1e8, 3e9) == pytest.approx(true_loss(w, 1e8, 3e9), abs=1e-4)
    assert law.predict_curve(mixture, 2e8, 3e9) == pytest.approx(true_loss(w, 2e8, 3e9), abs=1e-4)

    runs = law.to_runs()
    assert runs.domains == DOMAINS and "params=1e+09" in runs.target
    fitted = fit_regressor(runs.mixtures, runs.objective, regressors=["mixing_law"], folds=3)
    assert fitted.chosen.mae < 1e-3 and fitted.chosen.spearman > 0.99
    np.testing.assert_allclose(fitted.estimator.t_, T - T.mean(), atol=0.02)


def test_a_scale_the_runs_cannot_reach_is_a_user_error():
    one_size = _runs(_table(_mixtures(3), sizes=(1e8,)))
    with pytest.raises(UserError, match=r"^at: params=1e\+09: no mixture was trained at that "
                                        r"size .* leave params out of the target scale"):
        NestedScalingLaw().fit(one_size, TargetSize(params=1e9))
    two_points = _runs(_table(_mixtures(3), sizes=(1e8,), tokens=TOKENS[:2]))
    with pytest.raises(UserError, match=r"^at: tokens=1e\+10: no \(mixture, size\) has the 3 "):
        NestedScalingLaw().fit(two_points, TargetSize(tokens=1e10))
    with pytest.raises(UserError, match="checkpoints must be one of all, final"):
        NestedScalingLaw(checkpoints="last").fit(one_size, TargetSize())
    with pytest.raises(UserError, match="min_tokens: no checkpoint"):
        NestedScalingLaw(min_tokens=1e12).fit(one_size, TargetSize())


# ----------------------------------------------------------------------------- --at


@pytest.mark.parametrize("spec, scale", [
    ("params=1e8,tokens=2e9", TargetSize(1e8, 2e9)),
    ("tokens=2e9", TargetSize(None, 2e9)),
    (" params = 1B ", TargetSize(1e9, None)),
    ("params=410M,tokens=100B", TargetSize(4.1e8, 1e11)),
])
def test_parse_at(spec, scale):
    assert parse_at(spec) == scale


@pytest.mark.parametrize("spec, message", [
    ("", r"^at: give the target scale"),
    ("size=1e9", r"'size=1e9' is not params=N or tokens=D"),
    ("params", r"'params' is not params=N"),
    ("params=-3", r"params must be a number above 0 .*got '-3'"),
    ("tokens=lots", r"tokens must be a number above 0"),
    ("params=1e8,params=2e8", r"params is given twice"),
])
def test_parse_at_errors_name_the_option(spec, message):
    with pytest.raises(UserError, match=message):
        parse_at(spec)


# ----------------------------------------------------------------------------- figures


def test_figures_are_written(tmp_path):
    law = NestedScalingLaw().fit(_runs(_table(_mixtures(3))), TargetSize(params=1e9, tokens=2e10))
    paths = [plot_step_laws(law, tmp_path / "steps.png"),
             plot_size_laws(law, tmp_path / "sizes.png"),
             plot_predicted_vs_actual(law.predicted_, law.predicted_ + 0.01,
                                      tmp_path / "check.png", labels=law.predicted_.index)]
    for path in paths:
        assert path.read_bytes()[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------- joint law


def joint_loss(w, params, tokens):
    """E + A(w)/N^alpha + B(w)/D^beta: the mixture sets how fast the target is learned."""
    w = np.asarray(w)
    return 1.5 + 300 * np.exp(w @ T) * params ** -0.3 + 500 * np.exp(-w @ T) * tokens ** -0.28


def test_the_joint_law_extrapolates_from_two_sizes_where_a_size_law_cannot():
    from raymix.scaling import JointScalingLaw

    weights = _mixtures(8)
    runs = _runs(_table(weights, sizes=(1e7, 3e7), noise=1e-4, loss=joint_loss))
    at = TargetSize(params=3e8, tokens=2e10)  # 10x the largest size, 3.3x the longest run
    with pytest.raises(UserError, match="size law needs"):
        NestedScalingLaw(share_size_exponent=True).fit(runs, at)
    law = JointScalingLaw().fit(runs, at)
    shared = law.stages_["shared"]
    assert shared["alpha"] == pytest.approx(0.3, abs=0.03)
    assert shared["beta"] == pytest.approx(0.28, abs=0.03)
    assert shared["E"] == pytest.approx(1.5, abs=0.05)
    truth = np.array([joint_loss(w, 3e8, 2e10) for w in weights])
    assert law.predicted_.to_numpy() == pytest.approx(truth, rel=0.003)
    assert law.stages_["step"]["holdout"]["mean_relative_error_pct"] < 0.1
    # the same interface as the nested laws: runs at the target scale, curves to plot
    assert len(law.to_runs().objective) == 8
    assert law.curves_["size"][law.predicted_.index[0]].target_y == pytest.approx(
        law.predicted_.iloc[0])


def test_a_target_below_the_runs_is_refused_and_partly_below_is_noted():
    runs = _runs(_table(_mixtures(3)))
    smallest, fewest = min(SIZES), min(TOKENS)
    with pytest.raises(UserError, match=r"^at: params=1e\+06 is below the smallest model .* "
                                        r"and tokens=1e\+06 is below .* not backwards"):
        check_at(runs, TargetSize(params=1e6, tokens=1e6))
    with pytest.raises(UserError, match="not backwards"):
        check_at(runs, TargetSize(params=smallest / 10))  # the only dimension given
    with pytest.warns(ConfigNotice, match="extrapolates backwards"):
        check_at(runs, TargetSize(params=smallest / 10, tokens=fewest * 100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # at or above the runs: nothing said
        check_at(runs, TargetSize(params=smallest * 10, tokens=fewest))
