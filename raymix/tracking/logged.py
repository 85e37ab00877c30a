"""What every tracker logs: a proxy run (:class:`TrackedRun`, from its record or from a
trial's live ``"eval"`` results) and the sweep's end (:class:`SweepSummary`)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raymix.config.schema import split_slot
from raymix.runs import RunRecord
from raymix.runs.events import EVAL_EVENT
from raymix.secrets import mask_uri


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
            **{f"mixture.{column_key(d)}": float(record.mixture.get(d, 0.0)) for d in domains}}
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
            params[f"proposal.{column_key(domain)}"] = float(weight)
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


def column_key(column: str) -> str:
    """A mixture column as trackers take it in a key: a domain as is, a schedule's slot
    ``web@2`` as ``web/phase2`` (MLflow refuses ``@``)."""
    domain, phase = split_slot(column)
    return column if phase is None else f"{domain}/phase{phase}"


def _metric_name(name: str) -> str:
    """``name`` in the characters every tracker takes in a metric's name (MLflow's are the
    fewest: letters, digits, ``_ - . / :`` and spaces): ``ensemble(gp+ridge)`` ->
    ``ensemble_gp_ridge_``."""
    return re.sub(r"[^A-Za-z0-9_\-./: ]", "_", name)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)
