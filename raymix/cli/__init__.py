"""The command line."""

from raymix.cli.commands import main

__all__ = ["main"]
