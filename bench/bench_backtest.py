"""The backtest that chooses the scaling-law settings, on Data Mixing Laws' published runs.

``fit.law``, ``fit.share_exponents`` and ``fit.checkpoints`` left ``auto`` are chosen by
:func:`raymix.scaling.backtest_scaling`: the runs are split once more (their largest
sizes and/or latest checkpoints held out, at the ratio of extrapolation nearest the one
asked for), each setting is fitted on the rest, and the one that predicts the held-out
runs best is used. Does that choice extrapolate better than raymix's former rule (nested
with 3 sizes or more, else joint; exponents per curve; all checkpoints)?

Each *split* below takes part of the published runs (Ye et al., ICLR 2025; RedPajama: 7
domains, 70M-410M, steps 10k-30k, 70M/160M also 100k; 5Mix: 5 domains, 70M-305M from 3k
steps, 410M 9k-30k, a few mixtures to 100k) as the runs a user has, and a measured scale
outside them as the target. The backtest sees only the fitted part, never the target's
losses. For each split: the rule, the backtest's choice, and every fixed setting, scored
on every mixture measured at the target (Pile loss): mean |error| %, mean bias %,
Spearman of the mixtures; and the backtest's own split, ratio and cost.

    python bench/bench_backtest.py [--reference PATH] [--out PATH]

Writes bench/results/backtest.json.
"""

from __future__ import annotations

import time

import numpy as np
from bench_scaling_laws import PILE, SIZES, TOKENS_PER_STEP, TRAIN, load, load_5mix
from common import bench_parser, machine, write_record

from raymix.runs import long_runs_from_frame
from raymix.scaling import TargetSize, backtest_scaling, rule_setting, settings_to_try
from raymix.scaling.backtest import held_out_losses, score_setting

K = 1_000
SEVERAL = 3  # the backtest's variant that averages over the nearest splits
PYTHIA_1B = 805_736_448  # Pythia-1B's non-embedding parameters (the paper's 1B target)
# name: (data set, sizes fitted, last step fitted, target size, target step)
SPLITS = {
    "5Mix: 70M-305M <= 9k -> 410M/30k": ("5Mix", ["70M", "160M", "305M"], 9 * K, "410M", 30 * K),
    "5Mix: 70M-305M <= 20k -> 410M/30k": ("5Mix", ["70M", "160M", "305M"], 20 * K, "410M",
                                          30 * K),
    "5Mix: 70M+160M <= 9k -> 410M/30k": ("5Mix", ["70M", "160M"], 9 * K, "410M", 30 * K),
    "5Mix: 70M+160M <= 30k -> 305M/30k": ("5Mix", ["70M", "160M"], 30 * K, "305M", 30 * K),
    "5Mix: 70M+160M <= 30k -> 410M/30k": ("5Mix", ["70M", "160M"], 30 * K, "410M", 30 * K),
    "5Mix: 70M+160M <= 30k -> 70M/100k": ("5Mix", ["70M", "160M"], 30 * K, "70M", 100 * K),
    "5Mix: 70M-410M <= 30k -> 70M/100k": ("5Mix", list(SIZES), 30 * K, "70M", 100 * K),
    "RedPajama: 70M-305M <= 20k -> 410M/30k": ("RedPajama", ["70M", "160M", "305M"], 20 * K,
                                               "410M", 30 * K),
    "RedPajama: 70M+160M <= 30k -> 305M/30k": ("RedPajama", ["70M", "160M"], 30 * K, "305M",
                                               30 * K),
    "RedPajama: 70M+160M <= 30k -> 410M/30k": ("RedPajama", ["70M", "160M"], 30 * K, "410M",
                                               30 * K),
    "RedPajama: 70M-410M <= 30k -> 70M/100k": ("RedPajama", list(SIZES), 30 * K, "70M",
                                               100 * K),
    "RedPajama: 70M-410M <= 30k -> 160M/100k": ("RedPajama", list(SIZES), 30 * K, "160M",
                                                100 * K),
}


def one_split(table, domains, sizes, last_step, size, step) -> dict:
    """The rule, the backtest's choice and every fixed setting on one split."""
    fitted_rows = table[table["size"].isin(sizes) & (table["step"] <= last_step)]
    runs = long_runs_from_frame(fitted_rows, {PILE: 1.0}, domains=domains)
    every = long_runs_from_frame(table, {PILE: 1.0}, domains=domains)
    at = TargetSize(params=SIZES[size], tokens=step * TOKENS_PER_STEP)
    held = held_out_losses(every, at)
    settings, rule = settings_to_try(), rule_setting(runs)
    chosen = backtest_scaling(runs, at, settings, rule)
    several = backtest_scaling(runs, at, settings, rule, n_splits=SEVERAL)
    fixed = {}
    for setting in settings:
        start = time.perf_counter()
        score = score_setting(setting, runs, at, held)
        fixed[str(setting)] = {**score.to_dict(), "seconds": time.perf_counter() - start}
    fitted_params = float(runs.frame["params"].max())
    fitted_tokens = float(runs.frame["tokens"].max())
    ratio = (at.params / fitted_params, at.tokens / fitted_tokens)
    return {"ratio": list(ratio),  # "extrapolation": how far beyond the runs (the hardest)
            "extrapolation": float(np.hypot(*np.maximum(np.log(ratio), 0))),
            "n_target_mixtures": int(len(held)), "rule": str(rule),
            "backtest": chosen.to_dict(), "chosen": str(chosen.chosen),
            f"backtest_{SEVERAL}_splits": several.to_dict(),
            f"chosen_{SEVERAL}_splits": str(several.chosen), "fixed": fixed,
            "rule_score": fixed[str(rule)], "backtest_score": fixed[str(chosen.chosen)],
            f"backtest_{SEVERAL}_splits_score": fixed[str(several.chosen)]}


def cost_on_every_run(table, domains) -> dict:
    """The backtest's cost on a whole data set, at the paper's target (1B, 100k steps),
    against one fit of the rule's setting."""
    runs = long_runs_from_frame(table, {PILE: 1.0}, domains=domains)
    at = TargetSize(params=PYTHIA_1B, tokens=100 * K * TOKENS_PER_STEP)
    rule = rule_setting(runs)
    start = time.perf_counter()
    rule.make().fit(runs, at)
    one_fit = time.perf_counter() - start
    result = backtest_scaling(runs, at, settings_to_try(), rule)
    return {"rows": int(len(runs.frame)), "one_fit_of_the_rule_s": one_fit,
            "backtest_s": result.seconds, "chosen": str(result.chosen),
            "backtest": result.to_dict()}


def main() -> None:
    args = bench_parser(__doc__, out="backtest.json", reference=True).parse_args()
    start = time.perf_counter()
    data = {"RedPajama": (load(args.reference)[0], TRAIN), "5Mix": load_5mix(args.reference)}
    results = {}
    for name, (dataset, sizes, last_step, size, step) in SPLITS.items():
        table, domains = data[dataset]
        results[name] = one_split(table, domains, sizes, last_step, size, step)
        r = results[name]
        print(f"{name}: backtest {r['backtest']['seconds']:.1f} s, chose {r['chosen']}; "
              f"over {SEVERAL} splits {r[f'backtest_{SEVERAL}_splits']['seconds']:.1f} s, "
              f"chose {r[f'chosen_{SEVERAL}_splits']}", flush=True)
    cost = {name: cost_on_every_run(*data[name]) for name in data}
    for name, c in cost.items():
        print(f"{name}, every run -> 1B/100k: backtest {c['backtest_s']:.1f} s, one fit "
              f"{c['one_fit_of_the_rule_s']:.1f} s, chose {c['chosen']}", flush=True)
    hardest = max(results, key=lambda n: results[n]["extrapolation"])
    summary = summarise(results)
    output = {
        "data": "mixinglaws 5Mix and RedPajama (Ye et al., ICLR 2025), Pile loss "
                "(valid_weight.json-weighted sum of the 22 Pile domains); params as in "
                "bench_scaling_laws.py",
        "protocol": "each split: the runs of the named sizes up to the named step are the "
                    "user's runs; the backtest (raymix.scaling.backtest_scaling) sees only "
                    "them and the target scale; every mixture measured at the target is "
                    "predicted by the rule's setting, the backtest's choice and each fixed "
                    "setting; mean |error| % and bias % of the loss, Spearman of the mixtures "
                    "(3 or more)",
        "rule": "former fit.law auto: nested with >= 3 sizes else joint; share_exponents "
                "false; checkpoints all",
        "machine": machine(),
        "hardest_split": hardest,
        "hardest_split_rule_vs_backtest": {
            "rule": results[hardest]["rule_score"],
            "backtest": results[hardest]["backtest_score"]},
        "cost_on_every_run": cost,
        "summary": summary,
        "results": results,
        "timings_s": {"total": round(time.perf_counter() - start, 1)},
    }
    print_table(results, summary, hardest)
    write_record(args.out, output)


def summarise(results: dict) -> dict:
    """Mean |error| % and Spearman over the splits: rule, backtest, each fixed setting."""
    def mean_of(scores: list[dict], key: str) -> float | None:
        values = [s[key] for s in scores if s.get(key) is not None]
        return float(np.mean(values)) if values else None

    rows = {"rule": [r["rule_score"] for r in results.values()],
            "backtest": [r["backtest_score"] for r in results.values()],
            f"backtest, {SEVERAL} splits": [r[f"backtest_{SEVERAL}_splits_score"]
                                           for r in results.values()]}
    for name in next(iter(results.values()))["fixed"]:
        rows[name] = [r["fixed"][name] for r in results.values()]
    return {name: {"mean_abs_error_pct": mean_of(scores, "mean_abs_error_pct"),
                   "spearman": mean_of(scores, "spearman"),
                   "splits_fitted": sum(s["error"] is None for s in scores),
                   "splits": len(scores)} for name, scores in rows.items()} | {
        f"{key}_seconds": {"mean": float(np.mean([r[key]["seconds"] for r in results.values()])),
                           "max": float(max(r[key]["seconds"] for r in results.values()))}
        for key in ("backtest", f"backtest_{SEVERAL}_splits")}


def _cell(score: dict) -> str:
    if score.get("error"):
        return "cannot fit"
    rho = "" if score["spearman"] is None else f", rho {score['spearman']:.2f}"
    return f"{score['mean_abs_error_pct']:.2f}%{rho}"


def print_table(results: dict, summary: dict, hardest: str) -> None:
    for name, r in results.items():
        split = r["backtest"]["split"]
        where = "no split" if split is None else (
            f"backtest ratio {split['ratio'][0]:.2g}x/{split['ratio'][1]:.2g}x")
        print(f"\n{name} (ratio {r['ratio'][0]:.2g}x params, {r['ratio'][1]:.2g}x tokens; "
              f"{where})")
        print(f"  rule     {r['rule']:<46} {_cell(r['rule_score'])}")
        print(f"  backtest {r['chosen']:<46} {_cell(r['backtest_score'])}")
        print(f"  {SEVERAL} splits {r[f'chosen_{SEVERAL}_splits']:<46} "
              f"{_cell(r[f'backtest_{SEVERAL}_splits_score'])}")
        for setting, score in r["fixed"].items():
            print(f"           {setting:<46} {_cell(score)}")
    print(f"\nhardest split: {hardest}")
    print("\nmean over the splits (mean |error| %, Spearman, splits fitted):")
    for name, s in summary.items():
        if name.endswith("_seconds"):
            continue
        err = "n/a" if s["mean_abs_error_pct"] is None else f"{s['mean_abs_error_pct']:.2f}%"
        rho = "n/a" if s["spearman"] is None else f"{s['spearman']:.2f}"
        print(f"  {name:<46} {err:>8}  {rho:>5}  {s['splits_fitted']}/{s['splits']}")
    for key in ("backtest", f"backtest_{SEVERAL}_splits"):
        print(f"{key} cost: mean {summary[f'{key}_seconds']['mean']:.1f} s, "
              f"max {summary[f'{key}_seconds']['max']:.1f} s")


if __name__ == "__main__":
    main()
