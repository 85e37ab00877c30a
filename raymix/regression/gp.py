"""A Gaussian process on the simplex, with a predictive standard deviation."""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize
from sklearn.base import BaseEstimator, RegressorMixin
from threadpoolctl import threadpool_limits

from raymix.regression.subsample import subsample

SQRT5 = np.sqrt(5.0)
SCREEN_ITER = 10  # L-BFGS-B iterations that each GP start gets before the best is finished
SMALL_GP = 2000  # up to this many runs the GP fits with one BLAS thread
THETA_RUNS = 512  # the likelihood search sees at most this many runs (see SimplexGP)
# The whole fit uses at most this many runs, a seeded draw beyond (with a note): the
# posterior is a runs x runs matrix factorised once, so 2,000 runs take 32 MB and a
# second, where the 1.35M runs of a big table asked for terabytes. A smooth surface over
# a few dozen domains is pinned down long before 2,000 runs.
MAX_RUNS = 2_000


def _distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``A`` and of ``B``."""
    d = A @ B.T  # in place from here: a million candidates make this the hot loop
    d *= -2.0
    d += (A**2).sum(1)[:, None]
    d += (B**2).sum(1)[None, :]
    np.maximum(d, 0.0, out=d)
    return np.sqrt(d, out=d)


def _matern52(r: np.ndarray) -> np.ndarray:
    """Matern kernel with nu = 5/2 at distance ``r``: (1 + s + s^2/3) exp(-s), s = sqrt(5) r."""
    s = SQRT5 * r
    k = np.exp(-s)
    k *= 1.0 + s + s * s / 3.0
    return k


def gp_negative_log_likelihood(theta: np.ndarray, Z: np.ndarray,
                               y: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood of the GP and its gradient in ``theta``.

    The kernel is ``a * Matern52(|(z - z') / l|) + s * [z == z']`` with ``theta =
    log([a, l_1 .. l_k, s])``: scikit-learn's ``ConstantKernel * Matern(nu=2.5) +
    WhiteKernel`` with the same ``theta``. The gradient is in closed form,
    ``d lml / d theta = tr(W dK/d theta) / 2`` with ``W = alpha alpha^T - K^-1``, where
    each length scale's term reduces to matrix products instead of the ``(n, n, k)``
    tensor scikit-learn builds: about 5x faster at 512 runs x 17 domains.
    """
    amplitude, scales, noise = np.exp(theta[0]), np.exp(theta[1:-1]), np.exp(theta[-1])
    S = Z / scales
    r = _distances(S, S)
    decay = np.exp(-SQRT5 * r)
    signal = amplitude * (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * decay
    K = signal + noise * np.eye(len(y))
    try:
        factor = linalg.cho_factor(K, lower=True)
    except linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)  # as scikit-learn: steer the optimiser away
    alpha = linalg.cho_solve(factor, y)
    W = np.outer(alpha, alpha) - linalg.cho_solve(factor, np.eye(len(y)))
    nll = 0.5 * y @ alpha + np.log(np.diag(factor[0])).sum() + 0.5 * len(y) * np.log(2 * np.pi)
    # d K / d log l_d = a (5/3)(1 + sqrt5 r) exp(-sqrt5 r) * (s_id - s_jd)^2
    M = W * (amplitude * 5.0 / 3.0 * (1.0 + SQRT5 * r) * decay)
    scale_grad = (S**2 * M.sum(1)[:, None]).sum(0) - (S * (M @ S)).sum(0)
    grad = np.concatenate([[0.5 * (W * signal).sum()], scale_grad, [0.5 * noise * np.trace(W)]])
    return float(nll), -grad


class SimplexGP(RegressorMixin, BaseEstimator):
    """A Gaussian process on the simplex, with a predictive standard deviation.

    Inputs are the square roots of the weights: that maps the simplex onto a piece of
    the unit sphere where Euclidean distance is sqrt(2) times the Hellinger distance
    between mixtures, so a shift of 0.01 weight counts more for a small domain than for
    a large one (loss responds roughly to the log of a domain's share). The kernel is
    ``a * Matern52`` with one length scale per domain (irrelevant domains get long
    ones) plus white noise for run-to-run noise; ``y`` is standardised first. The
    hyperparameters maximise the log marginal likelihood by L-BFGS-B with the
    closed-form gradient of :func:`gp_negative_log_likelihood` (a default start and
    ``n_restarts`` random ones get a few iterations each, the best is finished).

    Each step of that search factorises a runs x runs matrix. Beyond ``theta_runs`` runs
    the search sees a random ``theta_runs`` of them (seeded), and the posterior then
    conditions on all of them with one factorisation: at 1,500 runs a fit takes seconds
    instead of a minute and a half, and hyperparameters (a handful of numbers) are
    estimated about as well from 512 runs as from all (docs/DECISIONS.md). Beyond
    ``max_runs`` runs (:data:`MAX_RUNS`, 2,000) the whole fit, posterior included, uses a
    seeded draw of ``max_runs`` of them and says so in a
    :class:`~raymix.regression.subsample.BigTableNotice`: the posterior's memory grows
    as runs^2 and its time as runs^3.

    The model is scikit-learn's ``GaussianProcessRegressor(ConstantKernel() *
    Matern(nu=2.5) + WhiteKernel(), normalize_y=True)`` on ``sqrt(w)``, fitted several
    times faster (512 runs x 17 domains: about 3 s on one core).

    Parameters
    ----------
    n_restarts : int, default=2
        Random starts of the optimiser besides the default one.
    max_iter : int, default=50
        L-BFGS-B iterations for the best start (at 512 runs, 30 get within 0.1 of the
        optimum log likelihood, and all starts reach the same one).
    seed : int, default=0
        Seed of the random starts.
    chunk_size : int, default=8192
        Rows predicted at a time, so a million candidates need ``chunk_size x n``
        floats of memory, not ``10^6 x n``.
    theta : array-like of shape (k + 2,), optional
        Hyperparameters to use as they are (``theta_`` of an earlier fit): ``fit`` then
        only conditions on the data, one Cholesky factorisation, with no likelihood search.
    theta_runs : int, default=512
        The most runs the likelihood search sees; more are subsampled for it (not for
        the posterior).
    max_runs : int, optional
        The most runs the fit uses at all (default :data:`MAX_RUNS`, 2,000); more are
        subsampled (seeded by ``seed``), with a note.

    Attributes
    ----------
    amplitude_, length_scales_, noise_level_ : float, ndarray of shape (k,), float
        Fitted kernel hyperparameters (in units of the standardised loss).
    theta_ : ndarray of shape (k + 2,)
        The same as ``log([amplitude, *length_scales, noise_level])``.
    noise_std_ : float
        Run-to-run noise the fit attributes to the data, in loss units.
    log_marginal_likelihood_ : float
    """

    # bounds of amplitude, length scales, noise (standardised loss, sqrt weights in [0, 1])
    BOUNDS = ((1e-3, 1e3), (1e-2, 1e3), (1e-6, 1.0))

    def __init__(self, n_restarts: int = 2, max_iter: int = 50, seed: int = 0,
                 chunk_size: int = 8192, theta=None, theta_runs: int = THETA_RUNS,
                 max_runs: int | None = None):
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.seed = seed
        self.chunk_size = chunk_size
        self.theta = theta
        self.theta_runs = theta_runs
        self.max_runs = max_runs

    @staticmethod
    def _inputs(X) -> np.ndarray:
        return np.sqrt(np.clip(np.atleast_2d(np.asarray(X, dtype=float)), 0.0, None))

    def _starts(self, k: int) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        starts = [np.log(np.r_[1.0, np.ones(k), 0.1])]
        for _ in range(self.n_restarts):
            starts.append(np.r_[rng.uniform(np.log(0.3), np.log(3.0)),
                                rng.uniform(np.log(0.1), np.log(10.0), k),
                                rng.uniform(np.log(1e-3), np.log(0.3))])
        return starts

    def _minimise(self, x0, Z, t, bounds, max_iter):
        return optimize.minimize(gp_negative_log_likelihood, x0, args=(Z, t), jac=True,
                                 method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter})

    def fit(self, X, y):
        """Fit the hyperparameters and the posterior to mixtures ``X`` and loss ``y``
        (a seeded draw of ``max_runs`` of them when there are more)."""
        limit = MAX_RUNS if self.max_runs is None else self.max_runs
        Z, y = subsample(self._inputs(X), np.asarray(y, dtype=float), limit, self.seed,
                         what="gp",
                         why="its memory grows as runs^2 and its time as runs^3")
        k = Z.shape[1]
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        t = (y - self.y_mean_) / self.y_scale_
        # runs x runs matrices: below a few thousand runs, BLAS threads cost more in
        # synchronisation than they save (10x more on a busy machine)
        with threadpool_limits(1 if len(t) <= SMALL_GP else None, user_api="blas"):
            if self.theta is None:
                theta = self._fit_theta(Z, t)
            else:
                theta = np.asarray(self.theta, dtype=float)
                if theta.shape != (k + 2,):
                    raise ValueError(f"theta needs {k + 2} values for {k} domains "
                                     f"(got {theta.shape})")
        self.theta_ = theta
        self.amplitude_, self.noise_level_ = float(np.exp(theta[0])), float(np.exp(theta[-1]))
        self.length_scales_ = np.exp(theta[1:-1])
        self.noise_std_ = float(np.sqrt(self.noise_level_) * self.y_scale_)
        self.Z_ = Z / self.length_scales_
        K = self.covariance(self.Z_, self.Z_)
        self.cholesky_ = linalg.cholesky(K + self.noise_level_ * np.eye(len(t)), lower=True)
        self.alpha_ = linalg.cho_solve((self.cholesky_, True), t)
        # of all the runs, whatever the search saw: -nll of gp_negative_log_likelihood
        self.log_marginal_likelihood_ = -float(
            0.5 * t @ self.alpha_ + np.log(np.diag(self.cholesky_)).sum()
            + 0.5 * len(t) * np.log(2 * np.pi))
        self.n_features_in_ = k
        return self

    def _fit_theta(self, Z: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The most likely hyperparameters: every start screened briefly, the best finished
        (on at most ``theta_runs`` of the runs)."""
        if len(t) > self.theta_runs:
            rows = np.random.default_rng(self.seed).choice(len(t), self.theta_runs,
                                                           replace=False)
            Z, t = Z[rows], t[rows]
        amp, scale, noise = self.BOUNDS
        bounds = np.log([amp, *[scale] * Z.shape[1], noise])
        screened = [self._minimise(x0, Z, t, bounds, SCREEN_ITER)
                    for x0 in self._starts(Z.shape[1])]
        best = min(screened, key=lambda result: result.fun)
        return self._minimise(best.x, Z, t, bounds, self.max_iter).x

    def scaled_inputs(self, X) -> np.ndarray:
        """The kernel's inputs for mixtures ``X``: square-root weights over length scales."""
        return self._inputs(X) / self.length_scales_

    def covariance(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Prior covariance (standardised loss) between rows of scaled inputs ``A``, ``B``."""
        return self.amplitude_ * _matern52(_distances(A, B))

    def predict(self, X, return_std: bool = False):
        """Posterior mean loss of each row of ``X``, and optionally its standard deviation.

        The standard deviation is that of the expected loss at the mixture (the
        latent function), not of one more run there: add ``noise_std_`` in
        quadrature for the latter.

        Returns
        -------
        mean : ndarray of shape (n,)
        std : ndarray of shape (n,), only when ``return_std``
        """
        Z = self.scaled_inputs(X)
        mean, var = np.empty(len(Z)), np.empty(len(Z))
        for start in range(0, len(Z), self.chunk_size):
            rows = slice(start, start + self.chunk_size)
            K_star = self.covariance(Z[rows], self.Z_)
            mean[rows] = K_star @ self.alpha_
            if return_std:
                v = linalg.solve_triangular(self.cholesky_, K_star.T, lower=True)
                var[rows] = self.amplitude_ - (v**2).sum(0)
        mean = self.y_mean_ + self.y_scale_ * mean
        if not return_std:
            return mean
        return mean, self.y_scale_ * np.sqrt(np.maximum(var, 0.0))
