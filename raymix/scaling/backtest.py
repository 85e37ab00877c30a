"""Choose the scaling-law settings by a backtest that mimics the extrapolation asked for.

Which law extrapolates best depends on how far it must go: on Data Mixing Laws' runs
(Ye et al., ICLR 2025) the nested step and size laws win a short step extrapolation and
the joint law ``L(N, D)`` (Hoffmann et al., 2022) a far size extrapolation
(docs/benchmarks.md). So instead of a rule, :func:`backtest` measures it on the runs:

1. **the split** - the runs' largest sizes and/or latest checkpoints are held out, so
   that the ratios ``(held-out params / largest fitted params, held-out tokens / latest
   fitted checkpoint of that size)`` lie as near as the data allow (distance of the
   log-ratios) to the ratios asked for (``at`` over the largest trained size and its
   latest checkpoint),
   among the splits on which the most settings can be fitted (with 3 sizes, holding out
   the largest leaves the nested size law too few: such a split compares nothing);
2. **the candidates** - each setting (:class:`Setting`: law nested / joint, shared
   exponents on / off for nested, checkpoints all / final) is fitted on the rest and
   predicts every mixture measured at the held-out scale;
3. **the choice** - the least mean |error| %; among settings within a near-tie of it
   (:data:`NEAR_TIE_PCT` points, or :data:`NEAR_TIE_FRACTION` of it), the best Spearman of
   the mixtures, since the mixing law downstream needs their order more than their level.

When the data cannot support a backtest (one size and one checkpoint, no mixture measured
at any held-out scale, no candidate that fits), :attr:`BacktestResult.note` says why and the
fallback setting is chosen (raymix's rule: nested with 3 sizes or more, else joint).
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from raymix.config import CHECKPOINTS
from raymix.errors import UserError
from raymix.runs import PARAMS, RUN_COLUMN, TOKENS, LongRuns
from raymix.scaling.base import MIXTURE_DECIMALS, MixtureScalingLaw, TargetSize
from raymix.scaling.joint import JointScalingLaw
from raymix.scaling.nested import NestedScalingLaw

LAWS = ("nested", "joint")
NEAR_TIE_PCT = 0.05  # errors within 0.05 points of the best ...
NEAR_TIE_FRACTION = 0.05  # ... or 5% of it are a near-tie, broken by Spearman
MIN_RANKED = 3  # held-out mixtures a Spearman needs; splits with fewer come last
N_SPLITS = 1  # the nearest splits a setting is scored on (its mean)
MAX_SPLITS = 3  # more splits tried when one has no setting that fits
SPLITS_COMPARED = 20  # the nearest splits ranked by how many settings can be tried on them


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    """One way to extrapolate: the law, shared exponents (nested only), the checkpoints.

    Attributes
    ----------
    law : {"nested", "joint"}
    share_exponents : bool
        Nested: one step exponent per size and one size exponent for all mixtures
        (the joint law always shares its exponents).
    checkpoints : {"all", "final"}
    """

    law: str
    share_exponents: bool = False
    checkpoints: str = "all"

    def __str__(self) -> str:
        shared = ", shared exponents" if self.share_exponents else ""
        return f"{self.law}{shared}, {self.checkpoints} checkpoints"

    def make(self, min_tokens: float | None = None) -> MixtureScalingLaw:
        """An unfitted estimator of this setting."""
        if self.law == "joint":
            return JointScalingLaw(checkpoints=self.checkpoints, min_tokens=min_tokens)
        return NestedScalingLaw(share_step_exponent=self.share_exponents,
                                share_size_exponent=self.share_exponents,
                                checkpoints=self.checkpoints, min_tokens=min_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law, "share_exponents": self.share_exponents,
                "checkpoints": self.checkpoints}


def settings_to_try(law: str = "auto", share_exponents: bool | str = "auto",
                    checkpoints: str = "auto") -> list[Setting]:
    """Every setting the given values leave open (``"auto"``: each choice).

    ``share_exponents`` applies to the nested law only; the joint law is tried once per
    checkpoint choice.
    """
    laws = LAWS if law == "auto" else (law,)
    shares = (False, True) if share_exponents == "auto" else (bool(share_exponents),)
    kept = CHECKPOINTS if checkpoints == "auto" else (checkpoints,)
    out = []
    for name, points in itertools.product(laws, kept):
        for share in (shares if name == "nested" else (False,)):
            out.append(Setting(name, share, points))
    return out


def rule_setting(runs: LongRuns, law: str = "auto", share_exponents: bool | str = "auto",
                 checkpoints: str = "auto") -> Setting:
    """raymix's rule without a backtest: nested with 3 sizes or more, else joint; exponents
    per curve; all checkpoints (each value not ``"auto"`` kept)."""
    if law == "auto":
        law = "nested" if runs.frame[PARAMS].nunique() >= 3 else "joint"
    share = False if share_exponents == "auto" else bool(share_exponents)
    return Setting(law, share and law == "nested", "all" if checkpoints == "auto" else checkpoints)


# ----------------------------------------------------------------------------- results


@dataclass
class Split:
    """What a backtest fits and what it predicts.

    Attributes
    ----------
    fit_params : float
        The largest model size fitted (larger sizes are held out).
    fit_tokens : float
        The latest checkpoint fitted (later ones are held out).
    at : TargetSize
        The held-out scale predicted.
    n_mixtures : int
        Mixtures measured there (and fitted).
    ratio : tuple of float
        ``at.params`` over the largest size fitted, ``at.tokens`` over the latest
        checkpoint fitted of that size.
    distance : float
        Euclidean distance of the log-ratios to the requested ones.
    """

    fit_params: float
    fit_tokens: float
    at: TargetSize
    n_mixtures: int
    ratio: tuple[float, float]
    distance: float

    def __str__(self) -> str:
        return (f"fit <= {self.fit_params:.4g} params and <= {self.fit_tokens:.4g} tokens, "
                f"predict {self.n_mixtures} mixtures at {self.at} "
                f"(ratio {self.ratio[0]:.3g}x params, {self.ratio[1]:.3g}x tokens)")

    def to_dict(self) -> dict[str, Any]:
        return {"fit_params": self.fit_params, "fit_tokens": self.fit_tokens,
                "at": self.at.to_dict(), "n_mixtures": self.n_mixtures,
                "ratio": list(self.ratio), "distance": self.distance}


@dataclass
class CandidateScore:
    """One setting's backtest: its errors on the held-out mixtures, or why it could not fit."""

    setting: Setting
    mean_abs_error_pct: float | None = None
    bias_pct: float | None = None
    spearman: float | None = None
    n: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"setting": str(self.setting), **self.setting.to_dict(),
                "mean_abs_error_pct": self.mean_abs_error_pct, "bias_pct": self.bias_pct,
                "spearman": self.spearman, "n": self.n, "error": self.error}


@dataclass
class BacktestResult:
    """The backtest's split, each candidate's score and the setting chosen.

    Attributes
    ----------
    requested : TargetSize
        The target scale asked for, defaults filled in.
    requested_ratio : tuple of float
        Its ratios to the largest trained params and the latest checkpoint.
    split : Split or None
        The nearest split scored; None when the data support no backtest (see ``note``).
    splits : list of Split
        Every split scored (``scores`` are their means).
    scores : list of CandidateScore
        In the order tried.
    chosen : Setting
        The winner, or the fallback when ``note`` is set.
    note : str or None
        Why no backtest could choose, and that the fallback rule was used.
    seconds : float
        The backtest's cost.
    """

    requested: TargetSize
    requested_ratio: tuple[float, float]
    split: Split | None
    splits: list[Split] = field(default_factory=list)
    scores: list[CandidateScore] = field(default_factory=list)
    chosen: Setting | None = None
    note: str | None = None
    seconds: float = 0.0

    def table(self) -> pd.DataFrame:
        """One row per candidate: setting, mean |error| %, bias %, Spearman, chosen."""
        rows = [{**s.to_dict(), "chosen": s.setting == self.chosen} for s in self.scores]
        return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for a fit's ``stages_["backtest"]``."""
        return {"requested": self.requested.to_dict(),
                "requested_ratio": list(self.requested_ratio),
                "split": None if self.split is None else self.split.to_dict(),
                "splits": [split.to_dict() for split in self.splits],
                "candidates": [s.to_dict() for s in self.scores],
                "chosen": str(self.chosen), "chosen_setting": self.chosen.to_dict(),
                "note": self.note, "seconds": round(self.seconds, 3)}


# ----------------------------------------------------------------------------- the backtest


def _measured(runs: LongRuns) -> pd.DataFrame:
    """Checkpoints averaged over seeds: mixture key, params, tokens, objective."""
    frame = runs.frame
    key = frame[runs.domains].round(MIXTURE_DECIMALS).apply(tuple, axis=1)
    return (frame.assign(mixture=key.to_numpy())
            .groupby(["mixture", PARAMS, TOKENS], sort=False)["objective"].mean().reset_index())


def requested_size(runs: LongRuns, at: TargetSize) -> tuple[TargetSize, tuple[float, float]]:
    """``at`` with the laws' defaults filled in, and its ratios to the runs' largest scale.

    Defaults: the largest trained size; the latest checkpoint every run reached. The
    ratios: to the largest size, and to the latest checkpoint of that size (where the
    laws extrapolate furthest; a small model's longer runs do not shorten that).
    """
    requested = TargetSize(
        params=float(at.params if at.params is not None else runs.frame[PARAMS].max()),
        tokens=float(at.tokens if at.tokens is not None
                     else runs.frame.groupby(RUN_COLUMN)[TOKENS].max().min()))
    top, reached = _largest_size(runs.frame)
    return requested, (requested.params / top, requested.tokens / reached)


def _largest_size(frame: pd.DataFrame) -> tuple[float, float]:
    """The largest size of ``frame`` and the latest checkpoint of that size."""
    top = float(frame[PARAMS].max())
    return top, float(frame.loc[frame[PARAMS] == top, TOKENS].max())


def candidate_splits(runs: LongRuns, at: TargetSize, min_tokens: float | None = None
                     ) -> list[tuple[Split, pd.DataFrame]]:
    """Every split of the runs into a fitted part and a measured held-out scale, nearest first.

    A split fits the sizes up to one trained size and the checkpoints up to one trained
    token count, and predicts a measured (params, tokens) outside that box. The fitted part
    must hold (after ``min_tokens``) 3 checkpoints and 2 sizes (3 when the runs have 4
    or more, as the nested size law needs), or as many as the runs have. Order: splits
    with ``MIN_RANKED`` held-out mixtures first (when any has them), then the log-ratio
    distance to the request, then more held-out mixtures, then a larger fitted part. Each
    comes with the held-out measured losses (index: mixture key).
    """
    _, wanted = requested_size(runs, at)
    points = _measured(runs)
    scales = points.groupby([PARAMS, TOKENS])["mixture"].agg(set)
    sizes = np.sort(points[PARAMS].unique())
    tokens = np.sort(points[TOKENS].unique())
    found = []
    usable = points[TOKENS] >= (min_tokens or 0)
    n_sizes = points.loc[usable, PARAMS].nunique()
    need_sizes = 3 if n_sizes >= 4 else min(2, n_sizes)
    need_tokens = min(3, points.loc[usable, TOKENS].nunique())
    for fit_params, fit_tokens in itertools.product(sizes, tokens):
        inside = usable & (points[PARAMS] <= fit_params) & (points[TOKENS] <= fit_tokens)
        if (points.loc[inside, PARAMS].nunique() < need_sizes
                or points.loc[inside, TOKENS].nunique() < need_tokens):
            continue
        fitted = set(points.loc[inside, "mixture"])
        top, reached = _largest_size(points[inside])
        for (params, tok), mixtures in scales.items():
            if params <= fit_params and tok <= fit_tokens:
                continue
            n = len(mixtures & fitted)
            if n == 0:
                continue
            ratio = (params / top, tok / reached)
            distance = float(np.hypot(*(np.log(ratio) - np.log(wanted))))
            found.append((Split(float(fit_params), float(fit_tokens),
                                TargetSize(params=float(params), tokens=float(tok)), n,
                                (float(ratio[0]), float(ratio[1])), distance),
                          int(inside.sum())))
    if not found:
        return []
    enough = min(MIN_RANKED, max(split.n_mixtures for split, _ in found))
    found.sort(key=lambda s: (s[0].n_mixtures < enough, round(s[0].distance, 9),
                              -s[0].n_mixtures, -s[1]))
    return [(split, held_out_losses(runs, split.at, points)) for split, _ in found]


def held_out_losses(runs: LongRuns, at: TargetSize, points: pd.DataFrame | None = None
                    ) -> pd.Series:
    """The measured objective of every mixture at ``at`` (seeds averaged), indexed by the
    mixture's weights rounded to 1e-6 (the key :func:`score_setting` matches on)."""
    points = _measured(runs) if points is None else points
    held = points[np.isclose(points[PARAMS], at.params, rtol=1e-9)
                  & np.isclose(points[TOKENS], at.tokens, rtol=1e-9)]
    return held.set_index("mixture")["objective"]


def _fitted_part(runs: LongRuns, split: Split, checkpoints: str = "all") -> LongRuns:
    """The runs a split fits: sizes up to ``fit_params``; checkpoints up to ``fit_tokens``,
    or, for ``checkpoints="final"``, the whole runs that end by then (a run cut short is
    not a run that ended there: its learning rate had not decayed)."""
    frame = runs.frame
    keep = frame[PARAMS] <= split.fit_params
    if checkpoints == "final":
        keep &= frame.groupby(RUN_COLUMN)[TOKENS].transform("max") <= split.fit_tokens
    else:
        keep &= frame[TOKENS] <= split.fit_tokens
    return LongRuns(frame=frame[keep].reset_index(drop=True), domains=list(runs.domains),
                    target=runs.target)


def _not_tried(setting: Setting, runs: LongRuns, split: Split) -> tuple[str | None, LongRuns]:
    """Why ``setting`` cannot be tried on ``split`` (None if it can), and its fitted part."""
    fitted = _fitted_part(runs, split, setting.checkpoints)
    if fitted.frame.empty:
        return "no run ends inside the fitted part", fitted
    reason = unreachable(setting, fitted, split.at)
    return (None if reason is None else f"not tried on this split: {reason}"), fitted


def _fit_on_split(setting: Setting, runs: LongRuns, split: Split, held: pd.Series,
                  min_tokens: float | None) -> CandidateScore:
    reason, fitted = _not_tried(setting, runs, split)
    if reason is not None:
        return CandidateScore(setting, error=reason)
    return score_setting(setting, fitted, split.at, held, min_tokens)


def _comparable_first(splits: list, runs: LongRuns, settings: Sequence[Setting]) -> list:
    """The nearest splits (``SPLITS_COMPARED``) reordered so that those on which more of
    ``settings`` can be tried come first (a split that only one setting can be fitted on
    compares nothing), nearest first among equals; then the rest."""
    head, tail = splits[:SPLITS_COMPARED], splits[SPLITS_COMPARED:]
    tried = [sum(_not_tried(s, runs, split)[0] is None for s in settings) for split, _ in head]
    order = sorted(range(len(head)), key=lambda i: -tried[i])  # stable: nearest first
    return [head[i] for i in order] + tail


def _mean_score(setting: Setting, scores: list[CandidateScore]) -> CandidateScore:
    """One setting over several splits: the mean of each measure; an error if any failed."""
    failed = [s.error for s in scores if s.error is not None]
    if failed:
        return CandidateScore(setting, error=failed[0])
    rhos = [s.spearman for s in scores if s.spearman is not None]
    return CandidateScore(setting, float(np.mean([s.mean_abs_error_pct for s in scores])),
                          float(np.mean([s.bias_pct for s in scores])),
                          float(np.mean(rhos)) if rhos else None, sum(s.n for s in scores))


def score_setting(setting: Setting, fitted: LongRuns, at: TargetSize, held: pd.Series,
                  min_tokens: float | None = None) -> CandidateScore:
    """Fit ``setting`` on ``fitted``, predict ``at``, compare with ``held`` (by mixture key)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            law = setting.make(min_tokens).fit(fitted, at)
    except (UserError, ValueError, np.linalg.LinAlgError) as exc:
        return CandidateScore(setting, error=str(exc).split(";")[0])
    keys = law.mixtures_.round(MIXTURE_DECIMALS).apply(tuple, axis=1)
    predicted = pd.Series(law.predicted_.to_numpy(), index=keys.to_numpy())
    common = predicted.index.intersection(held.index)
    if common.empty:
        return CandidateScore(setting, error="no held-out mixture was predicted")
    p, a = predicted.loc[common].to_numpy(float), held.loc[common].to_numpy(float)
    if not np.isfinite(p).all():
        return CandidateScore(setting, error="a prediction is not finite")
    relative = 100 * (p - a) / a
    rho = None
    if len(a) >= MIN_RANKED and np.ptp(p) > 0 and np.ptp(a) > 0:
        rho = float(stats.spearmanr(p, a).statistic)
    return CandidateScore(setting, float(np.abs(relative).mean()), float(relative.mean()),
                          rho, int(len(a)))


def unreachable(setting: Setting, runs: LongRuns, at: TargetSize) -> str | None:
    """Why ``setting`` cannot predict ``runs`` at ``at`` (both parts given), found by counting
    sizes and run lengths, without a fit; None when it may. Only the nested law has such
    limits: its size law needs 3 sizes, and its step law on final checkpoints needs runs of
    3 lengths (2 with shared exponents) unless the target is one of them."""
    if setting.law != "nested":
        return None
    frame = runs.frame
    sizes = frame[PARAMS].unique()
    if len(sizes) < 3 and not np.isclose(sizes, at.params, rtol=1e-9).any():
        return f"the nested size law needs 3 sizes (the runs have {len(sizes)})"
    if setting.checkpoints == "final":
        final = frame.loc[frame.groupby(RUN_COLUMN, sort=False)[TOKENS].idxmax()]
        key = final[runs.domains].round(MIXTURE_DECIMALS).apply(tuple, axis=1)
        lengths = final.assign(mixture=key.to_numpy()).groupby(["mixture", PARAMS])[TOKENS]
        need = 2 if setting.share_exponents else 3
        if (lengths.nunique().max() < need
                and not np.isclose(final[TOKENS], at.tokens, rtol=1e-9).any()):
            return (f"on final checkpoints the step law needs runs of {need} lengths, and "
                    f"no run ends at {at.tokens:.4g} tokens")
    return None


def choose(scores: Sequence[CandidateScore]) -> Setting | None:
    """The least mean |error| %, near-ties broken by Spearman; None if none fitted."""
    ok = [s for s in scores if s.error is None]
    if not ok:
        return None
    best = min(s.mean_abs_error_pct for s in ok)
    near = [s for s in ok
            if s.mean_abs_error_pct <= best + max(NEAR_TIE_PCT, NEAR_TIE_FRACTION * best)]
    return max(near, key=lambda s: (-np.inf if s.spearman is None else s.spearman,
                                    -s.mean_abs_error_pct)).setting


def backtest_scaling(runs: LongRuns, at: TargetSize, settings: Sequence[Setting], fallback: Setting,
                     min_tokens: float | None = None, n_splits: int = N_SPLITS
                     ) -> BacktestResult:
    """Choose among ``settings`` by how well each predicts held-out runs at a like ratio.

    Parameters
    ----------
    runs : LongRuns
        Checkpoints of runs of one or more sizes.
    at : TargetSize
        The target scale asked for (None parts: the largest trained size, the latest
        checkpoint every run reached).
    settings : sequence of Setting
        The candidates (:func:`settings_to_try`).
    fallback : Setting
        Chosen, with a note, when the data support no backtest (:func:`rule_setting`).
    min_tokens : float, optional
        Passed to every candidate (checkpoints before it are left out).
    n_splits : int, default=N_SPLITS
        Average each setting's scores over this many of the nearest splits (where any
        setting fits); a setting must fit on all of them.

    Returns
    -------
    BacktestResult
    """
    start = time.perf_counter()
    requested, ratio = requested_size(runs, at)
    result = BacktestResult(requested, ratio, None, chosen=fallback)
    reasons = {s: unreachable(s, runs, requested) for s in settings}
    left_out = [CandidateScore(s, error=f"cannot reach the target: {reasons[s]}")
                for s in settings if reasons[s] is not None]
    settings = [s for s in settings if reasons[s] is None]
    splits = candidate_splits(runs, at, min_tokens) if len(settings) > 1 else []
    splits = _comparable_first(splits, runs, settings)
    if len(settings) == 1:
        result.chosen = settings[0]
        why = f" ({left_out[0].error})" if left_out else ""
        result.note = (f"no backtest: {settings[0]} is the only setting that can reach the "
                       f"target{why}")
    elif not splits:
        n_sizes, n_tokens = runs.frame[PARAMS].nunique(), runs.frame[TOKENS].nunique()
        result.note = (f"no backtest: the runs have {n_sizes} size(s) and {n_tokens} "
                       "checkpoint(s) and no scale to hold out that a mixture was measured "
                       f"at; using the rule ({fallback})")
    per_split = []  # (split, scores) of the splits where a setting could be fitted
    for split, held in splits[:n_splits + MAX_SPLITS - 1]:
        scores = [_fit_on_split(s, runs, split, held, min_tokens) for s in settings]
        if any(s.error is None for s in scores):
            per_split.append((split, scores))
        if len(per_split) == n_splits:
            break
    if per_split:
        result.splits = [split for split, _ in per_split]
        result.split = result.splits[0]
        result.scores = [_mean_score(s, [scores[i] for _, scores in per_split])
                         for i, s in enumerate(settings)] + left_out
        chosen = choose(result.scores)
        if chosen is None:
            result.note = (f"no backtest: no setting could be fitted on every split; using "
                           f"the rule ({fallback})")
        else:
            result.chosen = chosen
    elif splits:
        result.note = (f"no backtest: no setting could be fitted on the nearest splits of "
                       f"the runs; using the rule ({fallback})")
    result.seconds = time.perf_counter() - start
    return result


def backtest_summary(stored: dict[str, Any]) -> list[str]:
    """A stored backtest (:meth:`BacktestResult.to_dict`) in lines: the split and its ratio,
    then one line per candidate (mean |error| %, bias %, Spearman), the chosen marked ``*``;
    or one line saying why there was no backtest."""
    asked = stored["requested_ratio"]
    if stored["split"] is None:
        return [stored["note"]]  # "no backtest: <why>; using the rule (<setting>)"
    split = stored["split"]
    ratio = split["ratio"]
    lines = [f"backtest of the settings: fit <= {split['fit_params']:.4g} params and <= "
             f"{split['fit_tokens']:.4g} tokens, predict {split['n_mixtures']} mixtures at "
             f"{TargetSize(**split['at'])} (ratio {ratio[0]:.3g}x params, {ratio[1]:.3g}x tokens; "
             f"asked {asked[0]:.3g}x, {asked[1]:.3g}x)"
             + (f", mean over the {len(stored['splits'])} nearest splits"
                if len(stored["splits"]) > 1 else "") + f"; {stored['seconds']:.1f} s"]
    for row in stored["candidates"]:
        mark = "*" if row["setting"] == stored["chosen"] else " "
        if row["error"] is not None:
            lines.append(f"  {mark} {row['setting']:<44} cannot fit: {row['error']}")
            continue
        rho = "n/a" if row["spearman"] is None else f"{row['spearman']:.3f}"
        lines.append(f"  {mark} {row['setting']:<44} error {row['mean_abs_error_pct']:.2f}% "
                     f"bias {row['bias_pct']:+.2f}% Spearman {rho}")
    if stored["note"]:
        lines.append(f"  note: {stored['note']}")
    return lines
