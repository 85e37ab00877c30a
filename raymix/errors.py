"""Errors that mean "the user asked for something that cannot work", and notices.

Every error names what is wrong in the library's own words: a config field
(``training.steps``), an argument of a public function (``mixtures``: the mixtures
table given to :func:`raymix.read_runs`), or a file. The command line maps those names
to its flags (``mixtures`` -> ``--mixtures``), prints one line on stderr and exits with
status 2, so every message must say how to fix the problem. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in a config, a table, an argument or an input path.

    Parameters
    ----------
    problem : str
        What is wrong and how to fix it.
    field : str, optional
        What the problem is about: a config field or an argument's name.
    """

    def __init__(self, problem: str, *, field: str | None = None):
        self.problem = problem
        self.field = field
        super().__init__(f"{field}: {problem}" if field else problem)

    def __reduce__(self):  # pickled the same way for every subclass (Ray sends errors)
        return _rebuild, (type(self), self.problem, self.field)

    def renamed(self, old: str, new: str) -> UserError:
        """The same error with the field ``old`` called ``new``, as its field and in its
        text: a workflow that runs a step on settings of its own names them its way (the
        validation's runs store in ``validate.storage``, not ``compute.storage``)."""
        return _rebuild(type(self), self.problem.replace(old, new),
                        new if self.field == old else self.field)


class ConfigError(UserError):
    """A field of the sweep config (or a constraints file) is missing, malformed or
    inconsistent."""

    def __init__(self, field: str, problem: str):
        super().__init__(problem, field=field)

    def __str__(self) -> str:
        return f"config field '{self.field}': {self.problem}"


def _rebuild(cls, problem: str, field: str | None) -> UserError:
    error = Exception.__new__(cls)
    UserError.__init__(error, problem, field=field)
    return error


class ConfigNotice(UserWarning):
    """What was asked is done, with a note: a config key that moved, or a target scale
    partly below the runs' (the CLI prints each once, when the command ends)."""
