"""The sweep: every planned mixture is one Ray Tune trial that trains one proxy.

:func:`run_sweep` prepares the data, fixes the plan (:mod:`~raymix.sweep.plan`), checks
and records the sweep directory's settings (:mod:`~raymix.sweep.experiment`), and runs
the trials (:mod:`~raymix.sweep.trial`) on a Ray cluster (:mod:`~raymix.sweep.cluster`),
each reporting its record to the sweep's aggregator actor
(:mod:`~raymix.sweep.aggregator`), which stores it before it counts as done. An adaptive
sweep's mixtures come from its strategy (:mod:`~raymix.sweep.strategy`), as slots free.
"""

from raymix.sweep.runner import SweepResult, run_sweep, train_plan

__all__ = ["SweepResult", "run_sweep", "train_plan"]
