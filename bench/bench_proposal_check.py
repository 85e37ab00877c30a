"""Does the proposal train better than the baselines? Train them all and see.

Reads a finished sweep's proposal.json, trains the proposed mixture and each baseline
(uniform, token-proportional, best observed run) with the sweep's own proxy settings,
and reports measured next to predicted target loss. Same scale as the sweep: a check of
the fit and the search, not of transfer to a larger model.

    python bench/bench_proposal_check.py [--config jobs/configs/demo.yaml] [--out PATH]

Writes bench/results/proposal_check.json.
"""

from __future__ import annotations

import json

import torch
from common import bench_parser, proxy_setup, relative, write_record

from raymix.runs import SweepLayout
from raymix.training.loop import train_proxy


def main() -> None:
    args = bench_parser(__doc__, out="proposal_check.json", config=True).parse_args()

    cfg, _, data = proxy_setup(args.config)
    proposal = json.loads(SweepLayout(cfg.storage_path).proposal.read_text())
    candidates = {"proposed": proposal, **proposal["baselines"]}
    rows = {}
    for name, entry in candidates.items():
        mixture = {d: entry["mixture"].get(d, 0.0) for d in cfg.domain_names}
        record = train_proxy(mixture, data, cfg.model, cfg.training, device=torch.device("cpu"))
        rows[name] = {"mixture": mixture,
                      "predicted_target_loss": entry["predicted_target_loss"],
                      "measured_target_loss": record.final_target_loss}
        print(name, json.dumps(rows[name]))
    result = {"benchmark": "proposal vs baselines, trained at the sweep's proxy scale",
              "config": relative(args.config),
              "regressor": proposal["regressor"], "n_runs": proposal["n_runs"],
              "mixtures": rows}
    print(json.dumps(result, indent=1))
    write_record(args.out, result)


if __name__ == "__main__":
    main()
