"""The sweep: every planned mixture is one Ray Tune trial that trains one proxy.

Flow of ``run_sweep(cfg)``:

1. prepare the tokens (cached) and fix the plan: ``plan.csv`` in the sweep directory
   holds every run (mixture, seed and model size) with its run id, written once, so a
   re-run trains the same mixtures; a multi-scale sweep (``scales:``) trains the first
   mixtures again at each extra size, for the nested scaling laws;
2. start (or join) a Ray cluster and get the sweep's aggregator actor, which rebuilds its
   table from ``results/`` on disk;
3. in an adaptive sweep (``search.strategy`` bayesopt or design), first a Tune
   experiment whose trials the aggregator's search suggests one by one as slots free
   (:mod:`raymix.searcher`); its suggestions then make the base of ``plan.csv``;
4. run a Tune experiment over the planned runs that have no stored result yet (so a
   re-run after the driver died resumes instead of starting over, and nothing runs twice);
5. export mixtures.csv / metrics.csv (base size) and runs.csv / runs.parquet (every
   evaluation of every size, long format) from the aggregator's table.

Token arrays travel once through the object store (``tune.with_parameters``), and
every trial on a node reads the same zero-copy view.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import ray
import yaml
from ray import tune

import raymix
from raymix.config.schema import BASE_SCALE, SweepConfig
from raymix.data.tokenize import PreparedData, prepare
from raymix.errors import UserError
from raymix.files import atomic_write_text
from raymix.mixtures.sampling import sample_mixtures
from raymix.runs.store import (
    RUN_COLUMN,
    SCALE_COLUMN,
    SEED_COLUMN,
    ResultStore,
    atomic_write_frame,
    export_tables,
    format_number,
)
from raymix.sweep.aggregator import NAMESPACE, UNWRITABLE, actor_name, get_aggregator
from raymix.sweep.strategy import (
    MixtureSearcher,
    check_search,
    initial_runs,
    is_adaptive,
    search_settings,
)
from raymix.training.loop import (
    ProxyData,
    ProxyDiverged,
    non_embedding_params,
    train_proxy,
)
from raymix.training.memory import GIB

# ----------------------------------------------------------------------------- the trial


def proxy_trial(config: dict, data: ProxyData, sweep: dict) -> None:
    """Tune function trainable: train one proxy, store its record, report to Tune.

    The record reaches the aggregator (and so the disk) before the trial's last
    ``tune.report``, so a trial Tune counts as finished never loses its result.
    """
    from raymix.config.schema import ModelConfig, TrainingConfig

    trial = config["trial"]
    run_id, mixture, scale = trial["run_id"], trial["mixture"], trial["scale"]
    model_cfg = ModelConfig(**sweep["models"][scale])
    train_cfg = TrainingConfig(**{**sweep["training"], "seed": trial["seed"]})
    aggregator = ray.get_actor(sweep["aggregator"], namespace=NAMESPACE)
    device = _trial_device(sweep["cpus_per_trial"], sweep["gpus_per_trial"])
    save_to = str(Path(sweep["checkpoints"]) / run_id) if sweep["checkpoints"] else None
    started = time.time()
    # where it ran, for an operator reading the records of a multi-node sweep
    placement = {"node_id": ray.get_runtime_context().get_node_id(),
                 "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}
    record = {"run_id": run_id, "raymix_version": raymix.__version__,
              "target_name": data.target_name, "scale": scale, **placement}
    try:
        result = train_proxy(mixture, data, model_cfg, train_cfg, device=device,
                             on_eval=lambda row: tune.report(_flat(row)), save_to=save_to,
                             target_logprobs=sweep["target_logprobs"])
        record.update(status="ok", **result)
    except ProxyDiverged as exc:
        # A diverged proxy is a result, not a crash: record it and do not retry.
        record.update(status="failed", reason=str(exc), mixture=mixture, seed=train_cfg.seed,
                      evaluations=[])
    record.update(wall_seconds=time.time() - started, finished_at=time.time())
    outcome = ray.get(aggregator.add.remote(record))
    final = record["evaluations"][-1] if record["evaluations"] else {}
    tune.report({"run_id": run_id, "status": record["status"], "stored": outcome,
                 "final": True, "target_loss": final.get("target_loss", math.nan)})


def _trial_device(cpus: float, gpus: float):
    import torch

    torch.set_num_threads(max(1, int(cpus)))
    if gpus > 0 and torch.cuda.is_available():
        # Ray gives this trial a (share of a) GPU but does not fence its memory.
        torch.cuda.set_per_process_memory_fraction(min(1.0, gpus), 0)
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _flat(row: dict) -> dict:
    out = {"step": row["step"], "tokens": row["tokens"], "train_loss": row["train_loss"],
           "target_loss": row["target_loss"]}
    out.update({f"loss/{k}": v for k, v in row["losses"].items()})
    return out


# ----------------------------------------------------------------------------- progress


class SweepProgress(tune.Callback):
    """Prints one line per finished trial: done / total, ETA and the best target loss.

    Every ``fit_every`` finished trials it also asks the aggregator for a cross-validated
    fit of the runs so far (``start_fit()`` returns an object ref) and prints it once it
    is ready, without blocking Tune's loop, so a user sees early whether the sweep is
    learning anything.
    """

    def __init__(self, total: int, already_done: int, log=print, start_fit=None,
                 fit_every: int = 0):
        self.total, self.done, self.log = total, already_done, log
        self.start_fit, self.fit_every = start_fit, fit_every
        self.started_done = already_done
        self.best = (math.inf, None)
        self.pending_fit = None
        self.t0 = time.monotonic()
        self.running: set[str] = set()  # trials whose actor is up (Tune's RUNNING)
        self.most_running = 0  # the most at once in this experiment: are the slots busy?

    def new_experiment(self) -> None:
        """Count trials at once afresh: the search and the plan are two Tune experiments."""
        self.running.clear()
        self.most_running = 0

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self.most_running = max(self.most_running, len(self.running))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._log_fit_if_ready()
        if not result.get("final"):
            return
        self.done += 1
        loss = result.get("target_loss", math.nan)
        if result.get("status") == "ok" and loss < self.best[0]:
            self.best = (loss, result["run_id"])
        new = self.done - self.started_done
        eta = (time.monotonic() - self.t0) / new * (self.total - self.done)
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best[1] else "n/a"
        status = "" if result.get("status") == "ok" else f" [{result.get('status')}]"
        self.log(f"[sweep] {self.done}/{self.total} done{status}, ETA {_duration(eta)}, "
                 f"best target loss {best}")
        if (self.start_fit and self.fit_every and self.pending_fit is None
                and self.done % self.fit_every == 0 and self.done < self.total):
            self.pending_fit = self.start_fit()

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        # a worker or node died under the trial: Tune starts it again (compute.max_retries)
        self.log(f"[sweep] {trial.config['trial']['run_id']}: its worker died; retrying "
                 f"({trial.num_failures} failure(s) so far)")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.log(f"[sweep] {trial.config['trial']['run_id']}: failed for good after "
                 f"{trial.num_failures} tries; a re-run of the sweep tries it again")

    def _log_fit_if_ready(self) -> None:
        if self.pending_fit is None or not ray.wait([self.pending_fit], timeout=0)[0]:
            return
        ref, self.pending_fit = self.pending_fit, None
        try:
            scores = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # e.g. too few successful runs yet
            self.log(f"[fit] live fit skipped: {exc.cause if exc.cause else exc}")
            return
        self.log("[fit] live CV on the runs so far: " + ", ".join(
            f"{name} Spearman {format_number(m['cv_spearman'], 3)} "
            f"MAE {format_number(m['cv_mae'])}"
            for name, m in scores.items()))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


class StopWhenStorageFails(tune.Stopper):
    """Stops the whole experiment once a trial's result could not be stored.

    Training on would only make results that cannot be kept; what was stored before
    stays, and the same command resumes once the storage is fixed.
    """

    def __init__(self):
        self.reason: str | None = None

    def __call__(self, trial_id, result) -> bool:
        stored = result.get("stored")
        if isinstance(stored, str) and stored.startswith(UNWRITABLE):
            self.reason = stored.removeprefix(UNWRITABLE)
        return False

    def stop_all(self) -> bool:
        return self.reason is not None


# ----------------------------------------------------------------------------- the plan


def plan_mixtures(cfg: SweepConfig, prepared: PreparedData) -> pd.DataFrame:
    """The sweep's mixtures with run ids: ``plan.csv`` if stored, else sampled now.

    A stored plan is reused as is: :func:`check_experiment` has already refused a sweep
    directory whose mixture settings or data differ from ``cfg``. Writes nothing.
    """
    path = cfg.storage_path / "plan.csv"
    if path.exists():
        plan = pd.read_csv(path)
    else:
        tokens_per_run = cfg.training.tokens_per_run(cfg.model.seq_len)
        plan = _base_plan(cfg, sample_mixtures(cfg.mixtures, prepared.prior,
                                               prepared.train_tokens, tokens_per_run))
    if SCALE_COLUMN not in plan:  # written before multi-scale sweeps: all of the base size
        plan.insert(2, SCALE_COLUMN, BASE_SCALE)
    return _with_scales(plan, cfg)


def searched_plan(cfg: SweepConfig, runs: list[dict]) -> pd.DataFrame:
    """The plan of an adaptive sweep: its searched mixtures, then repeats and scales."""
    mixtures = pd.DataFrame([run["mixture"] for run in runs], columns=cfg.domain_names)
    return _with_scales(_base_plan(cfg, mixtures), cfg)


def planned_runs(cfg: SweepConfig) -> int:
    """How many runs the sweep's plan holds, known before an adaptive search has made it."""
    count = cfg.mixtures.count
    repeats = cfg.mixtures.repeats * cfg.mixtures.repeat_seeds
    return count + repeats + sum(scale.mixtures or count for scale in cfg.scales)


def save_plan(cfg: SweepConfig, plan: pd.DataFrame) -> None:
    """Fix the plan in ``plan.csv`` on the first start, and again when scales extend it."""
    path = cfg.storage_path / "plan.csv"
    stored = pd.read_csv(path) if path.exists() else None
    if stored is None or len(plan) != len(stored) or SCALE_COLUMN not in stored:
        atomic_write_frame(plan, path)


def _with_scales(plan: pd.DataFrame, cfg: SweepConfig) -> pd.DataFrame:
    """Add the runs of each configured scale that the plan lacks.

    Scale ``m`` trains the first ``mixtures`` of the sweep's sampled mixtures (not the
    repeats) as runs ``m-run-0000``, ... A scale added to a sweep later extends its plan.
    """
    unknown = set(plan[SCALE_COLUMN]) - set(cfg.scale_models())
    if unknown:
        raise UserError(f"scales: {cfg.storage_path} holds runs of scale {sorted(unknown)[0]!r}, "
                        "which the config no longer lists; add it back or use a new "
                        "compute.storage folder")
    sampled = plan[plan[SCALE_COLUMN] == BASE_SCALE].head(cfg.mixtures.count)
    added = []
    for scale in cfg.scales:
        if (plan[SCALE_COLUMN] == scale.name).any():
            continue
        rows = sampled.head(scale.mixtures or cfg.mixtures.count).copy()
        rows[RUN_COLUMN] = scale.name + "-" + rows[RUN_COLUMN]
        rows[SCALE_COLUMN] = scale.name
        added.append(rows)
    return pd.concat([plan, *added], ignore_index=True)


def _base_plan(cfg: SweepConfig, mixtures: pd.DataFrame) -> pd.DataFrame:
    """The mixtures (one column per domain) at the base size, then the repeats with other seeds."""
    plan = mixtures.reset_index(drop=True)
    plan.insert(0, RUN_COLUMN, [f"run-{i:04d}" for i in range(len(plan))])
    plan.insert(1, SEED_COLUMN, cfg.training.seed)
    plan.insert(2, SCALE_COLUMN, BASE_SCALE)
    # the first `repeats` mixtures again, once per extra seed: run-0003-s1, run-0003-s2, ...
    first = plan.head(cfg.mixtures.repeats)
    repeats = []
    for j in range(1, cfg.mixtures.repeat_seeds + 1):
        again = first.copy()
        again[RUN_COLUMN] = first[RUN_COLUMN] + f"-s{j}"
        again[SEED_COLUMN] = cfg.training.seed + j
        repeats.append(again)
    return pd.concat([plan, *repeats], ignore_index=True)


# settings that change what the sweep's runs measure, or which mixtures it plans
RESULT_SECTIONS = ("model", "training", "target", "mixtures")
NEUTRAL_KEYS = {("training", "save_checkpoint")}  # change nothing that a run measures


def check_experiment(cfg: SweepConfig, prepared: PreparedData,
                     storage_field: str = "compute.storage") -> None:
    """Refuse to add runs to a sweep directory whose stored runs used other settings.

    ``storage_field`` is the config field that names the directory, for the messages.
    """
    sweep_dir = cfg.storage_path
    check_search(cfg, prepared.train_tokens, prepared.prior, storage_field)
    if not (sweep_dir / "config.yaml").is_file():
        return
    stored = yaml.safe_load((sweep_dir / "config.yaml").read_text())
    current = cfg.to_dict()
    defaults = SweepConfig(name="defaults", data=cfg.data, target=cfg.target).to_dict()
    for section in RESULT_SECTIONS:
        for key, value in current[section].items():
            if (section, key) in NEUTRAL_KEYS:
                continue
            # a key that an older raymix did not write had that version's default value
            if stored.get(section, {}).get(key, defaults[section][key]) != value:
                raise UserError(
                    f"{section}.{key}: {sweep_dir} holds runs made with {section}.{key} = "
                    f"{stored.get(section, {}).get(key)!r}, not {value!r}; use a new "
                    f"{storage_field} folder (or delete the old one) to start another sweep")
    stored_scales = {entry["name"]: entry for entry in stored.get("scales", [])}
    for i, entry in enumerate(current["scales"]):
        before = stored_scales.get(entry["name"])
        if before is not None and before != entry:
            raise UserError(
                f"scales[{i}]: {sweep_dir} holds runs of scale {entry['name']!r} made with "
                f"{before}, not {entry}; give the changed size a new name, or use a new "
                f"{storage_field} folder")
    info = sweep_dir / "data.json"
    if info.is_file() and json.loads(info.read_text())["prepared"] != prepared.path.name:
        raise UserError(f"data: {sweep_dir} holds runs on other prepared data (the domains, "
                        f"their texts or the tokenizer changed); use a new {storage_field} folder")


def proxy_data(cfg: SweepConfig, prepared: PreparedData) -> ProxyData:
    """Load the token arrays once, for the object store."""
    valid = {d: np.asarray(prepared.valid(d)) for d in cfg.domain_names}
    if cfg.target.domains is not None:
        weights = dict(cfg.target.domains)
    else:
        valid[cfg.target.name] = np.asarray(prepared.target_valid())
        weights = {cfg.target.name: 1.0}
    return ProxyData(train={d: np.asarray(prepared.train(d)) for d in cfg.domain_names},
                     valid=valid, target_name=cfg.target.name, target_weights=weights,
                     vocab_size=prepared.vocab_size)


# ----------------------------------------------------------------------------- the cluster


@contextlib.contextmanager
def ray_cluster(cfg: SweepConfig):
    """Join the configured cluster (or $RAY_ADDRESS), else start a local one; stop what we start."""
    if ray.is_initialized():
        yield
        return
    address = cfg.compute.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    else:
        # A private local cluster: dashboard off, nothing listens beyond localhost.
        ray.init(address="local", num_cpus=cfg.compute.num_cpus, include_dashboard=False,
                 namespace=NAMESPACE, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


# ----------------------------------------------------------------------------- the sweep


@dataclasses.dataclass
class SweepResult:
    sweep_dir: Path
    planned: int
    stored: int
    failed: int
    trained_now: int
    tables: dict[str, Path]
    tune_seconds: float  # wall time of the Tune experiment (0 when nothing was left to train)
    slots: float  # trials the cluster could run at once


def run_sweep(cfg: SweepConfig, *, log=print) -> SweepResult:
    """Run (or resume) the sweep described by ``cfg``; returns where its tables are."""
    prepared = prepare(cfg, log=log)
    # refusals first (changed settings, a cap no mixture meets), writes after: a refused
    # sweep leaves its storage folder as it was
    check_experiment(cfg, prepared)
    # an adaptive sweep's plan is made by searching; it is on disk once the search is done
    searching = is_adaptive(cfg) and not (cfg.storage_path / "plan.csv").is_file()
    plan = None if searching else plan_mixtures(cfg, prepared)
    if plan is None:
        search_settings(cfg, prepared.train_tokens, prepared.prior)  # refuses an empty box
    start_experiment(cfg, prepared)
    if plan is not None:
        save_plan(cfg, plan)
    fit = cfg.fit
    return train_plan(cfg, prepared, plan, log=log, live_fit=(fit.regressors, fit.cv_folds, fit.seed))


def start_experiment(cfg: SweepConfig, prepared: PreparedData,
                     storage_field: str = "compute.storage") -> None:
    """Check that the storage folder takes writes, and record what its runs measure.

    Call :func:`check_experiment` first: this writes ``data.json`` and ``config.yaml``.
    ``storage_field`` names the folder's config field in errors (``validate.storage``
    for the validation runs).
    """
    sweep_dir = cfg.storage_path
    _writable(sweep_dir, storage_field)
    # data.json and config.yaml first: a plan.csv on disk always has both beside it
    data_info = {"prior": prepared.prior, "train_tokens": prepared.train_tokens,
                 "tokens_per_run": cfg.training.tokens_per_run(cfg.model.seq_len),
                 "non_embedding_params": {name: non_embedding_params(m, prepared.vocab_size)
                                          for name, m in cfg.scale_models().items()},
                 "prepared": prepared.path.name}
    atomic_write_text(sweep_dir / "data.json", json.dumps(data_info, indent=1))
    atomic_write_text(sweep_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def train_plan(cfg: SweepConfig, prepared: PreparedData, plan: pd.DataFrame | None, *,
               log=print, live_fit: tuple | None = None,
               storage_field: str = "compute.storage") -> SweepResult:
    """Train every run of ``plan`` that has no stored result yet, as Tune trials.

    ``plan`` None is an adaptive sweep: its base runs are searched first, one Tune trial
    per suggestion (:mod:`raymix.searcher`), and make the plan with their repeats and
    scales. ``live_fit`` = (regressors, folds, seed) prints a cross-validated fit of the
    runs so far a few times during the experiment. When the storage refuses a result,
    the experiment stops and a :class:`UserError` (naming ``storage_field``) says why.
    """
    sweep_dir = cfg.storage_path
    if plan is not None:
        stored = ResultStore(sweep_dir).load_all()
        if set(plan[RUN_COLUMN]) <= set(stored):  # all trained: no cluster needed
            log(f"[sweep] {len(plan)} runs planned, {len(stored)} already stored, "
                f"0 to train -> {sweep_dir}")
            records = [stored[k] for k in sorted(stored)]
            paths = export_tables(sweep_dir, records, cfg.domain_names, cfg.target.name)
            failed = sum(r["status"] != "ok" for r in records)
            return SweepResult(sweep_dir, len(plan), len(records), failed, 0, paths, 0.0, 0.0)
    search = None
    if plan is None:
        search = {"settings": search_settings(cfg, prepared.train_tokens, prepared.prior),
                  "total": cfg.mixtures.count}
    with ray_cluster(cfg):
        aggregator = get_aggregator(sweep_dir, cfg.domain_names, cfg.target.name, cfg.name,
                                    search=search)
        done = set(ray.get(aggregator.run_ids.remote()))
        total = planned_runs(cfg) if plan is None else len(plan)
        to_train = max(0, total - len(done))
        log(f"[sweep] {total} runs planned, {len(done)} already stored, "
            f"{to_train} to train -> {sweep_dir}")
        slots = _trial_slots(cfg)
        start_fit = (lambda: aggregator.fit_now.remote(*live_fit)) if live_fit else None
        progress = SweepProgress(total, len(done), log, start_fit=start_fit,
                                 fit_every=max(2 * cfg.fit.cv_folds, total // 4))
        experiment = dict(aggregator_name=actor_name(cfg.name, sweep_dir), progress=progress)
        tune_started = time.perf_counter()
        if plan is None:
            log(f"[sweep] {cfg.search.strategy} search of {cfg.mixtures.count} mixtures "
                f"({search['settings']['initial']} initial), each suggested as a slot frees")
            queued = ray.get(aggregator.search_runs.remote(unfinished_only=True))
            left = len(queued) + cfg.mixtures.count - len(ray.get(aggregator.search_runs.remote()))
            if left:
                searcher = MixtureSearcher(aggregator, queued, cfg.training.seed, BASE_SCALE,
                                           in_flight=lambda: _suggestions_in_flight(cfg))
                refused = _run_tune(cfg, prepared, searcher=searcher, count=left, **experiment)
                _stop_if_refused(refused or searcher.refused, aggregator, sweep_dir, storage_field)
            plan = searched_plan(cfg, ray.get(aggregator.search_runs.remote()))
            save_plan(cfg, plan)
        todo = plan[~plan[RUN_COLUMN].isin(ray.get(aggregator.run_ids.remote()))]
        if len(todo):
            _stop_if_refused(_run_tune(cfg, prepared, trials=_trials(cfg, todo), **experiment),
                             aggregator, sweep_dir, storage_field)
        tune_seconds = time.perf_counter() - tune_started if to_train else 0.0
        paths = {k: Path(v) for k, v in ray.get(aggregator.export.remote()).items()}
        summary = ray.get(aggregator.summary.remote())
        ray.kill(aggregator)
    return SweepResult(sweep_dir, len(plan), summary["stored"], summary["failed"],
                       to_train, paths, tune_seconds, slots)


def _stop_if_refused(refused: str | None, aggregator, sweep_dir: Path, storage_field: str) -> None:
    """Raise the storage's refusal of a result (see :class:`StopWhenStorageFails`)."""
    if refused:
        stored = ray.get(aggregator.summary.remote())["stored"]
        raise UserError(
            f"{storage_field}: {sweep_dir} refused a result ({refused}); the sweep stopped. "
            f"The {stored} results stored before are kept: free space or fix the permissions, "
            "then run the same command again to go on")


def trial_resources(cfg: SweepConfig) -> dict[str, float]:
    """What Ray reserves for each trial: CPUs, a GPU share and, when given, CPU memory."""
    c = cfg.compute
    resources = {"cpu": c.cpus_per_trial, "gpu": c.gpus_per_trial}
    if c.memory_per_trial_gb and not c.gpus_per_trial:  # Ray places no more than RAM holds
        resources["memory"] = int(c.memory_per_trial_gb * GIB)
    return resources


def _trial_slots(cfg: SweepConfig) -> float:
    """How many trials fit on the cluster at once (by CPUs, GPUs, memory, the concurrency cap)."""
    total = ray.cluster_resources()
    need = trial_resources(cfg)
    slots = total.get("CPU", 0) // need["cpu"]
    if need["gpu"]:
        slots = min(slots, total.get("GPU", 0) // need["gpu"])
    if "memory" in need:
        slots = min(slots, total.get("memory", 0) // need["memory"])
    if cfg.compute.max_concurrent:
        slots = min(slots, cfg.compute.max_concurrent)
    return slots


def _suggestions_in_flight(cfg: SweepConfig) -> int:
    """How many runs an adaptive search keeps suggested and unfinished at a time.

    ``compute.max_concurrent`` when set. Otherwise the trial slots the cluster has now,
    plus one: the one more waits for the next free slot, whose trial then starts without
    waiting for the GP, and on an autoscaling cluster its demand is what makes the
    autoscaler add a node (the limit grows with each node). But never fewer than the
    initial runs: they do not depend on results, so all of them go out at once, and a
    cluster that starts with no worker nodes sees their whole demand.
    """
    return cfg.compute.max_concurrent or max(int(_trial_slots(cfg)) + 1, initial_runs(cfg))


def _trials(cfg: SweepConfig, todo: pd.DataFrame) -> list[dict]:
    """The Tune configs of the planned runs ``todo``: run id, seed, size and mixture."""
    # plans written before repeats existed have no seed column: they used training.seed
    seeds = todo[SEED_COLUMN] if SEED_COLUMN in todo else pd.Series(cfg.training.seed, todo.index)
    return [{"run_id": row[RUN_COLUMN], "seed": int(seeds[i]), "scale": row[SCALE_COLUMN],
             "mixture": {d: float(row[d]) for d in cfg.domain_names}}
            for i, row in todo.iterrows()]


def _run_tune(cfg: SweepConfig, prepared: PreparedData, *, aggregator_name: str,
              progress: SweepProgress, trials: list[dict] | None = None,
              searcher: MixtureSearcher | None = None, count: int = 0) -> str | None:
    """Run one Tune experiment; returns why the storage refused a result, if it did.

    Its trials are either the given ``trials`` (a grid: one per planned run) or ``count``
    suggestions of an adaptive ``searcher``.
    """
    training = dataclasses.asdict(cfg.training)
    if cfg.training.init_from:  # trials run elsewhere: give them an absolute path
        training["init_from"] = str(cfg.resolve(cfg.training.init_from))
    checkpoints = cfg.storage_path / "checkpoints" if cfg.training.save_checkpoint else None
    sweep = {"models": {name: dataclasses.asdict(m) for name, m in cfg.scale_models().items()},
             "training": training, "checkpoints": str(checkpoints) if checkpoints else None,
             "aggregator": aggregator_name, "cpus_per_trial": cfg.compute.cpus_per_trial,
             "gpus_per_trial": cfg.compute.gpus_per_trial,
             "target_logprobs": cfg.mixtures.method == "per_domain"}  # MixMin's input
    trainable = tune.with_parameters(proxy_trial, data=proxy_data(cfg, prepared), sweep=sweep)
    concurrent = cfg.compute.max_concurrent
    if searcher is None:
        space, search = {"trial": tune.grid_search(trials)}, {}
    else:
        space, search = {}, {"search_alg": searcher, "num_samples": count}
        # Tune keeps only one trial of a custom searcher pending unless told how many may
        # run: short trials would then run one at a time, each finishing before the next
        # one's actor starts. Tune is told the most there could be; the searcher keeps
        # to the cluster's slots as they are now (_suggestions_in_flight).
        concurrent = concurrent or count
    stopper = StopWhenStorageFails()
    tuner = tune.Tuner(
        tune.with_resources(trainable, trial_resources(cfg)),
        param_space=space,
        tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=concurrent,
                                    trial_dirname_creator=_trial_dirname, **search),
        run_config=tune.RunConfig(
            # two experiments of one sweep (search, then the plan) get folders of their own
            name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{'plan' if searcher is None else 'search'}",
            storage_path=str(cfg.storage_path / "tune"),
            failure_config=tune.FailureConfig(max_failures=cfg.compute.max_retries),
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
            callbacks=[progress],
            stop=stopper,
            verbose=0,
        ),
    )
    progress.new_experiment()
    tuner.fit()
    # a cluster that trains fewer trials at once than it has slots is wasting them
    most = progress.most_running
    suggested = "" if searcher is None else f"up to {searcher.most_live} suggested at a time, "
    progress.log(f"[sweep] {'plan' if searcher is None else 'search'}: {suggested}up to {most} "
                 f"trial{'s' if most != 1 else ''} ran at once on {_trial_slots(cfg):g} slots")
    return stopper.reason


def _trial_dirname(trial) -> str:
    return trial.config["trial"]["run_id"]


def _writable(folder: Path, storage_field: str = "compute.storage") -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".raymix-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"{storage_field}: cannot write to {folder} ({exc.strerror}); "
                        "choose a writable folder") from None
