"""MLflow: one run per proxy run in the experiment ``tracking.mlflow.experiment`` (default:
the sweep's name), each a child (``mlflow.parentRunId``) of the run ``<sweep>-sweep``.

Credentials: a ``tracking_uri`` such as ``http://user:password@host:5000`` is used as
given to connect (and to probe, with HTTP Basic authentication), and shown or stored only
masked (``http://user:***@host:5000``, :mod:`raymix.secrets`), with a one-time note that
MLflow's own ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` keep the password
out of the config altogether.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shlex
import time
from pathlib import Path

from raymix.config import SweepConfig
from raymix.secrets import has_credentials, mask_uri
from raymix.tracking.base import SWEEP_RUN, Opening, Tracker
from raymix.tracking.failures import warn
from raymix.tracking.logged import SweepSummary

CREDENTIALS_NOTE = (
    "[sweep] tracking: tracking.mlflow.tracking_uri carries a password; raymix uses it to "
    "connect and shows and stores it masked ({uri}). To keep it out of the config, give it "
    "as MLflow's MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD environment "
    "variables (or MLFLOW_TRACKING_TOKEN) instead")
_NOTED: set[str] = set()  # the URIs whose credentials note was shown in this process


def opening(cfg: SweepConfig) -> Opening | None:
    """MLflow at ``tracking.mlflow.tracking_uri`` (a relative ``sqlite:///`` path starts at
    the YAML's folder), or None when the config names none."""
    m = cfg.tracking.mlflow
    if m is None:
        return None
    uri = m.tracking_uri.strip()
    if uri.startswith("sqlite:///") and not uri[len("sqlite:///"):].startswith("/"):
        uri = "sqlite:///" + str(cfg.resolve(uri[len("sqlite:///"):]))  # the YAML's folder
    if has_credentials(uri) and uri not in _NOTED:
        _NOTED.add(uri)
        warn(CREDENTIALS_NOTE.format(uri=mask_uri(uri)))
    return Opening(f"mlflow at {mask_uri(uri)}", uri if _is_server(uri) else None,
                   functools.partial(MlflowTracker, uri=uri,
                                     experiment=m.experiment or cfg.name, sweep=cfg.name))


class MlflowTracker(Tracker):
    """One MLflow run per proxy run, in the experiment ``tracking.mlflow.experiment``, each
    a child of the sweep run (``mlflow.parentRunId``)."""

    def __init__(self, where: str, uri: str, experiment: str, sweep: str):
        # stored in tracking.json: masked
        super().__init__(where, f"mlflow {mask_uri(uri)} experiment {experiment}")
        # a server that stops answering mid-sweep costs seconds, not minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.tracking import MlflowClient
        for name in ("mlflow", "alembic"):  # "creating tables...": not the sweep's news
            logging.getLogger(name).setLevel(logging.WARNING)

        self.uri, self.sweep = uri, sweep  # credentials and all: the client connects with it
        if uri.startswith("sqlite:///"):  # sqlite:///runs/mlflow.db: runs/ may be new
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment, artifact_location=_local_artifacts(uri, experiment))

    @property
    def view(self) -> str:
        """Where the runs are, and how to open them."""
        if _is_server(self.uri):
            return (f"MLflow at {self.uri} -- open in a browser: "
                    f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}")
        return (f"MLflow at {self.uri} -- open with: mlflow ui --backend-store-uri "
                f"{shlex.quote(self.uri)}")

    def sweep_run(self, known: str | None) -> str:
        if known and self._exists(known):
            self.parent = known
        else:
            self.parent = self.client.create_run(
                self.experiment_id, run_name=f"{self.sweep}-{SWEEP_RUN}",
                tags={"raymix.sweep": self.sweep, "raymix.kind": "sweep"}).info.run_id
        return self.parent

    def _start(self, run_id, known):
        if known and self._exists(known):
            self.client.update_run(known, status="RUNNING")
            held = {m.step for m in self.client.get_metric_history(known, "target_loss")}
            return known, known, held
        tags = {"raymix.run_id": run_id, "raymix.sweep": self.sweep, "raymix.kind": "proxy"}
        if self.parent:
            tags["mlflow.parentRunId"] = self.parent
        made = self.client.create_run(self.experiment_id, run_name=run_id, tags=tags)
        return made.info.run_id, made.info.run_id, set()

    def _log(self, handle, rows):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._batch(handle, [Metric(k, v, now, tokens) for tokens, row in rows
                             for k, v in row.items()], [])

    def _finish(self, handle, run):
        from mlflow.entities import Param

        self._batch(handle, [], [Param(k, str(v)) for k, v in run.params.items()])
        self.client.set_terminated(handle, status="FINISHED" if run.ok else "FAILED")

    def _close(self, handle):
        self.client.set_terminated(handle, status="KILLED")

    def close(self) -> None:
        super().close()
        if self.parent:  # the sweep's trials are over; log_sweep adds the fit's quality
            self.client.set_terminated(self.parent)

    def log_sweep(self, summary: SweepSummary, known: str | None) -> str:
        from mlflow.entities import Metric, Param

        run_id = self.sweep_run(known)
        now = int(time.time() * 1000)
        params = [Param(k, str(v)) for k, v in summary.params.items()]
        if self._has_params(run_id):  # a parameter once logged cannot change: a tag can
            self.client.set_tag(run_id, "raymix.proposal", json.dumps(summary.params)[:5000])
            params = []
        self._batch(run_id, [Metric(k, v, now, summary.step)
                             for k, v in summary.metrics.items()], params)
        self.client.log_artifact(run_id, str(summary.files["proposal"]))
        if "report" in summary.files:
            self.client.log_artifacts(run_id, str(summary.files["report"]), "report")
        self.client.set_terminated(run_id)
        return run_id

    def _exists(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except MlflowException:
            return False

    def _has_params(self, run_id: str) -> bool:
        return bool(self.client.get_run(run_id).data.params)

    def _batch(self, run_id: str, metrics: list, params: list) -> None:
        # MLflow takes at most 100 parameters and 1000 metrics in one call
        for i in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[i:i + 100])
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])


def _is_server(uri: str) -> bool:
    """An http(s) tracking URI: a server (probed first; its runs open in a browser)."""
    return uri.split("://")[0].lower() in ("http", "https")


def _local_artifacts(uri: str, experiment: str) -> str | None:
    """Beside a local SQLite database, not in the working directory (MLflow's default)."""
    if not uri.startswith("sqlite:///"):
        return None  # a server keeps its own artifacts
    return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts" / experiment).resolve().as_uri()
