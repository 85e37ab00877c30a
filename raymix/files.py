"""Crash-safe writes: a reader (or a crash) sees the old file or the whole new one, never half.

A file under the local mirror of an object-storage URI goes to the store first
(:mod:`raymix.storage`). The bytes go to a temporary file in the same folder (same file
system), are flushed to disk, and the temporary file is renamed over the destination. The
rename happens only when nothing is there or a regular file is: a symlink, a device
(``/dev/stdout``), a FIFO or a folder at the destination is refused (:class:`UnsafeTarget`),
since renaming over it would replace the link or the device node itself. New files get the
mode the umask gives, as ``open`` would.

The checks a command makes before any work are here too, so that every command shares
them: :func:`output_problem` (can a file be written there), :func:`check_not_input` (an
output must never be one of the command's inputs: it would be destroyed).
"""

from __future__ import annotations

import functools
import io
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from raymix.errors import UserError
from raymix.storage import upload

if TYPE_CHECKING:
    import pandas as pd


class UnsafeTarget(UserError, OSError):
    """A write's destination is there but not a regular file.

    A :class:`~raymix.errors.UserError` (the command line prints it as one line, exit 2),
    and an ``OSError`` for code that treats any failed write alike (the sweep's aggregator
    refuses the record with its reason).
    """

    def __init__(self, problem: str, *, field: str | None = None):
        UserError.__init__(self, problem, field=field)

    def __reduce__(self):  # OSError cannot be made by Exception.__new__ (UserError's way)
        return _unsafe_target, (self.problem, self.field)


def _unsafe_target(problem: str, field: str | None) -> UnsafeTarget:
    return UnsafeTarget(problem, field=field)


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
    try:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
    except OSError as exc:  # a name longer than the file system takes
        return f"{shown_path(path)} cannot be written ({exc.strerror or exc})"
    if not existing.is_dir():
        return f"{str(existing)!r} is a file, so nothing can be written under it"
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".raymix-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write in {str(existing)!r} ({exc.strerror or exc})"
    return None


# kernel file systems whose files are not data: reading them hangs, or never ends
_SPECIAL_FILE_SYSTEMS = {"proc", "sysfs", "devtmpfs", "devpts", "debugfs", "tracefs",
                         "securityfs", "cgroup", "cgroup2", "configfs", "bpf", "pstore",
                         "efivarfs", "fusectl", "mqueue", "binfmt_misc", "nsfs"}


def input_problem(path: str | Path, folders: bool = False) -> str | None:
    """Why ``path`` is not an input raymix may open, or None when it is.

    The one check every reader makes before it opens a path the user gave: it must be a
    regular file (or, with ``folders``, a folder) outside the kernel's special file systems
    (``/proc``, ``/sys``). A FIFO or a device would block the read or never end. Returns
    ``"missing"`` when nothing is there, else what is there (``"a FIFO"``, ``"a folder"``,
    ``"on the proc file system"``...), to be put in the caller's one-line error.
    """
    try:
        mode = os.stat(path).st_mode  # follows symlinks: what a read would open
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as exc:  # a symlink loop, no permission, a NUL in the name
        return f"not readable ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISDIR(mode) and not folders:
        return "a folder"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "a FIFO" if stat.S_ISFIFO(mode) else (
            "a socket" if stat.S_ISSOCK(mode) else "a device")
    special = _file_system(path)
    if special in _SPECIAL_FILE_SYSTEMS:
        return f"on the {special} file system, which holds no data files"
    return None


def _file_system(path: str | Path) -> str | None:
    """The type of the file system ``path`` lies on (the longest mount point above it in
    ``/proc/self/mounts``), or None where that cannot be read (not Linux)."""
    where = os.path.realpath(path)
    best, kind = "", None
    for point, fs_type in _mounts():
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fs_type
    return kind


@functools.lru_cache(maxsize=1)
def _mounts() -> tuple[tuple[str, str], ...]:
    """(mount point, file system type) of each mount, read once: a folder of many files is
    checked file by file."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return ()
    fields = [line.split() for line in lines]
    # the file escapes a space in a mount point as octal
    return tuple((f[1].replace("\\040", " "), f[2]) for f in fields if len(f) >= 3)


def shown_path(path: str | Path, limit: int = 200) -> str:
    """``path`` quoted for a one-line message, its middle cut when it is longer than
    ``limit`` (a 300-character name is not echoed whole)."""
    text = str(path)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit // 2] + '...' + text[-(limit // 2):]!r} ({len(text):,} characters)"


def output_problem(path: str | Path) -> str | None:
    """Why a file cannot be written at ``path``, or None when it can: its folder takes no
    file (:func:`folder_problem`), its name is one the file system refuses (too long), or
    something other than a regular file is there (:func:`unsafe_target`)."""
    path = Path(path).expanduser()
    problem = folder_problem(path.parent)  # first: a symlink loop fails any lstat below
    if problem:
        return problem
    try:
        found = unsafe_target(path)
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, a NUL in the name
        return f"{shown_path(path)} cannot be written ({getattr(exc, 'strerror', None) or exc})"
    if found:
        return f"{shown_path(path)} is {found}, which raymix does not write over"
    return None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same real path (symlinks followed), or,
    both being there, the same inode (a hard link)."""
    try:
        if os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b)):
            return True
        return os.path.samefile(os.path.expanduser(a), os.path.expanduser(b))
    except (OSError, ValueError):  # either is missing, or cannot be looked at
        return False


def check_not_input(outputs, inputs, field: str | None = None) -> None:
    """Refuse, before any work, an output that is one of the command's inputs.

    Writing it would destroy the input (``raymix propose --output mix.csv`` would replace
    the mixtures table with JSON), so every command that reads and writes files asks this
    once, with all of its outputs (each file a report will write included) and inputs.

    Parameters
    ----------
    outputs : iterable of path
        Every file the command will write (None entries are skipped).
    inputs : dict
        What names each input (a flag such as ``--mixtures``, or ``CONFIG``) -> its path
        (None entries are skipped).
    field : str, optional
        What the error names (the output's flag).

    Raises
    ------
    UserError
        Naming ``field``, the output and the input it is.
    """
    given = [(name, path) for name, path in inputs.items() if path is not None]
    for output in outputs:
        if output is None:
            continue
        for name, path in given:
            if same_file(output, path):
                raise UserError(f"{shown_path(output)} is also this command's input ({name} "
                                f"{shown_path(path)}); writing it would destroy the input; "
                                "give another path", field=field)


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
