"""Read the documents of one data source named in the config.

A source is one of:

- ``builtin:<name>``: a domain of the built-in demo corpus (:mod:`raymix.data.builtin`);
- a file or a folder of files in one of the text formats of :mod:`raymix.data.formats`
  (text files, one document each; ``.jsonl`` / ``.json`` / ``.parquet`` records), whose
  :func:`~raymix.data.formats.folder_files` rule says which files of a folder are read
  and :func:`~raymix.data.formats.read_texts` reads each;
- ``hf:<dataset>[:<config>]``: the ``train`` split of a dataset hub entry, streamed
  through :func:`datasets.load_dataset`.

Files and hub datasets are read lazily, so reading stops at the byte cap without
converting a whole dataset first. Every user mistake becomes a
:class:`~raymix.errors.ConfigError` naming the config field that holds the source.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from raymix.config import SweepConfig
from raymix.data.builtin import (
    BUILTIN_SOURCES,
    builtin_documents,
    take_bytes,
    unknown_builtin,
)
from raymix.data.formats import (
    RECORD_SUFFIXES,
    FormatError,
    folder_files,
    read_texts,
)
from raymix.data.shards import is_token_source
from raymix.data.tasks import read_tasks
from raymix.errors import ConfigError, UserError
from raymix.files import input_problem


def check_sources(cfg: SweepConfig) -> None:
    """Catch the cheap mistakes before any reading: an unknown built-in name, a missing path,
    a task file with a bad item.

    Raises
    ------
    ConfigError
        Naming the source's field (``data.domains[2].source``, ``target.source``).
    """
    sources = {f"data.domains[{i}].source": (d.source, d.text_field)
               for i, d in enumerate(cfg.data.domains)}
    if cfg.target.source is not None:
        sources["target.source"] = (cfg.target.source, cfg.target.text_field)
    seen: dict[tuple[str, str], str] = {}
    for field_name, (source, text_field) in sources.items():
        # one file's two text fields are two sources; one field read twice is one
        where = source if source.startswith(("builtin:", "hf:")) else str(cfg.resolve(source))
        key = (where, text_field)
        if key in seen:
            raise ConfigError(field_name, f"reads the same source as {seen[key]} ({source!r}); "
                              "each domain (and the target) needs text of its own")
        seen[key] = field_name
        if is_token_source(source, Path(cfg.base_dir)):
            if cfg.data.tokenizer.path is None:
                raise ConfigError("data.tokenizer.path", f"{field_name} is token ids "
                                  f"({source!r}): give the tokenizer.json that made them")
        elif source.startswith("builtin:"):
            name = source.removeprefix("builtin:")
            if name not in BUILTIN_SOURCES:
                raise ConfigError(field_name, unknown_builtin(name))
        elif not source.startswith("hf:") and _path_problem(where):
            raise ConfigError(field_name, _path_problem(where))
    read_tasks(cfg)  # a task target's files are small: every item is checked now


def read_documents(
    source: str,
    *,
    text_field: str = "text",
    base_dir: Path,
    cache_dir: Path,
    max_bytes: int | None,
    field_name: str,
) -> list[str]:
    """Return the documents of ``source``, at most ``max_bytes`` of UTF-8 text.

    Parameters
    ----------
    source : str
        ``builtin:<name>``, a path (relative paths resolve against ``base_dir``) or
        ``hf:<dataset>[:<config>]``.
    text_field : str
        The column holding the text in record files and hub datasets.
    base_dir : Path
        Folder that relative paths are resolved against (the config's folder).
    cache_dir : Path
        raymix's cache folder (the built-in corpus is assembled there).
    max_bytes : int or None
        Stop reading once this much text is gathered; None reads everything.
    field_name : str
        The config field holding ``source`` (``data.domains[2].source``), named by
        every error.

    Raises
    ------
    ConfigError
        For a missing path, a source with no text, a missing text column, cells that
        are not strings, or an unreachable hub or PyPI.
    """
    if source.startswith("builtin:"):
        try:
            docs = builtin_documents(source.removeprefix("builtin:"), cache_dir, max_bytes)
        except UserError as exc:
            raise ConfigError(field_name, str(exc)) from None
    elif source.startswith("hf:"):
        docs = _read_hub(source.removeprefix("hf:"), text_field, max_bytes, field_name)
    else:
        docs = _read_path(_resolve(source, base_dir), text_field, max_bytes, field_name)
    if not docs:
        raise ConfigError(field_name, f"{source!r} holds no text; point it at non-empty documents")
    return docs


# ----------------------------------------------------------------------------- local paths


def _resolve(source: str, base_dir: Path) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else (Path(base_dir) / path).resolve()


def _path_problem(path: str | Path) -> str | None:
    """Why a source path of documents cannot be read (missing, a FIFO, a device, under
    ``/proc``), as the message of its error, or None."""
    problem = input_problem(path, folders=True)
    if problem == "missing":
        return (f"no such file or folder {str(path)!r}; fix the path (relative paths start "
                "at the config's folder)")
    if problem:
        return (f"{str(path)!r} is {problem}; a source is a folder or a file of documents "
                "or token shards")
    return None


def _read_path(path: Path, text_field: str, max_bytes: int | None, field_name: str) -> list[str]:
    """Read a file, or the files of a folder one after another, by their formats."""
    problem = _path_problem(path)
    if problem:
        raise ConfigError(field_name, problem)
    files = [path] if path.is_file() else folder_files(path)
    if not files:
        raise ConfigError(
            field_name,
            f"folder {str(path)!r} holds no text files (.txt, .md, .rst, .py, .tex...) and no "
            f"{RECORD_SUFFIXES} files; add documents or fix the path",
        )
    setting = field_name.rsplit(".", 1)[0] + ".text_field"
    docs = (doc for file in files
            for doc in read_texts(file, text_field, setting=setting, max_bytes=max_bytes))
    try:
        return take_bytes(docs, max_bytes)
    except FormatError as exc:
        raise ConfigError(field_name, exc.problem) from None


# ----------------------------------------------------------------------------- hub


def _read_hub(spec: str, text_field: str, max_bytes: int | None, field_name: str) -> list[str]:
    """Stream the train split of ``<dataset>[:<config>]`` from the dataset hub."""
    name, _, config = spec.partition(":")
    if not name:
        raise ConfigError(field_name, "write a hub dataset as 'hf:<dataset>[:<config>]'")
    fix = ("check the name and that the hub is reachable from here (this machine may be "
           "offline), or use a local folder, .jsonl or .parquet source")
    return _read_dataset(lambda: _stream(name, config or None), f"hub dataset {spec!r}", fix,
                         text_field, max_bytes, field_name)


# ----------------------------------------------------------------------------- records


def _stream(*args, **kwargs):
    """``datasets.load_dataset(..., split="train", streaming=True)``.

    Imported here because importing ``datasets`` takes about a second that folder and
    built-in sources should not pay.
    """
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset(*args, split="train", streaming=True, **kwargs)


def _read_dataset(load, where: str, fix: str, text_field: str, max_bytes: int | None,
                  field_name: str) -> list[str]:
    """Run ``load()`` and gather texts, turning any reading failure into a ConfigError.

    Loading and streaming fail with many exception types (network, Arrow, JSON), all
    of which mean "this source cannot be read"; our own ConfigErrors pass through.
    """
    try:
        with _quiet_datasets():
            return take_bytes(_texts(load(), text_field, where, field_name), max_bytes)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(
            field_name, f"could not read {where} ({type(exc).__name__}: {first_line}); {fix}"
        ) from None


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """The ``datasets`` library's loggers silenced while raymix reads: a file it cannot
    parse is logged at ERROR before the exception that raymix turns into its one line."""
    import datasets  # first: importing it sets its loggers' level, which would undo ours

    level = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)


def _texts(dataset, text_field: str, where: str, field_name: str) -> Iterator[str]:
    """Yield the string cells of ``text_field``; nulls and empty strings are skipped."""
    field_of_text = field_name.rsplit(".", 1)[0] + ".text_field"
    row = 0
    for batch in dataset.iter(batch_size=256):
        if text_field not in batch:
            raise ConfigError(
                field_name,
                f"{where} has no column {text_field!r} (columns: {', '.join(batch)}); set "
                f"'{field_of_text}' to the column that holds the text",
            )
        for cell in batch[text_field]:
            if cell is not None and not isinstance(cell, str):
                raise ConfigError(
                    field_name,
                    f"{where}: column {text_field!r} holds {type(cell).__name__} values (row "
                    f"{row}), not text; set '{field_of_text}' to a column of strings",
                )
            row += 1
            if cell:
                yield cell
