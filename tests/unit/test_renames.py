"""One word, one meaning (issue 30): renamed config keys and public names still work.

Each renamed key is read from its old name with one notice naming the new one, giving
both is a one-line error, a sweep directory stored before the rename resumes, and the
old public name ``raymix.Scale`` warns once.
"""

from types import SimpleNamespace

import pytest
import yaml

from raymix.config import load_constraints, parse_config
from raymix.errors import ConfigError, ConfigNotice, UserError
from raymix.runs import SweepLayout

# old section.key -> (new section.key, a value, where the parsed config holds it)
RENAMED = {
    "search.candidates": ("search.draws", 5000, lambda cfg: cfg.search.draws),
    "mixtures.method": ("mixtures.draw", "uniform", lambda cfg: cfg.mixtures.draw),
    "mixtures.min_weight": ("mixtures.weight_floor", 0.01,
                            lambda cfg: cfg.mixtures.weight_floor),
    "mixtures.max_epochs": ("mixtures.proxy_max_epochs", 3.0,
                            lambda cfg: cfg.mixtures.proxy_max_epochs),
}


def raw(tmp_path, **sections) -> dict:
    data = {"domains": [{"name": "prose", "source": "builtin:prose"},
                        {"name": "code", "source": "builtin:code"}]}
    return {"name": "t", "data": data, "target": {"name": "mix", "domains": {"prose": 1.0}},
            "compute": {"storage": str(tmp_path / "sweep")}, **sections}


def with_key(tmp_path, field: str, value) -> dict:
    section, key = field.split(".")
    return raw(tmp_path, **{section: {key: value}})


@pytest.mark.parametrize("old", RENAMED)
def test_an_old_key_is_read_with_one_notice_naming_the_new_one(tmp_path, old):
    new, value, read = RENAMED[old]
    with pytest.warns(ConfigNotice) as notices:
        cfg = parse_config(with_key(tmp_path, old, value))
    assert read(cfg) == value
    assert [str(n.message) for n in notices] == [
        f"{old} is now {new}: rename it (read from {old} this time)"]
    assert read(parse_config(with_key(tmp_path, new, value))) == value  # the new name: quiet


@pytest.mark.parametrize("old", RENAMED)
def test_an_old_and_a_new_key_together_are_one_line_naming_both(tmp_path, old):
    new, value, _ = RENAMED[old]
    section, key = old.split(".")
    both = raw(tmp_path, **{section: {key: value, new.split(".")[1]: value}})
    with pytest.raises(ConfigError) as info:
        parse_config(both)
    assert info.value.field == old
    assert str(info.value) == (f"config field '{old}': is now {new}, which the file sets too; "
                               f"keep only {new}")


@pytest.mark.parametrize("old", RENAMED)
def test_an_old_key_in_set_overrides_the_new_key_of_the_file(tmp_path, old):
    """``--set mixtures.max_epochs=3`` on a file that says ``proxy_max_epochs``: the
    override sets the new key, with the notice (not the error of a file giving both)."""
    new, value, read = RENAMED[old]
    section, key = new.split(".")
    default = read(parse_config(raw(tmp_path)))
    given = raw(tmp_path, **{section: {key: default}})
    with pytest.warns(ConfigNotice) as notices:
        cfg = parse_config(given, overrides=[f"{old}={value}"])
    assert read(cfg) == value
    assert [str(n.message) for n in notices] == [
        f"{old} is now {new}: rename it (read from {old} this time)"]


def test_an_error_in_an_old_key_names_it_as_the_file_spells_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_config(with_key(tmp_path, "mixtures.method", "grid"))
    assert info.value.field == "mixtures.method"
    assert info.value.problem.startswith("(now mixtures.draw) must be one of dirichlet")


def test_a_constraints_file_reads_the_old_name_of_draws(tmp_path):
    path = tmp_path / "constraints.yaml"
    path.write_text("candidates: 500\ntop_k: 5\n")
    with pytest.warns(ConfigNotice, match="constraints.candidates is now constraints.draws"):
        assert load_constraints(path).draws == 500
    path.write_text("candidates: 500\ndraws: 600\n")
    with pytest.raises(ConfigError, match="keep only constraints.draws") as info:
        load_constraints(path)
    assert info.value.field == "constraints.candidates"


def test_a_sweep_directory_stored_before_the_renames_resumes(tmp_path):
    """Its config.yaml spells the old keys; the same values under the new names match it,
    other values are refused naming the new key."""
    from raymix.sweep.experiment import check_experiment

    values = {old: value for old, (_, value, _) in RENAMED.items()}
    stored = raw(tmp_path, mixtures={}, search={})
    for old, value in values.items():
        section, key = old.split(".")
        stored[section][key] = value
    with pytest.warns(ConfigNotice):
        cfg = parse_config(stored)
    before = cfg.to_dict()  # as an older raymix wrote it: the old names
    for old in values:
        section, key = old.split(".")
        new_key = RENAMED[old][0].split(".")[1]
        before[section][key] = before[section].pop(new_key)
    cfg.storage_path.mkdir(parents=True)
    SweepLayout(cfg.storage_path).config.write_text(yaml.safe_dump(before))
    tokens = {"prose": 10**7, "code": 10**7}
    prepared = SimpleNamespace(train_tokens=tokens, prior={"prose": 0.5, "code": 0.5},
                               path=tmp_path / "prepared")
    check_experiment(cfg, prepared)  # resumes
    changed = parse_config(raw(tmp_path, mixtures={"draw": "dirichlet"},
                               search={"draws": values["search.candidates"]}))
    with pytest.raises(UserError, match="mixtures.draw = 'uniform', not 'dirichlet'"):
        check_experiment(changed, prepared)


def test_raymix_scale_is_target_size_and_warns_once():
    import raymix
    from raymix.scaling import TargetSize

    raymix.__dict__.pop("Scale", None)  # as if first used now
    with pytest.warns(FutureWarning, match="raymix.Scale is now raymix.TargetSize"):
        assert raymix.Scale is TargetSize
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert raymix.Scale(params=1e9).params == 1e9  # the second use is quiet
    assert "Scale" not in raymix.__all__ and "TargetSize" in raymix.__all__


def test_the_joint_law_shares_a_base_with_the_nested_law_but_is_not_one():
    from raymix.scaling import JointScalingLaw, MixtureScalingLaw, NestedScalingLaw

    assert issubclass(JointScalingLaw, MixtureScalingLaw)
    assert issubclass(NestedScalingLaw, MixtureScalingLaw)
    assert not issubclass(JointScalingLaw, NestedScalingLaw)
    assert JointScalingLaw().get_params() == {"checkpoints": "all", "huber_delta": 0.001,
                                              "min_tokens": None}


def test_the_prepared_data_cache_lives_in_its_own_module():
    import raymix
    from raymix.data import prepared, tokenize

    assert raymix.prepare is prepared.prepare and raymix.PreparedData is prepared.PreparedData
    assert not hasattr(tokenize, "prepare") and hasattr(tokenize, "encode")


def test_a_constraints_file_moves_no_key_out_of_its_search_section(tmp_path):
    path = tmp_path / "constraints.yaml"
    path.write_text("strategy: bayesopt\n")  # a sweep's key, not a constraint
    with pytest.raises(ConfigError) as info:
        load_constraints(path)
    assert info.value.field == "constraints.strategy"
    assert info.value.problem.startswith("unknown key")
