"""Figures of the nested scaling laws: do the step and size laws fit, and do they predict?

* :func:`plot_step_laws`: loss against tokens, a panel per model size, for a few
  mixtures: the measured checkpoints, the fitted step law and the extrapolated point at
  the target length (a hollow marker).
* :func:`plot_size_laws`: the step laws' values at the target length against model
  size, the fitted size law and the predicted point at the target size.
* :func:`plot_predicted_vs_actual`: predicted against measured loss, for a validation
  at a scale the laws were not fitted on.

Like :mod:`raymix.report.figures`, figures are drawn on :class:`matplotlib.figure.Figure`
objects (Agg, no pyplot state) and written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import spearmanr

from raymix.report.contents import MAX_MIXTURES, CurveLine, size_lines, step_panels
from raymix.report.figures import save_figure
from raymix.scaling import MixtureScalingLaw


def _draw_line(ax, line: CurveLine, colour: str) -> None:
    """Points, the fitted law and the target point (hollow) of one curve."""
    ax.scatter(line.x, line.y, s=12, color=colour, label=line.label)
    if line.fit_x is not None:
        ax.plot(line.fit_x, line.fit_y, color=colour, linewidth=1)
    if line.target is not None:
        ax.scatter([line.target[0]], [line.target[1]], s=40, facecolors="none",
                   edgecolors=colour, linewidths=1.5)


def plot_step_laws(law: MixtureScalingLaw, path: str | Path,
                   max_mixtures: int = MAX_MIXTURES) -> Path:
    """Loss against tokens per model size: checkpoints, step laws, the target point."""
    panels = step_panels(law, max_mixtures)
    fig = Figure(figsize=(4.2 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    for ax, (params, lines) in zip(axes, panels):
        for i, line in enumerate(lines):
            _draw_line(ax, line, f"C{i % 10}")
        ax.set_xscale("log")
        ax.set_xlabel("tokens")
        ax.set_title(f"{params:.3g} params", fontsize=10)
    axes[0].set_ylabel(law.target_)
    axes[0].legend(fontsize=7, title="mixture", title_fontsize=7)
    fig.suptitle(f"step law E + B / tokens^beta; hollow: at {law.at_.tokens:.3g} tokens",
                 fontsize=10)
    save_figure(fig, Path(path))
    return Path(path)


def plot_size_laws(law: MixtureScalingLaw, path: str | Path,
                   max_mixtures: int = MAX_MIXTURES) -> Path:
    """Step-law values against model size, size laws and the predicted point."""
    fig = Figure(figsize=(5.5, 4.0))
    ax = fig.subplots()
    lines = size_lines(law, max_mixtures)
    for i, line in enumerate(lines):
        _draw_line(ax, line, f"C{i % 10}")
    if not law.curves_["size"]:
        ax.text(0.5, 0.5, "no size law: every mixture was trained at the target size",
                ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("non-embedding parameters")
    ax.set_ylabel(f"{law.target_} at {law.at_.tokens:.3g} tokens")
    ax.set_title(f"size law E + A / N^alpha; hollow: at {law.at_.params:.3g} params",
                 fontsize=10)
    if lines:
        ax.legend(fontsize=7, title="mixture", title_fontsize=7)
    save_figure(fig, Path(path))
    return Path(path)


def plot_predicted_vs_actual(predicted, actual, path: str | Path,
                             labels: Sequence | None = None, title: str = "") -> Path:
    """Predicted against measured loss, with MAE, mean % error and Spearman in the title."""
    predicted = np.asarray(predicted, dtype=float)
    actual = np.asarray(actual, dtype=float)
    fig = Figure(figsize=(4.8, 4.4))
    ax = fig.subplots()
    ax.scatter(actual, predicted, s=16)
    lo, hi = min(actual.min(), predicted.min()), max(actual.max(), predicted.max())
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, linestyle="--")
    for label, x, y in zip(labels if labels is not None else [], actual, predicted):
        ax.annotate(str(label), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    mae = np.abs(predicted - actual).mean()
    pct = 100 * (np.abs(predicted - actual) / actual).mean()
    rho = spearmanr(actual, predicted).statistic if len(actual) > 2 else float("nan")
    ax.set_title(f"{title + chr(10) if title else ''}MAE {mae:.4f} ({pct:.2f}%), "
                 f"Spearman {rho:.3f}", fontsize=10)
    ax.set_xlabel("measured loss")
    ax.set_ylabel("predicted loss")
    save_figure(fig, Path(path))
    return Path(path)
