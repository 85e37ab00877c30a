"""The mixtures a sweep draws up front (``mixtures.strategy: random``, whose strategy is
not adaptive: :mod:`raymix.mixtures.strategies.random`).

Training mixtures follow RegMix: Dirichlet draws around a tempered token prior at
log-spaced concentration strengths, rejected when a domain would be repeated more than
``mixtures.proxy_max_epochs`` times, tiny weights zeroed, near-duplicates dropped
(:func:`sample_dirichlet`); or uniform draws on the simplex; or one mixture per domain,
for MixMin. With domains in groups (``mixtures.by_group``), the Dirichlet and uniform
draws go a level at a time: over the top level's groups and domains, then within each
group (:func:`~raymix.mixtures.simplex.tree_dirichlet_rows`). With phases
(``mixtures.phases``), each proxy's schedule is a mixture per phase, each drawn as above
(:func:`sample_schedules`). Every sampler is deterministic for a seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from raymix.config import MixturesConfig
from raymix.config.schema import phase_slots
from raymix.errors import ConfigError, UserError
from raymix.mixtures.simplex import (
    RngLike,
    dirichlet_rows,
    strength_alphas,
    tempered_prior,
    tree_dirichlet_rows,
    tree_levels,
)

DUPLICATE_L1 = 1e-5  # rows closer than this (L1) count as the same mixture
CAP_TOLERANCE = 1e-12  # float slack when comparing a weight with its cap
BATCH_SIZE = 4096  # rejection sampling draws this many rows at a time
MAX_DRAWS_PER_ROW = 2000  # effort limit: give up after count * this many draws (>= 1M)


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
            "mixtures.proxy_max_epochs",
            f"the domains hold too few tokens: within the repetition cap they fill only "
            f"{total:.1%} of a run; raise mixtures.proxy_max_epochs by a factor of at least "
            f"{1.0 / total:.3g}, add data, or train fewer tokens per run "
            f"(training.steps, training.batch_size)",
        )


# ----------------------------------------------------------------------------- Dirichlet draws


# ----------------------------------------------------------------------------- rejection sampling


def _apply_floor(weights: np.ndarray, weight_floor: float) -> np.ndarray:
    """Zero weights below ``weight_floor`` and renormalise each row."""
    if weight_floor <= 0:
        return weights
    floored = np.where(weights < weight_floor, 0.0, weights)
    # no row loses every weight: its largest is >= 1/k > weight_floor
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
    weight_floor: float,
) -> np.ndarray:
    """Draw batches until ``n`` distinct rows meet the caps after the floor is applied."""
    caps = np.ones(k) if max_weight is None else np.asarray(max_weight, dtype=float)
    if caps.shape != (k,):
        raise ValueError(f"max_weight must have one cap per domain ({k}), got shape {caps.shape}")
    _check_caps(caps)
    if not 0 <= weight_floor < 1 / k:
        raise ValueError(f"weight_floor must be in [0, 1/{k}) so that no row loses every weight")
    out = np.empty((n, k))
    filled = drawn = 0
    max_draws = max(1_000_000, MAX_DRAWS_PER_ROW * n)
    while filled < n:
        if drawn >= max_draws:
            raise ConfigError(
                "mixtures.count",
                f"found only {filled} of {n} distinct mixtures within the repetition caps after "
                f"{drawn:,} draws; lower mixtures.count, raise mixtures.proxy_max_epochs, or raise "
                f"mixtures.min_strength (spread-out mixtures break the caps less often)",
            )
        weights = _apply_floor(draw(BATCH_SIZE), weight_floor)
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
    weight_floor: float = 0.0,
    rng: RngLike = None,
    levels: list[np.ndarray] | None = None,
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
    weight_floor : float, default=0.0
        Weights below this are set to 0 and the row renormalised (then re-checked).
    rng : Generator, int or None
        Random generator or seed.
    levels : list of array, optional
        A tree of domains (:func:`~raymix.mixtures.simplex.tree_levels`): draw a level at
        a time, each node around its children's tempered prior at a strength of its own.

    Returns
    -------
    ndarray of shape (n, k)
        Rows on the simplex, pairwise L1 distance at least 1e-5.

    Raises
    ------
    ConfigError
        When the caps sum below 1 (``mixtures.proxy_max_epochs``) or ``n`` distinct mixtures
        cannot be found within the caps (``mixtures.count``).
    """
    rng = np.random.default_rng(rng)
    centre = tempered_prior(prior, temperature)
    strengths = np.geomspace(min_strength, max_strength, num_strengths)

    def draw(size: int) -> np.ndarray:
        if levels is not None:
            return tree_dirichlet_rows(rng, size, prior, levels, strengths, temperature)
        return dirichlet_rows(rng, strength_alphas(rng, size, centre, strengths))

    return _rejection_sample(n, len(centre), draw, max_weight, weight_floor)


def sample_uniform(
    n: int,
    k: int,
    *,
    max_weight: np.ndarray | None = None,
    weight_floor: float = 0.0,
    rng: RngLike = None,
    levels: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Sample ``n`` distinct mixtures uniformly on the ``k``-simplex (Dirichlet(1)).

    Caps, floor and de-duplication work as in :func:`sample_dirichlet`; with ``levels``
    (a tree of domains) uniform over each node's children in turn.
    """
    rng = np.random.default_rng(rng)

    def draw(size: int) -> np.ndarray:
        if levels is not None:
            return tree_dirichlet_rows(rng, size, np.ones(k), levels)
        return dirichlet_rows(rng, np.ones((size, k)))

    return _rejection_sample(n, k, draw, max_weight, weight_floor)


def sample_mixtures(
    cfg: MixturesConfig,
    prior: Mapping[str, float],
    available_tokens: Mapping[str, int],
    tokens_per_run: int,
    groups: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame:
    """The sweep's training mixtures, as configured by the ``mixtures`` section.

    Parameters
    ----------
    cfg : MixturesConfig
        Count, draw (``dirichlet``, ``uniform`` or ``per_domain``), Dirichlet settings,
        caps and seed.
    prior : dict of str to float
        Domain name to prior weight (token share); its order gives the column order.
    available_tokens : dict of str to int
        Domain name to the training tokens it holds (for the repetition caps).
    tokens_per_run : int
        Tokens each proxy run trains on.
    groups : dict of str to list of str, optional
        The domain tree's groups (``SweepConfig.domain_groups``): with
        ``cfg.by_group`` auto or true, draws go a level at a time.

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
        np.array([available_tokens[d] for d in domains]), tokens_per_run, cfg.proxy_max_epochs
    )
    levels = tree_levels(domains, groups) if cfg.by_group != "false" else None
    common = dict(max_weight=caps, weight_floor=cfg.weight_floor, rng=cfg.seed, levels=levels)
    if cfg.draw == "dirichlet":
        weights = sample_dirichlet(
            cfg.count,
            np.array([prior[d] for d in domains]),
            temperature=cfg.temperature,
            min_strength=cfg.min_strength,
            max_strength=cfg.max_strength,
            num_strengths=cfg.num_strengths,
            **common,
        )
    elif cfg.draw == "uniform":
        weights = sample_uniform(cfg.count, len(domains), **common)
    elif cfg.draw == "per_domain":
        weights = _one_per_domain(domains, caps, cfg.proxy_max_epochs)
    else:
        raise ConfigError("mixtures.draw",
                          f"must be 'dirichlet', 'uniform' or 'per_domain' (got {cfg.draw!r})")
    return pd.DataFrame(weights, columns=domains)


def sample_schedules(
    cfg: MixturesConfig,
    prior: Mapping[str, float],
    available_tokens: Mapping[str, int],
    tokens_per_run: int,
    fractions: Sequence[float],
) -> pd.DataFrame:
    """The sweep's schedules: one mixture per phase, each drawn by :func:`sample_mixtures`.

    Each phase's mixture is a draw of its own (``cfg.count`` times the phases draws,
    taken in turn), so the sweep sees schedules whose phases differ as much as two
    proxies' mixtures do. Every phase keeps to the proxies' repetition cap, and so does
    the whole run (its weights are the phases' weighted by their share of the steps).

    Parameters
    ----------
    cfg, prior, available_tokens, tokens_per_run
        As :func:`sample_mixtures`.
    fractions : sequence of float
        Each phase's share of the run's steps (``SweepConfig.phase_fractions``).

    Returns
    -------
    DataFrame of shape (cfg.count, k * phases)
        Columns ``web@1``, ..., ``web@2``, ... (:func:`raymix.config.schema.phase_slots`):
        phase ``p``'s mixture times its share; rows sum to 1.
    """
    domains, phases = list(prior), len(fractions)
    drawn = sample_mixtures(dataclasses.replace(cfg, count=cfg.count * phases), prior,
                            available_tokens, tokens_per_run)
    weights = drawn.to_numpy().reshape(cfg.count, phases, len(domains))
    weights = weights * np.asarray(fractions, dtype=float)[None, :, None]
    return pd.DataFrame(weights.reshape(cfg.count, -1), columns=phase_slots(domains, phases))


def _one_per_domain(domains: list[str], caps: np.ndarray, max_epochs: float) -> np.ndarray:
    """MixMin's runs: each proxy trains on one domain alone, which the cap must allow."""
    short = [d for d, cap in zip(domains, caps) if cap < 1.0]
    if short:
        raise ConfigError("mixtures.proxy_max_epochs",
                          f"a run on domain {short[0]!r} alone would repeat it more than "
                          f"{max_epochs:g} times; raise mixtures.proxy_max_epochs or give it more "
                          "text (per_domain trains one proxy on each domain alone)")
    return np.eye(len(domains))


