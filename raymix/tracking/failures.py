"""A tracker that fails is one warning line on stderr, and the sweep goes on without it."""

from __future__ import annotations

import sys

from raymix.console import print_line
from raymix.secrets import mask_uri

# destinations that failed in this process (by their ``where``): warned once, skipped after
FAILED: dict[str, str] = {}


def warn(line: str) -> None:
    """One warning line on stderr (any secret in a URI masked), above a progress bar."""
    print_line(mask_uri(line), file=sys.stderr)


def fail(where: str, what: str) -> None:
    """Note the tracker ``where`` as failed (``what`` happened): one warning, the first time."""
    if where not in FAILED:
        FAILED[where] = what
        warn(f"[sweep] tracking: {where} {what}; the sweep goes on without it")


def reason(exc: Exception) -> str:
    """A tracker client's error on one short line, any secret in a URI it repeats masked."""
    text = mask_uri(" ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
