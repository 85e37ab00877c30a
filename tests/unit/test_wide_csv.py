"""Reading anyone's results: the RegMix/Olmix wide CSV pair, candidates and predictions."""

import numpy as np
import pandas as pd
import pytest

from raymix.errors import UserError
from raymix.runs.wide import parse_targets, read_candidates, read_runs, write_predictions

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


def test_candidates_need_exactly_the_fitted_domains(tmp_path):
    path = tmp_path / "cand.csv"
    pd.DataFrame({"name": ["x", "y"], "books": [0.5, 0.2], "web": [0.25, 0.4],
                  "code": [0.25, 0.4]}).to_csv(path, index=False)
    table = read_candidates(path, DOMAINS)
    assert list(table.columns) == DOMAINS  # reordered to the fit's domain order
    out = write_predictions(tmp_path / "pred.csv", table, np.array([1.0, 2.0]), None, "name")
    assert list(pd.read_csv(out).columns) == ["name", "predicted"]
    with pytest.raises(UserError, match="no column for domain 'math'"):
        read_candidates(path, DOMAINS + ["math"])
    with pytest.raises(UserError, match="column 'books', which is no domain"):
        read_candidates(path, ["web", "code"])
