"""Multi-phase mixtures (``mixtures.phases``): a run trains a schedule of mixtures, one
per phase, whose columns are slots ``domain@phase``.

The slot names and phase shares; the batches of a schedule (each phase its own steps,
stretched with the run); the sweep's schedules; the search's constraints over a schedule
(phase totals fixed, a domain's bounds on its total over the run); a search and a
proposal on a real fitted regressor; and a config's mixtures written by hand.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

from raymix.config import FitConfig, MixturesConfig, SearchConfig, parse_config
from raymix.config.schema import phase_fractions, phase_slots, slot_name, split_slot
from raymix.errors import ConfigError, UserError
from raymix.mixtures import build_constraints, repetition_caps, sample_schedules, schedule_phases
from raymix.proposal.proposer import propose_mixture
from raymix.proposal.search import search_mixture
from raymix.regression import fit_regressor
from raymix.training.batches import MixtureBatches, _apportion

DOMAINS = ["code", "licences", "readmes"]
FRACTIONS = [0.75, 0.25]
SLOTS = phase_slots(DOMAINS, 2)
PRIOR = {"code": 3.0, "licences": 1.0, "readmes": 2.0}
TOKENS = {d: 10**6 for d in DOMAINS}


# ----------------------------------------------------------------------------- names


def test_slot_names_round_trip():
    assert SLOTS == ["code@1", "licences@1", "readmes@1", "code@2", "licences@2", "readmes@2"]
    assert all(split_slot(slot_name(d, p)) == (d, p) for d in DOMAINS for p in (1, 2, 15))
    assert split_slot("a@b@2") == ("a@b", 2)  # the last '@' separates the phase
    assert split_slot("web") == ("web", None)
    # other digits than 0-9 are no phase (int() refuses '²'; '١' would not round-trip)
    for plain in ("web@0", "web@", "@2", "web@x", "web@-1", "web@2.5", "web@²", "web@١"):
        assert split_slot(plain) == (plain, None), plain
    assert phase_slots(DOMAINS, 0) == []


def test_phase_fractions():
    assert phase_fractions([], 100) == []
    assert phase_fractions([75], 100) == [0.75, 0.25]
    shares = phase_fractions([10, 20, 25], 40)
    assert shares == [0.25, 0.25, 0.125, 0.375] and sum(shares) == 1.0


# ----------------------------------------------------------------------------- batches


def _numbered(k: int, length: int = 1000) -> dict[str, np.ndarray]:
    """Token arrays whose every token tells its domain (domain i holds only i)."""
    return {d: np.full(length, i, dtype=np.uint16) for i, d in enumerate(DOMAINS[:k])}


def _domains_per_step(batches: MixtureBatches, steps: int) -> np.ndarray:
    """(steps, batch_size) array: the domain each sequence came from."""
    return np.stack([batches[s][:, 0].numpy() for s in range(steps)])


@pytest.mark.parametrize("steps, boundary", [(8, 6), (16, 12), (40, 30)])
def test_a_schedule_trains_each_phase_in_its_own_steps(steps, boundary):
    # phase 1 (75% of the steps): code and licences; phase 2: readmes and code
    schedule = {"code@1": 0.5, "licences@1": 0.25, "readmes@1": 0.0,
                "code@2": 0.05, "licences@2": 0.0, "readmes@2": 0.2}
    bs = 4
    drawn = _domains_per_step(MixtureBatches(_numbered(3), schedule, steps, bs, 8, seed=3),
                              steps)
    first, second = drawn[:boundary].ravel(), drawn[boundary:].ravel()
    assert set(first) <= {0, 1} and set(second) <= {0, 2}
    # exact counts: each slot's share of its phase's sequences (largest remainder)
    np.testing.assert_array_equal(np.bincount(first, minlength=3),
                                  _apportion(np.array([0.5, 0.25, 0.0]), boundary * bs))
    np.testing.assert_array_equal(np.bincount(second, minlength=3),
                                  _apportion(np.array([0.05, 0.0, 0.2]),
                                             (steps - boundary) * bs))


def test_a_phase_with_uneven_steps_takes_its_largest_remainder():
    # shares 0.6 / 0.4 of 7 steps: 4.2 and 2.8 steps -> 4 and 3
    drawn = _domains_per_step(MixtureBatches(_numbered(2), {"code@1": 0.6, "licences@2": 0.4},
                                             7, 2, 8, seed=0), 7)
    assert (drawn[:4] == 0).all() and (drawn[4:] == 1).all()


def _old_domain_of(mixture: dict[str, float], steps: int, batch_size: int,
                   seed: int) -> np.ndarray:
    """MixtureBatches' order before phases existed (its __init__, copied)."""
    rng = np.random.default_rng(seed)
    counts = _apportion(np.array(list(mixture.values()), dtype=float), steps * batch_size)
    order = np.repeat(np.arange(len(counts)), counts)
    rng.shuffle(order)
    return order.reshape(steps, batch_size)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_a_flat_mixture_draws_the_batches_it_did_before_phases(seed):
    rng = np.random.default_rng(seed)
    train = {d: rng.integers(0, 500, 5000).astype(np.uint16) for d in DOMAINS}
    mixture = dict(zip(DOMAINS, rng.dirichlet(np.ones(3))))
    steps, bs, seq_len = 13, 6, 16
    batches = MixtureBatches(train, mixture, steps, bs, seq_len, seed=seed)
    np.testing.assert_array_equal(batches.domain_of,
                                  _old_domain_of(mixture, steps, bs, seed))
    # and the windows (the rng's next draws, domain by domain in each step) are the old ones
    old_rng = np.random.default_rng(seed)
    old_rng.shuffle(np.repeat(np.arange(3), _apportion(np.array(list(mixture.values())),
                                                       steps * bs)))
    arrays = list(train.values())
    window = np.arange(seq_len + 1)
    for step in range(steps):
        got = batches[step].numpy()
        for d in np.unique(batches.domain_of[step]):
            rows = np.flatnonzero(batches.domain_of[step] == d)
            starts = old_rng.integers(0, len(arrays[d]) - seq_len - 1, size=len(rows))
            np.testing.assert_array_equal(got[rows], arrays[d][starts[:, None] + window])


def test_a_slot_of_no_domain_is_refused():
    with pytest.raises(KeyError, match="'prose@2'"):
        MixtureBatches(_numbered(2), {"code@1": 0.5, "prose@2": 0.5}, 4, 2, 8, seed=0)


# ----------------------------------------------------------------------------- sweep draws


def _cfg(**changes) -> MixturesConfig:
    return MixturesConfig(**{"count": 24, "seed": 5, **changes})


def test_sample_schedules_keep_phase_shares_and_the_proxy_cap():
    # licences holds few tokens: a run may give it at most 20% (5 epochs of 40k of 1M)
    tokens = {"code": 10**7, "licences": 40_000, "readmes": 10**7}
    cfg = _cfg(proxy_max_epochs=5.0)
    cap = repetition_caps(np.array(list(tokens.values())), 10**6, 5.0)
    assert cap[1] == pytest.approx(0.2)
    drawn = sample_schedules(cfg, PRIOR, tokens, 10**6, FRACTIONS)
    assert list(drawn.columns) == SLOTS and drawn.shape == (24, 6)
    w = drawn.to_numpy().reshape(24, 2, 3)
    np.testing.assert_allclose(w.sum(axis=2), np.tile(FRACTIONS, (24, 1)), atol=1e-12)
    within = w / np.array(FRACTIONS)[None, :, None]  # each phase's own mixture
    assert (within <= cap + 1e-9).all() and (w.sum(axis=1) <= cap + 1e-9).all()
    # phases are separate draws, not one mixture scaled
    assert np.median(np.abs(within[:, 0] - within[:, 1]).sum(axis=1)) > 0.05
    pd.testing.assert_frame_equal(drawn, sample_schedules(cfg, PRIOR, tokens, 10**6, FRACTIONS))
    assert not np.allclose(drawn, sample_schedules(_cfg(seed=6), PRIOR, tokens, 10**6,
                                                   FRACTIONS))


def test_sample_schedules_of_three_phases():
    drawn = sample_schedules(_cfg(draw="uniform", count=5), PRIOR, TOKENS, 10**5,
                             phase_fractions([2, 5], 10))
    assert list(drawn.columns) == phase_slots(DOMAINS, 3)
    np.testing.assert_allclose(drawn.to_numpy().reshape(5, 3, 3).sum(axis=2),
                               np.tile([0.2, 0.3, 0.5], (5, 1)), atol=1e-12)


# ----------------------------------------------------------------------------- constraints


def _phased(**search):
    return build_constraints(DOMAINS, SearchConfig(**search), prior=PRIOR, phases=FRACTIONS)


@pytest.mark.parametrize("search, cap", [
    ({"max_weight": {"licences": 0.1}}, 0.1),
    # the repetition cap: 2 epochs of 50k tokens over a 1M-token run
    ({"target_tokens": 10**6, "max_epochs": 2.0}, 0.1),
])
def test_a_domain_bound_caps_its_total_over_the_run(search, cap):
    c = build_constraints(DOMAINS, SearchConfig(**search), prior=PRIOR, phases=FRACTIONS,
                          available_tokens={"code": 10**7, "licences": 50_000,
                                            "readmes": 10**7})
    assert c.domains == SLOTS and c.phases == FRACTIONS
    assert c.groups == {d: [f"{d}@1", f"{d}@2"] for d in DOMAINS}
    # a slot: at most its phase's share and its domain's total over the run
    np.testing.assert_allclose(c.upper, [0.75, cap, 0.75, 0.25, cap, 0.25])
    assert c.group_upper[list(c.groups).index("licences")] == pytest.approx(cap)
    assert c.to_dict()["phases"] == FRACTIONS

    rng = np.random.default_rng(0)
    draws = c.sample(400, rng)
    projected = c.project(rng.dirichlet(np.full(6, 0.3), 200))
    for w in (draws, projected):
        assert c.contains(w).all()
        np.testing.assert_allclose(w.reshape(-1, 2, 3).sum(axis=2), np.tile(FRACTIONS, (len(w), 1)),
                                   atol=1e-9)
        assert (w[:, 1] + w[:, 4] <= cap + 1e-9).all()
        assert (w >= 0).all()
    # a draw is no copy of one mixture in both phases
    within = draws.reshape(-1, 2, 3) / np.array(FRACTIONS)[None, :, None]
    assert np.median(np.abs(within[:, 0] - within[:, 1]).sum(axis=1)) > 0.05
    # outside: a schedule whose phases are off their shares, or over the cap
    assert not c.contains(np.array([[0.5, 0.0, 0.0, 0.5, 0.0, 0.0]])).any()
    assert not c.contains(np.array([[0.25, 0.25, 0.25, 0.0, 0.25, 0.0]])).any()


def test_a_floor_holds_the_total_over_the_run():
    c = _phased(min_weight={"readmes": 0.5}, max_weight={"code": 0.3})
    w = c.sample(300, np.random.default_rng(1))
    assert c.contains(w).all()
    assert (w[:, 2] + w[:, 5] >= 0.5 - 1e-9).all() and (w[:, 0] + w[:, 3] <= 0.3 + 1e-9).all()


@pytest.mark.parametrize("search, field", [
    ({"max_weight": {"code": 0.2, "licences": 0.2, "readmes": 0.2}}, "search.max_weight"),
    ({"min_weight": {"code": 0.6, "readmes": 0.6}}, "search.min_weight"),
    ({"min_weight": {"code": 0.5}, "max_weight": {"code": 0.4}}, "search.min_weight.code"),
])
def test_infeasible_bounds_still_name_the_field(search, field):
    with pytest.raises(ConfigError) as error:
        _phased(**search)
    assert error.value.field == field


def test_the_repetition_cap_nothing_meets_names_its_field():
    with pytest.raises(ConfigError) as error:
        build_constraints(DOMAINS, SearchConfig(target_tokens=10**9), phases=FRACTIONS,
                          available_tokens={d: 1000 for d in DOMAINS})
    assert error.value.field.startswith("search.")


# ----------------------------------------------------------------------------- schedules


def test_schedule_phases_reads_a_schedule_off_its_columns():
    assert schedule_phases(DOMAINS, np.full((2, 3), 1 / 3)) is None
    w = sample_schedules(_cfg(count=6), PRIOR, TOKENS, 10**5, FRACTIONS).to_numpy()
    domains, shares = schedule_phases(SLOTS, w)
    assert domains == DOMAINS and shares == pytest.approx(FRACTIONS, abs=1e-12)
    uneven = w.copy()
    uneven[0] = [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]  # phase 1: 0.7 of this run
    with pytest.raises(UserError, match="phase 1 takes from 0.7 to 0.75") as error:
        schedule_phases(SLOTS, uneven)
    assert error.value.field == "mixtures"
    for columns in (["a@1", "b@2"], ["a@1", "b@1", "b@2", "a@2"], ["a@1", "a@2", "b@1", "b@2"]):
        with pytest.raises(UserError, match="look like a schedule") as error:
            schedule_phases(columns, np.full((1, len(columns)), 1 / len(columns)))
        assert error.value.field == "mixtures"


# ----------------------------------------------------------------------------- search


@pytest.fixture(scope="module")
def schedules() -> tuple[pd.DataFrame, np.ndarray]:
    """60 two-phase runs whose loss falls with licences in phase 2 only (more of it in
    phase 1 even hurts a little)."""
    mixtures = sample_schedules(_cfg(count=60, draw="uniform"), PRIOR, TOKENS, 10**5,
                                FRACTIONS)
    mixtures.index = [f"r{i}" for i in range(60)]
    rng = np.random.default_rng(0)
    loss = (3.0 - 4.0 * mixtures["licences@2"] + 0.5 * mixtures["licences@1"]
            + 0.2 * mixtures["code@1"] + rng.normal(0, 0.005, 60))
    return mixtures, loss.to_numpy()


CAP = 0.2  # licences' share of the whole run


@pytest.mark.parametrize("method", ["exact", "simulate"])
def test_the_search_puts_the_rewarded_domain_late(schedules, method):
    mixtures, loss = schedules
    fitted = fit_regressor(mixtures, loss, ["ridge"], folds=3, ensemble=False)
    c = _phased(max_weight={"licences": CAP})
    result = search_mixture(fitted.estimator, c,
                            SearchConfig(method=method, draws=4000, top_k=20, restarts=4))
    w = result.mixture
    assert result.method == method and result.domains == SLOTS
    np.testing.assert_allclose(w.reshape(2, 3).sum(axis=1), FRACTIONS, atol=1e-9)
    assert w[1] + w[4] <= CAP + 1e-9 and c.contains(w[None]).all()
    assert w[4] > 0.15 and w[1] < 0.02  # licences in phase 2, not phase 1


def test_a_proposal_on_schedules_is_a_schedule(schedules):
    mixtures, loss = schedules
    proposal = propose_mixture(mixtures, loss, prior=PRIOR,
                               fit_config=FitConfig(regressors=["ridge"], cv_folds=3),
                               search=SearchConfig(method="exact", restarts=4, bootstrap=10,
                                                   max_weight={"licences": CAP}))
    data = json.loads(json.dumps(proposal.to_dict()))
    assert list(data["mixture"]) == SLOTS
    schedule = data["schedule"]
    assert [p["phase"] for p in schedule] == [1, 2]
    assert [p["share"] for p in schedule] == pytest.approx(FRACTIONS)
    for phase in schedule:
        assert list(phase["mixture"]) == DOMAINS
        assert sum(phase["mixture"].values()) == pytest.approx(1, abs=1e-9)
        for d, w in phase["mixture"].items():
            assert w * phase["share"] == pytest.approx(data["mixture"][f"{d}@{phase['phase']}"])
    assert schedule[1]["mixture"]["licences"] > 0.6
    groups = data["groups"]
    assert set(groups) == set(DOMAINS)
    for d in DOMAINS:
        assert groups[d]["domains"] == [f"{d}@1", f"{d}@2"]
        assert groups[d]["total"] == pytest.approx(data["mixture"][f"{d}@1"]
                                                   + data["mixture"][f"{d}@2"])
    assert groups["licences"]["total"] <= CAP + 1e-9
    assert data["constraints"]["phases"] == pytest.approx(FRACTIONS)


def test_a_flat_proposal_has_no_schedule(schedules):
    mixtures, loss = schedules
    flat = mixtures.T.groupby(lambda c: split_slot(c)[0], sort=False).sum().T
    proposal = propose_mixture(flat, loss, prior=PRIOR,
                               fit_config=FitConfig(regressors=["ridge"], cv_folds=3),
                               search=SearchConfig(method="exact", restarts=2, bootstrap=10))
    data = proposal.to_dict()
    assert proposal.schedule() == [] and "schedule" not in data
    assert "phases" not in data["constraints"] and "groups" not in data


# ----------------------------------------------------------------------------- config


def _config(phases: list[int] | None = None, **mixtures):
    raw = json.loads(json.dumps(TINY))
    raw["mixtures"].update(mixtures, **({"phases": phases} if phases is not None else {}))
    return parse_config(raw)


def test_a_config_with_phases_weighs_slots():
    cfg = _config([24])  # of 30 steps
    assert cfg.phase_fractions == [0.8, 0.2]
    assert cfg.mixture_columns == SLOTS
    assert cfg.mixture_groups == {d: [f"{d}@1", f"{d}@2"] for d in DOMAINS}
    flat = _config()
    assert flat.phase_fractions == [] and flat.mixture_columns == DOMAINS
    assert flat.mixture_groups == {}


def test_as_mixture_of_plain_and_slot_weights():
    flat, phased = _config(), _config([24])
    assert flat.as_mixture({"code": 3, "readmes": 1}) == {"code": 0.75, "licences": 0.0,
                                                           "readmes": 0.25}
    # plain weights: the same mixture in every phase, scaled to its share
    same = phased.as_mixture({"code": 3, "readmes": 1})
    assert same == pytest.approx({"code@1": 0.6, "licences@1": 0.0, "readmes@1": 0.2,
                                  "code@2": 0.15, "licences@2": 0.0, "readmes@2": 0.05})
    # slot weights: each phase its own mixture
    own = phased.as_mixture({"code@1": 1, "readmes@1": 1, "licences@2": 5})
    assert own == pytest.approx({"code@1": 0.4, "licences@1": 0.0, "readmes@1": 0.4,
                                 "code@2": 0.0, "licences@2": 0.2, "readmes@2": 0.0})
    assert list(own) == SLOTS and sum(own.values()) == pytest.approx(1)


def test_trackers_take_a_schedules_columns():
    """MLflow refuses '@' in a key: a slot is logged as mixture.<domain>/phase<p>."""
    from mlflow.utils.validation import _validate_param_name

    from raymix.runs import RunRecord
    from raymix.tracking.logged import TrackedRun, column_key

    record = RunRecord(run_id="run-0000", mixture={"code@1": 0.75, "licences@2": 0.25}, seed=0)
    params = TrackedRun.of(record, SLOTS).params
    assert params["mixture.code/phase1"] == 0.75 and params["mixture.licences/phase2"] == 0.25
    assert params["mixture.readmes/phase2"] == 0.0
    for key in params:
        _validate_param_name(key)
    assert column_key("code") == "code"


# ----------------------------------------------------------------------------- review fixes


def test_the_exact_search_finds_a_schedules_optimum_from_every_start():
    """The phase equalities already sum to the simplex's: given both, SLSQP stopped short
    of the optimum (and said it converged) from most starts."""
    from sklearn.base import BaseEstimator, RegressorMixin

    target = np.array([0.5, 0.05, 0.2, 0.05, 0.15, 0.05])  # a schedule with these shares

    class Quadratic(RegressorMixin, BaseEstimator):
        def predict(self, X):
            return ((np.asarray(X) - target) ** 2).sum(axis=1)

        def gradient(self, X):
            return 2 * (np.asarray(X) - target)

    c = _phased()
    result = search_mixture(Quadratic(), c, SearchConfig(method="exact", restarts=16))
    np.testing.assert_allclose(result.mixture, target, atol=1e-6)
    assert result.details["restarts_within_1e-6_of_best"] == 16


def test_a_domain_held_at_zero_holds_every_slot_at_zero():
    c = _phased(kl_weight=0.01, prior={"code": 0.5, "licences": 0.0, "readmes": 0.5})
    assert c.upper[1] == 0 and c.upper[4] == 0
    w = c.sample(100, np.random.default_rng(0))
    assert (w[:, [1, 4]] == 0).all() and c.contains(w).all()


def test_bad_schedule_tables_are_one_line_errors():
    with pytest.raises(UserError, match="phase 2 any weight"):
        schedule_phases(SLOTS, np.array([[0.2, 0.3, 0.5, 0, 0, 0]]))
    with pytest.raises(UserError, match="number the phases from 1"):
        schedule_phases(["a@2", "b@2", "a@3", "b@3"], np.full((1, 4), 0.25))
    # a table of one phase's columns, or of no runs, is plain domains
    assert schedule_phases(["a@1", "b@1"], np.full((1, 2), 0.5)) is None
    assert schedule_phases(SLOTS, np.empty((0, 6))) is None
    # rounded to 3 decimals: read, the shares their mean (renormalised)
    rounded = np.array([[0.25, 0.25, 0.249, 0.083, 0.083, 0.084],
                        [0.3, 0.2, 0.251, 0.1, 0.1, 0.05]])
    _, shares = schedule_phases(SLOTS, rounded)
    assert sum(shares) == pytest.approx(1) and shares[0] == pytest.approx(0.75, abs=1e-3)


def test_a_validation_at_other_steps_keeps_the_phases_shares():
    from raymix.workflows.validation import validation_config

    cfg = _config(phases=[20])
    longer = validation_config(dataclasses.replace(
        cfg, validate=dataclasses.replace(cfg.validate, steps=60)))
    assert longer.training.steps == 60 and longer.mixtures.phases == [40]
    assert longer.phase_fractions == pytest.approx(cfg.phase_fractions)
