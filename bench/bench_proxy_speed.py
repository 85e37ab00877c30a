"""Proxy training speed: raymix's loop against a bare PyTorch loop, side by side in one run.

Both train the same model (same config, same init) on the same batches; the bare loop is
the minimum a training step needs (forward, cross-entropy, backward, AdamW step). raymix's
loop adds the learning-rate schedule, gradient clipping, the divergence check and its own
batch sampling, and evaluation is switched off here (it is not training). raymix's loop
runs twice per repeat: with its default loss (``auto``: chunked on a CPU) and with the
plain one (``training.loss: plain``), so the record also says what the chunked loss costs.
The three are interleaved, so drift on a noisy machine hits all of them.

At the demo's 2,048-token vocabulary a step's tokens are one chunk of the chunked loss, so
that comparison only shows its fixed cost. ``--loss-vocab V`` adds a direct
microbenchmark where chunking splits: forward + backward of
:func:`raymix.training.loss.lm_loss` on ``--loss-tokens`` x 256 hidden states and a V-token
output layer (RegMix's 50,432: 2,661-token chunks), chunked against plain, interleaved,
each call in a fresh child process so that its peak resident memory (``ru_maxrss``, minus
the process's peak before the call) is the loss's own. Written to ``--loss-out``.

    python bench/bench_proxy_speed.py [--config jobs/configs/demo.yaml] [--repeats 3] [--out PATH]
    python bench/bench_proxy_speed.py --threads 1 --loss-vocab 50432   # + loss_speed_cpu.json

Writes bench/results/proxy_speed.json. Goal: raymix / bare >= 0.9 in tokens per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import RESULTS, bench_parser, relative, write_record

from raymix.config import load_config
from raymix.data.prepared import prepare
from raymix.training.batches import MixtureBatches
from raymix.training.loop import ProxyData, train_proxy
from raymix.training.loss import CHUNKED, PLAIN, chunk_tokens, lm_loss
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


def loss_call(spec: dict) -> dict:
    """One forward + backward of ``lm_loss`` (in a child process): seconds and peak bytes.

    The peak is this process's peak resident memory after the call minus before it (the
    inputs already allocated), so it is what the loss itself adds.
    """
    torch.set_num_threads(spec["threads"])
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(spec["tokens"], spec["hidden"], generator=g, requires_grad=True)
    weight = (torch.randn(spec["vocab"], spec["hidden"], generator=g) * 0.02).requires_grad_()
    targets = torch.randint(0, spec["vocab"], (spec["tokens"],), generator=g)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    lm_loss(hidden, weight, targets, spec["loss"]).backward()
    seconds = time.perf_counter() - started
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    return {"seconds": seconds, "peak_bytes": peak}


def loss_benchmark(vocab: int, tokens: int, hidden: int, threads: int, repeats: int) -> dict:
    """Chunked against plain ``lm_loss``, interleaved, a fresh process per call."""
    calls = {CHUNKED: [], PLAIN: []}
    for _ in range(repeats):
        for loss in calls:
            spec = {"loss": loss, "vocab": vocab, "tokens": tokens, "hidden": hidden,
                    "threads": threads}
            done = subprocess.run([sys.executable, __file__, "--loss-child", json.dumps(spec)],
                                  capture_output=True, text=True, check=True)
            calls[loss].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"lm_loss {loss}: {calls[loss][-1]}", flush=True)
    seconds = {loss: [c["seconds"] for c in rows] for loss, rows in calls.items()}
    peaks = {loss: [c["peak_bytes"] for c in rows] for loss, rows in calls.items()}
    return {
        "benchmark": "lm_loss forward + backward, chunked vs plain (float32, CPU)",
        "tokens": tokens, "hidden": hidden, "vocab_size": vocab,
        "chunk_tokens": chunk_tokens(vocab), "chunks": -(-tokens // chunk_tokens(vocab)),
        "threads": threads, "repeats": repeats,
        "seconds": seconds, "peak_bytes": peaks,
        "seconds_median": {loss: float(np.median(v)) for loss, v in seconds.items()},
        "peak_gib_median": {loss: float(np.median(v)) / 2**30 for loss, v in peaks.items()},
        "chunked_over_plain_seconds": float(np.median(seconds[CHUNKED])
                                            / np.median(seconds[PLAIN])),
        "chunked_over_plain_peak": float(np.median(peaks[CHUNKED]) / np.median(peaks[PLAIN])),
        "device": f"{platform.machine()} CPU, {threads} torch thread(s)",
        "peak_memory": "ru_maxrss of a fresh process after the call minus before it",
    }


def main() -> None:
    parser = bench_parser(__doc__, out="proxy_speed.json", config=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--loss-vocab", type=int, default=0,
                        help="also time lm_loss chunked vs plain at this vocabulary (0: no)")
    parser.add_argument("--loss-tokens", type=int, default=16_384)
    parser.add_argument("--loss-out", type=Path, default=RESULTS / "loss_speed_cpu.json")
    parser.add_argument("--loss-child", help=argparse.SUPPRESS)  # one lm_loss call, as JSON
    args = parser.parse_args()
    if args.loss_child:
        print(json.dumps(loss_call(json.loads(args.loss_child))))
        return

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
    ours, plain, bare = [], [], []
    plain_training = dataclasses.replace(training, loss=PLAIN)
    loss_used = None
    for _ in range(args.repeats):  # interleaved, so drift on a noisy machine hits all three
        bare.append(bare_loop(build, batches, training.lr, device))
        record = train_proxy(mixture, data, cfg.model, training, device=device)
        ours.append(record.train_seconds)
        loss_used = record.loss
        plain.append(train_proxy(mixture, data, cfg.model, plain_training,
                                 device=device).train_seconds)
    result = {
        "benchmark": "proxy training tokens/s, raymix loop vs bare PyTorch loop",
        "config": relative(args.config),
        "model": dataclasses.asdict(cfg.model), "steps": training.steps,
        "batch_size": training.batch_size, "threads": args.threads,
        "tokens_per_run": tokens,
        "raymix_loss": loss_used,
        "raymix_tokens_per_s": [tokens / s for s in ours],
        "raymix_plain_loss_tokens_per_s": [tokens / s for s in plain],
        "bare_tokens_per_s": [tokens / s for s in bare],
        "ratio_best": min(bare) / min(ours),
        "ratio_median": float(np.median(bare) / np.median(ours)),
        "loss_chunks_per_step": -(-training.batch_size * cfg.model.seq_len
                                  // chunk_tokens(data.vocab_size)),
        "loss_over_plain_median": float(np.median(plain) / np.median(ours)),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
        f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s)",
    }
    print(json.dumps(result, indent=1))
    write_record(args.out, result)
    if args.loss_vocab:
        loss = loss_benchmark(args.loss_vocab, args.loss_tokens, 256, args.threads,
                              args.repeats)
        print(json.dumps(loss, indent=1))
        write_record(args.loss_out, loss)


if __name__ == "__main__":
    main()
