"""Mixtures: points of the simplex, the box that bounds them, and how a sweep chooses them.

- :mod:`~raymix.mixtures.simplex`: the bounded simplex, projection onto it, and draws in it;
- :mod:`~raymix.mixtures.constraints`: the box a proposal must keep to (bounds, repetition
  cap, KL prior), built from a ``search:`` section, with the reason behind each bound;
- :mod:`~raymix.mixtures.sampling`: mixtures drawn up front (``mixtures.strategy:
  random``, RegMix's Dirichlet draws), within each domain's repetition cap;
- :mod:`~raymix.mixtures.adaptive`: mixtures chosen from the runs so far (``bayesopt``,
  ``design``) by a Gaussian process.
"""

from raymix.mixtures.adaptive import AdaptiveSampler, candidates_near_runs, space_filling_design
from raymix.mixtures.constraints import Constraints, build_constraints
from raymix.mixtures.sampling import (
    repetition_caps,
    sample_dirichlet,
    sample_mixtures,
    sample_uniform,
)
from raymix.mixtures.simplex import (
    BOX_TOLERANCE,
    box_problem,
    named_weights,
    normalise_prior,
    project_to_bounded_simplex,
    sample_candidates,
    tempered_prior,
)

__all__ = [
    "BOX_TOLERANCE", "AdaptiveSampler", "Constraints", "box_problem", "build_constraints",
    "candidates_near_runs", "named_weights", "normalise_prior", "project_to_bounded_simplex",
    "repetition_caps", "sample_candidates", "sample_dirichlet", "sample_mixtures",
    "sample_uniform", "space_filling_design", "tempered_prior",
]
