"""Autoscaling on one machine (Ray's ``fake_multinode`` provider): an adaptive sweep
submitted to a cluster with no worker nodes scales it up to run its trials, uses the
nodes as they join, and the cluster scales back down after."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml
from conftest import TINY, experiment_counts

from raymix.config import parse_config
from raymix.runs import ResultStore
from raymix.sweep import run_sweep

HERE = Path(__file__).resolve().parent
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def autoscaling_head(tmp_path, monkeypatch):
    """A head node (no CPUs for trials) whose autoscaler adds fake 1-GPU worker nodes.

    Token authentication is off for the head and for this process (see test_jobs.py);
    the head is stopped afterwards, with every node its autoscaler started, whatever happens.
    """
    port = _free_port()
    config = yaml.safe_load((HERE / "fake_autoscaler.yaml").read_text())
    # the fake provider's nodes join the head's GCS at this address (default: port 6379)
    config["provider"]["gcs_address"] = f"{ray.util.get_node_ip_address()}:{port}"
    path = tmp_path / "autoscaler.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1"}
    started = subprocess.run(
        [RAY, "start", "--head", f"--autoscaling-config={path}", "--num-cpus", "0",
         "--port", str(port), "--include-dashboard", "false", "--disable-usage-stats"],
        env=env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        ray.init(address=f"127.0.0.1:{port}", namespace="raymix")
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def _alive_workers(head_id: str) -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeID"] != head_id}


@pytest.mark.slow
def test_an_adaptive_sweep_scales_the_cluster_up_from_zero_and_back_down(autoscaling_head,
                                                                        tmp_path):
    head_id = ray.get_runtime_context().get_node_id()
    assert _alive_workers(head_id) == set()  # nothing to run trials on yet
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    # proxies of a few seconds: a trial shorter than a new worker's start-up (about 2 s on
    # a fake node) would reuse the first trial's worker and run alone
    raw["training"].update(steps=120, eval_every=40)
    raw["mixtures"] = {"count": 6, "repeats": 0, "strategy": "bayesopt", "initial_runs": 2}
    raw["compute"] = {"storage": str(tmp_path / "sweep"), "address": autoscaling_head,
                      "cpus_per_trial": 1, "gpus_per_trial": 0.5}
    lines: list[str] = []
    result = run_sweep(parse_config(raw, base_dir=tmp_path), log=lines.append)

    assert result.stored == 6 and result.failed == 0
    nodes = {r.node_id for r in ResultStore(tmp_path / "sweep").load_all().values()}
    assert head_id not in nodes and len(nodes) >= 1  # every trial ran on an added node
    # the strategy kept suggestions in flight as nodes joined, though it started with no
    # slot at all (a limit fixed at the start's slots trained one trial at a time)
    counts, line = experiment_counts(lines, "adaptive")
    # both initial runs handed out at once: the demand that made the autoscaler add nodes
    assert counts["suggested"] >= 2, line
    assert counts["at_once"] >= 2, line
    # idle workers go away (idle_timeout_minutes: 0.05), leaving the head alone
    deadline = time.monotonic() + 90
    while _alive_workers(head_id) and time.monotonic() < deadline:
        time.sleep(1)
    assert _alive_workers(head_id) == set()
