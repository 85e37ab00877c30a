"""Outputs never destroy inputs or a user's files, and every output is checked before the
first write: the shared checks of raymix.files, the report folder's marker, the CLI's
guard for bugs, and ``plan --json`` that any JSON parser reads."""

from __future__ import annotations

import json
import os
import pickle
import stat

import numpy as np
import pandas as pd
import pytest

import raymix
from raymix.cli import commands
from raymix.cli.summaries import json_text
from raymix.errors import UserError
from raymix.files import (
    UnsafeTarget,
    atomic_write_text,
    check_not_input,
    output_problem,
    same_file,
)
from raymix.report.writer import REPORT_MARKER, check_report_folder, write_report

DOMAINS = ["a", "b", "c"]


# ----------------------------------------------------------------------------- same file


def test_same_file_follows_symlinks_and_hard_links(tmp_path):
    data = tmp_path / "mix.csv"
    data.write_text("id,a\n")
    (tmp_path / "link.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.json")
    (tmp_path / "other.csv").write_text("id,a\n")  # the same bytes, another file
    assert same_file(data, tmp_path / "link.csv")
    assert same_file(tmp_path / "hard.json", data)
    assert same_file(tmp_path / "sub" / ".." / "mix.csv", data)  # not there: by its real path
    assert not same_file(tmp_path / "other.csv", data)
    assert not same_file(tmp_path / "new.json", data)


def test_an_output_that_is_an_input_is_refused_naming_both(tmp_path):
    data = tmp_path / "cand.csv"
    data.write_text("id,a\n")
    os.link(data, tmp_path / "pred.csv")
    with pytest.raises(UserError, match=r"pred.csv' is also this command's input "
                                        r"\(--predict '.*cand.csv'\)") as refused:
        check_not_input([tmp_path / "new.csv", tmp_path / "pred.csv"],
                        {"--mixtures": None, "--predict": data}, field="--output")
    assert refused.value.field == "--output"
    check_not_input([tmp_path / "new.csv", None], {"--predict": data})  # nothing shared


# ----------------------------------------------------------------------- unwritable outputs


def test_outputs_that_cannot_be_written_are_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    long = output_problem(tmp_path / ("p" * 300))
    assert "File name too long" in long and "(3" in long and "p" * 150 not in long
    assert "is a file" in output_problem(tmp_path / "file" / "out.json")
    assert "cannot write in '/proc'" in output_problem("/proc/raymix.json")
    assert output_problem(tmp_path / "new" / "out.json") is None  # a folder to be made


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_a_folder_without_write_permission_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert "Permission denied" in output_problem(locked / "out.json")
    finally:
        locked.chmod(stat.S_IRWXU)


def test_unsafe_target_is_a_user_error_and_still_an_os_error(tmp_path):
    (tmp_path / "out.json").symlink_to(tmp_path / "kept.json")
    with pytest.raises(UnsafeTarget) as refused:
        atomic_write_text(tmp_path / "out.json", "{}")
    error = refused.value
    assert isinstance(error, UserError) and isinstance(error, OSError)
    assert "\n" not in str(error) and "is a symlink" in str(error)
    again = pickle.loads(pickle.dumps(error))  # Ray sends errors between processes
    assert type(again) is UnsafeTarget and str(again) == str(error)


# ----------------------------------------------------------------------------- report folders


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(len(DOMAINS)), size=20)
    ids = [f"r{i}" for i in range(20)]
    pd.DataFrame(weights, columns=DOMAINS).assign(id=ids)[["id", *DOMAINS]].to_csv(
        folder / "mix.csv", index=False)
    loss = 4 + weights @ np.array([0.3, -0.2, 0.1]) + rng.normal(0, 0.01, 20)
    pd.DataFrame({"id": ids, "target_loss": loss}).to_csv(folder / "met.csv", index=False)
    return raymix.read_runs(folder / "mix.csv", folder / "met.csv", ["target_loss"])


@pytest.fixture(scope="module")
def fitted(runs):
    return raymix.fit(runs, fit_config=raymix.FitConfig(regressors=["ridge"], cv_folds=3))


def _report(folder, fitted, runs, **kwargs):
    return write_report(folder, fitted, runs.objective.to_numpy(), target="t", **kwargs)


def _listed(folder):
    return json.loads((folder / REPORT_MARKER).read_text())["files"]


def test_every_template_of_the_page_compiles():
    """A template is compiled when a report first needs it: a section only some reports
    have (objectives, a backtest) must not wait for one to find a syntax error."""
    from raymix.report.html import TEMPLATES

    names = TEMPLATES.list_templates()
    assert {"base.html", "runs.html", "proposal.html"} <= set(names)
    for name in names:
        TEMPLATES.get_template(name)


def test_a_report_replaces_only_its_own_files(tmp_path, fitted, runs):
    folder = tmp_path / "rep"
    folder.mkdir()
    (folder / "index.html").write_text("my page")
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="index.html' is not from an earlier raymix report"):
        _report(folder, fitted, runs)
    assert sorted(p.name for p in folder.iterdir()) == ["index.html", "notes.txt"]
    _report(folder, fitted, runs, force=True)  # asked for: replaced, and now the report's
    assert (folder / "index.html").read_text() != "my page"
    assert set(_listed(folder)) == {"index.html", "report.md", "cv_fit.png", "residuals.png"}
    before = (folder / "report.md").stat().st_ino
    _report(folder, fitted, runs)  # a second report into its own folder
    assert (folder / "report.md").stat().st_ino != before
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_report_claims_a_name_only_once_it_wrote_it(tmp_path, fitted, runs):
    folder = tmp_path / "rep"
    _report(folder, fitted, runs)
    assert "weights.png" not in _listed(folder)  # no proposal: no weights figure
    (folder / "weights.png").write_bytes(b"a user's figure")
    with pytest.raises(UserError, match="weights.png"):
        _report(folder, fitted, runs)
    (folder / REPORT_MARKER).write_text("not json")  # a damaged marker lists nothing
    with pytest.raises(UserError, match="report.md' is not from an earlier"):
        check_report_folder(folder)


@pytest.mark.parametrize("name, kind", [("index.html", "symlink"), ("report.md", "fifo"),
                                        (REPORT_MARKER, "symlink")])
def test_every_file_of_a_report_is_checked_before_the_first_is_written(tmp_path, fitted, runs,
                                                                      name, kind):
    folder = tmp_path / "rep"
    folder.mkdir()
    if kind == "symlink":
        (folder / name).symlink_to(tmp_path / "kept")
    else:
        os.mkfifo(folder / name)
    with pytest.raises(UnsafeTarget, match=f"{name}' is a"):
        _report(folder, fitted, runs, force=True)  # force never replaces a link or a FIFO
    assert [p.name for p in folder.iterdir()] == [name]  # no figure was written


def test_the_library_refuses_a_users_report_file_before_the_fit(tmp_path, runs, monkeypatch):
    (tmp_path / "report.md").write_text("mine")

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before the report folder was checked")

    monkeypatch.setattr("raymix.workflows.fitting.runs_at_target", no_fit)
    with pytest.raises(UserError, match="report: .*report.md' is not from"):
        raymix.fit(runs, report=tmp_path)


# ----------------------------------------------------------------------------- the CLI's guard


def test_a_bug_shows_its_traceback_and_where_to_report_it(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(commands.COMMANDS, "plan", broken)
    assert commands.main(["plan", "any.yaml"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("raymix: this is a bug in raymix ") and "please report it" in last


def test_a_user_error_raised_anywhere_is_one_line(monkeypatch, capsys, tmp_path):
    def refuses(args):
        atomic_write_text(tmp_path / "out", "x")  # a FIFO there: UnsafeTarget
    os.mkfifo(tmp_path / "out")
    monkeypatch.setitem(commands.COMMANDS, "plan", refuses)
    assert commands.main(["plan", "any.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("raymix: error: ") and "is a FIFO" in err


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_plan_json_never_prints_infinity(tmp_path, monkeypatch, capsys):
    import yaml
    from conftest import TINY

    import raymix.workflows.costing as costing

    config = tmp_path / "ok.yaml"
    raw = json.loads(json.dumps(TINY))
    raw["compute"]["storage"] = str(tmp_path / "runs")
    config.write_text(yaml.safe_dump(raw))
    real = costing.cost_preview

    def with_infinity(*args, **kwargs):  # a number the estimate could not bound
        preview = real(*args, **kwargs)
        data = preview.to_dict()
        preview.to_dict = lambda: {**data, "hours": float("inf"), "x": [float("nan"), 1.0]}
        return preview

    monkeypatch.setattr(costing, "cost_preview", with_infinity)
    assert commands.main(["plan", str(config), "--json"]) == 0
    printed = _strict(capsys.readouterr().out)
    assert printed["hours"] is None and printed["x"] == [None, 1.0]
    assert json_text({"a": float("-inf"), "b": np.float64("nan"), "c": [np.int64(2)]}) == \
        json.dumps({"a": None, "b": None, "c": [2]}, indent=1)
