"""What the tests share: a guard that no test leaves a Ray cluster running, a tiny sweep
config on the built-in corpus, and helpers that run ``raymix`` as a user would.

Test modules import the constants and helpers (``from conftest import TINY``); pytest
puts this folder on the path for them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from raymix.data.tasks import builtin_task
from raymix.runs import ResultStore

# the benchmarks' helpers that tests share (bench/bench_sweep_load.py: a sweep under load)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_sweep_load import session_members  # noqa: E402

RAY_DAEMONS = ("raylet", "gcs_server")


# ----------------------------------------------------------------------------- no cluster left


def ray_daemons() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in RAY_DAEMONS and \
                        (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="session", autouse=True)
def no_ray_left_behind():
    before = ray_daemons()
    yield
    deadline = time.monotonic() + 30  # daemons of a cluster just stopped take a moment to exit
    while (left := ray_daemons() - before) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray daemons left running by the tests: {sorted(left)}"


@pytest.fixture(scope="session", autouse=True)
def a_user_cache_of_their_own(tmp_path_factory):
    """A config that names no data.cache_dir prepares into the user's cache: in the tests,
    a folder of their own ($RAYMIX_CACHE, which Ray's workers and subprocesses inherit)."""
    before = os.environ.get("RAYMIX_CACHE")
    os.environ["RAYMIX_CACHE"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if before is None:
        os.environ.pop("RAYMIX_CACHE", None)
    else:
        os.environ["RAYMIX_CACHE"] = before


@pytest.fixture(autouse=True)
def unit_tests_start_no_cluster(request, monkeypatch):
    """tests/unit runs in seconds because nothing there starts Ray: keep it that way."""
    if "unit" not in request.node.path.parts:
        return
    import ray

    def refuse(*args, **kwargs):
        raise AssertionError("a unit test started a Ray cluster; move it to tests/e2e")

    monkeypatch.setattr(ray, "init", refuse)


# ----------------------------------------------------------------------------- a tiny sweep

TINY = {
    "name": "tiny",
    "data": {
        "max_text_bytes": 300_000,
        "tokenizer": {"vocab_size": 512},
        "domains": [
            {"name": "code", "source": "builtin:code"},
            {"name": "licences", "source": "builtin:licences"},
            {"name": "readmes", "source": "builtin:readmes"},
        ],
    },
    "target": {"name": "python_reference", "source": "builtin:python_reference"},
    "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "seq_len": 64},
    # two micro-batches a step: every sweep test runs gradient accumulation
    "training": {"steps": 30, "batch_size": 8, "micro_batch_size": 4, "lr": 0.01,
                 "warmup_steps": 3, "eval_every": 10, "eval_tokens": 2048},
    "mixtures": {"count": 8, "repeats": 2, "repeat_seeds": 1},
    "compute": {"num_cpus": 2},
    "fit": {"cv_folds": 3},
    "search": {"draws": 2000, "top_k": 20},
    # no confirmation round unless a test asks for one (each adds a dozen runs)
    "confirm": {"rounds": 0},
}


# ----------------------------------------------------------------------------- a task target

# a reference sentence is up to ~100 tokens of the tiny sweep's 512-token vocabulary
WINDOW = {"seq_len": 128}


def _choice_file(folder: Path, cache: Path) -> Path:
    """Multiple-choice items written as a user would: real reference paragraphs, the gold
    ending among two other items' endings."""
    items = builtin_task("python_reference_cloze", cache)[100:130]
    path = folder / "choice.jsonl"
    with path.open("w") as f:
        for i, item in enumerate(items):
            others = [items[(i + 7) % len(items)].continuation,
                      items[(i + 13) % len(items)].continuation]
            gold = i % 3
            choices = [*others[:gold], item.continuation, *others[gold:]]
            f.write(json.dumps({"query": item.context, "choices": choices, "gold": gold}) + "\n")
    return path


def task_target(folder: Path, cache: Path) -> dict:
    return {"name": "tasks", "source": None, "tasks": [
        {"name": "cloze", "path": "builtin:python_reference_cloze", "family": "completion",
         "max_items": 40},
        {"name": "choice", "path": str(_choice_file(folder, cache)), "family": "choice",
         "weight": 3.0}]}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """A token cache shared by the tests of one module (preparing takes seconds)."""
    return tmp_path_factory.mktemp("cache")


def write_config(folder: Path, cache: Path, **overrides) -> Path:
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(cache)
    raw["compute"]["storage"] = str(folder / "sweep")
    for section, values in overrides.items():
        if isinstance(values, list) or section not in raw:  # scales, validate
            raw[section] = values
        else:
            raw[section].update(values)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def experiment_counts(lines: list[str], experiment: str) -> tuple[dict[str, int], str]:
    """The counts in a sweep's summary line of one Tune experiment (``adaptive`` or ``plan``):
    ``at_once`` (Tune's running trials) and, for an adaptive one, ``suggested``; and the line."""
    line = next(line for line in lines if line.startswith(f"[sweep] {experiment}:"))
    counts = {"at_once": int(re.search(r"up to (\d+) trials? ran at once", line)[1])}
    suggested = re.search(r"up to (\d+) suggested at a time", line)
    if suggested:
        counts["suggested"] = int(suggested[1])
    return counts, line


def raymix_cli(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "raymix", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **popen)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        kill_session(proc)
    assert proc.returncode == 0, out
    return out


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the command and every process it started (its Ray cluster included)."""
    sid = proc.pid
    for pid in session_members(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    deadline = time.monotonic() + 30
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.2)




def stored_runs(sweep_dir: Path) -> list[str]:
    return sorted(ResultStore(sweep_dir).load_all())


# ----------------------------------------------------------------------------- object storage


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's standalone S3-compatible server on loopback, and the environment that points
    raymix, pyarrow, Ray Tune and boto3 at it."""

    def __init__(self, folder: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_EC2_METADATA_DISABLED": "true"}
        server = Path(sys.executable).with_name("moto_server")
        self.log = (folder / "moto.log").open("w")
        self.proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(extra_env or {})},
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    log = folder / "moto.log"
                    raise RuntimeError(f"moto_server did not start ({log})") from None
                time.sleep(0.2)

    def client(self, **credentials):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=credentials.get("key", "testing"),
                            aws_secret_access_key=credentials.get("secret", "testing"))

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                        Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A real S3-compatible server (moto) for this module's tests, its environment set
    for this process and the Ray clusters and commands it starts; a bucket 'raymix-test'."""
    server = S3Server(tmp_path_factory.mktemp("s3"))
    before = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    server.client().create_bucket(Bucket="raymix-test")
    yield server
    server.stop()
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
