"""What a report shows, computed once for every format it is written in.

:func:`report_contents` gathers a fit, its proposal and the sweep's extras into a
:class:`ReportContents`: the cross-validated predictions, the sensitivity of the
predicted loss to each weight, the domain interaction matrix, the curves of the step
and size laws, the runs and a check at a larger scale. ``report.md``
(:mod:`~raymix.report.markdown`, PNG figures) and ``index.html``
(:mod:`~raymix.report.html`, Plotly figures) both draw from it, so the two never
disagree and nothing is computed twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from raymix.config.schema import split_slot
from raymix.errors import UserError
from raymix.formatting import format_number
from raymix.proposal.proposer import Baseline
from raymix.proposal.search import SearchResult
from raymix.proposal.validated import GapCheck, ValidationResult
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.regression import CVResult, FitResult, interaction_matrix

BASELINES = ("uniform", "token_proportional", "best_observed")
MAX_INTERACTION_ROWS = 24  # one law per validation metric; more rows are unreadable anyway
SENSITIVITY_POINTS = 41
MAX_MIXTURES = 6  # scaling-law curves per panel; more lines are unreadable
MAX_PANELS = 4  # model sizes shown of the step laws
CURVE_POINTS = 100
MAX_TRAINING_CURVES = 200  # runs drawn in the training-curves figure; more are sampled
AXIS_MARGIN = 0.05  # of the span, above and below what an axis shows
BASE_SCALE, CONFIRM_SCALE = "base", "confirm"  # raymix.config's names of the two sizes
# a confirmation run's id: confirm<round>-<candidate>-<digest>-s<seed index>
CONFIRM_RUN = re.compile(r"^confirm\d+-(?P<candidate>.+)-[0-9a-f]{6}-s\d+$")


@dataclass
class Sensitivity:
    """Predicted loss as each domain's weight moves away from the proposal.

    ``curves[i]`` is the prediction along ``grid`` for ``domains[i]`` (the others
    rescaled, see :func:`sensitivity_curves`); ``slopes[i]`` its derivative at the
    proposed weight ``mixture[i]``; ``upper[i]`` the domain's upper bound.
    """

    domains: list[str]
    mixture: np.ndarray
    upper: np.ndarray
    predicted: float
    grid: np.ndarray
    curves: np.ndarray
    slopes: np.ndarray


@dataclass
class CurveLine:
    """One mixture's curve of a scaling law: its points, the fitted law drawn over
    ``fit_x``, and its value at the target scale (``target``, or None)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    fit_x: np.ndarray | None
    fit_y: np.ndarray | None
    target: tuple[float, float] | None


@dataclass
class ReportContents:
    """Everything a report shows (see :func:`report_contents`)."""

    target: str
    fitted: FitResult
    target_loss: np.ndarray
    run_ids: list[str]
    quality: dict[str, Any]
    proposal: dict[str, Any] | None = None
    baselines: dict[str, Baseline] = field(default_factory=dict)  # the proposal's, read
    confirmation: ConfirmationVerdict | None = None  # the proposal's confirmation round
    search: SearchResult | None = None  # what the proposal's search found, and how
    sensitivity: Sensitivity | None = None
    interactions: pd.DataFrame | None = None
    scaling: Any = None  # NestedScalingLaw or JointScalingLaw
    runs: pd.DataFrame | None = None
    validation: ValidationResult | None = None
    mixtures: pd.DataFrame | None = None  # the fitted runs' weights, indexed by run id
    curves: pd.DataFrame | None = None  # see training_curves

    @property
    def ordered(self) -> list[CVResult]:
        """Every regressor's cross-validation, the chosen one first."""
        return sorted(self.fitted.results, key=lambda r: r.name != self.fitted.chosen.name)

    @property
    def noise_std(self) -> float | None:
        return self.fitted.noise.std if self.fitted.noise else None


def report_contents(fitted: FitResult, target_loss, *, target: str = "target",
                    mixtures: pd.DataFrame | None = None, metrics: pd.DataFrame | None = None,
                    proposal: dict[str, Any] | None = None, scaling=None,
                    runs: pd.DataFrame | None = None,
                    validation: ValidationResult | None = None,
                    curves: pd.DataFrame | None = None) -> ReportContents:
    """Compute what a report shows (the arguments of :func:`raymix.report.write_report`)."""
    y = np.asarray(target_loss, dtype=float)
    run_ids = ([str(i) for i in mixtures.index] if mixtures is not None and len(mixtures) == len(y)
               else [f"#{i}" for i in range(len(y))])
    contents = ReportContents(target=target, fitted=fitted, target_loss=y, run_ids=run_ids,
                              quality=fitted.quality(), proposal=proposal, scaling=scaling,
                              runs=runs, validation=validation, curves=curves,
                              mixtures=mixtures if mixtures is not None
                              and len(mixtures) == len(y) else None)
    if proposal is not None:
        contents.sensitivity = proposal_sensitivity(fitted, proposal)
        contents.baselines = {name: Baseline.from_dict(base)
                              for name, base in proposal["baselines"].items()}
        contents.search = SearchResult.from_dict(proposal["search"])
        if proposal.get("confirmation"):
            contents.confirmation = ConfirmationVerdict.from_dict(proposal["confirmation"])
    if mixtures is not None and metrics is not None:
        contents.interactions = interaction_table(mixtures, metrics)
    return contents


# ----------------------------------------------------------------------------- the proposal


def sensitivity_curves(predict, mixture: np.ndarray, phase: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Predicted loss as each domain's weight sweeps 0..1, the others rescaled.

    Returns the grid of weights (points,) and the predictions (domains, points). Moving
    domain i to weight ``v`` scales every other weight by ``(1 - v) / (1 - w_i)``, which
    keeps their proportions, as a person adjusting one knob of the proposal would.

    For a schedule, ``phase`` gives each slot's phase: a slot then sweeps its phase's own
    mixture (``v`` is its share of the phase), the phase's other slots rescaled and the
    other phases kept, so every point keeps the phases' lengths.
    """
    grid = np.linspace(0.0, 1.0, SENSITIVITY_POINTS)
    phase = np.zeros(len(mixture), dtype=int) if phase is None else np.asarray(phase)
    curves = np.empty((len(mixture), len(grid)))
    for i in range(len(mixture)):
        block = np.flatnonzero(phase == phase[i])
        share = mixture[block].sum() if len(block) < len(mixture) else 1.0
        others = block[block != i]
        rest = mixture[others]
        rest = rest / rest.sum() if rest.sum() > 0 else np.full(len(rest), 1 / len(rest))
        rows = np.tile(mixture, (len(grid), 1))
        rows[:, others] = share * np.outer(1 - grid, rest)
        rows[:, i] = share * grid
        curves[i] = predict(rows)
    return grid, curves


def local_slopes(grid: np.ndarray, curves: np.ndarray, mixture: np.ndarray) -> np.ndarray:
    """d(predicted loss)/d(weight) of each domain at the proposal, along its curve."""
    return np.array([np.interp(w, grid, np.gradient(c, grid)) for w, c in zip(mixture, curves)])


def proposal_sensitivity(fitted: FitResult, proposal: dict[str, Any]) -> Sensitivity:
    """The sensitivity curves and local slopes around ``proposal`` (``Proposal.to_dict()``);
    for a schedule, each slot's weight within its phase's own mixture."""
    domains = list(fitted.domains)
    mixture = np.array([proposal["mixture"][d] for d in domains])
    upper = np.array([proposal["constraints"]["upper"][d] for d in domains])
    shares = proposal["constraints"].get("phases")
    phase = np.array([split_slot(d)[1] for d in domains]) if shares else None
    grid, curves = sensitivity_curves(lambda w: fitted.predict(w)[0], mixture, phase)
    if shares:  # positions and bounds within each phase's own mixture
        share = np.array([shares[p - 1] for p in phase])
        mixture, upper = mixture / share, np.minimum(upper / share, 1.0)
    return Sensitivity(domains=domains, mixture=mixture, upper=upper,
                       predicted=float(proposal["predicted_target_loss"]), grid=grid,
                       curves=curves, slopes=local_slopes(grid, curves, mixture))


# ----------------------------------------------------------------------------- the runs


def interaction_table(mixtures: pd.DataFrame, metrics: pd.DataFrame,
                      seed: int = 0) -> pd.DataFrame | None:
    """``t_ij`` of the mixing law fitted to each metric column (rows) over domains (columns).

    None when there are too few runs to fit a law per metric.
    """
    metrics = metrics.loc[:, metrics.notna().all()].iloc[:, :MAX_INTERACTION_ROWS]
    if metrics.empty:
        return None
    try:
        t, _, _ = interaction_matrix(mixtures.to_numpy(float), metrics.to_numpy(float), seed=seed)
    except UserError:
        return None
    return pd.DataFrame(t, index=[str(c) for c in metrics.columns], columns=mixtures.columns)


def axis_range(values, margin: float = AXIS_MARGIN) -> list[float] | None:
    """``[low, high]`` of the finite ``values``, widened by ``margin`` of their span (None
    when there are none): an axis set to it shows what matters, and a line beyond it is
    drawn clipped instead of stretching the axis."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    pad = margin * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.01
    return [lo - pad, hi + pad]


def prediction_range(actual, predicted) -> list[float] | None:
    """The predicted-loss axis of a cross-validation panel: the actual losses' span and
    every prediction whose error is typical (within 6 median absolute deviations of the
    median error, so a biased regressor still shows all its points). A wild out-of-fold
    prediction (a law extrapolating to 300 nats) would otherwise squash the others into a
    line; it is drawn at the axis's edge instead (:func:`clamped`)."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    error = p - a
    finite = np.isfinite(error)
    if not finite.any():
        return axis_range(a)
    centre = np.median(error[finite])
    spread = np.median(np.abs(error[finite] - centre))
    typical = finite & (np.abs(error - centre) <= 6 * spread + 1e-9)
    return axis_range(np.append(a, p[typical]))


def clamped(values, bounds: list[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """``values`` held within ``bounds`` (a point beyond an axis drawn at its edge), and
    which of them were moved."""
    v = np.asarray(values, dtype=float)
    if bounds is None:
        return v, np.zeros(v.shape, dtype=bool)
    inside = np.clip(v, bounds[0], bounds[1])
    return inside, inside != v


def sensitivity_range(s: Sensitivity) -> list[float]:
    """The loss axis of the sensitivity figure: the curves within their domains' bounds
    and the proposal (the parts above a bound may run far beyond; they are clipped)."""
    inside = s.grid[None, :] <= s.upper[:, None] + 1e-12
    return axis_range(np.append(s.curves[inside], s.predicted))


def training_curves(records: Iterable) -> pd.DataFrame:
    """Each finished run's target loss at each evaluation: columns ``run``, ``scale``,
    ``tokens``, ``loss`` (long format, one row per evaluation) from stored
    :class:`~raymix.runs.RunRecord` s."""
    rows = [(r.run_id, r.scale, ev.tokens, ev.target_loss)
            for r in records if r.ok for ev in r.evaluations]
    return pd.DataFrame(rows, columns=["run", "scale", "tokens", "loss"])


def scale_label(scale: str) -> str:
    """A size of a sweep, in words: which runs trained at it."""
    if scale == BASE_SCALE:
        return "proxies"
    if scale == CONFIRM_SCALE:
        return "confirmation round (a larger scale)"
    return f"proxies at size {scale!r}"


def scale_order(scales: Iterable[str]) -> list[str]:
    """The sizes of a sweep as a report lists them: the proxies', the other proxy sizes
    in the order met, the confirmation round's last."""
    seen = list(dict.fromkeys(str(s) for s in scales))
    return sorted(seen, key=lambda s: (s == CONFIRM_SCALE, s != BASE_SCALE))


def run_roles(contents: ReportContents, run_ids: Iterable[str]) -> dict[str, str]:
    """The runs a figure of every run singles out, by run id, with their label: the
    proposal's best observed run, and a confirmation round's candidates (the winner's
    runs: ``proposed``), matched by their id (:data:`CONFIRM_RUN`)."""
    if contents.proposal is None:
        return {}
    verdict = contents.confirmation
    candidates = verdict.candidates if verdict is not None else {}
    roles = {}
    best = contents.baselines["best_observed"].run
    for run in map(str, run_ids):
        match = CONFIRM_RUN.match(run)
        name = match["candidate"] if match else None
        if name in candidates:
            roles[run] = "proposed" if name == verdict.winner else verdict.label(name)
        elif best is not None and run == str(best):
            roles[run] = "best observed run"
    return roles


def headline_warnings(contents: ReportContents) -> list[str]:
    """The one-line warnings a reader must see first: the proposal's (a poor fit, the best
    observed run beating the proposal, a confirmation won within the noise...), each
    objective's, and a check at a larger scale the proposal lost."""
    warnings = list((contents.proposal or {}).get("warnings", []))
    objectives = (contents.proposal or {}).get("objectives") or {}
    warnings += list(objectives.get("warnings", []))
    gaps = contents.validation.proposal_vs if contents.validation is not None else {}
    for name, gap in gaps.items():
        if gap.proposal_lost:
            warnings.append(f"at the larger scale of 'raymix validate' the proposal loses to "
                            f"{name} beyond the noise (measured gap {gap.measured_gap:+.4f})")
    return list(dict.fromkeys(warnings))


# ----------------------------------------------------------------------------- scaling laws


def scaling_title(stages) -> str:
    """The report's heading for the laws behind ``stages`` (``law.stages_``)."""
    return "Joint scaling law" if "shared" in stages else "Nested scaling laws"


def shown_mixtures(law, limit: int) -> list:
    """The best and worst predicted mixtures and a few between them."""
    order = law.predicted_.sort_values().index
    picks = np.unique(np.linspace(0, len(order) - 1, min(limit, len(order))).round().astype(int))
    return [order[i] for i in picks]


def curve_line(curve, label: str, x_end: float | None) -> CurveLine:
    """The points, the fitted law up to ``x_end`` and the target point of one curve."""
    fit_x = fit_y = None
    if curve.law is not None:
        hi = max(curve.x.max(), x_end or 0.0)
        fit_x = np.geomspace(curve.x.min(), hi, CURVE_POINTS)
        fit_y = curve.predict(fit_x)
    target = None
    if curve.target_x is not None and curve.target_y is not None:
        target = (float(curve.target_x), float(curve.target_y))
    return CurveLine(label, np.asarray(curve.x), np.asarray(curve.y), fit_x, fit_y, target)


def step_panels(law, max_mixtures: int = MAX_MIXTURES) -> list[tuple[float, list[CurveLine]]]:
    """Per model size (the largest :data:`MAX_PANELS`), the step laws of a few mixtures."""
    mixtures = shown_mixtures(law, max_mixtures)
    sizes = sorted({params for _, params in law.curves_["step"]})[-MAX_PANELS:]
    panels = []
    for params in sizes:
        lines = [curve_line(law.curves_["step"][(m, params)], str(m), law.at_.tokens)
                 for m in mixtures if (m, params) in law.curves_["step"]]
        panels.append((params, lines))
    return panels


def size_lines(law, max_mixtures: int = MAX_MIXTURES) -> list[CurveLine]:
    """The size laws of a few mixtures (none when every mixture ran at the target size)."""
    size_curves = law.curves_["size"]
    shown = [m for m in shown_mixtures(law, len(law.predicted_)) if m in size_curves]
    return [curve_line(size_curves[m], str(m), law.at_.params) for m in shown[:max_mixtures]]


@dataclass
class BaselineRow:
    """A baseline as the reports list it next to the proposal."""

    name: str
    run: str | None  # the run it is (best_observed)
    predicted: float
    std: float
    gap: float  # predicted gap to the proposal
    noise: str  # " (above noise)", " (within noise)" or ""
    seen: float | None  # the loss it measured (observed, or extrapolated at a target scale)


def baseline_rows(baselines: dict[str, Baseline]) -> list[BaselineRow]:
    """The proposal's baselines, in :data:`BASELINES` order."""
    rows = []
    for name in BASELINES:
        base = baselines[name]
        rows.append(BaselineRow(
            name=name, run=base.run, predicted=base.predicted_target_loss,
            std=base.predicted_std, gap=base.predicted_gap_to_proposal,
            noise={True: " (above noise)", False: " (within noise)"}.get(
                base.gap_above_noise, ""),
            seen=base.observed_target_loss))
    return rows


def bound_at(binding: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The bounds a proposal sits at (``constraints.binding``) by name, of one ``kind``:
    ``domain`` (a leaf's bound) or ``group`` (a group total's)."""
    return {b[kind]: b for b in binding if kind in b}


@dataclass
class GroupRow:
    """A group of domains as the reports list it: its total weight in each mixture."""

    name: str
    domains: list[str]
    proposed: float
    baselines: list[float]  # in BASELINES order
    lower: float
    upper: float
    binding: dict[str, Any] | None  # the group bound the proposal sits at, if any

    @property
    def bounded(self) -> bool:
        return self.lower > 0 or self.upper < 1


def group_rows(proposal: dict[str, Any]) -> list[GroupRow]:
    """The proposal's groups (``proposal.json``'s ``groups``) with their bounds; empty
    when the domains form no groups."""
    constraints = proposal["constraints"]
    lower, upper = constraints.get("group_lower", {}), constraints.get("group_upper", {})
    binding = bound_at(constraints["binding"], "group")
    return [GroupRow(name=group, domains=list(entry["domains"]), proposed=entry["total"],
                     baselines=[entry["baselines"][b] for b in BASELINES],
                     lower=lower.get(group, 0.0), upper=upper.get(group, 1.0),
                     binding=binding.get(group))
            for group, entry in (proposal.get("groups") or {}).items()]


def schedule_table(proposal: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A schedule's phases side by side (``proposal.json``'s ``schedule``): the header
    and a row per domain, its weight in each phase's own mixture; empty for one mixture."""
    schedule = proposal.get("schedule") or []
    if not schedule:
        return [], []
    header = ["domain", *(f"phase {p['phase']} ({p['share']:.0%} of steps)" for p in schedule)]
    return header, [[d, *(p["mixture"][d] for p in schedule)] for d in schedule[0]["mixture"]]


def std_source(proposal: dict[str, Any]) -> str:
    """How the proposal's ``predicted_std`` was obtained (``uncertainty`` held it before the
    bootstrap took that key: a stored ``proposal.json`` may still say it there)."""
    old = proposal.get("uncertainty")
    return proposal.get("predicted_std_source") or (old if isinstance(old, str) else "")


def uncertainty_sentences(proposal: dict[str, Any]) -> list[str]:
    """The bootstrap's interval, P(beats each baseline) and weight spread, in words (none
    when the proposal has no bootstrap)."""
    u = proposal.get("uncertainty")
    if not isinstance(u, dict):
        return []
    (lo, hi), (run_lo, run_hi) = u["interval"], u["run_interval"]
    beats = ", ".join(f"{name} {p:.2f}" for name, p in u["p_beats"].items())
    spread = ", ".join(f"{d} {format_number(a, 3)}–{format_number(b, 3)}"
                       for d, (a, b) in u["weights"].items())
    sentences = [
        f"Bootstrap: {u['refits']} refits of {u['regressor']} on runs resampled with "
        f"replacement. {u['level']:.0%} interval of the predicted loss "
        f"{format_number(lo)} to {format_number(hi)}; of one run's measured loss "
        f"{format_number(run_lo)} to {format_number(run_hi)} (run noise "
        f"{format_number(u['run_noise'])}: {u['run_noise_source']}).",
        f"P(the proposal beats), the share of refits that predict it lower: {beats}.",
        f"Each refit's optimum ({u['search']['method']}, a smaller search), "
        f"{(1 - u['level']) / 2:.0%}–{(1 + u['level']) / 2:.0%} of each weight: {spread}; "
        f"on average {u['mean_distance']:.0%} of the weight (total variation) away from "
        "the proposal."]
    return sentences + ([u["note"]] if u.get("note") else [])


def weight_series(contents: ReportContents, domains: Sequence[str]) -> dict[str, list[float]]:
    """The proposed weights and each baseline's, per domain: what the weights figures draw."""
    series = {"proposed": contents.proposal["mixture"]}
    series.update({name: contents.baselines[name].mixture for name in BASELINES})
    return {name: [float(mixture.get(d, 0.0)) for d in domains]
            for name, mixture in series.items()}


# ----------------------------------------------------------------------------- checks, in words


def gap_verdict(gap: GapCheck) -> str:
    """A check at a larger scale: whether the proposal beat one other mixture, in words."""
    if gap.significant is None:
        return ("cannot tell: one seed each and no noise floor (set validate.seeds to 2 "
                "or more, or repeat mixtures in the sweep: mixtures.repeats)")
    if not gap.significant:
        return f"neither wins: the gap is within the noise ({gap.noise_from})"
    return (f"the proposal {'beats it' if gap.proposal_better else 'loses to it'} "
            f"(beyond the noise: {gap.noise_from})")


def confirmation_scale(verdict: ConfirmationVerdict) -> str:
    """Where a confirmation round trained its candidates, in words."""
    if not verdict.at_larger_scale:
        return "the proxies' scale"
    scale = verdict.scale
    return f"a larger scale ({scale['steps']} steps, model {scale['model']['hidden']} wide)"


# ----------------------------------------------------------------------------- a stored proposal


def proposal_problem(proposal: Any, domains: Sequence[str]) -> str | None:
    """What keeps a stored proposal (``proposal.json``) from being shown, or None.

    The fields every report reads, with their types: the mixture, the constraints' bounds
    and each baseline's mixture (a finite weight in [0, 1] for each of ``domains``), the
    predicted loss (a finite number) and its spread (a number or null). A file cut short,
    edited by hand or of another shape is named by the caller, not met as a traceback
    halfway through writing the report.
    """
    if not isinstance(proposal, dict):
        return "not a JSON object"
    for key in ("mixture", "constraints", "baselines", "search"):
        if not isinstance(proposal.get(key), dict):
            return f"its {key!r} is missing or not a mapping"
    if not _finite(proposal.get("predicted_target_loss")):
        return (f"its predicted_target_loss is {_shown(proposal.get('predicted_target_loss'))}, "
                "not a number")
    if proposal.get("predicted_std") is not None and not _finite(proposal["predicted_std"]):
        return f"its predicted_std is {_shown(proposal['predicted_std'])}, not a number"
    weights = {"mixture": proposal["mixture"],
               **{f"constraints.{b}": proposal["constraints"].get(b) for b in ("lower", "upper")}}
    for name in BASELINES:
        base = proposal["baselines"].get(name)
        if not isinstance(base, dict):
            return f"its baseline {name!r} is missing or not a mapping"
        weights[f"baselines.{name}.mixture"] = base.get("mixture")
    for where, mixture in weights.items():
        if not isinstance(mixture, dict):
            return f"its {where} is missing or not a mapping"
        for d in domains:
            if not _finite(mixture.get(d)) or not 0 <= mixture[d] <= 1:
                return (f"its {where} gives domain {d!r} the weight {_shown(mixture.get(d))}, "
                        "not a number in [0, 1]")
    return None


def _finite(value: Any) -> bool:
    """A finite int or float (JSON's true and false are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        bool(np.isfinite(value))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."
