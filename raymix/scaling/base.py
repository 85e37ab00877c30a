"""What the scaling laws share: the target size, a fitted curve, and the estimator's base.

A *scale* in raymix is a proxy size (``scales:`` in a sweep config); the (N, D) a law
predicts at is a :class:`TargetSize`. :class:`MixtureScalingLaw` is the base of the
nested (:mod:`raymix.scaling.nested`) and joint (:mod:`raymix.scaling.joint`) laws: both
read a long runs table the same way (seeds averaged per checkpoint, one id per mixture)
and hand their predictions on as :class:`raymix.runs.Runs`; each fits its own way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from raymix.config import CHECKPOINTS
from raymix.errors import UserError
from raymix.runs import PARAMS, RUN_COLUMN, TOKENS, LongRuns, Runs

MIXTURE_DECIMALS = 6  # weights equal to 1e-6 are one mixture


@dataclass
class TargetSize:
    """The model size and training length a law predicts at; ``None`` where not given.

    Attributes
    ----------
    params : float or None
        Non-embedding parameters.
    tokens : float or None
        Tokens seen.
    """

    params: float | None = None
    tokens: float | None = None

    def __str__(self) -> str:
        parts = [f"{k}={v:.4g}" for k, v in (("params", self.params), ("tokens", self.tokens))
                 if v is not None]
        return ",".join(parts) or "the largest trained scale"

    def to_dict(self) -> dict[str, float | None]:
        return {"params": self.params, "tokens": self.tokens}


@dataclass
class Curve:
    """Points of one curve, its fitted law (if any) and its value at the target.

    ``law`` is ``(E, B, exponent)`` of ``E + B / x^exponent``; ``None`` when the curve
    has too few points for one.
    """

    x: np.ndarray
    y: np.ndarray
    law: tuple[float, float, float] | None = None
    target_x: float | None = None
    target_y: float | None = None

    def predict(self, x) -> np.ndarray:
        E, B, exponent = self.law
        return E + B * np.asarray(x, dtype=float) ** -exponent

    def value_at(self, x: float) -> tuple[float | None, str | None]:
        """The law's value at ``x``, else the measured one if ``x`` is a point; and its source."""
        if self.law is not None:
            return float(self.predict(x)), "law"
        hit = np.isclose(self.x, x, rtol=1e-9)
        return (float(self.y[hit][0]), "measured") if hit.any() else (None, None)

    def rmse(self) -> float | None:
        return None if self.law is None else float(np.sqrt(np.mean((self.predict(self.x)
                                                                   - self.y) ** 2)))


class MixtureScalingLaw(BaseEstimator):
    """Base of the laws that predict each mixture's loss at a :class:`TargetSize`.

    A subclass takes ``huber_delta``, ``checkpoints`` and ``min_tokens`` (and its own
    settings) in ``__init__``, and its ``fit(runs, at)`` sets the attributes below, then
    :meth:`to_runs` gives its predictions to a mixture regressor.

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
    notes_ : list of str
    """

    NAME = "scaling law"  # in the error of an unfitted law

    huber_delta: float
    checkpoints: str
    min_tokens: float | None

    def to_runs(self) -> Runs:
        """The predicted losses as runs, for :func:`raymix.regression.fit_regressor`."""
        self._check_fitted()
        target = f"{self.target_} at {self.at_}"
        return Runs(mixtures=self.mixtures_.copy(), metrics=self.predicted_.to_frame(target),
                    objective=self.predicted_.rename("objective"), target=target,
                    notes=list(self.notes_))

    def _check_fitted(self) -> None:
        if not hasattr(self, "predicted_"):
            raise UserError(f"the {self.NAME} is not fitted yet; call fit(runs, at) first")

    def _check_settings(self) -> None:
        if self.checkpoints not in CHECKPOINTS:
            raise UserError(f"checkpoints must be one of {', '.join(CHECKPOINTS)} "
                            f"(got {self.checkpoints!r})")
        if not (isinstance(self.huber_delta, (int, float)) and self.huber_delta > 0):
            raise UserError(f"huber_delta must be a positive number (got {self.huber_delta!r})")
        if self.min_tokens is not None and not (isinstance(self.min_tokens, (int, float))
                                                and self.min_tokens > 0):
            raise UserError(f"min_tokens must be a positive number (got {self.min_tokens!r})")

    def _points(self, runs: LongRuns) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """Checkpoints averaged over seeds: mixture, params, tokens, objective, n_seeds."""
        frame = runs.frame
        if self.checkpoints == "final":
            frame = frame.loc[frame.groupby(RUN_COLUMN, sort=False)[TOKENS].idxmax()]
        if self.min_tokens is not None:
            frame = frame[frame[TOKENS] >= self.min_tokens]
            if frame.empty:
                raise UserError(f"no checkpoint has {self.min_tokens:g} tokens or "
                                "more; lower it", field="min_tokens")
        key = frame[runs.domains].round(MIXTURE_DECIMALS).apply(tuple, axis=1)
        first_run = frame.groupby(key, sort=False)[RUN_COLUMN].transform("first")
        frame = frame.assign(mixture=first_run.to_numpy())
        mixtures = frame.groupby("mixture", sort=False)[runs.domains].first()
        runs_of = {m: list(dict.fromkeys(g)) for m, g in
                   frame.groupby("mixture", sort=False)[RUN_COLUMN]}
        points = (frame.groupby(["mixture", PARAMS, TOKENS], sort=False)["objective"]
                  .agg(objective="mean", n_seeds="size").reset_index())
        return points, mixtures, runs_of

    @staticmethod
    def _step_points(points: pd.DataFrame) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
        """Each (mixture, params) curve's tokens and objective, in token order."""
        return {(m, float(n)): (g[TOKENS].to_numpy(float), g["objective"].to_numpy(float))
                for (m, n), g in points.sort_values(TOKENS).groupby(["mixture", PARAMS],
                                                                    sort=False)}
