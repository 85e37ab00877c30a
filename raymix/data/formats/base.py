"""What every text format's reader is: :class:`TextFormat`, and the error it raises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from raymix.errors import UserError


class FormatError(UserError):
    """A file its format's reader cannot read, in one line naming the file and the fix.

    ``field`` is ``"text_field"`` when the fix is another text field (a missing column, a
    column of numbers), else None (the file itself is at fault). Callers re-raise it under
    their own field (:mod:`raymix.data.sources`: the config field of the source;
    :mod:`raymix.data.tokenize_shards`: ``--text-field`` or ``SOURCE``).
    """


class TextFormat:
    """How to read the documents of one kind of file.

    A subclass sets ``name`` (said in errors), ``suffixes`` (lower case, with the dot) and
    ``records`` (True when documents are the ``text_field`` cells of records, which win
    over text files in a folder), and writes :meth:`documents`. It is registered by one
    line in ``raymix/data/formats/__init__.py``'s ``FORMATS``.
    """

    name: str = ""
    suffixes: tuple[str, ...] = ()
    records: bool = False

    def documents(self, path: Path, text_field: str, setting: str,
                  max_bytes: int | None) -> Iterator[str]:
        """Yield the documents of ``path`` in file order, lazily (a caller stops at its cap).

        Parameters
        ----------
        path : Path
            A regular file of this format.
        text_field : str
            The records' column (or key) holding the text; text files ignore it.
        setting : str
            The name of the setting that chose ``text_field`` (``data.domains[2].text_field``,
            ``--text-field``), said in the fix of an error about it.
        max_bytes : int or None
            A hint: the caller stops after this much text, so a one-document file need not
            be read further. Readers of records may ignore it.

        Raises
        ------
        FormatError
            A file that is not this format, a record without the text, a cell that is
            not a string. Any other exception is reported by the dispatcher as "could not
            read".
        """
        raise NotImplementedError
