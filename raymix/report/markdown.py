"""A Markdown report of a fit (and a proposal): how well the regressors predict, what they propose.

:func:`write_report` writes ``report.md`` and the figures beside it:

- ``cv_fit.png``: cross-validated predicted vs actual target loss, one panel per
  regressor (the chosen one first), points coloured by fold;
- ``residuals.png``: the chosen regressor's out-of-fold residuals against its
  prediction, with the run-to-run noise band where repeated runs measured it;
- ``interaction.png``: the domain interaction matrix ``t_ij`` of the Data Mixing Law
  fitted to each validation metric (how training on domain j moves loss i);
- with a proposal, ``weights.png`` (proposed vs baseline weight of each domain) and
  ``sensitivity.png`` (predicted loss as each domain's weight moves away from the
  proposal, the others rescaled to keep the sum at 1).

Figures are drawn on :class:`matplotlib.figure.Figure` objects (Agg, no pyplot state),
and every file is written atomically, so a crash never leaves a half-written report.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from raymix.errors import UserError
from raymix.files import atomic_write_bytes
from raymix.regression.selection import CVResult
from raymix.runs.store import format_number

CV_FIGURE = "cv_fit.png"
RESIDUAL_FIGURE = "residuals.png"
STEP_FIGURE = "step_laws.png"
SIZE_FIGURE = "size_laws.png"
INTERACTION_FIGURE = "interaction.png"
WEIGHTS_FIGURE = "weights.png"
SENSITIVITY_FIGURE = "sensitivity.png"
BASELINES = ("uniform", "token_proportional", "best_observed")
MAX_INTERACTION_ROWS = 24  # one law per validation metric; more rows are unreadable anyway
SENSITIVITY_POINTS = 41


def save_figure(fig: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


# ----------------------------------------------------------------------------- fit figures


def _cv_figure(results: Sequence[CVResult], target_loss: np.ndarray) -> Figure:
    """Predicted (out-of-fold) vs actual loss, a panel per regressor, coloured by fold."""
    columns = min(len(results), 4)
    rows = -(-len(results) // columns)
    fig = Figure(figsize=(4.0 * columns, 3.8 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    lo, hi = target_loss.min(), target_loss.max()
    for ax, result in zip(axes, results):
        for fold in np.unique(result.fold):
            held_out = result.fold == fold
            ax.scatter(target_loss[held_out], result.predictions[held_out], s=12, alpha=0.8,
                       color=f"C{fold % 10}", label=f"fold {fold}")
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, linestyle="--")
        ax.set_title(f"{result.name}\nSpearman {result.spearman:.3f}, MAE {result.mae:.4f}",
                     fontsize=9)
        ax.set_xlabel("actual target loss")
        ax.set_ylabel("cross-validated prediction")
    for ax in axes[len(results):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    return fig


def _residual_figure(chosen: CVResult, target_loss: np.ndarray,
                     noise_std: float | None) -> Figure:
    """Out-of-fold residuals of the chosen regressor; a good fit is a flat, even band."""
    fig = Figure(figsize=(6.0, 3.8))
    ax = fig.subplots()
    residuals = target_loss - chosen.predictions
    for fold in np.unique(chosen.fold):
        held_out = chosen.fold == fold
        ax.scatter(chosen.predictions[held_out], residuals[held_out], s=12, alpha=0.8,
                   color=f"C{fold % 10}", label=f"fold {fold}")
    ax.axhline(0, color="grey", linewidth=1)
    if noise_std:
        ax.axhspan(-2 * noise_std, 2 * noise_std, color="grey", alpha=0.15,
                   label="±2 std run-to-run noise")
    ax.set_xlabel("cross-validated prediction")
    ax.set_ylabel("actual − predicted")
    ax.set_title(f"{chosen.name}: out-of-fold residuals (RMSE {chosen.rmse:.4f})", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def interaction_table(mixtures: pd.DataFrame, metrics: pd.DataFrame,
                      seed: int = 0) -> pd.DataFrame | None:
    """``t_ij`` of the mixing law fitted to each metric column (rows) over domains (columns).

    None when there are too few runs to fit a law per metric.
    """
    from raymix.regression.laws import (
        interaction_matrix,  # fitting code, only needed with metrics
    )

    metrics = metrics.loc[:, metrics.notna().all()].iloc[:, :MAX_INTERACTION_ROWS]
    if metrics.empty:
        return None
    try:
        t, _, _ = interaction_matrix(mixtures.to_numpy(float), metrics.to_numpy(float), seed=seed)
    except UserError:
        return None
    return pd.DataFrame(t, index=[str(c) for c in metrics.columns], columns=mixtures.columns)


def _interaction_figure(t: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(max(5.0, 0.45 * t.shape[1] + 3), max(3.0, 0.35 * t.shape[0] + 1.5)))
    ax = fig.subplots()
    limit = float(np.abs(t.to_numpy()).max()) or 1.0
    image = ax.imshow(t.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(t.shape[1]), t.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(t.shape[0]), t.index, fontsize=7)
    ax.set_xlabel("training domain j")
    ax.set_ylabel("validation metric i")
    ax.set_title("interaction t_ij of L_i = c_i + k_i exp(Σ_j t_ij r_j)\n"
                 "(blue: more of j lowers loss i)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


# ----------------------------------------------------------------------------- proposal figures


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


def sensitivity_curves(predict, mixture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted loss as each domain's weight sweeps 0..1, the others rescaled.

    Returns the grid of weights (points,) and the predictions (domains, points). Moving
    domain i to weight ``v`` scales every other weight by ``(1 - v) / (1 - w_i)``, which
    keeps their proportions, as a person adjusting one knob of the proposal would.
    """
    grid = np.linspace(0.0, 1.0, SENSITIVITY_POINTS)
    curves = np.empty((len(mixture), len(grid)))
    for i, w_i in enumerate(mixture):
        rest = np.delete(mixture, i)
        rest = rest / rest.sum() if rest.sum() > 0 else np.full(len(rest), 1 / len(rest))
        rows = np.insert(np.outer(1 - grid, rest), i, grid, axis=1)
        curves[i] = predict(rows)
    return grid, curves


def _sensitivity_figure(grid: np.ndarray, curves: np.ndarray, mixture: dict[str, float],
                        upper: dict[str, float], predicted: float) -> Figure:
    domains = list(mixture)
    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.subplots()
    palette = colormaps["tab20"] if len(domains) > 10 else colormaps["tab10"]
    for i, d in enumerate(domains):
        color = palette(i % palette.N)
        inside = grid <= upper[d] + 1e-12
        ax.plot(grid[inside], curves[i][inside], color=color, label=d)
        ax.plot(grid[~inside], curves[i][~inside], color=color, linestyle=":", alpha=0.6)
        ax.scatter([mixture[d]], [predicted], color=color, s=18, zorder=3)
    ax.set_xlabel("weight of one domain (others rescaled); dotted: above its bound")
    ax.set_ylabel("predicted target loss")
    ax.set_title("sensitivity around the proposal (dots: proposed weights)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return fig


def local_slopes(grid: np.ndarray, curves: np.ndarray, mixture: np.ndarray) -> np.ndarray:
    """d(predicted loss)/d(weight) of each domain at the proposal, along its curve."""
    return np.array([np.interp(w, grid, np.gradient(c, grid)) for w, c in zip(mixture, curves)])


# ----------------------------------------------------------------------------- markdown


def _fit_markdown(quality: dict[str, Any], target: str) -> list[str]:
    chosen = quality["regressor"]["name"]
    lines = [f"## How well the runs predict `{target}`", "",
             f"{quality['n_runs']} runs; regressor **{chosen}** was chosen by cross-validated "
             "Spearman (how well it ranks mixtures it was not fitted on).", "",
             "| regressor | Spearman | Pearson | MAE | RMSE | R² |", "|---|---|---|---|---|---|"]
    for name, m in quality["regressors"].items():
        label = f"**{name}** (chosen)" if name == chosen else name
        cells = [format_number(m.get(f"cv_{k}"), 3 if k in ("spearman", "pearson", "r2") else 4)
                 for k in ("spearman", "pearson", "mae", "rmse", "r2")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    noise = quality.get("noise_floor")
    if noise:
        lines += ["", f"Run-to-run noise, from {noise['mixtures']} mixtures repeated with "
                  f"other seeds ({noise['runs']} runs): std {format_number(noise['std'])}; "
                  "differences below "
                  f"{format_number(noise['min_meaningful_difference'])} are not meaningful."]
    else:
        lines += ["", "No mixture was repeated with another seed, so run-to-run noise is "
                  "unmeasured (set `mixtures.repeats` in the sweep config to measure it)."]
    lines += ["", f"![cross-validated predictions]({CV_FIGURE})", "",
              f"![residuals]({RESIDUAL_FIGURE})", ""]
    return lines


def _proposal_markdown(proposal: dict[str, Any], domains: Sequence[str],
                       slopes: np.ndarray) -> list[str]:
    search = proposal["search"]
    lines = [
        "# Proposed mixture", "",
        f"Search: **{search['method']}**. Predicted target loss "
        f"**{format_number(proposal['predicted_target_loss'])}** "
        f"± {format_number(proposal['predicted_std'])} ({proposal['uncertainty']}).", "",
        *[f"> **Warning:** {w}\n" for w in proposal.get("warnings", [])],
        "| mixture | predicted target loss | ± | gap to proposal | observed |",
        "|---|---|---|---|---|",
        f"| **proposed** | {format_number(proposal['predicted_target_loss'])} | "
        f"{format_number(proposal['predicted_std'])} | | |",
    ]
    for name in BASELINES:
        base = proposal["baselines"][name]
        run = f" (run {base['run']})" if "run" in base else ""
        noise = {True: " (above noise)", False: " (within noise)"}.get(base["gap_above_noise"], "")
        seen = base.get("observed_target_loss", base.get("extrapolated_target_loss"))
        lines.append(f"| {name}{run} | {format_number(base['predicted_target_loss'])} | "
                     f"{format_number(base['predicted_std'])} | "
                     f"{format_number(base['predicted_gap_to_proposal'])}{noise} | "
                     f"{format_number(seen)} |")
    bounds = proposal["constraints"]
    binding = {b["domain"]: b for b in bounds["binding"]}
    lines += ["", "## Weights", "",
              "| domain | proposed | " + " | ".join(BASELINES) + " | lower | upper | "
              "d loss / d weight |", "|---" * (len(BASELINES) + 5) + "|"]
    for d, slope in zip(domains, slopes):
        weights = [proposal["mixture"][d]]
        weights += [proposal["baselines"][b]["mixture"][d] for b in BASELINES]
        weights += [bounds["lower"][d], bounds["upper"][d]]
        mark = f" (at {binding[d]['bound']} bound: {binding[d]['constraint']})" if d in binding else ""
        lines.append(f"| {d}{mark} | " + " | ".join(format_number(w) for w in weights)
                     + f" | {format_number(slope)} |")
    lines += ["", f"![proposed vs baseline weights]({WEIGHTS_FIGURE})", "",
              f"![sensitivity]({SENSITIVITY_FIGURE})", ""]
    return lines


# ----------------------------------------------------------------------------- entry point


def write_report(
    out_dir: Path,
    fitted,
    target_loss,
    *,
    target: str = "target",
    mixtures: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
    proposal: dict[str, Any] | None = None,
    scaling=None,
) -> Path:
    """Write ``report.md`` and its figures into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Folder for the report (created if missing).
    fitted : raymix.propose.FitResult
        The fit: every regressor's cross-validation and the refitted estimator.
    target_loss : array-like of shape (n,)
        Actual target loss of each run, in the order the regressors were fitted on.
    target : str
        The target's name, for titles.
    mixtures, metrics : DataFrame, optional
        The runs' weights and validation metrics; with both, the interaction matrix
        of the Data Mixing Law per metric is fitted and drawn.
    proposal : dict, optional
        ``Proposal.to_dict()`` (plus warnings): adds the weights and sensitivity parts.
    scaling : raymix.nested.NestedScalingLaw, optional
        The step and size laws behind losses at a target scale: adds their plots and
        held-out checks.

    Returns
    -------
    Path
        The path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(target_loss, dtype=float)
    ordered = sorted(fitted.results, key=lambda r: r.name != fitted.chosen.name)
    save_figure(_cv_figure(ordered, y), out_dir / CV_FIGURE)
    noise_std = fitted.noise.std if fitted.noise else None
    save_figure(_residual_figure(fitted.chosen, y, noise_std), out_dir / RESIDUAL_FIGURE)
    lines: list[str] = []
    if proposal is not None:
        domains = fitted.domains
        mixture = np.array([proposal["mixture"][d] for d in domains])
        grid, curves = sensitivity_curves(lambda w: fitted.predict(w)[0], mixture)
        save_figure(_weights_figure(proposal, domains), out_dir / WEIGHTS_FIGURE)
        save_figure(_sensitivity_figure(grid, curves, proposal["mixture"],
                                         proposal["constraints"]["upper"],
                                         proposal["predicted_target_loss"]),
                     out_dir / SENSITIVITY_FIGURE)
        lines += _proposal_markdown(proposal, domains, local_slopes(grid, curves, mixture))
    else:
        lines += [f"# Fit of `{target}`", ""]
    lines += _fit_markdown(fitted.quality(), target)
    if mixtures is not None and metrics is not None:
        t = interaction_table(mixtures, metrics)
        if t is not None:
            save_figure(_interaction_figure(t), out_dir / INTERACTION_FIGURE)
            lines += ["## Domain interactions", "",
                      "One Data Mixing Law per validation metric, fitted on all runs; "
                      "t_ij < 0: training on domain j lowers loss i.", "",
                      f"![interaction matrix]({INTERACTION_FIGURE})", ""]
    if scaling is not None:
        lines += _scaling_section(scaling, out_dir)
    report = out_dir / "report.md"
    atomic_write_bytes(report, "\n".join(lines).encode())
    return report


def _scaling_section(law, out_dir: Path) -> list[str]:
    """Plots of the step and size laws, and their held-out checks."""
    from raymix.report.scaling_plots import plot_size_laws, plot_step_laws
    from raymix.scaling.nested import holdout_summary

    stages = law.stages_
    at = stages["target_scale"]
    lines = ["## Nested scaling laws", "",
             f"Losses extrapolated to {at['params']:.4g} non-embedding parameters "
             f"({at['params_from']}) and {at['tokens']:.4g} tokens ({at['tokens_from']}); "
             f"{stages['n_predicted']} of {stages['n_mixtures']} mixtures predicted.", ""]
    plot_step_laws(law, out_dir / STEP_FIGURE)
    lines += [f"![step laws]({STEP_FIGURE})", ""]
    for stage in ("step", "size"):
        holdout = stages[stage].get("holdout")
        if holdout:
            lines.append(f"- {stage} law, held-out check ({holdout['what']}): "
                         f"{holdout_summary(holdout)}")
    if not stages["size"].get("skipped"):
        plot_size_laws(law, out_dir / SIZE_FIGURE)
        lines += ["", f"![size laws]({SIZE_FIGURE})"]
    lines += [f"- {note}" for note in stages["notes"]]
    return lines + [""]
