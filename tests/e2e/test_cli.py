"""The command line refuses mistakes with one line, exit status 2, and nothing written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "jobs" / "configs" / "demo.yaml"


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "raymix", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def bad_config(tmp_path: Path, section: str, key: str, value) -> Path:
    raw = yaml.safe_load(DEMO.read_text())
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["compute"]["storage"] = str(tmp_path / "runs")
    raw.setdefault(section, {})[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path):
    """The installed command's exit status (tests/test_bad_input.py has every mistake)."""
    config = bad_config(tmp_path, "training", "steps", -1)
    done = run_cli("sweep", str(config))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "training.steps" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_fit_before_any_sweep_says_what_to_run(tmp_path):
    raw = yaml.safe_load(DEMO.read_text())
    raw["compute"]["storage"] = str(tmp_path / "runs")
    config = tmp_path / "ok.yaml"
    config.write_text(yaml.safe_dump(raw))
    done = run_cli("fit", str(config))
    assert done.returncode == 2
    assert "compute.storage" in done.stderr and "raymix sweep" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_unknown_builtin_and_missing_folder_name_the_field(tmp_path):
    raw = yaml.safe_load(DEMO.read_text())
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["data"]["domains"][1]["source"] = "builtin:nope"
    raw["data"]["domains"][2]["source"] = str(tmp_path / "missing")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    done = run_cli("prepare", str(config))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "data.domains[1].source" in done.stderr


# ----------------------------------------------------------------------------- report folders


@pytest.fixture
def finished_sweep(tmp_path) -> Path:
    """A sweep folder with stored runs and no report, made without Ray or training."""
    from conftest import TINY

    from raymix.config import load_config
    from raymix.runs import DataInfo, Evaluation, ResultStore, RunRecord, export_tables

    raw = json.loads(json.dumps(TINY))
    raw["compute"]["storage"] = "sweep"
    raw["fit"] = {"cv_folds": 3, "regressors": ["ridge"]}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp_path / "sweep.yaml")
    domains = cfg.domain_names
    rng = np.random.default_rng(0)
    store, records = ResultStore(cfg.storage_path), []
    for i, weights in enumerate(rng.dirichlet(np.ones(len(domains)), size=12)):
        loss = float(3 + weights @ np.linspace(-0.3, 0.3, len(domains)) + rng.normal(0, 0.01))
        evaluation = Evaluation(step=10, tokens=10_000, train_loss=loss,
                                losses={d: loss for d in domains}, target_loss=loss)
        records.append(RunRecord(run_id=f"run-{i:04d}", mixture=dict(zip(domains, weights)),
                                 seed=0, scale="base", target_name=cfg.target.name,
                                 evaluations=[evaluation], non_embedding_params=40_000,
                                 params=60_000, tokens_seen=10_000))
        store.write(records[-1])
    store.write_data_info(DataInfo(prior=dict.fromkeys(domains, 1 / len(domains)),
                                   train_tokens=dict.fromkeys(domains, 100_000),
                                   tokens_per_run=10_000, non_embedding_params={"base": 40_000},
                                   prepared="prepared-test"))
    (cfg.storage_path / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    export_tables(cfg.storage_path, records, domains, cfg.target.name)
    return cfg.storage_path


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in folder.iterdir()}


def test_a_report_never_replaces_a_users_file_unasked(finished_sweep, capsys):
    from raymix.cli.commands import main

    report = finished_sweep / "report"
    report.mkdir()
    (report / "index.html").write_text("<p>my page</p>")
    (report / "notes.md").write_text("mine")
    assert main(["report", str(finished_sweep)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "index.html' is not from an earlier raymix report" in err
    assert "--force" in err and sorted(_files(report)) == ["index.html", "notes.md"]

    assert main(["report", str(finished_sweep), "--force"]) == 0  # asked for
    assert "my page" not in (report / "index.html").read_text()
    listed = json.loads((report / ".raymix-report").read_text())["files"]
    assert "index.html" in listed and "notes.md" not in listed
    assert main(["report", str(finished_sweep)]) == 0  # again, into its own folder
    assert (report / "notes.md").read_text() == "mine"
    capsys.readouterr()

    before = _files(report)
    (report / "report.md").unlink()
    os.mkfifo(report / "report.md")  # checked before any figure is written
    assert main(["report", str(finished_sweep), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report.md' is a FIFO" in err and "Traceback" not in err
    after = _files(report)
    assert {n: v for n, v in after.items() if n != "report.md"} == {
        n: v for n, v in before.items() if n != "report.md"}


def test_an_unexpected_exception_keeps_its_traceback_and_asks_for_a_report(tmp_path):
    """The installed command: a bug (here a RuntimeError a sitecustomize injects into
    raymix report) exits 1 with its traceback and one line saying where to report it."""
    (tmp_path / "sitecustomize.py").write_text(
        "import raymix.workflows.reporting as r\n"
        "def broken(*a, **k):\n    raise RuntimeError('injected bug')\n"
        "r.load_sweep = broken\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "raymix", "report", "x"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120, env=env)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: injected bug" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("raymix: this is a bug in raymix ") and "traceback above" in last
