"""``raymix fit`` and ``raymix propose`` on anyone's results: the wide CSV pair."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

DOMAINS = ["web", "code", "books", "math"]
T = np.array([-1.2, -0.4, 0.3, -0.8])  # a Data Mixing Law's interaction row


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "raymix", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """60 runs whose loss follows a known mixing law, plus a second metric."""
    folder = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.full(len(DOMAINS), 0.7), size=60)
    loss = 2.0 + 1.5 * np.exp(weights @ T) + rng.normal(0, 0.003, 60)
    ids = [f"r{i}" for i in range(60)]
    pd.DataFrame(weights, columns=DOMAINS).assign(id=ids)[["id", *DOMAINS]].to_csv(
        folder / "mix.csv", index=False)
    pd.DataFrame({"id": ids, "target_loss": loss, "other_loss": loss + weights[:, 0]}).to_csv(
        folder / "met.csv", index=False)
    candidates = rng.dirichlet(np.ones(len(DOMAINS)), size=5)
    pd.DataFrame(candidates, columns=DOMAINS).assign(name=list("abcde"))[
        ["name", *DOMAINS]].to_csv(folder / "cand.csv", index=False)
    return folder


def _pair(folder):
    return ["--mixtures", str(folder / "mix.csv"), "--metrics", str(folder / "met.csv")]


def test_fit_predict_and_report_from_csv(tables, tmp_path):
    out = tmp_path / "pred.csv"
    done = run_cli("fit", *_pair(tables), "--target", "target_loss", "--regressor", "gp",
                   "--predict", str(tables / "cand.csv"), "--output", str(out),
                   "--report", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["name", "predicted", "predicted_std"]
    assert list(predictions["name"]) == list("abcde")
    cand = pd.read_csv(tables / "cand.csv")[DOMAINS].to_numpy()
    truth = 2.0 + 1.5 * np.exp(cand @ T)
    assert np.abs(predictions["predicted"] - truth).max() < 0.05
    assert (predictions["predicted_std"] > 0).all()
    for name in ("report.md", "cv_fit.png", "residuals.png", "interaction.png"):
        assert (tmp_path / "report" / name).is_file(), name
    assert "gp" in done.stdout and "cv_spearman" in done.stdout


def test_propose_from_csv_honours_a_constraints_file(tables, tmp_path):
    constraints = tmp_path / "c.yaml"
    constraints.write_text(yaml.safe_dump({
        "method": "exact", "min_weight": {"books": 0.2}, "max_weight": {"web": 0.3},
        "fixed_weight": {"math": 0.1}}))
    out = tmp_path / "proposal.json"
    done = run_cli("propose", *_pair(tables), "--target", "target_loss=1", "--target",
                   "other_loss=1", "--regressor", "mixing_law", "--constraints",
                   str(constraints), "--output", str(out), "--report", str(tmp_path / "rep"))
    assert done.returncode == 0, done.stderr
    proposal = json.loads(out.read_text())
    w = proposal["mixture"]
    assert abs(sum(w.values()) - 1) < 1e-9
    assert w["books"] >= 0.2 - 1e-9 and w["web"] <= 0.3 + 1e-9 and abs(w["math"] - 0.1) < 1e-9
    bound = {(b["domain"], b["bound"]) for b in proposal["constraints"]["binding"]}
    assert ("web", "upper") in bound  # web lowers the loss most: it is pushed to its cap
    assert proposal["search"]["method"] == "exact"
    assert proposal["predicted_std"] > 0
    for name in ("uniform", "token_proportional", "best_observed"):
        assert "predicted_std" in proposal["baselines"][name]
    assert "0.5*target_loss + 0.5*other_loss" == proposal["target"]
    for name in ("sensitivity.png", "weights.png", "report.md"):
        assert (tmp_path / "rep" / name).is_file()


def test_fit_reads_olmix_pair_as_olmix_writes_it(tables, tmp_path, capsys):
    """Olmix's ratios.csv/metrics.csv: pandas' index, then run, name, index, then the data."""
    from raymix.cli.commands import main

    paths = {}
    for table, name in (("mix.csv", "ratios.csv"), ("met.csv", "metrics.csv")):
        frame = pd.read_csv(tables / table)
        frame.insert(0, "run", frame.pop("id"))
        frame.insert(1, "name", [f"swarm-{run}" for run in frame["run"]])
        frame.insert(2, "index", range(len(frame)))
        frame.to_csv(tmp_path / name)  # index=True, as Olmix's frames are saved
        paths[name] = str(tmp_path / name)
    argv = ["fit", "--mixtures", paths["ratios.csv"], "--metrics", paths["metrics.csv"],
            "--target", "target_loss", "--regressor", "gp"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert ("note: ratios.csv: ids from column 'run'; left out as metadata: column 1 "
            "(pandas' index), 'name', 'index'; 4 domains: web, code, books, math") in err
    assert "note: metrics.csv: ids from column 'run'" in err

    other = pd.read_csv(paths["metrics.csv"], index_col=0).assign(run=lambda f: f["name"])
    other.to_csv(paths["metrics.csv"])  # another id in 'run': the pair no longer lines up
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--metrics" in err and "no run id" in err


# ----------------------------------------------------------------------------- long table


@pytest.fixture(scope="module")
def long_table(tmp_path_factory):
    """12 mixtures x 3 sizes x 6 checkpoints from a mixing law x size law x step law."""
    folder = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(2)
    rows = []
    for i, w in enumerate(rng.dirichlet(np.ones(len(DOMAINS)), size=12)):
        for params in (1e7, 3e7, 1e8):
            for tokens in np.geomspace(1e9, 5e9, 6):
                loss = (1.5 + 0.5 * np.exp(w @ T) + 300 * params ** -0.3
                        + 400 * tokens ** -0.28)
                rows.append({"run": f"m{i}-{params:.0e}", "params": params, "tokens": tokens,
                             "step": int(tokens / 2**20), **dict(zip(DOMAINS, w)),
                             "target_loss": loss, "other_loss": loss + w[0]})
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    return folder / "runs.csv"


def test_fit_and_propose_at_a_scale_no_run_reached(long_table, tmp_path):
    at = "params=1e9,tokens=2e10"
    candidates = pd.DataFrame({"name": ["web", "even"], "web": [1.0, 0.25], "code": [0, 0.25],
                               "books": [0, 0.25], "math": [0, 0.25]})
    candidates.to_csv(tmp_path / "cand.csv", index=False)
    done = run_cli("fit", "--runs", str(long_table), "--target", "target_loss", "--at", at,
                   "--regressor", "mixing_law", "--report", str(tmp_path / "report"),
                   "--predict", str(tmp_path / "cand.csv"), "--output", str(tmp_path / "pred.csv"))
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(tmp_path / "pred.csv").set_index("name")["predicted"]
    scale_terms = 300 * 1e9 ** -0.3 + 400 * 2e10 ** -0.28
    for name, row in candidates.set_index("name").iterrows():
        truth = 1.5 + 0.5 * np.exp(row[DOMAINS].to_numpy(float) @ T) + scale_terms
        assert predicted[name] == pytest.approx(truth, abs=0.01), name
    assert "nested scaling laws: 12 of 12 mixtures predicted at 1e+09 params" in done.stdout
    for name in ("step_laws.png", "size_laws.png", "cv_fit.png"):
        assert (tmp_path / "report" / name).is_file(), name
    done = run_cli("propose", "--runs", str(long_table), "--target", "target_loss", "--at", at,
                   "--domains", ",".join(DOMAINS), "--regressor", "mixing_law",
                   "--output", str(tmp_path / "p.json"))
    assert done.returncode == 0, done.stderr
    proposal = json.loads((tmp_path / "p.json").read_text())
    truth = 1.5 + 0.5 * np.exp(np.array([proposal["mixture"][d] for d in DOMAINS]) @ T) \
        + 300 * 1e9 ** -0.3 + 400 * 2e10 ** -0.28
    assert proposal["predicted_target_loss"] == pytest.approx(truth, abs=0.01)
    assert proposal["mixture"]["web"] > 0.9  # the law's slopes: web lowers the loss most
    assert proposal["scaling"]["target_scale"] == {
        "params": 1e9, "tokens": 2e10, "params_from": "the target scale",
        "tokens_from": "the target scale"}


def test_the_scaling_law_settings_of_a_long_table_are_flags(long_table, tmp_path):
    base = ("fit", "--runs", str(long_table), "--target", "target_loss", "--at",
            "params=1e9,tokens=2e10", "--regressor", "ridge")
    joint = run_cli(*base, "--law", "joint", "--min-tokens", "1.5e9")
    assert joint.returncode == 0, joint.stderr
    assert "joint scaling law: 12 of 12 mixtures predicted at 1e+09 params" in joint.stdout
    nested = run_cli(*base, "--law", "nested", "--share-exponents")
    assert nested.returncode == 0, nested.stderr
    assert "nested scaling laws: 12 of 12" in nested.stdout and "joint" not in nested.stdout
    # the warm-up cut leaves the step law fewer checkpoints: its held-out check changes
    cut = run_cli(*base, "--law", "nested", "--min-tokens", "2e9")
    assert cut.returncode == 0 and cut.stdout != nested.stdout
    for flags, flag in ((("--law", "chinchilla"), "--law"), (("--min-tokens", "-5"),
                                                             "--min-tokens")):
        refused = run_cli(*base, *flags)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert flag in refused.stderr


def test_critical_share_from_tables_needs_a_baseline(tables, tmp_path):
    done = run_cli("propose", *_pair(tables), "--target", "target_loss", "--critical", "web",
                   "--output", str(tmp_path / "c.json"))
    assert done.returncode == 2 and "--baseline" in done.stderr
    done = run_cli("propose", *_pair(tables), "--target", "target_loss", "--critical", "books",
                   "--baseline", "3.0", "--output", str(tmp_path / "c.json"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["domain"] == "books" and 0 <= result["proportion"] <= 1
    assert "critical proportion of 'books'" in done.stdout


def test_critical_share_extrapolated_along_the_checkpoints(long_table, tmp_path):
    done = run_cli("propose", "--runs", str(long_table), "--target", "target_loss",
                   "--critical", "books", "--baseline", "2.4", "--output", str(tmp_path / "c.json"))
    assert done.returncode == 2 and "3 model sizes" in done.stderr  # continues one checkpoint
    one_size = pd.read_csv(long_table).query("params == 1e8")
    one_size.to_csv(tmp_path / "one.csv", index=False)
    done = run_cli("propose", "--runs", str(tmp_path / "one.csv"), "--target", "target_loss",
                   "--critical", "books", "--baseline", "2.4", "--at", "tokens=2e10",
                   "--output", str(tmp_path / "c.json"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["tokens"] == 2e10 and "step_law" in result["law"]
    assert 0 <= result["proportion"] <= 1
