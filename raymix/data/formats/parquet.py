"""Parquet files: the text is the ``text_field`` column, read a batch of rows at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from raymix.data.formats.base import FormatError, TextFormat

BATCH_ROWS = 256


class Parquet(TextFormat):
    """The string cells of one column, in row order; nulls and empty strings are skipped."""

    name = "Parquet"
    suffixes = (".parquet",)
    records = True

    def documents(self, path: Path, text_field: str, setting: str,
                  max_bytes: int | None) -> Iterator[str]:
        import pyarrow.parquet as pq  # here: pyarrow's import is slow for other formats

        with pq.ParquetFile(path) as table:
            columns = table.schema_arrow.names
            if text_field not in columns:
                raise FormatError(
                    f"{str(path)!r} has no column {text_field!r} (columns: "
                    f"{', '.join(columns)}); set '{setting}' to the column that holds the text",
                    field="text_field")
            row = 0
            for batch in table.iter_batches(batch_size=BATCH_ROWS, columns=[text_field]):
                for cell in batch.column(0).to_pylist():
                    if cell is not None and not isinstance(cell, str):
                        raise FormatError(
                            f"{str(path)!r}: column {text_field!r} holds "
                            f"{type(cell).__name__} values (row {row}), not text; set "
                            f"'{setting}' to a column of strings", field="text_field")
                    row += 1
                    if cell:
                        yield cell
