"""What a stacked group's per-model checkpoints cost: steps/s with and without them.

A group of --models tiny proxies (the demo's shape and vocabulary) trains on the CPU on real
bytes (Python's own sources), once writing each model's state (weights, AdamW's moments,
its sampler's position, its evaluations) at every evaluation but the last
(:func:`raymix.training.group.train_group` with ``checkpoint_to``, as a sweep's group
trial does), once without; runs alternate, --repeats of each, the fastest of each kept
(the machine is shared), and the writes are also timed on their own. Two schedules of
--steps: the demo's evaluations (a third of the run apart: 2 checkpoints) and a
checkpoint-heavy one (an evaluation every 20 steps).

    python bench/bench_group_checkpoints.py [--models 4] [--steps 240] [--repeats 2]

Writes bench/results/group_checkpoints.json.
"""

from __future__ import annotations

import dataclasses
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
from common import bench_parser, machine, write_record


def stdlib_data(vocab: int):
    """Two domains of real bytes (code and prose) as a proxy reads tokens."""
    from raymix.training import ProxyData

    stdlib = Path(sysconfig.get_paths()["stdlib"])

    def tokens(*names: str) -> np.ndarray:
        text = b"".join((stdlib / n).read_bytes() for n in names)
        return np.frombuffer(text, dtype=np.uint8).astype(np.uint16)

    code, prose = tokens("argparse.py", "functools.py", "typing.py"), tokens("pydoc_data/topics.py")
    return ProxyData(train={"code": code[:-8192], "prose": prose[:-8192]},
                     valid={"code": code[-8192:], "prose": prose[-8192:]}, target_name="mix",
                     target_weights={"code": 0.5, "prose": 0.5}, vocab_size=vocab)


def one_leg(models: int, data, model_cfg, train_cfg, checkpoints: bool) -> dict:
    """Train the group once; wall seconds, steps/s and the checkpoint files' size."""
    import torch

    from raymix.training import group

    rng = np.random.default_rng(0)
    mixtures = [dict(zip(["code", "prose"], rng.dirichlet([1, 1]).tolist()))
                for _ in range(models)]
    spent = [0.0]  # seconds inside the checkpoint writes themselves
    write = group._Group._checkpoint

    def timed_write(self, *args, **kwargs):
        began = time.perf_counter()
        write(self, *args, **kwargs)
        spent[0] += time.perf_counter() - began

    group._Group._checkpoint = timed_write
    try:
        with tempfile.TemporaryDirectory() as folder:
            paths = [str(Path(folder) / f"run-{m}.pt") for m in range(models)] \
                if checkpoints else None
            started = time.perf_counter()
            group.train_group(mixtures, list(range(models)), data, model_cfg, train_cfg,
                              device=torch.device("cpu"), checkpoint_to=paths)
            seconds = time.perf_counter() - started
            size = sum(Path(p).stat().st_size for p in paths) if paths else 0
    finally:
        group._Group._checkpoint = write
    return {"seconds": seconds, "steps_per_second": train_cfg.steps / seconds,
            "checkpoint_seconds": spent[0], "checkpoint_share": spent[0] / seconds,
            "checkpoint_mib_per_model": size / models / 2**20}


def main() -> None:
    parser = bench_parser(__doc__, out="group_checkpoints.json")
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--steps", type=int, default=240)  # the demo's: 480
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=2048)  # the demo's tokenizer
    args = parser.parse_args()
    import torch

    from raymix.config import ModelConfig, TrainingConfig

    torch.set_num_threads(1)
    began = time.perf_counter()
    data = stdlib_data(args.vocab)
    model_cfg = ModelConfig(layers=2, hidden=64, heads=4, intermediate=256, seq_len=128)
    steps = args.steps
    demo = TrainingConfig(steps=steps, batch_size=4, lr=0.003, warmup_steps=steps // 2,
                          min_lr_ratio=0.0, eval_every=steps // 3, eval_tokens=8192)
    schedules = {f"demo's (eval every {steps // 3} of {steps} steps)": demo,
                 f"heavy (eval every 20 of {steps} steps)": dataclasses.replace(demo,
                                                                               eval_every=20)}
    results = {}
    for name, train_cfg in schedules.items():
        legs = {"without": [], "with": []}
        for _ in range(args.repeats):
            for kind in ("without", "with"):
                legs[kind].append(one_leg(args.models, data, model_cfg, train_cfg,
                                          kind == "with"))
        best = {k: max(v, key=lambda leg: leg["steps_per_second"]) for k, v in legs.items()}
        overhead = best["without"]["steps_per_second"] / best["with"]["steps_per_second"] - 1
        results[name] = {"checkpoints": len(train_cfg.eval_steps) - 1,
                         "steps_per_second_without": best["without"]["steps_per_second"],
                         "steps_per_second_with": best["with"]["steps_per_second"],
                         "overhead": overhead,
                         "checkpoint_mib_per_model": best["with"]["checkpoint_mib_per_model"],
                         # the writes' own share of a run: steady under a shared machine's noise
                         "checkpoint_share": min(leg["checkpoint_share"] for leg in legs["with"]),
                         "legs": legs}
        print(f"{name}: {best['without']['steps_per_second']:.1f} -> "
              f"{best['with']['steps_per_second']:.1f} steps/s with checkpoints "
              f"({100 * overhead:+.1f}%); the writes took "
              f"{100 * results[name]['checkpoint_share']:.2f}% of the run", flush=True)
    write_record(args.out, {"machine": machine(), "models": args.models, "vocab": args.vocab,
                            "model": dataclasses.asdict(model_cfg), "threads": 1,
                            "schedules": results}, seconds=time.perf_counter() - began)


if __name__ == "__main__":
    main()
