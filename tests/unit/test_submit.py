"""``raymix submit`` without a cluster: the job's command, its runtime environment, the
project folder it uploads, and the storage it must not lose (the node count injected)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TINY

import raymix.cli.submit as submit_module
from raymix.cli.commands import main
from raymix.cli.submit import (
    WORKING_DIR_VARIABLE,
    check_storage,
    check_upload_size,
    job_entrypoint,
    plan_job,
    submit,
    uploaded_files,
)
from raymix.config import load_config
from raymix.errors import UserError
from raymix.version import __version__

WHEEL = f"raymix-{__version__}-py3-none-any.whl"


def write_config(folder: Path, name: str = "sweep.yaml", **compute) -> Path:
    """TINY with ``compute`` settings (default: an absolute storage path) in ``folder``."""
    raw = json.loads(json.dumps(TINY))
    raw["compute"] = {"storage": str(folder.parent / "results"), **compute}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def project(tmp_path) -> Path:
    """A user's project folder, outside raymix's source, with what should stay behind."""
    folder = tmp_path / "my-project"
    write_config(folder)
    (folder / "data.jsonl").write_text('{"text": "hello"}\n')
    for stays in (".git/objects/pack", ".venv/lib", "__pycache__", ".raymix/cache",
                  "env-py311/lib"):
        (folder / stays).mkdir(parents=True)
        (folder / stays / "big.bin").write_bytes(b"x" * 1000)
    (folder / "env-py311" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a venv by any name
    return folder


# ----------------------------------------------------------------------------- the entrypoint


def test_the_job_runs_python_m_raymix_on_the_config_relative_to_its_working_dir(project):
    job = plan_job(project / "sweep.yaml")
    assert job.entrypoint == "python -m raymix sweep sweep.yaml"
    assert job.working_dir == project and job.runtime_env["working_dir"] == str(project)

    nested = write_config(project / "configs", "fit me.yaml")
    job = plan_job(nested, command="fit", working_dir=project, python="/opt/py/bin/python")
    assert job.entrypoint == "/opt/py/bin/python -m raymix fit 'configs/fit me.yaml'"


def test_overrides_are_passed_on_quoted_one_set_each():
    command = job_entrypoint("sweep.yaml", "sweep", ["training.steps=10", "name=a b"])
    assert command == "python -m raymix sweep sweep.yaml --set training.steps=10 --set 'name=a b'"


def test_the_config_is_checked_with_the_overrides_that_the_job_gets(project):
    job = plan_job(project / "sweep.yaml", overrides=["training.steps=60"])
    assert job.config.training.steps == 60
    assert job.entrypoint.endswith("sweep.yaml --set training.steps=60")
    with pytest.raises(UserError, match="is relative"):
        plan_job(project / "sweep.yaml", overrides=["compute.storage=runs/x"])
    with pytest.raises(UserError) as refused:
        plan_job(project / "sweep.yaml", overrides=["training.steps=-1"])
    assert refused.value.field == "training.steps"


def test_an_unknown_command_or_a_missing_config_is_refused(project):
    with pytest.raises(UserError, match="--command"):
        plan_job(project / "sweep.yaml", command="prepare")
    with pytest.raises(UserError, match="CONFIG: no such file"):
        plan_job(project / "nope.yaml")


# ----------------------------------------------------------------------- raymix on the cluster


def test_by_default_the_job_pins_this_raymix_version_for_pip(project):
    job = plan_job(project / "sweep.yaml")
    assert job.runtime_env["pip"] == [f"raymix=={__version__}"]
    assert f"raymix=={__version__}" in job.install


def test_no_install_leaves_pip_out(project):
    job = plan_job(project / "sweep.yaml", install=False)
    assert "pip" not in job.runtime_env and "--no-install" in job.install


def test_a_wheel_in_the_working_dir_is_installed_from_the_jobs_copy(project):
    (project / "wheels").mkdir()
    (project / "wheels" / WHEEL).write_bytes(b"PK")
    job = plan_job(project / "sweep.yaml", wheel=project / "wheels" / WHEEL)
    assert job.runtime_env["pip"] == [f"{WORKING_DIR_VARIABLE}/wheels/{WHEEL}"]
    assert f"wheels/{WHEEL}" in job.install


def test_a_wheel_that_would_not_travel_is_refused(project, tmp_path):
    outside = tmp_path / WHEEL
    outside.write_bytes(b"PK")
    with pytest.raises(UserError, match="--wheel: .* is outside the job's working directory"):
        plan_job(project / "sweep.yaml", wheel=outside)
    (project / ".gitignore").write_text("*.whl\n")  # as many projects have
    (project / WHEEL).write_bytes(b"PK")
    with pytest.raises(UserError, match="--wheel: .* is left out of the upload"):
        plan_job(project / "sweep.yaml", wheel=project / WHEEL)


def test_a_wheel_must_be_a_raymix_wheel_and_goes_without_no_install(project):
    (project / "other-1.0-py3-none-any.whl").write_bytes(b"PK")
    with pytest.raises(UserError, match="--wheel: .* is not a raymix wheel"):
        plan_job(project / "sweep.yaml", wheel=project / "other-1.0-py3-none-any.whl")
    with pytest.raises(UserError, match="--wheel: .* not a raymix wheel"):
        plan_job(project / "sweep.yaml", wheel=project / "missing.whl")
    (project / WHEEL).write_bytes(b"PK")
    with pytest.raises(UserError, match="--no-install"):
        plan_job(project / "sweep.yaml", wheel=project / WHEEL, install=False)


# ----------------------------------------------------------------------------- the working dir


def test_version_control_venvs_caches_and_results_stay_behind(project):
    job = plan_job(project / "sweep.yaml")
    files = {p.relative_to(project).as_posix()
             for p in uploaded_files(project, job.runtime_env["excludes"])}
    assert files == {"sweep.yaml", "data.jsonl"}
    assert job.upload_bytes == sum((project / f).stat().st_size for f in files)
    assert "/env-py311/" in job.runtime_env["excludes"]


def test_a_storage_folder_inside_the_project_is_not_uploaded(project):
    config = write_config(project, storage=str(project / "runs" / "demo"))
    (project / "runs" / "demo").mkdir(parents=True)
    (project / "runs" / "demo" / "plan.csv").write_text("run\n")
    job = plan_job(config)
    assert "/runs/demo/" in job.runtime_env["excludes"]
    assert project / "runs" / "demo" / "plan.csv" not in uploaded_files(
        project, job.runtime_env["excludes"])


def test_the_config_must_lie_in_the_working_dir(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(UserError, match="--working-dir: the config .* is outside"):
        plan_job(project / "sweep.yaml", working_dir=elsewhere)
    with pytest.raises(UserError, match="--working-dir: .* is not a folder"):
        plan_job(project / "sweep.yaml", working_dir=project / "sweep.yaml")


def test_a_working_dir_over_rays_cap_is_refused_in_one_line(project):
    with (project / "tokens.npy").open("wb") as f:  # sparse: 600 MiB on paper, no disk
        f.truncate(600 * 1024**2)
    with pytest.raises(UserError) as refused:
        plan_job(project / "sweep.yaml")
    message = str(refused.value)
    assert message.startswith("--working-dir: ") and "\n" not in message
    assert "600.0 MiB" in message and "tokens.npy" in message and "512.0 MiB" in message
    # under the cap: nothing to say
    check_upload_size(project, {project / "sweep.yaml"}, cap=10**6)


# ----------------------------------------------------------------------------- storage


def storage_config(tmp_path, storage, validate=None):
    compute = {} if storage is None else {"storage": storage}
    config = write_config(tmp_path / "p", **compute)
    if storage is None:  # left out: the default, runs/sweep
        raw = yaml.safe_load(config.read_text())
        del raw["compute"]["storage"]
        config.write_text(yaml.safe_dump(raw))
    if validate is not None:
        raw = yaml.safe_load(config.read_text())
        raw["validate"] = {"storage": validate}
        config.write_text(yaml.safe_dump(raw))
    return load_config(config)


@pytest.mark.parametrize("storage", ["runs/x", "./runs/x", None])
def test_relative_storage_is_refused_naming_the_field_and_the_fix(tmp_path, storage):
    with pytest.raises(UserError) as refused:
        check_storage(storage_config(tmp_path, storage), nodes=1)
    assert refused.value.field == "compute.storage"
    assert "is relative, so the job would write it inside Ray's temporary working directory" \
        in refused.value.problem
    assert "s3:// or gs:// URI, or an absolute path that every node mounts" \
        in refused.value.problem


def test_a_relative_validate_storage_is_refused_too(tmp_path):
    cfg = storage_config(tmp_path, "s3://bucket/sweep", validate="val")
    with pytest.raises(UserError) as refused:
        check_storage(cfg)
    assert refused.value.field == "validate.storage"


def test_uris_pass_on_any_cluster(tmp_path):
    cfg = storage_config(tmp_path, "s3://bucket/sweep", validate="gs://bucket/validate")
    assert check_storage(cfg, nodes=8) == []


def test_a_local_path_passes_on_one_node_and_is_refused_on_several(tmp_path):
    cfg = storage_config(tmp_path, "/mnt/raymix/runs/demo")
    assert check_storage(cfg, nodes=1) == []
    with pytest.raises(UserError) as refused:
        check_storage(cfg, nodes=3)
    assert refused.value.field == "compute.storage"
    assert "3 nodes" in refused.value.problem and "--shared-storage" in refused.value.problem
    assert check_storage(cfg, nodes=3, shared_storage=True) == []  # the user says it is shared
    # not known yet: handed back for the caller to ask the cluster
    assert check_storage(cfg) == [("compute.storage", "/mnt/raymix/runs/demo")]


# ----------------------------------------------------------------------------- submit()


class FakeClient:
    """The job SDK's client, as far as submit() uses it."""

    def __init__(self):
        self.submitted = []

    def submit_job(self, *, entrypoint, runtime_env):
        self.submitted.append((entrypoint, runtime_env))
        return "raysubmit_fake"


@pytest.fixture
def client(monkeypatch) -> FakeClient:
    fake = FakeClient()
    monkeypatch.setattr(submit_module, "_client", lambda address: fake)
    return fake


def test_local_storage_on_a_multi_node_cluster_submits_nothing(project, client, monkeypatch):
    monkeypatch.setattr(submit_module, "cluster_nodes", lambda address: 4)
    with pytest.raises(UserError, match="4 nodes"):
        submit(project / "sweep.yaml", wait=False, log=lambda line: None)
    assert client.submitted == []
    lines = []
    assert submit(project / "sweep.yaml", wait=False, shared_storage=True,
                  log=lines.append) == 0
    assert len(client.submitted) == 1


def test_a_node_count_that_cannot_be_asked_is_a_note_not_a_guess(project, client, monkeypatch):
    def unreachable(address):
        raise ConnectionError("the state API does not answer")

    monkeypatch.setattr(submit_module, "cluster_nodes", unreachable)
    lines = []
    assert submit(project / "sweep.yaml", wait=False, install=False, log=lines.append) == 0
    note, submitted, follow = lines
    assert note.startswith("[submit] note: could not ask") and "compute.storage" in note
    assert submitted.startswith("[submit] job raysubmit_fake on ")
    assert "python -m raymix sweep sweep.yaml" in submitted and "--no-install" in submitted
    assert "ray job logs --follow raysubmit_fake" in follow


def test_a_uri_storage_needs_no_node_count(tmp_path, client, monkeypatch):
    def never(address):
        raise AssertionError("asked the cluster for nothing it needed")

    monkeypatch.setattr(submit_module, "cluster_nodes", never)
    config = write_config(tmp_path / "p", storage="s3://bucket/runs/demo")
    lines = []
    assert submit(config, wait=False, log=lines.append) == 0
    assert f"raymix: pip install raymix=={__version__}" in lines[0]


# ----------------------------------------------------------------------------- the command line


def test_the_command_line_refuses_relative_storage_in_one_line(tmp_path, capsys, client):
    config = write_config(tmp_path / "p", storage="runs/x")
    assert main(["submit", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("raymix: error: compute.storage: 'runs/x' is relative")
    assert err.count("\n") == 1 and client.submitted == []


def test_wheel_and_no_install_are_one_or_the_other(project, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["submit", str(project / "sweep.yaml"), "--wheel", WHEEL, "--no-install"])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_the_command_line_passes_every_flag_on(project, monkeypatch):
    seen = {}
    monkeypatch.setattr(submit_module, "submit", lambda config, **kw: seen.update(kw) or 0)
    assert main(["submit", str(project / "sweep.yaml"), "--set", "training.steps=5",
                 "--working-dir", str(project), "--no-install", "--shared-storage",
                 "--command", "fit", "--no-wait"]) == 0
    assert seen == dict(address=submit_module.DEFAULT_ADDRESS, command="fit",
                        overrides=["training.steps=5"], working_dir=str(project), wheel=None,
                        install=False, shared_storage=True, python="python", wait=False)


def test_the_module_imports_without_ray():
    code = ("import sys; sys.modules['ray'] = None; import raymix.cli.submit as s; "
            "import raymix.cli.commands as c; c.build_parser(); print(s.COMMANDS)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_example_runtime_env_matches_what_raymix_submit_builds():
    example = yaml.safe_load((Path(__file__).resolve().parents[2] / "jobs" /
                              "runtime_env.yaml").read_text())
    assert example["pip"] == [f"raymix=={__version__}"]  # bumped with the version
    assert example["excludes"] == submit_module.EXCLUDES and example["working_dir"] == "."


# ----------------------------------------------------------------------------- following


class _DroppingJobServer:
    """Ray's job SDK as seen over a connection whose log stream drops mid-job (Ray raises
    RuntimeError 'WebSocket connection closed unexpectedly with close code 1006')."""

    def __init__(self):
        self.polls = 0

    def submit_job(self, **job):
        return "raysubmit_1"

    def tail_job_logs(self, job_id):
        async def lines():
            yield "[sweep] 1/2 done\n"
            raise RuntimeError("WebSocket connection closed unexpectedly with close code 1006")
        return lines()

    def get_job_status(self, job_id):
        self.polls += 1

        class Status:
            def is_terminal(inner):
                return self.polls >= 2
        return Status()

    def get_job_logs(self, job_id):
        return "[sweep] 1/2 done\n[sweep] 2/2 done\n"

    def get_job_info(self, job_id):
        class Info:
            status, message, driver_exit_code = "SUCCEEDED", None, 0
            submission_id = job_id
        return Info()


def test_a_dropped_log_stream_waits_for_the_job_and_shows_the_rest(project, monkeypatch):
    server = _DroppingJobServer()
    monkeypatch.setattr(submit_module, "_client", lambda address: server)
    monkeypatch.setattr(submit_module, "_wait_for_end",
                        lambda client, job_id: [None for _ in iter(
                            lambda: client.get_job_status(job_id).is_terminal(), True)])
    lines: list[str] = []
    status = submit_module.submit(project / "sweep.yaml", install="none", log=lines.append)
    assert status == 0
    assert any("log stream closed early" in line for line in lines), lines
    assert lines.count("[sweep] 1/2 done") == 1 and "[sweep] 2/2 done" in lines, lines


# ----------------------------------------------------------------------------- secrets


def test_lines_show_the_address_and_overrides_with_their_secrets_masked(project, client,
                                                                         monkeypatch):
    monkeypatch.setattr(submit_module, "cluster_nodes", lambda address: 1)
    lines = []
    submit(project / "sweep.yaml", address="http://admin:hunter2@head:8265", wait=False,
           overrides=["tracking.mlflow.tracking_uri=http://me:hunter2@mlflow:5000"],
           log=lines.append)
    assert lines and not any("hunter2" in line for line in lines)
    assert "on http://admin:***@head:8265:" in lines[0]
    assert "http://me:***@mlflow:5000" in lines[0]
    entrypoint, _ = client.submitted[0]
    assert "http://me:hunter2@mlflow:5000" in entrypoint  # the job itself gets the real one


def test_a_job_server_that_does_not_answer_is_one_line_without_the_password(project, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = main(["submit", str(project / "sweep.yaml"), "--address",
                   f"http://admin:hunter2@127.0.0.1:{port}", "--no-wait"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert "hunter2" not in err and f"admin:***@127.0.0.1:{port}" in err
