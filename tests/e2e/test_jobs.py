"""docs/cluster.md's cluster path on one machine: `ray start --head`, then a project folder
outside raymix's source submitted as a job, by `ray job submit` and by `raymix submit`."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
ADDRESS = "http://127.0.0.1:8265"

needs_ray_cli = pytest.mark.skipif(shutil.which(RAY) is None and not Path(RAY).exists(),
                                   reason="no ray CLI")


@pytest.fixture(scope="module")
def head_node(tmp_path_factory):
    """A local head node with token authentication, stopped afterwards whatever happens.

    One head serves the module's tests (each uses its own project and sweep folders):
    starting and stopping a head costs more than a tiny sweep.

    As docs/cluster.md says to run a cluster: ``RAY_AUTH_MODE=token`` on the head and every
    client. The token comes from ``RAY_AUTH_TOKEN`` (Ray's first choice, before
    ``~/.ray/auth_token``), and ``HOME`` is a private folder, so the test neither reads
    nor writes the user's token file.
    """
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    try:
        started = subprocess.run(
            [RAY, "start", "--head", "--num-cpus", "2", "--dashboard-host", "127.0.0.1",
             "--dashboard-port", "8265", "--disable-usage-stats"],
            env=env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        yield env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def project(tmp_path: Path, name: str = "sweep.yaml", **changes) -> Path:
    """A user's project folder outside raymix's source: the config alone. Its storage and
    cache are absolute paths outside it, where the results must land."""
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["compute"] = {"storage": str(tmp_path / "sweep")}  # joins the head node's cluster
    raw.update(changes)
    folder = tmp_path / "my-project"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(yaml.safe_dump(raw))
    assert not folder.resolve().is_relative_to(ROOT)
    return folder


def files_of(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@needs_ray_cli
@pytest.mark.slow  # 1 minute
def test_ray_job_submit_runs_a_sweep_from_a_project_folder(head_node, tmp_path):
    # an adaptive sweep: a space-filling design, then the GP's suggestions, from the job's driver
    folder = project(tmp_path, mixtures={**TINY["mixtures"], "strategy": "design",
                                         "initial_runs": 4})
    # docs/cluster.md's command, with --no-install's equivalent: the head runs this venv, so
    # no pip list, and this venv's python rather than PATH's
    done = subprocess.run(
        [RAY, "job", "submit", "--address", ADDRESS, "--working-dir", str(folder), "--",
         sys.executable, "-m", "raymix", "sweep", "sweep.yaml"],
        cwd=tmp_path, env=head_node, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout + done.stderr
    sweep = tmp_path / "sweep"
    # 8 mixtures + 2 repeated with another seed
    assert len(pd.read_csv(sweep / "mixtures.csv")) == 10
    strategy = json.loads((sweep / "strategy.json").read_text())
    assert strategy["sampler"]["strategy"] == "design" and len(strategy["run_ids"]) == 8
    assert (sweep / "proposal.json").is_file()
    assert files_of(folder) == {"sweep.yaml"}  # nothing written into the project


@needs_ray_cli
@pytest.mark.slow  # a minute; `ray job submit` above runs a sweep as a job in the default run
def test_raymix_submit_follows_the_job_and_returns_its_exit_status(head_node, tmp_path):
    folder = project(tmp_path, mixtures={"count": 6, "repeats": 0})
    project(tmp_path, "fresh.yaml", compute={"storage": str(tmp_path / "empty")})
    project(tmp_path, "relative.yaml", compute={"storage": "runs/x"})
    before = files_of(folder)

    def submit(*args, env=head_node):
        return subprocess.run(
            [sys.executable, "-m", "raymix", "submit", *args, "--address", ADDRESS],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    # the head runs this venv: nothing to install, and this venv's python runs the job
    local = ("--no-install", "--python", sys.executable)
    done = submit(str(folder / "sweep.yaml"), *local)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # what was submitted, then the job's own output as it comes, then its final status
    first = done.stdout.splitlines()[0]
    assert first.startswith("[submit] job raysubmit_") and "-m raymix sweep sweep.yaml" in first
    assert f"working dir {folder}" in first and "--no-install" in first
    assert "[sweep] 6/6 done" in done.stdout and "succeeded" in done.stdout
    # the results are where the config says, not in Ray's temporary copy of the project
    assert len(pd.read_csv(tmp_path / "sweep" / "mixtures.csv")) == 6
    assert (tmp_path / "sweep" / "proposal.json").is_file()
    assert files_of(folder) == before

    # a job that fails on a user error: its one-line error and its exit status come back
    failed = submit(str(folder / "fresh.yaml"), "--command", "fit", *local)
    assert failed.returncode == 2, failed.stdout[-3000:]
    assert "has no mixtures.csv" in failed.stdout and "failed" in failed.stdout
    # storage that would vanish with the job: refused here, one line, nothing submitted
    refused = submit(str(folder / "relative.yaml"), *local)
    assert refused.returncode == 2 and refused.stdout == "", refused.stdout
    assert refused.stderr.startswith("raymix: error: compute.storage: 'runs/x' is relative")
    assert refused.stderr.count("\n") == 1

    # --no-wait returns at once with the job id and how to follow it; --stop stops it
    queued = submit(str(folder / "sweep.yaml"), "--command", "propose", "--no-wait", *local)
    assert queued.returncode == 0, queued.stderr
    job_id = re.search(r"job (raysubmit_\w+)", queued.stdout).group(1)
    assert f"ray job logs --follow {job_id}" in queued.stdout
    stopped = submit("--stop", job_id)
    assert (stopped.returncode, "stop requested" in stopped.stdout) in ((0, True), (2, False))
    unknown = submit("--stop", "raysubmit_nosuchjob")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1, unknown.stderr
    # token authentication: a client without the cluster's token gets one line and exit 2
    for env in ({**head_node, "RAY_AUTH_MODE": "disabled"},
                {**head_node, "RAY_AUTH_TOKEN": "not-the-token"}):
        refused = submit("--stop", "raysubmit_any", env=env)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1 and "RAY_AUTH" in refused.stderr
