"""Secrets in URIs are masked wherever raymix shows or stores them (raymix.secrets)."""

from __future__ import annotations

import pytest

from raymix.secrets import has_credentials, mask_uri, masked
from raymix.storage import uri_problem


@pytest.mark.parametrize("text, shown", [
    ("http://user:pw@host:5000", "http://user:***@host:5000"),
    ("https://user:p@ss@host/x", "https://user:***@host/x"),  # an '@' in the password
    ("https://TOKEN@host/api", "https://***@host/api"),  # a token as the user name
    ("error at http://u:secret@h:1/a and at ray://v:other@g:2",
     "error at http://u:***@h:1/a and at ray://v:***@g:2"),
    ("http://host:5000/path", "http://host:5000/path"),  # nothing to mask
    ("sqlite:///runs/mlflow.db", "sqlite:///runs/mlflow.db"),
    ("mail me at someone@example.com", "mail me at someone@example.com"),
])
def test_mask_uri(text, shown):
    assert mask_uri(text) == shown


def test_has_credentials_and_masked_containers():
    assert has_credentials("http://u:p@h") and not has_credentials("http://h:1")
    value = {"a": ["x", "s3://k:secret@b/p"], "b": 1.5, "c": None}
    assert masked(value) == {"a": ["x", "s3://k:***@b/p"], "b": 1.5, "c": None}


@pytest.mark.parametrize("uri", ["s3://key:secret@bucket/runs",
                                 "s3://key:secret@bucket/runs?endpoint=x",
                                 "gs://secret@bucket/runs"])
def test_a_storage_uri_with_credentials_is_refused_without_echoing_them(uri):
    problem = uri_problem(uri)
    assert "credentials" in problem and "secret" not in problem
