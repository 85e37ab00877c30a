"""One proxy run: a tiny causal LM trained on one mixture, evaluated on every validation set.

The loop is deliberately plain (nanoGPT-style) so that it is easy to audit and so that
its speed can be compared with a bare PyTorch loop (bench/bench_proxy_speed.py):

    for step in 1..steps:
        x, y = next batch, each sequence drawn from a domain in proportion to the mixture
        loss = cross_entropy(model(x), y); backward; clip; AdamW step with warmup + cosine
        at each evaluation step: mean per-token loss on every validation set and the target
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from raymix.config import ModelConfig, TrainingConfig
from raymix.runs import Evaluation, RunRecord
from raymix.training.model import build_model, count_parameters, save_checkpoint

EVAL_BATCH = 64  # validation windows per forward pass


class ProxyDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class ProxyData:
    """Token arrays a proxy run reads (numpy views; shared, never copied per trial).

    ``valid`` holds every domain's validation split and, when the target is a separate
    corpus, the target's tokens under the target's name. ``target_weights`` says how the
    target loss is made from the ``valid`` losses: ``{target_name: 1.0}`` for a corpus,
    or the configured weights over domains.
    """

    train: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    target_name: str
    target_weights: dict[str, float]
    vocab_size: int


def learning_rate(step: int, cfg: TrainingConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


class MixtureBatches:
    """Batches of token windows whose domains follow the mixture exactly over the run.

    Over the whole run, domain ``d`` supplies ``round(w_d * steps * batch_size)``
    sequences (largest-remainder rounding), in a shuffled order; each sequence starts at
    a uniformly random offset of that domain's training tokens.
    """

    def __init__(self, train: dict[str, np.ndarray], mixture: dict[str, float],
                 steps: int, batch_size: int, seq_len: int, seed: int):
        self.arrays = [train[d] for d in mixture]
        self.batch_size, self.seq_len = batch_size, seq_len
        self.rng = np.random.default_rng(seed)
        counts = _apportion(np.array(list(mixture.values()), dtype=float), steps * batch_size)
        order = np.repeat(np.arange(len(counts)), counts)
        self.rng.shuffle(order)
        self.domain_of = order.reshape(steps, batch_size)
        self.window = np.arange(seq_len + 1)

    def __getitem__(self, step: int) -> torch.Tensor:
        rows = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        for d in np.unique(self.domain_of[step]):
            slots = np.flatnonzero(self.domain_of[step] == d)
            tokens = self.arrays[d]
            starts = self.rng.integers(0, len(tokens) - self.seq_len - 1, size=len(slots))
            rows[slots] = tokens[starts[:, None] + self.window]
        return torch.from_numpy(rows)


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` in proportion to ``weights`` (largest remainder)."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(int)
    remainder = total - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    return counts


@torch.no_grad()
def evaluate(model: torch.nn.Module, valid: dict[str, np.ndarray], seq_len: int,
             eval_tokens: int, device: torch.device) -> dict[str, float]:
    """Mean per-token loss on the first ``eval_tokens`` tokens of each validation set.

    Every run sees the same windows, so differences between runs are not sampling noise.
    """
    return {name: -float(token_logprobs(model, tokens, seq_len, eval_tokens, device).mean())
            for name, tokens in valid.items()}


@torch.no_grad()
def token_logprobs(model: torch.nn.Module, tokens: np.ndarray, seq_len: int,
                   eval_tokens: int, device: torch.device) -> np.ndarray:
    """log p(token | its context) for each predicted token of :func:`evaluate`'s windows.

    MixMin scores a mixture of per-domain proxies from these (:mod:`raymix.proposal.mixmin`).
    """
    was_training = model.training
    model.eval()
    n_windows = max(1, min(eval_tokens // seq_len, (len(tokens) - 1) // seq_len))
    starts = np.arange(n_windows) * seq_len
    out = []
    for i in range(0, n_windows, EVAL_BATCH):
        idx = starts[i:i + EVAL_BATCH, None] + np.arange(seq_len + 1)
        batch = torch.from_numpy(tokens[idx].astype(np.int64)).to(device)
        with _autocast(device):
            logits = model(input_ids=batch[:, :-1]).logits
        nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                              batch[:, 1:].reshape(-1), reduction="none")
        out.append(-nll.double().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out)


def _autocast(device: torch.device):
    # bf16 on GPUs (fast, no loss scaling needed); plain float32 on CPUs.
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def target_loss(losses: dict[str, float], weights: dict[str, float]) -> float:
    total = sum(weights.values())
    return sum(losses[name] * w for name, w in weights.items()) / total


def train_proxy(mixture: dict[str, float], data: ProxyData, model_cfg: ModelConfig,
                train_cfg: TrainingConfig, *, device: torch.device | None = None,
                on_eval: Callable[[Evaluation], None] | None = None,
                save_to: str | None = None, target_logprobs: bool = False) -> RunRecord:
    """Train one proxy on ``mixture`` and return its record (without a run id).

    ``on_eval`` is called with each :class:`~raymix.runs.Evaluation` as it is made. The
    record holds the mixture, every evaluation, tokens seen, parameter counts and wall
    time; for continual pretraining (``train_cfg.init_from``) also the losses of the
    starting checkpoint (``initial_losses``), the baseline that ``propose --critical``
    keeps. ``save_to`` keeps the final model there (``save_pretrained``).
    ``target_logprobs`` adds the final model's per-token log-probabilities on the
    target's windows (MixMin).

    Raises
    ------
    ProxyDiverged
        When the training or target loss is not finite at an evaluation.
    """
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    mixture = {d: w for d, w in mixture.items() if w > 0}
    model = build_model(model_cfg, data.vocab_size, train_cfg.seed,
                        train_cfg.init_from).to(device)
    initial = {}
    if train_cfg.init_from is not None and data.valid:
        losses = evaluate(model, data.valid, model_cfg.seq_len, train_cfg.eval_tokens, device)
        initial = {"initial_losses": losses,
                   "initial_target_loss": target_loss(losses, data.target_weights)}
    # fused AdamW on a GPU: one kernel per step instead of several, which matters for
    # proxies this small (their steps are bound by kernel launches, not arithmetic)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, betas=(0.9, 0.95),
                                  weight_decay=train_cfg.weight_decay,
                                  fused=device.type == "cuda")
    batches = MixtureBatches(data.train, mixture, train_cfg.steps, train_cfg.batch_size,
                             model_cfg.seq_len, seed=train_cfg.seed)
    eval_steps = set(train_cfg.eval_steps)
    evaluations = []
    tokens_per_step = train_cfg.batch_size * model_cfg.seq_len
    for step in range(train_cfg.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, train_cfg)
        batch = batches[step].to(device, non_blocking=True)
        with _autocast(device):
            logits = model(input_ids=batch[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                               batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step + 1 in eval_steps and data.valid:  # no validation sets: nothing to evaluate
            losses = evaluate(model, data.valid, model_cfg.seq_len, train_cfg.eval_tokens, device)
            row = Evaluation(step=step + 1, tokens=(step + 1) * tokens_per_step,
                             train_loss=loss.item(), losses=losses,
                             target_loss=target_loss(losses, data.target_weights))
            # Checked at evaluations only: a per-step check would sync the GPU every step.
            if not (math.isfinite(row.train_loss) and math.isfinite(row.target_loss)):
                raise ProxyDiverged(f"loss became {row.train_loss} (train) / "
                                    f"{row.target_loss} (target) at step {step + 1}")
            evaluations.append(row)
            if on_eval is not None:
                on_eval(row)
    final_train_loss = loss.item()  # also waits for a GPU to finish, before the clock stops
    if save_to is not None:
        save_checkpoint(model, save_to)
    per_token = None
    if target_logprobs:  # 6 decimals: far below seed noise, and a third of the JSON
        logprobs = token_logprobs(model, data.valid[data.target_name], model_cfg.seq_len,
                                  train_cfg.eval_tokens, device)
        per_token = np.round(logprobs, 6).tolist()
    return RunRecord(
        mixture=mixture, seed=train_cfg.seed, target_name=data.target_name,
        evaluations=evaluations, final_train_loss=final_train_loss,
        tokens_seen=train_cfg.steps * tokens_per_step, **count_parameters(model),
        train_seconds=time.perf_counter() - started, device=str(device),
        target_logprobs=per_token, **initial)
