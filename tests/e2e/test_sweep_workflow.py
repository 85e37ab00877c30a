"""``raymix sweep`` from Python: :func:`raymix.sweep_and_propose` runs the whole chain on a
real tiny sweep (a real local Ray cluster) and returns what the command prints, with the
proposal, its report and the tracker's sweep run written where the command writes them."""

from __future__ import annotations

import json

from conftest import write_config

import raymix


def test_one_call_sweeps_proposes_reports_and_logs_the_sweep_run(tmp_path, cache_dir):
    # 6 runs in one stacked trial: the fewest that a fit with 2 folds takes
    config = write_config(tmp_path, cache_dir, mixtures={"count": 6, "repeats": 0},
                          compute={"models_per_trial": 6}, fit={"cv_folds": 2},
                          tracking={"tensorboard": True})
    lines: list[str] = []
    outcome = raymix.sweep_and_propose(raymix.load_config(config), log=lines.append)

    sweep = tmp_path / "sweep"
    assert isinstance(outcome, raymix.SweepOutcome)
    assert outcome.sweep.stored == outcome.sweep.planned == 6 and outcome.sweep.failed == 0
    # the [sweep] lines the command prints reach the log too
    assert "[sweep] 6 runs stored (0 failed), 6 trained by this command" in lines, lines
    assert any(line.startswith("[sweep] proxies trained at a median") for line in lines)

    proposal = outcome.proposal
    assert isinstance(proposal, raymix.Proposal)
    assert outcome.files["proposal"] == str(sweep / "proposal.json")
    assert json.loads((sweep / "proposal.json").read_text()) == json.loads(
        json.dumps(proposal.to_dict()))
    assert (sweep / "report" / "report.md").is_file()
    assert outcome.files["report_html"] == str(sweep / "report" / "index.html")
    # the tracker's sweep run: its events, and the ledger that names it
    assert list((sweep / "tensorboard" / "sweep").glob("events.out.tfevents.*"))
    ledger = json.loads((sweep / "tracking.json").read_text())
    assert [entry.get("sweep_run") for entry in ledger.values()] == ["sweep"], ledger

