"""A sweep's progress lines, and the Tune callback that prints them."""

from __future__ import annotations

import builtins

from ray import cloudpickle

from raymix.sweep.progress import SweepProgress


def test_the_callback_pickles_where_print_was_replaced(monkeypatch, capsys):
    """Tune pickles its callbacks with the experiment. Ray's tqdm replaces builtins.print
    in the driver once a bar is shown; the default log must still pickle (it once held the
    original builtin, which pickle then could not find by name)."""
    monkeypatch.setattr(builtins, "print", lambda *args, **kwargs: None)
    progress = cloudpickle.loads(cloudpickle.dumps(SweepProgress(total=2, already_done=0)))
    monkeypatch.undo()
    progress.log("[sweep] a line")
    assert capsys.readouterr().out == "[sweep] a line\n"


def test_the_aggregator_line_keeps_its_numbers_in_order():
    """p99 and max print alike: a p99 that is the max must not print above it."""
    from bench_sweep_load import aggregator_line

    from raymix.sweep.aggregator import AggregatorLoad
    from raymix.sweep.runner import describe_load

    load = AggregatorLoad(stored=90, held=300, add_ms_median=1.26, add_ms_p99=37.4,
                          add_ms_max=37.4, start_rss_mib=567.2, rss_mib=616.0, peak_rss_mib=678.9)
    parsed = aggregator_line([describe_load(load)])
    assert parsed["add_ms_median"] <= parsed["add_ms_p99"] <= parsed["add_ms_max"] == 37.4
    assert (parsed["stored"], parsed["records_held"]) == (90, 300)


def test_trials_group_runs_of_one_size_evenly_in_plan_order():
    from raymix.sweep.trial import PlannedRun, PlannedTrial, group_trials

    runs = [PlannedRun(f"run-{i:04d}", 0, "base", {"a": 1.0}) for i in range(52)]
    runs += [PlannedRun(f"big-run-{i:04d}", 0, "big", {"a": 1.0}) for i in range(5)]
    trials = group_trials(runs, 16)
    assert [len(t.runs) for t in trials] == [13, 13, 13, 13, 5]  # even, one size each
    assert [r for t in trials for r in t.runs] == runs  # each run once, in plan order
    assert {r.scale for r in trials[-1].runs} == {"big"}
    assert trials[0].name == "run-0000+12" and group_trials(runs[:1], 16)[0].name == "run-0000"
    assert PlannedTrial.from_config(trials[1].to_config()) == trials[1]
    assert [len(t.runs) for t in group_trials(runs[:52], 1)] == [1] * 52


def test_a_groups_result_counts_all_its_runs_and_its_failures():
    lines = []
    progress = SweepProgress(total=10, already_done=0, log=lines.append)
    progress.on_trial_result(0, [], None, {"final": True, "runs": 4, "failed": 1,
                                           "status": "ok", "run_id": "run-0002",
                                           "target_loss": 3.5})
    progress.on_trial_result(0, [], None, {"final": True, "runs": 1, "failed": 1,
                                           "status": "failed", "run_id": "run-0004",
                                           "target_loss": float("nan")})
    assert lines[0].startswith("[sweep] 4/10 done [1 of 4 failed]")
    assert "best target loss 3.5000 (run-0002)" in lines[0]
    assert lines[1].startswith("[sweep] 5/10 done [failed]")
