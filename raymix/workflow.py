"""The fit and propose steps on a sweep directory, as the CLI and the Python API run them.

A sweep directory carries everything these steps need (``mixtures.csv``, ``metrics.csv``
and ``data.json`` with the token prior and counts), so they run without the token cache,
on any machine that has the directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from raymix.config import SweepConfig
from raymix.errors import UserError
from raymix.propose import fit as fit_runs
from raymix.propose import propose as propose_mixture
from raymix.regressors import CVResult
from raymix.report import write_report
from raymix.atomic import atomic_write_text
from raymix.results import RUN_COLUMN, format_number, loss_column

DATA_INFO = "data.json"


def load_results(cfg: SweepConfig) -> tuple[pd.DataFrame, pd.Series, dict]:
    """The sweep's mixtures (indexed by run), target losses and data info (prior, tokens)."""
    sweep_dir = cfg.storage_path
    paths = [sweep_dir / name for name in ("mixtures.csv", "metrics.csv", DATA_INFO)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"compute.storage: {sweep_dir} has no {missing[0]}; "
                        "run 'raymix sweep CONFIG' first")
    mixtures = pd.read_csv(paths[0]).set_index(RUN_COLUMN)[cfg.domain_names]
    metrics = pd.read_csv(paths[1]).set_index(RUN_COLUMN)
    target = loss_column(cfg.target.name)
    if target not in metrics.columns:
        raise UserError(f"target.name: {paths[1]} has no column {target!r}; "
                        "was the sweep run with another target?")
    return mixtures, metrics[target], json.loads(paths[2].read_text())


def fit(cfg: SweepConfig) -> list[CVResult]:
    """Cross-validate each configured regressor on the sweep's results."""
    mixtures, target, _ = load_results(cfg)
    _, results = fit_runs(mixtures, target, cfg.fit.regressors, cfg.fit.cv_folds, cfg.fit.seed)
    return results


def propose(cfg: SweepConfig, *, output: str | Path | None = None) -> dict:
    """Fit, propose the mixture predicted best, write proposal.json and the report."""
    mixtures, target, info = load_results(cfg)
    proposal = propose_mixture(
        mixtures, target, prior=info["prior"], regressors=cfg.fit.regressors,
        folds=cfg.fit.cv_folds, search=cfg.search, available_tokens=info["train_tokens"],
        seed=cfg.fit.seed)
    result = proposal.to_dict()
    result["target"] = cfg.target.name
    result["warnings"] = fit_warnings(result)
    output = Path(output) if output else cfg.storage_path / "proposal.json"
    atomic_write_text(output, json.dumps(result, indent=1))
    report = write_report(cfg.storage_path / "report", result, proposal.cv_results,
                          target.loc[mixtures.index].to_numpy(), cfg.domain_names)
    result["files"] = {"proposal": str(output), "report": str(report),
                       "sweep": str(cfg.storage_path)}
    return result


TRUSTED_SPEARMAN = 0.5  # below this CV rank correlation the proposal is little better than a guess


def fit_warnings(proposal: dict) -> list[str]:
    """Plain-language reasons not to trust a proposal (empty when there are none)."""
    warnings = []
    spearman = proposal["regressor"]["cv_spearman"]
    if spearman is None or spearman < TRUSTED_SPEARMAN:
        warnings.append(
            f"the regressor ranks held-out runs poorly (CV Spearman "
            f"{format_number(spearman, 3)}); do not trust "
            "this proposal: run more mixtures (mixtures.count) or train the proxies longer")
    return warnings


def summarise_proposal(proposal: dict) -> str:
    """A few lines for the terminal: the mixture, its prediction next to the baselines'."""
    reg = proposal["regressor"]
    lines = [f"proposed mixture for target '{proposal['target']}' "
             f"({reg['name']}, CV Spearman {format_number(reg['cv_spearman'], 3)}, "
             f"CV MAE {format_number(reg['cv_mae'], 4)}, "
             f"{proposal['n_runs']} runs):"]
    for domain, weight in sorted(proposal["mixture"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {domain:20s} {weight:.3f}")
    lines.append(f"predicted target loss: {proposal['predicted_target_loss']:.4f}")
    for name, base in proposal["baselines"].items():
        observed = base.get("observed_target_loss")
        extra = f" (observed {observed:.4f}, {base.get('run')})" if observed is not None else ""
        lines.append(f"  vs {name:18s} {base['predicted_target_loss']:.4f}{extra}")
    lines.extend(f"WARNING: {w}" for w in proposal.get("warnings", []))
    files = proposal.get("files", {})
    if files:
        lines.append(f"files: {files['proposal']}, {files['report']}, tables in {files['sweep']}")
    return "\n".join(lines)
