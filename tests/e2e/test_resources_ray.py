"""A trial that no node of a running Ray cluster can hold is refused at once, or, with an
autoscaler, after one waiting line and its deadline (raymix.sweep.cluster), never a hang."""

from __future__ import annotations

import copy
import time

import pytest
import ray
from conftest import TINY

from raymix.config import parse_config
from raymix.errors import UserError
from raymix.sweep import cluster
from raymix.sweep.cluster import ray_cluster, wait_until_a_trial_fits


@pytest.fixture(scope="module")
def one_cpu_cluster():
    ray.init(address="local", num_cpus=1, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


def config(**compute):
    raw = copy.deepcopy(TINY)
    raw["compute"] = {**raw["compute"], **compute}
    return parse_config(raw)


@pytest.mark.parametrize("compute, field", [({"cpus_per_trial": 2}, "compute.cpus_per_trial"),
                                            ({"gpus_per_trial": 1}, "compute.gpus_per_trial")])
def test_a_trial_the_cluster_cannot_hold_is_refused_without_waiting(one_cpu_cluster, compute,
                                                                    field):
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        with ray_cluster(config(**compute)):
            pytest.fail("a trial no node holds reached the sweep")
    assert caught.value.field == field
    assert "no autoscaler" in caught.value.problem
    # the autoscaler's status is looked for a few seconds (AUTOSCALER_STATUS_S), no longer
    assert time.monotonic() - started < cluster.AUTOSCALER_STATUS_S + 20
    assert ray.is_initialized()  # a session the sweep joined is left running


def test_with_an_autoscaler_one_waiting_line_then_a_refusal_at_the_deadline(one_cpu_cluster,
                                                                            monkeypatch):
    # an autoscaler that does not list its node types (autoscaler v1): the wait is the
    # only way to learn that it cannot add such a node
    monkeypatch.setattr(cluster, "autoscaler_node_types", lambda *a, **k: [])
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        wait_until_a_trial_fits(config(cpus_per_trial=2), log=lines.append, wait_s=1.0)
    assert time.monotonic() - started < 10
    assert len(lines) == 1 and "waiting until" in lines[0] and "autoscaler" in lines[0]
    assert caught.value.field == "compute.cpus_per_trial"
    assert "added no node" in caught.value.problem


def test_an_autoscaler_whose_node_types_cannot_hold_a_trial_is_refused_at_once(
        one_cpu_cluster, monkeypatch):
    monkeypatch.setattr(cluster, "autoscaler_node_types",
                        lambda *a, **k: [{"CPU": 4.0}, {"CPU": 1.0, "GPU": 1.0}])
    lines: list[str] = []
    with pytest.raises(UserError) as caught:
        wait_until_a_trial_fits(config(cpus_per_trial=2, gpus_per_trial=1), log=lines.append)
    assert lines == [] and "no node type" in caught.value.problem


def test_a_trial_that_fits_goes_on_at_once(one_cpu_cluster):
    lines: list[str] = []
    wait_until_a_trial_fits(config(cpus_per_trial=1), log=lines.append)
    assert lines == []
