"""Data mixing laws on the paper's own runs: how well do they predict held-out mixtures?

Ye et al. (ICLR 2025) released the validation losses of 70M models trained for 30k steps
on 26 mixtures of 5 Pile domain groups (academic, prose, dialogue, symbolic, internet;
the order of ``5Mix/proportions.txt``), each evaluated on the 22 Pile validation domains.
They report, for 20 fitted / 6 held-out mixtures, a mean absolute error on the overall
Pile loss of 0.0086 with explicit laws (one per domain group, summed with the Pile's
validation weights) and 0.002 - 0.003 with the implicit law (K >= 5).

This script fits :class:`raymix.regression.MixingLaw` and
:class:`raymix.regression.ImplicitMixingLaw`
on 20 mixtures and scores the other 6:

* per Pile validation domain (22 targets), explicit and implicit;
* on the implicit-domain targets: the 5 domain groups and the overall Pile loss, with the
  paper's explicit recipe (one law per group, summed), the explicit law fitted directly,
  and the implicit law with K = 5 and K = 30;
* on two splits: the first 20 of proportions.txt / the last 6 (the paper's split is not
  recoverable, see ``notes`` in the output), and the mean over ``--splits`` random 20/6
  splits, so that no number rests on one lucky split;
* under the paper's own protocol, which fitted on all 26 mixtures, scored ones included;
* for a few Huber thresholds.

It also times the fits (20 runs here; 512 runs x 17 domains on RegMix's released runs,
where it scores the 256 RegMix test mixtures too) and a 1,000,000-candidate predict.

    python bench/bench_mixing_laws.py [--reference PATH] [--splits 20] [--out PATH]

Writes bench/results/mixing_laws.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from common import (
    REGMIX_TARGET,
    bench_parser,
    load_regmix,
    mixinglaws_losses,
    pile_valid_weight,
    timed,
    write_record,
)
from joblib import Parallel, delayed
from scipy import stats

from raymix.regression import ImplicitMixingLaw, MixingLaw

STEP = 30000
N_FIT = 20
PUBLISHED = {"explicit (group laws summed)": 0.0086, "implicit K=5": 0.0027,
             "implicit K=30": 0.0020}
# The paper's grouping of the 22 Pile domains into its 5 training domains
# (mix_5_domains.ipynb in yegcjs/mixinglaws); proportions.txt lists them in this order.
GROUPS = {
    "academic": ["ArXiv", "PubMed_Abstracts", "PhilPapers", "NIH_ExPorter", "FreeLaw",
                 "USPTO_Backgrounds", "PubMed_Central"],
    "prose": ["PG19", "Books3", "BookCorpus2"],
    "dialogue": ["Ubuntu_IRC", "OpenSubtitles", "EuroParl", "Enron_Emails", "HackerNews",
                 "YoutubeSubtitles"],
    "symbolic": ["DM_Mathematics", "Github"],
    "internet": ["Pile-CC", "OpenWebText2", "StackExchange", "Wikipedia_en"],
}
EXPLICIT_METHODS = ["explicit (group laws summed)", "explicit (domain laws summed)",
                    "explicit (fitted on the Pile loss)"]
IMPLICIT_METHODS = {  # name -> ImplicitMixingLaw settings
    "implicit K=5": {"n_components": 5},
    "implicit K=30": {"n_components": 30},
    # no early stopping
    "implicit K=5, to convergence": {"n_components": 5, "max_iter": 3000},
    "implicit K=30, to convergence": {"n_components": 30, "max_iter": 3000},
    # what the paper's protocol rewards: one fit, no early stopping, a near-L1 loss
    "implicit K=5, interpolating": {"n_components": 5, "n_bags": 1, "max_iter": 20000,
                                    "huber_delta": 0.002},
    "implicit K=30, interpolating": {"n_components": 30, "n_bags": 1, "max_iter": 20000,
                                     "huber_delta": 0.002},
}
PILE_METHODS = EXPLICIT_METHODS + list(IMPLICIT_METHODS)
# The paper's fitted group laws (log c, log k, t_1..t_5 per group), printed by
# mix_5_domains.ipynb after fitting on all 26 mixtures: a check that our data and
# in-sample errors are theirs.
PUBLISHED_GROUP_LAWS = [
    [0.9750, -2.1391, -10.0864, 2.7140, 2.7106, 2.6083, 1.5866],
    [1.2624, -2.1656, 1.3930, -4.6811, 0.7855, 1.8719, 0.5734],
    [1.1375, -7.1017, 6.7135, 6.2643, -31.8621, 6.6423, 6.2053],
    [0.4750, -3.6546, 3.3289, 3.6705, 3.1127, -16.4217, 3.1591],
    [1.2402, -1.9510, 1.1897, 0.8697, -0.5184, 1.7122, -3.0870],
]
HUBER_DELTAS = [0.005, 0.01, 0.02, 0.05, 1.0]  # 1.0: wider than any residual, least squares


# ------------------------------------------------------------------------------ data


def _proportions(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split("-"))


def load_5mix(reference: Path, size: str = "70M", step: int = STEP):
    """Mixtures (26, 5) in proportions.txt order, per-domain losses (26, 22) and domain names.

    Each line is ``<checkpoint>\\t<validation file>\\t<loss>``; the checkpoint path ends in
    ``<size>_<run>-<r1>-...-<r5>/<step>``. Runs numbered above 900 are special fixed
    mixtures, kept only if proportions.txt lists their mixture.
    """
    folder = reference / "mixinglaws" / "5Mix"
    listed = [_proportions(line) for line in (folder / "proportions.txt").read_text().split()]
    losses: dict[tuple, dict[str, float]] = {}
    for checkpoint, domain, loss in mixinglaws_losses(folder / f"{size}.txt"):
        run, step_dir = checkpoint.strip("/").split("/")[-2:]
        if int(step_dir) != step:
            continue
        index, *weights = run.split("-")
        mixture = tuple(float(w) for w in weights)
        if int(index.rsplit("_", 1)[1]) > 900 and mixture not in listed:
            continue
        losses.setdefault(mixture, {})[domain] = loss
    missing = [m for m in listed if m not in losses]
    if missing:
        raise SystemExit(f"{len(missing)} mixtures of proportions.txt have no step-{step} losses")
    domains = sorted(losses[listed[0]])
    Y = np.array([[losses[m][d] for d in domains] for m in listed])
    return np.array(listed), Y, domains


@dataclass
class FiveMix:
    """The runs and every target: domains, domain groups and the overall Pile loss."""

    X: np.ndarray  # (26, 5) mixtures
    Y: np.ndarray  # (26, 22) loss per Pile validation domain
    domains: list[str]
    domain_weight: np.ndarray  # (22,) the Pile's validation weights, summing to 1
    groups: np.ndarray  # (26, 5) weighted mean loss of each group's domains
    group_weight: np.ndarray  # (5,) total weight of each group
    pile: np.ndarray  # (26,) overall Pile loss


def with_implicit_targets(X, Y, domains, valid_weight) -> FiveMix:
    """Add the group losses and the overall Pile loss, weighted as the Pile weighs them."""
    column = {d: i for i, d in enumerate(domains)}
    groups = np.column_stack([
        sum(Y[:, column[d]] * valid_weight[d] for d in members)
        / sum(valid_weight[d] for d in members)
        for members in GROUPS.values()])
    group_weight = np.array([sum(valid_weight[d] for d in members) for members in GROUPS.values()])
    domain_weight = np.array([valid_weight[d] for d in domains])
    return FiveMix(X, Y, domains, domain_weight, groups, group_weight, Y @ domain_weight)


def splits(n: int, count: int, seed: int = 0):
    """The first-20 / last-6 split, then ``count`` random 20 / n-20 splits."""
    rng = np.random.default_rng(seed)
    yield np.arange(N_FIT), np.arange(N_FIT, n)
    for _ in range(count):
        order = rng.permutation(n)
        yield np.sort(order[:N_FIT]), np.sort(order[N_FIT:])


# ------------------------------------------------------------------------ evaluation


def _mae(model, X, y, fit, test) -> float:
    return float(np.abs(model.fit(X[fit], y[fit]).predict(X[test]) - y[test]).mean())


def _weighted_sum_prediction(X, targets, weights, fit, test) -> np.ndarray:
    """The paper's explicit recipe: one law per component target, summed with weights."""
    return sum(w * MixingLaw().fit(X[fit], targets[fit, i]).predict(X[test])
               for i, w in enumerate(weights))


def pile_errors(data: FiveMix, fit, test) -> dict[str, float]:
    """Held-out MAE on the overall Pile loss for every method."""
    X, pile = data.X, data.pile

    def mae(pred):
        return float(np.abs(pred - pile[test]).mean())

    return {
        "explicit (group laws summed)": mae(_weighted_sum_prediction(
            X, data.groups, data.group_weight, fit, test)),
        "explicit (domain laws summed)": mae(_weighted_sum_prediction(
            X, data.Y, data.domain_weight, fit, test)),
        "explicit (fitted on the Pile loss)": _mae(MixingLaw(), X, pile, fit, test),
        **{name: _mae(ImplicitMixingLaw(**settings), X, pile, fit, test)
           for name, settings in IMPLICIT_METHODS.items()},
    }


def split_errors(data: FiveMix, fit, test) -> dict:
    """All held-out errors of one split."""
    per_target = {}
    for name, column in [*zip(data.domains, data.Y.T), *zip(GROUPS, data.groups.T)]:
        per_target[name] = {"explicit": _mae(MixingLaw(), data.X, column, fit, test),
                            "implicit": _mae(ImplicitMixingLaw(), data.X, column, fit, test)}
    return {"targets": per_target, "pile": pile_errors(data, fit, test)}


def huber_errors(data: FiveMix, fit, test) -> dict[str, list[float]]:
    """Explicit-law held-out MAE per domain and on the Pile loss, for each Huber threshold."""
    X, out = data.X, {}
    for delta in HUBER_DELTAS:
        domains = [_mae(MixingLaw(huber_delta=delta), X, y, fit, test) for y in data.Y.T]
        summed = sum(w * MixingLaw(huber_delta=delta).fit(X[fit], g[fit]).predict(X[test])
                     for w, g in zip(data.group_weight, data.groups.T))
        out[str(delta)] = [float(np.mean(domains)), float(np.abs(summed - data.pile[test]).mean())]
    return out


def published_fit_check(data: FiveMix) -> dict[str, float]:
    """In-sample errors of the paper's own fitted group laws on the overall Pile loss."""
    pile = sum(w * (np.exp(p[0]) + np.exp(p[1] + data.X @ np.array(p[2:])))
               for w, p in zip(data.group_weight, PUBLISHED_GROUP_LAWS))
    errors = np.abs(pile - data.pile)
    rng = np.random.default_rng(0)
    six = [errors[rng.permutation(len(errors))[:len(errors) - N_FIT]].mean() for _ in range(10000)]
    return {"mae_all26": float(errors.mean()), "mae_last6": float(errors[N_FIT:].mean()),
            "mae_random6_median": float(np.median(six)),
            "mae_random6_p05": float(np.quantile(six, 0.05)),
            "mae_random6_p95": float(np.quantile(six, 0.95))}


def summarise(values: list[float]) -> dict[str, float]:
    return {"random_mean": float(np.mean(values)), "random_std": float(np.std(values)),
            "random_median": float(np.median(values))}


# --------------------------------------------------------------------------- timings


def _best_seconds(fn, repeats: int = 1) -> float:
    """The fastest of ``repeats`` calls of ``fn``, wall seconds."""
    return min(timed(fn, repeats)[0])


def regmix_check(reference: Path) -> dict:
    """Fit both laws on RegMix's 512 runs (Pile-CC loss), score its 256 test runs and time
    a 1,000,000-candidate predict."""
    def load(split):
        weights, losses = load_regmix(reference, split)
        return weights.to_numpy(), losses[REGMIX_TARGET].to_numpy()

    (X, y), (X_test, y_test) = load("train"), load("test")
    candidates = np.random.default_rng(0).dirichlet(np.full(X.shape[1], 0.5), size=1_000_000)
    out = {"n_train": len(y), "n_test": len(y_test), "n_domains": X.shape[1]}
    for name, model in [("explicit", MixingLaw()), ("implicit K=5", ImplicitMixingLaw())]:
        fit_s = _best_seconds(partial(model.fit, X, y))
        prediction = model.predict(X_test)
        out[name] = {
            "fit_s": fit_s,
            "test_mae": float(np.abs(prediction - y_test).mean()),
            "test_spearman_x100": float(100 * stats.spearmanr(prediction, y_test)[0]),
            "predict_1M_s": _best_seconds(partial(model.predict, candidates), repeats=3),
            "gradient_1M_s": _best_seconds(partial(model.gradient, candidates), repeats=3),
        }
    return out


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = bench_parser(__doc__, out="mixing_laws.json", reference=True)
    parser.add_argument("--splits", type=int, default=20, help="random 20/6 splits")
    args = parser.parse_args()
    reference = args.reference

    data = with_implicit_targets(*load_5mix(reference), pile_valid_weight(reference))
    X, pile, domains = data.X, data.pile, data.domains

    all_splits = list(splits(len(X), args.splits))
    start = time.perf_counter()
    results = Parallel(n_jobs=2)(delayed(split_errors)(data, fit, test) for fit, test in all_splits)
    ablation = Parallel(n_jobs=2)(delayed(huber_errors)(data, fit, test)
                                  for fit, test in all_splits[1:])
    everything = np.arange(len(X))  # the paper's protocol: fit on all 26
    in_sample_last6 = pile_errors(data, everything, np.arange(N_FIT, len(X)))
    in_sample_all = pile_errors(data, everything, everything)
    elapsed = time.perf_counter() - start

    first, rest = results[0], results[1:]
    pile_table = {m: {"first20_last6": first["pile"][m], **summarise([r["pile"][m] for r in rest]),
                      "in_sample_last6": in_sample_last6[m], "in_sample_all26": in_sample_all[m]}
                  for m in PILE_METHODS}
    targets = {name: {law: {"first20_last6": first["targets"][name][law],
                            **summarise([r["targets"][name][law] for r in rest])}
                      for law in ("explicit", "implicit")}
               for name in [*domains, *GROUPS]}
    domain_means = {law: {"first20_last6": float(np.mean([first["targets"][d][law]
                                                          for d in domains])),
                          **summarise([float(np.mean([r["targets"][d][law] for d in domains]))
                                       for r in rest])}
                    for law in ("explicit", "implicit")}
    huber = {delta: {"domain_mean_mae": float(np.mean([a[delta][0] for a in ablation])),
                     "pile_group_sum_mae": float(np.mean([a[delta][1] for a in ablation]))}
             for delta in ablation[0]}

    fit_times = {
        "explicit_20_runs_s": _best_seconds(
            lambda: MixingLaw().fit(X[:N_FIT], pile[:N_FIT]), repeats=3),
        "implicit_K5_20_runs_s": _best_seconds(
            lambda: ImplicitMixingLaw().fit(X[:N_FIT], pile[:N_FIT]), repeats=3),
        "implicit_K30_20_runs_s": _best_seconds(
            lambda: ImplicitMixingLaw(n_components=30).fit(X[:N_FIT], pile[:N_FIT])),
    }
    result = {
        "benchmark": "Data Mixing Laws (Ye et al., ICLR 2025): held-out MAE, 5Mix 70M step 30000",
        "data": {"mixtures": len(X), "fit": N_FIT, "held_out": len(X) - N_FIT,
                 "training_domains": list(GROUPS), "validation_domains": domains,
                 "random_splits": args.splits},
        "settings": {"explicit": MixingLaw().get_params(),
                     "implicit": ImplicitMixingLaw().get_params()},
        "published": PUBLISHED,
        "published_group_laws_in_sample": published_fit_check(data),
        "pile_loss": pile_table,
        "per_domain_mean": domain_means,
        "per_target": targets,
        "huber_delta_ablation_explicit": huber,
        "fit_time": fit_times,
        "regmix_pile_cc": regmix_check(reference),
        "evaluation_s": elapsed,
        "notes": NOTES,
    }
    print_tables(result)
    write_record(args.out, result)


NOTES = [
    "The published numbers come from fitting on all 26 mixtures, the 6 scored ones included "
    "(mix_5_domains.ipynb fits the group laws on `ratios`, all 26; the implicit-law weights "
    "in mix5mlp.pt were trained on all 26 with the last 5 used for selection). Compare them "
    "with the in_sample_* columns; the held-out columns are the honest error.",
    "The paper's 6 held-out mixtures cannot be recovered: their order comes from iterating a "
    "Python set of the file's lines (hash-randomised) before a seeded shuffle. Hence the "
    "first-20/last-6 split of proportions.txt and the mean over random 20/6 splits.",
    "published_group_laws_in_sample scores the paper's own fitted group laws: on all 26 "
    "mixtures they miss the Pile loss by about as much as ours do in sample, and 0.0086 is "
    "a low draw among random sets of 6 of those in-sample errors.",
    "The exp-linear form is the main error source: e.g. ArXiv loss falls about 0.45 from "
    "r_academic = 0 to 1/16 and only 0.3 more up to 1/2, and all five r_academic = 0 runs have "
    "r_internet = 0.75, so an exponential in r cannot follow it and held-out corners "
    "extrapolate.",
]


def print_tables(result: dict) -> None:
    """A short human-readable summary of the JSON."""
    print(f"Pile loss MAE (20 fit / 6 held out; published: {PUBLISHED})")
    print(f"{'method':36s} {'first20':>8s} {'random':>15s} {'in-sample6':>10s} "
          f"{'in-sample26':>11s}")
    for method, row in result["pile_loss"].items():
        print(f"{method:36s} {row['first20_last6']:8.4f} "
              f"{row['random_mean']:8.4f}+-{row['random_std']:.4f}"
              f" {row['in_sample_last6']:10.4f} {row['in_sample_all26']:11.4f}")
    check = result["published_group_laws_in_sample"]
    print(f"the paper's own group laws, in sample: all 26 {check['mae_all26']:.4f}, random sets "
          f"of 6 {check['mae_random6_p05']:.4f} - {check['mae_random6_p95']:.4f} (5-95%)")
    print("\nPer validation target MAE (explicit / implicit K=5): first20 | random mean")
    for name, row in result["per_target"].items():
        e, i = row["explicit"], row["implicit"]
        print(f"  {name:20s} {e['first20_last6']:.4f} / {i['first20_last6']:.4f} | "
              f"{e['random_mean']:.4f} / {i['random_mean']:.4f}")
    m = result["per_domain_mean"]
    print(f"  {'mean of 22 domains':20s} {m['explicit']['first20_last6']:.4f} / "
          f"{m['implicit']['first20_last6']:.4f} | {m['explicit']['random_mean']:.4f} / "
          f"{m['implicit']['random_mean']:.4f}")
    print("\nHuber delta (fraction of mean loss), explicit law, random splits:")
    for delta, row in result["huber_delta_ablation_explicit"].items():
        print(f"  {delta:>6s}: domain mean {row['domain_mean_mae']:.4f}, "
              f"Pile (group sum) {row['pile_group_sum_mae']:.4f}")
    print("\nFit times:", json.dumps(result["fit_time"]))
    print("RegMix Pile-CC (512 fit, 256 test):", json.dumps(result["regmix_pile_cc"]))


if __name__ == "__main__":
    main()
