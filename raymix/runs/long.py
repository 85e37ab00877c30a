"""Runs as one long table: a row per (run, checkpoint), for the nested scaling laws.

The wide CSV pair (:mod:`raymix.runs.wide`) has one row per run, the loss at its end. To
extrapolate in training length and model size (:mod:`raymix.scaling.nested`) a loss is needed
at several checkpoints of runs of several sizes, so this table has one row per
evaluated checkpoint:

=========  ================================================================
``run``    run id (several rows per run)
``params`` non-embedding parameters of the model, > 0, the same in every row of a run
``tokens`` tokens seen at that checkpoint, > 0, each at most once per run
``step``   optional
domains    one weight column per training domain, the same in every row of a run
metrics    loss columns; the target is one of them or a weighted sum (``--target``)
=========  ================================================================

raymix sweeps write this table as ``runs.parquet`` (run, step, tokens, params,
total_params, seed, the domain weights, train_loss, ``<name>_loss`` ...). CSV and Parquet
are read by suffix.

When ``domains`` does not name the weight columns they are found: the numeric columns,
other than the bookkeeping columns above and the targets, whose values all lie in [0, 1]
and which sum to 1 in every row. Every mistake a person could make in such a table is a
one-line :class:`~raymix.errors.UserError` naming the argument (``runs``, ``domains``,
``targets``), the file, the column and the row; rows without a target value (failed or
unfinished evaluations) are dropped with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from raymix.errors import UserError
from raymix.files import input_problem
from raymix.runs.tables import (
    PARAMS,
    RUN_COLUMN,
    SEED_COLUMN,
    STEP,
    SUM_TOLERANCE,
    TOKENS,
    LongRuns,
    check_column_names,
    check_csv_header,
    check_losses,
    checked_weights,
    numeric_columns,
    parse_targets,
    preview,
    resolve_target,
    target_label,
)

# bookkeeping columns of a raymix sweep's runs.parquet: never weights, never targets
SCALE_COLUMNS = (RUN_COLUMN, PARAMS, TOKENS, STEP, SEED_COLUMN, "total_params")
NOT_WEIGHTS = (*SCALE_COLUMNS, "train_loss")
CONSTANT_TOLERANCE = 1e-9  # weights of one run written in different rows
DOMAINS_HINT = "name the weight columns (domains, e.g. web,code,books)"
MAX_COUNT = 1e16  # params and tokens: a count beyond any training run (the config's MAX_TOKENS)


# ----------------------------------------------------------------------------- reading


def read_long_runs(path: str | Path, targets: Sequence[str] | dict[str, float],
                   domains: Sequence[str] | None = None) -> LongRuns:
    """Read a long runs table (CSV, or Parquet by suffix).

    Parameters
    ----------
    path : path
        The table.
    targets : sequence of str or dict
        ``COLUMN`` or ``COLUMN=WEIGHT`` specs (:func:`raymix.runs.parse_targets`) or
        the parsed dict. A column may be given by a unique part of its name.
    domains : sequence of str, optional
        The weight columns; found from the values when not given.

    Returns
    -------
    LongRuns
    """
    path = Path(path)
    problem = input_problem(path)  # a FIFO would block the read
    if problem:
        raise UserError(f"no such file {str(path)!r}" if problem == "missing" else
                        f"{str(path)!r} is {problem}; give a CSV or Parquet file", field="runs")
    if path.suffix != ".parquet":
        check_csv_header(path, "runs")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            # run ids are labels: '7' stays '7', not 7.0
            frame = pd.read_csv(path, dtype={RUN_COLUMN: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path.name} is not a readable CSV or Parquet table ({reason})",
                        field="runs") from None
    # a CSV's first data row is line 2 of the file; a Parquet table has no header line
    return _long_runs(frame, targets, domains, path.name, first_row=2 if path.suffix != ".parquet"
                      else 1)


def long_runs_from_frame(frame: pd.DataFrame, targets: Sequence[str] | dict[str, float],
                         domains: Sequence[str] | None = None,
                         source: str = "runs table") -> LongRuns:
    """The same checks as :func:`read_long_runs`, on a table already in memory.

    ``source`` names the table in error messages; rows are counted from 1.
    """
    return _long_runs(frame, targets, domains, source, first_row=1)


def _long_runs(frame, targets, domains, source: str, first_row: int) -> LongRuns:
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    check_column_names(frame.columns, source, "runs")  # a Parquet table's too

    def row(i: int) -> str:
        return f"{source} row {i + first_row}"

    for column in (RUN_COLUMN, PARAMS, TOKENS):
        if column not in frame.columns:
            raise UserError(f"{source} has no column {column!r}; a long runs table needs run, "
                            f"params, tokens, one weight column per domain and the losses "
                            f"(its columns: {preview(frame.columns)})", field="runs")
    if frame.empty:
        raise UserError(f"{source} has no rows", field="runs")
    run = _run_ids(frame[RUN_COLUMN], row)
    weights = parse_targets(targets) if not isinstance(targets, dict) else dict(targets)
    if domains is not None:
        domains = _named_domains(frame, domains, source)
    resolved = _resolve_targets(frame, weights, domains or [], source)
    if domains is None:
        domains = _found_domains(frame, list(resolved), source, row)

    scale = numeric_columns(frame, [PARAMS, TOKENS], row, "runs")
    for column in (PARAMS, TOKENS):
        # counts: at least 1 and at most MAX_COUNT (a tiny or huge count overflows the
        # scaling laws' powers); a missing cell is NaN, and so bad too
        bad = ~((scale[column] >= 1) & (scale[column] <= MAX_COUNT))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            value = scale[column].iloc[i]
            shown = "no value" if np.isnan(value) else f"{column} = {value:g}"
            raise UserError(f"{row(i)} has {shown}; {column} must be a number from 1 to "
                            f"{MAX_COUNT:g} in every row", field="runs")
    mix = checked_weights(numeric_columns(frame, domains, row, "runs"), row, "runs",
                          sum_field="domains", sum_hint=DOMAINS_HINT)
    losses = numeric_columns(frame, list(resolved), row, "runs")
    for column in resolved:
        check_losses(losses[column], column, row, "runs", positive=True)
    objective = sum(losses[c] * w for c, w in resolved.items())
    out = pd.concat([run.rename(RUN_COLUMN), scale, mix, objective.rename("objective")], axis=1)
    _check_runs(out, domains, row)

    notes = []
    missing = out["objective"].isna().to_numpy()
    if missing.any():
        notes.append(f"{int(missing.sum())} checkpoint row(s) of {source} have no value for "
                     f"{target_label(resolved)} (failed or unfinished evaluations) and are left "
                     "out")
        out = out[~missing].reset_index(drop=True)
    if out.empty:
        raise UserError(f"no row of {source} has a value for {target_label(resolved)}",
                        field="targets")
    return LongRuns(frame=out, domains=list(domains), target=target_label(resolved), notes=notes)


# ----------------------------------------------------------------------------- checks


def _run_ids(ids: pd.Series, row) -> pd.Series:
    text = ids.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy()
    if empty.any():
        raise UserError(f"{row(int(np.flatnonzero(empty)[0]))} has no run id in column "
                        f"{RUN_COLUMN!r}", field="runs")
    return text.astype(str)


def _named_domains(frame: pd.DataFrame, domains: Sequence[str], source: str) -> list[str]:
    domains = [str(d).strip() for d in domains]
    if not domains or any(not d for d in domains):
        raise UserError("give the weight columns as a list, e.g. web,code,books",
                        field="domains")
    for d in domains:
        if d not in frame.columns:
            raise UserError(f"{source} has no column {d!r} (its columns: "
                            f"{preview(frame.columns)})", field="domains")
        if d in NOT_WEIGHTS:
            raise UserError(f"{d!r} is a bookkeeping column of the runs table, not a domain "
                            "weight", field="domains")
    if len(set(domains)) < len(domains):
        raise UserError("a domain is named twice", field="domains")
    return domains


def _resolve_targets(frame: pd.DataFrame, weights: dict[str, float], domains: Sequence[str],
                     source: str) -> dict[str, float]:
    """Target columns by exact name or unique part of a name, never a weight or scale column."""
    candidates = frame[[c for c in frame.columns if c not in SCALE_COLUMNS and c not in domains]]
    resolved = {}
    for column, w in weights.items():
        name = resolve_target(column, candidates, source)
        resolved[name] = resolved.get(name, 0.0) + w
    return resolved


def _found_domains(frame: pd.DataFrame, targets: Sequence[str], source: str,
                   row) -> list[str]:
    """The numeric columns with every value in [0, 1], if they sum to 1 in every row."""
    found = []
    for column in frame.columns:
        if column in NOT_WEIGHTS or column in targets:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().all() and values.between(0.0, 1.0).all():
            found.append(column)
    if not found:
        raise UserError(f"no column of {source} looks like a domain weight (numbers in [0, 1] "
                        f"summing to 1 in every row); {DOMAINS_HINT}", field="domains")
    sums = frame[found].apply(pd.to_numeric).sum(axis=1).to_numpy()
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise UserError(f"cannot tell the domain weights: the columns with values in [0, 1] "
                        f"({preview(found)}) sum to {sums[i]:.4g} in {row(i)}, not 1; "
                        f"{DOMAINS_HINT}", field="domains")
    return found


def _check_runs(out: pd.DataFrame, domains: Sequence[str], row) -> None:
    """One mixture and one size per run; each checkpoint of a run once."""
    for column in (PARAMS, *domains):
        spread = out.groupby(RUN_COLUMN, sort=False)[column].transform(lambda v: v - v.iloc[0])
        moved = (spread.abs() > CONSTANT_TOLERANCE).to_numpy()
        if moved.any():
            i = int(np.flatnonzero(moved)[0])
            what = "model size (params)" if column == PARAMS else f"weight of domain {column!r}"
            raise UserError(f"run {out.loc[i, RUN_COLUMN]!r} changes its {what} in {row(i)}; "
                            "a run has one mixture and one size: give runs of another mixture "
                            "or size their own run id", field="runs")
    duplicated = out.duplicated([RUN_COLUMN, TOKENS]).to_numpy()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise UserError(f"{row(i)} repeats the checkpoint of run {out.loc[i, RUN_COLUMN]!r} at "
                        f"{out.loc[i, TOKENS]:g} tokens; keep one row per run and checkpoint "
                        "(give repeated seeds their own run id)", field="runs")
