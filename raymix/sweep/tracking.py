"""Experiment trackers: MLflow, Weights & Biases and TensorBoard (the ``tracking:`` section).

What a user sees in a tracker is one tracker run per **proxy run**, not per Tune trial:
a trial may train a stacked group of runs (``compute.models_per_trial``), each with its
own mixture. Each proxy run's tracker run holds

- parameters: ``run_id``, ``scale``, ``seed``, ``group_size`` (1 for a proxy trained
  alone), ``status``, and one ``mixture.<domain>`` weight per domain (0 where unused);
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

``tracking.json`` in the sweep directory is the truth of what each tracker destination
holds: the runs fully logged (never logged again), the sweep run's id, and the runs open
now (``open``: run -> tracker run id). A run left open by a driver that died is taken up
again on the next run of the sweep, not made twice: MLflow reuses its run (the steps it
holds are not logged again), W&B resumes it (``id`` + ``resume="allow"``), TensorBoard
replaces its folder.

A tracker that fails (a server that cannot be reached, an error of its client) is one
warning line on stderr, and the sweep goes on without it, storing results as before.
An http(s) server is probed once, before the sweep starts.

Credentials: a ``tracking_uri`` such as ``http://user:password@host:5000`` is used as
given to connect (and to probe, with HTTP Basic authentication), and shown or stored
only masked (``http://user:***@host:5000``, :mod:`raymix.secrets`), with a one-time note
that MLflow's own ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` keep the
password out of the config altogether.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from raymix.config import SweepConfig
from raymix.files import atomic_write_text
from raymix.runs import RunRecord, SweepLayout
from raymix.secrets import has_credentials, mask_uri
from raymix.storage import push_tree
from raymix.sweep.progress import print_line
from raymix.sweep.trial import EVAL_EVENT

PROBE_SECONDS = 3.0  # how long an http(s) tracking server may take to answer the probe
WANDB_URL = "https://api.wandb.ai"  # W&B's server, unless WANDB_BASE_URL names another
SWEEP_RUN = "sweep"  # the sweep-level tracker run's name suffix (and TensorBoard folder)
# destinations that failed in this process: warned once, skipped from then on
_FAILED: dict[str, str] = {}
CREDENTIALS_NOTE = (
    "[sweep] tracking: tracking.mlflow.tracking_uri carries a password; raymix uses it to "
    "connect and shows and stores it masked ({uri}). To keep it out of the config, give it "
    "as MLflow's MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD environment "
    "variables (or MLFLOW_TRACKING_TOKEN) instead")
_NOTED: set[str] = set()  # the URIs whose credentials note was shown in this process


def warn(line: str) -> None:
    """One warning line on stderr (any secret in a URI masked), above a progress bar."""
    print_line(mask_uri(line), file=sys.stderr)


# ----------------------------------------------------------------------------- what is logged


@dataclass
class TrackedRun:
    """One proxy run as every tracker logs it."""

    name: str  # the run id
    params: dict[str, Any]
    history: list[tuple[int, dict[str, float]]]  # (training tokens, metrics) per evaluation
    ok: bool

    @classmethod
    def of(cls, record: RunRecord, domains: list[str]) -> TrackedRun:
        params: dict[str, Any] = {
            "run_id": record.run_id, "scale": record.scale, "seed": record.seed,
            "group_size": record.group_size or 1, "status": record.status,
            **{f"mixture.{d}": float(record.mixture.get(d, 0.0)) for d in domains}}
        if record.reason:
            params["reason"] = mask_uri(record.reason)[:250]  # never a secret as a parameter
        history = [(int(e.tokens), metrics_row(e.step, e.target_loss, e.train_loss, e.losses))
                   for e in record.evaluations]
        return cls(record.run_id, params, history, record.ok)

    @property
    def final_target_loss(self) -> float | None:
        return self.history[-1][1]["target_loss"] if self.history else None


def metrics_row(step: int, target_loss: float, train_loss: float,
                losses: dict[str, float]) -> dict[str, float]:
    """One evaluation as a tracker's metrics: ``target_loss``, ``train_loss``,
    ``train_step`` and ``loss/<set>`` (the same from a stored record and a live result)."""
    metrics = {"target_loss": target_loss, "train_loss": train_loss, "train_step": step,
               **{f"loss/{_metric_name(k)}": v for k, v in losses.items()}}
    return {k: float(v) for k, v in metrics.items()}


def eval_row(result: dict) -> tuple[str, int, dict[str, float]] | None:
    """(run id, training tokens, metrics) of a trial's ``"eval"`` result; None for any
    other result, or one that lacks a field (results of an older trial)."""
    if result.get("event") != EVAL_EVENT:
        return None
    try:
        losses = {k[len("loss/"):]: v for k, v in result.items() if k.startswith("loss/")}
        return str(result["run_id"]), int(result["tokens"]), metrics_row(
            int(result["step"]), result["target_loss"], result["train_loss"], losses)
    except (KeyError, TypeError, ValueError):
        return None


def _uncertainty_metrics(u: Any) -> dict[str, float]:
    """The bootstrap's interval, P(beats each baseline) and weight shift, as metrics."""
    if not isinstance(u, dict):  # none, or the old proposal.json's words
        return {}
    values = {"uncertainty/interval_low": u["interval"][0],
              "uncertainty/interval_high": u["interval"][1],
              "uncertainty/run_interval_low": u["run_interval"][0],
              "uncertainty/run_interval_high": u["run_interval"][1],
              "uncertainty/mean_distance": u["mean_distance"], "uncertainty/refits": u["refits"],
              **{f"uncertainty/p_beats_{name}": p for name, p in u["p_beats"].items()}}
    return {k: float(v) for k, v in values.items() if _number(v)}


@dataclass
class SweepSummary:
    """What the sweep-level tracker run logs."""

    metrics: dict[str, float]  # the fit's cross-validated quality, the prediction
    params: dict[str, Any]  # the regressor, the proposed mixture
    step: int  # the runs the fit saw: a resumed sweep logs its quality again, further on
    files: dict[str, Path]  # proposal.json (or mixmin.json) and the report folder

    @classmethod
    def of(cls, proposal_path: Path, report: Path | None) -> SweepSummary:
        proposal = json.loads(Path(proposal_path).read_text())
        metrics, params = {}, {}
        regressor = proposal.get("regressor") or {}
        for key, value in regressor.items():
            if _number(value):
                metrics[f"fit/{key}"] = float(value)
        if "name" in regressor:
            params["regressor"] = regressor["name"]
        for name, scores in (proposal.get("regressors") or {}).items():
            short = regressor_name(name)
            if short != name:  # renamed (an ensemble): what it is
                params[f"fit.{short}"] = name
            for key, value in scores.items():
                if _number(value):
                    metrics[f"fit/{short}/{key}"] = float(value)
        for key in ("predicted_target_loss", "predicted_std"):
            if _number(proposal.get(key)):
                metrics[key] = float(proposal[key])
        measured = (proposal.get("confirmation") or {}).get("measured")
        if _number(measured):
            metrics["confirmed_target_loss"] = float(measured)
        noise = (proposal.get("noise_floor") or {}).get("std")
        if _number(noise):
            metrics["noise_std"] = float(noise)
        metrics.update(_uncertainty_metrics(proposal.get("uncertainty")))
        for domain, weight in (proposal.get("mixture") or {}).items():
            params[f"proposal.{domain}"] = float(weight)
        files = {"proposal": Path(proposal_path)}
        if report is not None and Path(report).is_dir():
            files["report"] = Path(report)
        return cls(metrics, params, int(proposal.get("n_runs") or 0), files)


def regressor_name(name: str) -> str:
    """A regressor's short, stable name in metric names: an average of the best ``k``
    (``ensemble(gp+loglinear+ridge)``) is ``ensemble_top3`` whichever they are; a single
    regressor keeps its name (``mixing_law``)."""
    if name.startswith("ensemble(") and name.endswith(")"):
        return f"ensemble_top{len(name[len('ensemble('):-1].split('+'))}"
    return _metric_name(name)


def _metric_name(name: str) -> str:
    """``name`` in the characters every tracker takes in a metric's name (MLflow's are the
    fewest: letters, digits, ``_ - . / :`` and spaces): ``ensemble(gp+ridge)`` ->
    ``ensemble_gp_ridge_``."""
    return re.sub(r"[^A-Za-z0-9_\-./: ]", "_", name)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


# ----------------------------------------------------------------------------- the trackers


@functools.cache
def unreachable(url: str) -> str | None:
    """Why the http(s) server at ``url`` gave no answer within :data:`PROBE_SECONDS`, or
    None when it answered (any HTTP status is an answer). Probed once per process.

    Credentials in ``url`` (``http://user:password@host``) are sent as HTTP Basic
    authentication, not as part of the address; the reason never repeats them.
    """
    import urllib.error
    import urllib.request

    try:
        request = _request(url)
        urllib.request.urlopen(request, timeout=PROBE_SECONDS).close()
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        return mask_uri(str(exc.reason))
    except (OSError, ValueError) as exc:
        return mask_uri(str(exc)) or type(exc).__name__
    return None


def _request(url: str):
    """A GET of ``url`` with its user part moved into an Authorization header."""
    import base64
    import urllib.request
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return urllib.request.Request(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urllib.request.Request(urlunsplit(parts._replace(netloc=host)),
                                  headers={"Authorization": f"Basic {token}"})


class _Tracker:
    """What the three trackers share: the proxy runs open in them now, and the steps each
    holds (a step is logged once per run, whether it came live or from the record).

    A tracker class makes, logs to and ends one run through ``_start`` (the run's handle,
    its id for the ledger, the steps it holds already), ``_log``, ``_finish`` (parameters,
    status; its handle closed) and ``_close`` (a run left unfinished).
    """

    def __init__(self):
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

    def close(self) -> None:
        """End the runs still open (their trials failed for good, or the experiment
        stopped): unfinished, and kept in the ledger's ``open`` for a re-run."""
        while self.live:
            run_id, handle = self.live.popitem()
            self.steps.pop(run_id, None)
            self._close(handle)


class _Mlflow(_Tracker):
    """One MLflow run per proxy run, in the experiment ``tracking.mlflow.experiment``, each
    a child of the sweep run (``mlflow.parentRunId``)."""

    def __init__(self, uri: str, experiment: str, sweep: str):
        super().__init__()
        # a server that stops answering mid-sweep costs seconds, not minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.tracking import MlflowClient
        for name in ("mlflow", "alembic"):  # "creating tables...": not the sweep's news
            logging.getLogger(name).setLevel(logging.WARNING)

        self.uri, self.sweep = uri, sweep  # credentials and all: the client connects with it
        # stored in tracking.json: masked
        self.destination = f"mlflow {mask_uri(uri)} experiment {experiment}"
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


class _Wandb(_Tracker):
    """One W&B run per proxy run (job type ``proxy``), grouped by the sweep's name; the
    sweep run (job type ``sweep``) is made at the sweep's end."""

    def __init__(self, project: str, entity: str | None, mode: str, folder: Path,
                 sweep: str):
        super().__init__()
        import wandb

        self.wandb, self.sweep = wandb, sweep
        self.init = dict(project=project, entity=entity, mode=mode, dir=str(folder),
                         group=sweep, reinit="create_new",
                         settings=wandb.Settings(silent=True, console="off"))
        folder.mkdir(parents=True, exist_ok=True)
        self.destination = f"wandb {entity or ''}/{project} in {folder}"
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


class _TensorBoard(_Tracker):
    """Event files: ``<storage>/tensorboard/<run>/`` per proxy run, ``.../sweep/`` for the
    sweep; each proxy run's mixture and final target loss in the HParams tab."""

    def __init__(self, folder: Path):
        super().__init__()
        from tensorboardX import SummaryWriter

        self.writer, self.folder = SummaryWriter, folder
        self.destination = f"tensorboard {folder}"
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
        return SWEEP_RUN


# ----------------------------------------------------------------------------- which runs


class Ledger:
    """``tracking.json``: per tracker destination, the runs it holds in full (``runs``),
    its sweep run (``sweep_run``) and the runs open in it now (``open``: run -> tracker
    run id, until the run is finished)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def runs(self, destination: str) -> set[str]:
        return set(self.data.get(destination, {}).get("runs", []))

    def sweep_run(self, destination: str) -> str | None:
        return self.data.get(destination, {}).get("sweep_run")

    def opened(self, destination: str, run_id: str) -> str | None:
        """The tracker run id of ``run_id`` when it was opened but never finished."""
        return self.data.get(destination, {}).get("open", {}).get(run_id)

    def add(self, destination: str, run_id: str | None = None, sweep_run: str | None = None,
            opened: tuple[str, str] | None = None):
        """Note ``run_id`` as held in full, the ``sweep_run``, or ``opened`` = (run id,
        tracker run id) as open; written to disk at once."""
        entry = self.data.setdefault(destination, {"runs": []})
        if run_id is not None:
            entry["runs"].append(run_id)
            entry.get("open", {}).pop(run_id, None)
        if sweep_run is not None:
            entry["sweep_run"] = sweep_run
        if opened is not None:
            entry.setdefault("open", {})[opened[0]] = opened[1]
        atomic_write_text(self.path, json.dumps(self.data, indent=1))


def _open(cfg: SweepConfig) -> list:
    """The trackers ``cfg`` asks for that can be reached; one warning for each that cannot."""
    t, storage = cfg.tracking, cfg.storage_path
    wanted = []
    if t.mlflow is not None:
        uri = t.mlflow.tracking_uri.strip()
        if uri.startswith("sqlite:///") and not uri[len("sqlite:///"):].startswith("/"):
            uri = "sqlite:///" + str(cfg.resolve(uri[len("sqlite:///"):]))  # the YAML's folder
        where = f"mlflow at {mask_uri(uri)}"
        if has_credentials(uri) and uri not in _NOTED:
            _NOTED.add(uri)
            warn(CREDENTIALS_NOTE.format(uri=mask_uri(uri)))
        server = uri if _is_server(uri) else None
        wanted.append((where, server, functools.partial(
            _Mlflow, uri, t.mlflow.experiment or cfg.name, cfg.name)))
    if t.wandb is not None:
        w = t.wandb
        mode = w.mode or os.environ.get("WANDB_MODE", "online")
        if mode != "disabled":
            server = os.environ.get("WANDB_BASE_URL", WANDB_URL) if mode == "online" else None
            folder = cfg.resolve(w.dir) if w.dir else storage
            wanted.append((f"wandb project {w.project}", server, functools.partial(
                _Wandb, w.project, w.entity, mode, folder, cfg.name)))
    if t.tensorboard:
        folder = SweepLayout(storage).tensorboard
        wanted.append((f"tensorboard in {folder}", None,
                       functools.partial(_TensorBoard, folder)))
    opened, ledger = [], Ledger(SweepLayout(storage).tracking)
    for where, server, make in wanted:
        if where in _FAILED:
            continue
        why = unreachable(server) if server else None
        if why is not None:
            _fail(where, f"unreachable ({why})")
            continue
        try:
            tracker = make()
            known = ledger.sweep_run(tracker.destination)
            made = tracker.sweep_run(known)  # MLflow: the parent of every proxy run, now
            if made is not None and made != known:
                ledger.add(tracker.destination, sweep_run=made)
        except Exception as exc:  # a tracker's own error, whatever it is
            _fail(where, f"failed ({_reason(exc)})")
            continue
        tracker.where = where  # how warnings name it
        opened.append(tracker)
    return opened


def _fail(where: str, what: str) -> None:
    if where not in _FAILED:
        _FAILED[where] = what
        warn(f"[sweep] tracking: {where} {what}; the sweep goes on without it")


def _reason(exc: Exception) -> str:
    text = mask_uri(" ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class RunTracker(tune.Callback):
    """Logs the sweep's proxy runs to the trackers as they train (a Tune callback).

    A run's first ``"eval"`` result opens its tracker run (noted in the ledger's
    ``open``), each one logs its metrics at once; a completed trial's stored records
    finish its runs (:meth:`log_runs`). Make it with :func:`open_tracker`. Tune pickles its
    callbacks with the experiment: the trackers' clients and open runs are left out and
    opened again where needed. A tracker's error is one warning, and the sweep goes on
    without that tracker.
    """

    def __init__(self, cfg: SweepConfig, trackers: list):
        self.cfg, self._trackers = cfg, trackers
        self.layout = SweepLayout(cfg.storage_path)

    def __getstate__(self):
        return {"cfg": self.cfg, "_trackers": None, "layout": self.layout}

    @property
    def trackers(self) -> list:
        if self._trackers is None:
            self._trackers = _open(self.cfg)
        return [t for t in self._trackers if t.where not in _FAILED]

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
                _fail(tracker.where, f"failed ({_reason(exc)})")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.log_runs([run["run_id"] for run in trial.config.get("runs", [])])

    def on_experiment_end(self, trials, **info):
        for tracker in self.trackers:  # runs whose trials failed for good stay unfinished
            try:
                tracker.close()
            except Exception as exc:
                _fail(tracker.where, f"failed ({_reason(exc)})")

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
                    tracker.log_run(TrackedRun.of(record, self.cfg.domain_names),
                                    ledger.opened(tracker.destination, run_id))
                except Exception as exc:  # never the sweep's failure
                    _fail(tracker.where, f"failed ({_reason(exc)})")
                    break
                ledger.add(tracker.destination, run_id=run_id)
                written += 1
        return written


def open_tracker(cfg: SweepConfig) -> RunTracker | None:
    """The sweep's tracker callback, or None when ``tracking:`` is off (or every tracker
    it names failed: each is one warning line)."""
    if not cfg.tracking.enabled:
        return None
    trackers = _open(cfg)
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
            _fail(t.where, f"failed ({_reason(exc)})")
            continue
        ledger.add(t.destination, sweep_run=run_id)
    if cfg.tracking.tensorboard:
        push_tree(layout.tensorboard)  # storage on a URI: the event files go there too
