"""One proposal per objective, and what each proposal costs on the other objectives.

With several targets (validation domains, tasks, task families) one mixture rarely serves
all of them best. Olmix (AI2, 2026; allenai/olmix) proposes a mixture per target and
shows the trade-off; so does :func:`propose_objectives`:

1. an *objective* is a name and weights over metric columns (each domain's validation
   loss ``code_loss``, a task's bits per byte ``task:arc_loss``, or their weighted
   average, the usual target); the weights are normalised to sum to 1, so an objective
   keeps the scale of a loss, as :func:`raymix.runs.parse_targets` does for ``--target``;
2. each objective is fitted (:func:`raymix.regression.fit_regressor`) and searched under
   the same constraints (:func:`raymix.proposal.propose_mixture`);
3. every proposed mixture is predicted by every objective's fit: the trade-off matrix
   :class:`TradeOff` (row: the mixture proposed for objective ``i``; column: objective
   ``j``; cell: its predicted loss on ``j``, and its excess over ``j``'s own proposal).

The cost is bounded: the regressors are cross-validated and chosen once, on the
objective with the most columns (the average), and every other objective's fit
cross-validates only that choice (its members, for an ensemble); at most
:data:`MAX_OBJECTIVES` objectives are accepted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from raymix.config import FitConfig, SearchConfig
from raymix.errors import UserError
from raymix.formatting import format_number
from raymix.proposal.proposer import Proposal, propose_mixture
from raymix.regression import Ensemble, FitResult, fit_regressor
from raymix.runs import loss_column
from raymix.runs.tables import preview

MAX_OBJECTIVES = 32  # each is a fit and a search: RegMix's 13 metrics + average take ~1 min
AVERAGE = "average"  # the name of the weighted average of the default objectives
OBJECTIVES_FILE = "objectives.json"  # beside proposal.json
MISSED_TOLERANCE = 1e-6  # relative: a row beating a column's own proposal by more is reported

ObjectiveSpec = Mapping[str, Mapping[str, float]]  # name -> {metric column: weight}


@dataclass(frozen=True)
class Objective:
    """A loss to minimise: weights over metric columns, summing to 1.

    Attributes
    ----------
    name : str
    weights : dict of str to float
        Metric column -> weight (> 0); the weights sum to 1.
    """

    name: str
    weights: dict[str, float]

    def values(self, metrics: pd.DataFrame) -> pd.Series:
        """The objective of each run: the weighted sum of its columns of ``metrics``."""
        return sum(metrics[column] * w for column, w in self.weights.items())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weights": dict(self.weights)}


def metric_name(column: str) -> str:
    """A metrics column as an objective's name: ``code_loss`` -> ``code``."""
    return column.removesuffix(loss_column(""))


def default_objectives(weights: Mapping[str, float], *, average: str = AVERAGE,
                       field: str = "objectives") -> dict[str, dict[str, float]]:
    """Each column of a weighted target alone, and their weighted average (``average``).

    Parameters
    ----------
    weights : dict of str to float
        The target's metric columns and weights (``target.domains`` or ``target.tasks``
        as columns, or the ``--target`` specs).
    average : str, default="average"
        The name of the weighted average; a column of that name keeps its own name and
        the average is called ``weighted <average>``.
    field : str
        What an error names.

    Returns
    -------
    dict
        ``{name: {column: weight}}``, one entry per column with a weight > 0, then the
        average. Fewer than 2 such columns is a :class:`~raymix.errors.UserError`: there
        is nothing to trade off.
    """
    columns = [c for c, w in weights.items() if w > 0]
    if len(columns) < 2:
        raise UserError(f"the target has {len(columns)} metric column(s); a proposal per "
                        "objective needs 2 or more (target.domains or target.tasks), or "
                        "name the objectives", field=field)
    objectives = {metric_name(c): {c: 1.0} for c in columns}
    name = average if average not in objectives else f"weighted {average}"
    objectives[name] = {c: float(weights[c]) for c in columns}
    return objectives


def resolve_objectives(objectives: ObjectiveSpec, columns: Sequence[str], *,
                       field: str = "objectives") -> list[Objective]:
    """Objectives from ``{name: {column: weight}}``, checked against the metric columns.

    A column is its exact name or a metric's name without ``_loss`` (``code`` for
    ``code_loss``, ``task:arc`` for ``task:arc_loss``). Weights must be finite and
    >= 0, not all 0; they are normalised to sum to 1 and zeros are dropped. Every
    problem is a one-line :class:`~raymix.errors.UserError` naming ``<field>.<name>``,
    raised before any fit.
    """
    if not isinstance(objectives, Mapping) or not objectives:
        raise UserError("give at least one objective as {name: {metric: weight}}", field=field)
    if len(objectives) > MAX_OBJECTIVES:
        raise UserError(f"{len(objectives)} objectives; at most {MAX_OBJECTIVES} (each is a "
                        "fit and a search): group metrics into families", field=field)
    columns = [str(c) for c in columns]
    resolved = []
    for name, weights in objectives.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"objective names must be non-empty strings (got {name!r})",
                            field=field)
        if not isinstance(weights, Mapping) or not weights:
            raise UserError("give the objective's metric columns and weights, e.g. "
                            "{code: 1.0}", field=where)
        found: dict[str, float] = {}
        for column, weight in weights.items():
            found[_column(str(column), columns, where)] = _weight(column, weight, where)
        total = sum(found.values())
        if total <= 0:
            raise UserError("the weights must not all be 0", field=where)
        resolved.append(Objective(name, {c: w / total for c, w in found.items() if w > 0}))
    return resolved


def _column(column: str, columns: list[str], where: str) -> str:
    for candidate in (column, loss_column(column)):
        if candidate in columns:
            return candidate
    raise UserError(f"the runs' metrics have no column {column!r} (nor "
                    f"{loss_column(column)!r}); columns: {preview(columns, 8)}", field=where)


def _weight(column, weight, where: str) -> float:
    try:
        value = float(weight)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value < 0 or isinstance(weight, bool):
        raise UserError(f"the weight of {column!r} must be a number >= 0 (got {weight!r})",
                        field=where)
    return value


@dataclass
class TradeOff:
    """Every proposed mixture predicted on every objective.

    Attributes
    ----------
    objectives : list of str
        Row ``i`` is the mixture proposed for ``objectives[i]``; column ``j`` is
        ``objectives[j]``'s fit.
    predicted : ndarray of shape (m, m)
        ``predicted[i, j]``: objective ``j``'s predicted loss of the mixture proposed
        for objective ``i``.
    """

    objectives: list[str]
    predicted: np.ndarray

    @property
    def own(self) -> np.ndarray:
        """Each objective's predicted loss of its own proposal (the diagonal)."""
        return np.diag(self.predicted)

    @property
    def excess(self) -> np.ndarray:
        """How much worse each row's mixture is on each column than the column's own."""
        return self.predicted - self.own[None, :]

    @property
    def excess_percent(self) -> np.ndarray:
        return 100.0 * self.excess / np.abs(self.own)[None, :]

    def missed(self) -> list[tuple[str, str, float]]:
        """(row, column, excess) where another objective's mixture is predicted better on
        a column than the column's own proposal (its search missed it, or a pull of the
        prior, ``kl_weight``, traded loss for closeness)."""
        tol = MISSED_TOLERANCE * np.abs(self.own)[None, :]
        rows, cols = np.nonzero(self.excess < -tol)
        return [(self.objectives[i], self.objectives[j], float(self.excess[i, j]))
                for i, j in zip(rows, cols)]

    def to_dict(self) -> dict[str, Any]:
        """``{"objectives", "rows": {proposed for: {objective: {"predicted", "excess",
        "excess_percent"}}}}``."""
        rows = {}
        for i, row in enumerate(self.objectives):
            rows[row] = {col: {"predicted": float(self.predicted[i, j]),
                               "excess": float(self.excess[i, j]),
                               "excess_percent": float(self.excess_percent[i, j])}
                         for j, col in enumerate(self.objectives)}
        return {"objectives": list(self.objectives), "rows": rows}


@dataclass
class ObjectiveProposals:
    """One proposal per objective and their trade-off (``objectives.json``: ``to_dict()``).

    Attributes
    ----------
    objectives : list of Objective
    proposals : dict of str to Proposal
        By objective name; each ``.target`` is that name.
    tradeoff : TradeOff
    regressors : list of str
        The regressors each objective's fit cross-validated (chosen on ``chosen_on``).
    chosen_on : str
        The objective on which every regressor was cross-validated and the choice made.
    warnings : list of str
    files : dict of str to str
        What was written, where.
    usual : Proposal or None
        The usual proposal for the target, with its baselines and confirmation, when
        :func:`raymix.workflows.proposing.propose_per_objective` made it too.
    """

    objectives: list[Objective]
    proposals: dict[str, Proposal]
    tradeoff: TradeOff
    regressors: list[str]
    chosen_on: str
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    usual: Proposal | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        proposals = {}
        for objective in self.objectives:
            p = self.proposals[objective.name]
            reg = p.fit.chosen.metrics()
            proposals[objective.name] = {
                "weights": dict(objective.weights), "mixture": p.mixture,
                "predicted_loss": p.predicted_target_loss, "predicted_std": p.predicted_std,
                "regressor": {"name": p.fit.chosen.name, "cv_spearman": reg["cv_spearman"],
                              "cv_mae": reg["cv_mae"]},
                "constraints_binding": p.constraints.binding(p.weights),
                "warnings": p.warnings}
        return {"objectives": proposals, "tradeoff": self.tradeoff.to_dict(),
                "regressors": list(self.regressors), "chosen_on": self.chosen_on,
                "warnings": list(self.warnings)}


def propose_objectives(
    mixtures: pd.DataFrame,
    metrics: pd.DataFrame,
    objectives: ObjectiveSpec | Sequence[Objective],
    *,
    prior: Mapping[str, float] | None = None,
    fit_config: FitConfig | None = None,
    search: SearchConfig | None = None,
    available_tokens: Mapping[str, float] | None = None,
    where: str = "search",
    fitted: Mapping[str, FitResult] | None = None,
    reselect: bool = False,
    field: str = "objectives",
    groups: Mapping[str, list[str]] | None = None,
) -> ObjectiveProposals:
    """Propose a mixture per objective and predict each on every objective.

    Parameters
    ----------
    mixtures : DataFrame of shape (n, k)
        One column per domain, one row per run (index: the run ids).
    metrics : DataFrame
        The same runs' metric columns (same index), e.g. a sweep's ``metrics.csv``.
    objectives : dict or list of Objective
        ``{name: {column: weight}}`` (checked with :func:`resolve_objectives`), or
        objectives already resolved.
    prior, fit_config, search, available_tokens, where
        As in :func:`raymix.proposal.propose_mixture`; the same for every objective,
        without the bootstrap (``search.uncertainty``): that is the usual proposal's.
    fitted : dict of str to FitResult, optional
        Fits of some objectives (by name) to reuse instead of fitting again (the usual
        proposal's fit, for the average).
    reselect : bool, default=False
        Cross-validate every regressor of ``fit_config`` on every objective; by default
        they are chosen once, on the objective with the most columns, and the others
        cross-validate only that choice.
    field : str
        What errors about the objectives name (``target.objectives`` for a config).
    groups : dict of str to list of str, optional
        The domains' groups, as in :func:`raymix.proposal.propose_mixture`.

    Returns
    -------
    ObjectiveProposals
    """
    fit_config = fit_config or FitConfig()
    # the bootstrap's refits and searches (raymix.proposal.uncertainty) are the usual
    # proposal's: per objective they would multiply the cost by search.bootstrap
    search = dataclasses.replace(search or SearchConfig(), uncertainty=False)
    if not objectives or not all(isinstance(o, Objective) for o in objectives):
        objectives = resolve_objectives(objectives, list(metrics.columns), field=field)
    objectives = list(objectives)
    fitted = dict(fitted or {})
    targets = {o.name: _objective_values(o, mixtures, metrics, field) for o in objectives}
    # the regressors are chosen on the objective with the most columns (the average)
    first = max(objectives, key=lambda o: len(o.weights))
    if first.name not in fitted:
        fitted[first.name] = _fit(mixtures, targets[first.name], fit_config,
                                  fit_config.regressors, fit_config.ensemble, groups)
    regressors, ensemble = _chosen_regressors(fitted[first.name])
    if reselect:
        regressors, ensemble = list(fit_config.regressors), fit_config.ensemble
    proposals = {}
    for objective in objectives:
        fit = fitted.get(objective.name) or _fit(mixtures, targets[objective.name],
                                                 fit_config, regressors, ensemble, groups)
        proposals[objective.name] = propose_mixture(
            mixtures, targets[objective.name], prior=prior, fit_config=fit_config,
            search=search, available_tokens=available_tokens, where=where, fitted=fit,
            target=objective.name, groups=groups)
    tradeoff = _tradeoff(proposals)
    return ObjectiveProposals(objectives=objectives, proposals=proposals, tradeoff=tradeoff,
                              regressors=list(regressors), chosen_on=first.name,
                              warnings=_tradeoff_warnings(tradeoff))


def _objective_values(objective: Objective, mixtures: pd.DataFrame, metrics: pd.DataFrame,
                      field: str) -> pd.Series:
    """The objective of every run of ``mixtures``; a run without a value is refused."""
    missing = [c for c in objective.weights if c not in metrics.columns]
    if missing:
        raise UserError(f"the runs' metrics have no column {missing[0]!r}",
                        field=f"{field}.{objective.name}")
    values = objective.values(metrics).reindex(mixtures.index)
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        raise UserError(f"{int(bad.sum())} run(s) have no value for it, e.g. run "
                        f"{values.index[bad][0]!r}; choose metrics every run recorded",
                        field=f"{field}.{objective.name}")
    return values


def _fit(mixtures: pd.DataFrame, y: pd.Series, fit_config: FitConfig,
         regressors: Sequence[str], ensemble: bool,
         groups: Mapping[str, list[str]] | None = None) -> FitResult:
    return fit_regressor(mixtures, y, list(regressors), fit_config.cv_folds, fit_config.seed,
                         ensemble, groups=groups)


def _chosen_regressors(fit: FitResult) -> tuple[list[str], bool]:
    """The regressors a fit chose: its ensemble's members (averaged again), or the one."""
    if isinstance(fit.estimator, Ensemble):
        return list(fit.estimator.members), True
    return [fit.chosen.name], False


def _tradeoff(proposals: Mapping[str, Proposal]) -> TradeOff:
    names = list(proposals)
    mixtures = np.vstack([proposals[n].weights for n in names])
    predicted = np.column_stack([proposals[n].fit.predict(mixtures)[0] for n in names])
    return TradeOff(objectives=names, predicted=predicted)


def _tradeoff_warnings(tradeoff: TradeOff) -> list[str]:
    return [f"the mixture proposed for {row!r} is predicted {format_number(-gap)} better on "
            f"{col!r} than {col!r}'s own proposal: its search missed it (try search.method "
            "exact or cmaes), or kl_weight pulls it toward the prior"
            for row, col, gap in tradeoff.missed()]
