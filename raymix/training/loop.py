"""One proxy run: a tiny causal LM trained on one mixture, evaluated on every validation set.

The loop is deliberately plain (nanoGPT-style) so that it is easy to audit and so that
its speed can be compared with a bare PyTorch loop (bench/bench_proxy_speed.py):

    for step in 1..steps:
        batch = next batch (built ahead in a thread), each sequence drawn from a domain in
                proportion to the mixture
        for each micro-batch of it:                     # gradient accumulation
            loss = cross_entropy(model(x), y)           # chunked or fused: no whole logits
            (loss / micro-batches).backward()
        clip; AdamW step with warmup + cosine
        at each evaluation step: mean per-token loss on every validation set and the target
        at most every PROGRESS_SECONDS: a heartbeat (step, tokens per second)

The forward and loss of a micro-batch can be compiled (``training.compile``); the
first step's compilation is timed apart from training (``RunRecord.compile_seconds``).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from raymix.config import ModelConfig, TrainingConfig, family_key, task_key
from raymix.runs import Evaluation, RunRecord
from raymix.storage import user_cache_dir
from raymix.training.batches import MixtureBatches, Prefetcher
from raymix.training.loss import lm_loss, resolve_loss, token_nll
from raymix.training.memory import GIB, micro_batch_for
from raymix.training.model import build_model, count_parameters, save_checkpoint
from raymix.training.tasks import TaskWindows, bits_per_byte, continuation_logprobs

EVAL_BATCH = 64  # validation windows per forward pass (at most: never more than a micro-batch)
PROGRESS_SECONDS = 10.0  # a training loop's heartbeat (on_progress) comes at most this often


class ProxyDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class ProxyData:
    """Token arrays a proxy run reads (numpy views; shared, never copied per trial).

    ``valid`` holds every domain's validation split and, when the target is a separate
    corpus, the target's tokens under the target's name. ``tasks`` holds downstream
    tasks' items (a task target), ``families`` each task family's tasks and their weights.
    ``target_weights`` says how the target loss is made from the losses of
    :func:`evaluate_proxy`: ``{target_name: 1.0}`` for a corpus, the configured weights
    over domains, or over tasks (``task:<name>``, bits per byte).
    """

    train: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    target_name: str
    target_weights: dict[str, float]
    vocab_size: int
    tasks: dict[str, TaskWindows] = field(default_factory=dict)
    families: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """A training loop's heartbeat (``on_progress``): where it is, between evaluations.

    Attributes
    ----------
    step : int
        Steps done.
    steps : int
        The run's total steps.
    models : int
        Proxies still training (1 for a solo run; a group's live ones).
    tokens_per_s : float
        Training tokens per second since the last heartbeat (or the loop's start), all
        the models together; wall time, evaluations included.
    """

    step: int
    steps: int
    models: int
    tokens_per_s: float


class ProgressClock:
    """Says when a training loop calls ``on_progress``: at most once every ``seconds``
    (default :data:`PROGRESS_SECONDS`) and at most once per step.

    The loop calls :meth:`tick` after each step. It reads ``time.monotonic()`` only: no
    GPU sync (a GPU's queued steps finish later; the rate over an interval is right all
    the same). Without ``on_progress`` a tick does nothing.
    """

    def __init__(self, on_progress: Callable[[Progress], None] | None, steps: int,
                 tokens_per_step: int, *, start: int = 0, seconds: float | None = None):
        self.on_progress, self.steps, self.tokens_per_step = on_progress, steps, tokens_per_step
        self.seconds = PROGRESS_SECONDS if seconds is None else seconds
        self.last_time, self.last_step = time.monotonic(), start

    def tick(self, step: int, models: int) -> None:
        """``step`` steps are done, ``models`` proxies train on: a heartbeat if it is time."""
        if self.on_progress is None:
            return
        now = time.monotonic()
        if now - self.last_time < self.seconds or step == self.last_step:
            return
        tokens = (step - self.last_step) * self.tokens_per_step * models
        rate = tokens / max(now - self.last_time, 1e-9)
        self.last_time, self.last_step = now, step
        self.on_progress(Progress(step=step, steps=self.steps, models=models,
                                  tokens_per_s=rate))


def learning_rate(step: int, cfg: TrainingConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


@torch.no_grad()
def evaluate(model: torch.nn.Module, valid: dict[str, np.ndarray], seq_len: int,
             eval_tokens: int, device: torch.device,
             windows: int = EVAL_BATCH) -> dict[str, float]:
    """Mean per-token loss on the first ``eval_tokens`` tokens of each validation set.

    Every run sees the same windows, so differences between runs are not sampling noise.
    """
    return {name: -float(token_logprobs(model, tokens, seq_len, eval_tokens, device,
                                        windows).mean())
            for name, tokens in valid.items()}


def evaluate_proxy(model: torch.nn.Module, data: ProxyData, seq_len: int, eval_tokens: int,
                   device: torch.device, windows: int = EVAL_BATCH) -> dict[str, float]:
    """What an evaluation records: :func:`evaluate`'s loss on every validation set, and
    with tasks each task's and each family's bits per byte (``task:<name>``,
    ``family:<name>``; a family is its tasks' weighted mean)."""
    losses = evaluate(model, data.valid, seq_len, eval_tokens, device, windows)
    for name, task in data.tasks.items():
        losses[task_key(name)] = bits_per_byte(
            continuation_logprobs(model, task, device, windows, autocast), task.nbytes)
    for family, weights in data.families.items():
        total = sum(weights.values())
        losses[family_key(family)] = (
            sum(losses[task_key(t)] * w for t, w in weights.items()) / total if total > 0
            else float(np.mean([losses[task_key(t)] for t in weights])))
    return losses


@torch.no_grad()
def token_logprobs(model: torch.nn.Module, tokens: np.ndarray, seq_len: int,
                   eval_tokens: int, device: torch.device,
                   windows: int = EVAL_BATCH) -> np.ndarray:
    """log p(token | its context) for each predicted token of :func:`evaluate`'s windows.

    ``windows`` go through the model at a time; their logits a chunk at a time
    (:func:`~raymix.training.loss.token_nll`). MixMin scores a mixture of per-domain
    proxies from these (:mod:`raymix.proposal.mixmin`).
    """
    was_training = model.training
    model.eval()
    n_windows = max(1, min(eval_tokens // seq_len, (len(tokens) - 1) // seq_len))
    starts = np.arange(n_windows) * seq_len
    out = []
    for i in range(0, n_windows, windows):
        idx = starts[i:i + windows, None] + np.arange(seq_len + 1)
        batch = torch.from_numpy(tokens[idx].astype(np.int64)).to(device)
        with autocast(device):
            hidden = model.model(input_ids=batch[:, :-1]).last_hidden_state
            nll = token_nll(hidden, model.lm_head.weight, batch[:, 1:])
        out.append(-nll.double().cpu().numpy().reshape(-1))
    model.train(was_training)
    return np.concatenate(out)


def autocast(device: torch.device):
    # bf16 on GPUs (fast, no loss scaling needed); plain float32 on CPUs.
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def target_loss(losses: dict[str, float], weights: dict[str, float]) -> float:
    total = sum(weights.values())
    return sum(losses[name] * w for name, w in weights.items()) / total


def train_proxy(mixture: dict[str, float], data: ProxyData, model_cfg: ModelConfig,
                train_cfg: TrainingConfig, *, device: torch.device | None = None,
                on_eval: Callable[[Evaluation], None] | None = None,
                on_progress: Callable[[Progress], None] | None = None,
                progress_seconds: float | None = None,
                save_to: str | None = None, target_logprobs: bool = False,
                memory_gib: float | None = None) -> RunRecord:
    """Train one proxy on ``mixture`` and return its record (without a run id).

    ``on_eval`` is called with each :class:`~raymix.runs.Evaluation` as it is made, and
    ``on_progress`` with a :class:`Progress` at most every ``progress_seconds`` (default
    :data:`PROGRESS_SECONDS`) between them (:class:`ProgressClock`). The
    record holds the mixture, every evaluation, tokens seen, parameter counts, wall time
    and how the steps ran (micro-batch, loss, compilation, tokens per second, the share
    of time spent waiting for batches); for continual pretraining
    (``train_cfg.init_from``) also the losses of the starting checkpoint
    (``initial_losses``), the baseline that ``propose --critical`` keeps. ``save_to``
    keeps the final model there (``save_pretrained``). ``target_logprobs`` adds the final
    model's per-token log-probabilities on the target's windows (MixMin).
    ``memory_gib`` is the memory this run may use, for ``training.micro_batch_size: auto``
    (default: a CUDA device's whole memory; on a CPU, unknown: the whole batch at once).

    Raises
    ------
    ProxyDiverged
        When the training or target loss is not finite at an evaluation.
    ProxyOutOfMemory
        When the GPU runs out of memory (the message says how much was asked).
    """
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    mixture = {d: w for d, w in mixture.items() if w > 0}
    if memory_gib is None and device.type == "cuda":
        memory_gib = device_memory_gib(device)
    micro = micro_batch_for(model_cfg, train_cfg, data.vocab_size, memory_gib,
                            gpu=device.type == "cuda")
    loss_kind = resolve_loss(train_cfg.loss, device, micro * model_cfg.seq_len, data.vocab_size)
    try:
        return _train(mixture, data, model_cfg, train_cfg, device, micro, loss_kind, started,
                      on_eval, save_to, target_logprobs, on_progress, progress_seconds)
    except torch.OutOfMemoryError as exc:
        raise out_of_memory(exc, micro) from None


def out_of_memory(exc: torch.OutOfMemoryError, micro: int,
                  what: str = "the proxy") -> ProxyOutOfMemory:
    """The user's error for a CUDA out-of-memory while training ``what``."""
    asked = str(exc).strip().splitlines()[0]
    return ProxyOutOfMemory(
        f"the GPU ran out of memory training {what} at a micro-batch of {micro} sequences "
        f"({asked}); set training.micro_batch_size lower, compute.models_per_trial lower, "
        "or give each trial more memory (compute.gpus_per_trial)")


def device_memory_gib(device: torch.device) -> float:
    """A CUDA device's whole memory (GiB)."""
    return torch.cuda.get_device_properties(device).total_memory / GIB


class ProxyOutOfMemory(RuntimeError):
    """The GPU ran out of memory while training a proxy."""


def _train(mixture, data, model_cfg, train_cfg, device, micro, loss_kind, started, on_eval,
           save_to, target_logprobs, on_progress, progress_seconds) -> RunRecord:
    model = build_model(model_cfg, data.vocab_size, train_cfg.seed,
                        train_cfg.init_from).to(device)
    eval_windows = min(EVAL_BATCH, micro)
    initial = {}
    if train_cfg.init_from is not None and data.valid:
        losses = evaluate_proxy(model, data, model_cfg.seq_len, train_cfg.eval_tokens, device,
                          eval_windows)
        initial = {"initial_losses": losses,
                   "initial_target_loss": target_loss(losses, data.target_weights)}
    # fused AdamW on a GPU: one kernel per step instead of several, which matters for
    # proxies this small (their steps are bound by kernel launches, not arithmetic)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, betas=(0.9, 0.95),
                                  weight_decay=train_cfg.weight_decay,
                                  fused=device.type == "cuda")
    batches = MixtureBatches(data.train, mixture, train_cfg.steps, train_cfg.batch_size,
                             model_cfg.seq_len, seed=train_cfg.seed)
    step_loss = StepLoss(solo_forward(model, loss_kind, device),
                         compile_step(train_cfg.compile, device))
    eval_steps = set(train_cfg.eval_steps)
    evaluations = []
    tokens_per_step = train_cfg.batch_size * model_cfg.seq_len
    eval_seconds = first_step_seconds = 0.0
    loop_started = time.perf_counter()
    clock = ProgressClock(on_progress, train_cfg.steps, tokens_per_step,
                          seconds=progress_seconds)
    with Prefetcher(batches, train_cfg.steps, device) as prefetch:
        for step in range(train_cfg.steps):
            loss = step_loss.train_step(
                step, prefetch.next(), micro, optimizer, train_cfg,
                clip=lambda: torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                            train_cfg.grad_clip))
            if step == 0:  # compiles, when compiling: timed apart from training
                first_step_seconds = time.perf_counter() - loop_started
            if step + 1 in eval_steps and data.valid:  # no validation sets: nothing to evaluate
                eval_started = time.perf_counter()
                losses = evaluate_proxy(model, data, model_cfg.seq_len, train_cfg.eval_tokens,
                                  device, eval_windows)
                row = Evaluation(step=step + 1, tokens=(step + 1) * tokens_per_step,
                                 train_loss=loss.item(), losses=losses,
                                 target_loss=target_loss(losses, data.target_weights))
                # Checked at evaluations only: a per-step check would sync the GPU every step.
                if not (math.isfinite(row.train_loss) and math.isfinite(row.target_loss)):
                    raise ProxyDiverged(f"loss became {row.train_loss} (train) / "
                                        f"{row.target_loss} (target) at step {step + 1}")
                evaluations.append(row)
                eval_seconds += time.perf_counter() - eval_started
                if on_eval is not None:
                    on_eval(row)
            clock.tick(step + 1, models=1)
    final_train_loss = loss.item()  # also waits for a GPU to finish, before the clock stops
    training_seconds = time.perf_counter() - loop_started - eval_seconds
    if save_to is not None:
        save_checkpoint(model, save_to)
    return RunRecord(
        mixture=mixture, seed=train_cfg.seed, target_name=data.target_name,
        evaluations=evaluations, final_train_loss=final_train_loss,
        tokens_seen=train_cfg.steps * tokens_per_step, **count_parameters(model),
        train_seconds=time.perf_counter() - started, device=str(device),
        target_logprobs=(rounded_target_logprobs(model, data, model_cfg.seq_len, train_cfg,
                                                 device, eval_windows)
                         if target_logprobs else None),
        micro_batch_size=micro, loss=loss_kind,
        **how_steps_ran(step_loss.compiled, first_step_seconds, training_seconds,
                        prefetch.waited, (train_cfg.steps - 1) * tokens_per_step),
        **initial)


def how_steps_ran(compiled: bool, first_step_seconds: float, training_seconds: float,
                  waited_seconds: float, tokens_after_first: int) -> dict:
    """A record's fields on how the steps ran: whether compiled and the first step's
    seconds (compilation included), training tokens per second after the first step
    (evaluation left out), and the share of training time spent waiting for batches."""
    steady = training_seconds - first_step_seconds
    return {"compiled": compiled,
            "compile_seconds": first_step_seconds if compiled else None,
            "tokens_per_second": (tokens_after_first / steady
                                  if tokens_after_first > 0 and steady > 0 else None),
            "data_wait_fraction": (waited_seconds / training_seconds if training_seconds > 0
                                   else None)}


def rounded_target_logprobs(model: torch.nn.Module, data: ProxyData, seq_len: int,
                            train_cfg: TrainingConfig, device: torch.device,
                            windows: int) -> list[float]:
    """What MixMin scores mixtures of proxies on, to 6 decimals (far below seed noise, and
    a third of the JSON): the final model's log-probability of each target token, or with
    tasks of each item's gold continuation (the tasks' items in turn)."""
    if data.tasks:
        logprobs = np.concatenate([continuation_logprobs(model, task, device, windows, autocast)
                                   for task in data.tasks.values()])
    else:
        logprobs = token_logprobs(model, data.valid[data.target_name], seq_len,
                                  train_cfg.eval_tokens, device, windows)
    return np.round(logprobs, 6).tolist()


def compile_step(setting: str, device: torch.device) -> bool:
    """Whether ``training.compile`` compiles the step on ``device`` (auto: on CUDA only)."""
    return setting == "true" or (setting == "auto" and device.type == "cuda")


class StepLoss:
    """The forward pass and loss of one micro-batch, compiled or not, and the gradient
    accumulation of a step over its micro-batches.

    ``forward`` maps a micro-batch of windows to its mean loss: a scalar for one proxy
    (:func:`solo_forward`), one per model ``[M]`` for a stack (``objective`` then makes
    the scalar that is differentiated, and the micro-batches split ``split_dim``).
    When compiling, the first step compiles (forward and backward); if that fails, a
    one-line notice goes to stderr and the run goes on eagerly (``compiled`` False).
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], compile: bool, *,
                 objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 split_dim: int = 0):
        self.eager = forward
        self.objective = objective or (lambda loss: loss)
        self.split_dim = split_dim
        self.compiled = compile
        self._forward = compile_static(forward) if compile else forward

    def train_step(self, step: int, batch: torch.Tensor, micro: int,
                   optimizer: torch.optim.Optimizer, cfg: TrainingConfig,
                   clip: Callable[[], object], first: bool | None = None) -> torch.Tensor:
        """Step ``step`` of training: its learning rate, the batch's gradient (compiling at
        the first step: step 0, or ``first``, the step a resumed run starts at), ``clip``,
        the optimiser's step. Returns the batch's mean loss (detached)."""
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        first = step == 0 if first is None else first
        loss = (self.first_step(batch, micro, optimizer) if first
                else self.accumulate(batch, micro))
        clip()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def accumulate(self, batch: torch.Tensor, micro: int) -> torch.Tensor:
        """Backward of the whole batch's mean loss, a micro-batch at a time; returns that
        mean loss (detached). Micro-batches are equal, so the accumulated gradient is the
        whole batch's exactly."""
        parts = batch.split(micro, dim=self.split_dim)
        total = 0
        for part in parts:
            loss = self._forward(part)
            (self.objective(loss) / len(parts)).backward()
            total = total + loss.detach()
        return total / len(parts)

    def first_step(self, batch: torch.Tensor, micro: int,
                   optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """:meth:`accumulate`, compiling first; eagerly when compilation fails."""
        if not self.compiled:
            return self.accumulate(batch, micro)
        try:
            loss = self.accumulate(batch, micro)
            loss.sum().item()  # waits for the compiled step to run
            return loss
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any compiler failure: train eagerly
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            print(f"raymix: note: torch.compile failed ({type(exc).__name__}: {reason}); "
                  "training without compiling", file=sys.stderr)
            optimizer.zero_grad(set_to_none=True)
            self.compiled = False
            self._forward = self.eager
            return self.accumulate(batch, micro)


def compile_static(forward: Callable[[torch.Tensor], torch.Tensor]
                   ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``forward`` compiled for the shapes it is called with, each shape a static graph of
    its own, its compiled code kept on disk (:func:`use_compile_cache`).

    ``dynamic=False``: by default a function called with a second shape (a process that
    trains a group of 2, then one of 3) is recompiled with its changed sizes symbolic
    ("automatic dynamic"). That second, dynamic graph of the stacked step failed in
    Inductor on a GPU (``InductorError: AssertionError``; the run fell back to eager),
    where every first, static graph compiled. A static graph per shape is the path that
    works; a shape seen before in the process reuses its graph (TorchDynamo keeps up to
    ``torch._dynamo.config.recompile_limit``, 8, per function), and one seen before by
    any process of this user is read from the cache instead of compiled.
    """
    use_compile_cache()
    return torch.compile(forward, dynamic=False)


def use_compile_cache() -> Path | None:
    """Where Inductor keeps compiled code (its FX graph cache): ``$TORCHINDUCTOR_CACHE_DIR``
    when set, else ``inductor/`` in raymix's cache (:func:`raymix.storage.user_cache_dir`)
    rather than torch's default in the temporary folder. Every trial process of a
    sweep on a node picks the same folder, so a shape compiled once is read, not compiled
    again; the variable set here is also what the process's child processes inherit.
    None where raymix's folder cannot be made or written (a read-only home): torch's
    default then, since ``torch.compile`` fails on a cache folder it cannot make.

    Importing ``torch._dynamo`` (raymix's loss does) sets the variable to torch's default
    folder: that value counts as unset; any other is the user's and wins."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    given = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if given and os.path.abspath(given) != os.path.abspath(default_cache_dir()):
        return Path(given)
    try:
        folder = user_cache_dir() / "inductor"
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # RuntimeError: no home folder to be found
        return None
    if not os.access(folder, os.W_OK):
        return None
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return folder


def solo_forward(model: torch.nn.Module, loss: str,
                 device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """One proxy's forward pass and mean loss on windows ``[B, T + 1]`` (for :class:`StepLoss`)."""
    def forward(part: torch.Tensor) -> torch.Tensor:
        with autocast(device):
            hidden = model.model(input_ids=part[:, :-1]).last_hidden_state
            return lm_loss(hidden, model.lm_head.weight, part[:, 1:], loss)
    return forward
