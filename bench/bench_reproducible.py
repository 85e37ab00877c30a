"""What reproducible adaptive sweeps cost: synchronous batches against asynchronous suggestions.

An adaptive sweep (``mixtures.strategy: bayesopt``) either suggests each mixture when a trial
slot frees (``mixtures.batch_size: null``, asynchronous: no slot waits, but the mixtures
depend on which results were in, so on the cluster) or in synchronous batches
(``batch_size: B``: each batch made once every run before it is in, so the same config
gives the same mixtures anywhere; slots wait while a batch's last runs finish).

A simulated cluster of S slots runs :class:`raymix.sweep.strategy.SweepStrategy` itself (the
aggregator's object, with its ``strategy.json``): a suggestion whenever a slot is free and
the strategy has one, and each run lasts a random time (log-normal, mean 1, ``--spread``
its sigma: proxies of one size on shared machines). "Training" a mixture is evaluating
RegMix's response surface (LightGBM on RegMix's 768 published 1M runs, Pile-CC loss; see
``bench/bench_strategy_surface.py``). Per mode, slots and seed:

- ``idle``: the share of slot time spent waiting (1 - busy / (S x makespan));
- ``makespan``: the simulated wall time, in mean run durations;
- ``best``: the surface loss of the best run (the surface's optimum is printed);
- ``same_mixtures``: whether a second simulation with other run durations (another arrival
  order) and other slots (S=1 against S) suggested bit-identical mixtures.

    python bench/bench_reproducible.py [--reference DIR] [--seeds 3] [--count 32]

Writes bench/results/reproducible.json.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from common import REGMIX_PRIOR, bench_parser, machine, regmix_surface, write_record

from raymix.sweep.strategy import SweepStrategy


def simulate(settings: dict, count: int, model, slots: int, spread: float,
             order_seed: int) -> dict:
    """One adaptive sweep on a simulated cluster; its mixtures, losses, idle share, makespan."""
    durations = np.random.default_rng(order_seed)
    with tempfile.TemporaryDirectory() as folder:
        strategy = SweepStrategy(Path(folder), settings, count, {})
        now, busy, training = 0.0, 0.0, []  # training: (end time, suggestion)
        while True:
            while len(training) < slots:
                run = strategy.suggest()
                if run is None or run.wait:
                    break
                length = float(durations.lognormal(-spread**2 / 2, spread))
                busy += length
                training.append((now + length, run))
            if not training:
                break
            training.sort(key=lambda item: item[0])
            now, done = training.pop(0)
            w = np.array([done.mixture[d] for d in settings["domains"]])
            strategy.observe(_record(done, float(model.predict(w[None])[0])))
        X = np.array([[s.mixture[d] for d in settings["domains"]] for s in strategy.suggestions()])
    return {"mixtures": X, "best": float(model.predict(X).min()),
            "idle": 1 - busy / (slots * now), "makespan": now}


def _record(suggestion, loss: float):
    from raymix.runs import Evaluation, RunRecord

    return RunRecord(run_id=suggestion.run_id, status="ok", mixture=suggestion.mixture, seed=0,
                     evaluations=[Evaluation(step=1, tokens=1, train_loss=loss, losses={},
                                             target_loss=loss)])


def main() -> None:
    parser = bench_parser(__doc__, out="reproducible.json", reference=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--initial", type=int, default=8)
    parser.add_argument("--slots", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--spread", type=float, default=0.2)
    args = parser.parse_args()

    started = time.perf_counter()
    model, domains, _, optimum, _ = regmix_surface(args.reference)
    k = len(domains)
    rows = []
    for slots in args.slots:
        for batch in (None, slots // 2, slots):
            mode = "asynchronous" if batch is None else f"batches of {batch}"
            for seed in range(args.seeds):
                settings = {"domains": domains, "lower": [0.0] * k, "upper": [1.0] * k,
                            "prior": REGMIX_PRIOR, "strategy": "bayesopt",
                            "initial": args.initial, "seed": seed, "exploration": 1.0,
                            "batch_size": batch}
                first = simulate(settings, args.count, model, slots, args.spread, 1000 + seed)
                other = simulate(settings, args.count, model, 1, args.spread, 2000 + seed)
                same = bool(np.array_equal(first["mixtures"], other["mixtures"]))
                rows.append({"slots": slots, "batch_size": batch, "seed": seed,
                             "idle": first["idle"], "makespan": first["makespan"],
                             "best": first["best"], "same_mixtures_on_1_slot": same})
                print(f"S={slots} {mode:>14} seed {seed}: idle {first['idle']:.1%}, makespan "
                      f"{first['makespan']:.2f}, best {first['best']:.4f}, same on 1 slot: "
                      f"{same}", flush=True)
    summary = []
    for slots in args.slots:
        for batch in (None, slots // 2, slots):
            mine = [r for r in rows if r["slots"] == slots and r["batch_size"] == batch]
            summary.append({"slots": slots, "batch_size": batch,
                            "idle_mean": float(np.mean([r["idle"] for r in mine])),
                            "makespan_mean": float(np.mean([r["makespan"] for r in mine])),
                            "best_mean": float(np.mean([r["best"] for r in mine])),
                            "reproducible": all(r["same_mixtures_on_1_slot"] for r in mine)})
    for row in summary:
        print(f"S={row['slots']} batch {row['batch_size']}: idle {row['idle_mean']:.1%}, "
              f"makespan {row['makespan_mean']:.2f}, best {row['best_mean']:.4f} (optimum "
              f"{optimum:.4f}), reproducible {row['reproducible']}")
    record = {"bench": "reproducible", "machine": machine(),
              "what": "adaptive sweeps (bayesopt) on a simulated cluster, RegMix's response "
                      "surface as the loss: asynchronous suggestions against synchronous "
                      "batches; idle slot share, makespan (mean run durations), best run's "
                      "loss, and whether the mixtures were bit-identical on 1 slot",
              "count": args.count, "initial": args.initial, "spread": args.spread,
              "surface_optimum": optimum, "summary": summary, "rows": rows,
              "total_s": time.perf_counter() - started}
    write_record(args.out, record, seconds=record["total_s"])


if __name__ == "__main__":
    main()
