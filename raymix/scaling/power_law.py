"""Power laws in training tokens and model size, the outer stages of Data Mixing Laws.

Data Mixing Laws (Ye et al., ICLR 2025, Algorithm 1) predicts a large run's loss from
small ones by nesting laws: per mixture, ``L(S) = E + B / S^beta`` over training steps (or
tokens) extrapolates each small run to the target length; ``L(N) = E + A / N^alpha``
over model sizes extrapolates to the target size; the mixing law is then fitted on those
predicted losses. This module fits the first two.

The fit is robust the same way as the mixing laws (:mod:`raymix.regression.laws`): Huber loss, many
starts, bounded parameters. For a fixed exponent the law is linear in ``(E, B)``, so every
exponent on a grid gets its least-squares ``(E, B)`` in closed form, and the best few
starts are refined by :func:`scipy.optimize.least_squares`. ``x`` is scaled by its
geometric mean inside the fit, so that ``B`` is of the order of the losses whatever the
unit of ``x`` (steps, tokens, parameters).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares
from sklearn.base import BaseEstimator, RegressorMixin

from raymix.errors import UserError

EXPONENT_GRID = np.geomspace(0.02, 2.0, 64)  # starts for the exponent
REFINED_STARTS = 3  # valleys of the exponent grid refined


def _check_curve(x, y, what: str = "points",
                 min_distinct: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if len(x) != len(y):
        raise UserError(f"a power law needs one loss per x: {len(x)} x values, {len(y)} losses")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise UserError(f"the {what} contain missing or infinite values; drop them")
    if np.any(x <= 0):
        raise UserError(f"steps, tokens and sizes must be positive (got {x.min():g})")
    if len(np.unique(x)) < min_distinct:
        raise UserError(f"a power law E + B / x^beta needs at least {min_distinct} distinct x "
                        f"values (got {len(np.unique(x))}); evaluate more checkpoints or sizes")
    return x, y


def _linear_fit(u: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(E, B)`` of ``y = E + B * u`` with ``E`` in [0, min(y)] and ``B >= 0``."""
    design = np.column_stack([np.ones_like(u), u])
    E, B = np.linalg.lstsq(design, y, rcond=None)[0]
    E = float(np.clip(E, 0.0, y.min()))
    B = max(float(np.dot(u, y - E) / max(np.dot(u, u), 1e-300)), 0.0)
    return E, B


def _huber(r: np.ndarray, delta: float) -> float:
    """Huber loss: starts are ranked by the same robust loss they are refined on."""
    a = np.abs(r)
    return float(np.sum(np.where(a <= delta, 0.5 * a ** 2, delta * (a - 0.5 * delta))))


class PowerLaw(RegressorMixin, BaseEstimator):
    """``L(x) = E + B / x^beta``, fitted robustly.

    Parameters
    ----------
    huber_delta : float, default=0.001
        Huber threshold as a fraction of the mean loss (0.0025 nats at a loss of 2.5, about
        the checkpoint-to-checkpoint noise): residuals beyond it (a broken checkpoint)
        count linearly, not quadratically.
    exponent_bounds : tuple of float, default=(0.01, 3.0)
        Bounds of ``beta``.

    Attributes
    ----------
    E_, B_, beta_ : float
        The fitted law, in the units of ``x`` as given.
    """

    def __init__(self, huber_delta: float = 0.001, exponent_bounds: tuple = (0.01, 3.0)):
        self.huber_delta = huber_delta
        self.exponent_bounds = exponent_bounds

    def fit(self, x, y) -> PowerLaw:
        x, y = _check_curve(x, y)
        scale = float(np.exp(np.log(x).mean()))
        E, b, beta = _fit_curves([x / scale], [y], self._delta(y), self.exponent_bounds)
        self.E_, self.beta_ = float(E[0]), float(beta)
        self.B_ = float(b[0] * scale ** beta)
        return self

    def predict(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float).ravel()
        return self.E_ + self.B_ * x ** -self.beta_

    def _delta(self, y: np.ndarray) -> float:
        return self.huber_delta * float(np.mean(y))


def fit_shared_exponent(
    xs: Sequence, ys: Sequence, huber_delta: float = 0.001, exponent_bounds: tuple = (0.01, 3.0)
) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit ``L_i(x) = E_i + B_i / x^beta`` to several curves with one shared ``beta``.

    Sharing the exponent across mixtures (Data Mixing Laws, Appendix) makes each
    curve's extrapolation steadier when it has only a few checkpoints. A curve may then
    have only 2 distinct x values (its ``E`` and ``B`` given ``beta``), as long as the
    curves together have more points than parameters (``2 * n_curves + 1``).

    Returns
    -------
    E, B : ndarray of shape (n_curves,)
    beta : float
    """
    curves = [_check_curve(x, y, f"points of curve {i}", min_distinct=2)
              for i, (x, y) in enumerate(zip(xs, ys))]
    if not curves:
        raise UserError("no curves to fit")
    distinct = sum(len(np.unique(x)) for x, _ in curves)
    if distinct < 2 * len(curves) + 1:
        raise UserError(f"{len(curves)} power laws sharing one exponent need at least "
                        f"{2 * len(curves) + 1} distinct (curve, x) points (got {distinct}): "
                        "give one curve a third checkpoint or size")
    scale = float(np.exp(np.mean(np.concatenate([np.log(x) for x, _ in curves]))))
    delta = huber_delta * float(np.mean(np.concatenate([y for _, y in curves])))
    E, b, beta = _fit_curves([x / scale for x, _ in curves], [y for _, y in curves], delta,
                             exponent_bounds)
    return E, b * scale ** beta, float(beta)


def _fit_curves(xs: list[np.ndarray], ys: list[np.ndarray], delta: float,
                bounds: tuple) -> tuple[np.ndarray, np.ndarray, float]:
    """Huber fit of curves sharing ``beta``; parameters ``[beta, E_1..E_m, log b_1..log b_m]``."""
    m = len(xs)
    grid = EXPONENT_GRID[(EXPONENT_GRID >= bounds[0]) & (EXPONENT_GRID <= bounds[1])]
    x, y = np.concatenate(xs), np.concatenate(ys)
    curve = np.repeat(np.arange(m), [len(c) for c in xs])  # which curve each point is on
    log_x = np.log(x)

    def start(beta: float) -> tuple[float, np.ndarray]:
        fits = [_linear_fit(xi ** -beta, yi) for xi, yi in zip(xs, ys)]
        theta = np.r_[beta, [e for e, _ in fits], [np.log(max(b, 1e-12)) for _, b in fits]]
        return _huber(residuals(theta), delta), theta

    def residuals(theta: np.ndarray) -> np.ndarray:
        beta, E, log_b = theta[0], theta[1:m + 1], theta[m + 1:]
        return E[curve] + np.exp(log_b[curve] - beta * log_x) - y

    def jacobian(theta: np.ndarray) -> np.ndarray:
        # analytic: finite differences cost a third of the fit
        beta, log_b = theta[0], theta[m + 1:]
        term = np.exp(log_b[curve] - beta * log_x)
        J = np.zeros((len(x), 2 * m + 1))
        J[:, 0] = -term * log_x
        J[np.arange(len(x)), 1 + curve] = 1.0
        J[np.arange(len(x)), m + 1 + curve] = term
        return J

    low = np.r_[bounds[0], np.zeros(m), np.full(m, -30.0)]
    high = np.r_[bounds[1], [yi.min() for yi in ys], np.full(m, 30.0)]
    best = None
    for theta in _basin_starts([start(beta) for beta in grid]):
        theta = np.clip(theta, low, np.nextafter(high, -np.inf))
        fit = least_squares(residuals, theta, jac=jacobian, bounds=(low, high), loss="huber",
                            f_scale=delta)
        if best is None or fit.cost < best.cost:
            best = fit
    theta = best.x
    return theta[1:m + 1], np.exp(theta[m + 1:]), float(theta[0])


def _basin_starts(scored: list[tuple[float, np.ndarray]]) -> list[np.ndarray]:
    """The best few local minima of the loss along the exponent grid.

    Neighbouring grid points lead the refinement to the same optimum; one start per
    valley (the grid's local minima) refines each candidate optimum once.
    """
    loss = np.array([value for value, _ in scored])
    padded = np.r_[np.inf, loss, np.inf]
    minima = np.flatnonzero((loss <= padded[:-2]) & (loss <= padded[2:]))
    best = minima[np.argsort(loss[minima], kind="stable")][:REFINED_STARTS]
    return [scored[i][1] for i in best]
