"""A ``.json`` file: a JSON array of records, or JSON lines under another name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from raymix.data.formats.base import FormatError, TextFormat
from raymix.data.formats.jsonl import JsonLines, record_texts


class JsonRecords(TextFormat):
    """A file that starts with ``[`` is an array of records (read whole); any other ``.json``
    is read as JSON lines. A dataset's metadata (one JSON object over many lines) read as
    records is refused by name; a folder reads no ``.json`` beside its ``.jsonl`` or
    ``.parquet`` files (:func:`~raymix.data.formats.folder_files`)."""

    name = "JSON"
    suffixes = (".json",)
    records = True

    def documents(self, path: Path, text_field: str, setting: str,
                  max_bytes: int | None) -> Iterator[str]:
        with open(path, encoding="utf-8") as f:
            start = f.read(4096).lstrip()
        if not start.startswith("["):
            yield from JsonLines().documents(path, text_field, setting, max_bytes)
            return
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{str(path)!r} is not JSON ({exc.msg}, line {exc.lineno}); a "
                              ".json file holds an array of records or one per line") from None
        yield from record_texts(path, enumerate(records), text_field, setting, "record")
