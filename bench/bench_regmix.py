"""How well does each regressor rank held-out mixtures? RegMix's published proxy runs.

Fits every regressor (and ``auto``: cross-validated choice or ensemble) on RegMix's 512
training runs, or on random subsets of 64 and 128 of them, and scores its predictions
on the 256 held-out test runs: Spearman rank correlation x100 (RegMix's measure),
mean absolute error and fit time. Targets: Pile-CC validation loss (RegMix's) and each
of the 13 loss columns. Nothing is tuned or early-stopped on the test runs.

    python bench/bench_regmix.py [--reference DIR] [--targets pile_cc] [--out PATH]

Writes bench/results/regmix.json and prints a table.
Published (Pile-CC, fit on 512): linear 90.08, LightGBM 98.45.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import REGMIX_TARGET, bench_parser, load_regmix, machine, write_record
from scipy import stats
from threadpoolctl import threadpool_limits

from raymix.regression import AutoRegressor, make_regressor
from raymix.regression.registry import AUTO_CANDIDATES

TARGET = REGMIX_TARGET  # RegMix's own target: the Pile-CC validation loss
PUBLISHED = {"ridge": 90.08, "lightgbm": 98.45}  # RegMix's linear and LightGBM, 1M, 512 runs
SIZES = (64, 128, 512)
SUBSETS = 5  # random training subsets per size below 512


def load(reference: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Train mixtures, train losses, test mixtures, test losses; rows joined on ``index``."""
    return (*load_regmix(reference, "train"), *load_regmix(reference, "test"))


def subsets(n_train: int, size: int, repeats: int) -> list[np.ndarray]:
    """Row sets to fit on: all rows once, else ``repeats`` random draws (fixed seeds)."""
    if size >= n_train:
        return [np.arange(n_train)]
    return [np.sort(np.random.default_rng(i).choice(n_train, size, replace=False))
            for i in range(repeats)]


def make(name: str, candidates: list[str]):
    return AutoRegressor(names=candidates) if name == "auto" else make_regressor(name)


def score(name: str, candidates: list[str], X, y, X_test, y_test) -> dict:
    """Fit ``name`` on ``X, y``; Spearman x100, MAE and seconds on the test runs."""
    start = time.perf_counter()
    model = make(name, candidates).fit(X, y)
    seconds = time.perf_counter() - start
    predicted = model.predict(X_test)
    row = {"spearman": 100 * float(stats.spearmanr(y_test, predicted)[0]),
           "mae": float(np.mean(np.abs(y_test - predicted))), "fit_s": seconds}
    if name == "auto":
        row["chosen"] = model.chosen_.name
    return row


def summarise(rows: list[dict]) -> dict:
    out = {"fits": len(rows)}
    for key in ("spearman", "mae", "fit_s"):
        values = np.array([r[key] for r in rows])
        out[key] = float(values.mean())
        if len(values) > 1:
            out[f"{key}_std"] = float(values.std(ddof=1))
    if len(rows) > 1:  # to compare regressors scored on different numbers of subsets
        out["spearman_per_subset"] = [r["spearman"] for r in rows]
        out["mae_per_subset"] = [r["mae"] for r in rows]
    if "chosen" in rows[0]:
        out["chosen"] = [r["chosen"] for r in rows]
    return out


def run_target(target, data, names, candidates, sizes, repeats) -> dict:
    X_train, L_train, X_test, L_test = data
    X, y = X_train.to_numpy(float), L_train[target].to_numpy(float)
    Xt, yt = X_test.to_numpy(float), L_test[target].to_numpy(float)
    result = {}
    for size in sizes:
        result[str(size)] = {}
        for name in names:
            rows = [score(name, candidates, X[rows_], y[rows_], Xt, yt)
                    for rows_ in subsets(len(y), size, repeats[name])]
            result[str(size)][name] = summarise(rows)
    return result


def print_table(title: str, table: dict, names: list[str], sizes) -> None:
    print(f"\n{title}")
    header = f"{'regressor':14s}" + "".join(f"{f'rho x100 @{s}':>18s}" for s in sizes)
    print(header + f"{'MAE @' + str(sizes[-1]):>12s}{'fit s @' + str(sizes[-1]):>12s}")
    for name in names:
        cells = []
        for s in sizes:
            cell = table[str(s)][name]
            spread = f" ±{cell['spearman_std']:.2f}" if "spearman_std" in cell else ""
            cells.append(f"{cell['spearman']:.2f}{spread}".rjust(18))
        last = table[str(sizes[-1])][name]
        print(f"{name:14s}" + "".join(cells) + f"{last['mae']:12.4f}{last['fit_s']:12.2f}")


def mean_over_targets(results: dict, names, sizes) -> dict:
    """Each regressor's scores averaged over the targets, per training size.

    On each target only the subsets that ``auto`` was scored on count (it may have
    fewer, see ``--auto-repeats``), so that every column compares like with like.
    """
    def on_auto_subsets(cells: dict, name: str, key: str) -> float:
        cell = cells[name]
        if "auto" not in cells or f"{key}_per_subset" not in cell:
            return cell[key]
        return float(np.mean(cell[f"{key}_per_subset"][:cells["auto"]["fits"]]))

    return {str(s): {n: {key: float(np.mean([on_auto_subsets(results[t][str(s)], n, key)
                                             for t in results]))
                         for key in ("spearman", "mae")}
                     | {"fit_s": float(np.mean([results[t][str(s)][n]["fit_s"]
                                                for t in results]))}
                     for n in names} for s in sizes}


def main() -> None:
    parser = bench_parser(__doc__, out="regmix.json", reference=True)
    parser.add_argument("--targets", nargs="*", default=None,
                        help="loss columns (or their domain, e.g. pile_cc); default all 13")
    parser.add_argument("--regressors", nargs="*", default=None)
    parser.add_argument("--repeats", type=int, default=SUBSETS)
    parser.add_argument("--auto-repeats", type=int, default=1,
                        help="subsets per size for auto on targets other than Pile-CC "
                             "(auto fits every candidate 6 times)")
    args = parser.parse_args()

    data = load(args.reference)
    columns = list(data[1].columns)
    targets = columns if args.targets is None else [
        c for c in columns if c in args.targets or c.split("the_pile_")[-1][:-9] in args.targets]
    # auto's default candidates (RegMix's own LightGBM: bench_ranking_transfer.py)
    candidates = list(AUTO_CANDIDATES) if args.regressors is None else args.regressors
    names = candidates + ["auto"]
    repeats = {name: args.repeats for name in names}
    results, start = {}, time.perf_counter()
    # one BLAS thread: on 2 shared cores, OpenBLAS threads slow the GP's 512 x 512 algebra 10x
    with threadpool_limits(1, user_api="blas"):
        for target in sorted(targets, key=lambda t: t != TARGET):  # Pile-CC first
            per_target = repeats | ({} if target == TARGET else {"auto": args.auto_repeats})
            results[target] = run_target(target, data, names, candidates, SIZES, per_target)
            print(f"{target}: done at {time.perf_counter() - start:.0f} s", flush=True)
    if TARGET in results:
        print_table(f"{TARGET} (test: 256 runs; published at 512: linear 90.08, "
                    f"LightGBM 98.45)", results[TARGET], names, SIZES)
    averaged = mean_over_targets(results, names, SIZES)
    print_table(f"mean over {len(results)} targets (at 64 and 128: on the subsets auto was "
                f"scored on)", averaged, names, SIZES)

    record = {
        "benchmark": "regressor rank correlation on RegMix's 1M proxy runs "
                     "(fit on train subsets, score on the 256 test runs)",
        "data": "sail-sg/regmix 1M runs: 512 train + 256 test mixtures of 17 Pile domains",
        "published_pile_cc_512": {"linear": PUBLISHED["ridge"], "lightgbm": PUBLISHED["lightgbm"]},
        "settings": {
            "sizes": list(SIZES),
            "subsets_per_size": repeats,
            "auto_subsets_per_size_other_targets": args.auto_repeats,
            "subsets": "seeded random draws without replacement, the same for every regressor;"
                       " auto on targets other than Pile-CC uses only the first few (compare "
                       "with the others' spearman_per_subset); at 512 one fit on all train runs",
            "auto_candidates": candidates, "auto": "fit_auto, 5-fold CV, ensembles tried",
            "blas_threads": 1, "lightgbm_threads": 1,
            "machine": machine(),
            "test_set_use": "scoring only (no early stopping, no tuning)",
        },
        "metrics": "spearman: Spearman rho x100 on the test runs (mean over subsets, "
                   "spearman_std its sample std); mae: mean absolute error; fit_s: seconds "
                   "per fit. mean_over_targets: at 64 and 128 runs, on each target only the "
                   "subsets auto was also scored on",
        "pile_cc": results.get(TARGET),
        "mean_over_targets": averaged,
        "targets": results,
        "total_s": time.perf_counter() - start,
    }
    print()
    write_record(args.out, record, seconds=record["total_s"])


if __name__ == "__main__":
    main()
