"""Fitting mixture -> loss: cross-validate regressors, refit the best, measure the noise.

:func:`fit_regressor` cross-validates the named regressors on (mixture weights -> target
loss), picks the one that ranks held-out runs best (or an ensemble of the best few, when
that cross-validates better) and refits it on every run (:mod:`raymix.regression.selection`).
It also measures the run-to-run noise where runs repeat a mixture with other seeds
(:mod:`raymix.regression.noise`). The result, :class:`FitResult`, predicts any mixture
with an uncertainty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from raymix.config import FitConfig
from raymix.errors import UserError
from raymix.regression.groups import group_columns, has_std
from raymix.regression.noise import NoiseFloor, min_meaningful_difference, noise_floor
from raymix.regression.selection import CVResult, fit_auto

__all__ = ["FitResult", "aligned_target", "fit_regressor", "has_std"]


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
    scaling : MixtureScalingLaw or None
        The step and size laws, when the runs' losses were extrapolated to a target scale.
    groups : dict of str to list of str
        Group path -> its leaf domains, when the domains form groups (empty otherwise);
        the regressors that cannot form sums saw the group totals too
        (:mod:`raymix.regression.groups`).
    """

    estimator: Any = field(repr=False)
    chosen: CVResult
    results: list[CVResult]
    noise: NoiseFloor | None
    domains: list[str]
    n_runs: int
    # the nested step and size laws when the runs were extrapolated to a target scale
    scaling: Any = field(default=None, repr=False)
    groups: dict[str, list[str]] = field(default_factory=dict)

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


def aligned_target(mixtures: pd.DataFrame | np.ndarray, target_loss) -> np.ndarray:
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


def fit_regressor(
    mixtures: pd.DataFrame | np.ndarray,
    target_loss: pd.Series | np.ndarray,
    regressors: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    ensemble: bool = True,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> FitResult:
    """Cross-validate each regressor and refit the best (or the best ensemble) on all runs.

    Parameters
    ----------
    mixtures : DataFrame or array of shape (n, k)
        Mixture weights, one row per run.
    target_loss : Series or array of shape (n,)
        Target loss per run; a Series is aligned to a DataFrame's index.
    regressors : sequence of str, optional
        Names from :data:`raymix.config.REGRESSOR_NAMES` (default: ``FitConfig``'s).
    folds : int, default=5
        Cross-validation folds.
    seed : int, default=0
        Seed of the folds and the regressors.
    ensemble : bool, default=True
        Also try averaging the best few regressors, and use that when it
        cross-validates better.
    groups : dict of str to list of str, optional
        Group path -> its leaf domains (:attr:`SweepConfig.domain_groups`): the
        regressors that cannot form sums of weights
        (:data:`~raymix.regression.groups.GROUP_FEATURE_REGRESSORS`) then see each
        group's total as well, inside the fitted model. None or empty: the leaves alone,
        as before.

    Returns
    -------
    FitResult
    """
    regressors = list(FitConfig().regressors if regressors is None else regressors)
    y = aligned_target(mixtures, target_loss)
    X = np.asarray(mixtures, dtype=float)
    domains = ([str(c) for c in mixtures.columns] if isinstance(mixtures, pd.DataFrame)
               else [f"w{i}" for i in range(X.shape[1])])
    estimator, chosen, results = fit_auto(X, y, regressors, folds=folds, seed=seed,
                                          ensemble=ensemble,
                                          groups=group_columns(domains, groups))
    return FitResult(estimator=estimator, chosen=chosen, results=results,
                     noise=noise_floor(X, y), domains=domains, n_runs=len(y),
                     groups={g: list(leaves) for g, leaves in (groups or {}).items()})
