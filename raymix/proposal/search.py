"""Search the bounded simplex for the mixture a fitted regressor predicts to be best.

The objective of a mixture ``w`` is the regressor's predicted target loss plus an
optional pull toward the prior (Olmix)::

    objective(w) = model.predict(w) + kl_weight * KL(w || prior)

minimised over the mixtures that meet a :class:`~raymix.mixtures.Constraints` box
(``lower <= w <= upper``, ``sum(w) = 1``, and bounds on the totals of groups of domains
when the domains form a tree). :func:`search_mixture` offers five methods:

``simulate``
    RegMix (Liu et al., ICLR 2025): draw ``draws`` mixtures inside the bounds,
    predict them chunk by chunk (a million rows never sit in memory at once), and
    average the ``top_k`` best. The average of points of a convex set stays inside it,
    and is steadier than the single best draw of a noisy model. Works for any regressor.
``exact``
    For regressors with ``gradient(X)`` (d prediction / d weight: ridge, loglinear,
    mixing_law, implicit_law): SLSQP with the bounds, the sum-to-one equality and the
    group bounds as linear inequalities, from
    ``restarts`` starts (the best simulated candidates, the prior and random feasible
    points); the best local optimum wins. Mixing laws (Ye et al., ICLR 2025) are smooth
    and, as sums of exponentials of linear maps, convex, so the restarts mostly agree.
``tpe`` / ``cmaes``
    Optuna's TPE or CMA-ES samplers with ``trials`` evaluations, for regressors without
    gradients. Each trial suggests the free domains' weights in their ``[lower, upper]``
    box and is projected onto the bounded simplex, so every trial is a feasible mixture.
``pessimistic``
    For regressors with a predictive standard deviation (``gp``): the candidate with the
    lowest upper confidence bound ``mean + pessimism * std`` among the ``draws`` mixtures drawn
    in the bounds, every observed run (the best :data:`RUN_CANDIDATES` of a bigger table),
    and draws around the best runs. It proposes where the model is sure the loss is low
    rather than where it extrapolates: on RegMix's response surface the plain argmin of
    a GP fitted to 32 adaptively chosen runs landed as far off as 5.47 (optimum 5.12),
    the bound's worst seed at 5.22 (bench/bench_strategy_surface.py). The default
    proposal rule of adaptive sweeps.
``auto``
    ``exact`` when the regressor has gradients, else ``simulate``.

Whatever the method, the answer is projected onto the bounds once more and checked: it
meets every bound and sums to 1 within 1e-9.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import rel_entr
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from raymix.config import SearchConfig
from raymix.errors import UserError
from raymix.mixtures import (
    BOX_TOLERANCE,
    Constraints,
    draws_near_runs,
    named_weights,
)
from raymix.regression import has_std

PREDICT_CHUNK = 65_536  # candidates drawn and predicted at a time: ~9 MB for 17 domains
START_POOL = 20_000  # candidates drawn to pick the exact method's best starts from
MAX_ITERATIONS = 500  # SLSQP iterations per start; smooth laws converge in 10-50
LOG_FLOOR = 1e-12  # KL's gradient log(w / p) + 1 is -inf at w = 0: evaluate it here
# pessimistic: at most this many observed runs, those of lowest loss, join its candidates;
# a GP's predictive std at each costs runs-it-conditions-on^2, minutes for a million runs
RUN_CANDIDATES = 10_000
NO_STD = ("search.method: pessimistic needs a regressor with a predictive standard deviation; "
          "set fit.regressors: [gp], or use another search.method")
NO_GRADIENT = ("method exact needs a differentiable regressor (ridge, loglinear, mixing_law, "
               "implicit_law); use simulate, tpe or cmaes")

Gradient = Callable[[np.ndarray], np.ndarray]


@dataclass(eq=False)  # numpy fields: compare them explicitly
class SearchResult:
    """The mixture a search found.

    Attributes
    ----------
    domains : list of str
        Domain names, in the order of ``mixture``.
    mixture : ndarray of shape (k,)
        The proposal; meets every bound and sums to 1 within 1e-9.
    objective : float
        Predicted loss plus ``kl_weight * KL(mixture || prior)``.
    predicted : float
        The regressor's prediction alone.
    method : str
        The method used (``auto`` resolved to ``exact`` or ``simulate``).
    details : dict
        Method settings and convergence information (JSON-ready).
    """

    domains: list[str]
    mixture: np.ndarray
    objective: float
    predicted: float
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON types."""
        return {
            "mixture": named_weights(self.domains, self.mixture),
            "objective": float(self.objective),
            "predicted": float(self.predicted),
            "method": self.method,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        """Read back :meth:`to_dict` (a ``proposal.json``'s ``search``)."""
        mixture = data.get("mixture") or {}
        return cls(domains=list(mixture), mixture=np.array(list(mixture.values()), dtype=float),
                   objective=data.get("objective"), predicted=data.get("predicted"),
                   method=data["method"], details=data.get("details") or {})


# ----------------------------------------------------------------------------- objective


def kl_divergence(mixtures: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``KL(w || prior)`` of each row (0 log 0 = 0; inf where the prior is 0 and w is not)."""
    return rel_entr(np.asarray(mixtures, dtype=float), prior).sum(axis=-1)


def evaluate(model, constraints: Constraints,
             mixtures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective and plain prediction of each row of ``mixtures`` (shape (n, k)).

    Returns
    -------
    objective, predicted : ndarray of shape (n,)
    """
    predicted = np.asarray(model.predict(mixtures), dtype=float).reshape(len(mixtures))
    return _plus_kl(predicted, constraints, mixtures), predicted


def _plus_kl(values: np.ndarray, constraints: Constraints, mixtures: np.ndarray) -> np.ndarray:
    """``values`` plus the pull ``kl_weight * KL(w || prior)`` of each row of ``mixtures``."""
    if constraints.kl_weight == 0:  # skip: 0 * inf would be NaN where the prior is 0
        return values
    return values + constraints.kl_weight * kl_divergence(mixtures, constraints.prior)


def gradient_of(model, k: int) -> Gradient | None:
    """``model``'s d prediction / d weight as a function of an (n, k) array, or None.

    Regressors that can give it define ``gradient(X)``; one that cannot in its fitted
    state (say an ensemble with a tree model in it) raises ValueError or
    NotImplementedError there, which counts as no gradient. Fitted scikit-learn linear
    models (e.g. ``RidgeCV``) have the constant gradient ``coef_``.
    """
    method = getattr(model, "gradient", None)
    if callable(method):
        try:
            method(np.full((1, k), 1.0 / k))
        except (ValueError, NotImplementedError):
            return None
        return method
    coef = getattr(model, "coef_", None)
    if type(model).__module__.startswith("sklearn.linear_model") and np.shape(coef) == (k,):
        return lambda X: np.broadcast_to(coef, np.shape(X))
    return None


def _objective_gradient(grad: Gradient, constraints: Constraints, w: np.ndarray) -> np.ndarray:
    """d objective / d w at one mixture ``w`` (shape (k,))."""
    g = np.asarray(grad(w[None, :]), dtype=float).reshape(-1)
    if constraints.kl_weight:
        g = g + constraints.kl_weight * (np.log(np.maximum(w, LOG_FLOOR) / constraints.prior) + 1)
    return g


# ----------------------------------------------------------------------------- entry point


def search_mixture(model, constraints: Constraints, search: SearchConfig,
                   runs: tuple[np.ndarray, np.ndarray] | None = None) -> SearchResult:
    """Find the mixture inside ``constraints`` that minimises the objective of ``model``.

    Parameters
    ----------
    model : fitted regressor
        ``predict(X)`` for an (n, k) array of weights in ``constraints.domains`` order;
        ``gradient(X)`` too for ``exact``.
    constraints : Constraints
        The bounds, prior and KL weight (see :func:`raymix.mixtures.build_constraints`).
    search : SearchConfig
        ``method`` and its settings (``draws``/``top_k``, ``restarts``, ``trials``,
        ``pessimism``) and ``seed``.
    runs : (X, y), optional
        The observed mixtures (n, k) and losses (n,): ``pessimistic`` adds them, and draws
        around the best of them, to its candidates.

    Returns
    -------
    SearchResult

    Raises
    ------
    UserError
        ``exact`` for a regressor without gradients; ``cmaes`` without the ``cmaes``
        package.
    """
    method = resolve_method(search.method, model, len(constraints.domains))
    if constraints.free.sum() <= 1:  # the sum fixes the one free weight: a single mixture
        w = constraints.project(constraints.lower)
        details = {"note": "the bounds leave a single feasible mixture"}
    else:
        w, details = METHODS[method](model, constraints, search, runs)
    return _result(model, constraints, w, method, details)


def resolve_method(method: str, model, k: int) -> str:
    """The method ``auto`` stands for with ``model`` (of ``k`` domains); others are checked."""
    has_gradient = gradient_of(model, k) is not None
    if method == "auto":
        return "exact" if has_gradient else "simulate"
    if method == "exact" and not has_gradient:
        raise UserError(NO_GRADIENT)
    if method == "pessimistic" and not has_std(model):
        raise UserError(NO_STD)
    if method not in METHODS:
        raise UserError(f"unknown search method {method!r}; use auto, {', '.join(METHODS)}")
    return method


def _result(model, constraints: Constraints, w: np.ndarray, method: str,
            details: dict[str, Any]) -> SearchResult:
    """Project ``w`` into the bounds once more, check it, and score it."""
    mixture = constraints.project(np.asarray(w, dtype=float))
    if not constraints.contains(mixture, BOX_TOLERANCE):  # a bug, never the user's fault
        raise RuntimeError(f"the {method} search returned a mixture outside the bounds: {mixture}")
    objective, predicted = evaluate(model, constraints, mixture[None, :])
    return SearchResult(constraints.domains, mixture, float(objective[0]), float(predicted[0]),
                        method, details)


# ----------------------------------------------------------------------------- simulate


def best_candidates(model, constraints: Constraints, n: int, top_k: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The ``top_k`` lowest-objective of ``n`` random mixtures inside the bounds.

    Candidates are drawn around the prior (see :meth:`raymix.mixtures.Constraints.sample`)
    and scored ``PREDICT_CHUNK`` at a time, keeping only the running best.

    Returns
    -------
    mixtures : ndarray of shape (top_k, k)
    objective : ndarray of shape (top_k,)
        Sorted, best first.
    """
    k = len(constraints.domains)
    best_x, best_f = np.empty((0, k)), np.empty(0)
    for start in range(0, n, PREDICT_CHUNK):
        x = constraints.sample(min(PREDICT_CHUNK, n - start), rng)
        f, _ = evaluate(model, constraints, x)
        best_x, best_f = np.vstack([best_x, x]), np.concatenate([best_f, f])
        if len(best_f) > top_k:
            keep = np.argpartition(best_f, top_k - 1)[:top_k]
            best_x, best_f = best_x[keep], best_f[keep]
    order = np.argsort(best_f)
    return best_x[order], best_f[order]


def _simulate(model, constraints: Constraints, search: SearchConfig, runs=None):
    """RegMix: the mean of the ``top_k`` best of ``draws`` random mixtures."""
    rng = np.random.default_rng(search.seed)
    top_x, top_f = best_candidates(model, constraints, search.draws, search.top_k, rng)
    return top_x.mean(axis=0), {
        "candidates": search.draws,  # proposal.json's field keeps its name (older files)
        "top_k": search.top_k,
        "best_candidate_objective": float(top_f[0]),
        "kth_candidate_objective": float(top_f[-1]),
    }


# ----------------------------------------------------------------------------- exact


def _starts(model, constraints: Constraints, search: SearchConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """``restarts`` feasible starts: half the best simulated candidates, then the prior and
    uniform random mixtures (projected into the bounds) for the basins simulation misses."""
    n_best = math.ceil(search.restarts / 2)
    pool = min(search.draws, START_POOL)
    simulated, _ = best_candidates(model, constraints, pool, min(n_best, pool), rng)
    n_random = search.restarts - len(simulated)
    random = rng.dirichlet(np.ones(len(constraints.domains)), size=n_random)
    if n_random:
        random[0] = constraints.prior
    starts = np.vstack([simulated, constraints.project(random)])
    kinds = ["simulated"] * len(simulated) + ["prior", "random"][:n_random] \
        + ["random"] * (n_random - 2)
    return starts, kinds


def _slsqp(model, grad: Gradient, constraints: Constraints, start: np.ndarray):
    """One SLSQP run over the free weights from ``start``.

    Returns scipy's result and the map from its free weights to a full mixture.
    """
    free = constraints.free
    base = np.where(free, 0.0, constraints.lower)
    budget = 1.0 - base.sum()  # what the free weights share
    lo, hi = constraints.lower[free], constraints.upper[free]

    def embed(z: np.ndarray) -> np.ndarray:
        w = base.copy()
        w[free] = np.clip(z, lo, hi)  # SLSQP may step a hair outside its bounds
        return w

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        w = embed(z)
        f, _ = evaluate(model, constraints, w[None, :])
        return float(f[0]), _objective_gradient(grad, constraints, w)[free]

    totals = _group_inequalities(constraints, base, free)
    # a schedule's phase equalities sum to the simplex's: SLSQP stops short (and says it
    # converged) when given both, so the simplex's is left to them
    simplex = [] if constraints.phases else [
        {"type": "eq", "fun": lambda z: z.sum() - budget, "jac": lambda z: np.ones_like(z)}]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. "Values in x were outside bounds"
        result = minimize(
            fun, start[free], jac=True, method="SLSQP", bounds=list(zip(lo, hi)),
            constraints=[*simplex, *totals],
            options={"maxiter": MAX_ITERATIONS, "ftol": 1e-12},
        )
    return result, embed


def _group_inequalities(constraints: Constraints, base: np.ndarray,
                        free: np.ndarray) -> list[dict[str, Any]]:
    """SLSQP's constraints on the bounded totals (:meth:`Constraints.slabs`: the bounded
    groups', a schedule's phases'), over the free weights.

    A total is ``members[free] @ z + members @ base``; a phase's, fixed at its share,
    gives one equality ``total - share = 0``; each group bound below 1 (above 0) one
    inequality ``>= 0``. None without bounded totals.
    """
    members, lower, upper = constraints.slabs()
    pinned = members @ base
    phase = np.arange(len(members)) >= len(members) - len(constraints.phases or [])
    out, rows, offsets = [], [], []
    for member, fixed, lo, hi, is_phase in zip(members[:, free], pinned, lower, upper, phase):
        if is_phase:
            out.append({"type": "eq", "fun": lambda z, m=member, c=fixed - lo: m @ z + c,
                        "jac": lambda z, m=member: m})
            continue
        if lo > 0:
            rows.append(member)  # total - lo >= 0
            offsets.append(fixed - lo)
        if hi < 1:
            rows.append(-member)  # hi - total >= 0
            offsets.append(hi - fixed)
    if rows:
        matrix, offset = np.array(rows), np.array(offsets)
        out.append({"type": "ineq", "fun": lambda z: matrix @ z + offset, "jac": lambda z: matrix})
    return out


def _exact(model, constraints: Constraints, search: SearchConfig, runs=None):
    """Multi-start SLSQP on the bounded simplex; the best projected optimum wins."""
    grad = gradient_of(model, len(constraints.domains))
    if grad is None:
        raise UserError(NO_GRADIENT)
    rng = np.random.default_rng(search.seed)
    starts, kinds = _starts(model, constraints, search, rng)
    start_f, _ = evaluate(model, constraints, starts)
    ends, iterations, converged = [], 0, 0
    # SLSQP's tiny matrix products are 10-100x slower on several BLAS threads
    with threadpool_limits(1, user_api="blas"):
        for start in starts:
            result, embed = _slsqp(model, grad, constraints, start)
            ends.append(constraints.project(embed(result.x)))
            iterations += int(result.nit)
            converged += bool(result.success)
    end_f, _ = evaluate(model, constraints, np.array(ends))
    best = int(np.argmin(end_f))
    # a failed run can end worse than it began: never return worse than the best start
    w = ends[best] if end_f[best] <= start_f.min() else starts[int(np.argmin(start_f))]
    return w, {
        "solver": "SLSQP",
        "restarts": len(starts),
        "iterations": iterations,
        "converged": converged,
        "best_start": kinds[best],
        "best_start_objective": float(start_f.min()),
        "restarts_within_1e-6_of_best": int((end_f <= end_f[best] + 1e-6).sum()),
    }


# ----------------------------------------------------------------------------- Optuna


def _sampler(name: str, seed: int):
    """An Optuna sampler by search-method name."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    try:
        import cmaes  # noqa: F401  (CmaEsSampler imports it lazily, with a vaguer error)
    except ImportError:
        raise UserError("method cmaes needs the 'cmaes' package: pip install cmaes, "
                        "or use simulate or tpe") from None
    return optuna.samplers.CmaEsSampler(seed=seed)


def _optuna(model, constraints: Constraints, search: SearchConfig, name: str):
    """``search.trials`` ask/tell rounds; each trial's weights are projected to a mixture."""
    import optuna

    free = np.flatnonzero(constraints.free)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(sampler=_sampler(name, search.seed))
            # the first trial is the prior (moved into the bounds): a sensible baseline
            start = constraints.project(constraints.prior)
            study.enqueue_trial({constraints.domains[i]: float(start[i]) for i in free})
            best_w, best_f = None, np.inf
            for _ in range(search.trials):
                trial = study.ask()
                x = constraints.lower.copy()
                for i in free:
                    x[i] = trial.suggest_float(constraints.domains[i], constraints.lower[i],
                                               constraints.upper[i])
                w = constraints.project(x)
                f = float(evaluate(model, constraints, w[None, :])[0][0])
                study.tell(trial, f)
                if f < best_f:
                    best_w, best_f = w, f
    finally:
        optuna.logging.set_verbosity(verbosity)
    return best_w, {"trials": search.trials, "sampler": type(study.sampler).__name__,
                    "best_trial": int(study.best_trial.number)}


# ----------------------------------------------------------------------------- pessimistic


def _pessimistic(model, constraints: Constraints, search: SearchConfig, runs=None):
    """The candidate of lowest ``mean + pessimism * std`` (+ the KL pull), scored in chunks."""
    rng = np.random.default_rng(search.seed)
    k = len(constraints.domains)
    X, y = runs if runs is not None else (np.empty((0, k)), np.empty(0))
    X, y = np.asarray(X, dtype=float).reshape(-1, k), np.asarray(y, dtype=float)
    if len(y) > RUN_CANDIDATES:  # a big table: its best runs are the ones that can win
        best_runs = np.sort(np.argsort(y, kind="stable")[:RUN_CANDIDATES])
        X, y = X[best_runs], y[best_runs]
    pool = np.vstack([constraints.project(X),
                      draws_near_runs(search.draws, constraints, X, y, rng)])
    best = (np.inf, None, 0.0, 0.0)  # bound, mixture, mean, std
    for start in range(0, len(pool), PREDICT_CHUNK):
        chunk = pool[start:start + PREDICT_CHUNK]
        mean, std = model.predict(chunk, return_std=True)
        bound = _plus_kl(np.asarray(mean, dtype=float)
                         + search.pessimism * np.asarray(std, dtype=float), constraints, chunk)
        i = int(np.argmin(bound))
        if bound[i] < best[0]:
            best = (float(bound[i]), chunk[i], float(mean[i]), float(std[i]))
    return best[1], {"candidates": len(pool), "runs_among_candidates": len(X),
                     "pessimism": search.pessimism, "bound": best[0], "std": best[3]}


METHODS = {
    "simulate": _simulate,
    "exact": _exact,
    "tpe": lambda model, c, s, runs=None: _optuna(model, c, s, "tpe"),
    "cmaes": lambda model, c, s, runs=None: _optuna(model, c, s, "cmaes"),
    "pessimistic": _pessimistic,
}
