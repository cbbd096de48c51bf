"""The forms of ids and timestamps on the wire, apart from the contract's models.

What only needs to read or write an id or a timestamp (a config file, a report) imports these
without building the contract's pydantic models, which is most of a short command's start-up.
:mod:`peakend.broker.wire.contract` exports the same names.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

ROLES = ("kiosk", "edge")
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62})$"
_SLUG = re.compile(SLUG_PATTERN)


def is_slug(value: str) -> bool:
    # fullmatch: with match, the pattern's "$" also matches before a trailing newline, and an
    # id "kz\n" would pass (and break the password file line it is written to).
    return bool(_SLUG.fullmatch(value))


def printable(text: str, limit: int = 300) -> str:
    """Text a device chose (a topic, a key, a reason quoting them) made fit for one log line:
    control and other non-printing characters are escaped (CR and LF as \\r and \\n), so a
    payload cannot split a log line or forge another, and long text is cut at ``limit``."""
    if text.isprintable() and len(text) <= limit:
        return text
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


def format_ts(moment: datetime) -> str:
    """UTC with milliseconds and a Z, the only timestamp form on the wire."""
    if moment.tzinfo is not UTC:  # the usual case skips two calls: this runs per stored row
        if moment.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        if moment.utcoffset():
            moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def parse_ts(text: str) -> datetime:
    """Parse a wire timestamp; naive times are refused because a Pi's local time is a guess."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is UTC:  # as devices send it: already what the rest expects
        return moment
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone; send UTC ending in Z")
    return moment.astimezone(UTC)
