"""Text files: the whole file is one document (``.txt``, ``.md``, source code...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from raymix.data.formats.base import FormatError, TextFormat

# a text file with more undecodable bytes than this share (or any NUL byte) is not text
MAX_BAD_BYTE_SHARE = 0.01


class TextFiles(TextFormat):
    """One document per file, decoded as UTF-8 byte for byte (line ends kept as written).

    A few bad bytes become U+FFFD rather than failing a whole domain on one odd file; a
    file that is not text at all (a NUL byte, or over 1% of its bytes not UTF-8: a binary
    or another encoding named .txt) is refused, naming the file.
    """

    name = "text"
    suffixes = (
        ".txt", ".text", ".md", ".markdown", ".rst", ".tex", ".org", ".adoc",
        ".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".java", ".js", ".ts", ".go", ".rs",
        ".rb", ".sh", ".html", ".htm", ".xml", ".css", ".yaml", ".yml", ".toml", ".ini", ".cfg",
    )

    def documents(self, path: Path, text_field: str, setting: str,
                  max_bytes: int | None) -> Iterator[str]:
        with open(path, "rb") as f:
            data = f.read() if max_bytes is None else f.read(max_bytes)
        text = data.decode("utf-8", errors="replace")
        # U+FFFD the file itself holds is text; those the decoding made are bad bytes
        bad = text.count("\ufffd") - data.count("\ufffd".encode())
        if b"\0" in data or bad > MAX_BAD_BYTE_SHARE * len(data):
            why = (f"is not UTF-8 ({bad:,} of its {len(data):,} bytes are not)"
                   if bad > MAX_BAD_BYTE_SHARE * len(data) else "holds NUL bytes")
            raise FormatError(f"{str(path)!r} {why}: not a text file; remove it from the "
                              "source or convert it to UTF-8 text")
        yield text
