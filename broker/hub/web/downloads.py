"""File names for downloads, as RFC 6266 wants them: any zone or store id, any language.

The plain ``filename`` holds only safe ASCII (what every browser reads); ``filename*`` carries
the real name in UTF-8, percent-encoded (RFC 5987), so a quote, a semicolon or a non-Latin
character in a path can neither break the header nor fail to encode."""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def content_disposition(filename: str) -> str:
    fallback = _UNSAFE.sub("_", filename).strip("_.") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
