"""From finished runs to a proposed mixture: fit, search under constraints, compare.

:func:`fit` cross-validates the named regressors on (mixture weights -> target loss),
picks the one that ranks held-out runs best (or an ensemble of the best few, when that
cross-validates better) and refits it on every run. It also measures the run-to-run
noise where runs repeat a mixture with other seeds.

:func:`propose` then searches the bounded simplex for the mixture with the lowest
predicted loss (:mod:`raymix.optimise`, under the bounds of :mod:`raymix.constraints`)
and scores the baselines (uniform, token-proportional, best observed run) with the same
model, so the proposal can be judged against what a person would have done anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from raymix.config.schema import FitConfig, SearchConfig
from raymix.errors import ConfigError, UserError
from raymix.mixtures.constraints import Constraints, build_constraints
from raymix.mixtures.sampling import named_weights
from raymix.proposal.search import SearchResult, has_std, search_mixture
from raymix.regression.selection import (
    REGRESSORS,
    CVResult,
    NoiseFloor,
    fit_auto,
    noise_floor,
)

NOISE_SIGMAS = 2.0  # a difference smaller than 2 std of a difference of two runs is noise


# ----------------------------------------------------------------------------- fitting


@dataclass
class FitResult:
    """The refitted regressor and the cross-validation behind its choice.

    Attributes
    ----------
    estimator : regressor
        Fitted on every run; takes an (n, k) array of weights in ``domains`` order.
    chosen : CVResult
        Cross-validation of the chosen regressor (or ensemble).
    results : list of CVResult
        Every candidate regressor's cross-validation (the ensemble's too, when tried).
    noise : NoiseFloor or None
        Run-to-run noise measured on repeated mixtures, if any repeat.
    domains : list of str
    n_runs : int
    scaling : NestedScalingLaw or None
        The step and size laws, when the runs' losses were extrapolated to a target scale.
    """

    estimator: Any = field(repr=False)
    chosen: CVResult
    results: list[CVResult]
    noise: NoiseFloor | None
    domains: list[str]
    n_runs: int
    # the nested step and size laws when the runs were extrapolated to a target scale
    scaling: Any = field(default=None, repr=False)

    def predict(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted loss and its uncertainty for each row of ``weights``.

        The uncertainty is the regressor's predictive standard deviation where it has
        one (the Gaussian process), else its cross-validated RMSE: the typical error of
        a prediction for a mixture it was not fitted on.
        """
        weights = np.atleast_2d(np.asarray(weights, dtype=float))
        if self.has_std:
            mean, std = self.estimator.predict(weights, return_std=True)
            return np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
        mean = np.asarray(self.estimator.predict(weights), dtype=float)
        return mean, np.full(len(mean), self.chosen.rmse)

    @property
    def has_std(self) -> bool:
        return has_std(self.estimator)

    @property
    def uncertainty_source(self) -> str:
        return ("predictive standard deviation of the regressor" if self.has_std
                else "cross-validated RMSE of the regressor")

    def quality(self) -> dict[str, Any]:
        """The chosen regressor and every candidate's CV scores (JSON-ready)."""
        return {"regressor": {"name": self.chosen.name, **self.chosen.metrics()},
                "regressors": {r.name: r.metrics() for r in self.results},
                "noise_floor": _noise_dict(self.noise), "n_runs": self.n_runs}


def _noise_dict(noise: NoiseFloor | None) -> dict[str, Any] | None:
    if noise is None:
        return None
    return {**noise.to_dict(), "min_meaningful_difference": min_meaningful_difference(noise)}


def min_meaningful_difference(noise: NoiseFloor) -> float:
    """The smallest loss difference between two mixtures that is not run-to-run noise."""
    return float(NOISE_SIGMAS * np.sqrt(2) * noise.std)


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
    regressors: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    ensemble: bool = True,
) -> FitResult:
    """Cross-validate each regressor and refit the best (or the best ensemble) on all runs.

    Parameters
    ----------
    mixtures : DataFrame or array of shape (n, k)
        Mixture weights, one row per run.
    target_loss : Series or array of shape (n,)
        Target loss per run; a Series is aligned to a DataFrame's index.
    regressors : sequence of str, optional
        Names from :data:`raymix.regressors.REGRESSORS` (default: ``FitConfig``'s).
    folds : int, default=5
        Cross-validation folds.
    seed : int, default=0
        Seed of the folds and the regressors.
    ensemble : bool, default=True
        Also try averaging the best few regressors, and use that when it
        cross-validates better.

    Returns
    -------
    FitResult
    """
    regressors = list(FitConfig().regressors if regressors is None else regressors)
    if not regressors:
        raise ConfigError("fit.regressors",
                          f"name at least one regressor ({', '.join(REGRESSORS)})")
    y = _aligned_target(mixtures, target_loss)
    X = np.asarray(mixtures, dtype=float)
    estimator, chosen, results = fit_auto(X, y, regressors, folds=folds, seed=seed,
                                          ensemble=ensemble)
    domains = ([str(c) for c in mixtures.columns] if isinstance(mixtures, pd.DataFrame)
               else [f"w{i}" for i in range(X.shape[1])])
    return FitResult(estimator=estimator, chosen=chosen, results=results,
                     noise=noise_floor(X, y), domains=domains, n_runs=len(y))


# ----------------------------------------------------------------------------- proposal


@dataclass
class Proposal:
    """The proposed mixture, its baselines, its constraints and the fit behind it.

    ``to_dict()`` gives the JSON-ready summary (see :func:`propose`).
    """

    fit: FitResult
    constraints: Constraints
    search: SearchResult
    predicted: float
    predicted_std: float
    baselines: dict[str, dict[str, Any]]
    # the run nearest the proposal and how far: the share of weight that would have to
    # move (total variation); far from every run, the regressor extrapolates
    nearest_run: dict[str, Any] | None = None

    @property
    def domains(self) -> list[str]:
        return self.fit.domains

    @property
    def mixture(self) -> np.ndarray:
        return self.search.mixture

    def to_dict(self) -> dict[str, Any]:
        return {
            "mixture": named_weights(self.domains, self.mixture),
            "predicted_target_loss": self.predicted,
            "predicted_std": self.predicted_std,
            "uncertainty": self.fit.uncertainty_source,
            "baselines": self.baselines,
            "nearest_run": self.nearest_run,
            **self.fit.quality(),
            "constraints": {**self.constraints.to_dict(),
                            "binding": self.constraints.binding(self.mixture)},
            "search": self.search.to_dict(),
        }


def _json_label(label: Any) -> Any:
    """A run's index label as a JSON scalar (numpy ints become ints, others strings)."""
    if isinstance(label, np.generic):
        label = label.item()
    return label if isinstance(label, (str, int, float)) else str(label)


def _baselines(
    fitted: FitResult,
    constraints: Constraints,
    X: np.ndarray,
    y: np.ndarray,
    labels: pd.Index,
    proposed: float,
) -> dict[str, dict[str, Any]]:
    """Uniform and token-proportional mixtures (moved into the bounds) and the best run.

    Each gets its predicted loss and uncertainty, and how much worse than the proposal
    it is predicted to be; with a measured noise floor, whether that gap is larger than
    run-to-run noise.
    """
    k = len(fitted.domains)
    best = int(np.argmin(y))
    mixtures = {
        "uniform": constraints.project(np.full(k, 1.0 / k)),
        "token_proportional": constraints.project(constraints.prior),
        "best_observed": X[best],  # as run, even where it breaks a bound of the search
    }
    mean, std = fitted.predict(np.vstack(list(mixtures.values())))
    floor = min_meaningful_difference(fitted.noise) if fitted.noise else None
    out = {}
    for (name, w), m, s in zip(mixtures.items(), mean, std):
        gap = float(m - proposed)
        out[name] = {"mixture": named_weights(fitted.domains, w), "predicted_target_loss": float(m),
                     "predicted_std": float(s), "predicted_gap_to_proposal": gap,
                     "gap_above_noise": None if floor is None else bool(gap > floor)}
    out["best_observed"].update(observed_target_loss=float(y[best]),
                                run=_json_label(labels[best]))
    return out


def propose(
    mixtures: pd.DataFrame,
    target_loss: pd.Series | np.ndarray,
    *,
    prior: Mapping[str, float] | None = None,
    fit_config: FitConfig | None = None,
    search: SearchConfig | None = None,
    available_tokens: Mapping[str, float] | None = None,
    where: str = "search",
    fitted: FitResult | None = None,
) -> Proposal:
    """Fit the runs and propose the mixture predicted to minimise the target loss.

    Parameters
    ----------
    mixtures : DataFrame of shape (n, k)
        One column per domain, one row per run; the index labels identify the runs.
    target_loss : Series or array of shape (n,)
        Target loss of each run (a Series is aligned by index).
    prior : dict of str to float, optional
        Token prior per domain: centre of the simulated candidates, the pull of
        ``kl_weight`` and the ``token_proportional`` baseline. Default: from the token
        counts, else uniform (see :func:`raymix.constraints.build_constraints`).
    fit_config : FitConfig, optional
        Regressors, folds, seed and ensemble setting.
    search : SearchConfig, optional
        Constraints and search method (defaults if omitted).
    available_tokens : dict of str to float, optional
        Tokens per domain (for the repetition cap of ``search.target_tokens``).
    where : str, default="search"
        How to name the constraint fields in errors (``constraints`` for a file).
    fitted : FitResult, optional
        A fit of these runs to reuse instead of fitting again.

    Returns
    -------
    Proposal
        ``.to_dict()`` is JSON-ready::

            {"mixture": {domain: weight}, "predicted_target_loss", "predicted_std",
             "uncertainty": how predicted_std was obtained,
             "baselines": {"uniform" | "token_proportional" | "best_observed":
                           {"mixture", "predicted_target_loss", "predicted_std",
                            "predicted_gap_to_proposal", "gap_above_noise",
                            + "observed_target_loss", "run" for best_observed}},
             "nearest_run": {"run", "distance": total variation to the proposal},
             "regressor": {"name", "cv_spearman", "cv_pearson", "cv_mae", "cv_r2", "cv_rmse"},
             "regressors": {name: {cv metrics}}, "noise_floor": {...} or None,
             "n_runs": int,
             "constraints": {"lower", "upper", ..., "binding": [{domain, bound, ...}]},
             "search": {"method", "objective", ...}}
    """
    fit_config = fit_config or FitConfig()
    search = search or SearchConfig()
    if not isinstance(mixtures, pd.DataFrame):
        raise UserError("mixtures must be a table with one named column per domain")
    domains = [str(c) for c in mixtures.columns]
    constraints = build_constraints(domains, search, available_tokens=available_tokens,
                                    prior=prior, where=where)
    y = _aligned_target(mixtures, target_loss)
    if fitted is None:
        fitted = fit(mixtures, y, fit_config.regressors, fit_config.cv_folds, fit_config.seed,
                     fit_config.ensemble)
    X = mixtures.to_numpy(dtype=float)
    result = search_mixture(fitted.estimator, constraints, search, runs=(X, y))
    mean, std = fitted.predict(result.mixture[None, :])
    return Proposal(
        fit=fitted, constraints=constraints, search=result,
        predicted=float(mean[0]), predicted_std=float(std[0]),
        baselines=_baselines(fitted, constraints, X, y, mixtures.index, float(mean[0])),
        nearest_run=_nearest_run(result.mixture, X, mixtures.index),
    )


def _nearest_run(mixture: np.ndarray, X: np.ndarray, labels: pd.Index) -> dict[str, Any]:
    """The run closest to ``mixture`` in total variation (half the L1 distance)."""
    distances = 0.5 * np.abs(X - mixture).sum(axis=1)
    i = int(np.argmin(distances))
    return {"run": _json_label(labels[i]), "distance": float(distances[i])}
