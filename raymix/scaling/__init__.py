"""Predicting at a larger scale: power laws in training tokens and model size.

- :mod:`~raymix.scaling.power_law`: ``L(x) = E + B / x^beta``, one curve or many sharing
  an exponent, fitted robustly;
- :mod:`~raymix.scaling.base`: the (N, D) a law predicts at (:class:`TargetSize`; a
  "scale" is a proxy size) and the laws' common base (:class:`MixtureScalingLaw`);
- :mod:`~raymix.scaling.nested`: Data Mixing Laws' nested pipeline: each run's step law
  to the target tokens, each mixture's size law to the target size
  (:class:`NestedScalingLaw`), then a mixture regressor on those predictions;
- :mod:`~raymix.scaling.joint`: one law ``E + A_m / N^alpha + B_m / D^beta`` per mixture
  over every checkpoint of every size, ``E`` and the exponents shared
  (:class:`JointScalingLaw`): two sizes per mixture suffice;
- :mod:`~raymix.scaling.backtest`: which law and settings to use, chosen by holding out
  the runs' largest sizes / latest checkpoints at the ratio of extrapolation asked for
  (:func:`backtest_scaling`).
"""

from raymix.scaling.backtest import (
    BacktestResult,
    Setting,
    backtest_scaling,
    backtest_summary,
    rule_setting,
    settings_to_try,
)
from raymix.scaling.base import MixtureScalingLaw, TargetSize
from raymix.scaling.joint import JointScalingLaw, fit_joint_law
from raymix.scaling.nested import NestedScalingLaw, holdout_summary
from raymix.scaling.power_law import PowerLaw, fit_shared_exponent

__all__ = ["BacktestResult", "JointScalingLaw", "MixtureScalingLaw", "NestedScalingLaw",
           "PowerLaw", "Setting", "TargetSize", "backtest_scaling", "backtest_summary",
           "fit_joint_law", "fit_shared_exponent", "holdout_summary", "rule_setting",
           "settings_to_try"]
