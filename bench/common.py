"""What the benchmark scripts share: where things are, RegMix's runs, and how a record is written.

The scripts run as ``python bench/bench_<name>.py`` from the repository root, so this
folder is on ``sys.path`` and ``from common import ...`` finds this module. The heavier
imports (raymix's regressors, torch, the sweep's trial code) are made inside the helpers
that need them, so that a script pays only for what it uses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]  # the repository
RESULTS = ROOT / "bench" / "results"  # the records that docs/benchmarks.md quotes
REFERENCE = ROOT.parent / "shared" / "reference"  # published runs: ../shared/reference
DEMO_CONFIG = ROOT / "jobs" / "configs" / "demo.yaml"

# RegMix (sail-sg/regmix): 1M-parameter proxies on 17 Pile domains, 512 train + 256 test runs
REGMIX_TARGET = "metric/the_pile_pile_cc_val_loss"
# RegMix's token prior, in the CSV's column order (reference/regmix/README.md)
REGMIX_PRIOR = [.1133, .0796, .0039, .1854, .0511, .0160, .1018, .0037, .0665, .0018, .0271,
                .2369, .0118, .0079, .0080, .0388, .0464]
SURFACE_CANDIDATES = 200_000  # the response surface's optimum: best of these and the runs


# ----------------------------------------------------------------------------- arguments


def bench_parser(doc: str, *, out: str | None, reference: bool = False,
                 config: bool = False, work: str | None = None) -> argparse.ArgumentParser:
    """The options every bench has: ``--out`` (default ``bench/results/<out>``; None: the
    script chooses), and ``--reference`` (published runs) or ``--config`` (a sweep config)
    where it reads them; with ``work``, ``--work``: a scratch folder (default
    ``.raymix/<work>``, emptied first). The description is the first line of ``doc``."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    if reference:
        parser.add_argument("--reference", type=Path, default=REFERENCE,
                            help="folder of the published runs (default ../shared/reference)")
    if config:
        parser.add_argument("--config", type=Path, default=DEMO_CONFIG,
                            help="sweep config (default jobs/configs/demo.yaml)")
    if work is not None:
        parser.add_argument("--work", type=Path, default=ROOT / ".raymix" / work,
                            help=f"scratch folder (default .raymix/{work}; emptied first)")
    parser.add_argument("--out", type=Path, default=None if out is None else RESULTS / out,
                        help="where to write the JSON record"
                             + ("" if out is None else f" (default bench/results/{out})"))
    return parser


def fresh_folder(path: str | Path) -> Path:
    """``path``, emptied: a benchmark's scratch folder (``--work``) starts from nothing."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    return Path(path)


def machine() -> str:
    """The machine a benchmark ran on, in a record's words."""
    return f"{platform.machine()}, {os.cpu_count()} cores (shared)"


def relative(path: str | Path) -> str:
    """``path`` relative to the repository when inside it (as records name configs), else as is."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


# ----------------------------------------------------------------------------- records


def write_record(path: str | Path, record: dict[str, Any], *,
                 seconds: float | None = None) -> Path:
    """Write a benchmark's JSON record (making its folder) and say where, and how long the
    benchmark took when ``seconds`` is given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    took = "" if seconds is None else f" ({seconds:.0f} s)"
    print(f"wrote {relative(path)}{took}", flush=True)
    return path


# ----------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of each of ``repeats`` calls of ``fn``, and the last result.

    ``fn`` takes no arguments: bind what it uses (``functools.partial``) when it is made
    in a loop.
    """
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, out


# ----------------------------------------------------------------------------- RegMix's runs


def load_regmix(reference: Path, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RegMix's ``split`` ("train" or "test") runs: mixtures (one column per domain) and
    their 13 loss columns, rows matched on the ``index`` column."""
    folder = Path(reference) / "regmix"
    mixtures = pd.read_csv(folder / f"{split}_mixture_1m.csv", index_col="index")
    losses = pd.read_csv(folder / f"{split}_pile_loss_1m.csv", index_col="index")
    return mixtures, losses.loc[mixtures.index]


def regmix_surface(reference: Path):
    """A stand-in for training a proxy: LightGBM (raymix's settings) fitted on all 768 of
    RegMix's runs, target Pile-CC loss.

    Returns the fitted model, the domains, the surface's optimum (the best of
    ``SURFACE_CANDIDATES`` draws around RegMix's prior and the runs) and its value, and
    the runs' measured losses.
    """
    from raymix.mixtures import sample_candidates
    from raymix.regression import make_regressor

    (X_train, L_train), (X_test, L_test) = (load_regmix(reference, s) for s in ("train", "test"))
    X = np.vstack([X_train.to_numpy(float), X_test.to_numpy(float)])
    y = np.concatenate([L_train[REGMIX_TARGET].to_numpy(float),
                        L_test[REGMIX_TARGET].to_numpy(float)])
    model = make_regressor("lightgbm", seed=0).fit(X, y)
    k = X.shape[1]
    candidates = np.vstack([sample_candidates(SURFACE_CANDIDATES, np.array(REGMIX_PRIOR),
                                              lower=np.zeros(k), upper=np.ones(k), rng=0), X])
    values = model.predict(candidates)
    best = int(np.argmin(values))
    return model, list(X_train.columns), candidates[best], float(values[best]), y


# ---------------------------------------------------------------- Data Mixing Laws' runs


def pile_valid_weight(reference: Path) -> dict[str, float]:
    """The Pile's weight of each of its 22 validation domains (yegcjs/mixinglaws'
    ``valid_weight.json``; they sum to 1)."""
    return json.loads((Path(reference) / "mixinglaws" / "valid_weight.json").read_text())


def mixinglaws_losses(path: Path) -> Iterator[tuple[str, str, float]]:
    """The lines of one of yegcjs/mixinglaws' loss files as ``(checkpoint, validation set,
    loss)``.

    Each line holds a checkpoint's folder, a validation file and the loss, tab-separated;
    the validation set is the Pile domain ``D`` of ``pythia-pile.valid.D.bin``, or
    ``python`` for the continual pretraining runs' ``starcoder.python.valid.bin``.
    """
    for line in Path(path).read_text().splitlines():
        checkpoint, valid, loss = line.split("\t")
        name = valid.rsplit("/", 1)[-1]
        yield checkpoint, "python" if "python" in name else name.split(".")[-2], float(loss)


# ----------------------------------------------------------------------------- proxies


def demo_sweep(folder: Path, *, proxies: int, steps: int, seed: int | None = None) -> dict:
    """The demo's sweep config (jobs/configs/demo.yaml) as a dict, for one arm of a bench.

    ``proxies`` proxies of ``steps`` steps (warmup and evaluations stretched along,
    :meth:`~raymix.config.schema.TrainingConfig.with_steps`), the token cache the demo
    uses, results under ``folder/sweep`` and no confirmation round (each proposal is the
    fit's own). ``seed``, when given, seeds both the draw and the proxies' training.
    Edit the dict, then :func:`write_sweep`.
    """
    import yaml

    from raymix.config.schema import TrainingConfig

    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    cache = raw["data"].get("cache_dir")
    if cache:
        raw["data"]["cache_dir"] = str((DEMO_CONFIG.parent / cache).resolve())
    training = TrainingConfig(**raw["training"]).with_steps(steps)
    raw["training"] = dataclasses.asdict(training if seed is None
                                         else dataclasses.replace(training, seed=seed))
    raw["mixtures"].update(count=proxies, **({} if seed is None else {"seed": seed}))
    raw["compute"].update(storage=str(folder / "sweep"))
    raw["confirm"] = {"rounds": 0}
    return raw


def write_sweep(folder: Path, raw: dict) -> Path:
    """Write the config ``raw`` as ``folder/sweep.yaml``; its path."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def proxy_setup(config: str | Path, *, threads: int = 1, log: Callable[[str], None] = print):
    """A sweep config's prepared data as a proxy reads it, for training proxies on the CPU.

    Sets torch to ``threads`` threads, loads the config, prepares (or reuses) its token
    arrays (``log`` receives prepare's progress lines) and returns ``(cfg, prepared,
    data)``: the :class:`~raymix.config.SweepConfig`, the
    :class:`~raymix.data.PreparedData` and the :class:`~raymix.training.ProxyData`.
    """
    import torch

    from raymix.config import load_config
    from raymix.data.prepared import prepare
    from raymix.sweep.trial import proxy_data

    torch.set_num_threads(threads)
    cfg = load_config(config)
    prepared = prepare(cfg, log=log)
    return cfg, prepared, proxy_data(cfg, prepared)
