"""The critical proportion of a new domain in continual pretraining.

Continual pretraining adds a new domain (code, a language, a specialty) to a model
trained on some original data, and mixes some of the original data back in so the
model does not forget it. The more of the new domain, the more the loss on the original
data rises. Data Mixing Laws (Ye et al., ICLR 2025, sec. 4.3 and fig. 8) found that this
loss follows the two-domain mixing law in the proportion ``r`` of the new domain,

    L(r) = c + k * exp(t * r),

and called the largest ``r`` whose loss on the original data ends at or below ``L0``,
its value before continual pretraining, the *critical proportion*: continual
pretraining on Pythia-70M with Pile + Python code, fitted on four proportions, gave
0.286 of Pile (0.714 of Python); a fifth run at that proportion ended just below ``L0``.

The two-domain law is the multi-domain law of :mod:`raymix.regression.laws` on the simplex: with
proportions ``(1 - r, r)``, ``t . (1 - r, r) = t_orig + (t_new - t_orig) * r``, so one
slope and one amplitude remain. It is fitted with :class:`raymix.regression.MixingLaw` on the
single column ``r``; off the simplex all of ``c``, ``k`` and ``t`` are free, so three
distinct proportions are the least that pin it down. ``t > 0`` is the premise (the new
domain hurts the original data); the answer is then the closed form

    r* = log((L0 - c) / k) / t, clipped to [0, 1],

with two edge cases: if even ``r = 0`` is predicted above ``L0`` (``L(0) = c + k`` is
above the baseline: the continual-pretraining recipe itself, e.g. its learning rate,
costs more than any mixing can save), there is no safe proportion
and the answer is 0 with ``feasible=False``; if even ``r = 1`` stays below ``L0``, the
answer is 1.

Losses at one scale
-------------------
The answer depends on how long continual pretraining runs: on the paper's runs the
critical share of Python is 0.64 - 0.68 over the first 4k steps and 0.72 at 10k (see
``bench/bench_critical.py``). Give one loss per run at the target length, or give every
checkpoint with its ``tokens`` and a target ``at_tokens``: each proportion's curve is then
extrapolated with ``L_r(T) = E_r + B_r / T^beta``
(:func:`raymix.scaling.fit_shared_exponent`, one exponent shared across proportions,
as in Data Mixing Laws' nested pipeline) before the law over ``r`` is fitted. On the
paper's runs the loss on the original data first rises (forgetting) and then falls;
a power law, decreasing by construction, describes only the falling part, so pass the
checkpoints after the rise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from raymix.errors import UserError
from raymix.regression import MixingLaw
from raymix.runs import PARAMS, TOKENS, LongRuns, Runs
from raymix.scaling import fit_shared_exponent

MIN_PROPORTIONS = 3  # c, k and t of the two-domain law
PROPORTION_DECIMALS = 9  # proportions equal to 9 decimals are one group of checkpoints


@dataclass
class CriticalProportion:
    """The largest proportion of a new domain that keeps the original-data loss at ``L0``.

    Attributes
    ----------
    domain : str
        The new domain.
    proportion : float
        Largest ``r`` in [0, 1] with predicted ``L_original(r) <= baseline`` at ``tokens``.
        The original data's share is ``1 - proportion``.
    baseline : float
        ``L0``: the loss on the original data before continual pretraining.
    tokens : float or None
        The training length the answer holds for; None: that of the losses given
        (the last checkpoint).
    law : dict
        Fitted ``c``, ``k``, ``t``; fit quality (``rmse``, ``max_abs_residual``,
        ``n_points``); the proportions seen; ``step_law`` when checkpoints were
        extrapolated.
    feasible : bool
        False when even ``r = 0`` is predicted above ``L0``; ``proportion`` is then 0.
    message : str
        What the user should know about the answer (infeasible, extrapolated), or "".
    target : str
        The loss on the original data that must not rise (the runs' objective).
    files : dict of str to str
        What was written, where (``critical``), when a file was asked for.
    """

    domain: str
    proportion: float
    baseline: float
    tokens: float | None
    law: dict
    feasible: bool
    message: str = ""
    target: str = "objective"
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable fields (what ``critical.json`` holds)."""
        out = asdict(self)
        out.pop("files")
        return {"target": out.pop("target"), **out}


# ----------------------------------------------------------------------------- checks


def _check_baseline(baseline) -> float:
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float, np.number)) \
            or not np.isfinite(baseline) or baseline <= 0:
        raise UserError(f"give the loss on the original data before continual "
                        f"pretraining as a positive number (got {baseline!r})", field="baseline")
    return float(baseline)


def _check_rows(weights, losses, tokens) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """1-D float arrays of one proportion, one loss (and one token count) per row."""
    weights = np.asarray(weights, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if weights.ndim != 1 or losses.shape != weights.shape:
        raise UserError(f"give one proportion of the new domain and one loss per "
                        f"run (got shapes {weights.shape} and {losses.shape})",
                        field="critical_share")
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(losses))):
        raise UserError("the proportions or losses contain missing or infinite "
                        "values (failed runs?); drop those runs", field="critical_share")
    if weights.min() < 0 or weights.max() > 1:
        raise UserError(f"proportions of the new domain must lie in [0, 1] "
                        f"(got {weights.min():.4g} to {weights.max():.4g})", field="critical_share")
    if losses.min() <= 0:
        raise UserError(f"losses must be positive (min {losses.min():.4g})", field="critical_share")
    if tokens is not None:
        tokens = np.asarray(tokens, dtype=float)
        if tokens.shape != weights.shape or not np.all(np.isfinite(tokens)) or tokens.min() <= 0:
            raise UserError("tokens must give one positive, finite token count "
                            "per row of losses", field="critical_share")
    distinct = len(np.unique(weights.round(PROPORTION_DECIMALS)))
    if distinct < MIN_PROPORTIONS:
        raise UserError(f"the law c + k*exp(t*r) needs runs at {MIN_PROPORTIONS} "
                        f"or more distinct proportions of the new domain (got {distinct}); "
                        "run more proportions", field="critical_share")
    return weights, losses, tokens


def _check_at_tokens(at_tokens, tokens) -> float | None:
    if at_tokens is None:
        return None
    if tokens is None:
        raise UserError("at_tokens needs the tokens of each checkpoint to "
                        "extrapolate from; pass tokens too, or leave at_tokens out",
                        field="critical_share")
    if isinstance(at_tokens, bool) or not isinstance(at_tokens, (int, float, np.number)) \
            or not np.isfinite(at_tokens) or at_tokens <= 0:
        raise UserError(f"at_tokens must be a positive number (got {at_tokens!r})",
                        field="critical_share")
    return float(at_tokens)


# ----------------------------------------------------------------------------- stages


def _extrapolate_steps(weights, losses, tokens, at_tokens) -> tuple[np.ndarray, np.ndarray, dict]:
    """Each proportion's checkpoints -> its loss at ``at_tokens`` (shared-exponent power law)."""
    keys = weights.round(PROPORTION_DECIMALS)
    levels = np.unique(keys)
    xs, ys = [], []
    for level in levels:
        rows = keys == level
        if len(np.unique(tokens[rows])) < 3:
            raise UserError(f"proportion {level:g} has checkpoints at "
                            f"{len(np.unique(tokens[rows]))} token count(s); the step law "
                            "needs 3 or more per proportion", field="critical_share")
        xs.append(tokens[rows])
        ys.append(losses[rows])
    E, B, beta = fit_shared_exponent(xs, ys)
    residuals = np.concatenate([e + b * x ** -beta - y for e, b, x, y in zip(E, B, xs, ys)])
    predicted = E + B * at_tokens ** -beta
    info = {"beta": beta, "E": E.tolist(), "B": B.tolist(), "proportions": levels.tolist(),
            "predicted": predicted.tolist(), "rmse": float(np.sqrt(np.mean(residuals ** 2))),
            "at_tokens": at_tokens}
    return levels, predicted, info


def _fit_law(weights, losses, seed) -> tuple[float, float, float, dict]:
    """The two-domain law on the new domain's proportion; its c, k, t and fit quality."""
    law = MixingLaw(seed=seed).fit(weights[:, None], losses)
    residuals = law.predict(weights[:, None]) - losses
    info = {"c": float(law.c_), "k": float(law.k_), "t": float(law.t_[0]),
            "rmse": float(np.sqrt(np.mean(residuals ** 2))),
            "max_abs_residual": float(np.abs(residuals).max()), "n_points": len(losses),
            "proportions_seen": [float(weights.min()), float(weights.max())]}
    return law.c_, law.k_, float(law.t_[0]), info


def _solve(c: float, k: float, t: float, baseline: float) -> tuple[float, bool]:
    """Largest r in [0, 1] with c + k*exp(t*r) <= baseline (t > 0), and whether one exists."""
    if c + k > baseline:
        return 0.0, False
    if c + k * np.exp(t) <= baseline:
        return 1.0, True
    return float(np.log((baseline - c) / k) / t), True


def _message(domain, proportion, feasible, c, k, baseline, seen) -> str:
    if not feasible:
        return (f"even without {domain!r} (r = 0) the loss on the original data is predicted "
                f"at {c + k:.4g}, above the baseline {baseline:.4g}: no proportion keeps it; "
                "the continual-pretraining recipe itself (learning rate, length) loses it")
    if not seen[0] <= proportion <= seen[1]:
        return (f"the critical proportion {proportion:.3g} lies outside the proportions run "
                f"({seen[0]:.3g} to {seen[1]:.3g}): an extrapolation; check it with one run "
                "at that proportion")
    return ""


# ----------------------------------------------------------------------------- public


def critical_proportion(weights, losses, baseline: float, *, domain: str = "new",
                        tokens=None, at_tokens: float | None = None,
                        seed: int = 0) -> CriticalProportion:
    """Largest proportion of a new domain that keeps the loss on the original data at ``L0``.

    Fits ``L(r) = c + k * exp(t * r)`` (Ye et al., ICLR 2025, sec. 4.3) to the loss on the
    original data against the new domain's proportion ``r`` and solves ``L(r) = L0``.

    Parameters
    ----------
    weights : array-like of shape (n,)
        Proportion of the new domain in each run (or in the run of each checkpoint row).
    losses : array-like of shape (n,)
        Loss on the original data of each run (or checkpoint).
    baseline : float
        ``L0``, the loss on the original data before continual pretraining.
    domain : str, default="new"
        Name of the new domain, for the report.
    tokens : array-like of shape (n,), optional
        Training tokens (or steps) of each row. When given, every proportion's rows are a
        loss curve, extrapolated to ``at_tokens`` by a power law before the fit over ``r``.
    at_tokens : float, optional
        Scale to extrapolate to, in the unit of ``tokens``; default: the largest of them.
    seed : int, default=0
        Seed of the mixing law's random starts.

    Returns
    -------
    CriticalProportion

    Raises
    ------
    UserError
        On bad inputs, fewer than 3 distinct proportions, a baseline that is not a
        positive number, or data where the original-data loss does not rise with ``r``.
    """
    baseline = _check_baseline(baseline)
    weights, losses, tokens = _check_rows(weights, losses, tokens)
    at_tokens = _check_at_tokens(at_tokens, tokens)
    step_law = None
    if tokens is not None:
        at_tokens = at_tokens if at_tokens is not None else float(tokens.max())
        weights, losses, step_law = _extrapolate_steps(weights, losses, tokens, at_tokens)
    c, k, t, law = _fit_law(weights, losses, seed)
    if step_law is not None:
        law["step_law"] = step_law
    if t <= 0:
        raise UserError(f"the data do not show the loss on the original data "
                        f"rising with the proportion of {domain!r} (fitted t = {t:.3g}); "
                        "check that the target is the original data's loss and the weights "
                        "are the new domain's", field="critical_share")
    proportion, feasible = _solve(c, k, t, baseline)
    return CriticalProportion(
        domain=domain, proportion=proportion, baseline=baseline, tokens=at_tokens, law=law,
        feasible=feasible,
        message=_message(domain, proportion, feasible, c, k, baseline, law["proportions_seen"]))


def critical_from_runs(runs: Runs | LongRuns, domain: str, baseline: float, *,
                       at_tokens: float | None = None, seed: int = 0) -> CriticalProportion:
    """:func:`critical_proportion` on runs read from tables: the runs' objective must be
    the loss on the original data, and ``domain`` the mixture column of the new domain.

    Wide :class:`Runs` give one loss per run; a long :class:`LongRuns` table gives every
    checkpoint, so the answer can be extrapolated to ``at_tokens`` by the step law.

    Raises
    ------
    UserError
        When ``domain`` is no mixture column, and as :func:`critical_proportion`.
    """
    if domain not in runs.domains:
        raise UserError(f"no domain {domain!r} in the mixtures (domains: "
                        f"{', '.join(runs.domains)}); name the new domain's column",
                        field="domain")
    if isinstance(runs, LongRuns):
        frame = runs.frame
        sizes = frame[PARAMS].nunique()
        if sizes > 1:  # one checkpoint is continued: curves of several sizes do not mix
            raise UserError(f"the table has runs of {sizes} model sizes; give the "
                            "runs that continue one checkpoint (one params value)",
                            field="critical_share")
        answer = critical_proportion(frame[domain].to_numpy(), frame["objective"].to_numpy(),
                                     baseline, domain=domain, tokens=frame[TOKENS].to_numpy(),
                                     at_tokens=at_tokens, seed=seed)
    elif at_tokens is not None:
        raise UserError("extrapolating to more tokens needs every checkpoint: give the "
                        "runs as a long table (read_long_runs)", field="at")
    else:
        answer = critical_proportion(runs.mixtures[domain].to_numpy(),
                                     runs.objective.to_numpy(), baseline, domain=domain,
                                     seed=seed)
    answer.target = runs.target
    return answer
