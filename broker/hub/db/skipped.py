"""Seqs a device declares skipped, kept as ranges: a notice costs O(ranges), never O(seqs).

A device whose full outbox dropped messages, or whose hub lost what it had acked (a database
restored from a backup), declares those seqs skipped in a health notice (``data.skipped``), so
the hub's contiguous ack can move past them. One notice may declare a million seqs: a ledger row
per seq let one 300-byte message write a million rows.

A device's ranges are kept disjoint and apart (ranges that overlap or touch are merged into
one), so the only range that can hold a seq is the one starting last at or before it: one index
probe for the ack. What is at or below the device's ack is already handled and is not stored
again. So a device never holds more rows here than its open ranges (those above its ack, at
most :data:`OPEN_RANGES_PER_DEVICE`) plus its ledger rows: below the ack, two ranges are always
parted by a seq the ledger holds. PostgreSQL workers take turns per device while they merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from peakend.broker.hub.db.database import HubDb

# Ranges above its ack one device may hold; a notice that would pass it is refused. A device
# publishes at most 1,000 seqs beyond the ack it has heard, so its real gaps above the hub's
# ack number a few hundred at most (a hub restored from a backup adds one long range).
OPEN_RANGES_PER_DEVICE = 10_000

# PostgreSQL advisory lock (first key; the device's hash is the second) held while one
# device's ranges are merged; "skip".
RANGES_LOCK = 0x736B6970

Range = tuple[int, int]

_CHUNK = 500


def merged(ranges: Iterable[Range]) -> list[Range]:
    """``ranges`` sorted, with those that overlap or touch made one."""
    out: list[Range] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def above(ranges: Iterable[Range], acked: int) -> list[Range]:
    """``ranges`` cut to the seqs above ``acked``, those left empty dropped."""
    return [(max(first, acked + 1), last) for first, last in ranges if last > acked]


class SkippedRanges:
    """The ``skipped_ranges`` table of one hub database; writes go inside its transaction."""

    def __init__(self, db: HubDb) -> None:
        self.db = db

    def record(
        self, device_id: str, notices: Sequence[tuple[int, Sequence[Range]]], received: str
    ) -> dict[int, str]:
        """Record the ranges of one device's notices, each given as (its seq, its ranges), in
        seq order; returns the seqs of the notices refused, with the reason."""
        if self.db.engine == "postgresql":
            self.db.execute(
                f"SELECT pg_advisory_xact_lock({RANGES_LOCK}, hashtext($1))", (device_id,)
            )
        row = self.db.execute(
            "SELECT acked_seq FROM devices WHERE device_id = $1", (device_id,)
        ).fetchone()
        acked = int(row[0]) if row else 0
        held = self._open(device_id, acked)
        refused: dict[int, str] = {}
        accepted: list[Range] = []
        for seq, ranges in notices:
            new = merged(above(ranges, acked))
            if not new:
                continue  # all of it is handled already
            if held + len(new) > OPEN_RANGES_PER_DEVICE:
                refused[seq] = (
                    f"data.skipped: {device_id} already holds {held} skipped range(s) above its "
                    f"ack {acked}; {len(new)} more would pass the bound of "
                    f"{OPEN_RANGES_PER_DEVICE} per device"
                )
                continue
            held += len(new)
            accepted += new
        if accepted:
            self._merge_in(device_id, merged(accepted), received)
        return refused

    def _open(self, device_id: str, acked: int) -> int:
        """The device's ranges above its ack, counted no further than the bound."""
        return int(self.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM skipped_ranges WHERE device_id = $1 "
            "AND first_seq > $2 LIMIT $3) AS o",
            (device_id, acked, OPEN_RANGES_PER_DEVICE + 1),
        ).fetchone()[0])

    def _merge_in(self, device_id: str, new: list[Range], received: str) -> None:
        """Store ``new`` (sorted, disjoint), merging it with the ranges it overlaps or touches,
        which keeps the earliest time any part of a range was declared."""
        lo, hi = new[0][0], new[-1][1]
        before = self.db.execute(
            "SELECT first_seq, last_seq FROM skipped_ranges WHERE device_id = $1 "
            "AND first_seq < $2 ORDER BY first_seq DESC LIMIT 1",
            (device_id, lo),
        ).fetchone()
        start = before[0] if before and before[1] >= lo - 1 else lo
        existing = {
            (int(f), int(la)): at
            for f, la, at in self.db.execute(
                "SELECT first_seq, last_seq, received_at FROM skipped_ranges "
                "WHERE device_id = $1 AND first_seq >= $2 AND first_seq <= $3",
                (device_id, start, hi + 1),
            )
        }
        result: list[tuple[int, int, str]] = []
        for first, last, at in sorted([*((f, la, at) for (f, la), at in existing.items()),
                                       *((f, la, received) for f, la in new)]):
            if result and first <= result[-1][1] + 1:
                f, la, was = result[-1]
                result[-1] = (f, max(la, last), min(was, at))
            else:
                result.append((first, last, at))
        kept = {(f, la) for f, la, _ in result}
        gone = [r for r in existing if r not in kept]
        added = [(device_id, f, la, at) for f, la, at in result if (f, la) not in existing]
        dialect = self.db.dialect
        for part in _chunks(gone):
            self.db.execute(
                f"DELETE FROM skipped_ranges WHERE device_id = {dialect.param(1)} "
                f"AND first_seq IN ({dialect.params(2, len(part))})",
                [device_id, *(first for first, _ in part)],
            )
        for part in _chunks(added):
            self.db.execute(
                "INSERT INTO skipped_ranges (device_id, first_seq, last_seq, received_at) "
                f"VALUES {dialect.values(len(part), 4)}",
                [a for row in part for a in row],
            )


def _chunks(rows: Sequence[object]) -> Iterable[Sequence[object]]:
    for i in range(0, len(rows), _CHUNK):
        yield rows[i : i + _CHUNK]
