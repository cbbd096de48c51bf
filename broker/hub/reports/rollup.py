"""The hourly rollups: folded by the aggregator's writer, never by a page or a report.

``zone_hours`` holds, per zone and UTC hour (epoch hours), the rating counts and the raw
wait/dwell values as float64 blobs; ``zone_last`` the zone's last rating, visit and queue
window. ``rollup_marks`` says, per raw table, the rowid up to which rows are folded: readers add
the rows past the mark themselves (:mod:`peakend.broker.hub.reports.queries`), so a report is
exact whether the fold is up to date or behind.
"""

from __future__ import annotations

from array import array
from typing import Any

from peakend.broker.hub.db.database import FOLD_LOCK, HubDb

_CHUNK = 200_000

# The raw tables folded, in the order read.
FOLDED = ("ratings", "dwells", "queue_windows")


def refresh_rollups(db: HubDb, max_rows: int | None = None) -> int:
    """Fold rows inserted since the last refresh into the rollups; returns rows folded.

    ``max_rows`` bounds the work of one call (per table), for a caller on a deadline such as
    the writer between batches; the rest is folded by later calls."""
    folded = 0
    chunk = min(_CHUNK, max_rows) if max_rows else _CHUNK
    horizons = _horizons(db)
    while True:
        # several PostgreSQL writers fold in turns, as SQLite's one writer does anyway
        with db.transaction(take_turns=FOLD_LOCK):
            n = _fold_chunk(db, chunk, horizons)
        folded += n
        if n < chunk or (max_rows and folded >= max_rows):
            return folded


def marks(db: HubDb) -> dict[str, int]:
    """Per raw table, the rowid up to which its rows are in the rollups."""
    found = dict(db.execute("SELECT name, last_rowid FROM rollup_marks").fetchall())
    return {t: int(found.get(t, 0)) for t in FOLDED}


def _horizons(db: HubDb) -> dict[str, int]:
    """Rowids up to which every row is committed. With SQLite's one writer that is all of them.

    With several PostgreSQL writers, workers allocate rowids when they insert but commit in
    their own order, so a reader can see rowid 10 while 9 is still in flight; a watermark moved
    to 10 would skip 9 for good. A SHARE lock waits for the inserts in flight to commit and
    holds new ones off for the instant it takes to read the sequence. One table at a time, each
    in its own transaction: a writer that holds one table and waits for another can never wait
    on a fold that holds both (the deadlock PostgreSQL would have to break)."""
    if db.engine == "sqlite":
        return {t: 2**63 - 1 for t in FOLDED}
    out: dict[str, int] = {}
    for table in FOLDED:
        with db.transaction():
            db.execute(f"LOCK TABLE {table} IN SHARE MODE")
            row = db.execute(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'rowid'))", (table,)
            ).fetchone()
            out[table] = int(row[0] or 0) if row else 0
    return out


def _set_mark(db: HubDb, name: str, rowid: int) -> None:
    db.execute(
        "INSERT INTO rollup_marks (name, last_rowid) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET last_rowid = excluded.last_rowid",
        (name, rowid),
    )


def _fold_chunk(db: HubDb, chunk: int, horizons: dict[str, int]) -> int:
    acc: dict[tuple[str, str, int], dict[str, Any]] = {}
    last: dict[tuple[str, str, str], str] = {}
    epoch = db.dialect.epoch
    done = marks(db)

    def slot(store: str, zone: str, hour: int) -> dict[str, Any]:
        key = (store, zone, hour)
        if key not in acc:
            acc[key] = {"n": [0, 0, 0, 0], "flagged": 0, "visits": 0, "waits": [], "dwells": []}
        return acc[key]

    def new_rows(table: str, time: str, columns: str) -> list[Any]:
        """The table's unfolded committed rows: rowid, store, zone, epoch time, columns."""
        return db.execute(
            f"SELECT rowid, store_id, zone_id, {epoch(time)}, {columns} FROM {table} "
            "WHERE rowid > $1 AND rowid <= $2 ORDER BY rowid LIMIT $3",
            (done[table], horizons[table], chunk),
        ).fetchall()

    rows = new_rows("ratings", "at", "score, flagged, at")
    for _, store, zone, t, score, flagged, at in rows:
        s = slot(store, zone, int(t // 3600))
        if flagged:
            s["flagged"] += 1
        else:
            s["n"][score - 1] += 1
        k = (store, zone, "rating")
        if at > last.get(k, ""):
            last[k] = at
    n_r = len(rows)
    if rows:
        _set_mark(db, "ratings", rows[-1][0])

    rows = new_rows("dwells", "exit", "dwell_s, wait_s, exit")
    for _, store, zone, t, dwell, wait, exit_ in rows:
        s = slot(store, zone, int(t // 3600))
        s["visits"] += 1
        s["dwells"].append(dwell)
        if wait is not None:
            s["waits"].append(wait)
        k = (store, zone, "visit")
        if exit_ > last.get(k, ""):
            last[k] = exit_
    n_d = len(rows)
    if rows:
        _set_mark(db, "dwells", rows[-1][0])

    mark = done["queue_windows"]
    top = db.execute(
        "SELECT max(rowid) FROM (SELECT rowid FROM queue_windows WHERE rowid > $1 "
        "AND rowid <= $2 ORDER BY rowid LIMIT $3) AS q",
        (mark, horizons["queue_windows"], chunk),
    ).fetchone()[0]
    n_q = 0
    if top is not None:
        for store, zone, at, n in db.execute(
            "SELECT store_id, zone_id, max(at), count(*) FROM queue_windows "
            "WHERE rowid > $1 AND rowid <= $2 GROUP BY store_id, zone_id",
            (mark, top),
        ):
            last[(store, zone, "queue")] = at
            n_q += n
        _set_mark(db, "queue_windows", top)

    for (store, zone, hour), s in acc.items():
        old = db.execute(
            "SELECT n1, n2, n3, n4, flagged, visits, waits, dwells FROM zone_hours "
            "WHERE store_id = $1 AND zone_id = $2 AND hour = $3",
            (store, zone, hour),
        ).fetchone()
        n = s["n"]
        # float64 in the machine's order, as the readers' numpy.frombuffer takes them
        waits = array("d", s["waits"]).tobytes()
        dwells = array("d", s["dwells"]).tobytes()
        if old:
            n = [a + b for a, b in zip(n, old[:4], strict=True)]
            s["flagged"] += old[4]
            s["visits"] += old[5]
            waits, dwells = bytes(old[6]) + waits, bytes(old[7]) + dwells
        db.execute(
            "INSERT INTO zone_hours (store_id, zone_id, hour, n1, n2, n3, n4, "
            "flagged, visits, waits, dwells) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) "
            "ON CONFLICT (store_id, zone_id, hour) DO UPDATE SET n1 = excluded.n1, "
            "n2 = excluded.n2, n3 = excluded.n3, n4 = excluded.n4, flagged = excluded.flagged, "
            "visits = excluded.visits, waits = excluded.waits, dwells = excluded.dwells",
            (store, zone, hour, *n, s["flagged"], s["visits"], waits, dwells),
        )
    newest = db.dialect.greatest("zone_last.last_at", "excluded.last_at")
    for (store, zone, kind), at in last.items():
        db.execute(
            "INSERT INTO zone_last (store_id, zone_id, kind, last_at) VALUES ($1,$2,$3,$4) "
            f"ON CONFLICT (store_id, zone_id, kind) DO UPDATE SET last_at = {newest}",
            (store, zone, kind, at),
        )
    return max(n_r, n_d, n_q)
