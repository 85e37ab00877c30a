"""The command line refuses mistakes with one line, exit status 2, and nothing written."""

import subprocess
import sys
from pathlib import Path

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
