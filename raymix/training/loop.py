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
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from raymix.config.schema import ModelConfig, TrainingConfig
from raymix.errors import UserError

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


def llama_config(model: ModelConfig, vocab_size: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=model.hidden,
        intermediate_size=model.intermediate,
        num_hidden_layers=model.layers,
        num_attention_heads=model.heads,
        num_key_value_heads=model.heads,
        max_position_embeddings=model.seq_len,
        tie_word_embeddings=True,
    )


def build_model(model: ModelConfig, vocab_size: int, seed: int,
                init_from: str | None = None) -> LlamaForCausalLM:
    """A Llama with tied input/output embeddings: randomly initialised, or loaded from
    ``init_from`` (a ``save_pretrained`` folder) for continual pretraining."""
    config = llama_config(model, vocab_size)
    torch.manual_seed(seed)
    if init_from is None:
        return LlamaForCausalLM(config)
    try:  # safetensors only: a pickled pytorch_model.bin could run code when loaded
        loaded = LlamaForCausalLM.from_pretrained(init_from, torch_dtype=torch.float32,
                                                  use_safetensors=True)
    except OSError as exc:
        raise UserError(f"training.init_from: {init_from} holds no safetensors model "
                        f"({str(exc).strip().splitlines()[0]}); save it with save_pretrained "
                        "(safetensors is its default)") from None
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads"):
        if getattr(loaded.config, key) != getattr(config, key):
            raise UserError(f"training.init_from: the checkpoint has {key} = "
                            f"{getattr(loaded.config, key)}, the config asks for "
                            f"{getattr(config, key)}; make the model section match the checkpoint")
    return loaded


def save_checkpoint(model: torch.nn.Module, folder: str) -> None:
    """``save_pretrained`` into a temporary folder, then rename: never a half-written model."""
    folder = Path(folder)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def non_embedding_params(model: ModelConfig, vocab_size: int) -> int:
    """Parameters outside the (tied) embedding, counted on a model that allocates nothing."""
    with torch.device("meta"):
        return count_parameters(LlamaForCausalLM(llama_config(model, vocab_size)))[
            "non_embedding_params"]


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    return {"params": total, "non_embedding_params": total - embedding}


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

    MixMin scores a mixture of per-domain proxies from these (``raymix/mixmin.py``).
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
                on_eval: Callable[[dict], None] | None = None,
                save_to: str | None = None, target_logprobs: bool = False) -> dict:
    """Train one proxy on ``mixture`` and return its record.

    ``on_eval`` is called with each evaluation's row (step, tokens, losses). The record
    holds the mixture, every evaluation, tokens seen, parameter counts and wall time;
    for continual pretraining (``train_cfg.init_from``) also the losses of the starting
    checkpoint (``initial_losses``), the baseline that ``propose --critical`` keeps.
    ``save_to`` keeps the final model there (``save_pretrained``). ``target_logprobs``
    adds the final model's per-token log-probabilities on the target's windows (MixMin).
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
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step + 1 in eval_steps and data.valid:  # no validation sets: nothing to evaluate
            losses = evaluate(model, data.valid, model_cfg.seq_len, train_cfg.eval_tokens, device)
            row = {"step": step + 1, "tokens": (step + 1) * tokens_per_step,
                   "train_loss": loss.item(), "losses": losses,
                   "target_loss": target_loss(losses, data.target_weights)}
            # Checked at evaluations only: a per-step check would sync the GPU every step.
            if not (math.isfinite(row["train_loss"]) and math.isfinite(row["target_loss"])):
                raise ProxyDiverged(f"loss became {row['train_loss']} (train) / "
                                    f"{row['target_loss']} (target) at step {step + 1}")
            evaluations.append(row)
            if on_eval is not None:
                on_eval(row)
    final_train_loss = loss.item()  # also waits for a GPU to finish, before the clock stops
    if save_to is not None:
        save_checkpoint(model, save_to)
    per_token = {}
    if target_logprobs:  # 6 decimals: far below seed noise, and a third of the JSON
        logprobs = token_logprobs(model, data.valid[data.target_name], model_cfg.seq_len,
                                  train_cfg.eval_tokens, device)
        per_token["target_logprobs"] = np.round(logprobs, 6).tolist()
    return {
        "mixture": mixture,
        **initial,
        **per_token,
        "evaluations": evaluations,
        "final_train_loss": final_train_loss,
        "tokens_seen": train_cfg.steps * tokens_per_step,
        **count_parameters(model),
        "train_seconds": time.perf_counter() - started,
        "seed": train_cfg.seed,
        "device": str(device),
    }
