"""Run-to-run noise: how far apart two runs of one mixture land, below which mixtures tie.

Where several runs repeat a mixture with other seeds, :func:`noise_floor` measures the
spread of their loss; :func:`min_meaningful_difference` turns it into the smallest gap
between two single runs that noise alone would rarely make. Where mixtures are measured
with a few seeds each (``raymix validate``, a confirmation round), :func:`seed_noise`
pools their spread and :func:`gap_se` gives the noise of a gap between two means; a gap
counts beyond ``NOISE_SIGMAS`` of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

NOISE_SIGMAS = 2.0  # a difference smaller than 2 std of a difference of two runs is noise


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


def mixture_groups(X, decimals: int = 6) -> np.ndarray:
    """The mixture each run repeats: runs whose rows are equal after rounding to
    ``decimals`` share an id (0, 1, ... in the order of the sorted unique rows)."""
    rounded = np.round(np.asarray(X, dtype=float), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return np.unique(rounded, axis=0, return_inverse=True)[1].reshape(-1)


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
    y = np.asarray(y, dtype=float)
    group = mixture_groups(X, decimals)
    counts = np.bincount(group)
    repeated = counts[group] > 1
    if not repeated.any():
        return None
    means = np.bincount(group, weights=y) / counts
    squares = ((y - means[group])[repeated] ** 2).sum()
    mixtures = int((counts > 1).sum())
    runs = int(repeated.sum())
    std = float(np.sqrt(squares / (runs - mixtures)))
    return NoiseFloor(std=std, mixtures=mixtures, runs=runs)


def min_meaningful_difference(noise: NoiseFloor) -> float:
    """The smallest loss difference between two mixtures that is not run-to-run noise."""
    return float(NOISE_SIGMAS * np.sqrt(2) * noise.std)


def seed_noise(losses: Iterable[Sequence[float]]) -> float | None:
    """One run's noise, from mixtures measured with several seeds each.

    The root of the mean of their seed-to-seed variances (``ddof=1``), over the
    mixtures with two losses or more (each has too few for a std of its own); None when
    none has two.
    """
    spreads = [np.var(values, ddof=1) for values in losses if len(values) > 1]
    return float(np.sqrt(np.mean(spreads))) if spreads else None


def gap_se(std: float, n_a: int, n_b: int) -> float:
    """The noise (standard error) of the gap between means of ``n_a`` and ``n_b`` runs."""
    return float(std * np.sqrt(1 / n_a + 1 / n_b))
