"""End to end on real local Ray clusters: the CLI sweep, resume after SIGKILL, the aggregator.

The sweeps here train real tiny Llamas on the built-in corpus (real text), with a small
text budget so that each test takes well under a minute on 2 cores.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time

import pandas as pd
import pytest
import ray
from conftest import (
    finish,
    raymix_cli,
    write_config,
)

import raymix
from raymix.runs import Evaluation, ResultStore, RunRecord, SweepLayout
from raymix.sweep.aggregator import DUPLICATE, STORED, AddOutcome, StoreSummary, get_aggregator


def test_cli_sweep_end_to_end(tmp_path, cache_dir):
    # the confirmation round trains 2 candidates again with 2 seeds, longer than the proxies
    config = write_config(tmp_path, cache_dir, confirm={"rounds": 1, "candidates": 1,
                                                        "observed": 1, "seeds": 2, "steps": 36})
    out = finish(raymix_cli("sweep", str(config)))
    sweep = tmp_path / "sweep"

    mixtures = pd.read_csv(sweep / "mixtures.csv")
    metrics = pd.read_csv(sweep / "metrics.csv")
    assert list(mixtures.columns) == ["run", "code", "licences", "readmes"]
    assert len(mixtures) == 10 and mixtures["run"].is_unique
    # two mixtures were trained again with another seed, to measure run-to-run noise
    repeat = mixtures.set_index("run").loc[["run-0001", "run-0001-s1"]]
    assert repeat.iloc[0].equals(repeat.iloc[1])
    assert mixtures[["code", "licences", "readmes"]].sum(axis=1).round(6).eq(1).all()
    assert set(metrics.columns) == {"run", "code_loss", "licences_loss", "readmes_loss",
                                    "python_reference_loss"}
    assert metrics["run"].tolist() == mixtures["run"].tolist()
    runs = pd.read_parquet(sweep / "runs.parquet")
    assert len(runs) == 10 * 3 and set(runs["step"]) == {10, 20, 30}
    assert json.loads((sweep / "results" / "run-0001-s1.json").read_text())["seed"] == 1

    record = json.loads((sweep / "results" / "run-0000.json").read_text())
    for key in ("run_id", "mixture", "evaluations", "tokens_seen", "params", "train_seconds",
                "wall_seconds", "seed", "raymix_version"):
        assert key in record
    assert record["tokens_seen"] == 30 * 8 * 64
    # how it trained: TINY's micro-batches of 4 of 8, their logits one chunk (so the plain
    # loss), not compiled (a CPU)
    assert (record["micro_batch_size"], record["loss"], record["compiled"]) == (4, "plain",
                                                                                 False)
    assert record["tokens_per_second"] > 0 and 0 <= record["data_wait_fraction"] < 1
    assert re.search(r"\[sweep\] proxies trained at a median [\d,]+ tokens/s each, waiting for "
                     r"batches [\d.]+% of the time; micro-batches of 4 sequences; not compiled",
                     out)

    proposal = json.loads((sweep / "proposal.json").read_text())
    assert abs(sum(proposal["mixture"].values()) - 1) < 1e-6
    assert set(proposal["baselines"]) >= {"uniform", "token_proportional"}
    assert "cv_spearman" in proposal["regressor"] and "cv_mae" in proposal["regressor"]
    assert proposal["noise_floor"]["mixtures"] == 2 and proposal["noise_floor"]["std"] > 0
    assert (sweep / "report" / "report.md").is_file()
    assert "10/10 done" in out and "predicted" in out
    # what raymix shows replaces Tune's banner and its hint to run TensorBoard on Ray's
    # session folder; Tune's result files stay, its TensorBoard files are not written; the
    # private local cluster has no dashboard to show
    for tunes in ("To visualize your results with TensorBoard", "Configuration for experiment",
                  "View detailed results here", "Wrote the latest version", "Ray dashboard"):
        assert tunes not in out
    tune_dir = SweepLayout(sweep).tune
    assert list(tune_dir.glob("*-plan/*/result.json"))
    assert list(tune_dir.glob("*-plan/*/progress.csv"))
    assert not list(tune_dir.glob("**/events.out.tfevents.*"))

    # the confirmation round: its runs are in the plan, of their own scale, kept out of the
    # tables; the proposal is its measured best, said with the seed noise
    plan = pd.read_csv(sweep / "plan.csv")
    confirming = plan[plan["run"].str.startswith("confirm1-")]
    assert len(plan) == 14 and len(confirming) == 4 and set(confirming["scale"]) == {"confirm"}
    assert set(confirming["seed"]) == {1000, 1001}
    verdict = proposal["confirmation"]
    assert len(verdict["candidates"]) == 2 and verdict["winner"] in verdict["candidates"]
    assert proposal["mixture"] == pytest.approx(verdict["mixture"])
    assert {c["source"] for c in verdict["candidates"].values()} == {"fit", "observed"}
    assert all(len(c["measured_losses"]) == 2 for c in verdict["candidates"].values())
    assert verdict["noise_std"] > 0 and verdict["margin_beyond_noise"] in (True, False)
    assert verdict["scale"]["steps"] == 36
    record = json.loads((sweep / "results" / f"{confirming['run'].iloc[0]}.json").read_text())
    assert record["scale"] == "confirm" and record["tokens_seen"] == 36 * 8 * 64
    assert "[confirm] round 1/1: 2 candidates" in out and "[confirm] measured best" in out
    report = (sweep / "report" / "report.md").read_text()
    assert "## Confirmation round" in report and f"(`{verdict['winner']}`)**, proposed" in report

    # the same command again trains nothing and changes no table
    again = finish(raymix_cli("sweep", str(config), "--no-propose"))
    assert "0 to train" in again
    assert pd.read_csv(sweep / "mixtures.csv").equals(mixtures)

    # the Python API reads the same sweep directory
    cfg = raymix.load_config(config)
    fitted = raymix.fit(cfg)
    assert {r.name for r in fitted.results} >= set(cfg.fit.regressors)
    assert proposal["regressor"]["name"] == fitted.chosen.name

    # other proxy settings must not be mixed into the same sweep directory
    changed = write_config(tmp_path, cache_dir, training={"steps": 31})
    refused = subprocess.run([sys.executable, "-m", "raymix", "sweep", str(changed)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "training.steps" in refused.stderr
    changed = write_config(tmp_path, cache_dir, mixtures={"count": 9})  # a different plan
    refused = subprocess.run([sys.executable, "-m", "raymix", "sweep", str(changed)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "mixtures.count" in refused.stderr
    assert pd.read_csv(sweep / "mixtures.csv").equals(mixtures)


@pytest.mark.slow
def test_multiscale_sweep_proposes_at_a_target_scale_and_validates_there(tmp_path, cache_dir):
    settings = dict(
        training={"steps": 40, "warmup_steps": 4, "min_lr_ratio": 1.0, "eval_every": 10},
        mixtures={"count": 6, "repeats": 0},
        scales=[{"name": "s", "hidden": 16, "intermediate": 32},
                {"name": "l", "hidden": 48, "intermediate": 96, "mixtures": 5}],
        fit={"regressors": ["ridge", "mixing_law"], "cv_folds": 3, "share_exponents": True,
             "at": {"params": 40000, "tokens": 40000}},
        validate={"hidden": 64, "intermediate": 128, "steps": 50, "seeds": 2,
                  "mixtures": {"mine": {"code": 2, "licences": 1, "readmes": 1}}})
    config = write_config(tmp_path, cache_dir, **settings)
    sweep = tmp_path / "sweep"
    out = finish(raymix_cli("sweep", str(config)))
    assert "17/17 done" in out, out
    # the law and its checkpoints are left auto: a backtest on the runs chooses them
    assert "backtest of the settings" in out or "no backtest" in out, out
    assert "nested scaling laws" in out or "joint scaling law" in out, out

    # the long table holds every size; the wide pair only the base size
    runs = pd.read_csv(sweep / "runs.csv")
    assert runs.groupby("scale")["run"].nunique().to_dict() == {"base": 6, "s": 6, "l": 5}
    assert runs.groupby("scale")["params"].nunique().eq(1).all()
    assert runs["params"].nunique() == 3 and set(runs["step"]) == {10, 20, 30, 40}
    assert len(pd.read_csv(sweep / "mixtures.csv")) == 6
    # a scale's run trains the same mixture as the base run it names
    weights = runs.drop_duplicates("run").set_index("run")[["code", "licences", "readmes"]]
    assert weights.loc["l-run-0002"].equals(weights.loc["run-0002"])

    proposal = json.loads((sweep / "proposal.json").read_text())
    assert proposal["scaling"]["target_scale"]["params"] == 40000
    assert proposal["scaling"]["target_scale"]["tokens"] == 40000
    assert "extrapolated_target_loss" in proposal["baselines"]["best_observed"]
    assert (sweep / "report" / "step_laws.png").is_file()
    assert (sweep / "report" / "size_laws.png").is_file()

    # the exported long table is what `fit --runs` reads
    done = subprocess.run(
        [sys.executable, "-m", "raymix", "fit", "--runs", str(sweep / "runs.csv"),
         "--target", "python_reference_loss", "--at", "params=40000,tokens=40000",
         "--domains", "code,licences,readmes", "--regressor", "ridge", "--folds", "3"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # the backtest chooses the law: the nested laws predict the 5 mixtures trained at every
    # size, the joint law all 6
    assert "backtest of the settings" in done.stdout or "no backtest" in done.stdout
    assert ("nested scaling laws: 5 of 6 mixtures predicted" in done.stdout
            or "joint scaling law: 6 of 6 mixtures predicted" in done.stdout), done.stdout

    # the check at scale: 6 mixtures x 2 seeds at the validate model, compared with predictions
    out = finish(raymix_cli("validate", str(config)))
    result = json.loads((sweep / "validate" / "validate.json").read_text())
    assert set(result["mixtures"]) == {"proposal", "uniform", "token_proportional",
                                       "best_observed", "proxy_scale_proposal", "mine"}
    assert all(len(m["measured_losses"]) == 2 for m in result["mixtures"].values())
    assert result["mixtures"]["mine"]["mixture"] == {"code": 0.5, "licences": 0.25, "readmes": 0.25}
    assert result["scale"]["params"] > 3 * result["proxy_scale"]["params"]
    assert result["scale"]["tokens"] == 50 * 8 * 64
    assert ("nested step and size laws" in result["predicted_at"]
            or "joint scaling law" in result["predicted_at"])
    assert set(result["ranking"]) == {"predicted", "measured", "held", "spearman"}
    assert "Ranking held" in out and (sweep / "validate" / "validate.md").is_file()
    assert (sweep / "validate" / "validate.png").is_file()
    # again: the same check resumes, nothing trains twice
    again = finish(raymix_cli("validate", str(config)))
    assert "resuming" in again and "0 to train" in again
    # another validation scale is another experiment: refused, naming the folder's field
    bigger = write_config(tmp_path, cache_dir, **{**settings, "validate": {
        **settings["validate"], "hidden": 96, "intermediate": 192}})
    refused = subprocess.run([sys.executable, "-m", "raymix", "validate", str(bigger)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert "model.hidden" in refused.stderr and "validate.storage" in refused.stderr


@pytest.mark.slow
def test_continual_pretraining_sweep_finds_the_critical_share(tmp_path, cache_dir):
    # 1. pretrain a base model on one mixture and keep its checkpoint
    (tmp_path / "base").mkdir()
    base = write_config(tmp_path / "base", cache_dir, mixtures={"count": 1, "repeats": 0},
                        training={"save_checkpoint": True})
    finish(raymix_cli("sweep", str(base), "--no-propose"))
    checkpoint = tmp_path / "base" / "sweep" / "checkpoints" / "run-0000"
    assert (checkpoint / "config.json").is_file()
    # 2. continue it on mixtures with more or less code; the target is the original data
    (tmp_path / "cpt").mkdir()
    cpt = write_config(tmp_path / "cpt", cache_dir, mixtures={"count": 6, "repeats": 0},
                       training={"init_from": str(checkpoint), "steps": 20, "eval_every": 5},
                       target={"name": "original", "source": None,
                               "domains": {"licences": 1.0, "readmes": 1.0}})
    finish(raymix_cli("sweep", str(cpt), "--no-propose"))
    record = json.loads((tmp_path / "cpt" / "sweep" / "results" / "run-0000.json").read_text())
    assert record["initial_target_loss"] > 0
    done = subprocess.run([sys.executable, "-m", "raymix", "propose", str(cpt),
                           "--critical", "code"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "cpt" / "sweep" / "critical.json").read_text())
    assert result["domain"] == "code" and 0 <= result["proportion"] <= 1
    assert result["baseline"] == pytest.approx(record["initial_target_loss"], abs=1e-4)
    assert "critical proportion of 'code'" in done.stdout


@pytest.mark.slow  # 40 s
def test_mixmin_sweep_trains_one_proxy_per_domain_and_mixes_them(tmp_path, cache_dir):
    """MixMin end to end: 3 proxies (one per domain), then the convex mixture of them."""
    config = write_config(tmp_path, cache_dir, mixtures={"draw": "per_domain", "repeats": 0},
                          search={"max_weight": {"readmes": 0.2}})
    out = finish(raymix_cli("sweep", str(config)))
    assert "MixMin proposal" in out and "converged" in out
    sweep = tmp_path / "sweep"
    records = ResultStore(sweep).load_all().values()
    assert sorted(list(r.mixture.items()) for r in records) == [
        [("code", 1.0)], [("licences", 1.0)], [("readmes", 1.0)]]
    result = json.loads((sweep / "mixmin.json").read_text())
    single = result["single_domain_target_loss"]
    for record in records:  # the log-probs score exactly what evaluation measured
        (domain,) = record.mixture
        assert single[domain] == pytest.approx(record.final_target_loss, abs=1e-4)
    weights = result["weights"]
    assert sum(weights.values()) == pytest.approx(1.0) and weights["readmes"] <= 0.2 + 1e-9
    assert result["converged"]
    # a mixture of the proxies is scored at least as well as the best one alone (convexity)
    assert result["predicted_target_loss"] <= min(single.values()) + 1e-9
    # and the same proposal from the command line, into another file
    done = subprocess.run([sys.executable, "-m", "raymix", "propose", str(config), "--method",
                           "mixmin", "--output", str(tmp_path / "again.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "again.json").read_text())["weights"] == weights
    # search.kl_weight pulls MixMin's proposal towards the prior, as for a regression fit
    from raymix.config import load_config
    from raymix.workflows.proposing import propose_mixmin

    cfg = load_config(config)
    cfg.search.kl_weight = 0.5
    pulled = propose_mixmin(cfg, output=tmp_path / "pulled.json")
    prior = pulled.constraints["prior"]

    def kl(w):
        return sum(v * math.log(v / prior[d]) for d, v in w.items() if v > 0)

    assert pulled.constraints["kl_weight"] == 0.5 and pulled.converged
    assert kl(pulled.weights) < kl(weights)
    assert pulled.predicted_target_loss >= result["predicted_target_loss"] - 1e-9


@pytest.fixture
def local_ray():
    ray.init(address="local", num_cpus=1, include_dashboard=False, namespace="raymix")
    try:
        yield
    finally:
        ray.shutdown()


def _record(run_id: str, loss: float, a: float = 0.5) -> RunRecord:
    return RunRecord(run_id=run_id, status="ok", mixture={"a": a, "b": 1 - a}, seed=0,
                     params=10, non_embedding_params=5,
                     evaluations=[Evaluation(step=1, tokens=8, train_loss=loss, target_loss=loss,
                                             losses={"a": loss, "b": loss})])


def test_aggregator_stores_before_ack_drops_duplicates_and_rebuilds(local_ray, tmp_path):
    agg = get_aggregator(tmp_path, ["a", "b"], "t", "test")
    assert ray.get(agg.add.remote(_record("run-0001", 3.0))) == AddOutcome(STORED)
    assert (tmp_path / "results" / "run-0001.json").is_file()  # on disk once acknowledged
    assert ray.get(agg.add.remote(_record("run-0001", 9.9))) == AddOutcome(DUPLICATE)
    assert json.loads((tmp_path / "results" / "run-0001.json").read_text())[
        "evaluations"][0]["target_loss"] == 3.0
    ray.get(agg.add.remote(_record("run-0002", 2.0)))

    ray.kill(agg, no_restart=False)  # the actor crashes; Ray restarts it
    deadline = time.monotonic() + 60
    while True:
        try:
            summary = ray.get(agg.summary.remote(), timeout=10)
            break
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            assert time.monotonic() < deadline
            time.sleep(0.5)
    assert isinstance(summary, StoreSummary)
    assert summary.stored == 2 and summary.best_run == "run-0002"
    assert summary.ok == 2 and summary.failed == 0 and summary.best_target_loss == 2.0
    assert ray.get(agg.add.remote(_record("run-0002", 1.0))) == AddOutcome(DUPLICATE)
    paths = ray.get(agg.export.remote())
    assert pd.read_csv(paths["metrics"])["t_loss"].tolist() == [3.0, 2.0]


def test_the_live_fit_runs_beside_the_stores_and_the_aggregator_counts_its_load(local_ray,
                                                                               tmp_path):
    agg = get_aggregator(tmp_path, ["a", "b"], "t", "test")
    for i in range(400):
        a = (i * 0.618) % 1
        ray.get(agg.add.remote(_record(f"run-{i:04d}", 3 + (a - 0.3) ** 2, a)))
    fit = agg.fit_now.remote(["gp"], 5, 0)  # seconds of GP cross-validation on 400 runs
    # results are stored while it fits: the fit has its own thread
    assert ray.get(agg.add.remote(_record("run-9999", 3.0))) == AddOutcome(STORED)
    assert not ray.wait([fit], timeout=0)[0]
    assert ray.get(fit)["gp"]["cv_spearman"] > 0.9
    load = ray.get(agg.load.remote())
    assert load.stored == load.held == 401
    assert 0 < load.add_ms_median <= load.add_ms_p99 <= load.add_ms_max
    assert 0 < load.start_rss_mib <= load.peak_rss_mib
