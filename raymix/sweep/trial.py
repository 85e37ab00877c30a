"""One Tune trial: train one planned run's proxy (or a group of them), hand each record to
the aggregator.

What a trial needs comes in two typed pieces: the :class:`PlannedTrial` (Tune's config of
the trial: its :class:`PlannedRun` s, each a run id, seed, size and mixture; more than one
train together as one stacked model, ``compute.models_per_trial``) and the sweep-wide
:class:`TrialSettings`
(model sizes, training, where to report), plus the token arrays (:class:`ProxyData`),
which travel once through Ray's object store (``tune.with_parameters``) so that every
trial on a node reads the same zero-copy view.

What a trial tells Tune, while it trains, is one of three results, told apart by their
``"event"`` (the driver's callbacks read them; a result without one is not raymix's):

- ``"eval"``: one proxy's evaluation the moment it is made (a group of 8 sends 8 at each
  evaluation step): ``run_id``, ``step``, ``steps`` (the run's total), ``tokens``,
  ``train_loss``, ``target_loss`` and ``loss/<name>`` of each validation set (:func:`_metrics`);
- ``"progress"``: a heartbeat between evaluations, at most every ``progress_seconds``
  (:class:`~raymix.training.loop.Progress`: ``step``, ``steps``, ``models`` still
  training, ``tokens_per_s`` of them all together);
- ``"final"``: the trial's last result, once every record is stored (:func:`_final_report`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
from ray import tune

from raymix.config import ModelConfig, SweepConfig, TrainingConfig, task_key
from raymix.data import PreparedData
from raymix.data.shards import Shard, TokenShards
from raymix.data.tasks import read_tasks, task_windows
from raymix.runs import FAILED, OK, Evaluation, RunRecord, SweepLayout
from raymix.runs.events import EVAL_EVENT, FINAL_EVENT, PROGRESS_EVENT
from raymix.storage import refresh
from raymix.sweep.planned import DUPLICATE, NAMESPACE, REFUSED, STORED, PlannedRun, PlannedTrial
from raymix.training import ProxyData, ProxyDiverged, ProxyOutOfMemory, loop, train_proxy
from raymix.training.group import cohorts, load_state, state_key, train_group
from raymix.training.loop import Progress, device_memory_gib
from raymix.training.memory import trial_memory_gb
from raymix.training.tasks import TaskWindows
from raymix.version import __version__


def group_trials(runs: list[PlannedRun], size: int) -> list[PlannedTrial]:
    """The trials that train ``runs``: groups of at most ``size`` runs of one proxy size, in
    plan order, as even as can be (52 runs in groups of 16 make 4 trials of 13)."""
    trials = []
    for scale in dict.fromkeys(run.scale for run in runs):
        same = [run for run in runs if run.scale == scale]
        count = math.ceil(len(same) / size)
        bounds = np.linspace(0, len(same), count + 1).round().astype(int)
        trials += [PlannedTrial(tuple(same[a:b])) for a, b in zip(bounds, bounds[1:])]
    return trials


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a sweep shares."""

    models: dict[str, ModelConfig]  # proxy size name -> model
    training: TrainingConfig  # the seed comes from each PlannedRun
    aggregator: str  # the aggregator actor's name, in NAMESPACE
    cpus_per_trial: float
    gpus_per_trial: float
    checkpoints: str | None = None  # keep each final model under this folder
    # the sweep directory: a group's unfinished runs keep their states there (resume/)
    sweep_dir: str | None = None
    target_logprobs: bool = False  # record per-token target log-probs (MixMin)
    # the memory a trial gets (GiB), for micro_batch_size auto; None: a GPU trial takes
    # gpus_per_trial of its device's memory, a CPU trial the whole batch at once
    memory_gib: float | None = None
    # at most how often (seconds) a trial reports its progress between evaluations; None:
    # the training loop's PROGRESS_SECONDS
    progress_seconds: float | None = None

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
                   sweep_dir=str(cfg.storage_path),
                   target_logprobs=cfg.mixtures.draw == "per_domain",
                   memory_gib=_trial_memory(cfg),
                   # the driver's: a test shortens it for the sweep's trials
                   progress_seconds=loop.PROGRESS_SECONDS)


def _trial_memory(cfg: SweepConfig) -> float | None:
    c = cfg.compute
    given = trial_memory_gb(c.gpus_per_trial, c.gpu_memory_gb, c.memory_per_trial_gb)
    return None if given is None else given[0]


def proxy_data(cfg: SweepConfig, prepared: PreparedData, tasks: tuple | None = None
               ) -> ProxyData:
    """The token arrays every trial reads, loaded once for the object store; a task
    target's items tokenized into windows here, on the driver (``tasks``: those of
    :func:`task_data`, where already made)."""
    valid = {d: np.asarray(prepared.valid(d)) for d in cfg.domain_names}
    tasks, families = tasks or task_data(cfg, prepared)
    if cfg.target.domains is not None:
        weights = dict(cfg.target.domains)
    elif cfg.target.tasks is not None:
        weights = {task_key(task.name): task.weight for task in cfg.target.tasks}
    else:
        valid[cfg.target.name] = np.asarray(prepared.target_valid())
        weights = {cfg.target.name: 1.0}
    return ProxyData(train={d: trial_tokens(prepared.train(d), cfg.data.read_in_place)
                            for d in cfg.domain_names},
                     valid=valid, target_name=cfg.target.name, target_weights=weights,
                     vocab_size=prepared.vocab_size, tasks=tasks, families=families)


def task_data(cfg: SweepConfig, prepared: PreparedData) -> tuple[dict[str, TaskWindows],
                                                                 dict[str, dict[str, float]]]:
    """A task target's windows by task, and each family's tasks and weights (both empty
    without tasks). A sweep calls this before writing anything: it refuses a continuation
    longer than a window."""
    tasks: dict[str, TaskWindows] = {}
    families: dict[str, dict[str, float]] = {}
    items = read_tasks(cfg)
    for i, task in enumerate(cfg.target.tasks or []):
        tasks[task.name] = TaskWindows(**task_windows(
            items[task.name], prepared.tokenizer(), cfg.model.seq_len,
            f"target.tasks[{i}].path"))
        families.setdefault(task.family_name, {})[task.name] = task.weight
    return tasks, families


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
    """Tune function trainable: train the trial's proxies, store their records, report to Tune.

    Every record reaches the aggregator (and so the disk) before the trial's last
    ``tune.report``, so a trial Tune counts as finished never loses a result. A group
    stores each run's record as soon as that run is done and keeps each unfinished run's
    state at every evaluation (``resume/<run>.safetensors``): retried after its trial died, it
    trains only its runs that have no stored record, each from its last state.
    """
    planned = PlannedTrial.from_config(config)
    aggregator = ray.get_actor(settings.aggregator, namespace=NAMESPACE)
    runs = list(planned.runs)
    states = _ResumeStates(settings.sweep_dir if len(runs) > 1 else None)
    if len(runs) > 1:
        stored = set(ray.get(aggregator.run_ids.remote()))
        for run in runs:  # a trial that died between storing a record and dropping its state
            if run.run_id in stored:
                states.drop(run.run_id)
        runs = [run for run in runs if run.run_id not in stored]
    device = trial_device(settings.cpus_per_trial, settings.gpus_per_trial)
    memory = settings.memory_gib
    if memory is None and device.type == "cuda":  # this trial's share of its GPU
        memory = settings.gpus_per_trial * device_memory_gib(device)
    started = time.time()
    # where it ran, for an operator reading the records of a multi-node sweep
    where = {"node_id": ray.get_runtime_context().get_node_id(),
             "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}
    outcomes = []

    def store(run: PlannedRun, record: RunRecord) -> None:
        """Hand ``run``'s record to the aggregator now; drop its state once it is stored."""
        record = dataclasses.replace(
            record, run_id=run.run_id, scale=run.scale, raymix_version=__version__, **where,
            wall_seconds=time.time() - started, finished_at=time.time())
        outcome = ray.get(aggregator.add.remote(record))
        outcomes.append((record, outcome))
        if outcome.status != REFUSED:
            states.drop(run.run_id)

    resumed_from = 0
    if len(planned.runs) == 1:
        store(runs[0], _train_alone(runs[0], data, settings, device, memory))
    elif runs:  # a group, even of the one run left: it resumes from its state
        resumed_from = _train_together(runs, data, settings, device, memory, states, store)
    tune.report(_final_report(planned, outcomes, resumed_from))


def _train_alone(run: PlannedRun, data: ProxyData, settings: TrialSettings, device,
                 memory: float | None) -> RunRecord:
    """One proxy, reporting each evaluation to Tune as it is made, and its progress between."""
    training = dataclasses.replace(settings.training, seed=run.seed)
    save_to = str(Path(settings.checkpoints) / run.run_id) if settings.checkpoints else None
    try:
        return train_proxy(run.mixture, data, settings.models[run.scale], training,
                           device=device,
                           on_eval=lambda row: tune.report(_metrics(row, run.run_id,
                                                                    training.steps)),
                           on_progress=_report_progress,
                           progress_seconds=settings.progress_seconds,
                           save_to=save_to, target_logprobs=settings.target_logprobs,
                           memory_gib=memory)
    except (ProxyDiverged, ProxyOutOfMemory) as exc:
        # A diverged proxy is a result, not a crash: record it and do not retry. Nor a
        # proxy that ran out of GPU memory: a retry would run out again.
        return _failed(run, str(exc), data)


class _ResumeStates:
    """Where a group's runs keep their states (``resume/<run>.safetensors`` of the sweep directory;
    nowhere for a trial of one run, or without a sweep directory)."""

    def __init__(self, sweep_dir: str | None):
        self.layout = SweepLayout(sweep_dir) if sweep_dir else None
        if self.layout is not None:
            try:
                refresh(self.layout.resume)  # object storage: states another node wrote
            except OSError:
                pass  # the store cannot be listed now: runs without a state start at step 0

    def path(self, run_id: str) -> str | None:
        return str(self.layout.resume_state(run_id)) if self.layout else None

    def drop(self, run_id: str) -> None:
        if self.layout is not None:
            self.layout.resume_state(run_id).unlink(missing_ok=True)


def _train_together(runs: list[PlannedRun], data: ProxyData, settings: TrialSettings, device,
                    memory: float | None, states: _ResumeStates, store) -> int:
    """Several proxies of one size as one stacked model (a diverged one fails alone), each
    evaluation reported to Tune as it is made and the group's progress between, each
    record handed to ``store`` as soon as its run is done. Runs with a state go on from
    it; runs whose states are at different steps (a re-run sweep regroups what is left)
    train as one group per step. Returns the furthest step resumed from (0: none)."""
    model = settings.models[runs[0].scale]
    paths = [states.path(run.run_id) for run in runs]
    saved = [load_state(path, state_key(run.mixture, run.seed, model, settings.training))
             if path else None for run, path in zip(runs, paths)]
    for cohort in cohorts(saved):
        members = [runs[i] for i in cohort]
        done: set[int] = set()

        def on_done(m: int, record: RunRecord, members=members, done=done) -> None:
            done.add(m)
            store(members[m], record)

        def on_eval(m: int, row: Evaluation, members=members) -> None:
            tune.report(_metrics(row, members[m].run_id, settings.training.steps))

        try:
            train_group([run.mixture for run in members], [run.seed for run in members], data,
                        model, settings.training, device=device,
                        save_to=[str(Path(settings.checkpoints) / run.run_id)
                                 if settings.checkpoints else None for run in members],
                        target_logprobs=settings.target_logprobs, memory_gib=memory,
                        states=[saved[i] for i in cohort],
                        checkpoint_to=[paths[i] for i in cohort], on_done=on_done,
                        on_eval=on_eval, on_progress=_report_progress,
                        progress_seconds=settings.progress_seconds)
        except ProxyOutOfMemory as exc:  # the whole group: a retry would run out again
            for m, run in enumerate(members):
                if m not in done:
                    store(run, _failed(run, str(exc), data))
    return max((state.step for state in saved if state is not None), default=0)


def _failed(run: PlannedRun, reason: str, data: ProxyData) -> RunRecord:
    return RunRecord(status=FAILED, reason=reason, mixture=run.mixture, seed=run.seed,
                     target_name=data.target_name)


def _final_report(planned: PlannedTrial, outcomes: list, resumed_from: int = 0) -> dict:
    """The trial's last Tune result: how many runs it holds, how many failed, its best run,
    whether the storage refused one (then the sweep stops), and the step a retried group
    resumed from (0: from the start)."""
    ok = [(r.final_target_loss, r.run_id) for r, _ in outcomes if r.ok]
    failed = sum(not r.ok for r, _ in outcomes)
    refused = [o for _, o in outcomes if o.status == REFUSED]
    best_loss, best_run = min(ok, default=(math.nan, planned.runs[0].run_id))
    return {"run_id": best_run, "runs": len(planned.runs), "failed": failed,
            "status": OK if ok or not outcomes else FAILED,
            "stored": REFUSED if refused else STORED if outcomes else DUPLICATE,
            "refused": refused[0].reason if refused else "", "final": True,
            "event": FINAL_EVENT,
            "target_loss": best_loss, "resumed_from_step": resumed_from}


def trial_device(cpus: float, gpus: float):
    """The device a trial trains on, with its share of the machine set."""
    import torch

    torch.set_num_threads(max(1, int(cpus)))
    if gpus > 0 and torch.cuda.is_available():
        # Ray gives this trial a (share of a) GPU but does not fence its memory.
        torch.cuda.set_per_process_memory_fraction(min(1.0, gpus), 0)
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _metrics(row: Evaluation, run_id: str, steps: int) -> dict:
    """Run ``run_id``'s evaluation as a Tune result (an "eval", flat names; ``steps``: the
    run's total)."""
    out = {"event": EVAL_EVENT, "run_id": run_id, "step": row.step, "steps": steps,
           "tokens": row.tokens, "train_loss": row.train_loss, "target_loss": row.target_loss}
    out.update({f"loss/{k}": v for k, v in row.losses.items()})
    return out


def _report_progress(progress: Progress) -> None:
    """A training loop's heartbeat as a Tune result (a "progress")."""
    tune.report({"event": PROGRESS_EVENT, **dataclasses.asdict(progress)})
