"""``random``: RegMix-like Dirichlet draws, no feedback from the runs at all.

Each suggestion is a Dirichlet draw centred on the tempered prior (``prior ** 0.5``) at a
concentration strength between 0.1 and 5, projected into the box
(:meth:`raymix.mixtures.Constraints.sample`; a level at a time when the domains form groups):
RegMix's distribution, and the baseline the
other strategies must beat. Nothing it suggests depends on a result, so a sweep with
``mixtures.strategy: random`` never asks it: the sweep draws its whole plan up front
(``adaptive = False``) with :func:`raymix.mixtures.sample_mixtures`, which adds
``mixtures.draw``, the proxies' repetition caps and de-duplication.
"""

from __future__ import annotations

import numpy as np

from raymix.mixtures.constraints import Constraints
from raymix.mixtures.simplex import tempered_prior
from raymix.mixtures.strategies.base import MixtureStrategy

REGMIX_TEMPERATURE = 0.5  # RegMix centres its draws on prior ** 0.5
REGMIX_STRENGTHS = (0.1, 5.0)  # and draws concentration strengths from this range


def sample_regmix(n: int, box: Constraints, rng: np.random.Generator) -> np.ndarray:
    """``n`` RegMix-like Dirichlet draws (centre ``prior ** 0.5``, strengths 0.1-5) in the box."""
    centre = tempered_prior(box.prior, REGMIX_TEMPERATURE)
    return box.project(box.sample(n, rng, centre=centre, strengths=REGMIX_STRENGTHS,
                                  uniform_fraction=0.0))


class RandomStrategy(MixtureStrategy):
    """RegMix's draws in the box, every one of them (``initial`` is not used)."""

    name = "random"
    adaptive = False

    def _rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return sample_regmix(n, self.box, rng)


STRATEGY = RandomStrategy  # what raymix.mixtures.strategies registers under "random"
