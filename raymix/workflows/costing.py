"""What a sweep will cost, before anything starts: :func:`cost_preview` (``raymix plan``).

From the config alone (no data is prepared, no cluster started, nothing written):

- the runs each command trains: ``raymix sweep``'s plan (the mixtures, their repeats
  with other seeds, each of ``scales``; built by the sweep's own
  :func:`raymix.sweep.plan.adaptive_plan` from placeholder mixtures, so the counts are
  the sweep's), its confirmation rounds (at most :func:`runs_per_round` each), and
  ``raymix validate``'s runs (:func:`planned_validation_runs`), listed apart;
- each proxy size: its parameters, its training FLOPs per token, the tokens and FLOPs
  of one run, the micro-batch it trains with and the memory that takes
  (:mod:`raymix.training.memory`, as :func:`~raymix.training.check_memory` checks it
  before a sweep: a proxy too large is what the sweep would refuse), and how many fit
  on a GPU;
- GPU-hours (or CPU-hours) and the wall time, from a measured training speed
  (:mod:`raymix.workflows.rates`: the shipped measurements, or ``--throughput FILE``),
  else at an assumed MFU, said so.

Parameters and FLOPs come from :mod:`raymix.config.counts`. FLOPs per training token
follow PaLM's MFU accounting (Chowdhery et al. 2022, "PaLM: Scaling Language Modeling
with Pathways", appendix B)::

    6 * N + 12 * layers * hidden * seq_len

where ``N`` counts every parameter that takes part in a matrix product: the attention
and MLP weights and the output layer (``vocab x hidden``, once: the proxies tie it to the
input embedding, whose lookup costs nothing); the RMSNorm weights are left out. The
second term is the attention's scores and weighted sum. An evaluation is a forward
pass, a third of that per token, on at most ``training.eval_tokens`` tokens of every
validation set (every domain's, and the target corpus when it is one).

A measured speed is turned into an achieved FLOP rate (tokens/s x FLOPs per token of
the measured shape) and each proxy's run takes its FLOPs at that rate, from the
measurement whose FLOPs per token are nearest. A tiny proxy on a GPU is bound by kernel
launches, not arithmetic, so a rate measured on one says nothing of a proxy with
:data:`FAR` times its FLOPs per token: that proxy is timed at an assumed MFU instead,
said so. GPU sweeps also get their GPU-hours at the assumed MFU beside the measured
ones. Proxies packed on one GPU
(``compute.gpus_per_trial`` < 1) are taken to share its rate: a measurement of that many
proxies on one device at once (their summed tokens/s) is preferred where there is one.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from raymix.config import (
    BASE_SCALE,
    CONFIRM_SCALE,
    ModelConfig,
    SweepConfig,
    TrainingConfig,
)
from raymix.config.counts import flops_per_token, matmul_params, non_embedding_params, total_params
from raymix.config.schema import MAX_TOKENS
from raymix.data.tasks import read_tasks
from raymix.errors import ConfigError, UserError
from raymix.formatting import finite
from raymix.mixtures import build_constraints
from raymix.regression.selection import check_training_data
from raymix.runs import SCALE_COLUMN, SEED_COLUMN
from raymix.sweep.cluster import largest_group
from raymix.sweep.plan import adaptive_plan
from raymix.sweep.strategy import Suggestion
from raymix.training import check_memory
from raymix.training.memory import (
    GIB,
    micro_batch_for,
    training_memory_bytes,
    trial_memory_gb,
)
from raymix.workflows.confirmation import confirmation_config, runs_per_round
from raymix.workflows.rates import Measurement, default_measurements, read_measurements
from raymix.workflows.validation import planned_validation_runs, validation_config

# without a measurement: an H100's dense bf16 peak at an assumed model FLOPs utilisation
ASSUMED_MFU = 0.3
H100_BF16_FLOPS = 989e12
GPU_COUNTS = (1, 8)  # wall times of a GPU sweep on a cluster not known before it starts
FAR = 10.0  # a GPU proxy with this many times the measured shape's FLOPs per token: not used
SWEEP, VALIDATE = "raymix sweep", "raymix validate"


# ----------------------------------------------------------------------------- tokens


def eval_tokens_per_run(cfg: SweepConfig, model: ModelConfig, training: TrainingConfig) -> int:
    """Tokens one run evaluates, at most (a short validation set gives fewer): the first
    ``eval_tokens`` of every validation set at every evaluation (``training.eval_steps``,
    and the starting checkpoint's when continuing from one), and MixMin's final pass. A
    task target's items are a window each (at most ``seq_len`` tokens)."""
    windows = max(1, training.eval_tokens // model.seq_len)
    if cfg.target.tasks:
        target = sum(len(items) for items in read_tasks(cfg).values())
    else:  # a target corpus: one more validation set
        target = windows * (cfg.target.source is not None)
    per_evaluation = len(cfg.domain_names) * windows + target
    evaluations = len(training.eval_steps) + (training.init_from is not None)
    per_domain = cfg.mixtures.draw == "per_domain"  # the target's log-probs at the end
    final = target if cfg.target.tasks else windows
    return (evaluations * per_evaluation + per_domain * final) * model.seq_len


# ----------------------------------------------------------------------------- throughput


def nearest(measurements: list[Measurement], model: ModelConfig, vocab_size: int,
            per_device: int = 1, group: int = 1) -> Measurement | None:
    """The measurement whose shape's FLOPs per token are nearest ``model``'s (by ratio),
    of one proxy or of ``per_device`` proxies on the device at once, each one proxy or a
    stacked ``group``; of equally near ones, that of a ``group``, then of ``per_device``
    proxies, then with raymix's own choices (``auto``), then the fastest."""
    usable = [m for m in measurements
              if m.processes in (1, per_device) and m.group_size in (1, group)]
    if not usable:
        return None
    f = flops_per_token(model, vocab_size)
    return min(usable, key=lambda m: (
        round(abs(math.log(flops_per_token(m.model, m.vocab_size) / f)), 6),
        m.group_size != group, m.processes != per_device, not m.auto, -m.tokens_per_s))


# ----------------------------------------------------------------------------- the preview


@dataclass
class ProxyCost:
    """One proxy size: its shape, work per run, memory and time per run.

    Attributes
    ----------
    size : str
        ``base``, a scale's name, ``confirm`` or ``validate``.
    where : str
        The config section that sets it (``model``, ``scales[0]``, ``confirm``, ``validate``).
    model : dict
        Its shape (the model section's fields).
    params, non_embedding_params, matmul_params : int
        All parameters (the tied embedding once), those outside the embedding, and those
        in matrix products (``N``: the output layer's, not the norms').
    flops_per_token : float
        Training FLOPs per token.
    steps, train_tokens, eval_tokens : int
        Steps, training tokens and (at most) evaluated tokens of one run.
    flops : float
        FLOPs of one run: training, and evaluation at a third per token.
    micro_batch : int
        Sequences per forward/backward pass; ``micro_batch_from`` says how it was chosen.
    memory_gib : float
        Estimated peak training memory at that micro-batch.
    fits : bool or None
        Whether that fits the memory a trial gets (None: the config does not say).
    per_gpu_by_memory : int or None
        Proxies of this size that fit one GPU's memory (``compute.gpu_memory_gb``).
    seconds : float or None
        One run on its device at ``rate`` (FLOP/s), from ``rate_from``: alone, or its
        share of its group's time.
    group_size : int
        Proxies a trial trains as one stacked model (``compute.models_per_trial``):
        ``memory_gib`` is the group's, ``rate`` the group's when measured.
    """

    size: str
    where: str
    model: dict[str, int]
    params: int
    non_embedding_params: int
    matmul_params: int
    flops_per_token: float
    steps: int
    train_tokens: int
    eval_tokens: int
    flops: float
    micro_batch: int
    micro_batch_from: str
    memory_gib: float
    fits: bool | None
    per_gpu_by_memory: int | None
    rate: float | None
    rate_from: str
    seconds: float | None
    group_size: int = 1


@dataclass
class RunGroup:
    """Runs of one proxy size that one command trains (``at_most``: fewer when candidates
    coincide); ``wave`` numbers what trains together (a confirmation round waits for the
    fit of the runs before it). Device hours as in :class:`CommandCost`."""

    command: str
    what: str
    size: str
    runs: int
    at_most: bool
    wave: int
    flops: float
    device_hours: float | None
    device_hours_at_assumed_mfu: float | None = None


@dataclass
class CommandCost:
    """What one command trains in all: runs, FLOPs, device hours and wall times.

    ``wall`` holds one entry per cluster size (``slots`` trials at once on ``on``); each
    wave takes its work spread over the slots, and at least its longest run. GPU trials
    also get ``device_hours_at_assumed_mfu``: the GPU-hours at :data:`ASSUMED_MFU` of an
    H100, the other end of a range whose measured end a tiny proxy sets.
    """

    command: str
    runs: int
    flops: float
    device_hours: float | None
    wall: list[dict[str, Any]]
    device_hours_at_assumed_mfu: float | None = None


@dataclass
class CostPreview:
    """What a sweep will cost (:func:`cost_preview`); ``to_dict`` is ``raymix plan --json``.

    Attributes
    ----------
    name : str
        The config's name.
    device : {"gpu", "cpu"}
        Where its trials train (``compute.gpus_per_trial`` > 0: GPUs).
    vocab_size : int
    trial : dict
        What a trial asks for and gets: ``cpus``, ``gpus``, ``memory_gib`` and
        ``memory_from`` (None where the config does not say), ``per_gpu`` (trials Ray packs
        on a GPU) or ``per_node`` with ``node`` (trials a node of this machine's size
        holds, by CPUs and by ``compute.memory_per_trial_gb``).
    proxies : list of ProxyCost
    groups : list of RunGroup
    commands : list of CommandCost
        ``raymix sweep`` (its runs and confirmation rounds), then ``raymix validate``.
    rate : dict
        How times were estimated: ``measured`` (bool), ``sources`` (the measurements
        used) or ``assumed`` (how, where none was found); ``assumed_mfu`` (GPU trials: the
        MFU of the ``device_hours_at_assumed_mfu``); ``device_hours`` names the unit
        (GPU-hours, CPU-hours).
    notes : list of str
        What the numbers leave out or assume.
    refusal : ConfigError or None
        What the sweep would refuse before starting (a proxy too large for a trial).
    """

    name: str
    device: str
    vocab_size: int
    trial: dict[str, Any]
    proxies: list[ProxyCost]
    groups: list[RunGroup]
    commands: list[CommandCost]
    rate: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    refusal: ConfigError | None = None

    def to_dict(self) -> dict[str, Any]:
        """The preview as JSON data (``raymix plan --json``): every number finite, an
        infinite or undefined one (a time no rate gives) is None, so the JSON is JSON."""
        out = dataclasses.asdict(dataclasses.replace(self, refusal=None))
        for proxy in out["proxies"]:  # said only of stacked groups: solo plans read as before
            if proxy["group_size"] == 1:
                del proxy["group_size"]
        r = self.refusal
        out["refusal"] = None if r is None else {"field": r.field, "problem": r.problem}
        return finite(out)


def cost_preview(cfg: SweepConfig, *, throughput: str | Path | None = None) -> CostPreview:
    """What the sweep of ``cfg`` will cost, before anything starts.

    Parameters
    ----------
    cfg : SweepConfig
        The sweep (:func:`raymix.load_config`). Nothing is prepared, started or written.
    throughput : str or Path, optional
        A benchmark result with measured training speeds (``bench/bench_proxy_speed.py``'s
        or ``bench/bench_gpu_proxy.py``'s JSON). Default: the first of
        ``gpu_proxy.json``, ``proxy_speed_gpu.json``, ``proxy_speed.json`` in the source
        tree's ``bench/results`` with a measurement on the config's kind of device; with
        none, GPU times assume :data:`ASSUMED_MFU` of an H100 and CPU times are not given.

    Returns
    -------
    CostPreview
        Runs per command, each proxy size's FLOPs, memory and time, the totals; and the
        sweep's refusal, if it would refuse (``refusal``), which is not raised here.

    Raises
    ------
    UserError
        Naming ``throughput``: the file is missing, not JSON, or holds no measurement on
        the config's kind of device.
    """
    c = cfg.compute
    gpu = c.gpus_per_trial > 0
    vocab = cfg.data.tokenizer.vocab_size
    if throughput is not None:
        measurements = [m for m in read_measurements(throughput) if m.gpu == gpu]
        if not measurements:
            kind = "GPU" if gpu else "CPU"
            raise UserError(f"{throughput} holds no {kind} measurement, and this config trains "
                            f"on {kind}s (compute.gpus_per_trial {c.gpus_per_trial:g})",
                            field="throughput")
    else:
        measurements = default_measurements(gpu)
    given = trial_memory_gb(c.gpus_per_trial, c.gpu_memory_gb, c.memory_per_trial_gb)
    trial = _trial(cfg, given)
    sizes = _sizes(cfg)
    proxies = {name: _proxy(cfg, name, where, model, training, given, measurements)
               for name, (where, model, training) in sizes.items()}
    groups = _groups(cfg, proxies)
    scenarios = _scenarios(cfg)
    commands = [_command(cfg, command, [g for g in groups if g.command == command], proxies,
                         scenarios)
                for command in (SWEEP, VALIDATE)]
    refusal = None
    try:
        check_memory(cfg)  # what the sweep (and raymix validate) refuses first
        # what it would refuse only after training
        check_sweep_end(cfg, runs=sum(g.runs for g in groups
                                      if g.command == SWEEP and g.wave == 1))
    except ConfigError as exc:
        refusal = exc
    used = {p.rate_from for p in proxies.values() if p.rate is not None}
    rate = {"measured": bool(measurements),
            "sources": sorted(used) if measurements else [],
            "assumed": None if measurements else _assumed(gpu),
            "assumed_mfu": ASSUMED_MFU if gpu else None,
            "device_hours": "GPU-hours" if gpu else "CPU-hours"}
    return CostPreview(name=cfg.name, device="gpu" if gpu else "cpu", vocab_size=vocab,
                       trial=trial, proxies=list(proxies.values()), groups=groups,
                       commands=commands, rate=rate,
                       notes=_notes(cfg, proxies, commands, measurements), refusal=refusal)


# ----------------------------------------------------------------------------- the sweep's end


def check_sweep_end(cfg: SweepConfig, runs: int | None = None) -> None:
    """Refuse, before anything starts, what the sweep's end would refuse after training.

    The end of a sweep fits the runs and searches the constraints' box. From the config
    alone this checks, with the functions the end itself calls:

    - ``fit.cv_folds`` against the runs of the sweep's first fit (its planned runs:
      mixtures, repeats, scales; :func:`raymix.regression.selection.check_training_data`);
    - the search's box (:func:`raymix.mixtures.build_constraints`): with
      ``search.target_tokens``, the repetition cap must leave a mixture. The sweep's
      token counts are known once its data is prepared, so each domain is taken to hold
      the most it may (``search.available_tokens``, else its ``max_tokens``, else
      :data:`~raymix.config.schema.MAX_TOKENS`): a box empty even then is empty.

    Parameters
    ----------
    cfg : SweepConfig
    runs : int, optional
        The runs of the sweep's plan, where already counted (default: counted here).

    Raises
    ------
    ConfigError
        Naming ``fit.cv_folds``, or the search field that leaves no mixture.
    """
    if cfg.mixtures.draw == "per_domain":  # MixMin: no fit, no search box
        return
    runs = len(_plan(cfg)) if runs is None else runs
    try:
        # mixtures.reuse: the earlier sweep's runs join the fit, known once it is read
        if cfg.mixtures.reuse is None:
            check_training_data(np.zeros((runs, 1)), np.arange(runs, dtype=float),
                                cfg.fit.cv_folds)
    except UserError as exc:
        raise ConfigError("fit.cv_folds", f"{exc.problem} (the {runs:,} runs the sweep plans "
                          "are its first fit's)") from None
    tokens = _most_tokens(cfg)
    try:
        build_constraints(cfg.domain_names, cfg.search, available_tokens=tokens,
                          groups=cfg.domain_groups, phases=cfg.phase_fractions)
    except ConfigError as exc:
        if cfg.search.available_tokens:  # the counts the box is made with: exact
            raise
        raise ConfigError(exc.field, f"no mixture even with every domain's most tokens "
                          f"(max_tokens, else {MAX_TOKENS:.0e}): {exc.problem}") from None


def _most_tokens(cfg: SweepConfig) -> dict[str, float]:
    """Each domain's most training tokens: its ``max_tokens``, else the schema's cap."""
    return {d.name: float(d.max_tokens or MAX_TOKENS) for d in cfg.data.domains}


def _sizes(cfg: SweepConfig) -> dict[str, tuple[str, ModelConfig, TrainingConfig]]:
    """Every proxy size the commands train: where it is set, its model and training."""
    sizes = {BASE_SCALE: ("model", cfg.model, cfg.training)}
    for i, scale in enumerate(cfg.scales):
        sizes[scale.name] = (f"scales[{i}]", scale.applied_to(cfg.model), cfg.training)
    if _confirms(cfg) and cfg.confirm.changes_scale():
        ccfg = confirmation_config(cfg)
        sizes[CONFIRM_SCALE] = ("confirm", ccfg.scale_models()[CONFIRM_SCALE], ccfg.training)
    vcfg = validation_config(cfg)
    sizes["validate"] = ("validate", vcfg.model, vcfg.training)
    return sizes


def _confirms(cfg: SweepConfig) -> bool:
    """Whether ``raymix sweep`` ends with confirmation rounds (not with MixMin's proxies)."""
    return cfg.confirm.rounds > 0 and cfg.mixtures.draw != "per_domain"


def _proxy(cfg: SweepConfig, size: str, where: str, model: ModelConfig,
           training: TrainingConfig, given: tuple[float, str] | None,
           measurements: list[Measurement]) -> ProxyCost:
    c = cfg.compute
    gpu = c.gpus_per_trial > 0
    vocab = cfg.data.tokenizer.vocab_size
    budget = given[0] if given else None
    group = group_size(cfg, budget)
    # each model of a group gets an M-th of the memory, as train_group gives it
    micro = micro_batch_for(model, training, vocab, None if budget is None else budget / group,
                            gpu=gpu)
    one = training_memory_bytes(model, micro, vocab, gpu=gpu, loss=training.loss) / GIB
    memory = group * one
    per_token = flops_per_token(model, vocab)
    train_tokens = training.tokens_per_run(model.seq_len)
    eval_tokens = eval_tokens_per_run(cfg, model, training)
    flops = per_token * train_tokens + per_token / 3 * eval_tokens
    measured = nearest(measurements, model, vocab, _per_gpu(cfg), group)
    if measured is not None and gpu and _times_measured(per_token, measured) >= FAR:
        measured = None  # a launch-bound tiny proxy's FLOP rate says nothing of this one
    if measured is not None:
        rate, rate_from = measured.flops_per_s, measured.label()
    elif gpu:
        rate, rate_from = ASSUMED_MFU * H100_BF16_FLOPS, _assumed(gpu)
    else:
        rate, rate_from = None, "no CPU measurement: give --throughput FILE"
    per_gpu = (int(c.gpu_memory_gb // one) if gpu and c.gpu_memory_gb and c.gpus_per_trial <= 1
               else None)
    return ProxyCost(
        size=size, where=where, model=dataclasses.asdict(model),
        params=total_params(model, vocab),
        non_embedding_params=non_embedding_params(model),
        matmul_params=matmul_params(model, vocab),
        flops_per_token=per_token, steps=training.steps, train_tokens=train_tokens,
        eval_tokens=eval_tokens, flops=flops, micro_batch=micro,
        micro_batch_from=_micro_from(training, budget, gpu), memory_gib=memory,
        fits=None if budget is None else memory <= budget, per_gpu_by_memory=per_gpu,
        rate=rate, rate_from=rate_from, seconds=None if rate is None else flops / rate,
        group_size=group)


def group_size(cfg: SweepConfig, budget_gib: float | None) -> int:
    """The proxies a trial stacks as one model, as the sweep picks them
    (:func:`raymix.sweep.cluster.largest_group`; fewer where fewer runs are left). ``auto``
    with no memory given (it is then the GPU's, known at the sweep's start): 1."""
    if cfg.compute.models_per_trial == "auto" and budget_gib is None:
        return 1
    return largest_group(cfg, budget_gib)


def _micro_from(training: TrainingConfig, budget: float | None, gpu: bool) -> str:
    if training.micro_batch_size != "auto":
        return "training.micro_batch_size"
    if budget is not None:
        return f"auto: the largest divisor of training.batch_size that fits {budget:.3g} GiB"
    if gpu:
        return ("auto: each trial picks it from its GPU share's memory (set "
                "compute.gpu_memory_gb to plan it); shown: the whole batch")
    return "auto: the whole batch (compute.memory_per_trial_gb not set)"


def _groups(cfg: SweepConfig, proxies: dict[str, ProxyCost]) -> list[RunGroup]:
    """The runs of each command by size: the sweep's plan, its rounds, the validation."""
    plan = _plan(cfg)
    base = plan[SCALE_COLUMN] == BASE_SCALE
    repeats = base & (plan[SEED_COLUMN] != cfg.training.seed)
    rows = [(SWEEP, "mixtures", BASE_SCALE, int((base & ~repeats).sum()), False, 1),
            (SWEEP, "repeats with other seeds", BASE_SCALE, int(repeats.sum()), False, 1)]
    rows += [(SWEEP, f"scale {s.name}", s.name, int((plan[SCALE_COLUMN] == s.name).sum()),
              False, 1) for s in cfg.scales]
    if _confirms(cfg):
        size = CONFIRM_SCALE if cfg.confirm.changes_scale() else BASE_SCALE
        rows += [(SWEEP, f"confirmation round {r + 1}", size, runs_per_round(cfg), True, 2 + r)
                 for r in range(cfg.confirm.rounds)]
    rows.append((VALIDATE, "proposal, baselines and validate.mixtures", "validate",
                 planned_validation_runs(cfg), False, 1))
    groups = []
    for command, what, size, runs, at_most, wave in rows:
        if runs == 0:
            continue
        proxy = proxies[size]
        seconds = None if proxy.seconds is None else runs * _device_seconds(cfg, proxy)
        groups.append(RunGroup(command=command, what=what, size=size, runs=runs,
                               at_most=at_most, wave=wave, flops=runs * proxy.flops,
                               device_hours=None if seconds is None else seconds / 3600,
                               device_hours_at_assumed_mfu=_assumed_hours(cfg, runs * proxy.flops)))
    return groups


def _plan(cfg: SweepConfig):
    """The sweep's plan as :mod:`raymix.sweep.plan` makes it, from placeholder mixtures:
    run ids, seeds and sizes are those of the sweep; the mixtures are not (they need the
    prepared data, or an adaptive strategy's runs)."""
    k = len(cfg.domain_names)
    # MixMin trains one proxy per domain; otherwise mixtures.count of them
    count = k if cfg.mixtures.draw == "per_domain" else cfg.mixtures.count
    columns = cfg.mixture_columns
    placeholder = Suggestion(mixture=dict.fromkeys(columns, 1.0 / len(columns)))
    return adaptive_plan(cfg, [placeholder] * count)


def _per_gpu(cfg: SweepConfig) -> int:
    """Trials Ray packs on one GPU (1 for CPU trials and trials of whole GPUs)."""
    g = cfg.compute.gpus_per_trial
    return math.floor(1 / g) if 0 < g < 1 else 1


def _device_seconds(cfg: SweepConfig, proxy: ProxyCost) -> float:
    """Device time of one run: GPU-seconds (packed proxies share a GPU's rate) or
    CPU-seconds (the trial's CPUs for the run's time)."""
    if cfg.compute.gpus_per_trial:
        return proxy.seconds * max(1.0, cfg.compute.gpus_per_trial)
    return proxy.seconds * cfg.compute.cpus_per_trial


def _trial(cfg: SweepConfig, given: tuple[float, str] | None) -> dict[str, Any]:
    c = cfg.compute
    out = {"cpus": c.cpus_per_trial, "gpus": c.gpus_per_trial,
           "memory_gib": given[0] if given else None, "memory_from": given[1] if given else None}
    if c.gpus_per_trial:
        out["per_gpu"] = _per_gpu(cfg) if c.gpus_per_trial <= 1 else None
        return out
    cpus, cpus_from = _node_cpus(cfg)
    ram = _ram_gib()
    out["node"] = {"cpus": cpus, "cpus_from": cpus_from, "memory_gib": ram}
    out["per_node"] = {"by_cpus": int(cpus // c.cpus_per_trial),
                       "by_memory": (int(ram // c.memory_per_trial_gb)
                                     if c.memory_per_trial_gb and ram else None)}
    return out


def _node_cpus(cfg: SweepConfig) -> tuple[int, str]:
    c = cfg.compute
    remote = c.address or os.environ.get("RAY_ADDRESS")
    if c.num_cpus and not remote:
        return c.num_cpus, "compute.num_cpus"
    where = "this machine's" if not remote else "this machine's (the cluster's are not asked)"
    return os.cpu_count() or 1, where


def _ram_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (AttributeError, ValueError, OSError):
        return None


def _scenarios(cfg: SweepConfig) -> list[dict[str, Any]]:
    """Cluster sizes to give wall times for: trials at once and the devices they share."""
    c = cfg.compute
    cap = c.max_concurrent
    if c.gpus_per_trial:
        out = []
        for gpus in GPU_COUNTS:
            slots = (gpus * math.floor(1 / c.gpus_per_trial) if c.gpus_per_trial <= 1
                     else int(gpus // c.gpus_per_trial))
            if slots == 0:
                continue
            slots = min(slots, cap) if cap else slots
            # Ray packs trials onto as few GPUs as hold them; those share their GPU's rate
            busy = min(gpus, math.ceil(slots * min(1.0, c.gpus_per_trial)))
            out.append({"on": f"{gpus} GPU{'s' * (gpus > 1)}", "gpus": gpus, "slots": slots,
                        "devices": busy})
        return out
    cpus, cpus_from = _node_cpus(cfg)
    slots = max(1, int(cpus // c.cpus_per_trial))
    on = f"{cpus} CPUs ({cpus_from})"
    ram = _ram_gib()
    if c.memory_per_trial_gb and ram and not (c.address or os.environ.get("RAY_ADDRESS")):
        slots = max(1, min(slots, int(ram // c.memory_per_trial_gb)))
        on += f", {ram:.0f} GiB"
    if cap:
        slots = min(slots, cap)
        on += f", compute.max_concurrent {cap}"
    return [{"on": on, "gpus": None, "slots": slots, "devices": slots}]


def _command(cfg: SweepConfig, command: str, groups: list[RunGroup],
             proxies: dict[str, ProxyCost], scenarios: list[dict[str, Any]]) -> CommandCost:
    known = all(g.device_hours is not None for g in groups)
    wall = []
    for scenario in scenarios:
        seconds = 0.0 if known else None
        for wave in sorted({g.wave for g in groups}):
            if not known:
                break
            mine = [g for g in groups if g.wave == wave]
            work = sum(g.runs * proxies[g.size].seconds for g in mine)
            # a group's runs train together: none of them ends before the group's time; a
            # group holds no more runs than the wave has (auto: than keep every slot busy,
            # as raymix.sweep.cluster.models_per_trial stacks them)
            auto = cfg.compute.models_per_trial == "auto"
            longest = max(proxies[g.size].seconds * max(1, min(
                proxies[g.size].group_size,
                math.ceil(sum(h.runs for h in mine if h.size == g.size)
                          / (scenario["slots"] if auto else 1))))
                for g in mine)
            seconds += max(work / scenario["devices"], longest)
        wall.append({**scenario, "seconds": seconds})
    flops = sum(g.flops for g in groups)
    return CommandCost(command=command, runs=sum(g.runs for g in groups), flops=flops,
                       device_hours=sum(g.device_hours for g in groups) if known else None,
                       wall=wall, device_hours_at_assumed_mfu=_assumed_hours(cfg, flops))


def _assumed_hours(cfg: SweepConfig, flops: float) -> float | None:
    """GPU-hours of ``flops`` at :data:`ASSUMED_MFU` of an H100 (None for CPU trials)."""
    gpus = cfg.compute.gpus_per_trial
    if not gpus:
        return None
    return flops / (ASSUMED_MFU * H100_BF16_FLOPS) * max(1.0, gpus) / 3600


def _times_measured(per_token: float, measured: Measurement) -> float:
    """How many times the measured shape's FLOPs per token a proxy has."""
    return per_token / flops_per_token(measured.model, measured.vocab_size)


def _far_from_measured(cfg: SweepConfig, proxies: dict[str, ProxyCost],
                       commands: list[CommandCost], measurements: list[Measurement]) -> list[str]:
    """For GPU proxies far larger than any shape measured: why the assumed MFU is used."""
    vocab = cfg.data.tokenizer.vocab_size
    far = {}
    for size, p in proxies.items():
        m = nearest(measurements, ModelConfig(**p.model), vocab, _per_gpu(cfg), p.group_size)
        if m is None:
            continue
        ratio = _times_measured(p.flops_per_token, m)
        if ratio >= FAR:
            far[size] = f"{size} {ratio:.0f}x"
    if not far:
        return []
    return [f"{', '.join(far.values())} the FLOPs per token of the nearest GPU measurement: a "
            "proxy that small is bound by kernel launches, not arithmetic, so its FLOP rate is "
            f"not used; times are at {_assumed(True)} (run bench/bench_gpu_proxy.py for a "
            "measured rate)"]


def _group_notes(cfg: SweepConfig, proxies: dict[str, ProxyCost],
                 measurements: list[Measurement]) -> list[str]:
    """What a size trained in stacked groups is priced at: a measured group of its size and
    shape, else (named as an assumption) one proxy's rate, the group's runs one after
    another."""
    vocab = cfg.data.tokenizer.vocab_size
    measured, assumed = [], []
    for size, p in proxies.items():
        if p.group_size == 1:
            continue
        m = nearest(measurements, ModelConfig(**p.model), vocab, _per_gpu(cfg), p.group_size)
        covered = (m is not None and m.group_size == p.group_size
                   and _times_measured(p.flops_per_token, m) < FAR)
        (measured if covered else assumed).append(size)
    if not measured and not assumed:
        return []
    size = max(p.group_size for p in proxies.values())
    notes = [f"compute.models_per_trial {cfg.compute.models_per_trial}: each trial trains "
             f"{size} proxies as one stacked model (fewer where fewer runs are left); "
             "memory is the group's, time/run a run's share of its group's time"]
    if measured:
        notes.append(f"{', '.join(measured)}: timed at a measured group of {size} of the "
                     "nearest shape")
    if assumed:
        notes.append(f"{', '.join(assumed)}: no measurement of a group of {size} of this "
                     "shape: assumed to train at one proxy's rate, the group's runs one after "
                     "another (stacking can be several times faster, or slower for a large "
                     "vocabulary; run bench/bench_gpu_proxy.py --parts g to measure it)")
    return notes


def _assumed(gpu: bool) -> str | None:
    if not gpu:
        return None
    return (f"an assumed {ASSUMED_MFU:.0%} MFU of an H100's {H100_BF16_FLOPS / 1e12:.0f} "
            "TFLOP/s (bf16, dense; tiny proxies reach far less)")


def _notes(cfg: SweepConfig, proxies: dict[str, ProxyCost], commands: list[CommandCost],
           measurements: list[Measurement]) -> list[str]:
    c = cfg.compute
    gpu = c.gpus_per_trial > 0
    notes = ["evaluation counted as forward passes (a third of a training token's FLOPs) over "
             "at most training.eval_tokens of every validation set per evaluation"]
    if gpu and measurements:
        notes += _far_from_measured(cfg, proxies, commands, measurements)
    if gpu and c.gpus_per_trial < 1:
        notes.append(f"proxies packed {math.floor(1 / c.gpus_per_trial)} per GPU are taken to "
                     "share its FLOP rate")
    notes += _group_notes(cfg, proxies, measurements)
    threads = {m.device for m in measurements if not m.gpu}
    if not gpu and threads and int(c.cpus_per_trial) > 1:
        notes.append(f"measured on {', '.join(sorted(threads))}; a trial with "
                     f"{int(c.cpus_per_trial)} CPUs (compute.cpus_per_trial) may run faster")
    if cfg.is_adaptive:
        notes.append(f"{cfg.mixtures.strategy}: the Gaussian process's suggestions between "
                     "runs are not counted")
    if _confirms(cfg):
        notes.append("each confirmation round starts after a fit of the runs before it "
                     "(not counted)")
    if cfg.mixtures.draw == "per_domain":
        notes.append("per_domain: one proxy per domain, then MixMin (no confirmation round)")
    if gpu:
        notes.append("the GPU count is known once the cluster starts: wall times are given "
                     f"for {' and '.join(str(n) for n in GPU_COUNTS)} GPUs")
    return notes
