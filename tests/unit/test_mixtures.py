"""Mixture samplers and the bounded-simplex projection."""

import itertools

import numpy as np
import pandas as pd
import pytest

from raymix.config import MixturesConfig
from raymix.errors import ConfigError, UserError
from raymix.mixtures import project_to_bounded_simplex, sample_candidates
from raymix.mixtures.sampling import (
    repetition_caps,
    sample_dirichlet,
    sample_mixtures,
    sample_uniform,
)

PRIOR = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
DOMAINS = ["web", "code", "books", "math", "tiny"]


def _min_pairwise_l1(rows: np.ndarray) -> float:
    distances = np.abs(rows[:, None, :] - rows[None, :, :]).sum(axis=2)
    return distances[np.triu_indices(len(rows), k=1)].min()


def test_repetition_caps():
    caps = repetition_caps(np.array([1000, 50, 0]), tokens_per_run=200, max_epochs=2)
    np.testing.assert_allclose(caps, [1.0, 0.5, 0.0])


# ----------------------------------------------------------------------------- training mixtures


@pytest.mark.parametrize("method", ["dirichlet", "uniform"])
def test_rows_are_mixtures_within_caps_and_floors(method):
    caps = np.array([0.6, 1.0, 0.5, 0.3, 0.2])
    kwargs = dict(max_weight=caps, weight_floor=0.01, rng=3)
    if method == "dirichlet":
        w = sample_dirichlet(300, PRIOR, **kwargs)
    else:
        w = sample_uniform(300, len(PRIOR), **kwargs)
    assert w.shape == (300, 5)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(w <= caps + 1e-12)
    assert np.all((w == 0) | (w >= 0.01))
    assert _min_pairwise_l1(w) >= 1e-5


def test_sparse_draws_are_deduplicated():
    # very low strengths give near one-hot rows: after the floor many would coincide
    w = sample_dirichlet(12, PRIOR, min_strength=1e-3, max_strength=1e-3, num_strengths=1,
                         weight_floor=0.01, rng=0)
    assert _min_pairwise_l1(w) >= 1e-5


def test_same_seed_same_mixtures_other_seed_other_mixtures():
    a = sample_dirichlet(50, PRIOR, rng=7)
    np.testing.assert_array_equal(a, sample_dirichlet(50, PRIOR, rng=7))
    assert not np.allclose(a, sample_dirichlet(50, PRIOR, rng=8))


@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.1])
def test_mean_follows_the_tempered_prior(temperature):
    w = sample_dirichlet(3000, PRIOR, temperature=temperature, min_strength=20, max_strength=20,
                         num_strengths=1, rng=0)
    tempered = PRIOR**temperature / (PRIOR**temperature).sum()
    np.testing.assert_allclose(w.mean(axis=0), tempered, atol=0.01)


def test_low_strength_gives_sparser_mixtures():
    def mean_largest(strength):
        w = sample_dirichlet(1000, PRIOR, min_strength=strength, max_strength=strength,
                             num_strengths=1, rng=0)
        return w.max(axis=1).mean()

    assert mean_largest(0.1) > 0.9
    assert mean_largest(50) < 0.6


def test_tiny_concentrations_give_valid_rows():
    # alpha down to 1e-7: plain gamma draws would underflow to all-zero rows (0/0)
    prior = np.array([1.0, 1e-3, 1e-4, 1e-5])
    w = sample_dirichlet(3, prior, temperature=1.0, min_strength=0.01, max_strength=0.01,
                         num_strengths=1, rng=0)
    assert np.all(np.isfinite(w))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_zero_prior_domain_gets_no_weight():
    w = sample_dirichlet(100, np.array([0.5, 0.5, 0.0]), rng=0)
    assert np.all(w[:, 2] == 0)


def test_sample_mixtures_frame_follows_config():
    prior = dict(zip(DOMAINS, PRIOR))
    tokens = dict.fromkeys(DOMAINS, 10**9)
    cfg = MixturesConfig(count=40, seed=5)
    frame = sample_mixtures(cfg, prior, tokens, tokens_per_run=10**6)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == DOMAINS and len(frame) == 40
    pd.testing.assert_frame_equal(frame, sample_mixtures(cfg, prior, tokens, 10**6))
    uniform_cfg = MixturesConfig(count=40, seed=5, draw="uniform")
    uniform = sample_mixtures(uniform_cfg, prior, tokens, 10**6)
    assert not np.allclose(frame.to_numpy(), uniform.to_numpy())


def test_sample_mixtures_applies_repetition_caps():
    prior = dict(zip(DOMAINS, PRIOR))
    tokens = dict(zip(DOMAINS, [10**9, 10**9, 10**9, 10**9, 1000]))
    frame = sample_mixtures(MixturesConfig(count=60, proxy_max_epochs=2), prior, tokens,
                            tokens_per_run=20_000)
    assert frame["tiny"].max() <= 2 * 1000 / 20_000 + 1e-12


def test_too_few_tokens_names_max_epochs():
    prior = dict(zip(DOMAINS, PRIOR))
    tokens = dict.fromkeys(DOMAINS, 100)  # 5 domains x 100 tokens x 15 epochs < one run of 10k
    with pytest.raises(ConfigError, match=r"mixtures\.proxy_max_epochs") as err:
        sample_mixtures(MixturesConfig(count=4), prior, tokens, tokens_per_run=10_000)
    assert "raise mixtures.proxy_max_epochs" in str(err.value)


def test_missing_token_count_is_a_user_error():
    with pytest.raises(UserError, match="tiny"):
        sample_mixtures(MixturesConfig(count=4), dict(zip(DOMAINS, PRIOR)),
                        dict.fromkeys(DOMAINS[:-1], 10**9), tokens_per_run=1000)


def test_nearly_infeasible_caps_give_up_with_a_clear_error():
    # only mixtures within ~1e-4 of (0.5, 0.5, 0) meet these caps
    caps = np.array([0.5, 0.5, 1e-4])
    with pytest.raises(ConfigError, match=r"mixtures\.count"):
        sample_uniform(5, 3, max_weight=caps, rng=0)


# ----------------------------------------------------------------------------- projection


def _brute_force_projection(w, lower, upper):
    """Nearest point of the bounded simplex by trying every set of free coordinates."""
    best, best_distance = None, np.inf
    for pattern in itertools.product(("low", "high", "free"), repeat=len(w)):
        x = np.where(np.array(pattern) == "low", lower, upper).astype(float)
        free = np.array(pattern) == "free"
        if free.any():
            x[free] = w[free] - (w[free].sum() + x[~free].sum() - 1) / free.sum()
        within = np.all(x >= lower - 1e-12) and np.all(x <= upper + 1e-12)
        feasible = within and abs(x.sum() - 1) < 1e-9
        if feasible and np.sum((x - w) ** 2) < best_distance:
            best, best_distance = x, np.sum((x - w) ** 2)
    return best


def _random_bounds(rng, k):
    lower = rng.dirichlet(np.ones(k)) * rng.uniform(0, 0.9)
    upper = np.minimum(1.0, lower + rng.uniform(0.05, 0.6, k))
    if upper.sum() < 1:
        upper += (1 - upper.sum()) / k + 1e-3
    return lower, np.minimum(upper, 1.0)


def test_projection_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(40):
        lower, upper = _random_bounds(rng, 4)
        w = rng.normal(0.25, 0.5, size=4)
        np.testing.assert_allclose(project_to_bounded_simplex(w, lower, upper),
                                   _brute_force_projection(w, lower, upper), atol=1e-9)


def test_projection_is_feasible_and_idempotent():
    rng = np.random.default_rng(1)
    lower, upper = _random_bounds(rng, 17)
    w = rng.normal(0, 1, size=(5000, 17))
    x = project_to_bounded_simplex(w, lower, upper)
    assert x.shape == w.shape
    np.testing.assert_allclose(x.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(x >= lower) and np.all(x <= upper)
    np.testing.assert_allclose(project_to_bounded_simplex(x, lower, upper), x, atol=1e-14)


def test_projection_keeps_a_single_row_1d_and_rejects_infeasible_bounds():
    assert project_to_bounded_simplex(np.array([0.2, 0.8]), np.zeros(2), np.ones(2)).shape == (2,)
    with pytest.raises(ValueError, match="infeasible"):
        project_to_bounded_simplex(np.ones(2), np.zeros(2), np.full(2, 0.4))


# ----------------------------------------------------------------------------- candidates


def test_candidates_honour_bounds_and_are_deterministic():
    lower = np.array([0.1, 0.0, 0.0, 0.05, 0.0])
    upper = np.array([0.6, 0.3, 1.0, 0.2, 0.02])
    c = sample_candidates(20_000, PRIOR, lower=lower, upper=upper, rng=4)
    assert c.shape == (20_000, 5)
    np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(c >= lower) and np.all(c <= upper)
    again = sample_candidates(20_000, PRIOR, lower=lower, upper=upper, rng=4)
    np.testing.assert_array_equal(c, again)
    # spread out, not collapsed onto a few points
    assert c.std(axis=0)[:3].min() > 0.05
