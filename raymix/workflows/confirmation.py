"""The confirmation round that ends a sweep: :func:`run_confirmation`.

A proposal is a prediction, and the best run of a sweep a measurement with one seed's
luck in it. After the sweep's runs, each round (``confirm.rounds``)

1. fits the runs and proposes (:func:`raymix.propose`, at ``fit.at`` when set);
2. takes the fit's best distinct mixtures and the best observed ones
   (:func:`raymix.proposal.confirmation.confirmation_candidates`), fixed in
   ``confirm.json`` before anything trains;
3. trains each with ``confirm.seeds`` new seeds, as Tune trials through the sweep's
   aggregator, listed in ``plan.csv`` (a re-run trains only what is missing), at the
   proxy scale or the larger ``confirm`` scale. Runs at the proxy scale join the next
   round's fit.

The proposal is then the candidate with the lowest mean target loss: ``proposal.json``
says which won, by how much, and whether by more than the seed noise
(:func:`raymix.propose` reads the stored round).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from raymix.config import BASE_SCALE, CONFIRM_SCALE, ScaleConfig, SweepConfig
from raymix.console import print_line
from raymix.data import prepare
from raymix.formatting import format_number
from raymix.proposal.confirmation import confirmation_candidates
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.runs import RUN_COLUMN, SCALE_COLUMN, SEED_COLUMN
from raymix.sweep import train_plan
from raymix.sweep.plan import add_runs, drop_confirmation_runs
from raymix.training import non_embedding_params
from raymix.workflows.confirm_state import ConfirmState
from raymix.workflows.inputs import runs_at_target
from raymix.workflows.proposing import propose_from

SEED_OFFSET = 1000  # confirmation seeds: training.seed + 1000, + 1001, ... (never a sweep's)


def confirmation_config(cfg: SweepConfig) -> SweepConfig:
    """The sweep config that trains the confirmation runs (same folder and aggregator).

    At the proxy scale it is ``cfg``; at another size or length, the runs are of scale
    ``confirm`` (its model) and train for ``confirm.steps``.
    """
    c = cfg.confirm
    if not c.changes_scale():
        return cfg
    longer = cfg.with_steps(c.steps) if c.steps else cfg
    overrides = {k: getattr(c, k) for k in ("layers", "hidden", "heads", "intermediate")}
    return dataclasses.replace(
        longer, training=dataclasses.replace(longer.training, save_checkpoint=False),
        scales=[ScaleConfig(name=CONFIRM_SCALE, **overrides)])


def runs_per_round(cfg: SweepConfig) -> int:
    """The most runs one confirmation round trains: every candidate with ``confirm.seeds``
    seeds (fewer when the fit's candidates and the observed best coincide)."""
    c = cfg.confirm
    return (c.candidates + c.observed) * c.seeds


def check_confirmation(cfg: SweepConfig) -> None:
    """Refuse, before any work, a ``confirm`` section that a stored round was not made with."""
    if cfg.confirm.rounds:
        ConfirmState.load(cfg)


def run_confirmation(cfg: SweepConfig, *, log=print_line) -> ConfirmationVerdict | None:
    """Run (or resume) the confirmation round(s) of a sweep whose runs are stored.

    Parameters
    ----------
    cfg : SweepConfig
        The sweep; its ``confirm`` section sets the round (``rounds: 0`` skips it).
    log : callable, default=print_line
        Receives the progress lines.

    Returns
    -------
    ConfirmationVerdict or None
        The verdict (:func:`raymix.proposal.confirmation.confirmation_verdict`;
        ``.to_dict()`` is ``proposal.json``'s ``confirmation``), or None when
        ``confirm.rounds`` is 0.

    Raises
    ------
    UserError
        When ``confirm.json`` holds a round made with other ``confirm`` settings.
    """
    c = cfg.confirm
    if c.rounds == 0:
        return None
    state = ConfirmState.load(cfg)  # refusals first
    prepared = prepare(cfg, log=lambda _: None)
    if not state.rounds:  # a round made again (its confirm.json deleted): plan it anew
        drop_confirmation_runs(cfg)
    ccfg = confirmation_config(cfg)
    scale = CONFIRM_SCALE if c.changes_scale() else BASE_SCALE
    where = _where(cfg, ccfg, prepared.vocab_size)
    for r in range(c.rounds):
        if r >= len(state.rounds):
            state.rounds.append(_choose(cfg, state))
            state.save(cfg)  # fixed before any of its runs starts
        candidates = state.rounds[r]
        rows = pd.DataFrame([
            {RUN_COLUMN: run_id, SEED_COLUMN: cfg.training.seed + SEED_OFFSET + j,
             SCALE_COLUMN: scale, **candidate.mixture}
            for candidate in candidates
            for j, run_id in enumerate(state.run_ids(cfg, r, candidate))])
        add_runs(cfg, rows)
        fitted = sum(x.source == "fit" for x in candidates)
        log(f"[confirm] round {r + 1}/{c.rounds}: {len(candidates)} candidates ({fitted} from "
            f"the fit, {len(candidates) - fitted} observed) x {c.seeds} seeds = {len(rows)} "
            f"runs {where}")
        train_plan(ccfg, prepared, rows, log=log)
    verdict = state.verdict(cfg)
    if verdict is not None:
        log(_summary(verdict))
    return verdict


def _choose(cfg: SweepConfig, state: ConfirmState):
    """The next round's candidates, from a fit of every stored run."""
    c = cfg.confirm
    # the candidates need the fit's optimum, not its bootstrap
    search = dataclasses.replace(cfg.search, uncertainty=False)
    inputs = runs_at_target(cfg)
    proposal = propose_from(cfg, inputs, search=search, confirmed=False)
    runs = inputs.runs
    earlier = [x.weights(proposal.domains) for r in state.rounds for x in r]
    state.fits.append({"round": len(state.rounds) + 1, "runs": len(runs.objective),
                       **proposal.to_dict()["regressor"]})
    return confirmation_candidates(
        proposal, runs.mixtures, np.asarray(runs.objective, dtype=float), cfg.search,
        fit_count=c.candidates, observed_count=c.observed, min_distance=c.min_distance,
        exclude=earlier, prefix=f"r{len(state.rounds) + 1}-" if state.rounds else "")


def _where(cfg: SweepConfig, ccfg: SweepConfig, vocab_size: int) -> str:
    if ccfg is cfg:
        return "at the proxy scale"
    model = cfg.confirm.applied_to(cfg.model)
    ratio = non_embedding_params(model) / non_embedding_params(cfg.model)
    return (f"at {ratio:.1f}x the proxy's parameters and "
            f"{ccfg.training.steps / cfg.training.steps:.1f}x its tokens")


def _summary(verdict: ConfirmationVerdict) -> str:
    line = (f"[confirm] measured best: {verdict.winner} ({verdict.winner_source}), "
            f"target loss {format_number(verdict.measured)}")
    if verdict.runner_up is not None:
        beyond = {True: "beyond", False: "within", None: "(no noise estimate)"}[
            verdict.margin_beyond_noise]
        line += (f", {format_number(verdict.margin)} better than {verdict.runner_up} "
                 f"({beyond} the seed noise, std {format_number(verdict.noise_std)} per run)")
    return line
