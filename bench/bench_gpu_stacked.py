"""Aggregate training tokens/s on one GPU: stacked groups against solo proxies (no Ray).

Runs raymix's own trainers (``train_proxy`` for a solo proxy, ``train_group`` for a
stacked group: micro-batches, the fused or chunked loss, ``torch.compile``, the batch
prefetcher, as a sweep's GPU trials run them) on random token ids (throughput does not
depend on the text) for two proxy shapes:

- the demo's proxy (2 layers, width 64, vocabulary 2,048, sequences of 128, batches of
  --batch): one solo proxy; 4 solo proxies sharing the GPU as 4 processes (as Tune's
  ``gpus_per_trial: 0.25`` runs them); groups of --groups (default 8, 32, 128);
- RegMix's 1M proxy (2 layers, width 256, vocabulary 50,432, sequences of 2,048, batches
  of --regmix-batch): the same, with groups of --regmix-groups (default 8, 32).

Each trains --steps steps; a record's ``tokens_per_second`` leaves out the first step
(compilation). The number reported is all the tokens trained per second, all proxies
together: a group's is M times its records' rate, 4 processes' the sum of theirs (they
run at the same time).

    python bench/bench_gpu_stacked.py [--steps 30] [--only demo|regmix]
    python bench/bench_gpu_stacked.py --device cpu --steps 6 --groups 2 --only demo  # smoke

Writes bench/results/gpu_stacked.json (name the GPU with every number you quote).
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time

import numpy as np
import torch
from common import bench_parser, machine, write_record

from raymix.config import ModelConfig, TrainingConfig
from raymix.training import ProxyData, train_proxy
from raymix.training.group import train_group

SHAPES = {  # name: (model, vocabulary)
    "demo": (ModelConfig(layers=2, hidden=64, heads=4, intermediate=256, seq_len=128), 2048),
    "regmix-1m": (ModelConfig(layers=2, hidden=256, heads=8, intermediate=512, seq_len=2048),
                  50432),
}


def random_data(vocab: int, tokens: int = 4_000_000) -> ProxyData:
    rng = np.random.default_rng(0)
    ids = {d: rng.integers(0, vocab, tokens, dtype=np.int64).astype(np.uint32)
           for d in ("a", "b")}
    return ProxyData(train=ids, valid={d: v[:8192] for d, v in ids.items()}, target_name="a",
                     target_weights={"a": 1.0}, vocab_size=vocab)


def training(steps: int, batch: int) -> TrainingConfig:
    # evaluations at the last steps only, on little text: the steps are what is measured
    return TrainingConfig(steps=steps, batch_size=batch, warmup_steps=1, eval_every=steps // 3,
                          eval_tokens=4096)


def mixtures(m: int) -> list[dict[str, float]]:
    return [{"a": (i + 1) / (m + 1), "b": 1 - (i + 1) / (m + 1)} for i in range(m)]


def group_rate(shape: str, m: int, steps: int, batch: int, device: str) -> float:
    model, vocab = SHAPES[shape]
    records = train_group(mixtures(m), list(range(m)), random_data(vocab), model,
                          training(steps, batch), device=torch.device(device))
    return m * records[0].tokens_per_second


def solo_rate(args) -> float:
    shape, steps, batch, seed, device = args
    model, vocab = SHAPES[shape]
    record = train_proxy({"a": 0.5, "b": 0.5}, random_data(vocab), model,
                         dataclasses.replace(training(steps, batch), seed=seed),
                         device=torch.device(device))
    return record.tokens_per_second


def shared_rate(shape: str, processes: int, steps: int, batch: int, device: str) -> float:
    """``processes`` solo proxies at once, each in its own process on the same GPU."""
    with mp.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(solo_rate, [(shape, steps, batch, s, device)
                                        for s in range(processes)]))


def main() -> None:
    parser = bench_parser(__doc__, out="gpu_stacked.json")
    parser.add_argument("--groups", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--regmix-groups", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--regmix-batch", type=int, default=8)
    parser.add_argument("--only", choices=["demo", "regmix"], default=None)
    parser.add_argument("--device", default="cuda", help="cpu: a smoke run of the script")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu_stacked.py measures a CUDA GPU (--device cpu: a smoke run)")
    started = time.perf_counter()
    out = {"benchmark": "aggregate training tokens/s: stacked groups vs solo proxies",
           "device": (torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"),
           "host": machine(), "steps": args.steps}
    plans = {"demo": (args.batch, args.groups), "regmix-1m": (args.regmix_batch,
                                                              args.regmix_groups)}
    for shape, (batch, groups) in plans.items():
        if args.only and not shape.startswith(args.only):
            continue
        rows = {"1 solo": solo_rate((shape, args.steps, batch, 0, args.device)),
                "4 solo processes": shared_rate(shape, 4, args.steps, batch, args.device)}
        for m in groups:
            rows[f"group of {m}"] = group_rate(shape, m, args.steps, batch, args.device)
        for key, value in rows.items():
            print(f"{shape} {key}: {value:,.0f} tokens/s", flush=True)
        out[shape] = {"batch": batch, "tokens_per_second": rows,
                      "versus_4_shared": {k: v / rows["4 solo processes"] for k, v in rows.items()}}
        write_record(args.out, out, seconds=time.perf_counter() - started)  # each shape kept


if __name__ == "__main__":
    main()
