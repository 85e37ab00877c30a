"""Runs from the wide CSV pair that RegMix and Olmix publish, and candidate tables.

A *mixtures* table has an id column and one weight column per domain; a *metrics* table
has the same id column and one column per metric. The two are joined on the id, so they
may list runs in any order, and runs without a target value (failed runs) are dropped
with a note. Every problem a person could have made in such a file (a missing id, a
non-numeric cell, weights that do not sum to 1, an unknown target column) is a one-line
:class:`~raymix.errors.UserError` naming the argument (``mixtures``, ``metrics``,
``targets``, ``id_column``, ``to_predict``), the file, the column and the row.

The two layouts published:

- RegMix: ``index,<domains...>`` and ``index,<metrics...>``: the id is the first column.
- Olmix (``ratios.csv``, ``metrics.csv``): ``,run,name,index,<domains or metrics...>``:
  pandas' unnamed index column first (``DataFrame.to_csv`` writes it by default), then
  the run id, the run's display name and its position in the swarm. The id is ``run``;
  the rest is *metadata*, set aside and named in a note, never read as a weight or metric
  (Olmix's own reader, ``olmix/fit/loaders.py``, skips the same columns).

The id column is the one named by ``id_column``, else ``run`` where there is one, else the
first column after a leading pandas index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path

import numpy as np
import pandas as pd

from raymix.errors import UserError
from raymix.files import atomic_write_frame, input_problem
from raymix.runs.tables import (
    RUN_COLUMN,
    Runs,
    check_csv_header,
    check_losses,
    checked_weights,
    numeric_columns,
    parse_targets,
    preview,
    resolve_target,
    target_label,
)

# columns that say which run a row is, never weights or metrics: Olmix writes ``run``
# (its id), ``name`` and ``index``, and reads ``run_id`` as another name for the id
METADATA_COLUMNS = (RUN_COLUMN, "run_id", "name", "index")
# how pandas names a column whose header is empty: its index, written by DataFrame.to_csv
PANDAS_INDEX = re.compile(r"Unnamed: \d+(\.\d+)?")
WEIGHTS_HINT = ("every column but the id (here {id!r}) and the metadata (run, run_id, name, "
                "index, a leading pandas index) must be a domain weight")


@dataclass
class _Table:
    """One CSV of the pair, read and checked.

    Attributes
    ----------
    data : DataFrame
        The weight or metric columns (not yet numbers), indexed by run id.
    id_column : str
        The column the ids came from.
    metadata : list of str
        The columns set aside as metadata, as a note names them.
    """

    data: pd.DataFrame
    id_column: str
    metadata: list[str]


def _is_pandas_index(column: str) -> bool:
    return PANDAS_INDEX.fullmatch(column) is not None


def _id_column(header: list[str], leading: list[str], id_column: str | None) -> str | None:
    """The column the ids come from: the one asked for, else ``run``, else the first one
    after pandas' index (RegMix's ``index``)."""
    if id_column is not None:
        return id_column
    if RUN_COLUMN in header:
        return RUN_COLUMN
    named = header[len(leading):]
    return named[0] if named else None


def _check_pandas_index(table: pd.DataFrame, column: str, position: int, name: str,
                        field: str) -> None:
    """An unnamed leading column is only taken for pandas' index if it holds whole numbers."""
    values = pd.to_numeric(table[column], errors="coerce")
    whole = (values.notna() & (values == values.round())).to_numpy()
    if not whole.all():
        i = int(np.flatnonzero(~whole)[0])
        raise UserError(f"{name} column {position} has no name and holds "
                        f"{table[column].iloc[i]!r} (row {i + 2}), not the row numbers pandas "
                        "writes as its index; name that column (e.g. 'run') or remove it",
                        field=field)


def _read_table(path: str | Path, field: str, id_column: str | None) -> _Table:
    """A CSV indexed by its id column, with a one-line error for each way it can be wrong."""
    path = Path(path)
    problem = input_problem(path)  # a FIFO would block the read
    if problem:
        raise UserError(f"no such file {str(path)!r}" if problem == "missing" else
                        f"{str(path)!r} is {problem}; give a CSV file", field=field)
    check_csv_header(path, field, unnamed_first=True)
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
        leading = list(takewhile(_is_pandas_index, header))
        column = _id_column(header, leading, id_column)
        # ids are labels, not numbers: read as text so '7' in one file matches '7' in the other
        table = pd.read_csv(path, dtype={column: str} if column in header else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path.name} is not a readable CSV ({reason})", field=field) from None
    if table.shape[1] < 2 or table.empty or column is None:
        raise UserError(f"{path.name} needs a header, an id column and at least one more "
                        "column, and at least one row", field=field)
    if column not in table.columns:
        raise UserError(f"{path.name} has no column {column!r} (its first columns: "
                        f"{preview(table.columns, 4)})", field="id_column")
    index_columns = [c for c in leading if c != column]
    for c in index_columns:
        _check_pandas_index(table, c, header.index(c) + 1, path.name, field)
    metadata = index_columns + [c for c in table.columns
                                if c in METADATA_COLUMNS and c != column]
    if table.shape[1] - len(metadata) < 2:
        raise UserError(f"{path.name} has no column besides the id {column!r} and the "
                        f"metadata ({', '.join(metadata)}); give one column per domain or "
                        "metric", field=field)
    ids = table[column].str.strip()
    if ids.isna().any() or (ids == "").any():
        row = int(np.flatnonzero((ids.isna() | (ids == "")).to_numpy())[0]) + 2  # header, 1-based
        raise UserError(f"{path.name} row {row} has no id in column {column!r}", field=field)
    if ids.duplicated().any():
        raise UserError(f"{path.name} lists id {ids[ids.duplicated()].iloc[0]!r} twice in "
                        f"column {column!r}; give each run one row", field=field)
    table[column] = ids
    named = [f"column {header.index(c) + 1} (pandas' index)" if c in index_columns else repr(c)
             for c in metadata]
    return _Table(data=table.drop(columns=metadata).set_index(column), id_column=column,
                  metadata=named)


def _columns_note(name: str, table: _Table, kind: str) -> str:
    """What a file with metadata was read as: ids, the columns set aside, the data columns."""
    return (f"{name}: ids from column {table.id_column!r}; left out as metadata: "
            f"{', '.join(table.metadata)}; {table.data.shape[1]} {kind}: "
            f"{preview(table.data.columns, 6)}")


def _weights(table: pd.DataFrame, columns: Sequence[str], name: str, field: str) -> pd.DataFrame:
    """The weight columns of ``table`` as floats, checked, each row renormalised."""
    def row(i: int) -> str:
        return f"{name} run {table.index[i]!r}"

    weights = numeric_columns(table, columns, row, field)
    return checked_weights(weights, row, field, sum_hint=WEIGHTS_HINT.format(id=table.index.name))


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
        The id column of both files (default: ``run`` where a file has one, as Olmix's
        do, else its first column after a leading pandas index, as RegMix's ``index``).

    Returns
    -------
    Runs
        Its ``notes`` say, for a file with metadata columns (Olmix's ``run``, ``name``,
        ``index``, pandas' index), which column gave the ids, which were left out as
        metadata, and which were read as domains or metrics.
    """
    weights = parse_targets(targets) if not isinstance(targets, dict) else targets
    mix_read = _read_table(mixtures, "mixtures", id_column)
    met_read = _read_table(metrics, "metrics", id_column)
    mix_table, met_table = mix_read.data, met_read.data
    mix_name, met_name = Path(mixtures).name, Path(metrics).name
    weight_table = _weights(mix_table, list(mix_table.columns), mix_name, "mixtures")
    weight_table.columns = [str(c) for c in weight_table.columns]
    resolved = {resolve_target(c, met_table, met_name): w for c, w in weights.items()}
    # target cells must be numbers; other metrics are only shown (interaction matrix), so
    # a stray text cell there becomes NaN instead of an error
    others = [c for c in met_table.columns if c not in resolved]
    def met_row(i: int) -> str:
        return f"{met_name} run {met_table.index[i]!r}"

    targets = numeric_columns(met_table, list(resolved), met_row, "metrics")
    for column in resolved:
        check_losses(targets[column], column, met_row, "metrics")
    metric_table = targets.join(met_table[others].apply(pd.to_numeric, errors="coerce"))

    notes = [_columns_note(name, read, kind)
             for name, read, kind in ((mix_name, mix_read, "domains"),
                                      (met_name, met_read, "metrics")) if read.metadata]
    shared = weight_table.index.intersection(metric_table.index)
    if shared.empty:
        sources = ("" if mix_read.id_column == met_read.id_column else
                   f"; ids from column {mix_read.id_column!r} of {mix_name} and "
                   f"{met_read.id_column!r} of {met_name}")
        raise UserError(f"no run id of {met_name} matches one of {mix_name} (e.g. "
                        f"{weight_table.index[0]!r} vs {metric_table.index[0]!r}{sources}); "
                        "join them on a shared id column (id_column)", field="metrics")
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


def read_mixtures_to_predict(path: str | Path, domains: Sequence[str],
                            id_column: str | None = None) -> pd.DataFrame:
    """The mixtures to predict (``--predict``): an id column plus exactly the fitted domains.

    Metadata columns (Olmix's ``run``, ``name``, ``index``, pandas' index; see
    :func:`read_runs`) are left out, so the file may be laid out as Olmix's.
    """
    table = _read_table(path, "to_predict", id_column).data
    name = Path(path).name
    columns = [str(c) for c in table.columns]
    missing = [d for d in domains if d not in columns]
    extra = [c for c in columns if c not in domains]
    if missing or extra:
        problem = (f"has no column for domain {missing[0]!r}" if missing
                   else f"has column {extra[0]!r}, which is no domain of the fitted runs")
        raise UserError(f"{name} {problem}; give the id column and one weight column per "
                        f"domain ({', '.join(domains)})", field="to_predict")
    table.columns = columns
    return _weights(table, list(domains), name, "to_predict")


def write_predictions(path: str | Path, to_predict: pd.DataFrame, predicted: np.ndarray,
                      std: np.ndarray | None, id_name: str) -> Path:
    """``id, predicted[, predicted_std]`` for each mixture predicted, written atomically."""
    out = pd.DataFrame({id_name: to_predict.index, "predicted": predicted})
    if std is not None:
        out["predicted_std"] = std
    path = Path(path)
    atomic_write_frame(out, path)
    return path
