"""cluster.yaml: valid for Ray's cluster launcher, and shaped the way docs/cluster.md says."""

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster.yaml"


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def test_cluster_yaml_passes_rays_launcher_schema(cluster):
    prepared = prepare_config(copy.deepcopy(cluster))  # fills Ray's AWS defaults, as `ray up`
    validate_config(prepared)
    assert prepared["head_node_type"] == "head"


def test_a_broken_cluster_yaml_fails_the_same_check(cluster):
    broken = copy.deepcopy(cluster)
    broken["available_node_types"]["gpu"]["resources"] = {"GPU": "one"}
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))


def test_head_runs_no_trials_and_gpu_workers_scale_to_zero(cluster):
    types = cluster["available_node_types"]
    assert types["head"]["resources"] == {"CPU": 0}
    for name in ("gpu", "gpu_spot"):
        assert types[name]["min_workers"] == 0 and types[name]["max_workers"] >= 1
        assert types[name]["resources"]["GPU"] >= 1
    assert types["gpu_spot"]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert "InstanceMarketOptions" not in types["gpu"]["node_config"]
    assert cluster["idle_timeout_minutes"] > 0


def test_every_node_installs_raymix_and_mounts_the_shared_storage(cluster):
    setup = "\n".join(cluster["setup_commands"])
    assert "ray[default,tune]==" in setup and "pip install -q -e ~/raymix" in setup
    assert "/mnt/raymix" in setup and "mount -t nfs4" in setup
    assert cluster["file_mounts"]["~/raymix"] == "."
    # the demo's results at the top are not copied, the raymix.runs package is
    assert ".venv" in cluster["rsync_exclude"] and "/runs" in cluster["rsync_exclude"]
    assert "runs" not in cluster["rsync_exclude"]
    # the dashboard (and so the job server) is not opened beyond the head's localhost
    head = "\n".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head


def test_every_node_runs_ray_with_token_authentication(cluster):
    assert cluster["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in cluster[key] if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start), key


def test_a_job_uploads_the_package_but_not_results_or_the_venv():
    """jobs/runtime_env.yaml's excludes and .gitignore, read by Ray's own upload matcher."""
    from ray._private.runtime_env.packaging import (
        _get_excludes,
        get_excludes_from_ignore_files,
    )

    root = CLUSTER.parent
    excludes = yaml.safe_load((root / "jobs" / "runtime_env.yaml").read_text())["excludes"]
    rules = [_get_excludes(root, excludes),
             *get_excludes_from_ignore_files(root, include_gitignore=True)]

    def uploaded(path: str) -> bool:
        return not any(rule(root / path) for rule in rules)

    assert uploaded("raymix/runs/record.py") and uploaded("jobs/sweep.py")
    assert not uploaded("runs/demo/plan.csv") and not uploaded(".venv/bin/python")
