"""``design``: a space-filling initial design, then the rounds of ``bayesopt``.

The first ``initial`` suggestions are :func:`space_filling_design`: representative
points of RegMix's distribution in the box, stratified so that no two land close
together as independent draws often do. The Gaussian process then takes over, as in
:class:`~raymix.mixtures.strategies.bayesopt.BayesOptStrategy`.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from raymix.mixtures.constraints import Constraints
from raymix.mixtures.strategies.bayesopt import BayesOptStrategy
from raymix.mixtures.strategies.random import sample_regmix

DESIGN_POOL = 4096  # RegMix draws the space-filling design chooses from
DESIGN_STREAM = 0xD5  # second seed word of the design's generator (the batches use counts)


def space_filling_design(n: int, box: Constraints, rng: np.random.Generator,
                         pool: int = DESIGN_POOL) -> np.ndarray:
    """``n`` mixtures that spread evenly over the RegMix distribution inside the box.

    K-means with ``n`` clusters on the square roots of ``pool`` RegMix draws (Hellinger
    geometry, as the GP's kernel); the design is the draw nearest each cluster centre.
    The points are representative points ("support points", Mak and Joseph, Annals of
    Statistics 2018) of the distribution RegMix samples from: stratified, so no two
    land close together as i.i.d. draws often do, yet realistic. Maximin or D-optimal
    designs were not chosen because on the simplex both push every point to the
    vertices (single-domain mixtures, D-optimal for a linear model), which say little
    about an interior optimum and make poor proxy runs.

    Parameters
    ----------
    n : int
        Design size.
    box : Constraints
        Bounds and prior.
    rng : Generator
    pool : int, default=4096
        RegMix draws to choose from.

    Returns
    -------
    ndarray of shape (n, k)
    """
    draws = sample_regmix(max(pool, n), box, rng)
    roots = np.sqrt(draws)
    with threadpool_limits(1):  # deterministic and cheap on a shared machine
        kmeans = KMeans(n_clusters=n, n_init=1, random_state=int(rng.integers(2**31))).fit(roots)
    nearest = [int(np.argmin(((roots - c) ** 2).sum(1))) for c in kmeans.cluster_centers_]
    return draws[nearest]


class DesignStrategy(BayesOptStrategy):
    """The space-filling design of ``initial`` mixtures, then Bayesian optimisation."""

    name = "design"
    _design: np.ndarray | None = None  # built at the first suggestion (each instance its own)

    def _initial_rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        take = max(0, min(n, self.initial - len(self.suggested)))
        if not take:
            return np.empty((0, len(self.domains)))
        if self._design is None:  # deterministic in the seed: rebuilt identically on resume
            design_rng = np.random.default_rng([self.seed, DESIGN_STREAM])
            self._design = space_filling_design(self.initial, self.box, design_rng)
        start = len(self.suggested)
        return self._design[start:start + take]


STRATEGY = DesignStrategy  # what raymix.mixtures.strategies registers under "design"
