"""End to end on a real local Ray cluster: a grouped trial's results reach the driver while
it trains, not only when its group ends.

Each proxy of a group sends its evaluations the moment they are made ("eval" results),
and the training loop a heartbeat in between ("progress"), before the trial's "final"
result (the schema: :mod:`raymix.sweep.trial`). A Tune callback given to ``run_sweep``
records when each arrives.
"""

from __future__ import annotations

import time
from collections import defaultdict

from conftest import write_config
from ray import tune

import raymix
from raymix.runs import ResultStore
from raymix.sweep import run_sweep
from raymix.training import loop

EVAL_STEPS = (10, 20, 30)  # TINY's 30 steps, evaluated every 10


class Arrivals(tune.Callback):
    """Every result as the driver gets it: (wall time, trial's run ids, result), in order."""

    def __init__(self):
        self.results: dict[str, list[tuple[float, dict]]] = defaultdict(list)
        self.runs: dict[str, list[str]] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.runs[trial.trial_id] = [run["run_id"] for run in trial.config["runs"]]
        self.results[trial.trial_id].append((time.time(), dict(result)))


def test_a_group_reports_each_evaluation_and_its_progress_before_it_ends(tmp_path, cache_dir,
                                                                         monkeypatch):
    # 3 runs in one stacked group; the driver's heartbeat interval reaches the trial
    monkeypatch.setattr(loop, "PROGRESS_SECONDS", 0.01)
    config = write_config(tmp_path, cache_dir, mixtures={"count": 3, "repeats": 0},
                          compute={"models_per_trial": 3})
    arrivals = Arrivals()
    lines: list[str] = []
    result = run_sweep(raymix.load_config(config), log=lines.append, callbacks=[arrivals])
    assert result.stored == 3 and result.failed == 0
    records = ResultStore(tmp_path / "sweep").load_all()
    [(trial_id, runs)] = arrivals.runs.items()  # one trial, of 3 runs
    assert len(runs) == 3
    got = arrivals.results[trial_id]

    events = [r.get("event") for _, r in got]
    assert events[-1] == "final" and events.count("final") == 1, events
    evals = [(t, r) for t, r in got if r.get("event") == "eval"]
    assert sorted((r["run_id"], r["step"]) for _, r in evals) == \
        sorted((run, step) for run in runs for step in EVAL_STEPS)
    assert all(r["steps"] == 30 and "loss/code" in r and r["target_loss"] > 0
               for _, r in evals)
    # the first evaluations reached the driver before any of the group's runs ended
    first_eval = min(t for t, r in evals)
    assert first_eval < min(records[run].finished_at for run in runs)
    # between two evaluation steps: heartbeats, of the steps between them
    order = [(r.get("event"), r.get("step")) for _, r in got]
    for before, after in zip(EVAL_STEPS, EVAL_STEPS[1:]):
        last_of_before = max(i for i, e in enumerate(order) if e == ("eval", before))
        first_of_after = min(i for i, e in enumerate(order) if e == ("eval", after))
        between = [got[i][1] for i in range(last_of_before + 1, first_of_after)]
        assert between and all(r["event"] == "progress" and before <= r["step"] < after
                               for r in between), order
    beats = [r for _, r in got if r.get("event") == "progress"]
    assert all(r["models"] == 3 and r["steps"] == 30 and r["tokens_per_s"] > 0 for r in beats)
    assert [r["step"] for r in beats] == sorted(r["step"] for r in beats)
