"""How numbers are shown to people: one rule, so logs, summaries and reports agree."""

from __future__ import annotations


def format_number(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or n/a for a missing (None) value."""
    return "n/a" if value is None else f"{value:.{digits}f}"
