"""Proxy training speed: raymix's loop against a bare PyTorch loop, side by side in one run.

Both train the same model (same config, same init) on the same batches; the bare loop is
the minimum a training step needs (forward, cross-entropy, backward, AdamW step). raymix's
loop adds the learning-rate schedule, gradient clipping, the divergence check and its own
batch sampling, and evaluation is switched off here (it is not training).

    python bench/bench_proxy_speed.py [--config jobs/configs/demo.yaml] [--repeats 3] [--out PATH]

Writes bench/results/proxy_speed.json. Goal: raymix / bare >= 0.9 in tokens per second.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import bench_parser, relative, write_record

from raymix.config import load_config
from raymix.data.tokenize import prepare
from raymix.training.loop import MixtureBatches, ProxyData, train_proxy
from raymix.training.model import build_model


def bare_loop(build, batches: list[torch.Tensor], lr: float, device: torch.device) -> float:
    """Seconds to build the model and run forward/backward/AdamW over ``batches``: nothing else.

    Building the model is timed as in raymix's loop (whose ``train_seconds`` covers it).
    """
    _sync(device)
    started = time.perf_counter()
    model = build().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for batch in batches:
        batch = batch.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=batch[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                               batch[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(device)
    return time.perf_counter() - started


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = bench_parser(__doc__, out="proxy_speed.json", config=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = load_config(args.config)
    prepared = prepare(cfg)
    domains = cfg.domain_names
    data = ProxyData(train={d: np.asarray(prepared.train(d)) for d in domains}, valid={},
                     target_name="none", target_weights={}, vocab_size=prepared.vocab_size)
    mixture = dict(prepared.prior)
    # evaluation off: eval_every beyond the run leaves only the (skipped) final evaluation
    training = dataclasses.replace(cfg.training, eval_every=cfg.training.steps)
    tokens = training.steps * training.batch_size * cfg.model.seq_len
    sampler = MixtureBatches(data.train, mixture, training.steps, training.batch_size,
                             cfg.model.seq_len, seed=training.seed)
    batches = [sampler[s] for s in range(training.steps)]

    # warm-up (CUDA context, kernels, allocator) outside the timed runs
    def build():
        return build_model(cfg.model, data.vocab_size, training.seed)

    bare_loop(build, batches[:10], training.lr, device)
    ours, bare = [], []
    for _ in range(args.repeats):  # interleaved, so drift on a noisy machine hits both
        bare.append(bare_loop(build, batches, training.lr, device))
        record = train_proxy(mixture, data, cfg.model, training, device=device)
        ours.append(record.train_seconds)
    result = {
        "benchmark": "proxy training tokens/s, raymix loop vs bare PyTorch loop",
        "config": relative(args.config),
        "model": dataclasses.asdict(cfg.model), "steps": training.steps,
        "batch_size": training.batch_size, "threads": args.threads,
        "tokens_per_run": tokens,
        "raymix_tokens_per_s": [tokens / s for s in ours],
        "bare_tokens_per_s": [tokens / s for s in bare],
        "ratio_best": min(bare) / min(ours),
        "ratio_median": float(np.median(bare) / np.median(ours)),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
        f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s)",
    }
    print(json.dumps(result, indent=1))
    write_record(args.out, result)


if __name__ == "__main__":
    main()
