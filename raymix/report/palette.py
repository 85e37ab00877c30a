"""One palette for every figure of a report: distinct colours for any number of domains.

Plotly's and matplotlib's default palettes hold 10 colours, so an 11th domain takes the
1st one's colour and a legend names the wrong curve. :func:`palette` gives ``n``
distinct colours (matplotlib's ``tab10`` up to 10; beyond, evenly spaced hues of
two or three lightnesses), and :func:`domain_colours` gives each domain its own colour,
the same in ``index.html``'s Plotly figures and the PNG figures of ``report.md``.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
         "#7f7f7f", "#bcbd22", "#17becf")
# (lightness, saturation) of the rings of generated colours: dark, light, (pale)
RINGS = ((0.36, 0.85), (0.58, 0.65))
RINGS_MANY = ((0.30, 0.90), (0.50, 0.75), (0.70, 0.70))  # beyond 20 colours
HIGHLIGHT = TAB10[3]  # red: what a figure singles out (the proposal, observed losses)
MUTED = "#b0b0b0"  # grey: the many runs behind the highlighted ones


def palette(n: int) -> list[str]:
    """``n`` distinct colours as ``#rrggbb``.

    Up to 10: matplotlib's ``tab10`` (Plotly's default too). More: rings of evenly
    spaced hues, one ring per lightness (two up to 20 colours, three beyond), each ring's
    hues turned half a step from the one before, so no two colours share a hue and a
    lightness. Any two of up to 40 colours differ by at least an eighth of the RGB cube's
    side (tests/unit/test_figures.py).
    """
    if n <= len(TAB10):
        return list(TAB10[:n])
    rings = RINGS if n <= 2 * len(TAB10) else RINGS_MANY
    hues = -(-n // len(rings))
    colours = []
    for i in range(n):
        ring, k = divmod(i, hues)
        lightness, saturation = rings[ring]
        r, g, b = colorsys.hls_to_rgb((k + ring / len(rings)) / hues, lightness, saturation)
        colours.append(f"#{round(255 * r):02x}{round(255 * g):02x}{round(255 * b):02x}")
    return colours


def domain_colours(domains: Sequence[str]) -> dict[str, str]:
    """Each domain's colour, in the order the domains are given (the fit's order)."""
    return dict(zip(domains, palette(len(domains))))
