"""From mixture to loss: regressors, their cross-validation and choice, and the noise floor.

A regressor maps a mixture ``w`` (one row of an ``(n, k)`` array of domain weights that
sum to 1) to the loss a proxy trained on it reaches. raymix has six, built by
:func:`make_regressor`:

``ridge``
    Linear in the weights (RegMix's "linear"), ridge penalty chosen by leave-one-out
    error (:mod:`~raymix.regression.linear`).
``loglinear``
    ``L(w) = c + exp(b0 + b . w)``: ridge on ``log(L - c)`` with the offset ``c`` (the
    loss no mixture can beat) picked by leave-one-out error: the form of Olmix's
    "log-linear" law and of Ye et al.'s per-domain mixing law, fitted the quick way.
``lightgbm``
    Gradient-boosted trees (RegMix's choice), set up to split on a few dozen runs too
    (:mod:`~raymix.regression.registry`).
``mixing_law``, ``implicit_law``
    Data Mixing Laws (Ye et al., ICLR 2025), in :mod:`~raymix.regression.laws`.
``gp``
    A Gaussian process on the square roots of the weights, with a predictive standard
    deviation (:mod:`~raymix.regression.gp`).

``ridge``, ``loglinear`` and the laws have ``gradient(X)``, d prediction / d weight,
which lets the proposal's search optimise exactly; ``gp`` has ``predict(X,
return_std=True)``. :mod:`~raymix.regression.selection` chooses among them by
cross-validation, :mod:`~raymix.regression.fitting` fits the chosen one on a sweep's
runs (:class:`FitResult`), and :mod:`~raymix.regression.noise` measures run-to-run noise.
When the domains form groups, ``lightgbm`` and ``gp`` also see each group's total weight,
inside the fitted model (:mod:`~raymix.regression.groups`).
"""

from raymix.regression.fitting import FitResult, fit_regressor, has_std
from raymix.regression.gp import SimplexGP
from raymix.regression.laws import ImplicitMixingLaw, MixingLaw, interaction_matrix
from raymix.regression.linear import LogLinearRegressor, RidgeRegressor
from raymix.regression.noise import (
    NOISE_SIGMAS,
    NoiseFloor,
    gap_se,
    min_meaningful_difference,
    noise_floor,
    seed_noise,
)
from raymix.regression.registry import REGRESSORS
from raymix.regression.selection import (
    AutoRegressor,
    CVResult,
    Ensemble,
    cross_validate,
    fit_auto,
    make_regressor,
    select_best,
)

__all__ = [
    "REGRESSORS", "AutoRegressor", "CVResult", "Ensemble", "FitResult", "ImplicitMixingLaw",
    "LogLinearRegressor", "MixingLaw", "NoiseFloor", "RidgeRegressor", "SimplexGP",
    "cross_validate", "fit_auto", "fit_regressor", "has_std", "interaction_matrix",
    "make_regressor",
    "min_meaningful_difference", "noise_floor", "seed_noise", "gap_se", "NOISE_SIGMAS",
    "select_best",
]
