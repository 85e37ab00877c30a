"""End to end with domains in groups: a real sweep on the built-in corpus, its domains nested
in the YAML, drawn a level at a time, proposed under a group bound, reported at both levels;
then ``raymix propose --constraints`` with a cap on the group instead.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
from conftest import finish, raymix_cli, write_config

import raymix
from raymix.mixtures import sample_mixtures
from raymix.workflows.inputs import load_results

GROUPED = [
    {"group": "software", "domains": [{"name": "code", "source": "builtin:code"},
                                      {"name": "readmes", "source": "builtin:readmes"}]},
    {"name": "licences", "source": "builtin:licences"},
]
LEAVES = ["code", "readmes", "licences"]
MIN_SOFTWARE = 0.6
CAP = 0.3


def test_grouped_sweep_end_to_end(tmp_path, cache_dir):
    config = write_config(
        tmp_path, cache_dir, data={"domains": GROUPED},
        mixtures={"count": 6, "repeats": 1, "by_group": True},
        search={"min_weight": {"software": MIN_SOFTWARE}})
    out = finish(raymix_cli("sweep", str(config)))
    sweep = tmp_path / "sweep"

    # the draws are the level-at-a-time ones: software vs licences, then within software
    cfg = raymix.load_config(config)
    assert cfg.domain_groups == {"software": ["code", "readmes"]}
    _, info = load_results(cfg)
    mixtures = pd.read_csv(sweep / "mixtures.csv").set_index("run")
    assert list(mixtures.columns) == LEAVES
    drawn = mixtures.loc[[r for r in mixtures.index if "-s" not in r]].to_numpy()

    def draws(by_group: str):
        section = dataclasses.replace(cfg.mixtures, by_group=by_group)
        return sample_mixtures(section, info.prior, info.train_tokens,
                               info.tokens_per_run, groups=cfg.domain_groups).to_numpy()

    assert abs(drawn - draws("true")).max() < 1e-6
    assert abs(drawn - draws("false")).max() > 1e-3

    # proposal.json: each group's total in the proposal and the baselines, adding up, and
    # the group bound kept
    proposal = json.loads((sweep / "proposal.json").read_text())
    software = proposal["groups"]["software"]
    assert software["domains"] == ["code", "readmes"]
    assert abs(software["total"] - proposal["mixture"]["code"]
               - proposal["mixture"]["readmes"]) < 1e-9
    assert software["total"] >= MIN_SOFTWARE - 1e-6
    for name, base in proposal["baselines"].items():
        assert abs(software["baselines"][name] - base["mixture"]["code"]
                   - base["mixture"]["readmes"]) < 1e-9
    assert proposal["constraints"]["group_lower"] == {"software": MIN_SOFTWARE}

    # both levels in the terminal summary and in both reports
    assert "groups (total weight):" in out
    assert any(line.split()[:1] == ["software"] and "code, readmes" in line
               for line in out.splitlines())
    report = (sweep / "report" / "report.md").read_text()
    assert "## Groups" in report and "| software" in report
    assert 'id="proposal-groups"' in (sweep / "report" / "index.html").read_text()

    # a constraints file that caps the group: the proposal, its drawn baselines and its
    # binding constraints keep to it
    constraints = tmp_path / "constraints.yaml"
    constraints.write_text(f"max_weight: {{software: {CAP}}}\nmethod: exact\n")
    capped = tmp_path / "capped.json"
    finish(raymix_cli("propose", str(config), "--constraints", str(constraints),
                      "--output", str(capped)))
    proposal = json.loads(capped.read_text())
    software = proposal["mixture"]["code"] + proposal["mixture"]["readmes"]
    assert software <= CAP + 1e-9
    assert proposal["constraints"]["group_upper"] == {"software": CAP}
    for base in proposal["baselines"].values():
        if "run" not in base:  # the observed runs were drawn without the cap
            assert base["mixture"]["code"] + base["mixture"]["readmes"] <= CAP + 1e-9
    binding = proposal["constraints"].get("binding", proposal.get("binding", []))
    assert software < CAP - 1e-6 or {"group": "software", "bound": "upper", "value": CAP,
                                     "constraint": "max_weight"} in binding
