"""Runs from the wide CSV pair that RegMix and Olmix publish, and candidate tables.

A *mixtures* table has an id column (the first, or the one named by ``id_column``) and
one weight column per domain; a *metrics* table has the same id column and one column
per metric. The two are joined on the id, so they may list runs in any order, and runs
without a target value (failed runs) are dropped with a note. Every problem a person
could have made in such a file (a missing id, a non-numeric cell, weights that do not
sum to 1, an unknown target column) is a one-line :class:`~raymix.errors.UserError`
naming the argument (``mixtures``, ``metrics``, ``targets``, ``id_column``,
``candidates``), the file, the column and the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from raymix.errors import UserError
from raymix.files import atomic_write_frame
from raymix.runs.tables import (
    Runs,
    check_csv_header,
    checked_weights,
    numeric_columns,
    parse_targets,
    preview,
    resolve_target,
    target_label,
)

WEIGHTS_HINT = "every column but the id must be a domain weight"


def _read_table(path: str | Path, field: str, id_column: str | None) -> pd.DataFrame:
    """A CSV indexed by its id column, with a one-line error for each way it can be wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file {str(path)!r}", field=field)
    check_csv_header(path, field)
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
        column = id_column if id_column is not None else (header[0] if header else None)
        # ids are labels, not numbers: read as text so '7' in one file matches '7' in the other
        table = pd.read_csv(path, dtype={column: str} if column in header else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path.name} is not a readable CSV ({reason})", field=field) from None
    if table.shape[1] < 2 or table.empty:
        raise UserError(f"{path.name} needs a header, an id column and at least one more "
                        "column, and at least one row", field=field)
    if column not in table.columns:
        raise UserError(f"{path.name} has no column {column!r} (its first columns: "
                        f"{preview(table.columns, 4)})", field="id_column")
    ids = table[column].str.strip()
    if ids.isna().any() or (ids == "").any():
        row = int(np.flatnonzero((ids.isna() | (ids == "")).to_numpy())[0]) + 2  # header, 1-based
        raise UserError(f"{path.name} row {row} has no id in column {column!r}", field=field)
    if ids.duplicated().any():
        raise UserError(f"{path.name} lists id {ids[ids.duplicated()].iloc[0]!r} twice in "
                        f"column {column!r}; give each run one row", field=field)
    table[column] = ids
    return table.set_index(column)


def _weights(table: pd.DataFrame, columns: Sequence[str], name: str, field: str) -> pd.DataFrame:
    """The weight columns of ``table`` as floats, checked, each row renormalised."""
    def row(i: int) -> str:
        return f"{name} run {table.index[i]!r}"

    weights = numeric_columns(table, columns, row, field)
    return checked_weights(weights, row, field, sum_hint=WEIGHTS_HINT)


def read_runs(
    mixtures: str | Path,
    metrics: str | Path,
    targets: Sequence[str] | dict[str, float],
    id_column: str | None = None,
) -> Runs:
    """Read and join the mixtures and metrics tables.

    Parameters
    ----------
    mixtures, metrics : path
        The two CSV files (RegMix/Olmix wide format).
    targets : sequence of str or dict
        ``COLUMN`` or ``COLUMN=WEIGHT`` specs (see :func:`raymix.runs.parse_targets`),
        or the parsed dict. A column may be given by a unique part of its name.
    id_column : str, optional
        The id column of both files (default: each file's first column).

    Returns
    -------
    Runs
    """
    weights = parse_targets(targets) if not isinstance(targets, dict) else targets
    mix_table = _read_table(mixtures, "mixtures", id_column)
    met_table = _read_table(metrics, "metrics", id_column)
    mix_name, met_name = Path(mixtures).name, Path(metrics).name
    weight_table = _weights(mix_table, list(mix_table.columns), mix_name, "mixtures")
    weight_table.columns = [str(c) for c in weight_table.columns]
    resolved = {resolve_target(c, met_table, met_name): w for c, w in weights.items()}
    # target cells must be numbers; other metrics are only shown (interaction matrix), so
    # a stray text cell there becomes NaN instead of an error
    others = [c for c in met_table.columns if c not in resolved]
    metric_table = numeric_columns(met_table, list(resolved),
                                   lambda i: f"{met_name} run {met_table.index[i]!r}",
                                   "metrics").join(
        met_table[others].apply(pd.to_numeric, errors="coerce"))

    notes = []
    shared = weight_table.index.intersection(metric_table.index)
    if shared.empty:
        raise UserError(f"no run id of {met_name} matches one of {mix_name} (e.g. "
                        f"{weight_table.index[0]!r} vs {metric_table.index[0]!r}); join them on a "
                        "shared id column (id_column)", field="metrics")
    if len(shared) < len(weight_table):
        notes.append(f"{len(weight_table) - len(shared)} run(s) of {mix_name} have no row in "
                     f"{met_name} and are left out")
    weight_table, metric_table = weight_table.loc[shared], metric_table.loc[shared]
    objective = sum(metric_table[c] * w for c, w in resolved.items())
    finite = np.isfinite(objective.to_numpy())
    if not finite.all():
        notes.append(f"{int((~finite).sum())} run(s) have no target value (failed runs?) "
                     "and are left out")
        weight_table, metric_table = weight_table[finite], metric_table[finite]
        objective = objective[finite]
    if objective.empty:
        raise UserError(f"no run has a value for {target_label(resolved)}", field="targets")
    return Runs(mixtures=weight_table, metrics=metric_table,
                objective=objective.rename("objective"), target=target_label(resolved),
                notes=notes)


def read_candidates(path: str | Path, domains: Sequence[str],
                    id_column: str | None = None) -> pd.DataFrame:
    """Candidate mixtures to predict: an id column plus exactly the fitted domains."""
    table = _read_table(path, "candidates", id_column)
    name = Path(path).name
    columns = [str(c) for c in table.columns]
    missing = [d for d in domains if d not in columns]
    extra = [c for c in columns if c not in domains]
    if missing or extra:
        problem = (f"has no column for domain {missing[0]!r}" if missing
                   else f"has column {extra[0]!r}, which is no domain of the fitted runs")
        raise UserError(f"{name} {problem}; give the id column and one weight column per "
                        f"domain ({', '.join(domains)})", field="candidates")
    table.columns = columns
    return _weights(table, list(domains), name, "candidates")


def write_predictions(path: str | Path, candidates: pd.DataFrame, predicted: np.ndarray,
                      std: np.ndarray | None, id_name: str) -> Path:
    """``id, predicted[, predicted_std]`` for each candidate, written atomically."""
    out = pd.DataFrame({id_name: candidates.index, "predicted": predicted})
    if std is not None:
        out["predicted_std"] = std
    path = Path(path)
    atomic_write_frame(out, path)
    return path
