"""The demo's sweep trained alone and in stacked groups: wall time and answer, side by side.

The sweep of jobs/configs/demo.yaml (48 mixtures and 4 repeats, the demo's proxy) run end
to end (``raymix sweep --no-propose``: Ray Tune, the aggregator, the live fit) once per
``compute.models_per_trial`` of --groups (default 1, 8, 16), in one run of this script,
each in a fresh folder on the same local cluster size. Then, for each, ``raymix propose``
on its runs (not timed) and the differences to the solo sweep:

- each run's final target loss against its solo twin (same mixture, same seed: a group
  trains each model as its solo run, up to float rounding), next to the seed noise (the
  spread between the 4 repeated mixtures' two seeds);
- the proposal: its mixture's distance to the solo sweep's proposal, and its predicted loss.

    python bench/bench_grouped_sweep.py [--groups 1 8 16] [--config jobs/configs/demo.yaml]

Writes bench/results/grouped_sweep.json (quoted in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import bench_parser, machine, relative, write_record


def leg_config(base: Path, folder: Path, group: int) -> Path:
    """The sweep of ``base`` with ``group`` models per trial, storing under ``folder``; the
    token cache stays the config's, so preparing is done once."""
    raw = yaml.safe_load(base.read_text())
    cache = raw.get("data", {}).get("cache_dir")
    if cache:
        raw["data"]["cache_dir"] = str((base.parent / cache).resolve())
    raw.setdefault("compute", {}).update(storage=str(folder / "sweep"), models_per_trial=group)
    raw["confirm"] = {"rounds": 0}  # the proposal of the fit alone, to compare like for like
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(args: list[str]) -> tuple[float, list[str]]:
    """Run ``raymix ARGS``; its wall seconds and output lines (raises when it fails)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "raymix", *args], capture_output=True,
                          text=True)
    lines = (done.stdout + done.stderr).splitlines()
    if done.returncode:
        raise RuntimeError(f"raymix {' '.join(args)} failed:\n" + "\n".join(lines[-30:]))
    return time.perf_counter() - started, lines


def final_losses(sweep: Path) -> pd.Series:
    """Each run's final target loss (by run id)."""
    losses = {}
    for path in (sweep / "results").glob("*.json"):
        record = json.loads(path.read_text())
        evaluations = record.get("evaluations") or []
        losses[record["run_id"]] = evaluations[-1]["target_loss"] if evaluations else math.nan
    return pd.Series(losses).sort_index()


def seed_noise(losses: pd.Series) -> list[float]:
    """The differences between a repeated mixture's two seeds (run-0003 vs run-0003-s1)."""
    return [float(losses[r] - losses[r[:-3]]) for r in losses.index if r.endswith("-s1")]


def main() -> None:
    parser = bench_parser(__doc__, out="grouped_sweep.json", config=True, work="bench-grouped")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args()
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    started = time.perf_counter()
    legs, losses, proposals = {}, {}, {}
    for group in args.groups:
        folder = args.work / f"group-{group}"
        config = leg_config(args.config, folder, group)
        print(f"models_per_trial {group}: sweep", flush=True)
        seconds, lines = run(["sweep", str(config), "--no-propose"])
        losses[group] = final_losses(folder / "sweep")
        _, propose_lines = run(["propose", str(config), "--output", str(folder / "proposal.json")])
        proposals[group] = json.loads((folder / "proposal.json").read_text())
        legs[group] = {"sweep_seconds": round(seconds, 1), "runs": int(losses[group].size),
                       "failed": int(losses[group].isna().sum()),
                       "speed_line": next((x for x in lines if "proxies trained at" in x), ""),
                       "trials_line": next((x for x in lines if "trials ran at once" in x), "")}
        print(json.dumps(legs[group], indent=1), flush=True)
    solo = args.groups[0]
    noise = [d for group in args.groups for d in seed_noise(losses[group])]
    sigma = statistics.pstdev(noise) / math.sqrt(2) if len(noise) > 1 else math.nan
    domains = list(proposals[solo]["mixture"])
    compare = {}
    for group in args.groups[1:]:
        diff = (losses[group] - losses[solo]).dropna().abs()
        a = np.array([proposals[solo]["mixture"][d] for d in domains])
        b = np.array([proposals[group]["mixture"][d] for d in domains])
        compare[group] = {
            "wall_time_solo_over_group": legs[solo]["sweep_seconds"] / legs[group]["sweep_seconds"],
            "runs_compared": int(diff.size),
            "mean_abs_loss_difference": float(diff.mean()),
            "max_abs_loss_difference": float(diff.max()),
            "proposal_l1_to_solo": float(np.abs(a - b).sum()),
            "proposal_predicted_loss": proposals[group].get("predicted_target_loss"),
        }
    out = {"benchmark": "the demo sweep alone and in stacked groups (compute.models_per_trial)",
           "machine": machine(), "config": relative(args.config), "legs": legs,
           "seed_noise_sigma": sigma, "seed_pairs": len(noise),
           "solo_proposal": {"mixture": proposals[solo]["mixture"],
                             "predicted_loss": proposals[solo].get("predicted_target_loss")},
           "versus_solo": compare}
    print(json.dumps(out, indent=1), flush=True)
    write_record(args.out, out, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
