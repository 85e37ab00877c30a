"""What a trial is asked to train, and what the aggregator answers it: plain data.

Kept apart from :mod:`raymix.sweep.trial` (which trains, and imports torch) so that the
pieces of a sweep that never train (the aggregator actor, the adaptive strategy, the
cluster checks) can name a planned run without loading torch: the aggregator runs on the
driver's node beside the trials, and torch would cost it about 190 MiB
(``bench/aggregator_memory.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

NAMESPACE = "raymix"  # the Ray namespace of every raymix actor
# what the aggregator answers a record: on disk now, stored before, or refused by the storage
STORED, DUPLICATE, REFUSED = "stored", "duplicate", "refused"


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep's plan: what one proxy trains on, and its name."""

    run_id: str
    seed: int
    scale: str  # a proxy size by name (BASE_SCALE, or an entry of ``scales``)
    mixture: dict[str, float]


@dataclass(frozen=True)
class PlannedTrial:
    """What one Tune trial trains: one planned run alone, or several of one size as a
    stacked group (:func:`~raymix.training.group.train_group`)."""

    runs: tuple[PlannedRun, ...]

    @property
    def name(self) -> str:
        """The first run's id, and how many more: ``run-0008`` or ``run-0008+7``."""
        more = len(self.runs) - 1
        return self.runs[0].run_id + (f"+{more}" if more else "")

    def to_config(self) -> dict[str, Any]:
        """Tune's ``config`` of the trial (plain data: Tune logs and pickles it)."""
        return {"runs": [dataclasses.asdict(run) for run in self.runs]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PlannedTrial:
        return cls(tuple(PlannedRun(**run) for run in config["runs"]))
