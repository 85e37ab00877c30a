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

import numpy as np

from raymix.config.schema import FitConfig, SearchConfig, SweepConfig
from raymix.errors import UserError
from raymix.files import atomic_write_text
from raymix.proposal.critical_share import critical_from_runs
from raymix.proposal.proposer import (
    FitResult,
    Proposal,
)
from raymix.proposal.proposer import (
    fit as fit_runs,
)
from raymix.proposal.proposer import (
    propose as propose_mixture,
)
from raymix.report.markdown import write_report
from raymix.runs.long import LongRuns, read_long_runs
from raymix.runs.store import RUN_COLUMN, ResultStore, format_number, loss_column
from raymix.runs.wide import Runs, read_candidates, read_runs, write_predictions
from raymix.scaling.nested import NestedScalingLaw, Scale, holdout_summary

DATA_INFO = "data.json"
TRUSTED_SPEARMAN = 0.5  # below this CV rank correlation the proposal is little better than a guess
FAR_FROM_RUNS = 0.5  # the proposal is farther than this (total variation) from every run


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


def load_long_results(cfg: SweepConfig) -> tuple[LongRuns, dict]:
    """A sweep's every checkpoint of every size (``runs.csv``) and its data info."""
    sweep_dir = cfg.storage_path
    path = sweep_dir / "runs.csv"
    if not path.is_file() or not (sweep_dir / DATA_INFO).is_file():
        raise UserError(f"compute.storage: {sweep_dir} has no runs.csv; "
                        "run 'raymix sweep CONFIG' first")
    target = loss_column(cfg.target.name)
    long = read_long_runs(path, {target: 1.0}, domains=cfg.domain_names)
    return long, json.loads((sweep_dir / DATA_INFO).read_text())


def config_at(fit_config: FitConfig) -> Scale | None:
    """The target scale of ``fit.at``, or None for the proxies' own scale."""
    return Scale(**fit_config.at) if fit_config.at else None


def at_scale(long: LongRuns, at: Scale, fit_config: FitConfig) -> NestedScalingLaw:
    """The nested step and size laws of ``long``, extrapolated to ``at``."""
    return NestedScalingLaw(share_step_exponent=fit_config.share_exponents,
                            share_size_exponent=fit_config.share_exponents,
                            checkpoints=fit_config.checkpoints,
                            min_tokens=fit_config.min_tokens).fit(long, at)


def _settings(source: SweepConfig | Runs | LongRuns, fit_config: FitConfig | None,
              at: Scale | None = None) -> tuple[Runs, dict, FitConfig]:
    """The runs to fit (at the target scale ``at`` if given), data info and fit settings.

    With a target scale, the data info carries the fitted :class:`NestedScalingLaw`
    under ``scaling_law`` (for the report and the diagnostics in proposal.json).
    """
    if isinstance(source, SweepConfig):
        fit_config = fit_config or source.fit
        at = at if at is not None else config_at(fit_config)
        if at is None:
            runs, info = load_results(source)
            return runs, info, fit_config
        long, info = load_long_results(source)
    elif isinstance(source, LongRuns):
        fit_config, long, info = fit_config or FitConfig(), source, {}
        at = at or Scale()
    elif isinstance(source, Runs):
        if at is not None:
            raise UserError("--at: a target scale needs checkpoints at several scales; give "
                            "the long table (--runs RUNS.csv) instead of --mixtures/--metrics")
        return source, {}, fit_config or FitConfig()
    else:
        raise TypeError("source must be a SweepConfig (raymix.load_config), Runs "
                        "(raymix.read_runs) or LongRuns (raymix.read_long_runs)")
    law = at_scale(long, at, fit_config)
    return law.to_runs(), {**info, "scaling_law": law}, fit_config


# ----------------------------------------------------------------------------- steps


def fit(source: SweepConfig | Runs | LongRuns, *, fit_config: FitConfig | None = None,
        report: str | Path | None = None, at: Scale | None = None) -> FitResult:
    """Cross-validate the regressors on the runs; refit the best (or best ensemble).

    Parameters
    ----------
    source : SweepConfig or Runs
        A sweep (its directory's tables) or runs read by :func:`raymix.read_runs`.
    fit_config : FitConfig, optional
        Default: the sweep config's ``fit`` section, or ``FitConfig()`` for runs.
    report : path, optional
        Folder for a report of the fit (CV and residual plots, interaction matrix).
    at : Scale, optional
        Fit the losses extrapolated to this scale by the nested step and size laws
        (default: the sweep config's ``fit.at``; required scale for ``LongRuns``).
        The fitted laws are in ``FitResult.scaling``.
    """
    runs, info, fit_config = _settings(source, fit_config, at)
    fitted = fit_runs(runs.mixtures, runs.objective, fit_config.regressors, fit_config.cv_folds,
                      fit_config.seed, fit_config.ensemble)
    fitted.scaling = info.get("scaling_law")
    if report is not None:
        write_report(Path(report), fitted, runs.objective.to_numpy(), target=runs.target,
                     mixtures=runs.mixtures, metrics=runs.metrics, scaling=fitted.scaling)
    return fitted


def predict(fitted: FitResult, candidates: str | Path, output: str | Path,
            id_column: str | None = None) -> Path:
    """Predict the loss of each mixture in a candidates CSV; write ``id,predicted[,predicted_std]``."""
    table = read_candidates(candidates, fitted.domains, id_column)
    mean, std = fitted.predict(table.to_numpy(dtype=float))
    id_name = id_column or table.index.name or "id"
    return write_predictions(output, table, mean, std if fitted.has_std else None, id_name)


def propose(
    source: SweepConfig | Runs | LongRuns,
    *,
    search: SearchConfig | None = None,
    fit_config: FitConfig | None = None,
    output: str | Path | None = None,
    report: str | Path | None = None,
    where: str | None = None,
    at: Scale | None = None,
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
    at : Scale, optional
        Propose for this scale (see :func:`fit`); proposal.json then also holds the
        step and size laws' diagnostics under ``scaling``.

    Returns
    -------
    dict
        The proposal (see :func:`raymix.propose.propose`) plus ``target``,
        ``warnings`` and ``files``.
    """
    if isinstance(source, SweepConfig):
        output = output or source.storage_path / "proposal.json"
        report = report or source.storage_path / "report"
    result, _ = propose_with_fit(source, search=search, fit_config=fit_config, output=output,
                                 report=report, where=where, at=at)
    return result


def propose_with_fit(source, *, search=None, fit_config=None, output=None, report=None,
                     where=None, at=None) -> tuple[dict[str, Any], Proposal]:
    """:func:`propose`, also returning the :class:`Proposal` (its fit predicts other mixtures)."""
    runs, info, fit_config = _settings(source, fit_config, at)
    search = search or (source.search if isinstance(source, SweepConfig) else SearchConfig())
    where = where or ("search" if isinstance(source, SweepConfig) else "constraints")
    proposal = propose_mixture(
        runs.mixtures, runs.objective, prior=info.get("prior"), fit_config=fit_config,
        search=search, available_tokens=info.get("train_tokens"), where=where)
    result = {"target": runs.target, **proposal.to_dict()}
    law = info.get("scaling_law")
    proposal.fit.scaling = law
    if law is not None:
        result["scaling"] = law.stages_
        # the best run's loss at the target scale is the laws' extrapolation, not a measurement
        best = result["baselines"]["best_observed"]
        best["extrapolated_target_loss"] = best.pop("observed_target_loss")
    result["warnings"] = runs.notes + fit_warnings(result)
    files = {}
    if output is not None:
        atomic_write_text(Path(output), json.dumps(result, indent=1))
        files["proposal"] = str(output)
    if report is not None:
        files["report"] = str(write_report(Path(report), proposal.fit, runs.objective.to_numpy(),
                                           target=runs.target, mixtures=runs.mixtures,
                                           metrics=runs.metrics, proposal=result,
                                           scaling=law))
    return {**result, "files": files}, proposal


def critical(source: SweepConfig | Runs | LongRuns, domain: str, *,
             baseline: float | None = None, at: Scale | None = None,
             output: str | Path | None = None) -> dict[str, Any]:
    """The largest share of the new ``domain`` that keeps the original data's loss at
    its value before continual pretraining (Data Mixing Laws, section 4.3).

    The runs' target must be the loss on the original data. With a sweep whose runs
    started from a checkpoint (``training.init_from``), ``baseline`` defaults to that
    checkpoint's target loss, measured before training. With ``at.tokens`` the answer is
    extrapolated there along each mixture's checkpoints (the step law).
    """
    if isinstance(source, SweepConfig):
        baseline = initial_target_loss(source) if baseline is None else baseline
        at = at if at is not None else config_at(source.fit)
        source = load_long_results(source)[0] if at is not None else load_results(source)[0]
    if baseline is None:
        raise UserError("--baseline: give the loss on the original data before continual "
                        "pretraining (the starting checkpoint's loss on the target)")
    answer = critical_from_runs(source, domain, baseline,
                                at_tokens=at.tokens if at is not None else None)
    result = {"target": source.target, **answer.to_dict()}
    if output is not None:
        atomic_write_text(Path(output), json.dumps(result, indent=1))
        result["files"] = {"critical": str(output)}
    return result


def initial_target_loss(cfg: SweepConfig) -> float:
    """The starting checkpoint's target loss, as measured by the sweep's runs."""
    records = ResultStore(cfg.storage_path).load_all().values()
    losses = [r["initial_target_loss"] for r in records if "initial_target_loss" in r]
    if not losses:
        raise UserError(f"--baseline: the runs in {cfg.storage_path} did not start from a "
                        "checkpoint (training.init_from), so there is no loss before continual "
                        "pretraining; give --baseline")
    return float(np.mean(losses))  # the same checkpoint and windows: equal up to float noise


def summarise_critical(result: dict[str, Any]) -> str:
    """The critical share, the baseline it keeps and the law behind it, for the terminal."""
    law = result["law"]
    tokens = "the last checkpoint" if result["tokens"] is None else f"{result['tokens']:.4g} tokens"
    lines = [f"critical proportion of '{result['domain']}' for target '{result['target']}' "
             f"at {tokens}: {result['proportion']:.4f} "
             f"(original data {1 - result['proportion']:.4f})",
             f"loss before continual pretraining: {result['baseline']:.4f}; law L(r) = "
             f"{law['c']:.4f} + {law['k']:.4g} * exp({law['t']:.4g} r)"]
    if result.get("message"):
        lines.append(f"note: {result['message']}")
    return "\n".join(lines)


def propose_mixmin(cfg: SweepConfig, *, output: str | Path | None = None) -> dict[str, Any]:
    """MixMin's proposal from a ``mixtures.method: per_domain`` sweep (one proxy per domain).

    The target loss of a mixture ``w`` is scored as that of the mixture of the per-domain
    proxies, ``-mean_t log sum_k w_k p_k(t)`` on the target's tokens, and minimised
    inside the ``search`` section's bounds (:func:`raymix.mixmin.mixmin`). Writes
    ``mixmin.json`` (default: in the sweep directory) with the weights, the predicted
    target loss, each single-domain proxy's loss and the optimiser's convergence.
    """
    from raymix.mixtures.constraints import build_constraints
    from raymix.proposal.mixmin import mixmin, mixture_loss

    sweep_dir = cfg.storage_path
    if not (sweep_dir / DATA_INFO).is_file():
        raise UserError(f"compute.storage: {sweep_dir} has no {DATA_INFO}; "
                        "run 'raymix sweep CONFIG' first")
    info = json.loads((sweep_dir / DATA_INFO).read_text())
    by_domain = _per_domain_logprobs(cfg, ResultStore(sweep_dir).load_all().values())
    domains = cfg.domain_names
    logprobs = np.array([by_domain[d] for d in domains])
    box = build_constraints(domains, cfg.search, available_tokens=info.get("train_tokens"),
                            prior=info.get("prior"))
    found = mixmin(logprobs, domains=domains, lower=box.lower, upper=box.upper,
                   prior=box.prior, kl_weight=box.kl_weight)
    result = {"target": cfg.target.name, **found.to_dict(),
              "predicted_target_loss": mixture_loss(logprobs, found.weights),
              "single_domain_target_loss": {d: float(-logprobs[i].mean())
                                            for i, d in enumerate(domains)},
              "tokens_scored": int(logprobs.shape[1]),
              "constraints": box.to_dict()}
    output = Path(output) if output is not None else sweep_dir / "mixmin.json"
    atomic_write_text(output, json.dumps(result, indent=1))
    return {**result, "files": {"mixmin": str(output)}}


def _per_domain_logprobs(cfg: SweepConfig, records) -> dict[str, list[float]]:
    """Each domain's proxy (trained on it alone) and its target log-probabilities."""
    found = {}
    for record in records:
        weights = record.get("mixture", {})
        if record.get("status") == "ok" and "target_logprobs" in record and len(weights) == 1:
            found.setdefault(next(iter(weights)), record["target_logprobs"])
    missing = [d for d in cfg.domain_names if d not in found]
    if missing:
        raise UserError(f"mixtures.method: {cfg.storage_path} has no finished per-domain proxy "
                        f"for {', '.join(missing)}; run 'raymix sweep CONFIG' with "
                        "mixtures.method: per_domain first")
    return found


def summarise_mixmin(result: dict[str, Any]) -> str:
    """MixMin's weights, predicted loss and convergence, for the terminal."""
    weights = ", ".join(f"{d} {w:.3f}" for d, w in result["weights"].items())
    best = min(result["single_domain_target_loss"].items(), key=lambda kv: kv[1])
    state = "converged" if result["converged"] else "not converged (raise max_steps)"
    return (f"MixMin proposal for '{result['target']}': {weights}\n"
            f"predicted target loss {result['predicted_target_loss']:.4f} (best single domain: "
            f"{best[0]} {best[1]:.4f}); {state} after {result['steps']} steps, "
            f"gap {result['gap'][-1]:.2g}")


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
    nearest = proposal.get("nearest_run")
    if nearest and nearest["distance"] > FAR_FROM_RUNS:
        warnings.append(
            f"the proposal lies far from every run: {nearest['distance']:.0%} of its weight "
            f"would have to move to reach the nearest ({nearest['run']}), so the regressor "
            "extrapolates there; check it with 'raymix validate', or propose with a GP's "
            "upper confidence bound (fit.regressors: [gp], search.method: pessimistic)")
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


def summarise_scaling(stages: dict[str, Any]) -> str:
    """The nested laws in a few lines: target scale, held-out checks, what was left out."""
    at = stages["target_scale"]
    lines = [f"nested scaling laws: {stages['n_predicted']} of {stages['n_mixtures']} mixtures "
             f"predicted at {at['params']:.4g} params ({at['params_from']}), "
             f"{at['tokens']:.4g} tokens ({at['tokens_from']})"]
    for stage in ("step", "size"):
        holdout = stages[stage].get("holdout")
        if holdout:
            lines.append(f"  {stage} law held-out check: {holdout_summary(holdout)}")
        elif stages[stage].get("skipped"):
            lines.append(f"  {stage} law: skipped ({stages[stage]['reason']})")
    lines += [f"  note: {note}" for note in stages["notes"]]
    return "\n".join(lines)


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
        observed = base.get("observed_target_loss", base.get("extrapolated_target_loss"))
        kind = "observed" if "observed_target_loss" in base else "extrapolated"
        extra = f" ({kind} {observed:.4f}, {base.get('run')})" if observed is not None else ""
        lines.append(f"  vs {name:18s} {base['predicted_target_loss']:.4f}{extra}")
    lines.extend(f"WARNING: {w}" for w in proposal.get("warnings", []))
    files = proposal.get("files", {})
    if files:
        lines.append("files: " + ", ".join(files.values()))
    return "\n".join(lines)


def replace_fit(fit_config: FitConfig, **changes) -> FitConfig:
    """``fit_config`` with the given fields changed (None values are ignored)."""
    return dataclasses.replace(fit_config, **{k: v for k, v in changes.items() if v is not None})
