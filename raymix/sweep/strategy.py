"""Adaptive sweeps: the search of :mod:`raymix.adaptive` inside a Ray Tune experiment.

With ``search.strategy: bayesopt`` or ``design`` a sweep does not draw its mixtures up
front (RegMix). It searches:

- the sweep's aggregator actor (:mod:`raymix.aggregator`) holds a :class:`SweepSearch`.
  Every result it stores is also an observation of the search, so the search's Gaussian
  process is refitted on the stored runs (the live fit), and the actor answers
  ``suggest()`` with the next mixture and its run id;
- the driver's Tune experiment gets its trials from :class:`MixtureSearcher`, a Tune
  ``Searcher`` that asks the aggregator for each one. It keeps one suggestion more in
  flight than the cluster has trial slots now (``sweep._suggestions_in_flight``), so every
  slot stays busy, and an autoscaling cluster sees demand to grow: a suggestion made
  while other runs still train believes their outcome instead of waiting for it
  (GP-BUCB, see :mod:`raymix.adaptive`);
- the search is saved in ``search.json`` in the sweep directory: its settings and every
  suggestion with its run id, written before the suggestion is handed out. Its
  observations are the stored results (``results/``). After a crash the same command
  rebuilds the search from both, first trains the suggestions that have no result, and
  goes on with the same search.

The search box is the proposal's (the ``search`` section's bounds and repetition cap)
inside the proxies' own repetition cap (``mixtures.max_epochs``): the proxies look
where the proposal may land.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ray.tune.search import Searcher

from raymix.config.schema import SweepConfig
from raymix.errors import ConfigError, UserError
from raymix.files import atomic_write_text
from raymix.mixtures.constraints import Constraints, build_constraints
from raymix.mixtures.sampling import CAP_TOLERANCE, repetition_caps

SEARCH_FILE = "search.json"
MIN_INITIAL_RUNS = 8  # default initial runs: max(this, count // 4), at most count

# the settings an adaptive sweep directory keeps, and the config fields that set them
SETTING_FIELDS = {
    "strategy": "search.strategy",
    "initial": "search.initial_runs",
    "exploration": "search.exploration",
    "lower": "search.min_weight (or fixed_weight)",
    "upper": "search.max_weight (or fixed_weight, target_tokens, max_epochs, mixtures.max_epochs)",
    "prior": "search.prior",
}


def is_adaptive(cfg: SweepConfig) -> bool:
    """Whether the sweep chooses its mixtures as it goes (any strategy but ``random``)."""
    return cfg.search.strategy != "random"


def initial_runs(cfg: SweepConfig) -> int:
    """Runs made before the Gaussian process takes over."""
    count = cfg.mixtures.count
    return cfg.search.initial_runs or min(count, max(MIN_INITIAL_RUNS, count // 4))


def search_box(cfg: SweepConfig, train_tokens: dict[str, int], prior: dict[str, float]) -> Constraints:
    """The bounds the adaptive search keeps to: the proposal's, within the proxies' cap.

    Raises
    ------
    ConfigError
        When the proxies' repetition cap leaves no mixture inside the search bounds.
    """
    domains = cfg.domain_names
    box = build_constraints(domains, cfg.search, available_tokens=train_tokens, prior=prior)
    caps = repetition_caps(np.array([train_tokens[d] for d in domains]),
                           cfg.training.tokens_per_run(cfg.model.seq_len), cfg.mixtures.max_epochs)
    upper = np.minimum(box.upper, caps)
    if np.any(box.lower > upper + CAP_TOLERANCE) or upper.sum() < 1 - CAP_TOLERANCE:
        raise ConfigError("mixtures.max_epochs",
                          f"the proxies' repetition cap ({cfg.mixtures.max_epochs:g} passes) "
                          "leaves no mixture inside the search section's bounds; raise "
                          "mixtures.max_epochs, give the small domains more text, or lower "
                          "their search.min_weight")
    return Constraints(domains, box.lower, upper, box.prior)


def search_settings(cfg: SweepConfig, train_tokens: dict[str, int],
                    prior: dict[str, float]) -> dict[str, Any]:
    """The arguments of the sweep's :class:`raymix.adaptive.SimplexSearch`, as JSON types."""
    box = search_box(cfg, train_tokens, prior)
    return {"domains": cfg.domain_names, "lower": box.lower.tolist(),
            "upper": box.upper.tolist(), "prior": box.prior.tolist(),
            "strategy": cfg.search.strategy, "initial": initial_runs(cfg),
            "seed": cfg.mixtures.seed, "exploration": cfg.search.exploration}


def check_search(cfg: SweepConfig, train_tokens: dict[str, int], prior: dict[str, float],
                 storage_field: str = "compute.storage") -> None:
    """Refuse a sweep directory whose stored search (or its absence) differs from ``cfg``.

    Writes nothing. A random sweep's plan cannot continue as an adaptive search, nor the
    reverse, and an adaptive search continues only with the settings it started with.
    """
    sweep_dir = cfg.storage_path
    saved = sweep_dir / SEARCH_FILE
    if not is_adaptive(cfg):
        if saved.is_file():
            raise UserError(f"search.strategy: {sweep_dir} holds an adaptive search "
                            f"({_load(saved)['search']['strategy']}); set that strategy to go "
                            f"on with it, or use a new {storage_field} folder")
        return
    if not saved.is_file():
        if (sweep_dir / "plan.csv").is_file():
            raise UserError(f"search.strategy: {sweep_dir} holds a sweep whose mixtures were "
                            f"drawn up front (strategy random); use a new {storage_field} "
                            f"folder for a {cfg.search.strategy} sweep")
        return
    stored = _load(saved)["search"]
    for key, value in search_settings(cfg, train_tokens, prior).items():
        if key in SETTING_FIELDS and not _same(stored[key], value):
            raise UserError(f"{SETTING_FIELDS[key]}: {sweep_dir} holds a search made with "
                            f"{key} = {_short(stored[key])}, not {_short(value)}; use a new "
                            f"{storage_field} folder to search with other settings")


def _same(a, b) -> bool:
    if isinstance(a, list):
        return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-12)
    return a == b


def _short(value) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in value) + "]" if isinstance(value, list) else repr(value)


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"compute.storage: cannot read {path} ({exc}); restore it from a "
                        "backup or use a new folder") from None


class SweepSearch:
    """The adaptive search of one sweep directory, kept in ``search.json``.

    Parameters
    ----------
    sweep_dir : path
    settings : dict
        :func:`search_settings` of the config (used when no search is stored yet).
    total : int
        Mixtures to suggest in all (``mixtures.count``).
    records : dict of str to dict
        The stored results by run id; those of suggested runs are observed.
    """

    def __init__(self, sweep_dir: str | Path, settings: dict[str, Any], total: int,
                 records: dict[str, dict]):
        from raymix.mixtures.adaptive import (
            SimplexSearch,  # sklearn and scipy: only where searched
        )

        self.path = Path(sweep_dir) / SEARCH_FILE
        self.total = total
        if self.path.is_file():
            saved = _load(self.path)
            self.search = SimplexSearch.from_dict(saved["search"])
            self.run_ids: list[str] = saved["run_ids"]
        else:
            self.search = SimplexSearch(settings["domains"], settings["lower"], settings["upper"],
                                        **{k: v for k, v in settings.items()
                                           if k not in ("domains", "lower", "upper")})
            self.run_ids = []
        self.resolved: set[str] = set()
        for run_id in self.run_ids:
            if run_id in records:
                self.observe(records[run_id])

    def observe(self, record: dict) -> None:
        """Feed a stored result to the search (results of other runs are ignored)."""
        run_id = record["run_id"]
        if run_id in self.resolved or run_id not in self.run_ids:
            return
        self.resolved.add(run_id)
        mixture = self.search.suggested[self.run_ids.index(run_id)]  # exactly as suggested
        if record["status"] == "ok" and record["evaluations"]:
            self.search.observe(mixture, [record["evaluations"][-1]["target_loss"]])
        else:
            self.search.discard(mixture)

    def suggest(self) -> dict[str, Any] | None:
        """The next run to train (saved before it is returned), or None when all are made.

        When the storage refuses ``search.json``, the suggestion is taken back and the
        answer is ``{"refused": reason}``: a run that is not saved is never handed out.
        """
        if len(self.run_ids) >= self.total:
            return None
        self.search.suggest(1)  # appended to search.suggested
        self.run_ids.append(f"run-{len(self.run_ids):04d}")
        try:
            self.save()
        except OSError as exc:
            self.search.suggested.pop()
            self.run_ids.pop()
            return {"refused": exc.strerror or str(exc)}
        return self._run(len(self.run_ids) - 1)

    def unfinished(self) -> list[dict[str, Any]]:
        """Suggested runs with no stored result (they were training when the sweep stopped)."""
        return [self._run(i) for i, run_id in enumerate(self.run_ids)
                if run_id not in self.resolved]

    def runs(self) -> list[dict[str, Any]]:
        """Every suggestion so far, in order: run id and mixture."""
        return [self._run(i) for i in range(len(self.run_ids))]

    def _run(self, i: int) -> dict[str, Any]:
        weights = self.search.suggested[i]
        return {"run_id": self.run_ids[i],
                "mixture": {d: float(w) for d, w in zip(self.search.domains, weights)}}

    def save(self) -> None:
        # the observations are the stored results and are replayed on load, so the file
        # holds the settings and the suggestions only
        state = {**self.search.to_dict(), "mixtures": [], "losses": [], "failed": []}
        atomic_write_text(self.path, json.dumps({"search": state, "run_ids": self.run_ids}))


class MixtureSearcher(Searcher):
    """Tune's source of trials in an adaptive sweep: each comes from the aggregator's search.

    Parameters
    ----------
    aggregator : ActorHandle
        The sweep's aggregator, which holds the :class:`SweepSearch`.
    queued : list of dict
        Runs suggested before a crash and never finished: handed out first.
    seed : int
        Training seed of every run.
    scale : str
        Model size of every run (the sweep's base size).
    in_flight : callable, optional
        How many trials may be suggested and not yet finished, asked before each
        suggestion, so the limit follows a cluster that grows or shrinks. Default: no limit.
    """

    def __init__(self, aggregator, queued: list[dict], seed: int, scale: str,
                 in_flight: Callable[[], int] | None = None):
        super().__init__(metric="target_loss", mode="min")
        self.aggregator, self.queued = aggregator, list(queued)
        self.seed, self.scale = seed, scale
        self.limit = in_flight
        self.live: set[str] = set()  # trial ids suggested and not finished
        self.most_live = 0  # the most at once, for the sweep's summary line
        self.refused: str | None = None  # why the storage refused the search's state

    def suggest(self, trial_id: str) -> dict | str | None:
        import ray

        if self.limit is not None and len(self.live) >= self.limit():
            return None  # Tune asks again later
        run = self.queued.pop(0) if self.queued else ray.get(self.aggregator.suggest.remote())
        if run is not None and "refused" in run:
            self.refused = run["refused"]
        if run is None or self.refused:
            return Searcher.FINISHED
        self.live.add(trial_id)
        self.most_live = max(self.most_live, len(self.live))
        return {"trial": {**run, "seed": self.seed, "scale": self.scale}}

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        """Free the trial's place; its record reached the aggregator, which observed it."""
        self.live.discard(trial_id)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to do: the search is saved in ``search.json`` at every suggestion.

        raymix resumes from its own JSON store, never from Tune's pickled experiment state.
        """
