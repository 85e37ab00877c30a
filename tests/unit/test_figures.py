"""The report's figures: what a reader sees must not overlap."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from raymix.regression import CVResult
from raymix.report.figures import cv_figure


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
