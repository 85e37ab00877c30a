"""Operator launches per training step: M solo proxies against one stacked group of M.

A tiny proxy's step is bound by how many kernels it launches (on a GPU each costs a few
microseconds whatever its size). This counts the aten operators one training step runs
(forward, backward, gradient clipping and the AdamW step), with PyTorch's profiler on the
CPU (no GPU needed): M solo steps, one per proxy, against one step of a
:class:`~raymix.training.stacked.StackedLlama` of M. The goal is a count flat in M for the
group. Also times both on the CPU.

    python bench/bench_stacked_ops.py [--sizes 1 4 16 64]

Writes bench/results/stacked_ops.json (quoted in docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import time

import torch
from common import bench_parser, machine, write_record
from torch.profiler import ProfilerActivity, profile

from raymix.config import ModelConfig
from raymix.training.model import build_model
from raymix.training.stacked import StackedLlama, clip_grad_norm_per_model

DEMO = ModelConfig(layers=2, hidden=64, heads=4, intermediate=256, seq_len=128)
VOCAB, BATCH = 2048, 4


def solo_step(model, optimizer, windows) -> None:
    logits = model(input_ids=windows[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB),
                                             windows[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def all_solo_steps(solos, optimizers, windows) -> None:
    for model, optimizer, own in zip(solos, optimizers, windows):
        solo_step(model, optimizer, own)


def group_step(stacked, optimizer, windows) -> None:
    stacked.loss(windows).sum().backward()
    clip_grad_norm_per_model(stacked, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def count_ops(step) -> int:
    step()  # warm: the optimizer's state is made on its first step
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def timed(step, repeats: int = 3) -> float:
    step()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = bench_parser(__doc__, out="stacked_ops.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16, 64])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for m in args.sizes:
        solos = [build_model(DEMO, VOCAB, seed) for seed in range(m)]
        windows = torch.randint(0, VOCAB, (m, BATCH, DEMO.seq_len + 1),
                                generator=torch.Generator().manual_seed(0))
        stacked = StackedLlama(solos)
        group_opt = torch.optim.AdamW(stacked.parameters(), lr=1e-3, foreach=True)
        solo_opts = [torch.optim.AdamW(s.parameters(), lr=1e-3, foreach=True) for s in solos]

        solos_step = functools.partial(all_solo_steps, solos, solo_opts, windows)
        stack_step = functools.partial(group_step, stacked, group_opt, windows)
        row = {"models": m, "solo_ops": count_ops(solos_step), "group_ops": count_ops(stack_step),
               "solo_seconds": timed(solos_step), "group_seconds": timed(stack_step)}
        row["ops_ratio"] = row["solo_ops"] / row["group_ops"]
        row["cpu_speedup"] = row["solo_seconds"] / row["group_seconds"]
        rows.append(row)
        print(row, flush=True)
    write_record(args.out, {"benchmark": "aten operators per training step: M solo proxies vs "
                                         "one stacked group", "machine": machine(),
                            "threads": 1, "model": "demo proxy (2 layers, width 64, vocab 2,048),"
                            " 4 x 128 tokens per model", "rows": rows})


if __name__ == "__main__":
    main()
