"""A reference log-linear data mixing law, written from the papers' formula, for comparison.

Ye et al., "Data Mixing Laws" (ICLR 2025; code yegcjs/mixinglaws) model the loss of a
mixture ``r`` as ``L(r) = c + k exp(t . r)``. Olmix (allenai/olmix, ``olmix/fit/utils.py``
``mixing_law`` and ``olmix/fit/law.py``, read at 9586977; the law "adapted from
yegcjs/mixinglaws") fits it as

    L(r) = exp(log_c) + exp(t . r)

with a Huber loss (``delta=0.02``, absolute, summed over runs), torch's L-BFGS with a
strong-Wolfe line search (100 steps of at most 20 iterations) from 300 starts: ``log_c``
on ``linspace(-2, 1.5, 10)``, 30 random ``t`` for each, ``t_j ~ U(0, 0.1)`` except one
domain's ``-U(0, 1)``; the start with the lowest training loss wins. No bounds, no
penalty, no screening.

This module is that recipe with our own code: the same parametrisation (plus an
intercept ``b`` in the exponent, which is redundant on the simplex and needed off it,
started at 0), the same loss and starts, each start run to convergence by scipy's
L-BFGS-B (unbounded, analytic gradient, at most 2000 iterations: Olmix's 100 x 20).
The negative start goes to a random domain (Olmix's goes to the target's own domain,
which exists only when targets are training domains). It is a bench baseline, not part
of raymix.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

LOG_C_GRID = np.linspace(-2.0, 1.5, 10)  # Olmix's init_params_log_linear_law
STARTS_PER_FLOOR = 30
MAX_ITER = 2000  # Olmix: max_step=100 L-BFGS steps of max_iter=20
DELTA = 0.02  # Olmix's default, absolute


def _huber_objective(theta, X, y, delta):
    """Summed Huber loss of ``exp(log_c) + exp(b + t . r)`` and its gradient."""
    log_c, b, t = theta[0], theta[1], theta[2:]
    floor = np.exp(min(log_c, 700.0))
    term = np.exp(np.minimum(b + X @ t, 700.0))
    res = floor + term - y
    absres = np.abs(res)
    value = np.where(absres <= delta, 0.5 * res ** 2, delta * (absres - 0.5 * delta)).sum()
    psi = np.clip(res, -delta, delta)
    weighted = psi * term
    grad = np.concatenate([[psi.sum() * floor, weighted.sum()], weighted @ X])
    return value, grad


class ReferenceMixingLaw:
    """Olmix's log-linear mixing law, reimplemented: many random starts, Huber, L-BFGS.

    Parameters
    ----------
    delta : float, default=0.02
        Absolute Huber threshold.
    starts_per_floor : int, default=30
        Random ``t`` per value of ``log_c`` (10 values): 300 starts by default.
    seed : int, default=42
        Seed of the random starts (Olmix seeds numpy with 42).
    """

    def __init__(self, delta: float = DELTA, starts_per_floor: int = STARTS_PER_FLOOR,
                 seed: int = 42):
        self.delta = delta
        self.starts_per_floor = starts_per_floor
        self.seed = seed

    def _starts(self, d: int):
        rng = np.random.default_rng(self.seed)
        for log_c in LOG_C_GRID:
            for _ in range(self.starts_per_floor):
                t = rng.uniform(0.0, 0.1, d)
                t[rng.integers(d)] = -rng.uniform()
                yield np.concatenate([[log_c, 0.0], t])

    def fit(self, X, y) -> ReferenceMixingLaw:
        X, y = np.asarray(X, float), np.asarray(y, float)
        best = None
        for start in self._starts(X.shape[1]):
            result = minimize(_huber_objective, start, args=(X, y, self.delta), jac=True,
                              method="L-BFGS-B", options={"maxiter": MAX_ITER})
            if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
                best = result
        self.log_c_, self.b_, self.t_ = best.x[0], best.x[1], best.x[2:]
        return self

    def predict(self, X) -> np.ndarray:
        X = np.asarray(X, float)
        return np.exp(self.log_c_) + np.exp(np.minimum(self.b_ + X @ self.t_, 700.0))
