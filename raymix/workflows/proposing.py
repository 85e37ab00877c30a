"""``raymix propose``: the mixture to train on, from a sweep or anyone's runs.

:func:`propose` fits the runs and searches under the constraints
(:func:`raymix.proposal.propose_mixture`), at the target scale when one is asked for;
:func:`propose_mixmin` mixes the per-domain proxies of a ``mixtures.draw: per_domain``
sweep instead (MixMin). Files are written only where asked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from raymix.config import FitConfig, SearchConfig, SweepConfig, task_key
from raymix.data.tasks import item_weights, read_tasks
from raymix.errors import ConfigError, UserError
from raymix.files import atomic_write_text
from raymix.mixtures import build_constraints
from raymix.proposal import Proposal, mixmin, mixture_loss, propose_mixture
from raymix.proposal.mixmin import MixMinProposal
from raymix.proposal.objectives import (
    OBJECTIVES_FILE,
    ObjectiveProposals,
    ObjectiveSpec,
    default_objectives,
    propose_objectives,
    resolve_objectives,
)
from raymix.proposal.proposer import confirmed_proposal
from raymix.regression import FitResult
from raymix.report import HTML_REPORT
from raymix.report.writer import check_report_folder
from raymix.runs import LongRuns, ResultStore, RunRecord, loss_column
from raymix.scaling import TargetSize
from raymix.workflows.confirm_state import ConfirmState
from raymix.workflows.inputs import FitInputs, RunsSource, check_output_path, runs_at_target
from raymix.workflows.reporting import write_runs_report


def propose(
    source: RunsSource,
    *,
    search: SearchConfig | None = None,
    fit_config: FitConfig | None = None,
    at: TargetSize | None = None,
    fitted: FitResult | None = None,
    output: str | Path | None = None,
    report: str | Path | None = None,
    confirmed: bool = True,
    force: bool = False,
) -> Proposal:
    """Fit the runs and propose the mixture predicted best, next to the baselines.

    For a sweep whose confirmation round has finished (``raymix sweep``, see
    :func:`raymix.run_confirmation`), the proposal is the round's measured best instead, and
    ``.confirmation`` says which candidate won and by how much against the seed noise.

    Parameters
    ----------
    source : SweepConfig, Runs or LongRuns
        A sweep (:func:`raymix.load_config`) or runs from tables
        (:func:`raymix.read_runs`, :func:`raymix.read_long_runs`).
    search : SearchConfig, optional
        Constraints and search method (:func:`raymix.load_constraints`). Default: the
        sweep config's ``search`` section, or no constraints for runs. Errors about
        constraints given here name them ``constraints.<key>``.
    fit_config : FitConfig, optional
        As in :func:`raymix.fit`.
    at : TargetSize, optional
        Propose for this scale (see :func:`raymix.fit`); the proposal then holds the
        step and size laws (``scaling``).
    fitted : FitResult, optional
        A fit of the same runs (:func:`raymix.fit` with the same ``fit_config`` and
        ``at``) to reuse instead of fitting again.
    output : path, optional
        Write the proposal there as JSON (``Proposal.to_dict()``).
    report : path, optional
        Write the report into this folder: ``report.md`` with PNG figures, and
        ``index.html`` (interactive figures and the runs, one self-contained page).
    confirmed : bool, default=True
        Apply a sweep's finished confirmation round; False gives the fit's own proposal.
    force : bool, default=False
        Replace files of the report's names in ``report`` that no earlier report wrote
        (a user's ``index.html``); without it they are refused before any work.

    Returns
    -------
    Proposal
        ``.mixture``, ``.predicted_target_loss`` ± ``.predicted_std``, ``.baselines``,
        ``.warnings``, ``.fit`` (predicts other mixtures), ``.files`` (what was written).
    """
    check_output_path(output)
    if report is not None:
        check_report_folder(report, force=force, field="report")
    inputs = runs_at_target(source, fit_config, at)
    proposal = propose_from(source, inputs, search=search, fitted=fitted, confirmed=confirmed)
    if output is not None:
        _write_proposal(proposal, output)
    if report is not None:
        written = write_runs_report(report, proposal.fit, source, inputs.runs,
                                    proposal.to_dict(), force=force)
        proposal.files["report"] = str(written)
        proposal.files["report_html"] = str(written.parent / HTML_REPORT)
    return proposal


def propose_from(source: RunsSource, inputs: FitInputs, *, search: SearchConfig | None = None,
                 fitted: FitResult | None = None, confirmed: bool = True) -> Proposal:
    """:func:`propose` on runs already loaded (:func:`~raymix.workflows.inputs.runs_at_target`
    of ``source``), writing nothing: ``search``, ``fitted`` and ``confirmed`` as there."""
    runs, info = inputs.runs, inputs.info
    where = "search" if search is None else "constraints"
    if search is None:
        search = source.search if isinstance(source, SweepConfig) else SearchConfig()
    proposal = propose_mixture(
        runs.mixtures, runs.objective, prior=info.prior if info else None,
        fit_config=inputs.fit_config, search=search,
        available_tokens=info.train_tokens if info else None, where=where, fitted=fitted,
        target=runs.target, groups=inputs.groups)
    proposal.fit.scaling = proposal.scaling = inputs.scaling
    proposal.warnings = runs.notes + proposal.warnings
    if confirmed and isinstance(source, SweepConfig) and source.confirm.rounds:
        proposal = _with_confirmation(source, proposal, runs)
    return proposal


def _write_proposal(proposal: Proposal, output: str | Path) -> None:
    atomic_write_text(Path(output), json.dumps(proposal.to_dict(), indent=1))
    proposal.files["proposal"] = str(output)


def propose_per_objective(
    source: RunsSource,
    objectives: ObjectiveSpec | None = None,
    *,
    search: SearchConfig | None = None,
    fit_config: FitConfig | None = None,
    output: str | Path | None = None,
    report: str | Path | None = None,
    confirmed: bool = True,
    force: bool = False,
) -> ObjectiveProposals:
    """The usual proposal (:func:`propose`), and one mixture per objective with their
    trade-off: what each objective's mixture costs on the others (as Olmix shows it).

    Parameters
    ----------
    source : SweepConfig or Runs
        As in :func:`propose`, at the proxies' own scale (each objective needs its
        metrics, which scaling laws do not extrapolate).
    objectives : dict, optional
        ``{name: {metric column: weight}}``; a column may drop its ``_loss``
        (``code``, ``task:arc``). Default: a sweep's ``target.objectives``, else each
        of its target's domains (``target.domains``) or tasks (``target.tasks``) alone
        and their weighted average. Runs from tables need them given.
    search, fit_config, output, report, confirmed, force
        As in :func:`propose`; ``objectives.json`` is written beside ``output``, and the
        report gets a section of the trade-off.

    Returns
    -------
    ObjectiveProposals
        ``.usual`` is :func:`propose`'s proposal; ``.proposals`` one per objective
        (:func:`raymix.proposal.objectives.propose_objectives`); ``.tradeoff`` the matrix.
    """
    field = "objectives"
    if isinstance(source, SweepConfig):
        field = "target.objectives"
        objectives = objectives or source.target.objectives or target_objectives(source)
    elif objectives is None:
        raise UserError("name the objectives as {name: {metric column: weight}} (the CLI: "
                        "repeat --target COLUMN[=WEIGHT])", field="objectives")
    fit_config = fit_config or (source.fit if isinstance(source, SweepConfig) else FitConfig())
    if fit_config.at or isinstance(source, LongRuns):
        raise UserError("a proposal per objective needs each metric at the proxies' scale; "
                        "leave out the target scale (fit.at, --at) and give the runs' wide "
                        "tables", field="at")
    check_output_path(output)
    if output is not None:  # objectives.json goes beside it: checked before any work too
        check_output_path(Path(output).parent / OBJECTIVES_FILE)
    if report is not None:
        check_report_folder(report, force=force, field="report")
    inputs = runs_at_target(source, fit_config)
    runs, info = inputs.runs, inputs.info
    resolved = resolve_objectives(objectives, list(runs.metrics.columns), field=field)
    proposal = propose_from(source, inputs, search=search, confirmed=confirmed)
    if output is not None:
        _write_proposal(proposal, output)
    if search is None:
        search = source.search if isinstance(source, SweepConfig) else SearchConfig()
    # an objective that is the usual target (the average, by default) reuses its fit
    fitted = {o.name: proposal.fit for o in resolved
              if np.allclose(o.values(runs.metrics).reindex(runs.objective.index),
                             runs.objective, rtol=1e-6, atol=0)}
    result = propose_objectives(
        runs.mixtures, runs.metrics, resolved, prior=info.prior if info else None,
        fit_config=inputs.fit_config, search=search,
        available_tokens=info.train_tokens if info else None, fitted=fitted, field=field,
        groups=inputs.groups)
    result.usual = proposal
    if output is not None:
        path = Path(output).parent / OBJECTIVES_FILE
        atomic_write_text(path, json.dumps(result.to_dict(), indent=1))
        result.files["objectives"] = str(path)
    if report is not None:
        written = write_runs_report(report, proposal.fit, source, runs,
                                    {**proposal.to_dict(), "objectives": result.to_dict()},
                                    force=force)
        proposal.files["report"] = str(written)
        proposal.files["report_html"] = str(written.parent / HTML_REPORT)
    return result


def target_objectives(cfg: SweepConfig) -> dict[str, dict[str, float]]:
    """A sweep's default objectives: each target domain or task alone, and the target."""
    t = cfg.target
    if t.domains is not None:
        weights = {loss_column(d): w for d, w in t.domains.items()}
    elif t.tasks is not None:
        weights = {loss_column(task_key(task.name)): task.weight for task in t.tasks}
    else:
        weights = {loss_column(t.name): 1.0}
    return default_objectives(weights, average=t.name, field="target.objectives")


def _with_confirmation(cfg: SweepConfig, proposal: Proposal, runs) -> Proposal:
    """The finished confirmation round's winner as the proposal (else a warning says why not)."""
    state = ConfirmState.load(cfg)
    if not state.rounds:
        return proposal
    verdict = state.verdict(cfg)
    if verdict is None:
        _, stored, planned = state.measured(cfg)
        proposal.warnings.append(
            f"the confirmation round is unfinished ({stored} of {planned} runs stored): this "
            "is the fit's proposal, not yet checked; run 'raymix sweep CONFIG' to finish it")
        return proposal
    weights = np.array([verdict.mixture[d] for d in proposal.domains])
    return confirmed_proposal(proposal, runs.mixtures, runs.objective.to_numpy(dtype=float),
                              weights, verdict)


def propose_mixmin(cfg: SweepConfig, *, output: str | Path | None = None) -> MixMinProposal:
    """MixMin's proposal from a ``mixtures.draw: per_domain`` sweep (one proxy per domain).

    The target loss of a mixture ``w`` is scored as that of the mixture of the per-domain
    proxies, ``-mean_t log sum_k w_k p_k(t)`` on the target's tokens, and minimised
    inside the ``search`` section's bounds (:func:`raymix.proposal.mixmin`).

    Returns
    -------
    MixMinProposal
        The weights, the predicted target loss, each single-domain proxy's loss, the
        optimiser's convergence and the constraints (``.to_dict()`` is ``mixmin.json``);
        ``.files`` says where it was written (``output``, when given).
    """
    check_output_path(output)
    store = ResultStore(cfg.storage_path)
    info = store.data_info()
    by_domain = _per_domain_logprobs(cfg, store.load_all().values())
    domains = cfg.domain_names
    logprobs = np.array([by_domain[d] for d in domains])
    box = build_constraints(domains, cfg.search, available_tokens=info.train_tokens,
                            prior=info.prior, groups=cfg.domain_groups)
    if box.bounded_groups.any():
        raise ConfigError("search.min_weight", "MixMin keeps to bounds on single domains only; "
                          "drop the groups' min_weight, max_weight and fixed_weight, or "
                          "propose by regression (mixtures.draw: dirichlet)")
    # a task target weighs each item by its task's share over its bytes; the loss is then
    # the weighted bits per byte, scale * F(w) (F's weights sum to 1)
    items = item_weights(cfg, read_tasks(cfg)) if cfg.target.tasks else None
    scale = float(items.sum()) if items is not None else 1.0
    found = mixmin(logprobs, domains=domains, lower=box.lower, upper=box.upper,
                   prior=box.prior, kl_weight=box.kl_weight, weights=items)
    result = MixMinProposal.of(
        found, target=cfg.target.name,
        predicted_target_loss=scale * mixture_loss(logprobs, found.weights, items),
        single_domain_target_loss={
            d: scale * mixture_loss(logprobs, np.eye(len(domains))[i], items)
            for i, d in enumerate(domains)},
        scored=int(logprobs.shape[1]), scored_unit="items" if items is not None else "tokens",
        constraints=box.to_dict())
    if output is not None:
        atomic_write_text(Path(output), json.dumps(result.to_dict(), indent=1))
        result.files["mixmin"] = str(output)
    return result


def _per_domain_logprobs(cfg: SweepConfig, records: list[RunRecord]) -> dict[str, list[float]]:
    """Each domain's proxy (trained on it alone) and its target log-probabilities."""
    found = {}
    for record in records:
        if record.ok and record.target_logprobs is not None and len(record.mixture) == 1:
            found.setdefault(next(iter(record.mixture)), record.target_logprobs)
    missing = [d for d in cfg.domain_names if d not in found]
    if missing:
        raise UserError(f"{cfg.storage_path} has no finished per-domain proxy for "
                        f"{', '.join(missing)}; run 'raymix sweep CONFIG' with "
                        "mixtures.draw: per_domain first", field="mixtures.draw")
    return found
