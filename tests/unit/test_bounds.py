"""Bounded by construction: every numeric config field has a range on the schema, products
of fields are bounded, names are short, the sweep's end is checked by ``plan``, and the
config table of docs/config.md is the schema's own."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from conftest import TINY

from raymix.config import load_constraints, parse_config
from raymix.config.schema import Range
from raymix.config.table import _fields, _kind, config_table, readme_block
from raymix.errors import ConfigError
from raymix.formatting import finite
from raymix.workflows.costing import check_sweep_end, cost_preview

CONFIG_PAGE = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def changed(**changes) -> dict:
    """TINY with dotted keys (``training__steps``) set."""
    raw = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        node, keys = raw, dotted.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node.setdefault(k, {})
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return raw


def refusal(raw: dict) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    line = str(caught.value)
    assert "\n" not in line and len(line) < 400, line
    return caught.value


# ----------------------------------------------------------------------------- the ranges


def test_every_numeric_field_has_a_range():
    unbounded = []
    for name, hint, _, _ in _fields(parse_config(TINY).__class__, ""):
        kind, rule, _ = _kind(hint, name)
        if ("int" in kind or "float" in kind) and rule is None:
            unbounded.append(name)
    assert not unbounded


def test_every_default_is_inside_its_range():
    cfg = parse_config(TINY)
    for name, hint, default, _ in _fields(type(cfg), ""):
        _, rule, _ = _kind(hint, name)
        if rule is not None and isinstance(default, (int, float)) \
                and not isinstance(default, bool):
            assert rule.contains(default), name


@pytest.mark.parametrize("changes, field", [
    ({"training__grad_clip": -1}, "training.grad_clip"),
    ({"training__grad_clip": 0}, "training.grad_clip"),
    ({"model__layers": 1e300}, "model.layers"),
    ({"mixtures__repeat_seeds": 1e9}, "mixtures.repeat_seeds"),
    ({"confirm__rounds": 1e9}, "confirm.rounds"),
    ({"mixtures__num_strengths": 1e12}, "mixtures.num_strengths"),
    ({"mixtures__temperature": 1e308}, "mixtures.temperature"),
    ({"compute__cpus_per_trial": 1e-300}, "compute.cpus_per_trial"),
    ({"compute__gpus_per_trial": 1e300}, "compute.gpus_per_trial"),
    ({"compute__memory_per_trial_gb": 1e308}, "compute.memory_per_trial_gb"),
    ({"compute__max_retries": 1e18}, "compute.max_retries"),
    ({"compute__num_cpus": 1e18}, "compute.num_cpus"),
    ({"validate": {"seeds": 1e12}}, "validate.seeds"),
    ({"validate": {"steps": 1e300}}, "validate.steps"),
    ({"fit": {"at": {"params": 1e308}}}, "fit.at.params"),
    ({"fit": {"cv_folds": 1e9}}, "fit.cv_folds"),
    ({"training__batch_size": 1e9}, "training.batch_size"),
    ({"training__steps": 1e12}, "training.steps"),
    ({"search": {"max_epochs": 1e-320, "target_tokens": 1e9}}, "search.max_epochs"),
    ({"search": {"restarts": 1e12}}, "search.restarts"),
    ({"search": {"min_weight": {"code": float("nan")}}}, "search.min_weight.code"),
    ({"search": {"max_epochs": float("inf")}}, "search.max_epochs"),
    ({"data__valid_fraction": 0.5}, "data.valid_fraction"),
    ({"target": {"name": "t", "tasks": [{"name": "t", "path": "builtin:python_reference_cloze",
                                          "weight": 1e308}]}}, "target.tasks[0].weight"),
])
def test_a_value_out_of_range_is_refused_naming_its_field(changes, field):
    assert refusal(changed(**changes)).field == field


def test_a_huge_whole_number_is_shown_short():
    error = refusal(changed(model__layers=1e300))
    assert "1e+300" in error.problem and len(error.problem) < 60


def test_ranges_describe_themselves():
    assert Range(1, 10_000_000).describe() == "1 to 10,000,000"
    assert Range(0, 1, high_open=True).describe() == ">= 0 and < 1"
    assert Range(0, 1e6, low_open=True).describe() == "> 0 and <= 1,000,000"
    assert Range(1, 5).check("auto") == "auto"  # left to the scalar rule


# ----------------------------------------------------------------------------- products


@pytest.mark.parametrize("changes, field, words", [
    ({"training__steps": 10_000_000, "training__eval_every": 1}, "training.eval_every",
     "evaluations a run"),
    ({"mixtures__count": 100_000, "mixtures__repeats": 100_000, "mixtures__repeat_seeds": 100},
     "mixtures.repeat_seeds", "runs"),
    ({"search": {"draws": 10_000_000, "restarts": 1000}}, "search.restarts",
     "search.draws x search.restarts"),
    ({"model": {"layers": 256, "hidden": 65_536, "heads": 512, "intermediate": 262_144,
                "seq_len": 64}}, "model.layers", "non-embedding parameters"),
    ({"validate": {"layers": 256, "hidden": 32_768, "heads": 256}}, "validate.layers",
     "non-embedding parameters"),
])
def test_products_of_fields_are_bounded(changes, field, words):
    error = refusal(changed(**changes))
    assert error.field == field and words in error.problem


def test_a_constraints_file_is_bounded_too(tmp_path):
    for text, field in (("restarts: 1e12\n", "constraints.restarts"),
                        ("method: tpe\ntrials: 1e12\n", "constraints.trials")):
        (tmp_path / "c.yaml").write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_constraints(tmp_path / "c.yaml")
        assert caught.value.field == field


# ----------------------------------------------------------------------------- names


def test_a_huge_config_name_is_refused_and_not_echoed():
    error = refusal(changed(name="x" * 1_000_000))
    assert error.field == "name" and "1,000,002 characters" in error.problem


def test_a_long_domain_name_is_refused():
    error = refusal(changed(data__domains__0__name="d" * 10_000))
    assert error.field == "data.domains[0].name"


def test_a_huge_mapping_key_is_cut_in_the_field_name():
    error = refusal(changed(search={"min_weight": {"k" * 100_000: 0.1}}))
    assert error.field.startswith("search.min_weight.'kkk") and len(error.field) < 120


def test_names_of_64_characters_are_fine():
    parse_config(changed(name="n" * 64))
    refusal(changed(name="n" * 65))


# ----------------------------------------------------------------------------- the sweep's end


def test_plan_refuses_more_folds_than_the_first_fit_has_runs():
    cfg = parse_config(changed(fit={"cv_folds": 20}))  # 10 runs planned
    with pytest.raises(ConfigError) as caught:
        check_sweep_end(cfg)
    assert caught.value.field == "fit.cv_folds"
    assert cost_preview(cfg).refusal.field == "fit.cv_folds"
    check_sweep_end(parse_config(TINY))


def test_plan_refuses_a_repetition_cap_no_mixture_meets():
    domains = [{**d, "max_tokens": 1_000_000} for d in TINY["data"]["domains"]]
    cfg = parse_config(changed(data__domains=domains, search={"target_tokens": 1e9}))
    with pytest.raises(ConfigError) as caught:
        check_sweep_end(cfg)
    assert caught.value.field == "search.max_epochs"
    # without max_tokens the domains may hold enough: left to the sweep's data
    check_sweep_end(parse_config(changed(search={"target_tokens": 1e9})))


def test_the_preview_is_json_without_infinity():
    preview = cost_preview(parse_config(TINY))
    json.dumps(preview.to_dict(), allow_nan=False)
    assert finite({"a": [math.inf, 1.0, {"b": math.nan}], "c": "x"}) == \
        {"a": [None, 1.0, {"b": None}], "c": "x"}


# ------------------------------------------------------------------- docs/config.md


def test_the_docs_config_table_is_the_schemas():
    assert readme_block(CONFIG_PAGE.read_text()) == config_table(), (
        "docs/config.md's config table is out of date: remake it with raymix.config.table."
        "with_table (see that module's docstring)")


def test_the_table_lists_every_section():
    table = config_table()
    for section in ("data", "target", "model", "training", "mixtures", "compute", "fit",
                    "search", "scales", "validate", "confirm", "tracking"):
        assert f"`{section}" in table, section
    assert "`training.grad_clip` | float | 1 | 0.0001 to 1,000,000" in table
