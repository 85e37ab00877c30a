"""The plan of a sweep: every run it trains (mixture, seed, size), fixed in ``plan.csv``.

A random sweep draws its mixtures up front (:func:`raymix.mixtures.sample_mixtures`); an
adaptive sweep's base runs are its strategy's suggestions (:mod:`raymix.sweep.strategy`).
Either way the plan then adds the repeats (the first ``mixtures.repeats`` mixtures again
with other seeds, for the noise floor) and the runs of each extra size in ``scales``.
The plan is written once, so a re-run trains the same runs; a scale added later
extends it. A confirmation round's runs (``confirm1-...``, chosen once the sweep's runs
are in) are appended to it by :func:`add_runs` and kept whenever the plan is rewritten.
"""

from __future__ import annotations

import re

import pandas as pd

from raymix.config import BASE_SCALE, SweepConfig
from raymix.data import PreparedData
from raymix.errors import UserError
from raymix.files import atomic_write_frame
from raymix.mixtures import sample_mixtures, sample_schedules
from raymix.runs import RUN_COLUMN, SCALE_COLUMN, SEED_COLUMN, SweepLayout
from raymix.sweep.planned import PlannedRun
from raymix.sweep.strategy import Suggestion

CONFIRM_ID = re.compile(r"confirm\d+-")  # a confirmation round's runs: confirm1-<candidate>-...


def plan_mixtures(cfg: SweepConfig, prepared: PreparedData,
                  prior: dict[str, float] | None = None) -> pd.DataFrame:
    """The sweep's mixtures with run ids: ``plan.csv`` if stored, else sampled now.

    A stored plan is reused as is: :func:`check_experiment` has already refused a sweep
    directory whose mixture settings or data differ from ``cfg``. ``prior`` is what the
    draw centres on (default: the token prior; a sweep reusing runs focuses it,
    :mod:`raymix.sweep.reuse`). Writes nothing.
    """
    path = SweepLayout(cfg.storage_path).plan
    if path.exists():
        plan = pd.read_csv(path)
        plan = plan[~is_confirmation(plan[RUN_COLUMN])].reset_index(drop=True)
    else:
        tokens_per_run = cfg.training.tokens_per_run(cfg.model.seq_len)
        prior = prior or prepared.prior
        if cfg.phase_fractions:
            mixtures = sample_schedules(cfg.mixtures, prior, prepared.train_tokens,
                                        tokens_per_run, cfg.phase_fractions)
        else:
            mixtures = sample_mixtures(cfg.mixtures, prior, prepared.train_tokens,
                                       tokens_per_run, groups=cfg.domain_groups)
        plan = _base_plan(cfg, mixtures)
    if SCALE_COLUMN not in plan:  # written before multi-scale sweeps: all of the base size
        plan.insert(2, SCALE_COLUMN, BASE_SCALE)
    return _with_scales(plan, cfg)


def adaptive_plan(cfg: SweepConfig, suggestions: list[Suggestion]) -> pd.DataFrame:
    """The plan of an adaptive sweep: its suggested mixtures, then repeats and scales."""
    mixtures = pd.DataFrame([s.mixture for s in suggestions], columns=cfg.mixture_columns)
    return _with_scales(_base_plan(cfg, mixtures), cfg)


def planned_runs(cfg: SweepConfig) -> int:
    """How many runs the sweep's plan holds, known before an adaptive strategy has made it."""
    count = cfg.mixtures.count
    repeats = cfg.mixtures.repeats * cfg.mixtures.repeat_seeds
    return count + repeats + sum(scale.mixtures or count for scale in cfg.scales)


def save_plan(cfg: SweepConfig, plan: pd.DataFrame) -> None:
    """Fix the plan in ``plan.csv`` on the first start, and again when scales extend it.

    A confirmation round's runs in the stored plan are kept, after ``plan``'s.
    """
    path = SweepLayout(cfg.storage_path).plan
    stored = pd.read_csv(path) if path.exists() else None
    if stored is None:
        atomic_write_frame(plan, path)
        return
    confirming = is_confirmation(stored[RUN_COLUMN])
    if len(plan) != (~confirming).sum() or SCALE_COLUMN not in stored:
        atomic_write_frame(pd.concat([plan, stored[confirming]], ignore_index=True), path)


def add_runs(cfg: SweepConfig, rows: pd.DataFrame) -> None:
    """Append ``rows`` (a confirmation round's runs) to ``plan.csv``, those not in it yet."""
    path = SweepLayout(cfg.storage_path).plan
    stored = pd.read_csv(path)
    new = rows[~rows[RUN_COLUMN].isin(stored[RUN_COLUMN])]
    if len(new):
        atomic_write_frame(pd.concat([stored, new], ignore_index=True), path)


def drop_confirmation_runs(cfg: SweepConfig) -> None:
    """Remove a confirmation round's runs from ``plan.csv`` (their records stay), when the
    round is chosen again."""
    path = SweepLayout(cfg.storage_path).plan
    stored = pd.read_csv(path)
    confirming = is_confirmation(stored[RUN_COLUMN])
    if confirming.any():
        atomic_write_frame(stored[~confirming], path)


def is_confirmation(run_ids: pd.Series) -> pd.Series:
    """Which run ids are a confirmation round's (``confirm<round>-<candidate>-s<seed>``)."""
    return run_ids.astype(str).str.match(CONFIRM_ID.pattern)


def _with_scales(plan: pd.DataFrame, cfg: SweepConfig) -> pd.DataFrame:
    """Add the runs of each configured scale that the plan lacks.

    Scale ``m`` trains the first ``mixtures`` of the sweep's sampled mixtures (not the
    repeats) as runs ``m-run-0000``, ... A scale added to a sweep later extends its plan.
    """
    unknown = set(plan[SCALE_COLUMN]) - set(cfg.scale_models())
    if unknown:
        raise UserError(f"{cfg.storage_path} holds runs of scale {sorted(unknown)[0]!r}, "
                        "which the config no longer lists; add it back or use a new "
                        "compute.storage folder", field="scales")
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
    """The mixtures (one column per domain, or per slot of a schedule) at the base size,
    then the repeats with other seeds."""
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




def planned_trials(cfg: SweepConfig, todo: pd.DataFrame) -> list[PlannedRun]:
    """The planned runs ``todo`` (rows of the plan): run id, seed, size and mixture."""
    # plans written before repeats existed have no seed column: they used training.seed
    seeds = todo[SEED_COLUMN] if SEED_COLUMN in todo else pd.Series(cfg.training.seed, todo.index)
    return [PlannedRun(run_id=row[RUN_COLUMN], seed=int(seeds[i]), scale=row[SCALE_COLUMN],
                       mixture={d: float(row[d]) for d in cfg.mixture_columns})
            for i, row in todo.iterrows()]
