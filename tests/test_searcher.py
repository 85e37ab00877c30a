"""The adaptive sweep's search without a cluster: its box, its store, its resume, its refusals.

(The search on a real local Ray cluster, with a killed driver, is in test_sweep.py.)
"""

import json

import numpy as np
import pytest

from raymix.config import parse_config
from raymix.errors import ConfigError, UserError
from raymix.sweep.strategy import (
    SEARCH_FILE,
    MixtureSearcher,
    SweepSearch,
    check_search,
    initial_runs,
    search_box,
    search_settings,
)

DOMAINS = ["web", "code", "books", "papers"]
TOKENS = {"web": 4_000_000, "code": 2_000_000, "books": 1_000_000, "papers": 100_000}
PRIOR = {d: n / sum(TOKENS.values()) for d, n in TOKENS.items()}
# an interior optimum inside the bounds below
OPTIMUM = np.array([0.45, 0.3, 0.15, 0.1])


def config(tmp_path, fit=None, **search):
    for d in DOMAINS:  # the sources must exist; their texts are never read here
        (tmp_path / f"{d}.txt").write_text(d)
    raw = {"name": "t",
           "data": {"domains": [{"name": d, "source": str(tmp_path / f"{d}.txt")} for d in DOMAINS]},
           "target": {"name": "web", "domains": {"web": 1.0}},
           "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "seq_len": 64},
           # 120 steps x 8 x 64 = 61440 tokens per proxy run
           "training": {"steps": 120, "batch_size": 8, "eval_every": 40},
           "mixtures": {"count": 12, "max_epochs": 1.0},
           "compute": {"storage": str(tmp_path / "sweep")},
           "search": {"strategy": "bayesopt", "initial_runs": 4, "min_weight": {"web": 0.2},
                      "max_weight": {"code": 0.5}, **search}}
    if fit is not None:
        raw["fit"] = fit
    return parse_config(raw)


def record(run_id, mixture, loss=None):
    ok = loss is not None
    return {"run_id": run_id, "status": "ok" if ok else "failed", "mixture": mixture,
            "evaluations": [{"target_loss": loss}] if ok else []}


def true_loss(mixture: dict) -> float:
    w = np.array([mixture[d] for d in DOMAINS])
    return 3.0 + float(((w - OPTIMUM) ** 2).sum())


def start(cfg, records=None):
    cfg.storage_path.mkdir(parents=True, exist_ok=True)
    return SweepSearch(cfg.storage_path, search_settings(cfg, TOKENS, PRIOR),
                       cfg.mixtures.count, records or {})


def test_the_box_is_the_proposals_inside_the_proxies_repetition_cap(tmp_path):
    box = search_box(config(tmp_path), TOKENS, PRIOR)
    assert box.lower.tolist() == [0.2, 0, 0, 0]  # search.min_weight
    assert box.upper[1] == 0.5  # search.max_weight
    # a proxy run reads 61440 tokens, and mixtures.max_epochs 1 lets it read papers once:
    # with 30k tokens of papers, papers may be at most 30000 / 61440 of a run
    capped = search_box(config(tmp_path), {**TOKENS, "papers": 30_000}, PRIOR)
    assert capped.upper[3] == pytest.approx(30_000 / 61_440)
    assert np.allclose(box.prior, [PRIOR[d] for d in DOMAINS])


def test_every_suggestion_keeps_to_the_box(tmp_path):
    cfg = config(tmp_path, fixed_weight={"books": 0.1})
    tokens = {**TOKENS, "papers": 20_000}  # cap: 0.33 of a run
    box = search_box(cfg, tokens, PRIOR)
    search = SweepSearch(tmp_path, search_settings(cfg, tokens, PRIOR), 12, {})
    for _ in range(12):
        run = search.suggest()
        w = np.array([run["mixture"][d] for d in DOMAINS])
        assert abs(w.sum() - 1) < 1e-9
        assert np.all(w >= box.lower - 1e-9) and np.all(w <= box.upper + 1e-9)
        assert w[2] == pytest.approx(0.1) and w[3] <= 20_000 / 61_440 + 1e-9
        search.observe(record(run["run_id"], run["mixture"], true_loss(run["mixture"])))
    assert search.suggest() is None  # mixtures.count reached


def test_a_cap_that_leaves_no_mixture_in_the_bounds_names_mixtures_max_epochs(tmp_path):
    cfg = config(tmp_path, min_weight={"papers": 0.5})
    with pytest.raises(ConfigError, match="mixtures.max_epochs"):
        search_box(cfg, {**TOKENS, "papers": 20_000}, PRIOR)


def test_a_restored_search_continues_exactly_as_the_uninterrupted_one(tmp_path):
    """The store holds the suggestions; the results replay as observations, in any order."""
    cfg = config(tmp_path)
    uninterrupted = start(cfg)
    records = {}
    for i in range(9):
        run = uninterrupted.suggest()
        if i < 7:  # two runs still training when the driver dies
            records[run["run_id"]] = record(run["run_id"], run["mixture"],
                                            None if i == 3 else true_loss(run["mixture"]))
            uninterrupted.observe(records[run["run_id"]])
    saved = json.loads((cfg.storage_path / SEARCH_FILE).read_text())
    assert saved["run_ids"] == [f"run-{i:04d}" for i in range(9)]
    assert saved["search"]["losses"] == []  # observations live in results/, not here

    # a new aggregator: the stored results, in another order
    shuffled = dict(sorted(records.items(), reverse=True))
    restored = SweepSearch(cfg.storage_path, search_settings(cfg, TOKENS, PRIOR), 12, shuffled)
    assert [r["run_id"] for r in restored.unfinished()] == ["run-0007", "run-0008"]
    assert restored.search.failed and len(restored.search.losses) == 6  # run-0003 failed
    assert restored.runs() == uninterrupted.runs()
    assert restored.suggest() == uninterrupted.suggest()  # the same GP, the same believed runs
    # a record of another run (a repeat with another seed) is no observation
    restored.observe(record("run-0001-s1", {d: 0.25 for d in DOMAINS}, 1.0))
    assert len(restored.search.losses) == 6


def test_the_search_moves_towards_the_optimum(tmp_path):
    cfg = config(tmp_path, min_weight={}, max_weight={})
    search = start(cfg)
    losses = []
    for _ in range(12):
        run = search.suggest()
        losses.append(true_loss(run["mixture"]))
        search.observe(record(run["run_id"], run["mixture"], losses[-1]))
    assert min(losses[initial_runs(cfg):]) < min(losses[:initial_runs(cfg)])


def test_the_searcher_hands_out_unfinished_runs_first_then_the_aggregators_as_room_allows(
        tmp_path):
    class Aggregator:  # the actor's interface, called in-process (ray.get of a plain value)
        def __init__(self, search):
            self.suggest = type("M", (), {"remote": staticmethod(search.suggest)})

    cfg = config(tmp_path)
    search = start(cfg)
    first = search.suggest()
    slots = [1]  # the cluster's room, as it grows
    searcher = MixtureSearcher(Aggregator(search), [first], seed=3, scale="base",
                               in_flight=lambda: slots[0])
    import ray

    original, ray.get = ray.get, lambda value: value
    try:
        assert searcher.suggest("t1") == {"trial": {**first, "seed": 3, "scale": "base"}}
        assert searcher.suggest("t2") is None  # no room: Tune asks again later
        slots[0] = 2  # a node joined
        assert searcher.suggest("t2")["trial"]["run_id"] == "run-0001"
        assert searcher.suggest("t3") is None
        searcher.on_trial_complete("t1")
        assert searcher.suggest("t3")["trial"]["run_id"] == "run-0002"
    finally:
        ray.get = original


def test_initial_runs_default_to_a_quarter_of_the_count_at_least_eight(tmp_path):
    assert initial_runs(config(tmp_path, initial_runs=None)) == 8
    cfg = config(tmp_path, initial_runs=None)
    cfg.mixtures.count = 64
    assert initial_runs(cfg) == 16


@pytest.mark.parametrize("change, field", [
    ({"strategy": "design"}, "search.strategy"),
    ({"exploration": 2.0}, "search.exploration"),
    ({"initial_runs": 5}, "search.initial_runs"),
    ({"min_weight": {"web": 0.3}}, "search.min_weight"),
    ({"max_weight": {"code": 0.4}}, "search.max_weight"),
])
def test_a_stored_search_continues_only_with_its_own_settings(tmp_path, change, field):
    cfg = config(tmp_path)
    start(cfg).suggest()
    check_search(cfg, TOKENS, PRIOR)  # the same settings: no refusal
    with pytest.raises(UserError, match=field.replace(".", r"\.")):
        check_search(config(tmp_path, **change), TOKENS, PRIOR)


def test_strategies_do_not_switch_in_one_sweep_directory(tmp_path):
    cfg = config(tmp_path)
    start(cfg).suggest()
    with pytest.raises(UserError, match="search.strategy: .* holds an adaptive search"):
        check_search(config(tmp_path, strategy="random"), TOKENS, PRIOR)
    (cfg.storage_path / SEARCH_FILE).unlink()
    (cfg.storage_path / "plan.csv").write_text("run\n")
    with pytest.raises(UserError, match="drawn up front"):
        check_search(cfg, TOKENS, PRIOR)


def test_a_suggestion_the_storage_refuses_is_taken_back(tmp_path):
    cfg = config(tmp_path)
    search = start(cfg)
    search.suggest()
    blocked = cfg.storage_path / SEARCH_FILE  # its name taken by a non-empty folder: even
    blocked.unlink()                          # root cannot write it
    (blocked / "x").mkdir(parents=True)
    assert "refused" in search.suggest()
    assert search.run_ids == ["run-0000"] and len(search.search.suggested) == 1
    (blocked / "x").rmdir()
    blocked.rmdir()
    assert search.suggest()["run_id"] == "run-0001"


def test_an_adaptive_sweep_proposes_as_it_searched_unless_told_otherwise(tmp_path):
    cfg = config(tmp_path)
    assert cfg.fit.regressors == ["gp"] and cfg.search.method == "pessimistic"
    told = config(tmp_path, fit={"regressors": ["ridge", "gp"]}, method="simulate")
    assert told.fit.regressors == ["ridge", "gp"] and told.search.method == "simulate"
    regmix = config(tmp_path, strategy="random")
    assert "lightgbm" in regmix.fit.regressors and regmix.search.method == "auto"
