"""Text formats: one reader per kind of file, one registry, one dispatcher.

Every local file of documents, whether a config's source (:mod:`raymix.data.sources`) or
an input of ``raymix tokenize`` (:mod:`raymix.data.tokenize_shards`), is read here:

- :data:`FORMATS` is the registry: one :class:`~raymix.data.formats.base.TextFormat`
  per kind of file (``text.py``, ``jsonl.py``, ``json_records.py``, ``parquet.py``), found
  by the file's suffix (:func:`format_of`);
- :func:`folder_files` is the one rule for which files of a folder are read;
- :func:`read_texts` reads one file's documents with its format's reader, every failure
  a one-line :class:`~raymix.data.formats.base.FormatError` naming the file.

Adding a format is a new file here with a ``TextFormat`` subclass, and one line in
:data:`FORMATS`. Token files (``.npy``, ``.bin``, Megatron datasets) are not text
formats: they are read in place, never as documents (:mod:`raymix.data.shards`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from raymix.data.formats.base import FormatError, TextFormat
from raymix.data.formats.json_records import JsonRecords
from raymix.data.formats.jsonl import JsonLines
from raymix.data.formats.parquet import Parquet
from raymix.data.formats.text import TextFiles
from raymix.errors import UserError
from raymix.files import input_problem

FORMATS: list[TextFormat] = [TextFiles(), JsonLines(), JsonRecords(), Parquet()]
BY_SUFFIX: dict[str, TextFormat] = {s: f for f in FORMATS for s in f.suffixes}
RECORD_SUFFIXES = "/".join(s for f in FORMATS if f.records for s in f.suffixes)

__all__ = ["FORMATS", "FormatError", "TextFormat", "folder_files", "format_of", "read_texts"]


def format_of(path: Path, *, named: bool = True) -> TextFormat | None:
    """The format of ``path`` by its suffix (any case).

    A file the user named itself (``named``) with a suffix no format claims is read as
    text (``LICENSE``, ``notes.log``; a binary is refused when read); in a folder or a
    glob, such a file is not a document (None).
    """
    found = BY_SUFFIX.get(path.suffix.lower())
    return found if found is not None or not named else BY_SUFFIX[".txt"]


def folder_files(folder: Path) -> list[Path]:
    """The files a folder of documents is read from, in sorted order.

    Recursively, regular files of a known format only (a FIFO, a device or a link into
    ``/proc`` is skipped), none under a dot-folder or named with a leading dot. When any
    hold records, only those are read: a dataset folder's README is not a document. The
    records are its ``.jsonl`` and ``.parquet`` files, and a ``.json`` file beside them is
    metadata (a hub dataset's ``dataset_info.json``), not read; a folder with ``.json``
    files and no others of records reads them as records.
    """
    files = sorted(p for p in folder.rglob("*")
                   if not _hidden(p, folder) and format_of(p, named=False) is not None
                   and input_problem(p) is None)
    records = [p for p in files if format_of(p).records]
    data = [p for p in records if p.suffix.lower() != ".json"]
    return data or records or files


def read_texts(path: Path, text_field: str = "text", *, setting: str = "text_field",
               max_bytes: int | None = None) -> Iterator[str]:
    """Yield the documents of one file, read by its format (:func:`format_of`), lazily.

    Parameters
    ----------
    path : Path
        A regular file.
    text_field : str, default="text"
        The column (or key) of records that holds the text.
    setting : str, default="text_field"
        The name of the setting that chose ``text_field``, said in the fix of errors.
    max_bytes : int or None
        The caller stops after this much text (a text file is read no further).

    Raises
    ------
    FormatError
        In one line naming ``path``: any file its reader cannot read (not valid JSON or
        Parquet, a missing column, a cell that is not a string, a binary named .txt).
    """
    fmt = format_of(path)
    try:
        yield from fmt.documents(path, text_field, setting, max_bytes)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - JSON, Arrow, OS and Unicode errors alike
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise FormatError(f"could not read {str(path)!r} as {fmt.name} "
                          f"({type(exc).__name__}: {first_line}); check that it is valid "
                          f"{fmt.name}") from None


def _hidden(path: Path, root: Path) -> bool:
    """True under dot-folders such as .git, or for dot-files."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)
