"""Flat or hierarchical draws: at the same number of proxies, which sweep proposes better?

The demo's six domains (jobs/configs/demo.yaml) in the groups their sources form, nested
in the config as a user writes them::

    software: code, docstrings, readmes     legal: licences     literature: drama, poetry

Two arms at the same number of proxies (--proxies, each --steps long; no confirmation
round, so each proposal is the fit's own), each swept with --sweep-seeds seeds (the
mixtures' draw and the proxies' training seeds both change):

- ``flat``: ``mixtures.by_group: false``, RegMix's Dirichlet over the six leaves;
- ``hierarchical``: ``mixtures.by_group: true``, a Dirichlet over the three groups, then
  within each group.

Both fits see the same groups (the tree regressors and the GP get the group totals as
features), so the arms differ only in where the proxies were drawn. Each sweep's fit is
also cross-validated with and without the group features (CV RMSE and Spearman per
regressor). Each proposal is then trained at 4x the proxy's non-embedding parameters
(hidden and intermediate x2) and --scale-steps (default 2x --steps) with --scale-seeds
seeds, as bench/bench_proposal_at_scale.py trains its contenders, and its target loss
measured. Reported per arm: the mean over its sweeps of each proposal's mean loss at
scale, +- the standard error over sweeps (the sweep-to-sweep spread includes the seed
noise of the few runs behind each mean), and the difference hierarchical - flat with its
standard error. The defaults take about 20 minutes on 2 cores (estimated from the demo's
sweep speed; a smoke run of 6 proxies x 30 steps, 1 seed, took 6 minutes on a busy
machine, most of it Ray's start and the fits).

    python bench/bench_hierarchy.py [--proxies 16] [--steps 200] [--sweep-seeds 2]
        [--scale-seeds 3] [--scale-steps 400] [--workers 2]

Writes bench/results/hierarchy.json and prints a table for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from bench_grouped_sweep import run
from bench_proposal_at_scale import arms_table, compare_arms
from common import DEMO_CONFIG, bench_parser, fresh_folder, machine, write_record

from raymix.regression import fit_regressor

TREE = {"software": ["code", "docstrings", "readmes"], "legal": ["licences"],
        "literature": ["drama", "poetry"]}
ARMS = {"flat": False, "hierarchical": True}  # mixtures.by_group of each arm


def sweep_config(folder: Path, *, by_group: bool, seed: int, proxies: int, steps: int) -> Path:
    """The demo's sweep with its domains in :data:`TREE`, ``proxies`` proxies of ``steps``
    steps drawn flat or a level at a time, seeded ``seed``; stored under ``folder``."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    sources = {d["name"]: d for d in raw["data"]["domains"]}
    raw["data"]["domains"] = [{"group": group, "domains": [sources[d] for d in leaves]}
                              for group, leaves in TREE.items()]
    cache = raw["data"].get("cache_dir")
    if cache:
        raw["data"]["cache_dir"] = str((DEMO_CONFIG.parent / cache).resolve())
    ratio = steps / raw["training"]["steps"]
    raw["training"].update(steps=steps, seed=seed,
                           warmup_steps=int(round(raw["training"]["warmup_steps"] * ratio)),
                           eval_every=max(1, steps // 3))
    raw["mixtures"].update(count=proxies, seed=seed, by_group=by_group)
    raw["compute"].update(storage=str(folder / "sweep"))
    raw["confirm"] = {"rounds": 0}  # the fit's own proposal: what the draws alone lead to
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def group_feature_cv(cfg) -> dict[str, dict[str, float]]:
    """Each regressor's CV RMSE and Spearman on a sweep's runs, without and with the group
    totals as features (only the regressors that get them can differ)."""
    from raymix.workflows.inputs import load_results

    runs, _ = load_results(cfg)
    out = {}
    for label, groups in (("leaves", None), ("with_groups", cfg.domain_groups)):
        fitted = fit_regressor(runs.mixtures, runs.objective, cfg.fit.regressors,
                               cfg.fit.cv_folds, cfg.fit.seed, ensemble=False, groups=groups)
        out[label] = {r.name: {"cv_rmse": r.rmse, "cv_spearman": r.spearman}
                      for r in fitted.results}
    return out


def main() -> None:
    parser = bench_parser(__doc__, out="hierarchy.json", work="bench-hierarchy")
    parser.add_argument("--proxies", type=int, default=16, help="proxies per sweep (16)")
    parser.add_argument("--steps", type=int, default=200, help="steps per proxy (200)")
    parser.add_argument("--sweep-seeds", type=int, default=2, help="sweeps per arm (2)")
    parser.add_argument("--scale-seeds", type=int, default=3,
                        help="seeds per proposal at 4x (3)")
    parser.add_argument("--scale-steps", type=int, default=None,
                        help="steps at 4x (default 2x --steps)")
    parser.add_argument("--workers", type=int, default=2, help="processes at 4x (2)")
    args = parser.parse_args()
    work = fresh_folder(args.work)
    started = time.perf_counter()

    import raymix

    sweeps = {}  # (arm, seed) -> its proposal and fit comparison
    for arm, by_group in ARMS.items():
        for seed in range(args.sweep_seeds):
            config = sweep_config(work / f"{arm}-{seed}", by_group=by_group, seed=seed,
                                  proxies=args.proxies, steps=args.steps)
            seconds, _ = run(["sweep", str(config)])
            cfg = raymix.load_config(config)
            proposal = json.loads((Path(cfg.storage_path) / "proposal.json").read_text())
            sweeps[arm, seed] = {"config": config, "proposal": proposal,
                                 "sweep_seconds": round(seconds, 1), "cv": group_feature_cv(cfg)}
            print(f"{arm} sweep {seed}: {seconds:.0f} s; proposal "
                  f"{json.dumps({g: round(v['total'], 3) for g, v in proposal['groups'].items()})}",
                  flush=True)

    compared = compare_arms({key: e["proposal"]["mixture"] for key, e in sweeps.items()},
                            [tuple(ARMS)], sweeps["flat", 0]["config"],
                            args.scale_steps or 2 * args.steps, args.scale_seeds, args.workers)
    losses = compared["losses"]
    record = {
        "benchmark": "flat vs hierarchical draws at the same number of proxies, each sweep's "
                     "proposal trained at 4x the proxy's parameters",
        "machine": machine(), "tree": TREE,
        "proxy": {"params": compared["proxy_params"], "steps": args.steps,
                  "proxies": args.proxies},
        "scale": compared["scale"], "sweep_seeds": args.sweep_seeds,
        "scale_seeds": args.scale_seeds,
        "seed_noise_std_at_scale": compared["seed_noise_std_at_scale"],
        "arms": compared["arms"],
        "hierarchical_minus_flat": compared["differences"]["hierarchical - flat"],
        "sweeps": {f"{arm}-{seed}": {
            "mixture": e["proposal"]["mixture"],
            "group_totals": {g: v["total"] for g, v in e["proposal"]["groups"].items()},
            "predicted_target_loss": e["proposal"]["predicted_target_loss"],
            "regressor": e["proposal"]["regressor"]["name"],
            "losses_at_scale": losses[f"{arm}-{seed}"], "sweep_seconds": e["sweep_seconds"],
            "cv_leaves_vs_with_groups": e["cv"]} for (arm, seed), e in sweeps.items()},
    }
    print(arms_table(compared))
    write_record(args.out, record, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
