"""Errors that mean "the user asked for something that cannot work".

The CLI turns a :class:`UserError` into a single line on stderr and exit status 2,
so every message must name the offending field and say how to fix it.
Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in a config, a CSV, a CLI argument or an input path."""


class ConfigError(UserError):
    """A field of the sweep config is missing, malformed or inconsistent."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"config field '{field}': {problem}")
