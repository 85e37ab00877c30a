"""The fit, predict and propose steps, on a sweep directory or on anyone's CSV tables.

Both sources become the same :class:`raymix.wide_csv.Runs`: a sweep directory carries
``mixtures.csv`` and ``metrics.csv`` in the same wide format that RegMix and Olmix
publish, plus ``data.json`` with the token prior and counts, so these steps run without
the token cache, on any machine that has the directory (or the two CSV files).

With a sweep config, the config's ``fit`` and ``search`` sections drive the steps and
the outputs go to the sweep directory; with :class:`Runs`, the caller passes the
settings (the CLI: ``--regressor``, ``--constraints``) and the output paths.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from raymix.atomic import atomic_write_text
from raymix.config import FitConfig, SearchConfig, SweepConfig
from raymix.errors import UserError
from raymix.propose import FitResult, fit as fit_runs, propose as propose_mixture
from raymix.report import write_report
from raymix.results import RUN_COLUMN, format_number, loss_column
from raymix.wide_csv import Runs, read_candidates, read_runs, write_predictions

DATA_INFO = "data.json"
TRUSTED_SPEARMAN = 0.5  # below this CV rank correlation the proposal is little better than a guess


# ----------------------------------------------------------------------------- sources


def load_results(cfg: SweepConfig) -> tuple[Runs, dict]:
    """A sweep's runs (mixtures, metrics, target) and its data info (prior, token counts)."""
    sweep_dir = cfg.storage_path
    paths = [sweep_dir / name for name in ("mixtures.csv", "metrics.csv", DATA_INFO)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"compute.storage: {sweep_dir} has no {missing[0]}; "
                        "run 'raymix sweep CONFIG' first")
    target = loss_column(cfg.target.name)
    try:
        runs = read_runs(paths[0], paths[1], {target: 1.0}, id_column=RUN_COLUMN)
    except UserError as exc:
        raise UserError(f"compute.storage: the tables in {sweep_dir} do not fit this config "
                        f"({exc}); was the sweep run with another config?") from None
    if runs.domains != cfg.domain_names:
        raise UserError(f"data.domains: {paths[0]} has domains {', '.join(runs.domains)}; "
                        "the config names others; use the config the sweep was run with")
    return runs, json.loads(paths[2].read_text())


def _settings(source: SweepConfig | Runs, fit_config: FitConfig | None):
    if isinstance(source, SweepConfig):
        runs, info = load_results(source)
        return runs, info, fit_config or source.fit
    if isinstance(source, Runs):
        return source, {}, fit_config or FitConfig()
    raise TypeError("source must be a SweepConfig (raymix.load_config) or Runs (raymix.read_runs)")


# ----------------------------------------------------------------------------- steps


def fit(source: SweepConfig | Runs, *, fit_config: FitConfig | None = None,
        report: str | Path | None = None) -> FitResult:
    """Cross-validate the regressors on the runs; refit the best (or best ensemble).

    Parameters
    ----------
    source : SweepConfig or Runs
        A sweep (its directory's tables) or runs read by :func:`raymix.read_runs`.
    fit_config : FitConfig, optional
        Default: the sweep config's ``fit`` section, or ``FitConfig()`` for runs.
    report : path, optional
        Folder for a report of the fit (CV and residual plots, interaction matrix).
    """
    runs, _, fit_config = _settings(source, fit_config)
    fitted = fit_runs(runs.mixtures, runs.objective, fit_config.regressors, fit_config.cv_folds,
                      fit_config.seed, fit_config.ensemble)
    if report is not None:
        write_report(Path(report), fitted, runs.objective.to_numpy(), target=runs.target,
                     mixtures=runs.mixtures, metrics=runs.metrics)
    return fitted


def predict(fitted: FitResult, candidates: str | Path, output: str | Path,
            id_column: str | None = None) -> Path:
    """Predict the loss of each mixture in a candidates CSV; write ``id,predicted[,predicted_std]``."""
    table = read_candidates(candidates, fitted.domains, id_column)
    mean, std = fitted.predict(table.to_numpy(dtype=float))
    id_name = id_column or table.index.name or "id"
    return write_predictions(output, table, mean, std if fitted.has_std else None, id_name)


def propose(
    source: SweepConfig | Runs,
    *,
    search: SearchConfig | None = None,
    fit_config: FitConfig | None = None,
    output: str | Path | None = None,
    report: str | Path | None = None,
    where: str | None = None,
) -> dict[str, Any]:
    """Fit, propose the mixture predicted best, and write proposal.json and the report.

    Parameters
    ----------
    source : SweepConfig or Runs
        A sweep or runs from CSV tables.
    search : SearchConfig, optional
        Constraints and search method; default: the sweep config's ``search`` section,
        or ``SearchConfig()`` (no constraints) for runs.
    fit_config : FitConfig, optional
        As in :func:`fit`.
    output : path, optional
        Where to write proposal.json (a sweep's default: its directory).
    report : path, optional
        Report folder (a sweep's default: ``report/`` in its directory).
    where : str, optional
        Name of the constraints in errors (default ``search``, or ``constraints``
        when ``search`` came from a constraints file).

    Returns
    -------
    dict
        The proposal (see :func:`raymix.propose.propose`) plus ``target``,
        ``warnings`` and ``files``.
    """
    runs, info, fit_config = _settings(source, fit_config)
    if isinstance(source, SweepConfig):
        output = output or source.storage_path / "proposal.json"
        report = report or source.storage_path / "report"
    search = search or (source.search if isinstance(source, SweepConfig) else SearchConfig())
    where = where or ("search" if isinstance(source, SweepConfig) else "constraints")
    proposal = propose_mixture(
        runs.mixtures, runs.objective, prior=info.get("prior"), fit_config=fit_config,
        search=search, available_tokens=info.get("train_tokens"), where=where)
    result = {"target": runs.target, **proposal.to_dict()}
    result["warnings"] = runs.notes + fit_warnings(result)
    files = {}
    if output is not None:
        atomic_write_text(Path(output), json.dumps(result, indent=1))
        files["proposal"] = str(output)
    if report is not None:
        files["report"] = str(write_report(Path(report), proposal.fit, runs.objective.to_numpy(),
                                           target=runs.target, mixtures=runs.mixtures,
                                           metrics=runs.metrics, proposal=result))
    return {**result, "files": files}


# ----------------------------------------------------------------------------- messages


def fit_warnings(proposal: dict) -> list[str]:
    """Plain-language reasons not to trust a proposal (empty when there are none)."""
    warnings = []
    spearman = proposal["regressor"]["cv_spearman"]
    if spearman is None or spearman < TRUSTED_SPEARMAN:
        warnings.append(
            f"the regressor ranks held-out runs poorly (CV Spearman "
            f"{format_number(spearman, 3)}); do not trust "
            "this proposal: run more mixtures (mixtures.count) or train the proxies longer")
    best = proposal["baselines"]["best_observed"]
    gap = best["predicted_gap_to_proposal"]
    bounds = proposal["constraints"]
    inside = all(bounds["lower"][d] - 1e-9 <= w <= bounds["upper"][d] + 1e-9
                 for d, w in best["mixture"].items())
    if gap < 0 and inside:
        warnings.append(
            f"the best observed run ({best['run']}) meets the constraints and is predicted "
            f"{format_number(-gap)} better than the proposal: the search missed it; try "
            "search.method exact or cmaes, or more candidates")
    elif gap < 0:
        pass  # the best run breaks a bound the proposal must keep: nothing to warn about
    elif best["gap_above_noise"] is False:
        warnings.append(
            f"the proposal is predicted to beat the best observed run by {format_number(gap)}, "
            f"less than the run-to-run noise "
            f"({format_number(proposal['noise_floor']['min_meaningful_difference'])}): "
            "the two are not distinguishable")
    return warnings


def summarise_fit(fitted: FitResult) -> str:
    """One line per regressor, the chosen one marked; the noise floor if measured."""
    lines = []
    for r in fitted.results:
        mark = "*" if r.name == fitted.chosen.name else " "
        lines.append(f"{mark} {r.name:34s} cv_spearman={format_number(r.spearman, 4)} "
                     f"cv_pearson={format_number(r.pearson, 4)} cv_mae={format_number(r.mae, 5)} "
                     f"cv_r2={format_number(r.r2, 4)}")
    lines.append(f"chosen: {fitted.chosen.name} ({fitted.n_runs} runs)")
    if fitted.noise is not None:
        lines.append(f"run-to-run noise: std {format_number(fitted.noise.std, 5)} "
                     f"from {fitted.noise.mixtures} repeated mixtures")
    return "\n".join(lines)


def summarise_proposal(proposal: dict) -> str:
    """A few lines for the terminal: the mixture, its prediction next to the baselines'."""
    reg = proposal["regressor"]
    lines = [f"proposed mixture for target '{proposal['target']}' "
             f"({reg['name']}, CV Spearman {format_number(reg['cv_spearman'], 3)}, "
             f"CV MAE {format_number(reg['cv_mae'], 4)}, "
             f"{proposal['n_runs']} runs; search {proposal['search']['method']}):"]
    binding = {b["domain"]: b for b in proposal["constraints"]["binding"]}
    for domain, weight in sorted(proposal["mixture"].items(), key=lambda kv: -kv[1]):
        bound = binding.get(domain)
        note = f"  (at {bound['bound']} bound: {bound['constraint']})" if bound and weight > 0 else ""
        lines.append(f"  {domain:20s} {weight:.3f}{note}")
    lines.append(f"predicted target loss: {proposal['predicted_target_loss']:.4f} "
                 f"± {proposal['predicted_std']:.4f}")
    for name, base in proposal["baselines"].items():
        observed = base.get("observed_target_loss")
        extra = f" (observed {observed:.4f}, {base.get('run')})" if observed is not None else ""
        lines.append(f"  vs {name:18s} {base['predicted_target_loss']:.4f}{extra}")
    lines.extend(f"WARNING: {w}" for w in proposal.get("warnings", []))
    files = proposal.get("files", {})
    if files:
        lines.append("files: " + ", ".join(files.values()))
    return "\n".join(lines)


def replace_fit(fit_config: FitConfig, **changes) -> FitConfig:
    """``fit_config`` with the given fields changed (None values are ignored)."""
    return dataclasses.replace(fit_config, **{k: v for k, v in changes.items() if v is not None})
