"""Secrets never reach a log line, an error or a written file.

An endpoint URL may carry credentials (`http://user:pw@host/v1`) or a key in its query string
(`?api_key=...`). `redact_url` gives the form that is safe to print and record; `split_credentials`
gives the URL without its user info plus the (user, password) pair to send as HTTP basic auth, so
the HTTP client never sees, and never echoes in an error, a URL with a password in it.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "sig", "credential")


def _netloc_without_userinfo(parts) -> str:
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(url without user info, (user, password) or None)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    clean = urlunsplit(parts._replace(netloc=_netloc_without_userinfo(parts)))
    return clean, (unquote(parts.username or ""), unquote(parts.password or ""))


def redact_url(url: str | None) -> str | None:
    """The URL with user info replaced by `***` and secret-looking query values masked."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        netloc = "***@" + _netloc_without_userinfo(parts)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if any(w in k.lower() for w in SECRET_WORDS) else v)
                           for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))
