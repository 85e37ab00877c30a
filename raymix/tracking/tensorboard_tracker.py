"""TensorBoard: event files in ``<storage>/tensorboard/<run>/`` per proxy run and
``.../sweep/`` for the sweep (tensorboardX; no server)."""

from __future__ import annotations

import functools
import shlex
import shutil
from pathlib import Path

from raymix.config import SweepConfig
from raymix.runs import SweepLayout
from raymix.storage import push_tree
from raymix.tracking.base import SWEEP_RUN, Opening, Tracker
from raymix.tracking.logged import SweepSummary


def opening(cfg: SweepConfig) -> Opening | None:
    """Event files under ``<compute.storage>/tensorboard``, or None when
    ``tracking.tensorboard`` is off."""
    if not cfg.tracking.tensorboard:
        return None
    folder = SweepLayout(cfg.storage_path).tensorboard
    return Opening(f"tensorboard in {folder}", None,
                   functools.partial(TensorBoardTracker, folder=folder))


class TensorBoardTracker(Tracker):
    """Event files: ``<storage>/tensorboard/<run>/`` per proxy run, ``.../sweep/`` for the
    sweep; each proxy run's mixture and final target loss in the HParams tab."""

    def __init__(self, where: str, folder: Path):
        super().__init__(where, f"tensorboard {folder}")
        from tensorboardX import SummaryWriter

        self.writer, self.folder = SummaryWriter, folder
        self.view = (f"TensorBoard in {folder} -- open with: tensorboard --logdir "
                     f"{shlex.quote(str(folder))}")

    def _start(self, run_id, known):
        if known:  # the events of a driver that died mid-run: this run replaces them
            shutil.rmtree(self.folder / run_id, ignore_errors=True)
        return self.writer(str(self.folder / run_id)), run_id, set()

    def _log(self, handle, rows):
        for tokens, row in rows:
            for key, value in row.items():
                handle.add_scalar(key, value, tokens)
        handle.flush()  # on disk now: TensorBoard shows the run while it trains

    def _finish(self, handle, run):
        if run.ok:
            handle.add_hparams(run.params, {"hparam/final_target_loss": run.final_target_loss},
                               name="hparams")
        handle.close()

    def _close(self, handle):
        handle.close()

    def log_sweep(self, summary: SweepSummary, known: str | None) -> str:
        with self.writer(str(self.folder / SWEEP_RUN)) as w:
            for key, value in summary.metrics.items():
                w.add_scalar(key, value, summary.step)
            w.add_text("proposal", "```\n" + summary.files["proposal"].read_text() + "\n```",
                       summary.step)
        push_tree(self.folder)  # storage on a URI: the event files go there too
        return SWEEP_RUN
