"""The confirmation round of a real sweep: resumed after the driver dies, refused when changed."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import finish, kill_session, raymix_cli, stored_runs, write_config

from raymix.runs import ResultStore, SweepLayout

CONFIRM = {"rounds": 1, "candidates": 2, "observed": 1, "seeds": 2}


@pytest.mark.slow  # about 2 minutes: a sweep, a killed confirmation round and its resume
def test_a_killed_confirmation_round_resumes_and_a_changed_one_is_refused(tmp_path, cache_dir):
    config = write_config(tmp_path, cache_dir, confirm=CONFIRM)
    sweep = tmp_path / "sweep"
    layout = SweepLayout(sweep)
    proc = raymix_cli("sweep", str(config))
    try:
        deadline = time.monotonic() + 400
        while not any(r.startswith("confirm1-") for r in stored_runs(sweep)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
    finally:
        kill_session(proc)  # the driver, its cluster and the aggregator, mid-round
    chosen = layout.confirmation.read_text()
    before = {r for r in stored_runs(sweep) if r.startswith("confirm1-")}
    assert 1 <= len(before) < 6 and not layout.proposal.exists()

    out = finish(raymix_cli("sweep", str(config)))
    assert layout.confirmation.read_text() == chosen  # the same candidates, fixed before
    assert f"6 runs planned, {len(before)} already stored, {6 - len(before)} to train" in out
    assert "[sweep] 10 runs stored (0 failed)" in out  # the sweep's own, the round's apart
    plan = pd.read_csv(layout.plan)
    confirming = plan[plan["run"].str.startswith("confirm1-")]
    assert len(confirming) == 6 and set(confirming["scale"]) == {"base"}
    records = ResultStore(sweep).load_all()
    assert set(confirming["run"]) <= set(records)  # each stored once: one file per run id
    # at the proxy scale, the round's runs join the sweep's tables (and the next fit)
    assert len(pd.read_csv(layout.mixtures)) == 10 + 6
    proposal = json.loads(layout.proposal.read_text())
    verdict = proposal["confirmation"]
    assert proposal["mixture"] == pytest.approx(verdict["mixture"])
    assert verdict["order"][0] == verdict["winner"] and len(verdict["order"]) == 3
    winner = verdict["candidates"][verdict["winner"]]
    assert all(winner["measured"] <= c["measured"] for c in verdict["candidates"].values())

    # other confirmation settings: refused in one line before anything is written
    changed = write_config(tmp_path, cache_dir, confirm={**CONFIRM, "seeds": 3})
    stamps = {p.name: p.stat().st_mtime_ns for p in sweep.iterdir() if p.is_file()}
    refused = subprocess.run([sys.executable, "-m", "raymix", "sweep", str(changed)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "confirm.seeds" in refused.stderr and "confirm.json" in refused.stderr
    assert {p.name: p.stat().st_mtime_ns for p in sweep.iterdir() if p.is_file()} == stamps
