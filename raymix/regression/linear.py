"""Linear models of the loss: ridge in the weights, and ridge in the log loss (log-linear)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge, RidgeCV

from raymix.errors import UserError
from raymix.regression.subsample import draw_rows

RIDGE_ALPHAS = np.logspace(-6, 3, 19)  # weights lie in [0, 1]: from nearly OLS to nearly flat
# The log-linear law chooses its offset and penalty (two numbers) by the leave-one-out
# error on at most this many runs, a draw seeded 0 beyond; the coefficients are then
# fitted on every run. The choice costs (offsets x penalties) passes over the runs: 30 s
# at 800,000 runs, 2 s at 50,000.
SELECT_RUNS = 50_000


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

    ``c`` and the penalty are chosen on at most :data:`SELECT_RUNS` runs (a seeded draw
    beyond); the coefficients are fitted on all of them.

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
        rows = draw_rows(len(y), SELECT_RUNS, seed=0)
        Xs, ys = (X, y) if rows is None else (X[rows], y[rows])
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # bad (c, alpha)
            errors = np.array([
                np.mean((ys[:, None] - c
                         - np.exp(_ridge_loo_predictions(Xs, np.log(ys - c), alphas))) ** 2,
                        axis=0)
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
