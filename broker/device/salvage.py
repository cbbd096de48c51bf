"""A device's SQLite file that a power cut or a worn SD card corrupted: set aside, not fatal.

The outbox and the kiosk's press journal are opened through :func:`open_or_salvage`. When
SQLite finds the file damaged, dying would not help (under systemd it is a crash loop and a
dark screen), and a fresh file alone would lose what is still readable. So:

1. every row that can still be read is read, table by table and row by row, stepping over the
   pages that cannot (a scan that breaks resumes by looking rows up one rowid at a time); when
   SQLite cannot read the schema itself (the first page is the one written most, so the one a
   power cut most often tears), or a table's scan failed (a damaged interior page hides the
   intact leaves below it), the table pages of the file and of its WAL are read directly and
   each row is given to the table whose layout it fits;
2. the owner builds a fresh file from them next to the old one (``NAME.new``);
3. the damaged file (with its WAL) is renamed ``NAME.corrupt-YYYYMMDDTHHMMSSZ`` and the fresh
   one takes its place; a report (``... .txt``) says what happened and what was saved, for the
   log and for ``peakend doctor``, which warns while a set-aside file is there.

Each step leaves a state the next start finishes: the damaged file stays in place until the
fresh one is complete, and a fresh file left waiting by a crash between the renames is put in
place before anything else.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SET_ASIDE = ".corrupt-"
REPORT = ".txt"
# SQLite's primary result codes for a damaged file: SQLITE_CORRUPT and SQLITE_NOTADB. Anything
# else (locked, no permission, disk full) is not the file's fault and must not set it aside.
_DAMAGED = frozenset({11, 26})
# Where neither the table nor the metadata says how far rowids go, how many missing rowids in
# a row the look-up walks before it concludes there is nothing more to read.
_PROBE_LIMIT = 100_000
_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass
class Recovered:
    """What could still be read: per table, its column names and the rows in rowid order."""

    problem: str
    columns: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # tables not found or not readable
    broken: set[str] = field(default_factory=set)  # tables whose scan failed somewhere
    rowids: dict[str, list[int]] = field(default_factory=dict)

    def table(self, name: str) -> list[dict[str, Any]]:
        cols = self.columns.get(name, [])
        return [dict(zip(cols, row, strict=True)) for row in self.rows.get(name, [])]


# The owner builds its fresh file at the given path from what was recovered and says, in a
# sentence, what it kept.
Rebuild = Callable[[Recovered, Path], str]


@dataclass(frozen=True)
class Layout:
    """One of the owner's tables as its rows lie on disk, for reading them without a schema:
    the columns in the order they were created (a row written before a column was added is
    shorter), whether the first is the rowid (an INTEGER PRIMARY KEY, stored as NULL), and
    whether a row fits this table (rows of every table are read alike)."""

    columns: tuple[str, ...]
    fits: Callable[[dict[str, Any]], bool]
    rowid_first: bool = False


def open_or_salvage(
    path: Path, *, what: str, rebuild: Rebuild, layouts: dict[str, Layout] | None = None
) -> str | None:
    """Make sure the file at ``path`` is sound before its owner opens it. Returns None when it
    is (or does not exist yet), else the report of what was found, set aside and saved."""
    _finish_interrupted(path)
    problem = damage(path)
    if problem is None:
        return None
    recovered = recover(path, problem, layouts or {})
    fresh = path.with_name(path.name + ".new")
    _remove_with_side_files(fresh)
    saved = rebuild(recovered, fresh)
    aside = set_aside_name(path)
    # The WAL goes first: left beside the fresh file, SQLite would replay the damaged file's
    # pages into it.
    for suffix in _SIDE_FILES:
        side = Path(str(path) + suffix)
        if side.exists():
            side.replace(str(aside) + suffix)
    path.replace(aside)
    fresh.replace(path)
    _sync_folder(path.parent)
    report = (
        f"{path.name}: the {what} file was damaged ({problem}). It was moved aside to "
        f"{aside.name} and a fresh {what} file was started. {saved}"
    )
    Path(str(aside) + REPORT).write_text(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n{report}\n", "utf-8"
    )
    log.error("%s", report)
    return report


def damage(path: Path) -> str | None:
    """What SQLite says is wrong with the file, or None when it is sound or not there."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            found = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return str(exc)
    if found != ["ok"]:
        return "; ".join(str(f) for f in found[:3])
    return None


def is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error says the file itself is damaged."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _DAMAGED
    text = str(exc)
    return "malformed" in text or "not a database" in text


def recover(path: Path, problem: str, layouts: dict[str, Layout] | None = None) -> Recovered:
    """Every row of every table that can still be read. Reads a working copy, so the damaged
    file is set aside as it was found. A table of ``layouts`` that SQLite cannot find is looked
    for in the raw pages."""
    work = _working_copy(path)
    try:
        recovered = _recover(work, problem)
    finally:
        if work != path:
            _remove_with_side_files(work)
    # Tables SQLite could not find, or found with pages it could not reach (a damaged interior
    # page hides the intact leaves below it), are looked for in the raw pages too.
    layouts = layouts or {}
    wanted = {name: layout for name, layout in layouts.items()
              if name not in recovered.columns or name in recovered.broken}
    if not wanted:
        return recovered
    known = {name: set(recovered.rowids.get(name, [])) for name in wanted}
    for name, raw in _rows_from_pages(path, wanted, known).items():
        if name not in recovered.columns:
            recovered.columns[name] = list(wanted[name].columns)
            recovered.rows[name] = [row for _, row in raw]
            continue
        common = min(len(recovered.columns[name]), len(wanted[name].columns))
        if recovered.columns[name][:common] != list(wanted[name].columns[:common]):
            continue  # the file's table is not laid out as the owner says: trust SQL alone
        have = set(recovered.rowids.get(name, []))
        width = len(recovered.columns[name])
        extra = [(rowid, row[:width] + (None,) * (width - len(row)))
                 for rowid, row in raw if rowid not in have]
        if extra:
            merged = sorted(zip(recovered.rowids[name], recovered.rows[name], strict=True))
            merged = sorted(merged + extra, key=lambda item: item[0])
            recovered.rowids[name] = [rowid for rowid, _ in merged]
            recovered.rows[name] = [row for _, row in merged]
    return recovered


def _recover(path: Path, problem: str) -> Recovered:
    recovered = Recovered(problem)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.DatabaseError:
        recovered.unreadable.append("*")
        return recovered
    try:
        try:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
        except sqlite3.DatabaseError:
            recovered.unreadable.append("*")
            return recovered
        for table in tables:
            try:
                columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
            except sqlite3.DatabaseError:
                recovered.unreadable.append(table)
                continue
            recovered.columns[table] = columns
            read, broke = _read_table(conn, table, columns)
            recovered.rowids[table] = [rowid for rowid, _ in read]
            recovered.rows[table] = [row for _, row in read]
            if broke:
                recovered.broken.add(table)
    finally:
        conn.close()
    return recovered


def set_aside_name(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}{SET_ASIDE}{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}{SET_ASIDE}{stamp}-{n}")
    return aside


def set_aside_files(path: Path) -> list[Path]:
    """The damaged copies of ``path`` moved aside so far, oldest first."""
    if not path.parent.is_dir():
        return []
    found = [
        p
        for p in path.parent.glob(f"{path.name}{SET_ASIDE}*")
        if not p.name.endswith((REPORT, *_SIDE_FILES))
    ]
    return sorted(found)


def report_of(aside: Path) -> str | None:
    try:
        return Path(str(aside) + REPORT).read_text("utf-8").strip()
    except OSError:
        return None


# -- reading what can be read -----------------------------------------------------------------


def _working_copy(path: Path) -> Path:
    """A copy of the file (and its WAL) to read from, its header no longer claiming a page
    count: a file cut short (the card lost its tail) then reads up to where it ends instead of
    failing as a whole. Without room for a copy, the file itself is read as it is."""
    work = path.with_name(path.name + ".salvage")
    _remove_with_side_files(work)
    try:
        shutil.copyfile(path, work)
        wal = Path(str(path) + "-wal")
        if wal.exists():
            shutil.copyfile(wal, str(work) + "-wal")
        with open(work, "r+b") as f:
            if f.read(16) == b"SQLite format 3\x00":
                # Bytes 28-31 hold the in-header page count; zero makes SQLite count the pages
                # the file really has (https://sqlite.org/fileformat2.html#in_header_database_size).
                f.seek(28)
                f.write(bytes(4))
    except OSError as exc:
        log.warning("%s: no room for a working copy (%s); reading the damaged file itself",
                    path.name, exc)
        _remove_with_side_files(work)
        return path
    return work


def _read_table(
    conn: sqlite3.Connection, table: str, columns: list[str]
) -> tuple[list[tuple[int, tuple[Any, ...]]], bool]:
    """The readable rows of one table in rowid order, with their rowids, and whether a page
    failed. A scan runs until a page fails; then rowids are looked up one at a time (each
    look-up takes its own path down the b-tree, so a damaged page costs only the rows under it)
    until one reads, and the scan resumes there."""
    names = ", ".join(f'"{c}"' for c in columns)
    scan = f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid'
    one = f'SELECT rowid, {names} FROM "{table}" WHERE rowid = ?'
    last_rowid = _edge_rowid(conn, table, "max")
    rows: list[tuple[int, tuple[Any, ...]]] = []
    broke = False
    after = -(2**63)
    # Where probing starts when the very first page fails: the lowest rowid, when it can be
    # read (an outbox's rowids start where its last ack left them, perhaps millions in).
    first_rowid = _edge_rowid(conn, table, "min")
    while True:
        try:
            for row in conn.execute(scan, (after,)):
                rows.append((row[0], tuple(row[1:])))
                after = row[0]
            return rows, broke
        except sqlite3.DatabaseError:
            broke = True
        # The scan broke after ``after``: find the next rowid that can be read.
        start = after + 1 if rows else max(first_rowid or 1, 1)
        end = last_rowid if last_rowid is not None else start + _PROBE_LIMIT
        found = None
        for rowid in range(start, end + 1):
            try:
                row = conn.execute(one, (rowid,)).fetchone()
            except sqlite3.DatabaseError:
                continue
            if row is not None:
                found = row
                break
        if found is None:
            return rows, broke
        rows.append((found[0], tuple(found[1:])))
        after = found[0]


def _edge_rowid(conn: sqlite3.Connection, table: str, which: str) -> int | None:
    """The table's ``min`` or ``max`` rowid (one walk down the edge of its b-tree), or None
    when that walk fails."""
    try:
        value = conn.execute(f'SELECT {which}(rowid) FROM "{table}"').fetchone()[0]
    except sqlite3.DatabaseError:
        return None
    return int(value) if value is not None else 0


# -- file moves -------------------------------------------------------------------------------


def _finish_interrupted(path: Path) -> None:
    """A crash between moving the damaged file aside and putting the fresh one in place left
    the fresh one waiting: put it in place."""
    fresh = path.with_name(path.name + ".new")
    if not path.exists() and fresh.exists() and set_aside_files(path):
        fresh.replace(path)
        log.warning("%s: finished setting aside a damaged file (the fresh file is in place)",
                    path.name)


def _remove_with_side_files(path: Path) -> None:
    for p in (path, *(Path(str(path) + s) for s in _SIDE_FILES)):
        p.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Make the renames themselves survive a power cut."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading pages without SQLite ---------------------------------------------------------------
# The file format: https://sqlite.org/fileformat2.html. Only table leaves (type 13) hold rows.

_LEAF = 13
_WAL_MAGIC = (0x377F0682, 0x377F0683)


def _rows_from_pages(
    path: Path, layouts: dict[str, Layout], known: dict[str, set[int]]
) -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
    """Rows of the table leaves in the file and then in its WAL (newer), each given to the
    first layout it fits; a later copy of a rowid replaces an earlier one. Rowids SQL already
    read (``known``) are not judged again: judging a row can mean parsing its message."""
    found: dict[str, dict[int, tuple[Any, ...]]] = {name: {} for name in layouts}
    main = _file_pages(path)
    wal = _wal_pages(Path(str(path) + "-wal"))
    # a row in a WAL frame may continue on an overflow page that only the file holds
    wal.by_number = {**main.by_number, **wal.by_number}
    # a rowid every wanted table already holds needs no decoding
    skip = set.intersection(*known.values()) if known else set()
    for pages in (main, wal):
        for page, size, first in pages.items:
            for rowid, values in _leaf_rows(page, size, first, pages, skip):
                for name, layout in layouts.items():
                    if rowid in known[name]:
                        continue
                    row = _as_row(rowid, values, layout)
                    if row is not None:
                        found[name][rowid] = row
                        break
    return {name: sorted(rows.items()) for name, rows in found.items()}


@dataclass
class _Pages:
    """(page, page size, is the file's first page) in the order written, and the pages by
    number (from 1) for the overflow chains a row can continue in."""

    items: list[tuple[bytes, int, bool]] = field(default_factory=list)
    by_number: dict[int, bytes] = field(default_factory=dict)


def _file_pages(path: Path) -> _Pages:
    pages = _Pages()
    try:
        data = path.read_bytes()
    except OSError:
        return pages
    # A torn first page says no page size: SQLite's default is the likeliest.
    size = _page_size(data[16:18]) if data[:16] == b"SQLite format 3\x00" else 0
    size = size or 4096
    for i in range(len(data) // size):
        page = data[i * size : (i + 1) * size]
        pages.items.append((page, size, i == 0))
        pages.by_number[i + 1] = page
    return pages


def _wal_pages(path: Path) -> _Pages:
    pages = _Pages()
    try:
        data = path.read_bytes()
    except OSError:
        return pages
    if len(data) < 32 or int.from_bytes(data[0:4], "big") not in _WAL_MAGIC:
        return pages
    size = int.from_bytes(data[8:12], "big")
    if size < 512 or size > 65536 or size & (size - 1):
        return pages
    salts = data[16:24]
    at = 32
    while at + 24 + size <= len(data):
        header, page = data[at : at + 24], data[at + 24 : at + 24 + size]
        at += 24 + size
        if header[8:16] != salts:
            continue  # a frame of an earlier generation of the WAL
        number = int.from_bytes(header[0:4], "big")
        pages.items.append((page, size, number == 1))
        pages.by_number[number] = page
    return pages


def _page_size(raw: bytes) -> int:
    value = int.from_bytes(raw, "big")
    size = 65536 if value == 1 else value
    return size if 512 <= size <= 65536 and not size & (size - 1) else 0


def _leaf_rows(
    page: bytes, size: int, first: bool, pages: _Pages, skip: set[int]
) -> list[tuple[int, list[Any]]]:
    """The rows of one table-leaf page; a cell that does not parse is skipped."""
    base = 100 if first else 0
    if len(page) < base + 8 or page[base] != _LEAF:
        return []
    cells = int.from_bytes(page[base + 3 : base + 5], "big")
    out = []
    for i in range(min(cells, (size - base - 8) // 2)):
        ptr = int.from_bytes(page[base + 8 + 2 * i : base + 10 + 2 * i], "big")
        try:
            cell = _cell(page, ptr, size, pages, skip)
        except (IndexError, ValueError, UnicodeDecodeError):
            continue
        if cell is not None:
            out.append(cell)
    return out


def _cell(
    page: bytes, at: int, size: int, pages: _Pages, skip: set[int]
) -> tuple[int, list[Any]] | None:
    if not 8 <= at < size:
        return None
    length, at = _varint(page, at)
    rowid, at = _varint(page, at)
    if rowid >= 1 << 63:
        rowid -= 1 << 64
    if rowid in skip:
        return None
    usable = size  # no reserved bytes per page in the files the device writes
    most = usable - 35
    if length <= most:
        payload = page[at : at + length]
    else:
        least = (usable - 12) * 32 // 255 - 23
        local = least + (length - least) % (usable - 4)
        if local > most:
            local = least
        payload = page[at : at + local] + _overflow(
            page[at + local : at + local + 4], length - local, usable, pages
        )
    if len(payload) != length:
        return None
    return rowid, _record(payload)


def _overflow(pointer: bytes, left: int, usable: int, pages: _Pages) -> bytes:
    chunks, number, seen = [], int.from_bytes(pointer, "big"), set()
    while left > 0 and number and number not in seen:
        seen.add(number)
        page = pages.by_number.get(number)
        if page is None:
            raise ValueError("overflow page missing")
        chunk = page[4 : 4 + min(left, usable - 4)]
        chunks.append(chunk)
        left -= len(chunk)
        number = int.from_bytes(page[:4], "big")
    return b"".join(chunks)


def _record(payload: bytes) -> list[Any]:
    header_size, at = _varint(payload, 0)
    types = []
    while at < header_size:
        kind, at = _varint(payload, at)
        types.append(kind)
    at = header_size
    values: list[Any] = []
    for kind in types:
        if kind == 0:
            values.append(None)
        elif 1 <= kind <= 6:
            n = (1, 2, 3, 4, 6, 8)[kind - 1]
            values.append(int.from_bytes(payload[at : at + n], "big", signed=True))
            at += n
        elif kind == 7:
            values.append(struct.unpack(">d", payload[at : at + 8])[0])
            at += 8
        elif kind in (8, 9):
            values.append(kind - 8)
        elif kind >= 12:
            n = (kind - 12) // 2
            raw = payload[at : at + n]
            values.append(raw if kind % 2 == 0 else raw.decode("utf-8"))
            at += n
        else:
            raise ValueError("reserved serial type")
        if at > len(payload):
            raise ValueError("record runs past its payload")
    return values


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    raise ValueError("varint")


def _as_row(rowid: int, values: list[Any], layout: Layout) -> tuple[Any, ...] | None:
    """``values`` as a row of ``layout``'s table, or None when it does not fit."""
    if len(values) > len(layout.columns) or not values:
        return None
    values = values + [None] * (len(layout.columns) - len(values))
    if layout.rowid_first:
        if values[0] is not None:
            return None
        values[0] = rowid
    row = dict(zip(layout.columns, values, strict=True))
    try:
        fits = layout.fits(row)
    except Exception:  # a predicate meeting garbage: it does not fit
        fits = False
    return tuple(values) if fits else None
