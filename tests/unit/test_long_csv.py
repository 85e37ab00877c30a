"""The long runs table: one row per (run, checkpoint), read with one-line errors."""

import numpy as np
import pandas as pd
import pytest

from raymix.errors import UserError
from raymix.runs.long import long_runs_from_frame, read_long_runs

DOMAINS = ["web", "code", "books"]


def _sweep_table(n_runs=4, steps=(100, 200, 300), seed=0):
    """A table shaped like a raymix sweep's runs.parquet."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(DOMAINS)), size=n_runs)
    rows = []
    for r, w in enumerate(weights):
        for step in steps:
            rows.append({"run": f"r{r}", "step": step, "tokens": step * 4096, "params": 1e6,
                         "total_params": 3e6, "seed": 0, **dict(zip(DOMAINS, w)),
                         "train_loss": 3 + 1 / step, "web_loss": 3.2 + rng.random(),
                         "code_loss": 2.1 + rng.random(), "target_loss": 2.9 + rng.random()})
    return pd.DataFrame(rows)


def test_a_sweep_table_is_read_and_its_domains_found(tmp_path):
    table = _sweep_table()
    path = tmp_path / "runs.parquet"
    table.to_parquet(path, index=False)
    runs = read_long_runs(path, ["target_loss"])
    assert runs.domains == DOMAINS and runs.target == "target_loss"
    assert list(runs.frame.columns) == ["run", "params", "tokens", *DOMAINS, "objective"]
    np.testing.assert_allclose(runs.frame["objective"], table["target_loss"])
    np.testing.assert_allclose(runs.frame[DOMAINS].sum(axis=1), 1.0)


def test_csv_with_weighted_targets_and_named_domains(tmp_path):
    table = _sweep_table()
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    runs = read_long_runs(path, ["web_loss=3", "code=1"], domains=["web", "code", "books"])
    np.testing.assert_allclose(runs.frame["objective"],
                               0.75 * table["web_loss"] + 0.25 * table["code_loss"])
    assert runs.target == "0.75*web_loss + 0.25*code_loss"


def test_rows_without_a_target_value_are_dropped_with_a_note():
    table = _sweep_table()
    table.loc[[1, 5], "target_loss"] = np.nan
    runs = long_runs_from_frame(table, ["target_loss"])
    assert len(runs.frame) == len(table) - 2 and "2 checkpoint row(s)" in runs.notes[0]


def _break(table, kind):
    table = table.astype(object)
    if kind == "no_tokens":
        table = table.drop(columns="tokens")
    elif kind == "non_numeric":
        table.loc[4, "web_loss"] = "n/a?"
    elif kind == "zero_params":
        table.loc[2, "params"] = 0
    elif kind == "missing_tokens":
        table.loc[3, "tokens"] = np.nan
    elif kind == "duplicate":
        table.loc[1, "tokens"] = table.loc[0, "tokens"]
    elif kind == "weights_change":
        table.loc[2, "web"] += 0.01
        table.loc[2, "code"] -= 0.01
    elif kind == "params_change":
        table.loc[5, "params"] = 2e6
    elif kind == "no_run_id":
        table.loc[6, "run"] = " "
    elif kind == "negative_weight":
        table.loc[[0, 1, 2], "web"] = -0.1
    elif kind == "sum_not_one":
        table.loc[[0, 1, 2], "web"] += 0.3
    return table


@pytest.mark.parametrize("kind, target, domains, message", [
    ("no_tokens", "target_loss", None, r"^runs: runs.csv has no column 'tokens'"),
    ("non_numeric", "web_loss", None, r"^runs: runs.csv row 6 .*'n/a\?' in column 'web_loss'"),
    ("zero_params", "target_loss", None, r"^runs: runs.csv row 4 has params = 0"),
    ("missing_tokens", "target_loss", None, r"runs.csv row 5 has no value; tokens must be"),
    ("duplicate", "target_loss", None, r"row 3 repeats the checkpoint of run 'r0'"),
    ("weights_change", "target_loss", None, r"run 'r0' changes its weight of domain 'web' in "
                                            r"runs.csv row 4"),
    ("params_change", "target_loss", None, r"run 'r1' changes its model size"),
    ("no_run_id", "target_loss", None, r"runs.csv row 8 has no run id"),
    ("negative_weight", "target_loss", DOMAINS, r"row 2 has a negative weight for domain 'web'"),
    ("sum_not_one", "target_loss", DOMAINS, r"^domains: the weights in runs.csv row 2 sum to"),
    ("sum_not_one", "target_loss", None, r"^domains: cannot tell the domain weights"),
    (None, "nope", None, r"^targets: runs.csv has no column 'nope'"),
    (None, "loss", None, r"^targets: .*columns contain it"),
    (None, "target_loss", ["web", "cod"], r"^domains: runs.csv has no column 'cod'"),
    (None, "target_loss", ["web", "seed"], r"^domains: 'seed' is a bookkeeping column"),
    (None, "target_loss=-1", None, r"^targets: 'target_loss=-1'"),
])
def test_mistakes_are_one_line_user_errors(tmp_path, kind, target, domains, message):
    path = tmp_path / "runs.csv"
    _break(_sweep_table(), kind).to_csv(path, index=False)
    with pytest.raises(UserError, match=message) as error:
        read_long_runs(path, [target], domains=domains)
    assert "\n" not in str(error.value)


def test_no_weight_columns_says_to_name_them():
    table = _sweep_table().drop(columns=DOMAINS)
    with pytest.raises(UserError, match=r"^domains: no column .* name the weight columns "
                                        r"\(domains, e\.g\. web,code,books\)"):
        long_runs_from_frame(table, ["target_loss"])


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "not a readable"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "runs.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=f"^runs: .*{message}"):
        read_long_runs(path, ["target_loss"])
