"""Lines for people on the terminal: :func:`print_line`, which every stage's ``log`` uses."""

from __future__ import annotations

import sys

from tqdm import tqdm


def print_line(line: str, file=None) -> None:
    """The default ``log`` of a sweep: print the line (to ``file``, default stdout), flushed.

    A function of raymix's own, not the builtin: Tune pickles its callbacks with the
    experiment, and a process where something replaced ``builtins.print`` (Ray's tqdm
    does) can no longer pickle the original builtin by reference. While a progress bar is
    on the terminal, the line is written above it (``tqdm.write``), so the bar is not
    garbled.
    """
    if getattr(tqdm, "_instances", None):  # a bar is shown: clear it, write, redraw it
        tqdm.write(line, file=file)
        (file or sys.stdout).flush()
    else:
        print(line, file=file, flush=True)
