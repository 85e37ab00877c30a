"""Nested scaling laws on the paper's RedPajama runs: do the step and size laws extrapolate?

Ye et al. (Data Mixing Laws, ICLR 2025, Algorithm 1) trained Pythia-style models of
70M, 160M, 305M and 410M parameters on mixtures of the 7 RedPajama domains, and
released their validation losses on the 22 Pile domains at steps 10k - 30k (1,048,576
tokens a step). Mixture 999, the default RedPajama mixture, also has a 100k-step
checkpoint at 70M and 160M. The paper's full pipeline (step law 10k-30k -> 100k, size law
70M-410M -> 1B, mixing law on 20 mixtures) under-predicted the 1B / 100k-step Pile loss
by 2-4% and kept the ranking of the mixtures; the 1B runs are not in the released data.

This script checks each stage of :class:`raymix.scaling.NestedScalingLaw` on what the data
allow, always on the overall Pile loss (the 22 domain losses weighted by
``valid_weight.json``), and on each domain where stated:

a) step law: fit 10k-30k, predict 100k for mixture 999 at 70M and 160M (every domain and
   the Pile loss); and fit 10k-20k, predict 30k for every (mixture, size).
b) size law: the 20 mixtures trained at every size; fit 70M/160M/305M at 30k steps,
   predict 410M at 30k.
c) whole pipeline: leave one of the 20 mixtures out; fit the nested laws on the other 19
   at 70M-305M and steps <= 20k, extrapolate them to 410M / 30k, fit the mixing law on
   those 19 predictions and predict the held-out mixture, which none of the fits saw;
   and predict mixture 999 (in no fit) at 70M / 100k and 160M / 100k from the other
   mixtures' step laws (steps <= 30k).

d) far extrapolation, on the 5Mix runs (26 mixtures of 5 Pile domains at every size,
   70M/160M to 100k steps, 305M to 30k, 410M 9k-30k): the paper's ratios (its fits reach
   410M / 30k and predict 1B / 100k: 2.7x the largest model, 3.3x the longest run). Fit
   70M+160M (or 70M-305M) at steps <= 9k and predict 410M at 30k (3.55x / 1.5x the size,
   3.3x the steps); the same from steps <= 30k (size only); and 70M-410M at 10k-30k
   predicting the 100k checkpoints of 70M / 160M (steps only). Each with the nested laws
   (step exponent per curve or shared) and the joint law ``fit.law: joint``.

Model sizes are non-embedding parameters, Pythia's for 70M, 160M and 410M. 305M is no
Pythia model; we use 201,541,632, the value of the authors' pipeline (``MODEL_SIZES`` in
``pipeline/utils.py`` of yegcjs/mixinglaws), which matches a 16-layer, d_model 1024
Pythia-style model (12 * 16 * 1024^2 = 201,326,592 in the attention and MLP matrices,
plus biases and layer norms).

    python bench/bench_scaling_laws.py [--reference PATH] [--out PATH]

Writes bench/results/scaling_laws.json.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import bench_parser, mixinglaws_losses, pile_valid_weight, write_record
from scipy import stats

from raymix.errors import UserError
from raymix.regression import ImplicitMixingLaw, MixingLaw, SimplexGP, fit_regressor
from raymix.runs import long_runs_from_frame
from raymix.scaling import JointScalingLaw, NestedScalingLaw, TargetSize

TOKENS_PER_STEP = 1_048_576
SIZES = {"70M": 18_915_328, "160M": 85_056_000, "305M": 201_541_632, "410M": 302_311_424}
PARAMS_SOURCE = ("Pythia's non-embedding parameters for 70M/160M/410M; 305M: 201,541,632 from "
                 "MODEL_SIZES in yegcjs/mixinglaws pipeline/utils.py (16 layers, d_model 1024: "
                 "12*16*1024^2 = 201,326,592 plus biases and norms)")
# the data name no training domains; mixture 999 (LLaMA's RedPajama sampling: 67% CommonCrawl,
# 15% C4, 4.5% each of three, 2.5%, 2%) suggests CommonCrawl and C4 come first
TRAIN = [f"rp{i}" for i in range(7)]
DEFAULT_MIXTURE = 999
PILE = "pile"
PUBLISHED = ("1B / 100k-step Pile loss predicted from 70M-410M at 10k-30k steps: "
             "under-predicted by 2-4%, ranking kept (Ye et al., ICLR 2025)")
LINE = re.compile(r"/(\d+M)_RP_(\d+)-([0-9.\-]+)/(\d+)$")
LINE_5MIX = re.compile(r"/(\d+M)_(\d+)-([0-9.\-]+)/(\d+)/?$")


# ----------------------------------------------------------------------------- data


def load(reference: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per (size, mixture, step): weights, 22 domain losses and the Pile loss;
    and the Pile's validation weight of each domain."""
    folder = reference / "mixinglaws" / "RedPajama"
    valid_weight = pile_valid_weight(reference)
    records = []
    for size in SIZES:
        for checkpoint, domain, loss in mixinglaws_losses(folder / f"{size}.txt"):
            found, idx, proportions, step = LINE.search(checkpoint).groups()
            assert found == size, checkpoint
            records.append((size, int(idx), proportions, int(step), domain, loss))
    long = pd.DataFrame(records, columns=["size", "idx", "proportions", "step", "domain", "loss"])
    long = long.drop_duplicates()  # 70M mixture 14 lists some lines twice, same loss
    assert not long.duplicated(["size", "idx", "step", "domain"]).any()
    table = long.pivot_table(index=["size", "idx", "proportions", "step"], columns="domain",
                             values="loss").reset_index()
    domains = sorted(valid_weight)
    table = table.dropna(subset=domains)  # a checkpoint must have all 22 domains
    weights = np.array([[float(p) for p in s.split("-")] for s in table["proportions"]])
    table[TRAIN] = weights / weights.sum(axis=1, keepdims=True)  # 999's sum to 1.02
    table[PILE] = sum(table[d] * w for d, w in valid_weight.items()) / sum(valid_weight.values())
    table["run"] = "rp" + table["idx"].astype(str) + "-" + table["size"]
    table["params"] = table["size"].map(SIZES).astype(float)
    table["tokens"] = table["step"] * float(TOKENS_PER_STEP)
    # one mixture per idx, and no two idx with the same weights (the laws group by weights)
    assert (table.groupby("idx")["proportions"].nunique() == 1).all()
    assert table.groupby("proportions")["idx"].nunique().max() == 1
    return table.drop(columns="proportions"), valid_weight


def runs_of(table: pd.DataFrame, target: str, sizes=None, max_step=None, idx=None, steps=None):
    rows = table
    if sizes is not None:
        rows = rows[rows["size"].isin(sizes)]
    if max_step is not None:
        rows = rows[rows["step"] <= max_step]
    if steps is not None:
        rows = rows[rows["step"].isin(steps)]
    if idx is not None:
        rows = rows[rows["idx"].isin(idx)]
    return long_runs_from_frame(rows, {target: 1.0}, domains=TRAIN, source="RedPajama")


def idx_of(mixture_id: str) -> int:
    return int(mixture_id.split("-")[0][2:])


def measured(table, size, step, target=PILE) -> pd.Series:
    rows = table[(table["size"] == size) & (table["step"] == step)]
    return rows.set_index("idx")[target]


def scores(predicted, actual) -> dict:
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    error = predicted - actual
    pct = 100 * np.abs(error) / actual
    out = {"n": len(actual), "mae": float(np.abs(error).mean()), "mean_bias": float(error.mean()),
           "bias_pct": float(np.mean(100 * error / actual)),
           "mean_pct": float(pct.mean()), "max_pct": float(pct.max())}
    if len(actual) > 2:
        out["spearman"] = float(stats.spearmanr(predicted, actual).statistic)
    return out


# ----------------------------------------------------------------------------- a) steps


def step_to_100k(table, valid_weight) -> dict:
    """Mixture 999: step law on 10k-30k, predicted at 100k, per domain and on the Pile."""
    out = {}
    domains = sorted(valid_weight)
    at_tokens = 100_000 * TOKENS_PER_STEP
    for size in ("70M", "160M"):
        rows = {}
        for target in [*domains, PILE]:
            law = NestedScalingLaw().fit(
                runs_of(table, target, [size], 30_000, [DEFAULT_MIXTURE]),
                TargetSize(params=SIZES[size], tokens=at_tokens))
            predicted = float(law.predicted_.iloc[0])
            actual = float(measured(table, size, 100_000, target).loc[DEFAULT_MIXTURE])
            measured_30k = float(measured(table, size, 30_000, target).loc[DEFAULT_MIXTURE])
            rows[target] = {"predicted": predicted, "actual": actual,
                            "error": predicted - actual,
                            "pct": 100 * (predicted - actual) / actual,
                            "loss_drop_30k_to_100k": measured_30k - actual,
                            "beta": law.curves_["step"][next(iter(law.curves_["step"]))].law[2]}
        per_domain = [rows[d] for d in domains]
        pile_from_domains = (sum(rows[d]["predicted"] * w for d, w in valid_weight.items())
                             / sum(valid_weight.values()))
        out[size] = {
            "pile": rows[PILE],
            "pile_from_domain_laws": {"predicted": pile_from_domains,
                                      "pct": 100 * (pile_from_domains - rows[PILE]["actual"])
                                      / rows[PILE]["actual"]},
            "domains_mae": float(np.mean([abs(r["error"]) for r in per_domain])),
            "domains_mean_abs_pct": float(np.mean([abs(r["pct"]) for r in per_domain])),
            "domains_max_abs_pct": float(np.max([abs(r["pct"]) for r in per_domain])),
            "per_domain": {d: rows[d] for d in domains},
        }
    return out


def step_20k_to_30k(table) -> dict:
    """Every (mixture, size): step law on 10k-20k, predicted at 30k (Pile loss)."""
    out = {}
    for share in (False, True):
        predicted, actual = [], []
        for size in SIZES:
            law = NestedScalingLaw(share_step_exponent=share).fit(
                runs_of(table, PILE, [size], 20_000),
                TargetSize(params=SIZES[size], tokens=30_000 * TOKENS_PER_STEP))
            truth = measured(table, size, 30_000)
            for mixture, value in law.predicted_.items():
                if idx_of(mixture) in truth.index:
                    predicted.append(value)
                    actual.append(truth.loc[idx_of(mixture)])
        key = "shared beta per size" if share else "beta per curve"
        out[key] = scores(predicted, actual)
    return out


# ----------------------------------------------------------------------------- b) sizes


def shared_mixtures(table) -> list[int]:
    at_every = table.groupby("idx")["size"].nunique() == len(SIZES)
    return sorted(i for i in at_every.index[at_every] if i != DEFAULT_MIXTURE)


def size_to_410m(table, mixtures) -> dict:
    """70M/160M/305M at 30k -> 410M at 30k, for the mixtures trained at every size."""
    truth = measured(table, "410M", 30_000).loc[mixtures]
    at = TargetSize(params=SIZES["410M"], tokens=30_000 * TOKENS_PER_STEP)
    small = ["70M", "160M", "305M"]
    out = {}
    for stage1, steps in (("step law 10k-30k, read at 30k", None), ("measured 30k", [30_000])):
        for share in (False, True):
            law = NestedScalingLaw(share_size_exponent=share).fit(
                runs_of(table, PILE, small, 30_000, mixtures, steps), at)
            predicted = law.predicted_.rename(index=idx_of).loc[mixtures]
            alphas = [c.law[2] for c in law.curves_["size"].values()]
            out[f"{stage1}; {'shared alpha' if share else 'alpha per mixture'}"] = {
                **scores(predicted, truth), "alpha_median": float(np.median(alphas))}
    # no-extrapolation baseline: 305M's loss as the 410M prediction (ranking only)
    base = measured(table, "305M", 30_000).loc[mixtures]
    out["baseline: 305M loss as is"] = scores(base, truth)
    return out


# ----------------------------------------------------------------------------- c) pipeline


class AutoFit:
    """raymix's default fit (cross-validated choice among its regressors), as fit/predict."""

    def fit(self, X, y):
        self.fitted_ = fit_regressor(X, y, folds=5)
        return self

    def predict(self, X):
        return self.fitted_.predict(X)[0]


def leave_one_mixture_out(table, mixtures) -> dict:
    """Predict each held-out mixture's 410M / 30k loss from the other 19 at 70M-305M, <= 20k.

    Two references without extrapolation: the mixing law fitted on the other mixtures'
    measured 410M / 30k losses (its own error), and their mean (no mixture model at all).
    """
    truth = measured(table, "410M", 30_000).loc[mixtures]
    weights = table.drop_duplicates("idx").set_index("idx")[TRAIN]
    at = TargetSize(params=SIZES["410M"], tokens=30_000 * TOKENS_PER_STEP)
    laws = {"explicit mixing law": MixingLaw, "implicit mixing law K=5": ImplicitMixingLaw,
            "GP": SimplexGP, "auto (raymix's default fit)": AutoFit}
    mean_baseline = scores([truth.drop(m).mean() for m in mixtures], truth)
    del mean_baseline["spearman"]  # a leave-one-out mean ranks in reverse by construction
    out = {"baseline: mean of the other 19 measured 410M/30k losses": mean_baseline}
    for share in (False, True):
        predicted = {name: [] for name in laws}
        nested_err = []
        for held in mixtures:
            others = [m for m in mixtures if m != held]
            law = NestedScalingLaw(share_size_exponent=share).fit(
                runs_of(table, PILE, ["70M", "160M", "305M"], 20_000, others), at)
            y = law.predicted_.rename(index=idx_of).loc[others]
            nested_err.append(float(np.mean(np.abs(y - truth.loc[others]))))
            X, x_held = weights.loc[others].to_numpy(), weights.loc[[held]].to_numpy()
            for name, cls in laws.items():
                predicted[name].append(float(cls().fit(X, y.to_numpy()).predict(x_held)[0]))
        key = "shared alpha" if share else "alpha per mixture"
        out[key] = {name: scores(p, truth) for name, p in predicted.items()}
        out[key]["nested_laws_in_fold_mae"] = float(np.mean(nested_err))
    # the mixing laws on the measured 410M / 30k losses: their own error, no extrapolation
    for name, cls in laws.items():
        oracle = [float(cls().fit(weights.loc[[m for m in mixtures if m != held]].to_numpy(),
                                  truth.drop(held).to_numpy())
                        .predict(weights.loc[[held]].to_numpy())[0]) for held in mixtures]
        out[f"{name} on measured 410M/30k losses (no extrapolation)"] = scores(oracle, truth)
    return out


def default_mixture_at_100k(table) -> dict:
    """Mixture 999 (in no fit) at 100k steps, from the other mixtures' step laws (<= 30k)."""
    weights = table.drop_duplicates("idx").set_index("idx")[TRAIN]
    out = {}
    for size in ("70M", "160M"):
        others = sorted(set(table.loc[table["size"] == size, "idx"]) - {DEFAULT_MIXTURE})
        at = TargetSize(params=SIZES[size], tokens=100_000 * TOKENS_PER_STEP)
        law = NestedScalingLaw().fit(runs_of(table, PILE, [size], 30_000, others), at)
        y = law.predicted_.rename(index=idx_of)
        mixing = MixingLaw().fit(weights.loc[y.index].to_numpy(), y.to_numpy())
        predicted = float(mixing.predict(weights.loc[[DEFAULT_MIXTURE]].to_numpy())[0])
        actual = float(measured(table, size, 100_000).loc[DEFAULT_MIXTURE])
        out[size] = {"n_fit_mixtures": len(y), "predicted": predicted, "actual": actual,
                     "error": predicted - actual, "pct": 100 * (predicted - actual) / actual,
                     "max_weight_rp0_in_fit": float(weights.loc[y.index, "rp0"].max()),
                     "weight_rp0_of_999": float(weights.loc[DEFAULT_MIXTURE, "rp0"])}
    return out


# ----------------------------------------------------------------------------- d) far


def load_5mix(reference: Path) -> tuple[pd.DataFrame, list[str]]:
    """The 5Mix runs as rows of (size, mixture, step): weights, the Pile loss, params, tokens."""
    valid_weight = pile_valid_weight(reference)
    records = []
    for size in SIZES:
        path = reference / "mixinglaws" / "5Mix" / f"{size}.txt"
        for checkpoint, domain, loss in mixinglaws_losses(path):
            found, idx, proportions, step = LINE_5MIX.search(checkpoint).groups()
            assert found == size, checkpoint
            records.append((size, int(idx), proportions, int(step), domain, loss))
    long = pd.DataFrame(records, columns=["size", "idx", "proportions", "step", "domain", "loss"])
    long = long.groupby(["size", "idx", "proportions", "step", "domain"], as_index=False).mean()
    table = long.pivot_table(index=["size", "idx", "proportions", "step"], columns="domain",
                             values="loss").reset_index().dropna(subset=sorted(valid_weight))
    weights = np.array([[float(p) for p in s.split("-")] for s in table["proportions"]])
    domains = [f"p{i}" for i in range(weights.shape[1])]
    table[domains] = weights / weights.sum(axis=1, keepdims=True)
    table[PILE] = sum(table[d] * w for d, w in valid_weight.items()) / sum(valid_weight.values())
    table["run"] = "m" + table["idx"].astype(str) + "-" + table["size"]
    table["params"] = table["size"].map(SIZES).astype(float)
    table["tokens"] = table["step"] * float(TOKENS_PER_STEP)
    return table.drop(columns="proportions"), domains


FAR_CHECKS = {  # name: (sizes fitted, first step, last step, predicted size, predicted step)
    "70M+160M, steps <= 9k -> 410M / 30k (3.55x size, 3.3x steps)":
        (["70M", "160M"], 0, 9_000, "410M", 30_000),
    "70M-305M, steps <= 9k -> 410M / 30k (1.5x size, 3.3x steps)":
        (["70M", "160M", "305M"], 0, 9_000, "410M", 30_000),
    "70M+160M, steps <= 30k -> 410M / 30k (3.55x size)":
        (["70M", "160M"], 0, 30_000, "410M", 30_000),
    "70M+160M, steps 10k-30k -> 410M / 30k (3.55x size)":
        (["70M", "160M"], 10_000, 30_000, "410M", 30_000),
    "70M-305M, steps 10k-30k -> 410M / 30k (1.5x size)":
        (["70M", "160M", "305M"], 10_000, 30_000, "410M", 30_000),
    "70M-410M, steps 10k-30k -> 70M / 100k (3.3x steps)":
        (list(SIZES), 10_000, 30_000, "70M", 100_000),
    "70M-410M, steps 10k-30k -> 160M / 100k (3.3x steps)":
        (list(SIZES), 10_000, 30_000, "160M", 100_000),
}
FAR_LAWS = {
    "nested, beta per curve, shared alpha":
        lambda: NestedScalingLaw(share_size_exponent=True),
    "nested, shared beta per size and alpha":
        lambda: NestedScalingLaw(share_step_exponent=True, share_size_exponent=True),
    "joint L(N, D), shared E, alpha, beta": JointScalingLaw,
}


def far_extrapolation(reference: Path) -> dict:
    """The 5Mix checks at the paper's extrapolation ratios, each law side by side."""
    table, domains = load_5mix(reference)
    out = {}
    for check, (sizes, first, last, size, step) in FAR_CHECKS.items():
        rows = table[table["size"].isin(sizes) & table["step"].between(first, last)]
        runs = long_runs_from_frame(rows, {PILE: 1.0}, domains=domains, source="5Mix")
        truth = measured(table, size, step)
        at = TargetSize(params=SIZES[size], tokens=step * TOKENS_PER_STEP)
        out[check] = {}
        for name, make in FAR_LAWS.items():
            try:
                law = make().fit(runs, at)
            except UserError as exc:
                out[check][name] = {"error": str(exc)}
                continue
            predicted = law.predicted_.rename(index=lambda r: int(r.split("-")[0][1:]))
            common = truth.index.intersection(predicted.index)
            out[check][name] = scores(predicted.loc[common], truth.loc[common])
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    args = bench_parser(__doc__, out="scaling_laws.json", reference=True).parse_args()
    start = time.perf_counter()
    table, valid_weight = load(args.reference)
    mixtures = shared_mixtures(table)
    timings, results = {}, {}
    for name, job in (("a_step_law_100k", lambda: step_to_100k(table, valid_weight)),
                      ("a_step_law_20k_to_30k", lambda: step_20k_to_30k(table)),
                      ("b_size_law_410m", lambda: size_to_410m(table, mixtures)),
                      ("c_pipeline_leave_one_mixture_out",
                       lambda: leave_one_mixture_out(table, mixtures)),
                      ("c_pipeline_default_mixture_100k", lambda: default_mixture_at_100k(table)),
                      ("d_far_extrapolation_5mix", lambda: far_extrapolation(args.reference))):
        t0 = time.perf_counter()
        results[name] = job()
        timings[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {timings[name]} s", flush=True)
    output = {
        "data": "mixinglaws/RedPajama: 7 training domains (rp0..rp6, unnamed in the data), "
                "22 Pile validation domains; Pile loss = valid_weight.json-weighted sum",
        "params": {**SIZES, "source": PARAMS_SOURCE},
        "tokens_per_step": TOKENS_PER_STEP,
        "mixtures_at_every_size": mixtures,
        "published": PUBLISHED,
        "protocol": {
            "a_step_law_100k": "mixture 999, one size at a time; step law E + B/D^beta fitted "
                               "on steps 10k-30k (11 checkpoints), predicted at 100k",
            "a_step_law_20k_to_30k": "every (mixture, size): fitted on 10k-20k (7 checkpoints),"
                                     " predicted at 30k; Pile loss",
            "b_size_law_410m": "the 20 mixtures trained at every size: stage 1 at 30k from "
                               "70M/160M/305M, size law E + A/N^alpha predicted at 410M; "
                               "Spearman = ranking of the 20 mixtures",
            "c_pipeline_leave_one_mixture_out":
                "for each of the 20 mixtures: nested laws on the other 19 at 70M/160M/305M, "
                "steps 10k-20k (step law -> 30k, size law -> 410M), mixing law fitted on "
                "those 19 predictions, predicting the held-out mixture's measured 410M/30k "
                "Pile loss. Held out: every run of that mixture, every 410M run, every "
                "checkpoint after 20k",
            "c_pipeline_default_mixture_100k":
                "mixture 999 in no fit: step laws (10k-30k) of the other mixtures at that "
                "size (41 at 70M, 20 at 160M) predict 100k; mixing law on those predicts 999",
            "d_far_extrapolation_5mix":
                "5Mix (26 mixtures of 5 Pile domains, Pile loss): fit the sizes and steps "
                "named, predict every mixture's measured loss at the named size and step "
                "(no run of it in the fit); mean % = mean |error| / loss",
        },
        "results": results,
        "timings_s": {**timings, "total": round(time.perf_counter() - start, 1)},
    }
    print_table(results)
    write_record(args.out, output)


def print_table(results: dict) -> None:
    print("\na) step law 10k-30k -> 100k, mixture 999 (Pile loss; domains mean |%|)")
    for size, r in results["a_step_law_100k"].items():
        p = r["pile"]
        print(f"  {size:>5}: predicted {p['predicted']:.4f}  actual {p['actual']:.4f}  "
              f"error {p['error']:+.4f} ({p['pct']:+.2f}%)  "
              f"domains {r['domains_mean_abs_pct']:.2f}% (max {r['domains_max_abs_pct']:.2f}%)")
    rows = [("a) 10k-20k -> 30k, all (mixture, size)", results["a_step_law_20k_to_30k"]),
            ("b) 70M-305M -> 410M at 30k, 20 mixtures", results["b_size_law_410m"])]
    for title, block in rows:
        print(f"\n{title}")
        for name, s in block.items():
            rho = f"  Spearman {s['spearman']:.3f}" if "spearman" in s else ""
            print(f"  {name:<56} MAE {s['mae']:.4f}  mean {s['mean_pct']:.2f}%  "
                  f"max {s['max_pct']:.2f}%{rho}")
    print("\nc) leave one mixture out: 410M/30k from 70M-305M at <= 20k + mixing law")
    for variant, block in results["c_pipeline_leave_one_mixture_out"].items():
        items = block.items() if "mae" not in block else [("", block)]
        for name, s in items:
            if isinstance(s, dict):
                label = (variant + ": " + name if name else variant)[:72]
                rho = f"  Spearman {s['spearman']:.3f}" if "spearman" in s else ""
                print(f"  {label:<72} MAE {s['mae']:.4f}  mean {s['mean_pct']:.2f}%  "
                      f"max {s['max_pct']:.2f}%{rho}")
    print("\nd) far extrapolation on 5Mix (paper's ratios), Pile loss of 26 mixtures")
    for check, block in results["d_far_extrapolation_5mix"].items():
        print(f"  {check}")
        for name, s in block.items():
            if "error" in s:
                print(f"    {name:<42} cannot: {s['error'][:70]}")
                continue
            rho = f"  Spearman {s['spearman']:.3f}" if "spearman" in s else ""
            print(f"    {name:<42} mean {s['mean_pct']:.2f}%  bias {s['bias_pct']:+.2f}%"
                  f"  max {s['max_pct']:.2f}%{rho}")
    print("\nc) mixture 999 (in no fit) at 100k via the others' step laws + mixing law")
    for size, r in results["c_pipeline_default_mixture_100k"].items():
        print(f"  {size:>5}: predicted {r['predicted']:.4f}  actual {r['actual']:.4f}  "
              f"({r['pct']:+.2f}%)")


if __name__ == "__main__":
    main()
