"""Nested scaling laws: the loss of each mixture at a size larger than any run trained.

Data Mixing Laws (Ye et al., ICLR 2025, Algorithm 1) choose a mixture for a large model
without training it on many mixtures. Small models are trained on each mixture for a
short while; then, for every mixture,

1. **step law** - for each model size, ``L(D) = E + B / D^beta`` over the checkpoints
   (``D`` = tokens seen) extrapolates the run to the target length ``at.tokens``;
2. **size law** - ``L(N) = E + A / N^alpha`` over the model sizes' step-law predictions
   (``N`` = non-embedding parameters) extrapolates to the target size ``at.params``;
3. **mixing law** - fitted on the predicted losses of all mixtures, it is minimised
   over the simplex to propose a mixture.

:class:`NestedScalingLaw` does steps 1 and 2 on a long runs table
(:mod:`raymix.runs.long`). Its :meth:`~NestedScalingLaw.to_runs` gives the predicted
losses as a :class:`raymix.runs.Runs`, so step 3 is the ordinary
:func:`raymix.regression.fit_regressor` / :func:`raymix.proposal.propose_mixture`
(mixing law or any other regressor, constraints, search) at the target scale.

Details that the paper leaves open:

* A *mixture* is a distinct weight vector (rounded to 1e-6): runs of one mixture at
  several sizes or seeds belong together. Seeds at the same (mixture, size, tokens) are
  averaged before any fit, so the laws see one point per checkpoint.
* A curve with a law is read off the law, even at a measured checkpoint: the law
  smooths checkpoint-to-checkpoint noise. A curve with fewer than 3 checkpoints (2 with
  a shared exponent) keeps its measured value if the target is one of its checkpoints,
  and is left out, with a note, otherwise.
* ``checkpoints="final"`` uses only each run's last row: with a learning-rate schedule
  that decays to 0 at the end of each run, an earlier checkpoint of a short run is not
  a point of a longer run's curve, and only the finished runs of several lengths are.
* Exponents may be shared: one ``beta`` per model size across mixtures (the paper ties
  it across validation domains) and one ``alpha`` across mixtures (as the paper does).
  With few points per curve this steadies the extrapolation.
* Every fit is :class:`raymix.scaling.PowerLaw`'s: Huber loss, a grid of exponent
  starts refined by bounded least squares, ``E`` in ``[0, min(loss)]``.

The diagnostics (:attr:`NestedScalingLaw.stages_`) include a held-out check that needs
no extra runs: each step law refitted without its curve's last checkpoint predicts it,
and the size law refitted without the largest size predicts that size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pandas as pd

from raymix.errors import UserError
from raymix.runs import LongRuns
from raymix.scaling.base import Curve, MixtureScalingLaw, TargetSize
from raymix.scaling.power_law import PowerLaw, fit_shared_exponent

# ----------------------------------------------------------------------------- fitting curves


def _n_distinct(x: np.ndarray) -> int:
    return len(np.unique(x))


def _fit_laws(points: dict[Hashable, tuple[np.ndarray, np.ndarray]], shared: bool,
              group_of: Callable[[Hashable], Hashable], huber_delta: float
              ) -> dict[Hashable, tuple[float, float, float]]:
    """``E + B / x^exponent`` for every curve that has enough points.

    Alone a curve needs 3 distinct x; sharing the exponent within a group (all curves
    with the same ``group_of(key)``), 2 each and one more point than parameters in all.
    """
    groups: dict[Hashable, list] = defaultdict(list)
    for key in points:
        groups[group_of(key)].append(key)
    laws = {}
    for keys in groups.values():
        if not shared:
            for key in keys:
                if _n_distinct(points[key][0]) >= 3:
                    law = PowerLaw(huber_delta=huber_delta).fit(*points[key])
                    laws[key] = (law.E_, law.B_, law.beta_)
            continue
        keys = [k for k in keys if _n_distinct(points[k][0]) >= 2]
        if sum(_n_distinct(points[k][0]) for k in keys) >= 2 * len(keys) + 1 and keys:
            E, B, exponent = fit_shared_exponent([points[k][0] for k in keys],
                                                 [points[k][1] for k in keys], huber_delta)
            laws.update({k: (float(e), float(b), exponent) for k, e, b in zip(keys, E, B)})
    return laws


def _holdout(points: dict[Hashable, tuple[np.ndarray, np.ndarray]], shared: bool,
             group_of: Callable[[Hashable], Hashable], huber_delta: float,
             describe: Callable[[Hashable], dict]) -> dict[str, Any] | None:
    """Refit every curve without its largest x and predict that point."""
    last = {k: x.max() for k, (x, _) in points.items()}
    truncated = {k: (x[x < last[k]], y[x < last[k]]) for k, (x, y) in points.items()}
    laws = _fit_laws(truncated, shared, group_of, huber_delta)
    if not laws:
        return None
    rows = []
    for key, law in laws.items():
        x, y = points[key]
        actual = float(y[x == last[key]].mean())
        predicted = float(Curve(x, y, law).predict(last[key]))
        rows.append({**describe(key), "x": float(last[key]), "actual": actual,
                     "predicted": predicted})
    errors = np.array([r["predicted"] - r["actual"] for r in rows])
    relative = 100 * np.abs(errors) / np.array([r["actual"] for r in rows])
    return {"n_curves": len(rows), "mae": float(np.abs(errors).mean()),
            "mean_bias": float(errors.mean()),
            "mean_relative_error_pct": float(relative.mean()),
            "max_relative_error_pct": float(relative.max()), "curves": rows}


def holdout_summary(holdout: dict[str, Any]) -> str:
    """A held-out check of ``stages_`` in words, e.g. ``MAE 0.0410 (0.68% mean, ...)``."""
    return (f"MAE {holdout['mae']:.4f} ({holdout['mean_relative_error_pct']:.2f}% mean, "
            f"{holdout['max_relative_error_pct']:.2f}% max, {holdout['n_curves']} curves)")


# ----------------------------------------------------------------------------- the estimator


class NestedScalingLaw(MixtureScalingLaw):
    """Predict each mixture's loss at a larger size: step law, then size law (Ye et al.).

    Parameters
    ----------
    share_step_exponent : bool, default=False
        One step exponent ``beta`` for all curves of one model size.
    share_size_exponent : bool, default=False
        One size exponent ``alpha`` for all mixtures. Then a mixture needs only 2 sizes
        (as long as one has 3).
    huber_delta : float, default=0.001
        Huber threshold of every fit, as a fraction of the mean loss of its curves.
    checkpoints : {"all", "final"}, default="all"
        ``"final"``: only each run's last checkpoint (for runs whose learning rate decays
        to 0 at their end; then runs of several lengths make the step curve).
    min_tokens : float, optional
        Leave out checkpoints before this many tokens (the warm-up, where the power law
        does not hold yet; the paper fits from 10k steps on).

    Attributes
    ----------
    mixtures_ : DataFrame
        One row per mixture with a prediction (index: mixture id, the first run of that
        mixture), one weight column per domain.
    predicted_ : Series
        Predicted objective at :attr:`at_` per mixture, same index.
    at_ : TargetSize
        The target size, with the defaults filled in.
    target_ : str
        The objective's label.
    mixtures_all_ : DataFrame
        Every mixture of the runs, also those left out for too few points.
    runs_of_ : dict of str to list of str
        Runs of each mixture (every mixture, also those left out).
    curves_ : dict
        ``"step"``: ``{(mixture, params): Curve}`` over tokens; ``"size"``:
        ``{mixture: Curve}`` over params (empty when the size law is skipped).
    stages_ : dict
        JSON-ready diagnostics: target scale, each stage's laws, in-sample RMSE and
        held-out check, and what was left out.
    notes_ : list of str
    """

    NAME = "nested scaling law"

    def __init__(self, share_step_exponent: bool = False, share_size_exponent: bool = False,
                 huber_delta: float = 0.001, checkpoints: str = "all",
                 min_tokens: float | None = None):
        self.share_step_exponent = share_step_exponent
        self.share_size_exponent = share_size_exponent
        self.huber_delta = huber_delta
        self.checkpoints = checkpoints
        self.min_tokens = min_tokens

    # ------------------------------------------------------------------------- fit

    def fit(self, runs: LongRuns, at: TargetSize) -> NestedScalingLaw:
        """Fit the step and size laws and predict every mixture's objective at ``at``.

        Parameters
        ----------
        runs : LongRuns
            Checkpoints of runs (:func:`raymix.runs.read_long_runs`).
        at : TargetSize
            Target size. ``tokens=None``: the largest checkpoint every (mixture, size)
            reached; ``params=None``: the largest trained size.

        Raises
        ------
        UserError
            On bad settings, a target scale the runs cannot reach, or no mixture left.
        """
        self._check_settings()
        points, self.mixtures_all_, self.runs_of_ = self._points(runs)
        self.target_ = runs.target
        self.notes_ = list(runs.notes)
        self._step_curves = self._step_stage(points)
        tokens, tokens_from = self._target_tokens(at)
        values = self._values_at(tokens, notes=self.notes_)
        if values.isna().all().all():
            raise UserError(f"tokens={tokens:.4g}: no (mixture, size) has the 3 checkpoints a "
                            "step law needs nor a checkpoint at that many tokens; evaluate "
                            "more checkpoints or leave tokens out of the target scale",
                            field="at")
        params, params_from = self._target_params(at, values)
        self.at_ = TargetSize(params=params, tokens=tokens)
        predicted, size_curves, needed = self._size_stage(values, params, self.notes_)
        if predicted.empty:
            raise UserError(f"{self.at_}: no mixture could be predicted at that scale ("
                            f"{'; '.join(self.notes_[-3:])})", field="at")
        self._cache = {}
        self.predicted_ = predicted.rename(self.target_)
        self.mixtures_ = self.mixtures_all_.loc[predicted.index]
        self.curves_ = {"step": self._step_curves, "size": size_curves}
        for curve in self._step_curves.values():
            curve.target_x = tokens
            curve.target_y = curve.value_at(tokens)[0]
        self.stages_ = {
            "target_scale": {**self.at_.to_dict(), "params_from": params_from,
                             "tokens_from": tokens_from},
            "n_mixtures": int(len(self.mixtures_all_)), "n_predicted": int(len(predicted)),
            "checkpoints": self.checkpoints, "min_tokens": self.min_tokens,
            "step": self._step_diagnostics(points),
            "size": self._size_diagnostics(needed, size_curves, params),
            "notes": list(self.notes_),
        }
        return self

    # ------------------------------------------------------------------------- stage 1

    def _step_stage(self, points: pd.DataFrame) -> dict[tuple, Curve]:
        curves = self._step_points(points)
        laws = _fit_laws(curves, self.share_step_exponent, lambda key: key[1], self.huber_delta)
        return {key: Curve(x, y, laws.get(key)) for key, (x, y) in curves.items()}

    def _target_tokens(self, at: TargetSize) -> tuple[float, str]:
        if at.tokens is not None:
            return float(at.tokens), "the target scale"
        reached = min(curve.x.max() for curve in self._step_curves.values())
        return float(reached), "the largest checkpoint every (mixture, size) reached"

    def _values_at(self, tokens: float, notes: list[str] | None = None) -> pd.DataFrame:
        """Stage-1 loss at ``tokens``: mixtures x sizes, NaN where a curve cannot reach it."""
        values = pd.DataFrame(index=self.mixtures_all_.index, dtype=float)
        short = []
        for (mixture, params), curve in self._step_curves.items():
            value, _ = curve.value_at(tokens)
            if value is None:
                short.append(f"{mixture} at {params:.4g} params")
            values.loc[mixture, params] = np.nan if value is None else value
        if short and notes is not None:
            notes.append(f"{len(short)} (mixture, size) curve(s) have fewer than 3 checkpoints "
                         f"and none at {tokens:.4g} tokens and are left out, e.g. {short[0]}")
        return values[sorted(values.columns)]

    def _step_diagnostics(self, points: pd.DataFrame) -> dict[str, Any]:
        curves = []
        for (mixture, params), curve in self._step_curves.items():
            E, B, beta = curve.law if curve.law is not None else (None, None, None)
            value, source = curve.value_at(self.at_.tokens)
            curves.append({"mixture": mixture, "params": params, "n_points": len(curve.x),
                           "E": E, "B": B, "beta": beta, "rmse": curve.rmse(),
                           "value_at_target_tokens": value, "source": source})
        holdout = _holdout(self._step_points(points), self.share_step_exponent,
                           lambda key: key[1], self.huber_delta,
                           lambda key: {"mixture": key[0], "params": key[1]})
        return {"law": "E + B / tokens^beta", "shared_exponent": self.share_step_exponent,
                "curves": curves,
                "holdout": None if holdout is None else
                {"what": "each curve's last checkpoint, predicted by the law fitted without it",
                 **holdout}}

    # ------------------------------------------------------------------------- stage 2

    def _target_params(self, at: TargetSize, values: pd.DataFrame) -> tuple[float, str]:
        if at.params is not None:
            return float(at.params), "the target scale"
        return float(values.columns.max()), "the largest trained size"

    def _size_points(self, values: pd.DataFrame) -> dict[Hashable, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for mixture, row in values.iterrows():
            row = row.dropna()
            if len(row):  # else every curve of it fell short of the target tokens (noted)
                out[mixture] = (row.index.to_numpy(float), row.to_numpy(float))
        return out

    def _size_stage(self, values: pd.DataFrame, params: float, notes: list[str]
                    ) -> tuple[pd.Series, dict[Hashable, Curve], dict]:
        """Loss at ``params`` per mixture: a trained size's value, else the size law's.

        Returns the predictions, the size-law curves and the points of the mixtures
        that needed a size law.
        """
        points = self._size_points(values)
        hits = {m: np.isclose(x, params, rtol=1e-9) for m, (x, _) in points.items()}
        trained = {m: float(points[m][1][hit][0]) for m, hit in hits.items() if hit.any()}
        needed = {m: p for m, p in points.items() if m not in trained}
        laws = _fit_laws(needed, self.share_size_exponent, lambda key: 0, self.huber_delta)
        curves = {m: Curve(*needed[m], law, target_x=params) for m, law in laws.items()}
        for curve in curves.values():
            curve.target_y = float(curve.predict(params))
        if not curves and not trained:
            sizes = max(_n_distinct(x) for x, _ in points.values())
            need = "2 (one of them 3)" if self.share_size_exponent else "3"
            raise UserError(f"params={params:.4g}: no mixture was trained at that size and "
                            f"none has the {need} sizes a size law needs (at most {sizes}); "
                            "train more sizes, share the size exponent, or leave params out of "
                            "the target scale", field="at")
        left = [m for m in needed if m not in curves]
        if left:
            notes.append(f"{len(left)} mixture(s) have too few sizes for a size law at "
                         f"{params:.4g} params and are left out, e.g. {left[0]}")
        predicted = {**trained, **{m: c.target_y for m, c in curves.items()}}
        order = [m for m in values.index if m in predicted]
        return pd.Series(predicted, dtype=float).reindex(order), curves, needed

    def _size_diagnostics(self, needed: dict, curves: dict[Hashable, Curve],
                          params: float) -> dict[str, Any]:
        if not needed:
            return {"skipped": True, "reason": f"every mixture was trained at {params:.4g} "
                    "params: its step law's value is the prediction"}
        rows = [{"mixture": m, "n_sizes": len(c.x), "E": c.law[0], "A": c.law[1],
                 "alpha": c.law[2], "rmse": c.rmse(), "predicted": c.target_y}
                for m, c in curves.items()]
        holdout = _holdout(needed, self.share_size_exponent, lambda key: 0, self.huber_delta,
                           lambda key: {"mixture": key})
        return {"skipped": False, "law": "E + A / params^alpha",
                "shared_exponent": self.share_size_exponent, "curves": rows,
                "holdout": None if holdout is None else
                {"what": "each mixture's largest size, predicted by the law fitted without it",
                 **holdout}}

    # ------------------------------------------------------------------------- outputs

    def predict_curve(self, mixture_id, params: float, tokens: float) -> float:
        """The laws' loss of one mixture at any (params, tokens).

        A trained size reads its step law (or the measured checkpoint); another size
        fits the size law over the step laws' values at ``tokens``. NaN when the laws of
        this mixture cannot reach that scale.
        """
        self._check_fitted()
        if mixture_id not in self.mixtures_all_.index:
            raise UserError(f"unknown mixture {mixture_id!r}; the mixtures are the first run "
                            f"of each, e.g. {self.mixtures_all_.index[0]!r}")
        key = (float(params), float(tokens))
        if key not in self._cache:
            values = self._values_at(float(tokens))
            try:
                self._cache[key] = self._size_stage(values, float(params), [])[0]
            except UserError:
                self._cache[key] = pd.Series(dtype=float)
        return float(self._cache[key].get(mixture_id, np.nan))
