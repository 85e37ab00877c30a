"""The adaptive sweep's strategy without a cluster: its box, its store, its resume, its refusals.

(The strategy on a real local Ray cluster, with a killed driver, is in test_sweep.py.)
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from raymix.config import parse_config
from raymix.errors import ConfigError, ConfigNotice, UserError
from raymix.runs import Evaluation, RunRecord, SweepLayout
from raymix.sweep.strategy import (
    StrategySearcher,
    Suggestion,
    SweepStrategy,
    check_strategy,
    initial_runs,
    strategy_box,
    strategy_settings,
)

STRATEGY_KEYS = ("strategy", "initial_runs", "exploration")  # mixtures.*, search.* before 0.2
MIXTURE_KEYS = (*STRATEGY_KEYS, "batch_size")  # what config() puts in the mixtures section

DOMAINS = ["web", "code", "books", "papers"]
TOKENS = {"web": 4_000_000, "code": 2_000_000, "books": 1_000_000, "papers": 100_000}
PRIOR = {d: n / sum(TOKENS.values()) for d, n in TOKENS.items()}
# an interior optimum inside the bounds below
OPTIMUM = np.array([0.45, 0.3, 0.15, 0.1])


def raw_config(tmp_path, fit=None, **search) -> dict:
    """The test sweep as YAML data; ``search`` keys of the strategy go to ``mixtures``."""
    mixtures = {"strategy": "bayesopt", "initial_runs": 4,
                **{k: v for k, v in search.items() if k in MIXTURE_KEYS}}
    search = {k: v for k, v in search.items() if k not in MIXTURE_KEYS}
    for d in DOMAINS:  # the sources must exist; their texts are never read here
        (tmp_path / f"{d}.txt").write_text(d)
    raw = {"name": "t",
           "data": {"domains": [{"name": d, "source": str(tmp_path / f"{d}.txt")}
                                for d in DOMAINS]},
           "target": {"name": "web", "domains": {"web": 1.0}},
           "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "seq_len": 64},
           # 120 steps x 8 x 64 = 61440 tokens per proxy run
           "training": {"steps": 120, "batch_size": 8, "eval_every": 40},
           "mixtures": {"count": 12, "proxy_max_epochs": 1.0, **mixtures},
           "compute": {"storage": str(tmp_path / "sweep")},
           "search": {"min_weight": {"web": 0.2}, "max_weight": {"code": 0.5}, **search}}
    if fit is not None:
        raw["fit"] = fit
    return raw


def config(tmp_path, fit=None, **search):
    """The test sweep, parsed (see :func:`raw_config`)."""
    return parse_config(raw_config(tmp_path, fit, **search))


def record(run_id, mixture, loss=None):
    ok = loss is not None
    evaluations = [Evaluation(step=1, tokens=1, train_loss=loss, losses={}, target_loss=loss)]
    return RunRecord(run_id=run_id, status="ok" if ok else "failed", mixture=mixture, seed=0,
                     evaluations=evaluations if ok else [])


def true_loss(mixture: dict) -> float:
    w = np.array([mixture[d] for d in DOMAINS])
    return 3.0 + float(((w - OPTIMUM) ** 2).sum())


def start(cfg, records=None):
    cfg.storage_path.mkdir(parents=True, exist_ok=True)
    return SweepStrategy(cfg.storage_path, strategy_settings(cfg, TOKENS, PRIOR),
                         cfg.mixtures.count, records or {})


def test_the_box_is_the_proposals_inside_the_proxies_repetition_cap(tmp_path):
    box = strategy_box(config(tmp_path), TOKENS, PRIOR)
    assert box.lower.tolist() == [0.2, 0, 0, 0]  # search.min_weight
    assert box.upper[1] == 0.5  # search.max_weight
    # a proxy run reads 61440 tokens, and mixtures.proxy_max_epochs 1 lets it read papers once:
    # with 30k tokens of papers, papers may be at most 30000 / 61440 of a run
    capped = strategy_box(config(tmp_path), {**TOKENS, "papers": 30_000}, PRIOR)
    assert capped.upper[3] == pytest.approx(30_000 / 61_440)
    assert np.allclose(box.prior, [PRIOR[d] for d in DOMAINS])


def test_every_suggestion_keeps_to_the_box(tmp_path):
    cfg = config(tmp_path, fixed_weight={"books": 0.1})
    tokens = {**TOKENS, "papers": 20_000}  # cap: 0.33 of a run
    box = strategy_box(cfg, tokens, PRIOR)
    strategy = SweepStrategy(tmp_path, strategy_settings(cfg, tokens, PRIOR), 12, {})
    for _ in range(12):
        run = strategy.suggest()
        w = np.array([run.mixture[d] for d in DOMAINS])
        assert abs(w.sum() - 1) < 1e-9
        assert np.all(w >= box.lower - 1e-9) and np.all(w <= box.upper + 1e-9)
        assert w[2] == pytest.approx(0.1) and w[3] <= 20_000 / 61_440 + 1e-9
        strategy.observe(record(run.run_id, run.mixture, true_loss(run.mixture)))
    assert strategy.suggest() is None  # mixtures.count reached


def test_a_cap_that_leaves_no_mixture_in_the_bounds_names_proxy_max_epochs(tmp_path):
    cfg = config(tmp_path, min_weight={"papers": 0.5})
    with pytest.raises(ConfigError, match="mixtures.proxy_max_epochs"):
        strategy_box(cfg, {**TOKENS, "papers": 20_000}, PRIOR)


def test_a_restored_strategy_continues_exactly_as_the_uninterrupted_one(tmp_path):
    """The store holds the suggestions; the results replay as observations, in any order."""
    cfg = config(tmp_path)
    uninterrupted = start(cfg)
    records = {}
    for i in range(9):
        run = uninterrupted.suggest()
        if i < 7:  # two runs still training when the driver dies
            records[run.run_id] = record(run.run_id, run.mixture,
                                         None if i == 3 else true_loss(run.mixture))
            uninterrupted.observe(records[run.run_id])
    saved = json.loads(SweepLayout(cfg.storage_path).strategy.read_text())
    assert saved["run_ids"] == [f"run-{i:04d}" for i in range(9)]
    assert saved["sampler"]["losses"] == []  # observations live in results/, not here

    # a new aggregator: the stored results, in another order
    shuffled = dict(sorted(records.items(), reverse=True))
    restored = SweepStrategy(cfg.storage_path, strategy_settings(cfg, TOKENS, PRIOR), 12,
                             shuffled)
    assert [r.run_id for r in restored.unfinished()] == ["run-0007", "run-0008"]
    assert restored.strategy.failed and len(restored.strategy.losses) == 6  # run-0003 failed
    assert restored.suggestions() == uninterrupted.suggestions()
    assert restored.suggest() == uninterrupted.suggest()  # the same GP, the same believed runs
    # a record of another run (a repeat with another seed) is no observation
    restored.observe(record("run-0001-s1", {d: 0.25 for d in DOMAINS}, 1.0))
    assert len(restored.strategy.losses) == 6


def test_the_strategy_moves_towards_the_optimum(tmp_path):
    cfg = config(tmp_path, min_weight={}, max_weight={})
    strategy = start(cfg)
    losses = []
    for _ in range(12):
        run = strategy.suggest()
        losses.append(true_loss(run.mixture))
        strategy.observe(record(run.run_id, run.mixture, losses[-1]))
    assert min(losses[initial_runs(cfg):]) < min(losses[:initial_runs(cfg)])


def test_the_suggester_hands_out_unfinished_runs_first_then_the_aggregators_as_room_allows(
        tmp_path):
    class Aggregator:  # the actor's interface, called in-process (ray.get of a plain value)
        def __init__(self, strategy):
            self.suggest = type("M", (), {"remote": staticmethod(strategy.suggest)})

    cfg = config(tmp_path)
    strategy = start(cfg)
    first = strategy.suggest()
    slots = [1]  # the cluster's room, as it grows
    suggester = StrategySearcher(Aggregator(strategy), [first], seed=3, scale="base",
                                 in_flight=lambda: slots[0])
    import ray

    original, ray.get = ray.get, lambda value: value
    try:
        assert suggester.suggest("t1") == {"runs": [{"run_id": first.run_id, "seed": 3,
                                                     "scale": "base", "mixture": first.mixture}]}
        assert suggester.suggest("t2") is None  # no room: Tune asks again later
        slots[0] = 2  # a node joined
        assert suggester.suggest("t2")["runs"][0]["run_id"] == "run-0001"
        assert suggester.suggest("t3") is None
        suggester.on_trial_complete("t1")
        assert suggester.suggest("t3")["runs"][0]["run_id"] == "run-0002"
    finally:
        ray.get = original


def test_a_grouped_suggester_hands_each_trial_a_group_and_counts_runs_in_flight(tmp_path):
    class Aggregator:
        def __init__(self, strategy):
            self.suggest = type("M", (), {"remote": staticmethod(strategy.suggest)})

    cfg = config(tmp_path)  # 12 mixtures
    strategy = start(cfg)
    first = strategy.suggest()
    suggester = StrategySearcher(Aggregator(strategy), [first], seed=3, scale="base",
                                 per_trial=3, in_flight=lambda: 6)
    import ray

    original, ray.get = ray.get, lambda value: value
    try:
        ids = [run["run_id"] for run in suggester.suggest("t1")["runs"]]
        assert ids == [first.run_id, "run-0001", "run-0002"]  # the unfinished one first
        assert len(suggester.suggest("t2")["runs"]) == 3
        assert suggester.suggest("t3") is None  # 6 runs in flight: no room
        suggester.on_trial_complete("t1")
        assert len(suggester.suggest("t3")["runs"]) == 3
        suggester.on_trial_complete("t2")
        last = [r["run_id"] for r in suggester.suggest("t4")["runs"]]
        assert last == ["run-0009", "run-0010", "run-0011"]
        suggester.on_trial_complete("t3")
        assert suggester.suggest("t5") == StrategySearcher.FINISHED  # all 12 suggested
        assert suggester.most_live == 6
    finally:
        ray.get = original


def test_initial_runs_default_to_a_quarter_of_the_count_at_least_eight(tmp_path):
    assert initial_runs(config(tmp_path, initial_runs=None)) == 8
    cfg = config(tmp_path, initial_runs=None)
    cfg.mixtures.count = 64
    assert initial_runs(cfg) == 16


@pytest.mark.parametrize("change, field", [
    ({"strategy": "design"}, "mixtures.strategy"),
    ({"exploration": 2.0}, "mixtures.exploration"),
    ({"initial_runs": 5}, "mixtures.initial_runs"),
    ({"batch_size": 4}, "mixtures.batch_size"),
    ({"min_weight": {"web": 0.3}}, "search.min_weight"),
    ({"max_weight": {"code": 0.4}}, "search.max_weight"),
])
def test_a_stored_strategy_continues_only_with_its_own_settings(tmp_path, change, field):
    cfg = config(tmp_path)
    start(cfg).suggest()
    check_strategy(cfg, TOKENS, PRIOR)  # the same settings: no refusal
    with pytest.raises(UserError, match=field.replace(".", r"\.")):
        check_strategy(config(tmp_path, **change), TOKENS, PRIOR)


def test_strategies_do_not_switch_in_one_sweep_directory(tmp_path):
    cfg = config(tmp_path)
    start(cfg).suggest()
    with pytest.raises(UserError, match="mixtures.strategy: .* holds an adaptive sweep"):
        check_strategy(config(tmp_path, strategy="random"), TOKENS, PRIOR)
    SweepLayout(cfg.storage_path).strategy.unlink()
    (cfg.storage_path / "plan.csv").write_text("run\n")
    with pytest.raises(UserError, match="drawn up front"):
        check_strategy(cfg, TOKENS, PRIOR)


def test_a_strategy_saved_by_raymix_0_1_as_search_json_is_read(tmp_path):
    cfg = config(tmp_path)
    first = start(cfg)
    first.suggest()
    layout = SweepLayout(cfg.storage_path)
    saved = json.loads(layout.strategy.read_text())
    layout.strategy.unlink()
    layout.legacy_strategy.write_text(json.dumps({"search": saved["sampler"],
                                                  "run_ids": saved["run_ids"]}))
    check_strategy(cfg, TOKENS, PRIOR)  # the same settings: no refusal
    with pytest.raises(UserError, match=r"mixtures\.exploration"):
        check_strategy(config(tmp_path, exploration=2.0), TOKENS, PRIOR)
    restored = start(cfg)
    assert restored.suggestions() == first.suggestions()
    assert restored.suggest() == first.suggest()


def test_the_old_search_keys_are_read_with_a_notice(tmp_path):
    new = config(tmp_path, exploration=2.0)
    raw = raw_config(tmp_path, exploration=2.0)
    for key in STRATEGY_KEYS:  # in raymix 0.1's place
        raw["search"][key] = raw["mixtures"].pop(key)
    with pytest.warns(ConfigNotice) as notices:
        old = parse_config(raw)
    assert sorted(str(n.message).split(":")[0] for n in notices) == [
        f"search.{key} is now mixtures.{key}" for key in sorted(STRATEGY_KEYS)]
    assert (old.mixtures.strategy, old.mixtures.initial_runs, old.mixtures.exploration) == \
        ("bayesopt", 4, 2.0)
    assert old.is_adaptive and strategy_settings(old, TOKENS, PRIOR) == \
        strategy_settings(new, TOKENS, PRIOR)


def test_a_sweep_directory_checks_the_strategy_settings_as_the_strategy_uses_them(tmp_path):
    """check_experiment leaves the strategy's settings to check_strategy: they are compared
    as resolved (initial_runs None is the default count) and only for an adaptive sweep."""
    import yaml

    from raymix.sweep.experiment import check_experiment

    prepared = SimpleNamespace(train_tokens=TOKENS, prior=PRIOR, path=tmp_path / "prepared")

    def stored_as(cfg):
        cfg.storage_path.mkdir(parents=True, exist_ok=True)
        SweepLayout(cfg.storage_path).config.write_text(yaml.safe_dump(cfg.to_dict()))

    regmix = config(tmp_path, strategy="random")
    stored_as(regmix)
    (regmix.storage_path / "plan.csv").write_text("run\n")
    # settings a random sweep does not use change none of its runs
    check_experiment(config(tmp_path, strategy="random", exploration=2.0), prepared)
    check_experiment(config(tmp_path, strategy="random", initial_runs=5), prepared)
    with pytest.raises(UserError, match="drawn up front"):  # but it stays a random sweep
        check_experiment(config(tmp_path), prepared)
    for path in (regmix.storage_path / "plan.csv", SweepLayout(regmix.storage_path).config):
        path.unlink()

    adaptive = config(tmp_path, initial_runs=None)
    stored_as(adaptive)
    start(adaptive).suggest()
    check_experiment(adaptive, prepared)
    check_experiment(config(tmp_path, initial_runs=initial_runs(adaptive)), prepared)
    with pytest.raises(UserError, match=r"mixtures\.initial_runs"):
        check_experiment(config(tmp_path, initial_runs=initial_runs(adaptive) + 1), prepared)
    with pytest.raises(UserError, match=r"mixtures\.exploration"):
        check_experiment(config(tmp_path, initial_runs=None, exploration=2.0), prepared)
    more = config(tmp_path, initial_runs=None)
    more.mixtures.count = 13
    with pytest.raises(UserError, match=r"mixtures\.count"):  # the rest of the section still
        check_experiment(more, prepared)


def test_a_suggestion_the_storage_refuses_is_taken_back(tmp_path):
    cfg = config(tmp_path)
    strategy = start(cfg)
    strategy.suggest()
    blocked = SweepLayout(cfg.storage_path).strategy  # its name taken by a non-empty folder:
    blocked.unlink()                                  # even root cannot write it
    (blocked / "x").mkdir(parents=True)
    refused = strategy.suggest()
    assert isinstance(refused, Suggestion) and refused.refused and refused.mixture is None
    assert strategy.run_ids == ["run-0000"] and len(strategy.strategy.suggested) == 1
    (blocked / "x").rmdir()
    blocked.rmdir()
    assert strategy.suggest().run_id == "run-0001"


def test_an_adaptive_sweep_proposes_as_it_searched_unless_told_otherwise(tmp_path):
    cfg = config(tmp_path)
    assert cfg.fit.regressors == ["gp"] and cfg.search.method == "pessimistic"
    told = config(tmp_path, fit={"regressors": ["ridge", "gp"]}, method="simulate")
    assert told.fit.regressors == ["ridge", "gp"] and told.search.method == "simulate"
    regmix = config(tmp_path, strategy="random")
    assert "lightgbm" in regmix.fit.regressors and regmix.search.method == "auto"


# ----------------------------------------------------------------------------- reproducible batches


def simulate(cfg, folder, slots: int, order_seed: int) -> list[dict]:
    """A sweep on a simulated cluster of ``slots`` trial slots: a suggestion whenever a slot
    is free, and the runs in training finish in a random order (``order_seed``). Returns
    every suggested mixture, in run-id order."""
    folder.mkdir(parents=True)
    strategy = SweepStrategy(folder, strategy_settings(cfg, TOKENS, PRIOR),
                             cfg.mixtures.count, {})
    arrivals = np.random.default_rng(order_seed)
    training = []
    while True:
        while len(training) < slots:
            run = strategy.suggest()
            if run is None or run.wait:
                break
            training.append(run)
        if not training:
            break
        done = training.pop(int(arrivals.integers(len(training))))
        strategy.observe(record(done.run_id, done.mixture, true_loss(done.mixture)))
    assert strategy.suggest() is None  # mixtures.count made, every one observed
    return [s.mixture for s in strategy.suggestions()]


def test_synchronous_batches_suggest_the_same_mixtures_whatever_the_cluster_and_arrivals(
        tmp_path):
    cfg = config(tmp_path, batch_size=3)  # 12 mixtures: 4 initial, then 3 batches of 3
    one_slot = simulate(cfg, tmp_path / "a", slots=1, order_seed=0)
    many = simulate(cfg, tmp_path / "b", slots=5, order_seed=1)
    other_order = simulate(cfg, tmp_path / "c", slots=3, order_seed=2)
    assert len(one_slot) == 12
    assert many == one_slot and other_order == one_slot  # bit for bit: dicts of floats
    # asynchronous suggestions are made from the results in at the time, which the
    # cluster decides: the same settings give other mixtures on another cluster
    asynchronous = config(tmp_path)
    assert simulate(asynchronous, tmp_path / "d", slots=1, order_seed=0) != \
        simulate(asynchronous, tmp_path / "e", slots=5, order_seed=1)


def test_a_batch_is_made_whole_and_the_next_waits_for_every_run_of_it(tmp_path):
    cfg = config(tmp_path, batch_size=3)
    strategy = start(cfg)
    initial = [strategy.suggest() for _ in range(4)]
    assert [r.run_id for r in initial] == [f"run-{i:04d}" for i in range(4)]
    assert strategy.suggest() == Suggestion(wait=True)  # none of the initial runs is in
    for run in initial[:3]:
        strategy.observe(record(run.run_id, run.mixture, true_loss(run.mixture)))
    assert strategy.suggest().wait
    strategy.observe(record(initial[3].run_id, initial[3].mixture))  # failed: it is done too
    batch = strategy.suggest()
    assert batch.run_id == "run-0004"
    # the whole batch was made at once and saved before its first run was handed out
    saved = json.loads(SweepLayout(cfg.storage_path).strategy.read_text())
    assert saved["run_ids"][-1] == "run-0006" and saved["batch_size"] == 3
    # a new aggregator (a driver restarted) reads it: the rest of the batch is unfinished,
    # for the driver to train first, and the next batch still waits for it
    restored = start(cfg, {r.run_id: record(r.run_id, r.mixture, 3.0) for r in initial})
    assert [r.run_id for r in restored.unfinished()] == ["run-0004", "run-0005", "run-0006"]
    assert restored.unfinished()[0] == batch and restored.suggest().wait


def test_a_suggester_never_spans_two_batches_and_stops_when_a_batch_cannot_finish(tmp_path):
    class Aggregator:  # the actor's interface, called in-process (ray.get of a plain value)
        def __init__(self, strategy):
            self.suggest = type("M", (), {"remote": staticmethod(strategy.suggest)})

    cfg = config(tmp_path, batch_size=3)
    strategy = start(cfg)
    suggester = StrategySearcher(Aggregator(strategy), [], seed=0, scale="base", per_trial=3)
    import ray

    original, ray.get = ray.get, lambda value: value
    try:
        first = suggester.suggest("t1")["runs"]
        second = suggester.suggest("t2")["runs"]
        # 4 initial runs in trials of 3: the second trial holds the batch's last run only
        assert [len(first), len(second)] == [3, 1]
        assert suggester.suggest("t3") is None and suggester.waiting  # Tune asks again later
        for run in first:
            strategy.observe(record(run["run_id"], run["mixture"], true_loss(run["mixture"])))
        suggester.on_trial_complete("t1")
        assert suggester.suggest("t3") is None  # t2 still trains
        # t2 failed in every retry and stored nothing: the batch can never finish
        suggester.on_trial_complete("t2", error=True)
        assert suggester.suggest("t3") == StrategySearcher.FINISHED
        assert suggester.stalled and suggester.errored == ["run-0003"]
    finally:
        ray.get = original


@pytest.mark.parametrize("size", [0, 13])
def test_a_batch_size_outside_one_to_the_count_names_its_field(tmp_path, size):
    with pytest.raises(ConfigError, match=r"mixtures\.batch_size"):
        config(tmp_path, batch_size=size)  # 12 mixtures
