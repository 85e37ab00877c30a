"""A domain added after the sweep: reuse the old runs with a few new proxies, or sweep again?

The demo's six domains (jobs/configs/demo.yaml). The old sweep left out one domain
(--added, default poetry) and trained --old proxies. Then the new config with it:

- ``full``: a full re-sweep of --full proxies on the six domains;
- ``reuse-<n>``: ``mixtures.reuse`` of the old sweep (its runs mapped, weight 0 on the
  added domain) plus n new proxies drawn around the focused prior
  (``mixtures.reuse.focus``), for each n of --new.

Every sweep trains --steps-long proxies with no confirmation round (each proposal is the
fit's own) and uses the old sweep's tokenizer (``data.tokenizer.path``; reuse refuses
another). Each proposal is then trained at 4x the proxy's non-embedding parameters
(hidden and intermediate x2) and 2x its steps with --scale-seeds seeds, as
bench/bench_proposal_at_scale.py trains its contenders, and its target loss measured:
mean +- standard error. The seed noise is the pooled seed-to-seed std of all the answers
at that scale; a reuse answer is within the noise of the full re-sweep's when it is not
worse by more than 2 standard errors of the difference. Reported: the fewest new proxies
within the noise, and the compute saved against the full re-sweep (proxies not trained:
1 - n / --full). The defaults take about 25 minutes on 2 cores; --smoke checks the script
(6 old proxies, 6 again, then 2 new ones, 30 steps each) in 7 minutes on 2 busy cores.

    python bench/bench_reuse.py [--old 24] [--full 24] [--new 4 8 16] [--steps 480]
        [--scale-seeds 3] [--focus 0.5] [--workers 2] [--smoke]

Writes bench/results/reuse.json and prints a table for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from bench_grouped_sweep import run
from bench_proposal_at_scale import at_4x, train_at_scale
from common import (
    bench_parser,
    demo_sweep,
    fresh_folder,
    machine,
    proxy_setup,
    write_record,
    write_sweep,
)

from raymix.regression.noise import NOISE_SIGMAS, gap_se, seed_noise
from raymix.training import non_embedding_params

SMOKE = {"old": 6, "full": 6, "new": [2], "steps": 30, "scale_seeds": 2}


def sweep_config(folder: Path, *, proxies: int, steps: int, without: str | None = None,
                 tokenizer: Path | None = None, reuse: dict | None = None,
                 reused: int = 0) -> Path:
    """The demo's sweep of ``proxies`` proxies of ``steps`` steps under ``folder``: its
    domains but ``without``, with the tokenizer ``tokenizer`` and ``mixtures.reuse``
    (``reused``: the old runs its fit holds too)."""
    raw = demo_sweep(folder, proxies=proxies, steps=steps)
    raw["data"]["domains"] = [d for d in raw["data"]["domains"] if d["name"] != without]
    if tokenizer:
        raw["data"]["tokenizer"] = {"path": str(tokenizer)}
    raw["mixtures"].update(repeats=0, reuse=reuse)
    raw["fit"]["cv_folds"] = min(raw["fit"]["cv_folds"], max(2, (proxies + reused) // 3))
    return write_sweep(folder, raw)


def table(answers: dict, full: str, noise: float, scale: dict) -> str:
    """The markdown table of docs/benchmarks.md."""
    lines = [f"| sweep | proxies trained | target loss at 4x ({scale['params']:,} params, "
             f"{scale['steps']} steps), mean ± SE | vs full re-sweep | within noise |",
             "|---|---|---|---|---|"]
    for name, a in answers.items():
        gap = "" if name == full else f"{a['gap']:+.4f} ± {a['gap_se']:.4f}"
        within = "" if name == full else ("yes" if a["within_noise"] else "no")
        lines.append(f"| {name} | {a['proxies']} | {a['mean']:.4f} ± {a['se']:.4f} | {gap} "
                     f"| {within} |")
    lines.append(f"\nSeed noise at 4x (pooled std): {noise:.4f}.")
    return "\n".join(lines)


def main() -> None:
    parser = bench_parser(__doc__, out="reuse.json", work="bench-reuse")
    parser.add_argument("--added", default="poetry", help="the domain the old sweep lacks")
    parser.add_argument("--old", type=int, default=24, help="the old sweep's proxies (24)")
    parser.add_argument("--full", type=int, default=24, help="the full re-sweep's (24)")
    parser.add_argument("--new", type=int, nargs="+", default=[4, 8, 16],
                        help="new proxies of each reusing sweep (4 8 16)")
    parser.add_argument("--steps", type=int, default=480, help="steps per proxy (480)")
    parser.add_argument("--scale-seeds", type=int, default=3, help="seeds per answer at 4x")
    parser.add_argument("--focus", type=float, default=0.5, help="mixtures.reuse.focus")
    parser.add_argument("--workers", type=int, default=2, help="processes at 4x (2)")
    parser.add_argument("--smoke", action="store_true", help="a quick check of the script")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    work = fresh_folder(args.work)
    if args.smoke:  # its record stays in the scratch folder
        args.out = work / "reuse_smoke.json"
    started = time.perf_counter()

    import raymix

    old = sweep_config(work / "old", proxies=args.old, steps=args.steps, without=args.added)
    seconds = {"old": run(["sweep", str(old), "--no-propose"])[0]}
    old_cfg = raymix.load_config(old)
    prepared = json.loads((old_cfg.storage_path / "data.json").read_text())["prepared"]
    tokenizer = old_cfg.cache_path / prepared / "tokenizer.json"
    print(f"old sweep without {args.added}: {args.old} proxies, {seconds['old']:.0f} s",
          flush=True)

    arms = {"full": (args.full, None)}
    arms.update({f"reuse-{n}": (n, {"storage": str(old_cfg.storage_path), "focus": args.focus})
                 for n in args.new})
    proposals, configs = {}, {}
    for name, (proxies, reuse) in arms.items():
        configs[name] = sweep_config(work / name, proxies=proxies, steps=args.steps,
                                     tokenizer=tokenizer, reuse=reuse,
                                     reused=args.old if reuse else 0)
        seconds[name], _ = run(["sweep", str(configs[name])])
        cfg = raymix.load_config(configs[name])
        proposals[name] = json.loads((cfg.storage_path / "proposal.json").read_text())
        print(f"{name}: {proxies} new proxies, {seconds[name]:.0f} s; proposal "
              f"{json.dumps({d: round(w, 3) for d, w in proposals[name]['mixture'].items()})}",
              flush=True)

    cfg, _, data = proxy_setup(configs["full"])
    model, training = at_4x(cfg, 2 * args.steps)
    jobs = [(name, p["mixture"], 1000 + s) for name, p in proposals.items()
            for s in range(args.scale_seeds)]
    losses, _ = train_at_scale(data, model, training, jobs, args.workers)

    noise = seed_noise(losses.values())
    full = losses["full"]
    answers = {}
    for name, (proxies, _) in arms.items():
        mine = losses[name]
        gap, se = float(np.mean(mine) - np.mean(full)), gap_se(noise, len(mine), len(full))
        answers[name] = {"proxies": proxies, "mean": float(np.mean(mine)),
                         "se": noise / np.sqrt(len(mine)), "losses": mine,
                         "gap": gap, "gap_se": se, "within_noise": bool(gap <= NOISE_SIGMAS * se),
                         "mixture": proposals[name]["mixture"],
                         "sweep_seconds": round(seconds[name], 1)}
    enough = [n for n in args.new if answers[f"reuse-{n}"]["within_noise"]]
    fewest = min(enough) if enough else None
    scale = {"params": non_embedding_params(model), "steps": training.steps,
             "hidden": model.hidden}
    record = {
        "benchmark": f"{args.added} added to the demo's other five domains: a full re-sweep "
                     "against reusing the old sweep's runs with a few new proxies, each "
                     "proposal trained at 4x the proxy's parameters",
        "machine": machine(), "added": args.added, "focus": args.focus,
        "proxy": {"params": non_embedding_params(cfg.model), "steps": args.steps},
        "old_proxies": args.old, "old_sweep_seconds": round(seconds["old"], 1),
        "scale": scale, "scale_seeds": args.scale_seeds, "seed_noise_std_at_scale": noise,
        "answers": answers, "fewest_new_proxies_within_noise": fewest,
        "compute_saved": None if fewest is None else 1 - fewest / args.full,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print(table(answers, "full", noise, scale))
    print(f"fewest new proxies within noise: {fewest}"
          + ("" if fewest is None else f" ({1 - fewest / args.full:.0%} of the "
                                       f"full re-sweep's {args.full} proxies saved)"))
    write_record(args.out, record, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
