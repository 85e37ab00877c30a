"""MixMin's optimiser: recovery of known weights, convergence, the box, bad input, a check
against an independent solver."""

import json

import numpy as np
import pytest
from scipy.optimize import minimize

from raymix.errors import UserError
from raymix.proposal.mixmin import MixMinResult, kl_project, mixmin, mixture_loss

TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2, 0.0])
VOCAB = 50


def _proxies(k, rng):
    """k proxy distributions over VOCAB symbols (rows of a Dirichlet)."""
    return rng.dirichlet(np.full(VOCAB, 0.5), size=k)


def _target_logprobs(proxies, weights, n_tokens, rng):
    """Tokens drawn from the mixture ``weights @ proxies``, scored by every proxy."""
    tokens = rng.choice(VOCAB, size=n_tokens, p=weights @ proxies)
    return np.log(proxies[:, tokens])


def _loss(logprobs, w):
    """F(w), computed independently of raymix (plain probabilities: fine for these sizes)."""
    return -np.mean(np.log(w @ np.exp(logprobs)))


@pytest.fixture(scope="module")
def synthetic():
    """200k target tokens from a known mixture of 4 proxies, the last with weight 0."""
    rng = np.random.default_rng(0)
    return _target_logprobs(_proxies(4, rng), TRUE_WEIGHTS, 200_000, rng)


@pytest.fixture(scope="module")
def solved(synthetic):
    """MixMin on the synthetic problem without bounds (shared: 200k tokens take seconds)."""
    return mixmin(synthetic, domains=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def small():
    """A small problem for the independent solver: 4 proxies, 3000 tokens."""
    rng = np.random.default_rng(1)
    return _target_logprobs(_proxies(4, rng), np.array([0.6, 0.1, 0.25, 0.05]), 3000, rng)


def _slsqp(logprobs, lower, upper):
    """The box-constrained minimum of F by SLSQP, from the centre of the box."""
    k = len(logprobs)
    p = np.exp(logprobs)

    def loss_and_grad(w):
        mix = w @ p
        return -np.mean(np.log(mix)), -(p / mix).mean(axis=1)

    start = kl_project(np.ones(k), lower, upper)
    res = minimize(loss_and_grad, start, jac=True, method="SLSQP",
                   bounds=list(zip(lower, upper)),
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1,
                                 "jac": lambda w: np.ones(k)}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert res.success, res.message
    return res.x


# ----------------------------------------------------------------------------- recovery


def test_recovers_the_weights_that_generated_the_target(synthetic, solved):
    result = solved
    assert result.converged
    assert np.max(np.abs(result.weights - TRUE_WEIGHTS)) < 0.02, result.weights
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(result.objective) <= 1e-12), "the objective went up"
    assert result.objective[-1] < result.objective[0] - 0.01  # well below uniform's
    assert result.objective[0] == pytest.approx(_loss(synthetic, np.full(4, 0.25)))
    assert result.objective[-1] == pytest.approx(_loss(synthetic, result.weights))


def test_very_negative_logprobs_give_the_same_weights(synthetic):
    """exp(-800) underflows: only a log-space computation survives this shift."""
    plain = mixmin(synthetic[:, :20_000])
    shifted = mixmin(synthetic[:, :20_000] - 800.0)
    np.testing.assert_allclose(shifted.weights, plain.weights, atol=1e-9)
    assert shifted.objective[-1] == pytest.approx(plain.objective[-1] + 800.0)


def test_convergence_is_reported(synthetic, solved):
    done = solved  # the default tol is 1e-4
    assert done.converged and done.gap[-1] <= 1e-4 and done.steps < 100
    assert len(done.objective) == len(done.gap) == done.steps + 1 == len(done.iterates)
    assert done.gap[0] > 1e-2  # the uniform start is far from optimal
    cut = mixmin(synthetic, max_steps=2)
    assert not cut.converged and cut.steps == 2 and cut.gap[-1] > 1e-4
    np.testing.assert_array_equal(cut.weights, cut.iterates[-1])


def test_a_step_that_would_raise_the_loss_is_shortened(small):
    """Plain exponentiated gradient with eta=20 oscillates here (F rises by ~1.5 nats and
    it never converges); halving the step keeps F falling."""
    result = mixmin(small, eta=20.0, tol=1e-6, max_steps=500)
    assert result.converged
    assert np.all(np.diff(result.objective) <= 1e-11)


def test_to_dict_is_json(synthetic):
    result = mixmin(synthetic[:, :5000], domains=["a", "b", "c", "d"], max_steps=3)
    data = json.loads(json.dumps(result.to_dict()))
    assert list(data["weights"]) == ["a", "b", "c", "d"]
    assert data["steps"] == 3 and len(data["objective"]) == 4 and data["converged"] is False
    assert isinstance(result, MixMinResult)


# ----------------------------------------------------------------------------- the box


def _assert_iterates_in_box(result, lower, upper):
    assert np.all(result.iterates >= lower) and np.all(result.iterates <= upper)
    np.testing.assert_allclose(result.iterates.sum(axis=1), 1.0, atol=1e-12)


def test_an_upper_bound_on_the_dominant_domain_binds(synthetic, solved):
    lower, upper = np.zeros(4), np.array([0.3, 1.0, 1.0, 1.0])
    result = mixmin(synthetic, lower=lower, upper=upper)
    assert result.converged
    assert result.weights[0] == pytest.approx(0.3, abs=1e-9)  # it wants 0.5: the bound binds
    _assert_iterates_in_box(result, lower, upper)
    assert result.objective[-1] > solved.objective[-1] + 1e-3  # the bound costs loss


def test_a_fixed_domain_stays_exactly_at_its_value(synthetic):
    lower = np.array([0.0, 0.0, 0.05, 0.1])
    upper = np.array([1.0, 1.0, 0.05, 1.0])
    result = mixmin(synthetic[:, :50_000], lower=lower, upper=upper)
    assert np.all(result.iterates[:, 2] == 0.05)
    assert result.weights[3] == pytest.approx(0.1, abs=1e-6)  # wants 0: sits on its floor
    _assert_iterates_in_box(result, lower, upper)


@pytest.mark.parametrize("lower, upper", [
    (None, None),
    ([0.0, 0.2, 0.0, 0.0], [0.4, 1.0, 1.0, 1.0]),
    ([0.0, 0.0, 0.3, 0.0], [1.0, 1.0, 0.3, 0.02]),
], ids=["simplex", "floor-and-ceiling", "fixed-and-cap"])
def test_no_worse_than_an_independent_solver(small, lower, upper):
    """F at MixMin's answer <= SLSQP's + 1e-6; tol=1e-6 makes that a guarantee, as the
    duality gap bounds F(w) - min F."""
    lo = np.zeros(4) if lower is None else np.array(lower)
    hi = np.ones(4) if upper is None else np.array(upper)
    result = mixmin(small, lower=lower, upper=upper, tol=1e-6, max_steps=2000)
    reference = _loss(small, _slsqp(small, lo, hi))
    assert result.converged
    assert _loss(small, result.weights) <= reference + 1e-6
    assert result.objective[-1] - reference <= result.gap[-1] + 1e-9  # the gap is a bound
    _assert_iterates_in_box(result, lo, hi)


# ----------------------------------------------------------------------------- projection


def test_kl_projection_without_bounds_is_renormalisation():
    v = np.array([3.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(kl_project(v, np.zeros(4), np.ones(4)), v / v.sum(), atol=1e-14)


def test_kl_projection_is_the_kl_minimiser_in_the_box():
    rng = np.random.default_rng(2)
    v = rng.random(5)
    lower, upper = np.array([0.0, 0.1, 0.0, 0.0, 0.3]), np.array([0.2, 1, 1, 0.25, 1])
    w = kl_project(v, lower, upper)
    assert np.all(w >= lower) and np.all(w <= upper) and w.sum() == pytest.approx(1, abs=1e-14)

    def kl(x):
        return np.sum(x * np.log(x / v) - x + v)
    ref = minimize(kl, kl_project(np.ones(5), lower, upper), method="SLSQP",
                   bounds=[(max(lo, 1e-12), hi) for lo, hi in zip(lower, upper)],
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                   options={"ftol": 1e-14})
    assert kl(w) <= kl(ref.x) + 1e-10
    np.testing.assert_allclose(kl_project(w, lower, upper), w, atol=1e-14)  # idempotent


# ----------------------------------------------------------------------------- bad input


GOOD = np.log(np.full((3, 4), 0.25))
BAD_CASES = [
    ("one-dimensional", dict(logprobs=GOOD[0]), "logprobs: got 1 dimension"),
    ("one-domain", dict(logprobs=GOOD[:1]), "need at least 2"),
    ("no-tokens", dict(logprobs=GOOD[:, :0]), "no target tokens"),
    ("nan", dict(logprobs=np.where(np.eye(3, 4) > 0, np.nan, GOOD)), "must be finite"),
    ("minus-inf", dict(logprobs=np.where(np.eye(3, 4) > 0, -np.inf, GOOD)), "must be finite"),
    ("positive", dict(logprobs=GOOD + 2.0), "> 0; pass natural-log probabilities"),
    ("text", dict(logprobs=[["a", "b"], ["c", "d"]]), "not a numeric array"),
    ("names-count", dict(domains=["a", "b"]), "got 2 names for 3 rows"),
    ("names-duplicate", dict(domains=["a", "b", "a"]), "'a' appears twice"),
    ("names-string", dict(domains="abc"), "single string"),
    ("lower-shape", dict(lower=[0.1, 0.1]), "lower: got shape (2,), need (3,)"),
    ("upper-range", dict(upper=[1.5, 1.0, 1.0]), "upper: every bound must be a number in"),
    ("crossed", dict(lower=[0.5, 0, 0], upper=[0.4, 1, 1]), "lower[0] = 0.5 is above"),
    ("floors-too-high", dict(lower=[0.5, 0.4, 0.3]), "lower: the bounds sum to 1.2 > 1"),
    ("ceilings-too-low", dict(upper=[0.3, 0.3, 0.3]), "upper: the bounds sum to 0.9 < 1"),
    ("eta", dict(eta=0.0), "eta: got 0.0"),
    ("max-steps", dict(max_steps=2.5), "max_steps: got 2.5"),
    ("tol", dict(tol=-1.0), "tol: got -1.0"),
    ("kl-negative", dict(kl_weight=-0.1), "kl_weight: must be a number >= 0"),
    ("kl-without-prior", dict(kl_weight=0.1), "prior: kl_weight > 0 pulls towards a prior"),
    ("kl-prior-shape", dict(kl_weight=0.1, prior=[0.5, 0.5]), "prior: need 3 finite weights"),
    ("kl-prior-zero", dict(kl_weight=0.1, prior=[0.5, 0.5, 0.0]), "prior[2] is 0"),
]


@pytest.mark.parametrize("kwargs, message", [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_refused_in_one_line(kwargs, message):
    kwargs = {"logprobs": GOOD, **kwargs}
    with pytest.raises(UserError) as info:
        mixmin(kwargs.pop("logprobs"), **kwargs)
    text = str(info.value)
    assert message in text and "\n" not in text, text


def test_float32_rounding_above_zero_is_accepted():
    lp = GOOD.copy()
    lp[0, 0] = 1e-7  # log_softmax in float32 can return this for a certain token
    assert mixmin(lp).weights.sum() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- prior pull


def _kl(w, prior):
    held = w > 0
    return float(w[held] @ np.log(w[held] / prior[held]))


def test_the_kl_pull_trades_target_loss_for_closeness_to_the_prior(small):
    prior = np.array([0.1, 0.4, 0.1, 0.4])
    free = mixmin(small)
    pulled = mixmin(small, prior=prior, kl_weight=0.05)
    assert pulled.converged and np.all(np.diff(pulled.objective) <= 1e-12)
    assert _kl(pulled.weights, prior) < _kl(free.weights, prior)
    assert mixture_loss(small, pulled.weights) > mixture_loss(small, free.weights)
    # it is the minimum of the pulled objective: an independent solver finds no lower one
    objective = lambda w: _loss(small, w) + 0.05 * _kl(np.maximum(w, 1e-300), prior)  # noqa: E731
    res = minimize(objective, np.full(4, 0.25), method="SLSQP", bounds=[(1e-9, 1)] * 4,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert pulled.objective[-1] <= res.fun + 1e-6
    # a very strong pull returns the prior itself (projected into the box)
    np.testing.assert_allclose(mixmin(small, prior=prior, kl_weight=1e3).weights, prior,
                               atol=1e-3)
    held = mixmin(small, prior=prior, kl_weight=1e3, upper=[1, 0.2, 1, 1])
    assert held.weights[1] == pytest.approx(0.2)


def test_a_domain_held_at_zero_does_not_break_the_pull(small):
    result = mixmin(small, prior=[0.3, 0.3, 0.4, 0.0], kl_weight=0.1, upper=[1, 1, 1, 0])
    assert result.converged and result.weights[3] == 0.0
    assert np.isfinite(result.objective[-1]) and np.isfinite(result.gap[-1])
