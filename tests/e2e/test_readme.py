"""docs/python-api.md, run as written: every code block of the page, in order.

The blocks run in a folder laid out like the repository: ``jobs/configs/demo.yaml`` is
a tiny config on the same built-in corpus (the real demo trains for minutes), RegMix's
published runs are where the page reads them (``regmix/data``, a clone of RegMix's
repository; here the copy in ``../shared/reference/regmix``), and
``jobs/constraints/regmix.yaml`` is the repository's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
REGMIX = ROOT.parent / "shared" / "reference" / "regmix"


def python_api_blocks() -> list[str]:
    page = (ROOT / "docs" / "python-api.md").read_text()
    return re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)


def test_the_page_has_the_three_blocks():
    blocks = python_api_blocks()
    assert len(blocks) == 3 and "raymix.run_sweep(cfg)" in blocks[0]


@pytest.mark.slow  # 1.5 minutes: a sweep, a validation and fits of RegMix's 512 runs
@pytest.mark.skipif(not REGMIX.is_dir(), reason="RegMix's runs are read from ../shared")
def test_the_python_api_page_runs_top_to_bottom(tmp_path, monkeypatch):
    work = tmp_path / "repository"
    (work / "jobs" / "configs").mkdir(parents=True)
    (work / "jobs" / "constraints").mkdir()
    shutil.copy(ROOT / "jobs" / "constraints" / "regmix.yaml", work / "jobs" / "constraints")
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = "../../.raymix/cache"  # relative to the config
    raw["compute"]["storage"] = "../../runs/demo"
    raw["confirm"] = {"rounds": 1, "candidates": 1, "observed": 1, "seeds": 2}
    (work / "jobs" / "configs" / "demo.yaml").write_text(yaml.safe_dump(raw))
    (work / "regmix").mkdir()
    (work / "regmix" / "data").symlink_to(REGMIX)  # where a clone of RegMix has its runs
    monkeypatch.chdir(work)

    names: dict = {}
    first, second, third = python_api_blocks()

    def run(block: str) -> None:
        exec(compile(block, "docs/python-api.md", "exec"), names)

    run(first)  # a sweep, its fit and its proposal
    assert names["result"].stored == names["result"].planned == 10  # 8 mixtures + 2 repeats
    assert (work / "runs" / "demo" / "results").is_dir()
    assert names["proposal"].fit is names["fitted"]  # reused, not fitted again
    assert names["proposal"].confirmation.winner == names["verdict"].winner
    assert names["proposal"].mixture == pytest.approx(names["verdict"].mixture)
    assert json.loads((work / "proposal.json").read_text()) == json.loads(json.dumps(
        names["record"]))

    run(second)  # RegMix's runs
    assert len(names["runs"].objective) == 512
    assert (work / "fit-report" / "report.md").is_file()
    assert json.loads((work / "proposal.json").read_text())["n_runs"] == 512
    assert names["table"].shape[0] == 256 and np.isfinite(names["table"]["predicted"]).all()
    assert 0.0 < names["share"].proportion < 1.0

    run(third)  # at a target scale, and the check at the validate scale
    assert names["proposal"].scaling is names["proposal"].fit.scaling is not None
    assert set(names["law"].predicted_.index) <= set(names["long"].frame["run"])
    assert names["validation"].files["report"].endswith("validate.md")
