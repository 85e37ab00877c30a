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
    assert "goes on without it" not in out and "Traceback" not in out, out
    # where each store is and how to open it, at the sweep's start and at its end
    opening = [line for line in out.splitlines() if line.startswith("[sweep] tracking:")]
    assert len(opening) == 2 * 3 and opening[:3] == opening[3:], out
    assert f"-- open with: wandb sync {tmp_path}/wandb-files/wandb/offline-run-*" in opening[1]

    records = {r: json.loads((sweep / "results" / f"{r}.json").read_text())
               for r in stored_runs(sweep)}
    assert len(records) == 5
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")  # relative to the YAML's folder
    experiment = client.get_experiment_by_name("tiny")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {*records, "tiny-sweep"}
    parent = runs["tiny-sweep"].info.run_id  # made when the sweep started
    for run_id, record in records.items():
        logged = runs[run_id]
        assert logged.data.tags["raymix.run_id"] == run_id
        assert logged.data.tags["mlflow.parentRunId"] == parent
        # opened live by its first evaluation, before its record was stored
        assert logged.info.start_time < record["finished_at"] * 1000 < logged.info.end_time
        assert logged.info.status == "FINISHED"
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
    assert len(ledger) == 3 and all(sorted(v["runs"]) == sorted(records) and not v.get("open")
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


# ----------------------------------------------------------------------------- live logging
# RunTracker fed "eval" results as Tune hands them to it (no Ray: fast), MLflow in SQLite


class Trial:
    """What RunTracker reads of a Tune trial: its planned runs."""

    def __init__(self, *run_ids: str):
        self.config = {"runs": [{"run_id": r} for r in run_ids]}


def live_sweep(tmp_path):
    from conftest import TINY

    from raymix.config import parse_config

    raw = json.loads(json.dumps(TINY))
    raw["compute"]["storage"] = str(tmp_path / "sweep")
    raw["tracking"] = {"mlflow": {"tracking_uri": "sqlite:///mlflow.db"}, "tensorboard": True}
    return parse_config(raw, base_dir=tmp_path)


def eval_result(run_id: str, step: int) -> dict:
    """An "eval" result of the trial -> driver schema, with keys Tune adds."""
    return {"event": "eval", "run_id": run_id, "step": step, "steps": 30, "tokens": step * 512,
            "train_loss": 4.0 - step / 100, "target_loss": 3.5 - step / 100,
            "loss/code": 3.0 + step / 100, "loss/task:cloze": 1.5, "training_iteration": step,
            "time_this_iter_s": 0.1}


def store(cfg, run_id: str, ok: bool = True) -> None:
    from raymix.runs import Evaluation, ResultStore, RunRecord

    evaluations = [Evaluation(step=s, tokens=s * 512, train_loss=4.0 - s / 100,
                              losses={"code": 3.0 + s / 100, "task:cloze": 1.5},
                              target_loss=3.5 - s / 100) for s in (10, 20, 30)]
    ResultStore(cfg.storage_path).write(RunRecord(
        run_id=run_id, mixture={"code": 0.5, "readmes": 0.5}, seed=0, group_size=2,
        target_name="python_reference", evaluations=evaluations,
        **({} if ok else {"status": "failed", "reason": "diverged"})))


def mlflow_runs(tmp_path) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")  # the YAML's folder
    experiment = client.get_experiment_by_name("tiny")
    return client, {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}


def steps(client, run, metric="target_loss") -> list[int]:
    return [m.step for m in client.get_metric_history(run.info.run_id, metric)]


def test_eval_results_reach_the_tracker_while_the_runs_train(tmp_path):
    import pickle

    from raymix.tracking import open_tracker

    cfg = live_sweep(tmp_path)
    tracker = open_tracker(cfg)
    trial = Trial("run-0000", "run-0001")
    for step in (10, 20):
        for run_id in ("run-0000", "run-0001"):
            tracker.on_trial_result(0, [], trial, eval_result(run_id, step))
    tracker.on_trial_result(0, [], trial, {"event": "progress", "step": 25, "steps": 30,
                                           "models": 2, "tokens_per_s": 1e4})
    tracker.on_trial_result(0, [], trial, {"target_loss": 1.0})  # no "event": ignored
    pickle.loads(pickle.dumps(tracker))  # Tune pickles it with the experiment, runs open

    client, runs = mlflow_runs(tmp_path)
    assert set(runs) == {"run-0000", "run-0001", "tiny-sweep"}  # nothing stored yet
    parent = runs["tiny-sweep"].info.run_id
    for run_id in ("run-0000", "run-0001"):
        run = runs[run_id]
        assert run.info.status == "RUNNING" and run.data.tags["mlflow.parentRunId"] == parent
        assert steps(client, run) == [5120, 10240]
        assert steps(client, run, "train_step") == [5120, 10240]
        assert [m.value for m in client.get_metric_history(run.info.run_id, "loss/task:cloze")
                ] == [1.5, 1.5]
        assert not run.data.params  # parameters come with the record
    ledger = json.loads((cfg.storage_path / "tracking.json").read_text())
    mlflow_entry = next(v for k, v in ledger.items() if k.startswith("mlflow"))
    assert mlflow_entry["runs"] == [] and mlflow_entry["sweep_run"] == parent
    assert mlflow_entry["open"] == {r: runs[r].info.run_id for r in ("run-0000", "run-0001")}
    events = cfg.storage_path / "tensorboard"
    assert all(list((events / r).glob("events.out.tfevents.*")) for r in ("run-0000",
                                                                           "run-0001"))

    store(cfg, "run-0000")
    store(cfg, "run-0001", ok=False)
    tracker.on_trial_complete(0, [], trial)  # the records finish the runs
    client, runs = mlflow_runs(tmp_path)
    assert set(runs) == {"run-0000", "run-0001", "tiny-sweep"}
    assert runs["run-0000"].info.status == "FINISHED"
    assert runs["run-0001"].info.status == "FAILED"
    for run_id in ("run-0000", "run-0001"):
        assert steps(client, runs[run_id]) == [5120, 10240, 15360]  # each step once
        assert runs[run_id].data.params["mixture.code"] == "0.5"
    assert not tracker.trackers[0].live and not tracker.trackers[1].live  # handles closed
    ledger = json.loads((cfg.storage_path / "tracking.json").read_text())
    assert all(sorted(v["runs"]) == ["run-0000", "run-0001"] and not v.get("open")
               for v in ledger.values())
    tracker.on_experiment_end([])
    assert mlflow_runs(tmp_path)[1]["tiny-sweep"].info.status == "FINISHED"


def test_a_run_left_open_by_a_driver_that_died_is_taken_up_not_made_twice(tmp_path):
    from raymix.tracking import log_sweep, open_tracker

    cfg = live_sweep(tmp_path)
    died = open_tracker(cfg)
    for step in (10, 20):
        died.on_trial_result(0, [], Trial("run-0000"), eval_result("run-0000", step))
    died.trackers[1].live["run-0000"].close()  # its event file as the dead driver left it
    # the driver died here; the re-run's trial stored the record, and the sweep ends
    store(cfg, "run-0000")
    proposal = cfg.storage_path / "proposal.json"
    proposal.write_text(json.dumps({
        "mixture": {"code": 0.6, "licences": 0.1, "readmes": 0.3}, "n_runs": 1,
        "regressor": {"name": "ensemble(gp+ridge+loglinear)", "cv_mae": 0.1},
        "regressors": {"gp": {"cv_mae": 0.2}, "ensemble(gp+ridge)": {"cv_mae": 0.15},
                       "ensemble(gp+ridge+loglinear)": {"cv_mae": 0.1}}}))
    log_sweep(cfg, proposal)

    client, runs = mlflow_runs(tmp_path)
    assert set(runs) == {"run-0000", "tiny-sweep"}  # the same runs, not new ones
    run = runs["run-0000"]
    assert run.info.status == "FINISHED"
    assert steps(client, run) == [5120, 10240, 15360]
    assert run.data.tags["mlflow.parentRunId"] == runs["tiny-sweep"].info.run_id
    metrics = runs["tiny-sweep"].data.metrics
    assert metrics["fit/cv_mae"] == 0.1 and metrics["fit/gp/cv_mae"] == 0.2
    assert metrics["fit/ensemble_top2/cv_mae"] == 0.15
    assert metrics["fit/ensemble_top3/cv_mae"] == 0.1
    assert runs["tiny-sweep"].data.params["fit.ensemble_top3"] == "ensemble(gp+ridge+loglinear)"
    folder = cfg.storage_path / "tensorboard" / "run-0000"
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1  # replaced, not added to


def test_sweep_metric_names_are_short_stable_and_valid_for_mlflow():
    from mlflow.utils.validation import _validate_metric_name

    from raymix.tracking import regressor_name

    assert regressor_name("ensemble(loglinear+gp+mixing_law)") == "ensemble_top3"
    assert regressor_name("mixing_law") == "mixing_law"
    for name in ("ensemble(a+b)", "gp", "odd name(1)"):
        _validate_metric_name(f"fit/{regressor_name(name)}/cv_mae")
