"""A sweep's runs in its trackers: :class:`RunTracker` (a Tune callback that logs them as
they train), :func:`open_tracker` (the trackers the config asks for, each opened once) and
:func:`log_sweep` (the sweep's end)."""

from __future__ import annotations

import json
from pathlib import Path

from ray import tune

from raymix.config import SweepConfig
from raymix.runs import RunRecord, SweepLayout
from raymix.secrets import mask_uri
from raymix.tracking.base import Tracker
from raymix.tracking.failures import FAILED, fail, reason
from raymix.tracking.ledger import Ledger
from raymix.tracking.logged import SweepSummary, TrackedRun, eval_row
from raymix.tracking.probe import unreachable
from raymix.tracking.registry import TRACKERS


def open_trackers(cfg: SweepConfig) -> list[Tracker]:
    """The trackers ``cfg`` asks for that can be reached, in :data:`TRACKERS`' order; one
    warning for each that cannot (and none again for one that failed before)."""
    wanted = [o for o in (factory(cfg) for factory in TRACKERS.values()) if o is not None]
    opened, ledger = [], Ledger(SweepLayout(cfg.storage_path).tracking)
    for opening in wanted:
        if opening.where in FAILED:
            continue
        why = unreachable(opening.server) if opening.server else None
        if why is not None:
            fail(opening.where, f"unreachable ({why})")
            continue
        try:
            tracker = opening.open()
            known = ledger.sweep_run(tracker.destination)
            made = tracker.sweep_run(known)  # MLflow: the parent of every proxy run, now
            if made is not None and made != known:
                ledger.add(tracker.destination, sweep_run=made)
        except Exception as exc:  # a tracker's own error, whatever it is
            fail(opening.where, f"failed ({reason(exc)})")
            continue
        opened.append(tracker)
    return opened


class RunTracker(tune.Callback):
    """Logs the sweep's proxy runs to the trackers as they train (a Tune callback).

    A run's first ``"eval"`` result opens its tracker run (noted in the ledger's
    ``open``), each one logs its metrics at once; a completed trial's stored records
    finish its runs (:meth:`log_runs`). Make it with :func:`open_tracker`. Tune pickles its
    callbacks with the experiment: the trackers' clients and open runs are left out and
    opened again where needed. A tracker's error is one warning, and the sweep goes on
    without that tracker.
    """

    def __init__(self, cfg: SweepConfig, trackers: list[Tracker]):
        self.cfg, self._trackers = cfg, trackers
        self.layout = SweepLayout(cfg.storage_path)

    def __getstate__(self):
        return {"cfg": self.cfg, "_trackers": None, "layout": self.layout}

    @property
    def trackers(self) -> list[Tracker]:
        if self._trackers is None:
            self._trackers = open_trackers(self.cfg)
        return [t for t in self._trackers if t.where not in FAILED]

    def announce(self, log) -> None:
        """One line per tracker to ``log``: where its store is, and how to open it."""
        for tracker in self.trackers:
            log(mask_uri(f"[sweep] tracking: {tracker.view}"))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        evaluation = eval_row(result)
        if evaluation is None:  # progress, the final report, or not raymix's
            return
        run_id, tokens, row = evaluation
        ledger = None
        for tracker in self.trackers:
            try:
                if run_id not in tracker.live:
                    ledger = ledger or Ledger(self.layout.tracking)
                    if run_id in ledger.runs(tracker.destination):
                        continue  # logged in full already (a trial retried after it stored)
                    known = ledger.opened(tracker.destination, run_id)
                    ident = tracker.start(run_id, known)
                    if ident != known:
                        ledger.add(tracker.destination, opened=(run_id, ident))
                tracker.log(run_id, [(tokens, row)])
            except Exception as exc:  # never the sweep's failure
                fail(tracker.where, f"failed ({reason(exc)})")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.log_runs([run["run_id"] for run in trial.config.get("runs", [])])

    def on_experiment_end(self, trials, **info):
        for tracker in self.trackers:  # runs whose trials failed for good stay unfinished
            try:
                tracker.close()
            except Exception as exc:
                fail(tracker.where, f"failed ({reason(exc)})")

    def log_runs(self, run_ids: list[str]) -> int:
        """Finish the tracker runs of the stored records of ``run_ids`` that a tracker does
        not hold yet (made now where no evaluation came live); returns how many tracker
        runs were finished."""
        ledger, written = Ledger(self.layout.tracking), 0
        records = {}
        for run_id in run_ids:
            try:
                records[run_id] = RunRecord.from_json(json.loads(
                    self.layout.record(run_id).read_text()))
            except (OSError, ValueError):
                continue  # not stored (a trial that failed for good): nothing to log
        for tracker in self.trackers:
            done = ledger.runs(tracker.destination)
            for run_id, record in records.items():
                if run_id in done:
                    continue
                try:
                    tracker.log_run(TrackedRun.of(record, self.cfg.mixture_columns),
                                    ledger.opened(tracker.destination, run_id))
                except Exception as exc:  # never the sweep's failure
                    fail(tracker.where, f"failed ({reason(exc)})")
                    break
                ledger.add(tracker.destination, run_id=run_id)
                written += 1
        return written


def open_tracker(cfg: SweepConfig) -> RunTracker | None:
    """The sweep's tracker callback, or None when ``tracking:`` is off (or every tracker
    it names failed: each is one warning line)."""
    if not cfg.tracking.enabled:
        return None
    trackers = open_trackers(cfg)
    return RunTracker(cfg, trackers) if trackers else None


def log_sweep(cfg: SweepConfig, proposal: str | Path, report: str | Path | None = None) -> None:
    """End a sweep in its trackers: log the stored runs none holds yet (runs of a session
    that died before logging them, or of a sweep that turned tracking on later), then the
    sweep run: the fit's quality as metrics, ``proposal`` and the ``report`` folder as
    artifacts. A re-run of the sweep logs to the same sweep run where the tracker can."""
    tracker = open_tracker(cfg)
    if tracker is None or not Path(proposal).is_file():
        return
    layout = SweepLayout(cfg.storage_path)
    stored = sorted(p.stem for p in layout.results.glob("*.json")) \
        if layout.results.is_dir() else []
    tracker.log_runs(stored)
    summary = SweepSummary.of(Path(proposal), Path(report) if report else None)
    ledger = Ledger(layout.tracking)
    for t in tracker.trackers:
        try:
            run_id = t.log_sweep(summary, ledger.sweep_run(t.destination))
        except Exception as exc:  # never the sweep's failure
            fail(t.where, f"failed ({reason(exc)})")
            continue
        ledger.add(t.destination, sweep_run=run_id)
