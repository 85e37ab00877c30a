"""The old home of the experiment trackers, now :mod:`raymix.tracking`.

Kept for scripts that followed the earlier docs' ``raymix.sweep.tracking.log_sweep(cfg,
proposal_path, report_dir)``; new code imports :func:`raymix.tracking.log_sweep`.
"""

from raymix.tracking import log_sweep

__all__ = ["log_sweep"]
