"""The confirmation round: which mixtures to train again, and which one measured best.

A fit's proposal is a prediction; where the regressor extrapolates (a corner no run
reached) it can be far off, and the best run of a sweep is a measurement with one
seed's luck in it. Before a sweep proposes, it trains a few candidates again with new
seeds (:mod:`raymix.workflows.confirmation` runs them) and proposes the one that
measured best:

- :func:`confirmation_candidates`: the fit's best distinct mixtures (its proposal, the
  RegMix top-k average, then the best-predicted mixtures at least ``min_distance``
  apart) and the best mixtures the sweep trained, all inside the search's bounds;
- :func:`confirmation_verdict`: the measured mean of each, the winner, and whether it
  beat the others by more than the seed noise (the pooled seed-to-seed spread): a
  :class:`~raymix.proposal.verdict.ConfirmationVerdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from raymix.config import SearchConfig
from raymix.mixtures import BOX_TOLERANCE, named_weights
from raymix.proposal.proposer import Proposal
from raymix.proposal.search import best_candidates
from raymix.proposal.verdict import ConfirmationVerdict, MeasuredCandidate
from raymix.regression import NOISE_SIGMAS, gap_se, seed_noise

POOL = 4_000  # the fit's best-predicted mixtures that the distinct candidates come from


@dataclass
class Candidate:
    """One mixture of a confirmation round.

    ``source`` is ``fit`` (the fit's proposal, ``top_k_mean`` or a best-predicted
    mixture) or ``observed`` (a mixture the sweep trained; ``observed`` is its loss
    there, the mean over its seeds).
    """

    name: str
    source: str
    mixture: dict[str, float]
    predicted: float
    predicted_std: float
    observed: float | None = None

    def weights(self, domains: list[str]) -> np.ndarray:
        return np.array([self.mixture[d] for d in domains])


def total_variation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Half the L1 distance: the share of weight that must move to turn one into the other."""
    return 0.5 * np.abs(np.asarray(a) - np.asarray(b)).sum(axis=-1)


def confirmation_candidates(proposal: Proposal, mixtures: pd.DataFrame, losses: np.ndarray,
                            search: SearchConfig, *, fit_count: int, observed_count: int,
                            min_distance: float, exclude: list[np.ndarray] = (),
                            prefix: str = "") -> list[Candidate]:
    """The mixtures to confirm: the fit's best distinct ones, then the best observed.

    Parameters
    ----------
    proposal : Proposal
        The fit's proposal (its fit, constraints and search result).
    mixtures, losses : DataFrame (n, k) and array (n,)
        The sweep's runs (index: run ids) and their target losses; runs of the same
        mixture (repeats) count as one, with their mean loss.
    search : SearchConfig
        ``candidates``, ``top_k`` and ``seed`` of the RegMix simulation.
    fit_count, observed_count : int
        How many of each to take (fewer when too few are distinct).
    min_distance : float
        Candidates closer than this (total variation) to one taken before, or to one
        in ``exclude`` (confirmed in an earlier round), are skipped.
    prefix : str
        Put before each name (``r2-`` for a second round).
    """
    domains = proposal.domains
    box = proposal.constraints
    chosen: list[Candidate] = []
    taken = [np.asarray(w, dtype=float) for w in exclude]

    def take(name: str, source: str, w: np.ndarray, observed: float | None = None) -> bool:
        if any(total_variation(w, t) < min_distance for t in taken):
            return False
        mean, std = proposal.fit.predict(w[None, :])
        chosen.append(Candidate(prefix + name, source, named_weights(domains, w),
                                float(mean[0]), float(std[0]), observed))
        taken.append(w)
        return True

    fit_taken = 0
    if fit_count > 0:
        rng = np.random.default_rng(search.seed)
        keep = min(search.draws, max(POOL, search.top_k))
        pool, _ = best_candidates(proposal.fit.estimator, box, search.draws, keep, rng)
        top_k_mean = box.project(pool[: search.top_k].mean(axis=0))
        for name, w in [("proposal", proposal.search.mixture), ("top_k_mean", top_k_mean)]:
            if fit_taken < fit_count and take(name, "fit", w):
                fit_taken += 1
        for i, w in enumerate(pool):
            if fit_taken >= fit_count:
                break
            fit_taken += take(f"fit-{i}", "fit", w)

    by_mixture = (mixtures.assign(_loss=losses).groupby(list(domains), sort=False)
                  .agg(_loss=("_loss", "mean"), _run=("_loss", lambda s: s.index[0]))
                  .reset_index().sort_values("_loss", kind="stable"))
    observed_taken = 0
    for _, row in by_mixture.iterrows():
        if observed_taken >= observed_count:
            break
        w = row[list(domains)].to_numpy(dtype=float)
        inside = box.within_bounds(w, BOX_TOLERANCE)
        if inside:
            observed_taken += take(str(row["_run"]), "observed", w, float(row["_loss"]))
    return chosen


def confirmation_verdict(candidates: list[Candidate],
                         measured: dict[str, list[float]]) -> ConfirmationVerdict | None:
    """Which candidate measured best, and by how much against the seed noise.

    Returns None when no candidate has a finished run. The noise of one run is the
    pooled seed-to-seed std of the candidates measured with two seeds or more; a gap is
    beyond the noise when above ``NOISE_SIGMAS`` (2) standard errors of the difference of
    two means (:func:`raymix.regression.noise.gap_se`).
    """
    rows = {}
    for c in candidates:
        losses = [float(v) for v in measured.get(c.name, [])]
        rows[c.name] = MeasuredCandidate(
            c.source, c.mixture, c.predicted, c.predicted_std, observed_at_proxy_scale=c.observed,
            measured=float(np.mean(losses)) if losses else None,
            measured_std=float(np.std(losses, ddof=1)) if len(losses) > 1 else None,
            measured_losses=losses)
    done = {name: row for name, row in rows.items() if row.measured is not None}
    if not done:
        return None
    noise = seed_noise(r.measured_losses for r in done.values())
    order = sorted(done, key=lambda name: done[name].measured)
    winner = done[order[0]]
    for name in order:
        row = done[name]
        gap = row.measured - winner.measured
        se = (gap_se(noise, len(row.measured_losses), len(winner.measured_losses))
              if noise is not None else None)
        rows[name] = done[name] = replace(
            row, gap_to_winner=gap, gap_se=se,
            beaten_beyond_noise=None if se is None or name == order[0]
            else bool(gap > NOISE_SIGMAS * se))
    runner_up = done[order[1]] if len(order) > 1 else None
    return ConfirmationVerdict(
        winner=order[0], winner_source=winner.source, mixture=winner.mixture,
        measured=winner.measured, order=order, noise_std=noise,
        runner_up=order[1] if runner_up else None,
        margin=runner_up.gap_to_winner if runner_up else None,
        margin_beyond_noise=runner_up.beaten_beyond_noise if runner_up else None,
        candidates=rows)
