"""Group totals as regressor features, and the proposal's group totals."""

import numpy as np
import pandas as pd
import pytest

from raymix.config import FitConfig
from raymix.errors import UserError
from raymix.proposal import propose_mixture
from raymix.regression import RidgeRegressor, fit_regressor, has_std, make_regressor
from raymix.regression.groups import WithGroupTotals, group_columns

DOMAINS = ["code", "docstrings", "readmes", "licences", "drama", "poetry"]
GROUPS = {"software": ["code", "docstrings", "readmes"], "literature": ["drama", "poetry"]}


def _runs(n=60, seed=0):
    """Mixtures whose loss depends on the software group's total, not on how it splits."""
    rng = np.random.default_rng(seed)
    X = rng.dirichlet(np.full(len(DOMAINS), 0.7), size=n)
    software = X[:, :3].sum(1)
    y = 3.0 + (software - 0.55) ** 2 * 4 + 0.3 * X[:, 3] + rng.normal(0, 0.005, n)
    return pd.DataFrame(X, columns=DOMAINS, index=[f"r{i}" for i in range(n)]), y


def test_group_columns_and_unknown_leaf():
    assert group_columns(DOMAINS, GROUPS) == ((0, 1, 2), (4, 5))
    assert group_columns(DOMAINS, None) == ()
    # a group of one domain, or of the same domains as another, adds no feature
    assert group_columns(DOMAINS, {**GROUPS, "legal": ["licences"],
                                   "software/all": GROUPS["software"]}) == ((0, 1, 2), (4, 5))
    with pytest.raises(UserError, match="'web'") as err:
        group_columns(DOMAINS, {"g": ["code", "web"]})
    assert err.value.field == "groups"


def test_which_regressors_get_group_totals():
    groups = group_columns(DOMAINS, GROUPS)
    assert isinstance(make_regressor("lightgbm", 0, groups), WithGroupTotals)
    gp = make_regressor("gp", 0, groups)
    assert isinstance(gp, WithGroupTotals) and has_std(gp)  # keeps its standard deviation
    for name in ("ridge", "loglinear", "mixing_law"):  # sums are already in their reach
        assert not isinstance(make_regressor(name, 0, groups), WithGroupTotals)
    assert not isinstance(make_regressor("lightgbm", 0), WithGroupTotals)


def test_gradient_is_the_chain_rule_onto_leaves():
    mixtures, y = _runs()
    X = mixtures.to_numpy()
    model = WithGroupTotals(RidgeRegressor(), group_columns(DOMAINS, GROUPS)).fit(X, y)
    step = 1e-6
    numeric = np.array([(model.predict(X[:3] + step * np.eye(6)[j])
                         - model.predict(X[:3] - step * np.eye(6)[j])) / (2 * step)
                        for j in range(6)]).T
    np.testing.assert_allclose(model.gradient(X[:3]), numeric, rtol=1e-5, atol=1e-8)


def test_group_totals_help_lightgbm_and_leave_flat_fits_alone():
    mixtures, y = _runs()
    flat = fit_regressor(mixtures, y, ["lightgbm"], ensemble=False)
    again = fit_regressor(mixtures, y, ["lightgbm"], ensemble=False, groups={})
    np.testing.assert_array_equal(flat.chosen.predictions, again.chosen.predictions)
    assert flat.groups == {} and not isinstance(flat.estimator, WithGroupTotals)
    grouped = fit_regressor(mixtures, y, ["lightgbm"], ensemble=False, groups=GROUPS)
    assert grouped.chosen.rmse < flat.chosen.rmse
    assert grouped.predict(mixtures.to_numpy()[:2])[0].shape == (2,)  # takes leaf weights


def test_proposal_json_has_group_totals_only_with_groups():
    mixtures, y = _runs()
    quick = FitConfig(regressors=["ridge"], ensemble=False)
    flat = propose_mixture(mixtures, y, fit_config=quick).to_dict()
    assert "groups" not in flat
    grouped = propose_mixture(mixtures, y, fit_config=quick, groups=GROUPS).to_dict()
    software = grouped["groups"]["software"]
    assert software["domains"] == GROUPS["software"]
    assert software["total"] == pytest.approx(sum(grouped["mixture"][d]
                                                  for d in GROUPS["software"]))
    uniform = grouped["baselines"]["uniform"]["mixture"]
    assert software["baselines"]["uniform"] == pytest.approx(sum(uniform[d]
                                                                 for d in GROUPS["software"]))


def test_bootstrap_refit_keeps_a_grouped_gps_hyperparameters():
    from raymix.proposal.uncertainty import refit

    mixtures, y = _runs(n=30)
    X = mixtures.to_numpy()
    gp = make_regressor("gp", 0, group_columns(DOMAINS, GROUPS)).fit(X, y)
    again = refit(gp, X[::-1], y[::-1])
    np.testing.assert_array_equal(again.estimator_.theta, gp.estimator_.theta_)
    np.testing.assert_allclose(again.predict(X[:3]), gp.predict(X[:3]), rtol=1e-6)
