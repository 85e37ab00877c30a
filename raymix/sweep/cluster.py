"""The Ray cluster a sweep runs on, and what each trial asks of it.

``raymix sweep`` joins the cluster that ``compute.address`` (or ``RAY_ADDRESS``) names,
else starts a private local one and stops it when done. Each trial asks for
``compute.cpus_per_trial`` CPUs, ``compute.gpus_per_trial`` GPUs (0.25 packs four
proxies per GPU) and, for CPU trials with ``compute.memory_per_trial_gb``, that memory.
"""

from __future__ import annotations

import contextlib
import os

import ray

from raymix.config import SweepConfig
from raymix.sweep.trial import NAMESPACE
from raymix.training.memory import GIB


@contextlib.contextmanager
def ray_cluster(cfg: SweepConfig):
    """Join the configured cluster (or $RAY_ADDRESS), else start a local one; stop what we start."""
    with ray_session(cfg.compute.address, cfg.compute.num_cpus):
        yield


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None):
    """Join the cluster at ``address`` (or $RAY_ADDRESS), else start a private local one of
    ``num_cpus`` CPUs (None: all); disconnect (and stop what was started) at the end. Inside
    a running Ray session, nothing is started or stopped."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    else:
        # A private local cluster: dashboard off, nothing listens beyond localhost.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 namespace=NAMESPACE, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def trial_resources(cfg: SweepConfig) -> dict[str, float]:
    """What Ray reserves for each trial: CPUs, a GPU share and, when given, CPU memory."""
    c = cfg.compute
    resources = {"cpu": c.cpus_per_trial, "gpu": c.gpus_per_trial}
    if c.memory_per_trial_gb and not c.gpus_per_trial:  # Ray places no more than RAM holds
        resources["memory"] = int(c.memory_per_trial_gb * GIB)
    return resources


def trial_slots(cfg: SweepConfig) -> float:
    """How many trials fit on the cluster at once (by CPUs, GPUs, memory, the concurrency cap)."""
    total = ray.cluster_resources()
    need = trial_resources(cfg)
    slots = total.get("CPU", 0) // need["cpu"]
    if need["gpu"]:
        slots = min(slots, total.get("GPU", 0) // need["gpu"])
    if "memory" in need:
        slots = min(slots, total.get("memory", 0) // need["memory"])
    if cfg.compute.max_concurrent:
        slots = min(slots, cfg.compute.max_concurrent)
    return slots
