"""Sweep efficiency: the share of the trial slots' wall time spent inside proxy training.

Runs a fresh sweep of --count proxies (default 64) with the demo's proxy on a local Ray
cluster, then divides the summed training time of all proxies by
(trial slots x wall time of the Tune experiment). Everything else (Tune start-up,
scheduling, actor reuse, evaluation, storing results) counts against it.

    python bench/bench_sweep_efficiency.py [--config jobs/configs/demo.yaml] [--count 64]

Writes bench/results/sweep_efficiency.json. Goal: >= 0.9.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

from common import RESULTS, bench_parser, write_record

from raymix.config import load_config
from raymix.runs import ResultStore
from raymix.sweep import run_sweep


def main() -> None:
    parser = bench_parser(__doc__, out="sweep_efficiency.json", config=True)
    parser.add_argument("--count", type=int, default=64)
    args = parser.parse_args()

    cfg = load_config(args.config)
    storage = RESULTS / "sweep_efficiency_runs"
    shutil.rmtree(storage, ignore_errors=True)  # a fresh sweep, not a resumed one
    cfg = dataclasses.replace(
        cfg, name="bench-efficiency",
        mixtures=dataclasses.replace(cfg.mixtures, count=args.count),
        compute=dataclasses.replace(cfg.compute, storage=str(storage)))
    result = run_sweep(cfg)
    records = [r for r in ResultStore(storage).load_all().values() if r.ok]
    training = sum(r.train_seconds for r in records)
    trial = sum(r.wall_seconds for r in records)
    out = {
        "benchmark": "sweep efficiency: proxy training time / (slots x Tune wall time)",
        "proxies": len(records), "slots": result.slots,
        "tune_wall_seconds": result.tune_seconds,
        "training_seconds_total": training,
        "trial_seconds_total": trial,
        "efficiency": training / (result.slots * result.tune_seconds),
        "mean_training_seconds_per_proxy": training / len(records),
        "model": dataclasses.asdict(cfg.model), "training": dataclasses.asdict(cfg.training),
    }
    print(json.dumps(out, indent=1))
    write_record(args.out, out)


if __name__ == "__main__":
    main()
