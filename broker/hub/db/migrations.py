"""The hub's schema: numbered migrations, plain Python functions, each written once.

Each ``m00N_...`` function creates what it adds with the engine's :class:`Dialect` where the two
engines spell a type differently (see :mod:`peakend.broker.hub.db.dialect`). Applied names are
recorded where they always were: ``_sqlite_migrations`` (sqlite-utils' table, set "peakend") on
SQLite and ``_peakend_migrations`` on PostgreSQL, so a database made by any earlier peakend opens
and takes only what it lacks. Add a migration by appending a function to ``MIGRATIONS``; never
edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from peakend.broker.hub.db.database import MIGRATION_LOCK, DatabaseError, HubDb


def m001_core(db: HubDb) -> None:
    d = db.dialect
    i, r = d.integer, d.real
    event = f"""
    msg_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq {i} NOT NULL,
    store_id TEXT NOT NULL,"""
    placed = f"""
    zone_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    received_at TEXT NOT NULL,
    clock_synced {i} NOT NULL,
    at TEXT NOT NULL,"""
    _run(
        db,
        d.table("ledger", f"""
    device_id TEXT NOT NULL,
    seq {i} NOT NULL,
    msg_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('stored', 'quarantined', 'skipped')),
    received_at TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)""", rowid="none"),
        "CREATE UNIQUE INDEX ledger_msg_id ON ledger (msg_id) WHERE msg_id IS NOT NULL",
        d.table("ratings", f"""{event}{placed}
    score {i} NOT NULL,
    reason TEXT,
    flags TEXT NOT NULL DEFAULT '[]',
    flagged {i} NOT NULL DEFAULT 0"""),
        "CREATE INDEX ratings_zone_at ON ratings (store_id, zone_id, at)",
        d.table("dwells", f"""{event}{placed}
    track TEXT NOT NULL,
    enter TEXT NOT NULL,
    exit TEXT NOT NULL,
    dwell_s {r} NOT NULL,
    wait_s {r}"""),
        "CREATE INDEX dwells_zone_exit ON dwells (store_id, zone_id, exit)",
        d.table("queue_windows", f"""{event}{placed}
    window_s {r} NOT NULL,
    length {r} NOT NULL,
    arrivals {i} NOT NULL,
    departures {i} NOT NULL,
    wait_s {r},
    wait_measured_s {r}"""),
        "CREATE INDEX queue_windows_zone_at ON queue_windows (store_id, zone_id, at)",
        d.table("health", f"""{event}
    ts TEXT NOT NULL,
    received_at TEXT NOT NULL,
    at TEXT NOT NULL,
    fps {r},
    cpu {r},
    outbox {i},
    temp_c {r},
    data TEXT NOT NULL"""),
        "CREATE INDEX health_device_at ON health (device_id, at)",
        d.table("quarantine", f"""
    id {d.auto_key},
    received_at TEXT NOT NULL,
    last_received_at TEXT NOT NULL,
    times {i} NOT NULL DEFAULT 1,
    topic TEXT NOT NULL,
    device_id TEXT,
    seq {i},
    reason TEXT NOT NULL,
    raw {d.blob} NOT NULL,
    sha256 TEXT NOT NULL UNIQUE""", rowid="key"),
        d.table("devices", f"""
    device_id TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    role TEXT,
    zone_id TEXT,
    state TEXT NOT NULL DEFAULT 'unknown',
    boot_id TEXT,
    version TEXT,
    config_hash TEXT,
    status_at TEXT,
    last_seen TEXT,
    acked_seq {i} NOT NULL DEFAULT 0,
    messages {i} NOT NULL DEFAULT 0"""),
    )


def m002_report_rollups(db: HubDb) -> None:
    # Per zone and UTC hour (epoch hours): counts and the raw wait/dwell values as float64
    # blobs, so a month's report reads a few thousand rows and its percentiles stay exact.
    d = db.dialect
    i = d.integer
    _run(
        db,
        d.table("zone_hours", f"""
    store_id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    hour {i} NOT NULL,
    n1 {i} NOT NULL DEFAULT 0,
    n2 {i} NOT NULL DEFAULT 0,
    n3 {i} NOT NULL DEFAULT 0,
    n4 {i} NOT NULL DEFAULT 0,
    flagged {i} NOT NULL DEFAULT 0,
    visits {i} NOT NULL DEFAULT 0,
    waits {d.blob} NOT NULL DEFAULT {d.empty_blob},
    dwells {d.blob} NOT NULL DEFAULT {d.empty_blob},
    PRIMARY KEY (store_id, zone_id, hour)""", rowid="none"),
        d.table("zone_last", """
    store_id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (store_id, zone_id, kind)""", rowid="none"),
        d.table("rollup_marks", f"""
    name TEXT PRIMARY KEY,
    last_rowid {i} NOT NULL""", rowid="none"),
    )


def m003_web_accounts(db: HubDb) -> None:
    d = db.dialect
    i = d.integer
    _run(
        db,
        d.table("users", f"""
    id {d.auto_key},
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL""", rowid="key"),
        d.table("user_stores", f"""
    user_id {i} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    store_id TEXT NOT NULL,
    PRIMARY KEY (user_id, store_id)""", rowid="none"),
        d.table("web_sessions", f"""
    token_hash TEXT PRIMARY KEY,
    user_id {i} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL"""),
    )


def m004_alerts(db: HubDb) -> None:
    d = db.dialect
    i, r = d.integer, d.real
    _run(
        db,
        d.table("alerts", f"""
    id {d.auto_key},
    store_id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    cause TEXT NOT NULL,
    value {r},
    threshold {r},
    acked_at TEXT,
    acked_by TEXT""", rowid="key"),
        # one open alert per cause: the storm guard lives in the schema too
        "CREATE UNIQUE INDEX alerts_one_open ON alerts (store_id, zone_id, kind) "
        "WHERE state = 'open'",
        "CREATE INDEX alerts_store_opened ON alerts (store_id, opened_at)",
        d.table("alert_comments", f"""
    id {d.auto_key},
    alert_id {i} NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL""", rowid="key"),
    )


def m005_no_functions_in_schema(db: HubDb) -> None:
    """Earlier peakends created SQLite's julianday(), round(x, n) and two-argument max()/min()
    in a PostgreSQL database's schema, for SQL translated at run time; the SQL now speaks each
    engine's own dialect, so they go."""
    if db.dialect.name != "postgresql":
        return
    _run(
        db,
        "DROP FUNCTION IF EXISTS julianday(text)",
        "DROP FUNCTION IF EXISTS round(double precision, integer)",
        "DROP FUNCTION IF EXISTS max(double precision, double precision)",
        "DROP FUNCTION IF EXISTS max(text, text)",
        "DROP FUNCTION IF EXISTS min(double precision, double precision)",
        "DROP FUNCTION IF EXISTS min(text, text)",
    )


def m006_skipped_ranges(db: HubDb) -> None:
    """Seqs a device declares skipped are kept as ranges (see skipped.py): one ledger row per
    seq let a single notice write a million rows. Such rows of earlier versions become ranges,
    one per run of consecutive seqs."""
    i = db.dialect.integer
    _run(
        db,
        db.dialect.table("skipped_ranges", f"""
    device_id TEXT NOT NULL,
    first_seq {i} NOT NULL,
    last_seq {i} NOT NULL,
    received_at TEXT NOT NULL,
    CHECK (first_seq <= last_seq),
    PRIMARY KEY (device_id, first_seq)""", rowid="none"),
        # a run of consecutive seqs keeps seq - row_number() constant
        "INSERT INTO skipped_ranges (device_id, first_seq, last_seq, received_at) "
        "SELECT device_id, min(seq), max(seq), min(received_at) FROM (SELECT device_id, seq, "
        "received_at, seq - row_number() OVER (PARTITION BY device_id ORDER BY seq) AS run "
        "FROM ledger WHERE outcome = 'skipped') AS s GROUP BY device_id, run",
        "DELETE FROM ledger WHERE outcome = 'skipped'",
    )


def m007_quarantine_bounds(db: HubDb) -> None:
    """A quarantine row keeps only the head of a large payload, so it notes the size of what
    arrived; the writer prunes the rows last received longest ago, by this index."""
    i = db.dialect.integer
    _run(
        db,
        f"ALTER TABLE quarantine ADD COLUMN raw_size {i}",
        "UPDATE quarantine SET raw_size = length(raw)",
        # what earlier versions kept whole, cut as the writer now cuts it (QUARANTINE_RAW_BYTES)
        "UPDATE quarantine SET raw = substr(raw, 1, 4096) WHERE length(raw) > 4096",
        "CREATE INDEX quarantine_last_received ON quarantine (last_received_at)",
    )


def m008_rating_corrections(db: HubDb) -> None:
    """A kiosk's correction names the press it replaces; the index finds a correction from the
    replaced press when that one arrives later (corrections are rare, so the index is small)."""
    _run(
        db,
        "ALTER TABLE ratings ADD COLUMN replaces TEXT",
        "CREATE INDEX ratings_replaces ON ratings (replaces) WHERE replaces IS NOT NULL",
    )


def m009_accounts(db: HubDb) -> None:
    """Admins manage the other accounts in the web; a forgotten password is replaced through a
    one-time link (only its SHA-256 is kept, as for sessions)."""
    d = db.dialect
    i = d.integer
    _run(
        db,
        f"ALTER TABLE users ADD COLUMN admin {i} NOT NULL DEFAULT 0",
        d.table("password_resets", f"""
    token_hash TEXT PRIMARY KEY,
    user_id {i} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL"""),
    )


def m010_deliveries_and_tokens(db: HubDb) -> None:
    """Alerts go out by mail and webhooks through an outbox: one row per alert and channel,
    written with the alert itself, so a hub that stops between the two loses nothing. A row
    goes pending -> sending -> sent (or failed after its attempts); a row left in sending by a
    crash is sent again once its claim is stale. ``alerts.value_now`` keeps the latest reading
    of an open alert (``value`` keeps the highest), so a late message tells both. And the
    read-only API's personal access tokens."""
    d = db.dialect
    i, r = d.integer, d.real
    _run(
        db,
        f"ALTER TABLE alerts ADD COLUMN value_now {r}",
        d.table("alert_deliveries", f"""
    id {d.auto_key},
    alert_id {i} NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    opened_value {r},
    attempts {i} NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    last_error TEXT,
    UNIQUE (alert_id, channel)""", rowid="key"),
        "CREATE INDEX alert_deliveries_due ON alert_deliveries (state, next_attempt_at)",
        # Scheduled digests go out the same way: one row per schedule and period, so a
        # restart neither loses nor repeats one.
        d.table("digest_runs", f"""
    id {d.auto_key},
    name TEXT NOT NULL,
    period TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts {i} NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    last_error TEXT,
    UNIQUE (name, period)""", rowid="key"),
        # Personal access tokens of the read-only API: only the SHA-256 is kept, as for
        # sessions; a revoked token stays listed (when, by whom it was used) but answers 401.
        d.table("api_tokens", f"""
    id {d.auto_key},
    user_id {i} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT""", rowid="key"),
    )


def m011_user_language(db: HubDb) -> None:
    """The language each manager reads the web in; NULL until they choose, when the browser's
    Accept-Language decides."""
    _run(db, "ALTER TABLE users ADD COLUMN language TEXT")


def m012_alert_threads(db: HubDb) -> None:
    """Acknowledging or commenting on an alert is echoed to the channels that carried it, in
    the alert's thread: a mail reply names the alert mail's Message-ID (kept here once it is
    sent), a webhook follow-up names the alert's delivery. The echoes go through an outbox of
    their own, one row per event and channel, sent as alerts are: claimed, recorded after the
    receiver took them, retried, given up loudly."""
    d = db.dialect
    i = d.integer
    _run(
        db,
        "ALTER TABLE alert_deliveries ADD COLUMN message_id TEXT",
        d.table("alert_echoes", f"""
    id {d.auto_key},
    delivery_id {i} NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts {i} NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    last_error TEXT,
    UNIQUE (delivery_id, event)""", rowid="key"),
        "CREATE INDEX alert_echoes_due ON alert_echoes (state, next_attempt_at)",
    )


def m013_dwell_wait_floor(db: HubDb) -> None:
    """A wait a device knows only as a floor (the person was first seen mid-queue) is kept in a
    column of its own: ``wait_s`` stays the measured waits every report and the rating link
    read, and a floor in it would pull them down (NULL in both: the person never crossed)."""
    _run(db, f"ALTER TABLE dwells ADD COLUMN wait_floor_s {db.dialect.real}")


Migration = Callable[[HubDb], None]

MIGRATIONS: list[Migration] = [
    m001_core,
    m002_report_rollups,
    m003_web_accounts,
    m004_alerts,
    m005_no_functions_in_schema,
    m006_skipped_ranges,
    m007_quarantine_bounds,
    m008_rating_corrections,
    m009_accounts,
    m010_deliveries_and_tokens,
    m011_user_language,
    m012_alert_threads,
    m013_dwell_wait_floor,
]


def apply(db: HubDb) -> list[str]:
    """Apply the pending migrations in order, in one transaction; returns their names. Safe
    when several workers start at once: they take turns."""
    log = _LOGS[db.dialect.name]
    with db.transaction(take_turns=MIGRATION_LOCK):
        for statement in log.create:
            db.execute(statement)
        done = {row[0] for row in db.execute(log.select)}
        applied = []
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            migration(db)
            db.execute(log.insert, (migration.__name__,))
            applied.append(migration.__name__)
    return applied


def pending(db: HubDb) -> list[str]:
    """The migrations this database lacks; reads only."""
    log = _LOGS[db.dialect.name]
    if db.execute(log.exists).fetchone()[0] == 0:
        return [m.__name__ for m in MIGRATIONS]
    done = {row[0] for row in db.execute(log.select)}
    return [m.__name__ for m in MIGRATIONS if m.__name__ not in done]


# Migrations a reader relies on nothing of (tidy-ups after earlier versions, tables and columns
# only the writer reads), so a hub whose writer has not run them yet (a copied backup, workers
# upgraded one by one) is read. m009 is read by the web's accounts alone, m010 by alert
# delivery and the fleet page, m011's language by the web alone (reports stay in English),
# m012 by alert delivery and the web's acknowledgements, m013's wait floors by the web's
# dwells endpoint alone (the writer fills them; reports read measured waits only), and
# `peakend serve` starts its web and its delivery only once its writer has migrated.
OPTIONAL_FOR_READERS = frozenset({
    "m005_no_functions_in_schema", "m006_skipped_ranges", "m007_quarantine_bounds",
    "m008_rating_corrections", "m009_accounts", "m010_deliveries_and_tokens",
    "m011_user_language", "m012_alert_threads", "m013_dwell_wait_floor",
})


def require_current(db: HubDb) -> None:
    """Raise :class:`DatabaseError` unless every migration a reader relies on is applied;
    reads only."""
    missing = [name for name in pending(db) if name not in OPTIONAL_FOR_READERS]
    if not missing:
        return
    where = db.target.redacted()
    if len(missing) == len(MIGRATIONS):
        state = "has no peakend schema yet"
    else:
        state = f"has an older schema (missing {', '.join(missing)})"
    raise DatabaseError(
        f"{where}: the hub database {state}. Start `peakend serve --db ...` on it once: the "
        "hub brings the schema up to date on start (reports and pages never change it)."
    )


def _run(db: HubDb, *statements: str) -> None:
    for statement in statements:
        db.execute(statement)


@dataclass(frozen=True)
class _Log:
    """Where an engine records the applied migrations (tables earlier peakends made)."""

    create: tuple[str, ...]
    exists: str
    select: str
    insert: str


_LOGS: dict[str, _Log] = {
    # sqlite-utils' Migrations table, as sqlite-utils creates it, for the set "peakend"
    "sqlite": _Log(
        create=(
            "CREATE TABLE IF NOT EXISTS [_sqlite_migrations] ([id] INTEGER PRIMARY KEY, "
            "[migration_set] TEXT, [name] TEXT, [applied_at] TEXT)",
            "CREATE UNIQUE INDEX IF NOT EXISTS [idx__sqlite_migrations_migration_set_name] "
            "ON [_sqlite_migrations] ([migration_set], [name])",
        ),
        exists="SELECT count(*) FROM sqlite_master WHERE name = '_sqlite_migrations'",
        select="SELECT name FROM _sqlite_migrations WHERE migration_set = 'peakend'",
        insert="INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('peakend', $1, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'))",
    ),
    "postgresql": _Log(
        create=(
            "CREATE TABLE IF NOT EXISTS _peakend_migrations "
            "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        ),
        exists="SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = '_peakend_migrations'",
        select="SELECT name FROM _peakend_migrations",
        insert="INSERT INTO _peakend_migrations (name) VALUES ($1)",
    ),
}
