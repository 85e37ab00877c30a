"""What every strategy is: :class:`MixtureStrategy`, the mixtures a sweep's proxies train next.

A strategy alternates ``suggest(n)`` (a batch of ``n`` mixtures to train, so that a
cluster stays busy) and ``observe(mixtures, losses)``, inside the bounded simplex
``{w : lower <= w <= upper, sum(w) = 1}`` of a :class:`raymix.mixtures.Constraints` box.
A strategy class says only which rows a batch holds (``_rows``); the rest is here.

Determinism and resuming: every batch draws its randomness from a generator seeded by
``(seed, number of suggestions made so far)``, so a strategy holds no generator state.
:meth:`MixtureStrategy.to_dict` stores the settings, the suggestions and the
observations as JSON types (floats round-trip exactly through :mod:`json`), and
:func:`raymix.mixtures.strategies.restore_strategy` rebuilds a strategy whose next
suggestions are exactly those the uninterrupted one would have made. Observations are
used sorted by mixture (:meth:`MixtureStrategy._observed`), so the order in which runs
finished (which a cluster decides) does not change what is suggested, and every
suggestion computes with one BLAS thread, so the machine's core count does not change
its floating-point sums either. Which runs have finished when a suggestion is asked for
is the caller's to fix: a sweep's synchronous batches (``mixtures.batch_size``,
:mod:`raymix.sweep.strategy`) ask for each batch only once every run before it is
observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from raymix.errors import UserError
from raymix.mixtures.constraints import Constraints

STATE_VERSION = 1


def _as_vector(values, k: int, default: float, field: str) -> np.ndarray:
    if values is None:
        return np.full(k, default)
    out = np.asarray(values, dtype=float)
    if out.shape != (k,) or not np.all(np.isfinite(out)):
        raise UserError(f"{field} must be {k} finite numbers, one per domain (got shape "
                        f"{out.shape})")
    return out


class MixtureStrategy:
    """Batches of mixtures to train next, chosen to find the lowest loss inside a box.

    Every strategy takes the same settings, so that the registry
    (:data:`raymix.mixtures.strategies.STRATEGIES`) builds any of them from one config;
    a strategy ignores those it does not use.

    Parameters
    ----------
    domains : sequence of str
        Domain names, in the order of the weight vectors.
    lower, upper : array-like of shape (k,), optional
        Per-domain bounds (default 0 and 1); need ``sum(lower) <= 1 <= sum(upper)``.
    initial : int, default=8
        Suggestions made before the runs so far steer the next ones.
    seed : int, default=0
        Seed of every draw; the same seed, settings and observations give the same
        suggestions.
    pool_size : int, default=2048
        Mixtures in the pool the Gaussian process picks each batch from (``bayesopt``,
        ``design``; stored as ``candidates`` in ``strategy.json``, its older name).
    prior : array-like of shape (k,), optional
        Token shares: the centre of the draws (default uniform). RegMix's draws centre
        on its square root.
    gp_restarts : int, default=1
        Random restarts of the Gaussian process's hyperparameter fit.
    exploration : float, default=1.0
        Posterior standard deviations subtracted from the mean in the confidence bound.
    groups, group_lower, group_upper : optional
        The domain tree and bounds on each group's total (:class:`Constraints`): the
        suggestions meet them and the candidate pools are drawn a level at a time.

    Attributes
    ----------
    name : str
        The strategy's name in ``mixtures.strategy`` and in its saved state.
    adaptive : bool
        True: the strategy chooses from the runs so far, and a sweep asks it for each
        suggestion as results come in (:mod:`raymix.sweep.strategy`, ``strategy.json``).
        False: nothing it suggests depends on results, and a sweep draws its whole plan
        up front (``plan.csv``, :func:`raymix.mixtures.sample_mixtures`).
        :attr:`raymix.config.SweepConfig.is_adaptive` says the same of a config.
    box : Constraints
        The bounds and prior.
    suggested : list of ndarray
        Every mixture suggested so far, in order.
    mixtures, losses : list
        The observations, in order.
    failed : list of ndarray
        Suggested mixtures that were trained and gave no loss (e.g. diverged).
    """

    name: ClassVar[str] = ""
    adaptive: ClassVar[bool] = True

    def __init__(self, domains: Sequence[str], lower=None, upper=None, *,
                 initial: int = 8, seed: int = 0, pool_size: int = 2048, prior=None,
                 gp_restarts: int = 1, exploration: float = 1.0, groups=None,
                 group_lower=None, group_upper=None):
        domains = [str(d) for d in domains]
        k = len(domains)
        if int(initial) < 1 or int(pool_size) < 1 or int(gp_restarts) < 0 or \
                not float(exploration) >= 0:
            raise UserError("initial and pool_size must be at least 1, gp_restarts and "
                            f"exploration at least 0 (got {initial}, {pool_size}, "
                            f"{gp_restarts}, {exploration})")
        self.prior_arg = None if prior is None else [float(p) for p in prior]
        try:
            self.box = Constraints(domains, _as_vector(lower, k, 0.0, "lower"),
                                   _as_vector(upper, k, 1.0, "upper"),
                                   _as_vector(prior, k, 1.0, "prior"), groups=groups,
                                   group_lower=group_lower, group_upper=group_upper)
        except ValueError as error:  # infeasible bounds or a bad prior
            raise UserError(f"{error}; widen lower/upper", field="bounds") from None
        self.initial, self.seed = int(initial), int(seed)
        self.pool_size, self.gp_restarts = int(pool_size), int(gp_restarts)
        self.exploration = float(exploration)
        self.suggested: list[np.ndarray] = []
        self.mixtures: list[np.ndarray] = []
        self.losses: list[float] = []
        self.failed: list[np.ndarray] = []  # suggested, trained, no loss (e.g. diverged)

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
            rows = self.box.project(self._rows(n, rng))
        self.suggested.extend(row.copy() for row in rows)
        return rows

    def _rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The strategy itself: ``n`` rows (projected into the box after), drawing from ``rng``."""
        raise NotImplementedError

    def _pending(self) -> np.ndarray:
        """Suggested mixtures with no observation yet (runs still training)."""
        seen = {tuple(np.round(m, 12)) for m in [*self.mixtures, *self.failed]}
        rows = [s for s in self.suggested if tuple(np.round(s, 12)) not in seen]
        return np.array(rows).reshape(-1, len(self.domains))

    def _observed(self) -> tuple[np.ndarray, np.ndarray]:
        """The observations in a canonical order (sorted by mixture).

        Runs finish in whatever order the cluster makes; sorting makes what a strategy
        computes from them depend only on which runs were observed, so a strategy rebuilt
        from stored results suggests exactly what the uninterrupted one would have.
        """
        X, y = np.array(self.mixtures), np.array(self.losses)
        order = np.lexsort(X.T[::-1])
        return X[order], y[order]

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

        They are no longer pending (believed as still training), and give nothing to learn.
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
        """The whole state as JSON types; :func:`~raymix.mixtures.strategies.restore_strategy`
        continues it exactly."""
        return {
            "version": STATE_VERSION,
            "domains": list(self.domains),
            "lower": self.box.lower.tolist(),
            "upper": self.box.upper.tolist(),
            "prior": self.prior_arg,
            "strategy": self.name,
            "initial": self.initial,
            "seed": self.seed,
            "candidates": self.pool_size,  # the pool's size, under its stored name
            "gp_restarts": self.gp_restarts,
            "exploration": self.exploration,
            "suggested": [row.tolist() for row in self.suggested],
            "mixtures": [row.tolist() for row in self.mixtures],
            "losses": list(self.losses),
            "failed": [row.tolist() for row in self.failed],
        } | ({"groups": self.box.groups, "group_lower": self.box.group_lower.tolist(),
              "group_upper": self.box.group_upper.tolist()} if self.box.groups else {})

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> MixtureStrategy:
        """Rebuild a strategy of this class saved by :meth:`to_dict` (the registry's
        :func:`~raymix.mixtures.strategies.restore_strategy` picks the class)."""
        try:
            strategy = cls(state["domains"], state["lower"], state["upper"],
                           initial=state["initial"], seed=state["seed"],
                           pool_size=state["candidates"], prior=state["prior"],
                           gp_restarts=state["gp_restarts"], exploration=state["exploration"],
                           groups=state.get("groups"), group_lower=state.get("group_lower"),
                           group_upper=state.get("group_upper"))
            k = len(strategy.domains)
            strategy.suggested = [np.asarray(r, dtype=float).reshape(k)
                                  for r in state["suggested"]]
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"saved sampler state is incomplete or malformed ({error}); "
                            "start a new sweep folder") from None
        if state["mixtures"]:
            strategy.observe(state["mixtures"], state["losses"])
        if state.get("failed"):  # states saved before failed runs were recorded have none
            strategy.discard(state["failed"])
        return strategy
