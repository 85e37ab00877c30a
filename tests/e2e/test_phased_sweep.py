"""End to end with multi-phase mixtures: a real sweep on the built-in corpus whose proxies
each train a two-phase schedule, fitted on the schedules' slots, proposed as a schedule
under a cap on a domain's total over the run, reported, and validated (the schedule
trained again at another size, its phases stretched along).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import finish, raymix_cli, write_config

import raymix

STEPS, BOUNDARY = 30, 20  # the second phase: the last third of each run
DOMAINS = ["code", "licences", "readmes"]
SLOTS = [f"{d}@{p}" for p in (1, 2) for d in DOMAINS]
CAP = 0.25
TARGET = "python_reference"  # conftest's TINY target


@pytest.fixture(scope="module")
def phased_sweep(tmp_path_factory, cache_dir):
    """A sweep of 6 two-phase proxies (its config, folder and terminal output)."""
    folder = tmp_path_factory.mktemp("phases")
    config = write_config(
        folder, cache_dir, mixtures={"count": 6, "repeats": 0, "phases": [BOUNDARY]},
        search={"max_weight": {"licences": CAP}},
        validate={"seeds": 1, "steps": 45, "mixtures": {
            "licences_late": {"code@1": 1, "readmes@1": 1, "licences@2": 1}}})
    return config, folder / "sweep", finish(raymix_cli("sweep", str(config)))


def test_phased_sweep_end_to_end(phased_sweep):
    config, sweep, out = phased_sweep
    cfg = raymix.load_config(config)
    assert cfg.mixture_columns == SLOTS

    # every run's schedule: its phases hold 2/3 and 1/3 of the run, as the steps do
    mixtures = pd.read_csv(sweep / "mixtures.csv").set_index("run")
    assert list(mixtures.columns) == SLOTS
    shares = mixtures.to_numpy().reshape(len(mixtures), 2, 3).sum(axis=2)
    assert np.allclose(shares, [2 / 3, 1 / 3], atol=1e-6)
    # the phases were drawn apart: a run's second phase is mostly no copy of its first
    within = mixtures.to_numpy().reshape(len(mixtures), 2, 3) / shares[:, :, None]
    assert np.median(np.abs(within[:, 0] - within[:, 1]).sum(axis=1)) > 0.1

    # proposal.json: a schedule, its phases' own mixtures, the cap on the run's total
    proposal = json.loads((sweep / "proposal.json").read_text())
    assert list(proposal["mixture"]) == SLOTS
    schedule = proposal["schedule"]
    assert [p["share"] for p in schedule] == approx([2 / 3, 1 / 3])
    for phase in schedule:
        assert abs(sum(phase["mixture"].values()) - 1) < 1e-6
        for d, w in phase["mixture"].items():
            assert abs(w * phase["share"] - proposal["mixture"][f"{d}@{phase['phase']}"]) < 1e-9
    licences = proposal["groups"]["licences"]
    assert licences["domains"] == ["licences@1", "licences@2"]
    assert licences["total"] <= CAP + 1e-6
    assert proposal["constraints"]["phases"] == approx([2 / 3, 1 / 3])
    # the schedule in the terminal summary and in both reports
    assert "schedule (each phase's own mixture):" in out
    assert "phase 2 (33% of steps)" in out
    assert "## Schedule" in (sweep / "report" / "report.md").read_text()
    assert 'id="proposal-schedule"' in (sweep / "report" / "index.html").read_text()


@pytest.mark.slow
def test_validate_and_tables_take_the_schedule(phased_sweep):
    # raymix validate trains the proposed schedule, stretched to 45 steps, and the one
    # written in the config (licences only in the second phase)
    config, sweep, _ = phased_sweep
    proposal = json.loads((sweep / "proposal.json").read_text())
    finish(raymix_cli("validate", str(config)))
    result = json.loads((sweep / "validate" / "validate.json").read_text())
    assert {"proposal", "licences_late"} <= set(result["mixtures"])
    assert all(len(m["measured_losses"]) == 1 for m in result["mixtures"].values())
    late = result["mixtures"]["licences_late"]["mixture"]
    assert late == approx({"code@1": 1 / 3, "readmes@1": 1 / 3, "licences@1": 0,
                                  "code@2": 0, "readmes@2": 0, "licences@2": 1 / 3})
    assert result["mixtures"]["proposal"]["mixture"] == approx(proposal["mixture"])

    # the sweep's own tables, as anyone reads them: `raymix propose` on them proposes a
    # schedule too (its columns are slots), under the same cap
    metrics = pd.read_csv(sweep / "metrics.csv")
    target = next(c for c in metrics.columns if c.startswith(TARGET))
    constraints = sweep.parent / "constraints.yaml"
    constraints.write_text(f"max_weight: {{licences: {CAP}}}\n")
    again = sweep.parent / "again.json"
    finish(raymix_cli("propose", "--mixtures", str(sweep / "mixtures.csv"),
                      "--metrics", str(sweep / "metrics.csv"), "--target", target,
                      "--constraints", str(constraints), "--output", str(again)))
    tables = json.loads(again.read_text())
    assert [p["share"] for p in tables["schedule"]] == approx([2 / 3, 1 / 3])
    assert tables["groups"]["licences"]["total"] <= CAP + 1e-6


def approx(values):
    return pytest.approx(values, abs=1e-6)
