"""The Ray cluster a sweep runs on, and what each trial asks of it.

``raymix sweep`` joins the cluster that ``compute.address`` (or ``RAY_ADDRESS``) names,
else starts a private local one and stops it when done. Each trial asks for
``compute.cpus_per_trial`` CPUs, ``compute.gpus_per_trial`` GPUs (0.25 packs four
proxies per GPU) and, for CPU trials with ``compute.memory_per_trial_gb``, that memory.
A trial trains ``compute.models_per_trial`` proxies at once, as one stacked model
(:func:`models_per_trial`).

A trial that no node can hold would wait forever, so it is refused before any trial
(:func:`check_local_resources` before a local cluster starts, :func:`wait_until_a_trial_fits`
once a cluster is joined): one line naming the field that asks too much. On a cluster
whose autoscaler can add nodes, one line says the sweep waits, and until when
(:data:`AUTOSCALE_WAIT_S`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time

import ray

from raymix.config import SweepConfig
from raymix.errors import UserError
from raymix.secrets import mask_uri
from raymix.sweep.planned import NAMESPACE
from raymix.training.memory import GIB, proxies_that_fit, trial_memory_gb

# models_per_trial auto stacks no more proxies than this in one trial: on a GPU, where a
# step's cost is its kernel launches; on a CPU, where it is arithmetic and cache, groups of
# 8 demo proxies made the demo's sweep 1.29x faster and groups of 13 only 1.06x
# (bench/bench_grouped_sweep.py, docs/benchmarks.md)
MAX_AUTO_GROUP = 128
CPU_AUTO_GROUP = 8
# how long a sweep waits for an autoscaler to add a node that holds one trial before it
# refuses (a module constant, not a config field: long enough for a cloud GPU node to
# boot, short enough that a cluster which can never hold the trial is not waited on)
AUTOSCALE_WAIT_S = 15 * 60
AUTOSCALER_STATUS_S = 10.0  # an autoscaler's first status may take this long to appear
POLL_S = 2.0
# the config field that asks for each of Ray's resources
RESOURCE_FIELDS = {"GPU": "compute.gpus_per_trial", "CPU": "compute.cpus_per_trial",
                   "memory": "compute.memory_per_trial_gb"}
_READONLY_NODE_TYPE = re.compile(r"^node_[0-9a-f]+$")  # Ray's name for a node no autoscaler made


@contextlib.contextmanager
def ray_cluster(cfg: SweepConfig, log=print):
    """Join the configured cluster (or $RAY_ADDRESS), else start a local one; stop what we
    start. A trial that the machine (before a local cluster starts) or the cluster (once
    joined) cannot hold is refused first (:func:`check_local_resources`,
    :func:`wait_until_a_trial_fits`)."""
    joined = ray.is_initialized() or bool(cfg.compute.address or os.environ.get("RAY_ADDRESS"))
    check_local_resources(cfg)
    with ray_session(cfg.compute.address, cfg.compute.num_cpus) as dashboard:
        if dashboard:  # a joined cluster's; the private local one has none
            log(f"[sweep] Ray dashboard: {dashboard}")
        asked = wait_until_a_trial_fits(cfg, autoscaled=joined, log=log)
        try:
            yield
        finally:
            if asked:  # the node asked for may go once idle: the sweep is over
                _request_nodes([])


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None):
    """Join the cluster at ``address`` (or $RAY_ADDRESS), else start a private local one of
    ``num_cpus`` CPUs (None: all); disconnect (and stop what was started) at the end. Inside
    a running Ray session, nothing is started or stopped.

    Yields the joined cluster's dashboard URL (:func:`dashboard_url`), or None: the private
    local cluster has no dashboard, and a running session's is its starter's to show.
    """
    if ray.is_initialized():
        yield None
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        try:
            context = ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
        except ConnectionError as exc:  # no cluster there: one line, the address masked
            raise UserError(f"no Ray cluster answers at {mask_uri(address)} "
                            f"({mask_uri(' '.join(str(exc).split())[:200])}); start one, or "
                            "leave compute.address out to start a local one",
                            field="compute.address") from None
    else:
        # A private local cluster: dashboard off, nothing listens beyond localhost.
        context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                           namespace=NAMESPACE, log_to_driver=False)
    try:
        yield dashboard_url(getattr(context, "dashboard_url", None))
    finally:
        ray.shutdown()


def dashboard_url(url: str | None) -> str | None:
    """The dashboard URL ``ray.init`` gave (``host:port``, or None or empty without a
    dashboard) as one to open, any credentials masked; None without a dashboard."""
    if not url:
        return None
    return mask_uri(url if "://" in url else f"http://{url}")


def trial_resources(cfg: SweepConfig) -> dict[str, float]:
    """What Ray reserves for each trial: CPUs, a GPU share and, when given, CPU memory."""
    c = cfg.compute
    resources = {"cpu": c.cpus_per_trial, "gpu": c.gpus_per_trial}
    if c.memory_per_trial_gb and not c.gpus_per_trial:  # Ray places no more than RAM holds
        resources["memory"] = int(c.memory_per_trial_gb * GIB)
    return resources


# ----------------------------------------------------------------------------- can a trial run


def trial_demand(cfg: SweepConfig) -> dict[str, float]:
    """What one trial asks of one node, in Ray's resource names (``CPU``, ``GPU``,
    ``memory`` in bytes); resources it does not ask for are left out."""
    need = trial_resources(cfg)
    demand = {"CPU": need["cpu"], "GPU": need["gpu"], "memory": need.get("memory", 0)}
    return {key: float(value) for key, value in demand.items() if value}


def lacking(need: dict[str, float], nodes: list[dict[str, float]]) -> str | None:
    """The resource for which no node can hold one trial, or None when a node can.

    ``need`` is one trial's ask (:func:`trial_demand`), ``nodes`` each node's total
    resources (or each node type an autoscaler may add). A trial is one placement bundle:
    it must fit on one node. When every resource is found on some node but never all on
    one, the first resource the roomiest node lacks is named.
    """
    if any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
        return None
    for key in need:
        if all(node.get(key, 0) < need[key] for node in nodes):
            return key
    roomiest = max(nodes, key=lambda n: sum(n.get(k, 0) >= v for k, v in need.items()))
    return next(k for k, v in need.items() if roomiest.get(k, 0) < v)


def describe_shortfall(need: dict[str, float], nodes: list[dict[str, float]], key: str,
                       where: str) -> str:
    """One trial's ask against what ``where`` (this machine, the cluster) has, in words."""
    most = max((node.get(key, 0) for node in nodes), default=0)
    has = f"{where} has" if len(nodes) == 1 else f"the largest node of {where} has"
    return f"each trial asks for {_amounts(need)} on one node, and {has} {_amount(key, most)}"


def _amount(key: str, value: float) -> str:
    if key == "memory":
        return f"{value / GIB:.3g} GiB of memory" if value else "no memory"
    return f"{value:g} {key}{'s' if value != 1 else ''}" if value else f"no {key}s"


def _amounts(need: dict[str, float]) -> str:
    return ", ".join(_amount(key, value) for key, value in need.items())


def local_machine(cfg: SweepConfig) -> dict[str, float]:
    """What the local cluster a sweep starts will have: ``compute.num_cpus`` CPUs (else
    this machine's), and the GPUs PyTorch sees (CUDA_VISIBLE_DEVICES honoured); the GPUs
    are counted only for a trial that asks for one (importing torch costs a second)."""
    machine = {"CPU": float(cfg.compute.num_cpus or os.cpu_count() or 1)}
    if cfg.compute.gpus_per_trial:
        import torch

        machine["GPU"] = float(torch.cuda.device_count())
    return machine


def check_local_resources(cfg: SweepConfig) -> None:
    """Refuse, before a local cluster starts, a trial this machine can never run.

    A no-op where the sweep joins a cluster (``compute.address``, ``RAY_ADDRESS``, or a
    Ray session already running): :func:`wait_until_a_trial_fits` checks that one.

    Raises
    ------
    UserError
        Naming ``compute.gpus_per_trial`` (a GPU trial on a machine with fewer GPUs) or
        ``compute.cpus_per_trial`` (more CPUs than ``compute.num_cpus`` or the machine).
    """
    if ray.is_initialized() or cfg.compute.address or os.environ.get("RAY_ADDRESS"):
        return
    # memory: Ray's share of the RAM is known once it is up (wait_until_a_trial_fits)
    need = {k: v for k, v in trial_demand(cfg).items() if k != "memory"}
    machine = local_machine(cfg)
    key = lacking(need, [machine])
    if key is None:
        return
    where = "this machine" if key == "GPU" or not cfg.compute.num_cpus else \
        "the local cluster (compute.num_cpus)"
    fix = ("set compute.gpus_per_trial: 0 to train on CPUs, or run where there is a GPU "
           "(compute.address, raymix submit)" if key == "GPU" else
           f"ask for at most {machine['CPU']:g} CPUs per trial")
    raise UserError(f"{describe_shortfall(need, [machine], key, where)}, so no trial would "
                    f"ever start; {fix}", field=RESOURCE_FIELDS[key])


def wait_until_a_trial_fits(cfg: SweepConfig, *, autoscaled: bool = True, log=print,
                            wait_s: float = AUTOSCALE_WAIT_S) -> bool:
    """Once Ray is up: refuse a trial that no node of the cluster can hold, unless an
    autoscaler can add one; then wait (one line with the deadline) until a node fits.

    ``autoscaled`` False: the cluster is the private local one this process started, which
    has no autoscaler. An autoscaler is asked for a node that fits
    (``ray.autoscaler.sdk.request_resources``); one whose node types are known and none
    fits is refused at once. Returns whether it was asked: the caller withdraws the ask
    when the sweep ends (withdrawn at once, the node could be let go as idle before the
    first trial reaches it).

    Raises
    ------
    UserError
        Naming the field that asks for what no node has (:data:`RESOURCE_FIELDS`), or,
        with an autoscaler, that no such node joined within ``wait_s``.
    """
    need = trial_demand(cfg)
    nodes = alive_nodes()
    key = lacking(need, nodes)
    if key is None:
        return False
    where = f"the cluster at {mask_uri(cfg.compute.address or os.environ.get('RAY_ADDRESS'))}" \
        if cfg.compute.address or os.environ.get("RAY_ADDRESS") else "the Ray cluster"
    shortfall = describe_shortfall(need, nodes, key, where)
    node_types = autoscaler_node_types() if autoscaled else None
    if node_types is None:
        raise UserError(f"{shortfall}, and no autoscaler can add a node, so no trial would "
                        f"ever start; ask for less per trial, or add a node with "
                        f"{_amounts(need)}", field=RESOURCE_FIELDS[key])
    if node_types and lacking(need, node_types) is not None:
        raise UserError(f"{shortfall}, and no node type of its autoscaler has "
                        f"{_amounts(need)}; ask for less per trial, or add such a node type",
                        field=RESOURCE_FIELDS[key])
    deadline = time.time() + wait_s
    until = time.strftime("%H:%M:%S %Z", time.localtime(deadline))
    log(f"[sweep] {shortfall}; waiting until {until} ({_duration(wait_s)}) for the "
        "autoscaler to add one")
    _request_nodes([need])
    try:
        while lacking(need, alive_nodes()) is not None:
            if time.time() >= deadline:
                raise UserError(f"{shortfall}, and its autoscaler added no node that holds "
                                f"one trial in {_duration(wait_s)}; check its node types and "
                                "limits (max_workers), or ask for less per trial",
                                field=RESOURCE_FIELDS[key])
            time.sleep(min(POLL_S, max(0.0, deadline - time.time())))
    except BaseException:  # refused, or Ctrl-C: withdraw the ask
        _request_nodes([])
        raise
    return True


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def alive_nodes() -> list[dict[str, float]]:
    """Each alive node's total resources."""
    return [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]


def autoscaler_node_types(settle_s: float = AUTOSCALER_STATUS_S) -> list[dict] | None:
    """The node types the cluster's autoscaler may add (their resources; an empty list
    when it does not say), or None when the cluster has no autoscaler.

    Autoscaler v2 (``ray up``, KubeRay) reports its node types to the GCS; v1 (``ray start
    --autoscaling-config``) writes a status whose node types are its config's, where a
    cluster without one lists each node under an anonymous ``node_<id>`` type. The status
    may take a few seconds to appear after the head starts: it is waited on ``settle_s``.
    """
    try:
        from ray._private.state import state

        config = state.get_cluster_config()
    except Exception:  # a private API: any failure means "not known"
        config = None
    if config is not None and config.node_group_configs:
        groups = [g for g in config.node_group_configs if g.max_count != 0]
        if any(g.max_count == -1 or g.max_count > g.min_count for g in groups):
            return [{k: float(v) for k, v in g.resources.items()} for g in groups]
        return None
    deadline = time.time() + settle_s
    while True:
        types = _v1_node_types()
        if types is not None:
            return [] if any(not _READONLY_NODE_TYPE.match(t) for t in types) else None
        if time.time() >= deadline:
            return None
        time.sleep(min(POLL_S, settle_s))


def _v1_node_types() -> set[str] | None:
    """The node types in autoscaler v1's status, or None before it has written one."""
    try:
        from ray._private import ray_constants
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
        report = json.loads(raw).get("autoscaler_report") if raw else None
    except Exception:
        return None
    if not report:
        return None
    types = set(report.get("active_nodes") or {}) | set(report.get("idle_nodes") or {}) | \
        set(report.get("pending_launches") or {})
    types |= {entry[1] for entry in report.get("pending_nodes") or [] if len(entry) > 1}
    return types


def _request_nodes(bundles: list[dict[str, float]]) -> None:
    """Ask the autoscaler for room for ``bundles`` (an empty list withdraws the ask)."""
    try:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=bundles)
    except Exception:  # a hint only: the trials' demand asks too
        pass


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
    every_slot_busy = math.ceil(runs / (max(1.0, trial_slots(cfg)) * rounds))
    return max(1, min(largest_group(cfg, budget), every_slot_busy))


def largest_group(cfg: SweepConfig, budget_gib: float | None) -> int:
    """The most proxies one trial stacks, before the runs and trial slots cap it:
    ``compute.models_per_trial`` when it is a number; ``auto``: as many as ``budget_gib``
    holds (no limit when None), at most :data:`MAX_AUTO_GROUP` on GPU trials and
    :data:`CPU_AUTO_GROUP` on CPU trials (``raymix plan`` prices groups of this size)."""
    setting = cfg.compute.models_per_trial
    if setting != "auto":
        return setting
    most = MAX_AUTO_GROUP if cfg.compute.gpus_per_trial else CPU_AUTO_GROUP
    return max(1, min(most, proxies_that_fit(cfg, budget_gib) if budget_gib else most))


def _local_gpu_gib(gpus_per_trial: float) -> float | None:
    """A trial's share of this machine's first GPU (GiB), or None without one."""
    import torch  # here, not above: the aggregator imports this module and never trains

    from raymix.training.loop import device_memory_gib

    if not torch.cuda.is_available():
        return None
    return min(1.0, gpus_per_trial) * device_memory_gib(torch.device("cuda", 0))
