"""How numbers are shown to people: one rule, so logs, summaries and reports agree."""

from __future__ import annotations

import math
from typing import Any


def format_number(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or n/a for a missing (None) value."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def number_text(value: float) -> str:
    """A bound as people write it: 1e-06 -> '1e-06', 10000000 -> '10,000,000', 0.5 -> '0.5'."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


def duration_text(seconds: float | None) -> str:
    """Seconds as s, min, h or days (n/a for a missing value): 42.5 -> '42.5 s'."""
    if seconds is None:
        return "n/a"
    for unit, scale in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= scale:
            value = seconds / scale
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{seconds:.3g} s"


def finite(value: Any) -> Any:
    """``value`` (dicts, lists, numbers) with every NaN or infinity made None: what JSON
    can hold (``Infinity`` is no JSON; a tool's parser refuses it)."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a numpy scalar
        return finite(value.item())
    return value
