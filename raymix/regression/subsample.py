"""Big tables: fitting on a seeded draw of the runs, and the note that says so.

A table can hold a million runs (a RegMix-style swarm logged by someone else), and some
regressors cost far more than a pass over the rows: the GP's posterior is a runs x runs
matrix (memory ~ runs^2, time ~ runs^3), and the mixing laws refine hundreds of starts
over every run. Each of those has a documented size (``MAX_RUNS`` in its module) beyond
which it fits on a seeded draw of that many runs; cross-validation fits each fold on at
most :data:`raymix.regression.selection.CV_MAX_TRAIN_RUNS` runs, and a choice among
regressors leaves the GP out beyond :data:`raymix.regression.selection.AUTO_MAX_RUNS`.
Each of these is said once, in a :class:`BigTableNotice` (the command line prints it as
a ``raymix: note:``).
"""

from __future__ import annotations

import warnings

import numpy as np

from raymix.errors import ConfigNotice


class BigTableNotice(ConfigNotice):
    """A table beyond a size: a fit used a seeded draw of its runs, or the choice of
    regressor left one out."""


def draw_rows(n: int, limit: int, seed: int) -> np.ndarray | None:
    """A seeded draw of ``limit`` of ``n`` rows, in row order; None when ``n <= limit``.

    Parameters
    ----------
    n : int
        Rows in the table.
    limit : int
        The most rows a fit may use (at least 1).
    seed : int
        Seed of the draw: the same ``n``, ``limit`` and ``seed`` draw the same rows.

    Returns
    -------
    ndarray of shape (limit,) or None
    """
    if limit < 1:
        raise ValueError(f"a fit needs at least one run (limit {limit})")
    if n <= limit:
        return None
    rows = np.random.default_rng(seed).choice(n, size=limit, replace=False)
    return np.sort(rows)


def note_subsample(what: str, limit: int, why: str, verb: str = "fits on") -> None:
    """Warn, once per message, that ``what`` fits on (``verb``) a seeded draw of ``limit``
    runs.

    The message names no table size, so the folds of a cross-validation and the refits
    of a bootstrap, which see different numbers of runs, make one note between them.
    """
    warnings.warn(BigTableNotice(
        f"{what} {verb} a seeded draw of {limit:,} runs when a table has more ({why})"),
        stacklevel=3)


def subsample(X: np.ndarray, y: np.ndarray, limit: int, seed: int, *, what: str,
              why: str) -> tuple[np.ndarray, np.ndarray]:
    """``X``, ``y`` as they are, or a seeded draw of ``limit`` of their rows with a note.

    Parameters
    ----------
    X : ndarray of shape (n, k)
    y : ndarray of shape (n,)
    limit : int
        The most runs the fit may use.
    seed : int
        Seed of the draw (:func:`draw_rows`).
    what, why : str
        Who fits and why it is bounded, for the note (:func:`note_subsample`).

    Returns
    -------
    X, y : ndarrays of at most ``limit`` rows
    """
    rows = draw_rows(len(y), limit, seed)
    if rows is None:
        return X, y
    note_subsample(what, limit, why)
    return X[rows], y[rows]
