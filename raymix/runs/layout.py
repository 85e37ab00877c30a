"""The files of a sweep directory: every name spelled out once, here.

::

    results/<run_id>.json   one record per finished (or failed) run: the source of truth
    data.json               what the runs were trained on (token prior and counts)
    config.yaml             the settings the runs were made with (a re-run must match)
    plan.csv                the planned runs (run, seed, scale + weights), fixed on first start
    strategy.json           an adaptive sweep's strategy: its settings and every suggestion
    confirm.json            the confirmation round: its settings, and each round's candidates
                            (their runs are in plan.csv as confirm<round>-<candidate>-s<seed>)
    mixtures.csv            run + one weight column per domain     (ok runs of the base size)
    metrics.csv             run + one loss column per validation set at the last step
    runs.csv, runs.parquet  every evaluation of every run and size, long format
    proposal.json, report/  the proposal and its report
    mixmin.json             MixMin's proposal (mixtures.draw per_domain)
    critical.json           ``propose --critical``: a new domain's critical share
    checkpoints/<run>/      each run's final model (training.save_checkpoint)
    resume/<run>.safetensors
                            a run of a stacked group, unfinished: its state at its last
                            evaluation, so a retried trial goes on from there (dropped
                            once the run's record is stored)
    tune/                   Ray Tune's own experiment folders (never read back)
    tensorboard/            TensorBoard event files (tracking.tensorboard), one folder a run
    tracking.json           which runs each experiment tracker holds (tracking:), so a
                            resumed sweep logs none twice
    validate/               ``raymix validate``'s folder (``validate.storage``): a sweep
                            directory of its own, plus predictions.json, validate.json,
                            validate.md and validate.png

The wide pair (mixtures.csv, metrics.csv) is the format of RegMix's and Olmix's
published results; runs.csv is the long table :func:`raymix.read_long_runs` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SweepLayout:
    """Where each file of the sweep directory ``root`` lives."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # what the sweep stores as it runs
    @property
    def results(self) -> Path:
        return self.root / "results"

    def record(self, run_id: str) -> Path:
        return self.results / f"{run_id}.json"

    @property
    def data_info(self) -> Path:
        return self.root / "data.json"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def plan(self) -> Path:
        return self.root / "plan.csv"

    @property
    def strategy(self) -> Path:
        return self.root / "strategy.json"

    @property
    def legacy_strategy(self) -> Path:
        """Where raymix 0.1 kept the strategy (``search.json``): read when no strategy.json."""
        return self.root / "search.json"

    @property
    def confirmation(self) -> Path:
        return self.root / "confirm.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def resume(self) -> Path:
        return self.root / "resume"

    def resume_state(self, run_id: str) -> Path:
        return self.resume / f"{run_id}.safetensors"

    @property
    def tune(self) -> Path:
        return self.root / "tune"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def tracking(self) -> Path:
        return self.root / "tracking.json"

    # the tables made from the records
    @property
    def mixtures(self) -> Path:
        return self.root / "mixtures.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def runs_csv(self) -> Path:
        return self.root / "runs.csv"

    @property
    def runs_parquet(self) -> Path:
        return self.root / "runs.parquet"

    # what is made from the tables
    @property
    def proposal(self) -> Path:
        return self.root / "proposal.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def mixmin(self) -> Path:
        return self.root / "mixmin.json"

    @property
    def critical(self) -> Path:
        return self.root / "critical.json"

    # what raymix validate's folder (itself a sweep directory) adds
    @property
    def predictions(self) -> Path:
        return self.root / "predictions.json"

    @property
    def validation_json(self) -> Path:
        return self.root / "validate.json"

    @property
    def validation_report(self) -> Path:
        return self.root / "validate.md"

    @property
    def validation_figure(self) -> Path:
        return self.root / "validate.png"
