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


def _lightgbm_regmix(seed: int) -> LGBMRegressor:
    """RegMix's published LightGBM (Liu et al., ICLR 2025; sail-sg/regmix's regression
    notebook): gbdt, 1000 trees at learning rate 0.01, LightGBM's defaults otherwise. Their
    notebook also stopped early on the test runs, which a fit without test runs cannot."""
    return LGBMRegressor(boosting_type="gbdt", n_estimators=1000, learning_rate=0.01,
                         random_state=seed, n_jobs=1, verbose=-1)


ESTIMATORS = {  # name -> a fresh regressor for a seed
    "ridge": lambda seed: RidgeRegressor(alphas=RIDGE_ALPHAS),
    "loglinear": lambda seed: LogLinearRegressor(),
    "lightgbm": _lightgbm,
    "lightgbm_regmix": _lightgbm_regmix,
    "mixing_law": lambda seed: MixingLaw(seed=seed),
    "implicit_law": lambda seed: ImplicitMixingLaw(n_components=5, seed=seed),
    "gp": lambda seed: SimplexGP(seed=seed),
}
assert tuple(ESTIMATORS) == REGRESSORS  # the config's names, in the same order
# what ``auto`` chooses among unless told: all but the published settings kept to compare with
AUTO_CANDIDATES = tuple(name for name in REGRESSORS if name != "lightgbm_regmix")
