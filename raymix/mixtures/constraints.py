"""The proposal's constraints: which mixtures the search may return, and why.

A proposal must be a mixture the user can actually train on. Four settings (the
``search:`` section of a sweep config, or a stand-alone constraints file with the same
keys, read by :func:`raymix.config.load_constraints`) bound each domain's weight ``w_i``:

- ``min_weight`` / ``max_weight``: per-domain floors and ceilings;
- ``fixed_weight``: the weight is pinned (lower = upper);
- the repetition cap: a target run of ``target_tokens`` tokens may see a domain of
  ``tokens_i`` tokens at most ``max_epochs`` times, so
  ``w_i <= max_epochs * tokens_i / target_tokens`` (Olmix; Marin's warning about a fit
  that asked for ~1,245 epochs of Wikipedia);
- ``kl_weight`` > 0 adds ``kl_weight * KL(w || prior)`` to the search objective, a pull
  toward the prior (Olmix), so domains whose prior is 0 are held at 0;
- with domains in groups (``data.domains``' ``group:``), ``min_weight``, ``max_weight``
  and ``fixed_weight`` may name a group: they bound the total weight of its domains;
- with phases (``mixtures.phases``) the weights are a schedule's slots (``web@1``,
  ``web@2``: a domain's share of the whole run in each phase), each phase's total fixed
  at its share of the steps; every setting above bounds a domain's total over the run
  (:meth:`Constraints.over_phases`), which is what the repetition cap is about.

:func:`build_constraints` turns these settings and the domain names into a
:class:`Constraints`: the box ``lower <= w <= upper`` on the simplex ``sum(w) = 1``, the
prior, and for every bound the setting that produced it, so that a proposal can say
which constraints bind (:meth:`Constraints.binding`). Impossible combinations raise a
:class:`~raymix.errors.ConfigError` naming the field to change and how.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raymix.config import SearchConfig, check_search
from raymix.config.checks import check_group_bounds, group_bounds_problem
from raymix.config.schema import group_children, phase_groups, phase_slots, split_slot
from raymix.errors import ConfigError, UserError
from raymix.mixtures.sampling import repetition_caps
from raymix.mixtures.simplex import (
    BOX_TOLERANCE,
    box_problem,
    named_weights,
    normalise_prior,
    project_to_bounded_simplex,
    project_with_groups,
    sample_candidates,
    tree_levels,
)

SNAP_TOLERANCE = 1e-12  # weights this close to a bound are set to it (no 1e-16 weights)
NO_LOWER = "weight >= 0"
NO_UPPER = "weight <= 1"
MAX_EPOCH_FACTOR = 1e12  # beyond this many times max_epochs, more epochs cannot help


# ----------------------------------------------------------------------------- the box


@dataclass(eq=False)  # numpy fields: compare them explicitly
class Constraints:
    """Per-domain (and per-group) bounds on the simplex, the KL pull's prior, and their origins.

    Parameters
    ----------
    domains : list of str
        Domain names, in the order of the weight vectors.
    lower, upper : array of shape (k,)
        Bounds with ``lower <= upper`` and ``sum(lower) <= 1 <= sum(upper)``.
    prior : array of shape (k,)
        Centre of candidate draws and of the KL pull; normalised here.
    kl_weight : float, default=0.0
        Weight of ``KL(w || prior)`` in the search objective.
    lower_by, upper_by : list of str, optional
        The setting that produced each bound (``"min_weight"``, ``"fixed_weight"``,
        ``"repetition cap: ..."``); defaults to the plain simplex limits.
    target_tokens : int, optional
        Token budget of the target run (None: no repetition cap).
    max_epochs : float, optional
        Passes allowed over a domain's tokens in the target run.
    groups : dict of str to list of str, optional
        The domain tree's groups and the domains under each
        (:func:`raymix.config.schema.domain_groups`); empty for flat domains.
    group_lower, group_upper : array of shape (len(groups),), optional
        Bounds on each group's total weight; default 0 and 1.
    group_lower_by, group_upper_by : list of str, optional
        The setting behind each group bound, as ``lower_by`` / ``upper_by``.
    phases : list of float, optional
        For a schedule: each phase's share of the run, which its slots' weights must sum
        to (``domains`` are then slots, phase by phase: :meth:`over_phases`).
    """

    domains: list[str]
    lower: np.ndarray
    upper: np.ndarray
    prior: np.ndarray
    kl_weight: float = 0.0
    lower_by: list[str] | None = None
    upper_by: list[str] | None = None
    target_tokens: int | None = None
    max_epochs: float | None = None
    groups: dict[str, list[str]] | None = None
    group_lower: np.ndarray | None = None
    group_upper: np.ndarray | None = None
    group_lower_by: list[str] | None = None
    group_upper_by: list[str] | None = None
    phases: list[float] | None = None

    def __post_init__(self) -> None:
        self.domains = [str(d) for d in self.domains]
        k = len(self.domains)
        self.lower = np.asarray(self.lower, dtype=float).copy()
        self.upper = np.asarray(self.upper, dtype=float).copy()
        self.prior = normalise_prior(self.prior)
        if self.lower.shape != (k,) or self.upper.shape != (k,) or self.prior.shape != (k,):
            raise ValueError(f"lower, upper and prior need one value per domain ({k})")
        problem = box_problem(self.lower, self.upper)
        if problem:
            raise ValueError(f"infeasible bounds: {problem[0]}: {problem[1]}")
        self.lower_by = list(self.lower_by or [NO_LOWER] * k)
        self.upper_by = list(self.upper_by or [NO_UPPER] * k)
        self.groups = {str(g): [str(d) for d in members]
                       for g, members in (self.groups or {}).items()}
        n = len(self.groups)
        self.group_lower = np.zeros(n) if self.group_lower is None else \
            np.asarray(self.group_lower, dtype=float).copy()
        self.group_upper = np.ones(n) if self.group_upper is None else \
            np.asarray(self.group_upper, dtype=float).copy()
        if self.group_lower.shape != (n,) or self.group_upper.shape != (n,):
            raise ValueError(f"group_lower and group_upper need one value per group ({n})")
        self.group_lower_by = list(self.group_lower_by or [NO_LOWER] * n)
        self.group_upper_by = list(self.group_upper_by or [NO_UPPER] * n)
        unknown = {d for members in self.groups.values() for d in members} - set(self.domains)
        if unknown:
            raise ValueError(f"groups name domains the constraints lack: {sorted(unknown)}")
        if n:
            bounds = [dict(zip([*self.domains, *self.groups], np.concatenate([side, gside])))
                      for side, gside in ((self.lower, self.group_lower),
                                          (self.upper, self.group_upper))]
            problem = group_bounds_problem(group_children(self.domains, self.groups), *bounds)
            if problem:
                raise ValueError(f"infeasible group bounds: {problem[1]} bound of "
                                 f"{problem[0] or 'the mixture'!r}")
        self.phases = [float(f) for f in self.phases] if self.phases else None
        if self.phases:
            if not np.isclose(sum(self.phases), 1.0) or min(self.phases) <= 0:
                raise ValueError(f"phases must be positive shares summing to 1: {self.phases}")
            if any(split_slot(d)[1] is None or split_slot(d)[1] > len(self.phases)
                   for d in self.domains):
                raise ValueError("with phases, every column must be a slot domain@phase")

    # ------------------------------------------------------------------ phases

    @classmethod
    def over_phases(cls, flat: Constraints, fractions: Sequence[float]) -> Constraints:
        """The constraints of a schedule whose phases take ``fractions`` of the run.

        The columns are ``flat``'s domains in each phase (``web@1``, ..., ``web@2``, ...);
        a slot's weight is the domain's share of the whole run's tokens in that phase, so
        phase ``p``'s slots sum to ``fractions[p]``. Each of ``flat``'s domain bounds
        (floors, ceilings, fixed weights, repetition caps, a KL prior's zeros) becomes a
        bound on the domain's total over the phases: a group named after the domain. The
        prior is ``flat``'s in every phase.

        Parameters
        ----------
        flat : Constraints
            The domains' constraints (without groups).
        fractions : sequence of float
            Each phase's share of the steps (``SweepConfig.phase_fractions``).

        Returns
        -------
        Constraints
        """
        if flat.groups:
            raise ValueError("schedules over domains in groups are not supported")
        fractions = [float(f) for f in fractions]
        phases = len(fractions)
        slots = phase_slots(flat.domains, phases)
        share = np.repeat(fractions, len(flat.domains))
        # a slot holds at most its phase's share and its domain's total (0 for a domain
        # held at 0: the KL's zero prior, a cap of 0), whichever is less
        total = np.tile(flat.upper, phases)
        upper = np.minimum(share, total)
        upper_by = [f"phase {p}'s share of the steps" for p in range(1, phases + 1)
                    for _ in flat.domains]
        upper_by = [by if s <= t else flat_by
                    for by, s, t, flat_by in zip(upper_by, share, total,
                                                 np.tile(flat.upper_by, phases))]
        return cls(slots, np.zeros(len(slots)), upper, np.tile(flat.prior, phases) * share,
                   kl_weight=flat.kl_weight, upper_by=upper_by,
                   target_tokens=flat.target_tokens, max_epochs=flat.max_epochs,
                   groups=phase_groups(flat.domains, phases),
                   group_lower=flat.lower, group_upper=flat.upper,
                   group_lower_by=flat.lower_by, group_upper_by=flat.upper_by,
                   phases=fractions)

    @property
    def phase_members(self) -> np.ndarray:
        """Matrix of shape (phases, slots): 1 where the slot is in the phase; (0, k) without."""
        if not self.phases:
            return np.zeros((0, len(self.domains)))
        phase = np.array([split_slot(d)[1] for d in self.domains])
        return (phase[None, :] == np.arange(1, len(self.phases) + 1)[:, None]).astype(float)

    def slabs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every bounded total: the bounded groups', then each phase's (fixed at its share).

        Returns
        -------
        members : array of shape (m, k)
        lower, upper : array of shape (m,)
        """
        bounded = self.bounded_groups
        fixed = np.asarray(self.phases or [], dtype=float)
        return (np.vstack([self.members[bounded], self.phase_members]),
                np.concatenate([self.group_lower[bounded], fixed]),
                np.concatenate([self.group_upper[bounded], fixed]))

    @property
    def members(self) -> np.ndarray:
        """Matrix of shape (groups, domains): 1 where the domain lies in the group."""
        rows = [[d in members for d in self.domains] for members in self.groups.values()]
        return np.array(rows, dtype=float).reshape(-1, len(self.domains))

    @property
    def bounded_groups(self) -> np.ndarray:
        """Mask of the groups whose total has a bound tighter than [0, 1]."""
        return (self.group_lower > 0) | (self.group_upper < 1)

    @property
    def levels(self) -> list[np.ndarray] | None:
        """The domain tree node by node, for draws a level at a time; None without groups
        (and for a schedule, drawn a phase at a time instead).

        See :func:`raymix.mixtures.simplex.tree_levels`.
        """
        return None if self.phases else tree_levels(self.domains, self.groups)

    @property
    def free(self) -> np.ndarray:
        """Mask of the domains whose weight the search may move (lower < upper)."""
        return self.lower < self.upper

    @property
    def fixed(self) -> dict[str, float]:
        """Domains pinned to one weight (a fixed_weight, or bounds that meet)."""
        return {d: float(lo) for d, lo, free in zip(self.domains, self.lower, self.free)
                if not free}

    def contains(self, mixtures: np.ndarray, tol: float = BOX_TOLERANCE) -> np.ndarray:
        """Whether each row meets every bound (:meth:`within_bounds`) and sums to 1,
        within ``tol``; a bool array of shape () or (n,)."""
        w = np.asarray(mixtures, dtype=float)
        inside = self.within_bounds(w, tol)
        return inside & (np.abs(w.sum(axis=-1) - 1.0) <= tol) & np.all(np.isfinite(w), axis=-1)

    def within_bounds(self, mixtures: np.ndarray, tol: float = BOX_TOLERANCE) -> np.ndarray:
        """Whether each row meets every domain's and group's bounds within ``tol`` (any sum).

        Parameters
        ----------
        mixtures : array of shape (k,) or (n, k)
        tol : float, default=1e-9

        Returns
        -------
        bool ndarray of shape () or (n,)
        """
        w = np.asarray(mixtures, dtype=float)
        inside = np.all((w >= self.lower - tol) & (w <= self.upper + tol), axis=-1)
        members, lower, upper = self.slabs() if self.phases else (
            self.members, self.group_lower, self.group_upper)
        if len(members):
            sums = w @ members.T
            inside &= np.all((sums >= lower - tol) & (sums <= upper + tol), axis=-1)
        return inside

    def project(self, w: np.ndarray) -> np.ndarray:
        """The nearest mixture(s) inside the bounds, weights within 1e-12 of a bound snapped to it.

        With bounded groups, the nearest point that also meets each group's bounds
        (:func:`raymix.mixtures.simplex.project_with_groups`); else the bounded simplex's.

        Parameters
        ----------
        w : array of shape (k,) or (n, k)

        Returns
        -------
        ndarray of the same shape
        """
        members, lower, upper = self.slabs()
        if len(members):
            out = project_with_groups(w, self.lower, self.upper, members, lower, upper)
        else:
            out = project_to_bounded_simplex(w, self.lower, self.upper)
        out = np.where(out - self.lower < SNAP_TOLERANCE, self.lower, out)
        return np.where(self.upper - out < SNAP_TOLERANCE, self.upper, out)

    def sample(self, n: int, rng: np.random.Generator, *, centre: np.ndarray | None = None,
               strengths: tuple[float, float] = (0.1, 100.0),
               uniform_fraction: float = 0.25) -> np.ndarray:
        """``n`` candidates inside the constraints (:func:`raymix.mixtures.sample_candidates`).

        Without groups, exactly :func:`~raymix.mixtures.sample_candidates` in the box. With
        groups, drawn a level at a time (:attr:`levels`) and projected onto the group
        bounds (:meth:`project`). A schedule's are a draw per phase (each phase's mixture
        around the centre's), scaled to the phase's share and projected.

        Parameters
        ----------
        n : int
        rng : Generator
        centre : array of shape (k,), optional
            Centre of the draws; default the prior.
        strengths, uniform_fraction
            As :func:`~raymix.mixtures.sample_candidates`.

        Returns
        -------
        ndarray of shape (n, k)
        """
        centre = self.prior if centre is None else np.asarray(centre, dtype=float)
        if self.phases:
            # each phase's own mixture, inside what its slots may hold (a domain's whole
            # allowance in this phase at most): draws then rarely need Dykstra's projection
            draws = np.hstack([
                share * sample_candidates(n, centre[in_phase], lower=np.zeros(in_phase.sum()),
                                          upper=np.minimum(1.0, self.upper[in_phase] / share),
                                          rng=rng, strengths=strengths,
                                          uniform_fraction=uniform_fraction)
                for share, in_phase in zip(self.phases, self.phase_members > 0)])
            outside = ~self.contains(draws)  # most draws already meet the domains' totals
            draws[outside] = self.project(draws[outside])
            return draws
        draws = sample_candidates(n, centre, lower=self.lower, upper=self.upper, rng=rng,
                                  strengths=strengths, uniform_fraction=uniform_fraction,
                                  levels=self.levels)
        return self.project(draws) if self.bounded_groups.any() else draws

    def binding(self, mixture: np.ndarray, tol: float = 1e-6) -> list[dict[str, Any]]:
        """The bounds ``mixture`` sits on, and the setting behind each.

        Parameters
        ----------
        mixture : array of shape (k,)
        tol : float, default=1e-6
            A weight this close to a bound counts as on it.

        Returns
        -------
        list of dict
            One per domain at a bound, e.g. ``{"domain": "wiki", "bound": "upper",
            "value": 0.12, "constraint": "repetition cap: 1.2e+08 tokens x 4 epochs /
            4e+09 target tokens"}``; ``bound`` is ``"fixed"`` for a pinned domain. Then
            one per bounded group at a bound: ``{"group": "web", "bound": "lower", ...}``.
        """
        w = np.asarray(mixture, dtype=float)
        out = []
        for i, d in enumerate(self.domains):
            if not self.free[i]:
                bound, value, by = "fixed", self.lower[i], self.lower_by[i]
            elif w[i] <= self.lower[i] + tol:
                bound, value, by = "lower", self.lower[i], self.lower_by[i]
            elif w[i] >= self.upper[i] - tol:
                bound, value, by = "upper", self.upper[i], self.upper_by[i]
            else:
                continue
            out.append({"domain": d, "bound": bound, "value": float(value), "constraint": by})
        sums = self.members @ w if self.groups else np.empty(0)
        for j, g in enumerate(self.groups):
            lo, hi = self.group_lower[j], self.group_upper[j]
            if lo == hi:
                bound, value, by = "fixed", lo, self.group_lower_by[j]
            elif lo > 0 and sums[j] <= lo + tol:
                bound, value, by = "lower", lo, self.group_lower_by[j]
            elif hi < 1 and sums[j] >= hi - tol:
                bound, value, by = "upper", hi, self.group_upper_by[j]
            else:
                continue
            out.append({"group": g, "bound": bound, "value": float(value), "constraint": by})
        return out

    def to_dict(self) -> dict[str, Any]:
        """The constraints as plain JSON types (for ``binding``, see :meth:`binding`)."""
        return {
            "lower": named_weights(self.domains, self.lower),
            "upper": named_weights(self.domains, self.upper),
            "fixed": self.fixed,
            "prior": named_weights(self.domains, self.prior),
            "kl_weight": float(self.kl_weight),
            "target_tokens": None if self.target_tokens is None else int(self.target_tokens),
            "max_epochs": None if self.max_epochs is None else float(self.max_epochs),
            "set_by": {"lower": dict(zip(self.domains, self.lower_by)),
                       "upper": dict(zip(self.domains, self.upper_by))},
        } | (self._groups_dict() if self.groups else {}) \
            | ({"phases": list(self.phases)} if self.phases else {})

    def _groups_dict(self) -> dict[str, Any]:
        """The groups and their bounds (only constraints with groups write these keys)."""
        return {
            "groups": {g: list(members) for g, members in self.groups.items()},
            "group_lower": named_weights(self.groups, self.group_lower),
            "group_upper": named_weights(self.groups, self.group_upper),
            "group_set_by": {"lower": dict(zip(self.groups, self.group_lower_by)),
                             "upper": dict(zip(self.groups, self.group_upper_by))},
        }


# ----------------------------------------------------------------------------- schedules


PHASE_SHARE_TOLERANCE = 0.01  # runs' phase shares may differ by this much (rounded tables)


def schedule_phases(columns: Sequence[str], weights: np.ndarray
                    ) -> tuple[list[str], list[float]] | None:
    """The domains and phase shares of runs whose columns are a schedule's slots.

    Columns ``web@1``, ``code@1``, ``web@2``, ``code@2`` (:func:`phase_slots`: the same
    domains in every phase, phase by phase) are a schedule of two phases; the phases'
    shares are the runs' slot totals per phase (their mean), which every run must share
    within 0.01. Columns of one phase only are plain domains.

    Parameters
    ----------
    columns : sequence of str
        The runs' mixture columns.
    weights : array of shape (n, len(columns))
        The runs' weights.

    Returns
    -------
    (domains, shares) or None
        None when the columns are plain domains (or there are no runs).

    Raises
    ------
    UserError
        When the columns are slots but not a whole schedule, or runs' phases differ in length.
    """
    parsed = [split_slot(str(c)) for c in columns]
    w = np.asarray(weights, dtype=float).reshape(-1, len(parsed))
    if not len(w) or any(phase is None for _, phase in parsed):
        return None
    phases = max(phase for _, phase in parsed)
    if phases < 2:
        return None
    domains = [d for d, phase in parsed if phase == 1]
    if not domains:
        raise UserError("the columns look like a schedule's (domain@phase) but no column is "
                        "of phase 1; number the phases from 1", field="mixtures")
    if [str(c) for c in columns] != phase_slots(domains, phases):
        raise UserError(f"the columns look like a schedule's (domain@phase) but are not "
                        f"{', '.join(phase_slots(domains, phases)[:4])}, ...: each domain "
                        "once in every phase, phase by phase", field="mixtures")
    shares = w.reshape(len(w), phases, len(domains)).sum(axis=2)
    empty = np.flatnonzero(shares.max(axis=0) <= 0)
    if len(empty):
        raise UserError(f"no run gives phase {empty[0] + 1} any weight; a schedule's every "
                        "phase holds a share of the run", field="mixtures")
    spread = shares.max(axis=0) - shares.min(axis=0)
    if spread.max() > PHASE_SHARE_TOLERANCE:
        p = int(np.argmax(spread)) + 1
        raise UserError(f"the runs' phase {p} takes from {shares[:, p - 1].min():.4g} to "
                        f"{shares[:, p - 1].max():.4g} of their steps; a fit needs runs whose "
                        "phases start at the same steps", field="mixtures")
    mean = shares.mean(axis=0)
    return domains, [float(f) for f in mean / mean.sum()]


def schedule_groups(mixtures) -> dict[str, list[str]] | None:
    """Each domain and its slots when ``mixtures``' columns are a schedule's
    (:func:`schedule_phases`, :func:`~raymix.config.schema.phase_groups`): what the fit
    adds each domain's total over the run from; None for plain domains."""
    schedule = schedule_phases([str(c) for c in mixtures.columns], mixtures.to_numpy(float))
    return None if schedule is None else phase_groups(schedule[0], len(schedule[1]))


# ----------------------------------------------------------------------------- building


def build_constraints(
    domains: Sequence[str],
    search: SearchConfig,
    *,
    available_tokens: Mapping[str, float] | None = None,
    prior: Mapping[str, float] | np.ndarray | None = None,
    where: str = "search",
    groups: Mapping[str, Sequence[str]] | None = None,
    phases: Sequence[float] | None = None,
) -> Constraints:
    """The search box for ``domains`` from a ``search`` section (or constraints file).

    Parameters
    ----------
    domains : sequence of str
        Domain names of the runs, in column order.
    search : SearchConfig
        Bounds, repetition cap, prior and KL weight.
    available_tokens : dict of str to float, optional
        Tokens per domain from the sweep's data. ``search.available_tokens``, when given,
        takes precedence: a sweep prepares only a sample of each corpus, while the cap is
        about the full corpus the target run draws from.
    prior : dict of str to float or array, optional
        Prior used when ``search.prior`` is empty. Without either the prior is
        token-proportional (when token counts are known), else uniform.
    where : str, default="search"
        Prefix of the field names in errors (``constraints`` for a constraints file).
    groups : dict of str to list of str, optional
        The sweep's domain groups (``SweepConfig.domain_groups``): ``search`` may then
        bound a group's total weight, and draws go a level at a time.
    phases : sequence of float, optional
        Each phase's share of the run (``SweepConfig.phase_fractions``): the constraints
        of a schedule over ``domains``' slots, every bound on a domain's total over the
        run (:meth:`Constraints.over_phases`).

    Returns
    -------
    Constraints

    Raises
    ------
    ConfigError
        Naming the field to change when a value is invalid or no mixture meets the bounds.
    """
    domains = [str(d) for d in domains]
    groups = {str(g): [str(d) for d in members] for g, members in (groups or {}).items()}
    check_search(search, domains, where, groups)
    tokens = _tokens(domains, search, available_tokens)
    lower, lower_by = _side(domains, search, "min_weight", 0.0, NO_LOWER)
    upper, upper_by = _side(domains, search, "max_weight", 1.0, NO_UPPER)
    if search.target_tokens is not None:
        if tokens is None:
            raise ConfigError(
                f"{where}.target_tokens",
                f"the repetition cap needs each domain's token count; give "
                f"{where}.available_tokens, prepare the sweep's data, or remove "
                f"{where}.target_tokens")
        _apply_repetition_cap(domains, search, tokens, lower, upper, upper_by, where)
    prior_vec = _prior(domains, search, prior, tokens, where)
    if search.kl_weight > 0:
        _hold_zero_prior_domains(domains, prior_vec, lower, upper, upper_by, where)
    _check_feasible(domains, search, tokens, upper, upper_by, where)
    group_lower, group_lower_by = _side(list(groups), search, "min_weight", 0.0, NO_LOWER)
    group_upper, group_upper_by = _side(list(groups), search, "max_weight", 1.0, NO_UPPER)
    if groups:  # the caps and the KL's zeros may have lowered the domains' upper bounds
        names = [*domains, *groups]
        check_group_bounds(search, group_children(domains, groups),
                           dict(zip(names, np.concatenate([lower, group_lower]))),
                           dict(zip(names, np.concatenate([upper, group_upper]))), where)
    box = Constraints(domains, lower, upper, prior_vec, kl_weight=search.kl_weight,
                      lower_by=lower_by, upper_by=upper_by,
                      target_tokens=search.target_tokens,
                      max_epochs=search.max_epochs if search.target_tokens else None,
                      groups=groups, group_lower=group_lower, group_upper=group_upper,
                      group_lower_by=group_lower_by, group_upper_by=group_upper_by)
    return Constraints.over_phases(box, phases) if phases else box


def _side(domains, search, key, default, unset) -> tuple[np.ndarray, list[str]]:
    """One side of the box: ``search.<key>`` (min or max weights), fixed weights override.

    ``domains`` may be the groups' paths instead: the bounds on their totals.

    Returns the bounds and the setting behind each (``unset`` where none is given).
    """
    bounds, fixed = getattr(search, key), search.fixed_weight
    values, by = [], []
    for d in domains:
        if d in fixed:
            values.append(fixed[d])
            by.append("fixed_weight")
        else:
            values.append(bounds.get(d, default))
            by.append(key if d in bounds else unset)
    return np.array(values, dtype=float), by


def _tokens(domains, search, available_tokens) -> np.ndarray | None:
    """Token count per domain: the constraints' own, else the sweep's data, else None."""
    if search.available_tokens:  # check_search saw every domain there
        return np.array([search.available_tokens[d] for d in domains], dtype=float)
    if available_tokens is None:
        return None
    missing = [d for d in domains if d not in available_tokens]
    if missing:
        raise UserError(f"no token count for domain {missing[0]!r}; prepare the data first")
    return np.array([available_tokens[d] for d in domains], dtype=float)


def _cap_text(tokens: float, search: SearchConfig) -> str:
    return (f"repetition cap: {tokens:.3g} tokens x {search.max_epochs:g} epochs / "
            f"{search.target_tokens:.3g} target tokens")


def _apply_repetition_cap(domains, search, tokens, lower, upper, upper_by, where) -> None:
    """Lower ``upper`` (in place) to each domain's repetition cap; fail where a floor is above."""
    caps = repetition_caps(tokens, search.target_tokens, search.max_epochs)
    for i, d in enumerate(domains):
        if caps[i] >= upper[i]:
            continue
        if lower[i] > caps[i] + BOX_TOLERANCE:
            key = "fixed_weight" if d in search.fixed_weight else "min_weight"
            epochs = lower[i] * search.target_tokens / tokens[i] if tokens[i] > 0 else float("inf")
            raise ConfigError(
                f"{where}.{key}.{d}",
                f"{lower[i]:.3g} would repeat {d!r} {epochs:.3g} times in "
                f"{where}.target_tokens, above {where}.max_epochs ({search.max_epochs:g}); "
                f"lower it to at most {caps[i]:.3g}, raise {where}.max_epochs or lower "
                f"{where}.target_tokens")
        upper[i] = max(caps[i], lower[i])  # a floor within float slack of the cap stays
        upper_by[i] = _cap_text(tokens[i], search)


def _prior(domains, search, prior, tokens, where) -> np.ndarray:
    """The KL prior: search.prior, else the ``prior`` argument, else token shares, else uniform."""
    if search.prior:
        return normalise_prior(np.array([search.prior[d] for d in domains]))
    if prior is not None:
        if isinstance(prior, Mapping):
            if set(prior) != set(domains):
                odd = sorted(set(map(str, prior)) ^ set(domains))[0]
                raise UserError(f"the prior and the runs name different domains (e.g. {odd!r}); "
                                f"use the same domains or set {where}.prior")
            prior = np.array([prior[d] for d in domains], dtype=float)
        return normalise_prior(prior)
    if tokens is not None and tokens.sum() > 0:
        return tokens / tokens.sum()
    return np.full(len(domains), 1.0 / len(domains))


def _hold_zero_prior_domains(domains, prior, lower, upper, upper_by, where) -> None:
    """With a KL pull, a domain of prior 0 must get weight 0 (else the KL is infinite)."""
    for i, d in enumerate(domains):
        if prior[i] > 0:
            continue
        if lower[i] > 0:
            raise ConfigError(
                f"{where}.prior.{d}",
                f"is 0 but the domain must get at least {lower[i]:.3g}, which makes "
                f"KL(w || prior) infinite; give it a positive prior or set {where}.kl_weight to 0")
        upper[i] = 0.0
        upper_by[i] = "prior is 0 (kl_weight > 0)"


def _check_feasible(domains, search, tokens, upper, upper_by, where) -> None:
    """Raise, naming the setting to change, when the upper bounds sum below 1.

    (Lower bounds above 1 were refused by :func:`raymix.config.check_search`; a floor above
    a repetition cap by :func:`_apply_repetition_cap`.)
    """
    if upper.sum() >= 1 - BOX_TOLERANCE:
        return
    fix = f"raise {where}.max_weight"
    if search.target_tokens is not None:
        needed = _epochs_needed(domains, search, tokens, upper, upper_by)
        more = (f"raise {where}.max_epochs to at least {needed:.3g}" if needed is not None
                else "add data to the capped domains")
        fix = f"{more}, lower {where}.target_tokens or {fix}"
    if search.kl_weight > 0:
        fix += f", or give the domains of prior 0 a positive {where}.prior"
    raise ConfigError(f"{where}.max_epochs" if search.target_tokens is not None
                      else f"{where}.max_weight",
                      f"the upper bounds sum to {upper.sum():.3g} < 1, so no mixture meets them; "
                      f"{fix}")


def _epochs_needed(domains, search, tokens, upper, upper_by) -> float | None:
    """Smallest max_epochs at which the upper bounds reach a sum of 1 (None: never)."""
    ceiling = np.array([search.max_weight.get(d, 1.0) for d in domains])
    capped = np.array([by.startswith("repetition cap") for by in upper_by])

    def total(epochs: float) -> float:
        caps = repetition_caps(tokens, search.target_tokens, epochs)
        return float(np.where(capped, np.minimum(ceiling, caps), upper).sum())

    lo, hi = search.max_epochs, search.max_epochs * MAX_EPOCH_FACTOR
    if total(hi) < 1 - BOX_TOLERANCE:
        return None
    while hi / lo > 1 + 1e-6:  # bisection on a log scale: the sum grows with the epochs
        mid = float(np.sqrt(lo * hi))
        lo, hi = (mid, hi) if total(mid) < 1 - BOX_TOLERANCE else (lo, mid)
    return hi
