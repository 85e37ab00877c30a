"""Search strategies on the built-in corpus: target loss of the proposal per proxy run spent.

bench/bench_strategy_surface.py compares the strategies on a response surface fitted to
RegMix's published runs; this script compares them where every "run" trains a real proxy:
the built-in corpus of jobs/configs/demo.yaml (six domains of real text; the target is
Python's language reference, which is none of them). It asks how low the target loss of
the PROPOSED mixture gets for a given number of proxy runs.

Strategies
----------
``random``
    RegMix (Liu et al., "RegMix: Data Mixture as Regression for Language Model
    Pre-training", 2024): the mixtures a sweep trains today,
    :func:`raymix.mixtures.sample_mixtures` with ``mixtures.seed`` = the bench seed and
    ``mixtures.count`` = the largest budget; budget N uses the first N.
``design`` and ``bayesopt``
    :class:`raymix.mixtures.MixtureStrategy` with ``initial=8`` (a space-filling design or
    random draws, then GP lower-confidence-bound batches), inside the box the proposal
    searches (:func:`raymix.mixtures.build_constraints` on the config's ``search:``
    section and the prepared token counts). Batches of 2 (two parallel slots):
    suggest(2), train both, observe, repeat; a diverged run is spent but not observed.
    The search does not know its budget, so stopping it at N is the same as a budget N.
``mixmin``
    MixMin (Thudi et al., "MixMin: Finding Data Mixtures via Convex Minimization", ICML
    2025): one proxy per domain records its per-token log-probabilities on the target,
    and :func:`raymix.proposal.mixmin` minimises the loss of the mixture of those proxies
    inside the same box. Its budget is 6 runs (one per domain).

Proposal rule: what ``raymix propose`` makes of a sweep of that strategy
(:func:`raymix.proposal.propose_mixture` with the config's ``fit:`` and ``search:`` sections
as parsed with ``mixtures.strategy`` set, the token prior and the token counts). For random:
the demo's cross-validated regressors (or their ensemble), then the constrained search.
For design and bayesopt: the adaptive defaults, the GP and its upper confidence bound
(``search.method: pessimistic``); and, as "<strategy>, demo fit", the demo's own
``fit.regressors`` and ``search.method`` on the same runs. The best observed
run of the N (its measured loss, noise included) is recorded too.

Evaluation ("truth"): every proposal, the best observed run's mixture, MixMin's mixture
and two references (uniform and the token prior, both projected into the box) are trained
again with fresh seeds (``--eval-seeds``, default 1000 and 1001), and the mean final target
loss is reported. Every proxy uses the same settings: the demo's model and training, but
``--steps`` (default 240; warmup scaled along by
:meth:`raymix.config.TrainingConfig.with_steps`). Only the final target loss is used, so by
default each proxy evaluates once, at its last step: an evaluation changes nothing in the
training (same batches, no dropout), and skipping the intermediate ones saves about a
quarter of the time. A search with bench seed s trains its runs with training seed s.

Cost and resuming: proxies train in a pool of ``--workers`` spawned processes (one torch
thread each, token arrays loaded once per worker); no Ray. Every trained run is appended
to a JSON-lines cache under <repo>/.raymix/bench/strategy_builtin/ keyed by the settings, the
mixture (rounded to 1e-9) and the seed, so a re-run reuses every finished run and a killed
run loses only the runs in flight.

    python bench/bench_strategy_builtin.py             # ~370 proxies, ~40 min on 2 cores
    python bench/bench_strategy_builtin.py --quick     # a few minutes: checks the plumbing

Writes bench/results/strategy_builtin.json (``--quick``: strategy_builtin_quick.json) and
prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from common import RESULTS, ROOT, bench_parser, proxy_setup, relative, write_record

from raymix.config import ModelConfig, SweepConfig, TrainingConfig, load_config, parse_config
from raymix.data.prepared import PreparedData, prepare
from raymix.mixtures import Constraints, build_constraints, make_strategy, named_weights
from raymix.mixtures.sampling import sample_mixtures
from raymix.proposal import mixmin, propose_mixture

CACHE = ROOT / ".raymix" / "bench" / "strategy_builtin" / "runs.jsonl"
BUDGETS = (16, 32, 64, 128)
# 5-fold CV needs at least 5 runs (raymix.regression.selection.check_training_data)
QUICK_BUDGETS = (6, 8)
BATCH = 2  # two parallel slots
INITIAL = 8  # the strategy's initial design / random draws
ADAPTIVE = ("design", "bayesopt")
MIXTURE_DECIMALS = 9  # cache keys: mixtures equal to this many decimals are the same run


# ----------------------------------------------------------------------------- one proxy (worker)

_DATA = None  # the worker's ProxyData, loaded once by _init_worker


def _init_worker(config: str | Path) -> None:
    """Load the token arrays once per worker process; one torch thread per proxy."""
    global _DATA
    _, _, _DATA = proxy_setup(config, threads=1, log=lambda line: None)


def _train(mixture: dict[str, float], model: dict, training: dict, logprobs: bool) -> dict:
    """Train one proxy; its final losses (and target log-probs when asked), or its failure."""
    import torch

    from raymix.training.loop import ProxyDiverged, train_proxy

    try:
        record = train_proxy(mixture, _DATA, ModelConfig(**model), TrainingConfig(**training),
                             device=torch.device("cpu"), target_logprobs=logprobs)
    except ProxyDiverged as exc:  # a result, not a crash: spent, never observed
        return {"status": "failed", "reason": str(exc)}
    final = record.evaluations[-1]
    out = {"status": "ok", "target_loss": final.target_loss, "losses": final.losses,
           "curve": [[e.step, e.target_loss] for e in record.evaluations],
           "train_seconds": record.train_seconds}
    if logprobs:
        out["target_logprobs"] = record.target_logprobs
    return out


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Trains proxies in a process pool, through a JSON-lines cache of finished runs.

    Parameters
    ----------
    cfg : SweepConfig
    config : str or Path
        Path of ``cfg`` (the workers load it themselves).
    prepared : PreparedData
    training : TrainingConfig
        The bench's training settings (the seed is set per run).
    cache : Path
    workers : int
    """

    def __init__(self, cfg: SweepConfig, config: str | Path, prepared: PreparedData,
                 training: TrainingConfig, cache: Path, workers: int):
        self.domains = cfg.domain_names
        self.model = dataclasses.asdict(cfg.model)
        self.training = training
        # the seed is part of each run's key; evaluations before the last leave it unchanged
        kept = {**dataclasses.asdict(training), "seed": None, "eval_every": None}
        settings = {"model": self.model, "training": kept,
                    "prepared": prepared.path.name, "target": cfg.target.name}
        self.settings_hash = hashlib.sha256(
            json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        self.cache_path = cache
        self.cache = _read_cache(cache)
        self.trained = self.reused = 0
        self.started = time.monotonic()
        self.pool = ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(config,))

    def key(self, mixture: np.ndarray, seed: int, logprobs: bool) -> str:
        weights = ",".join(f"{w:.{MIXTURE_DECIMALS}f}" for w in mixture)
        return f"{self.settings_hash}|seed={seed}|logprobs={int(logprobs)}|{weights}"

    def elapsed(self) -> str:
        return f"[{time.monotonic() - self.started:7.0f} s]"

    def train(self, mixtures: np.ndarray, seeds: Sequence[int] | int, *, logprobs: bool = False,
              label: str = "") -> list[dict]:
        """The records of ``mixtures`` (rows) trained with ``seeds``: cached, else trained now.

        Returns one record per row, in order; a record has ``status`` ``ok`` (with
        ``target_loss``) or ``failed``.
        """
        mixtures = np.atleast_2d(np.asarray(mixtures, dtype=float))
        seeds = [int(seeds)] * len(mixtures) if np.isscalar(seeds) else [int(s) for s in seeds]
        keys = [self.key(m, s, logprobs) for m, s in zip(mixtures, seeds)]
        todo = {}
        for k, m, s in zip(keys, mixtures, seeds):
            if k not in self.cache and k not in todo:
                todo[k] = (m, s)
        self.reused += len(set(keys)) - len(todo)
        if todo:
            self._run(todo, logprobs, label)
        return [self.cache[k] for k in keys]

    def _run(self, todo: dict, logprobs: bool, label: str) -> None:
        futures = {}
        for k, (m, s) in todo.items():
            training = {**dataclasses.asdict(self.training), "seed": s}
            futures[self.pool.submit(_train, named_weights(self.domains, m), self.model,
                                     training, logprobs)] = (k, m, s)
        loud = len(todo) > BATCH  # long batches: one line per run; short ones: the caller logs
        for i, future in enumerate(as_completed(futures), 1):
            k, m, s = futures[future]
            record = {"key": k, "mixture": m.tolist(), "seed": s, **future.result()}
            self._store(record)
            if loud:
                loss = record.get("target_loss", float("nan"))
                print(f"{self.elapsed()} {label}: {i}/{len(todo)} trained "
                      f"(target loss {loss:.4f})", flush=True)

    def _store(self, record: dict) -> None:
        self.cache[record["key"]] = record
        self.trained += 1
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.cache_path, "a") as f:  # one line per run: a kill loses at most a line
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        self.pool.shutdown()


def _read_cache(path: Path) -> dict[str, dict]:
    """Every stored run by key; a line cut off by a kill is skipped."""
    found = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            found[record["key"]] = record
    return found


# ----------------------------------------------------------------------------- strategies


def random_runs(cfg: SweepConfig, prepared: PreparedData, trainer: Trainer, seed: int,
                count: int) -> tuple[np.ndarray, list[dict]]:
    """RegMix's sweep mixtures for ``mixtures.seed = seed``, all trained (2 at a time)."""
    mixtures_cfg = dataclasses.replace(cfg.mixtures, seed=seed, count=count)
    tokens_per_run = trainer.training.tokens_per_run(cfg.model.seq_len)
    table = sample_mixtures(mixtures_cfg, prepared.prior, prepared.train_tokens, tokens_per_run)
    X = table[cfg.domain_names].to_numpy(dtype=float)
    return X, trainer.train(X, seed, label=f"random seed {seed}")


def adaptive_runs(strategy: str, box: Constraints, trainer: Trainer, seed: int,
                  count: int) -> tuple[np.ndarray, list[dict]]:
    """The strategy in batches of 2: suggest, train both at once, observe the finished ones."""
    search = make_strategy(strategy, box.domains, box.lower, box.upper, initial=INITIAL,
                           seed=seed, prior=box.prior)
    mixtures, records = [], []
    while len(records) < count:
        X = search.suggest(min(BATCH, count - len(records)))
        batch = trainer.train(X, seed)
        ok = [i for i, r in enumerate(batch) if r["status"] == "ok"]
        if ok:
            search.observe(X[ok], [batch[i]["target_loss"] for i in ok])
        mixtures.extend(X)
        records.extend(batch)
        best = min(search.losses) if search.losses else float("nan")
        print(f"{trainer.elapsed()} {strategy} seed {seed}: {len(records)}/{count} runs, "
              f"best observed {best:.4f}", flush=True)
    return np.array(mixtures), records


# ----------------------------------------------------------------------------- proposals


# how each search's runs are turned into a proposal: (label, strategy, use the config's fit)
PROPOSERS = [("random", "random", True),
             ("design", "design", False), ("design, demo fit", "design", True),
             ("bayesopt", "bayesopt", False), ("bayesopt, demo fit", "bayesopt", True)]
LABELS = [label for label, _, _ in PROPOSERS]


def strategy_config(path: str, strategy: str, own_fit: bool = True) -> SweepConfig:
    """The config with ``mixtures.strategy`` set, as a user would write it.

    An adaptive strategy brings its own proposal defaults (``fit.regressors: [gp]``,
    ``search.method: pessimistic``; :func:`raymix.config.parse_config`) where the config
    does not set those keys. demo.yaml sets both, so without ``own_fit`` they are removed
    and the adaptive defaults apply: the proposal an adaptive sweep makes by default.
    """
    raw = yaml.safe_load(Path(path).read_text())
    raw.setdefault("mixtures", {})["strategy"] = strategy
    if not own_fit:
        raw.get("fit", {}).pop("regressors", None)
        raw.get("search", {}).pop("method", None)
    return parse_config(raw, base_dir=Path(path).resolve().parent)


def propose_from_runs(cfg: SweepConfig, prepared: PreparedData, X: np.ndarray,
                      records: list[dict]) -> dict:
    """raymix's proposal from these runs, as ``raymix propose`` makes it on a sweep."""
    ok = [i for i, r in enumerate(records) if r["status"] == "ok"]
    mixtures = pd.DataFrame(X[ok], columns=cfg.domain_names,
                            index=[f"run-{i:04d}" for i in ok])
    losses = pd.Series([records[i]["target_loss"] for i in ok], index=mixtures.index)
    started = time.perf_counter()
    proposal = propose_mixture(mixtures, losses, prior=prepared.prior, fit_config=cfg.fit,
                               search=cfg.search, available_tokens=prepared.train_tokens)
    best = proposal.baselines["best_observed"]
    return {"runs_ok": len(ok), "mixture": proposal.mixture,
            "predicted_target_loss": proposal.predicted_target_loss,
            "regressor": proposal.fit.chosen.name,
            "cv_spearman": proposal.fit.chosen.metrics()["cv_spearman"],
            "search_method": proposal.search.method,
            "warnings": proposal.warnings,
            "best_observed": {"run": best.run, "mixture": best.mixture,
                              "observed_target_loss": best.observed_target_loss},
            "propose_seconds": time.perf_counter() - started}


def mixmin_proposal(cfg: SweepConfig, box: Constraints, trainer: Trainer, seed: int) -> dict:
    """MixMin from one proxy per domain (training seed ``seed``), inside the box."""
    domains = cfg.domain_names
    records = trainer.train(np.eye(len(domains)), seed, logprobs=True,
                            label=f"mixmin seed {seed}")
    failed = [d for d, r in zip(domains, records) if r["status"] != "ok"]
    if failed:
        return {"seed": seed, "runs": len(domains), "failed_domains": failed}
    logprobs = np.array([r["target_logprobs"] for r in records])
    found = mixmin(logprobs, domains=domains, lower=box.lower, upper=box.upper)
    return {"seed": seed, "runs": len(domains), "mixture": named_weights(domains, found.weights),
            "predicted_target_loss": found.objective[-1], "converged": found.converged,
            "single_domain_target_loss": {d: r["target_loss"] for d, r in zip(domains, records)}}


# ----------------------------------------------------------------------------- evaluation


def evaluate(trainer: Trainer, entries: list[dict], eval_seeds: Sequence[int]) -> None:
    """Train each entry's ``mixture`` with every eval seed; add ``eval_losses`` and ``eval_mean``.

    All mixtures go to the pool at once, so both slots stay busy; repeats are trained once.
    """
    domains = trainer.domains
    rows = [np.array([e["mixture"][d] for d in domains]) for e in entries]
    X = np.repeat(np.array(rows), len(eval_seeds), axis=0)
    seeds = list(eval_seeds) * len(entries)
    records = trainer.train(X, seeds, label="evaluation")
    for i, entry in enumerate(entries):
        mine = records[i * len(eval_seeds):(i + 1) * len(eval_seeds)]
        losses = {str(s): r.get("target_loss") for s, r in zip(eval_seeds, mine)}
        ok = [v for v in losses.values() if v is not None]
        entry["eval_losses"] = losses
        entry["eval_mean"] = float(np.mean(ok)) if ok else None


def references(cfg: SweepConfig, box: Constraints) -> dict[str, dict]:
    """Uniform and the token prior, projected into the box."""
    k = len(cfg.domain_names)
    return {name: {"mixture": named_weights(cfg.domain_names, box.project(w))}
            for name, w in (("uniform", np.full(k, 1.0 / k)), ("token_prior", box.prior))}


# ----------------------------------------------------------------------------- summary


def summarise(results: list[dict], mixmins: list[dict], refs: dict[str, dict]) -> list[dict]:
    """Mean, min and max over seeds per strategy and budget (proposal and best observed run)."""
    rows = []
    keys = sorted({(r["strategy"], r["budget"]) for r in results},
                  key=lambda sb: (LABELS.index(sb[0]), sb[1]))
    for strategy, budget in keys:
        group = [r for r in results if (r["strategy"], r["budget"]) == (strategy, budget)]
        rows.append({"strategy": strategy, "budget": budget,
                     "seeds": [r["seed"] for r in group],
                     "proposal": _spread([r["proposal"]["eval_mean"] for r in group]),
                     "best_observed_measured": _spread(
                         [r["proposal"]["best_observed"]["observed_target_loss"] for r in group]),
                     "best_observed_eval": _spread(
                         [r["proposal"]["best_observed"].get("eval_mean") for r in group])})
    done = [m for m in mixmins if "mixture" in m]
    if done:
        rows.append({"strategy": "mixmin", "budget": done[0]["runs"],
                     "seeds": [m["seed"] for m in done],
                     "proposal": _spread([m["eval_mean"] for m in done]),
                     "best_observed_measured": _spread(
                         [min(m["single_domain_target_loss"].values()) for m in done]),
                     "best_observed_eval": _spread([])})
    for name, ref in refs.items():
        rows.append({"strategy": name, "budget": 0, "seeds": [],
                     "proposal": _spread([ref["eval_mean"]]),
                     "best_observed_measured": _spread([]), "best_observed_eval": _spread([])})
    return rows


def _spread(values) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {"mean": float(np.mean(values)), "min": float(np.min(values)),
            "max": float(np.max(values)), "n": len(values)}


def _cell(s: dict) -> str:
    if s["n"] == 0:
        return "-"
    if s["n"] == 1:
        return f"{s['mean']:.4f}"
    return f"{s['mean']:.4f} [{s['min']:.4f}, {s['max']:.4f}]"


def table(rows: list[dict]) -> str:
    """The summary as a markdown table (mean over seeds [min, max])."""
    lines = ["| strategy | runs | seeds | proposal, eval loss | best observed run, measured "
             "| best observed run, eval loss |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['strategy']} | {r['budget'] or '-'} | {len(r['seeds']) or '-'} "
                     f"| {_cell(r['proposal'])} | {_cell(r['best_observed_measured'])} "
                     f"| {_cell(r['best_observed_eval'])} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args() -> argparse.Namespace:
    parser = bench_parser(__doc__, out=None, config=True)
    parser.add_argument("--steps", type=int, default=240,
                        help="proxy steps (warmup and evaluations scale along; demo: 480)")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="evaluate every this many steps (default: only at the end; "
                             "only the final target loss is used, and it does not depend on it)")
    parser.add_argument("--seeds", default="0,1", help="bench seeds, comma-separated")
    parser.add_argument("--random-max", default="128,64",
                        help="random runs per seed (one value: the same for every seed)")
    parser.add_argument("--adaptive-max", type=int, default=32,
                        help="runs of each design / bayesopt search")
    parser.add_argument("--mixmin-seeds", default=None,
                        help="training seeds of MixMin's per-domain proxies (default: --seeds)")
    parser.add_argument("--eval-seeds", default="1000,1001",
                        help="training seeds of the evaluation runs")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--no-eval-best", action="store_true",
                        help="do not retrain the best observed run's mixture with the eval seeds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", default=str(CACHE))
    parser.add_argument("--quick", action="store_true",
                        help="plumbing check: 40 steps, 1 seed, 8 runs per strategy, "
                             "budgets 6 and 8 (default --out strategy_builtin_quick.json)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.seeds, args.random_max, args.adaptive_max = 40, "0", "8", 8
        args.budgets = ",".join(map(str, QUICK_BUDGETS))
    name = "strategy_builtin_quick.json" if args.quick else "strategy_builtin.json"
    args.out = args.out or RESULTS / name
    return args


def main() -> None:
    args = parse_args()
    seeds, budgets, eval_seeds = _ints(args.seeds), _ints(args.budgets), _ints(args.eval_seeds)
    random_max = _ints(args.random_max)
    random_max = random_max * len(seeds) if len(random_max) == 1 else random_max
    if len(random_max) != len(seeds):
        raise SystemExit("--random-max: give one value, or one per seed of --seeds")
    mixmin_seeds = _ints(args.mixmin_seeds) if args.mixmin_seeds else seeds
    started = time.monotonic()

    cfg = load_config(args.config)
    prepared = prepare(cfg, log=lambda line: None)
    training = dataclasses.replace(cfg.training.with_steps(args.steps),
                                   eval_every=args.eval_every or args.steps)
    box = build_constraints(cfg.domain_names, cfg.search, available_tokens=prepared.train_tokens,
                            prior=prepared.prior)
    trainer = Trainer(cfg, args.config, prepared, training, Path(args.cache), args.workers)
    print(f"{trainer.elapsed()} {len(trainer.cache)} cached runs in {args.cache}; "
          f"proxies of {training.steps} steps", flush=True)
    try:
        refs = references(cfg, box)
        evaluate(trainer, list(refs.values()), eval_seeds)
        print(f"{trainer.elapsed()} references: " + ", ".join(
            f"{n} {r['eval_mean']:.4f}" for n, r in refs.items()), flush=True)
        mixmins = [mixmin_proposal(cfg, box, trainer, s) for s in mixmin_seeds]
        evaluate(trainer, [m for m in mixmins if "mixture" in m], eval_seeds)

        searches = {}
        for seed, count in zip(seeds, random_max):
            searches["random", seed] = random_runs(cfg, prepared, trainer, seed, count)
        for strategy in ADAPTIVE:
            for seed in seeds:
                searches[strategy, seed] = adaptive_runs(strategy, box, trainer, seed,
                                                         args.adaptive_max)

        results = []
        for label, strategy, own_fit in PROPOSERS:
            proposer = strategy_config(args.config, strategy, own_fit)
            for seed in seeds:
                X, records = searches[strategy, seed]
                for budget in [b for b in budgets if b <= len(records)]:
                    proposal = propose_from_runs(proposer, prepared, X[:budget],
                                                 records[:budget])
                    results.append({"strategy": label, "seed": seed, "budget": budget,
                                    "proposal": proposal})
                    print(f"{trainer.elapsed()} {label} seed {seed} N={budget}: proposal by "
                          f"{proposal['regressor']} ({proposal['search_method']}), predicted "
                          f"{proposal['predicted_target_loss']:.4f}", flush=True)
        entries = [r["proposal"] for r in results]
        if not args.no_eval_best:
            entries += [r["proposal"]["best_observed"] for r in results]
        evaluate(trainer, entries, eval_seeds)
    finally:
        trainer.close()

    summary = summarise(results, mixmins, refs)
    out = {"benchmark": "target loss of the proposed mixture against proxy runs spent, "
                        "built-in corpus (jobs/configs/demo.yaml)",
           "config": relative(args.config),
           "settings": {"steps": training.steps, "warmup_steps": training.warmup_steps,
                        "eval_every": training.eval_every, "batch_size": training.batch_size,
                        "tokens_per_run": training.tokens_per_run(cfg.model.seq_len),
                        "model": dataclasses.asdict(cfg.model), "seeds": seeds,
                        "random_max": random_max, "adaptive_max": args.adaptive_max,
                        "adaptive_batch": BATCH, "adaptive_initial": INITIAL,
                        "mixmin_seeds": mixmin_seeds, "eval_seeds": eval_seeds,
                        "budgets": budgets, "fit": dataclasses.asdict(cfg.fit),
                        "search": dataclasses.asdict(cfg.search), "quick": args.quick,
                        "workers": args.workers, "settings_hash": trainer.settings_hash},
           "box": box.to_dict(),
           "references": refs, "mixmin": mixmins, "results": results, "summary": summary,
           "runs": {"trained_now": trainer.trained, "reused_from_cache": trainer.reused},
           "wall_seconds": time.monotonic() - started,
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count()}}
    print(table(summary))
    print(f"{trainer.trained} proxies trained, {trainer.reused} reused")
    write_record(args.out, out, seconds=out["wall_seconds"])


if __name__ == "__main__":
    main()
