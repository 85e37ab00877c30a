"""The proposal's constraints: the constraints file, the bounds, their origins and errors."""

import json

import numpy as np
import pytest

from raymix.config import SearchConfig, load_constraints
from raymix.errors import ConfigError, UserError
from raymix.mixtures import Constraints, build_constraints

DOMAINS = ["web", "code", "wiki", "math"]
TOKENS = {"web": 4e9, "code": 2e9, "wiki": 1.2e8, "math": 5e8}


def _write(tmp_path, text):
    path = tmp_path / "constraints.yaml"
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- the file


def test_load_constraints_reads_the_search_keys(tmp_path):
    path = _write(tmp_path, "method: exact\ntarget_tokens: 4e9\nmax_epochs: 4\n"
                            "min_weight: {web: 0.1}\nfixed_weight: {code: 0.2}\nseed: 3\n")
    search = load_constraints(path)
    assert search.method == "exact"
    assert search.target_tokens == 4_000_000_000 and isinstance(search.target_tokens, int)
    assert search.min_weight == {"web": 0.1} and search.fixed_weight == {"code": 0.2}
    assert search.seed == 3 and search.draws == SearchConfig().draws


def test_an_empty_constraints_file_means_the_defaults(tmp_path):
    assert load_constraints(_write(tmp_path, "")) == SearchConfig()


@pytest.mark.parametrize("text, field", [
    ("methd: exact\n", "constraints.methd"),
    ("draws: many\n", "constraints.draws"),
    ("candidates: many\n", "constraints.candidates"),  # its old name, as the file spells it
    ("min_weight: {web: lots}\n", "constraints.min_weight.web"),
    ("max_weight: [0.1]\n", "constraints.max_weight"),
    ("- just\n- a list\n", "constraints"),
    ("min_weight: {web: 0.1\n", "constraints"),  # YAML syntax
])
def test_load_constraints_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError) as info:
        load_constraints(_write(tmp_path, text))
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_a_missing_constraints_file_names_the_option(tmp_path):
    with pytest.raises(ConfigError, match="no such file") as info:
        load_constraints(tmp_path / "nope.yaml")
    assert info.value.field == "constraints"


def test_domain_names_are_checked_when_the_constraints_are_built(tmp_path):
    search = load_constraints(_write(tmp_path, "max_weight: {poetry: 0.2}\n"))
    with pytest.raises(ConfigError) as info:
        build_constraints(DOMAINS, search, where="constraints")
    assert info.value.field == "constraints.max_weight.poetry"


# ----------------------------------------------------------------------------- the bounds


def test_bounds_come_from_min_max_fixed_and_the_repetition_cap():
    search = SearchConfig(min_weight={"web": 0.1}, max_weight={"math": 0.3},
                          fixed_weight={"code": 0.2}, target_tokens=4_000_000_000, max_epochs=4)
    c = build_constraints(DOMAINS, search, available_tokens=TOKENS)
    wiki_cap = 4 * 1.2e8 / 4e9
    np.testing.assert_allclose(c.lower, [0.1, 0.2, 0.0, 0.0])
    np.testing.assert_allclose(c.upper, [1.0, 0.2, wiki_cap, 0.3])
    assert c.lower_by == ["min_weight", "fixed_weight", "weight >= 0", "weight >= 0"]
    assert c.upper_by[1] == "fixed_weight" and c.upper_by[3] == "max_weight"
    assert c.upper_by[2] == "repetition cap: 1.2e+08 tokens x 4 epochs / 4e+09 target tokens"
    assert c.fixed == {"code": 0.2}
    np.testing.assert_allclose(c.prior, np.array(list(TOKENS.values())) / sum(TOKENS.values()))


def test_a_cap_above_max_weight_leaves_max_weight_in_charge():
    search = SearchConfig(max_weight={"wiki": 0.05}, target_tokens=10**9, max_epochs=4)
    c = build_constraints(DOMAINS, search, available_tokens=TOKENS)
    assert c.upper[2] == 0.05 and c.upper_by[2] == "max_weight"  # cap 0.48 is looser


def test_the_constraints_own_token_counts_win_over_the_sweeps():
    own = dict(TOKENS, wiki=1e9)
    search = SearchConfig(target_tokens=10**10, max_epochs=4, available_tokens=own)
    c = build_constraints(DOMAINS, search, available_tokens=TOKENS)
    assert c.upper[2] == pytest.approx(0.4)  # the sweep's 1.2e8 tokens would give 0.048


def test_the_repetition_cap_needs_token_counts():
    with pytest.raises(ConfigError, match="give constraints.available_tokens") as info:
        build_constraints(DOMAINS, SearchConfig(target_tokens=10**9), where="constraints")
    assert info.value.field == "constraints.target_tokens"


def test_missing_sweep_token_counts_are_a_user_error():
    with pytest.raises(UserError, match="'math'"):
        build_constraints(DOMAINS, SearchConfig(target_tokens=10**9),
                          available_tokens={"web": 1e9, "code": 1e9, "wiki": 1e9})


def test_prior_order_search_then_argument_then_tokens_then_uniform():
    given = {"web": 1, "code": 1, "wiki": 1, "math": 5}
    own = SearchConfig(prior={"web": 1, "code": 0, "wiki": 0, "math": 1})
    np.testing.assert_allclose(build_constraints(DOMAINS, own, prior=given).prior, [.5, 0, 0, .5])
    np.testing.assert_allclose(build_constraints(DOMAINS, SearchConfig(), prior=given,
                                                 available_tokens=TOKENS).prior,
                               [.125, .125, .125, .625])
    assert build_constraints(DOMAINS, SearchConfig(), available_tokens=TOKENS).prior[0] == \
        pytest.approx(4e9 / sum(TOKENS.values()))
    np.testing.assert_allclose(build_constraints(DOMAINS, SearchConfig()).prior, 0.25)


def test_a_prior_for_other_domains_is_refused():
    with pytest.raises(UserError, match="different domains"):
        build_constraints(DOMAINS, SearchConfig(), prior={"web": 1, "code": 1})


def test_with_a_kl_pull_a_domain_of_prior_zero_is_held_at_zero():
    search = SearchConfig(kl_weight=0.1, prior={"web": 1, "code": 1, "wiki": 0, "math": 1})
    c = build_constraints(DOMAINS, search)
    assert c.upper[2] == 0 and "prior is 0" in c.upper_by[2]
    assert build_constraints(DOMAINS, SearchConfig(prior=search.prior)).upper[2] == 1


# ----------------------------------------------------------------------------- infeasible


@pytest.mark.parametrize("search, field, fix", [
    (SearchConfig(min_weight={"web": 0.7, "code": 0.5}), "search.min_weight", "lower them"),
    (SearchConfig(max_weight=dict.fromkeys(DOMAINS, 0.2)), "search.max_weight", "sum to 0.8 < 1"),
    (SearchConfig(min_weight={"wiki": 0.4}, max_weight={"wiki": 0.3}), "search.min_weight.wiki",
     "is above search.max_weight.wiki"),
    (SearchConfig(min_weight={"wiki": 0.2}, target_tokens=4 * 10**9, max_epochs=4),
     "search.min_weight.wiki", "lower it to at most 0.12"),
    (SearchConfig(fixed_weight={"wiki": 0.2}, target_tokens=4 * 10**9, max_epochs=4),
     "search.fixed_weight.wiki", "raise search.max_epochs"),
    (SearchConfig(target_tokens=10**12, max_epochs=4), "search.max_epochs",
     "raise search.max_epochs to at least"),
    (SearchConfig(kl_weight=1.0, min_weight={"wiki": 0.1},
                  prior={"web": 1, "code": 1, "wiki": 0, "math": 1}), "search.prior.wiki",
     "kl_weight"),
])
def test_infeasible_constraints_name_the_field_and_the_fix(search, field, fix):
    with pytest.raises(ConfigError, match=fix) as info:
        build_constraints(DOMAINS, search, available_tokens=TOKENS)
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_the_suggested_max_epochs_is_just_enough():
    search = SearchConfig(target_tokens=10**11, max_epochs=4, max_weight={"web": 0.5})
    with pytest.raises(ConfigError) as info:
        build_constraints(DOMAINS, search, available_tokens=TOKENS)
    needed = float(info.value.problem.split("at least ")[1].split(",")[0])
    enough = SearchConfig(target_tokens=10**11, max_epochs=needed * 1.001,
                          max_weight={"web": 0.5})
    assert build_constraints(DOMAINS, enough, available_tokens=TOKENS).upper.sum() >= 1
    short = SearchConfig(target_tokens=10**11, max_epochs=needed * 0.99, max_weight={"web": 0.5})
    with pytest.raises(ConfigError):
        build_constraints(DOMAINS, short, available_tokens=TOKENS)


# ----------------------------------------------------------------------------- the box


@pytest.fixture
def capped():
    search = SearchConfig(min_weight={"web": 0.3}, fixed_weight={"code": 0.2},
                          max_weight={"math": 0.25}, target_tokens=4 * 10**9, max_epochs=4)
    return build_constraints(DOMAINS, search, available_tokens=TOKENS)


def test_binding_names_the_constraint_behind_each_bound(capped):
    mixture = np.array([0.43, 0.2, 0.12, 0.25])
    assert capped.contains(mixture)
    binding = {b["domain"]: b for b in capped.binding(mixture)}
    assert set(binding) == {"code", "wiki", "math"}
    assert binding["code"] == {"domain": "code", "bound": "fixed", "value": 0.2,
                               "constraint": "fixed_weight"}
    assert binding["wiki"]["bound"] == "upper"
    assert binding["wiki"]["constraint"].startswith("repetition cap: 1.2e+08 tokens x 4 epochs")
    assert binding["math"] == {"domain": "math", "bound": "upper", "value": 0.25,
                               "constraint": "max_weight"}
    at_floor = {b["domain"]: b for b in capped.binding(np.array([0.3, 0.2, 0.25, 0.25]))}
    assert at_floor["web"]["bound"] == "lower" and at_floor["web"]["constraint"] == "min_weight"
    zero = {b["domain"]: b for b in capped.binding(np.array([0.55, 0.2, 0.0, 0.25]))}
    assert zero["wiki"] == {"domain": "wiki", "bound": "lower", "value": 0.0,
                            "constraint": "weight >= 0"}


def test_contains_and_project(capped):
    rows = np.array([[0.43, 0.2, 0.12, 0.25], [0.2, 0.2, 0.3, 0.3], [0.5, 0.2, 0.1, 0.1 + 1e-6]])
    np.testing.assert_array_equal(capped.contains(rows), [True, False, False])
    projected = capped.project(np.random.default_rng(0).dirichlet(np.ones(4), 500))
    assert capped.contains(projected).all()
    assert capped.contains(capped.project(rows)).all()
    np.testing.assert_allclose(capped.project(rows[0]), rows[0])


def test_to_dict_is_json_ready(capped):
    out = json.loads(json.dumps(capped.to_dict()))
    assert out["fixed"] == {"code": 0.2}
    assert out["target_tokens"] == 4 * 10**9 and out["max_epochs"] == 4.0
    assert out["upper"]["math"] == 0.25 and out["set_by"]["lower"]["web"] == "min_weight"


def test_constraints_refuse_an_empty_box():
    with pytest.raises(ValueError, match="infeasible"):
        Constraints(["a", "b"], [0.6, 0.6], [1, 1], [1, 1])
