"""A sweep directory's stored runs, and the tables made from them.

:class:`ResultStore` reads and writes the records (``results/<run_id>.json``) and what
the runs were trained on (``data.json``); :func:`export_tables` writes mixtures.csv,
metrics.csv, runs.csv and runs.parquet from the records (file names:
:class:`~raymix.runs.layout.SweepLayout`).

Records are written atomically (temporary file, fsync, rename), so a crash leaves either
the whole record or none, and a reader never sees half a file. The CSV pair uses the wide
format of RegMix's and Olmix's published results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from raymix.config import BASE_SCALE, CONFIRM_SCALE
from raymix.errors import UserError
from raymix.files import atomic_write_frame, atomic_write_text
from raymix.runs.layout import SweepLayout
from raymix.runs.record import DataInfo, RunRecord, record_problem
from raymix.runs.tables import (
    PARAMS,
    RUN_COLUMN,
    SCALE_COLUMN,
    SEED_COLUMN,
    STEP,
    TOKENS,
    loss_column,
)
from raymix.storage import refresh

# how to recover from a damaged file that a sweep writes as it runs (data.json, a record)
RESUME = ("delete it and run 'raymix sweep CONFIG' again: the sweep resumes, and writes "
          "what is missing again")
RESUME_RUN = ("delete it and run 'raymix sweep CONFIG' again: the sweep resumes and trains "
              "that run again")


class ResultStore:
    """The records of one sweep directory, and its ``data.json``."""

    def __init__(self, sweep_dir: str | Path):
        self.layout = SweepLayout(Path(sweep_dir))

    @property
    def sweep_dir(self) -> Path:
        return self.layout.root

    def write(self, record: RunRecord) -> None:
        """Store ``record`` (atomically); raises OSError when the storage refuses it."""
        atomic_write_text(self.layout.record(record.run_id), json.dumps(record.to_json(), indent=1))

    def load_all(self) -> dict[str, RunRecord]:
        """Every stored record by run id (temporary files of an interrupted write are skipped)."""
        folder = self.layout.results
        refresh(folder)  # object storage: what other nodes stored since (raymix.storage)
        if not folder.is_dir():
            return {}
        records = {}
        for path in sorted(folder.glob("*.json")):
            if not path.is_file():
                continue  # not a record (something else took the name)
            record = read_record(path)
            records[record.run_id] = record
        return records

    def write_data_info(self, info: DataInfo) -> None:
        atomic_write_text(self.layout.data_info, json.dumps(info.to_json(), indent=1))

    def data_info(self) -> DataInfo:
        """What the runs were trained on; a one-line error when no sweep wrote it yet."""
        path = self.layout.data_info
        if not path.is_file():
            raise UserError(f"{self.sweep_dir} has no {path.name}; run 'raymix sweep CONFIG' "
                            "first", field="compute.storage")
        data = read_stored_json(path, RESUME)
        try:
            return DataInfo.from_json(data)
        except (TypeError, AttributeError) as exc:  # a field missing, or not a JSON object
            raise damaged(path, f"{type(exc).__name__}: {exc}", RESUME) from None


def damaged(path: Path, why: str, recover: str) -> UserError:
    """The one-line error of a stored file that cannot be read: which file, why, and how
    to recover (``recover``)."""
    return UserError(f"{path} is damaged or cut short ({why}); {recover}", field=None)


def read_stored_json(path: Path, recover: str) -> Any:
    """The JSON data of a file of a sweep directory, or :func:`damaged` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        first_line = (str(exc).splitlines() or [""])[0][:120]
        raise damaged(path, f"not JSON: {first_line}", recover) from None


def read_record(path: Path) -> RunRecord:
    """The run record stored at ``path`` (``results/<run>.json``), checked: a record that
    is not JSON, misses a field or holds a weight or loss no fit may read is one line
    naming the file (:func:`~raymix.runs.record.record_problem`)."""
    data = read_stored_json(path, RESUME_RUN)
    if not isinstance(data, dict):
        raise damaged(path, "not a JSON object", RESUME_RUN)
    try:
        record = RunRecord.from_json(data)
    except (TypeError, AttributeError) as exc:  # a field missing or of another shape
        raise damaged(path, f"{type(exc).__name__}: {exc}", RESUME_RUN) from None
    problem = record_problem(record)
    if problem:
        raise damaged(path, problem, RESUME_RUN)
    return record


def tables(records: list[RunRecord], domains: list[str],
           target_name: str) -> dict[str, pd.DataFrame]:
    """The mixtures/metrics/runs tables of the successful runs, sorted by run id.

    The wide pair (mixtures, metrics) holds the runs of the base size only, so that a
    fit on them never mixes model sizes; the long ``runs`` table holds every size.
    """
    ok = sorted((r for r in records if r.ok), key=lambda r: r.run_id)
    base = [r for r in ok if r.scale == BASE_SCALE]
    mixtures = pd.DataFrame(
        [{RUN_COLUMN: r.run_id, **{d: r.mixture.get(d, 0.0) for d in domains}} for r in base],
        columns=[RUN_COLUMN, *domains])
    metric_rows, long_rows = [], []
    for r in base:
        last = r.evaluations[-1]
        metric_rows.append({RUN_COLUMN: r.run_id,
                            **{loss_column(k): v for k, v in last.losses.items()},
                            loss_column(target_name): last.target_loss})
    # a confirmation round's runs at their own scale measure a few mixtures at a size and
    # length no law is fitted on: they are in confirm.json, not in the tables
    for r in (r for r in ok if r.scale != CONFIRM_SCALE):
        for ev in r.evaluations:
            long_rows.append({
                RUN_COLUMN: r.run_id, STEP: ev.step, TOKENS: ev.tokens,
                PARAMS: r.non_embedding_params, "total_params": r.params,
                SCALE_COLUMN: r.scale, SEED_COLUMN: r.seed,
                **{d: r.mixture.get(d, 0.0) for d in domains},
                "train_loss": ev.train_loss,
                **{loss_column(k): v for k, v in ev.losses.items()},
                loss_column(target_name): ev.target_loss,
            })
    return {
        "mixtures": mixtures,
        "metrics": pd.DataFrame(metric_rows),
        "runs": pd.DataFrame(long_rows),
    }


def export_tables(sweep_dir: Path, records: list[RunRecord], domains: list[str],
                  target_name: str) -> dict[str, Path]:
    """Write mixtures.csv, metrics.csv, runs.csv and runs.parquet from the stored records."""
    frames = tables(records, domains, target_name)
    layout = SweepLayout(sweep_dir)
    paths = {"mixtures": layout.mixtures, "metrics": layout.metrics,
             "runs": layout.runs_parquet,
             "runs_csv": layout.runs_csv}  # the long format `raymix fit --runs` reads
    for key, path in paths.items():
        atomic_write_frame(frames[key.removesuffix("_csv")], path)
    return paths
