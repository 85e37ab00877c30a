"""A sweep whose target is downstream tasks (``target.tasks``), end to end on a real local
Ray cluster: every record holds each task's and each family's bits per byte, the fit
proposes a mixture for the weighted target, and MixMin mixes per-domain proxies on the
tasks' per-item log-probabilities."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from conftest import WINDOW, finish, raymix_cli, task_target, write_config

from raymix.runs import ResultStore


@pytest.mark.slow  # 43 s; make test sweeps with a task target in test_tracking_sweep.py
def test_a_sweep_with_a_task_target_records_every_task_and_proposes(tmp_path, cache_dir):
    config = write_config(tmp_path, cache_dir, target=task_target(tmp_path, cache_dir),
                          model=WINDOW)
    out = finish(raymix_cli("sweep", str(config)))
    sweep = tmp_path / "sweep"
    metrics = pd.read_csv(sweep / "metrics.csv")
    assert {"task:cloze_loss", "task:choice_loss", "family:completion_loss",
            "family:choice_loss", "tasks_loss"} <= set(metrics.columns)
    # the target is the tasks' weighted bits per byte; a family of one task is that task
    assert metrics["tasks_loss"].to_numpy() == pytest.approx(
        (metrics["task:cloze_loss"] + 3 * metrics["task:choice_loss"]).to_numpy() / 4)
    assert metrics["family:choice_loss"].tolist() == metrics["task:choice_loss"].tolist()
    # bits per byte of English prose from a barely trained proxy: a few bits, not nats
    # per token
    assert metrics["tasks_loss"].between(1.0, 8.0).all()
    for record in ResultStore(sweep).load_all().values():
        assert all("task:cloze" in ev.losses for ev in record.evaluations)
    proposal = json.loads((sweep / "proposal.json").read_text())
    assert proposal["target"] == "tasks_loss"
    assert sum(proposal["mixture"].values()) == pytest.approx(1.0)
    assert math.isfinite(proposal["predicted_target_loss"])
    assert "tasks_loss" in out


@pytest.mark.slow  # 45 s
def test_mixmin_mixes_per_domain_proxies_on_task_items(tmp_path, cache_dir):
    config = write_config(tmp_path, cache_dir, target=task_target(tmp_path, cache_dir),
                          mixtures={"draw": "per_domain", "repeats": 0}, model=WINDOW)
    out = finish(raymix_cli("sweep", str(config)))
    assert "MixMin proposal" in out
    sweep = tmp_path / "sweep"
    result = json.loads((sweep / "mixmin.json").read_text())
    assert result["items_scored"] == 40 + 30
    single = result["single_domain_target_loss"]
    for record in ResultStore(sweep).load_all().values():
        # per-item log-probs and the items' weights give back exactly what evaluation
        # measured: the weighted bits per byte
        (domain,) = record.mixture
        assert single[domain] == pytest.approx(record.final_target_loss, abs=1e-4)
    assert result["converged"]
    assert result["predicted_target_loss"] <= min(single.values()) + 1e-9
