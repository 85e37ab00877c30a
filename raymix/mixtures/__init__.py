"""Mixtures: points of the simplex, the box that bounds them, and how a sweep chooses them.

- :mod:`~raymix.mixtures.simplex`: the bounded simplex, projection onto it, and draws in it;
- :mod:`~raymix.mixtures.constraints`: the box a proposal must keep to (bounds, repetition
  cap, KL prior), built from a ``search:`` section, with the reason behind each bound;
- :mod:`~raymix.mixtures.sampling`: mixtures drawn up front (``mixtures.strategy:
  random``, RegMix's Dirichlet draws), within each domain's repetition cap;
- :mod:`~raymix.mixtures.strategies`: the strategies that choose a sweep's mixtures
  (``random``, ``bayesopt``, ``design``: one file each), and their registry.
"""

from raymix.mixtures.constraints import (
    Constraints,
    build_constraints,
    schedule_groups,
    schedule_phases,
)
from raymix.mixtures.sampling import (
    repetition_caps,
    sample_dirichlet,
    sample_mixtures,
    sample_schedules,
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
from raymix.mixtures.strategies import (
    STRATEGIES,
    MixtureStrategy,
    make_strategy,
    restore_strategy,
    strategy_class,
)
from raymix.mixtures.strategies.bayesopt import draws_near_runs
from raymix.mixtures.strategies.design import space_filling_design

__all__ = [
    "BOX_TOLERANCE", "STRATEGIES", "Constraints", "MixtureStrategy", "box_problem",
    "build_constraints", "draws_near_runs", "make_strategy", "named_weights",
    "normalise_prior", "project_to_bounded_simplex", "repetition_caps", "restore_strategy",
    "sample_candidates", "sample_dirichlet", "sample_mixtures", "sample_schedules",
    "sample_uniform", "schedule_groups", "schedule_phases",
    "space_filling_design", "strategy_class", "tempered_prior",
]
