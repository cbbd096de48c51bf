"""What a device says, made something either database can hold, or refused at parse time.

JSON that parses can still carry text no database stores: JavaScript's ``JSON.stringify``
writes a lone UTF-16 surrogate as ``"\\ud800"``, which Python decodes into a string that no
UTF-8 encoder takes (neither SQLite's driver nor psycopg), and PostgreSQL refuses U+0000 in
text. Both become U+FFFD, the Unicode replacement character, so the message is stored with the
rest of its text intact instead of failing at the database. Nesting is bounded as well:
pydantic's serializer gives up past about 255 levels and Python's JSON parser past about a
thousand, so a deep health vital would pass the contract and fail only at storage.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The envelope is level 1, data level 2, a skipped range level 4: far more than any vital needs.
MAX_DEPTH = 32
REPLACEMENT = "\ufffd"
TOO_DEEP = f"payload is nested more than {MAX_DEPTH} levels deep"

_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


class TooDeep(ValueError):
    """A payload nested deeper than :data:`MAX_DEPTH`; the text is the reason stored."""


def storable_text(text: str) -> str:
    """``text`` with lone surrogates and NUL characters replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable(doc: Any, source: str) -> Any:
    """The parsed JSON ``doc`` of ``source`` with every string, keys included, made storable;
    raises :class:`TooDeep` when it nests deeper than :data:`MAX_DEPTH`."""
    # A lone surrogate or a NUL reaches a Python string only through a \u escape (strict JSON
    # refuses raw control characters, and the UTF-8 decoder refuses encoded surrogates), and a
    # payload with few brackets cannot nest deeply: most messages skip the walk.
    escapes = "\\u" in source
    if not escapes and source.count("{") + source.count("[") <= MAX_DEPTH:
        return doc
    return _walk(doc, 1, escapes)


def top_level(text: str) -> Any:
    """The JSON object of ``text`` with every nested object or array replaced by null, so the
    seq of a payload too deep for the JSON parser can still be read; ValueError if it is no
    JSON even so."""
    out: list[str] = []
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            if depth == 2:
                out.append("null")
        elif ch in "}]":
            depth -= 1
            if depth == 1:
                continue  # the end of a nested value, already written as null
        if depth <= 1:
            out.append(ch)
    return json.loads("".join(out))


def _walk(value: Any, depth: int, escapes: bool) -> Any:
    if isinstance(value, str):
        return storable_text(value) if escapes else value
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            raise TooDeep(TOO_DEEP)
        return {
            (storable_text(k) if escapes else k): _walk(v, depth + 1, escapes)
            for k, v in value.items()
        }
    if isinstance(value, list):
        if depth > MAX_DEPTH:
            raise TooDeep(TOO_DEEP)
        return [_walk(v, depth + 1, escapes) for v in value]
    return value
