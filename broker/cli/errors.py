"""One error style for every command: ``peakend CMD: what happened; what to do`` on stderr,
then the command's exit code. The messages come from the exceptions of field/, hub/ and
devtools/, which already say what to do."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

# Exit codes of the hub's commands: 2 for what the operator must change (a flag, a file, a
# folder), 1 for a part that failed while running (mosquitto would not start, the aggregator
# lost its database).
USAGE = 2
FAILED = 1


def fail(command: str, message: object, code: int = USAGE, *,
         urls: Iterable[str | None] = ()) -> int:
    """Print ``peakend COMMAND: message`` to stderr and return ``code`` for ``main``.

    ``urls``: the MQTT or database URLs the command was given; a message that quotes one
    (a parser saying what is wrong with it) shows its password as ``***``."""
    print(f"peakend {command}: {hide_passwords(str(message), urls)}", file=sys.stderr)
    return code


def hide_passwords(text: str, urls: Iterable[str | None]) -> str:
    for url in urls:
        try:
            password = urlsplit(url or "").password
        except ValueError:
            password = None
        for form in {password, unquote(password or "")} - {None, ""}:
            text = text.replace(form, "***")  # type: ignore[arg-type]
    return text
