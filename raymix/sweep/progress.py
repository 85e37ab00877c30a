"""What a sweep shows while it runs, and when it stops early (Tune callbacks).

:class:`SweepProgress` reads the trials' results (``"eval"``, ``"progress"`` and
``"final"``, :mod:`raymix.sweep.trial`) and shows where the sweep is: runs done, proxies in
flight and their step, tokens per second, an ETA and the best target loss. On a terminal
that is a progress bar (tqdm, redrawn at most every :data:`BAR_SECONDS`); in a log, a plain
``[sweep]`` line at most every :data:`STATUS_SECONDS` while trials run, and one each time a
trial's runs finish, so a log never stays silent for long while proxies train.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field

import ray
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from raymix.console import print_line
from raymix.formatting import format_number
from raymix.runs.events import EVAL_EVENT, FINAL_EVENT, PROGRESS_EVENT
from raymix.sweep.planned import REFUSED, PlannedTrial

STATUS_SECONDS = 20.0  # a log's status line at most this often while trials run
BAR_SECONDS = 1.0  # a terminal's bar redrawn at most this often
FIT_POLL_SECONDS = 1.0  # how often a pending live fit is looked at between results


# Tune's own output, which SweepProgress replaces: its banner ("Configuration for
# experiment", "View detailed results here", "Wrote the latest version of all result
# files") and its hint to run TensorBoard on Ray's session folder, which holds none of
# raymix's tracking. Tune's older output engine prints nothing at verbose=0, and its
# TensorBoard logger (the hint's cause) is left out; its JSON and CSV result files stay
# (:func:`tune_result_files`).
QUIET_TUNE_ENV = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}


@contextlib.contextmanager
def quiet_tune():
    """Inside: ``tuner.fit()`` prints no banner, no hint and no INFO lines of Tune's own
    (its warnings and errors still show). The environment and log level are restored."""
    before = {key: os.environ.get(key) for key in QUIET_TUNE_ENV}
    tune_logger = logging.getLogger("ray.tune")
    level = tune_logger.level
    os.environ.update(QUIET_TUNE_ENV)
    tune_logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        tune_logger.setLevel(level)
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def tune_result_files() -> list[tune.Callback]:
    """Tune's result files in each trial's folder (``result.json``, ``progress.csv``), which
    :func:`quiet_tune` would otherwise leave out with its TensorBoard files."""
    return [JsonLoggerCallback(), CSVLoggerCallback()]


@dataclass
class _InFlight:
    """Where one running trial's training is, from its latest results."""

    models: int  # proxies training: the trial's planned runs until a heartbeat says
    step: int = 0
    steps: int = 0  # 0: no result yet
    tokens_per_s: float = 0.0
    runs: set[str] = field(default_factory=set)  # its runs with an evaluation


class SweepProgress(tune.Callback):
    """Shows where the sweep is: one line per finished trial, and a status in between.

    The status: runs done / planned, the proxies in flight and their step, their tokens
    per second together, an ETA (from the runs done and the steps of those in flight, so
    there is one before the first trial finishes) and the best target loss of the finished
    runs (then, from their last evaluation, of those in flight). Each finished trial logs
    ``[sweep] N/M done`` with it; in between, it is a progress bar on a terminal (stdout a
    tty and ``log`` :func:`print_line`), else a plain line at most every
    :data:`STATUS_SECONDS` while trials run.

    Every ``fit_every`` finished runs it also asks the aggregator for a cross-validated
    fit of the runs so far (``start_fit()`` returns an object ref) and prints it once it
    is ready, without blocking Tune's loop, so a user sees early whether the sweep is
    learning anything.

    Attributes
    ----------
    clock : callable
        Seconds on a monotonic clock (``clock`` of the constructor; tests give a fake one).
    terminal : file or None or False
        Where the bar is drawn: None until the first status decides (stdout when it is a
        terminal and ``log`` is :func:`print_line`), False for plain lines.
    """

    def __init__(self, total: int, already_done: int, log=print_line, start_fit=None,
                 fit_every: int = 0, clock=time.monotonic):
        self.total, self.done, self.log = total, already_done, log
        self.start_fit, self.fit_every = start_fit, fit_every
        self.started_done = already_done
        self.best = (math.inf, None)
        self.pending_fit = None
        self.clock = clock
        self.t0 = clock()
        self.running: set[str] = set()  # trials whose actor is up (Tune's RUNNING)
        self.most_running = 0  # the most at once in this experiment: are the slots busy?
        self.flight: dict[str, _InFlight] = {}  # trial id -> where its training is
        self.live_loss: dict[str, float] = {}  # run id -> last evaluation's target loss
        self.terminal = None
        self._bar = None  # the tqdm bar, made on the first status on a terminal
        self._redirect = None  # Ray's log lines written above the bar while it is up
        self.last_status = self.last_draw = self.last_poll = self.t0

    def __getstate__(self):
        # Tune pickles its callbacks with the experiment: no bar, no stream
        state = dict(self.__dict__, _bar=None, _redirect=None)
        if state["terminal"]:
            state["terminal"] = None  # decided again where it is unpickled
        return state

    def new_experiment(self) -> None:
        """Count trials at once afresh: the search and the plan are two Tune experiments."""
        self.running.clear()
        self.most_running = 0
        self.flight.clear()
        self.live_loss.clear()

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self.most_running = max(self.most_running, len(self.running))
        self._in_flight(trial)
        self._show()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._forget(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._log_fit_if_ready()
        event = result.get("event")
        if result.get("final") or event == FINAL_EVENT:
            self._finished(trial, result)
        elif event == EVAL_EVENT:
            state, run = self._in_flight(trial), result.get("run_id", "?")
            state.step, state.steps = result.get("step", 0), result.get("steps", 0)
            state.runs.add(run)
            self.live_loss[run] = result.get("target_loss", math.nan)
        elif event == PROGRESS_EVENT:
            state = self._in_flight(trial)
            state.step, state.steps = result.get("step", 0), result.get("steps", 0)
            state.models = result.get("models", state.models)
            state.tokens_per_s = result.get("tokens_per_s", 0.0)
        self._show()

    def on_step_end(self, iteration, trials, **info):
        # Tune's loop calls this every ~0.1 s: the status moves between results too
        now = self.clock()
        if self.pending_fit is not None and now - self.last_poll >= FIT_POLL_SECONDS:
            self.last_poll = now
            self._log_fit_if_ready()
        self._show()

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._forget(trial)
        # a worker or node died under the trial: Tune starts it again (compute.max_retries)
        self.log(f"[sweep] {PlannedTrial.from_config(trial.config).name}: its worker died; "
                 f"retrying ({trial.num_failures} failure(s) so far)")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._forget(trial)
        self.log(f"[sweep] {PlannedTrial.from_config(trial.config).name}: failed for good "
                 f"after {trial.num_failures} tries; a re-run of the sweep tries it again")

    def on_experiment_end(self, trials, **info):
        self.close()

    def close(self) -> None:
        """Take the bar off the terminal (the end of an experiment, or of the sweep)."""
        if self._bar is not None:
            self._bar.close()
            self._redirect.__exit__(None, None, None)
            self._bar = self._redirect = None

    def status(self, note: str = "") -> str:
        """Where the sweep is, in one line: ``8/30 done{note}, 16 proxies in flight at step
        320/480, 52,310 tokens/s, ETA 4m10s, best target loss 5.1234 (run-0003)``."""
        parts = [f"{self.done}/{self.total} done{note}", self._flight_text()]
        rate = sum(s.tokens_per_s for s in self.flight.values())
        parts.append(f"{rate:,.0f} tokens/s" if rate else "")
        eta = self.eta()
        parts.append(f"ETA {_duration(eta)}" if eta is not None else "ETA n/a")
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best[1] else "n/a"
        live = min(((loss, run) for run, loss in self.live_loss.items() if loss == loss),
                   default=None)  # loss == loss: not NaN
        if live:
            best += f"; in flight {live[0]:.4f} ({live[1]})"
        parts.append(f"best target loss {best}")
        return ", ".join(p for p in parts if p)

    def eta(self) -> float | None:
        """Seconds until every planned run is done, at the pace of this process so far
        (finished runs and the step fractions of those in flight); None before any pace."""
        in_flight = self._in_flight_runs()
        work = self.done - self.started_done + in_flight
        if work <= 0:
            return None
        left = max(0.0, self.total - self.done - in_flight)
        return (self.clock() - self.t0) / work * left

    # ------------------------------------------------------------------------- internals

    def _in_flight(self, trial) -> _InFlight:
        key = _trial_key(trial)
        if key not in self.flight:
            runs = (getattr(trial, "config", None) or {}).get("runs") or [None]
            self.flight[key] = _InFlight(models=len(runs))
        return self.flight[key]

    def _in_flight_runs(self) -> float:
        """Runs' worth of training done by the trials in flight (a step fraction each)."""
        return sum(s.models * min(1.0, s.step / s.steps) for s in self.flight.values()
                   if s.steps)

    def _flight_text(self) -> str:
        """``16 proxies in flight at step 320/480`` (a range where trials differ)."""
        states = list(self.flight.values())
        models = sum(s.models for s in states)
        noun = "proxy" if models == 1 else "proxies"
        started = [s for s in states if s.steps]
        if not started:
            return f"{models} {noun} starting" if states else ""
        low, high = min(s.step for s in started), max(s.step for s in started)
        totals = {s.steps for s in started}
        if len(totals) == 1:  # one size: steps as they are
            where = (f"step {low}/{totals.pop()}" if low == high
                     else f"steps {low}-{high}/{totals.pop()}")
        else:  # sizes of their own length: how far, in percent
            done = sorted(s.step / s.steps for s in started)
            where = f"{done[0]:.0%}-{done[-1]:.0%} of their steps"
        return f"{models} {noun} in flight at {where}"

    def _forget(self, trial) -> None:
        """``trial`` trains no more (done, failed, or to be retried from its checkpoint)."""
        if trial is not None:
            self.running.discard(trial.trial_id)
        state = self.flight.pop(_trial_key(trial), None)
        for run in state.runs if state else ():
            self.live_loss.pop(run, None)

    def _finished(self, trial, result: dict) -> None:
        """A trial's "final" result: its runs are stored (or failed)."""
        self._forget(trial)
        runs, failed = result.get("runs", 1), result.get("failed", 0)
        before, self.done = self.done, self.done + runs  # a group's trial finishes several
        loss = result.get("target_loss", math.nan)
        if result.get("status") == "ok" and loss < self.best[0]:
            self.best = (loss, result["run_id"])
        note = ("" if not failed else " [failed]" if runs == 1
                else f" [{failed} of {runs} failed]")
        if self._bar is not None:  # the bar redrawn below the line shows the line's status
            self._draw(refresh=False)
        self.log(f"[sweep] {self.status(note)}")
        self.last_status = self.clock()
        crossed = self.fit_every and self.done // self.fit_every > before // self.fit_every
        if (self.start_fit and crossed and self.pending_fit is None
                and self.done < self.total):
            self.pending_fit = self.start_fit()

    def _show(self) -> None:
        """The status, if it is time: the bar redrawn, or a plain line in a log."""
        if not self.running and not self.flight:
            return  # nothing trains: nothing new to say
        now = self.clock()
        if self._on_terminal():
            if now - self.last_draw >= BAR_SECONDS:
                self.last_draw = now
                self._draw()
        elif now - self.last_status >= STATUS_SECONDS:
            self.last_status = now
            self.log(f"[sweep] {self.status()}")

    def _on_terminal(self) -> bool:
        if self.terminal is None:
            tty = self.log is print_line and getattr(sys.stdout, "isatty", lambda: False)()
            self.terminal = sys.stdout if tty else False
        return bool(self.terminal)

    def _draw(self, refresh: bool = True) -> None:
        """The bar made (on the first status), or set to the status now and redrawn
        (``refresh`` False: redrawn by the next line written above it)."""
        filled, text = min(self.total, self.done + self._in_flight_runs()), self.status()
        if self._bar is None:
            self._redirect = logging_redirect_tqdm([logging.getLogger("ray"), logging.root])
            self._redirect.__enter__()
            self._bar = tqdm(total=self.total, initial=filled, desc=text, file=self.terminal,
                             dynamic_ncols=True, leave=False,
                             bar_format="[sweep] {percentage:3.0f}%|{bar:20}| {desc}")
            return
        self._bar.n = filled
        self._bar.set_description_str(text, refresh=False)
        if refresh:
            self._bar.refresh()

    def _log_fit_if_ready(self) -> None:
        if self.pending_fit is None or not ray.wait([self.pending_fit], timeout=0)[0]:
            return
        ref, self.pending_fit = self.pending_fit, None
        try:
            scores = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # e.g. too few successful runs yet
            self.log(f"[fit] live fit skipped: {exc.cause if exc.cause else exc}")
            return
        self.log("[fit] live CV on the runs so far: " + ", ".join(
            f"{name} Spearman {format_number(m['cv_spearman'], 3)} "
            f"MAE {format_number(m['cv_mae'])}"
            for name, m in scores.items()))


def _trial_key(trial) -> str:
    return trial.trial_id if trial is not None else "?"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


class StopWhenStorageFails(tune.Stopper):
    """Stops the whole experiment once a trial's result could not be stored.

    Training on would only make results that cannot be kept; what was stored before
    stays, and the same command resumes once the storage is fixed.
    """

    def __init__(self):
        self.reason: str | None = None

    def __call__(self, trial_id, result) -> bool:
        if result.get("stored") == REFUSED:
            self.reason = result.get("refused") or "no reason given"
        return False

    def stop_all(self) -> bool:
        return self.reason is not None
