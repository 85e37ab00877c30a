"""raymix: find a pretraining data mixture with many tiny proxy models on Ray.

The workflow, from Python (each step is also a CLI command, see ``raymix --help``)::

    import raymix
    cfg = raymix.load_config("jobs/configs/demo.yaml")
    raymix.cost_preview(cfg)            # runs, FLOPs, memory, GPU-hours: nothing starts
    raymix.prepare(cfg)                 # corpus -> tokenizer -> token arrays (cached)
    result = raymix.run_sweep(cfg)      # one Ray Tune trial per mixture
    raymix.run_confirmation(cfg)        # train the best candidates again with new seeds
    proposal = raymix.propose(cfg)      # the measured best of them (fit + search if none)
    outcome = raymix.sweep_and_propose(cfg)  # or all of it in one call (raymix sweep)

or on anyone's results (the wide CSV pair RegMix and Olmix publish)::

    runs = raymix.read_runs("mixtures.csv", "metrics.csv", ["pile_cc"])
    fitted = raymix.fit(runs)                       # FitResult: CV scores, estimator
    proposal = raymix.propose(runs, search=raymix.load_constraints("constraints.yaml"),
                              output="proposal.json")

or at a target scale, from checkpoints of several model sizes (Data Mixing Laws)::

    long = raymix.read_long_runs("runs.csv", ["pile_loss"])
    proposal = raymix.propose(long, at=raymix.TargetSize(params=1e9, tokens=1e11))

The names below are the public API; each is the library's own function or class,
imported on first use, so ``import raymix`` stays light (no torch, no Ray) until a
function needs them. docs/ARCHITECTURE.md says where everything lives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from raymix.version import __version__

# public name -> the module that defines it
_PUBLIC = {
    # the workflow, in the order a user runs it
    "load_config": "raymix.config.parse",
    "load_constraints": "raymix.config.parse",
    "cost_preview": "raymix.workflows.costing",
    "prepare": "raymix.data.prepared",
    "tokenize_to_shards": "raymix.data.tokenize_shards",
    "run_sweep": "raymix.sweep.runner",
    "read_runs": "raymix.runs.wide",
    "read_long_runs": "raymix.runs.long",
    "fit": "raymix.workflows.fitting",
    "predict": "raymix.workflows.fitting",
    "run_confirmation": "raymix.workflows.confirmation",
    "propose": "raymix.workflows.proposing",
    "propose_per_objective": "raymix.workflows.proposing",
    "critical": "raymix.workflows.continual",
    "run_validation": "raymix.workflows.validation",
    "sweep_and_propose": "raymix.workflows.sweeping",  # raymix sweep: all of the above
    # what they take and return
    "SweepConfig": "raymix.config.schema",
    "FitConfig": "raymix.config.schema",
    "SearchConfig": "raymix.config.schema",
    "PreparedData": "raymix.data.prepared",
    "SweepResult": "raymix.sweep.runner",
    "SweepOutcome": "raymix.workflows.sweeping",
    "Runs": "raymix.runs.tables",
    "LongRuns": "raymix.runs.tables",
    "RunRecord": "raymix.runs.record",
    "FitResult": "raymix.regression.fitting",
    "Proposal": "raymix.proposal.proposer",
    "ObjectiveProposals": "raymix.proposal.objectives",
    "ProposalUncertainty": "raymix.proposal.uncertainty",
    "CriticalProportion": "raymix.proposal.critical_share",
    "ConfirmationVerdict": "raymix.proposal.verdict",
    "MixMinProposal": "raymix.proposal.mixmin",
    "ValidationResult": "raymix.proposal.validated",
    "CostPreview": "raymix.workflows.costing",
    "TargetSize": "raymix.scaling.base",
    "NestedScalingLaw": "raymix.scaling.nested",
    "UserError": "raymix.errors",
    "ConfigError": "raymix.errors",
}

__all__ = ["__version__", *_PUBLIC]

# old public name -> its new name (each warns once, on first use)
_RENAMED = {"Scale": "TargetSize"}


def __getattr__(name: str):
    """Import a public name on first use (PEP 562) and keep it."""
    if name in _RENAMED:
        import warnings

        new = _RENAMED[name]
        warnings.warn(f"raymix.{name} is now raymix.{new}; use that name", FutureWarning,
                      stacklevel=2)
        value = globals()[name] = __getattr__(new)
        return value
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'raymix' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for editors and type checkers: the same names, imported eagerly
    from raymix.config.parse import load_config, load_constraints
    from raymix.config.schema import FitConfig, SearchConfig, SweepConfig
    from raymix.data.prepared import PreparedData, prepare
    from raymix.data.tokenize_shards import tokenize_to_shards
    from raymix.errors import ConfigError, UserError
    from raymix.proposal.critical_share import CriticalProportion
    from raymix.proposal.mixmin import MixMinProposal
    from raymix.proposal.objectives import ObjectiveProposals
    from raymix.proposal.proposer import Proposal
    from raymix.proposal.uncertainty import ProposalUncertainty
    from raymix.proposal.validated import ValidationResult
    from raymix.proposal.verdict import ConfirmationVerdict
    from raymix.regression.fitting import FitResult
    from raymix.runs.long import read_long_runs
    from raymix.runs.record import RunRecord
    from raymix.runs.tables import LongRuns, Runs
    from raymix.runs.wide import read_runs
    from raymix.scaling.base import TargetSize
    from raymix.scaling.nested import NestedScalingLaw
    from raymix.sweep.runner import SweepResult, run_sweep
    from raymix.workflows.continual import critical
    from raymix.workflows.costing import CostPreview, cost_preview
    from raymix.workflows.fitting import fit, predict
    from raymix.workflows.proposing import propose
    from raymix.workflows.sweeping import SweepOutcome, sweep_and_propose
    from raymix.workflows.validation import run_validation
