"""The sweep: every planned mixture is one Ray Tune trial that trains one proxy.

:func:`run_sweep` prepares the data, fixes the plan (:mod:`~raymix.sweep.plan`), checks
and records the sweep directory's settings (:mod:`~raymix.sweep.experiment`), and runs
the trials (:mod:`~raymix.sweep.trial`) on a Ray cluster (:mod:`~raymix.sweep.cluster`),
each reporting its record to the sweep's aggregator actor
(:mod:`~raymix.sweep.aggregator`), which stores it before it counts as done. An adaptive
sweep's mixtures come from its strategy (:mod:`~raymix.sweep.strategy`), as slots free.

The runner's names are imported on first use: a Ray worker that unpickles the aggregator
imports this package, and the runner would bring the trial's torch into it.
"""

import importlib

_RUNNER_NAMES = ("SweepResult", "run_sweep", "train_plan")


def __getattr__(name: str):
    if name in _RUNNER_NAMES:
        return getattr(importlib.import_module("raymix.sweep.runner"), name)
    raise AttributeError(f"module 'raymix.sweep' has no attribute {name!r}")


__all__ = ["SweepResult", "run_sweep", "train_plan"]
