"""The sweep YAML: the shipped configs parse, and each mistake names its field."""

import copy
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from raymix.config import load_config, parse_config
from raymix.errors import ConfigError, UserError

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
    ("mixtures.draw", "grid", "mixtures.draw"),
    ("mixtures.count", 0, "mixtures.count"),
    ("mixtures.proxy_max_epochs", 0, "mixtures.proxy_max_epochs"),
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


# ----------------------------------------------------------------------------- --set overrides


@pytest.mark.parametrize("text,path,value", [
    ("training.steps=100", ("training", "steps"), 100),
    ("fit.regressors=[ridge, gp]", ("fit", "regressors"), ["ridge", "gp"]),
    ("search.min_weight={code: 0.1}", ("search", "min_weight"), {"code": 0.1}),
    ("compute.storage=s3://b/p", ("compute", "storage"), "s3://b/p"),  # a string, as in YAML
    ("target.name=null", ("target", "name"), None),
    ("training.eval_every=", ("training", "eval_every"), None),  # nothing is null, as in YAML
    ("training.save_checkpoint=true", ("training", "save_checkpoint"), True),
    ("name='100'", ("name",), "100"),  # quoted: a string
    ("name=a=b", ("name",), "a=b"),  # the first '=' ends the key
    (" training.steps = 100", ("training", "steps"), 100),
    ("data.domains[0].max_tokens=5", ("data", "domains", 0, "max_tokens"), 5),
    ("data.domains.0.max_tokens=5", ("data", "domains", "0", "max_tokens"), 5),
    ("scales[1][0]=x", ("scales", 1, 0), "x"),
])
def test_an_override_is_a_key_path_and_a_yaml_value(text, path, value):
    from raymix.config import parse_overrides

    (override,) = parse_overrides([text])
    assert (override.text, override.path, override.value) == (text, path, value)


def test_overrides_change_the_values_as_the_file_would():
    cfg = load_config(DEMO, ["training.steps=1000", "fit.regressors=[ridge,gp]",
                             "compute.storage=s3://b/p", "data.domains[0].max_tokens=1e6",
                             "data.domains.1.text_field=body", "training.lr=1e-3",
                             "tracking.mlflow.tracking_uri=sqlite:///m.db",  # made on the way
                             "mixtures.count=50", "mixtures.count=60"])  # the last one wins
    assert cfg.training.steps == 1000 and cfg.training.lr == 0.001
    assert cfg.fit.regressors == ["ridge", "gp"] and cfg.compute.storage == "s3://b/p"
    assert cfg.data.domains[0].max_tokens == 1_000_000 and cfg.data.domains[1].text_field == "body"
    assert cfg.tracking.mlflow.tracking_uri == "sqlite:///m.db" and cfg.mixtures.count == 60
    assert cfg.overrides[0] == "training.steps=1000" and len(cfg.overrides) == 9
    assert load_config(DEMO).overrides == []  # the signature without overrides still works


def test_relative_paths_of_overrides_start_at_the_configs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the working directory
    cfg = load_config(DEMO, ["compute.storage=runs/other", "data.cache_dir=cache"])
    assert cfg.storage_path == DEMO.parent / "runs" / "other"
    assert cfg.cache_path == DEMO.parent / "cache"


@pytest.mark.parametrize("text,field,words", [
    ("training.steps=abc", "training.steps", "must be a whole number (got 'abc')"),
    ("training.steps=-5", "training.steps", "training.steps"),
    ("training.stepz=5", "training.stepz", "unknown key; allowed: steps, batch_size"),
    ("data.domains[0].weight=2", "data.domains[0].weight", "unknown key; allowed: name, source"),
    ("target.name=null", "target.name", "must be a string (got None)"),
    ("fit.regressors=[xgboost]", "fit.regressors[0]", "xgboost"),
    ("search.strategy=sometimes", "search.strategy", "(now mixtures.strategy)"),  # moved key
])
def test_an_overridden_value_is_checked_as_the_files_own(text, field, words):
    with pytest.raises(ConfigError) as info:
        load_config(DEMO, [text])
    assert info.value.field == field and words in str(info.value)
    assert "\n" not in str(info.value)


def test_the_same_error_as_the_file(tmp_path):
    raw = demo_raw()
    raw["training"]["steps"] = "abc"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as from_file:
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError) as from_override:
        load_config(DEMO, ["training.steps=abc"])
    assert str(from_file.value) == str(from_override.value)


@pytest.mark.parametrize("text,words", [
    ("training.steps", "has no '='"),
    ("=5", "has no key before '='"),
    (" =5", "has no key before '='"),
    ("trainig.steps=5", "trainig.steps: unknown section 'trainig'; a key starts with one of name, "
                        "data"),
    ("overrides=[]", "unknown section 'overrides'"),  # the record is not a setting
    ("data..name=x", "data..name: not a key"),
    ("data.=x", "not a key"),
    ("[0].name=x", "not a key"),
    ("data.domains[a].name=x", "[a] is not a list index"),
    ("data.domains[-1].name=x", "[-1] is not a list index"),
    ("data.domains[0.name=x", "[0 is not a list index"),
    ("data.domains[6].name=x", "index 6 is out of range: data.domains has 6 items "
                               "(index 0 to 5)"),
    ("data.domains.9.name=x", "index 9 is out of range"),
    ("data.domains.code.name=x", "data.domains is a list; pick its item by index"),
    ("training[0]=1", "training is a mapping, not a list"),
    ("training.steps.first=1", "training.steps is 480, not a mapping or list"),
    ("name.first=x", "name is 'demo', not a mapping or list"),
    ("scales[0].name=x", "scales is not in the config, so it has no item [0]"),
    ("training.steps=[1,", "the value '[1,' is not valid YAML"),
    ("training.steps={a: 1, a: 2}", "given twice"),
    ("name=!!python/object/apply:os.system ['true']", "remove the tag"),
])
def test_an_override_that_cannot_be_followed_is_refused(text, words):
    with pytest.raises(UserError) as info:
        load_config(DEMO, [text])
    assert not isinstance(info.value, ConfigError)
    assert info.value.field == "overrides" and words in info.value.problem, info.value.problem
    assert "\n" not in str(info.value)


def test_a_malformed_override_is_refused_before_the_file_is_read(tmp_path):
    with pytest.raises(UserError, match="has no '='"):
        load_config(tmp_path / "missing.yaml", ["training.steps"])


def test_overrides_change_a_copy_and_one_place_an_alias_points_to():
    from raymix.config import apply_overrides

    shared = {"hidden": 64}
    raw = {"validate": shared, "confirm": shared, "data": {"domains": [{"name": "a"}]}}
    out = apply_overrides(raw, ["validate.hidden=128", "data.domains[0].name=b"])
    assert out["validate"] == {"hidden": 128} and out["confirm"] == {"hidden": 64}
    assert raw == {"validate": {"hidden": 64}, "confirm": {"hidden": 64},
                   "data": {"domains": [{"name": "a"}]}}
    assert apply_overrides({"model": None}, ["model.layers=3"]) == {"model": {"layers": 3}}
    assert apply_overrides({}, ["data={domains: []}"]) == {"data": {"domains": []}}


def test_parse_config_takes_overrides_and_adds_them_to_its_record():
    raw = demo_raw()
    raw["overrides"] = ["training.steps=1000"]  # as a sweep's stored config.yaml holds them
    raw["training"]["steps"] = 1000
    cfg = parse_config(raw, base_dir=DEMO.parent, overrides=["mixtures.count=60"])
    assert cfg.overrides == ["training.steps=1000", "mixtures.count=60"]
    assert cfg.training.steps == 1000 and cfg.mixtures.count == 60
    raw["overrides"] = "training.steps=1000"
    with pytest.raises(ConfigError, match="'overrides': must be a list"):
        parse_config(raw, base_dir=DEMO.parent)


def test_the_stored_config_records_the_overrides_and_reads_back(tmp_path):
    from types import SimpleNamespace

    from raymix.runs import SweepLayout
    from raymix.sweep.experiment import check_experiment, start_experiment
    from raymix.workflows.reporting import load_sweep

    given = ["training.steps=1000", f"compute.storage={tmp_path / 'sweep'}"]
    cfg = load_config(DEMO, given)
    prepared = SimpleNamespace(prior={d: 1 / 6 for d in cfg.domain_names}, vocab_size=2048,
                               train_tokens={d: 10**6 for d in cfg.domain_names},
                               path=Path("prepared-0123"))
    check_experiment(cfg, prepared)
    start_experiment(cfg, prepared)
    layout = SweepLayout(cfg.storage_path)
    stored = yaml.safe_load(layout.config.read_text())
    assert list(stored)[:2] == ["name", "overrides"] and stored["overrides"] == given
    assert stored["training"]["steps"] == 1000  # the values the runs were made with

    check_experiment(load_config(DEMO, given), prepared)  # the same --set: it resumes
    check_experiment(load_config(DEMO, [*given, "compute.max_retries=5"]), prepared)  # neutral
    with pytest.raises(UserError) as info:  # another --set that changes what runs measure
        check_experiment(load_config(DEMO, [given[1], "training.steps=900"]), prepared)
    assert info.value.field == "training.steps"
    assert "made with --set training.steps=1000" in str(info.value)

    for name in ("mixtures.csv", "metrics.csv"):  # a finished sweep, as far as reading goes
        (layout.root / name).write_text("")
    back = load_sweep(layout.root)  # through parse_config, as raymix report DIR reads it
    assert back.overrides == given and back.training.steps == 1000
    assert back.to_dict() == cfg.to_dict()
    with pytest.raises(UserError) as info:
        load_sweep(layout.root, ["training.steps=5"])
    assert info.value.field == "overrides" and "goes with a CONFIG" in info.value.problem


def test_the_command_line_takes_set_on_every_command_with_a_config():
    from raymix.cli.arguments import error_line, set_flags
    from raymix.cli.commands import build_parser

    parser = build_parser()
    for command in ("plan", "prepare", "sweep", "fit", "propose", "report", "validate"):
        args = parser.parse_args([command, "x.yaml", "--set", "a.b=1", "--set", "c=[1, 2]"])
        assert args.overrides == ["a.b=1", "c=[1, 2]"], command
        assert parser.parse_args([command, "x.yaml"]).overrides == []
    refused = UserError("'x' has no '='; give KEY=VALUE", field="overrides")
    assert error_line(refused, args) == "--set: 'x' has no '='; give KEY=VALUE"
    stored = ConfigError("overrides", "must be a list (got str)")  # the file's own key
    assert error_line(stored, args) == "config field 'overrides': must be a list (got str)"
    assert set_flags(["training.steps=5", "fit.regressors=[gp]"]) == [
        "--set", "training.steps=5", "--set", "fit.regressors=[gp]"]
    with pytest.raises(UserError, match="unknown section"):
        set_flags(["trainig.steps=5"])


# ----------------------------------------------------------------------------- the user's cache


def test_the_shipped_configs_share_the_users_cache():
    for path in sorted((ROOT / "jobs" / "configs").glob("*.yaml")):
        assert load_config(path).data.cache_dir is None, path


@pytest.mark.parametrize("env,expected", [
    ({"RAYMIX_CACHE": "/r/cache", "XDG_CACHE_HOME": "/x"}, "/r/cache/prepared"),
    ({"XDG_CACHE_HOME": "/x"}, "/x/raymix/prepared"),
    ({}, "~/.cache/raymix/prepared"),
    ({"RAYMIX_CACHE": "", "XDG_CACHE_HOME": ""}, "~/.cache/raymix/prepared"),  # empty: unset
    ({"RAYMIX_CACHE": "~/rc"}, "~/rc/prepared"),
])
def test_a_config_naming_no_cache_uses_the_users_cache(env, expected, monkeypatch, tmp_path):
    from raymix.storage import user_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAYMIX_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    expected = Path(expected.replace("~", str(tmp_path)))
    assert load_config(DEMO).cache_path == expected
    assert user_cache_dir() / "prepared" == expected
    copy_of_demo = tmp_path / "elsewhere" / "demo.yaml"  # a copy anywhere: the same cache
    copy_of_demo.parent.mkdir()
    copy_of_demo.write_text(DEMO.read_text())
    assert load_config(copy_of_demo).cache_path == expected


def test_a_relative_cache_variable_starts_at_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAYMIX_CACHE", "here")
    assert load_config(DEMO).cache_path == tmp_path / "here" / "prepared"


def test_a_config_naming_a_cache_keeps_it_relative_to_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYMIX_CACHE", str(tmp_path / "user"))
    raw = demo_raw()
    raw["data"]["cache_dir"] = "../cache"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text(yaml.safe_dump(raw))
    assert load_config(tmp_path / "configs" / "mine.yaml").cache_path == tmp_path / "cache"


OVERRIDE_KEY = st.lists(st.one_of(
    st.sampled_from(["data", "domains", "training", "steps", "search", "min_weight", "code",
                     "name", "scales", "tracking", "mlflow", "0", "7", "[0]", "[1]", "[x]", ""]),
    st.text(alphabet=string.ascii_lowercase + "[]0123 ", max_size=5)), min_size=1, max_size=4)
OVERRIDE_VALUE = st.text(alphabet=string.ascii_lowercase + string.digits + ":{}[],-&*!'\" .=",
                         max_size=20)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(keys=st.lists(st.tuples(OVERRIDE_KEY, OVERRIDE_VALUE), min_size=1, max_size=3))
def test_any_override_is_applied_or_refused_in_one_line(keys):
    overrides = [".".join(path) + "=" + value for path, value in keys]
    try:
        load_config(DEMO, overrides)
    except UserError as exc:
        assert "\n" not in str(exc), str(exc)
