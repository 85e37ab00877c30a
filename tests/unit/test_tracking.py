"""The ``tracking:`` section, ``raymix sweep``'s tracking flags, and what a tracker holds
of stored runs (MLflow in SQLite, TensorBoard's event files; no Ray cluster)."""

from __future__ import annotations

import argparse
import copy
import json
import sys

import pytest
from conftest import TINY

from raymix.cli.arguments import with_tracking_flags
from raymix.cli.commands import build_parser
from raymix.config import SweepConfig, parse_config
from raymix.errors import ConfigError, UserError
from raymix.runs import Evaluation, ResultStore, RunRecord


def tiny(**tracking) -> dict:
    raw = copy.deepcopy(TINY)
    if tracking:
        raw["tracking"] = tracking
    return raw


def test_tracking_is_off_by_default():
    cfg = parse_config(tiny())
    assert not cfg.tracking.enabled
    assert cfg.tracking.mlflow is None and cfg.tracking.wandb is None
    assert not cfg.tracking.tensorboard


def test_tracking_section_parses():
    cfg = parse_config(tiny(mlflow={"tracking_uri": "sqlite:///runs/mlflow.db"},
                            wandb={"project": "mix", "mode": "offline", "dir": "wb"},
                            tensorboard=True))
    t = cfg.tracking
    assert t.enabled and t.tensorboard
    assert (t.mlflow.tracking_uri, t.mlflow.experiment) == ("sqlite:///runs/mlflow.db", None)
    assert (t.wandb.project, t.wandb.mode, t.wandb.dir, t.wandb.entity) == ("mix", "offline",
                                                                              "wb", None)
    assert cfg.to_dict()["tracking"]["wandb"]["project"] == "mix"  # stored in config.yaml


@pytest.mark.parametrize("tracking, field, words", [
    ({"mlflow": {"tracking_uri": "./mlruns"}}, "tracking.mlflow.tracking_uri", "file store"),
    ({"mlflow": {"tracking_uri": "file:///tmp/mlruns"}}, "tracking.mlflow.tracking_uri",
     "sqlite:///"),
    ({"mlflow": {"tracking_uri": " "}}, "tracking.mlflow.tracking_uri", "URI"),
    ({"mlflow": {"tracking_uri": "http://h:5000", "experiment": ""}},
     "tracking.mlflow.experiment", "name"),
    ({"mlflow": {"experiment": "x"}}, "tracking.mlflow.tracking_uri", "missing"),
    ({"mlflow": {"tracking_uri": "http://h:5000", "port": 1}}, "tracking.mlflow.port",
     "unknown key"),
    ({"wandb": {"project": "p", "mode": "sometimes"}}, "tracking.wandb.mode", "offline"),
    ({"wandb": {"project": ""}}, "tracking.wandb.project", "project"),
    ({"tensorboard": "yes"}, "tracking.tensorboard", "true or false"),
    ({"comet": {}}, "tracking.comet", "unknown key"),
])
def test_tracking_mistakes_name_their_field(tracking, field, words):
    with pytest.raises(ConfigError) as caught:
        parse_config(tiny(**tracking))
    assert caught.value.field == field and words in caught.value.problem


def test_a_tracker_that_is_not_installed_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` sees without it
    with pytest.raises(ConfigError) as caught:
        parse_config(tiny(mlflow={"tracking_uri": "http://h:5000"}))
    assert caught.value.field == "tracking.mlflow"
    assert "pip install 'raymix[tracking]'" in caught.value.problem
    parse_config(tiny())  # tracking off: no tracker needed


def sweep_args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["sweep", "c.yaml", *flags])


def test_flags_set_the_tracking_fields():
    cfg = parse_config(tiny(mlflow={"tracking_uri": "http://h:5000", "experiment": "e"}))
    changed = with_tracking_flags(cfg, sweep_args("--mlflow", "sqlite:///m.db", "--wandb", "p",
                                                  "--wandb-mode", "offline", "--tensorboard"))
    t = changed.tracking
    assert (t.mlflow.tracking_uri, t.mlflow.experiment) == ("sqlite:///m.db", "e")
    assert (t.wandb.project, t.wandb.mode) == ("p", "offline") and t.tensorboard
    assert with_tracking_flags(cfg, sweep_args()).tracking == cfg.tracking  # no flag: as is


@pytest.mark.parametrize("flags, field", [
    (("--mlflow", "mlruns"), "mlflow"),
    (("--mlflow-experiment", "e"), "mlflow_experiment"),
    (("--wandb-mode", "offline"), "wandb_mode"),
])
def test_flag_mistakes_name_the_flag(flags, field):
    with pytest.raises(UserError) as caught:
        with_tracking_flags(parse_config(tiny()), sweep_args(*flags))
    assert caught.value.field == field


def stored_sweep(tmp_path, **tracking) -> SweepConfig:
    raw = tiny(**tracking)
    raw["compute"]["storage"] = str(tmp_path / "sweep")
    cfg = parse_config(raw, base_dir=tmp_path)
    store = ResultStore(cfg.storage_path)
    for i in range(3):
        store.write(RunRecord(
            run_id=f"run-000{i}", mixture={"code": 0.25 * (i + 1), "readmes": 1 - 0.25 * (i + 1)},
            seed=i, group_size=3, target_name="python_reference",
            evaluations=[Evaluation(step=s, tokens=s * 512, train_loss=4.0,
                                    losses={"code": 3.0 + i, "python_reference": 3.5 - s / 100},
                                    target_loss=3.5 - s / 100) for s in (10, 20, 30)]))
    return cfg


def test_stored_runs_become_one_tracker_run_each_and_never_twice(tmp_path):
    from mlflow.tracking import MlflowClient

    from raymix.tracking import log_sweep, open_tracker

    cfg = stored_sweep(tmp_path, mlflow={"tracking_uri": "sqlite:///ml/mlflow.db"},
                       tensorboard=True)
    tracker = open_tracker(cfg)
    # a trial of a group of two, then a resumed session that sees one of them again
    assert tracker.log_runs(["run-0000", "run-0001", "run-0009"]) == 2 * 2
    assert open_tracker(cfg).log_runs(["run-0001"]) == 0
    proposal = cfg.storage_path / "proposal.json"
    proposal.write_text(json.dumps({
        "mixture": {"code": 0.6, "licences": 0.1, "readmes": 0.3}, "n_runs": 3,
        "regressor": {"name": "ensemble(gp+ridge)", "cv_spearman": 0.9, "cv_mae": 0.1},
        "regressors": {"ensemble(gp+ridge)": {"cv_spearman": 0.9}}}))
    (cfg.storage_path / "report").mkdir()
    (cfg.storage_path / "report" / "report.md").write_text("# report\n")
    log_sweep(cfg, proposal, cfg.storage_path / "report")  # logs run-0002, then the sweep
    log_sweep(cfg, proposal, cfg.storage_path / "report")  # the same sweep run again

    client = MlflowClient(f"sqlite:///{tmp_path}/ml/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["run-0000", "run-0001", "run-0002", "tiny-sweep"]
    run = runs["run-0001"]
    assert run.data.params["mixture.code"] == "0.5" and run.data.params["mixture.licences"] == "0.0"
    assert (run.data.params["seed"], run.data.params["group_size"]) == ("1", "3")
    history = client.get_metric_history(run.info.run_id, "target_loss")
    assert [(m.step, round(m.value, 3)) for m in history] == [(5120, 3.4), (10240, 3.3),
                                                              (15360, 3.2)]
    assert len(client.get_metric_history(run.info.run_id, "loss/code")) == 3
    sweep = runs["tiny-sweep"]
    assert sweep.data.metrics["fit/cv_spearman"] == 0.9
    assert "fit/ensemble_top2/cv_spearman" in sweep.data.metrics
    assert {a.path for a in client.list_artifacts(sweep.info.run_id)} == {"proposal.json",
                                                                          "report"}
    # the artifacts sit beside the database, not in the working directory
    assert list((tmp_path / "ml" / "mlartifacts").rglob("proposal.json"))
    events = cfg.storage_path / "tensorboard"
    assert sorted(p.name for p in events.iterdir()) == ["run-0000", "run-0001", "run-0002",
                                                        "sweep"]
    assert list((events / "run-0002").glob("events.out.tfevents.*"))



# ----------------------------------------------------------------------------- the registry


def test_the_config_and_the_registry_name_the_same_trackers():
    import dataclasses

    from raymix.config import TrackingConfig
    from raymix.config.schema import TRACKER_CLIENTS
    from raymix.tracking import TRACKERS

    sections = [f.name for f in dataclasses.fields(TrackingConfig)]
    assert list(TRACKERS) == list(TRACKER_CLIENTS) == sections


def test_a_tracker_added_to_the_registry_gets_every_run_and_the_sweep(tmp_path, monkeypatch):
    from raymix.tracking import TRACKERS, Opening, Tracker, log_sweep, open_tracker

    class Notebook(Tracker):
        """A tracker that keeps what it is given in memory: what a new tracker's module
        holds, in a few lines."""

        view = "a notebook in memory"
        made: list[Notebook] = []

        def __init__(self, where: str):
            super().__init__(where, "notebook")
            self.rows, self.finished, self.sweeps = {}, {}, []
            Notebook.made.append(self)

        def _start(self, run_id, known):
            self.rows[run_id] = []
            return run_id, run_id, set()

        def _log(self, handle, rows):
            self.rows[handle] += rows

        def _finish(self, handle, run):
            self.finished[handle] = run.params

        def _close(self, handle):
            pass

        def log_sweep(self, summary, known):
            self.sweeps.append(summary)
            return "notebook-sweep"

    monkeypatch.setitem(TRACKERS, "notebook", lambda cfg: Opening("notebook", None, Notebook))
    cfg = stored_sweep(tmp_path, tensorboard=True)
    tracker = open_tracker(cfg)
    assert [t.where for t in tracker.trackers][-1] == "notebook"
    assert tracker.log_runs(["run-0000", "run-0001"]) == 2 * 2  # TensorBoard and the notebook
    proposal = cfg.storage_path / "proposal.json"
    proposal.write_text(json.dumps({"mixture": {"code": 0.6, "readmes": 0.4}, "n_runs": 3,
                                    "regressor": {"name": "gp", "cv_spearman": 0.9}}))
    log_sweep(cfg, proposal)  # run-0002, then the sweep run

    notebook = Notebook.made[-1]
    assert sorted(notebook.finished) == ["run-0002"]  # a new session: the others are held
    assert [tokens for tokens, _ in notebook.rows["run-0002"]] == [5120, 10240, 15360]
    assert notebook.finished["run-0002"]["mixture.code"] == 0.75
    assert notebook.sweeps[0].metrics["fit/cv_spearman"] == 0.9
    ledger = json.loads((cfg.storage_path / "tracking.json").read_text())["notebook"]
    assert sorted(ledger["runs"]) == ["run-0000", "run-0001", "run-0002"]
    assert ledger["sweep_run"] == "notebook-sweep"

# ----------------------------------------------------------------------------- credentials


@pytest.fixture
def basic_auth_server():
    """A real HTTP server on localhost that answers 200 to user:pass in Basic auth and
    401 to anyone else; yields its port and the Authorization headers it received."""
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str | None] = []
    expected = "Basic " + base64.b64encode(b"user:s3cret pass").decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200 if seen[-1] == expected else 401)
            self.end_headers()

        def log_message(self, *args):  # not the test's output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen, expected
    finally:
        server.shutdown()
        server.server_close()


def test_a_live_server_with_credentials_in_its_uri_is_reachable_and_gets_them(basic_auth_server):
    from raymix.tracking import unreachable

    port, seen, expected = basic_auth_server
    assert unreachable(f"http://user:s3cret%20pass@127.0.0.1:{port}/") is None
    assert seen == [expected]  # sent as Basic authentication, not as part of the address


def test_an_unreachable_server_with_credentials_is_one_warning_without_the_password(
        tmp_path, capsys):
    import socket

    from raymix import tracking

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://user:hunter2@127.0.0.1:{port}"
    cfg = stored_sweep(tmp_path, mlflow={"tracking_uri": uri})
    assert tracking.open_tracker(cfg) is None  # unreachable: the sweep goes on without it
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert f"http://user:***@127.0.0.1:{port}" in err and "unreachable" in err
    assert "MLFLOW_TRACKING_USERNAME" in err  # how to keep the password out of the config


def test_the_stored_config_masks_the_secret_of_every_uri(tmp_path):
    import yaml

    from raymix.sweep.experiment import stored_config

    cfg = stored_sweep(tmp_path, mlflow={"tracking_uri": "http://user:hunter2@host:5000"})
    cfg.compute.address = "ray://admin:hunter2@head:10001"
    cfg.overrides = ["tracking.mlflow.tracking_uri=https://tok3n-hunter2@host/x"]
    text = stored_config(cfg)
    assert "hunter2" not in text
    stored = yaml.safe_load(text)
    assert stored["tracking"]["mlflow"]["tracking_uri"] == "http://user:***@host:5000"
    assert stored["compute"]["address"] == "ray://admin:***@head:10001"
    assert stored["overrides"] == ["tracking.mlflow.tracking_uri=https://***@host/x"]
    assert stored["model"] == cfg.to_dict()["model"]  # everything else as it was


def test_a_client_error_that_repeats_the_uri_is_shown_masked():
    from raymix.tracking.failures import reason

    # requests' errors repeat the URL they were given, credentials and all
    error = ConnectionError("HTTPConnectionPool: Max retries exceeded with url: "
                            "http://user:hunter2@10.0.0.1:5000/api/2.0/mlflow/experiments")
    assert "hunter2" not in reason(error) and "user:***@10.0.0.1" in reason(error)
