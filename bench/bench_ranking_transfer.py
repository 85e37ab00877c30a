"""Which way of choosing a regressor ranks mixtures it has not seen, at a scale it has not seen?

raymix's default fit (``fit_auto``) chooses among cross-validated regressors by their
pooled out-of-fold Spearman. Fitted on RegMix's 512 1M runs, RegMix's LightGBM ranks
64 held-out 1B models at Spearman 97.12 (Liu et al., ICLR 2025). The 1B runs are not
used here: every choice is scored on the transfers the published runs allow.

- RegMix 1M: fit on 64, 128 (one seeded subset each) or all 512 train runs, rank the
  256 test mixtures; each of the 13 loss columns (at 512 only Pile-CC, RegMix's target,
  unless ``--all-targets-512``: the GP's 512-run fits dominate the time).
- Data Mixing Laws (Ye et al., ICLR 2025), at 30k steps, Pile loss and each of its 22
  validation domains (23 targets):
  ``rp_held_70M``: RedPajama, fit on the 22 mixtures trained only at 70M, rank the 20
  other mixtures at 410M (new mixtures and 5.8x the size, like RegMix's 1M -> 1B);
  ``rp_same_70M``: fit on the 20 mixtures at 70M, rank the same 20 at 410M;
  ``5mix_same_70M``: the 26 5Mix mixtures at 70M -> 410M.

Side by side, from one set of fits per task: each single regressor (today's candidates
and LightGBM at RegMix's settings), and these ways of choosing among the candidates:

- ``today``: the default before: pooled CV Spearman on one shuffle of 5 folds, the
  average of the best few when that cross-validates better (``fit_auto(shuffles=1)``);
- ``new default`` (``fit_auto``): the same, averaged over 2 CV shuffles below 256 runs;
- ``fold``: ``today`` with the mean Spearman within each fold
  (``criterion="fold_spearman"``);
- ``top2``: always the average of the 2 best by pooled Spearman (one shuffle).

Spearman x100 on the transfer's test set. For the same-mixture transfers, ``small loss``
ranks the 410M runs by the same mixtures' small-model losses (no regressor at all).

    python bench/bench_ranking_transfer.py [--reference DIR] [--out PATH]

Writes bench/results/ranking_transfer.json and prints the tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from bench_scaling_laws import PILE, TRAIN, load_5mix
from bench_scaling_laws import load as load_redpajama
from common import REGMIX_TARGET, bench_parser, load_regmix, machine, write_record
from scipy import stats
from threadpoolctl import threadpool_limits

from raymix.config import FitConfig
from raymix.regression import fit_auto, make_regressor
from raymix.regression.selection import choose, cross_validate, cv_shuffles, ensemble_name

CANDIDATES = list(FitConfig().regressors)  # today's default fit's
SINGLES = [*CANDIDATES, "lightgbm_regmix"]
CHOICES = ("today", "new default", "fold", "top2")
SIZES = (64, 128, 512)
PUBLISHED = {"lightgbm 1M (256 test)": 98.45, "lightgbm 1B (64 test)": 97.12,
             "linear 1B (64 test)": 88.01}
STEP = 30_000


def spearman(actual, predicted) -> float:
    if np.ptp(predicted) == 0:
        return float("nan")  # e.g. RegMix's LightGBM on 20 runs: no split, a constant
    return 100 * float(stats.spearmanr(actual, predicted)[0])


# ----------------------------------------------------------------------------- the tasks


def regmix_tasks(reference: Path, all_targets_512: bool = False):
    """(group, target, X, y, X_test, y_test) for each size and loss column."""
    (X_train, L_train), (X_test, L_test) = (load_regmix(reference, s) for s in ("train", "test"))
    X, Xt = X_train.to_numpy(float), X_test.to_numpy(float)
    for size in SIZES:
        rows = (np.arange(len(X)) if size >= len(X)
                else np.sort(np.random.default_rng(0).choice(len(X), size, replace=False)))
        for target in L_train.columns:
            if size >= len(X) and not all_targets_512 and target != REGMIX_TARGET:
                continue
            yield (f"regmix_{size}", target, X[rows], L_train[target].to_numpy(float)[rows],
                   Xt, L_test[target].to_numpy(float))


def mixinglaws_tasks(reference: Path):
    """(group, target, X, y, X_test, y_test, small-model loss of the test mixtures or None)."""
    table, valid_weight = load_redpajama(reference)
    targets = [*sorted(valid_weight), PILE]

    def at(frame, size):
        return frame[(frame["size"] == size) & (frame["step"] == STEP)].set_index("idx")

    small, large = at(table, "70M"), at(table, "410M")
    held = sorted(set(small.index) - set(large.index))
    same = sorted(large.index)
    five, domains = load_5mix(reference)
    five_small, five_large = at(five, "70M"), at(five, "410M")
    for target in targets:
        yield ("rp_held_70M", target, small.loc[held, TRAIN].to_numpy(),
               small.loc[held, target].to_numpy(), large.loc[same, TRAIN].to_numpy(),
               large.loc[same, target].to_numpy(), None)
        yield ("rp_same_70M", target, small.loc[same, TRAIN].to_numpy(),
               small.loc[same, target].to_numpy(), large.loc[same, TRAIN].to_numpy(),
               large.loc[same, target].to_numpy(), small.loc[same, target].to_numpy())
        idx = sorted(set(five_small.index) & set(five_large.index))
        yield ("5mix_same_70M", target, five_small.loc[idx, domains].to_numpy(),
               five_small.loc[idx, target].to_numpy(), five_large.loc[idx, domains].to_numpy(),
               five_large.loc[idx, target].to_numpy(), five_small.loc[idx, target].to_numpy())


# ----------------------------------------------------------------------------- one task


def run_task(X, y, X_test, y_test) -> dict:
    """Each single's and each choice's Spearman x100 on the test runs, and what was chosen."""
    test_predictions = {}
    for name in SINGLES:
        test_predictions[name] = make_regressor(name, seed=0).fit(X, y).predict(X_test)
    cv = [[cross_validate(name, X, y, seed=seed) for name in CANDIDATES]
          for seed in range(cv_shuffles(len(y)))]
    choices = {  # each as fit_auto makes it from these shuffles
        "today": choose(cv[:1], y),
        "new default": choose(cv[:cv_shuffles(len(y))], y),
        "fold": choose(cv[:1], y, criterion="fold_spearman"),
    }
    members = {c: (chosen.name,) if m is None else m for c, (chosen, _, m) in choices.items()}
    members["top2"] = tuple(r.name for r in sorted(cv[0], key=lambda r: -np.nan_to_num(
        r.spearman, nan=-1e9))[:2])
    out = {name: spearman(y_test, p) for name, p in test_predictions.items()}
    for choice, chosen in members.items():
        # an average's members are fitted on all runs with the same seed: the Ensemble's fit
        out[choice] = spearman(y_test, np.mean([test_predictions[m] for m in chosen], axis=0))
    out["chosen"] = {c: (m[0] if len(m) == 1 else ensemble_name(m)) for c, m in members.items()}
    return out


def summarise(rows: dict[str, dict]) -> dict:
    """Mean Spearman x100 of each single and choice over a group's targets."""
    keys = [*SINGLES, *CHOICES, "small loss"]
    return {k: float(np.nanmean([r[k] for r in rows.values()])) for k in keys
            if any(k in r for r in rows.values())}


def check_against_fit_auto(X, y, row: dict) -> None:
    """``today`` and ``new default`` are what ``fit_auto`` chooses (one task, by calling it)."""
    for choice, shuffles in (("today", 1), ("new default", None)):
        fitted = fit_auto(X, y, CANDIDATES, seed=0, shuffles=shuffles)[1].name
        assert fitted == row["chosen"][choice], (choice, fitted, row["chosen"])


def fit_auto_seconds(reference: Path) -> dict:
    """Seconds of ``fit_auto`` (today's candidates, Pile-CC) on the first n train runs,
    with one CV shuffle and with its default."""
    X_train, L_train = load_regmix(reference, "train")
    X, y = X_train.to_numpy(float), L_train[REGMIX_TARGET].to_numpy(float)
    out = {}
    for n in (48, 200, 255, 512):
        for label, shuffles in (("1 shuffle", 1), ("default", None)):
            start = time.perf_counter()
            fit_auto(X[:n], y[:n], CANDIDATES, seed=0, shuffles=shuffles)
            out[f"{n} runs, {label} ({cv_shuffles(n) if shuffles is None else 1})"] = (
                time.perf_counter() - start)
    return out


# ----------------------------------------------------------------------------- main


def print_table(title: str, groups: dict[str, dict]) -> None:
    print(f"\n{title}")
    names = list(next(iter(groups.values())))
    print(f"{'':18s}" + "".join(f"{g:>16s}" for g in groups))
    for name in names:
        print(f"{name:18s}" + "".join(f"{groups[g].get(name, np.nan):16.2f}" for g in groups))


def main() -> None:
    parser = bench_parser(__doc__, out="ranking_transfer.json", reference=True)
    parser.add_argument("--all-targets-512", action="store_true",
                        help="at 512 runs every loss column, not only Pile-CC")
    args = parser.parse_args()
    start = time.perf_counter()
    per_target: dict[str, dict] = {}
    with threadpool_limits(1):
        for group, target, X, y, Xt, yt in regmix_tasks(args.reference, args.all_targets_512):
            per_target.setdefault(group, {})[target] = run_task(X, y, Xt, yt)
            if group == "regmix_64" and target == REGMIX_TARGET:
                check_against_fit_auto(X, y, per_target[group][target])
            print(f"{group} {target}: {time.perf_counter() - start:.0f} s", flush=True)
        for group, target, X, y, Xt, yt, small in mixinglaws_tasks(args.reference):
            row = run_task(X, y, Xt, yt)
            if small is not None:
                row["small loss"] = spearman(yt, small)
            per_target.setdefault(group, {})[target] = row
        print(f"mixing laws' runs: {time.perf_counter() - start:.0f} s", flush=True)
        seconds = fit_auto_seconds(args.reference)

    mean = {g: summarise(rows) for g, rows in per_target.items() if len(rows) > 1}
    focus = {g: {k: v for k, v in rows[REGMIX_TARGET if g.startswith("regmix") else PILE].items()
                 if k != "chosen"} for g, rows in per_target.items()}
    chosen = {g: {c: sorted({r["chosen"][c] for r in rows.values()}) for c in CHOICES}
              for g, rows in per_target.items()}
    print_table("mean over targets (RegMix: 13 loss columns; mixing laws: Pile + 22 domains)",
                mean)
    print("small loss (the same mixtures' small-model loss as the ranking): "
          + ", ".join(f"{g} {m['small loss']:.2f}" for g, m in mean.items() if "small loss" in m))
    print_table("RegMix: Pile-CC; mixing laws: the Pile loss", focus)
    print("\nfit_auto seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    record = {
        "benchmark": "ranking transfer: ways of choosing a regressor, scored on mixtures and "
                     "scales the fit did not see",
        "data": "sail-sg/regmix 1M runs (512 train, 256 test); yegcjs/mixinglaws RedPajama and "
                "5Mix runs at 30k steps (70M, 160M -> 410M)",
        "published_regmix_pile_cc": PUBLISHED,
        "settings": {"candidates": CANDIDATES, "singles": SINGLES, "choices": list(CHOICES),
                     "folds": 5, "seed": 0,
                     "shuffles": "new default: 2 CV shuffles below 256 runs, else 1 (as today)",
                     "regmix_subsets": "one seeded subset per size below 512",
                     "regmix_512_targets": "all" if args.all_targets_512 else "Pile-CC",
                     "step": STEP, "blas_threads": 1, "machine": machine()},
        "metrics": "Spearman rho x100 between the transfer's measured and predicted losses; "
                   "mean_over_targets: over RegMix's 13 loss columns or the Pile and its 22 "
                   "domains; focus: Pile-CC (RegMix) or the Pile loss (mixing laws)",
        "mean_over_targets": mean,
        "focus": focus,
        "chosen": chosen,
        "fit_auto_seconds": seconds,
        "targets": per_target,
        "total_s": time.perf_counter() - start,
    }
    print()
    write_record(args.out, record, seconds=record["total_s"])


if __name__ == "__main__":
    main()
