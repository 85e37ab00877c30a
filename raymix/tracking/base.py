"""What every tracker is: :class:`Tracker` (its runs, opened, logged to and finished) and
:class:`Opening` (a tracker the config asks for, before its client is imported).

A tracker's module (``mlflow_tracker.py``, ...) holds a :class:`Tracker` subclass and an
``opening(cfg)`` function; :data:`raymix.tracking.registry.TRACKERS` names each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raymix.tracking.logged import SweepSummary, TrackedRun

SWEEP_RUN = "sweep"  # the sweep-level tracker run's name suffix (and TensorBoard folder)


class Tracker:
    """One tracker destination: the proxy runs open in it now, and the steps each holds
    (a step is logged once per run, whether it came live or from the record).

    A subclass makes, logs to and ends one run through four hooks: ``_start`` (the run's
    handle, its id for the ledger, the steps it holds already), ``_log`` (rows of
    metrics), ``_finish`` (parameters, status; its handle closed) and ``_close`` (a run
    left unfinished); and the sweep's own run through :meth:`log_sweep`.

    Parameters
    ----------
    where : str
        How warnings name the tracker (``mlflow at sqlite:///...``).
    destination : str
        The store it logs to, as ``tracking.json`` keys it (never a secret).
    """

    view: str  # where the runs are, and how to open them (a subclass sets it)

    def __init__(self, where: str, destination: str):
        self.where, self.destination = where, destination
        self.live: dict[str, Any] = {}  # run id -> the handle of its open tracker run
        self.steps: dict[str, set[int]] = {}  # run id -> the steps (tokens) it holds
        self.parent: str | None = None  # the sweep run's id, where the tracker has one

    def start(self, run_id: str, known: str | None = None) -> str:
        """Open ``run_id``'s tracker run, or take up ``known`` (the id that a driver which
        died kept in the ledger); returns the tracker run's id."""
        handle, ident, held = self._start(run_id, known)
        self.live[run_id], self.steps[run_id] = handle, held
        return ident

    def log(self, run_id: str, rows: list[tuple[int, dict[str, float]]]) -> None:
        """Log the ``(tokens, metrics)`` rows of the open run ``run_id`` it does not hold."""
        new = [(tokens, row) for tokens, row in rows if tokens not in self.steps[run_id]]
        if new:
            self._log(self.live[run_id], new)
            self.steps[run_id].update(tokens for tokens, _ in new)

    def log_run(self, run: TrackedRun, known: str | None = None) -> None:
        """Finish ``run`` from its record (opening it first if no evaluation came live):
        the evaluations it lacks, its parameters and status; its handle is closed."""
        if run.name not in self.live:
            self.start(run.name, known)
        self.log(run.name, run.history)
        self.steps.pop(run.name)
        self._finish(self.live.pop(run.name), run)

    def sweep_run(self, known: str | None) -> str | None:
        """The sweep run every proxy run is a child of, made now (or ``known`` again) where
        the tracker links runs to a parent run; None where it groups them otherwise."""
        return None

    def log_sweep(self, summary: SweepSummary, known: str | None) -> str:
        """Log the sweep's end (into ``known`` again where the tracker can); returns the
        sweep run's id."""
        raise NotImplementedError

    def close(self) -> None:
        """End the runs still open (their trials failed for good, or the experiment
        stopped): unfinished, and kept in the ledger's ``open`` for a re-run."""
        while self.live:
            run_id, handle = self.live.popitem()
            self.steps.pop(run_id, None)
            self._close(handle)

    # the hooks of a tracker's client
    def _start(self, run_id: str, known: str | None) -> tuple[Any, str, set[int]]:
        raise NotImplementedError

    def _log(self, handle: Any, rows: list[tuple[int, dict[str, float]]]) -> None:
        raise NotImplementedError

    def _finish(self, handle: Any, run: TrackedRun) -> None:
        raise NotImplementedError

    def _close(self, handle: Any) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Opening:
    """A tracker that a config asks for, not made yet: its client is imported (and a
    server connected to) only when :meth:`open` is called, after ``server`` answered."""

    where: str  # how warnings name it
    server: str | None  # an http(s) server to probe first; None for a local store
    make: Callable[[str], Tracker]  # the tracker, given ``where``

    def open(self) -> Tracker:
        return self.make(self.where)
