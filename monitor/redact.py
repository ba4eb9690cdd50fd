"""Masking secrets in text meant for people: error messages, logs and ``liqmon check-config``.

Secret settings are :class:`~monitor.config_loader.Secret` and never show
themselves. This module covers what hides inside ordinary strings: the password
of a URL (``redis://user:pass@host``), a token given as a URL's user name, query
parameters whose names say they are credentials (``?token=``, ``?api_key=``,
``?sig=``), and header values whose names do (``Authorization``, ``X-Api-Key``).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

MASK = "********"

# Parts of parameter and header names that mark a credential (matched case-insensitively).
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "sig", "cookie", "session", "credential")


def secret_name(name: str) -> bool:
    """True when a query parameter or header called ``name`` carries a credential."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def mask_url(url: str) -> str:
    """``url`` with its password, a user-name token and credential-named query values masked.

    Host, port, path and other parameters stay readable, so a message still says
    where the URL points. A string that does not parse as a URL is masked whole.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" not in netloc and not parts.query:
        return url
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        # user:password keeps the user name; a lone user name is often a token (https://TOKEN@host).
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = "&".join(_mask_parameter(item) for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_parameter(item: str) -> str:
    name, equals, value = item.partition("=")
    return f"{name}={MASK}" if equals and value and secret_name(name) else item


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of credential-named headers masked."""
    return {name: MASK if secret_name(name) else value for name, value in headers.items()}


__all__ = ["MASK", "mask_headers", "mask_url", "secret_name"]
