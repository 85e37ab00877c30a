"""Data mixing laws: validation loss as an exponential function of the mixture.

Ye et al., "Data Mixing Laws: Optimizing Data Mixtures by Predicting Language Modeling
Performance" (ICLR 2025; code yegcjs/mixinglaws) found that the validation loss of a
model trained on mixture proportions ``r`` (one weight per training domain) follows

    explicit law   L(r) = c + k * exp(t . r)                         (one validation domain)
    implicit law   L(r) = sum_k s_k * (c_k + k_k * exp(t_k . r))      (a validation set made
                                                                       of K unknown domains)

``t`` is a row of the paper's domain-interaction matrix: ``t_j < 0`` means training on
domain ``j`` lowers this loss. :class:`MixingLaw` and :class:`ImplicitMixingLaw` are
scikit-learn regressors for the two forms; both have an exact :meth:`gradient`, so the
proposal search can optimise a mixture with it. :func:`interaction_matrix` fits one
explicit law per validation column (the paper's ``t_ij`` matrix, for the report).

How they are fitted
-------------------
Both forms are a floor plus a sum of exponentials, ``L(r) = C + sum_k exp(b_k + t_k . r)``
(``C = sum_k s_k c_k``, ``exp(b_k) = s_k k_k``), fitted by the same routine:

* Loss: Huber, so that a few broken proxy runs (diverged, wrong checkpoint) count
  linearly instead of quadratically. Its threshold is relative to the loss level
  (``huber_delta * mean(y)``) because losses range from about 2 to 7 across datasets and
  domains while the residuals a good fit leaves are about 1% of the loss. The default
  2% (0.06 at a loss of 3) sits in the paper's absolute range of 0.02 - 0.08. On the
  paper's clean 5Mix runs least squares would be 2% better (held-out MAE 0.0354 vs
  0.0363 per domain); 2% keeps a run that is 0.1 off from pulling the whole fit.
* Bounds (L-BFGS-B): ``0 <= c <= max(y)``; ``k > 0`` through ``b = log k``;
  ``|t_j| <= 25``, enough for weights in [0, 1] (``exp(t . r)`` then spans e^+-25) and a
  guard against the flat directions along which ``t`` drifts. The floor may sit above
  the lowest runs: a loss that falls steeply with its own domain's weight (RegMix's ArXiv
  and GitHub losses) is fitted best with a floor above the few runs heavy in that domain,
  which the Huber loss then treats as outliers. Capping the floor at ``min(y)`` (before
  issue 27) forced those fits into a worse basin (5-fold CV R^2 0.26 and 0.13 on RegMix's
  512 runs; 0.80 and 0.83 now, docs/benchmarks.md).
* Ridge (explicit law): ``sum_j lambda_j (t_j - mean(t))^2 / 2`` on the simplex
  (``t_j^2`` off it) is added to the mean Huber loss (in units of ``delta^2``), with
  ``lambda_j = ridge / n / (1 + (m_j / 0.01)^2)`` for a domain of mean weight ``m_j``
  over the runs. In a sparse swarm a domain that is in few runs, or only as a sliver,
  has a slope that those runs' noise sets: unpenalised it drifts toward the bound, and a
  held-out run heavy in that domain is predicted far off (CV R^2 below 0 on 64-domain
  swarms). The ridge pulls such slopes toward the mean slope, i.e. an unknown domain is
  predicted to act like an average one. Dividing by ``n`` keeps the balance against the
  data the same for any number of runs; the factor in ``m_j`` leaves domains the runs
  carry in earnest (mean weight 5% or more: at most 1/26 of the ridge) nearly
  unpenalised, since their slopes are measured and can be large (the paper's 5Mix laws
  reach ``|t| = 31``; a flat ridge of 0.1 made their held-out error 31% worse). The
  default 0.1 was chosen on RegMix's runs, dense and split into sparse 24- and 64-domain
  swarms (bench/bench_mixing_law_swarms.py, docs/DECISIONS.md).
* Restarts: hundreds of random starting points of two kinds (slopes of spread 3, and
  small slopes with one helping domain as Olmix starts them; each with the floor and
  amplitude that fit it by least squares), plus, for the explicit law, closed-form starts
  from ridge least squares on ``log(y - c)`` over a grid of floors ``c``, are scored at
  once with one vectorised evaluation. For the explicit law the best 8 of each kind then
  run 60 L-BFGS-B iterations and the best 3 of those go on to convergence: the first
  objective of a start says little about where it converges, and refining only the 3
  best screened starts (before issue 27) often kept the closed-form starts' basin. The
  paper and Olmix refine hundreds to thousands of starts fully.

Identifiability: on the simplex (weights summing to 1) ``k`` is redundant with a
constant shift of ``t``: ``k exp(t . r) = k e^a exp((t - a) . r)``. When every row sums to
1 (within 0.01) the fit adds the penalty ``(sum_j t_j)^2``, which does not change any
prediction there but pins ``sum_j t_j = 0``. Then ``k = L(uniform mixture) - c``, the
loss the uniform mixture adds over the floor, and ``t`` is comparable across targets.
The implicit law has more redundancy still: one target determines only the total floor
``sum_k s_k c_k`` and the products ``s_k k_k``. We report every ``c_k`` equal to that
floor, ``s = softmax(b)`` and every ``k_k = sum_k exp(b_k)``, i.e. the implicit domains
share the floor and the loss at the uniform mixture.

The implicit law has ``1 + K * n_domains`` parameters, usually more than there are runs
(the paper fits K = 5 to 30 on 20 mixtures). It is kept in check the way the paper
does: each component starts from the fitted explicit law, L-BFGS-B stops early, and
``n_bags`` such fits from different seeds are averaged (their code uses AdaBoost over
seeds). The iteration cap grows with the data, 10 per run up to 3000: on 20 runs of the
paper's 5Mix data 200 iterations predict held-out domains better than 1000 (mean MAE
about 0.03 vs 0.04), on RegMix's 512 runs 3000 rank held-out mixtures best (Spearman
0.986, on a par with LightGBM). An average of implicit laws is an implicit law, so the
fitted model has ``n_components * n_bags`` components.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from raymix.errors import UserError
from raymix.regression.subsample import subsample

T_BOUND = 25.0  # |t_j|; weights lie in [0, 1]
LOG_K_BOUND = 60.0  # |log k|
RIDGE = 0.1  # the explicit law's default penalty on t (see the module docstring)
EXPOSURE = 0.01  # a domain whose mean weight is 1% gets half the ridge
SIMPLEX_TOL = 1e-2  # RegMix's weights sum to 0.996 - 1.003 after rounding
CENTRE_WEIGHT = 1.0  # weight of (sum_j t_j)^2; any positive value gives the same fit
EXP_CAP = 700.0  # exp(700) is near the float64 limit: clip instead of overflowing
START_T_SCALE = 3.0  # spread of random t starts: exp(t . r) varies ~e^3 across the simplex
FLOOR_GRID = 24  # floors c tried by the closed-form starts of the explicit law
EXPLICIT_REFINE = 3  # raced starts refined to convergence
RACE, RACE_ITER = 8, 60  # best screened starts of each kind raced, and their iterations
EXPLICIT_MAX_ITER = 2000  # the explicit law converges in ~100-300 iterations
CHUNK_ROWS = 65536  # rows per block in predict / gradient
ITER_PER_RUN, MAX_ITER_CAP = 10, 3000  # the implicit law's default early stopping
# The most runs a fit uses; beyond, a seeded draw of that many (with a note). Every
# restart screened and refined costs time (and the screening memory) in every run: the
# explicit law took 5 s at 40,000 runs of 5 domains and grows linearly, the implicit law's
# 4 bags of up to 3000 iterations 17 s at 5,000. Both have a few parameters per domain
# (1 + components x domains), which 20,000 and 2,000 runs pin down.
MAX_RUNS = 20_000
IMPLICIT_MAX_RUNS = 2_000
WHY = "every restart it refines costs time in every run"


# --------------------------------------------------------------------------- checks


def _check_X(X, n_features: int | None = None) -> np.ndarray:
    """Mixture weights as a float (n, d) array; UserError naming the problem."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] == 0:
        raise UserError(f"mixtures X must be a table of runs x domains (got shape {X.shape})")
    if n_features is not None and X.shape[1] != n_features:
        raise UserError(f"mixtures X have {X.shape[1]} domains but the law was fitted on "
                        f"{n_features}; pass the same domain columns in the same order")
    if not np.all(np.isfinite(X)):
        raise UserError("mixture weights contain missing or infinite values; "
                        "drop or fix those runs")
    return X


def _check_fit_data(X, y, name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate a training set; return X, y and whether the rows lie on the simplex."""
    X = _check_X(X)
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or len(y) != len(X):
        raise UserError(f"target loss must have one value per run: {len(X)} runs, shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise UserError("target loss contains missing or infinite values (failed runs?); "
                        "drop those runs")
    if y.min() <= 0:
        raise UserError(f"target loss must be positive for {name} (min {y.min():.4g}): the law "
                        "models a loss above a floor c >= 0; use ridge or lightgbm for "
                        "other targets")
    if np.ptp(y) == 0:
        raise UserError("target loss is the same for every run: nothing to fit; check the runs")
    simplex = bool(np.all(np.abs(X.sum(axis=1) - 1.0) <= SIMPLEX_TOL))
    needed = X.shape[1] + (1 if simplex else 2)  # c, k and t, less the shift on the simplex
    if len(y) < needed:
        raise UserError(f"too few runs for {name} on {X.shape[1]} domains: {len(y)} runs, "
                        f"needs at least {needed} (one per parameter of the explicit law); "
                        "run more mixtures or use ridge")
    return X, y, simplex


def _check_positive(name: str, value, integer: bool = False) -> None:
    """UserError unless ``value`` is a positive number (an integer if asked)."""
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not value > 0:
        kind = "a positive integer" if integer else "a positive number"
        raise UserError(f"{name} must be {kind} (got {value!r})")


# ----------------------------------------------------------------- the shared model


@functools.cache
def _blas_controller() -> ThreadpoolController:
    # built once, after numpy and scipy loaded their BLAS: a fresh one costs ~2 ms a call
    return ThreadpoolController()


def _one_blas_thread():
    """Products here have an inner dimension of a few dozen at most: BLAS threads only
    contend, and on a busy 2-core machine made fits 100x and predictions 5x slower."""
    return _blas_controller().limit(limits=1, user_api="blas")


def _unpack(theta: np.ndarray, K: int, d: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Flat parameters -> floor C, log-amplitudes b (K,), slopes T (K, d)."""
    return theta[0], theta[1:K + 1], theta[K + 1:].reshape(K, d)


def _terms(X: np.ndarray, b: np.ndarray, T: np.ndarray) -> np.ndarray:
    """exp(b_k + t_k . r) for every row and component, shape (n, K)."""
    Z = X @ T.T
    Z += b
    np.minimum(Z, EXP_CAP, out=Z)
    return np.exp(Z, out=Z)  # in place: this is the whole cost of predicting many candidates


def _shrunk(T: np.ndarray, centre: bool) -> np.ndarray:
    """The part of the slopes the ridge penalises: ``t`` less its mean on the simplex
    (where a constant shift of ``t`` changes no prediction), else ``t`` itself."""
    return T - T.mean(axis=-1, keepdims=True) if centre else T


def _huber(res: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of each residual, in units of ``delta**2``."""
    absres = np.abs(res)
    return np.where(absres <= delta, 0.5 * res ** 2, delta * (absres - 0.5 * delta)) / delta ** 2


def _objective(theta, X, y, delta, K, centre, ridge):
    """Mean Huber loss / delta^2, the ridge on ``t`` and the simplex centring; and the gradient."""
    n, d = X.shape
    C, b, T = _unpack(theta, K, d)
    E = _terms(X, b, T)
    res = C + E.sum(axis=1) - y
    scale = 1.0 / (n * delta ** 2)  # O(1) objective whatever the loss level
    psi = np.clip(res, -delta, delta) * scale
    weighted = psi[:, None] * E
    grad_T = weighted.T @ X
    value = _huber(res, delta).mean()
    shrunk = _shrunk(T, centre)
    value += 0.5 * (ridge * shrunk ** 2).sum()
    grad_T += _shrunk(ridge * shrunk, centre)  # the centring projection is symmetric
    if centre:
        sums = T.sum(axis=1)
        value += 0.5 * CENTRE_WEIGHT * (sums ** 2).sum()
        grad_T += CENTRE_WEIGHT * sums[:, None]
    return value, np.concatenate([[psi.sum()], weighted.sum(axis=0), grad_T.ravel()])


def _screen(C, b, T, X, y, delta, centre, ridge) -> np.ndarray:
    """Objective of many starts at once: C (R,), b (R, K), T (R, K, d) -> (R,)."""
    Z = np.einsum("nd,rkd->rnk", X, T) + b[:, None, :]
    res = C[:, None] + np.exp(np.minimum(Z, EXP_CAP)).sum(axis=2) - y
    value = _huber(res, delta).mean(axis=1)
    value += 0.5 * (ridge * _shrunk(T, centre) ** 2).sum(axis=(1, 2))
    return np.where(np.isfinite(value), value, np.inf)


def _closed_form_starts(X, y, delta, centre, ridge) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explicit-law starts: for each floor c on a grid, log(y - c) = b + t . r by ridge
    least squares.

    Rows are weighted by ``y - c`` so that the log-scale fit approximates the original
    scale, and the ridge rows carry the objective's penalty on that scale; lstsq's
    minimum-norm solution handles the rank deficiency on the simplex.
    """
    n, d = X.shape
    floors = y.min() * (1.0 - np.geomspace(1e-3, 1.0, FLOOR_GRID))  # from just below min(y) to 0
    design = np.column_stack([np.ones(n), X])
    penalty = np.sqrt(n * ridge)[:, None] * delta * _shrunk(np.eye(d), centre)  # ridge rows
    penalty = np.column_stack([np.zeros(d), penalty])
    coefs = []
    for c in floors:
        gap = y - c
        A = np.vstack([design * gap[:, None], penalty])
        coefs.append(np.linalg.lstsq(A, np.r_[np.log(gap) * gap, np.zeros(d)], rcond=None)[0])
    coefs = np.array(coefs)
    return floors, coefs[:, :1], coefs[:, None, 1:]


def _random_starts(rng, X, y, K, count, small=False):
    """Random slopes; the floor and the amplitude that fit them best by least squares.

    For a slope ``t``, ``y = C + A exp(t . r)`` is linear in ``C`` and ``A``: solving for
    them makes each start as good as its slopes allow, so that screening compares slopes,
    not lucky floors. A floor outside ``[0, min(y))`` or a negative amplitude (slopes that
    point the wrong way) falls back to a random floor and the amplitude matching the mean.
    """
    d = X.shape[1]
    if not small:
        T = np.clip(rng.normal(0.0, START_T_SCALE, (count, K, d)), -T_BOUND, T_BOUND)
    else:  # small slopes, one domain helping: Olmix's starts
        T = rng.uniform(0.0, 0.1, (count, K, d))
        rows = np.arange(count)[:, None], np.arange(K)[None, :]
        helps = rng.integers(0, d, (count, K))
        T[rows[0], rows[1], helps] = -rng.uniform(0.0, 1.0, (count, K))
    terms = np.exp(np.einsum("nd,rkd->rnk", X, T)).sum(axis=2)  # (count, n)
    centred = terms - terms.mean(axis=1, keepdims=True)
    amplitude = (centred @ (y - y.mean())) / np.maximum((centred ** 2).sum(axis=1), 1e-300)
    C = y.mean() - amplitude * terms.mean(axis=1)
    bad = ~((amplitude > 0) & (C >= 0) & (C < y.min()))
    C[bad] = rng.uniform(0.0, y.min(), bad.sum())
    amplitude[bad] = (y.mean() - C[bad]) / terms[bad].mean(axis=1)
    b = np.repeat(np.log(amplitude)[:, None], K, axis=1)
    return C, b, T


def _warm_starts(rng, warm, K, count) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K jittered copies of a fitted explicit law (floor C, log k, t)."""
    C0, b0, t0 = warm
    b = np.full((count, K), b0 - np.log(K)) + rng.normal(0.0, 0.1, (count, K))
    T = np.broadcast_to(t0, (count, K, len(t0))) + rng.normal(0.0, 0.5, (count, K, len(t0)))
    return np.full(count, C0), b, T


def _ridge(X: np.ndarray, strength: float) -> np.ndarray:
    """Each domain's ridge in the mean objective: ``strength / n``, less for a domain the
    runs give much weight (mean weight ``m``: times ``1 / (1 + (m / EXPOSURE)^2)``)."""
    return strength / len(X) / (1.0 + (X.mean(axis=0) / EXPOSURE) ** 2)


def _refine(theta, *, X, y, delta, K, centre, ridge, max_iter):
    """L-BFGS-B from ``theta`` within the bounds; scipy's result."""
    bounds = ([(0.0, y.max())] + [(-LOG_K_BOUND, LOG_K_BOUND)] * K
              + [(-T_BOUND, T_BOUND)] * (K * X.shape[1]))
    return minimize(_objective, theta, args=(X, y, delta, K, centre, ridge), jac=True,
                    method="L-BFGS-B", bounds=bounds,
                    options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-9})


def _fit_exp_sum(X, y, *, K, restarts, delta, rng, centre, max_iter, n_refine, warm=None,
                 ridge=None, race=0):
    """Fit ``C + sum_k exp(b_k + t_k . r)``: screen starts, refine the best with L-BFGS-B.

    With ``race``, the ``race`` best screened starts of each kind (random, small, closed
    form) first run :data:`RACE_ITER` iterations, and the ``n_refine`` best of those go on.

    Returns
    -------
    theta : ndarray
        Flat parameters (C, b, T) of the fit with the lowest objective.
    objective : float
        Its training objective.
    """
    ridge = np.zeros(X.shape[1]) if ridge is None else ridge
    families = [_random_starts(rng, X, y, K, restarts)]
    if warm is None:
        families.append(_random_starts(rng, X, y, K, restarts, small=True))
        families.append(_closed_form_starts(X, y, delta, centre, ridge))
    else:
        families.append(_warm_starts(rng, warm, K, max(restarts // 2, 1)))
    thetas, scores = [], []
    for C, b, T in families:
        C = np.clip(C, 0.0, y.min())
        b = np.clip(b, -LOG_K_BOUND, LOG_K_BOUND)
        T = np.clip(T, -T_BOUND, T_BOUND)
        score = _screen(C, b, T, X, y, delta, centre, ridge)
        keep = np.argsort(score)[:race or len(score)]
        thetas += [np.concatenate([[C[i]], b[i], T[i].ravel()]) for i in keep]
        scores += list(score[keep])
    refine = functools.partial(_refine, X=X, y=y, delta=delta, K=K, centre=centre, ridge=ridge)
    if race:
        raced = [refine(theta, max_iter=RACE_ITER) for theta in thetas]
        thetas, scores = [r.x for r in raced], [r.fun for r in raced]
    best = None
    for i in np.argsort(scores)[:n_refine]:
        result = refine(thetas[i], max_iter=max_iter)
        if best is None or result.fun < best.fun:
            best = result
    return best.x, float(best.fun)


class _ExpSumLaw(RegressorMixin, BaseEstimator):
    """Prediction and gradient of ``C + sum_k exp(b_k + t_k . r)``; subclasses say C, b, T."""

    def _components(self) -> tuple[float, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _check_settings(self) -> None:
        _check_positive("restarts", self.restarts, integer=True)
        _check_positive("huber_delta", self.huber_delta)

    def predict(self, X) -> np.ndarray:
        """Predicted loss of each mixture.

        Parameters
        ----------
        X : array-like of shape (n, n_domains)
            Mixture weights, domains in the order used for fitting.

        Returns
        -------
        ndarray of shape (n,)
        """
        return self._by_chunks(X, lambda chunk, C, b, T: C + _terms(chunk, b, T).sum(axis=1))

    def gradient(self, X) -> np.ndarray:
        """Exact derivative of the predicted loss with respect to each mixture weight.

        On the simplex only the part orthogonal to ``(1, ..., 1)`` moves the loss;
        project it out (or use a simplex method) to optimise a mixture.

        Parameters
        ----------
        X : array-like of shape (n, n_domains)

        Returns
        -------
        ndarray of shape (n, n_domains)
            ``d prediction / d weight`` for every row.
        """
        return self._by_chunks(X, lambda chunk, C, b, T: _terms(chunk, b, T) @ T)

    def _by_chunks(self, X, fn) -> np.ndarray:
        """``fn(rows, C, b, T)`` on blocks of rows: the (rows x components) terms of a
        million candidates would otherwise take gigabytes for a bagged implicit law."""
        check_is_fitted(self)
        X = _check_X(X, self.n_features_in_)
        C, b, T = self._components()
        with _one_blas_thread():
            return np.concatenate([fn(X[i:i + CHUNK_ROWS], C, b, T)
                                   for i in range(0, max(len(X), 1), CHUNK_ROWS)])


# ------------------------------------------------------------------- the estimators


class MixingLaw(_ExpSumLaw):
    """Explicit data mixing law ``L(r) = c + k * exp(t . r)`` for one validation target.

    The multi-domain form of Ye et al. (ICLR 2025). Fitted robustly (Huber
    loss, a ridge on ``t``, bounded L-BFGS-B with analytic gradients, many screened and
    raced restarts); see the module docstring for the bounds, the ridge and the
    parametrisation.

    Parameters
    ----------
    restarts : int, default=200
        Random starting points scored (vectorised) before the best few are refined;
        24 closed-form starts are always added.
    huber_delta : float, default=0.02
        Huber threshold as a fraction of the mean target loss.
    seed : int, default=0
        Seed of the random starts.
    ridge : float, default=0.1
        Penalty on the slopes ``t`` (less their mean on the simplex) against the Huber
        loss summed over runs in units of ``delta^2``: ``ridge / 2 * (t_j - mean(t))^2``
        for a domain no run carries, less for domains with more mean weight (see the
        module docstring). It keeps the slopes of domains that few runs contain near the
        mean slope; 0 turns it off.
    max_runs : int, optional
        The most runs a fit uses (default :data:`MAX_RUNS`, 20,000); more are subsampled
        (seeded by ``seed``), with a note.

    Attributes
    ----------
    c_ : float
        Loss floor, in ``[0, max(y)]``.
    k_ : float
        Scale of the exponential term (positive). On the simplex, the loss of the
        uniform mixture above the floor.
    t_ : ndarray of shape (n_domains,)
        Interaction of each training domain with this target (negative: it helps).
        Sums to 0 when the training mixtures lie on the simplex.
    delta_ : float
        Absolute Huber threshold used.
    n_features_in_ : int
        Number of domains.
    """

    def __init__(self, restarts: int = 200, huber_delta: float = 0.02, seed: int = 0,
                 ridge: float = RIDGE, max_runs: int | None = None):
        self.restarts = restarts
        self.huber_delta = huber_delta
        self.seed = seed
        self.ridge = ridge
        self.max_runs = max_runs

    def fit(self, X, y) -> MixingLaw:
        """Fit the law to mixtures ``X`` (n, n_domains) and their losses ``y`` (n,).

        Raises
        ------
        UserError
            On bad shapes, non-finite or non-positive losses, or fewer runs than
            parameters (``n_domains + 1`` on the simplex, else ``n_domains + 2``).
        """
        self._check_settings()
        if isinstance(self.ridge, bool) or not isinstance(self.ridge, (int, float)) \
                or not self.ridge >= 0:
            raise UserError(f"ridge must be a number >= 0 (got {self.ridge!r})")
        X, y, simplex = _check_fit_data(X, y, "MixingLaw")
        limit = MAX_RUNS if self.max_runs is None else self.max_runs
        _check_positive("max_runs", limit, integer=True)
        X, y = subsample(X, y, limit, self.seed, what="mixing_law", why=WHY)
        self.delta_ = self.huber_delta * float(y.mean())
        with _one_blas_thread():
            theta, _ = _fit_exp_sum(X, y, K=1, restarts=self.restarts, delta=self.delta_,
                                    rng=np.random.default_rng(self.seed), centre=simplex,
                                    max_iter=EXPLICIT_MAX_ITER, n_refine=EXPLICIT_REFINE,
                                    ridge=_ridge(X, self.ridge), race=RACE)
        C, b, T = _unpack(theta, 1, X.shape[1])
        self.c_, self.k_, self.t_ = float(C), float(np.exp(b[0])), T[0].copy()
        self.n_features_in_ = X.shape[1]
        return self

    def _components(self):
        return self.c_, np.array([np.log(self.k_)]), self.t_[None, :]


class ImplicitMixingLaw(_ExpSumLaw):
    """Implicit-domain mixing law ``L(r) = sum_k s_k (c_k + k_k exp(t_k . r))``.

    For a validation set made of ``K`` unknown domains with proportions ``s`` (Ye et
    al., ICLR 2025). Each of ``n_bags`` fits starts from the explicit law and random
    points, runs at most ``max_iter`` L-BFGS-B iterations, and the fits are averaged;
    see the module docstring for why and for the reported parametrisation. Predicting
    costs one exponential per component: about 0.3 s per million candidates with the
    default 20 components, proportionally more with more.

    Parameters
    ----------
    n_components : int, default=5
        Implicit domains K per fit.
    restarts : int, default=50
        Random starting points scored per bag (plus half as many jittered copies of
        the explicit law); the best is refined.
    huber_delta : float, default=0.02
        Huber threshold as a fraction of the mean target loss.
    seed : int, default=0
        Seed of the random starts.
    n_bags : int, default=4
        Fits from different seeds averaged into the final law.
    max_iter : int or None, default=None
        L-BFGS-B iterations per fit (early stopping). None: 10 per run, at most 3000.
    max_runs : int, optional
        The most runs a fit uses (default :data:`IMPLICIT_MAX_RUNS`, 2,000); more are
        subsampled (seeded by ``seed``), with a note.

    Attributes
    ----------
    s_ : ndarray of shape (n_components * n_bags,)
        Proportions of the implicit domains (softmax of the log-amplitudes).
    c_ : ndarray of shape (n_components * n_bags,)
        Loss floor of each implicit domain (all equal; see the module docstring).
    k_ : ndarray of shape (n_components * n_bags,)
        Scale of each implicit domain's exponential term.
    t_ : ndarray of shape (n_components * n_bags, n_domains)
        Interaction of each training domain with each implicit domain.
    explicit_ : MixingLaw
        The explicit law the fits start from.
    delta_ : float
        Absolute Huber threshold used.
    n_features_in_ : int
        Number of domains.
    """

    def __init__(self, n_components: int = 5, restarts: int = 50, huber_delta: float = 0.02,
                 seed: int = 0, n_bags: int = 4, max_iter: int | None = None,
                 max_runs: int | None = None):
        self.n_components = n_components
        self.restarts = restarts
        self.huber_delta = huber_delta
        self.seed = seed
        self.n_bags = n_bags
        self.max_iter = max_iter
        self.max_runs = max_runs

    def fit(self, X, y) -> ImplicitMixingLaw:
        """Fit the law to mixtures ``X`` (n, n_domains) and their losses ``y`` (n,).

        Raises
        ------
        UserError
            On bad settings or data, or fewer runs than the explicit law needs.
        """
        self._check_settings()
        for name in ("n_components", "n_bags"):
            _check_positive(name, getattr(self, name), integer=True)
        if self.max_iter is not None:
            _check_positive("max_iter", self.max_iter, integer=True)
        X, y, simplex = _check_fit_data(X, y, "ImplicitMixingLaw")
        limit = IMPLICIT_MAX_RUNS if self.max_runs is None else self.max_runs
        _check_positive("max_runs", limit, integer=True)
        X, y = subsample(X, y, limit, self.seed, what="implicit_law", why=WHY)
        max_iter = self.max_iter or min(ITER_PER_RUN * len(y), MAX_ITER_CAP)
        self.explicit_ = MixingLaw(huber_delta=self.huber_delta, seed=self.seed).fit(X, y)
        warm = (self.explicit_.c_, np.log(self.explicit_.k_), self.explicit_.t_)
        self.delta_ = self.huber_delta * float(y.mean())
        floors, log_amplitudes, slopes = [], [], []
        with _one_blas_thread():
            for bag in range(self.n_bags):
                theta, _ = _fit_exp_sum(
                    X, y, K=self.n_components, restarts=self.restarts, delta=self.delta_,
                    rng=np.random.default_rng([self.seed, bag]), centre=simplex,
                    max_iter=max_iter, n_refine=1, warm=warm)
                C, b, T = _unpack(theta, self.n_components, X.shape[1])
                floors.append(C)
                log_amplitudes.append(b - np.log(self.n_bags))  # the average of the bags
                slopes.append(T)
        b = np.concatenate(log_amplitudes)
        total = np.exp(b).sum()
        self.s_ = np.exp(b) / total
        self.k_ = np.full(len(b), total)
        self.c_ = np.full(len(b), float(np.mean(floors)))
        self.t_ = np.vstack(slopes)
        self.n_features_in_ = X.shape[1]
        return self

    def _components(self):
        return float(self.s_ @ self.c_), np.log(self.s_ * self.k_), self.t_


def interaction_matrix(X, Y, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit one explicit law per validation column: the paper's ``t_ij`` matrix.

    Parameters
    ----------
    X : array-like of shape (n, n_domains)
        Training mixtures.
    Y : array-like of shape (n, n_targets)
        Validation loss of each run on each target (e.g. each validation domain).
    seed : int, default=0
        Seed of each fit's random starts.

    Returns
    -------
    t : ndarray of shape (n_targets, n_domains)
        Row ``i``: how each training domain ``j`` moves target ``i`` (negative helps).
    c : ndarray of shape (n_targets,)
        Loss floors.
    k : ndarray of shape (n_targets,)
        Scales of the exponential terms.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise UserError(f"validation losses Y must be a table of runs x targets "
                        f"(got shape {Y.shape})")
    laws = [MixingLaw(seed=seed).fit(X, Y[:, i]) for i in range(Y.shape[1])]
    return (np.array([law.t_ for law in laws]), np.array([law.c_ for law in laws]),
            np.array([law.k_ for law in laws]))
