"""The critical proportion of Python in continual pretraining Pythia-70M on Pile + Python.

Data Mixing Laws (Ye et al., ICLR 2025, sec. 4.3, fig. 8) continually pretrained the
Pythia-70M checkpoint at step 20k for 10k steps (1,048,576 tokens a step) on four
mixtures of the Pile and Python code (Pile shares 0.125, 0.25, 0.375, 0.5), fitted the
two-domain law to the final loss on the Pile and found the critical proportion 0.286 of
Pile (their notebook prints 0.28622540757637893); a fifth run at 0.28515625 of Pile
(run 9 in ``ct/70M.txt``) checks it: its Pile loss should end at the loss before
continual pretraining.

In ``ct/70M.txt`` the run names are ``70M_ct_<idx>-<pile share>-<python share>`` (the
notebook labels the first number "Pile Proportion"; the loss on the Pile falls and the
loss on Python rises as it grows). The loss on the Pile is the 22 Pile validation domains
weighted by ``valid_weight.json``; the baseline is that of ``pythia_70m_step20000``.

This script fits :func:`raymix.proposal.critical_proportion` on runs 0-3 and reports

* the critical proportion at each checkpoint, 1k to 10k steps, from that checkpoint's
  losses (the last one is the paper's number);
* the critical proportion at 10k extrapolated from earlier checkpoints with the step law
  (shared-exponent power law per proportion), fitted from 4k steps on (after the rise of
  the Pile loss that continual pretraining causes first) and, for contrast, from 1k;
* run 9: its observed Pile loss against the baseline and against the law's prediction.

    python bench/bench_critical.py [--reference PATH] [--out PATH]

Writes bench/results/critical.json.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import bench_parser, mixinglaws_losses, pile_valid_weight, write_record

from raymix.proposal import critical_proportion

TOKENS_PER_STEP = 1_048_576
BASE = "pythia_70m_step20000"
FIT_RUNS = ["0", "1", "2", "3"]
CHECK_RUN = "9"
STEPS = list(range(1000, 10001, 1000))
LAST = STEPS[-1]
STEP_LAW_FROM = [4000, 1000]  # the 0.875-Python run's Pile loss rises up to 5k, then falls
STEP_LAW_UNTIL = [6000, 7000, 8000, 9000]  # last checkpoint seen by the extrapolation
PUBLISHED = {"pile_share": 0.286, "pile_share_notebook": 0.28622540757637893,
             "check_run_pile_share": 0.28515625}
RUN = re.compile(r"70M_ct_(\d+)-([\d.]+)-([\d.]+)$")


def read_ct(path: Path, valid_weight: dict) -> tuple[float, dict]:
    """Baseline Pile loss, and {run idx: {"pile": share, "python": share, "loss": {step: L}}}."""
    losses = defaultdict(dict)  # (run, step) -> {domain: loss}; duplicate lines agree
    for checkpoint, domain, loss in mixinglaws_losses(path):
        parts = checkpoint.rstrip("/").split("/")
        key = ("base", 0) if parts[-1] == BASE else (parts[-2], int(parts[-1]))
        losses[key][domain] = loss
    total = sum(valid_weight.values())

    def pile(domains: dict) -> float:
        return sum(domains[d] * w for d, w in valid_weight.items()) / total

    runs = {}
    for (name, step), domains in losses.items():
        match = RUN.match(name)
        if match:
            run = runs.setdefault(match[1], {"pile": float(match[2]), "python": float(match[3]),
                                             "loss": {}})
            run["loss"][step] = pile(domains)
    return pile(losses[("base", 0)]), runs


def rows(runs: dict, steps: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Python share, Pile loss and tokens of every checkpoint of the fitted runs at ``steps``."""
    table = [(runs[r]["python"], runs[r]["loss"][s], s * TOKENS_PER_STEP)
             for r in FIT_RUNS for s in steps]
    return tuple(np.array(column) for column in zip(*table))


def summary(result, check_share: float, observed: float) -> dict:
    law = result.law
    predicted = law["c"] + law["k"] * np.exp(law["t"] * check_share)
    return {"python_share": result.proportion, "pile_share": 1 - result.proportion,
            "feasible": result.feasible, "c": law["c"], "k": law["k"], "t": law["t"],
            "fit_rmse": law["rmse"], "run9_predicted": float(predicted),
            "run9_observed": observed, "run9_error": float(predicted - observed),
            "message": result.message}


def main() -> None:
    args = bench_parser(__doc__, out="critical.json", reference=True).parse_args()
    valid_weight = pile_valid_weight(args.reference)
    baseline, runs = read_ct(args.reference / "mixinglaws" / "ct" / "70M.txt", valid_weight)
    check = runs[CHECK_RUN]
    started = time.perf_counter()

    per_step = {}
    for step in STEPS:
        share, loss, _ = rows(runs, [step])
        result = critical_proportion(share, loss, baseline, domain="python")
        per_step[step] = summary(result, check["python"], check["loss"][step])

    extrapolated = {start: {} for start in STEP_LAW_FROM}
    for start in STEP_LAW_FROM:
        for until in STEP_LAW_UNTIL:
            share, loss, tokens = rows(runs, [s for s in STEPS if start <= s <= until])
            result = critical_proportion(share, loss, baseline, domain="python",
                                         tokens=tokens, at_tokens=LAST * TOKENS_PER_STEP)
            row = extrapolated[start][until] = summary(result, check["python"],
                                                       check["loss"][LAST])
            row["step_law_beta"] = result.law["step_law"]["beta"]
            row["step_law_rmse"] = result.law["step_law"]["rmse"]
    seconds = time.perf_counter() - started

    final = per_step[LAST]
    out = {
        "data": "mixinglaws/ct/70M.txt: Pythia-70M step 20k continually pretrained on Pile + "
                "Python, 4 fitted proportions + run 9 at the published critical proportion",
        "baseline_pile_loss": baseline,
        "fitted_runs": {r: {"python_share": runs[r]["python"], "pile_loss": runs[r]["loss"]}
                        for r in FIT_RUNS},
        "published": PUBLISHED,
        "critical_at_10k": final,
        "pile_share_vs_published": final["pile_share"] - PUBLISHED["pile_share_notebook"],
        "per_step": per_step,
        "extrapolated_to_10k": {f"from_step_{start}": by_until
                                for start, by_until in extrapolated.items()},
        "run9": {"pile_share": check["pile"],
                 "pile_loss": check["loss"],
                 "minus_baseline": {s: check["loss"][s] - baseline for s in STEPS}},
        "seconds": seconds,
    }
    print(f"baseline Pile loss (Pythia-70M step 20k): {baseline:.4f}")
    print(f"{'step':>6} {'Python r*':>10} {'Pile 1-r*':>10} {'run 9 obs-L0':>13} "
          f"{'run 9 pred-obs':>15} {'fit rmse':>9}")
    for step, row in per_step.items():
        print(f"{step:>6} {row['python_share']:>10.4f} {row['pile_share']:>10.4f} "
              f"{check['loss'][step] - baseline:>+13.4f} {row['run9_error']:>+15.4f} "
              f"{row['fit_rmse']:>9.5f}")
    print(f"published: Pile share {PUBLISHED['pile_share']} "
          f"(notebook {PUBLISHED['pile_share_notebook']:.4f}); ours at 10k "
          f"{final['pile_share']:.4f}")
    for start, by_until in extrapolated.items():
        print(f"step law fitted from step {start}, extrapolated to {LAST}:")
        for until, row in by_until.items():
            print(f"  seen up to {until:>5}: Pile share {row['pile_share']:.4f} (beta "
                  f"{row['step_law_beta']:.2f}, step-fit rmse {row['step_law_rmse']:.5f})")
    write_record(args.out, out, seconds=seconds)


if __name__ == "__main__":
    main()
