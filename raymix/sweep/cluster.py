"""The Ray cluster a sweep runs on, and what each trial asks of it.

``raymix sweep`` joins the cluster that ``compute.address`` (or ``RAY_ADDRESS``) names,
else starts a private local one and stops it when done. Each trial asks for
``compute.cpus_per_trial`` CPUs, ``compute.gpus_per_trial`` GPUs (0.25 packs four
proxies per GPU) and, for CPU trials with ``compute.memory_per_trial_gb``, that memory.
A trial trains ``compute.models_per_trial`` proxies at once, as one stacked model
(:func:`models_per_trial`).
"""

from __future__ import annotations

import contextlib
import math
import os

import ray

from raymix.config import SweepConfig
from raymix.sweep.trial import NAMESPACE
from raymix.training.loop import device_memory_gib
from raymix.training.memory import GIB, proxies_that_fit, trial_memory_gb

# models_per_trial auto stacks no more proxies than this in one trial: on a GPU, where a
# step's cost is its kernel launches; on a CPU, where it is arithmetic and cache, groups of
# 8 demo proxies made the demo's sweep 1.29x faster and groups of 13 only 1.06x
# (bench/bench_grouped_sweep.py, docs/benchmarks.md)
MAX_AUTO_GROUP = 128
CPU_AUTO_GROUP = 8


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


def models_per_trial(cfg: SweepConfig, runs: int, rounds: int = 1) -> int:
    """How many of ``runs`` planned runs one trial trains as one stacked model.

    ``compute.models_per_trial`` when it is a number (no more than the runs). ``auto``:
    as many as the trial's memory holds (``compute.gpu_memory_gb`` or
    ``memory_per_trial_gb``, else this machine's GPU), but no more than
    :data:`MAX_AUTO_GROUP` on GPU trials and :data:`CPU_AUTO_GROUP` on CPU trials, and no
    more than leaves every trial slot ``rounds`` groups to train (an adaptive sweep asks
    for several, so that its strategy sees results between its suggestions).
    """
    setting = cfg.compute.models_per_trial
    if setting != "auto":
        return max(1, min(setting, runs))
    c = cfg.compute
    given = trial_memory_gb(c.gpus_per_trial, c.gpu_memory_gb, c.memory_per_trial_gb)
    budget = given[0] if given else (_local_gpu_gib(c.gpus_per_trial) if c.gpus_per_trial
                                     else None)
    most = MAX_AUTO_GROUP if c.gpus_per_trial else CPU_AUTO_GROUP
    fit = proxies_that_fit(cfg, budget) if budget else most
    every_slot_busy = math.ceil(runs / (max(1.0, trial_slots(cfg)) * rounds))
    return max(1, min(most, fit, every_slot_busy))


def _local_gpu_gib(gpus_per_trial: float) -> float | None:
    """A trial's share of this machine's first GPU (GiB), or None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    return min(1.0, gpus_per_trial) * device_memory_gib(torch.device("cuda", 0))
