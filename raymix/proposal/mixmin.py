"""MixMin: the best data mixture from one proxy per domain, by convex minimisation.

MixMin (Thudi et al., "MixMin: Finding Data Mixtures via Convex Minimization", ICML
2025; code Anvith-Thudi/MixMin) replaces the hundreds of proxy runs of a regression
search by K runs, one proxy model per domain.

**Why it works.** For cross-entropy and a model class rich enough, the best model
trained on the mixture ``w`` of the domains is close to the mixture of the per-domain
models, ``p_w(t) = sum_k w_k p_k(t)``. Scoring a mixture on the target data therefore
needs no new training run: only the probability ``p_k(t)`` each proxy gives each target
validation token ``t``. The caller records these as a (K, T) array of log-probabilities
``logprobs[k, t] = log p_k(t)``.

**The loss.** The target loss of the mixture ``w`` is

    F(w) = - mean_t log( sum_k w_k p_k(t) ).

It is convex in ``w``: each ``sum_k w_k p_k(t)`` is linear in ``w``, the logarithm of a
positive linear function is concave, a mean of concave functions is concave, and the
minus sign makes it convex. A local minimum on the simplex is therefore the global one.
Its gradient is ``grad_k F(w) = - mean_t p_k(t) / p_w(t)``; it obeys
``<w, grad F(w)> = -1`` for every ``w``.

**The update.** :func:`mixmin` minimises ``F`` by exponentiated gradient (entropic
mirror descent), the paper's optimiser: from the uniform mixture,

    w <- w * exp(-eta * grad F(w)),   then renormalise,

with ``eta = 1`` and at most 100 steps. Everything is computed in log space
(``log p_w(t) = logsumexp_k(log w_k + log p_k(t))``), as per-token log-probabilities can be
-30 or lower and their exponentials underflow. A step that would raise ``F`` is retried
with half the step size, so the recorded objective never increases (with ``eta = 1`` on
the problems we tried this never triggers; it is a guard, not a change of method).

**The projection.** raymix's proposals honour a box ``lower <= w <= upper`` on the
simplex (:class:`raymix.mixtures.Constraints`). "Renormalise" is the KL (entropic)
projection onto the plain simplex; with a box, each step is followed by the KL
projection onto ``{lower <= w <= upper, sum(w) = 1}`` (:func:`kl_project`), which is
``w_i = clip(c * v_i, lower_i, upper_i)`` for the scalar ``c`` at which the weights sum to
1. Every iterate stays in the box, and a domain with ``lower == upper`` keeps its value.

**Weighted targets.** With ``weights`` (one per column of ``logprobs``, e.g. the items of
downstream tasks, each weighing its task's share over its continuation's bytes), the
loss is ``F(w) = - sum_t a_t log p_w(t)`` with ``a = weights / sum(weights)``: still
convex, and the same update applies. A task target's columns are items, ``p_k(t)`` the
probability proxy ``k`` gives item ``t``'s gold continuation after its context.

**The pull towards the prior.** With ``kl_weight`` > 0 (``search.kl_weight``, as for
every raymix proposal) the objective is ``F(w) + kl_weight * KL(w || prior)``: still
convex, so the same update and certificate apply. ``objective`` then records this sum,
and :func:`mixture_loss` gives the target loss ``F`` of the result alone.

**Stopping.** The run stops once the Frank-Wolfe duality gap ``<grad F(w), w - s>``
(``s`` the best vertex of the box for the linearised loss) is below ``tol``. By convexity
the gap bounds ``F(w) - min F`` from above, so ``tol`` is a certificate on the loss,
and it is zero exactly at the box-constrained optimum (see :func:`_duality_gap`).

Example::

    result = mixmin(logprobs, domains=["web", "code", "wiki"], upper=[1.0, 0.3, 1.0])
    result.weights, result.converged, result.to_dict()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raymix.errors import UserError
from raymix.mixtures import BOX_TOLERANCE, box_problem, named_weights

LOGPROB_SLACK = 1e-6  # log-probs up to this far above 0 are float32 rounding, read as 0
BISECTION_STEPS = 200  # enough to pin log(c) to machine precision from any bracket
MAX_HALVINGS = 40  # step-size halvings before a step is given up (eta * 1e-12)
ASCENT_SLACK = 1e-12  # relative rise of F ignored as rounding when accepting a step


@dataclass(frozen=True, eq=False)  # numpy fields: compare them explicitly
class MixMinResult:
    """What :func:`mixmin` found.

    Attributes
    ----------
    weights : ndarray of shape (k,)
        The mixture, inside the bounds and summing to 1.
    domains : list of str
        Domain names, in the order of ``weights``.
    objective : list of float
        ``F`` (plus the prior pull, with ``kl_weight``) at every iterate, the uniform
        start first (``steps + 1`` values, non-increasing).
    gap : list of float
        The stopping quantity (duality gap, an upper bound on ``F(w) - min F``) at every
        iterate.
    steps : int
        Exponentiated-gradient steps taken.
    converged : bool
        Whether the last gap is at most ``tol``.
    iterates : ndarray of shape (steps + 1, k)
        The weights at every iterate (not in :meth:`to_dict`).
    """

    weights: np.ndarray
    domains: list[str]
    objective: list[float]
    gap: list[float]
    steps: int
    converged: bool
    iterates: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON types (weights by domain; iterates left out)."""
        return {
            "method": "mixmin",
            "weights": named_weights(self.domains, self.weights),
            "objective": [float(f) for f in self.objective],
            "gap": [float(g) for g in self.gap],
            "steps": int(self.steps),
            "converged": bool(self.converged),
        }


@dataclass(frozen=True)
class MixMinProposal:
    """MixMin's proposal for a sweep: the weights, their predicted target loss and each
    single-domain proxy's (:func:`raymix.workflows.proposing.propose_mixmin`).

    ``to_dict()`` is what ``mixmin.json`` holds.

    Attributes
    ----------
    target : str
        The target's name.
    weights : dict of str to float
        The proposed mixture.
    objective, gap : list of float
        The optimiser's objective and duality gap at every iterate (:class:`MixMinResult`).
    steps : int
        Steps taken.
    converged : bool
        Whether the last gap is within the tolerance.
    predicted_target_loss : float
        The target loss of the mixture of the per-domain proxies at ``weights``.
    single_domain_target_loss : dict of str to float
        Each domain's proxy alone on the target.
    scored : int
        How many target tokens (or task items) were scored.
    scored_unit : str
        ``tokens`` or ``items`` (a task target).
    constraints : dict
        The bounds the weights kept to (``Constraints.to_dict()``).
    files : dict of str to str
        What was written (``mixmin``), when a file was asked for; not in :meth:`to_dict`.
    """

    target: str
    weights: dict[str, float]
    objective: list[float]
    gap: list[float]
    steps: int
    converged: bool
    predicted_target_loss: float
    single_domain_target_loss: dict[str, float]
    scored: int
    scored_unit: str
    constraints: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, found: MixMinResult, **fields: Any) -> MixMinProposal:
        """The proposal of the solver's result ``found``; ``fields``: the other attributes."""
        solved = found.to_dict()
        return cls(weights=solved["weights"], objective=solved["objective"], gap=solved["gap"],
                   steps=solved["steps"], converged=solved["converged"], **fields)

    @property
    def best_single_domain(self) -> tuple[str, float]:
        """The domain whose proxy alone has the lowest target loss, and that loss."""
        return min(self.single_domain_target_loss.items(), key=lambda kv: kv[1])

    def to_dict(self) -> dict[str, Any]:
        """As ``mixmin.json`` holds it."""
        return {"target": self.target, "method": "mixmin", "weights": self.weights,
                "objective": self.objective, "gap": self.gap, "steps": self.steps,
                "converged": self.converged, "predicted_target_loss": self.predicted_target_loss,
                "single_domain_target_loss": self.single_domain_target_loss,
                f"{self.scored_unit}_scored": self.scored, "constraints": self.constraints}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixMinProposal:
        """Read back :meth:`to_dict` (a ``mixmin.json``)."""
        unit = "items" if "items_scored" in data else "tokens"
        return cls(target=data["target"], weights=data["weights"], objective=data["objective"],
                   gap=data["gap"], steps=data["steps"], converged=data["converged"],
                   predicted_target_loss=data["predicted_target_loss"],
                   single_domain_target_loss=data["single_domain_target_loss"],
                   scored=data.get(f"{unit}_scored"), scored_unit=unit,
                   constraints=data.get("constraints"))


# ----------------------------------------------------------------------------- the solver


def mixmin(
    logprobs: np.ndarray,
    *,
    domains: Sequence[str] | None = None,
    lower: Sequence[float] | np.ndarray | None = None,
    upper: Sequence[float] | np.ndarray | None = None,
    prior: Sequence[float] | np.ndarray | None = None,
    kl_weight: float = 0.0,
    eta: float = 1.0,
    max_steps: int = 100,
    tol: float = 1e-4,
    weights: Sequence[float] | np.ndarray | None = None,
) -> MixMinResult:
    """Minimise the mixture-of-proxies loss ``F(w)`` over a box on the simplex.

    Parameters
    ----------
    logprobs : array of shape (k, t)
        ``logprobs[k, t]``: log-probability that domain ``k``'s proxy gives target token
        ``t`` (natural log, finite, at most 0). At least 2 domains.
    domains : sequence of str, optional
        One name per row of ``logprobs``; default ``domain_0``, ``domain_1``, ...
    lower, upper : array of shape (k,), optional
        Bounds on each weight (default 0 and 1), e.g. ``constraints.lower`` and
        ``constraints.upper`` of a :class:`raymix.mixtures.Constraints`. Need
        ``0 <= lower <= upper <= 1`` and ``sum(lower) <= 1 <= sum(upper)``;
        ``lower == upper`` fixes a domain.
    prior : array of shape (k,), optional
        The mixture ``kl_weight`` pulls towards (e.g. ``constraints.prior``); needed
        when ``kl_weight`` > 0, and positive wherever ``upper`` is.
    kl_weight : float, default=0.0
        Adds ``kl_weight * KL(w || prior)`` to the objective.
    eta : float, default=1.0
        Step size of the exponentiated gradient (halved for a step that would raise F).
    max_steps : int, default=100
        Most steps to take.
    tol : float, default=1e-4
        Stop once the duality gap, an upper bound on ``F(w) - min F``, is at most this.
    weights : array of shape (t,), optional
        How much each column of ``logprobs`` counts (positive; normalised to sum to 1).
        Default: equally.

    Returns
    -------
    MixMinResult

    Raises
    ------
    UserError
        One line naming the argument and the fix: wrong shape, non-finite or positive
        log-probabilities, fewer than 2 domains, a wrong number of domain names, bounds
        no mixture can meet, or a bad ``eta``/``max_steps``/``tol``.
    """
    logprobs = _check_logprobs(logprobs)
    k = len(logprobs)
    names = _check_domains(domains, k)
    lower, upper = _check_bounds(lower, upper, k)
    _check_settings(eta, max_steps, tol)
    pull = _check_pull(prior, kl_weight, upper, k)
    a = _check_weights(weights, logprobs.shape[1])

    w = kl_project(np.ones(k), lower, upper)
    loss, grad = _loss_and_gradient(logprobs, w, pull, a)
    objective, gaps, iterates = [], [], []
    steps = 0
    while True:
        gap = _duality_gap(w, grad, lower, upper)
        objective.append(loss)
        gaps.append(gap)
        iterates.append(w)
        if gap <= tol or steps == max_steps:
            break
        w, loss, grad = _descent_step(logprobs, w, loss, grad, lower, upper, eta, pull, a)
        steps += 1
    return MixMinResult(weights=w, domains=names, objective=objective, gap=gaps,
                        steps=steps, converged=gap <= tol, iterates=np.array(iterates))


def mixture_loss(logprobs, weights, token_weights=None) -> float:
    """``F(w)``: the target loss of the mixture ``weights`` of the per-domain proxies (no
    prior pull), each column of ``logprobs`` counted by ``token_weights`` (default
    equally; normalised to sum to 1)."""
    logprobs = _check_logprobs(logprobs)
    a = _check_weights(token_weights, logprobs.shape[1])
    return _loss_and_gradient(logprobs, np.asarray(weights, dtype=float), None, a)[0]


def _loss_and_gradient(logprobs: np.ndarray, w: np.ndarray,
                       pull: tuple[float, np.ndarray] | None = None,
                       a: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """``F(w)`` and ``grad F(w)``, in log space (per-token probabilities underflow), plus
    ``pull`` = (kl_weight, prior)'s ``kl_weight * KL(w || prior)`` and its gradient;
    ``a`` weighs the columns (None: their mean)."""
    with np.errstate(divide="ignore"):  # a domain held at weight 0 has log weight -inf
        log_w = np.log(w)
    joint = log_w[:, None] + logprobs  # log(w_k p_k(t))
    top = joint.max(axis=0)
    log_mix = top + np.log(np.exp(joint - top).sum(axis=0))  # log p_w(t), a logsumexp
    if a is None:
        loss = -float(log_mix.mean())
        grad = -np.exp(logprobs - log_mix).mean(axis=1)  # -mean_t p_k(t) / p_w(t)
    else:
        loss = -float(log_mix @ a)
        grad = -np.exp(logprobs - log_mix) @ a  # -sum_t a_t p_k(t) / p_w(t)
    if pull is not None:
        weight, prior = pull
        held = w > 0  # 0 log 0 = 0; a weight held at 0 has no room to move either way
        log_ratio = log_w[held] - np.log(prior[held])
        loss += weight * float(w[held] @ log_ratio)
        grad[held] += weight * (log_ratio + 1.0)
    return loss, grad


def _descent_step(logprobs, w, loss, grad, lower, upper, eta, pull=None, a=None):
    """One exponentiated-gradient step from ``w``; halve ``eta`` while it would raise F.

    Returns the new weights, loss and gradient (the old ones when even a tiny step fails,
    which only rounding can cause at the optimum).
    """
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    for _ in range(MAX_HALVINGS):
        log_v = log_w - eta * grad
        # shift before exp: the ratios are what matter; the floor keeps a free weight
        # that underflowed able to grow back (exp(-inf) = 0 would pin it at 0 for good)
        v = np.maximum(np.exp(log_v - log_v.max()), np.finfo(float).tiny)
        new = kl_project(v, lower, upper)
        new_loss, new_grad = _loss_and_gradient(logprobs, new, pull, a)
        if new_loss <= loss + ASCENT_SLACK * max(1.0, abs(loss)):
            return new, new_loss, new_grad
        eta /= 2
    return w, loss, grad


def _duality_gap(w, grad, lower, upper) -> float:
    """Frank-Wolfe gap ``<grad, w - s>``, ``s`` the box vertex minimising ``<grad, s>``.

    Why this stopping quantity: at the optimum of a convex F on the box-constrained
    simplex the KKT conditions say the gradient equals one constant ``mu`` on the domains
    strictly inside their bounds (and is >= mu at a lower bound, <= mu at an upper
    bound). The spread ``max_k |grad_k - mu|`` over "free" domains tests this, but the
    exponentiated gradient never puts a weight exactly on a bound of 0: a domain the
    target does not want decays geometrically, stays "free", and keeps a gradient well
    above ``mu``, so that spread never falls below ``tol``. The duality gap weighs each
    domain's excess gradient by its weight (on the plain simplex it is
    ``sum_k w_k (grad_k - min_j grad_j)``), so it goes to 0 as those weights decay, it
    handles any box (``s`` is found greedily: every domain at its lower bound, then the
    rest of the mass to the smallest gradients up to their upper bounds), and by
    convexity ``F(w) - min F <= gap``: ``tol`` bounds the excess loss itself.
    """
    order = np.argsort(grad)
    room = (upper - lower)[order]
    left = 1.0 - lower.sum()
    given_before = np.cumsum(room) - room  # mass handed to smaller gradients first
    s = lower.copy()
    s[order] += np.clip(left - given_before, 0.0, room)
    return max(0.0, float(grad @ (w - s)))  # >= 0 up to rounding


def kl_project(v: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """KL projection of ``v >= 0`` onto ``{lower <= w <= upper, sum(w) = 1}``.

    Minimising ``KL(w || v) = sum_i w_i log(w_i / v_i) - w_i + v_i`` over the box and the
    simplex gives (stationarity: ``log(w_i / v_i) = const`` unless ``w_i`` sits on a
    bound) ``w_i = clip(c * v_i, lower_i, upper_i)`` for one scalar ``c > 0``. The sum
    grows monotonically with ``c``, so ``c`` is found by bisection on ``log c``. Without
    bounds this is plain renormalisation ``v / sum(v)``; a domain with ``lower_i ==
    upper_i`` gets exactly that value, and one with ``v_i = 0`` its lower bound.

    Parameters
    ----------
    v : array of shape (k,)
        Non-negative, not all zero.
    lower, upper : array of shape (k,)
        Bounds with ``lower <= upper`` and ``sum(lower) <= 1 <= sum(upper)``.

    Returns
    -------
    ndarray of shape (k,)
        Inside the bounds, summing to 1 within about 1e-15.

    Raises
    ------
    ValueError
        When the domains with ``v_i > 0`` cannot carry the mass ``1 - sum(lower)``.
    """
    v = np.asarray(v, dtype=float)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if lower.sum() >= 1.0 - BOX_TOLERANCE:  # the box is the single point `lower`
        return lower.copy()
    if upper.sum() <= 1.0 + BOX_TOLERANCE:
        return upper.copy()
    pos = v > 0
    if upper[pos].sum() + lower[~pos].sum() < 1.0 - BOX_TOLERANCE:
        raise ValueError("the domains with v > 0 cannot reach a sum of 1 within their bounds")

    def excess(log_c: float) -> float:
        return float(np.clip(np.exp(log_c) * v, lower, upper).sum()) - 1.0

    # at c = (1 - sum(lower)) / sum(v) the sum is at most c * sum(v) + sum(lower) = 1;
    # at the largest upper_i / v_i every positive v_i reaches its upper bound: sum >= 1
    lo = float(np.log((1.0 - lower.sum()) / v.sum()))
    with np.errstate(divide="ignore"):  # an upper bound of 0 gives -inf: never the largest
        hi = float(np.max(np.log(upper[pos]) - np.log(v[pos])))
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):  # the bracket is as narrow as doubles allow
            break
        lo, hi = (mid, hi) if excess(mid) < 0 else (lo, mid)
    return np.clip(np.exp(hi) * v, lower, upper)


# ----------------------------------------------------------------------------- input checks


def _check_weights(weights, t: int) -> np.ndarray | None:
    """The columns' weights normalised to sum to 1 (None: equal), or a one-line UserError."""
    if weights is None:
        return None
    a = np.asarray(weights, dtype=float)
    if a.shape != (t,):
        raise UserError(f"got shape {a.shape}, need ({t},): one weight per column of "
                        "logprobs", field="weights")
    if not (np.all(np.isfinite(a)) and np.all(a >= 0) and a.sum() > 0):
        raise UserError("must be finite, >= 0 and not all 0", field="weights")
    return a / a.sum()


def _check_logprobs(logprobs) -> np.ndarray:
    """The (k, t) log-probabilities as float64, or a one-line UserError."""
    try:
        lp = np.asarray(logprobs, dtype=float)
    except (TypeError, ValueError):
        raise UserError("not a numeric array; pass a (domains, tokens) array of "
                        "log-probabilities", field="logprobs") from None
    if lp.ndim != 2:
        raise UserError(f"got {lp.ndim} dimension(s), need 2; pass shape "
                        f"(domains, tokens), one row per domain's proxy", field="logprobs")
    k, t = lp.shape
    if k < 2:
        raise UserError(f"got {k} domain(s), need at least 2; add a row per "
                        f"domain's proxy", field="logprobs")
    if t < 1:
        raise UserError("no target tokens; pass at least one column", field="logprobs")
    if not np.all(np.isfinite(lp)):
        row, col = np.argwhere(~np.isfinite(lp))[0]
        raise UserError(f"logprobs[{row}, {col}] is {lp[row, col]}; every log-probability must "
                        f"be finite (clip zero probabilities to a small positive value)")
    if lp.max() > LOGPROB_SLACK:
        row, col = np.unravel_index(np.argmax(lp), lp.shape)
        raise UserError(f"logprobs[{row}, {col}] is {lp[row, col]:.3g} > 0; pass natural-log "
                        f"probabilities (<= 0), not losses or logits")
    return np.minimum(lp, 0.0)


def _check_domains(domains, k: int) -> list[str]:
    """Domain names, one per row (default ``domain_<i>``)."""
    if domains is None:
        return [f"domain_{i}" for i in range(k)]
    if isinstance(domains, str):
        raise UserError("got a single string; pass a list of names, one per row", field="domains")
    names = [str(d) for d in domains]
    if len(names) != k:
        raise UserError(f"got {len(names)} names for {k} rows of logprobs; pass "
                        f"one name per row", field="domains")
    if len(set(names)) != k:
        dup = next(d for d in names if names.count(d) > 1)
        raise UserError(f"{dup!r} appears twice; give every domain its own name", field="domains")
    return names


def _check_bounds(lower, upper, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The box as float arrays, or a one-line UserError saying which bound to change."""
    bounds = []
    for name, value, default in (("lower", lower, 0.0), ("upper", upper, 1.0)):
        if value is None:
            bounds.append(np.full(k, default))
            continue
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise UserError(f"{name}: not numeric; pass {k} weights in [0, 1]") from None
        if arr.shape != (k,):
            raise UserError(f"{name}: got shape {arr.shape}, need ({k},); pass one bound per "
                            f"domain")
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise UserError(f"{name}: every bound must be a number in [0, 1]")
        bounds.append(arr)
    lower, upper = bounds
    problem = box_problem(lower, upper)
    if problem is not None:
        side, what = problem
        raise UserError(f"{what}, so no mixture meets the bounds; change {side}", field=side)
    return lower, upper


def _check_pull(prior, kl_weight, upper: np.ndarray, k: int):
    """(kl_weight, prior) for the objective, None without a pull, or a one-line UserError."""
    if not (isinstance(kl_weight, int | float) and np.isfinite(kl_weight) and kl_weight >= 0):
        raise UserError(f"must be a number >= 0 (got {kl_weight!r})", field="kl_weight")
    if kl_weight == 0:
        return None
    if prior is None:
        raise UserError("kl_weight > 0 pulls towards a prior; pass one weight per domain",
                        field="prior")
    try:
        prior = np.asarray(prior, dtype=float)
    except (TypeError, ValueError):
        raise UserError(f"not numeric; pass {k} weights", field="prior") from None
    if prior.shape != (k,) or not np.all(np.isfinite(prior)) or prior.min() < 0:
        raise UserError(f"need {k} finite weights >= 0 (got shape {prior.shape})", field="prior")
    if np.any((prior == 0) & (upper > 0)):
        i = int(np.argmax((prior == 0) & (upper > 0)))
        raise UserError(f"prior[{i}] is 0, so KL(w || prior) is infinite unless upper[{i}] "
                        "is 0; give it a positive prior or set kl_weight to 0")
    return float(kl_weight), prior / prior.sum()


def _check_settings(eta, max_steps, tol) -> None:
    """Step size, step budget and tolerance: finite and of the right sign."""
    if not (isinstance(eta, int | float) and np.isfinite(eta) and eta > 0):
        raise UserError(f"got {eta!r}; pass a positive step size (the paper uses 1.0)", field="eta")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) \
            or max_steps < 0:
        raise UserError(f"got {max_steps!r}; pass a whole number >= 0", field="max_steps")
    if not (isinstance(tol, int | float) and np.isfinite(tol) and tol >= 0):
        raise UserError(f"got {tol!r}; pass a tolerance >= 0", field="tol")
