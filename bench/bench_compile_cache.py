"""How long a compiled step's first step takes, by what is cached: on this machine's CPU.

A sweep's trial process may train several groups (``compute.models_per_trial``), and a
sweep many trial processes, of one shape. ``training.compile`` compiles the step of each
shape once per process (TorchDynamo keeps the graph) and Inductor keeps the compiled code
on disk (``$TORCHINDUCTOR_CACHE_DIR``, by default ``inductor/`` in raymix's cache:
``raymix.training.loop.use_compile_cache``), so a later process reads it instead of
compiling. This script times ``compile_seconds`` (the first step, compilation included)
of the demo's proxy shape (2 x 64, vocabulary 2,048, 4 x 128 tokens a step) trained as
groups, in two processes that share a fresh, empty cache folder:

- process 1: a group of 2 (cold: nothing cached), a group of 2 again (the same shape in
  the same process), a group of 3 (a second shape: its own static graph), a group of 2;
- process 2: a group of 2 and a group of 3 (both compiled by process 1: read from disk).

    python bench/bench_compile_cache.py    # bench/results/compile_cache_cpu.json
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPE = {"layers": 2, "hidden": 64, "heads": 4, "intermediate": 256, "seq_len": 128}
VOCAB = 2048
PROCESSES = {1: [2, 2, 3, 2], 2: [2, 3]}  # the group sizes each process trains, in turn


def child(sizes: list[int]) -> list[dict]:
    """Train a group of each size in turn in this process; each one's compile_seconds."""
    import numpy as np
    import torch

    from raymix.config import ModelConfig, TrainingConfig
    from raymix.training.group import train_group
    from raymix.training.loop import ProxyData

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    data = ProxyData(train={d: rng.integers(0, VOCAB, 100_000).astype(np.uint16)
                            for d in ("a", "b")}, valid={}, target_name="a",
                     target_weights={"a": 1.0}, vocab_size=VOCAB)
    training = TrainingConfig(steps=3, batch_size=4, lr=3e-3, warmup_steps=1, eval_every=3,
                              compile="true", loss="plain")
    rows = []
    for size in sizes:
        started = time.perf_counter()
        records = train_group([{"a": 0.5, "b": 0.5}] * size, list(range(size)), data,
                              ModelConfig(**SHAPE), training, device=torch.device("cpu"))
        rows.append({"group_size": size, "compiled": records[0].compiled,
                     "compile_seconds": records[0].compile_seconds,
                     "seconds": time.perf_counter() - started})
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))), flush=True)
        return
    result = {"benchmark": "compile_seconds of a stacked group's first step, by cache",
              "device": f"{platform.machine()} CPU, 1 torch thread", "model": SHAPE,
              "vocab_size": VOCAB, "batch_size": 4, "processes": {}}
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
        env.update(RAYMIX_CACHE=cache, PYTHONPATH=str(ROOT))
        for process, sizes in PROCESSES.items():
            out = subprocess.run([sys.executable, __file__, "--child", json.dumps(sizes)],
                                 env=env, capture_output=True, text=True, check=True).stdout
            rows = json.loads(out.strip().splitlines()[-1])
            result["processes"][str(process)] = rows
            for row in rows:
                print(f"process {process}: group of {row['group_size']}: first step "
                      f"{row['compile_seconds']:.2f} s (compiled {row['compiled']})",
                      flush=True)
    out_path = ROOT / "bench" / "results" / "compile_cache_cpu.json"
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
