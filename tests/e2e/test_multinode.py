"""Several nodes on one machine (``ray.cluster_utils.Cluster``, fake GPUs): trials spread
over the worker nodes, four proxies packed per GPU, the aggregator reached from all."""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest
import ray
from conftest import TINY, experiment_counts

from raymix.config import parse_config
from raymix.runs import ResultStore
from raymix.sweep import run_sweep


@pytest.fixture
def cluster():
    """A CPU head that runs no trials (as in cluster.yaml) and two 1-GPU worker nodes."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        workers = [c.add_node(num_cpus=2, num_gpus=1) for _ in range(2)]
        c.wait_for_nodes()
        ray.init(address=c.address, namespace="raymix")
        yield c, {w.node_id for w in workers}
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.mark.slow  # 65 s: a three-node cluster
def test_sweep_spreads_over_nodes_and_packs_four_proxies_per_gpu(cluster, tmp_path):
    c, worker_ids = cluster
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["mixtures"] = {"count": 8, "repeats": 0}
    raw["compute"] = {"storage": str(tmp_path / "sweep"), "address": c.address,
                      "cpus_per_trial": 0.5, "gpus_per_trial": 0.25}
    cfg = parse_config(raw, base_dir=tmp_path)
    lines: list[str] = []
    result = run_sweep(cfg, log=lines.append)
    assert result.slots == 8  # min(4 CPUs / 0.5, 2 GPUs / 0.25): 4 proxies on each GPU
    # Tune ran more trials at once than there are GPUs: proxies really shared them (all 8
    # at once here; the bound leaves room for a slow machine's staggered actor starts)
    counts, line = experiment_counts(lines, "plan")
    assert counts["at_once"] > 2, line
    assert result.stored == 8 and result.failed == 0 and result.trained_now == 8
    records = ResultStore(tmp_path / "sweep").load_all().values()
    nodes = [r.node_id for r in records]
    assert set(nodes) <= worker_ids and len(set(nodes)) == 2  # never the head, both workers
    assert all(len(r.gpu_ids) == 1 for r in records)  # each trial saw its (shared) GPU
    # every trial's result reached the one aggregator and is in the exported tables
    assert len(pd.read_csv(tmp_path / "sweep" / "mixtures.csv")) == 8


@pytest.mark.slow
def test_a_node_removed_mid_sweep_has_its_trials_rescheduled(cluster, tmp_path):
    c, worker_ids = cluster
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["training"].update(steps=90, eval_every=30)
    raw["mixtures"] = {"count": 8, "repeats": 0}
    raw["compute"] = {"storage": str(tmp_path / "sweep"), "address": c.address,
                      "cpus_per_trial": 0.5, "gpus_per_trial": 0.25, "max_retries": 3}
    cfg = parse_config(raw, base_dir=tmp_path)
    store = ResultStore(tmp_path / "sweep")
    victim = next(n for n in c.worker_nodes)
    lines: list[str] = []

    def remove_a_node_once_results_arrive():
        deadline = time.monotonic() + 240
        while not store.load_all() and time.monotonic() < deadline:
            time.sleep(0.2)
        c.remove_node(victim, allow_graceful=False)  # the node dies with trials on it

    remover = threading.Thread(target=remove_a_node_once_results_arrive, daemon=True)
    remover.start()
    result = run_sweep(cfg, log=lines.append)
    remover.join(timeout=60)
    assert result.stored == 8 and result.failed == 0  # every run, on the surviving node
    assert any("its worker died; retrying" in line for line in lines), lines
    plan = pd.read_csv(tmp_path / "sweep" / "plan.csv")["run"]
    assert sorted(store.load_all()) == sorted(plan)  # lost: 0
