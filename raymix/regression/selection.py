"""Choosing a regressor: by name, by cross-validation, or as an ensemble of the best.

:func:`make_regressor` builds one by name (:mod:`raymix.regression.registry`).
:func:`cross_validate` scores a regressor on shuffled K folds and :func:`select_best`
keeps the one that ranks held-out mixtures best (highest Spearman), since the proposal
only needs the ordering of mixtures to be right. :func:`fit_auto` does both for several
regressors on the same folds, also tries averaging the best few (:class:`Ensemble`,
scored from the members' out-of-fold predictions, so it costs no extra fits;
:func:`choose` makes that choice from the members' results) and refits the winner on
every run.

Two rank criteria (:data:`CRITERIA`): ``spearman``, the Spearman correlation of all
out-of-fold predictions pooled, and ``fold_spearman``, the mean of the correlations
within each held-out fold, which does not reward getting the offsets between folds
right. Below 256 runs :func:`fit_auto` averages the scores over two shuffles of the
folds, so that the choice depends less on one split. On the transfers the published
runs allow (RegMix's 1M train -> test runs; Data Mixing Laws' 70M -> 410M runs,
``bench/bench_ranking_transfer.py``) the pooled Spearman over two shuffles chose best
on average; the within-fold mean was no better than the pooled one.
``make_regressor("auto")`` wraps that in one estimator (:class:`AutoRegressor`).

Big tables: each fold fits on at most :data:`CV_MAX_TRAIN_RUNS` of its training runs (a
seeded draw) and still predicts every run it holds out, so the scores cover every run
and a million-run table cross-validates in about the time of 50,000; the chosen
regressor is refitted on all runs (each regressor bounds its own fit: the GP and the
mixing laws fit on a seeded draw beyond their ``MAX_RUNS``). A choice among several
regressors leaves the GP out of a table of more than :data:`AUTO_MAX_RUNS` runs. Only the
refit's notes reach the user: the candidates' notes during cross-validation are about
models that are thrown away.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold
from sklearn.utils.metaestimators import available_if

from raymix.errors import UserError
from raymix.regression.groups import GROUP_FEATURE_REGRESSORS, Groups, with_group_totals
from raymix.regression.registry import AUTO_CANDIDATES, ESTIMATORS, REGRESSORS
from raymix.regression.subsample import BigTableNotice, draw_rows, note_subsample

MIN_TRAIN_RUNS = 3  # per cross-validation training fold
AUTO = "auto"
CRITERIA = ("spearman", "fold_spearman")  # what fit_auto ranks candidates by
SHUFFLE_TWICE_BELOW = 256  # runs; fewer: fit_auto averages 2 CV shuffles (cv_shuffles)
# A fold fits on at most this many of its training runs (a seeded draw beyond, with a
# note) and predicts all the runs it holds out. LightGBM fits 50,000 runs in about half a
# second and the log-linear law in two, so the 5 folds of 6 candidates on a million runs
# take a minute or two instead of half an hour; ranks are stable long before 50,000 runs.
CV_MAX_TRAIN_RUNS = 50_000
# A choice among several regressors leaves each of these out of a table of more runs
# (with a note). The GP fits 2,000 runs at most, and predicting each held-out run costs
# 2,000 kernel terms: on a million runs that was three quarters of auto's time, for a
# model fitted on 0.2% of them. Named alone, it is still fitted (on its seeded draw).
AUTO_MAX_RUNS = {"gp": 100_000}


def make_regressor(name: str, seed: int = 0, groups: Groups = ()) -> RegressorMixin:
    """A fresh, unfitted regressor by name.

    Parameters
    ----------
    name : str
        One of :data:`REGRESSORS` or ``"auto"``.

        - ``ridge``: :class:`RidgeRegressor`, penalty from :data:`RIDGE_ALPHAS` by
          leave-one-out error.
        - ``loglinear``: :class:`LogLinearRegressor`.
        - ``lightgbm``: 200 trees of at most 7 leaves at learning rate 0.05, small leaf
          sizes so that it also splits on 40-60 runs, and row bagging. On RegMix's
          published runs this ranks held-out mixtures as well as RegMix's 1000 trees of
          31 leaves at 0.01, and predicts a million candidates about 15x faster. No
          early stopping, which would need held-out data.
        - ``lightgbm_regmix``: LightGBM at RegMix's published settings (Liu et al.,
          ICLR 2025; sail-sg/regmix): 1000 trees at learning rate 0.01, LightGBM's
          defaults otherwise (31 leaves, at least 20 runs a leaf), without the early
          stopping on the test runs of their notebook. For comparing with the paper;
          not among the default candidates: below about 40 runs it cannot split and
          predicts a constant.
        - ``mixing_law``, ``implicit_law``: :class:`raymix.regression.MixingLaw`,
          :class:`raymix.regression.ImplicitMixingLaw` with 5 implicit domains; beyond
          20,000 and 2,000 runs they fit on a seeded draw of that many, with a note.
        - ``gp``: :class:`SimplexGP`; beyond 2,000 runs it fits on a seeded draw of
          2,000, with a note.
        - ``auto``: :class:`AutoRegressor` over all of the above but ``lightgbm_regmix``
          (:data:`AUTO_CANDIDATES`).
    seed : int, default=0
        Seed for the stochastic parts.
    groups : tuple of tuple of int, default=()
        Each group's leaf columns (:func:`raymix.regression.groups.group_columns`): a
        regressor of :data:`~raymix.regression.groups.GROUP_FEATURE_REGRESSORS` then
        also sees each group's total weight (:class:`~raymix.regression.groups.WithGroupTotals`);
        ``auto`` passes them to its candidates.

    Returns
    -------
    estimator
        A scikit-learn regressor (``fit``/``predict``).

    Raises
    ------
    UserError
        For an unknown name (``regressors``).
    """
    if name == AUTO:
        return AutoRegressor(seed=seed, groups=groups)
    factory = ESTIMATORS.get(name)
    if factory is None:
        raise UserError(f"unknown regressor {name!r}; choose from {', '.join(REGRESSORS)} or "
                        f"{AUTO}", field="regressors")
    if groups and name in GROUP_FEATURE_REGRESSORS:
        return with_group_totals(factory(seed), groups)
    return factory(seed)


# ----------------------------------------------------------------------------- cross-validation


@dataclass
class CVResult:
    """Out-of-fold scores of one regressor (or ensemble).

    Attributes
    ----------
    name : str
        Regressor name, e.g. ``lightgbm`` or ``ensemble(lightgbm+gp)``.
    spearman, pearson : float
        Rank and linear correlation between out-of-fold predictions and actual loss
        (NaN when the predictions are constant). Like every score here, the mean over
        ``shuffles`` CV shuffles when there are several.
    mae : float
        Mean absolute error of the out-of-fold predictions.
    r2 : float
        Coefficient of determination of the out-of-fold predictions.
    predictions : ndarray of shape (n,)
        Out-of-fold prediction for each run, aligned with the target.
    fold : ndarray of shape (n,)
        Fold id (0 .. folds-1) in which each run was held out.
    rmse : float
        Root mean squared error of the out-of-fold predictions: the typical error of a
        prediction for a mixture the regressor was not fitted on.
    fold_spearman : float
        Mean over the folds of the Spearman correlation within each held-out fold
        (folds where it is undefined are skipped; NaN when it is undefined in all).
    shuffles : int
        How many CV shuffles the scores are the mean of (:func:`fit_auto`);
        ``predictions`` and ``fold`` are the first shuffle's.
    """

    name: str
    spearman: float
    pearson: float
    mae: float
    r2: float
    predictions: np.ndarray
    fold: np.ndarray
    rmse: float = float("nan")
    fold_spearman: float = float("nan")
    shuffles: int = 1

    def metrics(self) -> dict[str, float | None]:
        """The scores as a JSON-ready dict (``cv_spearman``, ...; NaN becomes None)."""
        values = {"spearman": self.spearman, "mae": self.mae, "rmse": self.rmse,
                  "pearson": self.pearson, "r2": self.r2, "fold_spearman": self.fold_spearman}
        return {f"cv_{k}": (float(v) if np.isfinite(v) else None) for k, v in values.items()}


def check_training_data(X, y, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate mixtures ``X`` and target ``y`` for a ``folds``-fold fit; return float arrays.

    Raises
    ------
    UserError
        Naming the problem: wrong shapes, non-finite values, a constant target, or fewer
        runs than folds.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[1] == 0:
        raise UserError(f"mixtures must be a table of runs x domains (got shape {X.shape})")
    if y.ndim != 1 or len(y) != len(X):
        raise UserError(f"target loss must have one value per run: {len(X)} runs, shape {y.shape}")
    if not np.all(np.isfinite(X)):
        raise UserError("mixture weights contain missing or infinite values; "
                        "drop or fix those runs")
    if not np.all(np.isfinite(y)):
        raise UserError("target loss contains missing or infinite values (failed runs?); "
                        "drop those runs")
    if folds < 2:
        raise UserError(f"must be at least 2 (got {folds})", field="folds")
    # every training fold needs a few runs: leave-one-out penalties need at least 3
    largest_fold = -(-len(y) // folds)  # ceil: the held-out part of the smallest training set
    if len(y) < folds or len(y) - largest_fold < MIN_TRAIN_RUNS:
        raise UserError(
            f"too few runs to fit: {len(y)} runs for {folds} CV folds (each fold must leave "
            f"at least {MIN_TRAIN_RUNS} runs to fit on); run more mixtures or use fewer folds",
            field="folds")
    if np.ptp(y) == 0:
        raise UserError("target loss is the same for every run: nothing to fit; check the runs")
    return X, y


def _correlations(actual: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Spearman and Pearson correlation; NaN for constant predictions (not a warning)."""
    if np.ptp(predicted) == 0:
        return float("nan"), float("nan")
    return float(stats.spearmanr(actual, predicted)[0]), float(stats.pearsonr(actual, predicted)[0])


def _fold_spearman(actual: np.ndarray, predicted: np.ndarray, fold: np.ndarray) -> float:
    """Mean Spearman correlation within each fold; folds with constant values are skipped."""
    within = [_correlations(actual[fold == f], predicted[fold == f])[0]
              for f in np.unique(fold) if np.ptp(actual[fold == f]) > 0]
    within = [r for r in within if np.isfinite(r)]
    return float(np.mean(within)) if within else float("nan")


def score_predictions(name: str, y: np.ndarray, predictions: np.ndarray,
                      fold: np.ndarray) -> CVResult:
    """The :class:`CVResult` of out-of-fold ``predictions`` of target ``y``."""
    spearman, pearson = _correlations(y, predictions)
    return CVResult(
        name=name,
        spearman=spearman,
        pearson=pearson,
        mae=float(mean_absolute_error(y, predictions)),
        r2=float(r2_score(y, predictions)),
        predictions=predictions,
        fold=fold,
        rmse=float(np.sqrt(mean_squared_error(y, predictions))),
        fold_spearman=_fold_spearman(y, predictions, fold),
    )


def cross_validate(name: str, X, y, *, folds: int = 5, seed: int = 0,
                   groups: Groups = ()) -> CVResult:
    """Score regressor ``name`` by shuffled K-fold cross-validation.

    Parameters
    ----------
    name : str
        One of :data:`REGRESSORS` (or ``auto``, which then cross-validates inside
        each fold).
    X : array-like of shape (n, k)
        Mixture weights, one row per run.
    y : array-like of shape (n,)
        Target loss of each run.
    folds : int, default=5
        Number of folds (at most ``n``).
    seed : int, default=0
        Seed of the fold shuffle and of the regressor. The same ``seed`` and ``n``
        give the same folds, so results of several regressors are comparable run by run.
    groups : tuple of tuple of int, default=()
        Each group's leaf columns, as for :func:`make_regressor`.

    Returns
    -------
    CVResult

    Notes
    -----
    A fold with more than :data:`CV_MAX_TRAIN_RUNS` training runs fits on a seeded draw
    of that many (with a note) and predicts every run it holds out.
    """
    X, y = check_training_data(X, y, folds)
    make_regressor(name, seed, groups)  # an unknown name fails before any fitting
    predictions = np.empty_like(y)
    fold = np.empty(len(y), dtype=int)
    splits = KFold(n_splits=folds, shuffle=True, random_state=seed).split(X)
    for i, (train, test) in enumerate(splits):
        drawn = draw_rows(len(train), CV_MAX_TRAIN_RUNS, seed=seed + i)
        if drawn is not None:
            note_subsample("each cross-validation fold", CV_MAX_TRAIN_RUNS,
                           "it still predicts all the runs it holds out; the chosen "
                           "regressor is refitted on all runs")
            train = train[drawn]
        model = make_regressor(name, seed, groups).fit(X[train], y[train])
        predictions[test] = model.predict(X[test])
        fold[test] = i
    return score_predictions(name, y, predictions, fold)


def check_criterion(criterion: str) -> str:
    """``criterion`` if it is one of :data:`CRITERIA`, else a :class:`UserError`."""
    if criterion not in CRITERIA:
        raise UserError(f"unknown criterion {criterion!r}; choose from {', '.join(CRITERIA)}",
                        field="criterion")
    return criterion


def _rank_key(criterion: str):
    """Sort key of a :class:`CVResult`: its ``criterion`` (NaN last), then the lower MAE."""
    def key(result: CVResult) -> tuple[float, float]:
        score = getattr(result, criterion)
        return (score if np.isfinite(score) else -np.inf), -result.mae
    return key


def select_best(results: list[CVResult], criterion: str = "spearman") -> CVResult:
    """The result that ranks best by ``criterion``; ties go to the lower MAE, then the earlier.

    Parameters
    ----------
    results : list of CVResult
    criterion : {"spearman", "fold_spearman"}, default="spearman"
        The pooled out-of-fold Spearman, or its mean within each fold. NaN ranks last.

    Returns
    -------
    CVResult
    """
    if not results:
        raise ValueError("no cross-validation results to choose from")
    return max(results, key=_rank_key(check_criterion(criterion)))


# ----------------------------------------------------------------------------- auto and ensembles


def _all_members_have(attribute: str):
    """For :func:`available_if`: every fitted member has ``attribute``."""
    return lambda self: all(hasattr(m, attribute) for m in self.estimators_)


class Ensemble(RegressorMixin, BaseEstimator):
    """The average of several regressors' predictions.

    Averaging a smooth model (a law, the GP) with trees tends to cancel their
    different errors. ``gradient`` exists when every member has one (the average of
    their gradients). There is no ``predict(X, return_std=True)``: at most one member
    (the GP) has a standard deviation, and the members' errors are correlated, so no
    honest one follows for the average; use the ensemble's cross-validated RMSE
    (:attr:`CVResult.rmse`) as its typical error.

    Parameters
    ----------
    members : tuple of str
        Regressor names (see :func:`make_regressor`).
    seed : int, default=0
        Seed of every member.
    groups : tuple of tuple of int, default=()
        Each group's leaf columns, as for :func:`make_regressor`.

    Attributes
    ----------
    estimators_ : list of regressors
        The members, fitted on all rows.
    """

    def __init__(self, members: tuple[str, ...] = ("ridge", "lightgbm"), seed: int = 0,
                 groups: Groups = ()):
        self.members = members
        self.seed = seed
        self.groups = groups

    def fit(self, X, y):
        """Fit every member on all of ``X``, ``y``."""
        self.estimators_ = [make_regressor(name, self.seed, self.groups).fit(X, y)
                            for name in self.members]
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Mean of the members' predictions for each row of ``X``."""
        return np.mean([m.predict(X) for m in self.estimators_], axis=0)

    @available_if(_all_members_have("gradient"))
    def gradient(self, X) -> np.ndarray:
        """Mean of the members' d prediction / d weight, shape (n, k)."""
        return np.mean([m.gradient(X) for m in self.estimators_], axis=0)


def ensemble_name(members) -> str:
    """``ensemble(a+b+...)``: the CV name of an average of ``members``."""
    return f"ensemble({'+'.join(members)})"


def _mean_over_shuffles(results: list[CVResult]) -> CVResult:
    """One candidate's scores averaged over CV shuffles; the first shuffle's predictions."""
    if len(results) == 1:
        return results[0]
    first = results[0]
    means = {key: float(np.nanmean([getattr(r, key) for r in results]))
             if any(np.isfinite(getattr(r, key)) for r in results) else float("nan")
             for key in ("spearman", "pearson", "mae", "r2", "rmse", "fold_spearman")}
    return CVResult(name=first.name, predictions=first.predictions, fold=first.fold,
                    shuffles=len(results), **means)


def choose(shuffled: list[list[CVResult]], y, *, criterion: str = "spearman",
           ensemble: bool = True) -> tuple[CVResult, list[CVResult], tuple[str, ...] | None]:
    """Choose among cross-validated regressors, or an average of the best few.

    Parameters
    ----------
    shuffled : list of list of CVResult
        ``shuffled[s][i]``: candidate ``i`` cross-validated on shuffle ``s``
        (:func:`cross_validate` with seed ``s``); every candidate on every shuffle, in
        the same order. Each candidate is scored by the mean over the shuffles.
    y : array-like of shape (n,)
        The target they were scored on.
    criterion : {"spearman", "fold_spearman"}, default="spearman"
        What ranks them (:func:`select_best`).
    ensemble : bool, default=True
        Also score the average of the best 2, 3, ... by ``criterion``. All candidates
        of a shuffle share its folds, so an average's out-of-fold prediction for a run
        is the mean of its members': exactly what refitting it fold by fold would give.

    Returns
    -------
    chosen : CVResult
        The best by ``criterion``; exact ties go to a single regressor.
    results : list of CVResult
        The candidates, then the averages tried.
    members : tuple of str or None
        The chosen average's members; None when a single regressor was chosen.
    """
    check_criterion(criterion)
    y = np.asarray(y, dtype=float)
    singles = [_mean_over_shuffles(list(runs)) for runs in zip(*shuffled)]
    ranked = sorted(range(len(singles)), key=lambda i: _rank_key(criterion)(singles[i]),
                    reverse=True)
    ensembles = {}
    for m in range(2, len(ranked) + 1 if ensemble else 2):
        top = ranked[:m]
        members = tuple(singles[i].name for i in top)
        ensembles[members] = _mean_over_shuffles([
            score_predictions(ensemble_name(members), y,
                              np.mean([shuffle[i].predictions for i in top], axis=0),
                              shuffle[top[0]].fold)
            for shuffle in shuffled])
    results = singles + list(ensembles.values())
    chosen = select_best(results, criterion)  # singles come first, so they win exact ties
    members = next((m for m, r in ensembles.items() if r is chosen), None)
    return chosen, results, members


def affordable(names: list[str], n_runs: int) -> list[str]:
    """The candidates a choice among ``names`` makes on ``n_runs`` runs: all of them, less
    those a table that big leaves out (:data:`AUTO_MAX_RUNS`, with a note). A single name,
    or a list that would be left empty, is kept as it is: the user asked for it."""
    out = [name for name in names if n_runs > AUTO_MAX_RUNS.get(name, n_runs)]
    kept = [name for name in names if name not in out]
    if len(names) < 2 or not out or not kept:
        return names
    for name in dict.fromkeys(out):
        warnings.warn(BigTableNotice(
            f"the choice of regressor leaves {name} out of tables of more than "
            f"{AUTO_MAX_RUNS[name]:,} runs (it would fit a seeded draw of them, and predicting "
            f"every held-out run costs most of the fit's time); name it alone to use it"),
            stacklevel=3)
    return kept


@contextlib.contextmanager
def _only_cv_notes() -> Iterator[None]:
    """Drop the notes of the candidates' own fits ("gp fits on a seeded draw ..."): those
    models are thrown away, the chosen one's notes come from its refit. Cross-validation's
    own note is kept."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f"({'|'.join(ESTIMATORS)}) ",
                                category=BigTableNotice)
        yield


def cv_shuffles(n_runs: int) -> int:
    """How many CV shuffles :func:`fit_auto` averages by default: 2 below
    :data:`SHUFFLE_TWICE_BELOW` runs, else 1."""
    return 2 if n_runs < SHUFFLE_TWICE_BELOW else 1


def fit_auto(X, y, names=AUTO_CANDIDATES, folds: int = 5, seed: int = 0, ensemble: bool = True,
             criterion: str = "spearman", shuffles: int | None = None, groups: Groups = (),
             ) -> tuple[RegressorMixin, CVResult, list[CVResult]]:
    """Cross-validate ``names`` on the same folds, choose the best (or an ensemble), refit it.

    Parameters
    ----------
    X : array-like of shape (n, k)
        Mixture weights, one row per run.
    y : array-like of shape (n,)
        Target loss of each run.
    names : sequence of str, default=AUTO_CANDIDATES
        Candidate regressors (not ``auto``). Of two or more, those that a table of this
        many runs leaves out (:data:`AUTO_MAX_RUNS`: the GP beyond 100,000) are dropped,
        with a note.
    folds : int, default=5
        Cross-validation folds.
    seed : int, default=0
        Seed of the folds and of the regressors; shuffle ``s`` uses ``seed + s``.
    ensemble : bool, default=True
        Also score the average of the best 2, 3, ... candidates (ranked by
        ``criterion``), and choose it when it cross-validates better.
    criterion : {"spearman", "fold_spearman"}, default="spearman"
        What ranks the candidates: the Spearman correlation of the out-of-fold
        predictions pooled, or its mean within each fold (see :func:`select_best`).
    shuffles : int, optional
        Cross-validate on this many shuffles of the folds and rank by the mean score,
        which makes the choice less a matter of one split (default :func:`cv_shuffles`:
        2 below 256 runs; from 256 on one, where the choice is stable and the GP's fits
        the cost).
    groups : tuple of tuple of int, default=()
        Each group's leaf columns, as for :func:`make_regressor`.

    Returns
    -------
    estimator : regressor
        The chosen regressor or :class:`Ensemble`, fitted on all runs.
    chosen : CVResult
        Its cross-validation: best by ``criterion``, ties to the lower MAE, then to a
        single regressor over an ensemble. Scores are means over the shuffles,
        ``predictions`` and ``fold`` the first shuffle's.
    results : list of CVResult
        Every candidate's, in the order of ``names``, then the ensembles tried.
    """
    names = list(names)
    if not names:
        raise UserError(f"name at least one regressor ({', '.join(REGRESSORS)})",
                        field="regressors")
    if AUTO in names:
        raise UserError("'auto' chooses among the others; list those instead",
                        field="regressors")
    check_criterion(criterion)
    X, y = check_training_data(X, y, folds)
    names = affordable(names, len(y))
    shuffles = cv_shuffles(len(y)) if shuffles is None else shuffles
    if shuffles < 1:
        raise UserError(f"must be at least 1 (got {shuffles})", field="shuffles")
    singles = []  # per candidate, its result on each shuffle
    for name in names:
        try:
            with _only_cv_notes():
                singles.append([cross_validate(name, X, y, folds=folds, seed=seed + s,
                                               groups=groups)
                                for s in range(shuffles)])
        except UserError as exc:
            if exc.field == "regressors":  # an unknown name is the user's to fix, not to skip
                raise
            # e.g. a law needs more runs per fold than there are domains + 1: the other
            # candidates can still be scored; with no candidate left, say why
            if name == names[-1] and not singles:
                raise
    chosen, results, members = choose(list(zip(*singles)), y, criterion=criterion,
                                      ensemble=ensemble)
    estimator = (make_regressor(chosen.name, seed, groups) if members is None
                 else Ensemble(members, seed, groups))
    return estimator.fit(X, y), chosen, results


class AutoRegressor(RegressorMixin, BaseEstimator):
    """A regressor that runs :func:`fit_auto` in ``fit`` and predicts with its choice.

    Parameters
    ----------
    names : sequence of str, optional
        Candidates (default: :data:`AUTO_CANDIDATES`, all of :data:`REGRESSORS` but
        ``lightgbm_regmix``).
    folds : int, default=5
    seed : int, default=0
    ensemble : bool, default=True
    criterion : {"spearman", "fold_spearman"}, default="spearman"
    shuffles : int, optional
        See :func:`fit_auto`.
    groups : tuple of tuple of int, default=()
        Each group's leaf columns, as for :func:`make_regressor`.

    Attributes
    ----------
    estimator_ : regressor
        The chosen regressor or ensemble, fitted on all rows.
    chosen_ : CVResult
    cv_results_ : list of CVResult

    Notes
    -----
    ``gradient`` exists when the chosen regressor has one. ``predict`` takes no
    ``return_std``, since whether one exists depends on the choice; use
    :func:`fit_auto` directly and ask ``estimator_`` for that.
    """

    def __init__(self, names=None, folds: int = 5, seed: int = 0, ensemble: bool = True,
                 criterion: str = "spearman", shuffles: int | None = None,
                 groups: Groups = ()):
        self.names = names
        self.folds = folds
        self.seed = seed
        self.ensemble = ensemble
        self.criterion = criterion
        self.shuffles = shuffles
        self.groups = groups

    def fit(self, X, y):
        """Cross-validate the candidates on ``X``, ``y`` and refit the best."""
        names = AUTO_CANDIDATES if self.names is None else self.names
        self.estimator_, self.chosen_, self.cv_results_ = fit_auto(
            X, y, names, folds=self.folds, seed=self.seed, ensemble=self.ensemble,
            criterion=self.criterion, shuffles=self.shuffles, groups=self.groups)
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict(self, X) -> np.ndarray:
        """The chosen regressor's prediction for each row of ``X``."""
        return self.estimator_.predict(X)

    @available_if(lambda self: hasattr(self.estimator_, "gradient"))
    def gradient(self, X) -> np.ndarray:
        """The chosen regressor's d prediction / d weight, shape (n, k)."""
        return self.estimator_.gradient(X)
