"""Crash-safe writes: a reader (or a crash) sees the old file or the whole new one, never half.

A file under the local mirror of an object-storage URI goes to the store first
(:mod:`raymix.storage`). The bytes go to a temporary file in the same folder (same file
system), are flushed to disk, and the temporary file is renamed over the destination. The
rename happens only when nothing is there or a regular file is: a symlink, a device
(``/dev/stdout``), a FIFO or a folder at the destination is refused (:class:`UnsafeTarget`),
since renaming over it would replace the link or the device node itself. New files get the
mode the umask gives, as ``open`` would.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from raymix.storage import upload

if TYPE_CHECKING:
    import pandas as pd


class UnsafeTarget(OSError):
    """A write's destination is there but not a regular file."""


def unsafe_target(path: str | Path) -> str | None:
    """What is at ``path`` when a write must not replace it (``a symlink``, ``a device``,
    ``a FIFO``, ``a folder``, ``a socket``), or None when nothing or a regular file is."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def folder_problem(path: str | Path) -> str | None:
    """Why nothing can be written in folder ``path`` (made if missing), or None when it can.

    The path must be followable (no symlink loop), its nearest existing part a folder, and
    that folder must take a new file: tried by making and removing one (the one sure test:
    root passes permission checks, and ``/proc`` takes no file at all).
    """
    try:
        folder = Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return f"{str(path)!r} cannot be followed ({exc})"
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        return f"{str(existing)!r} is a file, so nothing can be written under it"
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".raymix-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write in {str(existing)!r} ({exc.strerror or exc})"
    return None


_umask_lock = threading.Lock()


def _umask() -> int:
    with _umask_lock:  # reading the umask means setting it: once at a time
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path``: all of it or nothing, never over a non-regular file.

    Raises
    ------
    UnsafeTarget
        When a symlink, device, FIFO, socket or folder is at ``path``.
    raymix.storage.StorageError
        When ``path`` lies in the local mirror of a storage URI and the store refused it
        (the local file is then left as it was).
    """
    path = Path(path)
    found = unsafe_target(path)
    if found:
        raise UnsafeTarget(f"{path} is {found}; raymix writes only new or regular files")
    upload(path, data)  # under a mirror of object storage: the store first (raymix.storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600, made what open() would give
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_frame(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV or (by suffix) Parquet, atomically."""
    path = Path(path)
    if path.suffix == ".parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        atomic_write_text(path, frame.to_csv(index=False))
