"""Keeping secrets out of what people read: error texts, logs and tickets.

A tech pastes an error into a ticket as it is, so nothing printed may carry a password, a PIN
or a token: not a URL's password, not a value of a field whose name says it is secret."""

from __future__ import annotations

import re

# scheme://user:password@host -> scheme://user:***@host, wherever it sits in a text
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]*:)[^\s@'\"]*@")
# field names whose values are secrets by their name: pin, smtp_password, webhook_secret, ...
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:password|passwd|secret|token|pin|api_key|private_key|credentials?)(?:_|$)",
    re.IGNORECASE,
)


def hide_url_passwords(text: str) -> str:
    """The text with every URL's password shown as ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}***@", text)


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``pin``, ``smtp_password``, ...); one
    ending in ``_env`` names the environment variable that holds it, which is no secret."""
    return bool(_SECRET_NAME.search(name)) and not name.lower().endswith("_env")
