"""``bayesopt``: random draws at first, then a Gaussian process picks each batch.

``initial`` RegMix draws (:func:`~raymix.mixtures.strategies.random.sample_regmix`), then
Bayesian optimisation: raymix's Gaussian process (:class:`raymix.regression.SimplexGP`,
Matern 5/2 on the square roots of the weights) is fitted to the runs, and a batch is
chosen from a candidate set by a lower confidence bound ``mean - exploration * std``
with hallucinated observations: after each pick the GP pretends the pick was observed at
its predicted mean (the *Kriging believer* of Ginsbourger, Le Riche and Carraro, 2010).
With fixed hyperparameters that leaves the posterior mean unchanged and only shrinks the
variance near the pick, so the next picks go elsewhere: GP-BUCB (Desautels, Krause and
Burdick, "Parallelizing exploration-exploitation tradeoffs in Gaussian process bandit
optimization", JMLR 2014). Mixtures suggested but not yet observed (runs still training)
are believed the same way. (Expected improvement in place of the bound explored too much
on 8-24 runs of a smooth 6-domain test loss.)

The candidate set of each round mixes global draws in the box with draws concentrated
around the best runs so far: in 17 dimensions, global draws alone rarely land close
enough to a good mixture to refine it.

The GP is fitted to the observations sorted by mixture
(:meth:`~raymix.mixtures.strategies.base.MixtureStrategy._observed`), and its
hyperparameters are saved with the state, so a resumed strategy suggests exactly what
the uninterrupted one would have.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from raymix.mixtures.constraints import Constraints
from raymix.mixtures.strategies.base import MixtureStrategy
from raymix.mixtures.strategies.random import sample_regmix
from raymix.regression import SimplexGP

LOCAL_STRENGTHS = (20.0, 500.0)  # Dirichlet strengths of the draws around the best runs
LOCAL_CENTRES = 5  # the best this many runs each get local candidates
LOCAL_FRACTION = 0.5  # share of the candidates drawn around the best runs
PRIOR_SHARE = 0.05  # local draws centre on (1 - this) * run + this * prior: zero weights may grow
MIN_GP_RUNS = 3  # fewer observed runs than this: the GP rounds fall back to random draws
# The GP's hyperparameters are refitted at every new observation up to REFIT_RUNS runs;
# beyond, only when the runs have grown by REFIT_GROWTH since the last refit, and the GP
# in between conditions on every run with those hyperparameters (one Cholesky). A refit
# costs 1.7 s at 512 runs and 13 s at 1024 on one core (bench/bench_strategy_latency.py),
# and a few percent more runs barely move the most likely hyperparameters.
REFIT_RUNS = 128
REFIT_GROWTH = 1.1


def draws_near_runs(n: int, box: Constraints, X: np.ndarray, y: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """``n`` mixtures in the box: half drawn over all of it, half around the best runs.

    In 17 dimensions, draws over the whole box rarely land close enough to a good run to
    refine it; so the best ``LOCAL_CENTRES`` runs (lowest ``y``) each get concentrated
    Dirichlet draws around them (nudged toward the prior, so a zero weight may grow).

    Parameters
    ----------
    n : int
    box : Constraints
    X : array of shape (m, k)
        The observed mixtures (may be empty).
    y : array of shape (m,)
        Their losses.
    rng : Generator

    Returns
    -------
    ndarray of shape (n, k)
    """
    n_local = int(n * LOCAL_FRACTION) if len(X) else 0
    parts = [box.sample(n - n_local, rng)]
    centres = X[np.argsort(y, kind="stable")[:LOCAL_CENTRES]] if n_local else []
    for i, centre in enumerate(centres):
        size = n_local // len(centres) + (i < n_local % len(centres))
        if size:
            parts.append(box.sample(
                size, rng, centre=(1 - PRIOR_SHARE) * centre + PRIOR_SHARE * box.prior,
                strengths=LOCAL_STRENGTHS, uniform_fraction=0.0))
    return box.project(np.vstack(parts))


# ----------------------------------------------------------------------------- batch acquisition


class _Believer:
    """The posterior of a fitted :class:`SimplexGP` over a point set, with believed picks.

    Conditioning on an observation at its own posterior mean leaves the mean unchanged
    and subtracts ``cov(x, p)^2 / (var(p) + noise)`` from the variance at each ``x``:
    a rank-one update per pick. The points are the candidates plus the pending mixtures
    (suggested, not yet observed), so every believed point is an index into them and the
    current covariance is ``cov0 - sum_j u_j u_j^T`` with ``u_j`` stored per pick.
    """

    def __init__(self, gp: SimplexGP, points: np.ndarray):
        self.gp = gp
        self.Z = gp.scaled_inputs(points)
        cross = gp.covariance(self.Z, gp.Z_)  # (m, n)
        self.V = linalg.solve_triangular(gp.cholesky_, cross.T, lower=True)  # (n, m)
        self.mean = cross @ gp.alpha_  # standardised loss
        self.var = np.maximum(gp.amplitude_ - (self.V**2).sum(0), 0.0)
        self.factors: list[np.ndarray] = []

    def believe(self, index: int) -> None:
        """Condition on an observation at point ``index`` equal to its posterior mean."""
        prior = self.gp.covariance(self.Z, self.Z[index:index + 1])[:, 0]
        cov = prior - self.V.T @ self.V[:, index]
        for u in self.factors:
            cov -= u * u[index]
        u_new = cov / np.sqrt(max(cov[index], 0.0) + self.gp.noise_level_)
        self.factors.append(u_new)
        self.var = np.maximum(self.var - u_new**2, 0.0)


def believer_batch(gp: SimplexGP, pool: np.ndarray, pending: np.ndarray, n: int,
                   exploration: float = 1.0) -> np.ndarray:
    """Indices of ``n`` mixtures of the pool, chosen one by one by the lower confidence
    bound, believing each.

    Parameters
    ----------
    gp : SimplexGP
        Fitted to the observed runs.
    pool : array of shape (m, k)
    pending : array of shape (p, k)
        Mixtures being trained: believed before the first pick.
    n : int
        Batch size (at most m).
    exploration : float, default=1.0
        Weight of the posterior std in ``mean - exploration * std``.

    Returns
    -------
    ndarray of int, shape (n,)
    """
    believer = _Believer(gp, np.vstack([pool, pending]))
    for j in range(len(pending)):
        believer.believe(len(pool) + j)
    chosen: list[int] = []
    for _ in range(n):
        bound = (believer.mean[:len(pool)]
                 - exploration * np.sqrt(believer.var[:len(pool)]))
        bound[chosen] = np.inf
        pick = int(np.argmin(bound))
        chosen.append(pick)
        believer.believe(pick)
    return np.array(chosen, dtype=int)


# ----------------------------------------------------------------------------- the strategy


class BayesOptStrategy(MixtureStrategy):
    """``initial`` random draws, then GP-BUCB batches (the module docstring).

    Attributes
    ----------
    gp_theta : list of float or None
        Hyperparameters of the last full GP fit, saved with the state so that a resumed
        strategy reuses them exactly as the uninterrupted one would.
    gp_theta_runs : int
        How many runs that fit saw.
    """

    name = "bayesopt"
    # no GP fitted yet (each instance sets its own on its first fit)
    _gp: tuple[int, SimplexGP] | None = None  # (observations, fit): refit on new ones
    gp_theta: list[float] | None = None
    gp_theta_runs: int = 0

    def _rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        first = self._initial_rows(n, rng)
        rest = n - len(first)
        if rest and len(self.losses) >= MIN_GP_RUNS:
            return np.vstack([first, self._gp_rows(rest, first, rng)])
        if rest:  # too few runs for a GP yet
            return np.vstack([first, sample_regmix(rest, self.box, rng)])
        return first

    def _initial_rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The rows of the batch that fall in the first ``initial``: random draws."""
        take = max(0, min(n, self.initial - len(self.suggested)))
        return sample_regmix(take, self.box, rng) if take else np.empty((0, len(self.domains)))

    def _fitted_gp(self, X: np.ndarray, y: np.ndarray) -> SimplexGP:
        """The GP of the current observations; kept until a new one arrives.

        Its hyperparameters are those of the last full fit while the runs have grown by
        less than ``REFIT_GROWTH`` past ``REFIT_RUNS`` (module constants).
        """
        n = len(y)
        if self._gp is None or self._gp[0] != n:
            reuse = (self.gp_theta is not None and n > REFIT_RUNS
                     and n < REFIT_GROWTH * self.gp_theta_runs)
            gp = SimplexGP(n_restarts=self.gp_restarts, seed=self.seed,
                           theta=self.gp_theta if reuse else None).fit(X, y)
            if not reuse:
                self.gp_theta, self.gp_theta_runs = gp.theta_.tolist(), n
            self._gp = (n, gp)
        return self._gp[1]

    def _gp_rows(self, n: int, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``n`` rows by the believer's lower confidence bound (GP-BUCB, module docstring)."""
        X, y = self._observed()
        gp = self._fitted_gp(X, y)
        pool = draws_near_runs(self.pool_size, self.box, X, y, rng)
        pending = np.vstack([self._pending(), chosen])
        picks = believer_batch(gp, pool, pending, min(n, len(pool)), self.exploration)
        rows = pool[picks]
        if len(rows) < n:  # a smaller pool than asked for: top up with draws
            rows = np.vstack([rows, sample_regmix(n - len(rows), self.box, rng)])
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "gp_theta": self.gp_theta,
                "gp_theta_runs": self.gp_theta_runs}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> BayesOptStrategy:
        strategy = super().from_dict(state)
        if state.get("gp_theta") is not None:  # older states have none: the GP refits
            strategy.gp_theta = [float(v) for v in state["gp_theta"]]
            strategy.gp_theta_runs = int(state["gp_theta_runs"])
        return strategy


STRATEGY = BayesOptStrategy  # what raymix.mixtures.strategies registers under "bayesopt"
