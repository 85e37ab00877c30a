"""The PNG figures of a fit and a proposal, drawn on Agg figures and written atomically.

They draw what :mod:`raymix.report.contents` computed (``index.html`` draws the same
with Plotly, :mod:`raymix.report.html`).

Every figure is a :class:`matplotlib.figure.Figure` (no pyplot state), saved as PNG
through :func:`save_figure`, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from raymix.files import atomic_write_bytes
from raymix.regression import CVResult
from raymix.report.contents import (
    ReportContents,
    Sensitivity,
    clamped,
    prediction_range,
    sensitivity_range,
    weight_series,
)
from raymix.report.palette import domain_colours


def save_figure(fig: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def cv_figure(results: Sequence[CVResult], target_loss: np.ndarray) -> Figure:
    """Predicted (out-of-fold) vs actual loss, a panel per regressor, coloured by fold."""
    columns = min(len(results), 4)
    rows = -(-len(results) // columns)
    # constrained layout: a row's axis labels never run into the next row's titles
    fig = Figure(figsize=(4.0 * columns, 3.8 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    lo, hi = target_loss.min(), target_loss.max()
    for ax, result in zip(axes, results):
        bounds = prediction_range(target_loss, result.predictions)
        shown, moved = clamped(result.predictions, bounds)  # wild ones at the axis's edge
        for fold in np.unique(result.fold):
            for edge in (False, True):
                held_out = (result.fold == fold) & (moved == edge)
                ax.scatter(target_loss[held_out], shown[held_out], s=12, alpha=0.8,
                           marker="^" if edge else "o", color=f"C{fold % 10}",
                           label=None if edge else f"fold {fold}")
        if bounds is not None:
            ax.set_ylim(*bounds)
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, linestyle="--")
        ax.set_title(f"{result.name}\nSpearman {result.spearman:.3f}, MAE {result.mae:.4f}",
                     fontsize=9)
        ax.set_xlabel("actual target loss")
        ax.set_ylabel("cross-validated prediction")
    for ax in axes[len(results):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    return fig


def residual_figure(chosen: CVResult, target_loss: np.ndarray,
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


def interaction_figure(t: pd.DataFrame) -> Figure:
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


def weights_figure(contents: ReportContents, domains: Sequence[str]) -> Figure:
    """Grouped bars: the proposed and the baseline weight of each domain."""
    series = weight_series(contents, domains)
    fig = Figure(figsize=(max(6.0, 0.7 * len(domains) + 2), 4.0))
    ax = fig.subplots()
    x = np.arange(len(domains))
    width = 0.8 / len(series)
    for i, (name, weights) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar(x + offset, weights, width, label=name)
    ax.set_xticks(x, domains, rotation=45, ha="right")
    ax.set_ylabel("weight")
    ax.set_title("proposed vs baseline mixtures")
    ax.legend(fontsize=8)
    return fig


def sensitivity_figure(s: Sensitivity) -> Figure:
    """Each domain's curve in its own colour (:func:`~raymix.report.palette.domain_colours`,
    as in ``index.html``), dotted above its bound, a dot at the proposed weight; the loss
    axis spans the curves within their bounds (:func:`sensitivity_range`), the dotted
    parts clipped to it."""
    colours = domain_colours(s.domains)
    fig = Figure(figsize=(7.0 if len(s.domains) <= 10 else 8.5, 4.2))
    ax = fig.subplots()
    for i, d in enumerate(s.domains):
        inside = s.grid <= s.upper[i] + 1e-12
        beyond = s.grid >= s.grid[inside][-1] if inside.any() else ~inside
        ax.plot(s.grid[inside], s.curves[i][inside], color=colours[d], label=d)
        if (~inside).any():
            ax.plot(s.grid[beyond], s.curves[i][beyond], color=colours[d], linestyle=":",
                    alpha=0.6)
        ax.scatter([s.mixture[i]], [s.predicted], color=colours[d], s=18, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(*sensitivity_range(s))
    ax.set_xlabel("weight of one domain (others rescaled); dotted: above its bound")
    ax.set_ylabel("predicted target loss")
    ax.set_title("sensitivity around the proposal (dots: proposed weights)", fontsize=10)
    if len(s.domains) <= 10:
        ax.legend(fontsize=7, ncol=2)
    else:  # beside the axes: inside, 11+ entries would cover the curves
        ax.legend(fontsize=7, ncol=1 + len(s.domains) // 24, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig
