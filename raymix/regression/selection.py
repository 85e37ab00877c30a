"""Regressors from mixture weights to target loss, their cross-validation and choice.

A regressor maps a mixture ``w`` (one row of an ``(n, k)`` array of domain weights that
sum to 1) to the loss a proxy model trained on that mixture reaches. raymix has six,
built by :func:`make_regressor`:

``ridge``
    Linear in the weights (RegMix's "linear"), ridge penalty chosen by leave-one-out error.
``loglinear``
    ``L(w) = c + exp(b0 + b . w)``: ridge on ``log(L - c)`` with the offset ``c`` (the
    loss no mixture can beat) picked by leave-one-out error. This is the form of
    Olmix's "log-linear" law and of Ye et al.'s per-domain mixing law, fitted the quick
    way (ridge in log space) rather than by non-linear least squares.
``lightgbm``
    Gradient-boosted trees (RegMix's choice), set up to split on a few dozen runs too.
``mixing_law``, ``implicit_law``
    Data Mixing Laws (Ye et al., ICLR 2025), in :mod:`raymix.laws`.
``gp``
    A Gaussian process on the square roots of the weights, with a predictive standard
    deviation (:class:`SimplexGP`).

``ridge`` and ``loglinear`` (and the laws) have ``gradient(X)``, d prediction / d weight,
which lets the proposal search optimise exactly; ``gp`` has ``predict(X, return_std=True)``.

Choosing one: :func:`cross_validate` scores a regressor on shuffled K folds and
:func:`select_best` keeps the one that ranks held-out mixtures best (highest Spearman),
since the proposal only needs the ordering of mixtures to be right. :func:`fit_auto` does
both for several regressors on the same folds, also tries averaging the best few
(:class:`Ensemble`, scored from the members' out-of-fold predictions, so it costs no
extra fits) and refits the winner on every run. ``make_regressor("auto")`` wraps that in
one estimator (:class:`AutoRegressor`).

Run-to-run noise: where several runs repeat a mixture with other seeds,
:func:`noise_floor` measures the spread of their loss, below which two mixtures cannot
be told apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from lightgbm import LGBMRegressor
from scipy import linalg, optimize, stats
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold
from sklearn.utils.metaestimators import available_if
from threadpoolctl import threadpool_limits

from raymix.config.schema import REGRESSOR_NAMES as REGRESSORS
from raymix.errors import ConfigError, UserError

MIN_TRAIN_RUNS = 3  # per cross-validation training fold
RIDGE_ALPHAS = np.logspace(-6, 3, 19)  # weights lie in [0, 1]: from nearly OLS to nearly flat
AUTO = "auto"


# ----------------------------------------------------------------------------- linear models


class RidgeRegressor(RidgeCV):
    """:class:`~sklearn.linear_model.RidgeCV` with the gradient of its prediction.

    The parameters are RidgeCV's; :func:`make_regressor` sets ``alphas`` to
    :data:`RIDGE_ALPHAS`.
    """

    def gradient(self, X) -> np.ndarray:
        """d prediction / d weight at each row of ``X``: the coefficients, shape (n, k)."""
        return np.tile(self.coef_, (len(np.atleast_2d(X)), 1))


def _ridge_loo_predictions(X: np.ndarray, z: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Leave-one-out predictions of ridge with intercept, one column per alpha.

    The closed form ``z_i - e_i / (1 - h_ii)`` over the SVD of the centred ``X`` (the
    intercept is not penalised, hence the ``1/n`` in the hat matrix), so every alpha
    costs one matrix product instead of ``n`` fits.
    """
    Xc = X - X.mean(axis=0)
    zc = z - z.mean()
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    shrink = s[:, None] ** 2 / (s[:, None] ** 2 + alphas[None, :])  # (rank, n_alphas)
    fitted = z.mean() + U @ (shrink * (U.T @ zc)[:, None])
    leverage = 1.0 / len(z) + (U**2) @ shrink
    return z[:, None] - (z[:, None] - fitted) / (1.0 - leverage)


class LogLinearRegressor(RegressorMixin, BaseEstimator):
    """``L(w) = c + exp(b0 + b . w)``: a linear model of the log loss above an offset.

    Ridge regression of ``log(L - c)`` on the weights. The offset ``c`` plays the
    role of the irreducible loss in Ye et al.'s mixing law ``L = c + k exp(t . r)``
    (Data Mixing Laws, ICLR 2025) and Olmix's log-linear law; here it is chosen with
    the ridge penalty by the leave-one-out squared error of the loss itself (not of its
    log), from ``0`` and a grid approaching ``min(L)`` from below.

    Parameters
    ----------
    alphas : array-like, default=RIDGE_ALPHAS
        Ridge penalties to choose from.
    offsets : int, default=12
        Number of candidate offsets ``min(L) - ptp(L) * f``, ``f`` log-spaced in
        ``[0.01, 10]``; ``c = 0`` (a pure log-linear law) is always tried too when
        the loss is positive. ``offsets=0`` fits the pure law only.

    Attributes
    ----------
    offset_ : float
        The chosen ``c``.
    alpha_ : float
        The chosen ridge penalty.
    coef_ : ndarray of shape (k,)
        ``b``.
    intercept_ : float
        ``b0``.
    """

    def __init__(self, alphas=RIDGE_ALPHAS, offsets: int = 12):
        self.alphas = alphas
        self.offsets = offsets

    def _candidate_offsets(self, y: np.ndarray) -> np.ndarray:
        low = float(np.min(y))
        grid = low - np.ptp(y) * np.logspace(-2, 1, self.offsets) if self.offsets else []
        grid = np.append(grid, 0.0) if low > 0 else np.asarray(grid)
        keep = grid < low
        if low > 0:  # an offset is a loss: keep it non-negative
            keep &= grid >= 0
        return np.unique(grid[keep])

    def fit(self, X, y):
        """Fit ``c``, the penalty and the coefficients to mixtures ``X`` and loss ``y``."""
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        offsets = self._candidate_offsets(y)
        if not len(offsets):
            raise UserError("loglinear with offsets=0 needs a positive target loss; "
                            "use offsets >= 1 for this target")
        alphas = np.asarray(self.alphas, dtype=float)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # bad (c, alpha)
            errors = np.array([
                np.mean((y[:, None] - c - np.exp(_ridge_loo_predictions(X, np.log(y - c), alphas)))
                        ** 2, axis=0)
                for c in offsets
            ])  # (offsets, alphas); the error of the loss, which is what gets ranked
        i, j = np.unravel_index(np.nanargmin(errors), errors.shape)
        self.offset_, self.alpha_ = float(offsets[i]), float(alphas[j])
        ridge = Ridge(alpha=self.alpha_).fit(X, np.log(y - self.offset_))
        self.coef_, self.intercept_ = ridge.coef_, float(ridge.intercept_)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted loss of each row of ``X``."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return self.offset_ + np.exp(X @ self.coef_ + self.intercept_)

    def gradient(self, X) -> np.ndarray:
        """d prediction / d weight at each row of ``X``, shape (n, k)."""
        return (self.predict(X) - self.offset_)[:, None] * self.coef_[None, :]


# ----------------------------------------------------------------------------- Gaussian process

SQRT5 = np.sqrt(5.0)
SCREEN_ITER = 10  # L-BFGS-B iterations that each GP start gets before the best is finished
SMALL_GP = 2000  # up to this many runs the GP fits with one BLAS thread


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
    ``n_restarts`` random ones get a few iterations each, the best is finished). The
    model is scikit-learn's ``GaussianProcessRegressor(ConstantKernel() *
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
                 chunk_size: int = 8192, theta=None):
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.seed = seed
        self.chunk_size = chunk_size
        self.theta = theta

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
        """Fit the hyperparameters and the posterior to mixtures ``X`` and loss ``y``."""
        Z, y = self._inputs(X), np.asarray(y, dtype=float)
        k = Z.shape[1]
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        t = (y - self.y_mean_) / self.y_scale_
        # runs x runs matrices: below a few thousand runs, BLAS threads cost more in
        # synchronisation than they save (10x more on a busy machine)
        with threadpool_limits(1 if len(t) <= SMALL_GP else None, user_api="blas"):
            if self.theta is None:
                theta, nll = self._fit_theta(Z, t)
            else:
                theta = np.asarray(self.theta, dtype=float)
                if theta.shape != (k + 2,):
                    raise ValueError(f"theta needs {k + 2} values for {k} domains "
                                     f"(got {theta.shape})")
                nll = gp_negative_log_likelihood(theta, Z, t)[0]
        self.theta_ = theta
        self.amplitude_, self.noise_level_ = float(np.exp(theta[0])), float(np.exp(theta[-1]))
        self.length_scales_ = np.exp(theta[1:-1])
        self.log_marginal_likelihood_ = -float(nll)
        self.noise_std_ = float(np.sqrt(self.noise_level_) * self.y_scale_)
        self.Z_ = Z / self.length_scales_
        K = self.covariance(self.Z_, self.Z_)
        self.cholesky_ = linalg.cholesky(K + self.noise_level_ * np.eye(len(t)), lower=True)
        self.alpha_ = linalg.cho_solve((self.cholesky_, True), t)
        self.n_features_in_ = k
        return self

    def _fit_theta(self, Z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
        """The most likely hyperparameters: every start screened briefly, the best finished."""
        amp, scale, noise = self.BOUNDS
        bounds = np.log([amp, *[scale] * Z.shape[1], noise])
        screened = [self._minimise(x0, Z, t, bounds, SCREEN_ITER)
                    for x0 in self._starts(Z.shape[1])]
        best = min(screened, key=lambda result: result.fun)
        best = self._minimise(best.x, Z, t, bounds, self.max_iter)
        return best.x, float(best.fun)

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


# ----------------------------------------------------------------------------- factory


def _lightgbm(seed: int) -> LGBMRegressor:
    return LGBMRegressor(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=7,
        min_child_samples=5,  # the default 20 leaves 40 runs nearly unsplittable
        min_data_in_bin=1,
        subsample=0.8,
        subsample_freq=1,  # bagging: smooths the step-shaped fit on few runs
        random_state=seed,
        n_jobs=1,  # a few hundred rows: threads only wait on each other (100x slower when busy)
        verbose=-1,
    )


def _mixing_law(seed: int):
    from raymix.regression.laws import (
        MixingLaw,  # imported late: the laws need more than the others
    )

    return MixingLaw(seed=seed)


def _implicit_law(seed: int):
    from raymix.regression.laws import ImplicitMixingLaw

    return ImplicitMixingLaw(n_components=5, seed=seed)


_FACTORIES = {
    "ridge": lambda seed: RidgeRegressor(alphas=RIDGE_ALPHAS),
    "loglinear": lambda seed: LogLinearRegressor(),
    "lightgbm": _lightgbm,
    "mixing_law": _mixing_law,
    "implicit_law": _implicit_law,
    "gp": lambda seed: SimplexGP(seed=seed),
    AUTO: lambda seed: AutoRegressor(seed=seed),
}


def make_regressor(name: str, seed: int = 0) -> RegressorMixin:
    """A fresh, unfitted regressor by name.

    Parameters
    ----------
    name : str
        One of :data:`REGRESSORS` or ``"auto"``.

        - ``ridge``: :class:`RidgeRegressor`, penalty from :data:`RIDGE_ALPHAS` by
          leave-one-out error.
        - ``loglinear``: :class:`LogLinearRegressor`.
        - ``lightgbm``: 200 trees of at most 7 leaves at learning rate 0.05, small leaf
          sizes so that it also splits on 40-60 runs, and row bagging. On RegMix's
          published runs this ranks held-out mixtures as well as RegMix's 1000 trees of
          31 leaves at 0.01, and predicts a million candidates about 15x faster. No
          early stopping, which would need held-out data.
        - ``mixing_law``, ``implicit_law``: :class:`raymix.laws.MixingLaw`,
          :class:`raymix.laws.ImplicitMixingLaw` with 5 implicit domains.
        - ``gp``: :class:`SimplexGP`.
        - ``auto``: :class:`AutoRegressor` over all of the above.
    seed : int, default=0
        Seed for the stochastic parts.

    Returns
    -------
    estimator
        A scikit-learn regressor (``fit``/``predict``).

    Raises
    ------
    ConfigError
        For an unknown name.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError("fit.regressors",
                          f"unknown regressor {name!r}; choose from {', '.join(REGRESSORS)}")
    return factory(seed)


# ----------------------------------------------------------------------------- cross-validation


@dataclass
class CVResult:
    """Out-of-fold scores of one regressor (or ensemble).

    Attributes
    ----------
    name : str
        Regressor name, e.g. ``lightgbm`` or ``ensemble(lightgbm+gp)``.
    spearman, pearson : float
        Rank and linear correlation between out-of-fold predictions and actual loss
        (NaN when the predictions are constant).
    mae : float
        Mean absolute error of the out-of-fold predictions.
    r2 : float
        Coefficient of determination of the out-of-fold predictions.
    predictions : ndarray of shape (n,)
        Out-of-fold prediction for each run, aligned with the target.
    fold : ndarray of shape (n,)
        Fold id (0 .. folds-1) in which each run was held out.
    rmse : float
        Root mean squared error of the out-of-fold predictions: the typical error of a
        prediction for a mixture the regressor was not fitted on.
    """

    name: str
    spearman: float
    pearson: float
    mae: float
    r2: float
    predictions: np.ndarray
    fold: np.ndarray
    rmse: float = float("nan")

    def metrics(self) -> dict[str, float | None]:
        """The scores as a JSON-ready dict (``cv_spearman``, ...; NaN becomes None)."""
        values = {"spearman": self.spearman, "mae": self.mae, "rmse": self.rmse,
                  "pearson": self.pearson, "r2": self.r2}
        return {f"cv_{k}": (float(v) if np.isfinite(v) else None) for k, v in values.items()}


def check_training_data(X, y, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate mixtures ``X`` and target ``y`` for a ``folds``-fold fit; return float arrays.

    Raises
    ------
    UserError
        Naming the problem: wrong shapes, non-finite values, a constant target, or fewer
        runs than folds.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[1] == 0:
        raise UserError(f"mixtures must be a table of runs x domains (got shape {X.shape})")
    if y.ndim != 1 or len(y) != len(X):
        raise UserError(f"target loss must have one value per run: {len(X)} runs, shape {y.shape}")
    if not np.all(np.isfinite(X)):
        raise UserError("mixture weights contain missing or infinite values; "
                        "drop or fix those runs")
    if not np.all(np.isfinite(y)):
        raise UserError("target loss contains missing or infinite values (failed runs?); "
                        "drop those runs")
    if folds < 2:
        raise ConfigError("fit.cv_folds", f"must be at least 2 (got {folds})")
    # every training fold needs a few runs: leave-one-out penalties need at least 3
    largest_fold = -(-len(y) // folds)  # ceil: the held-out part of the smallest training set
    if len(y) < folds or len(y) - largest_fold < MIN_TRAIN_RUNS:
        raise UserError(
            f"too few runs to fit: {len(y)} runs for {folds} CV folds (each fold must leave "
            f"at least {MIN_TRAIN_RUNS} runs to fit on); run more mixtures or lower the folds "
            "(fit.cv_folds, or --folds)"
        )
    if np.ptp(y) == 0:
        raise UserError("target loss is the same for every run: nothing to fit; check the runs")
    return X, y


def _correlations(actual: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Spearman and Pearson correlation; NaN for constant predictions (not a warning)."""
    if np.ptp(predicted) == 0:
        return float("nan"), float("nan")
    return float(stats.spearmanr(actual, predicted)[0]), float(stats.pearsonr(actual, predicted)[0])


def score_predictions(name: str, y: np.ndarray, predictions: np.ndarray,
                      fold: np.ndarray) -> CVResult:
    """The :class:`CVResult` of out-of-fold ``predictions`` of target ``y``."""
    spearman, pearson = _correlations(y, predictions)
    return CVResult(
        name=name,
        spearman=spearman,
        pearson=pearson,
        mae=float(mean_absolute_error(y, predictions)),
        r2=float(r2_score(y, predictions)),
        predictions=predictions,
        fold=fold,
        rmse=float(np.sqrt(mean_squared_error(y, predictions))),
    )


def cross_validate(name: str, X, y, *, folds: int = 5, seed: int = 0) -> CVResult:
    """Score regressor ``name`` by shuffled K-fold cross-validation.

    Parameters
    ----------
    name : str
        One of :data:`REGRESSORS` (or ``auto``, which then cross-validates inside
        each fold).
    X : array-like of shape (n, k)
        Mixture weights, one row per run.
    y : array-like of shape (n,)
        Target loss of each run.
    folds : int, default=5
        Number of folds (at most ``n``).
    seed : int, default=0
        Seed of the fold shuffle and of the regressor. The same ``seed`` and ``n``
        give the same folds, so results of several regressors are comparable run by run.

    Returns
    -------
    CVResult
    """
    X, y = check_training_data(X, y, folds)
    make_regressor(name, seed)  # an unknown name fails before any fitting
    predictions = np.empty_like(y)
    fold = np.empty(len(y), dtype=int)
    splits = KFold(n_splits=folds, shuffle=True, random_state=seed).split(X)
    for i, (train, test) in enumerate(splits):
        model = make_regressor(name, seed).fit(X[train], y[train])
        predictions[test] = model.predict(X[test])
        fold[test] = i
    return score_predictions(name, y, predictions, fold)


def _rank_key(result: CVResult) -> tuple[float, float]:
    spearman = result.spearman if np.isfinite(result.spearman) else -np.inf
    return spearman, -result.mae


def select_best(results: list[CVResult]) -> CVResult:
    """The result with the highest CV Spearman; ties go to the lower MAE, then the earlier.

    NaN ranks last.
    """
    if not results:
        raise ValueError("no cross-validation results to choose from")
    return max(results, key=_rank_key)


# ----------------------------------------------------------------------------- auto and ensembles


def _all_members_have(attribute: str):
    """For :func:`available_if`: every fitted member has ``attribute``."""
    return lambda self: all(hasattr(m, attribute) for m in self.estimators_)


class Ensemble(RegressorMixin, BaseEstimator):
    """The average of several regressors' predictions.

    Averaging a smooth model (a law, the GP) with trees tends to cancel their
    different errors. ``gradient`` exists when every member has one (the average of
    their gradients). There is no ``predict(X, return_std=True)``: at most one member
    (the GP) has a standard deviation, and the members' errors are correlated, so no
    honest one follows for the average; use the ensemble's cross-validated RMSE
    (:attr:`CVResult.rmse`) as its typical error.

    Parameters
    ----------
    members : tuple of str
        Regressor names (see :func:`make_regressor`).
    seed : int, default=0
        Seed of every member.

    Attributes
    ----------
    estimators_ : list of regressors
        The members, fitted on all rows.
    """

    def __init__(self, members: tuple[str, ...] = ("ridge", "lightgbm"), seed: int = 0):
        self.members = members
        self.seed = seed

    def fit(self, X, y):
        """Fit every member on all of ``X``, ``y``."""
        self.estimators_ = [make_regressor(name, self.seed).fit(X, y) for name in self.members]
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Mean of the members' predictions for each row of ``X``."""
        return np.mean([m.predict(X) for m in self.estimators_], axis=0)

    @available_if(_all_members_have("gradient"))
    def gradient(self, X) -> np.ndarray:
        """Mean of the members' d prediction / d weight, shape (n, k)."""
        return np.mean([m.gradient(X) for m in self.estimators_], axis=0)


def ensemble_name(members) -> str:
    """``ensemble(a+b+...)``: the CV name of an average of ``members``."""
    return f"ensemble({'+'.join(members)})"


def _ensemble_results(singles: list[CVResult],
                      y: np.ndarray) -> dict[tuple[str, ...], CVResult]:
    """CV results of the averages of the best 2, 3, ... regressors, from their folds.

    All ``singles`` were cross-validated on the same folds, so the ensemble's
    out-of-fold prediction for a run is the mean of its members' out-of-fold
    predictions: exactly what refitting the ensemble fold by fold would give.
    """
    ranked = sorted(singles, key=_rank_key, reverse=True)
    results = {}
    for m in range(2, len(ranked) + 1):
        top = ranked[:m]
        members = tuple(r.name for r in top)
        predictions = np.mean([r.predictions for r in top], axis=0)
        results[members] = score_predictions(ensemble_name(members), y, predictions, top[0].fold)
    return results


def fit_auto(X, y, names=REGRESSORS, folds: int = 5, seed: int = 0,
             ensemble: bool = True) -> tuple[RegressorMixin, CVResult, list[CVResult]]:
    """Cross-validate ``names`` on the same folds, choose the best (or an ensemble), refit it.

    Parameters
    ----------
    X : array-like of shape (n, k)
        Mixture weights, one row per run.
    y : array-like of shape (n,)
        Target loss of each run.
    names : sequence of str, default=REGRESSORS
        Candidate regressors (not ``auto``).
    folds : int, default=5
        Cross-validation folds.
    seed : int, default=0
        Seed of the folds and of the regressors.
    ensemble : bool, default=True
        Also score the average of the best 2, 3, ... candidates (ranked by CV
        Spearman), and choose it when it cross-validates better.

    Returns
    -------
    estimator : regressor
        The chosen regressor or :class:`Ensemble`, fitted on all runs.
    chosen : CVResult
        Its cross-validation: highest Spearman, ties to the lower MAE, then to a
        single regressor over an ensemble.
    results : list of CVResult
        Every candidate's, in the order of ``names``, then the ensembles tried.
    """
    names = list(names)
    if not names:
        raise ConfigError("fit.regressors",
                          f"name at least one regressor ({', '.join(REGRESSORS)})")
    if AUTO in names:
        raise ConfigError("fit.regressors", "'auto' chooses among the others; list those instead")
    X, y = check_training_data(X, y, folds)
    singles = []
    for name in names:
        try:
            singles.append(cross_validate(name, X, y, folds=folds, seed=seed))
        except ConfigError:  # an unknown name is the user's to fix, not to skip
            raise
        except UserError:
            # e.g. a law needs more runs per fold than there are domains + 1: the other
            # candidates can still be scored; with no candidate left, say why
            if name == names[-1] and not singles:
                raise
    ensembles = _ensemble_results(singles, y) if ensemble else {}
    results = singles + list(ensembles.values())
    chosen = select_best(results)  # singles come first, so they win exact ties
    members = next((m for m, r in ensembles.items() if r is chosen), None)
    estimator = (make_regressor(chosen.name, seed) if members is None
                 else Ensemble(members, seed))
    return estimator.fit(X, y), chosen, results


class AutoRegressor(RegressorMixin, BaseEstimator):
    """A regressor that runs :func:`fit_auto` in ``fit`` and predicts with its choice.

    Parameters
    ----------
    names : sequence of str, optional
        Candidates (default: all of :data:`REGRESSORS`).
    folds : int, default=5
    seed : int, default=0
    ensemble : bool, default=True
        See :func:`fit_auto`.

    Attributes
    ----------
    estimator_ : regressor
        The chosen regressor or ensemble, fitted on all rows.
    chosen_ : CVResult
    cv_results_ : list of CVResult

    Notes
    -----
    ``gradient`` exists when the chosen regressor has one. ``predict`` takes no
    ``return_std``, since whether one exists depends on the choice; use
    :func:`fit_auto` directly and ask ``estimator_`` for that.
    """

    def __init__(self, names=None, folds: int = 5, seed: int = 0, ensemble: bool = True):
        self.names = names
        self.folds = folds
        self.seed = seed
        self.ensemble = ensemble

    def fit(self, X, y):
        """Cross-validate the candidates on ``X``, ``y`` and refit the best."""
        names = REGRESSORS if self.names is None else self.names
        self.estimator_, self.chosen_, self.cv_results_ = fit_auto(
            X, y, names, folds=self.folds, seed=self.seed, ensemble=self.ensemble)
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict(self, X) -> np.ndarray:
        """The chosen regressor's prediction for each row of ``X``."""
        return self.estimator_.predict(X)

    @available_if(lambda self: hasattr(self.estimator_, "gradient"))
    def gradient(self, X) -> np.ndarray:
        """The chosen regressor's d prediction / d weight, shape (n, k)."""
        return self.estimator_.gradient(X)


# ----------------------------------------------------------------------------- noise floor


@dataclass
class NoiseFloor:
    """Run-to-run noise of the target loss, from mixtures that were run more than once.

    Attributes
    ----------
    std : float
        Pooled within-mixture standard deviation of the loss (one run's noise). Two
        single runs differ by noise alone with standard deviation ``std * sqrt(2)``.
    mixtures : int
        Number of mixtures run more than once.
    runs : int
        Number of runs of those mixtures.
    """

    std: float
    mixtures: int
    runs: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready ``{"std", "mixtures", "runs"}``."""
        return asdict(self)


def noise_floor(X, y, decimals: int = 6) -> NoiseFloor | None:
    """Pooled standard deviation of the loss among runs that repeat a mixture.

    Parameters
    ----------
    X : array-like of shape (n, k)
        Mixture weights; rows equal after rounding to ``decimals`` are one mixture.
    y : array-like of shape (n,)
        Target loss of each run.
    decimals : int, default=6

    Returns
    -------
    NoiseFloor or None
        None when no mixture was run twice. The pooled variance is the sum of
        squared deviations from each mixture's mean over the sum of (runs - 1).
    """
    X = np.round(np.asarray(X, dtype=float), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    y = np.asarray(y, dtype=float)
    _, group, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    group = group.reshape(-1)
    repeated = counts[group] > 1
    if not repeated.any():
        return None
    means = np.bincount(group, weights=y) / counts
    squares = ((y - means[group])[repeated] ** 2).sum()
    mixtures = int((counts > 1).sum())
    runs = int(repeated.sum())
    std = float(np.sqrt(squares / (runs - mixtures)))
    return NoiseFloor(std=std, mixtures=mixtures, runs=runs)
