"""The report of a fit (and a proposal), in both its formats: ``report.md`` and ``index.html``.

:func:`write_report` computes what the report shows once
(:func:`~raymix.report.contents.report_contents`) and hands it to the Markdown writer
(PNG figures, :mod:`~raymix.report.markdown`) and to the HTML one (one self-contained
page with interactive figures and the runs, :mod:`~raymix.report.html`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from raymix.report.contents import report_contents
from raymix.report.html import write_html
from raymix.report.markdown import write_markdown


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
    validation: dict[str, Any] | None = None,
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
    validation : dict, optional
        ``ValidationResult.to_dict()`` of ``raymix validate``: the page's check at a
        larger scale.

    Returns
    -------
    Path
        The path of ``report.md`` (``index.html`` is beside it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    contents = report_contents(fitted, target_loss, target=target, mixtures=mixtures,
                               metrics=metrics, proposal=proposal, scaling=scaling, runs=runs,
                               validation=validation)
    report = write_markdown(contents, out_dir)
    write_html(contents, out_dir)
    return report
