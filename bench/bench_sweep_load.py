"""Sweep load: thousands of short proxies on a local Ray cluster, plain and with the driver killed.

A sweep of --runs proxies of a few training steps each (default 2,000), on the built-in
corpus, with the aggregator storing every result and the live fit running. Twice:

1. plain: one ``raymix sweep --no-propose`` from start to end;
2. killed: the same sweep in a fresh folder, its driver (the ``raymix`` process alone)
   SIGKILLed --kills times (default 2) at evenly spaced numbers of stored runs, and
   started again each time until it finishes.

Each time it checks that every planned run is stored exactly once (one record per run
id, named by it, no temporary files left, one row per run in mixtures.csv and one per
evaluation in runs.csv), and that each restart resumed from what was stored. It measures
trials per second (wall time of the commands; and from the first stored result to the
last), the aggregator's time per stored result (p50, p99, max: the sweep's own
``[sweep] aggregator:`` line), its peak memory with every run held, and the driver's.

    python bench/bench_sweep_load.py [--runs 2000] [--kills 2] [--config my.yaml]

``--config`` takes the sweep's settings from a config of yours (count, repeats and storage
are replaced). Writes bench/results/sweep_load.json (quoted in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from common import ROOT, bench_parser, machine, write_record

# the built-in corpus, a 1-layer proxy of 3 steps: what is measured is the sweep, not training
LOAD_CONFIG = {
    "name": "load",
    "data": {
        "cache_dir": str(ROOT / ".raymix" / "cache"),
        "max_text_bytes": 300_000,
        "tokenizer": {"vocab_size": 512},
        "domains": [{"name": "code", "source": "builtin:code"},
                    {"name": "licences", "source": "builtin:licences"},
                    {"name": "readmes", "source": "builtin:readmes"}],
    },
    "target": {"name": "python_reference", "source": "builtin:python_reference"},
    "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "seq_len": 64},
    "training": {"steps": 3, "batch_size": 4, "lr": 0.01, "warmup_steps": 1,
                 "eval_every": 1, "eval_tokens": 512},
    "mixtures": {"count": 2000, "repeats": 0},
    "compute": {"num_cpus": os.cpu_count() or 2},
    "confirm": {"rounds": 0},
}
AGGREGATOR_LINE = re.compile(
    r"\[sweep\] aggregator: ([\d,]+) results stored, ([\d.]+) ms each \(median; p99 ([\d.]+) "
    r"ms, max ([\d.]+) ms\), ([\d,]+) records held in (\d+) MiB \((\d+) MiB at its start, "
    r"(\d+) MiB at most\)")
ALREADY = re.compile(r"\[sweep\] (\d+) runs planned, (\d+) already stored")


def write_config(folder: Path, runs: int, base: dict | None = None) -> Path:
    """A sweep config of ``runs`` mixtures (no repeats) storing under ``folder/sweep``."""
    raw = json.loads(json.dumps(base or LOAD_CONFIG))
    raw.setdefault("mixtures", {}).update(count=runs, repeats=0)
    raw.setdefault("compute", {})["storage"] = str(folder / "sweep")
    raw.setdefault("confirm", {})["rounds"] = 0
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "load.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@dataclass
class Leg:
    """One ``raymix sweep`` command: from its start to its exit, or to its SIGKILL."""

    stored_at_start: int
    resumed_from: int | None = None  # the command's own "N already stored"
    killed_at: int | None = None  # runs stored when its driver was killed
    seconds: float = 0.0
    driver_peak_rss_mib: float = 0.0
    processes_left: int = 0  # of its session 60 s after the kill, Ray's agents aside
    agents_left: int = 0  # Ray's agents then (they go by themselves within ~2 minutes)
    output: list[str] = field(default_factory=list)


def stored_count(sweep: Path) -> int:
    folder = sweep / "results"
    return sum(1 for p in folder.glob("*.json")) if folder.is_dir() else 0


def _rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found[1]) / 1024 if found else 0.0


def session_members(sid: int) -> list[int]:
    """The live processes of session ``sid`` (the command and what it started)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # state, ppid, pgrp, session
                members.append(int(entry.name))
    return members


# Ray 2.60's node agents outlive a SIGKILLed driver's cluster by 60-120 s: they retry the
# dead GCS until its reconnect timeout, then exit by themselves
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _is_agent(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
            tuple(a.encode() for a in RAY_AGENTS))
    except OSError:
        return False


def _kill_all(sid: int) -> None:
    for pid in session_members(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_leg(config: Path, sweep: Path, kill_at: int | None, log=print) -> Leg:
    """Run ``raymix sweep CONFIG --no-propose``; SIGKILL its driver once ``kill_at`` runs are
    stored (None: let it finish, which it must)."""
    leg = Leg(stored_at_start=stored_count(sweep))
    started = time.perf_counter()
    # its own session: what the command starts (its local Ray cluster) can be found
    proc = subprocess.Popen([sys.executable, "-m", "raymix", "sweep", str(config), "--no-propose"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    reader = _LineReader(proc, lines)
    try:
        while proc.poll() is None:
            leg.driver_peak_rss_mib = max(leg.driver_peak_rss_mib, _rss_mib(proc.pid))
            if kill_at is not None and stored_count(sweep) >= kill_at:
                leg.killed_at = stored_count(sweep)
                os.kill(proc.pid, signal.SIGKILL)  # the driver alone, as an OOM killer would
                proc.wait()
                break
            time.sleep(0.2)
        leg.seconds = time.perf_counter() - started
        if leg.killed_at is not None:
            # its Ray cluster shares the driver's fate: give it a minute to go
            deadline = time.monotonic() + 60
            while (any(not _is_agent(p) for p in session_members(proc.pid))
                   and time.monotonic() < deadline):
                time.sleep(0.5)
            left = session_members(proc.pid)
            leg.agents_left = sum(_is_agent(p) for p in left)
            leg.processes_left = len(left) - leg.agents_left
    finally:
        _kill_all(proc.pid)
        proc.wait()
        reader.join()
    leg.output = lines
    for line in lines:
        if found := ALREADY.search(line):
            leg.resumed_from = int(found[2])
    if kill_at is None and proc.returncode != 0:
        raise RuntimeError("the sweep failed:\n" + "\n".join(lines[-30:]))
    if kill_at is not None and leg.killed_at is None:
        raise RuntimeError(f"the sweep ended before {kill_at} runs were stored")
    log(f"  leg: {leg.stored_at_start} stored at start, "
        + (f"killed at {leg.killed_at}" if leg.killed_at is not None else "finished")
        + f", {leg.seconds:.0f} s")
    return leg


class _LineReader:
    """Collects a process's output lines on a thread (a full pipe would block it)."""

    def __init__(self, proc: subprocess.Popen, lines: list[str]):
        import threading

        self.thread = threading.Thread(
            target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=30)


def check_exactly_once(sweep: Path) -> dict:
    """Every planned run stored once: the counts a test asserts and the bench records."""
    plan = pd.read_csv(sweep / "plan.csv")["run"].tolist()
    files = sorted(p.stem for p in (sweep / "results").glob("*.json"))
    named = [json.loads((sweep / "results" / f"{f}.json").read_text())["run_id"] for f in files]
    leftovers = [p.name for p in (sweep / "results").iterdir() if p.suffix != ".json"]
    mixtures = pd.read_csv(sweep / "mixtures.csv")["run"]
    runs = pd.read_csv(sweep / "runs.csv")
    evaluations = runs.groupby("run").size()
    return {
        "planned": len(plan),
        "planned_unique": len(set(plan)),
        "stored": len(files),
        "missing": len(set(plan) - set(files)),
        "extra": len(set(files) - set(plan)),
        "misnamed": sum(f != n for f, n in zip(files, named)),
        "leftover_files": len(leftovers),
        "mixtures_rows": len(mixtures),
        "mixtures_unique": int(mixtures.nunique()),
        "runs_csv_runs": int(evaluations.size),
        "runs_csv_evaluations_per_run": sorted(set(evaluations.tolist())),
    }


def aggregator_line(lines: list[str]) -> dict | None:
    """The ``[sweep] aggregator:`` line of a finished command, as numbers."""
    for line in lines:
        if found := AGGREGATOR_LINE.search(line):
            stored, median, p99, most, held, rss, start, peak = found.groups()
            return {"stored": int(stored.replace(",", "")), "add_ms_median": float(median),
                    "add_ms_p99": float(p99), "add_ms_max": float(most),
                    "records_held": int(held.replace(",", "")), "rss_mib": float(rss),
                    "start_rss_mib": float(start), "peak_rss_mib": float(peak)}
    return None


def sweep_with_kills(config: Path, sweep: Path, runs: int, kills: int, log=print) -> dict:
    """Run the sweep of ``config`` to its end, its driver SIGKILLed ``kills`` times on the
    way (after 1/(kills+1), 2/(kills+1), ... of the runs are stored)."""
    legs = [run_leg(config, sweep, runs * (i + 1) // (kills + 1), log) for i in range(kills)]
    legs.append(run_leg(config, sweep, None, log))
    stored_times = sorted(p.stat().st_mtime for p in (sweep / "results").glob("*.json"))
    seconds = sum(leg.seconds for leg in legs)
    last = legs[-1]
    return {
        "runs": runs,
        "kills": kills,
        "seconds": seconds,
        "trials_per_second": runs / seconds,
        # between the first result stored and the last (start-ups and the driver's exit out)
        "trials_per_second_storing": (len(stored_times) - 1)
                                     / max(1e-9, stored_times[-1] - stored_times[0]),
        "legs": [{"stored_at_start": leg.stored_at_start, "resumed_from": leg.resumed_from,
                  "killed_at": leg.killed_at, "seconds": round(leg.seconds, 1),
                  "driver_peak_rss_mib": round(leg.driver_peak_rss_mib),
                  "processes_left_after_kill": leg.processes_left,
                  "ray_agents_left_after_kill": leg.agents_left} for leg in legs],
        "aggregator": aggregator_line(last.output),
        "live_fits": sum(line.startswith("[fit] live CV") for leg in legs for line in leg.output),
        "exactly_once": check_exactly_once(sweep),
        "output_tail": last.output[-6:],
    }


def main() -> None:
    parser = bench_parser(__doc__, out="sweep_load.json", work="bench-load")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--config", type=Path, default=None,
                        help="take the sweep's settings from this config (default: a 1-layer "
                             "proxy of 3 steps on the built-in corpus)")
    args = parser.parse_args()
    import shutil

    base = yaml.safe_load(args.config.read_text()) if args.config else None
    started = time.perf_counter()
    out = {"benchmark": "a sweep of thousands of short proxies, plain and with its driver "
                        "SIGKILLed", "machine": machine()}
    for name, kills in (("plain", 0), ("killed", args.kills)):
        folder = args.work / name
        shutil.rmtree(folder, ignore_errors=True)
        config = write_config(folder, args.runs, base)
        print(f"{name}: {args.runs} runs, driver killed {kills} times", flush=True)
        out[name] = sweep_with_kills(config, folder / "sweep", args.runs, kills)
        print(json.dumps({k: v for k, v in out[name].items() if k != "output_tail"}, indent=1),
              flush=True)
    out["config"] = yaml.safe_load(config.read_text())
    write_record(args.out, out, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
