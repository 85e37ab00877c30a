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

from raymix.config.schema import group_children
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


GROUP_TOLERANCE = 1e-12  # a group's sum this far outside its bounds counts as inside
MAX_DYKSTRA_CYCLES = 5000  # Dykstra's cycles per block; most rows settle in tens


def project_with_groups(
    w: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    members: np.ndarray,
    group_lower: np.ndarray,
    group_upper: np.ndarray,
) -> np.ndarray:
    """Euclidean projection onto the bounded simplex whose group sums also meet bounds.

    The feasible set is the bounded simplex (:func:`project_to_bounded_simplex`) cut by
    one slab ``group_lower[g] <= members[g] @ x <= group_upper[g]`` per group. Rows whose
    box projection already meets every slab are done (the nearest point of a set is the
    nearest of any subset holding it); the others run Dykstra's alternating projections
    (Boyle and Dykstra 1986): project onto each slab (shift the group's weights equally)
    and the bounded simplex in turn, each with its own correction, until a cycle moves no
    weight by more than 1e-12. The last step is the box's, so every row sums to 1 and
    meets the per-domain bounds exactly, the group sums within about 1e-12.

    Parameters
    ----------
    w : array of shape (k,) or (n, k)
    lower, upper : array of shape (k,)
    members : array of shape (g, k)
        1 where the domain is in the group (a group's domains at every depth), else 0.
    group_lower, group_upper : array of shape (g,)
        Bounds on each group's total, feasible together with the box.

    Returns
    -------
    ndarray of the same shape as ``w``
    """
    w = np.asarray(w, dtype=float)
    rows = np.atleast_2d(w)
    members = np.asarray(members, dtype=float)
    out = project_to_bounded_simplex(rows, lower, upper)
    sums = out @ members.T
    outside = np.any((sums < group_lower - GROUP_TOLERANCE)
                     | (sums > group_upper + GROUP_TOLERANCE), axis=1)
    for start in range(0, int(outside.sum()), PROJECTION_CHUNK):
        todo = np.flatnonzero(outside)[start:start + PROJECTION_CHUNK]
        out[todo] = _dykstra(rows[todo], lower, upper, members, group_lower, group_upper)
    return out.reshape(w.shape)


def _dykstra(x, lower, upper, members, group_lower, group_upper) -> np.ndarray:
    """Dykstra's cycles over the group slabs, then the bounded simplex (rows of ``x``)."""
    x = x.copy()
    sizes = members.sum(axis=1)
    corrections = np.zeros((len(members) + 1, *x.shape))
    todo = np.arange(len(x))
    for _ in range(MAX_DYKSTRA_CYCLES):
        before = x[todo]
        current = before
        for g, member in enumerate(members):
            y = current + corrections[g, todo]
            total = y @ member
            shift = (np.clip(total, group_lower[g], group_upper[g]) - total) / sizes[g]
            current = y + shift[:, None] * member
            corrections[g, todo] = y - current
        y = current + corrections[-1, todo]
        current = project_to_bounded_simplex(y, lower, upper)
        corrections[-1, todo] = y - current
        x[todo] = current
        # x can stand still while the corrections still grow: done once it meets the slabs too
        sums = current @ members.T
        outside = np.any((sums < group_lower - GROUP_TOLERANCE)
                         | (sums > group_upper + GROUP_TOLERANCE), axis=1)
        todo = todo[outside | (np.abs(current - before).max(axis=1) > GROUP_TOLERANCE)]
        if not len(todo):
            break
    return x


def tree_levels(domains: list[str], groups: Mapping[str, list[str]] | None
                ) -> list[np.ndarray] | None:
    """The domain tree node by node, for draws a level at a time; None without groups.

    Parameters
    ----------
    domains : list of str
        The domains (leaves), in column order.
    groups : dict of str to list of str
        Group path -> the domains under it (``SweepConfig.domain_groups``).

    Returns
    -------
    list of ndarray, or None
        One 0/1 matrix of shape (children, k) per node (the top, then each group), a row
        per child (subgroup or domain) marking the domains under it.
    """
    if not groups:
        return None
    index = {d: i for i, d in enumerate(domains)}
    levels = []
    for children in group_children(list(domains), dict(groups)).values():
        matrix = np.zeros((len(children), len(domains)))
        for row, child in enumerate(children):
            matrix[row, [index[d] for d in groups.get(child, [child])]] = 1.0
        levels.append(matrix)
    return levels


def tree_dirichlet_rows(
    rng: np.random.Generator,
    n: int,
    prior: np.ndarray,
    levels: list[np.ndarray],
    strengths: np.ndarray | None = None,
    temperature: float = 1.0,
) -> np.ndarray:
    """``n`` Dirichlet draws a level at a time down a tree of domains.

    Each node (the top, then each group) shares its weight among its children (its
    subgroups and its own domains): a Dirichlet around the children's tempered prior (a
    child's prior is the sum of its domains'), at a strength drawn for each row and node
    from ``strengths``; uniform on each node's children when ``strengths`` is None. A
    domain's weight is the product of its shares along its path. Unlike one flat
    Dirichlet, whose group totals are a Dirichlet of the summed concentrations, every
    level gets its own strength: a sweep explores the groups' shares as fully as the
    split inside each group.

    Parameters
    ----------
    rng : Generator
    n : int
        Rows to draw.
    prior : array of shape (k,)
        Domain prior (e.g. token shares).
    levels : list of array of shape (children, k)
        One 0/1 matrix per node, in tree order: which domains lie under each child
        (:meth:`raymix.mixtures.Constraints.levels`).
    strengths : array, optional
        Concentration strengths each row and node picks one of.
    temperature : float, default=1.0
        Each node's centre is its children's prior ** temperature, renormalised.

    Returns
    -------
    ndarray of shape (n, k)
    """
    weights = np.ones((n, len(prior)))
    for children in levels:
        child_prior = children @ np.asarray(prior, dtype=float)
        if strengths is None or child_prior.sum() <= 0:
            alpha = np.ones((n, len(children)))
        else:
            alpha = strength_alphas(rng, n, tempered_prior(child_prior, temperature), strengths)
        shares = dirichlet_rows(rng, alpha)
        weights *= shares @ children + (1.0 - children.sum(axis=0))  # 1 outside this node
    return weights


def sample_candidates(
    n: int,
    prior: np.ndarray,
    *,
    lower: np.ndarray,
    upper: np.ndarray,
    rng: RngLike = None,
    strengths: tuple[float, float] = (0.1, 100.0),
    uniform_fraction: float = 0.25,
    levels: list[np.ndarray] | None = None,
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
    levels : list of array, optional
        A tree of domains (:meth:`raymix.mixtures.Constraints.levels`): draw a level at a
        time (:func:`tree_dirichlet_rows`, a group's prior the sum of its domains',
        uniform rows uniform at each level). None: one flat Dirichlet.

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
        if levels is None:
            draws = dirichlet_rows(rng, np.vstack([
                np.ones((n_flat, len(centre))),
                strength_alphas(rng, stop - start - n_flat, centre, strength_grid),
            ]))
        else:
            draws = np.vstack([tree_dirichlet_rows(rng, n_flat, centre, levels),
                               tree_dirichlet_rows(rng, stop - start - n_flat, centre, levels,
                                                   strength_grid)])
        out[start:stop] = project_to_bounded_simplex(draws, lower, upper)
    return out


def named_weights(domains, weights) -> dict[str, float]:
    """``{domain: weight}`` as plain floats (for JSON), in the order of ``domains``."""
    return {str(d): float(w) for d, w in zip(domains, weights)}
