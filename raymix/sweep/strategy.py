"""Adaptive sweeps: a strategy of :mod:`raymix.mixtures.strategies` inside a Tune experiment.

With ``mixtures.strategy: bayesopt`` or ``design`` a sweep does not draw its mixtures up
front (RegMix). It chooses them as results come in:

- the sweep's aggregator actor (:mod:`raymix.sweep.aggregator`) holds a
  :class:`SweepStrategy`. Every result it stores is also an observation of the
  strategy, so its Gaussian process is refitted on the stored runs (the live fit), and
  the actor answers ``suggest()`` with the next mixture and its run id;
- the driver's Tune experiment gets its trials from :class:`StrategySearcher`, a Tune
  ``Searcher`` that asks the aggregator for each one. It keeps one suggestion more in
  flight than the cluster has trial slots now (:func:`suggestions_in_flight`), so every
  slot stays busy, and an autoscaling cluster sees demand to grow: a suggestion made
  while other runs still train believes their outcome instead of waiting for it
  (GP-BUCB, see :mod:`raymix.mixtures.strategies.bayesopt`);
- the strategy is saved in ``strategy.json`` in the sweep directory: its settings and
  every suggestion with its run id, written before the suggestion is handed out. Its
  observations are the stored results (``results/``). After a crash the same command
  rebuilds the strategy from both, first trains the suggestions that have no result,
  and goes on with the same strategy.

Two ways to hand out suggestions (``mixtures.batch_size``):

- asynchronous (null, the default): each suggestion is made when a slot asks for it,
  from the results in at that moment. No slot waits, but which results are in depends
  on the cluster (how many slots, which run finished first), and so do the mixtures;
- synchronous batches (a number): the initial runs are one batch, then each batch of
  ``batch_size`` is made, all at once, only when every run suggested before it has its
  result (or failed). Each batch then sees exactly the batches before it, and the
  strategy's observations are sorted by mixture, not arrival: the same config suggests
  bit-identical mixtures on one slot or a hundred, in any arrival order. The cost is
  the slots left idle while a batch's last runs finish (``bench/bench_reproducible.py``).

The strategy's box is the proposal's (the ``search`` section's bounds and repetition
cap) inside the proxies' own repetition cap (``mixtures.proxy_max_epochs``): the proxies look
where the proposal may land.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from raymix.config import SweepConfig
from raymix.errors import ConfigError, UserError
from raymix.files import atomic_write_text
from raymix.mixtures import (
    Constraints,
    box_problem,
    build_constraints,
    make_strategy,
    repetition_caps,
    restore_strategy,
)
from raymix.runs import RunRecord, SweepLayout
from raymix.sweep.cluster import trial_slots
from raymix.sweep.planned import PlannedRun, PlannedTrial

MIN_INITIAL_RUNS = 8  # default initial runs: max(this, count // 4), at most count

# the settings an adaptive sweep directory keeps, and the config fields that set them
SETTING_FIELDS = {
    "strategy": "mixtures.strategy",
    "initial": "mixtures.initial_runs",
    "exploration": "mixtures.exploration",
    "lower": "search.min_weight (or fixed_weight)",
    "upper": "search.max_weight (or fixed_weight, target_tokens, max_epochs, "
             "mixtures.proxy_max_epochs)",
    "prior": "search.prior",
    "batch_size": "mixtures.batch_size",
    "group_lower": "search.min_weight (or fixed_weight) of a group",
    "group_upper": "search.max_weight (or fixed_weight) of a group",
}


@dataclass(frozen=True)
class Suggestion:
    """One mixture the strategy hands out, with its run id; or why none could be.

    ``refused`` is set (and nothing is handed out) when the storage refused to save the
    strategy's state: a run that is not saved is never handed out. ``wait`` is set (and
    nothing is handed out) by synchronous batches while the runs of the batch before
    are still training.
    """

    run_id: str = ""
    mixture: dict[str, float] | None = None
    refused: str | None = None
    wait: bool = False


def initial_runs(cfg: SweepConfig) -> int:
    """Runs made before the Gaussian process takes over."""
    count = cfg.mixtures.count
    return cfg.mixtures.initial_runs or min(count, max(MIN_INITIAL_RUNS, count // 4))


def strategy_box(cfg: SweepConfig, train_tokens: dict[str, int],
                 prior: dict[str, float]) -> Constraints:
    """The bounds the adaptive strategy keeps to: the proposal's, within the proxies' cap.

    Raises
    ------
    ConfigError
        When the proxies' repetition cap leaves no mixture inside the search bounds.
    """
    domains = cfg.domain_names
    box = build_constraints(domains, cfg.search, available_tokens=train_tokens, prior=prior,
                            groups=cfg.domain_groups)
    caps = repetition_caps(np.array([train_tokens[d] for d in domains]),
                           cfg.training.tokens_per_run(cfg.model.seq_len),
                           cfg.mixtures.proxy_max_epochs)
    upper = np.minimum(box.upper, caps)
    try:
        if box_problem(box.lower, upper) is not None:
            raise ValueError("infeasible")
        return Constraints(domains, box.lower, upper, box.prior, groups=box.groups,
                           group_lower=box.group_lower, group_upper=box.group_upper)
    except ValueError:  # no mixture meets the capped bounds (a group's too)
        raise ConfigError("mixtures.proxy_max_epochs",
                          f"the proxies' repetition cap ({cfg.mixtures.proxy_max_epochs:g} passes) "
                          "leaves no mixture inside the search section's bounds; raise "
                          "mixtures.proxy_max_epochs, give the small domains more text, or lower "
                          "their (or their group's) search.min_weight") from None


def strategy_settings(cfg: SweepConfig, train_tokens: dict[str, int],
                      prior: dict[str, float]) -> dict[str, Any]:
    """The sweep's strategy and its arguments (:func:`~raymix.mixtures.make_strategy`), as
    JSON types."""
    box = strategy_box(cfg, train_tokens, prior)
    return {"domains": cfg.domain_names, "lower": box.lower.tolist(),
            "upper": box.upper.tolist(), "prior": box.prior.tolist(),
            "strategy": cfg.mixtures.strategy, "initial": initial_runs(cfg),
            "seed": cfg.mixtures.seed, "exploration": cfg.mixtures.exploration,
            "batch_size": cfg.mixtures.batch_size} \
        | ({"groups": box.groups, "group_lower": box.group_lower.tolist(),
            "group_upper": box.group_upper.tolist()} if box.groups else {})


def check_strategy(cfg: SweepConfig, train_tokens: dict[str, int],
                   prior: dict[str, float]) -> None:
    """Refuse a sweep directory whose stored strategy (or its absence) differs from ``cfg``.

    Writes nothing. A random sweep's plan cannot continue as an adaptive strategy, nor
    the reverse, and an adaptive strategy continues only with the settings it started with.
    """
    sweep_dir = cfg.storage_path
    layout = SweepLayout(sweep_dir)
    saved = _saved_state(layout)
    if not cfg.is_adaptive:
        if saved is not None:
            strategy = saved["sampler"]["strategy"]
            raise UserError(f"{sweep_dir} holds an adaptive sweep ({strategy}); "
                            "set that strategy to go on with it, or use a new compute.storage "
                            "folder", field="mixtures.strategy")
        return
    if saved is None:
        if layout.plan.is_file():
            raise UserError(f"{sweep_dir} holds a sweep whose mixtures were drawn up front "
                            "(strategy random); use a new compute.storage folder for a "
                            f"{cfg.mixtures.strategy} sweep", field="mixtures.strategy")
        return
    # a strategy saved before synchronous batches existed handed out asynchronously
    stored = {**saved["sampler"], "batch_size": saved.get("batch_size")}
    for key, value in strategy_settings(cfg, train_tokens, prior).items():
        if key in SETTING_FIELDS and not _same(stored.get(key), value):
            raise UserError(f"{sweep_dir} holds a sweep made with {key} = "
                            f"{_short(stored.get(key))}, "
                            f"not {_short(value)}; use a new compute.storage folder to choose "
                            "mixtures with other settings", field=SETTING_FIELDS[key])


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-12)
    return a == b


def _short(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return repr(value)


def _saved_state(layout: SweepLayout) -> dict[str, Any] | None:
    """The saved strategy (``strategy.json``, or raymix 0.1's ``search.json``), or None."""
    path = next((p for p in (layout.strategy, layout.legacy_strategy) if p.is_file()), None)
    if path is None:
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} ({exc}); restore it from a backup or use a new "
                        "folder", field="compute.storage") from None
    if not isinstance(state, dict):
        raise UserError(f"cannot read {path} (not a JSON object); restore it from a backup "
                        "or use a new folder", field="compute.storage")
    if "search" in state:  # raymix 0.1 called the sampler's state "search"
        state["sampler"] = state.pop("search")
    return state


class SweepStrategy:
    """The adaptive strategy of one sweep directory, kept in ``strategy.json``.

    Parameters
    ----------
    sweep_dir : path
    settings : dict
        :func:`strategy_settings` of the config (used when no strategy is stored yet).
    total : int
        Mixtures to suggest in all (``mixtures.count``).
    records : dict of str to RunRecord
        The stored results by run id; those of suggested runs are observed.

    Attributes
    ----------
    strategy : MixtureStrategy
        The sweep's ``mixtures.strategy`` (:mod:`raymix.mixtures.strategies`); its state
        is ``strategy.json``'s ``sampler``, less the observations (the stored results).
    batch_size : int or None
        None: each suggestion made when asked (asynchronous). A number: synchronous
        batches (the module docstring); the setting a stored strategy was made with wins.
    handed : int
        Suggestions handed out so far (a synchronous batch is saved whole, then handed
        out one by one). On a restart, every saved suggestion counts as handed out: the
        driver trains those with no result first (:meth:`unfinished`).
    """

    def __init__(self, sweep_dir: str | Path, settings: dict[str, Any], total: int,
                 records: dict[str, RunRecord]):
        self.layout = SweepLayout(Path(sweep_dir))
        self.total = total
        saved = _saved_state(self.layout)
        if saved is not None:
            self.strategy = restore_strategy(saved["sampler"])
            self.run_ids: list[str] = saved["run_ids"]
            self.batch_size = saved.get("batch_size")  # none saved: asynchronous
        else:
            self.strategy = make_strategy(**{k: v for k, v in settings.items()
                                             if k != "batch_size"})
            self.run_ids = []
            self.batch_size = settings.get("batch_size")
        self.handed = len(self.run_ids)
        self.resolved: set[str] = set()
        for run_id in self.run_ids:
            if run_id in records:
                self.observe(records[run_id])

    def observe(self, record: RunRecord) -> None:
        """Feed a stored result to the strategy (results of other runs are ignored)."""
        if record.run_id in self.resolved or record.run_id not in self.run_ids:
            return
        self.resolved.add(record.run_id)
        mixture = self.strategy.suggested[self.run_ids.index(record.run_id)]  # as suggested
        if record.ok and record.evaluations:
            self.strategy.observe(mixture, [record.final_target_loss])
        else:
            self.strategy.discard(mixture)

    def suggest(self) -> Suggestion | None:
        """The next run to train (saved before it is returned), or None when all are made.

        With synchronous batches, the answer is ``wait`` while the batch is handed out
        and its runs have not all finished. When the storage refuses ``strategy.json``,
        the suggestion is taken back and the answer says why (``refused``): a run that is
        not saved is never handed out.
        """
        if self.handed == len(self.run_ids):  # none made and not handed out: make more
            if len(self.run_ids) >= self.total:
                return None
            if self.batch_size is not None and len(self.resolved) < len(self.run_ids):
                return Suggestion(wait=True)
            refused = self._make(self._next_batch())
            if refused:
                return Suggestion(refused=refused)
        self.handed += 1
        return self._suggestion(self.handed - 1)

    def _next_batch(self) -> int:
        """How many suggestions to make now: 1, or a whole synchronous batch (the initial
        runs first, then ``batch_size`` at a time, never past ``total``)."""
        made = len(self.run_ids)
        if self.batch_size is None:
            return 1
        initial = self.strategy.initial
        return min(initial - made if made < initial else self.batch_size, self.total - made)

    def _make(self, n: int) -> str | None:
        """Make and save ``n`` suggestions; why the storage refused them, if it did (then
        they are taken back)."""
        self.strategy.suggest(n)  # appended to strategy.suggested
        first = len(self.run_ids)
        self.run_ids.extend(f"run-{i:04d}" for i in range(first, first + n))
        try:
            self.save()
        except OSError as exc:
            del self.strategy.suggested[first:]
            del self.run_ids[first:]
            return exc.strerror or str(exc)
        return None

    def unfinished(self) -> list[Suggestion]:
        """Suggested runs with no stored result (they were training when the sweep stopped)."""
        return [self._suggestion(i) for i, run_id in enumerate(self.run_ids)
                if run_id not in self.resolved]

    def suggestions(self) -> list[Suggestion]:
        """Every suggestion so far, in order: run id and mixture."""
        return [self._suggestion(i) for i in range(len(self.run_ids))]

    def _suggestion(self, i: int) -> Suggestion:
        weights = self.strategy.suggested[i]
        return Suggestion(run_id=self.run_ids[i],
                          mixture={d: float(w) for d, w in zip(self.strategy.domains, weights)})

    def save(self) -> None:
        # the observations are the stored results and are replayed on load, so the file
        # holds the settings and the suggestions only
        state = {**self.strategy.to_dict(), "mixtures": [], "losses": [], "failed": []}
        atomic_write_text(self.layout.strategy,
                          json.dumps({"sampler": state, "run_ids": self.run_ids,
                                      "batch_size": self.batch_size}))


def suggestions_in_flight(cfg: SweepConfig, per_trial: int = 1) -> int:
    """How many runs an adaptive sweep keeps suggested and unfinished at a time.

    ``compute.max_concurrent`` trials of ``per_trial`` runs when set. Otherwise the trial
    slots the cluster has now, plus one, each of ``per_trial`` runs: the one more waits
    for the next free slot, whose trial then starts without waiting for the GP, and on an
    autoscaling cluster its demand is what makes the autoscaler add a node (the limit
    grows with each node). But never fewer than the initial runs: they do not depend on
    results, so all of them go out at once, and a cluster that starts with no worker
    nodes sees their whole demand.
    """
    if cfg.compute.max_concurrent:
        return cfg.compute.max_concurrent * per_trial
    return max((int(trial_slots(cfg)) + 1) * per_trial, initial_runs(cfg))


class StrategySearcher(Searcher):
    """Tune's source of trials in an adaptive sweep: each comes from the aggregator's strategy.

    Parameters
    ----------
    aggregator : ActorHandle
        The sweep's aggregator, which holds the :class:`SweepStrategy`.
    queued : list of Suggestion
        Runs suggested before a crash and never finished: handed out first.
    seed : int
        Training seed of every run.
    scale : str
        Model size of every run (the sweep's base size).
    per_trial : int, default=1
        Suggestions one trial trains (as one stacked model: ``compute.models_per_trial``).
    in_flight : callable, optional
        How many runs may be suggested and not yet finished, asked before each trial,
        so the limit follows a cluster that grows or shrinks. Default: no limit.

    Attributes
    ----------
    stalled : bool
        With synchronous batches: nothing trains, yet the batch is not done (its trials
        that failed in every retry, ``errored``, stored no record). The experiment then
        ends; the same command trains the runs with no record first, and goes on.
    errored : list of str
        The runs of trials that ended in an error.
    """

    def __init__(self, aggregator, queued: list[Suggestion], seed: int, scale: str,
                 per_trial: int = 1, in_flight: Callable[[], int] | None = None):
        super().__init__(metric="target_loss", mode="min")
        self.aggregator, self.queued = aggregator, list(queued)
        self.seed, self.scale, self.per_trial = seed, scale, per_trial
        self.limit = in_flight
        self.live: dict[str, list[str]] = {}  # runs of each trial suggested and not finished
        self.most_live = 0  # the most runs at once, for the sweep's summary line
        self.refused: str | None = None  # why the storage refused the strategy's state
        self.waiting = False  # the strategy waits for a batch: ask again when a trial ends
        self.errored: list[str] = []
        self.stalled = False

    def suggest(self, trial_id: str) -> dict | str | None:
        import ray

        if self.waiting and self.live:
            return None  # Tune asks again later; the batch's runs are still training
        if self.limit is not None and sum(map(len, self.live.values())) >= self.limit():
            return None
        runs = []
        self.waiting = False
        while len(runs) < self.per_trial:
            suggestion = (self.queued.pop(0) if self.queued
                          else ray.get(self.aggregator.suggest.remote()))
            if suggestion is not None and suggestion.refused:
                self.refused = suggestion.refused
            if suggestion is None or self.refused:
                break
            if suggestion.wait:  # a trial never spans two batches
                self.waiting = True
                break
            runs.append(PlannedRun(run_id=suggestion.run_id, seed=self.seed, scale=self.scale,
                                   mixture=suggestion.mixture))
        if self.waiting and not runs:
            if self.live:
                return None
            self.stalled = True  # nothing trains, yet the batch is not done
            return Searcher.FINISHED
        if not runs or self.refused:  # a run that is not saved is never handed out
            return Searcher.FINISHED
        self.live[trial_id] = [run.run_id for run in runs]
        self.most_live = max(self.most_live, sum(map(len, self.live.values())))
        return PlannedTrial(tuple(runs)).to_config()

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        """Free the trial's place; its records reached the aggregator, which observed them
        (unless it ended in an error)."""
        runs = self.live.pop(trial_id, [])
        if error:
            self.errored.extend(runs)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to do: the strategy is saved in ``strategy.json`` at every suggestion.

        raymix resumes from its own JSON store, never from Tune's pickled experiment state.
        """
