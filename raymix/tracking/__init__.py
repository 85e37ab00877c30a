"""Experiment trackers: MLflow, Weights & Biases and TensorBoard (the ``tracking:`` section).

What a user sees in a tracker is one tracker run per **proxy run**, not per Tune trial:
a trial may train a stacked group of runs (``compute.models_per_trial``), each with its
own mixture. Each proxy run's tracker run holds

- parameters: ``run_id``, ``scale``, ``seed``, ``group_size`` (1 for a proxy trained
  alone), ``status``, and one ``mixture.<domain>`` weight per domain (0 where unused;
  with ``mixtures.phases``, one ``mixture.<domain>/phase<p>`` per domain and phase);
- metrics at step = the training tokens seen: ``target_loss``, ``train_loss``,
  ``train_step`` and ``loss/<set>`` for each validation set.

Every proxy run is a child of the sweep's own run (MLflow: the tag ``mlflow.parentRunId``
of the run ``<sweep>-sweep``, made when the sweep starts; W&B: the group ``<sweep>``;
TensorBoard: one folder per run under ``<storage>/tensorboard/``, ``sweep/`` for the sweep).

:class:`RunTracker` is a Tune callback on the driver. A run's first ``"eval"`` result
(:mod:`raymix.sweep.trial` sends one per proxy per evaluation) opens its tracker run and
logs the metrics at once, so a tracker shows the run while it trains; when the trial
completes, its runs' records (``results/<run>.json``) finish their tracker runs: the
evaluations not seen live, the parameters, the status (FINISHED or FAILED).
:func:`log_sweep` ends the sweep: the runs not logged yet (a resumed sweep, a sweep that
turned tracking on later), then the sweep run with the fit's cross-validated quality,
``proposal.json`` and ``report/``.

``tracking.json`` in the sweep directory (:class:`~raymix.tracking.ledger.Ledger`) is the
truth of what each tracker destination holds: the runs fully logged (never logged again),
the sweep run's id, and the runs open now (``open``: run -> tracker run id). A run left
open by a driver that died is taken up again on the next run of the sweep, not made twice:
MLflow reuses its run (the steps it holds are not logged again), W&B resumes it (``id`` +
``resume="allow"``), TensorBoard replaces its folder.

A tracker that fails (a server that cannot be reached, an error of its client) is one
warning line on stderr, and the sweep goes on without it, storing results as before.
An http(s) server is probed once, before the sweep starts.

The modules, bottom up:

- :mod:`~raymix.tracking.logged`: what every tracker logs (:class:`TrackedRun`,
  :class:`SweepSummary`, :func:`regressor_name`);
- :mod:`~raymix.tracking.base`: the :class:`Tracker` base class and :class:`Opening`;
- ``mlflow_tracker``, ``wandb_tracker``, ``tensorboard_tracker``: one tracker each;
- :mod:`~raymix.tracking.registry`: :data:`TRACKERS`, the section's key -> factory;
- :mod:`~raymix.tracking.callback`: :class:`RunTracker`, :func:`open_tracker`,
  :func:`log_sweep`;
- beside them: :mod:`~raymix.tracking.ledger`, :mod:`~raymix.tracking.probe` (a server's
  probe) and :mod:`~raymix.tracking.failures` (the one warning line).

Adding a tracker: a module here with a :class:`Tracker` subclass (the four hooks
``_start``, ``_log``, ``_finish``, ``_close``, and :meth:`Tracker.log_sweep`) and an
``opening(cfg)`` that returns an :class:`Opening` (or None when the config does not ask for
it), one line in :data:`TRACKERS`, and its section as a field of
:class:`~raymix.config.TrackingConfig` with its client's module in
``raymix.config.schema.TRACKER_CLIENTS``.
"""

from raymix.tracking.base import Opening, Tracker
from raymix.tracking.callback import RunTracker, log_sweep, open_tracker, open_trackers
from raymix.tracking.ledger import Ledger
from raymix.tracking.logged import SweepSummary, TrackedRun, regressor_name
from raymix.tracking.probe import unreachable
from raymix.tracking.registry import TRACKERS

__all__ = [
    "TRACKERS", "Ledger", "Opening", "RunTracker", "SweepSummary", "TrackedRun", "Tracker",
    "log_sweep", "open_tracker", "open_trackers", "regressor_name", "unreachable",
]
