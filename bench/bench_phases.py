"""One mixture or a two-phase schedule: at the same number of proxies, which proposes better?

Many pretraining runs change the mixture late in training (a final phase richer in
high-quality or target-like data). Does raymix's best two-phase schedule beat its best
single mixture at 4x the proxy's size, beyond seed noise? On the built-in demo
(jobs/configs/demo.yaml: six domains, the Python language reference as the target), two
arms at the same number of proxies (--proxies, each --steps long; no confirmation round,
so each proposal is the fit's own), each swept --sweep-seeds times (the draw and the
proxies' training seeds both change):

- ``single``: one mixture a run (RegMix's Dirichlet over the six domains), the proposal
  one mixture;
- ``two_phase``: ``mixtures.phases: [--boundary x steps]``, each proxy a schedule of two
  mixtures drawn apart (the second phase the last quarter of the steps by default), the
  fit on the twelve slots plus each domain's total, the proposal a schedule.

Both arms keep the demo's search section (its repetition cap bounds a domain's total over
the run, whichever phase it falls in). Each proposal is trained at 4x the proxy's
non-embedding parameters (hidden and intermediate x2) for --scale-steps (default 2x
--steps; a schedule's phases keep their share of the steps) with --scale-seeds seeds, as
bench/bench_proposal_at_scale.py trains its contenders. Reported per arm: the mean over its
sweeps of each proposal's mean target loss at scale, +- the standard error over sweeps,
and two_phase - single with its standard error. A control tells the order of the data
from its totals: ``same_totals`` trains each two-phase proposal's domain totals over the
run as one mixture (the same tokens of each domain, in no order), and two_phase -
same_totals is the schedule's own gain.

    python bench/bench_phases.py [--proxies 24] [--steps 200] [--boundary 0.75]
        [--sweep-seeds 3] [--scale-seeds 3] [--scale-steps 400] [--workers 2] [--keep]

Writes bench/results/phases.json and prints a table for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench_grouped_sweep import run
from bench_proposal_at_scale import arms_table, compare_arms
from common import (
    bench_parser,
    demo_sweep,
    fresh_folder,
    machine,
    write_record,
    write_sweep,
)

ARMS = ("single", "two_phase")
TOTALS = "same_totals"  # the control: a schedule's domain totals as one mixture


def sweep_config(folder: Path, *, phased: bool, seed: int, proxies: int, steps: int,
                 boundary: float) -> Path:
    """The demo's sweep, ``proxies`` proxies of ``steps`` steps seeded ``seed``: one
    mixture a run, or (``phased``) two phases, the second from ``boundary`` of the steps."""
    raw = demo_sweep(folder, proxies=proxies, steps=steps, seed=seed)
    raw["mixtures"]["repeats"] = 0  # every proxy a new draw: the arms' budgets match
    if phased:
        raw["mixtures"]["phases"] = [int(round(boundary * steps))]
    raw["fit"]["cv_folds"] = min(raw["fit"]["cv_folds"], max(2, proxies // 4))
    return write_sweep(folder, raw)


def run_totals(proposal: dict) -> dict[str, float]:
    """A schedule's domain totals over the run (``proposal.json``'s ``groups``): the one
    mixture that trains the same tokens of each domain in another order."""
    return {d: entry["total"] for d, entry in proposal["groups"].items()}


def late_shift(proposal: dict) -> dict[str, float] | None:
    """How much more of each domain the second phase holds than the first (in each
    phase's own mixture); None for one mixture."""
    phases = proposal.get("schedule")
    if not phases:
        return None
    first, last = phases[0]["mixture"], phases[-1]["mixture"]
    return {d: round(last[d] - first[d], 4) for d in first}


def main() -> None:
    parser = bench_parser(__doc__, out="phases.json", work="bench-phases")
    parser.add_argument("--proxies", type=int, default=24, help="proxies per sweep (24)")
    parser.add_argument("--steps", type=int, default=200, help="steps per proxy (200)")
    parser.add_argument("--boundary", type=float, default=0.75,
                        help="where the second phase starts, a share of the steps (0.75)")
    parser.add_argument("--sweep-seeds", type=int, default=3, help="sweeps per arm (3)")
    parser.add_argument("--scale-seeds", type=int, default=3,
                        help="seeds per proposal at 4x (3)")
    parser.add_argument("--scale-steps", type=int, default=None,
                        help="steps at 4x (default 2x --steps)")
    parser.add_argument("--workers", type=int, default=2, help="processes at 4x (2)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the sweeps already in --work: each resumes (re-proposes)")
    args = parser.parse_args()
    work = args.work if args.keep else fresh_folder(args.work)
    started = time.perf_counter()

    import raymix

    sweeps = {}  # (arm, seed) -> its config and proposal
    for arm in ARMS:
        for seed in range(args.sweep_seeds):
            config = sweep_config(work / f"{arm}-{seed}", phased=arm == "two_phase", seed=seed,
                                  proxies=args.proxies, steps=args.steps,
                                  boundary=args.boundary)
            seconds, _ = run(["sweep", str(config)])
            cfg = raymix.load_config(config)
            proposal = json.loads((Path(cfg.storage_path) / "proposal.json").read_text())
            sweeps[arm, seed] = {"config": config, "proposal": proposal,
                                 "sweep_seconds": round(seconds, 1)}
            shown = proposal.get("schedule") or [{"mixture": proposal["mixture"]}]
            print(f"{arm} sweep {seed}: {seconds:.0f} s; proposal "
                  + " then ".join(json.dumps({d: round(w, 3) for d, w in p["mixture"].items()})
                                  for p in shown), flush=True)

    # the control: each schedule's domain totals over the run as one mixture, which
    # tells a better order of the data from a better total
    trained = {key: e["proposal"]["mixture"] for key, e in sweeps.items()}
    trained |= {(TOTALS, seed): run_totals(sweeps["two_phase", seed]["proposal"])
                for seed in range(args.sweep_seeds)}
    compared = compare_arms(trained, [("single", "two_phase"), (TOTALS, "two_phase")],
                            sweeps["single", 0]["config"],
                            args.scale_steps or 2 * args.steps, args.scale_seeds, args.workers)
    losses = compared["losses"]
    record = {
        "benchmark": "one mixture vs a two-phase schedule at the same number of proxies, "
                     "each sweep's proposal trained at 4x the proxy's parameters",
        "machine": machine(),
        "proxy": {"params": compared["proxy_params"], "steps": args.steps,
                  "proxies": args.proxies, "second_phase_from": args.boundary},
        "scale": compared["scale"], "sweep_seeds": args.sweep_seeds,
        "scale_seeds": args.scale_seeds,
        "seed_noise_std_at_scale": compared["seed_noise_std_at_scale"],
        "arms": compared["arms"], "differences": compared["differences"],
        "sweeps": {f"{arm}-{seed}": {
            "mixture": e["proposal"]["mixture"],
            "schedule": e["proposal"].get("schedule"),
            "late_minus_early": late_shift(e["proposal"]),
            "predicted_target_loss": e["proposal"]["predicted_target_loss"],
            "regressor": e["proposal"]["regressor"]["name"],
            "cv_spearman": e["proposal"]["regressor"]["cv_spearman"],
            "losses_at_scale": losses[f"{arm}-{seed}"], "sweep_seconds": e["sweep_seconds"]}
            for (arm, seed), e in sweeps.items()},
        "same_totals_at_scale": {f"{TOTALS}-{seed}": losses[f"{TOTALS}-{seed}"]
                                 for seed in range(args.sweep_seeds)},
    }
    print(arms_table(compared))
    write_record(args.out, record, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
