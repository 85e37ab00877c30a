"""Does a finished sweep's proposal still win at a larger scale? Train the contenders there.

After ``make demo`` (or ``make adaptive-demo``: ``--config jobs/configs/adaptive.yaml``),
trains at 4x the proxy's non-embedding parameters (hidden and intermediate x2) and 2x its
tokens (steps x2, warmup and evaluations along):

- with 3 seeds each: the proposal, the best observed proxy run, uniform,
  token-proportional, and two simple guesses: even splits of the two and of the three
  domains that the sweep's 5 best runs weigh most;
- with 1 seed each: 24 random mixtures (Dirichlet(1), seed 0).

The seed noise is the pooled seed-to-seed std of the 3-seed mixtures; a gap counts when
above 2 standard errors of the difference. Reported: the measured rank of the proposal,
its gap to the best mixture and to the best observed run, each against that noise.
Trials run in 2 processes of 1 thread (no Ray: the trainer alone).

    python bench/bench_proposal_at_scale.py [--config jobs/configs/demo.yaml] [--out PATH]

Writes bench/results/proposal_at_scale_<config name>.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from common import RESULTS, bench_parser, machine, proxy_setup, relative, write_record

from raymix.regression.noise import NOISE_SIGMAS, gap_se, seed_noise
from raymix.runs import SweepLayout
from raymix.training import non_embedding_params

SEEDS = 3
RANDOM_MIXTURES = 24
_DATA = {}  # set before the worker processes fork: they read it, never pickle it


def _train(job: tuple[str, dict, int]) -> tuple[str, int, float, float]:
    import torch

    from raymix.training.loop import train_proxy

    torch.set_num_threads(1)
    name, mixture, seed = job
    started = time.perf_counter()
    record = train_proxy(mixture, _DATA["data"], _DATA["model"],
                         dataclasses.replace(_DATA["training"], seed=seed),
                         device=torch.device("cpu"))
    return name, seed, record.final_target_loss, time.perf_counter() - started


def at_4x(cfg, steps: int):
    """The proxy's model at 4x its non-embedding parameters (hidden and intermediate x2)
    and its training config for ``steps`` steps: the size the benches measure answers at."""
    model = dataclasses.replace(cfg.model, hidden=2 * cfg.model.hidden,
                                intermediate=2 * cfg.model.intermediate)
    return model, cfg.training.with_steps(steps)


def train_at_scale(data, model, training, jobs: list[tuple[str, dict, int]], workers: int
                   ) -> tuple[dict[str, list[float]], list[float]]:
    """Train each ``(name, mixture, seed)`` job at ``model`` / ``training`` in ``workers``
    forked processes; returns the target losses by name and each run's seconds."""
    _DATA.update(data=data, model=model, training=training)
    print(f"{len(jobs)} runs at hidden {model.hidden}, {training.steps} steps "
          f"({workers} processes)", flush=True)
    losses: dict[str, list[float]] = {}
    seconds = []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as ex:
        for name, seed, loss, took in ex.map(_train, jobs):
            losses.setdefault(name, []).append(loss)
            seconds.append(took)
            print(f"  {name} seed {seed}: {loss:.4f} ({took:.0f} s)", flush=True)
    return losses, seconds


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (NaN for fewer than 2 values)."""
    se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
    return float(np.mean(values)), se


def compare_arms(proposals: dict[tuple[str, int], dict[str, float]],
                 pairs: list[tuple[str, str]], config, steps: int, seeds: int,
                 workers: int) -> dict:
    """Arms of sweeps, each sweep's proposal trained at 4x (:func:`at_4x`, ``steps`` steps,
    ``seeds`` seeds): per arm the mean over its sweeps of each proposal's mean target
    loss, +- the standard error over sweeps; and for each ``(a, b)`` of ``pairs``, ``b - a``
    with its standard error (beyond noise past :data:`NOISE_SIGMAS` of them).

    ``proposals`` maps ``(arm, sweep seed)`` to the mixture to train; ``config`` is one
    sweep's config (its data and proxy). Returns ``arms``, ``differences`` (keyed
    ``"b - a"``), ``scale``, ``proxy_params``, ``seed_noise_std_at_scale`` and the
    ``losses`` by ``<arm>-<sweep seed>``.
    """
    cfg, _, data = proxy_setup(config)
    model, training = at_4x(cfg, steps)
    jobs = [(f"{arm}-{seed}", mixture, 1000 + s)
            for (arm, seed), mixture in proposals.items() for s in range(seeds)]
    losses, _ = train_at_scale(data, model, training, jobs, workers)
    arms = {}
    for arm in dict.fromkeys(a for a, _ in proposals):
        means = [float(np.mean(losses[f"{a}-{seed}"])) for a, seed in proposals if a == arm]
        mean, se = mean_se(means)
        arms[arm] = {"mean": mean, "se": se, "sweep_means": means}
    differences = {}
    for a, b in pairs:
        gap, se = arms[b]["mean"] - arms[a]["mean"], math.hypot(arms[b]["se"], arms[a]["se"])
        differences[f"{b} - {a}"] = {"difference": gap, "se": se,
                                     "beyond_noise": bool(abs(gap) > NOISE_SIGMAS * se)}
    return {"arms": arms, "differences": differences,
            "scale": {"params": non_embedding_params(model), "steps": training.steps,
                      "hidden": model.hidden},
            "proxy_params": non_embedding_params(cfg.model),
            "seed_noise_std_at_scale": seed_noise(losses.values()), "losses": losses}


def arms_table(compared: dict) -> str:
    """The markdown table of docs/benchmarks.md for :func:`compare_arms`' result."""
    scale = compared["scale"]
    lines = [f"| arm | sweeps | target loss at 4x ({scale['params']:,} params, "
             f"{scale['steps']} steps), mean ± SE | each sweep's proposal |",
             "|---|---|---|---|"]
    for name, arm in compared["arms"].items():
        each = ", ".join(f"{m:.4f}" for m in arm["sweep_means"])
        lines.append(f"| {name} | {len(arm['sweep_means'])} | {arm['mean']:.4f} ± "
                     f"{arm['se']:.4f} | {each} |")
    for name, diff in compared["differences"].items():
        lines.append(f"| {name} | | {diff['difference']:+.4f} ± {diff['se']:.4f} "
                     f"| beyond {NOISE_SIGMAS:g} SE: {diff['beyond_noise']} |")
    return "\n".join(lines)


def contenders(cfg, proposal: dict) -> dict[str, dict[str, float]]:
    """The mixtures to train, by name (the 3-seed ones first)."""
    domains = cfg.domain_names
    layout = SweepLayout(cfg.storage_path)
    runs = pd.read_csv(layout.mixtures).set_index("run")
    loss = pd.read_csv(layout.metrics).set_index("run")[f"{cfg.target.name}_loss"]
    best5 = runs.loc[loss.loc[runs.index].nsmallest(5).index, domains].mean()
    leaning = list(best5.sort_values(ascending=False).index)
    out = {"proposal": proposal["mixture"],
           "best_observed": proposal["baselines"]["best_observed"]["mixture"],
           "uniform": proposal["baselines"]["uniform"]["mixture"],
           "token_proportional": proposal["baselines"]["token_proportional"]["mixture"]}
    for k in (2, 3):
        out[f"even_{'_'.join(leaning[:k])}"] = {d: 1 / k for d in leaning[:k]}
    rng = np.random.default_rng(0)
    for i, w in enumerate(rng.dirichlet(np.ones(len(domains)), size=RANDOM_MIXTURES)):
        out[f"random_{i:02d}"] = dict(zip(domains, w))
    return {name: {d: float(m.get(d, 0.0)) for d in domains} for name, m in out.items()}


def main() -> None:
    parser = bench_parser(__doc__, out=None, config=True)
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args()
    cfg, prepared, data = proxy_setup(args.config)
    layout = SweepLayout(cfg.storage_path)
    if not layout.proposal.is_file():
        raise SystemExit(f"no {layout.proposal}: run the sweep of {args.config} first")
    proposal = json.loads(layout.proposal.read_text())
    model, training = at_4x(cfg, 2 * cfg.training.steps)
    mixtures = contenders(cfg, proposal)
    jobs = [(name, m, cfg.training.seed + s) for name, m in mixtures.items()
            for s in range(SEEDS if not name.startswith("random_") else 1)]
    started = time.perf_counter()
    losses, seconds = train_at_scale(data, model, training, jobs, args.workers)
    result = summarise(mixtures, losses, proposal)
    from raymix.training import non_embedding_params

    record = {
        "benchmark": "the sweep's proposal against baselines, guesses and random mixtures, "
                     "trained at 4x the proxy's parameters and 2x its tokens",
        "config": relative(args.config), "machine": machine(),
        "proxy": {"params": non_embedding_params(cfg.model),
                  "steps": cfg.training.steps},
        "scale": {"params": non_embedding_params(model),
                  "steps": training.steps, "hidden": model.hidden},
        "proposal_source": ("confirmation round: " + proposal["confirmation"]["winner"]
                            if proposal.get("confirmation") else "the fit's search"),
        **result,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "mean_run_seconds": round(float(np.mean(seconds)), 1),
    }
    print(json.dumps({k: v for k, v in record.items() if k != "mixtures"}, indent=1))
    write_record(args.out or RESULTS / f"proposal_at_scale_{cfg.name}.json", record)


def summarise(mixtures: dict, losses: dict[str, list[float]], proposal: dict) -> dict:
    noise = seed_noise(losses.values())
    means = {name: float(np.mean(v)) for name, v in losses.items()}
    order = sorted(means, key=means.get)
    mine = losses["proposal"]

    def gap(name: str) -> dict:
        se = gap_se(noise, len(losses[name]), len(mine))
        diff = means["proposal"] - means[name]  # > 0: the proposal is worse
        return {"gap": diff, "se": se, "proposal_worse_beyond_noise":
                bool(diff > NOISE_SIGMAS * se), "proposal_better_beyond_noise":
                bool(-diff > NOISE_SIGMAS * se)}

    best_other = next(n for n in order if n != "proposal")
    return {
        "noise_std": noise, "rank_of_proposal": order.index("proposal") + 1,
        "of": len(order), "order": order[:10],
        "vs_best_other": {"name": best_other, **gap(best_other)},
        "vs_best_observed": gap("best_observed"),
        "beaten_beyond_noise_by": [n for n in order if n != "proposal"
                                   and gap(n)["proposal_worse_beyond_noise"]],
        "mixtures": {name: {"mixture": mixtures[name], "losses": losses[name],
                            "mean": means[name]} for name in order},
    }


if __name__ == "__main__":
    main()
