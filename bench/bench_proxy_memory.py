"""Peak memory of training one proxy, measured, against raymix's estimate.

The estimate is :func:`raymix.training.memory.training_memory_bytes`.

The sweep refuses a proxy whose estimated training memory exceeds what a trial is given
(``compute.gpu_memory_gb`` x ``gpus_per_trial`` on GPUs, ``compute.memory_per_trial_gb``
on CPUs). This measures the real peak of ``train_proxy`` over a grid of proxy shapes:

- GPU (bf16 autocast): ``torch.cuda.max_memory_allocated`` around a 3-step run;
- CPU (float32): peak resident memory of a child process that runs it, minus the same
  process's peak before training (imports, data, allocator).

Token values do not change memory, so the runs read random token ids. ``--loss`` is
``training.loss`` for the runs and the estimate (default plain, as the estimate was
fitted; chunked and fused hold one chunk of logits at a time), ``--micro-batch N`` trains
each shape in micro-batches of N sequences (of the largest divisor of its batch up to N)
with gradient accumulation. Writes bench/results/proxy_memory_<device>.json, or
proxy_memory_<device>_<loss>.json for another loss (or --out): every shape's measured and
estimated bytes.

    python bench/bench_proxy_memory.py --device cuda
    python bench/bench_proxy_memory.py --device cpu --shapes 12
    python bench/bench_proxy_memory.py --device cpu --loss chunked --seed 1 --shapes 8
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import numpy as np
from common import RESULTS, bench_parser, write_record

from raymix.config import ModelConfig
from raymix.training.memory import training_memory_bytes


def shapes(count: int, seed: int = 0, max_logits_gb: float = 8.0) -> list[dict]:
    """Proxy shapes from tiny to ~100M parameters, with batch, length and vocab varied.

    Shapes whose float32 logits alone (batch x seq_len x vocab) exceed ``max_logits_gb``
    are skipped: the CPU machines this runs on would be killed for memory.
    """
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        hidden = int(rng.choice([64, 128, 256, 512, 768]))
        out.append({
            "layers": int(rng.choice([1, 2, 4, 8, 12])),
            "hidden": hidden,
            "heads": max(2, hidden // 64),
            "intermediate": int(hidden * rng.choice([2, 4])),
            "seq_len": int(rng.choice([64, 128, 256, 512, 1024])),
            "batch_size": int(rng.choice([4, 8, 16, 32, 64])),
            "vocab_size": int(rng.choice([512, 8192, 32000, 50304])),
        })
        last = out[-1]
        if last["batch_size"] * last["seq_len"] * last["vocab_size"] * 4 > max_logits_gb * 2**30:
            out.pop()
    return out


def micro_batch(shape: dict, most: int | None) -> int:
    """The micro-batch a shape trains with: its whole batch, or the largest divisor of it
    that is at most ``most``."""
    if not most:
        return shape["batch_size"]
    return max(d for d in range(1, min(most, shape["batch_size"]) + 1)
               if shape["batch_size"] % d == 0)


def run_one(shape: dict, device: str, loss: str = "plain", micro: int | None = None) -> dict:
    """Train a 3-step proxy of ``shape``; return its measured peak training bytes."""
    import torch

    from raymix.config import ModelConfig, TrainingConfig
    from raymix.training.loop import ProxyData, train_proxy

    model = ModelConfig(**{k: shape[k] for k in ("layers", "hidden", "heads", "intermediate",
                                                 "seq_len")})
    training = TrainingConfig(steps=3, batch_size=shape["batch_size"], warmup_steps=1,
                              eval_every=1, eval_tokens=shape["seq_len"], loss=loss,
                              micro_batch_size=micro or shape["batch_size"])
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, shape["vocab_size"], 200_000).astype(np.uint16)
    data = ProxyData(train={"a": tokens}, valid={"a": tokens[:20_000]}, target_name="a",
                     target_weights={"a": 1.0}, vocab_size=shape["vocab_size"])
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        train_proxy({"a": 1.0}, data, model, training, device=torch.device("cuda"))
        return {"measured": torch.cuda.max_memory_allocated() - base}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    train_proxy({"a": 1.0}, data, model, training, device=torch.device("cpu"))
    return {"measured": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before}


def estimate(shape: dict, device: str, loss: str = "plain", micro: int | None = None) -> int:
    model = ModelConfig(**{k: shape[k] for k in ("layers", "hidden", "heads", "intermediate",
                                                 "seq_len")})
    return training_memory_bytes(model, micro or shape["batch_size"], shape["vocab_size"],
                                 gpu=device == "cuda", loss=loss)


def main() -> None:
    parser = bench_parser(__doc__, out=None)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cpu")
    parser.add_argument("--shapes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-logits-gb", type=float, default=None,
                        help="skip shapes with larger float32 logits (default 8 on cuda, 1 on cpu)")
    parser.add_argument("--loss", choices=("plain", "chunked", "fused"), default="plain",
                        help="training.loss for the runs and the estimate (fused: CUDA with "
                             "liger-kernel, else chunked)")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="micro-batch (sequences), at most; default: the whole batch")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one CPU measurement, as JSON
    args = parser.parse_args()
    if args.child:
        child = json.loads(args.child)
        print(json.dumps(run_one(child["shape"], "cpu", child["loss"], child["micro"])))
        return
    rows = []
    max_logits = args.max_logits_gb or (8.0 if args.device == "cuda" else 1.0)
    for shape in shapes(args.shapes, args.seed, max_logits):
        micro = micro_batch(shape, args.micro_batch)
        if args.device == "cuda":
            measured = run_one(shape, "cuda", args.loss, micro)
        else:  # a fresh process per shape: peak RSS only ever grows
            child = json.dumps({"shape": shape, "loss": args.loss, "micro": micro})
            done = subprocess.run([sys.executable, __file__, "--child", child],
                                  capture_output=True, text=True, check=True)
            measured = json.loads(done.stdout.strip().splitlines()[-1])
        row = {**shape, "micro_batch_size": micro, "loss": args.loss, **measured,
               "estimated": estimate(shape, args.device, args.loss, micro)}
        rows.append(row)
        ratio = f"{row['estimated'] / row['measured']:.2f}" if row["estimated"] else "-"
        print(f"{json.dumps(shape)}  measured {row['measured'] / 2**20:9.1f} MiB  "
              f"estimate/measured {ratio}", flush=True)
    ratios = [r["estimated"] / r["measured"] for r in rows if r["estimated"]]
    summary = {"device": args.device, "shapes": len(rows), "seed": args.seed,
               "loss": args.loss, "micro_batch": args.micro_batch}
    if ratios:
        summary.update(ratio_min=min(ratios), ratio_median=float(np.median(ratios)),
                       ratio_max=max(ratios))
    print(json.dumps(summary))
    suffix = "" if args.loss == "plain" else f"_{args.loss}"
    write_record(args.out or RESULTS / f"proxy_memory_{args.device}{suffix}.json",
                 {"summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
