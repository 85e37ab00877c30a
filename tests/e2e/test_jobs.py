"""The README's cluster path on one machine: `ray start --head`, then `ray job submit`."""

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


@pytest.fixture(scope="module")
def head_node():
    """A local head node with token authentication, stopped afterwards whatever happens.

    One head serves the module's tests (each uses its own sweep folder): starting and
    stopping a head costs more than a tiny sweep.

    As the README says to run a cluster: ``RAY_AUTH_MODE=token`` on the head and every
    client. The token comes from ``RAY_AUTH_TOKEN`` (Ray's first choice, before
    ``~/.ray/auth_token``), so the test neither reads nor writes the user's token file.
    """
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    started = subprocess.run(
        [RAY, "start", "--head", "--num-cpus", "2", "--dashboard-host", "127.0.0.1",
         "--dashboard-port", "8265", "--disable-usage-stats"],
        env=env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.mark.skipif(shutil.which(RAY) is None and not Path(RAY).exists(), reason="no ray CLI")
@pytest.mark.slow  # 1 minute
def test_ray_job_submit_runs_a_sweep(head_node, tmp_path):
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["compute"] = {"storage": str(tmp_path / "sweep")}  # joins the head node's cluster
    # an adaptive sweep: a space-filling design, then the GP's suggestions, from the job's driver
    raw["mixtures"].update(strategy="design", initial_runs=4)
    # The job's working directory is the uploaded repository: the config must travel in it.
    config = ROOT / f".job-test-{os.getpid()}.yaml"
    config.write_text(yaml.safe_dump(raw))
    try:
        done = subprocess.run(
            [RAY, "job", "submit", "--address", "http://127.0.0.1:8265",
             "--runtime-env", "jobs/runtime_env.yaml", "--",
             sys.executable, "jobs/sweep.py", config.name],  # this venv's python, not PATH's
            cwd=ROOT, env=head_node, capture_output=True, text=True, timeout=600)
    finally:
        config.unlink()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout + done.stderr
    sweep = tmp_path / "sweep"
    # 8 mixtures + 2 repeated with another seed
    assert len(pd.read_csv(sweep / "mixtures.csv")) == 10
    strategy = json.loads((sweep / "strategy.json").read_text())
    assert strategy["sampler"]["strategy"] == "design" and len(strategy["run_ids"]) == 8
    assert (sweep / "proposal.json").is_file()


@pytest.mark.skipif(shutil.which(RAY) is None and not Path(RAY).exists(), reason="no ray CLI")
@pytest.mark.slow  # a minute; `ray job submit` above runs a sweep as a job in the default run
def test_raymix_submit_follows_the_job_and_returns_its_exit_status(head_node, tmp_path):
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["compute"] = {"storage": str(tmp_path / "sweep")}
    raw["mixtures"] = {"count": 6, "repeats": 0}
    config = ROOT / f".submit-test-{os.getpid()}.yaml"
    broken = ROOT / f".submit-broken-{os.getpid()}.yaml"
    config.write_text(yaml.safe_dump(raw))
    broken.write_text(yaml.safe_dump({**raw, "mixtures": {"count": 0}}))

    def submit(*args):
        return subprocess.run(
            [sys.executable, "-m", "raymix", "submit", *args, "--address",
             "http://127.0.0.1:8265", "--python", sys.executable],
            cwd=tmp_path, env=head_node, capture_output=True, text=True, timeout=600)

    try:
        done = submit(str(config), "--command", "sweep")
        failed = submit(str(broken), "--command", "fit")
        queued = submit(str(config), "--command", "propose", "--no-wait")
    finally:
        config.unlink()
        broken.unlink()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the job's own output reaches the terminal, then its final status
    assert "[sweep] 6/6 done" in done.stdout and "succeeded" in done.stdout
    assert len(pd.read_csv(tmp_path / "sweep" / "mixtures.csv")) == 6
    assert (tmp_path / "sweep" / "proposal.json").is_file()
    # a job that fails on a user error: its one-line error and its exit status come back
    assert failed.returncode == 2, failed.stdout[-3000:]
    assert "mixtures.count" in failed.stdout and "failed" in failed.stdout
    # --no-wait returns at once with the job id and how to follow it; --stop stops it
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
        refused = subprocess.run(
            [sys.executable, "-m", "raymix", "submit", "--stop", "raysubmit_any"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1 and "RAY_AUTH" in refused.stderr
