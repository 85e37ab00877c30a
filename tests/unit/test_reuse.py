"""``mixtures.reuse``: an earlier sweep's runs mapped onto changed domains (new, split by
token share, renamed, dropped), the prior the new proxies are drawn around, and the
config's checks. The sweep that reads and stores them: tests/e2e/test_reuse.py."""

from __future__ import annotations

import json

import pytest
from conftest import TINY

from raymix.config import parse_config
from raymix.errors import ConfigError, UserError
from raymix.mixtures.reuse import focused_prior
from raymix.runs import SweepLayout
from raymix.runs.record import FAILED, Evaluation, RunRecord
from raymix.runs.reuse import domain_map, mapped_mixture, reuse_records
from raymix.sweep.reuse import check_reuse

OLD = ["code", "prose", "legal"]


def record(run_id: str, mixture: dict[str, float], **kw) -> RunRecord:
    losses = {"code": 3.0, "prose": 3.5, "legal": 2.5}
    return RunRecord(run_id=run_id, mixture=mixture, seed=0,
                     evaluations=[Evaluation(10, 100, 4.0, losses, 3.2)], **kw)


def test_a_new_domain_has_weight_zero_in_every_old_run():
    dmap = domain_map(OLD, [*OLD, "poetry"])
    assert dmap.new == ["poetry"] and dmap.dropped == [] and dmap.changed == ["poetry"]
    mixture, dropped = mapped_mixture({"code": 0.5, "prose": 0.3, "legal": 0.2}, dmap, {})
    assert mixture == {"code": 0.5, "prose": 0.3, "legal": 0.2} and dropped == 0


def test_a_split_domain_goes_to_its_parts_by_their_token_share():
    dmap = domain_map(OLD, ["code", "fiction", "essays", "legal"],
                      {"prose": ["fiction", "essays"]})
    assert dmap.parts["prose"] == ["fiction", "essays"] and dmap.new == []
    assert dmap.changed == ["fiction", "essays"]
    tokens = {"code": 10, "fiction": 300, "essays": 100, "legal": 5}
    mixture, _ = mapped_mixture({"code": 0.2, "prose": 0.8}, dmap, tokens)
    assert mixture == pytest.approx({"code": 0.2, "fiction": 0.6, "essays": 0.2})


def test_a_rename_is_a_split_into_one_and_changes_no_weight():
    dmap = domain_map(OLD, ["code", "books", "legal"], {"prose": ["books"]})
    assert dmap.changed == [] and dmap.dropped == []
    mixture, _ = mapped_mixture({"code": 0.4, "prose": 0.6}, dmap, {"books": 7})
    assert mixture == pytest.approx({"code": 0.4, "books": 0.6})


def test_runs_with_weight_on_a_dropped_domain_are_kept_only_below_the_threshold():
    dmap = domain_map(OLD, ["code", "prose", "poetry"])
    assert dmap.dropped == ["legal"] and dmap.new == ["poetry"]
    runs = [record("run-0000", {"code": 0.5, "prose": 0.48, "legal": 0.02}),
            record("run-0001", {"code": 0.5, "legal": 0.5}),
            record("run-0002", {"code": 1.0}, status=FAILED),
            record("m-run-0000", {"code": 1.0}, scale="m")]
    reused = reuse_records(runs, dmap, {}, source="old", max_dropped=0.05)
    assert (len(reused.records), reused.left_out, reused.others) == (1, 1, 2)
    kept = reused.records[0]
    assert kept.run_id == "reused-run-0000" and kept.reused_from == "old:run-0000"
    assert kept.mixture == pytest.approx({"code": 0.5 / 0.98, "prose": 0.48 / 0.98})
    # the dropped domain's validation loss is not one of this sweep's
    assert set(kept.evaluations[0].losses) == {"code", "prose"}
    assert kept.final_target_loss == 3.2 and runs[0].run_id == "run-0000"  # not changed


def test_a_split_domains_old_validation_loss_is_left_out():
    dmap = domain_map(OLD, ["code", "prose", "contracts", "licences"],
                      {"legal": ["contracts", "licences"]})
    reused = reuse_records([record("run-0000", {"code": 0.5, "legal": 0.5},
                                   initial_losses={"code": 9.0, "legal": 9.5})], dmap,
                           {"contracts": 1, "licences": 3}, source="old", max_dropped=0.0)
    kept = reused.records[0]
    assert kept.mixture == pytest.approx({"code": 0.5, "contracts": 0.125, "licences": 0.375})
    assert set(kept.evaluations[0].losses) == {"code", "prose"}
    assert kept.initial_losses == {"code": 9.0}  # the starting checkpoint's, likewise


def test_the_focused_prior_gives_the_changed_domains_their_share():
    prior = {"code": 0.6, "prose": 0.3, "poetry": 0.1}
    focused = focused_prior(prior, ["poetry"], 0.5)
    assert focused == pytest.approx({"code": 1 / 3, "prose": 1 / 6, "poetry": 0.5})
    assert list(focused) == list(prior)
    assert focused_prior(prior, ["code"], 0.5) == prior  # holds more already
    assert focused_prior(prior, [], 0.5) == prior
    assert focused_prior(prior, ["poetry"], 0.0) == prior


# ----------------------------------------------------------------------------- the checks


def parsed(tmp_path, reuse: dict, **mixtures):
    raw = json.loads(json.dumps(TINY))
    raw["compute"]["storage"] = "runs/new"
    raw["mixtures"].update(mixtures, reuse=reuse)
    return parse_config(raw, tmp_path)


@pytest.mark.parametrize("reuse, mixtures, field, words", [
    ({"storage": "runs/new"}, {}, "mixtures.reuse.storage", "this sweep's own"),
    ({"storage": " "}, {}, "mixtures.reuse.storage", "must name"),
    ({"storage": "old"}, {"strategy": "bayesopt"}, "mixtures.reuse", "mixtures.strategy: random"),
    ({"storage": "old", "split": {"prose": ["nope"]}}, {}, "mixtures.reuse.split.prose",
     "not a domain"),
    ({"storage": "old", "split": {"prose": ["code"], "legal": ["code"]}}, {},
     "mixtures.reuse.split.legal", "two old domains"),
    ({"storage": "old", "split": {"code": ["licences"]}}, {}, "mixtures.reuse.split.code",
     "still a domain"),
    ({"storage": "old", "split": {"prose": []}}, {}, "mixtures.reuse.split.prose", "parts"),
    ({"storage": "old", "focus": 1.0}, {}, "mixtures.reuse.focus", ""),
    ({"storage": "old", "max_dropped_weight": -0.1}, {}, "mixtures.reuse.max_dropped_weight", ""),
    ({"split": {}}, {}, "mixtures.reuse.storage", ""),
])
def test_bad_reuse_settings_are_one_line_naming_the_field(tmp_path, reuse, mixtures, field,
                                                          words):
    with pytest.raises(ConfigError) as caught:
        parsed(tmp_path, reuse, **mixtures)
    assert caught.value.field == field and words in str(caught.value)


def test_a_good_reuse_section_parses_and_resolves_against_the_config(tmp_path):
    cfg = parsed(tmp_path, {"storage": "runs/old", "split": {"readmes": ["readmes"]}})
    assert cfg.reuse_location == str(tmp_path / "runs" / "old")
    assert cfg.mixtures.reuse.max_dropped_weight == 0.05 and cfg.mixtures.reuse.focus == 0.5
    assert parsed(tmp_path, None).reuse_location is None


def test_a_rerun_after_the_earlier_sweep_moved_keeps_what_it_stored(tmp_path):
    """The earlier sweep is read once: a re-run of a sweep that stored its runs (it has a
    plan) goes on without it; a first run without it is refused."""
    cfg = parsed(tmp_path, {"storage": "runs/old"})
    with pytest.raises(UserError) as caught:
        check_reuse(cfg, None)
    assert caught.value.field == "mixtures.reuse.storage"
    plan = SweepLayout(cfg.storage_path).plan
    plan.parent.mkdir(parents=True)
    plan.write_text("run\n")
    assert check_reuse(cfg, None) is None
