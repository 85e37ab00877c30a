"""Cost and quality of one proposal per objective, on RegMix's published runs.

Each objective is a fit and a search (:func:`raymix.proposal.propose_objectives`). The
objectives are each of RegMix's Pile validation losses alone, and their plain average
(the usual target); the search keeps to RegMix's token prior as its centre. Two run sets:

- ``demo-sized``: RegMix's first 48 training runs (the demo sweep's mixtures.count) and
  its first 6 loss columns (the demo's 6 domains): 7 objectives;
- ``regmix-512``: all 512 training runs (17 domains) and all 13 loss columns: 14
  objectives.

Three ways are timed in one run: ``usual`` (one fit with every regressor and one search,
for the average only: what ``raymix propose`` costs without ``--per-objective``), and on
top of it, as ``raymix propose --per-objective`` does (the average reuses the usual
fit): ``reuse`` (raymix's default: the regressors chosen on the average, every other
objective cross-validates only that choice) and ``reselect`` (every regressor
cross-validated on every objective). Quality: each objective's fit scored on
RegMix's 256 held-out test runs (Spearman of predicted vs measured), and the trade-off
matrix's excess (how much worse each objective's mixture is on the others). No bootstrap
(``search.uncertainty: false``): it is the usual proposal's, and the same in every way.

    OMP_NUM_THREADS=1 python bench/bench_objectives.py [--reference DIR] [--skip-reselect-512]

Writes bench/results/objectives.json.
"""

from __future__ import annotations

import time

import numpy as np
from common import REGMIX_PRIOR, bench_parser, load_regmix, machine, timed, write_record
from scipy.stats import spearmanr

from raymix.config import FitConfig, SearchConfig
from raymix.proposal import propose_mixture, propose_objectives
from raymix.proposal.objectives import default_objectives

RUN_SETS = {"demo-sized": (48, 6), "regmix-512": (512, 13)}  # runs, loss columns


def short(column: str) -> str:
    return column.removeprefix("metric/the_pile_").removesuffix("_val_loss")


def run_set(reference, runs: int, columns: int):
    """The runs, their metrics (short names) and RegMix's held-out test runs."""
    mixtures, losses = load_regmix(reference, "train")
    test_mixtures, test_losses = load_regmix(reference, "test")
    losses = losses.iloc[:, :columns].rename(columns=short)
    test_losses = test_losses.iloc[:, :columns].rename(columns=short)
    return (mixtures.iloc[:runs], losses.iloc[:runs], test_mixtures.to_numpy(float),
            test_losses)


def held_out(result, objectives, test_X, test_losses) -> dict[str, float]:
    """Each objective's fit: Spearman on the test runs."""
    out = {}
    for name, weights in objectives.items():
        actual = sum(test_losses[c] * w / sum(weights.values()) for c, w in weights.items())
        predicted = result.proposals[name].fit.predict(test_X)[0]
        out[name] = float(spearmanr(predicted, actual).statistic)
    return out


def tradeoff_summary(result, average: str) -> dict[str, float]:
    t = result.tradeoff
    off = ~np.eye(len(t.objectives), dtype=bool)
    average = t.objectives.index(average)
    singles = [j for j in range(len(t.objectives)) if j != average]
    return {"mean_excess_percent": float(t.excess_percent[off].mean()),
            "max_excess_percent": float(t.excess_percent[off].max()),
            "average_mixture_worst_excess_percent":
                float(t.excess_percent[average, singles].max()),
            "average_mixture_mean_excess_percent":
                float(t.excess_percent[average, singles].mean()),
            "missed": len(t.missed())}


def measure(name: str, reference, reselect: bool) -> dict:
    runs, columns = RUN_SETS[name]
    mixtures, metrics, test_X, test_losses = run_set(reference, runs, columns)
    domains = list(mixtures.columns)
    prior = dict(zip(domains, REGMIX_PRIOR))
    search = SearchConfig(uncertainty=False)
    fit = FitConfig()
    objectives = default_objectives(dict.fromkeys(metrics.columns, 1.0))
    average = list(objectives)[-1]
    y = sum(metrics[c] for c in metrics.columns) / len(metrics.columns)
    record = {"runs": runs, "domains": len(domains), "objectives": len(objectives),
              "regressors": list(fit.regressors)}
    walls, cpus, usual = timed(lambda: propose_mixture(mixtures, y, prior=prior,
                                                       fit_config=fit, search=search))
    record["usual"] = {"wall_s": walls[0], "cpu_s": cpus[0],
                       "regressor": usual.fit.chosen.name}
    ways = ("reuse", "reselect") if reselect else ("reuse",)
    for way in ways:
        print(f"{name}: {way} ...", flush=True)
        walls, cpus, result = timed(lambda w=way: propose_objectives(
            mixtures, metrics, objectives, prior=prior, fit_config=fit, search=search,
            fitted={average: usual.fit}, reselect=w == "reselect"))
        spearman = held_out(result, objectives, test_X, test_losses)
        record[way] = {
            "wall_s": walls[0], "cpu_s": cpus[0],
            # the workflow reuses the usual proposal's fit for the average, as here
            "total_times_usual": (walls[0] + record["usual"]["wall_s"])
            / record["usual"]["wall_s"],
            "regressors": {n: p.fit.chosen.name for n, p in result.proposals.items()},
            "test_spearman": spearman,
            "test_spearman_mean_single": float(np.mean(
                [v for n, v in spearman.items() if n != average])),
            "tradeoff": tradeoff_summary(result, average),
            "average_mixture_top": dict(sorted(
                result.proposals[average].mixture.items(), key=lambda kv: -kv[1])[:4]),
        }
        print(f"{name}: {way} {walls[0]:.0f} s, mean test Spearman "
              f"{record[way]['test_spearman_mean_single']:.3f}", flush=True)
    return record


def main() -> None:
    parser = bench_parser(__doc__, out="objectives.json", reference=True)
    parser.add_argument("--skip-reselect-512", action="store_true",
                        help="time only raymix's default (reuse) on the 512 runs")
    args = parser.parse_args()
    start = time.perf_counter()
    record = {"machine": machine(), "run_sets": {}}
    for name in RUN_SETS:
        reselect = not (args.skip_reselect_512 and name == "regmix-512")
        record["run_sets"][name] = measure(name, args.reference, reselect)
    write_record(args.out, record, seconds=time.perf_counter() - start)


if __name__ == "__main__":
    main()
