"""JSON lines: one JSON object per line, the text under ``text_field``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from raymix.data.formats.base import FormatError, TextFormat


class JsonLines(TextFormat):
    """One record per line (blank lines skipped); a null or empty text is skipped."""

    name = "JSON lines"
    suffixes = (".jsonl",)
    records = True

    def documents(self, path: Path, text_field: str, setting: str,
                  max_bytes: int | None) -> Iterator[str]:
        with open(path, encoding="utf-8") as f:
            yield from record_texts(path, _lines(path, f), text_field, setting, "line")


def _lines(path: Path, lines: Iterable[str]) -> Iterator[tuple[int, object]]:
    """(line number, the parsed JSON) of each non-blank line."""
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise FormatError(f"{str(path)!r} line {n} is not JSON ({exc.msg}); a .jsonl "
                                  "file holds one JSON object per line") from None


def record_texts(path: Path, records: Iterable[tuple[int, object]], text_field: str,
                 setting: str, unit: str) -> Iterator[str]:
    """The ``text_field`` strings of numbered JSON ``records`` (``unit``: "line", "record").

    The first record's keys are the columns: without ``text_field`` there, the error lists
    them. A later record without it, or not an object, is refused by its number.
    """
    def refused(n: int, problem: str) -> FormatError:
        return FormatError(f"{str(path)!r} {unit} {n}: {problem}; set '{setting}' to the field "
                           "that holds the text, or fix the record", field="text_field")

    for i, (n, record) in enumerate(records):
        if not isinstance(record, dict) or text_field not in record:
            if i == 0 and isinstance(record, dict):
                raise FormatError(
                    f"{str(path)!r} has no column {text_field!r} (columns: "
                    f"{', '.join(record)}); set '{setting}' to the column that holds the text",
                    field="text_field")
            raise refused(n, f"not a JSON record with a {text_field!r} string")
        text = record[text_field]
        if text is not None and not isinstance(text, str):
            raise refused(n, f"{text_field!r} holds a value of type {type(text).__name__}")
        if text:  # null and "" are no document
            yield text
