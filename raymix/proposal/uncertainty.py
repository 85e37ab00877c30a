"""How sure the proposal is: bootstrap refits of the chosen regressor.

A proposal's ``predicted_std`` is a residual spread (the regressor's cross-validated
RMSE, or the GP's predictive std): it says how far one prediction typically lands from
one run, not whether the proposal's advantage over the baselines would survive other
runs. :func:`bootstrap_uncertainty` answers that by resampling the runs with
replacement (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993), refitting
the chosen regressor on each resample and, for each refit:

- predicting the proposal, the best observed run and the other baselines: the 90%
  interval of the proposal's predicted loss, and P(the proposal beats each one), the
  fraction of refits that predict it lower (a paired comparison: both predictions come
  from the same refit);
- searching again, with a smaller budget: the spread of the optimum's weights across
  refits, per domain, and its mean total-variation distance to the proposal.

Runs that repeat a mixture with other seeds are one point of the response surface:
the resampling draws mixtures, then seeds within each drawn mixture (the two-stage
bootstrap of clustered data, Davison & Hinkley, *Bootstrap Methods and their
Application*, 1997, section 3.8), so repeats are never split into "different" points.

Only the chosen regressor (or ensemble) is refitted, not the cross-validated choice
among regressors: the interval is conditional on that choice (docs/DECISIONS.md).

A table of more than :data:`MAX_RUNS` runs is bootstrapped from a seeded draw of that
many (with a note): each refit then costs what a fit of that many runs costs. The spread
is then that of a fit on fewer runs than the table holds: wider, so the interval and
P(beats) err on the cautious side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone

from raymix.config import SearchConfig
from raymix.errors import ConfigError
from raymix.mixtures import Constraints
from raymix.proposal.search import resolve_method, search_mixture
from raymix.regression import Ensemble, FitResult, SimplexGP
from raymix.regression.groups import WithGroupTotals
from raymix.regression.noise import mixture_groups
from raymix.regression.subsample import draw_rows, note_subsample

LEVEL = 0.9  # the intervals' coverage
MIN_REFITS = 2
REFIT_DRAWS = 2_000  # each refit's search: at most this many simulated draws ...
REFIT_RESTARTS = 4  # ... and SLSQP starts (the proposal's search: 100,000 and 32 by default)
# regressors whose refits cost about a second each (the laws' refined restarts, the GP's
# posterior at many runs): at most EXPENSIVE_REFITS refits when the chosen one is (or
# averages) one of them and there are more runs than given here
EXPENSIVE = {"mixing_law": 0, "implicit_law": 0, "gp": 128}
EXPENSIVE_REFITS = 25
# The bootstrap resamples at most this many runs, a seeded draw beyond (with a note): 100
# refits of a million runs would take hours (a LightGBM fit takes 20 s there, half a
# second at 20,000), and 20,000 runs pin a regressor down far tighter than any proxy
# sweep needs to tell its proposal from the baselines.
MAX_RUNS = 20_000


@dataclass
class ProposalUncertainty:
    """The bootstrap's answer: how the proposal's prediction, rank and weights vary.

    Attributes
    ----------
    refits : int
        Bootstrap refits made (``search.bootstrap``, or fewer for an expensive
        regressor: ``note`` says so).
    level : float
        Coverage of the intervals (0.9).
    interval : (float, float)
        Interval of the proposal's predicted (expected) loss: the fit's prediction plus
        the refits' 5% and 95% deviations from their median, so it always holds the
        prediction.
    run_interval : (float, float)
        Interval of one run's measured loss at the proposal: each refit's prediction
        plus one draw of run noise (std ``run_noise``).
    run_noise : float
        One run's noise, from mixtures repeated with other seeds where the sweep has
        them, else the regressor's CV RMSE (which also counts its error: wider).
    run_noise_source : str
    p_beats : dict of str to float
        Per baseline (``best_observed``, ``uniform``, ``token_proportional``): the
        fraction of refits that predict the proposal lower. Regressor uncertainty only:
        both mixtures' expected losses, no run noise.
    weights : dict of str to (float, float)
        Per domain: the 5% and 95% quantiles of its weight in the refits' optima.
    mean_distance : float
        Mean total variation between the refits' optima and the proposal.
    regressor : str
        The regressor refitted.
    search : dict
        The refits' search: method and budget.
    note : str or None
        Why fewer refits were made than asked for, or fewer runs resampled (a table of
        more than :data:`MAX_RUNS`).
    predictions : ndarray of shape (refits, 1 + baselines)
        Each refit's prediction of the proposal, then each baseline (not in ``to_dict``).
    optima : ndarray of shape (refits, k)
        Each refit's optimum (not in ``to_dict``).
    """

    refits: int
    level: float
    interval: tuple[float, float]
    run_interval: tuple[float, float]
    run_noise: float
    run_noise_source: str
    p_beats: dict[str, float]
    weights: dict[str, tuple[float, float]]
    mean_distance: float
    regressor: str
    search: dict[str, Any]
    note: str | None = None
    predictions: np.ndarray | None = field(default=None, repr=False)
    optima: np.ndarray | None = field(default=None, repr=False)
    models: list[Any] = field(default_factory=list, repr=False)
    noise_draws: np.ndarray | None = field(default=None, repr=False)

    def moved_to(self, proposal: np.ndarray, point: float,
                 baselines: Mapping[str, np.ndarray]) -> ProposalUncertainty:
        """The same refits, judged at another proposed mixture (a confirmation round's
        winner) predicted ``point`` by the fit: nothing is refitted or searched again."""
        return _compare(self.models, self.optima, self.noise_draws, proposal, point, baselines,
                        **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                           if f.name in ("refits", "run_noise", "run_noise_source", "regressor",
                                         "search", "note")}, domains=list(self.weights))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``proposal.json`` holds under ``uncertainty``."""
        return {
            "method": "bootstrap", "refits": self.refits, "level": self.level,
            "interval": list(self.interval), "run_interval": list(self.run_interval),
            "run_noise": self.run_noise, "run_noise_source": self.run_noise_source,
            "p_beats": self.p_beats,
            "weights": {d: list(lo_hi) for d, lo_hi in self.weights.items()},
            "mean_distance": self.mean_distance, "regressor": self.regressor,
            "search": self.search, "note": self.note,
        }


# ----------------------------------------------------------------------------- resampling


def resample(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices of one bootstrap resample: mixtures drawn with replacement, then the
    runs (seeds) of each drawn mixture drawn with replacement, as many as it has."""
    _, group = np.unique(groups, return_inverse=True)
    # each mixture's rows in ascending order, by one sort (not one scan per mixture)
    order = np.argsort(group.reshape(-1), kind="stable")
    members = np.split(order, np.cumsum(np.bincount(group.reshape(-1)))[:-1])
    drawn = rng.integers(len(members), size=len(members))
    return np.concatenate([rng.choice(members[g], size=len(members[g])) for g in drawn])


def refit(estimator, X: np.ndarray, y: np.ndarray):
    """A fresh copy of a fitted ``estimator`` fitted on ``X``, ``y``.

    An :class:`~raymix.regression.Ensemble` refits each member; a
    :class:`~raymix.regression.SimplexGP` keeps the hyperparameters it found
    (``theta_``) and conditions on the new runs only: one factorisation instead of a
    likelihood search. A regressor that sees group totals
    (:class:`~raymix.regression.groups.WithGroupTotals`) refits what it wraps this way.
    """
    if isinstance(estimator, WithGroupTotals):
        again = clone(estimator)
        again.membership_ = estimator.membership_
        again.estimator_ = refit(estimator.estimator_, estimator.features(X), y)
        again.n_features_in_ = X.shape[1]
        return again
    if isinstance(estimator, Ensemble):
        again = clone(estimator)
        again.estimators_ = [refit(m, X, y) for m in estimator.estimators_]
        again.n_features_in_ = X.shape[1]
        return again
    if isinstance(estimator, SimplexGP) and estimator.theta is None:
        return clone(estimator).set_params(theta=estimator.theta_).fit(X, y)
    return clone(estimator).fit(X, y)


def bootstrap_refits(estimator, X: np.ndarray, y: np.ndarray, refits: int,
                     seed: int = 0) -> Iterator[tuple[Any, np.ndarray]]:
    """``refits`` refits of ``estimator`` on resamples of the runs, with their row indices.

    Resamples by mixture, then by seed within each mixture (:func:`resample`); seeded.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    groups = mixture_groups(X)
    rng = np.random.default_rng(seed)
    for _ in range(refits):
        rows = resample(groups, rng)
        yield refit(estimator, X[rows], y[rows]), rows


# ----------------------------------------------------------------------------- the proposal


def check_refits(refits: int, field_name: str = "search.bootstrap") -> int:
    """``refits`` if it is a whole number of at least :data:`MIN_REFITS`, else ConfigError."""
    if isinstance(refits, bool) or not isinstance(refits, (int, np.integer)) \
            or refits < MIN_REFITS:
        where = field_name.rsplit(".", 1)[0]
        raise ConfigError(field_name, f"must be a whole number of at least {MIN_REFITS} (got "
                          f"{refits!r}); to skip the bootstrap set {where}.uncertainty: false")
    return int(refits)


def refits_for(fitted: FitResult, refits: int) -> tuple[int, str | None]:
    """How many refits to make of ``fitted``'s regressor, and the note when capped."""
    name = fitted.chosen.name
    slow = [r for r, runs in EXPENSIVE.items() if r in name and fitted.n_runs > runs]
    if slow and refits > EXPENSIVE_REFITS:
        return EXPENSIVE_REFITS, (f"{EXPENSIVE_REFITS} refits, not {refits}: {' and '.join(slow)} "
                                  f"refits are slow at {fitted.n_runs} runs")
    return refits, None


def refit_search(search: SearchConfig, method: str, model, k: int) -> SearchConfig:
    """The proposal's search, cheaper: fewer draws and restarts, the same seed.

    The same seed in every refit draws the same candidates (common random numbers), so
    the optima differ by the refits, not by the draws. TPE and CMA-ES (hundreds of
    sequential trials) become ``simulate``.
    """
    draws = min(search.draws, REFIT_DRAWS)
    top_k = max(1, round(search.top_k * draws / search.draws))
    method = "simulate" if method in ("tpe", "cmaes") else method
    method = resolve_method(method, model, k)
    return dataclasses.replace(search, method=method, draws=draws, top_k=top_k,
                               restarts=min(search.restarts, REFIT_RESTARTS))


def bootstrap_uncertainty(fitted: FitResult, constraints: Constraints, search: SearchConfig,
                          X: np.ndarray, y: np.ndarray, proposal: np.ndarray,
                          baselines: Mapping[str, np.ndarray], *, method: str,
                          refits: int = 100,
                          field_name: str = "search.bootstrap") -> ProposalUncertainty:
    """Refit ``fitted``'s regressor on bootstrap resamples of the runs and compare.

    Parameters
    ----------
    fitted : FitResult
        The fit behind the proposal; its ``estimator`` is refitted.
    constraints : Constraints
        The box every refit's search keeps to.
    search : SearchConfig
        The proposal's search settings (each refit searches with a smaller budget,
        :func:`refit_search`; ``seed`` seeds the resampling too).
    X, y : arrays of shape (n, k) and (n,)
        The runs the fit saw.
    proposal : array of shape (k,)
        The proposed mixture.
    baselines : dict of str to array of shape (k,)
        The mixtures to compare with (``best_observed``, ``uniform``, ...).
    method : str
        The proposal's search method, resolved (``SearchResult.method``).
    refits : int, default=100
        Bootstrap refits (at least 2; fewer are made for expensive regressors).
    field_name : str, default="search.bootstrap"
        How to name ``refits`` in an error.

    Returns
    -------
    ProposalUncertainty

    Raises
    ------
    ConfigError
        ``refits`` below 2 (naming ``field_name``).
    """
    refits, note = refits_for(fitted, check_refits(refits, field_name))
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    n_runs = len(y)
    drawn = draw_rows(n_runs, MAX_RUNS, seed=search.seed)
    if drawn is not None:
        X, y = X[drawn], y[drawn]
        why = "each refit costs a fit; its spread is then wider than the whole table's"
        note_subsample("the bootstrap", MAX_RUNS, why, verb="resamples")
        note = "; ".join(filter(None, [note, f"resampled a seeded draw of {MAX_RUNS:,} "
                                              f"of the {n_runs:,} runs ({why})"]))
    cheap = refit_search(search, method, fitted.estimator, len(constraints.domains))
    models, optima = [], []
    for model, _ in bootstrap_refits(fitted.estimator, X, y, refits, seed=search.seed):
        models.append(model)
        optima.append(search_mixture(model, constraints, cheap, runs=(X, y)).mixture)
    if fitted.noise is not None:
        noise, source = fitted.noise.std, "run-to-run noise of repeated mixtures"
    else:
        noise, source = fitted.chosen.rmse, "cross-validated RMSE (no mixture was repeated)"
    # one run's noise per refit, for the interval of a measured run (seeded apart from the
    # resampling, so it does not change which runs are drawn)
    draws = np.random.default_rng([search.seed, 1]).normal(0.0, noise, refits)
    point = float(fitted.predict(np.asarray(proposal, dtype=float)[None, :])[0][0])
    return _compare(models, np.array(optima), draws, proposal, point, baselines,
                    refits=refits, run_noise=float(noise), run_noise_source=source,
                    regressor=fitted.chosen.name, note=note, domains=constraints.domains,
                    search={"method": cheap.method, "candidates": cheap.draws,
                            "top_k": cheap.top_k, "restarts": cheap.restarts})


def _compare(models: list, optima: np.ndarray, noise_draws: np.ndarray, proposal: np.ndarray,
             point: float, baselines: Mapping[str, np.ndarray], *, domains: list[str],
             **fields) -> ProposalUncertainty:
    """Each refit's predictions of ``proposal`` and the ``baselines``, summarised."""
    proposal = np.asarray(proposal, dtype=float)
    rows = np.vstack([proposal, *(np.asarray(w, dtype=float) for w in baselines.values())])
    predictions = np.array([np.asarray(m.predict(rows), dtype=float) for m in models])
    tails = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    lows, highs = np.quantile(optima, tails, axis=0)
    return ProposalUncertainty(
        level=LEVEL,
        interval=centred_interval(predictions[:, 0], point),
        run_interval=centred_interval(predictions[:, 0] + noise_draws, point),
        p_beats={name: float(np.mean(predictions[:, 0] < predictions[:, i + 1]))
                 for i, name in enumerate(baselines)},
        weights={d: (float(lo), float(hi)) for d, lo, hi in zip(domains, lows, highs)},
        mean_distance=float(np.mean(0.5 * np.abs(optima - proposal).sum(axis=1))),
        predictions=predictions, optima=optima, models=models, noise_draws=noise_draws,
        **fields)


def centred_interval(draws: np.ndarray, point: float, level: float = LEVEL) -> tuple[float, float]:
    """``point`` plus the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the
    draws' deviations from their median: the bootstrap's spread, about the fit's own
    prediction (so the interval always holds it)."""
    deviations = np.asarray(draws, dtype=float) - np.median(draws)
    lo, hi = np.quantile(deviations, [(1 - level) / 2, (1 + level) / 2])
    return float(point + lo), float(point + hi)
