"""The trackers a sweep can log to: :data:`TRACKERS`, the ``tracking:`` section's key ->
the factory that reads the config and says whether, and where, to log.

Adding a tracker is one module beside these (a :class:`~raymix.tracking.base.Tracker`
subclass and its ``opening(cfg)``) and one line here; its config section is a field of
:class:`~raymix.config.TrackingConfig` named in ``raymix.config.schema.TRACKER_CLIENTS``.
"""

from __future__ import annotations

from collections.abc import Callable

from raymix.config import SweepConfig
from raymix.tracking import mlflow_tracker, tensorboard_tracker, wandb_tracker
from raymix.tracking.base import Opening

# the order is the order of the [sweep] tracking: lines
TRACKERS: dict[str, Callable[[SweepConfig], Opening | None]] = {
    "mlflow": mlflow_tracker.opening,
    "wandb": wandb_tracker.opening,
    "tensorboard": tensorboard_tracker.opening,
}
