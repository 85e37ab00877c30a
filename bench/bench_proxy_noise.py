"""Run-to-run noise of a proxy: the same mixture trained with several seeds.

A sweep can only rank mixtures whose losses differ by more than this noise. The script
trains one mixture (the token prior by default) with --seeds seeds under the config's
training settings and under each --variant (overrides of the training section, e.g.
``lr=0.004,warmup_steps=48,min_lr_ratio=0.1``), and reports the spread of the final
target loss next to the spread of target losses across the mixtures of a finished sweep
(--sweep DIR, optional).

    python bench/bench_proxy_noise.py --variant lr=0.004,warmup_steps=48,min_lr_ratio=0.1

Writes bench/results/proxy_noise.json.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import torch
from common import bench_parser, proxy_setup, relative, write_record

from raymix.runs import SweepLayout, loss_column
from raymix.training.loop import ProxyData, train_proxy


def parse_variant(text: str) -> dict:
    pairs = (item.split("=") for item in text.split(",") if item)
    return {key: float(value) if "." in value else int(value) for key, value in pairs}


def seed_losses(data: ProxyData, cfg, mixture: dict, overrides: dict, seeds: int) -> list[float]:
    losses = []
    for seed in range(seeds):
        training = dataclasses.replace(cfg.training, seed=seed, **overrides)
        record = train_proxy(mixture, data, cfg.model, training, device=torch.device("cpu"))
        losses.append(record.final_target_loss)
    return losses


def main() -> None:
    parser = bench_parser(__doc__, out="proxy_noise.json", config=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[],
                        help="training overrides to compare, e.g. lr=0.004,warmup_steps=48")
    parser.add_argument("--sweep", help="a finished sweep folder: spread across its mixtures")
    args = parser.parse_args()

    cfg, prepared, data = proxy_setup(args.config)
    mixture = dict(prepared.prior)
    rows = []
    for overrides in [{}] + [parse_variant(v) for v in args.variant]:
        losses = seed_losses(data, cfg, mixture, overrides, args.seeds)
        rows.append({"training_overrides": overrides or "config as is", "losses": losses,
                     "mean": float(np.mean(losses)), "std": float(np.std(losses, ddof=1))})
        print(json.dumps(rows[-1]))
    result = {"benchmark": "seed-to-seed noise of the final target loss at a fixed mixture",
              "config": relative(args.config),
              "mixture": mixture, "seeds": args.seeds, "variants": rows}
    if args.sweep:
        metrics = pd.read_csv(SweepLayout(args.sweep).metrics)
        target = metrics[loss_column(cfg.target.name)]
        result["across_mixtures"] = {"runs": len(target), "std": float(target.std()),
                                     "range": float(target.max() - target.min())}
    print(json.dumps(result, indent=1))
    write_record(args.out, result)


if __name__ == "__main__":
    main()
