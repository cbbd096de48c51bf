"""Managers' web accounts: scrypt-hashed passwords, the stores each may see, login sessions,
admins who manage the others, and one-time links that replace a forgotten password.

Sessions live in the database (a restart keeps people logged in and a logout really ends the
session); the cookie carries a random token of which only the SHA-256 is stored. A password
reset link works the same way, once, for a limited time, and ends every session of its user.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.i18n import LANGUAGES
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.wire.contract import format_ts, is_slug

SESSION_DAYS = 14
RESET_HOURS = 24
# scrypt at n=2**14, r=8 takes ~50 ms and 16 MiB on a Pi-class hub: slow for a guesser, fine for
# a login.
_N, _R, _P = 2**14, 8, 1


class UserError(ValueError):
    """A request about accounts that cannot be done; the message is meant for a person."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    stores: tuple[str, ...]
    admin: bool = False
    # None until the user chooses: the browser's Accept-Language decides meanwhile
    language: str | None = None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                         p=int(p), dklen=len(digest) // 2)
    return hmac.compare_digest(got.hex(), digest)


def add_user(
    conn: HubDb, name: str, password: str, stores: list[str], *, admin: bool = False,
    language: str | None = None,
) -> User:
    if not name or len(name) > 64 or not name.isprintable():
        raise UserError(_("the name must be 1-64 printable characters"))
    _check_password(password)
    if not stores:
        raise UserError(_("give at least one --store the manager may see"))
    for s in stores:
        if not is_slug(s):
            raise UserError(_("'%(store)s' is not a store id such as s001") % {"store": s})
    _check_language(language)
    if conn.execute("SELECT 1 FROM users WHERE name = $1", (name,)).fetchone():
        raise UserError(_("user '%(name)s' exists already") % {"name": name})
    (uid,) = conn.execute(
        "INSERT INTO users (name, password_hash, created_at, admin, language) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        (name, hash_password(password), format_ts(datetime.now(UTC)), int(admin), language),
    ).fetchone()
    conn.executemany(
        "INSERT INTO user_stores (user_id, store_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(uid, s) for s in stores],
    )
    return User(uid, name, tuple(sorted(set(stores))), admin, language)


def set_language(conn: HubDb, user_id: int, language: str) -> None:
    """The language the user reads the web in from now on."""
    _check_language(language)
    conn.execute("UPDATE users SET language = $1 WHERE id = $2", (language, user_id))


def _check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise UserError(f"the web speaks {', '.join(LANGUAGES)}, not {language!r}")


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise UserError(_("the password must have at least 8 characters"))


def unknown_stores(wanted: list[str], known: set[str]) -> list[str]:
    """The stores asked for that the hub knows nothing of (a typo, most likely). With nothing
    known yet (a new hub: no hub.toml stores, no device) there is nothing to check against."""
    return [s for s in wanted if known and s not in known]


def stores_with_devices(conn: HubDb) -> set[str]:
    """Stores a device has connected or sent data from."""
    from peakend.broker.hub.reports.queries import zones

    return {r[0] for r in conn.execute("SELECT DISTINCT store_id FROM devices")} | {
        s for s, _, _ in zones(conn)}


def remove_user(conn: HubDb, name: str) -> None:
    """The account, its stores, sessions and reset links (the foreign keys cascade)."""
    if conn.execute("DELETE FROM users WHERE name = $1 RETURNING id", (name,)).fetchone() is None:
        raise UserError(_("there is no user '%(name)s' (peakend user list shows them)")
                        % {"name": name})


def start_reset(conn: HubDb, name: str, hours: float = RESET_HOURS) -> str:
    """A one-time token that lets ``name`` set a new password for ``hours``; an earlier
    unused one of the same user stops working."""
    row = conn.execute("SELECT id FROM users WHERE name = $1", (name,)).fetchone()
    if row is None:
        raise UserError(_("there is no user '%(name)s' (peakend user list shows them)")
                        % {"name": name})
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    conn.execute("DELETE FROM password_resets WHERE user_id = $1 OR expires_at < $2",
                 (row[0], format_ts(now)))
    conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        (_token_hash(token), row[0], format_ts(now), format_ts(now + timedelta(hours=hours))),
    )
    return token


def reset_user(conn: HubDb, token: str) -> User | None:
    """Whose live reset link this is; None for an unknown, used or expired one."""
    row = conn.execute(
        "SELECT user_id FROM password_resets WHERE token_hash = $1 AND expires_at > $2",
        (_token_hash(token), format_ts(datetime.now(UTC))),
    ).fetchone()
    return get_user(conn, row[0]) if row else None


def finish_reset(conn: HubDb, token: str, password: str) -> User:
    """Set the new password through a live link, then void the link and every session of
    the user (whoever knew the old password is logged out)."""
    _check_password(password)
    user = reset_user(conn, token)
    if user is None:
        raise UserError(_("this link is unknown, used or expired: ask an admin for a new one"))
    conn.execute("UPDATE users SET password_hash = $1 WHERE id = $2",
                 (hash_password(password), user.id))
    conn.execute("DELETE FROM password_resets WHERE user_id = $1", (user.id,))
    conn.execute("DELETE FROM web_sessions WHERE user_id = $1", (user.id,))
    return user


def get_user(conn: HubDb, user_id: int) -> User | None:
    row = conn.execute("SELECT id, name, admin, language FROM users WHERE id = $1",
                       (user_id,)).fetchone()
    if row is None:
        return None
    stores = tuple(r[0] for r in conn.execute(
        "SELECT store_id FROM user_stores WHERE user_id = $1 ORDER BY store_id", (user_id,)))
    return User(row[0], row[1], stores, bool(row[2]), row[3])


def list_users(conn: HubDb) -> list[User]:
    ids = [r[0] for r in conn.execute("SELECT id FROM users ORDER BY name")]
    return [u for u in (get_user(conn, i) for i in ids) if u]


def authenticate(conn: HubDb, name: str, password: str) -> User | None:
    row = conn.execute("SELECT id, password_hash FROM users WHERE name = $1", (name,)).fetchone()
    if row is None:
        # Spend the same time as a real check, so a login does not reveal which names exist.
        check_password(password, _DUMMY)
        return None
    return get_user(conn, row[0]) if check_password(password, row[1]) else None


_DUMMY = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: HubDb, user: User) -> tuple[str, str]:
    """A new session: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    conn.execute("DELETE FROM web_sessions WHERE expires_at < $1", (format_ts(now),))
    conn.execute(
        "INSERT INTO web_sessions (token_hash, user_id, csrf, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        (_token_hash(token), user.id, csrf, format_ts(now),
         format_ts(now + timedelta(days=SESSION_DAYS))),
    )
    return token, csrf


def session_user(conn: HubDb, token: str | None) -> tuple[User, str] | None:
    """The user and CSRF token of a live session."""
    if not token:
        return None
    row = conn.execute(
        "SELECT user_id, csrf FROM web_sessions WHERE token_hash = $1 AND expires_at > $2",
        (_token_hash(token), format_ts(datetime.now(UTC))),
    ).fetchone()
    if row is None:
        return None
    user = get_user(conn, row[0])
    return (user, row[1]) if user else None


def end_session(conn: HubDb, token: str | None) -> None:
    if token:
        conn.execute("DELETE FROM web_sessions WHERE token_hash = $1", (_token_hash(token),))


def ensure_demo_manager(
    db_path: str | Path,
    stores: list[str],
    name: str = "manager",
    password: str = "peakend-demo",
) -> tuple[str, str]:
    """Create (or reset) the demo's manager account; returns (name, password) to print."""
    from peakend.broker.hub.reports.queries import open_db

    conn = open_db(db_path, must_exist=False)
    try:
        conn.execute("DELETE FROM users WHERE name = $1", (name,))
        add_user(conn, name, password, stores)
    finally:
        conn.close()
    return name, password
