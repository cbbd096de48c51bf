"""Personal access tokens for the read-only API (BI tools, spreadsheets, scripts).

A token belongs to one account and reads what that account may see: its stores, as they are
when the request comes (taking a store from the account takes it from its tokens too). Only
the SHA-256 of a token is kept, as for sessions; the token itself is shown once, when it is
made. ``peakend token`` and the web's Tokens page make, list and revoke them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.web.auth import User, UserError, get_user
from peakend.broker.wire.contract import format_ts

# Recognisable in a leaked config or a secret scanner's rules.
PREFIX = "pkt_"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str  # the first characters, to tell tokens apart in a list
    created_at: str
    revoked_at: str | None


def create_token(conn: HubDb, user: str, name: str) -> tuple[TokenInfo, str]:
    """A new token of ``user`` named ``name``; returns it with the secret, shown only now."""
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise UserError(_("the token's name must be 1-64 printable characters, e.g. "
                          "power-bi"))
    uid = _user_id(conn, user)
    secret = PREFIX + secrets.token_urlsafe(32)
    now = format_ts(datetime.now(UTC))
    (tid,) = conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        (uid, name, token_hash(secret), secret[:10], now)).fetchone()
    return TokenInfo(int(tid), name, secret[:10], now, None), secret


def list_tokens(conn: HubDb, user: str) -> list[TokenInfo]:
    uid = _user_id(conn, user)
    return [TokenInfo(int(r[0]), r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT id, name, prefix, created_at, revoked_at FROM api_tokens WHERE user_id = $1 "
        "ORDER BY id", (uid,))]


def revoke_token(conn: HubDb, user: str, token_id: int) -> TokenInfo:
    """Revoke one of ``user``'s tokens; it answers 401 from the next request on."""
    uid = _user_id(conn, user)
    row = conn.execute(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 AND "
        "user_id = $3 RETURNING id, name, prefix, created_at, revoked_at",
        (format_ts(datetime.now(UTC)), token_id, uid)).fetchone()
    if row is None:
        raise UserError(_("%(user)s has no token %(id)s (peakend token list shows them)")
                        % {"user": user, "id": token_id})
    return TokenInfo(int(row[0]), row[1], row[2], row[3], row[4])


def token_user(conn: HubDb, secret: str | None) -> tuple[int, User] | None:
    """The token's id and account, for a live token; None otherwise. Reads only."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = conn.execute(
        "SELECT id, user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        (token_hash(secret),)).fetchone()
    if row is None:
        return None
    user = get_user(conn, row[1])
    return (int(row[0]), user) if user else None


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user_id(conn: HubDb, user: str) -> int:
    row = conn.execute("SELECT id FROM users WHERE name = $1", (user,)).fetchone()
    if row is None:
        raise UserError(f"there is no user {user!r} (peakend user list shows them)")
    return int(row[0])
