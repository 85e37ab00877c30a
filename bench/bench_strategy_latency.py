"""How long does an adaptive sweep's aggregator take to make one suggestion, by runs so far?

In a ``bayesopt`` or ``design`` sweep the aggregator actor answers every free trial slot
with a suggestion (:mod:`raymix.sweep.strategy`): it refits the sampler's Gaussian process
on every stored run (once per new result), scores the candidates, picks by the believer's
lower confidence bound with the runs still training believed, and saves ``strategy.json``.
While it does, the results that other trials report wait. This bench times that step
against the number of runs already observed, so an operator knows how fast a cluster
may ask before the search, not the proxies, sets the pace.

Setup: RegMix's 17 domains and token prior; the observed runs are RegMix-like draws,
scored by the response surface that ``bench_strategy_surface.py`` uses too
(``common.regmix_surface``: LightGBM on RegMix's 768 published runs); ``--pending`` runs
are in flight at each suggestion. Each size times ``--repeats`` suggestions of each kind,
each after one new observation: with a full refit of the GP's hyperparameters, and keeping
those of the last refit (which bayesopt does past
``raymix.mixtures.strategies.bayesopt.REFIT_RUNS``
runs until they grow by ``REFIT_GROWTH``).

    python bench/bench_strategy_latency.py [--reference DIR] [--sizes 32 128 256 512 1024]

Writes bench/results/strategy_latency.json and prints one line per size.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
from common import REGMIX_PRIOR, bench_parser, regmix_surface, write_record
from threadpoolctl import threadpool_limits

from raymix.mixtures import make_strategy
from raymix.mixtures.strategies.bayesopt import REFIT_GROWTH, REFIT_RUNS
from raymix.mixtures.strategies.random import sample_regmix


def timed_suggestions(domains, model, observed: int, pending: int, repeats: int,
                      seed: int) -> dict:
    """Seconds per suggestion with ``observed`` runs stored, each right after a new result.

    Two kinds alternate: a full refit of the GP's hyperparameters (what every suggestion
    costs up to ``REFIT_RUNS`` runs, and one in about ``REFIT_GROWTH - 1`` of the new
    runs beyond), and a GP conditioned on all runs with the last hyperparameters.
    """
    search = make_strategy("bayesopt", domains, initial=8, seed=seed, prior=REGMIX_PRIOR)
    rng = np.random.default_rng(seed)
    runs = sample_regmix(observed + 2 * repeats, search.box, rng)
    losses = model.predict(runs)
    search.suggested.extend(row.copy() for row in runs[:observed])
    search.observe(runs[:observed], losses[:observed])
    search.suggest(pending)  # runs in flight, believed at every suggestion; a full fit
    times = {"refit": [], "kept": []}
    for i in range(2 * repeats):
        kind = "refit" if i % 2 else "kept"
        run = runs[observed + i]
        search.suggested.append(run.copy())
        search.observe(run, [losses[observed + i]])  # a new result: the next suggestion refits
        if kind == "refit" or observed <= REFIT_RUNS:
            search.gp_theta = None
        start = time.perf_counter()
        search.suggest(1)
        times[kind].append(time.perf_counter() - start)
    start = time.perf_counter()
    json.dumps(search.to_dict())  # what SweepStrategy.save writes, less the disk
    return {"observed": observed, "pending": pending, "refit_s": times["refit"],
            "kept_s": times["kept"], "median_refit_s": float(np.median(times["refit"])),
            "median_kept_s": float(np.median(times["kept"])),
            "state_json_s": time.perf_counter() - start}


def main() -> None:
    parser = bench_parser(__doc__, out="strategy_latency.json", reference=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 256, 512, 1024])
    parser.add_argument("--pending", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    model, domains, _, _, _ = regmix_surface(args.reference)
    rows = []
    with threadpool_limits(1):  # the aggregator actor has one CPU
        for size in args.sizes:
            row = timed_suggestions(domains, model, size, args.pending, args.repeats, args.seed)
            rows.append(row)
            print(f"{size:5d} runs observed, {args.pending} in flight: a suggestion takes "
                  f"{row['median_refit_s']:.2f} s refitting the GP, "
                  f"{row['median_kept_s']:.2f} s keeping its hyperparameters "
                  f"(medians of {args.repeats}); search state to JSON "
                  f"{row['state_json_s'] * 1000:.1f} ms", flush=True)
    record = {
        "bench": "strategy_latency",
        "what": "seconds for bayesopt's suggest(1) right after a new observation, with "
                "a full refit of the GP's hyperparameters or keeping them (what a search "
                "does beyond REFIT_RUNS runs between refits), by runs observed; one thread, "
                "as in the aggregator actor",
        "refit_runs": REFIT_RUNS, "refit_growth": REFIT_GROWTH,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "domains": len(domains),
        "rows": rows,
        "total_s": time.perf_counter() - start,
    }
    write_record(args.out, record, seconds=record["total_s"])


if __name__ == "__main__":
    main()
