"""Does the proposal train better than the baselines? Train them all and see.

Reads a finished sweep's proposal.json, trains the proposed mixture and each baseline
(uniform, token-proportional, best observed run) with the sweep's own proxy settings,
and reports measured next to predicted target loss. Same scale as the sweep: a check of
the fit and the search, not of transfer to a larger model.

    python bench/bench_proposal_check.py [--config jobs/configs/demo.yaml]

Writes bench/results/proposal_check.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from raymix.config import load_config
from raymix.data.tokenize import prepare
from raymix.sweep.trial import proxy_data
from raymix.training.loop import train_proxy

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "jobs" / "configs" / "demo.yaml"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "proposal_check.json"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    cfg = load_config(args.config)
    proposal = json.loads((cfg.storage_path / "proposal.json").read_text())
    data = proxy_data(cfg, prepare(cfg))
    candidates = {"proposed": proposal, **proposal["baselines"]}
    rows = {}
    for name, entry in candidates.items():
        mixture = {d: entry["mixture"].get(d, 0.0) for d in cfg.domain_names}
        record = train_proxy(mixture, data, cfg.model, cfg.training, device=torch.device("cpu"))
        rows[name] = {"mixture": mixture,
                      "predicted_target_loss": entry["predicted_target_loss"],
                      "measured_target_loss": record["evaluations"][-1]["target_loss"]}
        print(name, json.dumps(rows[name]))
    result = {"benchmark": "proposal vs baselines, trained at the sweep's proxy scale",
              "config": str(Path(args.config).resolve().relative_to(ROOT)),
              "regressor": proposal["regressor"], "n_runs": proposal["n_runs"],
              "mixtures": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
