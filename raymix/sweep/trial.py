"""One Tune trial: train one planned run's proxy, hand its record to the aggregator.

What a trial needs comes in two typed pieces: the :class:`PlannedRun` (Tune's config of
the trial: run id, seed, size and mixture) and the sweep-wide :class:`TrialSettings`
(model sizes, training, where to report), plus the token arrays (:class:`ProxyData`),
which travel once through Ray's object store (``tune.with_parameters``) so that every
trial on a node reads the same zero-copy view.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray import tune

from raymix.config import ModelConfig, SweepConfig, TrainingConfig
from raymix.data import PreparedData
from raymix.data.shards import Shard, TokenShards
from raymix.runs import FAILED, Evaluation, RunRecord, SweepLayout
from raymix.training import ProxyData, ProxyDiverged, ProxyOutOfMemory, train_proxy
from raymix.training.loop import device_memory_gib
from raymix.training.memory import trial_memory_gb
from raymix.version import __version__

NAMESPACE = "raymix"  # the Ray namespace of every raymix actor


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep's plan: Tune's config of the trial that trains it."""

    run_id: str
    seed: int
    scale: str  # a proxy size by name (BASE_SCALE, or an entry of ``scales``)
    mixture: dict[str, float]

    def to_config(self) -> dict[str, Any]:
        """Tune's ``config`` of the trial (plain data: Tune logs and pickles it)."""
        return {"trial": dataclasses.asdict(self)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PlannedRun:
        return cls(**config["trial"])


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a sweep shares."""

    models: dict[str, ModelConfig]  # proxy size name -> model
    training: TrainingConfig  # the seed comes from each PlannedRun
    aggregator: str  # the aggregator actor's name, in NAMESPACE
    cpus_per_trial: float
    gpus_per_trial: float
    checkpoints: str | None = None  # keep each final model under this folder
    target_logprobs: bool = False  # record per-token target log-probs (MixMin)
    # the memory a trial gets (GiB), for micro_batch_size auto; None: a GPU trial takes
    # gpus_per_trial of its device's memory, a CPU trial the whole batch at once
    memory_gib: float | None = None

    @classmethod
    def of(cls, cfg: SweepConfig, aggregator: str) -> TrialSettings:
        training = cfg.training
        if training.init_from:  # trials run elsewhere: give them an absolute path
            training = dataclasses.replace(training,
                                           init_from=str(cfg.resolve(training.init_from)))
        checkpoints = (SweepLayout(cfg.storage_path).checkpoints if training.save_checkpoint
                       else None)
        return cls(models=cfg.scale_models(), training=training, aggregator=aggregator,
                   cpus_per_trial=cfg.compute.cpus_per_trial,
                   gpus_per_trial=cfg.compute.gpus_per_trial,
                   checkpoints=str(checkpoints) if checkpoints else None,
                   target_logprobs=cfg.mixtures.method == "per_domain",
                   memory_gib=_trial_memory(cfg))


def _trial_memory(cfg: SweepConfig) -> float | None:
    c = cfg.compute
    given = trial_memory_gb(c.gpus_per_trial, c.gpu_memory_gb, c.memory_per_trial_gb)
    return None if given is None else given[0]


def proxy_data(cfg: SweepConfig, prepared: PreparedData) -> ProxyData:
    """The token arrays every trial reads, loaded once for the object store."""
    valid = {d: np.asarray(prepared.valid(d)) for d in cfg.domain_names}
    if cfg.target.domains is not None:
        weights = dict(cfg.target.domains)
    else:
        valid[cfg.target.name] = np.asarray(prepared.target_valid())
        weights = {cfg.target.name: 1.0}
    return ProxyData(train={d: trial_tokens(prepared.train(d), cfg.data.read_in_place)
                            for d in cfg.domain_names},
                     valid=valid, target_name=cfg.target.name, target_weights=weights,
                     vocab_size=prepared.vocab_size)


def trial_tokens(tokens, read_in_place: str):
    """A domain's training tokens as trials get them (``data.read_in_place``): shards that
    travel as paths and are mapped where they lie (TokenShards), or an array that travels
    once through Ray's object store. ``auto``: a pre-tokenized source in place, raymix's own
    prepared array through the store."""
    if read_in_place == "false" or (read_in_place == "auto" and
                                    not isinstance(tokens, TokenShards)):
        return tokens[0:len(tokens)] if isinstance(tokens, TokenShards) else np.asarray(tokens)
    if isinstance(tokens, TokenShards):
        return tokens
    return TokenShards([Shard(tokens.filename, tokens.dtype.name, int(tokens.offset),
                              len(tokens))])


def proxy_trial(config: dict, data: ProxyData, settings: TrialSettings) -> None:
    """Tune function trainable: train one proxy, store its record, report to Tune.

    The record reaches the aggregator (and so the disk) before the trial's last
    ``tune.report``, so a trial Tune counts as finished never loses its result.
    """
    run = PlannedRun.from_config(config)
    training = dataclasses.replace(settings.training, seed=run.seed)
    aggregator = ray.get_actor(settings.aggregator, namespace=NAMESPACE)
    device = trial_device(settings.cpus_per_trial, settings.gpus_per_trial)
    memory = settings.memory_gib
    if memory is None and device.type == "cuda":  # this trial's share of its GPU
        memory = settings.gpus_per_trial * device_memory_gib(device)
    save_to = str(Path(settings.checkpoints) / run.run_id) if settings.checkpoints else None
    started = time.time()
    try:
        record = train_proxy(run.mixture, data, settings.models[run.scale], training,
                             device=device, on_eval=lambda row: tune.report(_metrics(row)),
                             save_to=save_to, target_logprobs=settings.target_logprobs,
                             memory_gib=memory)
    except (ProxyDiverged, ProxyOutOfMemory) as exc:
        # A diverged proxy is a result, not a crash: record it and do not retry. Nor a
        # proxy that ran out of GPU memory: a retry would run out again.
        record = RunRecord(status=FAILED, reason=str(exc), mixture=run.mixture, seed=run.seed,
                           target_name=data.target_name)
    record = dataclasses.replace(
        record, run_id=run.run_id, scale=run.scale, raymix_version=__version__,
        # where it ran, for an operator reading the records of a multi-node sweep
        node_id=ray.get_runtime_context().get_node_id(),
        gpu_ids=[str(g) for g in ray.get_gpu_ids()],
        wall_seconds=time.time() - started, finished_at=time.time())
    outcome = ray.get(aggregator.add.remote(record))
    final = record.final_target_loss
    tune.report({"run_id": run.run_id, "status": record.status, "stored": outcome.status,
                 "refused": outcome.reason or "", "final": True,
                 "target_loss": math.nan if final is None else final})


def trial_device(cpus: float, gpus: float):
    """The device a trial trains on, with its share of the machine set."""
    import torch

    torch.set_num_threads(max(1, int(cpus)))
    if gpus > 0 and torch.cuda.is_available():
        # Ray gives this trial a (share of a) GPU but does not fence its memory.
        torch.cuda.set_per_process_memory_fraction(min(1.0, gpus), 0)
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _metrics(row: Evaluation) -> dict:
    """An evaluation as Tune metrics (flat names)."""
    out = {"step": row.step, "tokens": row.tokens, "train_loss": row.train_loss,
           "target_loss": row.target_loss}
    out.update({f"loss/{k}": v for k, v in row.losses.items()})
    return out
