"""``raymix propose --critical``: how much of a new domain continual pretraining can take.

Data Mixing Laws, section 4.3: mixing a new domain into continued pretraining raises
the loss on the original data once its share passes a critical proportion. Fitted on
runs at several shares of the new domain, :func:`critical` finds that share
(:mod:`raymix.proposal.critical_share`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from raymix.config import SweepConfig
from raymix.errors import UserError
from raymix.files import atomic_write_text
from raymix.proposal import CriticalProportion, critical_from_runs
from raymix.runs import ResultStore
from raymix.scaling import TargetSize
from raymix.workflows.inputs import (
    RunsSource,
    check_output_path,
    config_at,
    load_long_results,
    load_results,
)


def critical(source: RunsSource, domain: str, *, baseline: float | None = None,
             at: TargetSize | None = None, output: str | Path | None = None) -> CriticalProportion:
    """The largest share of the new ``domain`` that keeps the original data's loss at
    its value before continual pretraining.

    Parameters
    ----------
    source : SweepConfig, Runs or LongRuns
        Runs at several shares of ``domain``; their target must be the loss on the
        original data.
    domain : str
        The new domain (a mixture column).
    baseline : float, optional
        The original data's loss before continual pretraining. With a sweep whose runs
        started from a checkpoint (``training.init_from``), it defaults to that
        checkpoint's loss, measured before training.
    at : TargetSize, optional
        With ``at.tokens`` (and a long table or a sweep), the answer is extrapolated
        there along each share's checkpoints (the step law).
    output : path, optional
        Write the answer there as JSON.

    Returns
    -------
    CriticalProportion
        ``.proportion``, the ``.law`` behind it, and ``.message`` for the user.
    """
    check_output_path(output)
    if isinstance(source, SweepConfig):
        baseline = initial_target_loss(source) if baseline is None else baseline
        at = at if at is not None else config_at(source.fit)
        source = load_long_results(source)[0] if at is not None else load_results(source)[0]
    if baseline is None:
        raise UserError("give the loss on the original data before continual pretraining "
                        "(the starting checkpoint's loss on the target)", field="baseline")
    answer = critical_from_runs(source, domain, baseline,
                                at_tokens=at.tokens if at is not None else None)
    if output is not None:
        atomic_write_text(Path(output), json.dumps(answer.to_dict(), indent=1))
        answer.files["critical"] = str(output)
    return answer


def initial_target_loss(cfg: SweepConfig) -> float:
    """The starting checkpoint's target loss, as measured by the sweep's runs."""
    records = ResultStore(cfg.storage_path).load_all().values()
    losses = [r.initial_target_loss for r in records if r.initial_target_loss is not None]
    if not losses:
        raise UserError(f"the runs in {cfg.storage_path} did not start from a checkpoint "
                        "(training.init_from), so there is no loss before continual "
                        "pretraining; give the baseline", field="baseline")
    return float(np.mean(losses))  # the same checkpoint and windows: equal up to float noise
