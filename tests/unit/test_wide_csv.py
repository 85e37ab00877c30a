"""Reading anyone's results: the RegMix/Olmix wide CSV pair, mixtures to predict and
predictions."""

import numpy as np
import pandas as pd
import pytest

from raymix.errors import UserError
from raymix.runs.wide import parse_targets, read_mixtures_to_predict, read_runs, write_predictions

DOMAINS = ["web", "code", "books"]


def _write_pair(folder, n=12, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(DOMAINS)), size=n).round(3)
    weights[:, -1] = 1 - weights[:, :-1].sum(axis=1)
    mixtures = pd.DataFrame(weights, columns=DOMAINS)
    mixtures.insert(0, "index", range(1, n + 1))
    metrics = pd.DataFrame({"index": range(n, 0, -1),  # another row order: joined on id
                            "loss/web": 3 + rng.random(n), "loss/code": 2 + rng.random(n)})
    mix_path, met_path = folder / "mix.csv", folder / "met.csv"
    mixtures.to_csv(mix_path, index=False)
    metrics.to_csv(met_path, index=False)
    return mix_path, met_path, mixtures, metrics


def test_pair_is_joined_on_the_id_column(tmp_path):
    mix_path, met_path, mixtures, metrics = _write_pair(tmp_path)
    runs = read_runs(mix_path, met_path, ["loss/web"])
    assert runs.domains == DOMAINS
    assert runs.notes == []  # RegMix's layout: 'index' is the id, nothing set aside
    assert list(runs.mixtures.index) == [str(i) for i in range(1, 13)]
    expected = metrics.set_index(metrics["index"].astype(str))["loss/web"]
    assert np.allclose(runs.objective.to_numpy(), expected.loc[runs.mixtures.index].to_numpy())
    assert np.allclose(runs.mixtures.sum(axis=1), 1)


def test_weighted_targets_and_unique_part_of_a_name(tmp_path):
    mix_path, met_path, _, metrics = _write_pair(tmp_path)
    runs = read_runs(mix_path, met_path, ["web=3", "code=1"])
    m = metrics.set_index(metrics["index"].astype(str)).loc[runs.mixtures.index]
    assert np.allclose(runs.objective, 0.75 * m["loss/web"] + 0.25 * m["loss/code"])
    assert "0.75*loss/web" in runs.target


def test_runs_without_a_target_value_are_dropped_with_a_note(tmp_path):
    mix_path, met_path, _, metrics = _write_pair(tmp_path)
    metrics.loc[0, "loss/web"] = np.nan
    metrics.to_csv(met_path, index=False)
    runs = read_runs(mix_path, met_path, ["loss/web"])
    assert len(runs.objective) == 11 and "no target value" in runs.notes[0]


def _corrupt(kind, mix_path, met_path, mixtures, metrics):
    mixtures, metrics = mixtures.astype(object), metrics.astype(object)
    if kind == "non_numeric_weight":
        mixtures.loc[3, "code"] = "abc"
    elif kind == "negative_weight":
        mixtures.loc[2, "web"] -= 1.0
        mixtures.loc[2, "books"] += 1.0
    elif kind == "sum_not_one":
        mixtures.loc[1, "web"] += 0.3
    elif kind == "missing_id":
        mixtures.loc[4, "index"] = np.nan
    elif kind == "duplicate_id":
        mixtures.loc[5, "index"] = 1
    elif kind == "non_numeric_target":
        metrics.loc[0, "loss/web"] = "n/a?"
    elif kind == "no_shared_ids":
        metrics["index"] += 1000
    elif kind == "empty_metrics":
        met_path.write_text("")
        mixtures.to_csv(mix_path, index=False)
        return
    mixtures.to_csv(mix_path, index=False)
    metrics.to_csv(met_path, index=False)


@pytest.mark.parametrize("kind, target, message", [
    ("non_numeric_weight", "loss/web", r"^mixtures: .*non-numeric value 'abc' in column 'code'"),
    ("negative_weight", "loss/web", r"^mixtures: .*negative weight"),
    ("sum_not_one", "loss/web", r"^mixtures: the weights in mix\.csv run '2' sum to 1\.3"),
    ("missing_id", "loss/web", r"^mixtures: mix\.csv row 6 has no id"),
    ("duplicate_id", "loss/web", r"^mixtures: .*id '1' twice"),
    ("non_numeric_target", "loss/web",
     r"^metrics: .*non-numeric value 'n/a\?' in column 'loss/web'"),
    ("no_shared_ids", "loss/web", r"^metrics: no run id .* matches"),
    ("empty_metrics", "loss/web", r"^metrics: met\.csv is not a readable CSV"),
    (None, "loss/nope", r"^targets: met\.csv has no column 'loss/nope'"),
    (None, "loss", r"^targets: .*2 columns contain it"),
    (None, "loss/web=-1", r"^targets: 'loss/web=-1'"),
    (None, "loss/web=x", r"weight after '=' must be a number"),
])
def test_malformed_tables_are_one_line_errors(tmp_path, kind, target, message):
    paths = _write_pair(tmp_path)
    _corrupt(kind, *paths)
    with pytest.raises(UserError, match=message) as info:
        read_runs(paths[0], paths[1], [target])
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_id_column(tmp_path):
    mix_path, met_path, *_ = _write_pair(tmp_path)
    with pytest.raises(UserError, match="^mixtures: no such file"):
        read_runs(tmp_path / "nope.csv", met_path, ["loss/web"])
    with pytest.raises(UserError, match="^id_column: mix.csv has no column 'run'"):
        read_runs(mix_path, met_path, ["loss/web"], id_column="run")


def test_targets_parse_and_normalise():
    assert parse_targets(["a"]) == {"a": 1.0}
    assert parse_targets(["a=1", "b=3"]) == {"a": 0.25, "b": 0.75}
    with pytest.raises(UserError, match="given twice"):
        parse_targets(["a", "a=2"])


def test_mixtures_to_predict_need_exactly_the_fitted_domains(tmp_path):
    path = tmp_path / "cand.csv"
    pd.DataFrame({"name": ["x", "y"], "books": [0.5, 0.2], "web": [0.25, 0.4],
                  "code": [0.25, 0.4]}).to_csv(path, index=False)
    table = read_mixtures_to_predict(path, DOMAINS)
    assert list(table.columns) == DOMAINS  # reordered to the fit's domain order
    out = write_predictions(tmp_path / "pred.csv", table, np.array([1.0, 2.0]), None, "name")
    assert list(pd.read_csv(out).columns) == ["name", "predicted"]
    with pytest.raises(UserError, match="no column for domain 'math'"):
        read_mixtures_to_predict(path, DOMAINS + ["math"])
    with pytest.raises(UserError, match="column 'books', which is no domain"):
        read_mixtures_to_predict(path, ["web", "code"])


# ----------------------------------------------------------------------------- Olmix

def _olmix_frames(n=12, seed=0, without_metrics=(), runs=None):
    """ratios and metrics as Olmix builds them: one dict per run, ``run, name, index`` first.

    Runs in ``without_metrics`` have no metrics row, and Olmix then drops their ratios row
    too, so pandas' index (written by ``to_csv``) has gaps.
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(DOMAINS)), size=n)
    runs = runs or [f"{rng.integers(16**8):08x}" for _ in range(n)]  # W&B-like run ids
    ratios = pd.DataFrame([{"run": runs[i], "name": f"swarm-{i:04d}", "index": i,
                            **dict(zip(DOMAINS, weights[i]))} for i in range(n)])
    metrics = pd.DataFrame([{"run": runs[i], "name": f"swarm-{i:04d}", "index": i,
                             "arc_challenge_bpb": 1 + rng.random(),
                             "hellaswag_bpb": 1 + rng.random()}
                            for i in range(n) if i not in without_metrics])
    ratios = ratios[ratios["run"].isin(metrics["run"])]
    return ratios, metrics


def _write_olmix(folder, ratios, metrics, **to_csv):
    mix_path, met_path = folder / "ratios.csv", folder / "metrics.csv"
    ratios.to_csv(mix_path, **to_csv)  # pandas' default index=True: an unnamed first column
    metrics.to_csv(met_path, **to_csv)
    return mix_path, met_path


def test_olmix_pair_as_olmix_writes_it(tmp_path):
    ratios, metrics = _olmix_frames(without_metrics={3, 7})
    mix_path, met_path = _write_olmix(tmp_path, ratios, metrics)
    assert mix_path.read_text().startswith(",run,name,index,web,code,books\n")
    runs = read_runs(mix_path, met_path, ["hellaswag"])
    assert runs.domains == DOMAINS
    assert sorted(runs.metrics.columns) == ["arc_challenge_bpb", "hellaswag_bpb"]
    assert list(runs.mixtures.index) == list(ratios["run"])  # ids from 'run'
    assert np.allclose(runs.mixtures.to_numpy(), ratios[DOMAINS].to_numpy())
    assert np.allclose(runs.objective.to_numpy(), metrics["hellaswag_bpb"].to_numpy())
    mix_note, met_note = runs.notes
    for note, name in ((mix_note, "ratios.csv"), (met_note, "metrics.csv")):
        assert note.startswith(f"{name}: ids from column 'run'; left out as metadata: "
                               "column 1 (pandas' index), 'name', 'index'; ")
    assert mix_note.endswith("3 domains: web, code, books")
    assert met_note.endswith("2 metrics: arc_challenge_bpb, hellaswag_bpb")


def test_olmix_index_column_is_not_read_as_a_domain(tmp_path):
    # without pandas' index, as Olmix's README shows them: 'index' 1 would make run 1's
    # weights sum to 2 if it were a domain
    ratios, metrics = _olmix_frames()
    mix_path, met_path = _write_olmix(tmp_path, ratios, metrics, index=False)
    runs = read_runs(mix_path, met_path, ["arc_challenge_bpb"])
    assert runs.domains == DOMAINS
    assert np.allclose(runs.mixtures.to_numpy(), ratios[DOMAINS].to_numpy())
    assert "left out as metadata: 'name', 'index'" in runs.notes[0]


def test_olmix_run_id_and_an_id_column_given(tmp_path):
    ratios, metrics = _olmix_frames()
    renamed = [f.rename(columns={"run": "run_id"}) for f in (ratios, metrics)]
    runs = read_runs(*_write_olmix(tmp_path, *renamed), ["arc"])  # Olmix's other id name
    assert list(runs.mixtures.index) == list(ratios["run"]) and runs.domains == DOMAINS
    runs = read_runs(*_write_olmix(tmp_path, ratios, metrics), ["arc"], id_column="name")
    assert list(runs.mixtures.index) == list(ratios["name"]) and runs.domains == DOMAINS
    assert "left out as metadata: column 1 (pandas' index), 'run', 'index'" in runs.notes[0]


@pytest.mark.parametrize("kind, message", [
    ("other_runs", r"^metrics: no run id of metrics\.csv matches one of ratios\.csv"),
    ("metrics_by_name", r"^metrics: no run id .*ids from column 'run' of ratios\.csv and "
                        r"'name' of metrics\.csv"),
    ("text_in_unnamed_first", r"^mixtures: ratios\.csv column 1 has no name and holds 'x'"),
    ("unnamed_in_the_middle", r"^mixtures: ratios\.csv column 3 has no name"),
    ("non_numeric_weight", r"^mixtures: .*non-numeric value 'abc' in column 'code'"),
    ("duplicate_column", r"^mixtures: ratios\.csv has column 'web' twice"),
    ("only_metadata", r"^metrics: metrics\.csv has no column besides the id 'run'"),
])
def test_bad_olmix_tables_are_one_line_errors(tmp_path, kind, message):
    ratios, metrics = _olmix_frames()
    ratios, metrics = ratios.astype(object), metrics.astype(object)
    if kind == "other_runs":  # a metrics file of another swarm
        metrics["run"] = [f"other{i}" for i in range(len(metrics))]
    elif kind == "metrics_by_name":  # no 'run': its first column gives the ids
        metrics = metrics.drop(columns="run")
    elif kind == "non_numeric_weight":
        ratios.loc[4, "code"] = "abc"
    elif kind == "only_metadata":
        metrics = metrics[["run", "name", "index"]]
    mix_path, met_path = _write_olmix(tmp_path, ratios, metrics)
    text = mix_path.read_text()
    if kind == "text_in_unnamed_first":
        mix_path.write_text(text.replace("\n4,", "\nx,"))
    elif kind == "unnamed_in_the_middle":
        mix_path.write_text(text.replace(",name,", ",,", 1))
    elif kind == "duplicate_column":
        mix_path.write_text(text.replace(",code,", ",web,", 1))
    with pytest.raises(UserError, match=message) as info:
        read_runs(mix_path, met_path, ["arc"])
    assert "\n" not in str(info.value)


def test_a_regmix_pair_saved_with_pandas_index_keeps_its_ids(tmp_path):
    mix_path, met_path, mixtures, metrics = _write_pair(tmp_path)
    mixtures.to_csv(mix_path)  # ',index,web,...': the id is still RegMix's 'index'
    runs = read_runs(mix_path, met_path, ["loss/web"])
    assert list(runs.mixtures.index) == [str(i) for i in range(1, 13)]
    assert runs.notes == ["mix.csv: ids from column 'index'; left out as metadata: column 1 "
                          "(pandas' index); 3 domains: web, code, books"]
