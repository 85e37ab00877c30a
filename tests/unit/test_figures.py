"""The report's figures: what a reader sees must not overlap, and every domain has its own
colour (the same in index.html and the PNGs)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb

from raymix.regression import CVResult
from raymix.report.contents import Sensitivity, sensitivity_range
from raymix.report.figures import cv_figure, sensitivity_figure
from raymix.report.palette import domain_colours, palette


def test_the_cv_figures_axis_labels_stay_clear_of_the_next_rows_titles():
    rng = np.random.default_rng(0)
    actual = rng.normal(5.0, 0.1, 40)
    results = [CVResult(name=f"regressor-{i}", spearman=0.9, pearson=0.9, mae=0.01, r2=0.8,
                        predictions=actual + rng.normal(0, 0.02, 40),
                        fold=np.arange(40) % 5) for i in range(6)]  # 2 rows of 4
    fig = cv_figure(results, actual)
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    top, bottom = axes[:4], axes[4:]
    for upper in top:
        label = upper.xaxis.label.get_window_extent(renderer)
        for lower in bottom:
            title = lower.title.get_window_extent(renderer)
            assert not label.overlaps(title), (upper.get_title(), lower.get_title())


@pytest.mark.parametrize("n", range(1, 41))
def test_the_palette_gives_n_distinct_colours(n):
    colours = palette(n)
    assert len(colours) == n and len(set(colours)) == n
    rgb = np.array([to_rgb(c) for c in colours]) * 255
    distance = np.sqrt(((rgb[:, None] - rgb[None]) ** 2).sum(-1)) + np.eye(n) * 1e9
    assert distance.min() > 255 / 8  # told apart at a glance, not just different hex codes


def _sensitivity(domains: int) -> Sensitivity:
    grid = np.linspace(0, 1, 41)
    curves = np.array([5.0 + (i % 3 - 1) * 0.3 * grid for i in range(domains)])
    curves[0] = 5.0 + 20 * grid ** 2  # climbs far above the others past its bound
    upper = np.ones(domains)
    upper[0] = 0.2
    mixture = np.full(domains, 1 / domains)
    return Sensitivity(domains=[f"d{i}" for i in range(domains)], mixture=mixture, upper=upper,
                       predicted=5.0, grid=grid, curves=curves, slopes=np.zeros(domains))


def test_the_png_sensitivity_figure_colours_each_domain_as_the_page_does():
    s = _sensitivity(17)
    fig = sensitivity_figure(s)
    ax = fig.axes[0]
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert [to_hex(line.get_color()) for line in solid] == list(domain_colours(s.domains).values())
    low, high = ax.get_ylim()
    inside = s.curves[:, None, :][s.grid[None, None, :] <= s.upper[:, None, None]]
    assert low >= inside.min() - 0.1 and high <= max(inside.max(), 5.0) + 0.1  # not to 25
    assert [low, high] == sensitivity_range(s)


def test_a_wild_out_of_fold_prediction_sits_at_the_axis_edge_instead_of_stretching_it():
    from raymix.report.contents import clamped, prediction_range

    actual = np.linspace(5.6, 7.6, 50)
    predicted = actual + np.random.default_rng(0).normal(0, 0.05, 50)
    predicted[7] = 300.0  # a law extrapolating far out of its fold
    low, high = prediction_range(actual, predicted)
    assert low < 5.6 and 7.6 < high < 8.5
    shown, moved = clamped(predicted, [low, high])
    assert moved.tolist() == [i == 7 for i in range(50)] and shown[7] == high
