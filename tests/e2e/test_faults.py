"""Faults during a real sweep (local Ray cluster, real proxies): nothing is lost.

Each test kills or breaks one part of a running ``raymix sweep`` and then counts what
was lost: planned runs without a stored result, and runs stored more than once (one
file per run id, so a second store would have to overwrite; the aggregator refuses).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    experiment_counts,
    finish,
    kill_session,
    raymix_cli,
    session_members,
    stored_runs,
    write_config,
)

from raymix.runs import ResultStore, SweepLayout


def _processes(proc, title: str) -> list[int]:
    """Pids in the CLI's session whose process title starts with ``title``."""
    found = []
    for pid in session_members(proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmdline.startswith(title):
            found.append(pid)
    return found


def _wait_for(condition, proc, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _start_sweep(tmp_path: Path, cache: Path, count: int, steps: int):
    """``raymix sweep`` of ``count`` mixtures in the background: (config, sweep dir, process)."""
    config = write_config(tmp_path, cache, training={"steps": steps, "eval_every": steps // 3},
                          mixtures={"count": count, "repeats": 0})
    return config, tmp_path / "sweep", raymix_cli("sweep", str(config), "--no-propose")


def _lost(sweep: Path, planned: int) -> int:
    plan = pd.read_csv(sweep / "plan.csv")["run"].tolist()
    assert len(plan) == planned
    return len(set(plan) - set(stored_runs(sweep)))


# alone (slow: the random sweep's kill test, test_load.py, covers a solo resume) and grouped
# both in make test-slow (90 s each): test_a_killed_grouped_sweep_... keeps a killed and
# resumed sweep of groups in the default run
@pytest.mark.slow
@pytest.mark.parametrize("per_trial", [1, 2])
def test_a_killed_driver_resumes_its_adaptive_strategy_with_every_mixture_once(tmp_path,
                                                                               cache_dir,
                                                                               per_trial):
    """The hardest resume: mid-strategy, with suggestions in flight (a random sweep's plan
    resumes by the same path once the strategy has made it); alone, and two proxies a
    trial (each trial takes two suggestions and trains them as one stacked model)."""
    config = write_config(tmp_path, cache_dir, training={"steps": 60, "eval_every": 20},
                          mixtures={"count": 8, "repeats": 1, "repeat_seeds": 1,
                                    "strategy": "bayesopt", "initial_runs": 3},
                          search={"max_weight": {"licences": 0.5}},
                          compute={"models_per_trial": per_trial})
    sweep = tmp_path / "sweep"
    proc = raymix_cli("sweep", str(config), "--no-propose")
    try:
        deadline = time.monotonic() + 240
        while len(stored_runs(sweep)) < 4:  # the GP has suggested by then
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
    finally:
        kill_session(proc)  # SIGKILL: the driver, its cluster and the aggregator die
    before = json.loads(SweepLayout(sweep).strategy.read_text())
    stored_before = set(stored_runs(sweep))
    assert 4 <= len(stored_before) <= 6 and len(before["run_ids"]) > len(stored_before)

    out = finish(raymix_cli("sweep", str(config)))
    assert f"{len(stored_before)} already stored" in out
    assert _lost(sweep, 9) == 0
    after = json.loads(SweepLayout(sweep).strategy.read_text())
    # the same strategy went on: its earlier suggestions kept, the unfinished ones trained
    assert after["run_ids"] == [f"run-{i:04d}" for i in range(8)]
    assert after["sampler"]["suggested"][:len(before["run_ids"])] == \
        before["sampler"]["suggested"]
    records = ResultStore(sweep).load_all()
    assert sorted(records) == sorted(after["run_ids"] + ["run-0000-s1"])  # each exactly once
    plan = pd.read_csv(sweep / "plan.csv").set_index("run")
    for run_id, weights in zip(after["run_ids"], after["sampler"]["suggested"]):
        assert plan.loc[run_id, ["code", "licences", "readmes"]].tolist() == weights
        assert weights[1] <= 0.5 + 1e-9  # search.max_weight bounds the strategy
    assert plan.loc["run-0000-s1", "seed"] == 1  # the repeat of the first mixture
    # no serial suggest-train-suggest: the resumed strategy handed out as many runs as its
    # limit allows (2 slots + 1 waiting, or the runs left) before any had finished. (How
    # many then trained at once is checked in test_autoscaler.py: proxies of 60 steps are
    # shorter than a worker's start on a loaded machine, and Tune reuses the first worker.)
    expected = min(3 * per_trial, 8 - len(stored_before))
    counts, line = experiment_counts(out.splitlines(), "adaptive")
    assert counts["suggested"] == expected, line
    assert "9/9 done" in out and (sweep / "proposal.json").is_file()
    if per_trial > 1:  # the resumed command's trials trained their runs in groups
        assert any((r.group_size or 1) > 1 for r in records.values() if r.ok)


@pytest.mark.slow
def test_a_killed_grouped_sweep_resumes_and_trains_every_mixture_once(tmp_path, cache_dir):
    """compute.models_per_trial 3: each trial trains 3 planned runs as one stacked model and
    stores 3 records. The driver dies after the first groups; the same command trains the
    rest, in groups again, and nothing is trained twice."""
    config = write_config(tmp_path, cache_dir, mixtures={"count": 16, "repeats": 2},
                          compute={"models_per_trial": 3})
    sweep = tmp_path / "sweep"
    proc = raymix_cli("sweep", str(config), "--no-propose")
    try:
        _wait_for(lambda: len(stored_runs(sweep)) >= 6, proc)
    finally:
        kill_session(proc)
    stored_before = ResultStore(sweep).load_all()
    assert 6 <= len(stored_before) < 18
    assert {r.group_size for r in stored_before.values()} == {3}
    out = finish(raymix_cli("sweep", str(config), "--no-propose"))
    assert f"18 runs planned, {len(stored_before)} already stored" in out
    assert "18/18 done" in out and "in groups of" in out
    assert _lost(sweep, 18) == 0
    records = ResultStore(sweep).load_all()
    assert len(records) == 18 and all(r.ok for r in records.values())
    for run_id, record in stored_before.items():  # kept as stored, not trained again
        assert records[run_id].finished_at == record.finished_at
    resumed = [r for k, r in records.items() if k not in stored_before]
    # groups again, of the runs left; a run resumed from its checkpoint trains with the
    # runs whose checkpoints stand at its step, alone if none does
    assert all(1 <= r.group_size <= 3 for r in resumed)
    plan = pd.read_csv(sweep / "plan.csv").set_index("run")
    for run_id, record in records.items():  # each its own mixture and seed, as planned
        assert record.seed == plan.loc[run_id, "seed"]
        for domain, weight in record.mixture.items():
            assert weight == pytest.approx(plan.loc[run_id, domain])


@pytest.mark.slow  # 50 s
def test_a_killed_trial_worker_is_retried_and_nothing_is_lost(tmp_path, cache_dir):
    _, sweep, proc = _start_sweep(tmp_path, cache_dir, count=6, steps=90)
    try:
        # once a run is stored, the trial workers are past their start-up (killed while
        # starting, a worker is restarted by Ray itself and Tune sees no failure). The victim
        # is a worker inside a call of its trial's train() (Ray titles it so while the call
        # runs): an idle worker, killed, fails no trial.
        _wait_for(lambda: stored_runs(sweep), proc)
        training: list[int] = []
        _wait_for(lambda: training.extend(_processes(proc, "ray::ImplicitFunc.train"))
                  or training, proc)
        os.kill(training[0], signal.SIGKILL)
        out = finish(proc)
    finally:
        kill_session(proc)
    assert ": its worker died; retrying" in out
    assert _lost(sweep, 6) == 0
    assert "6 runs stored (0 failed)" in out
    assert len(pd.read_csv(sweep / "mixtures.csv")) == 6


@pytest.mark.slow  # 3 min on a loaded 2-core machine (Ray, 600 steps, a retry)
def test_a_killed_group_trial_resumes_its_models_from_their_checkpoints(tmp_path, cache_dir):
    """compute.models_per_trial 2: one trial trains both planned runs as one stacked model
    and writes each model's state at every evaluation. Its worker is killed after the
    first; Tune's retry goes on from the last states, not from step 0, and stores each
    run exactly once."""
    steps = 600
    config = write_config(tmp_path, cache_dir, training={"steps": steps, "eval_every": 60},
                          mixtures={"count": 2, "repeats": 0},
                          compute={"models_per_trial": 2})
    sweep = tmp_path / "sweep"
    states = SweepLayout(sweep).resume
    proc = raymix_cli("sweep", str(config), "--no-propose")
    try:
        _wait_for(lambda: len(list(states.glob("*.safetensors"))) == 2, proc)  # both checkpointed
        training = _processes(proc, "ray::ImplicitFunc.train")
        assert training and not stored_runs(sweep)  # killed mid-group, nothing stored yet
        os.kill(training[0], signal.SIGKILL)
        out = finish(proc)
    finally:
        kill_session(proc)
    assert ": its worker died; retrying" in out
    assert _lost(sweep, 2) == 0
    assert "2 runs stored (0 failed)" in out
    records = ResultStore(sweep).load_all()
    assert sorted(records) == ["run-0000", "run-0001"]  # one file per run: none twice
    for record in records.values():
        assert record.ok and record.group_size == 2
        # every evaluation once, the ones before the kill kept from the checkpoint
        assert [e.step for e in record.evaluations] == list(range(60, steps + 1, 60))
    # Tune's last result of the trial (its retry): where the group went on from
    results = SweepLayout(sweep).tune.glob("*-plan/run-0000+1/result.json")
    last = json.loads(next(results).read_text().splitlines()[-1])
    assert 60 <= last["resumed_from_step"] < steps
    assert not list(states.glob("*")), "states are dropped once the records are stored"


@pytest.mark.slow  # 1 minute
def test_a_killed_aggregator_restarts_from_storage_and_nothing_is_lost(tmp_path, cache_dir):
    _, sweep, proc = _start_sweep(tmp_path, cache_dir, count=8, steps=60)
    try:
        _wait_for(lambda: len(stored_runs(sweep)) >= 2, proc)
        for pid in _processes(proc, "ray::Aggregator"):
            os.kill(pid, signal.SIGKILL)
        out = finish(proc)
    finally:
        kill_session(proc)
    assert _lost(sweep, 8) == 0
    assert "8 runs stored (0 failed)" in out  # none counted twice after the rebuild
    assert len(pd.read_csv(sweep / "metrics.csv")) == 8


@pytest.mark.slow  # 36 s; a failed run inside a group: tests/unit/test_group.py
def test_a_diverging_proxy_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path, cache_dir):
    # the largest learning rate and weight decay the config allows: AdamW's decay then
    # multiplies every weight by -999 a step, and the loss is NaN by the first evaluation
    config = write_config(tmp_path, cache_dir,
                          training={"lr": 10, "weight_decay": 100, "warmup_steps": 0},
                          mixtures={"count": 3, "repeats": 0})
    sweep = tmp_path / "sweep"
    out = finish(raymix_cli("sweep", str(config), "--no-propose"))
    assert "3 runs stored (3 failed)" in out
    record = json.loads((sweep / "results" / "run-0000.json").read_text())
    assert record["status"] == "failed" and "nan" in record["reason"]
    assert len(pd.read_csv(sweep / "mixtures.csv")) == 0  # failed runs are no fit's data
    assert _lost(sweep, 3) == 0


@pytest.mark.slow  # 1 minute
def test_storage_that_refuses_results_stops_the_sweep_and_keeps_what_was_stored(
        tmp_path, cache_dir):
    config, sweep, proc = _start_sweep(tmp_path, cache_dir, count=8, steps=60)
    try:
        _wait_for(lambda: len(stored_runs(sweep)) >= 2, proc)
        # every result still to come now fails to be written (even for root: a record's
        # final name is taken by a non-empty folder)
        plan = pd.read_csv(sweep / "plan.csv")["run"]
        blocked = [sweep / "results" / f"{run}.json" for run in plan
                   if not (sweep / "results" / f"{run}.json").exists()]
        for path in blocked:
            (path / "x").mkdir(parents=True)
        out, _ = proc.communicate(timeout=300)
    finally:
        kill_session(proc)
    assert proc.returncode == 2, out[-3000:]
    assert "raymix: error: compute.storage:" in out and "refused a result" in out
    kept = stored_runs(sweep)
    assert 2 <= len(kept) < 8
    for run in kept:  # what was stored before stays whole and readable
        assert json.loads((sweep / "results" / f"{run}.json").read_text())["status"] == "ok"
    for path in blocked:  # the storage is fixed: the same command goes on
        (path / "x").rmdir()
        path.rmdir()
    out = finish(raymix_cli("sweep", str(config), "--no-propose"))
    assert f"{len(kept)} already stored" in out
    assert _lost(sweep, 8) == 0
