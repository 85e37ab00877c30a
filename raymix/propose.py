"""From finished runs to a proposed mixture (RegMix's regression step).

:func:`fit` cross-validates the configured regressors on (mixture weights -> target
loss) and refits the one that ranks held-out runs best. :func:`propose` then simulates
candidate mixtures inside the search bounds (per-domain floors and ceilings, and the
repetition cap of the target run), predicts their loss, and averages the ``top_k``
best: an average of points of the bounded simplex stays inside it, and is steadier
than the single best candidate of a noisy model. Baselines (uniform, token-proportional,
best observed run) are scored by the same model for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin

from raymix.config import SearchConfig
from raymix.errors import ConfigError, UserError
from raymix.mixtures import (
    normalise_prior,
    project_to_bounded_simplex,
    repetition_caps,
    sample_candidates,
)
from raymix.regressors import (
    REGRESSORS,
    CVResult,
    check_training_data,
    cross_validate,
    make_regressor,
    select_best,
)

AT_BOUND = 1e-6  # a proposed weight this close to a bound counts as binding


@dataclass
class Proposal:
    """The proposed mixture, its baselines and the fits behind it.

    ``to_dict()`` gives the JSON-ready summary; ``cv_results`` (every regressor's
    out-of-fold predictions, for the report) and ``estimator`` (the refitted best
    regressor, taking an (n, k) array of weights in ``domains`` order) stay out of it.
    """

    domains: list[str]
    mixture: np.ndarray
    predicted_target_loss: float
    baselines: dict[str, dict[str, Any]]
    lower: np.ndarray
    upper: np.ndarray
    candidates: int
    top_k: int
    n_runs: int
    chosen: CVResult
    cv_results: list[CVResult]
    estimator: RegressorMixin = field(repr=False)

    @property
    def binding(self) -> list[str]:
        """Domains whose proposed weight sits at its lower or upper bound."""
        at_bound = (self.mixture <= self.lower + AT_BOUND) | (self.mixture >= self.upper - AT_BOUND)
        return [d for d, hit in zip(self.domains, at_bound) if hit]

    def to_dict(self) -> dict[str, Any]:
        """The proposal as plain JSON types (see :func:`propose` for the layout)."""
        return {
            "mixture": _named(self.domains, self.mixture),
            "predicted_target_loss": self.predicted_target_loss,
            "baselines": self.baselines,
            "regressor": {"name": self.chosen.name, **self.chosen.metrics()},
            "regressors": {r.name: r.metrics() for r in self.cv_results},
            "constraints": {
                "lower": _named(self.domains, self.lower),
                "upper": _named(self.domains, self.upper),
                "binding": self.binding,
            },
            "search": {"candidates": self.candidates, "top_k": self.top_k},
            "n_runs": self.n_runs,
        }


def _named(domains: Sequence[str], weights: np.ndarray) -> dict[str, float]:
    return {d: float(w) for d, w in zip(domains, weights)}


def _json_label(label: Any) -> Any:
    """A run's index label as a JSON scalar (numpy ints become ints, others strings)."""
    if isinstance(label, np.generic):
        label = label.item()
    return label if isinstance(label, (str, int, float)) else str(label)


# ----------------------------------------------------------------------------- fitting


def _aligned_target(mixtures: pd.DataFrame | np.ndarray, target_loss) -> np.ndarray:
    """The target loss in the row order of ``mixtures``; a Series is matched by index."""
    if isinstance(target_loss, pd.Series) and isinstance(mixtures, pd.DataFrame):
        missing = mixtures.index.difference(target_loss.index)
        if len(missing):
            raise UserError(
                f"no target loss for {len(missing)} run(s), e.g. {missing[0]!r}; "
                f"drop those runs or supply their loss"
            )
        return target_loss.loc[mixtures.index].to_numpy(dtype=float)
    return np.asarray(target_loss, dtype=float)


def fit(
    mixtures: pd.DataFrame | np.ndarray,
    target_loss: pd.Series | np.ndarray,
    regressors: Sequence[str] = REGRESSORS,
    folds: int = 5,
    seed: int = 0,
) -> tuple[RegressorMixin, list[CVResult]]:
    """Cross-validate each regressor and refit the best on all runs.

    Parameters
    ----------
    mixtures : DataFrame or array of shape (n, k)
        Mixture weights, one row per run.
    target_loss : Series or array of shape (n,)
        Target loss per run; a Series is aligned to a DataFrame's index.
    regressors : sequence of str, default=("ridge", "lightgbm")
        Names from :data:`raymix.regressors.REGRESSORS`.
    folds : int, default=5
        Cross-validation folds.
    seed : int, default=0
        Seed of the folds and the regressors.

    Returns
    -------
    estimator : regressor
        The best regressor by CV Spearman (see :func:`select_best`), fitted on all runs.
    results : list of CVResult
        One per regressor, in the order given.
    """
    if not regressors:
        raise ConfigError("fit.regressors",
                          f"name at least one regressor ({', '.join(REGRESSORS)})")
    X, y = check_training_data(mixtures, _aligned_target(mixtures, target_loss), folds)
    results = [cross_validate(name, X, y, folds=folds, seed=seed) for name in regressors]
    best = make_regressor(select_best(results).name, seed).fit(X, y)
    return best, results


# ----------------------------------------------------------------------------- bounds


def _per_domain(weights: Mapping[str, float], domains: Sequence[str], default: float, key: str):
    unknown = [d for d in weights if d not in domains]
    if unknown:
        raise ConfigError(
            f"search.{key}.{unknown[0]}",
            f"names no domain of the runs; choose from {', '.join(domains)}",
        )
    return np.array([weights.get(d, default) for d in domains], dtype=float)


def _token_vector(available_tokens: Mapping[str, int], domains: Sequence[str]) -> np.ndarray:
    missing = [d for d in domains if d not in available_tokens]
    if missing:
        raise UserError(f"no token count for domain {missing[0]!r}; prepare the data first")
    return np.array([available_tokens[d] for d in domains], dtype=float)


def search_bounds(
    domains: Sequence[str],
    search: SearchConfig,
    available_tokens: Mapping[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-domain weight bounds of the proposal search.

    ``lower`` is ``search.min_weight`` (default 0). ``upper`` is ``search.max_weight``
    (default 1), lowered to the repetition cap of a ``search.target_tokens`` run that may
    see each domain at most ``search.max_epochs`` times, when ``target_tokens`` is set.

    Raises
    ------
    ConfigError
        Naming the field to change when no mixture fits the bounds.
    """
    lower = _per_domain(search.min_weight, domains, 0.0, "min_weight")
    upper = _per_domain(search.max_weight, domains, 1.0, "max_weight")
    cap_field = "search.max_weight"
    if search.target_tokens is not None:
        if available_tokens is None:
            raise ConfigError(
                "search.target_tokens",
                "the repetition cap needs each domain's token count; prepare the data first "
                "or remove search.target_tokens",
            )
        caps = repetition_caps(
            _token_vector(available_tokens, domains), search.target_tokens, search.max_epochs
        )
        upper = np.minimum(upper, caps)
        cap_field = "search.max_epochs"
    if upper.sum() < 1:
        raise ConfigError(
            cap_field,
            f"the upper bounds sum to {upper.sum():.3g} < 1, so no mixture fits; raise "
            f"search.max_weight or search.max_epochs, or lower search.target_tokens",
        )
    if lower.sum() > 1:
        raise ConfigError("search.min_weight",
                          f"minimum weights sum to {lower.sum():.3g} > 1; lower them")
    for d, lo, hi in zip(domains, lower, upper):
        if lo > hi:
            raise ConfigError(
                f"search.min_weight.{d}",
                f"{lo:.3g} is above the domain's upper bound {hi:.3g} (search.max_weight or "
                f"its repetition cap); lower it or raise search.max_epochs",
            )
    return lower, upper


# ----------------------------------------------------------------------------- proposal


def _top_k_average(
    model: RegressorMixin, candidates: np.ndarray, top_k: int, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Average of the ``top_k`` candidates with the lowest predicted loss."""
    predicted = model.predict(candidates)
    best = np.argpartition(predicted, top_k - 1)[:top_k]
    # the mean is inside the convex bounded set; projecting only removes float drift,
    # and weights within 1e-12 of their lower bound are snapped to it (no 1e-16 weights)
    mixture = project_to_bounded_simplex(candidates[best].mean(axis=0), lower, upper)
    return np.where(mixture - lower < 1e-12, lower, mixture)


def _baselines(
    model: RegressorMixin,
    X: np.ndarray,
    y: np.ndarray,
    labels: pd.Index,
    prior: np.ndarray,
    domains: list[str],
    lower: np.ndarray,
    upper: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """Uniform and token-proportional mixtures (moved into the bounds) and the best run."""
    k = len(domains)
    best = int(np.argmin(y))
    mixtures = {
        "uniform": project_to_bounded_simplex(np.full(k, 1.0 / k), lower, upper),
        "token_proportional": project_to_bounded_simplex(prior, lower, upper),
        "best_observed": X[best],  # as run, even where it breaks a search bound
    }
    predicted = model.predict(np.vstack(list(mixtures.values())))
    out = {
        name: {"mixture": _named(domains, w), "predicted_target_loss": float(p)}
        for (name, w), p in zip(mixtures.items(), predicted)
    }
    out["best_observed"]["observed_target_loss"] = float(y[best])
    out["best_observed"]["run"] = _json_label(labels[best])
    return out


def _prior_vector(prior: Mapping[str, float], domains: Sequence[str]) -> np.ndarray:
    if set(prior) != set(domains):
        odd = sorted(set(prior) ^ set(domains))[0]
        raise UserError(f"the prior and the runs name different domains (e.g. {odd!r}); "
                        "use the same domains")
    return normalise_prior(np.array([prior[d] for d in domains], dtype=float))


def propose(
    mixtures: pd.DataFrame,
    target_loss: pd.Series | np.ndarray,
    *,
    prior: Mapping[str, float],
    regressors: Sequence[str] = REGRESSORS,
    folds: int = 5,
    search: SearchConfig | None = None,
    available_tokens: Mapping[str, int] | None = None,
    seed: int = 0,
) -> Proposal:
    """Fit the runs and propose the mixture predicted to minimise the target loss.

    Parameters
    ----------
    mixtures : DataFrame of shape (n, k)
        One column per domain, one row per run; the index labels identify the runs.
    target_loss : Series or array of shape (n,)
        Target loss of each run (a Series is aligned by index).
    prior : dict of str to float
        Token prior per domain: centre of the candidate draws and the
        ``token_proportional`` baseline.
    regressors : sequence of str, default=("ridge", "lightgbm")
        Regressors to cross-validate; the best by CV Spearman is used.
    folds : int, default=5
        Cross-validation folds.
    search : SearchConfig, optional
        Candidates, top k, bounds and seed of the search (defaults if omitted).
    available_tokens : dict of str to int, optional
        Tokens per domain; needed when ``search.target_tokens`` is set.
    seed : int, default=0
        Seed of the folds and the regressors (the candidates use ``search.seed``).

    Returns
    -------
    Proposal
        ``.to_dict()`` is JSON-ready::

            {"mixture": {domain: weight}, "predicted_target_loss": float,
             "baselines": {"uniform": {"mixture", "predicted_target_loss"},
                           "token_proportional": {...},
                           "best_observed": {..., "observed_target_loss", "run"}},
             "regressor": {"name", "cv_spearman", "cv_mae", "cv_pearson", "cv_r2"},
             "regressors": {name: {cv metrics}},
             "constraints": {"lower": {...}, "upper": {...}, "binding": [domain]},
             "search": {"candidates": int, "top_k": int}, "n_runs": int}

        ``binding`` lists the domains whose proposed weight sits at a bound (a weight of
        0 at a lower bound of 0 included).
    """
    search = search or SearchConfig()
    if not isinstance(mixtures, pd.DataFrame):
        raise UserError("mixtures must be a table with one named column per domain")
    domains = [str(c) for c in mixtures.columns]
    prior_vec = _prior_vector(prior, domains)
    y = _aligned_target(mixtures, target_loss)
    model, results = fit(mixtures, y, regressors, folds, seed)
    lower, upper = search_bounds(domains, search, available_tokens)
    candidates = sample_candidates(search.candidates, prior_vec, lower=lower, upper=upper,
                                   rng=search.seed)
    mixture = _top_k_average(model, candidates, search.top_k, lower, upper)
    X = mixtures.to_numpy(dtype=float)
    return Proposal(
        domains=domains,
        mixture=mixture,
        predicted_target_loss=float(model.predict(mixture[None, :])[0]),
        baselines=_baselines(model, X, y, mixtures.index, prior_vec, domains, lower, upper),
        lower=lower,
        upper=upper,
        candidates=search.candidates,
        top_k=search.top_k,
        n_runs=len(mixtures),
        chosen=select_best(results),
        cv_results=results,
        estimator=model,
    )
