"""Domains in groups: group bounds in the search, their projection, draws a level at a time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raymix.config import MixturesConfig, SearchConfig, check_search
from raymix.errors import ConfigError
from raymix.mixtures import Constraints, build_constraints, make_strategy, sample_mixtures
from raymix.proposal.search import search_mixture

DOMAINS = ["news", "science", "papers", "code", "books"]
# web holds news and web/science (science, papers); code on its own; books ungrouped
GROUPS = {"web": ["news", "science", "papers"], "web/science": ["science", "papers"],
          "software": ["code"]}
PRIOR = {"news": 5.0, "science": 2.0, "papers": 1.0, "code": 3.0, "books": 1.0}
TOKENS = {d: 10**6 for d in DOMAINS}


def box(groups=GROUPS, **search) -> Constraints:
    return build_constraints(DOMAINS, SearchConfig(**search), groups=groups)


# ----------------------------------------------------------------------------- checks


def test_group_keys_need_groups():
    check_search(SearchConfig(min_weight={"web": 0.5}), DOMAINS, groups=GROUPS)
    with pytest.raises(ConfigError, match="names no domain; choose") as error:
        check_search(SearchConfig(min_weight={"web": 0.5}), DOMAINS)
    assert error.value.field == "search.min_weight.web"
    with pytest.raises(ConfigError, match="no domain or group") as error:
        check_search(SearchConfig(max_weight={"webs": 0.5}), DOMAINS, "constraints", GROUPS)
    assert error.value.field == "constraints.max_weight.webs"
    with pytest.raises(ConfigError) as error:  # the prior stays per domain
        check_search(SearchConfig(prior={**PRIOR, "web": 1.0}), DOMAINS, groups=GROUPS)
    assert error.value.field == "search.prior.web"


@pytest.mark.parametrize("search, field, words", [
    ({"min_weight": {"web": 0.6}, "max_weight": {"web": 0.4}}, "search.min_weight.web",
     "is above search.max_weight.web"),
    ({"min_weight": {"web/science": 0.5}, "max_weight": {"science": 0.1, "papers": 0.2}},
     "search.min_weight.web/science", "more than the group's domains may hold"),
    ({"fixed_weight": {"web": 0.9}, "max_weight": {"news": 0.1, "web/science": 0.1}},
     "search.fixed_weight.web", "more than the group's domains may hold"),
    ({"min_weight": {"science": 0.3}, "max_weight": {"web/science": 0.2}},
     "search.max_weight.web/science", "less than the group's domains' minimum"),
    ({"min_weight": {"web": 0.7, "software": 0.2, "books": 0.2}}, "search.min_weight",
     "sum to 1.1 > 1 at the top level"),
    ({"max_weight": {"web": 0.3, "software": 0.3, "books": 0.3}}, "search.max_weight",
     "at most 0.9 < 1"),
])
def test_infeasible_group_bounds_name_the_field(search, field, words):
    with pytest.raises(ConfigError, match=words) as error:
        box(**search)
    assert error.value.field == field


def test_repetition_cap_below_a_group_minimum():
    search = SearchConfig(min_weight={"web/science": 0.5}, target_tokens=10**7, max_epochs=2)
    tokens = {**TOKENS, "science": 10**6, "papers": 10**6}  # each capped at 0.2
    with pytest.raises(ConfigError, match=r"\(0.4, by their max_weight") as error:
        build_constraints(DOMAINS, search, available_tokens=tokens, groups=GROUPS)
    assert error.value.field == "search.min_weight.web/science"


# ----------------------------------------------------------------------------- the box


def test_without_group_bounds_nothing_changes():
    flat = build_constraints(DOMAINS, SearchConfig(max_weight={"news": 0.3}))
    grouped = box(max_weight={"news": 0.3})
    w = np.random.default_rng(0).dirichlet(np.ones(5), size=50) * 1.3 - 0.05
    np.testing.assert_array_equal(flat.project(w), grouped.project(w))
    assert flat.to_dict() == {k: v for k, v in grouped.to_dict().items()
                              if not k.startswith("group")}
    assert "groups" not in flat.to_dict()


def test_contains_binding_and_to_dict_see_the_groups():
    c = box(min_weight={"web": 0.7}, max_weight={"web/science": 0.2, "books": 0.05})
    w = c.project(np.full(5, 0.2))
    assert c.contains(w)
    np.testing.assert_allclose(w @ c.members.T, [0.7, 0.2, w[3]], atol=1e-9)
    assert not c.contains(np.full(5, 0.2))  # web at 0.6
    bound = {(b.get("group"), b["bound"]) for b in c.binding(w) if "group" in b}
    assert bound == {("web", "lower"), ("web/science", "upper")}
    first = next(b for b in c.binding(w) if b.get("group") == "web")
    assert first == {"group": "web", "bound": "lower", "value": 0.7, "constraint": "min_weight"}
    d = c.to_dict()
    assert d["groups"] == GROUPS and d["group_lower"]["web"] == 0.7
    assert d["group_set_by"]["upper"] == {"web": "weight <= 1", "web/science": "max_weight",
                                          "software": "weight <= 1"}


def test_fixed_group_is_reported_fixed():
    c = box(fixed_weight={"software": 0.25})
    w = c.project(np.full(5, 0.2))
    assert abs(w[3] - 0.25) < 1e-9
    assert {"group": "software", "bound": "fixed", "value": 0.25,
            "constraint": "fixed_weight"} in c.binding(w)


BOUNDED = [
    box(min_weight={"web": 0.7}, max_weight={"web/science": 0.2}),
    box(min_weight={"web/science": 0.4, "code": 0.1}, max_weight={"web": 0.6, "papers": 0.1}),
    box(fixed_weight={"web": 0.5}, min_weight={"books": 0.3}),
]
POINTS = st.lists(st.floats(-1, 2, allow_nan=False), min_size=5, max_size=5).map(np.array)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(which=st.integers(0, len(BOUNDED) - 1), x=POINTS, y=POINTS)
def test_projection_is_the_nearest_feasible_point(which, x, y):
    c = BOUNDED[which]
    p = c.project(x)
    assert c.contains(p)
    np.testing.assert_allclose(c.project(p), p, atol=1e-9)  # idempotent
    feasible = c.project(y)  # any feasible point is no closer to x than p is
    assert np.linalg.norm(p - x) <= np.linalg.norm(feasible - x) + 1e-9
    for t in (0.25, 0.5, 0.75):  # nor is any point on the segment to it (convex set)
        q = (1 - t) * p + t * feasible
        assert np.linalg.norm(p - x) <= np.linalg.norm(q - x) + 1e-9


def test_projection_matches_a_solver():
    from scipy.optimize import minimize

    c = BOUNDED[1]
    x = np.array([0.9, 0.5, -0.2, 0.1, 0.3])
    members = c.members
    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1}]
    for m, lo, hi in zip(members, c.group_lower, c.group_upper):
        cons += [{"type": "ineq", "fun": lambda w, m=m, lo=lo: m @ w - lo},
                 {"type": "ineq", "fun": lambda w, m=m, hi=hi: hi - m @ w}]
    best = minimize(lambda w: ((w - x) ** 2).sum(), c.project(np.full(5, 0.2)), method="SLSQP",
                    bounds=list(zip(c.lower, c.upper)), constraints=cons,
                    options={"ftol": 1e-14, "maxiter": 500})
    np.testing.assert_allclose(c.project(x), best.x, atol=1e-6)


# ----------------------------------------------------------------------------- the search


class Linear:
    """A differentiable model: loss = w @ coef (its best mixture sits on the bounds)."""

    def __init__(self, coef):
        self.coef = np.asarray(coef, dtype=float)

    def predict(self, X):
        return np.atleast_2d(X) @ self.coef

    def gradient(self, X):
        return np.tile(self.coef, (len(np.atleast_2d(X)), 1))


@pytest.mark.parametrize("method", ["exact", "simulate", "tpe"])
def test_every_search_method_keeps_the_group_bounds(method):
    c = box(min_weight={"web": 0.6}, max_weight={"web/science": 0.25})
    # science is best, then news: the optimum is science 0.25, news 0.35, the rest on code
    model = Linear([2.0, 1.0, 3.0, 1.5, 4.0])
    result = search_mixture(model, c, SearchConfig(method=method, draws=4000, top_k=5,
                                                   trials=40, restarts=4))
    w = result.mixture
    assert c.contains(w)
    if method == "exact":
        np.testing.assert_allclose(w, [0.35, 0.25, 0.0, 0.4, 0.0], atol=1e-6)


def test_adaptive_strategies_suggest_inside_the_group_bounds():
    c = box(min_weight={"web": 0.6}, max_weight={"web/science": 0.25})
    for name in ("random", "bayesopt", "design"):
        s = make_strategy(name, DOMAINS, c.lower, c.upper, prior=c.prior, initial=3,
                          seed=2, pool_size=256, groups=c.groups, group_lower=c.group_lower,
                          group_upper=c.group_upper)
        rows = s.suggest(3)
        s.observe(rows, [1.0, 2.0, 3.0])
        rows = np.vstack([rows, s.suggest(2)])
        assert c.contains(rows).all(), name
        again = type(s).from_dict(s.to_dict())  # the groups survive a restart
        assert again.box.groups == GROUPS and np.allclose(again.box.group_upper, c.group_upper)


# ----------------------------------------------------------------------------- draws


# sample_mixtures of a flat config before groups existed (the commit before issue 32's):
# the same seeds must keep drawing exactly these
FLAT_PRIOR = {"a": 5.0, "b": 3.0, "c": 1.0, "d": 0.5}
FLAT_TOKENS = {"a": 10**6, "b": 10**6, "c": 10**5, "d": 10**5}
PINNED = {
    "dirichlet": [[0.7078839195, 0.0506408708, 0.1729493477, 0.0685258621],
                  [0.0, 0.0, 0.0, 1.0]],
    "uniform": [[0.5954294365, 0.2418229468, 0.1493448215, 0.0134027953],
                [0.0958881532, 0.6378185652, 0.129616347, 0.1366769346]],
}


@pytest.mark.parametrize("draw", ["dirichlet", "uniform"])
def test_flat_configs_draw_exactly_as_before(draw):
    cfg = MixturesConfig(count=6, draw=draw, seed=3)
    flat = sample_mixtures(cfg, FLAT_PRIOR, FLAT_TOKENS, 10**5)
    np.testing.assert_allclose(flat.to_numpy()[:2], PINNED[draw], atol=1e-9)
    for groups in (None, {}):
        np.testing.assert_array_equal(
            sample_mixtures(cfg, FLAT_PRIOR, FLAT_TOKENS, 10**5, groups=groups), flat)
    off = MixturesConfig(count=6, draw=draw, seed=3, by_group="false")
    np.testing.assert_array_equal(
        sample_mixtures(off, FLAT_PRIOR, FLAT_TOKENS, 10**5, groups={"ab": ["a", "b"]}), flat)


def test_draws_go_a_level_at_a_time():
    # one group of four domains and one domain alone, equal priors: a flat Dirichlet gives
    # the group 4/5 on average; level by level the top splits around 2^0.5 : 1 (tempered)
    prior = {d: 1.0 for d in "abcde"}
    tokens = {d: 10**6 for d in "abcde"}
    groups = {"g": list("abcd")}
    cfg = MixturesConfig(count=600, seed=1, weight_floor=0.0)
    flat = sample_mixtures(cfg, prior, tokens, 10**5).to_numpy()
    tree = sample_mixtures(cfg, prior, tokens, 10**5, groups=groups).to_numpy()
    np.testing.assert_allclose(tree.sum(axis=1), 1.0)
    assert abs(flat[:, :4].sum(axis=1).mean() - 0.8) < 0.03
    assert abs(tree[:, :4].sum(axis=1).mean() - 2 / 3) < 0.04
    assert len(np.unique(tree.round(9), axis=0)) == 600
    uniform = sample_mixtures(MixturesConfig(count=600, seed=1, draw="uniform"), prior, tokens,
                              10**5, groups=groups).to_numpy()
    assert abs(uniform[:, :4].sum(axis=1).mean() - 0.5) < 0.04  # uniform per level


def test_grouped_draws_keep_the_repetition_caps():
    tokens = {**TOKENS, "papers": 10**4}
    frame = sample_mixtures(MixturesConfig(count=40, seed=0, proxy_max_epochs=2), PRIOR, tokens,
                            10**5, groups=GROUPS)
    assert frame["papers"].max() <= 0.2 + 1e-12


def test_search_candidates_respect_group_bounds_and_levels():
    c = box(min_weight={"web": 0.6}, max_weight={"web/science": 0.25})
    draws = c.sample(5000, np.random.default_rng(0))
    assert c.contains(draws).all()
    loose = box()
    flat = build_constraints(DOMAINS, SearchConfig())
    a = loose.sample(4000, np.random.default_rng(0))
    b = flat.sample(4000, np.random.default_rng(0))
    assert np.abs(a - b).max() > 0.1  # grouped draws differ from flat ones
