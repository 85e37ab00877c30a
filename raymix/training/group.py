"""Train a group of proxies of one shape as one stacked model (:mod:`~raymix.training.stacked`).

:func:`train_group` is :func:`~raymix.training.loop.train_proxy` for M mixtures at once:
each model gets its own batches (its mixture's sampler and seed, exact proportions), its own
gradient (the losses are summed), its own gradient clip, and AdamW on the stacked tensors,
which is elementwise and so each model's own AdamW. A model whose loss stops being finite
is recorded as failed and masked out of the loss; the others train on unaffected. At each
evaluation the weights are copied into solo models and evaluated as a solo run is.

Not yet here (the solo loop has them): micro-batches, the chunked and fused losses,
``torch.compile`` and the batch prefetcher; the sweep does not call this yet.
"""

from __future__ import annotations

import math
import time

import torch

from raymix.config import ModelConfig, TrainingConfig
from raymix.runs import FAILED, Evaluation, RunRecord
from raymix.training.batches import MixtureBatches
from raymix.training.loop import EVAL_BATCH, ProxyData, evaluate, learning_rate, target_loss
from raymix.training.model import build_model, count_parameters
from raymix.training.stacked import StackedLlama, clip_grad_norm_per_model


def train_group(mixtures: list[dict[str, float]], seeds: list[int], data: ProxyData,
                model_cfg: ModelConfig, train_cfg: TrainingConfig, *,
                device: torch.device | None = None) -> list[RunRecord]:
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
        The proxies' shape and training, as for a solo run.
    device : torch.device, optional
        Default: a GPU when there is one, else the CPU.

    Returns
    -------
    list of RunRecord
        In the order of ``mixtures``; a diverged proxy's has status "failed" and a reason.
    """
    if len(mixtures) != len(seeds) or not mixtures:
        raise ValueError("give one seed per mixture, and at least one mixture")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    mixtures = [{d: w for d, w in mix.items() if w > 0} for mix in mixtures]
    solos = [build_model(model_cfg, data.vocab_size, seed).to(device) for seed in seeds]
    stacked = StackedLlama(solos).to(device)
    optimizer = torch.optim.AdamW(stacked.parameters(), lr=train_cfg.lr, betas=(0.9, 0.95),
                                  weight_decay=train_cfg.weight_decay,
                                  fused=device.type == "cuda")
    samplers = [MixtureBatches(data.train, mix, train_cfg.steps, train_cfg.batch_size,
                               model_cfg.seq_len, seed=seed)
                for mix, seed in zip(mixtures, seeds)]
    alive = torch.ones(len(mixtures), dtype=torch.bool, device=device)
    reasons: list[str | None] = [None] * len(mixtures)
    evaluations: list[list[Evaluation]] = [[] for _ in mixtures]
    eval_steps = set(train_cfg.eval_steps)
    tokens_per_step = train_cfg.batch_size * model_cfg.seq_len
    for step in range(train_cfg.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, train_cfg)
        windows = torch.stack([sampler[step] for sampler in samplers]).to(device)
        losses = stacked.loss(windows)
        # a diverged model's loss is left out: its gradient is 0, the others' are their own
        torch.where(alive, losses, torch.zeros_like(losses)).sum().backward()
        clip_grad_norm_per_model(stacked, train_cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step + 1 in eval_steps and data.valid:
            stacked.unstack(solos)  # each model evaluated as its solo run is
            for m, solo in enumerate(solos):
                if reasons[m] is not None:
                    continue
                scores = evaluate(solo, data.valid, model_cfg.seq_len, train_cfg.eval_tokens,
                                  device, min(EVAL_BATCH, train_cfg.batch_size))
                row = Evaluation(step=step + 1, tokens=(step + 1) * tokens_per_step,
                                 train_loss=losses[m].item(), losses=scores,
                                 target_loss=target_loss(scores, data.target_weights))
                if not (math.isfinite(row.train_loss) and math.isfinite(row.target_loss)):
                    reasons[m] = (f"loss became {row.train_loss} (train) / {row.target_loss} "
                                  f"(target) at step {step + 1}")
                    alive[m] = False
                    continue
                evaluations[m].append(row)
    seconds = time.perf_counter() - started
    counts = count_parameters(solos[0])
    records = []
    for m, (mix, seed) in enumerate(zip(mixtures, seeds)):
        if reasons[m] is not None:
            records.append(RunRecord(status=FAILED, reason=reasons[m], mixture=mix, seed=seed,
                                     target_name=data.target_name))
            continue
        records.append(RunRecord(
            mixture=mix, seed=seed, target_name=data.target_name, evaluations=evaluations[m],
            final_train_loss=evaluations[m][-1].train_loss if evaluations[m] else None,
            tokens_seen=train_cfg.steps * tokens_per_step, **counts, train_seconds=seconds,
            device=str(device), micro_batch_size=train_cfg.batch_size, loss="plain",
            compiled=False))
    return records
