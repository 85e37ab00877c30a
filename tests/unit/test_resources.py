"""Trials that no node can hold are refused before they wait forever
(raymix.sweep.cluster: the decision, and the check before a local cluster starts)."""

from __future__ import annotations

import copy

import pytest
from conftest import TINY

from raymix.config import parse_config
from raymix.errors import UserError
from raymix.sweep.cluster import (
    RESOURCE_FIELDS,
    check_local_resources,
    describe_shortfall,
    lacking,
    local_machine,
    trial_demand,
)
from raymix.training.memory import GIB


def config(**compute):
    raw = copy.deepcopy(TINY)
    raw["compute"] = {**raw["compute"], **compute}
    return parse_config(raw)


@pytest.mark.parametrize("need, nodes, missing", [
    ({"CPU": 1}, [{"CPU": 2}], None),
    ({"CPU": 1, "GPU": 0.25}, [{"CPU": 2}], "GPU"),  # no GPU anywhere
    ({"CPU": 1, "GPU": 1}, [{"CPU": 8, "GPU": 1}, {"CPU": 2}], None),  # one node holds it
    ({"CPU": 4}, [{"CPU": 2}, {"CPU": 2}], "CPU"),  # 4 CPUs in all, never 4 on one node
    ({"CPU": 2, "GPU": 1}, [{"CPU": 1, "GPU": 1}, {"CPU": 4}], "CPU"),  # each, never both
    ({"CPU": 1, "memory": 8 * GIB}, [{"CPU": 4, "memory": 2 * GIB}], "memory"),
    ({"CPU": 1}, [], "CPU"),  # no node at all (an autoscaling head with none yet)
])
def test_lacking_names_what_no_node_has_for_one_trial(need, nodes, missing):
    assert lacking(need, nodes) == missing


def test_the_shortfall_in_words():
    need = {"CPU": 1.0, "GPU": 1.0}
    text = describe_shortfall(need, [{"CPU": 2.0}, {"CPU": 4.0, "GPU": 0.0}], "GPU", "the cluster")
    assert text == ("each trial asks for 1 CPU, 1 GPU on one node, and the largest node of "
                    "the cluster has no GPUs")
    one = describe_shortfall({"CPU": 1.0, "memory": 4 * GIB}, [{"CPU": 2.0}], "memory",
                             "this machine")
    assert one == ("each trial asks for 1 CPU, 4 GiB of memory on one node, and this machine "
                   "has no memory")


def test_trial_demand_in_rays_names():
    assert trial_demand(config(cpus_per_trial=2)) == {"CPU": 2.0}
    assert trial_demand(config(gpus_per_trial=0.5)) == {"CPU": 1.0, "GPU": 0.5}
    assert trial_demand(config(memory_per_trial_gb=2)) == {"CPU": 1.0, "memory": 2.0 * GIB}
    assert set(RESOURCE_FIELDS.values()) == {"compute.cpus_per_trial", "compute.gpus_per_trial",
                                             "compute.memory_per_trial_gb"}


def test_a_gpu_trial_on_a_machine_without_a_gpu_is_refused_naming_the_field(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = config(gpus_per_trial=1)
    if local_machine(cfg)["GPU"] >= 1:
        pytest.skip("this machine has a GPU")
    with pytest.raises(UserError) as caught:
        check_local_resources(cfg)
    assert caught.value.field == "compute.gpus_per_trial"
    assert "no GPUs" in caught.value.problem and "gpus_per_trial: 0" in caught.value.problem


def test_more_cpus_per_trial_than_the_local_cluster_has_are_refused(monkeypatch):
    import os

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cpus = os.cpu_count()
    with pytest.raises(UserError) as caught:
        check_local_resources(config(num_cpus=None, cpus_per_trial=cpus + 1))
    assert caught.value.field == "compute.cpus_per_trial"
    assert f"this machine has {cpus:g} CPU" in caught.value.problem
    with pytest.raises(UserError) as caught:
        check_local_resources(config(num_cpus=1, cpus_per_trial=2))
    assert "compute.num_cpus" in caught.value.problem
    # num_cpus above the machine's is Ray's oversubscription, and a trial within it runs
    check_local_resources(config(num_cpus=cpus * 4, cpus_per_trial=cpus * 2))
    check_local_resources(config(cpus_per_trial=1))


def test_a_cluster_reached_by_address_is_checked_once_joined_not_here(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    check_local_resources(config(address="127.0.0.1:6379", cpus_per_trial=512))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    check_local_resources(config(gpus_per_trial=8))
