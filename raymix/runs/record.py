"""What a sweep stores: one record per proxy run, and what the runs were trained on.

A :class:`RunRecord` is the source of truth of a sweep: ``results/<run_id>.json`` holds
one, written by the aggregator before the run counts as done. Everything else in a
sweep directory (the CSV tables, the fits, the proposal) is made again from the records.
:class:`DataInfo` (``data.json``) says what the runs were trained on: the token prior and
counts, so that fitting and proposing need no token cache.

Both are written with ``schema_version``; records of an older raymix (without one) are
read as version 1, which had the same fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from raymix.config import BASE_SCALE
from raymix.errors import UserError
from raymix.runs.tables import MAX_LOSS

SCHEMA_VERSION = 1
OK, FAILED = "ok", "failed"


def _checked_version(data: dict[str, Any], what: str) -> None:
    version = data.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise UserError(f"{what} was written by a newer raymix (schema version {version}, this "
                        f"one reads up to {SCHEMA_VERSION}); upgrade raymix to read it",
                        field="storage")


@dataclass
class Evaluation:
    """The losses at one evaluation step of a proxy run."""

    step: int
    tokens: int  # training tokens seen by then
    train_loss: float  # of the step's batch
    losses: dict[str, float]  # mean per-token loss on each validation set
    target_loss: float  # the target: a corpus's loss, or a weighting of the domains'


@dataclass(kw_only=True)
class RunRecord:
    """One proxy run: what it trained on, every evaluation, and how it ran.

    :func:`raymix.training.train_proxy` returns the training part; a sweep's trial adds
    the run id, the size's name and where it ran. A failed run (``status`` "failed")
    has a ``reason`` and no evaluations.
    """

    run_id: str = ""  # the sweep's name for the run (plan.csv)
    status: str = OK  # "ok" or "failed"
    reason: str | None = None  # why a failed run failed
    mixture: dict[str, float]  # domain -> weight, weights > 0 only
    seed: int
    scale: str = BASE_SCALE  # which proxy size (``model``, or an entry of ``scales``)
    target_name: str | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    final_train_loss: float | None = None
    tokens_seen: int | None = None
    params: int | None = None
    non_embedding_params: int | None = None
    train_seconds: float | None = None
    device: str | None = None
    # continual pretraining: the starting checkpoint's losses, before any step
    initial_losses: dict[str, float] | None = None
    initial_target_loss: float | None = None
    # how the steps ran: sequences per micro-batch, the loss (fused/chunked/plain), whether
    # compiled and the first step's seconds (compilation included), training tokens per
    # second after the first step (evaluations left out), share of it spent waiting for data
    micro_batch_size: int | None = None
    loss: str | None = None
    compiled: bool | None = None
    compile_seconds: float | None = None
    tokens_per_second: float | None = None
    data_wait_fraction: float | None = None
    # how many proxies trained together as one stacked model (compute.models_per_trial);
    # left out for a proxy trained alone
    group_size: int | None = None
    # MixMin: the final model's log-probability of each target token (6 decimals)
    target_logprobs: list[float] | None = None
    # a run of an earlier sweep kept by mixtures.reuse: "<its storage>:<its run id>"
    reused_from: str | None = None
    # where and when it ran (a sweep's trial)
    raymix_version: str | None = None
    node_id: str | None = None
    gpu_ids: list[str] | None = None
    wall_seconds: float | None = None
    finished_at: float | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def final_target_loss(self) -> float | None:
        """The target loss at the last evaluation (None for a failed run)."""
        return self.evaluations[-1].target_loss if self.evaluations else None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data; fields that do not apply (None) are left out."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """A record from its JSON data (older versions' records too)."""
        _checked_version(data, f"the record of run {data.get('run_id')!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["evaluations"] = [Evaluation(**e) for e in data.get("evaluations", [])]
        values.setdefault("seed", 0)
        return cls(**values)


def record_problem(record: RunRecord) -> str | None:
    """What makes a stored record one no fit may read, or None: a weight that is not a
    number >= 0, a loss that is not finite or beyond :data:`~raymix.runs.tables.MAX_LOSS`
    (a trial stores finite losses only: a diverged run is a failed record), a token count
    that is not a positive number."""
    if not isinstance(record.mixture, dict):
        return "its mixture is not a mapping of domains to weights"
    for domain, weight in record.mixture.items():
        if not _number(weight) or not 0 <= weight <= 1:
            return f"the weight of domain {domain!r} is {_shown(weight)}, not a number in [0, 1]"
    for ev in record.evaluations:
        if not isinstance(ev.losses, dict):
            return f"its losses at step {ev.step!r} are not a mapping of names to losses"
        if not _number(ev.tokens) or ev.tokens <= 0:
            return f"its tokens at step {ev.step!r} are {_shown(ev.tokens)}, not a positive number"
        for name, loss in (("target", ev.target_loss), ("train", ev.train_loss),
                           *ev.losses.items()):
            if not _number(loss) or abs(loss) > MAX_LOSS:
                return (f"its {name} loss at step {ev.step!r} is {_shown(loss)}, not a finite "
                        f"loss within +-{MAX_LOSS:g}")
    return None


def _number(value: Any) -> bool:
    """A finite int or float (JSON's true and false are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _shown(value: Any) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."


@dataclass(kw_only=True)
class DataInfo:
    """What a sweep's runs were trained on (``data.json``)."""

    prior: dict[str, float]  # each domain's share of the prepared training tokens
    train_tokens: dict[str, int]  # each domain's prepared training tokens
    tokens_per_run: int  # training tokens of one base-size proxy
    non_embedding_params: dict[str, int]  # of each proxy size, by name
    prepared: str  # the prepared folder's name: its key changes with the data
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataInfo:
        _checked_version(data, "data.json")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
