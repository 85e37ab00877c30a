"""Whether an http(s) tracking server answers, asked once before the sweep starts."""

from __future__ import annotations

import functools

from raymix.secrets import mask_uri

PROBE_SECONDS = 3.0  # how long an http(s) tracking server may take to answer the probe


@functools.cache
def unreachable(url: str) -> str | None:
    """Why the http(s) server at ``url`` gave no answer within :data:`PROBE_SECONDS`, or
    None when it answered (any HTTP status is an answer). Probed once per process.

    Credentials in ``url`` (``http://user:password@host``) are sent as HTTP Basic
    authentication, not as part of the address; the reason never repeats them.
    """
    import urllib.error
    import urllib.request

    try:
        request = _request(url)
        urllib.request.urlopen(request, timeout=PROBE_SECONDS).close()
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        return mask_uri(str(exc.reason))
    except (OSError, ValueError) as exc:
        return mask_uri(str(exc)) or type(exc).__name__
    return None


def _request(url: str):
    """A GET of ``url`` with its user part moved into an Authorization header."""
    import base64
    import urllib.request
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return urllib.request.Request(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urllib.request.Request(urlunsplit(parts._replace(netloc=host)),
                                  headers={"Authorization": f"Basic {token}"})
