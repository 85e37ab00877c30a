"""``raymix report``: a finished sweep's report, (re)written with no training and no Ray.

Every report of runs goes through :func:`write_runs_report`: ``raymix fit --report``,
``raymix propose`` and the end of ``raymix sweep`` write ``report.md`` and
``index.html`` with it; for a sweep it adds what only its directory holds (every run's
record, ``raymix validate``'s check). :func:`report` refits a finished sweep's stored
tables and rewrites its ``report/`` around the stored ``proposal.json``;
:func:`load_sweep` reads the sweep from its directory or its config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from raymix.config import SweepConfig, load_config
from raymix.config.parse import parse_config, read_yaml
from raymix.errors import UserError
from raymix.files import folder_problem
from raymix.proposal.objectives import OBJECTIVES_FILE
from raymix.proposal.validated import ValidationResult
from raymix.regression import FitResult
from raymix.report import HTML_REPORT, write_report
from raymix.report.contents import proposal_problem, training_curves
from raymix.report.writer import check_report_folder
from raymix.runs import RUN_COLUMN, SCALE_COLUMN, SEED_COLUMN, ResultStore, Runs, SweepLayout
from raymix.runs.store import damaged, read_stored_json
from raymix.storage import StorageError, is_uri, local_folder, uri_problem
from raymix.workflows.inputs import RunsSource, runs_at_target


def run_table(source: RunsSource, runs: Runs, records: list | None = None) -> pd.DataFrame:
    """One row per run: id, scale, seed, weights and final target loss.

    A sweep's every stored record (``records``: each scale, repeats, confirmation runs; a
    failed run with no loss); for tables, the runs that were fitted.
    """
    loss = f"final {runs.target}"
    if not isinstance(source, SweepConfig):
        table = runs.mixtures.copy()
        table[loss] = runs.objective.to_numpy(dtype=float)
        return table.rename_axis(RUN_COLUMN).reset_index()
    domains = source.mixture_columns
    records = sorted(records or [], key=lambda r: r.run_id)
    rows = [{RUN_COLUMN: r.run_id, SCALE_COLUMN: r.scale, SEED_COLUMN: r.seed,
             **{d: float(r.mixture.get(d, 0.0)) for d in domains},
             loss: r.final_target_loss if r.ok else None} for r in records]
    table = pd.DataFrame(rows, columns=[RUN_COLUMN, SCALE_COLUMN, SEED_COLUMN, *domains, loss])
    if any(not r.ok for r in records):
        table.insert(3, "status", [r.status for r in records])
    table[loss] = table[loss].astype(float)
    return table


def sweep_validation(cfg: SweepConfig) -> ValidationResult | None:
    """The result of ``raymix validate`` on this sweep (its ``validate.json``), if any; a
    damaged one is one line naming it and how to recover."""
    path = SweepLayout(cfg.validate_path).validation_json
    if not path.is_file():
        return None
    recover = "delete it, or run 'raymix validate CONFIG' again to write it"
    data = read_stored_json(path, recover)
    try:
        return ValidationResult.from_dict(data)
    except (KeyError, TypeError, AttributeError):
        raise damaged(path, "not the results of 'raymix validate'", recover) from None


# how to recover from a damaged proposal.json (or its per-objective proposals)
REPROPOSE = ("delete it (the report then shows the fit alone), or write it again with "
             "'raymix propose CONFIG'")


def _stored_proposal(layout: SweepLayout, domains: Sequence[str]) -> dict[str, Any] | None:
    """The sweep's ``proposal.json`` (None without one), checked before any report file is
    written: a damaged one is one line naming it and how to recover."""
    if not layout.proposal.is_file():
        return None
    proposal = read_stored_json(layout.proposal, REPROPOSE)
    problem = proposal_problem(proposal, domains)
    if problem:
        raise damaged(layout.proposal, problem, REPROPOSE)
    return proposal


def write_runs_report(out_dir: str | Path, fitted: FitResult, source: RunsSource, runs: Runs,
                      proposal: dict[str, Any] | None = None, force: bool = False) -> Path:
    """``report.md`` and ``index.html`` of a fit of ``runs`` (and its proposal) into
    ``out_dir``; a sweep's adds its check at a larger scale. Returns report.md's path.
    ``force``: replace files of the report's names that no earlier report wrote."""
    sweep = isinstance(source, SweepConfig)
    validation = sweep_validation(source) if sweep else None
    # a sweep's every stored record, read once: the run table and the training curves
    records = list(ResultStore(source.storage_path).load_all().values()) if sweep else []
    curves = training_curves(records) if sweep else None
    return write_report(Path(out_dir), fitted, runs.objective.to_numpy(), target=runs.target,
                        mixtures=runs.mixtures, metrics=runs.metrics, proposal=proposal,
                        scaling=fitted.scaling, runs=run_table(source, runs, records),
                        validation=validation, curves=curves, force=force)


def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> SweepConfig:
    """A finished sweep, from its directory (its ``config.yaml``) or from its config YAML.

    ``overrides`` (``KEY=VALUE``, :func:`~raymix.config.load_config`) go with a config YAML
    only: a directory's stored config is what its runs were made with (its own
    ``overrides`` included).

    Raises
    ------
    UserError
        Naming ``path``: not a sweep directory or config, or a sweep with no results yet;
        naming ``overrides`` when given with a directory.
    """
    given = str(path)
    remote = is_uri(given)
    folder = _sweep_folder(given) if remote else Path(path).expanduser()
    if (folder.is_dir() or remote) and overrides:
        raise UserError(f"goes with a CONFIG; {given} is a sweep's folder, whose stored "
                        "config.yaml is what its runs were made with", field="overrides")
    if folder.is_dir() or remote:
        layout = SweepLayout(folder.resolve())
        if not layout.config.is_file():
            raise UserError(f"{layout.root} is not a sweep directory (it has no "
                            f"{layout.config.name}); give a sweep's folder (compute.storage) "
                            "or its config YAML", field=given)
        restore = ("give 'raymix report' the sweep's config YAML instead, or copy that YAML "
                   "over this file")
        try:
            raw = read_yaml(layout.config, given)
        except UserError as exc:  # garbage in the stored config: say which file, and what to do
            raise damaged(layout.config, exc.problem, restore) from None
        if not isinstance(raw, dict):
            raise damaged(layout.config, "not a sweep's config.yaml", restore)
        # the stored config's relative paths started at the YAML's folder, which may be
        # anywhere: the sweep is this folder
        raw.setdefault("compute", {})["storage"] = given.rstrip("/") if remote else str(
            layout.root)
        cfg = parse_config(raw, base_dir=layout.root)
    else:
        cfg = load_config(folder, overrides)
    layout = SweepLayout(cfg.storage_path)
    missing = [p.name for p in (layout.mixtures, layout.metrics) if not p.is_file()]
    if missing:
        raise UserError(f"the sweep in {layout.root} has no results yet (no {missing[0]}); "
                        "run 'raymix sweep CONFIG' first", field=given)
    return cfg


def _sweep_folder(uri: str) -> Path:
    """The local mirror of a sweep on object storage, brought down (one line if it cannot)."""
    problem = uri_problem(uri)
    if problem:
        raise UserError(problem, field=uri)
    try:
        return local_folder(uri)
    except StorageError as exc:
        raise UserError(f"cannot read the sweep ({exc}); check the URI and the store's "
                        "credentials", field=uri) from None


def report(cfg: SweepConfig, force: bool = False) -> Path:
    """Rewrite a finished sweep's ``report/`` (``report.md``, figures, ``index.html``).

    The stored tables are fitted again as ``raymix propose`` fits them (``fit`` section,
    ``fit.at``), and the report shows the stored ``proposal.json`` (none: a report of the
    fit alone); nothing is trained and no cluster starts. A file of a name the report
    writes that no earlier report wrote (a user's ``index.html``) is refused unless
    ``force`` (:func:`raymix.report.writer.check_report_folder`).

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    layout = SweepLayout(cfg.storage_path)
    problem = folder_problem(layout.report)
    if problem:
        raise UserError(f"{problem}; the report cannot be written", field="compute.storage")
    check_report_folder(layout.report, force=force)  # every file, before any work
    inputs = runs_at_target(cfg)
    proposal = _stored_proposal(layout, cfg.mixture_columns)
    objectives = layout.proposal.parent / OBJECTIVES_FILE  # propose --per-objective's
    if proposal is not None and objectives.is_file():
        proposal["objectives"] = read_stored_json(objectives, REPROPOSE)
    written = write_runs_report(layout.report, inputs.fit(), cfg, inputs.runs, proposal,
                                force=force)
    return written.parent / HTML_REPORT
