"""The regressors by name: how each is built, with the settings raymix uses.

:func:`raymix.regression.make_regressor` builds one by name (and ``auto``, which
cross-validates the others); the names are :data:`raymix.config.REGRESSOR_NAMES`.
"""

from __future__ import annotations

from lightgbm import LGBMRegressor

from raymix.config import REGRESSOR_NAMES as REGRESSORS
from raymix.regression.gp import SimplexGP
from raymix.regression.laws import ImplicitMixingLaw, MixingLaw
from raymix.regression.linear import RIDGE_ALPHAS, LogLinearRegressor, RidgeRegressor


def _lightgbm(seed: int) -> LGBMRegressor:
    return LGBMRegressor(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=7,
        min_child_samples=5,  # the default 20 leaves 40 runs nearly unsplittable
        min_data_in_bin=1,
        subsample=0.8,
        subsample_freq=1,  # bagging: smooths the step-shaped fit on few runs
        random_state=seed,
        n_jobs=1,  # a few hundred rows: threads only wait on each other (100x slower when busy)
        verbose=-1,
    )


ESTIMATORS = {  # name -> a fresh regressor for a seed
    "ridge": lambda seed: RidgeRegressor(alphas=RIDGE_ALPHAS),
    "loglinear": lambda seed: LogLinearRegressor(),
    "lightgbm": _lightgbm,
    "mixing_law": lambda seed: MixingLaw(seed=seed),
    "implicit_law": lambda seed: ImplicitMixingLaw(n_components=5, seed=seed),
    "gp": lambda seed: SimplexGP(seed=seed),
}
assert tuple(ESTIMATORS) == REGRESSORS  # the config's names, in the same order
