"""The PostgreSQL engine of the hub's store, for a chain's several aggregator workers.

Same schema (:mod:`peakend.broker.hub.db.schema`, translated), same outcomes as
:class:`peakend.broker.hub.db.store.SqliteStore`, but written for writers that run at the same time:

- Idempotence comes from the database, not from a read-then-write: the ledger rows go in with
  ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, so of two workers handed the same redelivered
  message exactly one gets the row back and stores the event; the other finds the committed
  row afterwards (a conflicting insert waits for the first transaction to finish) and reports a
  duplicate.
- The ack is computed inside the transaction from what it can see: committed rows and its own.
  Rows another worker has not committed yet are invisible, so the ack can come out lower than
  the truth (harmless: the device only deletes rows <= ack) but never higher. The device rows
  are locked in device order for the run, and ``acked_seq`` only ever grows (``greatest``).
- Rows are inserted and locked in (device, seq) order so two workers rarely deadlock; when
  PostgreSQL still detects one, ``is_retryable`` tells the writer to run the batch again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from peakend.broker.hub.db.schema import PG_MIGRATIONS
from peakend.broker.hub.db.store import Outcome, typed_row
from peakend.broker.wire.contract import Envelope, Health, format_ts

# Any constant will do: every process that migrates takes the same lock.
_MIGRATION_LOCK = 0x7065616B  # "peak"


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection (transactions are explicit), schema brought up to date."""
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise ConnectionError(
            f"cannot connect to PostgreSQL ({str(exc).strip().splitlines()[0]}). Check the "
            "--db URL (postgresql://user:password@host:port/dbname) and that the server runs."
        ) from None
    apply_migrations(conn)
    return conn


def apply_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the pending migrations in order; returns their names. Safe when several workers
    start at once (an advisory lock makes them take turns)."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _peakend_migrations "
            "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM _peakend_migrations")}
        for name, ddl in PG_MIGRATIONS:
            if name in done:
                continue
            conn.execute(ddl)  # type: ignore[arg-type]  # DDL from our own schema module
            conn.execute("INSERT INTO _peakend_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
    return applied


class PostgresStore:
    """The hub database on PostgreSQL; one per aggregator worker (one connection each)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn = connect(dsn)
        self._columns: dict[str, list[str]] = {}
        for table, column in self.conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name <> 'rowid' "
            "ORDER BY table_name, ordinal_position"
        ):
            self._columns.setdefault(table, []).append(column)

    def close(self) -> None:
        self.conn.close()

    def is_retryable(self, exc: BaseException) -> bool:
        return isinstance(
            exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure
        )

    def transaction(self) -> Any:
        return self.conn.transaction()

    # -- events -------------------------------------------------------------------------------

    def store_event(self, envelope: Envelope, received_at: datetime) -> Outcome:
        return self.store_events([(envelope, received_at)])[0]

    def store_events(self, items: list[tuple[Envelope, datetime]]) -> list[Outcome]:
        """Insert valid envelopes idempotently (see the module docstring); outcomes as
        :meth:`SqliteStore.store_events`: stored, duplicate, or conflict with a reason."""
        if not items:
            return []
        msg_ids = [str(e.msg_id) for e, _ in items]
        # The first occurrence of each msg_id and of each (device, seq) within the batch tries
        # the insert; later ones are judged against what is in the database afterwards.
        first_msg: set[str] = set()
        first_key: set[tuple[str, int]] = set()
        candidates: list[int] = []
        for i, (e, _) in enumerate(items):
            key = (e.device_id, e.seq)
            if msg_ids[i] in first_msg or key in first_key:
                continue
            first_msg.add(msg_ids[i])
            first_key.add(key)
            candidates.append(i)
        candidates.sort(key=lambda i: (items[i][0].device_id, items[i][0].seq))
        received = {i: format_ts(items[i][1]) for i in candidates}
        inserted_keys = {
            (d, s)
            for d, s in self.conn.execute(
                "INSERT INTO ledger (device_id, seq, msg_id, outcome, received_at) "
                "SELECT d, s, m, 'stored', r FROM unnest(%s::text[], %s::bigint[], %s::text[], "
                "%s::text[]) WITH ORDINALITY AS t(d, s, m, r, n) ORDER BY n "
                "ON CONFLICT DO NOTHING RETURNING device_id, seq",
                (
                    [items[i][0].device_id for i in candidates],
                    [items[i][0].seq for i in candidates],
                    [msg_ids[i] for i in candidates],
                    [received[i] for i in candidates],
                ),
            )
        }
        stored = {
            i for i in candidates if (items[i][0].device_id, items[i][0].seq) in inserted_keys
        }
        outcomes = self._judge(items, msg_ids, stored)

        typed: dict[str, list[tuple[Any, ...]]] = {}
        for i in sorted(stored, key=lambda i: (items[i][0].device_id, items[i][0].seq)):
            e, received_at = items[i]
            table, row = typed_row(e, msg_ids[i], received_at, received[i])
            typed.setdefault(table, []).append(row)
            if isinstance(e.data, Health) and e.data.skipped:
                self._mark_skipped(e.device_id, e.data.skipped, received[i])
        with self.conn.cursor() as cur:
            for table, rows in typed.items():
                columns = ", ".join(self._columns[table])
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        return outcomes

    def _judge(
        self, items: list[tuple[Envelope, datetime]], msg_ids: list[str], stored: set[int]
    ) -> list[Outcome]:
        if len(stored) == len(items):
            return [Outcome("stored")] * len(items)
        rest = [i for i in range(len(items)) if i not in stored]
        by_msg: dict[str, tuple[str, int]] = {
            m: (d, s)
            for m, d, s in self.conn.execute(
                "SELECT msg_id, device_id, seq FROM ledger WHERE msg_id = ANY(%s::text[])",
                ([msg_ids[i] for i in rest],),
            )
        }
        by_seq: dict[tuple[str, int], str | None] = {
            (d, s): m
            for d, s, m in self.conn.execute(
                "SELECT l.device_id, l.seq, l.msg_id FROM ledger l JOIN unnest(%s::text[], "
                "%s::bigint[]) AS k(d, s) ON l.device_id = k.d AND l.seq = k.s",
                ([items[i][0].device_id for i in rest], [items[i][0].seq for i in rest]),
            )
        }
        outcomes = []
        for i, (e, _) in enumerate(items):
            if i in stored:
                outcomes.append(Outcome("stored"))
                continue
            known = by_msg.get(msg_ids[i])
            key = (e.device_id, e.seq)
            if known == key and by_seq.get(key) == msg_ids[i]:
                outcomes.append(Outcome("duplicate"))
            elif known is not None:
                outcomes.append(Outcome(
                    "conflict", f"replayed msg_id: already stored as {known[0]} seq {known[1]}"
                ))
            elif key in by_seq:
                outcomes.append(Outcome(
                    "conflict",
                    f"seq {e.seq} of {e.device_id} was already used by msg_id {by_seq[key]}",
                ))
            else:
                # Neither its msg_id nor its seq is taken, yet the insert did nothing: only a
                # concurrent delete explains it. Run the batch again.
                raise pg_errors.SerializationFailure(
                    f"ledger row for {e.device_id} seq {e.seq} vanished during the batch"
                )
        return outcomes

    def _mark_skipped(
        self, device_id: str, ranges: list[tuple[int, int]], received: str
    ) -> None:
        for first, last in ranges:
            if last < first or last - first > 1_000_000:
                continue
            self.conn.execute(
                "INSERT INTO ledger (device_id, seq, msg_id, outcome, received_at) "
                "SELECT %s, s, NULL, 'skipped', %s FROM generate_series(%s::bigint, %s::bigint) s "
                "ON CONFLICT DO NOTHING",
                (device_id, received, first, last),
            )

    # -- quarantine, status, devices ----------------------------------------------------------

    def quarantine(
        self,
        *,
        topic: str,
        raw: bytes,
        reason: str,
        received_at: datetime,
        device_id: str | None,
        seq: int | None,
    ) -> None:
        received = format_ts(received_at)
        digest = hashlib.sha256(topic.encode() + b"\0" + raw).hexdigest()
        self.conn.execute(
            "INSERT INTO quarantine (received_at, last_received_at, topic, device_id, seq, "
            "reason, raw, sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (sha256) DO UPDATE SET times = quarantine.times + 1, "
            "last_received_at = excluded.last_received_at",
            (received, received, topic, device_id, seq, reason, raw, digest),
        )
        # As in SQLite: handled, but never in place of a good message stored under that seq.
        if device_id is not None and seq is not None:
            self.conn.execute(
                "INSERT INTO ledger (device_id, seq, msg_id, outcome, received_at) "
                "VALUES (%s, %s, NULL, 'quarantined', %s) ON CONFLICT DO NOTHING",
                (device_id, seq, received),
            )

    def record_status(
        self, device_id: str, store_id: str, status: dict[str, Any], received_at: datetime
    ) -> None:
        received = format_ts(received_at)
        self.conn.execute(
            "INSERT INTO devices (device_id, store_id, role, zone_id, state, boot_id, version, "
            "config_hash, status_at, last_seen) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (device_id) DO UPDATE SET store_id = excluded.store_id, "
            "role = coalesce(excluded.role, devices.role), "
            "zone_id = coalesce(excluded.zone_id, devices.zone_id), "
            "state = excluded.state, boot_id = coalesce(excluded.boot_id, devices.boot_id), "
            "version = coalesce(excluded.version, devices.version), "
            "config_hash = coalesce(excluded.config_hash, devices.config_hash), "
            "status_at = excluded.status_at, last_seen = excluded.last_seen",
            (
                device_id,
                store_id,
                status.get("role"),
                status.get("zone_id"),
                status.get("state", "unknown"),
                status.get("boot_id"),
                status.get("version"),
                status.get("config_hash"),
                received,
                received,
            ),
        )

    def touch_devices(self, seen: list[tuple[str, str, int]], received_at: datetime) -> None:
        """(device, store, messages) of one batch; locks those device rows, in device order,
        until the transaction ends, which serialises the acks of concurrent workers."""
        if not seen:
            return
        seen = sorted(seen)
        self.conn.execute(
            "INSERT INTO devices (device_id, store_id, last_seen, messages) "
            "SELECT d, s, %s, n FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
            "WITH ORDINALITY AS t(d, s, n, o) ORDER BY o "
            "ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen, "
            "messages = devices.messages + excluded.messages",
            (
                format_ts(received_at),
                [d for d, _, _ in seen],
                [s for _, s, _ in seen],
                [n for _, _, n in seen],
            ),
        )

    def touch_device(
        self, device_id: str, store_id: str, received_at: datetime, count: int
    ) -> None:
        self.touch_devices([(device_id, store_id, count)], received_at)

    def advance_acks(self, device_ids: list[str]) -> dict[str, int]:
        """Move each device's ack over the contiguous run of handled seqs this transaction can
        see; returns the acks (never lower than what is already recorded)."""
        if not device_ids:
            return {}
        ends = self.conn.execute(
            # The run from acked_seq + 1 ends at the first seq whose successor is missing.
            "WITH d AS (SELECT device_id, acked_seq FROM devices WHERE device_id = ANY(%s) "
            "ORDER BY device_id FOR UPDATE) "
            "SELECT d.device_id, d.acked_seq, CASE WHEN EXISTS (SELECT 1 FROM ledger "
            "WHERE device_id = d.device_id AND seq = d.acked_seq + 1) THEN (SELECT l.seq "
            "FROM ledger l WHERE l.device_id = d.device_id AND l.seq > d.acked_seq AND NOT "
            "EXISTS (SELECT 1 FROM ledger n WHERE n.device_id = l.device_id "
            "AND n.seq = l.seq + 1) ORDER BY l.seq LIMIT 1) ELSE d.acked_seq END FROM d",
            (sorted(device_ids),),
        ).fetchall()
        acks = {d: 0 for d in device_ids}
        moved = []
        for device_id, acked, end in ends:
            acks[device_id] = max(acked, end)
            if end > acked:
                moved.append((device_id, end))
        if moved:
            self.conn.execute(
                "UPDATE devices SET acked_seq = greatest(devices.acked_seq, t.a) "
                "FROM unnest(%s::text[], %s::bigint[]) AS t(d, a) WHERE devices.device_id = t.d",
                ([d for d, _ in moved], [a for _, a in moved]),
            )
        return acks

    def advance_ack(self, device_id: str) -> int:
        return self.advance_acks([device_id])[device_id]

    # -- reads ------------------------------------------------------------------------------

    def acked_seqs(self, device_ids: list[str]) -> dict[str, int]:
        found = dict(
            self.conn.execute(
                "SELECT device_id, acked_seq FROM devices WHERE device_id = ANY(%s)",
                (list(device_ids),),
            ).fetchall()
        )
        return {d: found.get(d, 0) for d in device_ids}

    def acked_seq(self, device_id: str) -> int:
        return self.acked_seqs([device_id])[device_id]

    def count(self, table: str) -> int:
        if table not in self._columns:
            raise ValueError(f"no table {table!r}")
        return self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
