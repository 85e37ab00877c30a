"""The report of a fit (and a proposal), in both its formats: ``report.md`` and ``index.html``.

:func:`write_report` computes what the report shows once
(:func:`~raymix.report.contents.report_contents`) and hands it to the Markdown writer
(PNG figures, :mod:`~raymix.report.markdown`) and to the HTML one (one self-contained
page with interactive figures and the runs, :mod:`~raymix.report.html`).

A report folder may hold a user's own files, so a report replaces only its own: it lists
what it wrote in the folder's ``.raymix-report`` (:data:`REPORT_MARKER`), and a file of a
name it writes that the list does not hold (a user's ``index.html``) is refused in one
line unless ``force``. Every file it will write is checked before the first is written
(:func:`check_report_folder`): a symlink or FIFO there stops the report before any figure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from raymix.errors import UserError
from raymix.files import UnsafeTarget, atomic_write_text, folder_problem, shown_path, unsafe_target
from raymix.proposal.validated import ValidationResult
from raymix.report.contents import report_contents
from raymix.report.html import HTML_REPORT, write_html
from raymix.report.markdown import (
    CV_FIGURE,
    INTERACTION_FIGURE,
    MARKDOWN_REPORT,
    RESIDUAL_FIGURE,
    SENSITIVITY_FIGURE,
    SIZE_FIGURE,
    STEP_FIGURE,
    WEIGHTS_FIGURE,
    write_markdown,
)
from raymix.version import __version__

REPORT_MARKER = ".raymix-report"  # JSON: {"raymix": version, "files": [names it wrote]}
# every file a report may write into its folder (which of the figures depends on the fit)
REPORT_FILES = (MARKDOWN_REPORT, HTML_REPORT, CV_FIGURE, RESIDUAL_FIGURE, WEIGHTS_FIGURE,
                SENSITIVITY_FIGURE, INTERACTION_FIGURE, STEP_FIGURE, SIZE_FIGURE)


def check_report_folder(out_dir: str | Path, *, force: bool = False,
                        field: str | None = None) -> None:
    """Refuse, before any work, a folder a report cannot be written into whole.

    The folder must take files (:func:`~raymix.files.folder_problem`); nothing of a name
    the report writes (:data:`REPORT_FILES`, :data:`REPORT_MARKER`) may be a symlink, FIFO,
    device or folder; and a regular file of such a name must be one an earlier report
    wrote (listed in the folder's :data:`REPORT_MARKER`), unless ``force``.

    Parameters
    ----------
    out_dir : path
        The report's folder (it may not exist yet).
    force : bool, default=False
        Replace a file of a name the report writes even when no earlier report wrote it.
    field : str, optional
        What the error names (the command line: ``--report``).

    Raises
    ------
    UserError
        Naming ``field`` and the file; :class:`~raymix.files.UnsafeTarget` (a
        ``UserError``) for what is not a regular file.
    """
    out_dir = Path(out_dir).expanduser()
    problem = folder_problem(out_dir)
    if problem:
        raise UserError(f"{problem}; give another report folder", field=field)
    ours = _listed(out_dir)
    for name in (REPORT_MARKER, *REPORT_FILES):
        path = out_dir / name
        found = unsafe_target(path)
        if found:
            raise UnsafeTarget(f"{shown_path(path)} is {found}, which the report does not "
                               f"write over; remove it or give another folder", field=field)
        if name != REPORT_MARKER and path.exists() and name not in ours and not force:
            raise UserError(f"{shown_path(path)} is not from an earlier raymix report (the "
                            f"folder's {REPORT_MARKER} does not list it); move it, give another "
                            "folder, or add --force to replace it", field=field)


def _listed(out_dir: Path) -> set[str]:
    """The files an earlier report wrote into ``out_dir`` (none: no marker, or not ours)."""
    try:
        listed = json.loads((out_dir / REPORT_MARKER).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {name for name in listed if name in REPORT_FILES} if isinstance(listed, list) \
        else set()


def _identity(path: Path) -> tuple[int, int] | None:
    """A file's inode and modification time (an atomic write makes a new inode), or None."""
    try:
        found = os.lstat(path)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns


def _mark(out_dir: Path, names) -> None:
    atomic_write_text(out_dir / REPORT_MARKER, json.dumps(
        {"raymix": __version__, "files": sorted(names)}, indent=1))


def write_report(
    out_dir: Path,
    fitted,
    target_loss,
    *,
    target: str = "target",
    mixtures: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
    proposal: dict[str, Any] | None = None,
    scaling=None,
    runs: pd.DataFrame | None = None,
    validation: ValidationResult | None = None,
    curves: pd.DataFrame | None = None,
    force: bool = False,
) -> Path:
    """Write ``report.md`` with its figures, and ``index.html``, into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Folder for the report (created if missing).
    fitted : raymix.regression.FitResult
        The fit: every regressor's cross-validation and the refitted estimator.
    target_loss : array-like of shape (n,)
        Actual target loss of each run, in the order the regressors were fitted on.
    target : str
        The target's name, for titles.
    mixtures, metrics : DataFrame, optional
        The runs' weights (indexed by run id: the figures name the runs) and validation
        metrics; with both, the interaction matrix of the Data Mixing Law per metric is
        fitted and drawn.
    proposal : dict, optional
        ``Proposal.to_dict()`` (plus warnings): adds the weights and sensitivity parts,
        and a confirmation round's results when it holds them.
    scaling : raymix.scaling.NestedScalingLaw, optional
        The step and size laws behind losses at a target scale: adds their plots and
        held-out checks.
    runs : DataFrame, optional
        Every run, one row each (id, scale, seed, weights, final target loss): the
        page's sortable table.
    validation : ValidationResult, optional
        What ``raymix validate`` measured: the page's check at a larger scale.
    curves : DataFrame, optional
        Every run's target loss at each evaluation (columns ``run``, ``scale``, ``tokens``,
        ``loss``: :func:`~raymix.report.contents.training_curves` of the records): the
        page's training curves.
    force : bool, default=False
        Replace a file of a name the report writes (``index.html``...) even when no
        earlier report wrote it (:func:`check_report_folder`).

    Returns
    -------
    Path
        The path of ``report.md`` (``index.html`` is beside it).
    """
    out_dir = Path(out_dir).expanduser()
    check_report_folder(out_dir, force=force)  # every file, before the first is written
    contents = report_contents(fitted, target_loss, target=target, mixtures=mixtures,
                               metrics=metrics, proposal=proposal, scaling=scaling, runs=runs,
                               validation=validation, curves=curves)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = {name: _identity(out_dir / name) for name in REPORT_FILES}
    earlier = _listed(out_dir)
    # claimed first (what is there is ours, or force), so a report stopped halfway is
    # still ours to replace next time
    _mark(out_dir, earlier | {name for name, found in before.items()
                              if found is None or force})
    report = write_markdown(contents, out_dir)
    write_html(contents, out_dir)
    now = {name: _identity(out_dir / name) for name in REPORT_FILES}
    written = {name for name, found in now.items() if found not in (None, before[name])}
    _mark(out_dir, written | {name for name in earlier if now[name] is not None})
    return report
