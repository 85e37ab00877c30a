"""The regressor family: fits, gradients, GP uncertainty, auto choice, ensembles, noise floor."""


import numpy as np
import pytest
from scipy import stats
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from raymix.errors import UserError
from raymix.regression import NoiseFloor, SimplexGP, noise_floor
from raymix.regression.gp import gp_negative_log_likelihood
from raymix.regression.selection import (
    AutoRegressor,
    Ensemble,
    cross_validate,
    ensemble_name,
    fit_auto,
    make_regressor,
)

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
    return X, y, fit_auto(X, y, ["ridge", "lightgbm", "gp"], folds=5, seed=0)


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
