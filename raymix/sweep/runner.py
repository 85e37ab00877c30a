"""The sweep: every planned mixture is trained by a Ray Tune trial, alone or in a group.

Flow of ``run_sweep(cfg)``:

1. prepare the tokens (cached) and fix the plan: ``plan.csv`` in the sweep directory
   holds every run (mixture, seed and model size) with its run id, written once, so a
   re-run trains the same mixtures; a multi-scale sweep (``scales:``) trains the first
   mixtures again at each extra size, for the nested scaling laws;
2. start (or join) a Ray cluster and get the sweep's aggregator actor, which rebuilds its
   table from ``results/`` on disk;
3. in an adaptive sweep (``mixtures.strategy`` bayesopt or design), first a Tune
   experiment whose trials the aggregator's strategy suggests one by one as slots free,
   or in reproducible batches (``mixtures.batch_size``, :mod:`raymix.sweep.strategy`); its
   suggestions then make the base of ``plan.csv``;
4. run a Tune experiment over the planned runs that have no stored result yet (so a
   re-run after the driver died resumes instead of starting over, and nothing runs twice);
   a trial trains ``compute.models_per_trial`` of them at once, as one stacked model;
5. export mixtures.csv / metrics.csv (base size) and runs.csv / runs.parquet (every
   evaluation of every size, long format) from the aggregator's table.

The pieces: :mod:`~raymix.sweep.plan` (which runs), :mod:`~raymix.sweep.experiment`
(the directory's settings), :mod:`~raymix.sweep.trial` (one run),
:mod:`~raymix.sweep.aggregator` (the records), :mod:`~raymix.sweep.strategy` (adaptive
sweeps), :mod:`~raymix.sweep.progress` (what is shown) and :mod:`~raymix.sweep.cluster`
(Ray and the resources of a trial).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import pandas as pd
import ray
from ray import tune

from raymix.config import BASE_SCALE, SweepConfig
from raymix.console import print_line
from raymix.data import PreparedData, prepare
from raymix.errors import ConfigError, UserError
from raymix.files import folder_problem
from raymix.formatting import duration_text
from raymix.runs import RUN_COLUMN, ResultStore, SweepLayout, export_tables
from raymix.storage import is_uri, location_of, write_problem
from raymix.sweep.aggregator import AggregatorLoad, actor_name, get_aggregator, store_summary
from raymix.sweep.cluster import (
    check_local_resources,
    models_per_trial,
    ray_cluster,
    trial_resources,
    trial_slots,
)
from raymix.sweep.experiment import check_experiment, start_experiment
from raymix.sweep.plan import (
    CONFIRM_ID,
    adaptive_plan,
    plan_mixtures,
    planned_runs,
    planned_trials,
    save_plan,
)
from raymix.sweep.planned import PlannedTrial
from raymix.sweep.progress import (
    StopWhenStorageFails,
    SweepProgress,
    quiet_tune,
    tune_result_files,
)
from raymix.sweep.reuse import check_reuse, store_reused
from raymix.sweep.strategy import StrategySearcher, strategy_settings, suggestions_in_flight
from raymix.sweep.trial import (
    TrialSettings,
    group_trials,
    proxy_data,
    proxy_trial,
    task_data,
)
from raymix.tracking import open_tracker
from raymix.training import ProxyData, check_memory

# models_per_trial auto in an adaptive sweep: groups small enough that each trial slot
# trains this many of them, so the strategy sees results between its suggestions
ADAPTIVE_ROUNDS = 4


@dataclasses.dataclass
class SweepResult:
    """What a sweep did, and where its tables are.

    Attributes
    ----------
    sweep_dir : Path
    planned, stored, failed : int
        Runs in the plan, stored in all (failed ones too), and failed.
    trained_now : int
        Runs this call trained (0 when everything was stored already).
    tables : dict of str to Path
        ``mixtures``, ``metrics``, ``runs`` (Parquet) and ``runs_csv``.
    tune_seconds : float
        Wall time of the Tune experiments (0 when nothing was left to train).
    slots : float
        Trials the cluster could run at once.
    speed : dict
        How the plan's runs trained (:func:`~raymix.sweep.aggregator.speed_summary`).
    aggregator : dict
        What storing this call's results cost the aggregator
        (:class:`~raymix.sweep.aggregator.AggregatorLoad` as a dict; empty when nothing
        was trained).
    """

    sweep_dir: Path
    planned: int
    stored: int
    failed: int
    trained_now: int
    tables: dict[str, Path]
    tune_seconds: float
    slots: float
    speed: dict = dataclasses.field(default_factory=dict)
    aggregator: dict = dataclasses.field(default_factory=dict)


def run_sweep(cfg: SweepConfig, *, log=print_line, callbacks=()) -> SweepResult:
    """Run (or resume) the sweep described by ``cfg``.

    Parameters
    ----------
    cfg : SweepConfig
        The sweep (:func:`raymix.load_config`).
    log : callable, default=print_line
        Receives the progress lines (the default prints them, with a progress bar below
        them on a terminal: :class:`~raymix.sweep.progress.SweepProgress`).
    callbacks : sequence of tune.Callback, optional
        More Tune callbacks for the sweep's experiments: they see every trial's results
        ("eval", "progress" and "final": :mod:`raymix.sweep.trial`) as they come.

    Returns
    -------
    SweepResult
        Counts, and where the tables are.

    Raises
    ------
    UserError
        Before anything is written: a proxy too large for a trial, a trial that this
        machine cannot run (a GPU on a machine without one, more CPUs than it has), a
        missing source, a storage folder of another sweep. During the sweep: storage that
        refuses results (what was stored is kept; the same call goes on once it is fixed).
    """
    check_memory(cfg)
    check_local_resources(cfg)  # a trial no node holds would wait forever
    problem = storage_problem(cfg.storage_location)
    if problem:
        raise ConfigError("compute.storage", problem)
    prepared = prepare(cfg, log=log)
    # refusals first (changed settings, a cap no mixture meets), writes after: a refused
    # sweep leaves its storage folder as it was
    check_experiment(cfg, prepared)
    reuse = check_reuse(cfg, prepared)  # mixtures.reuse: an earlier sweep's runs, mapped
    tasks = task_data(cfg, prepared)  # a task target's items fit a window
    # an adaptive sweep's plan is made as it goes; it is on disk once all are suggested
    adaptive = cfg.is_adaptive and not SweepLayout(cfg.storage_path).plan.is_file()
    plan = None if adaptive else plan_mixtures(cfg, prepared, reuse and reuse.prior)
    # an adaptive sweep's strategy: refuses an empty box before anything is written
    strategy = strategy_settings(cfg, prepared.train_tokens, prepared.prior) if adaptive \
        else None
    start_experiment(cfg, prepared)
    if reuse:
        store_reused(cfg, reuse, log=log)  # before any new run trains
    if plan is not None:
        save_plan(cfg, plan)
    fit = cfg.fit
    return train_plan(cfg, prepared, plan, log=log,
                      live_fit=(fit.regressors, fit.cv_folds, fit.seed), callbacks=callbacks,
                      strategy=strategy, tasks=tasks)


def train_plan(cfg: SweepConfig, prepared: PreparedData, plan: pd.DataFrame | None, *,
               log=print_line, live_fit: tuple | None = None, callbacks=(),
               strategy: dict | None = None, tasks: tuple | None = None) -> SweepResult:
    """Train every run of ``plan`` that has no stored result yet, as Tune trials.

    ``plan`` None is an adaptive sweep: its base runs are suggested first, one Tune trial
    per suggestion (:mod:`raymix.sweep.strategy`), and make the plan with their repeats
    and scales; ``strategy`` is its settings where already made
    (:func:`~raymix.sweep.strategy.strategy_settings`). ``live_fit`` = (regressors, folds,
    seed) prints a cross-validated fit of the runs so far a few times during the
    experiment. ``tasks`` is a task target's windows where already made
    (:func:`~raymix.sweep.trial.task_data`). When the storage refuses a result, the
    experiment stops and a :class:`UserError` naming ``compute.storage`` says why.
    """
    sweep_dir = cfg.storage_path
    if plan is not None:
        stored = ResultStore(sweep_dir).load_all()
        if set(plan[RUN_COLUMN]) <= set(stored):  # all trained: no cluster needed
            log(f"[sweep] {len(plan)} runs planned, all already stored, 0 to train "
                f"-> {location_of(sweep_dir)}")
            records = [stored[k] for k in sorted(stored)]
            paths = export_tables(sweep_dir, records, cfg.mixture_columns, cfg.target.name)
            mine = store_summary(stored[r] for r in plan[RUN_COLUMN])
            return SweepResult(sweep_dir, len(plan), mine.stored, mine.failed, 0, paths, 0.0,
                               0.0, mine.speed)
    if plan is None:
        strategy = {"settings": strategy or strategy_settings(cfg, prepared.train_tokens,
                                                              prepared.prior),
                    "total": cfg.mixtures.count}
    # the token arrays and a task target's windows, made once for every experiment
    data = proxy_data(cfg, prepared, tasks)
    tracker = open_tracker(cfg)  # tracking: (a tracker that cannot be reached: one warning)
    with ray_cluster(cfg, log=log):
        aggregator = get_aggregator(sweep_dir, cfg.mixture_columns, cfg.target.name, cfg.name,
                                    strategy=strategy)
        done = set(ray.get(aggregator.run_ids.remote()))
        # count this plan's runs only (a sweep's confirmation runs are a plan of their own)
        done = ({r for r in done if not CONFIRM_ID.match(r)} if plan is None
                else done & set(plan[RUN_COLUMN]))
        total = planned_runs(cfg) if plan is None else len(plan)
        to_train = max(0, total - len(done))
        log(f"[sweep] {total} runs planned, {len(done)} already stored, "
            f"{to_train} to train -> {location_of(sweep_dir)}")
        if tracker:  # where each tracker's store is, and the command that opens it
            tracker.announce(log)
        slots = trial_slots(cfg)
        start_fit = (lambda: aggregator.fit_now.remote(*live_fit)) if live_fit else None
        progress = SweepProgress(total, len(done), log, start_fit=start_fit,
                                 fit_every=max(2 * cfg.fit.cv_folds, total // 4))
        experiment = dict(aggregator_name=actor_name(cfg.name, sweep_dir), data=data,
                          progress=progress, tracker=tracker, callbacks=list(callbacks))
        tune_started = time.perf_counter()
        if plan is None:
            batch = cfg.mixtures.batch_size
            log(f"[sweep] {cfg.mixtures.strategy} strategy: {cfg.mixtures.count} mixtures "
                f"({strategy['settings']['initial']} initial), "
                + (f"then batches of {batch}, each once the runs before it are in "
                   "(reproducible)" if batch else "each suggested as a slot frees"))
            queued = ray.get(aggregator.suggestions.remote(unfinished_only=True))
            made = len(ray.get(aggregator.suggestions.remote()))
            left = len(queued) + cfg.mixtures.count - made
            if left:
                per_trial = models_per_trial(cfg, left, rounds=ADAPTIVE_ROUNDS)
                suggester = StrategySearcher(
                    aggregator, queued, cfg.training.seed, BASE_SCALE, per_trial=per_trial,
                    in_flight=lambda: suggestions_in_flight(cfg, per_trial))
                # a trial never spans two batches: up to one trial per run
                refused = _run_tune(cfg, suggester=suggester,
                                    count=left if batch else math.ceil(left / per_trial),
                                    **experiment)
                _stop_if_refused(refused or suggester.refused, aggregator, sweep_dir)
                if suggester.stalled:  # a batch that cannot finish: its runs failed
                    lost = ", ".join(suggester.errored) or "runs of the batch"
                    raise UserError(f"{lost} stored no result, and the next batch of mixtures "
                                    "waits for every run before it; run the same command "
                                    "again: it trains the runs with no result first, then "
                                    "goes on", field="mixtures.batch_size")
            plan = adaptive_plan(cfg, ray.get(aggregator.suggestions.remote()))
            save_plan(cfg, plan)
        todo = plan[~plan[RUN_COLUMN].isin(ray.get(aggregator.run_ids.remote()))]
        if len(todo):
            trials = group_trials(planned_trials(cfg, todo), models_per_trial(cfg, len(todo)))
            _stop_if_refused(_run_tune(cfg, trials=trials, **experiment), aggregator,
                             sweep_dir)
        tune_seconds = time.perf_counter() - tune_started if to_train else 0.0
        paths = {k: Path(v) for k, v in ray.get(aggregator.export.remote()).items()}
        # this plan's runs (a sweep's confirmation runs are a plan of their own)
        mine = ray.get(aggregator.summary.remote(list(plan[RUN_COLUMN])))
        load = ray.get(aggregator.load.remote())
        ray.kill(aggregator)
    if load.stored:
        log(describe_load(load))
    if tracker:
        tracker.announce(log)
    return SweepResult(sweep_dir, len(plan), mine.stored, mine.failed,
                       to_train, paths, tune_seconds, slots, mine.speed,
                       dataclasses.asdict(load) if load.stored else {})


def storage_problem(location: str) -> str | None:
    """Why a sweep cannot store its results at ``location`` (a folder, or an object-storage
    URI that must take a test write), with the fix; None when it can."""
    if is_uri(location):
        problem = write_problem(location)
        return f"{problem}; give a bucket and prefix you can write to" if problem else None
    problem = folder_problem(location)
    return f"{problem}; give a folder you can write to" if problem else None


def describe_load(load: AggregatorLoad) -> str:
    """One line on what storing the results cost the aggregator."""
    return (f"[sweep] aggregator: {load.stored:,} results stored, {load.add_ms_median:.1f} ms "
            f"each (median; p99 {load.add_ms_p99:.1f} ms, max {load.add_ms_max:.1f} ms), "
            f"{load.held:,} records held in {load.rss_mib:.0f} MiB ({load.start_rss_mib:.0f} "
            f"MiB at its start, {load.peak_rss_mib:.0f} MiB at most)")


def describe_speed(speed: dict) -> str | None:
    """One line on how a sweep's proxies trained (None for runs that did not measure it;
    ``speed`` is :attr:`SweepResult.speed`)."""
    if not speed:
        return None
    micro = "/".join(str(m) for m in speed["micro_batch_sizes"])
    compiled = (f"compiled {speed['compiled']} of {speed['runs']} (first step "
                f"{duration_text(speed['compile_seconds'])})" if speed["compiled"]
                else "not compiled")
    groups = [g for g in speed.get("group_sizes", []) if g > 1]
    together = (f" in groups of {'/'.join(str(g) for g in groups)} (one stacked model each)"
                if groups else "")
    return (f"[sweep] proxies trained at a median {speed['tokens_per_second']:,.0f} tokens/s "
            f"each{together}, waiting for batches {speed['data_wait_fraction']:.1%} of the time; "
            f"micro-batches of {micro} sequences; {compiled}")


def _stop_if_refused(refused: str | None, aggregator, sweep_dir: Path) -> None:
    """Raise the storage's refusal of a result (see :class:`StopWhenStorageFails`)."""
    if refused:
        stored = ray.get(aggregator.summary.remote()).stored
        raise UserError(
            f"{location_of(sweep_dir)} refused a result ({refused}); the sweep stopped. The "
            f"{stored} results stored before are kept: free space or fix the permissions, then "
            "run the same command again to go on", field="compute.storage")


def _run_tune(cfg: SweepConfig, *, aggregator_name: str, data: ProxyData,
              progress: SweepProgress, trials: list[PlannedTrial] | None = None,
              suggester: StrategySearcher | None = None, count: int = 0,
              tracker: tune.Callback | None = None, callbacks=()) -> str | None:
    """Run one Tune experiment; returns why the storage refused a result, if it did.

    Its trials are either the given ``trials`` (a grid: each one planned run or a group)
    or ``count`` trials of an adaptive strategy's ``suggester`` (each takes
    ``compute.models_per_trial`` suggestions); ``data`` is what every trial reads
    (:func:`~raymix.sweep.trial.proxy_data`). ``tracker`` logs each completed trial's
    runs to the experiment trackers (:mod:`raymix.tracking`).
    """
    settings = TrialSettings.of(cfg, aggregator_name)
    trainable = tune.with_parameters(proxy_trial, data=data, settings=settings)
    concurrent = cfg.compute.max_concurrent
    if suggester is None:
        space, search = {"runs": tune.grid_search([t.to_config()["runs"] for t in trials])}, {}
    else:
        space, search = {}, {"search_alg": suggester, "num_samples": count}
        # Tune keeps only one trial of a custom searcher pending unless told how many may
        # run: short trials would then run one at a time, each finishing before the next
        # one's actor starts. Tune is told the most there could be; the suggester keeps
        # to the cluster's slots as they are now (suggestions_in_flight).
        concurrent = concurrent or count
    kind = "plan" if suggester is None else "adaptive"
    stopper = StopWhenStorageFails()
    tuner = tune.Tuner(
        tune.with_resources(trainable, trial_resources(cfg)),
        param_space=space,
        tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=concurrent,
                                    trial_dirname_creator=_trial_dirname, **search),
        run_config=tune.RunConfig(
            # two experiments of one sweep (adaptive, then the plan) get folders of their own
            name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{kind}",
            # Tune writes its own folder, to the URI itself when the storage is one
            storage_path=location_of(SweepLayout(cfg.storage_path).tune),
            failure_config=tune.FailureConfig(max_failures=cfg.compute.max_retries),
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
            callbacks=[progress, *tune_result_files()] + ([tracker] if tracker else [])
            + list(callbacks),
            stop=stopper,
            verbose=0,
        ),
    )
    progress.new_experiment()
    try:
        with quiet_tune():  # SweepProgress shows the sweep; Tune's banner and hints would not
            tuner.fit()
    finally:
        progress.close()  # the terminal left clean, even on Ctrl-C
    # a cluster that trains fewer trials at once than it has slots is wasting them
    most = progress.most_running
    suggested = "" if suggester is None else f"up to {suggester.most_live} suggested at a time, "
    progress.log(f"[sweep] {kind}: {suggested}up to {most} "
                 f"trial{'s' if most != 1 else ''} ran at once on {trial_slots(cfg):g} slots")
    return stopper.reason


def _trial_dirname(trial) -> str:
    return PlannedTrial.from_config(trial.config).name
