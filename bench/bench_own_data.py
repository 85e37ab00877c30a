"""Minutes from folders of your own data to a proposal: raymix init, plan and sweep.

Three domains of real text that any Python has (the standard library's sources, its
language reference, its modules' docstrings) are written as a user's folders, then the
commands a newcomer types run one after another in a fresh folder with a fresh cache
(``$RAYMIX_CACHE``), each timed:

    raymix init my-sweep data/code data/reference data/docs.jsonl --hours H
    raymix plan my-sweep/sweep.yaml
    raymix sweep my-sweep/sweep.yaml          (prepare, the proxies, fit, confirm, propose)

The record (``bench/results/own_data.json``) holds each command's wall time, what init
chose (proxy, mixtures) and the time it predicted, and the proposal.

    python bench/bench_own_data.py --hours 0.25
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from pydoc_data.topics import topics

import yaml
from common import bench_parser, fresh_folder, machine, write_record

STDLIB = Path(os.__file__).parent
CODE = ["argparse.py", "dataclasses.py", "functools.py", "inspect.py", "pathlib.py",
        "subprocess.py", "typing.py", "zipfile.py"]
DOCSTRING_MODULES = ["decimal.py", "statistics.py", "datetime.py", "difflib.py",
                     "ipaddress.py", "fractions.py", "shutil.py", "tarfile.py"]


def write_domains(data: Path) -> list[str]:
    """A user's three domain folders/files of real text; returns them as init's SOURCEs."""
    (data / "code").mkdir(parents=True)
    for name in CODE:
        (data / "code" / name).write_text((STDLIB / name).read_text(encoding="utf-8"))
    (data / "reference").mkdir()
    for key in sorted(topics):
        (data / "reference" / f"{key}.txt").write_text(topics[key], encoding="utf-8")
    with open(data / "docs.jsonl", "w", encoding="utf-8") as f:
        for name in DOCSTRING_MODULES:
            tree = ast.parse((STDLIB / name).read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and len(doc) > 80:
                        f.write(json.dumps({"text": doc}) + "\n")
    return [str(data / "code"), str(data / "reference"), str(data / "docs.jsonl")]


def run(step: str, args: list[str], cwd: Path, env: dict, timings: dict) -> str:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "raymix", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    timings[step] = round(time.perf_counter() - started, 1)
    print(f"[own-data] {step}: {timings[step]:.1f} s", flush=True)
    if done.returncode != 0:
        sys.exit(f"raymix {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def main() -> None:
    parser = bench_parser(__doc__, out="own_data.json", work="bench-own-data")
    parser.add_argument("--hours", type=float, default=0.25,
                        help="the wall-time budget given to raymix init (default 0.25)")
    args = parser.parse_args()
    work = fresh_folder(args.work)
    work.mkdir(parents=True)
    sources = write_domains(work / "data")
    # a fresh user: a cache of their own, so prepare and the tokenizer start from nothing
    env = {**os.environ, "RAYMIX_CACHE": str(work / "user-cache")}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    run("raymix init", ["init", "my-sweep", *sources, "--hours", str(args.hours)], work, env,
        timings)
    raw = yaml.safe_load((work / "my-sweep" / "sweep.yaml").read_text())
    plan = json.loads(run("raymix plan --json", ["plan", "my-sweep/sweep.yaml", "--json"],
                          work, env, timings))
    run("raymix sweep", ["sweep", "my-sweep/sweep.yaml"], work, env, timings)
    total = time.perf_counter() - started
    proposal = json.loads((work / "my-sweep" / "runs" / "proposal.json").read_text())
    sweep = next(c for c in plan["commands"] if c["command"] == "raymix sweep")
    record = {"machine": machine(), "hours_given": args.hours,
              "domains": [Path(s).stem for s in sources],
              "chosen": {"model": raw["model"], "mixtures": raw["mixtures"]["count"],
                         "training_steps": raw["training"]["steps"]},
              "plan_wall_seconds": [w["seconds"] for w in sweep["wall"]],
              "seconds": timings, "total_minutes": round(total / 60, 2),
              "proposal": proposal.get("mixture")}
    write_record(args.out, record, seconds=total)


if __name__ == "__main__":
    main()
