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

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from raymix.config import load_config
from raymix.data.tokenize import prepare
from raymix.runs import loss_column
from raymix.sweep.trial import proxy_data
from raymix.training.loop import ProxyData, train_proxy

ROOT = Path(__file__).resolve().parents[1]


def parse_variant(text: str) -> dict:
    pairs = (item.split("=") for item in text.split(",") if item)
    return {key: float(value) if "." in value else int(value) for key, value in pairs}


def seed_losses(data: ProxyData, cfg, mixture: dict, overrides: dict, seeds: int) -> list[float]:
    losses = []
    for seed in range(seeds):
        training = dataclasses.replace(cfg.training, seed=seed, **overrides)
        record = train_proxy(mixture, data, cfg.model, training, device=torch.device("cpu"))
        losses.append(record["evaluations"][-1]["target_loss"])
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "jobs" / "configs" / "demo.yaml"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[],
                        help="training overrides to compare, e.g. lr=0.004,warmup_steps=48")
    parser.add_argument("--sweep", help="a finished sweep folder: spread across its mixtures")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "proxy_noise.json"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    cfg = load_config(args.config)
    prepared = prepare(cfg)
    data = proxy_data(cfg, prepared)
    mixture = dict(prepared.prior)
    rows = []
    for overrides in [{}] + [parse_variant(v) for v in args.variant]:
        losses = seed_losses(data, cfg, mixture, overrides, args.seeds)
        rows.append({"training_overrides": overrides or "config as is", "losses": losses,
                     "mean": float(np.mean(losses)), "std": float(np.std(losses, ddof=1))})
        print(json.dumps(rows[-1]))
    result = {"benchmark": "seed-to-seed noise of the final target loss at a fixed mixture",
              "config": str(Path(args.config).resolve().relative_to(ROOT)),
              "mixture": mixture, "seeds": args.seeds, "variants": rows}
    if args.sweep:
        metrics = pd.read_csv(Path(args.sweep) / "metrics.csv")
        target = metrics[loss_column(cfg.target.name)]
        result["across_mixtures"] = {"runs": len(target), "std": float(target.std()),
                                     "range": float(target.max() - target.min())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
