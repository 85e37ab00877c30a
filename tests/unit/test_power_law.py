"""Power laws in steps, tokens and model size: known parameters are recovered."""

import numpy as np
import pytest

from raymix.errors import UserError
from raymix.scaling.power_law import PowerLaw, fit_shared_exponent

STEPS = np.array([1e4, 1.2e4, 1.4e4, 1.6e4, 2e4, 2.5e4, 3e4])


def _curve(E, B, beta, x, noise=0.0, seed=0):
    return E + B * x ** -beta + np.random.default_rng(seed).normal(0, noise, len(x))


def test_recovers_a_known_step_law_and_extrapolates():
    y = _curve(2.1, 40.0, 0.45, STEPS, noise=0.002)
    law = PowerLaw().fit(STEPS, y)
    assert law.beta_ == pytest.approx(0.45, rel=0.25)
    # what matters: the loss at 100k steps, far beyond the fitted range
    assert law.predict([1e5])[0] == pytest.approx(_curve(2.1, 40.0, 0.45, np.array([1e5]))[0],
                                                  abs=0.02)


def test_recovers_a_size_law_in_parameter_units():
    sizes = np.array([7e7, 1.6e8, 3.05e8, 4.1e8])
    y = _curve(1.8, 400.0, 0.34, sizes)
    law = PowerLaw().fit(sizes, y)
    assert (law.E_, law.B_, law.beta_) == pytest.approx((1.8, 400.0, 0.34), rel=1e-3)
    assert law.predict([1e9])[0] == pytest.approx(_curve(1.8, 400.0, 0.34, np.array([1e9]))[0],
                                                  abs=1e-4)


def test_one_broken_checkpoint_barely_moves_the_huber_fit():
    clean = _curve(2.5, 25.0, 0.4, STEPS)
    broken = clean.copy()
    broken[3] += 0.3
    truth = _curve(2.5, 25.0, 0.4, np.array([1e5]))[0]
    robust = abs(PowerLaw().fit(STEPS, broken).predict([1e5])[0] - truth)
    squares = abs(PowerLaw(huber_delta=1.0).fit(STEPS, broken).predict([1e5])[0] - truth)
    assert robust < 0.02 and robust < squares / 3


def test_shared_exponent_across_mixtures():
    Es, Bs = [2.0, 2.3, 2.6], [30.0, 45.0, 20.0]
    ys = [_curve(E, B, 0.5, STEPS, noise=0.001, seed=i) for i, (E, B) in enumerate(zip(Es, Bs))]
    E, B, beta = fit_shared_exponent([STEPS] * 3, ys)
    assert beta == pytest.approx(0.5, rel=0.2)
    predicted = E + B * 1e5 ** -beta
    truth = [E_ + B_ * 1e5 ** -0.5 for E_, B_ in zip(Es, Bs)]
    np.testing.assert_allclose(predicted, truth, atol=0.02)


@pytest.mark.parametrize("x, y, message", [
    ([1, 2], [3, 2], "at least 3 distinct"),
    ([1, 2, 3], [3, 2], "one loss per x"),
    ([0, 1, 2], [3, 2, 1], "must be positive"),
    ([1, 2, 3], [3, np.nan, 1], "missing or infinite"),
])
def test_bad_curves_are_user_errors(x, y, message):
    with pytest.raises(UserError, match=message):
        PowerLaw().fit(x, y)


def test_shared_exponent_takes_two_point_curves_when_one_curve_pins_it():
    sizes = np.array([7e7, 1.6e8, 3.05e8])
    ys = [_curve(1.8, 400.0, 0.34, sizes), _curve(2.0, 300.0, 0.34, sizes[:2])]
    E, B, beta = fit_shared_exponent([sizes, sizes[:2]], ys)
    assert beta == pytest.approx(0.34, rel=1e-3)
    assert (E[1], B[1]) == pytest.approx((2.0, 300.0), rel=1e-3)
    with pytest.raises(UserError, match="need at least 5 distinct"):
        fit_shared_exponent([sizes[:2], sizes[1:]], ys[1:] * 2)
