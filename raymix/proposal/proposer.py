"""From finished runs to a proposed mixture: fit, search under constraints, compare.

:func:`propose_mixture` fits the runs (:func:`raymix.regression.fit_regressor`),
searches the bounded simplex for the mixture with the lowest predicted loss
(:mod:`raymix.proposal.search`, under the bounds of :mod:`raymix.mixtures.constraints`)
and scores the baselines (uniform, token-proportional, best observed run) with the same
model, so the proposal can be judged against what a person would have done anyway. The
:class:`Proposal` says which bounds bind and gives plain-language warnings where the fit
should not be trusted; bootstrap refits of the regressor (:mod:`raymix.proposal.uncertainty`)
say how sure it is: an interval, P(beats each baseline) and the weights' spread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from raymix.config import FitConfig, SearchConfig
from raymix.config.schema import split_slot
from raymix.errors import UserError
from raymix.formatting import format_number
from raymix.mixtures import (
    BOX_TOLERANCE,
    Constraints,
    build_constraints,
    named_weights,
    schedule_phases,
)
from raymix.proposal.search import SearchResult, search_mixture
from raymix.proposal.uncertainty import ProposalUncertainty, bootstrap_uncertainty
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.regression import (
    NOISE_SIGMAS,
    FitResult,
    fit_regressor,
    gap_se,
    min_meaningful_difference,
)
from raymix.regression.fitting import aligned_target
from raymix.scaling import MixtureScalingLaw

TRUSTED_SPEARMAN = 0.5  # below this CV rank correlation the proposal is little better than a guess
FAR_FROM_RUNS = 0.5  # the proposal is farther than this (total variation) from every run


@dataclass(frozen=True)
class Baseline:
    """A mixture a person would have trained anyway, scored by the proposal's fit.

    ``to_dict()`` is one entry of ``proposal.json``'s ``baselines``.

    Attributes
    ----------
    mixture : dict of str to float
        Its weight per domain.
    predicted_target_loss, predicted_std : float
        The fit's prediction for it, and its typical error.
    predicted_gap_to_proposal : float
        How much worse than the proposal it is predicted (negative: predicted better).
    gap_above_noise : bool or None
        Whether that gap is above the run-to-run noise (None: no noise floor measured).
    observed_target_loss : float or None
        The best observed run's loss (its baseline only; None for the others).
    run : str, int or None
        The best observed run's id.
    extrapolated : bool
        Whether ``observed_target_loss`` is the scaling laws' extrapolation to the target
        scale, not a measurement (written as ``extrapolated_target_loss``).
    """

    mixture: dict[str, float]
    predicted_target_loss: float
    predicted_std: float
    predicted_gap_to_proposal: float
    gap_above_noise: bool | None = None
    observed_target_loss: float | None = None
    run: Any = None
    extrapolated: bool = False

    @property
    def loss_kind(self) -> str:
        """``observed`` or ``extrapolated``: what :attr:`observed_target_loss` is."""
        return "extrapolated" if self.extrapolated else "observed"

    def to_dict(self) -> dict[str, Any]:
        """As ``proposal.json`` holds it."""
        data = {"mixture": self.mixture, "predicted_target_loss": self.predicted_target_loss,
                "predicted_std": self.predicted_std,
                "predicted_gap_to_proposal": self.predicted_gap_to_proposal,
                "gap_above_noise": self.gap_above_noise}
        if self.observed_target_loss is None:
            return data
        if self.extrapolated:
            return {**data, "run": self.run, "extrapolated_target_loss": self.observed_target_loss}
        return {**data, "observed_target_loss": self.observed_target_loss, "run": self.run}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        """Read back :meth:`to_dict` (a ``proposal.json``'s baseline)."""
        extrapolated = "extrapolated_target_loss" in data
        return cls(mixture=data["mixture"], predicted_target_loss=data["predicted_target_loss"],
                   predicted_std=data.get("predicted_std"),
                   predicted_gap_to_proposal=data.get("predicted_gap_to_proposal"),
                   gap_above_noise=data.get("gap_above_noise"),
                   observed_target_loss=data.get("extrapolated_target_loss" if extrapolated
                                                 else "observed_target_loss"),
                   run=data.get("run"), extrapolated=extrapolated)


@dataclass
class Proposal:
    """The proposed mixture, its predicted loss next to the baselines', and why.

    ``to_dict()`` is what ``proposal.json`` holds (see :func:`propose_mixture`).

    Attributes
    ----------
    mixture : dict of str to float
        The proposed weight of each domain (a property; ``weights`` is the array).
    predicted_target_loss, predicted_std : float
        The fit's prediction for it, and its typical error (``predicted_std_source`` says
        which: a residual spread, not an interval on the proposal's advantage).
    baselines : dict of str to Baseline
        ``uniform``, ``token_proportional`` and ``best_observed``: each mixture, its
        predicted loss and how much worse than the proposal that is.
    nearest_run : dict
        The run nearest the proposal and how far (total variation): far from every run,
        the regressor extrapolates.
    warnings : list of str
        Plain-language reasons not to trust the proposal (empty when there are none).
    uncertainty : ProposalUncertainty or None
        Bootstrap refits of the regressor: a 90% interval of the predicted loss, P(the
        proposal beats each baseline) and the spread of the optimum's weights (None when
        ``search.uncertainty`` is false).
    fit : FitResult
        The fit behind it; ``fit.predict`` predicts any other mixture.
    constraints : Constraints
        The box the search kept to, with the setting behind each bound.
    search : SearchResult
        How the search found it.
    target : str
        What was minimised.
    scaling : MixtureScalingLaw or None
        The step and size laws, when the losses were extrapolated to a target scale.
    confirmation : ConfirmationVerdict or None
        When a confirmation round measured candidates again: its verdict
        (:func:`raymix.proposal.confirmation.confirmation_verdict`), and the proposal is
        its winner; ``search`` still says what the fit's search found.
    files : dict of str to str
        What was written, where (``proposal``, ``report``), when files were asked for.
    """

    fit: FitResult
    constraints: Constraints
    search: SearchResult
    predicted_target_loss: float
    predicted_std: float
    baselines: dict[str, Baseline]
    nearest_run: dict[str, Any] | None = None
    target: str = "objective"
    warnings: list[str] = field(default_factory=list)
    scaling: MixtureScalingLaw | None = field(default=None, repr=False)
    confirmation: ConfirmationVerdict | None = None
    confirmed_weights: np.ndarray | None = field(default=None, repr=False)
    files: dict[str, str] = field(default_factory=dict)
    uncertainty: ProposalUncertainty | None = None

    @property
    def domains(self) -> list[str]:
        return self.fit.domains

    @property
    def weights(self) -> np.ndarray:
        """The proposed mixture as an array, in :attr:`domains` order: the confirmation
        round's winner when there was one, else what the search found."""
        return self.search.mixture if self.confirmed_weights is None else self.confirmed_weights

    @property
    def mixture(self) -> dict[str, float]:
        return named_weights(self.domains, self.weights)

    @property
    def predicted_std_source(self) -> str:
        return self.fit.uncertainty_source

    @property
    def written_baselines(self) -> dict[str, Baseline]:
        """:attr:`baselines` as ``proposal.json`` holds them: at a target scale the best
        run's loss is the laws' extrapolation, not a measurement."""
        if self.scaling is None:
            return self.baselines
        return {**self.baselines, "best_observed": dataclasses.replace(
            self.baselines["best_observed"], extrapolated=True)}

    def group_totals(self) -> dict[str, dict[str, Any]]:
        """Each group's leaves and total weight in the proposal and in each baseline
        (``proposal.json``'s ``groups``; empty when the domains form no groups)."""
        return {group: {"domains": leaves, "total": _total(self.mixture, leaves),
                        "baselines": {name: _total(base.mixture, leaves)
                                      for name, base in self.baselines.items()}}
                for group, leaves in self.fit.groups.items()}

    def schedule(self) -> list[dict[str, Any]]:
        """A schedule's phases: each one's share of the steps and its own mixture (weights
        summing to 1), for ``proposal.json``'s ``schedule``; [] for one mixture."""
        shares = self.constraints.phases or []
        k = len(self.domains) // max(1, len(shares))
        return [{"phase": p, "share": share,
                 "mixture": {split_slot(d)[0]: float(w / share) for d, w in
                             zip(self.domains[(p - 1) * k:p * k], self.weights[(p - 1) * k:p * k])}}
                for p, share in enumerate(shares, start=1)]

    def to_dict(self) -> dict[str, Any]:
        """The proposal as JSON data: what ``proposal.json`` holds."""
        groups = self.group_totals()
        schedule = self.schedule()
        return {
            "target": self.target,
            "mixture": self.mixture,
            **({"schedule": schedule} if schedule else {}),
            "predicted_target_loss": self.predicted_target_loss,
            "predicted_std": self.predicted_std,
            "predicted_std_source": self.predicted_std_source,
            "uncertainty": None if self.uncertainty is None else self.uncertainty.to_dict(),
            "baselines": {name: base.to_dict() for name, base in self.written_baselines.items()},
            "nearest_run": self.nearest_run,
            **self.fit.quality(),
            **({"groups": groups} if groups else {}),
            "constraints": {**self.constraints.to_dict(),
                            "binding": self.constraints.binding(self.weights)},
            "search": self.search.to_dict(),
            **({"scaling": self.scaling.stages_} if self.scaling is not None else {}),
            **({"confirmation": self.confirmation.to_dict()}
               if self.confirmation is not None else {}),
            "warnings": self.warnings,
        }


def _total(mixture: Mapping[str, float], leaves: list[str]) -> float:
    """The total weight of ``leaves`` in ``mixture``."""
    return float(sum(mixture[leaf] for leaf in leaves))


def _json_label(label: Any) -> Any:
    """A run's index label as a JSON scalar (numpy ints become ints, others strings)."""
    if isinstance(label, np.generic):
        label = label.item()
    return label if isinstance(label, (str, int, float)) else str(label)


def baseline_mixtures(constraints: Constraints, X: np.ndarray,
                      y: np.ndarray) -> dict[str, np.ndarray]:
    """Uniform and token-proportional (moved into the bounds), and the best run's mixture."""
    k = len(constraints.domains)
    return {
        "uniform": constraints.project(np.full(k, 1.0 / k)),
        "token_proportional": constraints.project(constraints.prior),
        "best_observed": X[int(np.argmin(y))],  # as run, even where it breaks a bound
    }


def _baselines(
    fitted: FitResult,
    constraints: Constraints,
    X: np.ndarray,
    y: np.ndarray,
    labels: pd.Index,
    proposed: float,
) -> dict[str, Baseline]:
    """Uniform and token-proportional mixtures (moved into the bounds) and the best run.

    Each gets its predicted loss and uncertainty, and how much worse than the proposal
    it is predicted to be; with a measured noise floor, whether that gap is larger than
    run-to-run noise.
    """
    mixtures = baseline_mixtures(constraints, X, y)
    best = int(np.argmin(y))
    mean, std = fitted.predict(np.vstack(list(mixtures.values())))
    floor = min_meaningful_difference(fitted.noise) if fitted.noise else None
    out = {}
    for (name, w), m, s in zip(mixtures.items(), mean, std):
        gap = float(m - proposed)
        out[name] = Baseline(named_weights(fitted.domains, w), float(m), float(s), gap,
                             gap_above_noise=None if floor is None else bool(gap > floor))
    out["best_observed"] = dataclasses.replace(out["best_observed"],
                                               observed_target_loss=float(y[best]),
                                               run=_json_label(labels[best]))
    return out


def propose_mixture(
    mixtures: pd.DataFrame,
    target_loss: pd.Series | np.ndarray,
    *,
    prior: Mapping[str, float] | None = None,
    fit_config: FitConfig | None = None,
    search: SearchConfig | None = None,
    available_tokens: Mapping[str, float] | None = None,
    where: str = "search",
    fitted: FitResult | None = None,
    target: str = "objective",
    groups: Mapping[str, list[str]] | None = None,
) -> Proposal:
    """Fit the runs and propose the mixture predicted to minimise the target loss.

    Parameters
    ----------
    mixtures : DataFrame of shape (n, k)
        One column per domain, one row per run; the index labels identify the runs.
    target_loss : Series or array of shape (n,)
        Target loss of each run (a Series is aligned by index).
    prior : dict of str to float, optional
        Token prior per domain: centre of the simulated candidates, the pull of
        ``kl_weight`` and the ``token_proportional`` baseline. Default: from the token
        counts, else uniform (see :func:`raymix.mixtures.build_constraints`).
    fit_config : FitConfig, optional
        Regressors, folds, seed and ensemble setting.
    search : SearchConfig, optional
        Constraints and search method (defaults if omitted).
    available_tokens : dict of str to float, optional
        Tokens per domain (for the repetition cap of ``search.target_tokens``).
    where : str, default="search"
        How to name the constraint fields in errors (``constraints`` for a file).
    fitted : FitResult, optional
        A fit of these runs to reuse instead of fitting again.
    target : str, default="objective"
        What ``target_loss`` is, for the messages and ``proposal.json``.
    groups : dict of str to list of str, optional
        Group path -> its leaf domains (:attr:`SweepConfig.domain_groups`): the fit's
        tree regressors and GP also see the group totals, and ``proposal.json`` gains
        each group's total (``groups``).

    Returns
    -------
    Proposal
        ``.to_dict()`` is JSON-ready::

            {"target", "mixture": {domain: weight}, "predicted_target_loss", "predicted_std",
             "predicted_std_source": how predicted_std was obtained,
             "uncertainty": {"refits", "interval": [lo, hi] (90%, expected loss),
                             "run_interval": [lo, hi] (one run's measured loss),
                             "p_beats": {baseline: P(proposal predicted lower)},
                             "weights": {domain: [5%, 95%] of the refits' optima},
                             "mean_distance", ...} or None,
             "baselines": {"uniform" | "token_proportional" | "best_observed":
                           {"mixture", "predicted_target_loss", "predicted_std",
                            "predicted_gap_to_proposal", "gap_above_noise",
                            + "observed_target_loss", "run" for best_observed}},
             "nearest_run": {"run", "distance": total variation to the proposal},
             "regressor": {"name", "cv_spearman", "cv_pearson", "cv_mae", "cv_r2", "cv_rmse"},
             "regressors": {name: {cv metrics}}, "noise_floor": {...} or None,
             "n_runs": int,
             "groups": {group: {"domains": [leaf, ...], "total": float,
                                "baselines": {baseline: float}}} (only with groups),
             "constraints": {"lower", "upper", ..., "binding": [{domain, bound, ...}]},
             "search": {"method", "objective", ...},
             "warnings": [str, ...]}
    """
    fit_config = fit_config or FitConfig()
    search = search or SearchConfig()
    if not isinstance(mixtures, pd.DataFrame):
        raise UserError("must be a table with one named column per domain", field="mixtures")
    constraints = constraints_for(mixtures, search, available_tokens=available_tokens,
                                  prior=prior, where=where, groups=groups)
    groups = groups or (constraints.groups if constraints.phases else None)
    y = aligned_target(mixtures, target_loss)
    if fitted is None:
        fitted = fit_regressor(mixtures, y, fit_config.regressors, fit_config.cv_folds,
                               fit_config.seed, fit_config.ensemble, groups=groups)
    X = mixtures.to_numpy(dtype=float)
    result = search_mixture(fitted.estimator, constraints, search, runs=(X, y))
    mean, std = fitted.predict(result.mixture[None, :])
    uncertainty = None
    if search.uncertainty:
        uncertainty = bootstrap_uncertainty(
            fitted, constraints, search, X, y, result.mixture,
            baseline_mixtures(constraints, X, y), method=result.method,
            refits=search.bootstrap, field_name=f"{where}.bootstrap")
    proposal = Proposal(
        fit=fitted, constraints=constraints, search=result,
        predicted_target_loss=float(mean[0]), predicted_std=float(std[0]),
        baselines=_baselines(fitted, constraints, X, y, mixtures.index, float(mean[0])),
        nearest_run=_nearest_run(result.mixture, X, mixtures.index), target=target,
        uncertainty=uncertainty)
    proposal.warnings = fit_warnings(proposal)
    return proposal


def constraints_for(mixtures: pd.DataFrame, search: SearchConfig, *,
                    available_tokens: Mapping[str, float] | None = None,
                    prior: Mapping[str, float] | None = None, where: str = "search",
                    groups: Mapping[str, list[str]] | None = None) -> Constraints:
    """The search's constraints for runs of ``mixtures``' columns: plain domains, or a
    schedule's slots (:func:`raymix.mixtures.schedule_phases`), whose bounds are on each
    domain's total over the run (``groups`` are then the fit's, not the constraints')."""
    columns = [str(c) for c in mixtures.columns]
    schedule = schedule_phases(columns, mixtures.to_numpy(dtype=float))
    if schedule is None:
        return build_constraints(columns, search, available_tokens=available_tokens,
                                 prior=prior, where=where, groups=groups)
    domains, shares = schedule
    return build_constraints(domains, search, available_tokens=available_tokens, prior=prior,
                             where=where, phases=shares)


def confirmed_proposal(proposal: Proposal, mixtures: pd.DataFrame, target_loss: np.ndarray,
                       weights: np.ndarray, confirmation: ConfirmationVerdict) -> Proposal:
    """``proposal`` with the confirmation round's winner ``weights`` as the proposed mixture.

    The predictions, the baselines' gaps, the nearest run and the warnings are those of
    the winner; ``confirmation`` (the round's verdict) is kept with it.
    """
    weights = proposal.constraints.project(np.asarray(weights, dtype=float))
    mean, std = proposal.fit.predict(weights[None, :])
    X, y = mixtures.to_numpy(dtype=float), np.asarray(target_loss, dtype=float)
    uncertainty = proposal.uncertainty
    if uncertainty is not None:  # the same refits, judged at the winner
        uncertainty = uncertainty.moved_to(weights, float(mean[0]),
                                           baseline_mixtures(proposal.constraints, X, y))
    confirmed = dataclasses.replace(
        proposal, confirmed_weights=weights, confirmation=confirmation,
        predicted_target_loss=float(mean[0]), predicted_std=float(std[0]),
        baselines=_baselines(proposal.fit, proposal.constraints, X, y, mixtures.index,
                             float(mean[0])),
        nearest_run=_nearest_run(weights, X, mixtures.index), uncertainty=uncertainty)
    confirmed.warnings = [w for w in proposal.warnings if w not in fit_warnings(proposal)] \
        + fit_warnings(confirmed)
    return confirmed


def _nearest_run(mixture: np.ndarray, X: np.ndarray, labels: pd.Index) -> dict[str, Any]:
    """The run closest to ``mixture`` in total variation (half the L1 distance)."""
    distances = 0.5 * np.abs(X - mixture).sum(axis=1)
    i = int(np.argmin(distances))
    return {"run": _json_label(labels[i]), "distance": float(distances[i])}


def fit_warnings(proposal: Proposal) -> list[str]:
    """Plain-language reasons not to trust a proposal (empty when there are none)."""
    warnings = []
    spearman = proposal.fit.chosen.metrics()["cv_spearman"]
    if spearman is None or spearman < TRUSTED_SPEARMAN:
        warnings.append(
            f"the regressor ranks held-out runs poorly (CV Spearman "
            f"{format_number(spearman, 3)}); do not trust "
            "this proposal: run more mixtures (mixtures.count) or train the proxies longer")
    if proposal.confirmation is not None:  # measured: neither extrapolated nor missed
        return warnings + _confirmation_warnings(proposal.confirmation)
    nearest = proposal.nearest_run
    if nearest and nearest["distance"] > FAR_FROM_RUNS:
        warnings.append(
            f"the proposal lies far from every run: {nearest['distance']:.0%} of its weight "
            f"would have to move to reach the nearest ({nearest['run']}), so the regressor "
            "extrapolates there; check it with 'raymix validate', or propose with a GP's "
            "upper confidence bound (fit.regressors: [gp], search.method: pessimistic)")
    best = proposal.baselines["best_observed"]
    gap = best.predicted_gap_to_proposal
    box = proposal.constraints
    weights = np.array([best.mixture[d] for d in box.domains])
    inside = bool(box.within_bounds(weights, BOX_TOLERANCE))
    boot = proposal.uncertainty
    p_best = None if boot is None else boot.p_beats["best_observed"]
    odds = ("" if boot is None else f" (P(proposal beats it) {p_best:.2f} over {boot.refits} "
            "bootstrap refits)")
    if gap < 0 and inside:
        warnings.append(
            f"the best observed run ({best.run}) meets the constraints and is predicted "
            f"{format_number(-gap)} better than the proposal{odds}: the search missed it; try "
            "search.method exact or cmaes, or more search.draws")
    elif gap < 0:
        pass  # the best run breaks a bound the proposal must keep: nothing to warn about
    elif p_best is not None and p_best < 0.5:
        warnings.append(
            f"the proposal is predicted {format_number(gap)} better than the best observed run "
            f"({best.run}), but only {p_best:.0%} of {boot.refits} bootstrap refits of the "
            "regressor agree: the runs do not single it out; check both in a confirmation "
            "round (confirm:) or run more mixtures")
    elif best.gap_above_noise is False:
        warnings.append(
            f"the proposal is predicted to beat the best observed run by {format_number(gap)}, "
            f"less than the run-to-run noise "
            f"({format_number(min_meaningful_difference(proposal.fit.noise))}): "
            "the two are not distinguishable")
    return warnings


def _confirmation_warnings(verdict: ConfirmationVerdict) -> list[str]:
    """When the confirmation round's winner is not clearly better than the runner-up, and
    when a run the sweep trained measured better than the fit's own proposal."""
    warnings = []
    noise = verdict.noise_std
    if verdict.margin_beyond_noise is False:
        warnings.append(
            f"the confirmation round's winner, the {verdict.label(verdict.winner)}, "
            f"measured {format_number(verdict.margin)} better than the "
            f"{verdict.label(verdict.runner_up)}, within the seed "
            f"noise (std {format_number(noise)} per run): the two are not "
            "distinguishable; either is a sound choice (more confirm.seeds would tell)")
    measured = verdict.measured_candidates()
    fit = [n for n, r in measured.items() if r.source == "fit" and n.endswith("proposal")]
    observed = [n for n, r in measured.items() if r.source == "observed"]
    if fit and observed:
        ours = min(fit, key=lambda n: measured[n].measured)
        theirs = min(observed, key=lambda n: measured[n].measured)
        gap = measured[ours].measured - measured[theirs].measured
        se = (gap_se(noise, len(measured[ours].measured_losses),
                     len(measured[theirs].measured_losses)) if noise else None)
        if gap > 0 and (se is None or gap > NOISE_SIGMAS * se):
            warnings.append(
                f"the confirmation round measured the {verdict.label(theirs)} "
                f"{format_number(gap)} better than the fit's optimum, beyond the seed "
                "noise: the regressor's optimum did not hold up when trained again")
        elif gap > 0:
            warnings.append(
                f"the confirmation round measured the {verdict.label(theirs)} "
                f"{format_number(gap)} better than the fit's optimum, within the seed "
                f"noise (std {format_number(noise)} per run)")
    return warnings
