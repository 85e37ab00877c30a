"""Where a sweep keeps its results: a local folder, or an object-storage URI.

``compute.storage`` may be a folder (as always) or a URI that pyarrow's file systems
take: ``s3://bucket/prefix`` (AWS, or any S3-compatible store: MinIO, Ceph, R2, moto;
its endpoint from ``AWS_ENDPOINT_URL``), ``gs://bucket/prefix``, ``hdfs://...``, and
through fsspec (where installed) any other scheme it knows (``az://``, ...).

A URI's sweep directory has a **local mirror**, a folder that stands for it on each
node: ``<user cache>/storage/<scheme>/<bucket>/<prefix>``. The rest of raymix reads and
writes the mirror as it would any sweep directory, and this module keeps it honest:

- every write of a file under a mirror (:func:`raymix.files.atomic_write_bytes`) goes to
  the object store *first*, then to the local file: a result that the store refused is
  never acknowledged, and never sits on a local disk looking stored;
- :func:`refresh` brings what other processes and nodes wrote down to the mirror (new
  and newer files; files that are no longer in the store are removed), and
  :func:`local_folder` does so the first time a process opens a URI;
- a mirror's path says which URI it stands for, so a path handed to another process
  (an actor, a trial) needs nothing else to be written back to the right place.

The bulky folders Ray Tune and the trainers write as they go (``tune/``, ``checkpoints/``,
``tensorboard/``, ``wandb/``) are never brought down; Tune writes its own folder to the
URI itself, and checkpoints are uploaded whole (:func:`push_tree`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from raymix.secrets import mask_uri

LOCAL_SCHEMES = ("", "file")
SKIPPED = frozenset({"tune", "checkpoints", "tensorboard", "wandb", "resume"})  # not pulled whole
PROBE_TIMEOUT_S = 30.0  # a store that does not answer a probe write in this long is refused


class StorageError(OSError):
    """The object store refused or failed an operation (its reason in the message)."""


# ----------------------------------------------------------------------------- names


def is_uri(location: str | Path) -> bool:
    """Whether ``location`` names object storage (``s3://bucket/prefix``, ``gs://...``)
    rather than a local folder (a path, or ``file://``)."""
    text = str(location)
    if "://" not in text:
        return False
    return urlsplit(text).scheme.lower() not in LOCAL_SCHEMES


def user_cache_dir() -> Path:
    """raymix's cache folder for this user: ``$RAYMIX_CACHE``, else
    ``$XDG_CACHE_HOME/raymix``, else ``~/.cache/raymix``."""
    if os.environ.get("RAYMIX_CACHE"):
        return Path(os.environ["RAYMIX_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "raymix"


def mirrors_root() -> Path:
    """The folder that holds every local mirror of a URI (``<user cache>/storage``)."""
    return user_cache_dir() / "storage"


def uri_problem(location: str) -> str | None:
    """What is wrong with the form of a storage URI, or None (nothing is contacted)."""
    parts = urlsplit(location)
    shown = mask_uri(location)  # no message echoes a secret
    if "@" in parts.netloc or (":" in parts.netloc and parts.scheme in ("s3", "gs")):
        return (f"{shown!r} carries credentials or a port in its bucket; give credentials "
                "by the store's environment variables (AWS_ACCESS_KEY_ID, ...)")
    if parts.query or parts.fragment:
        return (f"{shown!r} has a query string; give the endpoint by AWS_ENDPOINT_URL (and "
                "the region by AWS_DEFAULT_REGION) and the URI as scheme://bucket/prefix")
    if not parts.netloc:
        return f"{shown!r} names no bucket; write it as {parts.scheme}://bucket/prefix"
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        return f"{shown!r} has '.' or '..' in its path; write the prefix out"
    return None


def join(location: str, *parts: str) -> str:
    """``location`` (a URI or a folder) with ``parts`` appended, '/'-separated for URIs."""
    if not is_uri(location):
        return str(Path(location).joinpath(*parts))
    return "/".join([str(location).rstrip("/"), *(p.strip("/") for p in parts)])


def local_folder(location: str | Path) -> Path:
    """The local folder that stands for ``location``: a folder is itself; a URI its
    mirror, brought down from the store the first time this process asks.

    Raises
    ------
    StorageError
        When the store cannot be listed (the first time only).
    """
    if not is_uri(location):
        return Path(location)
    uri = str(location).rstrip("/")
    parts = urlsplit(uri)
    local = mirrors_root() / parts.scheme.lower() / parts.netloc / parts.path.lstrip("/")
    with _lock:
        first = uri not in _opened
        _opened.add(uri)
    if first:
        refresh(local)
    return local


def location_of(path: str | Path) -> str:
    """The inverse of :func:`local_folder`: the URI a mirror's path stands for, or the
    path itself (as a string) for any other folder."""
    found = _mirror_of(Path(path))
    if found is None:
        return str(path)
    remote, key = found
    return f"{remote.scheme}://{key}"


# ----------------------------------------------------------------------------- the store


class _Remote:
    """One object store (a scheme and its file system), shared by its mirrors."""

    def __init__(self, scheme: str):
        self.scheme = scheme
        self._fs = None

    @property
    def fs(self):
        if self._fs is None:
            self._fs = _filesystem(self.scheme)
        return self._fs

    def put(self, key: str, data: bytes) -> None:
        try:
            with self.fs.open_output_stream(key) as out:
                out.write(data)
        except Exception as exc:  # pyarrow raises OSError, fsspec whatever it likes
            raise StorageError(f"{self.scheme}://{key}: {_reason(exc)}") from None

    def get(self, key: str) -> bytes:
        try:
            with self.fs.open_input_stream(key) as source:
                return source.read()
        except Exception as exc:
            raise StorageError(f"{self.scheme}://{key}: {_reason(exc)}") from None

    def delete(self, key: str) -> None:
        try:
            self.fs.delete_file(key)
        except Exception as exc:
            raise StorageError(f"{self.scheme}://{key}: {_reason(exc)}") from None

    def listing(self, key: str) -> dict[str, tuple[int, float]]:
        """Every file under ``key``: its key relative to ``key`` -> (size, mtime)."""
        from pyarrow.fs import FileSelector, FileType

        try:
            infos = self.fs.get_file_info(FileSelector(key, recursive=True,
                                                       allow_not_found=True))
        except Exception as exc:
            raise StorageError(f"{self.scheme}://{key}: {_reason(exc)}") from None
        out = {}
        for info in infos:
            if info.type != FileType.File:
                continue
            relative = info.path[len(key):].lstrip("/")
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            out[relative] = (info.size or 0, mtime)
        return out


def _filesystem(scheme: str):
    """pyarrow's file system for ``scheme``, else fsspec's wrapped for pyarrow."""
    from pyarrow import fs as pafs

    try:
        return pafs.FileSystem.from_uri(f"{scheme}://raymix-probe/")[0]
    except Exception as exc:  # pyarrow.ArrowInvalid: a scheme pyarrow does not know
        pyarrow_reason = _reason(exc)
    try:
        import fsspec

        return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(scheme)))
    except Exception as exc:
        raise StorageError(f"{scheme}:// is not a file system pyarrow or fsspec know "
                           f"({pyarrow_reason}; fsspec: {_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = re.sub(r"\s*\(Request ID: [^)]*\)", "", " ".join(str(exc).split()))
    return (text[:300] + "...") if len(text) > 300 else (text or type(exc).__name__)


_lock = threading.Lock()
_remotes: dict[str, _Remote] = {}
_opened: set[str] = set()  # URIs this process has brought down once


def _remote(scheme: str) -> _Remote:
    with _lock:
        if scheme not in _remotes:
            _remotes[scheme] = _Remote(scheme)
        return _remotes[scheme]


def _mirror_of(path: Path) -> tuple[_Remote, str] | None:
    """(the store, the object key) that a path under a mirror stands for, else None."""
    root = mirrors_root()
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return None
    parts = relative.parts
    if len(parts) < 2:  # <root>/<scheme>/<bucket>/... : a bucket at least
        return None
    return _remote(parts[0]), "/".join(parts[1:])


# ----------------------------------------------------------------------------- syncing


def upload(path: str | Path, data: bytes) -> None:
    """Put ``data`` in the store at the object ``path`` stands for (a no-op for a path
    under no mirror). Called before the local write, so a refusal leaves both as they were.

    Raises
    ------
    StorageError
        The store's refusal.
    """
    found = _mirror_of(Path(path))
    if found is not None:
        remote, key = found
        remote.put(key, data)


def push_tree(folder: str | Path) -> None:
    """Upload every file under a local ``folder`` of a mirror (a saved model)."""
    folder = Path(folder)
    if _mirror_of(folder) is None:
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        upload(path, path.read_bytes())


def refresh(folder: str | Path) -> int:
    """Make a mirror's ``folder`` hold what the store holds under it; returns how many
    files came down. A no-op for a folder under no mirror.

    New files and files newer in the store are downloaded; a local file that the store
    no longer holds is removed, unless it was written after the listing began (a write
    goes to the store first, so such a file is one being written now). The folders in
    :data:`SKIPPED` are left alone.
    """
    folder = Path(folder)
    found = _mirror_of(folder)
    if found is None:
        return 0
    remote, key = found
    started = time.time()
    listing = remote.listing(key)
    fetched = 0
    for relative, (size, mtime) in listing.items():
        if _skipped(relative):
            continue
        local = folder / relative
        try:
            here = local.stat()
            if here.st_size == size and here.st_mtime >= mtime:
                continue
        except FileNotFoundError:
            pass
        data = remote.get(f"{key}/{relative}")
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.pull.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, local)
        fetched += 1
    if folder.is_dir():
        for path in folder.rglob("*"):
            relative = path.relative_to(folder).as_posix()
            if (path.is_file() and not _skipped(relative) and relative not in listing
                    and not path.name.startswith(".") and path.stat().st_mtime < started):
                path.unlink(missing_ok=True)
    return fetched


def _skipped(relative: str) -> bool:
    return any(part in SKIPPED for part in relative.split("/")[:-1])


def write_problem(location: str) -> str | None:
    """Why ``location`` (a URI) cannot hold a sweep, or None: its form, its scheme, and a
    probe object written and removed (within :data:`PROBE_TIMEOUT_S`)."""
    problem = uri_problem(location)
    if problem:
        return problem
    parts = urlsplit(location)
    key = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    probe = f"{key}/.raymix-probe-{os.getpid()}-{time.time_ns()}"
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            remote = _remote(parts.scheme.lower())
            remote.put(probe, b"ok")
            remote.delete(probe)
            outcome.append(None)
        except StorageError as exc:
            outcome.append(str(exc))
        except Exception as exc:  # anything a file system raises: one line, not a traceback
            outcome.append(_reason(exc))

    worker = threading.Thread(target=attempt, daemon=True)  # a hung store is left behind
    worker.start()
    worker.join(PROBE_TIMEOUT_S)
    if not outcome:
        return (f"{location} did not answer a test write within {PROBE_TIMEOUT_S:.0f} s; "
                "check the endpoint (AWS_ENDPOINT_URL) and the network")
    if outcome[0]:
        return f"{location} refused a test write ({outcome[0]})"
    return None
