"""A sweep's progress lines, and the Tune callback that prints them."""

from __future__ import annotations

import builtins
import io
import logging
import os
import sys
from types import SimpleNamespace

import pytest
from ray import cloudpickle
from tqdm import tqdm

from raymix.sweep.cluster import dashboard_url
from raymix.sweep.progress import STATUS_SECONDS, SweepProgress, quiet_tune


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


# ----------------------------------------------------------------------------- the live status


class Clock:
    """A fake monotonic clock: the tests move it."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _trial(trial_id: str, runs: int) -> SimpleNamespace:
    """What SweepProgress reads of a Tune trial: its id, and its planned runs."""
    first = int(trial_id[1:]) * 10
    return SimpleNamespace(trial_id=trial_id, num_failures=0, config={"runs": [
        {"run_id": f"run-{first + i:04d}", "seed": 0, "scale": "base", "mixture": {"a": 1.0}}
        for i in range(runs)]})


def _eval(run: str, step: int, loss: float) -> dict:
    return {"event": "eval", "run_id": run, "step": step, "steps": 480, "tokens": step * 512,
            "train_loss": loss, "target_loss": loss, "loss/a": loss}


def _heartbeat(step: int, models: int, rate: float) -> dict:
    return {"event": "progress", "step": step, "steps": 480, "models": models,
            "tokens_per_s": rate}


def _final(trial, loss: float) -> dict:
    runs = trial.config["runs"]
    return {"event": "final", "final": True, "runs": len(runs), "failed": 0, "status": "ok",
            "stored": "stored", "run_id": runs[0]["run_id"], "target_loss": loss}


def _two_groups_training(progress, clock, until: float, lines_at: list) -> None:
    """Two groups of 4 train on; each sends a heartbeat every 10 s and evaluates every 120
    steps; Tune's loop steps every half second. ``lines_at``: (time, line) of each log."""
    a, b = _trial("t0", 4), _trial("t1", 4)
    if clock.now == 0:
        progress.on_trial_start(0, [], a)
        progress.on_trial_start(0, [], b)
    while clock.now < until:
        clock.now += 0.5
        if clock.now % 10 == 0:
            step = int(clock.now * 2)  # 2 steps a second
            for trial, rate in ((a, 1000.0), (b, 2500.0)):
                progress.on_trial_result(0, [], trial, _heartbeat(step, 4, rate))
                if step % 120 == 0:
                    for run in trial.config["runs"]:
                        progress.on_trial_result(0, [], trial,
                                                 _eval(run["run_id"], step, 6 - step / 240))
        progress.on_step_end(0, [])
    del lines_at[:]


def test_a_log_hears_of_the_proxies_in_flight_at_least_every_30_seconds():
    """Two groups of 4 train for 200 s without finishing: a log (not a terminal) gets a
    plain status line every STATUS_SECONDS, with the proxies in flight, their step, the
    tokens/s of both groups together and an ETA from their steps alone."""
    clock, times = Clock(), []
    progress = SweepProgress(total=10, already_done=0, clock=clock,
                             log=lambda line: times.append((clock.now, line)))
    _two_groups_training(progress, clock, 200, [])
    assert progress.terminal is False  # a log function of the caller's: plain lines
    gaps = [later - earlier for (earlier, _), (later, _) in zip([(0.0, "")] + times, times)]
    assert times and max(gaps) <= STATUS_SECONDS <= 30
    assert all(line.startswith("[sweep] 0/10 done, 8 proxies in flight at step")
               for _, line in times[1:])
    line = progress.status()  # now: both groups' last heartbeat in
    assert line.startswith("0/10 done, 8 proxies in flight at step 400/480, ")
    assert "3,500 tokens/s" in line  # 1,000 + 2,500: every trial's rate, summed
    # 8 proxies at 400/480 in 200 s: 6.67 runs' worth; the 3.33 runs left take 100 s
    assert "ETA 1m40s" in line and progress.eta() == pytest.approx(100)
    # the best so far: none finished; in flight, the last evaluation's best
    assert "best target loss n/a; in flight 4.5000 (run-0000)" in line


def test_finished_groups_log_at_once_and_leave_the_flight():
    clock, lines = Clock(), []
    progress = SweepProgress(total=10, already_done=2, log=lines.append, clock=clock)
    a, b = _trial("t0", 4), _trial("t1", 4)
    progress.on_trial_start(0, [], a)
    progress.on_trial_start(0, [], b)
    assert progress.status() == "2/10 done, 8 proxies starting, ETA n/a, best target loss n/a"
    clock.now = 50.0
    progress.on_trial_result(0, [], a, _heartbeat(100, 4, 800.0))
    progress.on_trial_result(0, [], b, _heartbeat(300, 3, 700.0))  # one of b's failed
    assert "7 proxies in flight at steps 100-300/480, 1,500 tokens/s" in progress.status()
    assert lines == ["[sweep] 2/10 done, 8 proxies in flight at step 100/480, 800 tokens/s, "
                     "ETA 7m10s, best target loss n/a"]  # 50 s of silence: a status line
    clock.now = 51.0
    progress.on_trial_result(0, [], a, _final(a, 4.25))  # at once, though 1 s after the last
    progress.on_trial_complete(0, [], a)
    # 4 runs done and 3 x 300/480 in flight in 51 s: the 2.125 runs left take 18 s
    assert lines[1:] == [
        "[sweep] 6/10 done, 3 proxies in flight at step 300/480, 700 tokens/s, ETA 0m18s, "
        "best target loss 4.2500 (run-0000)"]
    assert "t0" not in progress.flight and progress.running == {"t1"}
    # results of no raymix kind are let be
    progress.on_trial_result(0, [], b, {"foo": 1})
    assert len(lines) == 2


def test_the_status_of_sizes_with_their_own_lengths_is_in_percent():
    progress = SweepProgress(total=4, already_done=0, log=lambda _: None)
    progress.on_trial_result(0, [], _trial("t0", 1), dict(_heartbeat(120, 1, 10.0), steps=480))
    progress.on_trial_result(0, [], _trial("t1", 1), dict(_heartbeat(120, 1, 10.0), steps=160))
    assert "2 proxies in flight at 25%-75% of their steps" in progress.status()


def test_the_callback_pickles_mid_sweep_without_its_bar():
    clock, terminal = Clock(), io.StringIO()
    progress = SweepProgress(total=10, already_done=0, log=lambda _: None, clock=clock)
    progress.terminal = terminal
    _two_groups_training(progress, clock, 30, [])
    assert progress._bar is not None
    copy = cloudpickle.loads(cloudpickle.dumps(progress))
    assert copy._bar is None and copy.terminal is None  # decided again where it runs
    assert copy.status() == progress.status()
    progress.close()


def test_on_a_terminal_the_status_is_a_bar_and_lines_go_above_it(capsys):
    """A fake terminal: the bar is drawn and redrawn in place (carriage returns), the sweep's
    lines are written while it is up, and the end of the experiment takes it off."""
    clock, terminal = Clock(), io.StringIO()
    progress = SweepProgress(total=10, already_done=0, clock=clock)  # log: print_line
    progress.terminal = terminal
    _two_groups_training(progress, clock, 60, [])
    drawn = terminal.getvalue()
    assert "\r" in drawn and "[sweep]" in drawn and "8 proxies in flight at step" in drawn
    assert "|" in drawn and "%" in drawn
    progress.on_trial_result(0, [], _trial("t0", 4), _final(_trial("t0", 4), 4.0))
    assert capsys.readouterr().out.startswith("[sweep] 4/10 done, 4 proxies in flight")
    progress.on_experiment_end([])
    assert progress._bar is None and not getattr(tqdm, "_instances", None)
    clock.now += 1.0
    progress.on_step_end(0, [])  # the next experiment makes a bar of its own
    assert progress._bar is not None
    progress.close()


def test_a_log_that_is_not_a_terminal_gets_plain_lines(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    clock = Clock()
    progress = SweepProgress(total=10, already_done=0, clock=clock)  # log: print_line
    _two_groups_training(progress, clock, 45, [])
    out = capsys.readouterr().out
    assert progress.terminal is False and "\r" not in out
    assert out.splitlines() == [line for line in out.splitlines() if line.startswith("[sweep] ")]
    assert len(out.splitlines()) == 2  # at 20 s and 40 s


def test_tune_is_quiet_inside_and_as_before_after(monkeypatch):
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")
    monkeypatch.delenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", raising=False)
    with quiet_tune():
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
        assert os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] == "1"
        assert logging.getLogger("ray.tune.tune").getEffectiveLevel() >= logging.WARNING
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" not in os.environ


def test_the_dashboard_url_is_one_to_open_with_no_secret():
    assert dashboard_url("127.0.0.1:8265") == "http://127.0.0.1:8265"
    assert dashboard_url(None) is None and dashboard_url("") is None
    assert dashboard_url("https://me:hunter2@ray.example.com") == "https://me:***@ray.example.com"
