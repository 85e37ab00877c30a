"""The simplex of mixtures: Dirichlet draws, the bounded simplex and its projection.

A mixture is a point of the simplex ``{w : w >= 0, sum(w) = 1}``; bounds per domain
(``lower <= w <= upper``) cut a box out of it (:func:`box_problem` says when the box
misses the simplex). :func:`project_to_bounded_simplex` finds the nearest point of the
box, :func:`sample_candidates` draws many points inside it, and :func:`named_weights`
turns a weight vector into ``{domain: weight}``. Every sampler is deterministic for a
seed (or a :class:`numpy.random.Generator`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from raymix.errors import UserError

BOX_TOLERANCE = 1e-9  # a mixture meets its bounds and sums to 1 within this
RngLike = np.random.Generator | int | None


def box_problem(lower: np.ndarray, upper: np.ndarray,
                tol: float = BOX_TOLERANCE) -> tuple[str, str] | None:
    """Why no mixture meets ``lower <= w <= upper`` and ``sum(w) = 1``; None when one does.

    Returns the side to change (``"lower"`` or ``"upper"``) and what is wrong with it.
    """
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if np.any(lower > upper + tol):
        i = int(np.argmax(lower > upper + tol))
        return "lower", f"lower[{i}] = {lower[i]:.3g} is above upper[{i}] = {upper[i]:.3g}"
    if lower.sum() > 1 + tol:
        return "lower", f"the bounds sum to {lower.sum():.3g} > 1"
    if upper.sum() < 1 - tol:
        return "upper", f"the bounds sum to {upper.sum():.3g} < 1"
    return None


def dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """Dirichlet draws, one per row of ``alpha`` (shape (n, k)), exact for tiny alphas.

    Gamma(a) draws underflow to 0 for small ``a`` (a whole row can be 0, giving 0/0).
    Instead use Gamma(a) = Gamma(a + 1) * U ** (1 / a) in log space and normalise with a
    stable softmax. A zero alpha gives log(U) / 0 = -inf: that domain always gets weight 0.
    Operations are in place: on large blocks memory traffic costs as much as the maths.
    """
    weights = rng.standard_gamma(alpha + 1.0)
    np.log(weights, out=weights)
    log_u = rng.random(alpha.shape)
    with np.errstate(divide="ignore"):
        np.log(log_u, out=log_u)
        log_u /= alpha
    weights += log_u
    weights -= weights.max(axis=1, keepdims=True)
    np.exp(weights, out=weights)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights


def normalise_prior(prior: np.ndarray | Mapping[str, float]) -> np.ndarray:
    """``prior`` (an array or a dict's values) scaled to sum to 1, after checking it."""
    values = np.asarray(list(prior.values()) if isinstance(prior, Mapping) else prior, dtype=float)
    valid = values.ndim == 1 and np.all(np.isfinite(values)) and np.all(values >= 0)
    if not valid or values.sum() <= 0:
        raise UserError("the token prior must be finite, non-negative weights with a positive sum")
    return values / values.sum()


def tempered_prior(prior: np.ndarray, temperature: float) -> np.ndarray:
    """``prior ** temperature`` renormalised: below 1 flattens it towards small domains."""
    tempered = normalise_prior(prior) ** temperature
    return tempered / tempered.sum()


def strength_alphas(
    rng: np.random.Generator, n: int, prior: np.ndarray, strengths: np.ndarray
) -> np.ndarray:
    """Concentrations ``prior * s`` with ``s`` drawn per row from ``strengths``."""
    return prior[None, :] * rng.choice(strengths, size=n)[:, None]


PROJECTION_CHUNK = 16_384  # rows per block: keeps the iteration's arrays in cache
PROJECTION_TOLERANCE = 1e-13  # a row is done when its projected weights sum to 1 within this
MAX_PROJECTION_STEPS = 200  # bisection alone shrinks a bracket to nothing in ~60 steps


def _check_bounds(lower: np.ndarray, upper: np.ndarray, k: int) -> None:
    if lower.shape != (k,) or upper.shape != (k,):
        raise ValueError(f"lower and upper must have shape ({k},)")
    problem = box_problem(lower, upper)
    if problem:
        raise ValueError(f"infeasible bounds: {problem[0]}: {problem[1]}")


def _project_block(w: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Project the rows of ``w`` (2-D) onto {lower <= x <= upper, sum(x) = 1}.

    The projection is ``clip(w - tau, lower, upper)`` for the shift ``tau`` at which the
    row sums to 1. That sum falls piecewise linearly in ``tau`` with slope minus the
    number of free weights (strictly inside their bounds), so a Newton step lands on the
    root once it is on the root's linear piece: usually 2-4 steps. Steps that would leave
    the bracket [tau_lo, tau_hi] around the root bisect instead, which guarantees progress.
    """
    tau_lo = (w - upper).min(axis=1)  # every weight clipped to its upper bound: sum >= 1
    tau_hi = (w - lower).max(axis=1)  # every weight clipped to its lower bound: sum <= 1
    # the plain simplex shift: 0 for rows that already sum to 1, so feasible rows stay put
    tau = np.clip((w.sum(axis=1) - 1.0) / w.shape[1], tau_lo, tau_hi)
    todo = np.arange(len(w))
    for _ in range(MAX_PROJECTION_STEPS):
        shifted = w[todo] - tau[todo, None]
        excess = np.clip(shifted, lower, upper).sum(axis=1) - 1.0
        open_ = np.abs(excess) > PROJECTION_TOLERANCE
        todo, shifted, excess = todo[open_], shifted[open_], excess[open_]
        if not len(todo):
            break
        lo = tau_lo[todo] = np.where(excess > 0, tau[todo], tau_lo[todo])
        hi = tau_hi[todo] = np.where(excess < 0, tau[todo], tau_hi[todo])
        n_free = ((shifted > lower) & (shifted < upper)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = tau[todo] + excess / n_free
        tau[todo] = np.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
    return np.clip(w - tau[:, None], lower, upper)


def project_to_bounded_simplex(
    w: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Euclidean projection onto ``{x : lower <= x <= upper, sum(x) = 1}``, row by row.

    Parameters
    ----------
    w : array of shape (k,) or (n, k)
        Points to project.
    lower, upper : array of shape (k,)
        Per-domain bounds with ``lower <= upper`` and ``sum(lower) <= 1 <= sum(upper)``.

    Returns
    -------
    ndarray of the same shape as ``w``
        The nearest point of the bounded simplex to each row (idempotent on its points).
    """
    w = np.asarray(w, dtype=float)
    rows = np.atleast_2d(w)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    _check_bounds(lower, upper, rows.shape[1])
    out = np.empty_like(rows)
    for start in range(0, len(rows), PROJECTION_CHUNK):
        block = slice(start, start + PROJECTION_CHUNK)
        out[block] = _project_block(rows[block], lower, upper)
    return out.reshape(w.shape)


def sample_candidates(
    n: int,
    prior: np.ndarray,
    *,
    lower: np.ndarray,
    upper: np.ndarray,
    rng: RngLike = None,
    strengths: tuple[float, float] = (0.1, 100.0),
    uniform_fraction: float = 0.25,
) -> np.ndarray:
    """Search candidates that honour per-domain ``[lower, upper]`` bounds exactly.

    A ``uniform_fraction`` of the rows is uniform on the simplex; the rest are Dirichlet
    draws around ``prior`` at 16 log-spaced strengths in ``strengths`` (sparse corners to
    near the prior). All rows are then projected onto the bounded simplex, so bounds that
    bind leave many candidates on the boundary.

    Parameters
    ----------
    n : int
        Number of candidates.
    prior : array of shape (k,)
        Centre of the Dirichlet draws (normalised here).
    lower, upper : array of shape (k,)
        Per-domain bounds (see :func:`project_to_bounded_simplex`).
    rng : Generator, int or None
        Random generator or seed.
    strengths : (float, float), default=(0.1, 100.0)
        Range of Dirichlet concentration strengths.
    uniform_fraction : float, default=0.25
        Share of uniform draws.

    Returns
    -------
    ndarray of shape (n, k)
    """
    rng = np.random.default_rng(rng)
    centre = normalise_prior(prior)
    strength_grid = np.geomspace(*strengths, 16)
    n_uniform = int(round(n * uniform_fraction))
    out = np.empty((n, len(centre)))
    # block by block: the draws and the projection stay in cache (about 2x faster)
    for start in range(0, n, PROJECTION_CHUNK):
        stop = min(n, start + PROJECTION_CHUNK)
        n_flat = max(0, min(stop, n_uniform) - start)  # the uniform rows come first
        alpha = np.vstack([
            np.ones((n_flat, len(centre))),
            strength_alphas(rng, stop - start - n_flat, centre, strength_grid),
        ])
        out[start:stop] = project_to_bounded_simplex(dirichlet_rows(rng, alpha), lower, upper)
    return out


def named_weights(domains, weights) -> dict[str, float]:
    """``{domain: weight}`` as plain floats (for JSON), in the order of ``domains``."""
    return {str(d): float(w) for d, w in zip(domains, weights)}
