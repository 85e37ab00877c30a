"""Big runs tables: time and peak memory of ``raymix fit`` and ``raymix propose`` at 10k-1M runs.

Issue 28 found that a 200 MB runs table (1.35M runs) with the default ``--regressor auto``
took 6.4 minutes and 12.8 GB before the GP asked for 8.49 TiB. This bench builds the
tables with numpy from a known loss function (5 domains, a log-linear truth plus noise,
``L(w) = 2 + exp(0.5 + t . w) + N(0, 0.01)``, mixtures drawn from a flat Dirichlet), writes
RegMix's CSV pair (``mixtures.csv``, ``metrics.csv``) and runs the real command line on
them in a child process, once per command and size:

    raymix fit     --mixtures M --metrics L --target loss             (--regressor auto)
    raymix propose --mixtures M --metrics L --target loss --output P  (the bootstrap too)

It records each child's wall and CPU seconds and peak resident memory (``ru_maxrss`` of
the child, from ``os.wait4``), the regressor chosen and the notes raymix printed. The
sizes are 10k, 100k and 1M runs by default (``--sizes``). On a machine shared by many,
the CPU seconds are the steadier number.

    python bench/bench_big_table.py [--sizes 10000 100000 1000000] [--commands fit propose]

Writes bench/results/big_table.json. ``big_table_before.json`` is the same bench (fit
only) on the code before the big-table limits (issue 28): 3.2 GB at 10,000 runs, and at
100,000 the GP's posterior asked for 47.7 GiB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from common import ROOT, bench_parser, fresh_folder, machine, write_record

DOMAINS = 5
SLOPES = np.array([-1.0, -0.5, 0.0, 0.4, 0.8])  # t: the first domain helps most
NOISE = 0.01  # run-to-run noise of the loss
SIZES = (10_000, 100_000, 1_000_000)
TIMEOUT_S = 1800  # a child running longer than this is stopped and recorded as such


def truth(weights: np.ndarray) -> np.ndarray:
    """The expected loss of each mixture: ``2 + exp(0.5 + t . w)``."""
    return 2.0 + np.exp(0.5 + weights @ SLOPES)


def write_tables(folder: Path, runs: int, seed: int = 0) -> tuple[Path, Path]:
    """``mixtures.csv`` and ``metrics.csv`` of ``runs`` runs drawn around :func:`truth`."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(DOMAINS), runs)
    loss = truth(weights) + rng.normal(0.0, NOISE, runs)
    ids = np.char.add("r", np.arange(runs).astype(str))
    mixtures, metrics = folder / "mixtures.csv", folder / "metrics.csv"
    header = ",".join(["run", *(f"d{j}" for j in range(DOMAINS))])
    np.savetxt(mixtures, np.column_stack([ids, *(np.char.mod("%.6f", weights[:, j])
                                                   for j in range(DOMAINS))]),
               fmt="%s", delimiter=",", header=header, comments="")
    np.savetxt(metrics, np.column_stack([ids, np.char.mod("%.6f", loss)]), fmt="%s",
               delimiter=",", header="run,loss", comments="")
    return mixtures, metrics


def run_cli(args: list[str], logs: Path, timeout: float = TIMEOUT_S) -> dict:
    """Run ``python -m raymix ARGS`` in a child: its exit status, wall and CPU seconds,
    peak RSS (GB, the child's own ``ru_maxrss`` from ``os.wait4``) and its last lines."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "raymix", *args], cwd=ROOT,
                                 stdout=out, stderr=err)
        timer = threading.Timer(timeout, child.kill)  # a child past the limit is stopped
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stderr = (logs / "stderr").read_text().strip().splitlines()
    return {"status": child.returncode, "seconds": round(seconds, 1),
            # CPU seconds say more than wall seconds on a machine shared by many
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_gb": round(usage.ru_maxrss / 2**20, 3),  # KiB on Linux
            "stdout_tail": (logs / "stdout").read_text().strip().splitlines()[-4:],
            "stderr": [line[:300] for line in stderr[-6:]]}


def main() -> None:
    parser = bench_parser(__doc__, out="big_table.json", work="bench_big_table")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--commands", nargs="+", default=["fit", "propose"],
                        choices=["fit", "propose"])
    parser.add_argument("--regressor", default="auto", help="--regressor of each command")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help=f"seconds before a command is stopped (default {TIMEOUT_S})")
    args = parser.parse_args()
    work = fresh_folder(args.work)
    rows, started = [], time.perf_counter()
    for runs in args.sizes:
        folder = work / str(runs)
        folder.mkdir(parents=True)
        mixtures, metrics = write_tables(folder, runs)
        for command in args.commands:
            cli = [command, "--mixtures", str(mixtures), "--metrics", str(metrics),
                   "--target", "loss", "--regressor", args.regressor]
            if command == "propose":
                cli += ["--output", str(folder / "proposal.json")]
            row = {"runs": runs, "command": command,
                   "table_mb": round((mixtures.stat().st_size + metrics.stat().st_size) / 1e6, 1),
                   **run_cli(cli, folder / command, args.timeout)}
            print(row, flush=True)
            rows.append(row)
    write_record(args.out, {
        "what": f"raymix fit / propose (--regressor {args.regressor}) on RegMix-style CSV "
                "pairs of a synthetic log-linear loss over 5 domains; wall and CPU seconds and "
                "peak RSS of the command line's process",
        "machine": machine(), "regressor": args.regressor, "rows": rows,
    }, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
