"""Load: a sweep of a few hundred short proxies, its driver SIGKILLed twice on the way.

The same code as ``bench/bench_sweep_load.py`` (which runs 2,000 proxies and records the
numbers), at a size the default suite affords: every run must be stored exactly once, each
restart must resume from what was stored, and a killed driver must take its local Ray
cluster with it.
"""

from __future__ import annotations

import json

import pytest
from bench_sweep_load import sweep_with_kills, write_config  # bench/ is on the path (conftest)
from conftest import TINY

RUNS = 300


@pytest.mark.slow
def test_a_sweep_of_hundreds_killed_twice_stores_every_run_exactly_once(tmp_path, cache_dir):
    base = json.loads(json.dumps(TINY))
    base["data"]["cache_dir"] = str(cache_dir)
    # 3 steps of 4 sequences, evaluated after each: the sweep's own costs dominate
    base["training"].update(steps=3, batch_size=4, micro_batch_size=4, warmup_steps=1,
                            eval_every=1, eval_tokens=512)
    config = write_config(tmp_path, RUNS, base)
    out = sweep_with_kills(config, tmp_path / "sweep", RUNS, kills=2)

    once = out["exactly_once"]
    assert once["planned"] == once["planned_unique"] == once["stored"] == RUNS
    assert once["missing"] == once["extra"] == once["misnamed"] == 0
    assert once["leftover_files"] == 0  # no temporary file of an interrupted write
    assert once["mixtures_rows"] == once["mixtures_unique"] == once["runs_csv_runs"] == RUNS
    assert once["runs_csv_evaluations_per_run"] == [3]

    first, second, last = out["legs"]
    assert first["killed_at"] >= RUNS // 3 and second["killed_at"] >= 2 * RUNS // 3
    for leg in out["legs"]:  # each command resumed from what was on disk, none started over
        assert leg["resumed_from"] == leg["stored_at_start"]
    assert second["stored_at_start"] >= first["killed_at"]
    assert last["killed_at"] is None
    # the killed driver's local cluster went with it (all but Ray's two node agents, which
    # retry the dead GCS for a minute or two and then exit by themselves)
    assert first["processes_left_after_kill"] == second["processes_left_after_kill"] == 0

    aggregator = out["aggregator"]  # the last command's "[sweep] aggregator:" line
    assert aggregator["stored"] == RUNS - last["stored_at_start"]
    assert aggregator["records_held"] == RUNS
    assert 0 < aggregator["add_ms_median"] <= aggregator["add_ms_p99"] <= aggregator["add_ms_max"]
    assert out["live_fits"] >= 1
