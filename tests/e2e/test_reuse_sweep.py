"""``mixtures.reuse`` on real tiny sweeps: an old sweep of three domains, then a config
with a fourth that keeps the old runs (weight 0 on the new domain), trains a few new
proxies, fits and proposes on all of them, and trains or stores nothing twice when run
again (slow: two sweeps, about 50 s; CI runs it). The mapping's rules and the refusals:
tests/unit/test_reuse.py and tests/e2e/test_bad_input.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import TINY, write_config

import raymix
from raymix.errors import UserError
from raymix.runs import ResultStore

pytestmark = pytest.mark.slow

ONE_TRIAL = {"models_per_trial": 6}  # a stacked trial holds every run: one trial start


def test_a_new_domain_reuses_the_old_runs_and_adds_a_few_proxies(tmp_path, cache_dir):
    (tmp_path / "old").mkdir()
    old = write_config(tmp_path / "old", cache_dir, mixtures={"count": 6, "repeats": 0},
                       compute=ONE_TRIAL)
    assert raymix.run_sweep(raymix.load_config(old), log=lambda _: None).stored == 6
    old_sweep = tmp_path / "old" / "sweep"
    prepared = json.loads((old_sweep / "data.json").read_text())["prepared"]

    (tmp_path / "new").mkdir()
    domains = [*TINY["data"]["domains"], {"name": "drama", "source": "builtin:drama"}]
    reuse = {"count": 4, "repeats": 0, "reuse": {"storage": str(old_sweep)}}

    # a BPE trained on the new domains is another tokenizer: refused, naming the fix
    new = write_config(tmp_path / "new", cache_dir, data={"domains": domains},
                       mixtures=reuse, compute=ONE_TRIAL, fit={"cv_folds": 2})
    with pytest.raises(UserError) as caught:
        raymix.sweep_and_propose(raymix.load_config(new), log=lambda _: None)
    assert caught.value.field == "data.tokenizer.path"
    assert str(cache_dir / prepared / "tokenizer.json") in str(caught.value)
    assert not (tmp_path / "new" / "sweep").exists()  # refused before any write

    tokenizer = {"path": str(cache_dir / prepared / "tokenizer.json")}
    new = write_config(tmp_path / "new", cache_dir,
                       data={"domains": domains, "tokenizer": tokenizer},
                       mixtures=reuse, compute=ONE_TRIAL, fit={"cv_folds": 2})
    lines: list[str] = []
    outcome = raymix.sweep_and_propose(raymix.load_config(new), log=lines.append)
    assert (outcome.sweep.planned, outcome.sweep.trained_now) == (4, 4)
    assert any(line.startswith(f"[sweep] reusing 6 runs of {old_sweep}; domains: 1 new "
                               "(drama); 6 stored now") for line in lines), lines

    sweep = tmp_path / "new" / "sweep"
    mixtures = pd.read_csv(sweep / "mixtures.csv").set_index("run")
    reused = mixtures.index.str.startswith("reused-")
    assert reused.sum() == 6 and (~reused).sum() == 4
    assert (mixtures.loc[reused, "drama"] == 0).all()
    assert (mixtures.loc[~reused, "drama"] > 0).any()  # the new proxies vary the new domain
    records = ResultStore(sweep).load_all()
    assert records["reused-run-0000"].reused_from == f"{old_sweep}:run-0000"
    assert records["reused-run-0000"].final_target_loss == \
        ResultStore(old_sweep).load_all()["run-0000"].final_target_loss
    assert isinstance(outcome.proposal, raymix.Proposal)
    assert (sweep / "proposal.json").is_file() and (sweep / "report" / "index.html").is_file()

    # again: nothing trained, nothing stored twice
    lines.clear()
    again = raymix.run_sweep(raymix.load_config(new), log=lines.append)
    assert again.trained_now == 0
    assert any("6 stored now" not in line and line.startswith("[sweep] reusing 6 runs")
               for line in lines), lines
    assert len(ResultStore(sweep).load_all()) == 10
