"""The proposal search: every method stays inside the bounds; exact finds known optima."""

import json

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

import raymix.proposal.search as optimise
from raymix.config import SearchConfig
from raymix.errors import ConfigError, UserError
from raymix.mixtures import Constraints, build_constraints, project_to_bounded_simplex
from raymix.proposal.search import best_candidates, kl_divergence, search_mixture

METHODS = ["simulate", "exact", "tpe", "cmaes"]
QUICK = dict(draws=400, top_k=10, restarts=3, trials=12)


class Bowl:
    """``3 + sum(scale * (w - centre)^2)``: convex; with equal scales the constrained
    optimum is the Euclidean projection of ``centre`` onto the bounded simplex."""

    def __init__(self, centre, scale=1.0):
        self.centre = np.asarray(centre, dtype=float)
        self.scale = scale

    def predict(self, X):
        return 3.0 + (self.scale * (np.atleast_2d(X) - self.centre) ** 2).sum(axis=1)

    def gradient(self, X):
        return 2 * self.scale * (np.atleast_2d(X) - self.centre)


class Law:
    """A Data Mixing Laws-like target loss (Ye et al.): sum_i s_i (c_i + k_i exp(t_i . w))."""

    def __init__(self, k=3, seed=0):
        rng = np.random.default_rng(seed)
        self.s = rng.dirichlet(np.ones(k))
        self.c = rng.uniform(2, 3, k)
        self.kk = rng.uniform(0.5, 1.5, k)
        self.t = -rng.uniform(0.5, 3, (k, k)) * np.eye(k) + rng.uniform(-0.5, 0.2, (k, k))

    def predict(self, X):
        return np.exp(np.atleast_2d(X) @ self.t.T) @ (self.s * self.kk) + self.s @ self.c

    def gradient(self, X):
        return (np.exp(np.atleast_2d(X) @ self.t.T) * (self.s * self.kk)) @ self.t


class NoGradient:
    """Hides a model's gradient, like a tree ensemble."""

    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return self.model.predict(X)


def _box(k, lower=None, upper=None, prior=None, kl_weight=0.0):
    domains = [f"d{i}" for i in range(k)]
    return Constraints(domains, np.zeros(k) if lower is None else lower,
                       np.ones(k) if upper is None else upper,
                       np.ones(k) if prior is None else prior, kl_weight=kl_weight)


# ----------------------------------------------------------------------------- feasibility


def _random_search(rng, domains):
    """Random min/max/fixed weights and repetition caps, often tight."""
    k = len(domains)
    roles = rng.choice(["free", "min", "max", "both", "fixed"], size=k,
                       p=[0.3, 0.2, 0.2, 0.15, 0.15])
    floors = rng.dirichlet(np.ones(k)) * rng.uniform(0.3, 1.0)
    ceilings = floors + rng.dirichlet(np.ones(k)) * rng.uniform(0.0, 1.0)
    kw = dict(min_weight={}, max_weight={}, fixed_weight={})
    for d, role, lo, hi in zip(domains, roles, floors, ceilings):
        if role in ("min", "both"):
            kw["min_weight"][d] = float(lo)
        if role in ("max", "both"):
            kw["max_weight"][d] = float(min(hi, 1.0))
        if role == "fixed":
            kw["fixed_weight"][d] = float(lo)
    if rng.random() < 0.2:  # exactly tight: the ceilings leave a single mixture
        kw = dict(min_weight={}, max_weight=dict(zip(domains, map(float, floors / floors.sum()))),
                  fixed_weight={})
    if rng.random() < 0.5:
        kw["target_tokens"] = 10**9
        kw["max_epochs"] = 4.0
        kw["available_tokens"] = dict(zip(domains, map(float, rng.uniform(2e7, 3e8, k))))
    if rng.random() < 0.3:
        kw["kl_weight"] = float(rng.choice([0.01, 1.0]))
        prior = rng.dirichlet(np.ones(k)) * (rng.random(k) > 0.2)  # some zeros
        kw["prior"] = dict(zip(domains, map(float, prior)))
    return SearchConfig(**kw)


def _random_constraints(n, seed=0):
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < n:
        domains = [f"d{i}" for i in range(rng.integers(2, 8))]
        try:
            found.append(build_constraints(domains, _random_search(rng, domains)))
        except ConfigError:
            continue  # infeasible by construction: not what this test is about
    return found


@pytest.mark.parametrize("method", METHODS)
def test_no_method_ever_breaks_a_bound(method):
    rng = np.random.default_rng(1)
    for i, c in enumerate(_random_constraints(25)):
        centre = rng.normal(0.2, 0.6, len(c.domains))  # often far outside the box
        model = Bowl(centre) if method == "exact" else NoGradient(Bowl(centre))
        result = search_mixture(model, c, SearchConfig(method=method, seed=i, **QUICK))
        w = result.mixture
        assert np.all(w >= c.lower - 1e-9) and np.all(w <= c.upper + 1e-9), (c, w)
        assert abs(w.sum() - 1) <= 1e-9
        assert np.isfinite(result.objective) and result.method == method


# ----------------------------------------------------------------------------- exact


def test_exact_finds_the_interior_optimum_of_a_bowl():
    optimum = np.array([0.4, 0.3, 0.2, 0.1])
    result = search_mixture(Bowl(optimum), _box(4), SearchConfig(method="exact", restarts=4))
    np.testing.assert_allclose(result.mixture, optimum, atol=1e-6)
    assert result.predicted == pytest.approx(3.0)
    assert result.details["converged"] >= 1


@pytest.mark.parametrize("seed", range(5))
def test_exact_finds_an_optimum_on_the_bounds(seed):
    """The bowl's optimum under bounds is the projection of its centre, found exactly."""
    c = _random_constraints(1, seed=100 + seed)[0]
    k = len(c.domains)
    centre = np.random.default_rng(seed).normal(0.1, 0.7, k)
    truth = project_to_bounded_simplex(centre, c.lower, c.upper)
    c.kl_weight = 0.0
    result = search_mixture(Bowl(centre), c, SearchConfig(method="exact", restarts=4, seed=seed))
    np.testing.assert_allclose(result.mixture, truth, atol=1e-6)


def test_exact_finds_a_mixing_laws_minimum_on_a_cap():
    law = Law(k=3, seed=4)
    grid = np.array([(a, b, 1 - a - b) for a in np.linspace(0, 1, 401)
                     for b in np.linspace(0, 1, 401) if a + b <= 1 + 1e-12])
    unconstrained = grid[np.argmin(law.predict(grid))]
    cap = np.ones(3)
    cap[np.argmax(unconstrained)] = 0.9 * unconstrained.max()  # move the optimum onto a cap
    c = _box(3, upper=cap)
    result = search_mixture(law, c, SearchConfig(method="exact", restarts=8))
    w = result.mixture
    assert result.objective <= law.predict(grid[c.contains(grid)]).min() + 1e-12
    assert any(b["bound"] == "upper" for b in c.binding(w))
    # no feasible move of weight from one domain to another lowers it: a local optimum
    for i in range(3):
        for j in range(3):
            moved = w.copy()
            moved[i] -= 1e-5
            moved[j] += 1e-5
            if i != j and c.contains(moved):
                assert law.predict(moved[None])[0] >= result.objective - 1e-12


def test_exact_beats_the_best_simulated_candidate():
    law = Law(k=6, seed=1)
    c = _box(6, upper=np.full(6, 0.3))
    exact = search_mixture(law, c, SearchConfig(method="exact", restarts=6))
    _, best = best_candidates(law, c, 20_000, 1, np.random.default_rng(0))
    assert exact.objective <= best[0] + 1e-12
    assert exact.details["best_start_objective"] >= exact.objective


def test_a_fitted_ridge_is_differentiable_and_lands_on_a_vertex():
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(4), 80)
    ridge = RidgeCV().fit(X, X @ np.array([3.0, 1.0, 2.0, 4.0]))
    c = _box(4, upper=np.array([1.0, 0.6, 0.3, 1.0]))
    result = search_mixture(ridge, c, SearchConfig())  # auto
    assert result.method == "exact"
    np.testing.assert_allclose(result.mixture, [0.1, 0.6, 0.3, 0.0], atol=1e-6)


def test_exact_needs_a_gradient():
    with pytest.raises(UserError, match="method exact needs a differentiable regressor"):
        search_mixture(NoGradient(Bowl([0.5, 0.5])), _box(2), SearchConfig(method="exact"))


def test_a_gradient_that_raises_value_error_counts_as_none():
    class Ensemble(Bowl):
        def gradient(self, X):
            raise ValueError("a member (lightgbm) has no gradient")

    with pytest.raises(UserError, match="use simulate, tpe or cmaes"):
        search_mixture(Ensemble([0.5, 0.5]), _box(2), SearchConfig(method="exact"))
    assert search_mixture(Ensemble([0.5, 0.5]), _box(2),
                          SearchConfig(draws=100, top_k=5)).method == "simulate"


def test_auto_simulates_for_models_without_gradients():
    result = search_mixture(NoGradient(Bowl([0.5, 0.3, 0.2])), _box(3),
                            SearchConfig(draws=5000, top_k=20))
    assert result.method == "simulate"
    assert result.details["candidates"] == 5000 and result.details["top_k"] == 20
    np.testing.assert_allclose(result.mixture, [0.5, 0.3, 0.2], atol=0.05)


# ----------------------------------------------------------------------------- KL pull


def test_the_kl_pull_moves_the_answer_toward_the_prior():
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    model = Bowl([0.7, 0.3, 0.0, 0.0])
    distances = []
    for kl_weight in [0.0, 0.01, 0.1, 1.0, 10.0, 1000.0]:
        c = _box(4, prior=prior, kl_weight=kl_weight)
        result = search_mixture(model, c, SearchConfig(method="exact", restarts=4))
        distances.append(float(kl_divergence(result.mixture, prior)))
        assert result.objective == pytest.approx(
            result.predicted + kl_weight * distances[-1], abs=1e-12)
    assert all(a > b for a, b in zip(distances, distances[1:]))
    assert distances[-1] < 1e-5 and distances[0] > 0.5


def test_the_kl_pull_works_for_the_sampling_methods_too():
    prior = np.array([0.25, 0.25, 0.5])
    model = NoGradient(Bowl([1.0, 0.0, 0.0]))
    for method in ["simulate", "cmaes"]:
        free, pulled = [search_mixture(model, _box(3, prior=prior, kl_weight=w),
                                       SearchConfig(method=method, draws=5000, trials=60))
                        for w in (0.0, 100.0)]
        assert kl_divergence(pulled.mixture, prior) < kl_divergence(free.mixture, prior) / 10


# ----------------------------------------------------------------------------- the others


def test_simulate_keeps_the_top_k_of_every_chunk(monkeypatch):
    class Recorder(Bowl):
        seen = []

        def predict(self, X):
            self.seen.append(super().predict(X))
            assert len(X) <= 100
            return self.seen[-1]

    monkeypatch.setattr(optimise, "PREDICT_CHUNK", 100)
    model = Recorder([0.6, 0.2, 0.2])
    x, f = best_candidates(model, _box(3), 1050, 7, np.random.default_rng(0))
    np.testing.assert_allclose(f, np.sort(np.concatenate(model.seen))[:7])
    np.testing.assert_allclose(model.predict(x), f)


def test_optuna_methods_improve_on_the_prior_and_repeat_with_the_seed():
    model = NoGradient(Bowl([0.6, 0.1, 0.1, 0.2]))
    c = _box(4)
    for method in ["tpe", "cmaes"]:
        search = SearchConfig(method=method, trials=80, seed=3)
        a, b = search_mixture(model, c, search), search_mixture(model, c, search)
        np.testing.assert_array_equal(a.mixture, b.mixture)
        assert a.objective < model.predict(c.prior[None])[0] - 0.05
        assert a.details["trials"] == 80


def test_a_single_feasible_mixture_is_returned_as_is():
    c = _box(3, lower=np.array([0.2, 0.0, 0.5]), upper=np.array([0.2, 1.0, 0.5]))
    for method in METHODS:
        result = search_mixture(Bowl([1, 0, 0]), c, SearchConfig(method=method))
        np.testing.assert_allclose(result.mixture, [0.2, 0.3, 0.5])
        assert "single" in result.details["note"]


def test_search_result_to_dict_is_json_ready():
    result = search_mixture(Law(k=3), _box(3), SearchConfig(restarts=2, draws=500))
    out = json.loads(json.dumps(result.to_dict()))
    assert set(out) == {"mixture", "objective", "predicted", "method", "details"}
    assert set(out["mixture"]) == {"d0", "d1", "d2"} and out["method"] == "exact"


# ----------------------------------------------------------------------------- pessimistic


def _clustered_gp(k=4, n=24, seed=0):
    """A GP fitted to runs gathered near one mixture, with a loss that keeps falling
    toward a corner no run explored (where a plain argmin would extrapolate)."""
    from raymix.regression import SimplexGP

    rng = np.random.default_rng(seed)
    centre = np.array([0.4, 0.3, 0.2, 0.1])
    X = rng.dirichlet(60 * centre, size=n)
    y = 3.0 - 0.5 * X[:, 3] + 0.02 * rng.normal(size=n)
    return SimplexGP(seed=0).fit(X, y), X, y


def test_pessimistic_needs_a_regressor_with_a_predictive_std():
    box = Constraints(["a", "b", "c"], np.zeros(3), np.ones(3), np.ones(3))
    with pytest.raises(UserError, match="search.method: pessimistic .* fit.regressors: \\[gp\\]"):
        search_mixture(Bowl([0.2, 0.3, 0.5]), box, SearchConfig(method="pessimistic"))


def test_pessimistic_proposes_where_the_gp_is_sure_and_keeps_to_the_bounds():
    gp, X, y = _clustered_gp()
    box = Constraints(list("abcd"), np.zeros(4), np.array([1, 1, 1, 0.6]), np.ones(4))
    search = SearchConfig(method="pessimistic", draws=4000, seed=1)
    sure = search_mixture(gp, box, search, runs=(X, y))
    bold = search_mixture(gp, box, SearchConfig(method="pessimistic", draws=4000,
                                                 seed=1, pessimism=0.0), runs=(X, y))
    assert box.contains(sure.mixture, 1e-9) and box.contains(bold.mixture, 1e-9)
    _, std_sure = gp.predict(sure.mixture[None, :], return_std=True)
    _, std_bold = gp.predict(bold.mixture[None, :], return_std=True)
    assert std_sure[0] < std_bold[0]  # the bound stays where the runs are
    nearest = np.abs(X - sure.mixture).sum(1).min()
    assert nearest < np.abs(X - bold.mixture).sum(1).min()
    assert sure.details["runs_among_candidates"] == len(X)
    assert sure.details["bound"] == pytest.approx(sure.predicted + std_sure[0], abs=1e-9)
