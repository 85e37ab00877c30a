"""Every reader is total: a YAML too deep or too big, a special file as an input, a damaged
record or proposal, a loss no fit can use, a name that would be HTML: one line naming the
file (and how to recover), never a traceback, a hang or raw HTML in a report."""

from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pandas as pd
import pytest

from raymix.config.safe_yaml import MAX_YAML_BYTES, MAX_YAML_DEPTH, Refused, load_yaml, read_yaml
from raymix.errors import ConfigError, UserError
from raymix.files import input_problem
from raymix.report.contents import BASELINES, proposal_problem
from raymix.report.markdown import _code, _md
from raymix.runs import DataInfo, Evaluation, ResultStore, RunRecord
from raymix.runs.long import long_runs_from_frame
from raymix.runs.tables import MAX_COLUMN_NAME, MAX_LOSS
from raymix.runs.wide import read_runs

# ----------------------------------------------------------------------------- YAML


def test_yaml_nested_deeper_than_the_limit_is_refused_before_composing():
    """3,000 levels were a RecursionError; the limit is met as the composer descends."""
    ok = "a: " + "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1)
    assert load_yaml(ok) is not None
    for text in ("a: " + "[" * 3000 + "]" * 3000,
                 "a:\n" + "".join("  " * i + "- \n" for i in range(1, 300)),
                 "{a: " * 3000 + "}" * 3000):
        with pytest.raises(Refused, match=f"nested more than {MAX_YAML_DEPTH} levels"):
            load_yaml(text)


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(Refused, match="refers to the value it is part of"):
        load_yaml("a: &a [1, *a]\n")
    assert load_yaml("a: &a [1]\nb: *a\n") == {"a": [1], "b": [1]}  # aliases as such are fine


def test_a_big_yaml_is_refused_by_its_size_before_it_is_read(tmp_path):
    """50 MB took 82 s and 3 GB and was blamed on anchors: now refused at once, saying so."""
    path = tmp_path / "big.yaml"
    with open(path, "w") as f:
        f.write("name: x\n#" + "x" * 50_000_000 + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"big.yaml is 50,000,010 bytes, more than a YAML "
                       r"file raymix reads \(1,000,000\)"):
        read_yaml(path, "config")
    assert time.perf_counter() - start < 1
    with pytest.raises(Refused, match="more than raymix reads"):  # a --set value
        load_yaml("x" * (MAX_YAML_BYTES + 1))


def test_a_fifo_as_a_yaml_file_is_refused_not_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    with pytest.raises(ConfigError, match="'.*pipe.yaml' is a FIFO; pass the path of a YAML"):
        read_yaml(tmp_path / "pipe.yaml", "config")


# ----------------------------------------------------------------------------- input paths


def test_input_problem_says_what_is_there(tmp_path):
    (tmp_path / "a.txt").write_text("text")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert input_problem(tmp_path / "a.txt") is None
    assert input_problem(tmp_path) == "a folder" and input_problem(tmp_path, folders=True) is None
    assert input_problem(tmp_path / "nope") == "missing"
    assert input_problem(tmp_path / "pipe") == "a FIFO"
    assert input_problem("/dev/null") == "a device"
    assert input_problem(tmp_path / "loop").startswith("not readable")
    for special in ("/proc", "/proc/self/status", "/sys"):
        if os.path.exists(special):
            assert "file system, which holds no data files" in input_problem(special, True)


# ----------------------------------------------------------------------------- stored records


def _record(run_id: str = "r0", **changes) -> dict:
    record = RunRecord(run_id=run_id, mixture={"a": 0.25, "b": 0.75}, seed=0,
                       evaluations=[Evaluation(10, 1000, 4.5, {"a": 4.2}, 4.4)]).to_json()
    record.update(changes)
    return record


@pytest.mark.parametrize("text, words", [
    ('{"run_id": "r1", "mixt', "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps(_record("r1", mixture={"a": "0.4", "b": 0.6})),
     "the weight of domain 'a' is '0.4', not a number in [0, 1]"),
    (json.dumps(_record("r1", evaluations=[{"step": 1, "tokens": 1}])), "TypeError"),
    (json.dumps(_record("r1", evaluations=[dict(step=10, tokens=1000, train_loss=4.0,
                                                losses={}, target_loss=1e307)])),
     "its target loss at step 10 is 1e+307, not a finite loss"),
    (json.dumps(_record("r1", evaluations=[dict(step=10, tokens=float("inf"), train_loss=4.0,
                                                losses={}, target_loss=4.0)])),
     "its tokens at step 10 are inf"),
])
def test_a_damaged_record_names_its_file_and_how_to_recover(tmp_path, text, words):
    store = ResultStore(tmp_path)
    store.layout.results.mkdir()
    store.layout.record("r0").write_text(json.dumps(_record()))
    store.layout.record("r1").write_text(text)
    with pytest.raises(UserError) as caught:
        store.load_all()
    message = str(caught.value)
    assert "r1.json is damaged or cut short" in message and words in message, message
    assert "run 'raymix sweep CONFIG' again" in message and "\n" not in message
    store.layout.record("r1").unlink()  # the recovery: the rest reads
    assert list(store.load_all()) == ["r0"]


def test_a_damaged_data_json_names_its_file(tmp_path):
    store = ResultStore(tmp_path)
    store.layout.data_info.write_text('{"prior": {')
    with pytest.raises(UserError, match="data.json is damaged or cut short"):
        store.data_info()
    info = DataInfo(prior={"a": 1.0}, train_tokens={"a": 10}, tokens_per_run=5,
                    non_embedding_params={"model": 3}, prepared="p").to_json()
    del info["prior"]
    store.layout.data_info.write_text(json.dumps(info))
    with pytest.raises(UserError, match="data.json is damaged.*prior"):
        store.data_info()


# ----------------------------------------------------------------------------- a stored proposal


def _proposal() -> dict:
    mixture = {"a": 0.4, "b": 0.6}
    return {"mixture": mixture, "predicted_target_loss": 3.2, "predicted_std": None,
            "search": {"method": "exact"},
            "constraints": {"lower": {"a": 0.0, "b": 0.0}, "upper": {"a": 1.0, "b": 1.0}},
            "baselines": {name: {"mixture": dict(mixture)} for name in BASELINES}}


@pytest.mark.parametrize("change, words", [
    (lambda p: p["mixture"].update(a="0.4"), "its mixture gives domain 'a' the weight '0.4'"),
    (lambda p: p["baselines"]["uniform"]["mixture"].pop("b"),
     "its baselines.uniform.mixture gives domain 'b' the weight None"),
    (lambda p: p.update(predicted_target_loss=float("nan")), "predicted_target_loss is nan"),
    (lambda p: p.pop("constraints"), "its 'constraints' is missing"),
    (lambda p: p["constraints"].update(upper=[1, 1]), "its constraints.upper is missing or not"),
])
def test_a_stored_proposal_is_checked_before_a_report_reads_it(change, words):
    assert proposal_problem(_proposal(), ["a", "b"]) is None
    proposal = _proposal()
    change(proposal)
    assert words in proposal_problem(proposal, ["a", "b"])
    assert proposal_problem([1], ["a"]) == "not a JSON object"


# ----------------------------------------------------------------------------- tables


def _pair(tmp_path, loss: float):
    pd.DataFrame({"run": ["x", "y", "z"], "a": [0.2, 0.5, 1.0], "b": [0.8, 0.5, 0.0]}).to_csv(
        tmp_path / "mix.csv", index=False)
    pd.DataFrame({"run": ["x", "y", "z"], "t": [3.0, loss, 3.5]}).to_csv(
        tmp_path / "met.csv", index=False)
    return tmp_path / "mix.csv", tmp_path / "met.csv"


@pytest.mark.parametrize("loss", [1e307, -1e307, float("inf"), MAX_LOSS * 1.01])
def test_a_loss_no_fit_can_use_is_refused_naming_row_and_column(tmp_path, loss):
    """Losses near 1e307 made NaN inside scikit-learn; an empty cell is a failed run."""
    with pytest.raises(UserError, match=r"met.csv run 'y' has .* in column 't', which is no "
                       "loss") as caught:
        read_runs(*_pair(tmp_path, loss), ["t"])
    assert caught.value.field == "metrics"
    assert len(read_runs(*_pair(tmp_path, float("nan")), ["t"]).objective) == 2


def _long(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({"run": ["x", "x", "y", "y"], "params": 1e5,
                          "tokens": [1e4, 2e4, 1e4, 2e4], "a": [0.3, 0.3, 0.6, 0.6],
                          "b": [0.7, 0.7, 0.4, 0.4], "t": [4.0, 3.8, 4.1, 3.9]})
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize("changes, words", [
    ({"tokens": (1, np.inf)}, "row 2 has tokens = inf; tokens must be a number from 1 to 1e+16"),
    ({"tokens": (1, 1e-320)}, "row 2 has tokens = 9.99989e-321; tokens must be a number from 1"),
    ({"params": (0, np.inf)}, "row 1 has params = inf"),
    ({"t": (3, -1e307)}, "row 4 has -1e+307 in column 't', which is no loss"),
    ({"t": (2, -4.1)}, "row 3 has -4.1 in column 't'; the scaling laws fit losses above 0"),
])
def test_long_table_scales_and_losses_are_finite(changes, words):
    assert len(long_runs_from_frame(_long(), ["t"], ["a", "b"]).frame) == 4
    with pytest.raises(UserError, match=re.escape(words)):
        long_runs_from_frame(_long(**changes), ["t"], ["a", "b"])


def test_a_column_name_longer_than_a_name_is_refused(tmp_path):
    """10,000-character domain names made matplotlib fail after two PNGs."""
    mix, met = _pair(tmp_path, 3.1)
    mix.write_text(mix.read_text().replace(",b", "," + "b" * 10_000, 1))
    with pytest.raises(UserError, match=f"mix.csv column 3 has a name of 10,000 characters "
                       rf"\('bbbb.*at most {MAX_COLUMN_NAME}"):
        read_runs(mix, met, ["t"])
    with pytest.raises(UserError, match="column 2 has a name of 300 characters"):
        long_runs_from_frame(_long().rename(columns={"params": "p" * 300}), ["t"], ["a", "b"])


# ----------------------------------------------------------------------------- report.md


def test_names_in_report_md_are_text_not_html():
    assert _md("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert _md("a|b & c") == "a\\|b &amp; c"
    assert _code("x`<b>`") == "`x'<b>'`"  # a code span shows HTML as written


def test_a_damaged_confirmation_state_names_its_file(tmp_path):
    from conftest import TINY

    from raymix.config import parse_config
    from raymix.workflows.confirm_state import ConfirmState

    raw = json.loads(json.dumps(TINY))
    raw["compute"]["storage"] = str(tmp_path / "sweep")
    cfg = parse_config(raw, base_dir=tmp_path)
    path = cfg.storage_path / "confirm.json"
    path.parent.mkdir(parents=True)
    for text, words in (('{"settings": {', "not JSON"),
                        ('{"settings": [], "rounds": []}', "not a confirmation round's")):
        path.write_text(text)
        with pytest.raises(UserError, match=f"confirm.json is damaged or cut short \\({words}.*"
                           "chosen and trained again"):
            ConfirmState.load(cfg)
