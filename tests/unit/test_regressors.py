"""The regressor family: fits, gradients, GP uncertainty, auto choice, ensembles, noise floor."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from raymix.config import load_config
from raymix.errors import UserError
from raymix.regression import NoiseFloor, SimplexGP, noise_floor
from raymix.regression.gp import gp_negative_log_likelihood
from raymix.regression.selection import (
    AUTO_CANDIDATES,
    AutoRegressor,
    Ensemble,
    choose,
    cross_validate,
    cv_shuffles,
    ensemble_name,
    fit_auto,
    make_regressor,
    score_predictions,
    select_best,
)

DEMO = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "demo.yaml"

LAWS = ["mixing_law", "implicit_law"]
T = np.array([-1.5, 0.4, -0.3, 0.8])  # how each of 4 domains moves the log loss


def _mixtures(n, seed=0, k=4, concentration=0.8):
    return np.random.default_rng(seed).dirichlet(np.full(k, concentration), size=n)


def _law(X, noise=0.0, seed=0):
    """A mixing-law-shaped response (Ye et al.): 2 + exp(t . w), plus Gaussian noise."""
    return 2.0 + np.exp(X @ T) + np.random.default_rng(seed).normal(0, noise, len(X))


@pytest.fixture(scope="module")
def law_runs():
    X = _mixtures(60)
    return X, _law(X, noise=0.005)


@pytest.mark.parametrize("name", ["ridge", "loglinear", "lightgbm", "gp", *LAWS])
def test_each_regressor_beats_a_constant_on_held_out_mixtures(name, law_runs):
    X, y = law_runs
    X_test = _mixtures(200, seed=7)
    y_test = _law(X_test)
    predicted = make_regressor(name, seed=0).fit(X, y).predict(X_test)
    constant_error = np.mean((y_test - y.mean()) ** 2)
    assert np.mean((y_test - predicted) ** 2) < 0.5 * constant_error
    assert stats.spearmanr(y_test, predicted)[0] > 0.8


def test_loglinear_finds_the_offset_of_an_exact_law():
    X = _mixtures(80)
    model = make_regressor("loglinear").fit(X, _law(X))
    assert model.offset_ == pytest.approx(2.0, abs=0.1)
    assert np.abs(model.predict(X) - _law(X)).max() < 0.02


def _finite_difference(model, X, step=1e-6):
    columns = []
    for j in range(X.shape[1]):
        shift = np.zeros(X.shape[1])
        shift[j] = step
        columns.append((model.predict(X + shift) - model.predict(X - shift)) / (2 * step))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("model", [
    make_regressor("ridge"),
    make_regressor("loglinear"),
    Ensemble(("ridge", "loglinear")),
    *[make_regressor(name) for name in LAWS],
], ids=lambda m: type(m).__name__)
def test_gradient_matches_finite_differences(model, law_runs):
    X, y = law_runs
    model.fit(X, y)
    points = _mixtures(5, seed=3)
    gradient = model.gradient(points)
    assert gradient.shape == points.shape
    np.testing.assert_allclose(gradient, _finite_difference(model, points), rtol=1e-4, atol=1e-6)


def test_ensemble_has_a_gradient_only_when_every_member_has_one(law_runs):
    X, y = law_runs
    assert not hasattr(Ensemble(("ridge", "lightgbm")).fit(X, y), "gradient")
    assert hasattr(Ensemble(("ridge", "loglinear")).fit(X, y), "gradient")
    assert np.allclose(Ensemble(("ridge", "loglinear")).fit(X, y).predict(X),
                       (make_regressor("ridge").fit(X, y).predict(X)
                        + make_regressor("loglinear").fit(X, y).predict(X)) / 2)


def test_gp_likelihood_and_gradient_equal_scikit_learns():
    X = _mixtures(40, seed=2)
    y = _law(X, noise=0.01)
    Z, t = np.sqrt(X), (y - y.mean()) / y.std()
    theta = np.log([1.7, 0.5, 2.0, 0.8, 3.0, 0.05])
    kernel = ConstantKernel() * Matern(np.ones(4), nu=2.5) + WhiteKernel()
    reference = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None).fit(Z, y)
    value, gradient = reference.log_marginal_likelihood(theta, eval_gradient=True)
    nll, nll_gradient = gp_negative_log_likelihood(theta, Z, t)
    assert -nll == pytest.approx(value, rel=1e-7)  # scikit-learn adds 1e-10 jitter
    np.testing.assert_allclose(-nll_gradient, gradient, rtol=1e-6, atol=1e-8)


def test_gp_is_less_sure_far_from_its_runs():
    X = _mixtures(50, seed=4, concentration=30.0)  # all near the uniform mixture
    gp = SimplexGP().fit(X, _law(X, noise=0.002))
    _, at_runs = gp.predict(X[:5], return_std=True)
    _, far = gp.predict(np.eye(4), return_std=True)  # the corners: one domain only
    assert far.min() > 5 * at_runs.max()


def test_gp_of_many_runs_searches_its_hyperparameters_on_a_subset_and_conditions_on_all():
    X = _mixtures(300, seed=6)
    y = _law(X, noise=0.005)
    sub = SimplexGP(theta_runs=60).fit(X, y)
    full = SimplexGP().fit(X, y)
    # the posterior holds every run, and its likelihood is that of every run
    assert sub.alpha_.shape == (300,)
    t = (y - y.mean()) / y.std()
    assert sub.log_marginal_likelihood_ == pytest.approx(
        -gp_negative_log_likelihood(sub.theta_, np.sqrt(X), t)[0], rel=1e-9)
    assert sub.log_marginal_likelihood_ <= full.log_marginal_likelihood_ + 1e-6
    # hyperparameters from 60 of 300 runs predict new mixtures about as well
    test = _mixtures(200, seed=7)
    error = [np.abs(m.predict(test) - _law(test)).mean() for m in (sub, full)]
    assert error[0] < 1.5 * error[1]
    assert not np.allclose(sub.theta_, full.theta_)  # it did search on fewer runs


def test_gp_predicts_in_chunks_as_in_one_go(law_runs):
    X, y = law_runs
    candidates = _mixtures(1000, seed=5)
    whole = SimplexGP(chunk_size=10_000).fit(X, y).predict(candidates, return_std=True)
    chunked = SimplexGP(chunk_size=64).fit(X, y).predict(candidates, return_std=True)
    np.testing.assert_allclose(whole, chunked, rtol=1e-9, atol=1e-12)


def test_cv_reports_rmse(law_runs):
    X, y = law_runs
    result = cross_validate("ridge", X, y, folds=5)
    assert result.rmse == pytest.approx(np.sqrt(np.mean((result.predictions - y) ** 2)))
    assert result.metrics()["cv_rmse"] == pytest.approx(result.rmse)


@pytest.fixture(scope="module")
def auto_fit():
    X = _mixtures(80, seed=6)
    y = 3.0 + ((X - [0.4, 0.3, 0.2, 0.1]) ** 2).sum(1) + np.random.default_rng(0).normal(
        0, 0.002, 80)  # a bowl: ridge cannot rank it, the others can
    return X, y, fit_auto(X, y, ["ridge", "lightgbm", "gp"], folds=5, seed=0, shuffles=1)


def test_auto_picks_the_best_candidate_and_refits_it(auto_fit):
    X, y, (estimator, chosen, results) = auto_fit
    singles = {r.name: r for r in results[:3]}
    assert list(singles) == ["ridge", "lightgbm", "gp"]
    assert chosen.spearman == max(r.spearman for r in results)
    assert chosen.spearman > singles["ridge"].spearman
    assert chosen.name != "ridge"
    assert stats.spearmanr(estimator.predict(X), y)[0] > 0.9  # fitted on all runs


def test_ensemble_cv_scores_come_from_the_members_out_of_fold_predictions(auto_fit):
    _, y, (_, _, results) = auto_fit
    singles = {r.name: r for r in results[:3]}
    ranked = sorted(singles, key=lambda n: singles[n].spearman, reverse=True)
    ensembles = results[3:]
    assert [e.name for e in ensembles] == [ensemble_name(ranked[:2]), ensemble_name(ranked)]
    for ensemble, members in zip(ensembles, (ranked[:2], ranked)):
        by_hand = np.mean([singles[m].predictions for m in members], axis=0)
        np.testing.assert_allclose(ensemble.predictions, by_hand)
        assert ensemble.spearman == pytest.approx(stats.spearmanr(y, by_hand)[0])
        assert ensemble.mae == pytest.approx(np.mean(np.abs(y - by_hand)))
        assert ensemble.rmse == pytest.approx(np.sqrt(np.mean((y - by_hand) ** 2)))


def test_auto_returns_a_fitted_ensemble_when_it_cross_validates_best():
    X = _mixtures(60, seed=8)
    y = _law(X, noise=0.02)  # here the three's errors partly cancel
    names = ["ridge", "loglinear", "lightgbm"]
    estimator, chosen, results = fit_auto(X, y, names, folds=5, seed=0)
    assert chosen.name == "ensemble(loglinear+ridge+lightgbm)"
    assert chosen.spearman > max(r.spearman for r in results[:3])
    assert isinstance(estimator, Ensemble)
    assert ensemble_name(estimator.members) == chosen.name
    by_hand = np.mean([make_regressor(n).fit(X, y).predict(X) for n in names], axis=0)
    np.testing.assert_allclose(estimator.predict(X), by_hand)
    assert not hasattr(estimator, "gradient")  # LightGBM has none


def test_auto_without_ensembles_and_as_an_estimator(law_runs):
    X, y = law_runs
    _, chosen, results = fit_auto(X, y, ["ridge", "loglinear"], ensemble=False)
    assert [r.name for r in results] == ["ridge", "loglinear"]
    model = make_regressor("auto")
    assert isinstance(model, AutoRegressor)
    model.set_params(names=["ridge", "loglinear"], ensemble=False).fit(X, y)
    assert model.chosen_.name == chosen.name
    assert hasattr(model, "gradient")  # both candidates have one


@pytest.mark.parametrize("names", [[], ["ridge", "auto"], ["ridge", "nope"]])
def test_auto_rejects_bad_candidate_lists(names, law_runs):
    with pytest.raises(UserError, match="^regressors: ") as caught:
        fit_auto(*law_runs, names)
    assert caught.value.field == "regressors"


def test_unknown_regressor_is_a_config_error():
    with pytest.raises(UserError, match="^regressors: unknown regressor 'svm'"):
        make_regressor("svm")


def test_noise_floor_pools_the_spread_of_repeated_mixtures():
    X = np.array([[0.5, 0.5], [0.5, 0.5], [0.2, 0.8], [0.2, 0.8], [0.2, 0.8], [0.9, 0.1]])
    y = np.array([1.0, 3.0, 2.0, 2.0, 5.0, 7.0])
    floor = noise_floor(X + 1e-9, y)  # rounding to 6 decimals joins near-equal rows
    assert floor == NoiseFloor(std=pytest.approx(np.sqrt(8 / 3)), mixtures=2, runs=5)
    assert floor.to_dict() == {"std": floor.std, "mixtures": 2, "runs": 5}
    assert noise_floor(X[[0, 2, 5]], y[[0, 2, 5]]) is None


def test_noise_floor_recovers_the_seed_noise():
    rng = np.random.default_rng(0)
    mixtures = _mixtures(30)
    X = np.repeat(mixtures, 4, axis=0)
    y = _law(X) + rng.normal(0, 0.05, len(X))
    X = np.vstack([X, _mixtures(20, seed=1)])  # runs of other mixtures do not count
    y = np.append(y, _law(X[-20:]))
    floor = noise_floor(X, y)
    assert (floor.mixtures, floor.runs) == (30, 120)
    assert floor.std == pytest.approx(0.05, rel=0.2)


def test_auto_skips_a_law_that_needs_more_runs_than_a_fold_has():
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(17), size=20)  # 16 runs per training fold, the law needs 18
    y = 3 + X @ rng.normal(size=17)
    _, chosen, results = fit_auto(X, y, ["ridge", "mixing_law"], ensemble=False)
    assert [r.name for r in results] == ["ridge"] and chosen.name == "ridge"
    with pytest.raises(UserError, match="needs at least 18"):
        fit_auto(X, y, ["mixing_law"])


# ----------------------------------------------------------------------------- rank criteria


def _offsets_versus_order():
    """Two out-of-fold predictions of a target whose folds sit at different levels.

    ``offsets`` gets each fold's level right but the order inside every fold backwards:
    pooled over folds it ranks well, within each fold as badly as possible. ``order``
    gets the order inside every fold right but puts every fold at the same level.
    """
    fold = np.repeat(np.arange(5), 8)
    within = np.tile(np.linspace(0.0, 1.0, 8), 5)
    y = 10.0 * fold + within
    offsets = score_predictions("offsets", y, 10.0 * fold - within, fold)
    order = score_predictions("order", y, within, fold)
    return y, offsets, order


def test_fold_spearman_is_the_mean_within_folds():
    y, offsets, order = _offsets_versus_order()
    assert offsets.spearman > 0.9 > order.spearman
    assert offsets.fold_spearman == pytest.approx(-1.0)
    assert order.fold_spearman == pytest.approx(1.0)
    assert offsets.metrics()["cv_fold_spearman"] == pytest.approx(-1.0)


def test_fold_criterion_prefers_the_order_within_folds_over_their_offsets():
    y, offsets, order = _offsets_versus_order()
    assert select_best([offsets, order]).name == "offsets"  # pooled: the offsets win
    assert select_best([offsets, order], "fold_spearman").name == "order"
    chosen, results, members = choose([[offsets, order]], y, criterion="fold_spearman")
    # their average cancels the order inside each fold: no ranking there, so it ranks last
    assert [r.name for r in results] == ["offsets", "order", "ensemble(order+offsets)"]
    assert np.isnan(results[-1].fold_spearman)
    assert chosen is order and members is None
    # pooled, that average ranks best of all: the offsets alone earn it 0.98
    pooled = choose([[offsets, order]], y)[0]
    assert pooled.name == "ensemble(offsets+order)" and pooled.spearman > 0.95


def test_fold_spearman_skips_folds_without_a_ranking():
    fold = np.repeat([0, 1], 4)
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    predictions = np.array([1.0, 1.0, 1.0, 1.0, 5.0, 7.0, 6.0, 8.0])  # fold 0 constant
    by_hand = stats.spearmanr(y[4:], predictions[4:])[0]
    assert score_predictions("x", y, predictions, fold).fold_spearman == pytest.approx(by_hand)
    flat = score_predictions("flat", y, np.ones(8), fold)
    assert np.isnan(flat.fold_spearman)
    assert select_best([flat, score_predictions("x", y, predictions, fold)],
                       "fold_spearman").name == "x"  # NaN ranks last


def test_auto_by_fold_spearman_is_deterministic_for_a_seed(law_runs):
    X, y = law_runs
    names = ["ridge", "loglinear", "lightgbm"]
    first = fit_auto(X, y, names, seed=3, criterion="fold_spearman")
    again = fit_auto(X, y, names, seed=3, criterion="fold_spearman")
    assert first[1].name == again[1].name
    np.testing.assert_array_equal(first[0].predict(X), again[0].predict(X))
    for a, b in zip(first[2], again[2]):
        assert (a.name, a.fold_spearman) == (b.name, b.fold_spearman)
    assert first[1].fold_spearman == max(r.fold_spearman for r in first[2])
    model = AutoRegressor(names=names, seed=3, criterion="fold_spearman").fit(X, y)
    assert model.chosen_.name == first[1].name


def test_an_unknown_criterion_names_its_field(law_runs):
    with pytest.raises(UserError, match="^criterion: unknown criterion 'kendall'"):
        fit_auto(*law_runs, ["ridge"], criterion="kendall")


# ----------------------------------------------------------------------------- RegMix's LightGBM


def test_lightgbm_at_regmixs_settings_is_a_regressor_name_but_no_default_candidate(law_runs):
    model = make_regressor("lightgbm_regmix", seed=4)
    params = model.get_params()
    assert (params["n_estimators"], params["learning_rate"], params["num_leaves"]) == (
        1000, 0.01, 31)
    assert params["random_state"] == 4
    assert "lightgbm_regmix" not in AUTO_CANDIDATES and "lightgbm" in AUTO_CANDIDATES
    X, y = law_runs  # 60 runs: enough for leaves of 20
    assert stats.spearmanr(y, model.fit(X, y).predict(X))[0] > 0.8
    config = load_config(DEMO, ["fit.regressors=[lightgbm_regmix, gp]"])
    assert config.fit.regressors == ["lightgbm_regmix", "gp"]
    with pytest.raises(UserError, match="fit.regressors"):
        load_config(DEMO, ["fit.regressors=[lightgbm_regmix, lightgbm_regmix]"])


# ----------------------------------------------------------------------------- CV shuffles


def test_auto_averages_two_cv_shuffles_below_256_runs(law_runs):
    X, y = law_runs
    names = ["ridge", "loglinear"]
    _, chosen, results = fit_auto(X, y, names, seed=2, ensemble=False)  # 60 runs: 2 shuffles
    for result in results:
        each = [cross_validate(result.name, X, y, seed=s) for s in (2, 3)]
        assert result.shuffles == 2
        assert result.spearman == pytest.approx(np.mean([r.spearman for r in each]))
        assert result.mae == pytest.approx(np.mean([r.mae for r in each]))
        np.testing.assert_array_equal(result.predictions, each[0].predictions)
    once = fit_auto(X, y, names, seed=2, ensemble=False, shuffles=1)[2]
    assert [r.shuffles for r in once] == [1, 1]
    assert once[0].spearman == cross_validate("ridge", X, y, seed=2).spearman
    assert (cv_shuffles(255), cv_shuffles(256)) == (2, 1)


def test_an_average_over_shuffles_is_scored_shuffle_by_shuffle(law_runs):
    X, y = law_runs
    _, chosen, results = fit_auto(X, y, ["ridge", "loglinear"], seed=0)
    average = results[-1]
    assert average.name.startswith("ensemble(") and average.shuffles == 2
    by_shuffle = [stats.spearmanr(y, np.mean([cross_validate(n, X, y, seed=s).predictions
                                              for n in ("ridge", "loglinear")], axis=0))[0]
                  for s in (0, 1)]
    assert average.spearman == pytest.approx(np.mean(by_shuffle))
    with pytest.raises(UserError, match="^shuffles: "):
        fit_auto(X, y, ["ridge"], shuffles=0)


# ----------------------------------------------------------------------------- big tables
# The limits are module constants; each test sets one small so that a table of a few
# hundred runs is "big" and the test stays fast.


def _sizes_seen(monkeypatch, cls) -> list[int]:
    """How many runs each fit of ``cls`` conditioned on (its ``alpha_``), as fits happen."""
    sizes, fit = [], cls.fit

    def recording(self, X, y):
        fitted = fit(self, X, y)
        sizes.append(len(fitted.alpha_))
        return fitted
    monkeypatch.setattr(cls, "fit", recording)
    return sizes


def test_gp_beyond_its_limit_fits_a_seeded_draw_and_says_so(monkeypatch):
    from raymix.regression import gp, subsample

    monkeypatch.setattr(gp, "MAX_RUNS", 50)
    X = _mixtures(200, seed=8)
    y = _law(X, noise=0.005)
    with pytest.warns(subsample.BigTableNotice, match=r"^gp fits on a seeded draw of 50 runs"):
        model = make_regressor("gp", seed=3).fit(X, y)
        again = make_regressor("gp", seed=3).fit(X, y)
    assert model.alpha_.shape == (50,)  # the posterior holds 50 runs, not 200
    rows = subsample.draw_rows(200, 50, seed=3)
    np.testing.assert_allclose(model.Z_ * model.length_scales_, np.sqrt(X[rows]))
    np.testing.assert_array_equal(again.alpha_, model.alpha_)  # seeded: the same draw
    test = _mixtures(100, seed=9)
    assert stats.spearmanr(model.predict(test), _law(test))[0] > 0.9  # still a good fit
    small = SimplexGP(max_runs=500).fit(X, y)  # under its own limit: every run
    assert small.alpha_.shape == (200,)


def test_auto_on_a_table_beyond_the_gp_limit_never_fits_the_whole_gp(monkeypatch, recwarn):
    from raymix.regression import gp

    monkeypatch.setattr(gp, "MAX_RUNS", 50)
    sizes = _sizes_seen(monkeypatch, SimplexGP)
    X = _mixtures(300, seed=10)  # 300 runs: one CV shuffle, 240 runs to fit in each fold
    y = _law(X, noise=0.005)
    model, chosen, _ = fit_auto(X, y, ["ridge", "gp"], ensemble=False)
    assert len(sizes) >= 5 and max(sizes) == 50  # every fold, and the refit if chosen
    gp_notes = [w for w in recwarn if str(w.message).startswith("gp fits")]
    # the candidates' notes are dropped; the refit of a chosen GP makes one
    assert bool(gp_notes) == (chosen.name == "gp")


def test_a_choice_among_regressors_leaves_the_gp_out_of_a_bigger_table(monkeypatch):
    from raymix.regression import selection, subsample

    monkeypatch.setattr(selection, "AUTO_MAX_RUNS", {"gp": 100})
    sizes = _sizes_seen(monkeypatch, SimplexGP)
    X = _mixtures(150, seed=17)
    y = _law(X, noise=0.005)
    with pytest.warns(subsample.BigTableNotice, match="^the choice of regressor leaves gp out "
                                                      "of tables of more than 100 runs"):
        _, chosen, results = fit_auto(X, y, ["ridge", "gp", "loglinear"])
    assert sizes == [] and "gp" not in chosen.name
    assert [r.name for r in results][:2] == ["ridge", "loglinear"]
    alone = fit_auto(X[:120], y[:120], ["gp"], shuffles=1)[1]  # asked for alone: fitted
    assert alone.name == "gp" and len(sizes) == 6  # 5 folds and the refit
    fit_auto(X[:100], y[:100], ["ridge", "gp"], shuffles=1, ensemble=False)  # at the limit
    assert len(sizes) >= 11  # 5 folds each, the refit when chosen


def test_cross_validation_beyond_its_limit_fits_each_fold_on_a_draw_and_predicts_all(
        monkeypatch):
    from raymix.regression import selection, subsample

    monkeypatch.setattr(selection, "CV_MAX_TRAIN_RUNS", 40)
    X = _mixtures(200, seed=11)
    y = _law(X, noise=0.005)
    with pytest.warns(subsample.BigTableNotice, match="^each cross-validation fold fits "
                                                       "on a seeded draw of 40 runs"):
        result = cross_validate("ridge", X, y, seed=4)
    # every run is predicted held out, once, as with all runs
    assert np.isfinite(result.predictions).all()
    assert np.bincount(result.fold).tolist() == [40] * 5
    assert result.spearman > 0.8
    full = cross_validate("ridge", X[:40], y[:40], seed=4)  # no draw: no note
    assert full.predictions.shape == (40,)


def test_a_law_beyond_its_limit_fits_the_seeded_draw(monkeypatch):
    from raymix.regression import laws, subsample
    from raymix.regression.laws import MixingLaw

    monkeypatch.setattr(laws, "MAX_RUNS", 30)
    X = _mixtures(120, seed=12)
    y = _law(X, noise=0.005)
    with pytest.warns(subsample.BigTableNotice, match="^mixing_law fits on a seeded draw"):
        drawn = MixingLaw(restarts=20, seed=5).fit(X, y)
    rows = subsample.draw_rows(120, 30, seed=5)
    direct = MixingLaw(restarts=20, seed=5, max_runs=1000).fit(X[rows], y[rows])
    np.testing.assert_allclose(drawn.t_, direct.t_)


def test_loglinear_chooses_its_offset_on_a_draw_and_fits_every_run(monkeypatch):
    from sklearn.linear_model import Ridge

    from raymix.regression import linear

    monkeypatch.setattr(linear, "SELECT_RUNS", 50)
    X = _mixtures(300, seed=13)
    y = _law(X, noise=0.005)
    model = make_regressor("loglinear").fit(X, y)
    every = Ridge(alpha=model.alpha_).fit(X, np.log(y - model.offset_))
    np.testing.assert_allclose(model.coef_, every.coef_)


def test_the_bootstrap_of_a_big_table_resamples_a_seeded_draw_and_says_so(monkeypatch):
    from raymix.config import FitConfig, SearchConfig
    from raymix.proposal import propose_mixture, uncertainty
    from raymix.regression import subsample

    monkeypatch.setattr(uncertainty, "MAX_RUNS", 40)
    X = _mixtures(150, seed=14)
    mixtures = pd.DataFrame(X, columns=list("abcd"))
    search = SearchConfig(method="simulate", draws=500, bootstrap=5)
    with pytest.warns(subsample.BigTableNotice, match="^the bootstrap resamples a seeded draw "
                                                       "of 40 runs"):
        proposal = propose_mixture(mixtures, _law(X, noise=0.005), search=search,
                                   fit_config=FitConfig(regressors=["ridge"]))
    assert proposal.uncertainty.refits == 5
    assert "resampled a seeded draw of 40 of the 150 runs" in proposal.uncertainty.note


def test_resampling_by_mixture_draws_as_one_scan_per_mixture_did():
    from raymix.proposal.uncertainty import resample

    groups = np.random.default_rng(0).integers(0, 30, 200) * 7  # labels need not be 0..n-1
    labels = np.unique(groups)
    for seed in range(3):
        members = [np.flatnonzero(groups == g) for g in labels]  # the former way
        rng = np.random.default_rng(seed)
        drawn = rng.integers(len(members), size=len(members))
        before = np.concatenate([rng.choice(members[g], size=len(members[g])) for g in drawn])
        np.testing.assert_array_equal(resample(groups, np.random.default_rng(seed)), before)


def test_the_command_line_prints_the_gp_note_once(monkeypatch, tmp_path, capsys):
    from raymix.cli.commands import main
    from raymix.regression import gp

    monkeypatch.setattr(gp, "MAX_RUNS", 50)
    X = _mixtures(150, seed=15)
    ids = [f"r{i}" for i in range(len(X))]
    pd.DataFrame(X, index=pd.Index(ids, name="run"), columns=list("abcd")).to_csv(
        tmp_path / "mix.csv")
    pd.DataFrame({"loss": _law(X, noise=0.005)}, index=pd.Index(ids, name="run")).to_csv(
        tmp_path / "met.csv")
    assert main(["fit", "--mixtures", str(tmp_path / "mix.csv"), "--metrics",
                 str(tmp_path / "met.csv"), "--target", "loss", "--regressor", "gp"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert notes == ["raymix: note: gp fits on a seeded draw of 50 runs when a table has more "
                     "(its memory grows as runs^2 and its time as runs^3)"]


def test_the_pessimistic_search_of_a_big_table_weighs_only_its_best_runs(monkeypatch):
    from raymix.config import SearchConfig
    from raymix.mixtures import build_constraints
    from raymix.proposal import search

    monkeypatch.setattr(search, "RUN_CANDIDATES", 20)
    X = _mixtures(100, seed=16)
    y = _law(X, noise=0.005)
    model = SimplexGP(seed=0).fit(X, y)
    box = build_constraints(list("abcd"), SearchConfig())
    found = search.search_mixture(model, box, SearchConfig(method="pessimistic",
                                                           draws=200), runs=(X, y))
    assert found.details["runs_among_candidates"] == 20
    assert found.details["candidates"] == 220
