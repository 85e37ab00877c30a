"""The kinds of result a trial tells Tune while it trains, told apart by their ``"event"``.

:mod:`raymix.sweep.trial` sends them; the driver's callbacks read them (the progress of
:mod:`raymix.sweep.progress`, the trackers of :mod:`raymix.tracking`). A result without an
``"event"`` is not raymix's.
"""

# one proxy's evaluation; a heartbeat between evaluations; the trial's last result
EVAL_EVENT, PROGRESS_EVENT, FINAL_EVENT = "eval", "progress", "final"
