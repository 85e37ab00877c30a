"""``raymix sweep`` from Python: the sweep's whole chain in one call.

:func:`sweep_and_propose` does what the command does, in its order:

1. the refusals, before any work: a ``confirm`` section that a stored round was not
   made with, a file in the way of what the end writes (:func:`check_sweep_outputs`),
   and a fit or a search that the runs could not end with
   (:func:`~raymix.workflows.costing.check_sweep_end`);
2. the sweep (:func:`raymix.run_sweep`);
3. for a ``mixtures.draw: per_domain`` sweep, MixMin's proposal (``mixmin.json``);
   otherwise the confirmation round (:func:`raymix.run_confirmation`) and the proposal,
   one per objective too with ``target.objectives`` (``proposal.json``,
   ``objectives.json``, ``report/``), all in the sweep folder;
4. the experiment trackers' sweep run (:func:`~raymix.tracking.log_sweep`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raymix.config import SweepConfig
from raymix.console import print_line
from raymix.proposal import Proposal
from raymix.proposal.mixmin import MixMinProposal
from raymix.proposal.objectives import OBJECTIVES_FILE, ObjectiveProposals
from raymix.report.writer import check_report_folder
from raymix.runs import SweepLayout
from raymix.storage import is_uri
from raymix.sweep import run_sweep
from raymix.sweep.runner import SweepResult, describe_speed
from raymix.tracking import log_sweep
from raymix.workflows import proposing
from raymix.workflows.confirmation import check_confirmation, run_confirmation, runs_per_round
from raymix.workflows.costing import check_sweep_end
from raymix.workflows.inputs import check_output_path


@dataclass
class SweepOutcome:
    """What :func:`sweep_and_propose` did.

    Attributes
    ----------
    sweep : SweepResult
        The sweep's counts and tables (:func:`raymix.run_sweep`).
    proposal : Proposal, ObjectiveProposals or MixMinProposal, optional
        The proposal (:func:`raymix.propose`), the proposals per objective with
        ``target.objectives`` (:func:`raymix.propose_per_objective`), or MixMin's
        (:func:`~raymix.workflows.proposing.propose_mixmin`) for a
        ``mixtures.draw: per_domain`` sweep; None without ``propose``.
    files : dict of str to str
        What the end wrote: ``proposal``, ``objectives``, ``report``, ``report_html``,
        or ``mixmin``.
    """

    sweep: SweepResult
    proposal: Proposal | ObjectiveProposals | MixMinProposal | None = None
    files: dict[str, str] = field(default_factory=dict)


def sweep_and_propose(cfg: SweepConfig, *, propose: bool = True, force: bool = False,
                      log=print_line) -> SweepOutcome:
    """Run (or resume) the sweep, then confirm, propose and report: ``raymix sweep``.

    Parameters
    ----------
    cfg : SweepConfig
        The sweep (:func:`raymix.load_config`).
    propose : bool, default=True
        False stops after the sweep (``raymix sweep --no-propose``).
    force : bool, default=False
        Replace files of the report's names in the sweep's ``report/`` that no earlier
        report wrote (a user's ``index.html``); without it they are refused before any work.
    log : callable, default=print_line
        Receives the progress lines (the default prints them).

    Returns
    -------
    SweepOutcome
        ``.sweep``, ``.proposal`` and ``.files`` (what the end wrote in the sweep folder).

    Raises
    ------
    UserError
        Before any training: a changed ``confirm`` section, something in the way of the
        end's files, a fit or search box the runs could not end with, and every refusal of
        :func:`raymix.run_sweep`.
    """
    c = cfg.confirm
    per_domain = cfg.mixtures.draw == "per_domain"  # one proxy per domain: MixMin proposes
    if propose and c.rounds and not per_domain:
        check_confirmation(cfg)  # a changed confirm section is refused before any work
        log(f"[sweep] the runs, then {c.rounds} confirmation round{'s' * (c.rounds > 1)} of "
            f"up to {runs_per_round(cfg)} runs each (confirm)")
    if propose:
        check_sweep_outputs(cfg, force=force)
        check_sweep_end(cfg)  # the fit's folds and the search's box, before any training
    result = run_sweep(cfg, log=log)
    log(f"[sweep] {result.stored} runs stored ({result.failed} failed), "
        f"{result.trained_now} trained by this command")
    speed = describe_speed(result.speed)
    if speed:
        log(speed)
    if not propose:
        return SweepOutcome(result)
    layout = SweepLayout(cfg.storage_path)
    if per_domain:
        found = proposing.propose_mixmin(cfg, output=layout.mixmin)
        log_sweep(cfg, layout.mixmin)  # tracking: the sweep run
        return SweepOutcome(result, found, dict(found.files))
    run_confirmation(cfg, log=log)  # the best candidates again, with new seeds (confirm.rounds)
    if cfg.target.objectives is not None:
        made = proposing.propose_per_objective(cfg, output=layout.proposal,
                                               report=layout.report, force=force)
        files = {**made.usual.files, **made.files}
    else:
        made = proposing.propose(cfg, output=layout.proposal, report=layout.report,
                                 force=force)
        files = dict(made.files)
    log_sweep(cfg, layout.proposal, layout.report)  # tracking: the sweep run
    return SweepOutcome(result, made, files)


def check_sweep_outputs(cfg: SweepConfig, *, force: bool = False) -> None:
    """Refuse, before the first trial, what would stop the end of the sweep from writing
    its files (the proposal and its report, or MixMin's): a symlink there, or a user's
    ``index.html`` in its report folder (unless ``force``), rather than after the compute
    is spent."""
    if is_uri(str(cfg.storage_location)):
        return  # object storage: its local mirror is raymix's own (run_sweep checks the URI)
    layout = SweepLayout(cfg.storage_path)
    if cfg.mixtures.draw == "per_domain":
        check_output_path(layout.mixmin, field="compute.storage")
        return
    for path in (layout.proposal, layout.proposal.parent / OBJECTIVES_FILE):
        check_output_path(path, field="compute.storage")
    check_report_folder(layout.report, force=force)
