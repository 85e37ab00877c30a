"""How many proxy runs does each search strategy need? A response surface from RegMix's runs.

A LightGBM regressor fitted on all 768 of RegMix's published 1M proxy runs (512 train +
256 test, target Pile-CC validation loss) stands in for training a proxy: "running" a
mixture means evaluating this surface (plus Gaussian noise with ``--noise``; RegMix
publishes no seed repeats, so the default is none). Its optimum is the best of 200k
candidate mixtures and the 768 observed ones.

Strategies (all searched by :class:`raymix.adaptive.SimplexSearch` in batches of 8 on the
plain simplex, with RegMix's token prior):

``random``
    RegMix's Dirichlet draws, no feedback.
``bayesopt``
    8 random draws, then GP lower-confidence-bound batches (GP-BUCB).
``design``
    An 8-point space-filling design, then the same batches.

Each search runs once to the largest budget; a budget N uses its first N runs (the
search does not know its budget, so this is the same as stopping it at N). The proposal
rule is the same for every strategy: raymix's GP (``make_regressor("gp")``, the best
regressor on these runs in bench_regmix.py) is fitted to the N runs and its argmin over
20k candidates plus the N runs is proposed; the table reports the SURFACE value there.
The best observed run's surface value is recorded too.

    python bench/bench_search_strategies.py [--reference DIR] [--seeds 10] [--noise 0]

Writes bench/results/search_strategies.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_regmix import REFERENCE, TARGET, load  # noqa: E402

from raymix.adaptive import STRATEGIES, SimplexSearch  # noqa: E402
from raymix.mixtures import sample_candidates  # noqa: E402
from raymix.regressors import make_regressor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# RegMix's token prior, in the CSV's column order (reference/regmix/README.md)
PRIOR = [.1133, .0796, .0039, .1854, .0511, .0160, .1018, .0037, .0665, .0018, .0271, .2369,
         .0118, .0079, .0080, .0388, .0464]
BUDGETS = (16, 32, 64, 128)
BATCH = 8
OPTIMUM_CANDIDATES = 200_000
PROPOSAL_CANDIDATES = 20_000


def surface(reference: Path):
    """The stand-in for training: LightGBM on all runs; its domains, optimum and value."""
    X_train, L_train, X_test, L_test = load(reference)
    X = np.vstack([X_train.to_numpy(float), X_test.to_numpy(float)])
    y = np.concatenate([L_train[TARGET].to_numpy(float), L_test[TARGET].to_numpy(float)])
    model = make_regressor("lightgbm", seed=0).fit(X, y)
    k = X.shape[1]
    candidates = np.vstack([sample_candidates(OPTIMUM_CANDIDATES, np.array(PRIOR),
                                              lower=np.zeros(k), upper=np.ones(k), rng=0), X])
    values = model.predict(candidates)
    best = int(np.argmin(values))
    return model, list(X_train.columns), candidates[best], float(values[best]), y


def search_runs(strategy: str, domains, model, seed: int, noise: float) -> tuple:
    """Run one search to the largest budget; its mixtures and noisy losses, in order."""
    search = SimplexSearch(domains, strategy=strategy, initial=BATCH, seed=seed, prior=PRIOR)
    rng = np.random.default_rng([seed, 7])
    while len(search.losses) < max(BUDGETS):
        X = search.suggest(BATCH)
        search.observe(X, model.predict(X) + noise * rng.standard_normal(len(X)))
    return np.array(search.mixtures), np.array(search.losses)


def propose(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """The GP's argmin over fresh candidates and the runs themselves."""
    gp = make_regressor("gp", seed=seed).fit(X, y)
    k = X.shape[1]
    candidates = np.vstack([sample_candidates(PROPOSAL_CANDIDATES, np.array(PRIOR),
                                              lower=np.zeros(k), upper=np.ones(k),
                                              rng=[seed, 11]), X])
    return candidates[int(np.argmin(gp.predict(candidates)))]


def summarise(values: list[float], optimum: float) -> dict:
    v = np.array(values)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "gap_mean": float(v.mean() - optimum), "per_seed": v.tolist()}


def reaching(results: dict, rule: str) -> tuple[float, dict]:
    """Random's mean at the largest budget, and each strategy's smallest budget that matches it."""
    target = results["random"][str(max(BUDGETS))][rule]["mean"]
    return target, {s: next((b for b in BUDGETS if results[s][str(b)][rule]["mean"] <= target),
                            None) for s in results}


def print_table(title: str, results: dict, rule: str, reaches: dict) -> None:
    print(f"\n{title}")
    print(f"{'strategy':10s}" + "".join(f"{f'N={b}':>18s}" for b in BUDGETS)
          + f"{'gap @32':>10s}{'reaches random@128':>20s}")
    for s in results:
        cells = "".join(f"{results[s][str(b)][rule]['mean']:.4f} ±"
                        f"{results[s][str(b)][rule]['std']:.4f}".rjust(18) for b in BUDGETS)
        print(f"{s:10s}{cells}{results[s]['32'][rule]['gap_mean']:10.4f}"
              f"{str(reaches[s]):>20s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "search_strategies.json")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.0,
                        help="std of Gaussian noise added to each run's loss")
    args = parser.parse_args()

    start = time.perf_counter()
    with threadpool_limits(1):  # 2 shared cores; the GP and LightGBM are single-threaded
        model, domains, optimum_w, optimum, observed = surface(args.reference)
        results = {}
        for strategy in STRATEGIES:
            proposal = {b: [] for b in BUDGETS}
            best_run = {b: [] for b in BUDGETS}
            for seed in range(args.seeds):
                X, y = search_runs(strategy, domains, model, seed, args.noise)
                for b in BUDGETS:
                    proposal[b].append(float(model.predict(propose(X[:b], y[:b], seed)[None])[0]))
                    best_run[b].append(float(model.predict(X[:b][np.argmin(y[:b])][None])[0]))
            results[strategy] = {str(b): {"proposal": summarise(proposal[b], optimum),
                                          "best_run": summarise(best_run[b], optimum)}
                                 for b in BUDGETS}
            print(f"{strategy}: done at {time.perf_counter() - start:.0f} s", flush=True)

    reaches = {rule: reaching(results, rule) for rule in ("proposal", "best_run")}
    print(f"\nsurface optimum {optimum:.4f} (best of {OPTIMUM_CANDIDATES:,} candidates + runs; "
          f"best published run {observed.min():.4f}); mean ± std over {args.seeds} seeds")
    print_table("surface value at the GP proposal (the rule for every strategy)", results,
                "proposal", reaches["proposal"][1])
    print_table("surface value of the best observed run (for reference)", results,
                "best_run", reaches["best_run"][1])

    record = {
        "benchmark": "surface value at each search strategy's proposal, by number of runs",
        "surface": "LightGBM (raymix lightgbm settings) fitted on all 768 RegMix 1M runs, "
                   f"target {TARGET}",
        "optimum": {"value": optimum, "mixture": dict(zip(domains, optimum_w.tolist())),
                    "how": f"best of {OPTIMUM_CANDIDATES} sample_candidates draws "
                           "(RegMix prior, strengths 0.1-100, 25% uniform) and the 768 runs"},
        "best_published_run": float(observed.min()),
        "settings": {"budgets": list(BUDGETS), "batch": BATCH, "initial": BATCH,
                     "seeds": args.seeds, "noise_std": args.noise, "prior": PRIOR,
                     "box": "plain simplex",
                     "proposal": f"raymix gp fitted on the first N runs, argmin over "
                                 f"{PROPOSAL_CANDIDATES} candidates plus the runs (same rule "
                                 f"for every strategy)",
                     "budgets_from": "one search per seed to the largest budget; budget N "
                                     "uses its first N runs",
                     "threads": 1,
                     "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)"},
        "metrics": "proposal: surface value at the proposed mixture; best_run: surface value "
                   "of the run with the lowest observed loss; mean, std (ddof=1) and mean gap "
                   "to the optimum over seeds",
        "reaches_random_128": {rule: {"target": t, "smallest_budget": r}
                               for rule, (t, r) in reaches.items()},
        "results": results,
        "total_s": time.perf_counter() - start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    print(f"\nwrote {args.out} ({record['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
