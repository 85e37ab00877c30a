"""Regressors, cross-validation, the proposal search and the report."""

import json

import numpy as np
import pandas as pd
import pytest

from raymix.config import SearchConfig
from raymix.errors import ConfigError, UserError
from raymix.propose import fit, propose, search_bounds
from raymix.regressors import CVResult, cross_validate, make_regressor, select_best
from raymix.report import write_report

DOMAINS = ["web", "code", "books", "math"]
PRIOR = dict(zip(DOMAINS, [0.1, 0.2, 0.3, 0.4]))  # far from the bowl's optimum
OPTIMUM = np.array([0.35, 0.3, 0.2, 0.15])
SMALL_SEARCH = SearchConfig(candidates=20_000, top_k=50)


def _mixtures(n, seed=0, k=len(DOMAINS)):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(k, 0.8), size=n)


def _bowl(w):
    """A convex response surface with its minimum (3.0) at OPTIMUM."""
    return 3.0 + ((w - OPTIMUM) ** 2).sum(axis=1)


@pytest.fixture(scope="module")
def bowl_runs():
    X = _mixtures(200)
    noise = np.random.default_rng(1).normal(0, 1e-3, len(X))
    frame = pd.DataFrame(X, columns=DOMAINS, index=pd.Index([f"run{i:03d}" for i in range(200)]))
    return frame, pd.Series(_bowl(X) + noise, index=frame.index)


@pytest.fixture(scope="module")
def bowl_proposal(bowl_runs):
    mixtures, loss = bowl_runs
    return propose(mixtures, loss, prior=PRIOR, regressors=["ridge", "lightgbm"], folds=5,
                   search=SMALL_SEARCH)


# ----------------------------------------------------------------------------- regressors


def test_ridge_recovers_a_linear_response():
    X = _mixtures(60)
    y = 3 + X @ np.array([0.5, -0.2, 0.1, 0.3]) + np.random.default_rng(0).normal(0, 0.005, 60)
    result = cross_validate("ridge", X, y, folds=5)
    assert result.spearman > 0.95
    assert result.mae < 0.02


def test_lightgbm_fits_a_nonlinear_response_that_ridge_cannot():
    X = _mixtures(200)
    y = _bowl(X)
    results = [cross_validate(name, X, y, folds=5) for name in ("ridge", "lightgbm")]
    ridge, lgbm = results
    assert lgbm.spearman > 0.9 > ridge.spearman
    assert select_best(results) is lgbm


def test_lightgbm_learns_from_forty_runs():
    X = _mixtures(40)
    y = 3 + X @ np.array([0.5, -0.2, 0.1, 0.3])
    assert cross_validate("lightgbm", X, y, folds=5).spearman > 0.6


def test_cv_predictions_are_out_of_fold_and_aligned():
    X = _mixtures(53)
    y = 3 + X[:, 0]
    result = cross_validate("ridge", X, y, folds=5, seed=3)
    assert result.predictions.shape == y.shape
    assert sorted(np.bincount(result.fold)) == [10, 10, 11, 11, 11]
    # each prediction comes from a model that never saw that run
    for fold in range(5):
        held_out = result.fold == fold
        model = make_regressor("ridge").fit(X[~held_out], y[~held_out])
        np.testing.assert_allclose(result.predictions[held_out], model.predict(X[held_out]))


@pytest.mark.parametrize(
    "X, y, folds, message",
    [
        (_mixtures(3), np.arange(3.0), 5, "too few runs to fit: 3 runs for 5 CV folds"),
        (_mixtures(10), np.r_[np.arange(9.0), np.nan], 5, "missing or infinite"),
        (_mixtures(10), np.ones(10), 5, "the same for every run"),
        (_mixtures(10), np.arange(9.0), 5, "one value per run"),
    ],
)
def test_bad_training_data_is_a_user_error(X, y, folds, message):
    with pytest.raises(UserError, match=message):
        cross_validate("ridge", X, y, folds=folds)


def test_unknown_regressor_names_the_config_field():
    with pytest.raises(ConfigError, match=r"fit\.regressors"):
        make_regressor("xgboost")


def test_select_best_breaks_ties_by_mae_and_ranks_nan_last():
    def result(name, spearman, mae):
        return CVResult(name, spearman, 0.0, mae, 0.0, np.zeros(1), np.zeros(1, dtype=int))

    assert select_best([result("a", 0.9, 0.2), result("b", 0.9, 0.1)]).name == "b"
    assert select_best([result("a", np.nan, 0.0), result("b", -0.5, 1.0)]).name == "b"


# ----------------------------------------------------------------------------- proposal


def test_proposal_finds_the_optimum_of_a_convex_surface(bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    out = bowl_proposal.to_dict()
    proposed = np.array([out["mixture"][d] for d in DOMAINS])
    assert out["regressor"]["name"] == "lightgbm"
    assert np.abs(proposed - OPTIMUM).sum() < 0.15
    # truly better than every baseline on the known surface
    baselines = out["baselines"]
    true_loss = _bowl(proposed[None, :])[0]
    for name in ("uniform", "token_proportional"):
        assert true_loss < _bowl(np.array([list(baselines[name]["mixture"].values())]))[0]
        assert out["predicted_target_loss"] <= baselines[name]["predicted_target_loss"]
    assert true_loss < baselines["best_observed"]["observed_target_loss"]


def test_proposal_dict_is_json_and_complete(bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    out = json.loads(json.dumps(bowl_proposal.to_dict()))
    assert set(out) == {"mixture", "predicted_target_loss", "baselines", "regressor", "regressors",
                        "constraints", "search", "n_runs"}
    assert list(out["mixture"]) == DOMAINS
    assert sum(out["mixture"].values()) == pytest.approx(1.0)
    assert set(out["regressors"]) == {"ridge", "lightgbm"}
    assert set(out["regressor"]) == {"name", "cv_spearman", "cv_mae", "cv_pearson", "cv_r2"}
    assert out["search"] == {"candidates": 20_000, "top_k": 50}
    assert out["n_runs"] == 200
    best = out["baselines"]["best_observed"]
    assert best["run"] == loss.idxmin()
    assert best["observed_target_loss"] == pytest.approx(loss.min())
    assert [r.name for r in bowl_proposal.cv_results] == ["ridge", "lightgbm"]


def test_target_series_is_aligned_by_run_label(bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    shuffled = loss.sample(frac=1.0, random_state=0)
    again = propose(mixtures, shuffled, prior=PRIOR, regressors=["ridge", "lightgbm"], folds=5,
                    search=SMALL_SEARCH)
    np.testing.assert_allclose(again.mixture, bowl_proposal.mixture)
    with pytest.raises(UserError, match="no target loss for 1 run"):
        propose(mixtures, loss.iloc[1:], prior=PRIOR, regressors=["ridge"], folds=5,
                search=SMALL_SEARCH)


def test_proposal_never_breaks_a_bound():
    X = _mixtures(40)
    y = 3 + X @ np.array([-0.5, 0.2, -0.1, 0.3])  # linear: pushes the proposal to the bounds
    rng = np.random.default_rng(0)
    tried = 0
    for trial in range(20):
        lower = rng.dirichlet(np.ones(4)) * rng.uniform(0, 0.8)
        upper = np.minimum(1.0, lower + rng.uniform(0.1, 0.7, 4))
        if upper.sum() < 1:
            continue
        tried += 1
        search = SearchConfig(candidates=2000, top_k=20, seed=trial,
                              min_weight=dict(zip(DOMAINS, lower)),
                              max_weight=dict(zip(DOMAINS, upper)))
        p = propose(pd.DataFrame(X, columns=DOMAINS), y, prior=PRIOR, regressors=["ridge"], folds=4,
                    search=search)
        out = p.to_dict()
        for mixture in [out["mixture"], out["baselines"]["uniform"]["mixture"],
                        out["baselines"]["token_proportional"]["mixture"]]:
            w = np.array([mixture[d] for d in DOMAINS])
            assert np.all(w >= lower - 1e-12) and np.all(w <= upper + 1e-12)
            assert w.sum() == pytest.approx(1.0, abs=1e-12)
        # on a linear model the top-k average beats any in-bounds mixture but the best few
        for name in ("uniform", "token_proportional"):
            assert out["predicted_target_loss"] <= out["baselines"][name]["predicted_target_loss"]
    assert tried >= 10


def test_repetition_cap_of_the_target_run_binds():
    X = _mixtures(40)
    y = 3 - X[:, 3]  # more "math" is always better, but it holds few tokens
    tokens = {"web": 10**9, "code": 10**9, "books": 10**9, "math": 10**6}
    search = SearchConfig(candidates=5000, top_k=20, target_tokens=10**7, max_epochs=4)
    out = propose(pd.DataFrame(X, columns=DOMAINS), y, prior=PRIOR, regressors=["ridge"], folds=5,
                  search=search, available_tokens=tokens).to_dict()
    assert out["constraints"]["upper"]["math"] == pytest.approx(0.4)
    assert out["mixture"]["math"] == pytest.approx(0.4)
    assert "math" in out["constraints"]["binding"]


def test_search_bounds_errors_name_the_field():
    tight = SearchConfig(target_tokens=10**9, max_epochs=1)
    with pytest.raises(ConfigError, match=r"search\.max_epochs"):
        search_bounds(DOMAINS, tight, dict.fromkeys(DOMAINS, 10**6))
    with pytest.raises(ConfigError, match=r"search\.target_tokens"):
        search_bounds(DOMAINS, tight, None)
    with pytest.raises(ConfigError, match=r"search\.min_weight\.math"):
        search_bounds(DOMAINS, SearchConfig(min_weight={"math": 0.5}, max_weight={"math": 0.2}))
    with pytest.raises(ConfigError, match=r"search\.max_weight\.poetry"):
        search_bounds(DOMAINS, SearchConfig(max_weight={"poetry": 0.2}))


def test_fit_returns_the_refitted_best_and_all_results():
    X = _mixtures(60)
    y = _bowl(X)
    model, results = fit(X, y, ["ridge", "lightgbm"], folds=5)
    assert [r.name for r in results] == ["ridge", "lightgbm"]
    assert type(model).__name__ == "LGBMRegressor"
    assert model.predict(X[:3]).shape == (3,)


# ----------------------------------------------------------------------------- report


def test_report_writes_markdown_and_pngs(tmp_path, bowl_runs, bowl_proposal):
    mixtures, loss = bowl_runs
    report = write_report(tmp_path / "report", bowl_proposal.to_dict(), bowl_proposal.cv_results,
                          loss, DOMAINS)
    text = report.read_text()
    assert report.name == "report.md"
    for png in ("cv_fit.png", "weights.png"):
        data = (report.parent / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        assert f"]({png})" in text
    assert "**lightgbm** (chosen)" in text and "token_proportional" in text
    assert not list(report.parent.glob(".*.tmp"))  # no temporary files left behind
