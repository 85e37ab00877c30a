"""The aggregator: a named Ray actor that every proxy trial reports its record to.

Guarantees:
- a record is on disk (atomically, see :mod:`raymix.runs.store`) before ``add`` returns,
  so a trial only finishes after its result is safe;
- duplicates are dropped by run id (a trial re-run after a crash reports again);
- the actor restarts after a crash (``max_restarts=-1``) and rebuilds its table from disk;
- while the sweep runs it answers ``summary()`` and ``fit_now()``; the live fit runs on a
  thread of its own (the ``fit`` concurrency group), so a slow fit never delays the
  storing of results, which stay one at a time;
- it times each ``add`` and knows its own memory (``load()``): what a sweep of thousands
  of runs costs it, printed at the sweep's end;
- in an adaptive sweep it also holds the strategy (:class:`SweepStrategy`): each stored
  result is observed, and ``suggest()`` hands out the next mixture.
"""

from __future__ import annotations

import hashlib
import math
import resource
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray

from raymix.regression import fit_regressor
from raymix.runs import ResultStore, RunRecord, export_tables, loss_column, tables
from raymix.sweep.planned import DUPLICATE, NAMESPACE, REFUSED, STORED
from raymix.sweep.strategy import Suggestion, SweepStrategy

EXPORT_EVERY_S = 10.0  # rewrite the CSVs at most this often while results arrive


@dataclass(frozen=True)
class AddOutcome:
    """What became of a record given to :meth:`Aggregator.add`.

    ``status`` is ``stored`` (on disk now), ``duplicate`` (stored before, ignored) or
    ``refused`` (the storage refused it, ``reason`` says why: it is not acknowledged,
    and the driver stops the sweep).
    """

    status: str
    reason: str | None = None


@dataclass(frozen=True)
class StoreSummary:
    """The stored records of a sweep, counted."""

    stored: int
    ok: int
    failed: int
    best_run: str | None
    best_target_loss: float
    speed: dict = field(default_factory=dict)  # see :func:`speed_summary`


def store_summary(records) -> StoreSummary:
    """Count ``records`` (an iterable of :class:`RunRecord`): stored, ok, failed, the best,
    and how fast they trained."""
    records = list(records)
    ok = [r for r in records if r.ok]
    best = min(ok, key=lambda r: r.final_target_loss, default=None)
    return StoreSummary(stored=len(records), ok=len(ok), failed=len(records) - len(ok),
                        best_run=best.run_id if best else None,
                        best_target_loss=best.final_target_loss if best else math.nan,
                        speed=speed_summary(ok))


def speed_summary(records) -> dict:
    """How the runs trained: the median tokens per second of a run (after its first
    step), the median share of training time spent waiting for batches, how many
    compiled and their median first step, the micro-batch sizes, the sizes of the groups
    they trained in (``compute.models_per_trial``; 1 alone). Empty for records of an
    older raymix, which did not measure these."""
    measured = [r for r in records if r.tokens_per_second is not None]
    if not measured:
        return {}
    compiled = [r.compile_seconds for r in measured if r.compiled]
    return {"runs": len(measured),
            "tokens_per_second": statistics.median(r.tokens_per_second for r in measured),
            "data_wait_fraction": statistics.median(r.data_wait_fraction or 0.0
                                                    for r in measured),
            "compiled": len(compiled),
            "compile_seconds": statistics.median(compiled) if compiled else None,
            "micro_batch_sizes": sorted({r.micro_batch_size for r in measured}),
            # proxies trained together as one stacked model (1: alone)
            "group_sizes": sorted({r.group_size or 1 for r in measured})}


@dataclass(frozen=True)
class AggregatorLoad:
    """What storing results has cost the aggregator since it (re)started.

    ``stored`` results were added by ``add`` (duplicates not counted), each in
    ``add_ms_median`` (``add_ms_p99``, ``add_ms_max``) milliseconds of the actor's own
    time: writing the record, and every ``EXPORT_EVERY_S`` the tables. ``held`` records
    are in its table. Its process's resident memory was ``start_rss_mib`` when it
    started (its libraries loaded, no record read yet), is ``rss_mib`` now and was
    ``peak_rss_mib`` at most.
    """

    stored: int
    held: int
    add_ms_median: float
    add_ms_p99: float
    add_ms_max: float
    start_rss_mib: float
    rss_mib: float
    peak_rss_mib: float


def _rss_mib() -> float:
    """This process's resident memory now (MiB; nan where /proc is not there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def _quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank), or nan for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def actor_name(sweep_name: str, sweep_dir: Path) -> str:
    """One aggregator per sweep directory: two sweeps of one name on a cluster stay apart."""
    digest = hashlib.sha256(str(Path(sweep_dir).resolve()).encode()).hexdigest()[:10]
    return f"raymix-aggregator-{sweep_name}-{digest}"


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, concurrency_groups={"fit": 1})
class Aggregator:
    """Collects proxy-run records for one sweep directory.

    ``strategy`` ({"settings": ..., "total": ...}) makes it hold an adaptive sweep's
    :class:`SweepStrategy`.

    Its methods run one at a time (Ray's default for an actor), except ``fit_now``, which
    runs on a thread of its own beside them: it reads a copy of the records taken under
    ``lock``, the one thing the two threads share.
    """

    def __init__(self, sweep_dir: str, domains: list[str], target_name: str,
                 strategy: dict | None = None):
        self.start_rss_mib = _rss_mib()
        self.sweep_dir = Path(sweep_dir)
        self.domains = domains
        self.target_name = target_name
        self.store = ResultStore(self.sweep_dir)
        self.records = self.store.load_all()  # rebuilt from disk on every (re)start
        self.lock = threading.Lock()  # guards self.records against the fit's thread
        self.last_export = 0.0
        self.add_seconds: list[float] = []  # the time of each stored add, for load()
        self.strategy = None
        if strategy is not None:
            self.strategy = SweepStrategy(self.sweep_dir, strategy["settings"],
                                          strategy["total"], self.records)

    def add(self, record: RunRecord) -> AddOutcome:
        """Store ``record``, on disk before this returns ``stored``."""
        started = time.perf_counter()
        if record.run_id in self.records:
            return AddOutcome(DUPLICATE)
        try:
            self.store.write(record)  # on disk before we acknowledge
        except OSError as exc:
            return AddOutcome(REFUSED, exc.strerror or str(exc))
        with self.lock:
            self.records[record.run_id] = record
        if self.strategy is not None:
            self.strategy.observe(record)
        if time.monotonic() - self.last_export > EXPORT_EVERY_S:
            try:
                self.export()
            except OSError:
                pass  # the record is safe; the tables are made again at the sweep's end
        self.add_seconds.append(time.perf_counter() - started)
        return AddOutcome(STORED)

    def load(self) -> AggregatorLoad:
        """How long storing a result took, and the actor's memory (:class:`AggregatorLoad`)."""
        ms = [1000 * s for s in self.add_seconds]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return AggregatorLoad(stored=len(ms), held=len(self.records),
                              add_ms_median=statistics.median(ms) if ms else math.nan,
                              add_ms_p99=_quantile(ms, 0.99), add_ms_max=max(ms, default=math.nan),
                              start_rss_mib=self.start_rss_mib, rss_mib=_rss_mib(),
                              peak_rss_mib=rss)  # ru_maxrss: KiB on Linux

    def suggest(self) -> Suggestion | None:
        """The adaptive strategy's next run, or None once all are made."""
        return self.strategy.suggest()

    def suggestions(self, unfinished_only: bool = False) -> list[Suggestion]:
        """The strategy's suggestions so far (or those without a stored result)."""
        return self.strategy.unfinished() if unfinished_only else self.strategy.suggestions()

    def run_ids(self) -> list[str]:
        return sorted(self.records)

    def table(self) -> list[RunRecord]:
        with self.lock:
            return [self.records[k] for k in sorted(self.records)]

    def summary(self, run_ids: list[str] | None = None) -> StoreSummary:
        """The stored records counted: all of them, or those of ``run_ids`` (one plan's)."""
        if run_ids is None:
            return store_summary(self.records.values())
        return store_summary(self.records[r] for r in run_ids if r in self.records)

    def export(self) -> dict[str, str]:
        """Rewrite mixtures.csv, metrics.csv and runs.parquet from the stored records."""
        paths = export_tables(self.sweep_dir, self.table(), self.domains, self.target_name)
        self.last_export = time.monotonic()
        return {k: str(v) for k, v in paths.items()}

    @ray.method(concurrency_group="fit")
    def fit_now(self, regressors: list[str], folds: int = 5, seed: int = 0) -> dict:
        """Cross-validate the regressors on the runs so far (a live view of fit quality).

        It runs on its own thread: results go on being stored while it fits.
        """
        frames = tables(self.table(), self.domains, self.target_name)
        y = frames["metrics"][loss_column(self.target_name)].to_numpy()
        # each regressor alone: a short progress line, and no refit of an ensemble
        fitted = fit_regressor(frames["mixtures"][self.domains], y, regressors, folds, seed,
                               ensemble=False)
        return {r.name: r.metrics() for r in fitted.results}


def get_aggregator(sweep_dir: Path, domains: list[str], target_name: str, sweep_name: str,
                   strategy: dict | None = None):
    """The sweep's aggregator, created on first use and found by name afterwards.

    ``strategy`` ({"settings": ..., "total": ...}) makes it hold an adaptive sweep's
    strategy.

    It is placed on the driver's node when it can be (a soft affinity): that node lives
    as long as the sweep, while an autoscaler may release an idle worker node under it.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    driver_node = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    return Aggregator.options(
        name=actor_name(sweep_name, sweep_dir), namespace=NAMESPACE, get_if_exists=True,
        scheduling_strategy=driver_node,
    ).remote(str(sweep_dir), domains, target_name, strategy)
