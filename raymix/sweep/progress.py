"""What a sweep shows while it runs, and when it stops early (Tune callbacks)."""

from __future__ import annotations

import math
import time

import ray
from ray import tune

from raymix.formatting import format_number
from raymix.sweep.trial import REFUSED, PlannedTrial


def print_line(line: str) -> None:
    """The default ``log`` of a sweep: print the line.

    A function of raymix's own, not the builtin: Tune pickles its callbacks with the
    experiment, and a process where something replaced ``builtins.print`` (Ray's tqdm
    does) can no longer pickle the original builtin by reference.
    """
    print(line)


class SweepProgress(tune.Callback):
    """Prints one line per finished trial: done / total, ETA and the best target loss.

    Every ``fit_every`` finished trials it also asks the aggregator for a cross-validated
    fit of the runs so far (``start_fit()`` returns an object ref) and prints it once it
    is ready, without blocking Tune's loop, so a user sees early whether the sweep is
    learning anything.
    """

    def __init__(self, total: int, already_done: int, log=print_line, start_fit=None,
                 fit_every: int = 0):
        self.total, self.done, self.log = total, already_done, log
        self.start_fit, self.fit_every = start_fit, fit_every
        self.started_done = already_done
        self.best = (math.inf, None)
        self.pending_fit = None
        self.t0 = time.monotonic()
        self.running: set[str] = set()  # trials whose actor is up (Tune's RUNNING)
        self.most_running = 0  # the most at once in this experiment: are the slots busy?

    def new_experiment(self) -> None:
        """Count trials at once afresh: the search and the plan are two Tune experiments."""
        self.running.clear()
        self.most_running = 0

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self.most_running = max(self.most_running, len(self.running))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._log_fit_if_ready()
        if not result.get("final"):
            return
        runs, failed = result.get("runs", 1), result.get("failed", 0)
        before, self.done = self.done, self.done + runs  # a group's trial finishes several
        loss = result.get("target_loss", math.nan)
        if result.get("status") == "ok" and loss < self.best[0]:
            self.best = (loss, result["run_id"])
        new = self.done - self.started_done
        eta = (time.monotonic() - self.t0) / new * (self.total - self.done)
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best[1] else "n/a"
        status = ("" if not failed else " [failed]" if runs == 1
                  else f" [{failed} of {runs} failed]")
        self.log(f"[sweep] {self.done}/{self.total} done{status}, ETA {_duration(eta)}, "
                 f"best target loss {best}")
        crossed = self.fit_every and self.done // self.fit_every > before // self.fit_every
        if (self.start_fit and crossed and self.pending_fit is None
                and self.done < self.total):
            self.pending_fit = self.start_fit()

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        # a worker or node died under the trial: Tune starts it again (compute.max_retries)
        self.log(f"[sweep] {PlannedTrial.from_config(trial.config).name}: its worker died; "
                 f"retrying ({trial.num_failures} failure(s) so far)")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.log(f"[sweep] {PlannedTrial.from_config(trial.config).name}: failed for good "
                 f"after {trial.num_failures} tries; a re-run of the sweep tries it again")

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
