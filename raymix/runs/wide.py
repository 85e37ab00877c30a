"""Runs from the wide CSV pair that RegMix and Olmix publish, and candidate tables.

A *mixtures* table has an id column (the first, or the one named by ``--id``) and one
weight column per domain; a *metrics* table has the same id column and one column per
metric. The two are joined on the id, so they may list runs in any order, and runs
without a target value (failed runs) are dropped with a note. Every problem that a
person could have made in such a file (a missing id, a non-numeric cell, weights that
do not sum to 1, an unknown target column) is a one-line :class:`UserError` naming the
file, the column and the row.

The target may be one metric column or a weighted sum of several
(``--target a=0.7 --target b=0.3``), normalised so the weights sum to 1 and the
objective keeps the scale of a loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from raymix.errors import UserError

SUM_TOLERANCE = 0.02  # published weights are rounded (RegMix: 17 domains on a 0.001 grid)


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


# ----------------------------------------------------------------------------- targets


def parse_targets(specs: Sequence[str]) -> dict[str, float]:
    """``["a=0.7", "b=0.3"]`` or ``["a"]`` -> ``{column: weight}``, weights summing to 1."""
    if not specs:
        raise UserError("--target: name the metric column to minimise (e.g. --target pile_cc)")
    weights: dict[str, float] = {}
    for spec in specs:
        column, sep, weight = spec.rpartition("=") if "=" in spec else (spec, "", "1")
        column = column.strip()
        try:
            value = float(weight)
        except ValueError:
            raise UserError(f"--target {spec!r}: the weight after '=' must be a number") from None
        if not column or not np.isfinite(value) or value <= 0:
            raise UserError(f"--target {spec!r}: give COLUMN or COLUMN=WEIGHT with a weight > 0")
        if column in weights:
            raise UserError(f"--target: column {column!r} is given twice")
        weights[column] = value
    total = sum(weights.values())
    return {column: w / total for column, w in weights.items()}


def target_label(weights: dict[str, float]) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    return " + ".join(f"{w:.3g}*{column}" for column, w in weights.items())


# ----------------------------------------------------------------------------- reading


def _read_table(path: str | Path, option: str, id_column: str | None) -> pd.DataFrame:
    """A CSV indexed by its id column, with a one-line error for each way it can be wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{option}: no such file {str(path)!r}")
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
        column = id_column if id_column is not None else (header[0] if header else None)
        # ids are labels, not numbers: read as text so '7' in one file matches '7' in the other
        table = pd.read_csv(path, dtype={column: str} if column in header else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{option}: {path.name} is not a readable CSV ({reason})") from None
    if table.shape[1] < 2 or table.empty:
        raise UserError(f"{option}: {path.name} needs a header, an id column and at least "
                        "one more column, and at least one row")
    if column not in table.columns:
        raise UserError(f"--id: {path.name} has no column {column!r} (its first columns: "
                        f"{', '.join(map(str, table.columns[:4]))})")
    ids = table[column].str.strip()
    if ids.isna().any() or (ids == "").any():
        row = int(np.flatnonzero((ids.isna() | (ids == "")).to_numpy())[0]) + 2  # header, 1-based
        raise UserError(f"{option}: {path.name} row {row} has no id in column {column!r}")
    if ids.duplicated().any():
        raise UserError(f"{option}: {path.name} lists id {ids[ids.duplicated()].iloc[0]!r} "
                        f"twice in column {column!r}; give each run one row")
    table[column] = ids
    return table.set_index(column)


def _numeric(table: pd.DataFrame, columns: Sequence[str], option: str, name: str) -> pd.DataFrame:
    """The columns as floats; a non-numeric cell is an error naming its row and column."""
    out = {}
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & table[column].notna()
        if bad.any():
            run = bad.index[bad.to_numpy()][0]
            raise UserError(f"{option}: {name} column {column!r} has the non-numeric value "
                            f"{table.loc[run, column]!r} for run {run!r}; fix or remove that cell")
        out[column] = values.astype(float)
    return pd.DataFrame(out, index=table.index)


def _check_weights(weights: pd.DataFrame, option: str, name: str) -> pd.DataFrame:
    """Weights must be present, >= 0 and sum to 1 (within rounding); rows are renormalised."""
    if weights.isna().any().any():
        run, column = weights.stack(future_stack=True).loc[lambda s: s.isna()].index[0]
        raise UserError(f"{option}: {name} has no weight for domain {column!r} in run {run!r}; "
                        "fill it (0 for an unused domain)")
    values = weights.to_numpy()
    if (values < 0).any():
        row, col = np.argwhere(values < 0)[0]
        raise UserError(f"{option}: {name} gives run {weights.index[row]!r} the negative weight "
                        f"{values[row, col]} for domain {weights.columns[col]!r}")
    sums = values.sum(axis=1)
    off = np.abs(sums - 1) > SUM_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise UserError(f"{option}: the weights of run {weights.index[row]!r} in {name} sum to "
                        f"{sums[row]:.4g}, not 1 (tolerance {SUM_TOLERANCE}); every column but "
                        "the id must be a domain weight")
    return weights.div(sums, axis=0)


def _resolve_target(column: str, metrics: pd.DataFrame, name: str) -> str:
    """An exact column name, or the one column that contains ``column`` (``pile_cc``)."""
    if column in metrics.columns:
        return column
    matches = [c for c in metrics.columns if column in str(c)]
    if len(matches) == 1:
        return str(matches[0])
    hint = (f"{len(matches)} columns contain it, e.g. {matches[0]!r}; give the full name"
            if matches else f"columns: {', '.join(map(str, metrics.columns[:6]))}"
            + (", ..." if metrics.shape[1] > 6 else ""))
    raise UserError(f"--target: {name} has no column {column!r} ({hint})")


def read_runs(
    mixtures_path: str | Path,
    metrics_path: str | Path,
    targets: Sequence[str] | dict[str, float],
    id_column: str | None = None,
) -> Runs:
    """Read and join the mixtures and metrics tables.

    Parameters
    ----------
    mixtures_path, metrics_path : path
        The two CSV files (RegMix/Olmix wide format).
    targets : sequence of str or dict
        ``COLUMN`` or ``COLUMN=WEIGHT`` specs (see :func:`parse_targets`), or the parsed
        dict. A column may be given by a unique part of its name.
    id_column : str, optional
        The id column of both files (default: each file's first column).

    Returns
    -------
    Runs
    """
    weights = parse_targets(targets) if not isinstance(targets, dict) else targets
    mix_table = _read_table(mixtures_path, "--mixtures", id_column)
    met_table = _read_table(metrics_path, "--metrics", id_column)
    mix_name, met_name = Path(mixtures_path).name, Path(metrics_path).name
    mixtures = _check_weights(_numeric(mix_table, list(mix_table.columns), "--mixtures", mix_name),
                              "--mixtures", mix_name)
    mixtures.columns = [str(c) for c in mixtures.columns]
    resolved = {_resolve_target(c, met_table, met_name): w for c, w in weights.items()}
    # target cells must be numbers; other metrics are only shown (interaction matrix), so
    # a stray text cell there becomes NaN instead of an error
    others = [c for c in met_table.columns if c not in resolved]
    metrics = _numeric(met_table, list(resolved), "--metrics", met_name).join(
        met_table[others].apply(pd.to_numeric, errors="coerce"))

    notes = []
    shared = mixtures.index.intersection(metrics.index)
    if shared.empty:
        raise UserError(f"--metrics: no run id of {met_name} matches one of {mix_name} "
                        f"(e.g. {mixtures.index[0]!r} vs {metrics.index[0]!r}); "
                        "join them on a shared id column (--id)")
    if len(shared) < len(mixtures):
        notes.append(f"{len(mixtures) - len(shared)} run(s) of {mix_name} have no row in "
                     f"{met_name} and are left out")
    mixtures, metrics = mixtures.loc[shared], metrics.loc[shared]
    objective = sum(metrics[c] * w for c, w in resolved.items())
    finite = np.isfinite(objective.to_numpy())
    if not finite.all():
        notes.append(f"{int((~finite).sum())} run(s) have no target value (failed runs?) "
                     "and are left out")
        mixtures, metrics, objective = mixtures[finite], metrics[finite], objective[finite]
    if objective.empty:
        raise UserError(f"--target: no run has a value for {target_label(resolved)}")
    return Runs(mixtures=mixtures, metrics=metrics, objective=objective.rename("objective"),
                target=target_label(resolved), notes=notes)


def read_candidates(path: str | Path, domains: Sequence[str],
                    id_column: str | None = None) -> pd.DataFrame:
    """Candidate mixtures to predict: an id column plus exactly the fitted domains."""
    table = _read_table(path, "--predict", id_column)
    name = Path(path).name
    columns = [str(c) for c in table.columns]
    missing = [d for d in domains if d not in columns]
    extra = [c for c in columns if c not in domains]
    if missing or extra:
        problem = (f"has no column for domain {missing[0]!r}" if missing
                   else f"has column {extra[0]!r}, which is no domain of the fitted runs")
        raise UserError(f"--predict: {name} {problem}; give the id column and one weight "
                        f"column per domain ({', '.join(domains)})")
    table.columns = columns
    weights = _numeric(table, list(domains), "--predict", name)
    return _check_weights(weights, "--predict", name)


def write_predictions(path: str | Path, candidates: pd.DataFrame, predicted: np.ndarray,
                      std: np.ndarray | None, id_name: str) -> Path:
    """``id, predicted[, predicted_std]`` for each candidate, written atomically."""
    from raymix.runs.store import atomic_write_frame

    out = pd.DataFrame({id_name: candidates.index, "predicted": predicted})
    if std is not None:
        out["predicted_std"] = std
    path = Path(path)
    atomic_write_frame(out, path)
    return path
