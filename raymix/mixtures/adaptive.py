"""Adaptive sampling: choose the next batch of proxy mixtures from the runs so far.

A sweep that samples all its mixtures up front (RegMix's Dirichlet draws,
:func:`raymix.mixtures.sample_dirichlet`) spends most runs far from the good mixtures.
:class:`AdaptiveSampler` instead alternates ``suggest(n)`` (a batch of ``n`` mixtures to
train, so that a cluster stays busy) and ``observe(mixtures, losses)``. It samples the
bounded simplex ``{w : lower <= w <= upper, sum(w) = 1}`` of a
:class:`raymix.mixtures.Constraints` box, with one of three strategies:

``random``
    RegMix-like Dirichlet draws around the tempered prior, projected into the box
    (:func:`raymix.mixtures.sample_candidates`). The baseline: no feedback at all. (A
    sweep with ``mixtures.strategy: random`` draws every mixture up front with
    :func:`raymix.mixtures.sample_mixtures`; :mod:`raymix.sweep.strategy` runs the other
    two.)
``bayesopt``
    ``initial`` random draws, then Bayesian optimisation: raymix's Gaussian process
    (:class:`raymix.regression.SimplexGP`, Matern 5/2 on the square roots of the
    weights) is fitted to the runs, and a batch is chosen from a candidate set by a
    lower confidence bound ``mean - exploration * std`` with hallucinated observations:
    after each pick the GP pretends the pick was observed at its predicted mean (the
    *Kriging believer* of Ginsbourger, Le Riche and Carraro, 2010). With fixed
    hyperparameters that leaves the posterior mean unchanged and only shrinks the
    variance near the pick, so the next picks go elsewhere: GP-BUCB (Desautels, Krause
    and Burdick, "Parallelizing exploration-exploitation tradeoffs in Gaussian process
    bandit optimization", JMLR 2014). Mixtures suggested but not yet observed (runs
    still training) are believed the same way. (Expected improvement in place of the
    bound explored too much on 8-24 runs of a smooth 6-domain test loss.)
``design``
    A space-filling initial design of ``initial`` mixtures (:func:`space_filling_design`),
    then the same Bayesian optimisation rounds.

The candidate set of each round mixes global draws in the box with draws concentrated
around the best runs so far: in 17 dimensions, global draws alone rarely land close
enough to a good mixture to refine it.

Determinism and resuming: every batch draws its randomness from a generator seeded by
``(seed, number of suggestions made so far)``, so the sampler holds no generator state.
:meth:`AdaptiveSampler.to_dict` stores the settings, the suggestions and the
observations as JSON types (floats round-trip exactly through :mod:`json`), and
:meth:`AdaptiveSampler.from_dict` rebuilds a sampler whose next suggestions are exactly
those the uninterrupted one would have made. The GP is fitted to the observations
sorted by mixture, so the order in which runs finished (which a cluster decides) does
not change what is suggested, and every suggestion computes with one BLAS thread, so the
machine's core count does not change its floating-point sums either. Which runs have
finished when a suggestion is asked for is the caller's to fix: a sweep's synchronous
batches (``mixtures.batch_size``, :mod:`raymix.sweep.strategy`) ask for each batch only
once every run before it is observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from raymix.config import STRATEGIES
from raymix.errors import UserError
from raymix.mixtures.constraints import Constraints
from raymix.mixtures.simplex import sample_candidates, tempered_prior
from raymix.regression import SimplexGP

STATE_VERSION = 1
REGMIX_TEMPERATURE = 0.5  # RegMix centres its draws on prior ** 0.5
REGMIX_STRENGTHS = (0.1, 5.0)  # and draws concentration strengths from this range
LOCAL_STRENGTHS = (20.0, 500.0)  # Dirichlet strengths of the draws around the best runs
LOCAL_CENTRES = 5  # the best this many runs each get local candidates
LOCAL_FRACTION = 0.5  # share of the candidates drawn around the best runs
DESIGN_POOL = 4096  # RegMix draws the space-filling design chooses from
PRIOR_SHARE = 0.05  # local draws centre on (1 - this) * run + this * prior: zero weights may grow
# The GP's hyperparameters are refitted at every new observation up to REFIT_RUNS runs;
# beyond, only when the runs have grown by REFIT_GROWTH since the last refit, and the GP
# in between conditions on every run with those hyperparameters (one Cholesky). A refit
# costs 1.7 s at 512 runs and 13 s at 1024 on one core (bench/bench_strategy_latency.py),
# and a few percent more runs barely move the most likely hyperparameters.
REFIT_RUNS = 128
REFIT_GROWTH = 1.1


def sample_regmix(n: int, box: Constraints, rng: np.random.Generator) -> np.ndarray:
    """``n`` RegMix-like Dirichlet draws (centre ``prior ** 0.5``, strengths 0.1-5) in the box."""
    centre = tempered_prior(box.prior, REGMIX_TEMPERATURE)
    return box.project(sample_candidates(n, centre, lower=box.lower,
                                         upper=box.upper, rng=rng, strengths=REGMIX_STRENGTHS,
                                         uniform_fraction=0.0))


def space_filling_design(n: int, box: Constraints, rng: np.random.Generator,
                         pool: int = DESIGN_POOL) -> np.ndarray:
    """``n`` mixtures that spread evenly over the RegMix distribution inside the box.

    K-means with ``n`` clusters on the square roots of ``pool`` RegMix draws (Hellinger
    geometry, as the GP's kernel); the design is the draw nearest each cluster centre.
    The points are representative points ("support points", Mak and Joseph, Annals of
    Statistics 2018) of the distribution RegMix samples from: stratified, so no two
    land close together as i.i.d. draws often do, yet realistic. Maximin or D-optimal
    designs were not chosen because on the simplex both push every point to the
    vertices (single-domain mixtures, D-optimal for a linear model), which say little
    about an interior optimum and make poor proxy runs.

    Parameters
    ----------
    n : int
        Design size.
    box : Constraints
        Bounds and prior.
    rng : Generator
    pool : int, default=4096
        RegMix draws to choose from.

    Returns
    -------
    ndarray of shape (n, k)
    """
    draws = sample_regmix(max(pool, n), box, rng)
    roots = np.sqrt(draws)
    with threadpool_limits(1):  # deterministic and cheap on a shared machine
        kmeans = KMeans(n_clusters=n, n_init=1, random_state=int(rng.integers(2**31))).fit(roots)
    nearest = [int(np.argmin(((roots - c) ** 2).sum(1))) for c in kmeans.cluster_centers_]
    return draws[nearest]


def candidates_near_runs(n: int, box: Constraints, X: np.ndarray, y: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """``n`` mixtures in the box: half drawn over all of it, half around the best runs.

    In 17 dimensions, draws over the whole box rarely land close enough to a good run to
    refine it; so the best ``LOCAL_CENTRES`` runs (lowest ``y``) each get concentrated
    Dirichlet draws around them (nudged toward the prior, so a zero weight may grow).

    Parameters
    ----------
    n : int
    box : Constraints
    X : array of shape (m, k)
        The observed mixtures (may be empty).
    y : array of shape (m,)
        Their losses.
    rng : Generator

    Returns
    -------
    ndarray of shape (n, k)
    """
    n_local = int(n * LOCAL_FRACTION) if len(X) else 0
    parts = [sample_candidates(n - n_local, box.prior, lower=box.lower, upper=box.upper,
                               rng=rng)]
    centres = X[np.argsort(y, kind="stable")[:LOCAL_CENTRES]] if n_local else []
    for i, centre in enumerate(centres):
        size = n_local // len(centres) + (i < n_local % len(centres))
        if size:
            parts.append(sample_candidates(
                size, (1 - PRIOR_SHARE) * centre + PRIOR_SHARE * box.prior,
                lower=box.lower, upper=box.upper, rng=rng, strengths=LOCAL_STRENGTHS,
                uniform_fraction=0.0))
    return box.project(np.vstack(parts))


# ----------------------------------------------------------------------------- batch acquisition


class _Believer:
    """The posterior of a fitted :class:`SimplexGP` over a point set, with believed picks.

    Conditioning on an observation at its own posterior mean leaves the mean unchanged
    and subtracts ``cov(x, p)^2 / (var(p) + noise)`` from the variance at each ``x``:
    a rank-one update per pick. The points are the candidates plus the pending mixtures
    (suggested, not yet observed), so every believed point is an index into them and the
    current covariance is ``cov0 - sum_j u_j u_j^T`` with ``u_j`` stored per pick.
    """

    def __init__(self, gp: SimplexGP, points: np.ndarray):
        self.gp = gp
        self.Z = gp.scaled_inputs(points)
        cross = gp.covariance(self.Z, gp.Z_)  # (m, n)
        self.V = linalg.solve_triangular(gp.cholesky_, cross.T, lower=True)  # (n, m)
        self.mean = cross @ gp.alpha_  # standardised loss
        self.var = np.maximum(gp.amplitude_ - (self.V**2).sum(0), 0.0)
        self.factors: list[np.ndarray] = []

    def believe(self, index: int) -> None:
        """Condition on an observation at point ``index`` equal to its posterior mean."""
        prior = self.gp.covariance(self.Z, self.Z[index:index + 1])[:, 0]
        cov = prior - self.V.T @ self.V[:, index]
        for u in self.factors:
            cov -= u * u[index]
        u_new = cov / np.sqrt(max(cov[index], 0.0) + self.gp.noise_level_)
        self.factors.append(u_new)
        self.var = np.maximum(self.var - u_new**2, 0.0)


def believer_batch(gp: SimplexGP, candidates: np.ndarray, pending: np.ndarray, n: int,
                   exploration: float = 1.0) -> np.ndarray:
    """Indices of ``n`` candidates chosen one by one by the lower confidence bound, believing each.

    Parameters
    ----------
    gp : SimplexGP
        Fitted to the observed runs.
    candidates : array of shape (m, k)
    pending : array of shape (p, k)
        Mixtures being trained: believed before the first pick.
    n : int
        Batch size (at most m).
    exploration : float, default=1.0
        Weight of the posterior std in ``mean - exploration * std``.

    Returns
    -------
    ndarray of int, shape (n,)
    """
    believer = _Believer(gp, np.vstack([candidates, pending]))
    for j in range(len(pending)):
        believer.believe(len(candidates) + j)
    chosen: list[int] = []
    for _ in range(n):
        bound = (believer.mean[:len(candidates)]
                 - exploration * np.sqrt(believer.var[:len(candidates)]))
        bound[chosen] = np.inf
        pick = int(np.argmin(bound))
        chosen.append(pick)
        believer.believe(pick)
    return np.array(chosen, dtype=int)


# ----------------------------------------------------------------------------- the sampler

MIN_GP_RUNS = 3  # fewer observed runs than this: the GP rounds fall back to random draws
DESIGN_STREAM = 0xD5  # second seed word of the design's generator (the batches use counts)


def _as_vector(values, k: int, default: float, field: str) -> np.ndarray:
    if values is None:
        return np.full(k, default)
    out = np.asarray(values, dtype=float)
    if out.shape != (k,) or not np.all(np.isfinite(out)):
        raise UserError(f"{field} must be {k} finite numbers, one per domain (got shape "
                        f"{out.shape})")
    return out


class AdaptiveSampler:
    """Batches of mixtures to train next, chosen to find the lowest loss inside a box.

    Parameters
    ----------
    domains : sequence of str
        Domain names, in the order of the weight vectors.
    lower, upper : array-like of shape (k,), optional
        Per-domain bounds (default 0 and 1); need ``sum(lower) <= 1 <= sum(upper)``.
    strategy : {"bayesopt", "design", "random"}, default="bayesopt"
        See the module docstring.
    initial : int, default=8
        Suggestions made before the GP takes over: random draws (``bayesopt``) or the
        space-filling design (``design``). Ignored by ``random``.
    seed : int, default=0
        Seed of every draw; the same seed, settings and observations give the same
        suggestions.
    candidates : int, default=2048
        Candidate mixtures per GP round, half drawn over the whole box and half around
        the best runs.
    prior : array-like of shape (k,), optional
        Token shares: the centre of the draws (default uniform). RegMix's draws centre
        on its square root.
    gp_restarts : int, default=1
        Random restarts of the GP's hyperparameter fit (:class:`SimplexGP`).
    exploration : float, default=1.0
        Posterior standard deviations subtracted from the mean in the confidence bound.

    Attributes
    ----------
    box : Constraints
        The bounds and prior.
    suggested : list of ndarray
        Every mixture suggested so far, in order.
    mixtures, losses : list
        The observations, in order.
    """

    def __init__(self, domains: Sequence[str], lower=None, upper=None, *,
                 strategy: str = "bayesopt", initial: int = 8, seed: int = 0,
                 candidates: int = 2048, prior=None, gp_restarts: int = 1,
                 exploration: float = 1.0):
        domains = [str(d) for d in domains]
        k = len(domains)
        if strategy not in STRATEGIES:
            raise UserError(f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
        if int(initial) < 1 or int(candidates) < 1 or int(gp_restarts) < 0 or \
                not float(exploration) >= 0:
            raise UserError("initial and candidates must be at least 1, gp_restarts and "
                            f"exploration at least 0 (got {initial}, {candidates}, "
                            f"{gp_restarts}, {exploration})")
        self.prior_arg = None if prior is None else [float(p) for p in prior]
        try:
            self.box = Constraints(domains, _as_vector(lower, k, 0.0, "lower"),
                                   _as_vector(upper, k, 1.0, "upper"),
                                   _as_vector(prior, k, 1.0, "prior"))
        except ValueError as error:  # infeasible bounds or a bad prior
            raise UserError(f"{error}; widen lower/upper", field="bounds") from None
        self.strategy, self.initial, self.seed = strategy, int(initial), int(seed)
        self.candidates, self.gp_restarts = int(candidates), int(gp_restarts)
        self.exploration = float(exploration)
        self.suggested: list[np.ndarray] = []
        self.mixtures: list[np.ndarray] = []
        self.losses: list[float] = []
        self.failed: list[np.ndarray] = []  # suggested, trained, no loss (e.g. diverged)
        self._design: np.ndarray | None = None
        self._gp: tuple[int, SimplexGP] | None = None  # (observations, fit): refit on new ones
        # hyperparameters of the last full GP fit, and on how many runs (saved with the
        # state, so a resumed sampler reuses them exactly as the uninterrupted one would)
        self.gp_theta: list[float] | None = None
        self.gp_theta_runs = 0

    @property
    def domains(self) -> list[str]:
        return self.box.domains

    # ------------------------------------------------------------------ suggesting

    def suggest(self, n: int) -> np.ndarray:
        """The next ``n`` mixtures to train, all at once.

        Parameters
        ----------
        n : int

        Returns
        -------
        ndarray of shape (n, k)
            Rows inside the box, summing to 1.
        """
        if int(n) < 1:
            raise UserError(f"suggest needs n >= 1 (got {n})")
        n = int(n)
        rng = np.random.default_rng([self.seed, len(self.suggested)])
        # one BLAS thread: the same sums in the same order on any machine's core count
        # (and a GP of up to a few thousand runs is no faster with more)
        with threadpool_limits(1, user_api="blas"):
            first = self._initial_rows(n, rng)
            rest = n - len(first)
            if rest and len(self.losses) >= MIN_GP_RUNS:
                rows = np.vstack([first, self._bayesopt_rows(rest, first, rng)])
            elif rest:
                rows = np.vstack([first, sample_regmix(rest, self.box, rng)])
            else:
                rows = first
            rows = self.box.project(rows)
        self.suggested.extend(row.copy() for row in rows)
        return rows

    def _initial_rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Rows of the initial phase (all of them for ``random``)."""
        if self.strategy == "random":
            return sample_regmix(n, self.box, rng)
        take = max(0, min(n, self.initial - len(self.suggested)))
        if self.strategy == "bayesopt" or not take:
            return sample_regmix(take, self.box, rng) if take else np.empty((0, len(self.domains)))
        if self._design is None:  # deterministic in the seed: rebuilt identically on resume
            design_rng = np.random.default_rng([self.seed, DESIGN_STREAM])
            self._design = space_filling_design(self.initial, self.box, design_rng)
        start = len(self.suggested)
        return self._design[start:start + take]

    def _pending(self) -> np.ndarray:
        """Suggested mixtures with no observation yet (runs still training)."""
        seen = {tuple(np.round(m, 12)) for m in [*self.mixtures, *self.failed]}
        rows = [s for s in self.suggested if tuple(np.round(s, 12)) not in seen]
        return np.array(rows).reshape(-1, len(self.domains))

    def _observed(self) -> tuple[np.ndarray, np.ndarray]:
        """The observations in a canonical order (sorted by mixture).

        Runs finish in whatever order the cluster makes; sorting makes the GP's fit, and so
        the suggestions, depend only on which runs were observed, so a sampler rebuilt from
        stored results suggests exactly what the uninterrupted one would have.
        """
        X, y = np.array(self.mixtures), np.array(self.losses)
        order = np.lexsort(X.T[::-1])
        return X[order], y[order]

    def _fitted_gp(self, X: np.ndarray, y: np.ndarray) -> SimplexGP:
        """The GP of the current observations; kept until a new one arrives.

        Its hyperparameters are those of the last full fit while the runs have grown by
        less than ``REFIT_GROWTH`` past ``REFIT_RUNS`` (module constants).
        """
        n = len(y)
        if self._gp is None or self._gp[0] != n:
            reuse = (self.gp_theta is not None and n > REFIT_RUNS
                     and n < REFIT_GROWTH * self.gp_theta_runs)
            gp = SimplexGP(n_restarts=self.gp_restarts, seed=self.seed,
                           theta=self.gp_theta if reuse else None).fit(X, y)
            if not reuse:
                self.gp_theta, self.gp_theta_runs = gp.theta_.tolist(), n
            self._gp = (n, gp)
        return self._gp[1]

    def _bayesopt_rows(self, n: int, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``n`` rows by the believer's lower confidence bound (GP-BUCB, module docstring)."""
        X, y = self._observed()
        gp = self._fitted_gp(X, y)
        candidates = candidates_near_runs(self.candidates, self.box, X, y, rng)
        pending = np.vstack([self._pending(), chosen])
        picks = believer_batch(gp, candidates, pending, min(n, len(candidates)),
                               self.exploration)
        rows = candidates[picks]
        if len(rows) < n:  # fewer candidates than asked for: top up with draws
            rows = np.vstack([rows, sample_regmix(n - len(rows), self.box, rng)])
        return rows

    # ------------------------------------------------------------------ observing

    def observe(self, mixtures, losses) -> None:
        """Record trained runs: mixtures of shape (n, k) (or (k,)) and their losses.

        Raises
        ------
        UserError
            When the shapes do not match the domains, or a value is missing or infinite.
        """
        X = np.atleast_2d(np.asarray(mixtures, dtype=float))
        y = np.atleast_1d(np.asarray(losses, dtype=float))
        k = len(self.domains)
        if X.ndim != 2 or X.shape[1] != k or y.shape != (len(X),):
            raise UserError(f"observe needs mixtures of shape (n, {k}) and n losses "
                            f"(got {X.shape} and {y.shape})")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise UserError("observed mixtures and losses must be finite; drop failed runs")
        self.mixtures.extend(row.copy() for row in X)
        self.losses.extend(float(v) for v in y)

    def discard(self, mixtures) -> None:
        """Record suggested runs that finished without a loss (failed, diverged).

        They are no longer pending (believed as still training), and give the GP nothing.
        """
        X = np.atleast_2d(np.asarray(mixtures, dtype=float))
        if X.ndim != 2 or X.shape[1] != len(self.domains):
            raise UserError(f"discard needs mixtures of shape (n, {len(self.domains)}) "
                            f"(got {X.shape})")
        self.failed.extend(row.copy() for row in X)

    def best(self) -> tuple[np.ndarray, float]:
        """The observed mixture with the lowest loss, and that loss (noise included)."""
        if not self.losses:
            raise UserError("no runs observed yet: call observe() before best()")
        i = int(np.argmin(self.losses))
        return self.mixtures[i].copy(), self.losses[i]

    # ------------------------------------------------------------------ state

    def to_dict(self) -> dict[str, Any]:
        """The whole sampler state as JSON types; :meth:`from_dict` continues it exactly."""
        return {
            "version": STATE_VERSION,
            "domains": list(self.domains),
            "lower": self.box.lower.tolist(),
            "upper": self.box.upper.tolist(),
            "prior": self.prior_arg,
            "strategy": self.strategy,
            "initial": self.initial,
            "seed": self.seed,
            "candidates": self.candidates,
            "gp_restarts": self.gp_restarts,
            "exploration": self.exploration,
            "suggested": [row.tolist() for row in self.suggested],
            "mixtures": [row.tolist() for row in self.mixtures],
            "losses": list(self.losses),
            "failed": [row.tolist() for row in self.failed],
            "gp_theta": self.gp_theta,
            "gp_theta_runs": self.gp_theta_runs,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> AdaptiveSampler:
        """Rebuild a sampler saved by :meth:`to_dict`."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise UserError(f"not a saved sampler state of version {STATE_VERSION}; "
                            "start a new sweep folder")
        try:
            sampler = cls(state["domains"], state["lower"], state["upper"],
                         strategy=state["strategy"], initial=state["initial"],
                         seed=state["seed"], candidates=state["candidates"],
                         prior=state["prior"], gp_restarts=state["gp_restarts"],
                         exploration=state["exploration"])
            k = len(sampler.domains)
            sampler.suggested = [np.asarray(r, dtype=float).reshape(k)
                                for r in state["suggested"]]
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"saved sampler state is incomplete or malformed ({error}); "
                            "start a new sweep folder") from None
        if state["mixtures"]:
            sampler.observe(state["mixtures"], state["losses"])
        if state.get("failed"):  # states saved before failed runs were recorded have none
            sampler.discard(state["failed"])
        if state.get("gp_theta") is not None:  # older states have none: the GP refits
            sampler.gp_theta = [float(v) for v in state["gp_theta"]]
            sampler.gp_theta_runs = int(state["gp_theta_runs"])
        return sampler
