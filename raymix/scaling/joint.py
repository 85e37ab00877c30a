"""A joint scaling law per mixture, fitted on every checkpoint of every size at once.

The nested pipeline (:mod:`raymix.scaling.nested`) fits a step law per (mixture, size) and
then a size law per mixture through the step laws' values; a mixture trained at two sizes
gives a size law of two points, which cannot fix an exponent. :class:`JointScalingLaw`
fits instead, for every mixture ``m``,

    L_m(N, D) = E + A_m / N^alpha + B_m / D^beta

(``N`` non-embedding parameters, ``D`` tokens; the Chinchilla form, Hoffmann et al. 2022)
on all checkpoints of all runs together, with ``E`` (the target text's irreducible loss)
and the exponents ``alpha`` and ``beta`` shared by every mixture: the mixture changes how
fast a model learns the target, not the entropy of the target itself. The shared
parameters come from all mixtures at once, so two sizes per mixture suffice.

The fit is a variable projection: for fixed ``(E, alpha, beta)`` the law is linear in
each mixture's ``(A_m, B_m) >= 0``, solved in closed form (non-negative least squares);
the three shared parameters are searched on a grid and refined (Nelder-Mead), then all
parameters are refined together on the Huber loss.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize, nnls

from raymix.errors import UserError
from raymix.runs import PARAMS, TOKENS, LongRuns
from raymix.scaling.base import Curve, MixtureScalingLaw, TargetSize

ALPHA_GRID = (0.1, 0.2, 0.35, 0.6)
BETA_GRID = (0.1, 0.2, 0.35, 0.6, 1.0)
E_FRACTIONS = (0.0, 0.3, 0.6, 0.85)  # starts for E, as fractions of the lowest loss
N_UNIT, D_UNIT = 1e8, 1e10  # N and D are divided by these inside the fit (well-scaled A, B)


def joint_value(E: float, alpha: float, beta: float, A, B, n, d) -> np.ndarray:
    """``E + A / N^alpha + B / D^beta`` with N in units of 1e8 parameters and D of 1e10
    tokens (arrays broadcast)."""
    return (E + A * (np.asarray(n, float) / N_UNIT) ** -alpha
            + B * (np.asarray(d, float) / D_UNIT) ** -beta)


def _design(n: np.ndarray, d: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.column_stack([(n / N_UNIT) ** -alpha, (d / D_UNIT) ** -beta])


def _inner(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]], E: float, alpha: float,
           beta: float) -> tuple[np.ndarray, float]:
    """Each mixture's ``(A, B) >= 0`` for fixed shared parameters; and the squared error."""
    coefs, sse = [], 0.0
    for n, d, y in groups:
        X = _design(n, d, alpha, beta)
        coef, residual = nnls(X, y - E)
        coefs.append(coef)
        sse += residual ** 2
    return np.array(coefs), sse


def fit_joint_law(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  huber_delta: float = 0.001) -> tuple[float, float, float, np.ndarray]:
    """Fit ``E + A_m / N^alpha + B_m / D^beta`` to the (params, tokens, loss) of each mixture.

    Returns
    -------
    E, alpha, beta : float
    coefs : ndarray of shape (n_mixtures, 2)
        ``A_m`` and ``B_m`` (with N in units of 1e8 parameters, D of 1e10 tokens).
    """
    y_all = np.concatenate([y for _, _, y in groups])
    floor = float(y_all.min())

    def objective(p: np.ndarray) -> float:
        E, alpha, beta = p
        if not (0 <= E < floor and 0.01 <= alpha <= 3 and 0.01 <= beta <= 3):
            return np.inf
        return _inner(groups, E, alpha, beta)[1]

    starts = sorted(((objective(np.array(p)), p) for p in itertools.product(
        [f * floor for f in E_FRACTIONS], ALPHA_GRID, BETA_GRID)), key=lambda s: s[0])[:4]
    best = min((minimize(objective, np.array(p), method="Nelder-Mead",
                         options={"xatol": 1e-5, "fatol": 1e-10, "maxiter": 2000})
                for _, p in starts), key=lambda r: r.fun)
    E, alpha, beta = best.x
    coefs, _ = _inner(groups, E, alpha, beta)
    # all parameters together, on the Huber loss (robust to a stray checkpoint)
    m = len(groups)
    index = np.concatenate([np.full(len(y), i) for i, (_, _, y) in enumerate(groups)])
    n_all = np.concatenate([n for n, _, _ in groups])
    d_all = np.concatenate([d for _, d, _ in groups])

    def residuals(p: np.ndarray) -> np.ndarray:
        A, B = p[3:3 + m], p[3 + m:]
        return joint_value(p[0], p[1], p[2], A[index], B[index], n_all, d_all) - y_all

    start = np.concatenate([[E, alpha, beta], coefs[:, 0], coefs[:, 1]])
    lower = np.concatenate([[0.0, 0.01, 0.01], np.zeros(2 * m)])
    upper = np.concatenate([[floor, 3.0, 3.0], np.full(2 * m, np.inf)])
    refined = least_squares(residuals, np.clip(start, lower, np.nextafter(upper, 0)),
                            bounds=(lower, upper), loss="huber",
                            f_scale=huber_delta * float(y_all.mean()))
    p = refined.x
    return float(p[0]), float(p[1]), float(p[2]), np.column_stack([p[3:3 + m], p[3 + m:]])


class JointScalingLaw(MixtureScalingLaw):
    """Predict each mixture's loss at a larger size with one joint law ``L(N, D)`` per mixture.

    ``L_m(N, D) = E + A_m / N^alpha + B_m / D^beta``, with ``E``, ``alpha`` and ``beta``
    shared by every mixture (see the module's docstring). The same interface as
    :class:`~raymix.scaling.nested.NestedScalingLaw` (``predicted_``, ``to_runs()``,
    ``curves_``, ``stages_``, ``predict_curve``), from their common base
    :class:`~raymix.scaling.base.MixtureScalingLaw`.

    Parameters
    ----------
    huber_delta : float, default=0.001
        Huber threshold of the final fit, as a fraction of the mean loss.
    checkpoints : {"all", "final"}, default="all"
    min_tokens : float, optional
        Leave out checkpoints before this many tokens (the warm-up).
    """

    NAME = "joint scaling law"

    def __init__(self, huber_delta: float = 0.001, checkpoints: str = "all",
                 min_tokens: float | None = None):
        self.huber_delta = huber_delta
        self.checkpoints = checkpoints
        self.min_tokens = min_tokens

    def fit(self, runs: LongRuns, at: TargetSize) -> JointScalingLaw:
        """Fit the joint law and predict every mixture's objective at ``at``.

        ``at.tokens`` None: the largest checkpoint every (mixture, size) reached;
        ``at.params`` None: the largest trained size.
        """
        self._check_settings()
        points, self.mixtures_all_, self.runs_of_ = self._points(runs)
        self.target_ = runs.target
        self.notes_ = list(runs.notes)
        groups, kept = self._groups(points)
        if not kept:
            raise UserError("no mixture has the 2 checkpoints the joint law needs; evaluate "
                            "more checkpoints", field="at")
        E, alpha, beta, coefs = fit_joint_law(groups, self.huber_delta)
        self.law_ = {"E": E, "alpha": alpha, "beta": beta,
                     "A": dict(zip(kept, coefs[:, 0])), "B": dict(zip(kept, coefs[:, 1]))}
        step_curves = self._step_points(points)
        tokens = float(at.tokens) if at.tokens is not None else \
            float(min(x.max() for x, _ in step_curves.values()))
        params = float(at.params) if at.params is not None else float(points[PARAMS].max())
        self.at_ = TargetSize(params=params, tokens=tokens)
        predicted = pd.Series({m: self.predict_curve(m, params, tokens) for m in kept},
                              dtype=float)
        self.predicted_ = predicted.rename(self.target_)
        self.mixtures_ = self.mixtures_all_.loc[predicted.index]
        self.curves_ = {"step": self._step_law_curves(step_curves),
                        "size": self._size_law_curves(points, kept)}
        self._cache = {}
        self.stages_ = self._diagnostics(points, groups, kept, at)
        return self

    # ------------------------------------------------------------------------- pieces

    def _groups(self, points: pd.DataFrame):
        groups, kept = [], []
        for mixture, g in points.groupby("mixture", sort=False):
            if len(g) >= 2:
                groups.append((g[PARAMS].to_numpy(float), g[TOKENS].to_numpy(float),
                               g["objective"].to_numpy(float)))
                kept.append(mixture)
        left = len(self.mixtures_all_) - len(kept)
        if left:
            self.notes_.append(f"{left} mixture(s) have fewer than 2 checkpoints and are "
                               "left out")
        return groups, kept

    def _value(self, mixture, params, tokens) -> np.ndarray:
        law = self.law_
        return joint_value(law["E"], law["alpha"], law["beta"], law["A"][mixture],
                           law["B"][mixture], params, tokens)

    def predict_curve(self, mixture_id, params: float, tokens: float) -> float:
        """The joint law's loss of one mixture at any (params, tokens); NaN if not fitted."""
        if mixture_id not in self.law_["A"]:
            return float("nan")
        return float(self._value(mixture_id, float(params), float(tokens)))

    def _step_law_curves(self, step_points) -> dict[tuple, Curve]:
        """Per (mixture, size): the checkpoints and the joint law at that size (for plots)."""
        law, curves = self.law_, {}
        for (mixture, params), (x, y) in step_points.items():
            fitted = None
            if mixture in law["A"]:
                E = law["E"] + law["A"][mixture] * (params / N_UNIT) ** -law["alpha"]
                fitted = (E, law["B"][mixture] * D_UNIT ** law["beta"], law["beta"])
            curve = Curve(x, y, fitted, target_x=self.at_.tokens)
            curve.target_y = curve.value_at(self.at_.tokens)[0]
            curves[(mixture, params)] = curve
        return curves

    def _size_law_curves(self, points: pd.DataFrame, kept: list) -> dict[Any, Curve]:
        """Per mixture: the law's value at the target tokens at each trained size."""
        law, curves, tokens = self.law_, {}, self.at_.tokens
        for mixture in kept:
            sizes = np.sort(points.loc[points["mixture"] == mixture, PARAMS].unique())
            E = law["E"] + law["B"][mixture] * (tokens / D_UNIT) ** -law["beta"]
            fitted = (E, law["A"][mixture] * N_UNIT ** law["alpha"], law["alpha"])
            values = np.array([self._value(mixture, n, tokens) for n in sizes])
            curves[mixture] = Curve(sizes.astype(float), values, fitted,
                                    target_x=self.at_.params,
                                    target_y=float(self._value(mixture, self.at_.params, tokens)))
        return curves

    def _diagnostics(self, points: pd.DataFrame, groups, kept, at: TargetSize) -> dict[str, Any]:
        law = self.law_
        residuals = np.concatenate([self._value(m, n, d) - y
                                    for m, (n, d, y) in zip(kept, groups)])
        holdout = self._holdout(groups, kept)
        shared = (f"E = {law['E']:.4g}, alpha = {law['alpha']:.4g}, beta = {law['beta']:.4g}, "
                  "shared by every mixture")
        return {
            "target_scale": {**self.at_.to_dict(),
                             "params_from": "the target scale" if at.params is not None
                             else "the largest trained size",
                             "tokens_from": "the target scale" if at.tokens is not None
                             else "the largest checkpoint every (mixture, size) reached"},
            "n_mixtures": int(len(self.mixtures_all_)), "n_predicted": int(len(kept)),
            "checkpoints": self.checkpoints, "min_tokens": self.min_tokens,
            "law": "joint: E + A_m / params^alpha + B_m / tokens^beta",
            "shared": {"E": law["E"], "alpha": law["alpha"], "beta": law["beta"]},
            "rmse": float(np.sqrt(np.mean(residuals ** 2))),
            "step": {"law": "the joint law at each size", "shared_exponent": True,
                     "holdout": holdout},
            "size": {"skipped": False, "law": "the joint law at the target tokens",
                     "shared_exponent": True, "note": shared},
            "notes": list(self.notes_),
        }

    def _holdout(self, groups, kept) -> dict[str, Any] | None:
        """Refit without each curve's last checkpoint and predict it (one refit in all)."""
        truncated, held = [], []
        for m, (n, d, y) in zip(kept, groups):
            keep = np.ones(len(y), bool)
            for size in np.unique(n):
                on = np.flatnonzero(n == size)
                if len(on) >= 3:
                    last = on[np.argmax(d[on])]
                    keep[last] = False
                    held.append((m, n[last], d[last], y[last]))
            truncated.append((n[keep], d[keep], y[keep]))
        if not held:
            return None
        E, alpha, beta, coefs = fit_joint_law(truncated, self.huber_delta)
        row = {m: i for i, m in enumerate(kept)}
        rows = [{"mixture": m, "params": float(n), "x": float(d), "actual": float(y),
                 "predicted": float(joint_value(E, alpha, beta, *coefs[row[m]], n, d))}
                for m, n, d, y in held]
        errors = np.array([r["predicted"] - r["actual"] for r in rows])
        relative = 100 * np.abs(errors) / np.array([r["actual"] for r in rows])
        return {"what": "each curve's last checkpoint, predicted by the law fitted without them",
                "n_curves": len(rows), "mae": float(np.abs(errors).mean()),
                "mean_bias": float(errors.mean()),
                "mean_relative_error_pct": float(relative.mean()),
                "max_relative_error_pct": float(relative.max()), "curves": rows}
