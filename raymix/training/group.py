"""Train a group of proxies of one shape as one stacked model (:mod:`~raymix.training.stacked`).

:func:`train_group` is :func:`~raymix.training.loop.train_proxy` for M mixtures at once:

    for step in 1..steps:
        batch [M, B, T + 1] = each model's batch from its own mixture's sampler and seed
                              (built ahead in a thread)
        for each micro-batch of it (split along B):      # gradient accumulation
            losses [M] = stacked.loss(micro-batch)       # plain, chunked or fused
            sum(losses of the models still alive).backward()
        clip each model's gradient on its own; AdamW on the stacked tensors (elementwise,
        so each model's own AdamW); warmup + cosine
        at each evaluation step: copy the weights into solo models, evaluate each as a
                                 solo run is; a model whose loss is not finite is
                                 recorded as failed and left out of the loss from then on;
                                 but at the last, each live model's state to its file

Summing the losses gives each model its solo gradient, so model ``m`` of a group trains as
its solo run would, up to float rounding (tests/unit/test_group.py). The step can be
compiled (``training.compile``), as the solo step is. As a solo run's, each evaluation
is handed on the moment it is made (``on_eval``), and a heartbeat in between
(``on_progress``, :class:`~raymix.training.loop.ProgressClock`), so a watcher hears from
a group long before its last step.

Nothing of a group is lost when its trial dies:

- each model's record is handed on (``on_done``) as soon as that model is done: a model
  that fails at an evaluation at once, the others one by one when the loop ends (every
  model of a group trains the same steps), each before the next one's final model is
  kept or its log-probabilities made;
- at every evaluation but the last, each live model's :class:`ModelState` (its weights,
  its slice of AdamW's moments, the step, its sampler's random state and its evaluations so
  far) is written to its own file (``checkpoint_to``); a group given those states
  (``states``) goes on from that step and trains as it would have uninterrupted (bit for
  bit on a CPU; tests/unit/test_group.py). Models whose states are at different steps
  train as separate groups (:func:`cohorts`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from raymix.config import ModelConfig, TrainingConfig
from raymix.files import atomic_write_bytes
from raymix.runs import FAILED, Evaluation, RunRecord
from raymix.training.batches import MixtureBatches, Prefetcher
from raymix.training.loop import (
    EVAL_BATCH,
    Progress,
    ProgressClock,
    ProxyData,
    StepLoss,
    autocast,
    compile_step,
    device_memory_gib,
    evaluate_proxy,
    how_steps_ran,
    out_of_memory,
    rounded_target_logprobs,
    target_loss,
)
from raymix.training.loss import CHUNKED, FUSED, resolve_loss
from raymix.training.memory import micro_batch_for
from raymix.training.model import build_model, count_parameters, save_checkpoint
from raymix.training.stacked import StackedLlama, clip_grad_norm_per_model


class GroupBatches:
    """Step ``i``'s windows of every model of a group, ``[M, B, T + 1]``: model ``m``'s
    from its own :class:`MixtureBatches` (its mixture, its seed), as its solo run's.

    Batches are asked for in step order from ``start`` on (``batches[i]`` is step
    ``start + i``'s), as the :class:`Prefetcher` does. After building the batch of a step
    that ``keep_after`` names, each sampler's random state is kept in ``rng_states`` (by
    the number of steps done): the prefetcher runs ahead of training, so a sampler's state
    *now* is not the one a checkpoint of that step needs.
    """

    def __init__(self, samplers: list[MixtureBatches], start: int = 0,
                 keep_after: frozenset[int] = frozenset()):
        self.samplers, self.start, self.keep_after = samplers, start, keep_after
        self.rng_states: dict[int, list[dict]] = {}

    def __getitem__(self, i: int) -> torch.Tensor:
        step = self.start + i
        batch = torch.stack([sampler[step] for sampler in self.samplers])
        if step + 1 in self.keep_after:
            self.rng_states[step + 1] = [s.rng.bit_generator.state for s in self.samplers]
        return batch


class PerModelRate:
    """An optimiser over stacked ``[M, ...]`` tensors with each model's own learning rate.

    AdamW's change to a weight in one step (its decoupled decay and its Adam step) is
    proportional to the learning rate, so a step at the base rate whose change to model
    ``m``'s slice is then multiplied by ``ratios[m]`` is that model's step at
    ``ratios[m]`` x the base rate: the optimiser's state (its moments) does not depend on
    the rate. Costs one copy of the weights a step.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, ratios: list[float]):
        self.optimizer = optimizer
        self.param_groups = optimizer.param_groups
        self.ratios = ratios
        self._tensors: dict = {}

    @torch.no_grad()
    def step(self) -> None:
        params = [p for group in self.param_groups for p in group["params"]]
        before = [p.detach().clone() for p in params]
        self.optimizer.step()
        for p, old in zip(params, before):
            p.copy_(old + self._ratios(p).reshape(-1, *[1] * (p.dim() - 1)) * (p - old))

    def _ratios(self, p: torch.Tensor) -> torch.Tensor:
        """The ratios as a tensor beside ``p`` (made once per device and dtype)."""
        key = (p.device, p.dtype)
        if key not in self._tensors:
            self._tensors[key] = torch.tensor(self.ratios, dtype=p.dtype, device=p.device)
        return self._tensors[key]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)


# ----------------------------------------------------------------------------- checkpoints

STATE_VERSION = 1  # of a ModelState file; a file of another version is not resumed from
MOMENTS = ("exp_avg", "exp_avg_sq")  # AdamW's per-weight state, besides its step count


@dataclass
class ModelState:
    """One model of a group after ``step`` steps: all a retried trial needs to train it on
    exactly as it would have gone on (a file of its own: :func:`save_state`).

    Attributes
    ----------
    key : str
        Which run and settings it belongs to (:func:`state_key`): a state of anything
        else is not resumed from.
    step : int
        Steps done (an evaluation step).
    weights : dict of str to Tensor
        The model's slice of each stacked weight, by :class:`StackedLlama`'s names.
    moments : dict of str to dict of str to Tensor
        Its slice of AdamW's ``exp_avg`` and ``exp_avg_sq``, by weight name.
    sampler : dict
        Its :class:`MixtureBatches`' random state after step ``step``'s batch.
    evaluations : list of Evaluation
        Its evaluations so far (the record's, up to ``step``).
    initial : dict
        Continual pretraining's losses before the first step (else empty).
    """

    key: str
    step: int
    weights: dict[str, torch.Tensor]
    moments: dict[str, dict[str, torch.Tensor]]
    sampler: dict
    evaluations: list[Evaluation]
    initial: dict

    def to_bytes(self) -> bytes:
        """The state as a safetensors file: the tensors, and the rest as JSON in its header
        (no pickle: reading a file back runs no code whatever it holds)."""
        from safetensors.torch import save

        tensors = {f"weights/{name}": t.contiguous() for name, t in self.weights.items()}
        for name, by_moment in self.moments.items():
            tensors.update({f"{moment}/{name}": t.contiguous() for moment, t in by_moment.items()})
        plain = {"version": STATE_VERSION, "key": self.key, "step": self.step,
                 "sampler": self.sampler, "initial": self.initial,
                 "evaluations": [dataclasses.asdict(e) for e in self.evaluations]}
        return save(tensors, metadata={"raymix": json.dumps(plain)})

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelState:
        from safetensors.torch import load

        plain = json.loads(_safetensors_metadata(data)["raymix"])
        if plain.pop("version") != STATE_VERSION:
            raise ValueError("a state of another version")
        tensors = load(data)
        weights = {k.split("/", 1)[1]: t for k, t in tensors.items() if k.startswith("weights/")}
        moments = {name: {m: tensors[f"{m}/{name}"] for m in MOMENTS} for name in weights}
        return cls(key=plain["key"], step=plain["step"], weights=weights, moments=moments,
                   sampler=plain["sampler"], initial=plain["initial"],
                   evaluations=[Evaluation(**row) for row in plain["evaluations"]])


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (8 bytes of its length, then JSON)."""
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError("a file cut short")
    return json.loads(data[8:8 + size])["__metadata__"]


def state_key(mixture: dict[str, float], seed: int, model_cfg: ModelConfig,
              train_cfg: TrainingConfig, lr: float | None = None) -> str:
    """What a model's training depends on, as text: its mixture, seed, shape and schedule
    (not how a step runs: micro-batches, the loss's kind and compilation give the same
    model). A state is resumed from only by a run of the same key."""
    schedule = {k: v for k, v in dataclasses.asdict(train_cfg).items()
                if k not in ("seed", "micro_batch_size", "loss", "compile", "save_checkpoint")}
    schedule["lr"] = train_cfg.lr if lr is None else lr
    return json.dumps({"mixture": {d: w for d, w in sorted(mixture.items()) if w > 0},
                       "seed": seed, "model": dataclasses.asdict(model_cfg),
                       "training": schedule}, sort_keys=True, default=str)


def save_state(path: str, state: ModelState) -> None:
    """Write ``state`` to ``path``: the whole file or none (a crash mid-write keeps the last)."""
    atomic_write_bytes(path, state.to_bytes())


def load_state(path: str, key: str) -> ModelState | None:
    """The state at ``path`` if it is one of the run ``key`` names; None when there is no
    file, or one that cannot be read or belongs to something else: its model then trains
    from step 0, as it would have with no checkpoint at all."""
    try:
        with open(path, "rb") as f:
            state = ModelState.from_bytes(f.read())
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a torn, foreign or older file: train from step 0
        return None
    return state if state.key == key and state.step > 0 else None


def cohorts(states: list[ModelState | None]) -> list[list[int]]:
    """The indices of ``states`` by the step they resume from (None: step 0), the
    furthest first: each list trains as one group (:func:`train_group` takes states of
    one step). A retried trial's models all share one step; a re-run sweep's regrouped
    runs may not."""
    by_step: dict[int, list[int]] = {}
    for i, state in enumerate(states):
        by_step.setdefault(state.step if state else 0, []).append(i)
    return [by_step[step] for step in sorted(by_step, reverse=True)]


# ----------------------------------------------------------------------------- training


def train_group(mixtures: list[dict[str, float]], seeds: list[int], data: ProxyData,
                model_cfg: ModelConfig, train_cfg: TrainingConfig, *,
                device: torch.device | None = None, save_to: list[str | None] | None = None,
                target_logprobs: bool = False, memory_gib: float | None = None,
                learning_rates: list[float] | None = None,
                states: list[ModelState | None] | None = None,
                checkpoint_to: list[str | None] | None = None,
                on_done: Callable[[int, RunRecord], None] | None = None,
                on_eval: Callable[[int, Evaluation], None] | None = None,
                on_progress: Callable[[Progress], None] | None = None,
                progress_seconds: float | None = None) -> list[RunRecord]:
    """Train one proxy per mixture, all in one stacked model; one record per mixture.

    Parameters
    ----------
    mixtures : list of dict
        Each proxy's domain weights.
    seeds : list of int
        Each proxy's seed (its initial weights and its batches), as its solo run's
        ``training.seed``.
    data : ProxyData
        The token arrays (shared by all).
    model_cfg, train_cfg : ModelConfig, TrainingConfig
        The proxies' shape and training, as for a solo run (``train_cfg.seed`` is not
        used: ``seeds`` are).
    device : torch.device, optional
        Default: a GPU when there is one, else the CPU.
    save_to : list of (str or None), optional
        Where to keep each final model (``save_pretrained``), one per mixture.
    target_logprobs : bool, default=False
        Add each final model's per-token log-probabilities on the target (MixMin).
    memory_gib : float, optional
        The memory the whole group may use, for ``training.micro_batch_size: auto``
        (each model gets an M-th of it; default as :func:`train_proxy`).
    learning_rates : list of float, optional
        Each proxy's peak learning rate, in place of ``train_cfg.lr`` (the schedule's shape
        is ``train_cfg``'s for all): a group can train one mixture at several rates.
    states : list of (ModelState or None), optional
        Where each proxy resumes (:func:`load_state`): all at one step, or all None
        (from step 0). Split models of different steps with :func:`cohorts`.
    checkpoint_to : list of (str or None), optional
        Each proxy's checkpoint file: its :class:`ModelState` is written there at every
        evaluation but the last (the record follows soon after). Dropping the file once
        the record is stored is the caller's part.
    on_done : callable, optional
        ``on_done(m, record)`` as soon as proxy ``m`` is done: at the evaluation where it
        fails, or when the loop ends, in order, each before the next proxy's final model
        is kept or its log-probabilities made (its own come first).
    on_eval : callable, optional
        ``on_eval(m, row)`` with each :class:`~raymix.runs.Evaluation` of proxy ``m`` as
        it is made (the row its record holds); a proxy that fails at an evaluation gets
        none there (``on_done`` has its failed record).
    on_progress : callable, optional
        ``on_progress(progress)`` with a :class:`~raymix.training.loop.Progress` of the
        whole group (its live proxies, their tokens per second together) at most every
        ``progress_seconds`` (default :data:`~raymix.training.loop.PROGRESS_SECONDS`).

    Returns
    -------
    list of RunRecord
        In the order of ``mixtures``; a diverged proxy's has status "failed" and a reason.

    Raises
    ------
    ProxyOutOfMemory
        When the GPU runs out of memory (the message says how much was asked).
    """
    if len(mixtures) != len(seeds) or not mixtures:
        raise ValueError("give one seed per mixture, and at least one mixture")
    if learning_rates is not None and (len(learning_rates) != len(mixtures)
                                       or min(learning_rates) <= 0):
        raise ValueError("give one positive learning rate per mixture")
    size = len(mixtures)
    states = states or [None] * size
    keys = [state_key(mix, seed, model_cfg, train_cfg,
                      None if learning_rates is None else learning_rates[m])
            for m, (mix, seed) in enumerate(zip(mixtures, seeds))]
    if len(states) != size or len(cohorts(states)) > 1:
        raise ValueError("give one state per mixture, all of one step (see cohorts())")
    if any(state is not None and state.key != key for state, key in zip(states, keys)):
        raise ValueError("a state belongs to another run or other settings")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    if memory_gib is None and device.type == "cuda":
        memory_gib = device_memory_gib(device)
    micro = micro_batch_for(model_cfg, train_cfg, data.vocab_size,
                            None if memory_gib is None else memory_gib / size,
                            gpu=device.type == "cuda")
    loss_kind = resolve_loss(train_cfg.loss, device, size * micro * model_cfg.seq_len,
                             data.vocab_size)
    # a stack's loss without whole logits is the batched chunked one (liger-kernel fuses one
    # model's output layer; a stack's would go one model at a time): the record says so
    loss_kind = CHUNKED if loss_kind == FUSED else loss_kind
    group = _Group([{d: w for d, w in mix.items() if w > 0} for mix in mixtures], list(seeds),
                   data, model_cfg, train_cfg, device, keys, on_done, on_eval)
    group.restore(states)
    clock = ProgressClock(on_progress, train_cfg.steps, train_cfg.batch_size * model_cfg.seq_len,
                          start=group.start, seconds=progress_seconds)
    try:
        return group.train(micro, loss_kind, started, save_to or [None] * size,
                           target_logprobs, learning_rates, checkpoint_to or [None] * size,
                           clock)
    except torch.OutOfMemoryError as exc:
        raise out_of_memory(exc, micro, f"a group of {size} proxies") from None


class _Group:
    """The state of one group's training: its solo models, their stack, who is alive."""

    def __init__(self, mixtures, seeds, data: ProxyData, model_cfg: ModelConfig,
                 train_cfg: TrainingConfig, device: torch.device, keys: list[str],
                 on_done: Callable[[int, RunRecord], None] | None,
                 on_eval: Callable[[int, Evaluation], None] | None = None):
        self.mixtures, self.seeds, self.data = mixtures, seeds, data
        self.model_cfg, self.train_cfg, self.device = model_cfg, train_cfg, device
        self.keys, self.on_done = keys, on_done or (lambda m, record: None)
        self.on_eval = on_eval or (lambda m, row: None)
        self.solos = [build_model(model_cfg, data.vocab_size, seed, train_cfg.init_from)
                      .to(device) for seed in seeds]
        self.stacked = StackedLlama(self.solos).to(device)
        self.alive = torch.ones(len(mixtures), dtype=torch.bool, device=device)
        self.reasons: list[str | None] = [None] * len(mixtures)
        self.evaluations: list[list[Evaluation]] = [[] for _ in mixtures]
        self.initial: list[dict] = [{} for _ in mixtures]
        self.states: list[ModelState] = []  # what training resumes from (none: step 0)
        self.start = 0

    @torch.no_grad()
    def restore(self, states: list[ModelState | None]) -> None:
        """Put each model where its state left it (all at one step; all None: step 0).
        The optimiser's moments and the samplers' positions follow in :meth:`train`."""
        if states[0] is None:
            return
        self.states, self.start = list(states), states[0].step
        for name, weight in self.stacked.named_parameters():
            weight.copy_(torch.stack([s.weights[name] for s in states]))
        self.evaluations = [list(s.evaluations) for s in states]
        self.initial = [dict(s.initial) for s in states]

    def _restore_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """AdamW's state as it was after ``start`` steps: each model's moments stacked."""
        if not self.states:
            return
        saved = optimizer.state_dict()
        names = [name for name, _ in self.stacked.named_parameters()]
        saved["state"] = {i: {"step": torch.tensor(float(self.start)),
                              **{k: torch.stack([s.moments[name][k] for s in self.states])
                                 for k in MOMENTS}}
                          for i, name in enumerate(names)}
        optimizer.load_state_dict(saved)  # to each weight's device and dtype

    @torch.no_grad()
    def snapshot(self, m: int, step: int, optimizer: torch.optim.Optimizer,
                 sampler: dict) -> ModelState:
        """Model ``m`` now, after ``step`` steps (its sampler's state after that step)."""
        weights, moments = {}, {}
        for name, weight in self.stacked.named_parameters():
            weights[name] = weight[m].detach().cpu().clone()
            moments[name] = {k: optimizer.state[weight][k][m].detach().cpu().clone()
                             for k in MOMENTS}
        return ModelState(key=self.keys[m], step=step, weights=weights, moments=moments,
                          sampler=sampler, evaluations=list(self.evaluations[m]),
                          initial=dict(self.initial[m]))

    def evaluate(self, windows: int) -> list[dict[str, float] | None]:
        """Each live model's validation losses, evaluated as its solo run (None: failed)."""
        self.stacked.unstack(self.solos)
        return [None if reason is not None else
                evaluate_proxy(solo, self.data, self.model_cfg.seq_len,
                         self.train_cfg.eval_tokens, self.device, windows)
                for solo, reason in zip(self.solos, self.reasons)]

    def fail(self, m: int, reason: str) -> None:
        """Leave model ``m`` out from now on, and hand its failed record on at once."""
        self.reasons[m] = reason
        self.alive[m] = False
        self.on_done(m, RunRecord(status=FAILED, reason=reason, mixture=self.mixtures[m],
                                  seed=self.seeds[m], target_name=self.data.target_name))

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        # a failed model's loss is left out: its gradient is 0, the others' are their own
        return torch.where(self.alive, losses, torch.zeros_like(losses)).sum()

    def train(self, micro: int, loss_kind: str, started: float, save_to, target_logprobs,
              learning_rates, checkpoint_to, clock: ProgressClock):
        cfg, data, device = self.train_cfg, self.data, self.device
        eval_windows = min(EVAL_BATCH, micro)
        if cfg.init_from is not None and data.valid and not self.states:
            for m, losses in enumerate(self.evaluate(eval_windows)):
                self.initial[m] = {"initial_losses": losses,
                                   "initial_target_loss": target_loss(losses,
                                                                      data.target_weights)}
        adamw = torch.optim.AdamW(self.stacked.parameters(), lr=cfg.lr, betas=(0.9, 0.95),
                                  weight_decay=cfg.weight_decay, fused=device.type == "cuda")
        self._restore_optimizer(adamw)
        optimizer = adamw
        if learning_rates is not None and any(lr != cfg.lr for lr in learning_rates):
            optimizer = PerModelRate(adamw, [lr / cfg.lr for lr in learning_rates])
        samplers = [MixtureBatches(data.train, mix, cfg.steps, cfg.batch_size,
                                   self.model_cfg.seq_len, seed=seed)
                    for mix, seed in zip(self.mixtures, self.seeds)]
        for sampler, state in zip(samplers, self.states):  # where each left off
            sampler.rng.bit_generator.state = state.sampler
        eval_steps = set(cfg.eval_steps)
        # checkpoints at evaluations only (off the hot path), not the last: the record is due
        checkpoint_steps = (frozenset(eval_steps - {cfg.steps})
                            if any(checkpoint_to) and data.valid else frozenset())
        batches = GroupBatches(samplers, self.start, keep_after=checkpoint_steps)

        def forward(part: torch.Tensor) -> torch.Tensor:
            with autocast(device):
                return self.stacked.loss(part, loss_kind)

        step_loss = StepLoss(forward, compile_step(cfg.compile, device),
                             objective=self.objective, split_dim=1)
        tokens_per_step = cfg.batch_size * self.model_cfg.seq_len
        eval_seconds = first_step_seconds = 0.0
        loop_started = time.perf_counter()
        with Prefetcher(batches, cfg.steps - self.start, device) as prefetch:
            for step in range(self.start, cfg.steps):
                losses = step_loss.train_step(
                    step, prefetch.next(), micro, optimizer, cfg,
                    clip=lambda: clip_grad_norm_per_model(self.stacked, cfg.grad_clip),
                    first=step == self.start)
                if step == self.start:  # compiles, when compiling: timed apart from training
                    first_step_seconds = time.perf_counter() - loop_started
                if step + 1 in eval_steps and data.valid:
                    eval_started = time.perf_counter()
                    self._record(step + 1, losses.tolist(), step_tokens=tokens_per_step,
                                 windows=eval_windows)
                    if step + 1 in checkpoint_steps:
                        self._checkpoint(step + 1, adamw, batches.rng_states.pop(step + 1),
                                         checkpoint_to)
                    eval_seconds += time.perf_counter() - eval_started
                # the live count from the reasons, not ``alive``: no GPU sync
                clock.tick(step + 1, models=self.reasons.count(None))
        final_losses = losses.tolist()
        training_seconds = time.perf_counter() - loop_started - eval_seconds
        self.stacked.unstack(self.solos)
        how = dict(
            tokens_seen=cfg.steps * tokens_per_step, **count_parameters(self.solos[0]),
            train_seconds=time.perf_counter() - started, device=str(device),
            micro_batch_size=micro, loss=loss_kind, group_size=len(self.solos),
            # each model's own rate: the group trains M times this many tokens a second
            **how_steps_ran(step_loss.compiled, first_step_seconds, training_seconds,
                            prefetch.waited, (cfg.steps - self.start - 1) * tokens_per_step))
        return [self._finish(m, final_losses[m], how, save_to[m], target_logprobs,
                             eval_windows) for m in range(len(self.solos))]

    def _finish(self, m: int, final_loss: float, how: dict, save_to: str | None,
                target_logprobs: bool, windows: int) -> RunRecord:
        """Model ``m``'s record, handed on as soon as it is made: before any later model's
        final model is kept or its log-probabilities made. Its own final model is kept
        first, so a stored record's model is always there."""
        if self.reasons[m] is not None:  # handed on when it failed
            return RunRecord(status=FAILED, reason=self.reasons[m], mixture=self.mixtures[m],
                             seed=self.seeds[m], target_name=self.data.target_name)
        if save_to is not None:
            save_checkpoint(self.solos[m], save_to)
        per_token = (rounded_target_logprobs(self.solos[m], self.data, self.model_cfg.seq_len,
                                             self.train_cfg, self.device, windows)
                     if target_logprobs else None)
        record = RunRecord(
            mixture=self.mixtures[m], seed=self.seeds[m], target_name=self.data.target_name,
            evaluations=self.evaluations[m], final_train_loss=final_loss,
            target_logprobs=per_token, **how, **self.initial[m])
        self.on_done(m, record)
        return record

    def _checkpoint(self, step: int, optimizer: torch.optim.Optimizer, samplers: list[dict],
                    paths: list[str | None]) -> None:
        """Each live model's state after ``step`` steps, to its own file. A state the
        storage refuses is skipped with a note: training goes on (its record, not its
        state, is what must be stored, and the storage's refusal of that stops a sweep)."""
        for m, path in enumerate(paths):
            if path is not None and self.reasons[m] is None:
                try:
                    save_state(path, self.snapshot(m, step, optimizer, samplers[m]))
                except OSError as exc:
                    print(f"raymix: note: no checkpoint of a proxy at step {step} ({exc}); "
                          "a retry would train it from its last one", file=sys.stderr)

    def _record(self, step: int, train_losses: list[float], *, step_tokens: int,
                windows: int) -> None:
        """Evaluate every live model at ``step``; fail those whose loss is not finite;
        hand each live one's row on (``on_eval``) once its record holds it."""
        for m, scores in enumerate(self.evaluate(windows)):
            if scores is None:
                continue
            row = Evaluation(step=step, tokens=step * step_tokens, train_loss=train_losses[m],
                             losses=scores, target_loss=target_loss(scores,
                                                                    self.data.target_weights))
            if not (math.isfinite(row.train_loss) and math.isfinite(row.target_loss)):
                self.fail(m, f"loss became {row.train_loss} (train) / {row.target_loss} "
                             f"(target) at step {step}")
                continue
            self.evaluations[m].append(row)
            self.on_eval(m, row)
