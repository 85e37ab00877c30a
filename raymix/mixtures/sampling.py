"""Mixture sampling: which data mixtures the proxies train on, and the search candidates.

Training mixtures follow RegMix: Dirichlet draws around a tempered token prior at
log-spaced concentration strengths, rejected when a domain would be repeated more than
``max_epochs`` times, tiny weights zeroed, near-duplicates dropped. Search candidates
(:func:`sample_candidates`) instead honour per-domain ``[lower, upper]`` bounds exactly, by
Euclidean projection onto the bounded simplex (:func:`project_to_bounded_simplex`).

Every sampler is deterministic for a seed (or a :class:`numpy.random.Generator`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from raymix.config.schema import MixturesConfig
from raymix.errors import ConfigError, UserError

DUPLICATE_L1 = 1e-5  # rows closer than this (L1) count as the same mixture
CAP_TOLERANCE = 1e-12  # float slack when comparing a weight with its cap
BATCH_SIZE = 4096  # rejection sampling draws this many rows at a time
MAX_DRAWS_PER_ROW = 2000  # effort limit: give up after count * this many draws (>= 1M)

RngLike = np.random.Generator | int | None


# ----------------------------------------------------------------------------- caps


def repetition_caps(
    available_tokens: np.ndarray, tokens_per_run: float, max_epochs: float
) -> np.ndarray:
    """Largest weight each domain may get without being repeated more than ``max_epochs`` times.

    Parameters
    ----------
    available_tokens : array of shape (k,)
        Tokens each domain holds.
    tokens_per_run : float
        Tokens one training run consumes.
    max_epochs : float
        How many passes over a domain's tokens a run may make.

    Returns
    -------
    ndarray of shape (k,)
        ``min(1, max_epochs * available_tokens / tokens_per_run)``.
    """
    available = np.asarray(available_tokens, dtype=float)
    return np.minimum(1.0, max_epochs * available / float(tokens_per_run))


def _check_caps(caps: np.ndarray) -> None:
    """Raise a ConfigError when no mixture can satisfy ``caps`` (they sum below 1)."""
    total = float(caps.sum())
    if total < 1.0 - CAP_TOLERANCE:
        # every cap is below 1 here, so caps scale linearly with max_epochs
        raise ConfigError(
            "mixtures.max_epochs",
            f"the domains hold too few tokens: within the repetition cap they fill only "
            f"{total:.1%} of a run; raise mixtures.max_epochs by a factor of at least "
            f"{1.0 / total:.3g}, add data, or train fewer tokens per run "
            f"(training.steps, training.batch_size)",
        )


# ----------------------------------------------------------------------------- Dirichlet draws


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
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


def _strength_alphas(
    rng: np.random.Generator, n: int, prior: np.ndarray, strengths: np.ndarray
) -> np.ndarray:
    """Concentrations ``prior * s`` with ``s`` drawn per row from ``strengths``."""
    return prior[None, :] * rng.choice(strengths, size=n)[:, None]


# ----------------------------------------------------------------------------- rejection sampling


def _apply_floor(weights: np.ndarray, min_weight: float) -> np.ndarray:
    """Zero weights below ``min_weight`` and renormalise each row."""
    if min_weight <= 0:
        return weights
    floored = np.where(weights < min_weight, 0.0, weights)
    # no row loses every weight: its largest is >= 1/k > min_weight
    return floored / floored.sum(axis=1, keepdims=True)


def _append_distinct(out: np.ndarray, filled: int, rows: np.ndarray) -> int:
    """Copy rows into ``out[filled:]`` unless they duplicate a kept row; return the new fill."""
    for row in rows:
        if filled == len(out):
            break
        if filled and np.abs(out[:filled] - row).sum(axis=1).min() < DUPLICATE_L1:
            continue
        out[filled] = row
        filled += 1
    return filled


def _rejection_sample(
    n: int,
    k: int,
    draw: Callable[[int], np.ndarray],
    max_weight: np.ndarray | None,
    min_weight: float,
) -> np.ndarray:
    """Draw batches until ``n`` distinct rows meet the caps after the floor is applied."""
    caps = np.ones(k) if max_weight is None else np.asarray(max_weight, dtype=float)
    if caps.shape != (k,):
        raise ValueError(f"max_weight must have one cap per domain ({k}), got shape {caps.shape}")
    _check_caps(caps)
    if not 0 <= min_weight < 1 / k:
        raise ValueError(f"min_weight must be in [0, 1/{k}) so that no row loses every weight")
    out = np.empty((n, k))
    filled = drawn = 0
    max_draws = max(1_000_000, MAX_DRAWS_PER_ROW * n)
    while filled < n:
        if drawn >= max_draws:
            raise ConfigError(
                "mixtures.count",
                f"found only {filled} of {n} distinct mixtures within the repetition caps after "
                f"{drawn:,} draws; lower mixtures.count, raise mixtures.max_epochs, or raise "
                f"mixtures.min_strength (spread-out mixtures break the caps less often)",
            )
        weights = _apply_floor(draw(BATCH_SIZE), min_weight)
        drawn += BATCH_SIZE
        within = np.all(weights <= caps + CAP_TOLERANCE, axis=1)
        filled = _append_distinct(out, filled, weights[within])
    return out


def sample_dirichlet(
    n: int,
    prior: np.ndarray,
    *,
    temperature: float = 0.5,
    min_strength: float = 0.1,
    max_strength: float = 5.0,
    num_strengths: int = 15,
    max_weight: np.ndarray | None = None,
    min_weight: float = 0.0,
    rng: RngLike = None,
) -> np.ndarray:
    """Sample ``n`` distinct mixtures from Dirichlets around a tempered prior (RegMix).

    Parameters
    ----------
    n : int
        Number of mixtures.
    prior : array of shape (k,)
        Non-negative domain weights (e.g. token shares); normalised here.
    temperature : float, default=0.5
        The centre is ``prior ** temperature`` renormalised.
    min_strength, max_strength : float
        Range of the concentration strength ``s`` (alpha = centre * s); small ``s`` gives
        mixtures dominated by one or two domains, large ``s`` mixtures near the centre.
    num_strengths : int, default=15
        Number of log-spaced strengths each row picks one from uniformly.
    max_weight : array of shape (k,), optional
        Per-domain caps (see :func:`repetition_caps`); rows breaking one are rejected.
    min_weight : float, default=0.0
        Weights below this are set to 0 and the row renormalised (then re-checked).
    rng : Generator, int or None
        Random generator or seed.

    Returns
    -------
    ndarray of shape (n, k)
        Rows on the simplex, pairwise L1 distance at least 1e-5.

    Raises
    ------
    ConfigError
        When the caps sum below 1 (``mixtures.max_epochs``) or ``n`` distinct mixtures
        cannot be found within the caps (``mixtures.count``).
    """
    rng = np.random.default_rng(rng)
    centre = tempered_prior(prior, temperature)
    strengths = np.geomspace(min_strength, max_strength, num_strengths)

    def draw(size: int) -> np.ndarray:
        return _dirichlet(rng, _strength_alphas(rng, size, centre, strengths))

    return _rejection_sample(n, len(centre), draw, max_weight, min_weight)


def sample_uniform(
    n: int,
    k: int,
    *,
    max_weight: np.ndarray | None = None,
    min_weight: float = 0.0,
    rng: RngLike = None,
) -> np.ndarray:
    """Sample ``n`` distinct mixtures uniformly on the ``k``-simplex (Dirichlet(1)).

    Caps, floor and de-duplication work as in :func:`sample_dirichlet`.
    """
    rng = np.random.default_rng(rng)

    def draw(size: int) -> np.ndarray:
        return _dirichlet(rng, np.ones((size, k)))

    return _rejection_sample(n, k, draw, max_weight, min_weight)


def sample_mixtures(
    cfg: MixturesConfig,
    prior: Mapping[str, float],
    available_tokens: Mapping[str, int],
    tokens_per_run: int,
) -> pd.DataFrame:
    """The sweep's training mixtures, as configured by the ``mixtures`` section.

    Parameters
    ----------
    cfg : MixturesConfig
        Count, method (``dirichlet`` or ``uniform``), Dirichlet settings, caps and seed.
    prior : dict of str to float
        Domain name to prior weight (token share); its order gives the column order.
    available_tokens : dict of str to int
        Domain name to the training tokens it holds (for the repetition caps).
    tokens_per_run : int
        Tokens each proxy run trains on.

    Returns
    -------
    DataFrame of shape (cfg.count, k)
        One column per domain, one row per mixture; rows sum to 1.
    """
    domains = list(prior)
    missing = [d for d in domains if d not in available_tokens]
    if missing:
        raise UserError(f"no token count for domain {missing[0]!r}; prepare the data first")
    caps = repetition_caps(
        np.array([available_tokens[d] for d in domains]), tokens_per_run, cfg.max_epochs
    )
    common = dict(max_weight=caps, min_weight=cfg.min_weight, rng=cfg.seed)
    if cfg.method == "dirichlet":
        weights = sample_dirichlet(
            cfg.count,
            np.array([prior[d] for d in domains]),
            temperature=cfg.temperature,
            min_strength=cfg.min_strength,
            max_strength=cfg.max_strength,
            num_strengths=cfg.num_strengths,
            **common,
        )
    elif cfg.method == "uniform":
        weights = sample_uniform(cfg.count, len(domains), **common)
    elif cfg.method == "per_domain":
        weights = _one_per_domain(domains, caps, cfg.max_epochs)
    else:
        raise ConfigError("mixtures.method",
                          f"must be 'dirichlet', 'uniform' or 'per_domain' (got {cfg.method!r})")
    return pd.DataFrame(weights, columns=domains)


def _one_per_domain(domains: list[str], caps: np.ndarray, max_epochs: float) -> np.ndarray:
    """MixMin's runs: each proxy trains on one domain alone, which the cap must allow."""
    short = [d for d, cap in zip(domains, caps) if cap < 1.0]
    if short:
        raise ConfigError("mixtures.max_epochs",
                          f"a run on domain {short[0]!r} alone would repeat it more than "
                          f"{max_epochs:g} times; raise mixtures.max_epochs or give it more "
                          "text (per_domain trains one proxy on each domain alone)")
    return np.eye(len(domains))


# ----------------------------------------------------------------------------- bounded simplex

PROJECTION_CHUNK = 16_384  # rows per block: keeps the iteration's arrays in cache
PROJECTION_TOLERANCE = 1e-13  # a row is done when its projected weights sum to 1 within this
MAX_PROJECTION_STEPS = 200  # bisection alone shrinks a bracket to nothing in ~60 steps


def _check_bounds(lower: np.ndarray, upper: np.ndarray, k: int) -> None:
    if lower.shape != (k,) or upper.shape != (k,):
        raise ValueError(f"lower and upper must have shape ({k},)")
    if np.any(lower > upper) or lower.sum() > 1 + CAP_TOLERANCE or upper.sum() < 1 - CAP_TOLERANCE:
        raise ValueError("infeasible bounds: need lower <= upper, sum(lower) <= 1 <= sum(upper)")


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
            _strength_alphas(rng, stop - start - n_flat, centre, strength_grid),
        ])
        out[start:stop] = project_to_bounded_simplex(_dirichlet(rng, alpha), lower, upper)
    return out


def named_weights(domains, weights) -> dict[str, float]:
    """``{domain: weight}`` as plain floats (for JSON), in the order of ``domains``."""
    return {str(d): float(w) for d, w in zip(domains, weights)}
