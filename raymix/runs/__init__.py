"""Finished runs: the record of each, the sweep directory that stores them, and tables.

- :mod:`~raymix.runs.record`: :class:`RunRecord` (one proxy run) and :class:`DataInfo`;
- :mod:`~raymix.runs.layout`: the file names of a sweep directory;
- :mod:`~raymix.runs.store`: the stored records, and the tables made from them;
- :mod:`~raymix.runs.tables`: :class:`Runs` and :class:`LongRuns`, what fits read;
- :mod:`~raymix.runs.wide`, :mod:`~raymix.runs.long`: reading them from anyone's CSVs.
"""

from raymix.runs.layout import SweepLayout
from raymix.runs.long import long_runs_from_frame, read_long_runs
from raymix.runs.record import FAILED, OK, DataInfo, Evaluation, RunRecord
from raymix.runs.store import ResultStore, export_tables, tables
from raymix.runs.tables import (
    PARAMS,
    RUN_COLUMN,
    SCALE_COLUMN,
    SEED_COLUMN,
    STEP,
    TOKENS,
    LongRuns,
    Runs,
    loss_column,
    parse_targets,
    target_label,
)
from raymix.runs.wide import read_mixtures_to_predict, read_runs, write_predictions

__all__ = [
    "FAILED", "OK", "PARAMS", "RUN_COLUMN", "SCALE_COLUMN", "SEED_COLUMN", "STEP", "TOKENS",
    "DataInfo", "Evaluation", "LongRuns", "ResultStore", "RunRecord", "Runs", "SweepLayout",
    "export_tables", "long_runs_from_frame", "loss_column", "parse_targets", "read_long_runs",
    "read_mixtures_to_predict", "read_runs", "tables", "target_label", "write_predictions",
]
