"""The proposal's bootstrap uncertainty: what it costs, and whether its 90% interval holds 90%.

(a) Cost. On RegMix's 512 training runs (17 Pile domains, Pile-CC validation loss) and on
a demo-sized subset of 48 of them: seconds of the fit (cross-validating the demo's
regressors, ``jobs/configs/demo.yaml``), of the proposal's search alone, and of the
bootstrap (``search.bootstrap`` refits of the chosen regressor, each with a cheaper search).

(b) Coverage. Fit on random subsets of 64 and 128 training runs (the demo's regressors,
chosen by cross-validation as ``raymix propose`` does), bootstrap the chosen regressor and
form, for each of the 256 held-out test mixtures:

- the product's interval (``interval``: the fit's prediction plus the refits' 5-95%
  deviations from their median) and the plain percentile interval of the refits;
- the product's run interval (``run_interval``: each refit's prediction plus one draw of
  run noise; RegMix has no repeated mixtures, so the noise is the CV RMSE).

and counts how often each covers (i) the prediction of the same regressor fitted on all 512
runs (regressor uncertainty: what the bootstrap estimates) and (ii) the measured loss (which
also holds the run's own noise and the regressor's bias).

    OMP_NUM_THREADS=1 python bench/bench_bootstrap.py [--reference DIR] [--subsets 4]

Writes bench/results/bootstrap.json.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from common import REGMIX_PRIOR, REGMIX_TARGET, bench_parser, load_regmix, machine, write_record
from sklearn.base import clone

from raymix.config import SearchConfig
from raymix.proposal import propose_mixture
from raymix.proposal.uncertainty import LEVEL, bootstrap_refits, centred_interval, refits_for
from raymix.regression import fit_regressor

DEMO_REGRESSORS = ["ridge", "loglinear", "lightgbm", "mixing_law", "gp"]  # demo.yaml's fit
SIZES = (64, 128)


def cost(mixtures: pd.DataFrame, loss: pd.Series, prior: dict[str, float]) -> dict:
    """Seconds of the fit, of the search alone, and of the proposal with the bootstrap."""
    start = time.perf_counter()
    fitted = fit_regressor(mixtures, loss, DEMO_REGRESSORS)
    fit_s = time.perf_counter() - start
    seconds = {}
    for name, search in {"search": SearchConfig(uncertainty=False),
                         "search_and_bootstrap": SearchConfig()}.items():
        start = time.perf_counter()
        proposal = propose_mixture(mixtures, loss, prior=prior, fitted=fitted, search=search)
        seconds[name] = time.perf_counter() - start
    u = proposal.uncertainty
    return {"runs": len(loss), "domains": mixtures.shape[1], "regressor": fitted.chosen.name,
            "search_method": proposal.search.method, "fit_s": fit_s,
            "search_s": seconds["search"],
            "bootstrap_s": seconds["search_and_bootstrap"] - seconds["search"],
            "refits": u.refits, "note": u.note, "refit_search": u.search,
            "predicted": proposal.predicted_target_loss, "interval": list(u.interval),
            "p_beats": u.p_beats, "mean_distance": u.mean_distance,
            "warnings": proposal.warnings}


def coverage(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
             size: int, subset: int, refits: int) -> dict:
    """One subset's fit, bootstrapped; which intervals cover the truth at the test mixtures."""
    rows = np.sort(np.random.default_rng(subset).choice(len(y), size, replace=False))
    fitted = fit_regressor(X[rows], y[rows], DEMO_REGRESSORS, seed=subset)
    refits, _ = refits_for(fitted, refits)
    draws = np.array([model.predict(X_test) for model, _ in
                      bootstrap_refits(fitted.estimator, X[rows], y[rows], refits, seed=subset)])
    point = fitted.estimator.predict(X_test)
    full = clone(fitted.estimator).fit(X, y).predict(X_test)  # the same regressor, 512 runs
    noise = np.random.default_rng([subset, 1]).normal(0.0, fitted.chosen.rmse, refits)
    tails = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    intervals = {
        "interval": np.array([centred_interval(draws[:, j], point[j]) for j in range(len(point))]),
        "percentile": np.quantile(draws, tails, axis=0).T,
        "run_interval": np.array([centred_interval(draws[:, j] + noise, point[j])
                                  for j in range(len(point))]),
    }
    out = {"size": size, "subset": subset, "regressor": fitted.chosen.name, "refits": refits,
           "cv_rmse": fitted.chosen.rmse}
    for name, bounds in intervals.items():
        out[name] = {
            "width": float(np.mean(bounds[:, 1] - bounds[:, 0])),
            "covers_full_fit": float(np.mean((bounds[:, 0] <= full) & (full <= bounds[:, 1]))),
            "covers_measured": float(np.mean((bounds[:, 0] <= y_test) & (y_test <= bounds[:, 1]))),
        }
    out["point_vs_full_rmse"] = float(np.sqrt(np.mean((point - full) ** 2)))
    out["point_vs_measured_rmse"] = float(np.sqrt(np.mean((point - y_test) ** 2)))
    return out


def main() -> None:
    parser = bench_parser(__doc__, out="bootstrap.json", reference=True)
    parser.add_argument("--subsets", type=int, default=4, help="random subsets per size")
    parser.add_argument("--refits", type=int, default=SearchConfig().bootstrap)
    args = parser.parse_args()
    started = time.perf_counter()
    train, train_loss = load_regmix(args.reference, "train")
    test, test_loss = load_regmix(args.reference, "test")
    y = train_loss[REGMIX_TARGET]
    prior = dict(zip(train.columns, REGMIX_PRIOR))

    demo_rows = np.sort(np.random.default_rng(0).choice(len(y), 48, replace=False))
    costs = {}
    for name, rows in {"regmix_48": demo_rows, "regmix_512": np.arange(len(y))}.items():
        costs[name] = cost(train.iloc[rows], y.iloc[rows], prior)
        c = costs[name]
        print(f"{name}: fit {c['fit_s']:.1f} s, search {c['search_s']:.1f} s, bootstrap "
              f"{c['bootstrap_s']:.1f} s ({c['refits']} refits of {c['regressor']})", flush=True)

    X, X_test = train.to_numpy(float), test.to_numpy(float)
    y_test = test_loss[REGMIX_TARGET].to_numpy(float)
    rows = []
    for size in SIZES:
        for subset in range(args.subsets):
            rows.append(coverage(X, y.to_numpy(float), X_test, y_test, size, subset, args.refits))
            r = rows[-1]
            print(f"{size} runs #{subset} {r['regressor']}: "
                  + ", ".join(f"{k} covers full {r[k]['covers_full_fit']:.2f} / measured "
                              f"{r[k]['covers_measured']:.2f}"
                              for k in ("interval", "percentile", "run_interval")), flush=True)
    summary = {}
    for size in SIZES:
        mine = [r for r in rows if r["size"] == size]
        summary[str(size)] = {k: {m: float(np.mean([r[k][m] for r in mine]))
                                  for m in ("width", "covers_full_fit", "covers_measured")}
                              for k in ("interval", "percentile", "run_interval")}
    record = {"benchmark": "bootstrap", "machine": machine(), "level": LEVEL,
              "refits": args.refits, "target": REGMIX_TARGET, "cost": costs,
              "coverage_summary": summary, "coverage": rows}
    write_record(args.out, record, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
