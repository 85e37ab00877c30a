"""Aggregate training tokens/s on one GPU: stacked groups against solo proxies (no Ray).

For the demo's proxy (2 layers, width 64, vocabulary 2,048, sequences of 128, batches of
--batch): one solo proxy; 4 solo proxies sharing the GPU as 4 processes (as Tune's
``gpus_per_trial: 0.25`` runs them); and one :class:`~raymix.training.stacked.StackedLlama`
group of each of --groups (default 8, 32, 128). Each trains --steps steps (after 3 warm-up
steps) with AdamW (fused on CUDA) and per-model gradient clipping; the number is all the
tokens trained per second of wall time, all proxies together. bf16 autocast on CUDA, as
the sweep's GPU trials.

    python bench/bench_gpu_stacked.py [--device cuda] [--groups 8 32 128] [--steps 50]

Writes bench/results/gpu_stacked.json (name the GPU with every number you quote). Not yet
run on a GPU: the RegMix-1M groups of the issue need the group loop's chunked loss first.
"""

from __future__ import annotations

import multiprocessing as mp
import time

import torch
from common import bench_parser, machine, write_record

from raymix.config import ModelConfig
from raymix.training.model import build_model
from raymix.training.stacked import StackedLlama, clip_grad_norm_per_model

DEMO = ModelConfig(layers=2, hidden=64, heads=4, intermediate=256, seq_len=128)
VOCAB = 2048


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else \
        torch.autocast("cpu", enabled=False)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_steps(step, steps: int, device: torch.device) -> float:
    """Wall seconds of ``steps`` calls of ``step`` after 3 warm-up calls."""
    for _ in range(3):
        step()
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return time.perf_counter() - started


def group_tokens_per_second(models: int, batch: int, steps: int, device: torch.device) -> float:
    stacked = StackedLlama([build_model(DEMO, VOCAB, s) for s in range(models)]).to(device)
    optimizer = torch.optim.AdamW(stacked.parameters(), lr=1e-3, fused=device.type == "cuda")
    windows = torch.randint(0, VOCAB, (models, batch, DEMO.seq_len + 1), device=device)

    def step() -> None:
        with _autocast(device):
            loss = stacked.loss(windows).sum()
        loss.backward()
        clip_grad_norm_per_model(stacked, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return models * batch * DEMO.seq_len * steps / seconds_per_steps(step, steps, device)


def solo_tokens_per_second(batch: int, steps: int, device_name: str, seed: int = 0) -> float:
    device = torch.device(device_name)
    model = build_model(DEMO, VOCAB, seed).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    windows = torch.randint(0, VOCAB, (batch, DEMO.seq_len + 1), device=device)

    def step() -> None:
        with _autocast(device):
            logits = model(input_ids=windows[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB).float(),
                                                     windows[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return batch * DEMO.seq_len * steps / seconds_per_steps(step, steps, device)


def _solo_worker(args) -> float:
    return solo_tokens_per_second(*args)


def shared_solo_tokens_per_second(processes: int, batch: int, steps: int, device: str) -> float:
    """``processes`` solo proxies at once, each in its own process on the same device."""
    with mp.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(_solo_worker, [(batch, steps, device, s) for s in range(processes)]))


def main() -> None:
    parser = bench_parser(__doc__, out="gpu_stacked.json")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--groups", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else machine()
    rows = {"1 solo": solo_tokens_per_second(args.batch, args.steps, args.device),
            "4 solo processes": shared_solo_tokens_per_second(4, args.batch, args.steps,
                                                              args.device)}
    for m in args.groups:
        rows[f"group of {m}"] = group_tokens_per_second(m, args.batch, args.steps, device)
    for key, value in rows.items():
        print(f"{key}: {value:,.0f} tokens/s", flush=True)
    write_record(args.out, {"benchmark": "aggregate training tokens/s: stacked groups vs solo "
                                         "proxies", "device": name, "model": "demo proxy",
                            "batch": args.batch, "steps": args.steps,
                            "tokens_per_second": rows,
                            "group_vs_4_shared": {k: v / rows["4 solo processes"]
                                                  for k, v in rows.items()}})


if __name__ == "__main__":
    main()
