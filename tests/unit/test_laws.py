"""Data mixing laws: parameter recovery, gradients, input errors and robustness."""

import itertools

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from raymix.errors import UserError
from raymix.regression.laws import ImplicitMixingLaw, MixingLaw, interaction_matrix

C_TRUE, K_TRUE = 2.0, 0.8
T_TRUE = np.array([-2.0, 0.5, 1.0, 0.5])  # sums to 0: the identifiable form on the simplex


def _mixtures(n, seed, k=4):
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


def _explicit(X, t=T_TRUE):
    return C_TRUE + K_TRUE * np.exp(X @ t)


def _noisy(y, seed, scale=1e-3):
    return y + np.random.default_rng(seed).normal(0, scale, len(y))


@pytest.fixture(scope="module")
def explicit_fit():
    X = _mixtures(150, seed=0)
    return MixingLaw().fit(X, _noisy(_explicit(X), seed=1))


# Two implicit domains of equal share that respond to different training domains.
IMPLICIT_T = np.array([[-3.0, 1.0, 1.0, 1.0], [1.0, 1.0, -3.0, 1.0]])
IMPLICIT_S = np.array([0.5, 0.5])


def _implicit(X):
    return C_TRUE + (IMPLICIT_S * K_TRUE * np.exp(X @ IMPLICIT_T.T)).sum(axis=1)


@pytest.fixture(scope="module")
def implicit_fit():
    X = _mixtures(200, seed=2)
    model = ImplicitMixingLaw(n_components=2, n_bags=1, max_iter=3000)
    return model.fit(X, _noisy(_implicit(X), seed=3))


def test_explicit_law_recovers_its_parameters(explicit_fit):
    assert explicit_fit.c_ == pytest.approx(C_TRUE, abs=0.03)
    assert explicit_fit.k_ == pytest.approx(K_TRUE, rel=0.05)
    np.testing.assert_allclose(explicit_fit.t_, T_TRUE, atol=0.08)
    assert explicit_fit.t_.sum() == pytest.approx(0.0, abs=1e-6)  # the simplex normalisation
    X_new = _mixtures(100, seed=9)
    assert np.abs(explicit_fit.predict(X_new) - _explicit(X_new)).mean() < 1e-3


def test_explicit_law_off_the_simplex_has_free_scale():
    """Weights that do not sum to 1 identify k and t without the centring."""
    X = np.random.default_rng(4).uniform(0, 1, (80, 3))
    t = np.array([-1.5, 0.7, 0.3])  # does not sum to 0
    model = MixingLaw().fit(X, _noisy(_explicit(X, t), seed=5))
    assert model.k_ == pytest.approx(K_TRUE, rel=0.05)
    np.testing.assert_allclose(model.t_, t, atol=0.08)


def test_implicit_law_recovers_its_components(implicit_fit):
    model = implicit_fit
    assert model.t_.shape == (2, 4) and model.s_.sum() == pytest.approx(1.0)
    assert float(model.s_ @ model.c_) == pytest.approx(C_TRUE, abs=0.05)  # the identifiable floor
    # components come back in any order; s_k k_k is the identifiable amplitude
    best = min(itertools.permutations(range(2)),
               key=lambda p: np.abs(model.t_[list(p)] - IMPLICIT_T).sum())
    np.testing.assert_allclose(model.t_[list(best)], IMPLICIT_T, atol=0.3)
    np.testing.assert_allclose((model.s_ * model.k_)[list(best)], IMPLICIT_S * K_TRUE, rtol=0.1)
    X_new = _mixtures(100, seed=8)
    assert np.abs(model.predict(X_new) - _implicit(X_new)).mean() < 2e-3


def test_implicit_law_with_bags_predicts_held_out_mixtures():
    X = _mixtures(60, seed=6)
    model = ImplicitMixingLaw(n_components=3).fit(X, _noisy(_implicit(X), seed=7))
    assert model.t_.shape == (12, 4) and model.s_.shape == (12,)
    X_new = _mixtures(100, seed=10)
    assert np.abs(model.predict(X_new) - _implicit(X_new)).mean() < 5e-3


@pytest.mark.parametrize("which", ["explicit", "implicit"])
def test_gradient_matches_finite_differences(which, explicit_fit, implicit_fit):
    model = explicit_fit if which == "explicit" else implicit_fit
    X = _mixtures(5, seed=11)
    step = 1e-6
    numeric = np.column_stack([
        (model.predict(X + step * e) - model.predict(X - step * e)) / (2 * step)
        for e in np.eye(4)])
    np.testing.assert_allclose(model.gradient(X), numeric, rtol=1e-5, atol=1e-7)


def test_huber_keeps_outliers_from_wrecking_the_fit():
    X = _mixtures(60, seed=12)
    y = _noisy(_explicit(X), seed=13)
    y[[3, 17, 41]] += 0.5  # three broken runs
    X_new = _mixtures(100, seed=14)
    truth = _explicit(X_new)
    robust = np.abs(MixingLaw().fit(X, y).predict(X_new) - truth).mean()
    squares = np.abs(MixingLaw(huber_delta=100.0).fit(X, y).predict(X_new) - truth).mean()
    assert robust < 5e-3
    assert squares > 3 * robust


def test_interaction_matrix_stacks_one_law_per_target():
    X = _mixtures(40, seed=15)
    Y = np.column_stack([_noisy(_explicit(X), 16), _noisy(_explicit(X, T_TRUE[::-1]), 17)])
    t, c, k = interaction_matrix(X, Y)
    assert t.shape == (2, 4) and c.shape == (2,) and k.shape == (2,)
    np.testing.assert_allclose(t, [T_TRUE, T_TRUE[::-1]], atol=0.15)


def test_estimators_follow_sklearn_conventions(explicit_fit):
    assert clone(explicit_fit).get_params() == {"restarts": 200, "huber_delta": 0.02, "seed": 0,
                                                "ridge": 0.1, "max_runs": None}
    assert not hasattr(clone(explicit_fit), "t_")
    X = _mixtures(30, seed=18)
    y = _explicit(X)
    assert np.array_equal(MixingLaw(seed=3).fit(X, y).t_, MixingLaw(seed=3).fit(X, y).t_)


@pytest.mark.parametrize("X, y, message", [
    (np.ones(10), np.ones(10), "table of runs x domains"),
    (_mixtures(10, 0), np.full(9, 3.0), "one value per run"),
    (np.where(np.eye(10, 4) > 0, np.nan, _mixtures(10, 0)), np.linspace(3, 4, 10),
     "missing or infinite"),
    (_mixtures(10, 0), np.r_[np.inf, np.linspace(3, 4, 9)], "missing or infinite"),
    (_mixtures(10, 0), np.linspace(-1, 1, 10), "must be positive"),
    (_mixtures(10, 0), np.full(10, 3.0), "same for every run"),
    (_mixtures(4, 0), np.linspace(3, 4, 4), "needs at least 5"),
])
@pytest.mark.parametrize("law", [MixingLaw, ImplicitMixingLaw])
def test_bad_training_data_is_a_user_error(law, X, y, message):
    with pytest.raises(UserError, match=message):
        law().fit(X, y)


def test_off_simplex_needs_one_more_run():
    X = np.random.default_rng(0).uniform(0, 1, (5, 4))
    with pytest.raises(UserError, match="needs at least 6"):
        MixingLaw().fit(X, np.linspace(3, 4, 5))


def test_predicting_before_fitting_says_so():
    with pytest.raises(NotFittedError):
        ImplicitMixingLaw().predict(_mixtures(3, 0))


def test_predicting_other_domains_is_a_user_error(explicit_fit):
    with pytest.raises(UserError, match="fitted on 4"):
        explicit_fit.predict(_mixtures(3, 0, k=5))
    with pytest.raises(UserError, match="fitted on 4"):
        explicit_fit.gradient(_mixtures(3, 0, k=3))


@pytest.mark.parametrize("settings", [{"restarts": 0}, {"huber_delta": -0.1}, {"n_components": 0},
                                      {"n_bags": 1.5}, {"max_iter": 0}])
def test_bad_settings_are_user_errors(settings):
    X = _mixtures(20, 0)
    with pytest.raises(UserError, match=next(iter(settings))):
        ImplicitMixingLaw(**settings).fit(X, _explicit(X))



def _sparse_swarm(n, seed, d=64, active=3, rare=(), rare_weight=None):
    """Runs that each mix ``active`` random domains of ``d``; with ``rare_weight``, the
    ``rare`` domains appear only as a sliver of that weight in one run each."""
    rng = np.random.default_rng(seed)
    allowed = np.arange(d) if rare_weight is None else np.setdiff1d(np.arange(d), rare)
    X = np.zeros((n, d))
    for row in X:
        row[rng.choice(allowed, active, replace=False)] = rng.dirichlet(np.ones(active))
    if rare_weight is not None:
        for row, domain in zip(X, rare):
            row *= 1 - rare_weight
            row[domain] = rare_weight
    return X


def test_sparse_many_domain_law_does_not_blow_up_on_rarely_seen_domains():
    """64 domains, 3 in each run; 8 domains seen only as 2% of one training run each.
    Held-out runs give those domains ordinary weights. Unpenalised slopes fit the noise
    of the one run they are in (the fit before the ridge: held-out R^2 -37, a rare slope
    of -15); the ridge keeps them near the mean slope, and without it they drift again."""
    t_true = np.random.default_rng(20).normal(0.0, 1.0, 64)
    t_true -= t_true.mean()
    rare = list(range(56, 64))
    X = _sparse_swarm(160, seed=21, rare=rare, rare_weight=0.02)
    y = _noisy(_explicit(X, t_true), seed=22, scale=0.03)
    X_new = _sparse_swarm(200, seed=23)
    truth = _explicit(X_new, t_true)

    def held_out_r2(model):
        residual = ((model.predict(X_new) - truth) ** 2).sum()
        return 1 - residual / ((truth - truth.mean()) ** 2).sum()

    model = MixingLaw().fit(X, y)
    assert held_out_r2(model) > 0.6
    assert np.all(np.abs(model.t_[rare]) < 3)
    unpenalised = MixingLaw(ridge=1e-6).fit(X, y)
    assert np.abs(unpenalised.t_[rare]).max() > 3


@pytest.mark.parametrize("ridge", [-0.1, "strong", None])
def test_bad_ridge_is_a_user_error(ridge):
    X = _mixtures(20, 0)
    with pytest.raises(UserError, match="ridge"):
        MixingLaw(ridge=ridge).fit(X, _explicit(X))


@pytest.mark.parametrize("centre", [True, False])
def test_fit_objective_gradient_is_exact_with_the_ridge(centre):
    """L-BFGS-B gets the analytic gradient of the Huber loss, ridge and centring."""
    from scipy.optimize import check_grad

    from raymix.regression.laws import _objective, _ridge

    rng = np.random.default_rng(24)
    X = rng.dirichlet(np.full(6, 0.3), 40)
    y = _explicit(X, rng.normal(0.0, 1.0, 6))
    ridge = 100 * _ridge(X, 0.1)  # strong enough to matter in the check
    theta = np.r_[1.0, rng.normal(0.0, 0.5, 2 + 2 * 6)]
    value = lambda t: _objective(t, X, y, 0.05, 2, centre, ridge)[0]  # noqa: E731
    grad = lambda t: _objective(t, X, y, 0.05, 2, centre, ridge)[1]  # noqa: E731
    assert check_grad(value, grad, theta) < 1e-6 * np.linalg.norm(grad(theta))
