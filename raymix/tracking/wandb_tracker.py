"""Weights & Biases: one run per proxy run (job type ``proxy``) in the group ``<sweep>``,
and the sweep's run (job type ``sweep``) made at the sweep's end."""

from __future__ import annotations

import functools
import os
import shlex
from pathlib import Path

from raymix.config import SweepConfig
from raymix.tracking.base import SWEEP_RUN, Opening, Tracker
from raymix.tracking.logged import SweepSummary

WANDB_URL = "https://api.wandb.ai"  # W&B's server, unless WANDB_BASE_URL names another


def opening(cfg: SweepConfig) -> Opening | None:
    """W&B's ``tracking.wandb.project``, or None when the config names none or its mode is
    ``disabled`` (``tracking.wandb.mode``, else ``WANDB_MODE``); online, W&B's server is
    probed first."""
    w = cfg.tracking.wandb
    if w is None:
        return None
    mode = w.mode or os.environ.get("WANDB_MODE", "online")
    if mode == "disabled":
        return None
    server = os.environ.get("WANDB_BASE_URL", WANDB_URL) if mode == "online" else None
    folder = cfg.resolve(w.dir) if w.dir else cfg.storage_path
    return Opening(f"wandb project {w.project}", server, functools.partial(
        WandbTracker, project=w.project, entity=w.entity, mode=mode, folder=folder,
        sweep=cfg.name))


class WandbTracker(Tracker):
    """One W&B run per proxy run (job type ``proxy``), grouped by the sweep's name; the
    sweep run (job type ``sweep``) is made at the sweep's end."""

    def __init__(self, where: str, project: str, entity: str | None, mode: str,
                 folder: Path, sweep: str):
        super().__init__(where, f"wandb {entity or ''}/{project} in {folder}")
        import wandb

        self.wandb, self.sweep = wandb, sweep
        self.init = dict(project=project, entity=entity, mode=mode, dir=str(folder),
                         group=sweep, reinit="create_new",
                         settings=wandb.Settings(silent=True, console="off"))
        folder.mkdir(parents=True, exist_ok=True)
        if mode == "offline":
            runs = shlex.quote(str(folder / "wandb"))
            self.view = f"W&B offline runs in {runs} -- open with: wandb sync {runs}/offline-run-*"
        else:
            base = os.environ.get("WANDB_BASE_URL", WANDB_URL).rstrip("/")
            app = "https://wandb.ai" if base == WANDB_URL else base
            self.view = (f"W&B project {project} -- open in a browser: "
                         f"{app}/{entity or '<your-entity>'}/{project}")

    def _start(self, run_id, known):
        resume = dict(id=known, resume="allow") if known else {}
        made = self.wandb.init(name=run_id, job_type="proxy", **resume, **self.init)
        return made, made.id, set()

    def _log(self, handle, rows):
        for tokens, row in rows:
            handle.log(row, step=tokens)

    def _finish(self, handle, run):
        handle.config.update(run.params, allow_val_change=True)
        handle.tags = (*handle.tags, str(run.params["scale"]))
        handle.finish(exit_code=0 if run.ok else 1)

    def _close(self, handle):
        handle.finish(exit_code=1)

    def log_sweep(self, summary: SweepSummary, known: str | None) -> str:
        resume = dict(id=known, resume="allow") if known else {}
        made = self.wandb.init(name=f"{self.sweep}-{SWEEP_RUN}", job_type="sweep",
                               config=summary.params, **resume, **self.init)
        made.log(summary.metrics)
        made.summary.update(summary.metrics)
        artifact = self.wandb.Artifact(f"{self.sweep}-proposal", type="proposal")
        artifact.add_file(str(summary.files["proposal"]))
        if "report" in summary.files:
            artifact.add_dir(str(summary.files["report"]), name="report")
        made.log_artifact(artifact)
        made.finish()
        return made.id
