"""The techs' view of the devices: who is online, what each last said, and what needs a visit.

Built from the hub database (``devices``: the retained status with its last will, last seen,
acked seq, version; ``health``: the latest fps and outbox; ``ledger``: the highest seq the hub
holds) and the broker's registry (devices provisioned but never seen, revoked ones). Problems
come first so a tech reads the page top down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.i18n import ngettext
from peakend.broker.hub.reports.refused import Refused, refused_by_device

# Beyond these a device is listed as a problem.
SILENT_S = 15 * 60
OUTBOX_WARN = 1000
ACK_LAG_WARN = 100
LOW_FPS = 2.0

SEVERITY = {"problem": 0, "warning": 1, "ok": 2, "revoked": 3}


@dataclass
class DeviceRow:
    device_id: str
    store_id: str
    role: str | None = None
    zone_id: str | None = None
    state: str = "unknown"
    last_seen: str | None = None
    status_at: str | None = None
    version: str | None = None
    acked_seq: int = 0
    max_seq: int | None = None
    fps: float | None = None
    outbox: int | None = None
    health_at: str | None = None
    # a camera's learned person size, from its latest health message (edge only)
    scale_state: str | None = None
    person_px: float | None = None
    scale_people: int | None = None
    scale_source: str | None = None
    revoked: bool = False
    refused: Refused | None = None  # messages the hub quarantined in the last 24 h
    problems: list[str] = field(default_factory=list)
    level: str = "ok"

    @property
    def scale(self) -> str:
        """What the camera learned of a person's size, for the table: "calibrated, 31 px
        (48 people)"."""
        if not self.scale_state:
            return "-"
        size = f", {self.person_px:.0f} px" if self.person_px else ""
        people = f" ({self.scale_people} people)" if self.scale_people is not None else ""
        set_by = " set by hand" if self.scale_source == "override" else ""
        return f"{self.scale_state}{size}{set_by}{people}"

    @property
    def ack_lag(self) -> int:
        """Messages the hub holds beyond its ack: it is waiting for a gap to be filled."""
        return max(0, (self.max_seq or 0) - self.acked_seq)


def fleet(
    conn: HubDb,
    stores: list[str] | tuple[str, ...],
    registry: dict[str, dict[str, Any]] | None = None,
    now: datetime | None = None,
    local: Callable[[str | None, str], str] | None = None,
) -> list[DeviceRow]:
    """Every device of ``stores``, problems first. ``local(timestamp, store)`` writes a time
    in the store's own clock (the page is read in the shop); UTC by default."""
    now = now or datetime.now(UTC)
    wanted = set(stores)
    rows: dict[str, DeviceRow] = {}
    for r in _query(conn, wanted):
        rows[r["device_id"]] = DeviceRow(
            device_id=r["device_id"], store_id=r["store_id"], role=r["role"], zone_id=r["zone_id"],
            state=r["state"], last_seen=r["last_seen"], status_at=r["status_at"],
            version=r["version"], acked_seq=r["acked_seq"], max_seq=r["max_seq"],
            fps=r["fps"], outbox=r["outbox"], health_at=r["health_at"],
            **_scale(r["health_data"]),
        )
    for device_id, entry in (registry or {}).items():
        if entry.get("store") not in wanted:
            continue
        row = rows.setdefault(device_id, DeviceRow(
            device_id=device_id, store_id=entry["store"], role=entry.get("role"),
            zone_id=(entry.get("zones") or [None])[0], state="never connected"))
        row.revoked = bool(entry.get("revoked"))
    refused = refused_by_device(conn, now)
    for row in rows.values():
        row.refused = refused.get(row.device_id)
        judge(row, now, local)
    return sorted(rows.values(), key=lambda r: (SEVERITY[r.level], r.store_id, r.device_id))


def judge(
    row: DeviceRow, now: datetime, local: Callable[[str | None, str], str] | None = None
) -> None:
    """Fill in the row's problems and its level."""
    when = local or (lambda ts, _store: f"{ts[11:16]} UTC" if ts else "?")
    problems: list[str] = []
    warnings: list[str] = []
    if row.revoked:
        row.level, row.problems = "revoked", [_("revoked: locked out of the broker")]
        return
    if row.refused is not None:
        # online, acked and an empty outbox, yet its data never reaches a report
        problems.append(_("the hub refused %(num)d of its messages in the last 24 h, most "
                          "often: %(reason)s") % {"num": row.refused.messages,
                                                  "reason": row.refused.reason[:160]})
    if row.state == "never connected":
        problems.append(_("provisioned but never connected: run `peakend doctor` on the "
                          "device"))
    elif row.state == "offline":
        problems.append(_("offline since %(at)s") % {"at": when(row.status_at, row.store_id)})
    elif row.state != "online":
        warnings.append(_("status %(state)s") % {"state": row.state})
    seen = _parse(row.last_seen)
    if row.state == "online" and seen and (now - seen).total_seconds() > SILENT_S:
        warnings.append(_("online but silent for %(min)d min")
                        % {"min": int((now - seen).total_seconds() // 60)})
    if row.outbox is not None and row.outbox > OUTBOX_WARN:
        warnings.append(_("%(num)d messages waiting in its outbox") % {"num": row.outbox})
    if row.ack_lag > ACK_LAG_WARN:
        warnings.append(_("hub waits for a gap: %(num)d messages held beyond the ack")
                        % {"num": row.ack_lag})
    if row.role == "edge" and row.fps is not None and row.fps < LOW_FPS:
        warnings.append(_("camera at %(fps)s fps") % {"fps": f"{row.fps:g}"})
    if row.role == "edge" and row.scale_state == "unsure":
        warnings.append(_("camera unsure of a person's size (moved, or person_px set wrong): "
                          "run `peakend edge calibrate` on the device"))
    row.problems = problems + warnings
    row.level = "problem" if problems else "warning" if warnings else "ok"


_COLUMNS = ("device_id", "store_id", "role", "zone_id", "state", "last_seen", "status_at",
            "version", "acked_seq", "max_seq", "fps", "outbox", "health_at", "health_data")


def _query(conn: HubDb, stores: set[str]) -> list[dict[str, Any]]:
    if not stores:
        return []
    marks = conn.dialect.params(1, len(stores))
    found = conn.execute(
        f"""
        SELECT d.device_id, d.store_id, d.role, d.zone_id, d.state, d.last_seen, d.status_at,
               d.version, d.acked_seq,
               (SELECT max(seq) FROM ledger l WHERE l.device_id = d.device_id) AS max_seq,
               h.fps, h.outbox, h.at AS health_at, h.data AS health_data
        FROM devices d
        LEFT JOIN health h ON h.msg_id = (
            SELECT msg_id FROM health WHERE device_id = d.device_id ORDER BY at DESC LIMIT 1)
        WHERE d.store_id IN ({marks})
        """,
        sorted(stores),
    ).fetchall()
    # by position: the same code reads a PostgreSQL connection
    return [dict(zip(_COLUMNS, r, strict=True)) for r in found]


def _scale(data: str | None) -> dict[str, Any]:
    """The calibration fields of a health message (additive to the contract: older cameras
    and kiosks send none, and a device's text is never trusted to be well formed)."""
    try:
        vitals = json.loads(data) if data else {}
    except ValueError:
        return {}
    if not isinstance(vitals, dict) or not isinstance(vitals.get("scale_state"), str):
        return {}
    px, people = vitals.get("person_px"), vitals.get("scale_people")
    return {
        "scale_state": vitals["scale_state"][:20],
        "person_px": float(px) if isinstance(px, int | float) else None,
        "scale_people": int(people) if isinstance(people, int) else None,
        "scale_source": str(vitals.get("scale_source") or "")[:20] or None,
    }


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def delivery_problems(conn: HubDb, stores: list[str] | tuple[str, ...], now: datetime
                      ) -> list[str]:
    """One banner line per alert channel (mail, webhook) that lost or is retrying messages
    of these stores in the last 24 hours, and per digest of theirs given up or retried:
    people are not being told, and a tech can fix it."""
    from datetime import timedelta

    from peakend.broker.hub.db.migrations import pending
    from peakend.broker.hub.delivery.outbox import failing_channels
    from peakend.broker.wire.contract import format_ts

    if "m010_deliveries_and_tokens" in pending(conn):  # a hub whose writer has not migrated yet
        return []
    lines = []
    for c in failing_channels(conn, stores, now - timedelta(hours=24)):
        parts = []
        if c["failed"]:
            parts.append(ngettext("%(num)d alert given up", "%(num)d alerts given up",
                                  c["failed"]) % {"num": c["failed"]})
        if c["retrying"]:
            parts.append(_("%(num)d being retried") % {"num": c["retrying"]})
        what = (_("%(given_up)s and %(retried)s") % {"given_up": parts[0], "retried": parts[1]}
                if len(parts) == 2 else parts[0])
        lines.append(_("Alert channel %(channel)s is failing: %(what)s (last error: %(error)s). "
                       "Check it in hub.toml and its receiver.")
                     % {"channel": c["channel"], "what": what, "error": c["error"]})
    since = format_ts(now - timedelta(hours=24))
    for name, period, state, error in conn.execute(
            "SELECT name, period, state, last_error FROM digest_runs WHERE created_at > $1 AND "
            "(state = 'failed' OR last_error IS NOT NULL) AND state <> 'sent' ORDER BY id",
            (since,)):
        if name.split("/")[0] in stores:
            text = (_("Digest %(name)s of %(period)s was given up (last error: %(error)s). "
                      "Check its channel in hub.toml.") if state == "failed" else
                    _("Digest %(name)s of %(period)s is being retried (last error: %(error)s). "
                      "Check its channel in hub.toml."))
            lines.append(text % {"name": name, "period": period, "error": error})
    return lines

