"""End to end: a real tiny sweep logs to MLflow (SQLite, a path relative to the YAML as
the README shows) and TensorBoard; the sweep prints, for each, where its store is and the
command that opens it; that very command starts `mlflow ui` and `tensorboard`, whose HTTP
APIs then show the sweep's runs (children of the sweep run, metrics over several steps).

Needs the viewers extra (`pip install 'raymix[viewers]'`: full mlflow, tensorboard); skipped
when its programs are missing."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
from conftest import finish, free_port, raymix_cli, stored_runs, write_config

BIN = Path(sys.executable).parent  # the environment's programs: mlflow, tensorboard
START_SECONDS = 180  # how long a viewer may take to answer on a busy machine


def installed(program: str, distribution: str) -> bool:
    """``program`` is there, from ``distribution`` (mlflow-skinny has an `mlflow` program
    too, without the server that `mlflow ui` needs)."""
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return (BIN / program).is_file()


needs_viewers = pytest.mark.skipif(
    not (installed("mlflow", "mlflow") and installed("tensorboard", "tensorboard")),
    reason="mlflow ui or tensorboard is not installed: pip install 'raymix[viewers]'")


# 1.5 minutes (a tracked sweep, then mlflow ui and tensorboard started): make test-slow
pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def swept(tmp_path_factory, cache_dir):
    """A tiny sweep (3 runs, 2 of them stacked in one trial) tracked in MLflow and
    TensorBoard; its folder and output."""
    folder = tmp_path_factory.mktemp("viewers")
    config = write_config(folder, cache_dir, mixtures={"count": 3, "repeats": 0},
                          compute={"models_per_trial": 2},
                          tracking={"mlflow": {"tracking_uri": "sqlite:///runs/mlflow.db"},
                                    "tensorboard": True})
    out = finish(raymix_cli("sweep", str(config), "--no-propose"))
    assert "Traceback" not in out and "goes on without it" not in out, out
    return folder, out


def opener(out: str, tracker: str) -> tuple[str, str]:
    """(where, command) of the sweep's line ``[sweep] tracking: <tracker> ... -- open
    with: <command>``; the sweep prints it at its start and at its end, the same."""
    lines = [line for line in out.splitlines()
             if line.startswith(f"[sweep] tracking: {tracker} ")]
    assert len(lines) == 2 and lines[0] == lines[1], out
    found = re.fullmatch(rf"\[sweep\] tracking: {tracker} (?:at|in) (\S+) -- open with: (.+)",
                         lines[0])
    assert found, lines[0]
    return found.group(1), found.group(2)


def test_the_sweep_prints_where_each_store_is_and_how_to_open_it(swept):
    folder, out = swept
    uri, command = opener(out, "MLflow")
    database = folder / "runs" / "mlflow.db"  # relative to the YAML's folder
    assert uri == f"sqlite:///{database}" and database.is_file()
    assert command == f"mlflow ui --backend-store-uri sqlite:///{database}"
    events, command = opener(out, "TensorBoard")
    assert events == str(folder / "sweep" / "tensorboard")
    assert command == f"tensorboard --logdir {events}"


class Viewer:
    """A viewer started from the sweep's printed command (plus a free port), in a process
    group of its own so that it and its workers are always killed."""

    def __init__(self, command: str, folder: Path):
        self.port = free_port()
        self.argv = [*shlex.split(command), "--port", str(self.port)]
        self.log = (folder / f"{self.argv[0]}-{self.port}.log").open("w")
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=folder, env=env, start_new_session=True)

    def get(self, path: str, body: dict | None = None):
        """The JSON of GET ``path`` (POST with ``body``)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def poll(self, path: str, ready, body: dict | None = None):
        """GET ``path`` until ``ready(answer)``: the answer."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                answer = self.get(path, body)
                if ready(answer):
                    return answer
            except (OSError, ValueError):  # not listening yet, or still starting
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.flush()
                log = Path(self.log.name).read_text()[-3000:]
                raise AssertionError(f"{self.argv} never answered {path}:\n{log}")
            time.sleep(1)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


@needs_viewers
def test_mlflow_ui_shows_the_runs_as_children_of_the_sweep_run(swept):
    folder, out = swept
    _, command = opener(out, "MLflow")
    ui = Viewer(command, folder)
    try:
        experiment = ui.poll("/api/2.0/mlflow/experiments/get-by-name?experiment_name=tiny",
                             lambda a: "experiment" in a)["experiment"]
        runs = ui.get("/api/2.0/mlflow/runs/search",
                      {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        by_name = {r["info"]["run_name"]: r for r in runs}
        assert set(by_name) == {*stored_runs(folder / "sweep"), "tiny-sweep"}
        parent = by_name.pop("tiny-sweep")["info"]["run_id"]
        for run in by_name.values():
            tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
            assert tags["mlflow.parentRunId"] == parent
            assert run["info"]["status"] == "FINISHED"
            history = ui.get("/api/2.0/mlflow/metrics/get-history?run_id="
                             f"{run['info']['run_id']}&metric_key=target_loss")["metrics"]
            assert len({m["step"] for m in history}) == len(history) > 1
    finally:
        ui.stop()


@needs_viewers
def test_tensorboard_shows_every_proxy_run(swept):
    folder, out = swept
    _, command = opener(out, "TensorBoard")
    board = Viewer(command, folder)
    proxies = set(stored_runs(folder / "sweep"))
    try:
        tags = board.poll("/data/plugin/scalars/tags", lambda a: proxies <= set(a))
        assert all("target_loss" in tags[run] for run in proxies)
        scalars = board.get(f"/data/plugin/scalars/scalars?run={sorted(proxies)[0]}"
                            "&tag=target_loss")
        assert len(scalars) > 1  # [wall time, step, value] per evaluation
    finally:
        board.stop()
