"""Finished runs as tables: the two shapes fits read, and the checks of their cells.

- :class:`Runs`: one row per run, its mixture and its objective (the loss at its end).
  It comes from the wide CSV pair that RegMix and Olmix publish
  (:func:`raymix.runs.wide.read_runs`) or from a sweep directory.
- :class:`LongRuns`: one row per evaluated checkpoint of runs of several sizes, for the
  nested scaling laws (:func:`raymix.runs.long.read_long_runs`).

The objective is one metric column or a weighted sum of several (``targets``:
``["a=0.7", "b=0.3"]``), normalised so the weights sum to 1 and the objective keeps
the scale of a loss. The checks here are shared by both readers: every problem is a
one-line :class:`~raymix.errors.UserError` naming the argument (``mixtures``, ``runs``),
the file, the column and the row.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from raymix.errors import UserError

RUN_COLUMN, SEED_COLUMN, SCALE_COLUMN = "run", "seed", "scale"
PARAMS, TOKENS, STEP = "params", "tokens", "step"
SUM_TOLERANCE = 0.02  # published weights are rounded (RegMix: 17 domains on a 0.001 grid)
# A loss (nats or bits per token or byte) of even an untrained proxy is about ln(vocab),
# under 20; beyond MAX_LOSS a value is a unit or a writing mistake, and values near the
# float limit (1e307) overflow the regressors' squares into NaN.
MAX_LOSS = 1e4
# Column names of a table are domain and metric names: a config caps names at 64
# characters (MAX_NAME); a header longer than this is not a name (and breaks the figures).
MAX_COLUMN_NAME = 200


def loss_column(name: str) -> str:
    """The column holding the validation loss on ``name`` (metrics.csv, runs.csv)."""
    return f"{name}_loss"


@dataclass
class Runs:
    """Finished runs: their mixtures, metrics and the objective to minimise.

    Attributes
    ----------
    mixtures : DataFrame
        One row per run (indexed by run id), one weight column per domain; rows sum to 1.
    metrics : DataFrame
        The metric columns of the same runs, same index.
    objective : Series
        The target (or weighted sum of targets) per run, same index.
    target : str
        A label of the objective: the column name, or ``0.7*a + 0.3*b``.
    notes : list of str
        What was dropped or fixed on reading (shown to the user).
    """

    mixtures: pd.DataFrame
    metrics: pd.DataFrame
    objective: pd.Series
    target: str
    notes: list[str] = field(default_factory=list)

    @property
    def domains(self) -> list[str]:
        return [str(c) for c in self.mixtures.columns]


@dataclass
class LongRuns:
    """Checkpoints of runs: their scale, mixture and objective.

    Attributes
    ----------
    frame : DataFrame
        Columns ``run, params, tokens, <domains...>, objective``; one row per
        checkpoint, every value present, weights summing to 1 in every row.
    domains : list of str
    target : str
        Label of the objective (:func:`target_label`).
    notes : list of str
        What was dropped on reading (shown to the user).
    """

    frame: pd.DataFrame
    domains: list[str]
    target: str
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- targets


def parse_targets(specs: Sequence[str]) -> dict[str, float]:
    """``["a=0.7", "b=0.3"]`` or ``["a"]`` -> ``{column: weight}``, weights summing to 1."""
    if not specs:
        raise UserError("name the metric column to minimise (e.g. pile_cc)", field="targets")
    weights: dict[str, float] = {}
    for spec in specs:
        column, _, weight = spec.rpartition("=") if "=" in spec else (spec, "", "1")
        column = column.strip()
        try:
            value = float(weight)
        except ValueError:
            raise UserError(f"{spec!r}: the weight after '=' must be a number",
                            field="targets") from None
        if not column or not np.isfinite(value) or value <= 0:
            raise UserError(f"{spec!r}: give COLUMN or COLUMN=WEIGHT with a weight > 0",
                            field="targets")
        if column in weights:
            raise UserError(f"column {column!r} is given twice", field="targets")
        weights[column] = value
    total = sum(weights.values())
    return {column: w / total for column, w in weights.items()}


def target_label(weights: dict[str, float]) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    return " + ".join(f"{w:.3g}*{column}" for column, w in weights.items())


def resolve_target(column: str, metrics: pd.DataFrame, name: str) -> str:
    """An exact column name, or the one column that contains ``column`` (``pile_cc``)."""
    if column in metrics.columns:
        return column
    matches = [c for c in metrics.columns if column in str(c)]
    if len(matches) == 1:
        return str(matches[0])
    hint = (f"{len(matches)} columns contain it, e.g. {matches[0]!r}; give the full name"
            if matches else f"columns: {preview(metrics.columns, 6)}")
    raise UserError(f"{name} has no column {column!r} ({hint})", field="targets")


# ----------------------------------------------------------------------------- cells

RowName = Callable[[int], str]  # position of a row -> how a message names it


def preview(columns, limit: int = 8) -> str:
    columns = [str(c) for c in columns]
    return ", ".join(columns[:limit]) + (", ..." if len(columns) > limit else "")


def check_csv_header(path: Path, field: str, *, unnamed_first: bool = False) -> None:
    """Refuse a CSV header that pandas would read into something else than meant.

    pandas renames a repeated column (``loss``, ``loss.1``: a fit could use the wrong one),
    names an empty one ``Unnamed: 7`` (a trailing comma), and reads a semicolon- or
    tab-separated file as one column. Each is a one-line error naming the file and column.
    With ``unnamed_first`` the first column may have no name (pandas' index, which
    ``DataFrame.to_csv`` writes by default); the caller then checks its values.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except (UnicodeDecodeError, csv.Error):
        return  # pandas says what is wrong with the file
    names = [name.strip() for name in header]
    check_column_names(names, path.name, field)
    if len(names) == 1:
        for sep, called in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in names[0]:
                raise UserError(f"{path.name} has one column whose name holds {called}: it "
                                f"looks separated by {called}; raymix reads comma-separated "
                                "CSV, save it with commas", field=field)
    for position, name in enumerate(names, start=1):
        if name == "" and not (unnamed_first and position == 1):
            raise UserError(f"{path.name} column {position} has no name (a trailing comma?); "
                            "name it or remove it", field=field)
        if names.index(name) + 1 != position:
            raise UserError(f"{path.name} has column {name!r} twice (columns "
                            f"{names.index(name) + 1} and {position}); give each column one "
                            "name", field=field)


def check_column_names(names: Sequence[str], source: str, field: str) -> None:
    """Refuse a column name longer than :data:`MAX_COLUMN_NAME` characters, shown cut."""
    for position, name in enumerate(names, start=1):
        if len(str(name)) > MAX_COLUMN_NAME:
            raise UserError(f"{source} column {position} has a name of {len(str(name)):,} "
                            f"characters ({str(name)[:40]!r}...); a domain or metric name has "
                            f"at most {MAX_COLUMN_NAME}, shorten it", field=field)


def check_losses(values: pd.Series, column: str, row: RowName, field: str, *,
                 positive: bool = False) -> None:
    """Refuse a loss that is infinite or beyond :data:`MAX_LOSS` in size (or, with
    ``positive``, not above 0: the scaling laws are power laws of positive losses), naming
    its row and column. A missing value (NaN: a failed run) is left to the caller."""
    numbers = values.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = np.isinf(numbers) | (np.abs(numbers) > MAX_LOSS)  # NaN compares False
        low = numbers <= 0 if positive else np.zeros(len(numbers), dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{row(i)} has {numbers[i]:g} in column {column!r}, which is no loss "
                        f"(a loss is finite and within +-{MAX_LOSS:g}); fix or remove that row",
                        field=field)
    if low.any():
        i = int(np.flatnonzero(low)[0])
        raise UserError(f"{row(i)} has {numbers[i]:g} in column {column!r}; the scaling laws "
                        "fit losses above 0 (a cross-entropy or bits per byte): fix or remove "
                        "that row", field=field)


def numeric_columns(frame: pd.DataFrame, columns: Sequence[str], row: RowName,
                    field: str) -> pd.DataFrame:
    """The columns as floats; a non-numeric cell is an error naming its row and column."""
    out = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (values.isna() & frame[column].notna()).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserError(f"{row(i)} has the non-numeric value {frame[column].iloc[i]!r} in "
                            f"column {column!r}; fix or remove that cell", field=field)
        out[column] = values.astype(float)
    return pd.DataFrame(out, index=frame.index)


def checked_weights(weights: pd.DataFrame, row: RowName, field: str, *,
                    sum_field: str | None = None, sum_hint: str) -> pd.DataFrame:
    """Weights present, >= 0 and summing to 1 (within rounding); rows renormalised.

    ``sum_field`` names what to fix when a row does not sum to 1 (default ``field``),
    ``sum_hint`` how.
    """
    values = weights.to_numpy()
    for bad, what in ((np.isnan(values), "no weight"), (values < 0, "a negative weight")):
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise UserError(f"{row(int(i))} has {what} for domain {weights.columns[j]!r}; give "
                            "every domain a weight >= 0 (0 for an unused one)", field=field)
    sums = values.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise UserError(f"the weights in {row(i)} sum to {sums[i]:.4g}, not 1 (tolerance "
                        f"{SUM_TOLERANCE}); {sum_hint}", field=sum_field or field)
    return weights.div(sums, axis=0)
