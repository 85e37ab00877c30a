"""A sweep's results on disk: one JSON file per run, and the tables made from them.

Layout of a sweep directory::

    results/<run_id>.json   one record per finished (or failed) run, the source of truth
    mixtures.csv            run + one weight column per domain     (ok runs of the base size)
    metrics.csv             run + one loss column per validation set at the last step
    runs.csv, runs.parquet  every evaluation of every run and size, long format
                            (run, step, tokens, params, scale, seed, weights, losses)
    plan.csv                the planned runs (run, seed, scale + weights), fixed on the first start

Records are written atomically (temporary file, fsync, rename), so a crash leaves either
the whole record or none, and a reader never sees half a file. The CSV pair uses the wide
format of RegMix's and Olmix's published results.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from raymix.files import atomic_write_bytes, atomic_write_text
from raymix.config.schema import BASE_SCALE

RUN_COLUMN = "run"
SEED_COLUMN = "seed"
SCALE_COLUMN = "scale"


def scale_of(record: dict) -> str:
    """The record's model size; records of older versions are of the base size."""
    return record.get("scale", BASE_SCALE)


def loss_column(name: str) -> str:
    """Column of metrics.csv that holds the final validation loss on ``name``."""
    return f"{name}_loss"


def format_number(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or n/a for a missing (None) value."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def atomic_write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV or (by suffix) Parquet, atomically."""
    if path.suffix == ".parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        atomic_write_text(path, frame.to_csv(index=False))


class ResultStore:
    """The ``results/`` folder of a sweep directory."""

    def __init__(self, sweep_dir: str | Path):
        self.sweep_dir = Path(sweep_dir)
        self.folder = self.sweep_dir / "results"

    def path_of(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.json"

    def write(self, record: dict) -> None:
        atomic_write_text(self.path_of(record["run_id"]), json.dumps(record, indent=1))

    def load_all(self) -> dict[str, dict]:
        """Every stored record by run id (temporary files of an interrupted write are skipped)."""
        if not self.folder.is_dir():
            return {}
        records = {}
        for path in sorted(self.folder.glob("*.json")):
            if not path.is_file():
                continue  # not a record (something else took the name)
            record = json.loads(path.read_text())
            records[record["run_id"]] = record
        return records


def tables(records: list[dict], domains: list[str], target_name: str) -> dict[str, pd.DataFrame]:
    """The mixtures/metrics/runs tables of the successful runs, sorted by run id.

    The wide pair (mixtures, metrics) holds the runs of the base size only, so that a
    fit on them never mixes model sizes; the long ``runs`` table holds every size.
    """
    ok = sorted((r for r in records if r["status"] == "ok"), key=lambda r: r["run_id"])
    base = [r for r in ok if scale_of(r) == BASE_SCALE]
    mixtures = pd.DataFrame(
        [{RUN_COLUMN: r["run_id"], **{d: r["mixture"].get(d, 0.0) for d in domains}} for r in base],
        columns=[RUN_COLUMN, *domains])
    metric_rows, long_rows = [], []
    for r in base:
        last = r["evaluations"][-1]
        metric_rows.append({RUN_COLUMN: r["run_id"],
                            **{loss_column(k): v for k, v in last["losses"].items()},
                            loss_column(target_name): last["target_loss"]})
    for r in ok:
        for ev in r["evaluations"]:
            long_rows.append({
                RUN_COLUMN: r["run_id"], "step": ev["step"], "tokens": ev["tokens"],
                "params": r["non_embedding_params"], "total_params": r["params"],
                SCALE_COLUMN: scale_of(r), SEED_COLUMN: r["seed"],
                **{d: r["mixture"].get(d, 0.0) for d in domains},
                "train_loss": ev["train_loss"],
                **{loss_column(k): v for k, v in ev["losses"].items()},
                loss_column(target_name): ev["target_loss"],
            })
    return {
        "mixtures": mixtures,
        "metrics": pd.DataFrame(metric_rows),
        "runs": pd.DataFrame(long_rows),
    }


def export_tables(sweep_dir: Path, records: list[dict], domains: list[str],
                  target_name: str) -> dict[str, Path]:
    """Write mixtures.csv, metrics.csv, runs.csv and runs.parquet from the stored records."""
    frames = tables(records, domains, target_name)
    paths = {
        "mixtures": sweep_dir / "mixtures.csv",
        "metrics": sweep_dir / "metrics.csv",
        "runs": sweep_dir / "runs.parquet",
        "runs_csv": sweep_dir / "runs.csv",  # the long format `raymix fit --runs` reads
    }
    for key, path in paths.items():
        atomic_write_frame(frames[key.removesuffix("_csv")], path)
    return paths
