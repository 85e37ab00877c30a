"""``report/index.html`` in a real browser: headless Chromium driven by Selenium.

The sweep directory is made without Ray or training: run records at three proxy sizes
(losses from a known scaling law of the mixture, with seed noise) are stored with
raymix's own store, ``raymix propose CONFIG`` fits, proposes and writes the report, a
check at a larger scale is stored as ``raymix validate`` stores it, and ``raymix report
DIR`` rewrites the report. The page must load without console errors, draw every
figure (training curves and the mixtures covered too), show the runs in a sortable table
per scale, and show proposal.json's numbers. A second page, ``raymix propose`` on a
14-domain table, must give every domain its own colour in the sensitivity figure, keep
its loss axis to the curves within their bounds, and show the proposal's warning in a
box above the first section.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make setup`` installs them as
root); without them the test is skipped. Selenium Manager never downloads a driver: the
driver is the one on PATH.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY

from raymix.cli.commands import main
from raymix.config import load_config
from raymix.runs import DataInfo, Evaluation, ResultStore, RunRecord, export_tables
from raymix.workflows.validation import compare

DOMAINS = ["code", "licences", "readmes"]
PARAMS = {"base": 40_000, "s": 10_000, "l": 160_000}  # non-embedding parameters per size
TOKENS = (10_000, 20_000, 40_000, 80_000)  # the checkpoints of every run
EFFECT = np.array([-0.4, 0.3, 0.1])  # what a unit of each domain's weight adds to the loss
FIGURES = {"proposal-loss", "weights", "sensitivity", "cv", "residuals", "interactions",
           "step-laws", "size-laws", "validation", "coverage", "curves"}
MANY_DOMAINS = [f"domain_{i:02d}" for i in range(14)]  # more than any 10-colour palette


def _browser() -> tuple[str, str]:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("chromium/chromedriver not installed: apt-get install chromium "
                    "chromium-driver")
    pytest.importorskip("selenium", reason="selenium not installed: pip install -e '.[test]'")
    return browser, driver


def _loss(weights: np.ndarray, params: float, tokens: float, rng) -> tuple[float, dict]:
    """A Chinchilla-like loss, shifted by the mixture; each domain's own loss near it."""
    base = 2.0 + 40 / params ** 0.3 + 30 / tokens ** 0.3 + weights @ EFFECT
    base += 0.3 * (weights ** 2).sum() + rng.normal(0, 0.005)
    losses = {d: float(base + 0.5 * (1 - weights[i]) + rng.normal(0, 0.005))
              for i, d in enumerate(DOMAINS)}
    return float(base), losses


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A finished multi-scale sweep with a proposal, a check at scale and its report."""
    world = tmp_path_factory.mktemp("report")
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = "cache"
    raw["compute"]["storage"] = "sweep"
    raw["scales"] = [{"name": "s", "hidden": 16, "intermediate": 32},
                     {"name": "l", "hidden": 64, "intermediate": 128}]
    raw["fit"] = {"cv_folds": 3, "at": {"params": 640_000, "tokens": 160_000}}
    (world / "sweep.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(world / "sweep.yaml")
    rng = np.random.default_rng(0)
    mixtures = rng.dirichlet(np.ones(len(DOMAINS)), size=12)
    store, records = ResultStore(cfg.storage_path), []
    for scale, params in PARAMS.items():
        for i, weights in enumerate(mixtures):
            evaluations = []
            for tokens in TOKENS:
                target, losses = _loss(weights, params, tokens, rng)
                evaluations.append(Evaluation(step=tokens // 512, tokens=tokens,
                                              train_loss=target + 0.1,
                                              losses={**losses, "python_reference": target},
                                              target_loss=target))
            suffix = "" if scale == "base" else f"-{scale}"
            records.append(RunRecord(
                run_id=f"run-{i:04d}{suffix}", mixture=dict(zip(DOMAINS, weights.tolist())),
                seed=0, scale=scale, target_name="python_reference", evaluations=evaluations,
                non_embedding_params=params, params=params + 20_000, tokens_seen=TOKENS[-1]))
    for record in records:
        store.write(record)
    store.write_data_info(DataInfo(
        prior=dict(zip(DOMAINS, (0.5, 0.2, 0.3))),
        train_tokens=dict(zip(DOMAINS, (500_000, 200_000, 300_000))), tokens_per_run=TOKENS[-1],
        non_embedding_params=PARAMS, prepared="prepared-test"))
    (cfg.storage_path / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    export_tables(cfg.storage_path, records, DOMAINS, "python_reference")
    assert main(["propose", str(world / "sweep.yaml")]) == 0
    # a check at a larger scale, stored as raymix validate stores it
    proposal = json.loads((cfg.storage_path / "proposal.json").read_text())
    entries = {"proposal": proposal, **proposal["baselines"]}
    predictions = {"predicted_at": "the nested laws at 2.56e+06 params", "noise_floor": None,
                   "scale": {"params": 2.56e6, "tokens": 3.2e5}, "regressor": proposal["regressor"],
                   "mixtures": {n: {"mixture": e["mixture"],
                                    "predicted": e["predicted_target_loss"]}
                                for n, e in entries.items()}}
    measured = {n: [e["predicted_target_loss"] + 0.02 * k, e["predicted_target_loss"] - 0.01]
                for k, (n, e) in enumerate(entries.items())}
    validate = cfg.storage_path / "validate"
    validate.mkdir()
    (validate / "validate.json").write_text(
        json.dumps(compare(predictions, measured).to_dict(), indent=1))
    (cfg.storage_path / "report" / "index.html").unlink()
    assert main(["report", str(cfg.storage_path)]) == 0
    return cfg.storage_path


@pytest.fixture(scope="module")
def many_domains(tmp_path_factory) -> Path:
    """``raymix propose`` on a 14-domain table (60 runs, ridge), two domains capped at 0.2
    (their curves above the bound climb far beyond the others); returns its folder."""
    world = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.full(len(MANY_DOMAINS), 0.5), size=60)
    effect = np.linspace(-0.3, 0.3, len(MANY_DOMAINS))
    effect[0] = 3.0
    loss = 4.0 + weights @ effect + rng.normal(0, 0.25, len(weights))
    ids = [f"run-{i:04d}" for i in range(len(weights))]
    pd.DataFrame(weights, columns=MANY_DOMAINS, index=pd.Index(ids, name="run")).to_csv(
        world / "mixtures.csv")
    pd.DataFrame({"run": ids, "target": loss, "other": loss + 0.1}).to_csv(
        world / "metrics.csv", index=False)
    (world / "constraints.yaml").write_text(yaml.safe_dump(
        {"max_weight": {MANY_DOMAINS[0]: 0.2, MANY_DOMAINS[1]: 0.2}}))
    assert main(["propose", "--mixtures", str(world / "mixtures.csv"), "--metrics",
                 str(world / "metrics.csv"), "--target", "target", "--regressor", "ridge",
                 "--constraints", str(world / "constraints.yaml"), "--output",
                 str(world / "proposal.json"), "--report", str(world / "report")]) == 0
    return world


def _chrome(html: Path):
    """Headless Chromium showing ``html``, its console log kept (a generator: quits after)."""
    browser, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.get(html.as_uri())
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(sweep):
    """Chromium showing the sweep's index.html."""
    yield from _chrome(sweep / "report" / "index.html")


@pytest.fixture(scope="module")
def many_page(many_domains):
    """Chromium showing the 14-domain proposal's index.html."""
    yield from _chrome(many_domains / "report" / "index.html")


def test_the_page_is_self_contained_and_loads_without_errors(sweep, page):
    text = (sweep / "report" / "index.html").read_text()
    assert "<script src=" not in text and text.count("plotly.js v") >= 1  # inlined, once
    assert (sweep / "report" / "report.md").is_file()
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_every_figure_renders(page):
    from PIL import Image
    from selenium.webdriver.common.by import By

    figures = page.find_elements(By.CSS_SELECTOR, "[data-figure]")
    assert {f.get_attribute("data-figure") for f in figures} >= FIGURES
    for figure in figures:
        name = figure.get_attribute("data-figure")
        svg = figure.find_elements(By.CSS_SELECTOR, ".plotly-graph-div svg.main-svg")
        assert svg and svg[0].size["width"] > 100 and svg[0].size["height"] > 100, name
        drawn = figure.find_elements(By.CSS_SELECTOR, ".overplot .trace .point, "
                                     ".overplot .trace .js-line, .overplot .hm image")
        assert drawn, f"{name} has no points, lines or heatmap"
        page.execute_script("arguments[0].scrollIntoView()", figure)
        shot = Image.open(io.BytesIO(figure.screenshot_as_png)).convert("RGB")
        assert len(shot.getcolors(1 << 24)) > 1, f"{name} is blank"


def test_the_runs_are_a_sortable_table_per_scale(sweep, page):
    from selenium.webdriver.common.by import By

    tables = page.find_elements(By.CSS_SELECTOR, "#runs table.sortable")
    scales = [t.get_attribute("data-scale") for t in tables]
    assert scales[0] == "base" and sorted(scales) == sorted(PARAMS)  # the proxies' first
    headings = page.find_elements(By.CSS_SELECTOR, "#runs h3.scale-heading")
    assert [h.get_attribute("data-scale") for h in headings] == scales
    assert headings[0].text == "Proxies: 12 runs"
    assert headings[1].text == f"Proxies at size '{scales[1]}': 12 runs"

    def column(table, index: int) -> list[str]:
        return [row.find_elements(By.TAG_NAME, "td")[index].get_attribute("data-value")
                for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

    for table in tables:  # each of one scale only, and that scale named in its column
        assert set(column(table, 1)) == {table.get_attribute("data-scale")}
    assert sum(len(column(t, 0)) for t in tables) == 12 * len(PARAMS)  # every run, every size

    table = page.find_element(By.ID, "runs-table")
    assert table == tables[0]
    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    names = [h.text.strip() for h in headers]
    assert names[:3] == ["run", "scale", "seed"] and names[3:6] == DOMAINS
    loss = len(names) - 1
    assert names[loss].startswith("final")
    headers[loss].click()
    values = [float(v) for v in column(table, loss)]
    assert values == sorted(values) and values != [float(v) for v in column(table, loss)][::-1]
    assert headers[loss].get_attribute("aria-sort") == "ascending"
    headers[loss].click()
    assert [float(v) for v in column(table, loss)] == sorted(values, reverse=True)
    headers[0].click()
    assert column(table, 0) == sorted(column(table, 0))


def test_the_training_curves_draw_every_run_of_each_scale(page):
    curves = page.execute_script(
        "return document.getElementById('figure-curves')._fullData"
        ".map(t => [t.xaxis || 'x', t.x.length, t.name])")
    panels = {axis for axis, _, _ in curves}
    assert len(panels) == len(PARAMS)  # a panel per scale
    assert len(curves) == 12 * len(PARAMS) and {n for _, n, _ in curves} == {len(TOKENS)}
    assert "best observed run" in {name for _, _, name in curves}


def test_the_proposal_in_the_page_is_proposal_json(sweep, page):
    from selenium.webdriver.common.by import By

    proposal = json.loads((sweep / "proposal.json").read_text())
    for key, element_id in (("predicted_target_loss", "predicted-loss"),
                            ("predicted_std", "predicted-std")):
        element = page.find_element(By.ID, element_id)
        assert float(element.get_attribute("data-value")) == proposal[key]
        assert element.text == f"{proposal[key]:.4f}"
    for domain in DOMAINS:
        cell = page.find_element(
            By.CSS_SELECTOR, f'td[data-mixture="proposed"][data-domain="{domain}"]')
        assert float(cell.get_attribute("data-weight")) == proposal["mixture"][domain]
        assert cell.text == f"{proposal['mixture'][domain]:.4f}"
        best = page.find_element(
            By.CSS_SELECTOR, f'td[data-mixture="best_observed"][data-domain="{domain}"]')
        assert float(best.get_attribute("data-weight")) == \
            proposal["baselines"]["best_observed"]["mixture"].get(domain, 0.0)


def _traces(page, figure: str) -> list[dict]:
    return page.execute_script(
        f"return document.getElementById('figure-{figure}')._fullData.map(t => ({{"
        "name: t.name, legend: t.showlegend !== false, mode: t.mode, y: Array.from(t.y), "
        "colour: (t.line || {}).color, dash: (t.line || {}).dash}))")


def test_every_domain_has_its_own_colour_and_the_axis_spans_the_real_curves(many_page):
    severe = [e for e in many_page.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    traces = _traces(many_page, "sensitivity")
    solid = [t for t in traces if t["legend"]]
    assert [t["name"] for t in solid] == MANY_DOMAINS
    assert len({t["colour"] for t in solid}) == len(MANY_DOMAINS)  # no colour twice
    low, high = many_page.execute_script(
        "return document.getElementById('figure-sensitivity')._fullLayout.yaxis.range")
    real = np.concatenate([t["y"] for t in solid])
    span = real.max() - real.min()
    assert real.min() - 0.1 * span <= low <= real.min()
    assert real.max() <= high <= real.max() + 0.1 * span
    dotted = np.concatenate([t["y"] for t in traces if t["dash"] == "dot"])
    assert dotted.max() > high + span  # above a bound: drawn clipped, the axis not stretched


def test_the_warnings_stand_in_a_box_above_the_first_section(many_domains, many_page):
    from selenium.webdriver.common.by import By

    proposal = json.loads((many_domains / "proposal.json").read_text())
    assert proposal["warnings"]  # the proposal lies far from every run
    box = many_page.find_element(By.ID, "warnings")
    items = [li.text for li in box.find_elements(By.CSS_SELECTOR, "li.warning")]
    assert items == proposal["warnings"]
    first = many_page.find_element(By.CSS_SELECTOR, "section")
    assert box.is_displayed() and box.location["y"] < first.location["y"]
