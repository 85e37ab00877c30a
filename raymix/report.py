"""A Markdown report of a proposal: how well the regressors fit, and what they propose.

:func:`write_report` writes ``report.md`` and two figures beside it:

- ``cv_fit.png``: cross-validated predicted vs actual target loss, one panel per
  regressor (the chosen one first), points coloured by fold;
- ``weights.png``: proposed vs baseline weight of each domain.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (Agg, no pyplot state),
and every file is written atomically, so a crash never leaves a half-written report.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from raymix.atomic import atomic_write_bytes
from raymix.regressors import CVResult
from raymix.results import format_number

CV_FIGURE = "cv_fit.png"
WEIGHTS_FIGURE = "weights.png"
BASELINES = ("uniform", "token_proportional", "best_observed")


def _save_figure(fig: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


# ----------------------------------------------------------------------------- figures


def _cv_figure(results: Sequence[CVResult], target_loss: np.ndarray) -> Figure:
    """Predicted (out-of-fold) vs actual loss, a panel per regressor, coloured by fold."""
    fig = Figure(figsize=(4.2 * len(results), 4.0))
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    lo, hi = target_loss.min(), target_loss.max()
    for ax, result in zip(axes, results):
        for fold in np.unique(result.fold):
            held_out = result.fold == fold
            ax.scatter(target_loss[held_out], result.predictions[held_out], s=14, alpha=0.8,
                       color=f"C{fold % 10}", label=f"fold {fold}")
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, linestyle="--")
        ax.set_title(f"{result.name}: Spearman {result.spearman:.3f}, MAE {result.mae:.4f}",
                     fontsize=10)
        ax.set_xlabel("actual target loss")
        ax.set_ylabel("cross-validated prediction")
    axes[-1].legend(fontsize=7, loc="upper left")
    return fig


def _weights_figure(proposal: dict[str, Any], domains: Sequence[str]) -> Figure:
    """Grouped bars: the proposed and the baseline weight of each domain."""
    series = {"proposed": proposal["mixture"]}
    series.update({name: proposal["baselines"][name]["mixture"] for name in BASELINES})
    fig = Figure(figsize=(max(6.0, 0.7 * len(domains) + 2), 4.0))
    ax = fig.subplots()
    x = np.arange(len(domains))
    width = 0.8 / len(series)
    for i, (name, mixture) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar(x + offset, [mixture[d] for d in domains], width, label=name)
    ax.set_xticks(x, domains, rotation=45, ha="right")
    ax.set_ylabel("weight")
    ax.set_title("proposed vs baseline mixtures")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- markdown


def _markdown(proposal: dict[str, Any], domains: Sequence[str]) -> str:
    chosen = proposal["regressor"]["name"]
    lines = [
        "# Proposed mixture",
        "",
        f"Fitted on {proposal['n_runs']} runs; regressor **{chosen}** "
        "(cross-validated Spearman "
        f"{format_number(proposal['regressor']['cv_spearman'], 3)}). "
        f"The proposal averages the {proposal['search']['top_k']} best of "
        f"{proposal['search']['candidates']:,} candidate mixtures inside the bounds.",
        "",
        *[f"> **Warning:** {w}\n" for w in proposal.get("warnings", [])],
        "| mixture | predicted target loss | observed target loss |",
        "|---|---|---|",
        f"| **proposed** | {format_number(proposal['predicted_target_loss'])} | |",
    ]
    for name in BASELINES:
        base = proposal["baselines"][name]
        run = f" (run {base['run']})" if "run" in base else ""
        lines.append(f"| {name}{run} | {format_number(base['predicted_target_loss'])} | "
                     f"{format_number(base.get('observed_target_loss'))} |")

    lines += ["", "## Regressors (cross-validated)", "",
              "| regressor | Spearman | Pearson | MAE | R² |", "|---|---|---|---|---|"]
    for name, m in proposal["regressors"].items():
        label = f"**{name}** (chosen)" if name == chosen else name
        cells = [format_number(m["cv_spearman"], 3), format_number(m["cv_pearson"], 3),
                 format_number(m["cv_mae"]), format_number(m["cv_r2"], 3)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"![cross-validated predictions]({CV_FIGURE})", ""]

    bounds = proposal["constraints"]
    binding = set(bounds["binding"])
    lines += ["## Weights", "",
              "| domain | proposed | " + " | ".join(BASELINES) + " | lower | upper |",
              "|---" * (len(BASELINES) + 4) + "|"]
    for d in domains:
        weights = [proposal["mixture"][d]]
        weights += [proposal["baselines"][b]["mixture"][d] for b in BASELINES]
        mark = " (at bound)" if d in binding else ""
        weights += [bounds["lower"][d], bounds["upper"][d]]
        lines.append(f"| {d}{mark} | " + " | ".join(format_number(w) for w in weights) + " |")
    lines += ["", f"![proposed vs baseline weights]({WEIGHTS_FIGURE})", ""]
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    proposal: dict[str, Any],
    cv_results: Sequence[CVResult],
    target_loss,
    domains: Sequence[str],
) -> Path:
    """Write ``report.md``, ``cv_fit.png`` and ``weights.png`` into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Folder for the report (created if missing).
    proposal : dict
        ``Proposal.to_dict()`` from :func:`raymix.propose.propose`.
    cv_results : sequence of CVResult
        Every regressor's cross-validation, with predictions aligned to ``target_loss``.
    target_loss : array-like of shape (n,)
        Actual target loss of each run, in the order the regressors were fitted on.
    domains : sequence of str
        Domain names, in the order to show them.

    Returns
    -------
    Path
        The path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = proposal["regressor"]["name"]
    # the chosen regressor gets the first panel
    ordered = sorted(cv_results, key=lambda r: r.name != chosen)
    _save_figure(_cv_figure(ordered, np.asarray(target_loss, dtype=float)), out_dir / CV_FIGURE)
    _save_figure(_weights_figure(proposal, domains), out_dir / WEIGHTS_FIGURE)
    report = out_dir / "report.md"
    atomic_write_bytes(report, _markdown(proposal, domains).encode())
    return report
