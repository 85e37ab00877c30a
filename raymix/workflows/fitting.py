"""``raymix fit``: how well mixture -> loss can be predicted, on a sweep or anyone's runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from raymix.config import FitConfig
from raymix.regression import FitResult
from raymix.report.writer import check_report_folder
from raymix.runs import read_mixtures_to_predict, write_predictions
from raymix.scaling import TargetSize
from raymix.workflows.inputs import RunsSource, check_output_path, runs_at_target
from raymix.workflows.reporting import write_runs_report


def fit(source: RunsSource, *, fit_config: FitConfig | None = None,
        report: str | Path | None = None, at: TargetSize | None = None,
        force: bool = False) -> FitResult:
    """Cross-validate the regressors on the runs; refit the best (or best ensemble).

    Parameters
    ----------
    source : SweepConfig, Runs or LongRuns
        A sweep (its directory's tables, :func:`raymix.load_config`), runs read by
        :func:`raymix.read_runs`, or checkpoints read by :func:`raymix.read_long_runs`.
    fit_config : FitConfig, optional
        Regressors, folds, seed, ensembles. Default: the sweep config's ``fit``
        section, or ``FitConfig()`` for runs.
    report : path, optional
        Write a report of the fit into this folder (``report.md`` and ``index.html``: CV
        and residual plots, interaction matrix, the scaling laws, the runs). Nothing is
        written without it.
    at : TargetSize, optional
        Fit the losses extrapolated to this scale by the nested step and size laws
        (default: the sweep config's ``fit.at``; for ``LongRuns``, the largest trained
        scale).
    force : bool, default=False
        Replace files of the report's names in ``report`` that no earlier report wrote
        (a user's ``index.html``); without it they are refused before any work.

    Returns
    -------
    FitResult
        ``.chosen`` (the regressor's cross-validation), ``.results`` (every candidate's),
        ``.predict(weights)``, ``.noise``; ``.scaling`` holds the laws at a target scale.
    """
    if report is not None:
        check_report_folder(report, force=force, field="report")
    inputs = runs_at_target(source, fit_config, at)
    fitted = inputs.fit()
    if report is not None:
        write_runs_report(report, fitted, source, inputs.runs, force=force)
    return fitted


def predict(fitted: FitResult, to_predict: str | Path, output: str | Path | None = None,
            id_column: str | None = None) -> pd.DataFrame:
    """Predict the loss of each mixture of a CSV of mixtures to predict.

    Parameters
    ----------
    fitted : FitResult
        A fit (:func:`fit`).
    to_predict : path
        A CSV: an id column, then one weight column per domain of the fit.
    output : path, optional
        Also write the predictions there (CSV: the id column, ``predicted`` and, for a
        regressor with uncertainty, ``predicted_std``).
    id_column : str, optional
        The id column (default: the first).

    Returns
    -------
    DataFrame
        One row per mixture, indexed by its id: ``predicted`` (and ``predicted_std``).
    """
    check_output_path(output)
    table = read_mixtures_to_predict(to_predict, fitted.domains, id_column)
    mean, std = fitted.predict(table.to_numpy(dtype=float))
    std = std if fitted.has_std else None
    id_name = id_column or table.index.name or "id"
    if output is not None:
        write_predictions(output, table, mean, std, id_name)
    out = pd.DataFrame({"predicted": mean}, index=table.index.rename(id_name))
    if std is not None:
        out["predicted_std"] = std
    return out
