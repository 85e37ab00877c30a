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
                                 recorded as failed and left out of the loss from then on

Summing the losses gives each model its solo gradient, so model ``m`` of a group trains as
its solo run would, up to float rounding (tests/unit/test_group.py). The step can be
compiled (``training.compile``), as the solo step is.
"""

from __future__ import annotations

import math
import time

import torch

from raymix.config import ModelConfig, TrainingConfig
from raymix.runs import FAILED, Evaluation, RunRecord
from raymix.training.batches import MixtureBatches, Prefetcher
from raymix.training.loop import (
    EVAL_BATCH,
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
    from its own :class:`MixtureBatches` (its mixture, its seed), as its solo run's."""

    def __init__(self, samplers: list[MixtureBatches]):
        self.samplers = samplers

    def __getitem__(self, step: int) -> torch.Tensor:
        return torch.stack([sampler[step] for sampler in self.samplers])


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


def train_group(mixtures: list[dict[str, float]], seeds: list[int], data: ProxyData,
                model_cfg: ModelConfig, train_cfg: TrainingConfig, *,
                device: torch.device | None = None, save_to: list[str | None] | None = None,
                target_logprobs: bool = False, memory_gib: float | None = None,
                learning_rates: list[float] | None = None) -> list[RunRecord]:
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
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    if memory_gib is None and device.type == "cuda":
        memory_gib = device_memory_gib(device)
    size = len(mixtures)
    micro = micro_batch_for(model_cfg, train_cfg, data.vocab_size,
                            None if memory_gib is None else memory_gib / size,
                            gpu=device.type == "cuda")
    loss_kind = resolve_loss(train_cfg.loss, device, size * micro * model_cfg.seq_len,
                             data.vocab_size)
    # a stack's loss without whole logits is the batched chunked one (liger-kernel fuses one
    # model's output layer; a stack's would go one model at a time): the record says so
    loss_kind = CHUNKED if loss_kind == FUSED else loss_kind
    group = _Group([{d: w for d, w in mix.items() if w > 0} for mix in mixtures], list(seeds),
                   data, model_cfg, train_cfg, device)
    try:
        return group.train(micro, loss_kind, started, save_to or [None] * size,
                           target_logprobs, learning_rates)
    except torch.OutOfMemoryError as exc:
        raise out_of_memory(exc, micro, f"a group of {size} proxies") from None


class _Group:
    """The state of one group's training: its solo models, their stack, who is alive."""

    def __init__(self, mixtures, seeds, data: ProxyData, model_cfg: ModelConfig,
                 train_cfg: TrainingConfig, device: torch.device):
        self.mixtures, self.seeds, self.data = mixtures, seeds, data
        self.model_cfg, self.train_cfg, self.device = model_cfg, train_cfg, device
        self.solos = [build_model(model_cfg, data.vocab_size, seed, train_cfg.init_from)
                      .to(device) for seed in seeds]
        self.stacked = StackedLlama(self.solos).to(device)
        self.alive = torch.ones(len(mixtures), dtype=torch.bool, device=device)
        self.reasons: list[str | None] = [None] * len(mixtures)
        self.evaluations: list[list[Evaluation]] = [[] for _ in mixtures]

    def evaluate(self, windows: int) -> list[dict[str, float] | None]:
        """Each live model's validation losses, evaluated as its solo run (None: failed)."""
        self.stacked.unstack(self.solos)
        return [None if reason is not None else
                evaluate_proxy(solo, self.data, self.model_cfg.seq_len,
                         self.train_cfg.eval_tokens, self.device, windows)
                for solo, reason in zip(self.solos, self.reasons)]

    def fail(self, m: int, reason: str) -> None:
        self.reasons[m] = reason
        self.alive[m] = False

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        # a failed model's loss is left out: its gradient is 0, the others' are their own
        return torch.where(self.alive, losses, torch.zeros_like(losses)).sum()

    def train(self, micro: int, loss_kind: str, started: float, save_to, target_logprobs,
              learning_rates):
        cfg, data, device = self.train_cfg, self.data, self.device
        eval_windows = min(EVAL_BATCH, micro)
        initial: list[dict] = [{} for _ in self.solos]
        if cfg.init_from is not None and data.valid:
            for m, losses in enumerate(self.evaluate(eval_windows)):
                initial[m] = {"initial_losses": losses,
                              "initial_target_loss": target_loss(losses, data.target_weights)}
        optimizer = torch.optim.AdamW(self.stacked.parameters(), lr=cfg.lr, betas=(0.9, 0.95),
                                      weight_decay=cfg.weight_decay,
                                      fused=device.type == "cuda")
        if learning_rates is not None and any(lr != cfg.lr for lr in learning_rates):
            optimizer = PerModelRate(optimizer, [lr / cfg.lr for lr in learning_rates])
        samplers = [MixtureBatches(data.train, mix, cfg.steps, cfg.batch_size,
                                   self.model_cfg.seq_len, seed=seed)
                    for mix, seed in zip(self.mixtures, self.seeds)]

        def forward(part: torch.Tensor) -> torch.Tensor:
            with autocast(device):
                return self.stacked.loss(part, loss_kind)

        step_loss = StepLoss(forward, compile_step(cfg.compile, device),
                             objective=self.objective, split_dim=1)
        eval_steps = set(cfg.eval_steps)
        tokens_per_step = cfg.batch_size * self.model_cfg.seq_len
        eval_seconds = first_step_seconds = 0.0
        loop_started = time.perf_counter()
        with Prefetcher(GroupBatches(samplers), cfg.steps, device) as prefetch:
            for step in range(cfg.steps):
                losses = step_loss.train_step(
                    step, prefetch.next(), micro, optimizer, cfg,
                    clip=lambda: clip_grad_norm_per_model(self.stacked, cfg.grad_clip))
                if step == 0:  # compiles, when compiling: timed apart from training
                    first_step_seconds = time.perf_counter() - loop_started
                if step + 1 in eval_steps and data.valid:
                    eval_started = time.perf_counter()
                    self._record(step + 1, losses.tolist(), step_tokens=tokens_per_step,
                                 windows=eval_windows)
                    eval_seconds += time.perf_counter() - eval_started
        final_losses = losses.tolist()
        training_seconds = time.perf_counter() - loop_started - eval_seconds
        self.stacked.unstack(self.solos)
        how = dict(
            tokens_seen=cfg.steps * tokens_per_step, **count_parameters(self.solos[0]),
            train_seconds=time.perf_counter() - started, device=str(device),
            micro_batch_size=micro, loss=loss_kind, group_size=len(self.solos),
            # each model's own rate: the group trains M times this many tokens a second
            **how_steps_ran(step_loss.compiled, first_step_seconds, training_seconds,
                            prefetch.waited, (cfg.steps - 1) * tokens_per_step))
        records = []
        for m, (mix, seed) in enumerate(zip(self.mixtures, self.seeds)):
            if self.reasons[m] is not None:
                records.append(RunRecord(status=FAILED, reason=self.reasons[m], mixture=mix,
                                         seed=seed, target_name=data.target_name))
                continue
            if save_to[m] is not None:
                save_checkpoint(self.solos[m], save_to[m])
            per_token = (rounded_target_logprobs(self.solos[m], data, self.model_cfg.seq_len,
                                                 cfg, device, eval_windows)
                         if target_logprobs else None)
            records.append(RunRecord(
                mixture=mix, seed=seed, target_name=data.target_name,
                evaluations=self.evaluations[m], final_train_loss=final_losses[m],
                target_logprobs=per_token, **how, **initial[m]))
        return records

    def _record(self, step: int, train_losses: list[float], *, step_tokens: int,
                windows: int) -> None:
        """Evaluate every live model at ``step``; fail those whose loss is not finite."""
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
