"""Predicting at a larger scale: power laws in training tokens and model size.

- :mod:`~raymix.scaling.power_law`: ``L(x) = E + B / x^beta``, one curve or many sharing
  an exponent, fitted robustly;
- :mod:`~raymix.scaling.nested`: Data Mixing Laws' nested pipeline: each run's step law
  to the target tokens, each mixture's size law to the target size
  (:class:`NestedScalingLaw`), then a mixture regressor on those predictions.
"""

from raymix.scaling.nested import NestedScalingLaw, Scale, holdout_summary
from raymix.scaling.power_law import PowerLaw, fit_shared_exponent

__all__ = ["NestedScalingLaw", "PowerLaw", "Scale", "fit_shared_exponent", "holdout_summary"]
