"""The sweep YAML: the shipped configs parse, and each mistake names its field."""

import copy
from pathlib import Path

import pytest
import yaml

from raymix.config import load_config, parse_config
from raymix.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "jobs" / "configs" / "demo.yaml"


def demo_raw() -> dict:
    return yaml.safe_load(DEMO.read_text())


@pytest.mark.parametrize("path", sorted((ROOT / "jobs" / "configs").glob("*.yaml")))
def test_shipped_configs_parse(path):
    cfg = load_config(path)
    assert len(cfg.domain_names) >= 2
    assert cfg.training.eval_steps[-1] == cfg.training.steps


def test_demo_config_meets_the_brief():
    cfg = load_config(DEMO)
    assert len(cfg.domain_names) >= 6
    assert cfg.mixtures.count >= 48
    # the target is a separate corpus, not one of the training domains
    assert cfg.target.source and cfg.target.name not in cfg.domain_names
    assert len(cfg.training.eval_steps) >= 3
    # relative paths are resolved against the YAML's folder, not the cwd
    assert cfg.storage_path == (ROOT / "runs" / "demo")


def _set(raw, dotted, value):
    node = raw
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value


DELETE = object()

BAD = [
    ("data.domains", [], "data.domains"),
    ("data.domains.1.name", "code", "data.domains[1].name"),  # duplicate
    ("data.domains.1.name", "9bad", "data.domains[1].name"),
    ("data.domains.0.source", DELETE, "data.domains[0].source"),
    ("data.domains.0.colour", "red", "data.domains[0].colour"),
    ("data.tokenizer.vocab_size", 100, "data.tokenizer.vocab_size"),
    ("data.valid_fraction", 0.7, "data.valid_fraction"),
    ("target.domains", {"code": 1.0}, "target"),  # both source and domains
    ("target.name", "code", "target.name"),
    ("model.heads", 3, "model.heads"),
    ("model.layers", "two", "model.layers"),
    ("training.steps", -5, "training.steps"),
    ("training.warmup_steps", 500, "training.warmup_steps"),
    ("training.eval_every", 400, "training.eval_every"),
    ("training.lr", "fast", "training.lr"),
    ("mixtures.method", "grid", "mixtures.method"),
    ("mixtures.count", 0, "mixtures.count"),
    ("mixtures.max_epochs", 0, "mixtures.max_epochs"),
    ("compute.gpus_per_trial", 1.5, "compute.gpus_per_trial"),
    ("compute.cpus_per_trial", 0, "compute.cpus_per_trial"),
    ("fit.regressors", ["xgboost"], "fit.regressors[0]"),
    ("fit.cv_folds", 1, "fit.cv_folds"),
    ("search.top_k", 10**9, "search.top_k"),
    ("search.min_weight", {"nope": 0.1}, "search.min_weight.nope"),
    ("search.max_weight", {"code": 0.1, "docstrings": 0.1, "readmes": 0.1, "licences": 0.1,
                           "drama": 0.1, "poetry": 0.1}, "search.max_weight"),
    ("surprise", 1, "surprise"),
    # multi-scale sweeps, the target scale, validation and continual pretraining
    ("scales", {"name": "m"}, "scales"),
    ("scales", [{"name": "base", "hidden": 96}], "scales[0].name"),
    ("scales", [{"name": "m", "hidden": 96}, {"name": "m", "hidden": 32}], "scales[1].name"),
    ("scales", [{"name": "m"}], "scales[0]"),  # changes nothing
    ("scales", [{"name": "m", "hidden": 96, "heads": 5}], "scales[0].heads"),
    ("scales", [{"name": "m", "hidden": -1}], "scales[0].hidden"),
    ("scales", [{"name": "m", "hidden": 96, "mixtures": 1000}], "scales[0].mixtures"),
    ("scales", [{"name": "m", "depth": 3}], "scales[0].depth"),
    ("fit.at", {"params": 1e6, "flops": 1e15}, "fit.at.flops"),
    ("fit.at", {"tokens": -1}, "fit.at.tokens"),
    ("fit.checkpoints", "some", "fit.checkpoints"),
    ("fit.min_tokens", 0, "fit.min_tokens"),
    ("fit.law", "chinchilla", "fit.law"),
    ("validate.seeds", 0, "validate.seeds"),
    ("validate.hidden", 100, "validate.heads"),  # 100 / 4 heads is not even
    ("validate.steps", 2, "validate.steps"),
    ("validate.mixtures", {"mine": {"nope": 1.0}}, "validate.mixtures.mine.nope"),
    ("validate.mixtures", {"mine": {"code": 0.0}}, "validate.mixtures.mine"),
    ("validate.mixtures", {"mine": {"code": "half"}}, "validate.mixtures.mine.code"),
    ("training.init_from", "no/such/checkpoint", "training.init_from"),
    # the confirmation round
    ("confirm.seeds", 1, "confirm.seeds"),
    ("confirm.candidates", 1, "confirm.candidates"),  # + observed 0 below: fewer than 2
    ("confirm.rounds", -1, "confirm.rounds"),
    ("confirm.min_distance", 1.0, "confirm.min_distance"),
    ("confirm.steps", 2, "confirm.steps"),
    ("confirm.hidden", 100, "confirm.heads"),
    ("confirm.scale", 2, "confirm.scale"),
    ("scales", [{"name": "confirm", "hidden": 96}], "scales[0].name"),  # the round's own
]


@pytest.mark.parametrize("dotted,value,field", BAD, ids=[b[0] for b in BAD])
def test_each_mistake_names_its_field(dotted, value, field):
    raw = copy.deepcopy(demo_raw())
    if dotted == "confirm.candidates":
        _set(raw, "confirm.observed", 0)
    _set(raw, dotted, value)
    with pytest.raises(ConfigError) as info:
        parse_config(raw, base_dir=DEMO.parent)
    assert info.value.field == field
    message = str(info.value)
    assert "\n" not in message and f"'{field}'" in message


def test_weighted_domain_target():
    raw = demo_raw()
    raw["target"] = {"name": "mix", "domains": {"code": 0.5, "drama": 0.5}}
    cfg = parse_config(raw, base_dir=DEMO.parent)
    assert cfg.target.domains == {"code": 0.5, "drama": 0.5}
    raw["target"] = {"domains": {"code": 1.0, "ghost": 1.0}}
    with pytest.raises(ConfigError, match="target.domains.ghost"):
        parse_config(raw)


def test_an_empty_section_means_its_defaults():
    raw = demo_raw()
    raw.update(model=None, scales=None, validate=None)
    raw["data"]["tokenizer"] = None
    cfg = parse_config(raw, base_dir=DEMO.parent)
    assert cfg.scales == [] and cfg.model.layers == 2 and cfg.data.tokenizer.vocab_size == 4096
    raw["data"] = None
    with pytest.raises(ConfigError, match="'data': must be a mapping"):
        parse_config(raw, base_dir=DEMO.parent)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    # safe loading: a Python object tag is refused, not executed
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        load_config(evil)


@pytest.mark.parametrize("path", sorted((ROOT / "jobs" / "constraints").glob("*.yaml")))
def test_shipped_constraints_parse(path):
    from raymix.config import load_constraints

    search = load_constraints(path)
    assert search.target_tokens and search.available_tokens


def test_scales_and_validation_scale_override_the_base_model():
    raw = demo_raw()
    raw["scales"] = [{"name": "l", "hidden": 128, "intermediate": 512, "mixtures": 8}]
    raw["validate"] = {"layers": 4, "steps": 960, "seeds": 3}
    cfg = parse_config(raw, base_dir=DEMO.parent)
    models = cfg.scale_models()
    assert list(models) == ["base", "l"]
    assert (models["l"].hidden, models["l"].layers, models["l"].seq_len) == (128, 2, 128)
    from raymix.workflows.validation import validation_config

    v = validation_config(cfg)
    assert (v.model.layers, v.model.hidden) == (4, 64)
    # the schedule stretches with the steps: warmup and evaluations scale along
    assert (v.training.steps, v.training.warmup_steps, v.training.eval_every) == (960, 480, 320)
    assert v.storage_path == cfg.storage_path / "validate" and v.scales == []
