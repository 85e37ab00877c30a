"""Credentials inside URIs: used where a connection needs them, never shown or stored.

A URI may carry a secret in its user part (``http://user:password@host:5000``, or a token
alone, ``https://TOKEN@host``). raymix passes such a URI on unchanged to the client that
connects with it, and masks the secret everywhere else: messages, progress lines, the
sweep folder's ``config.yaml`` and ``tracking.json``, reports. :func:`mask_uri` works on
any text, so a client's error message that repeats the URI is masked too.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# scheme://, then a user part (no '/', '@' or whitespace) that ends in '@': the user
# name stays (who connects is no secret); a password after ':' is masked, and a user
# part without ':' is masked whole (a token given as the user name)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/@:\s]*)"
                       r"(?::(?P<password>[^/\s]*))?@")


def _masked(match: re.Match) -> str:
    if match.group("password") is None:
        return f"{match.group('scheme')}{MASK}@"
    return f"{match.group('scheme')}{match.group('user')}:{MASK}@"


def mask_uri(text: str) -> str:
    """``text`` with the secret of every URI in it masked.

    ``http://user:pw@host:5000/x`` -> ``http://user:***@host:5000/x``;
    ``https://TOKEN@host`` -> ``https://***@host``; text without such a URI is unchanged.
    """
    return _USERINFO.sub(_masked, text)


def has_credentials(uri: str) -> bool:
    """Whether ``uri`` carries a user part that :func:`mask_uri` would mask."""
    return bool(_USERINFO.search(uri))


def masked(value: Any) -> Any:
    """``value`` (a config's dict, a list, a string) with every string in it masked; for
    what is stored (a sweep's ``config.yaml``)."""
    if isinstance(value, str):
        return mask_uri(value)
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(item) for item in value]
    return value
