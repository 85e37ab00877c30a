"""The aggregator actor's resident memory at the demo, and whether it loaded torch.

Starts a private local Ray (2 CPUs), creates the sweep's aggregator the way
``raymix sweep`` does for jobs/configs/demo.yaml (:func:`~raymix.sweep.aggregator.get_aggregator`,
no adaptive strategy), hands it the demo's 52 records (48 mixtures and 4 repeats, three
evaluations each, made up: the aggregator stores and fits whatever it is given), runs the
live fit once (``fit_now`` with the demo's regressors and folds, as the sweep's progress
line does) and reads the actor's process: its resident memory (``VmRSS`` of
``/proc/<pid>/status``) when it started, after the records and after the fit, its peak,
and whether torch is loaded in it (a ``torch/`` library in ``/proc/<pid>/maps``: torch
is imported exactly when its shared libraries are mapped). Linux only; about a minute.

    python bench/aggregator_memory.py --label before   # or after

Writes (updates) bench/results/aggregator_memory.json: one entry per ``--label``, each
with the git commit it measured and whether the tree had uncommitted changes.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
from common import ROOT, bench_parser, fresh_folder, machine, relative, write_record

RUNS = 52  # the demo's 48 mixtures and 4 repeats
EVALS = (160, 320, 480)  # the demo's evaluation steps (training.eval_every 160 of 480)


def _records(domains: list[str], target: str, rng: np.random.Generator) -> list:
    """``RUNS`` records of the demo's shape: a Dirichlet mixture, three evaluations."""
    from raymix.runs import Evaluation, RunRecord

    records = []
    for i in range(RUNS):
        weights = rng.dirichlet(np.ones(len(domains)))
        mixture = {d: float(w) for d, w in zip(domains, weights, strict=True)}
        base = 6.0 - 1.5 * float(weights @ np.linspace(0.2, 1.0, len(domains)))
        evals = [Evaluation(step=s, tokens=s * 4 * 128, train_loss=base + 1 / k,
                            losses={d: base + 0.1 * j + 1 / k for j, d in enumerate(domains)},
                            target_loss=base + 1 / k + float(rng.normal(0, 0.01)))
                 for k, s in enumerate(EVALS, start=1)]
        records.append(RunRecord(run_id=f"run-{i:04d}", mixture=mixture, seed=i,
                                 target_name=target, evaluations=evals, tokens_seen=EVALS[-1] * 512,
                                 tokens_per_second=20_000.0, data_wait_fraction=0.01,
                                 micro_batch_size=4, compiled=False, group_size=8))
    return records


def _process(pid: int) -> dict:
    """The actor process's resident memory (MiB) and whether torch is loaded in it."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
    hwm = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {"rss_mib": round(rss, 1), "peak_rss_mib": round(hwm, 1),
            "torch_loaded": "/torch/" in maps}


def _git() -> dict:
    """The commit measured, and whether the tree differed from it."""
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    return {"commit": run("rev-parse", "--short", "HEAD").strip(),
            "uncommitted": bool(run("status", "--porcelain", "--untracked-files=no").strip())}


def measure(config: Path, work: Path) -> dict:
    """Start Ray, make the demo's aggregator, store, fit, and read its process."""
    import ray
    from ray._private.state import state

    from raymix.config import load_config
    from raymix.sweep.aggregator import get_aggregator

    cfg = load_config(config)
    records = _records(cfg.domain_names, cfg.target.name, np.random.default_rng(0))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        started = time.perf_counter()
        aggregator = get_aggregator(work, cfg.domain_names, cfg.target.name, cfg.name)
        ray.get(aggregator.run_ids.remote())  # up: its __init__ has run
        pid = state.actor_table(aggregator._actor_id.hex())["Pid"]
        at_start = _process(pid)
        ready_s = time.perf_counter() - started
        for record in records:
            ray.get(aggregator.add.remote(record))
        after_add = _process(pid)
        fit_started = time.perf_counter()
        metrics = ray.get(aggregator.fit_now.remote(list(cfg.fit.regressors), cfg.fit.cv_folds,
                                                     cfg.fit.seed))
        fit_s = time.perf_counter() - fit_started
        after_fit = _process(pid)
        load = ray.get(aggregator.load.remote())
        ray.kill(aggregator)
    finally:
        ray.shutdown()
    return {"actor_ready_seconds": round(ready_s, 1), "records": len(records),
            "at_start": at_start, "after_records": after_add, "after_fit": after_fit,
            "fit_seconds": round(fit_s, 1), "regressors_fitted": sorted(metrics),
            "load": {"start_rss_mib": round(load.start_rss_mib, 1),
                     "rss_mib": round(load.rss_mib, 1), "peak_rss_mib": round(load.peak_rss_mib, 1),
                     "add_ms_median": round(load.add_ms_median, 2)}}


def main() -> None:
    parser = bench_parser(__doc__, out="aggregator_memory.json", config=True,
                          work="aggregator_memory")
    parser.add_argument("--label", default="after",
                        help="the entry to write (before, after, ...; default after)")
    args = parser.parse_args()
    started = time.perf_counter()
    result = measure(args.config, fresh_folder(args.work).resolve())
    record = json.loads(args.out.read_text()) if args.out.exists() else {}
    record.update({"bench": "bench/aggregator_memory.py", "config": relative(args.config),
                   "machine": machine()})
    record[args.label] = {**_git(), **result}
    at = result["after_fit"]
    print(f"{args.label}: aggregator {result['at_start']['rss_mib']:.0f} MiB at its start, "
          f"{at['rss_mib']:.0f} MiB after {RUNS} records and a fit "
          f"(peak {at['peak_rss_mib']:.0f}); torch loaded: {at['torch_loaded']}")
    write_record(args.out, record, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
