"""End to end: a real tiny sweep logs to MLflow (SQLite), W&B (offline) and TensorBoard,
one tracker run per proxy run; a tracking server that cannot be reached is one warning
line, and the sweep stores every run as before."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from conftest import WINDOW, finish, raymix_cli, stored_runs, task_target, write_config

# W&B never reaches the network, never asks for a login
WANDB_ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true",
             "WANDB_CONSOLE": "off"}


def test_every_proxy_run_is_one_tracker_run(tmp_path, cache_dir):
    from mlflow.tracking import MlflowClient

    # 5 runs in stacked groups of up to 3: each run's own mixture must reach the trackers;
    # the target is downstream tasks, whose bits per byte reach them too
    config = write_config(tmp_path, cache_dir, mixtures={"count": 4, "repeats": 1},
                          compute={"models_per_trial": 3},
                          target=task_target(tmp_path, cache_dir), model=WINDOW,
                          tracking={"mlflow": {"tracking_uri": "sqlite:///mlflow.db"},
                                    "wandb": {"project": "raymix-test", "dir": "wandb-files"},
                                    "tensorboard": True})
    env = dict(os.environ, HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"),
               **WANDB_ENV)
    out = finish(raymix_cli("sweep", str(config), env=env))
    sweep = tmp_path / "sweep"
    assert "[sweep] tracking:" not in out and "Traceback" not in out, out

    records = {r: json.loads((sweep / "results" / f"{r}.json").read_text())
               for r in stored_runs(sweep)}
    assert len(records) == 5
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")  # relative to the YAML's folder
    experiment = client.get_experiment_by_name("tiny")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {*records, "tiny-sweep"}
    for run_id, record in records.items():
        logged = runs[run_id]
        assert logged.data.tags["raymix.run_id"] == run_id
        for domain in ("code", "licences", "readmes"):
            assert float(logged.data.params[f"mixture.{domain}"]) == \
                record["mixture"].get(domain, 0.0)
        assert int(logged.data.params["seed"]) == record["seed"]
        assert int(logged.data.params["group_size"]) == record.get("group_size", 1)
        history = client.get_metric_history(logged.info.run_id, "target_loss")
        assert [(m.step, m.value) for m in history] == [
            (e["tokens"], e["target_loss"]) for e in record["evaluations"]]
        assert len(client.get_metric_history(logged.info.run_id, "loss/code")) == 3
        cloze = client.get_metric_history(logged.info.run_id, "loss/task:cloze")
        assert [m.value for m in cloze] == [e["losses"]["task:cloze"]
                                            for e in record["evaluations"]]
    assert max(int(r.data.params["group_size"]) for r in runs.values()
               if r.info.run_name != "tiny-sweep") > 1
    sweep_run = runs["tiny-sweep"]
    proposal = json.loads((sweep / "proposal.json").read_text())
    assert sweep_run.data.metrics["fit/cv_spearman"] == proposal["regressor"]["cv_spearman"]
    assert {a.path for a in client.list_artifacts(sweep_run.info.run_id)} >= {"proposal.json",
                                                                              "report"}

    offline = sorted((tmp_path / "wandb-files" / "wandb").glob("offline-run-*"))
    assert len(offline) == 5 + 1 and all(list(f.glob("*.wandb")) for f in offline)

    events = sweep / "tensorboard"
    assert {p.name for p in events.iterdir()} == {*records, "sweep"}
    assert all(list((events / r).glob("events.out.tfevents.*")) for r in records)
    ledger = json.loads((sweep / "tracking.json").read_text())
    assert len(ledger) == 3 and all(sorted(v["runs"]) == sorted(records)
                                    for v in ledger.values())

    # a resumed sweep logs no run twice: tests/unit/test_tracking.py (the same ledger)


@pytest.mark.slow  # 35 s
def test_an_unreachable_tracking_server_is_one_warning_and_the_sweep_goes_on(tmp_path,
                                                                              cache_dir):
    config = write_config(tmp_path, cache_dir, mixtures={"count": 3, "repeats": 0})
    out = finish(raymix_cli("sweep", str(config), "--no-propose", "--mlflow",
                            "http://127.0.0.1:9", env=dict(os.environ, **WANDB_ENV)))
    warnings = [line for line in out.splitlines() if "tracking:" in line]
    assert len(warnings) == 1, out
    assert warnings[0].startswith("[sweep] tracking: mlflow at http://127.0.0.1:9 unreachable (")
    assert warnings[0].endswith("; the sweep goes on without it")
    assert "Traceback" not in out
    sweep = tmp_path / "sweep"
    assert stored_runs(sweep) == sorted(pd.read_csv(sweep / "plan.csv")["run"])
    assert not (sweep / "tracking.json").exists()
