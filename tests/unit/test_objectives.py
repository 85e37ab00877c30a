"""One proposal per objective and their trade-off, on runs whose best mixtures are known."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from raymix.cli.commands import main
from raymix.config import FitConfig, SearchConfig, parse_config
from raymix.errors import ConfigError, UserError
from raymix.proposal import objectives as objectives_module
from raymix.proposal.objectives import (
    AVERAGE,
    MAX_OBJECTIVES,
    default_objectives,
    propose_objectives,
    resolve_objectives,
)
from raymix.runs import DataInfo, ResultStore, SweepLayout

DOMAINS = ["a", "b", "c"]
BEST = {"a_loss": np.array([0.7, 0.1, 0.2]), "b_loss": np.array([0.1, 0.7, 0.2])}
FIT = FitConfig(regressors=["ridge", "gp"], cv_folds=3)
SEARCH = SearchConfig(method="simulate", draws=20_000, top_k=50)


def _runs(n=120, seed=0):
    """Runs where loss ``a_loss`` is lowest at an a-heavy mixture and ``b_loss`` at a
    b-heavy one (convex bowls), with a column no objective uses."""
    rng = np.random.default_rng(seed)
    X = rng.dirichlet(np.ones(len(DOMAINS)), size=n)
    index = pd.Index([f"run{i:03d}" for i in range(n)], name="run")
    mixtures = pd.DataFrame(X, columns=DOMAINS, index=index)
    noise = rng.normal(0, 1e-3, size=(n, 2))
    metrics = pd.DataFrame({column: 3.0 + ((X - best) ** 2).sum(axis=1) + noise[:, i]
                            for i, (column, best) in enumerate(BEST.items())}, index=index)
    metrics["c_loss"] = 4.0 + X[:, 0]
    return mixtures, metrics


@pytest.fixture(scope="module")
def result():
    mixtures, metrics = _runs()
    return propose_objectives(mixtures, metrics,
                              default_objectives({"a_loss": 0.5, "b_loss": 0.5}),
                              fit_config=FIT, search=SEARCH)


def test_each_objective_leans_to_its_domain_and_the_average_lies_between(result):
    weights = {name: p.mixture for name, p in result.proposals.items()}
    assert list(weights) == ["a", "b", AVERAGE]
    assert weights["a"]["a"] > 0.6 > weights["a"]["b"]
    assert weights["b"]["b"] > 0.6 > weights["b"]["a"]
    for d in ("a", "b"):
        low, high = sorted((weights["a"][d], weights["b"][d]))
        assert low + 0.1 < weights[AVERAGE][d] < high - 0.1
    assert result.proposals["a"].target == "a"


def test_the_diagonal_is_each_columns_minimum_and_the_excess_is_measured_from_it(result):
    t = result.tradeoff
    assert np.array_equal(np.argmin(t.predicted, axis=0), np.arange(len(t.objectives)))
    assert np.allclose(np.diag(t.excess), 0.0)
    # a's mixture on b: b's bowl at a's optimum is about 0.6 * 0.6 * 2 = 0.72 higher
    a, b = t.objectives.index("a"), t.objectives.index("b")
    assert 0.5 < t.excess[a, b] < 0.9
    assert t.excess_percent[a, b] == pytest.approx(100 * t.excess[a, b] / t.own[b])
    assert result.warnings == [] and t.missed() == []


def test_the_regressor_is_chosen_once_on_the_average_and_reused(result):
    assert result.chosen_on == AVERAGE
    chosen = result.proposals[AVERAGE].fit.chosen.name
    assert result.regressors == [chosen]
    assert len(result.proposals[AVERAGE].fit.results) > 1  # every candidate, and ensembles
    for name in ("a", "b"):
        assert [r.name for r in result.proposals[name].fit.results] == [chosen]


def test_reselect_cross_validates_every_regressor_per_objective():
    mixtures, metrics = _runs(60)
    found = propose_objectives(mixtures, metrics, {"a": {"a": 1.0}, "both": {"a": 1, "b": 1}},
                               fit_config=FIT, search=SEARCH, reselect=True)
    assert {r.name for r in found.proposals["a"].fit.results} >= {"ridge", "gp"}


def test_to_dict_is_json_with_a_cell_per_pair(result):
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data["objectives"]) == {"a", "b", AVERAGE}
    assert data["objectives"][AVERAGE]["weights"] == {"a_loss": 0.5, "b_loss": 0.5}
    cell = data["tradeoff"]["rows"]["a"]["b"]
    assert set(cell) == {"predicted", "excess", "excess_percent"} and cell["excess"] > 0


def test_columns_resolve_without_their_suffix_and_weights_sum_to_one():
    found = resolve_objectives({"mix": {"a": 3, "b_loss": 1, "c": 0}},
                               ["a_loss", "b_loss", "c_loss"])
    assert found[0].weights == {"a_loss": 0.75, "b_loss": 0.25}


@pytest.mark.parametrize("objectives, field, message", [
    ({"x": {"ghost": 1.0}}, "objectives.x", "no column 'ghost'"),
    ({"x": {"a": -1.0}}, "objectives.x", ">= 0"),
    ({"x": {"a": 0.0}}, "objectives.x", "not all be 0"),
    ({"x": {}}, "objectives.x", "metric columns"),
    ({}, "objectives", "at least one"),
    ({f"o{i}": {"a": 1.0} for i in range(MAX_OBJECTIVES + 1)}, "objectives", "at most"),
])
def test_bad_objectives_are_refused_before_any_fit(monkeypatch, objectives, field, message):
    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before the objectives were checked")

    monkeypatch.setattr(objectives_module, "fit_regressor", no_fit)
    mixtures, metrics = _runs(20)
    with pytest.raises(UserError, match=message) as info:
        propose_objectives(mixtures, metrics, objectives, fit_config=FIT, search=SEARCH)
    assert info.value.field == field and "\n" not in str(info.value)


def test_defaults_need_two_columns_and_keep_a_column_named_like_the_average():
    with pytest.raises(UserError, match="needs 2 or more") as info:
        default_objectives({"a_loss": 1.0, "b_loss": 0.0}, field="target.objectives")
    assert info.value.field == "target.objectives"
    found = default_objectives({"average_loss": 1.0, "b_loss": 3.0})
    assert found == {"average": {"average_loss": 1.0}, "b": {"b_loss": 1.0},
                     "weighted average": {"average_loss": 1.0, "b_loss": 3.0}}


# ----------------------------------------------------------------------------- config and CLI


def _config(folder, **target) -> dict:
    return {
        "name": "objectives",
        "data": {"domains": [{"name": d, "source": f"builtin:{s}"}
                             for d, s in zip(DOMAINS, ("code", "licences", "readmes"))]},
        "target": {"name": "mix", "domains": {"a": 1.0, "b": 1.0}, **target},
        "compute": {"storage": str(folder / "sweep")},
        "fit": {"regressors": ["ridge", "gp"], "cv_folds": 3},
        "search": {"method": "simulate", "draws": 5000, "top_k": 20},
        "confirm": {"rounds": 0},
    }


@pytest.mark.parametrize("objectives, field", [
    ({"x": {"ghost": 1.0}}, "target.objectives.x"),
    ({"x": {"a": -1.0}}, "target.objectives.x.a"),
    ({}, "target.objectives"),
])
def test_config_objectives_must_name_recorded_metrics(tmp_path, objectives, field):
    with pytest.raises(ConfigError) as info:
        parse_config(_config(tmp_path, objectives=objectives))
    assert info.value.field == field
    parse_config(_config(tmp_path, objectives={"x": {"a": 1, "mix_loss": 1, "c_loss": 2}}))


def _finished_sweep(folder, **target):
    """A sweep folder as a finished sweep leaves it (tables and data.json), no training."""
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(_config(folder, **target)))
    cfg = parse_config(_config(folder, **target))
    mixtures, metrics = _runs(60)
    metrics["mix_loss"] = (metrics["a_loss"] + metrics["b_loss"]) / 2
    layout = SweepLayout(cfg.storage_path)
    layout.root.mkdir(parents=True)
    mixtures.to_csv(layout.mixtures)
    metrics.to_csv(layout.metrics)
    ResultStore(layout.root).write_data_info(DataInfo(
        prior=dict.fromkeys(DOMAINS, 1 / 3), train_tokens=dict.fromkeys(DOMAINS, 10**6),
        tokens_per_run=10**5, non_embedding_params={"base": 1000}, prepared="test"))
    return path, layout


def test_propose_per_objective_on_a_sweep_folder(tmp_path, capsys):
    config, layout = _finished_sweep(tmp_path)
    assert main(["propose", str(config), "--per-objective"]) == 0
    out = capsys.readouterr().out
    assert "one proposal per objective (3;" in out and "trade-off" in out
    written = json.loads((layout.root / "objectives.json").read_text())
    assert list(written["objectives"]) == ["a", "b", "mix"]  # the average: the target's name
    assert written["chosen_on"] == "mix"
    # the average reuses the usual proposal's fit: same predicted loss of its mixture
    usual = json.loads(layout.proposal.read_text())
    assert written["objectives"]["mix"]["mixture"] == pytest.approx(usual["mixture"])
    report = (layout.report / "report.md").read_text()
    assert "## One proposal per objective" in report
    page = (layout.report / "index.html").read_text()
    assert 'id="tradeoff-table"' in page and 'data-objective="mix"' in page
    # raymix report rewrites the report from the stored files: the section stays
    (layout.report / "report.md").unlink()
    assert main(["report", str(config)]) == 0
    assert "## One proposal per objective" in (layout.report / "report.md").read_text()


def test_a_bad_objective_is_one_line_before_any_file(tmp_path, capsys):
    config, layout = _finished_sweep(tmp_path)
    status = main(["propose", str(config), "--per-objective", "--set",
                   "target.objectives={x: {ghost: 1}}"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "target.objectives.x" in err and "\n" not in err
    assert not layout.proposal.exists()


def test_propose_per_objective_on_tables(tmp_path, capsys):
    mixtures, metrics = _runs(60)
    mixtures.to_csv(tmp_path / "mix.csv")
    metrics.to_csv(tmp_path / "met.csv")
    out = tmp_path / "proposal.json"
    args = ["propose", "--mixtures", str(tmp_path / "mix.csv"), "--metrics",
            str(tmp_path / "met.csv"), "--target", "a_loss", "--target", "b_loss=3",
            "--regressor", "gp", "--folds", "3", "--per-objective", "--output", str(out)]
    assert main(args) == 0
    written = json.loads((tmp_path / "objectives.json").read_text())
    assert list(written["objectives"]) == ["a", "b", AVERAGE]
    assert written["objectives"][AVERAGE]["weights"] == {"a_loss": 0.25, "b_loss": 0.75}
    assert "[3] average" in capsys.readouterr().out
    assert main([*args[:-3], "--target", "c_loss", "--at", "params=1e9", "--per-objective",
                 "--output", str(out)]) == 2
