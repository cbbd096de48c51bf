"""The hub's own health, for the top of the fleet page: is its broker answering, when did the
last message arrive, how big is its database and how much disk is left.

When the hub's broker is down every device looks offline; a tech must read that the hub is
the problem before walking to a single device."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.i18n import gettext as _

LOW_DISK_BYTES = 1 << 30  # below 1 GiB free the hub is a day or two from refusing to store


@dataclass(frozen=True)
class HubVitals:
    broker: str | None  # host:port of the hub's broker, None when the web does not know it
    broker_answers: bool | None
    last_message_s: float | None  # since the newest message from any device
    database_bytes: int | None
    disk_free_bytes: int | None

    @property
    def problems(self) -> list[str]:
        out = []
        if self.broker_answers is False:
            out.append(_(
                "The hub's own broker is not answering at %(broker)s: every device shows "
                "offline because of the hub, not because of the devices. On the hub, run "
                "`systemctl status peakend-broker` and `peakend doctor --hub BROKER_DIR`.")
                % {"broker": self.broker})
        if self.disk_free_bytes is not None and self.disk_free_bytes < LOW_DISK_BYTES:
            out.append(_("The hub has %(size)s of disk left: it stops storing when it is "
                         "full. Free space on the hub.") % {"size": _size(self.disk_free_bytes)})
        return out

    def line(self) -> str:
        parts = []
        if self.broker_answers is not None:
            word = (_("broker answering at %(broker)s") if self.broker_answers else
                    _("broker NOT answering at %(broker)s"))
            parts.append(word % {"broker": self.broker})
        if self.last_message_s is not None:
            parts.append(_("last message %(ago)s ago") % {"ago": _ago(self.last_message_s)})
        if self.database_bytes is not None:
            parts.append(_("database %(size)s") % {"size": _size(self.database_bytes)})
        if self.disk_free_bytes is not None:
            parts.append(_("disk %(size)s free") % {"size": _size(self.disk_free_bytes)})
        return " · ".join(parts)


def hub_vitals(conn: HubDb, broker_data: Path | None, now: datetime) -> HubVitals:
    broker, answers = _broker(broker_data)
    newest = conn.execute("SELECT max(last_seen) FROM devices").fetchone()[0]
    last = (now - datetime.fromisoformat(newest.replace("Z", "+00:00"))).total_seconds() \
        if newest else None
    size, folder = _database(conn)
    folder = folder or broker_data
    free = shutil.disk_usage(folder).free if folder is not None and folder.exists() else None
    return HubVitals(broker, answers, last, size, free)


def _broker(broker_data: Path | None) -> tuple[str | None, bool | None]:
    if broker_data is None:
        return None, None
    from peakend.broker.device.config import parse_mqtt_url
    from peakend.broker.field.mosquitto import BrokerDir

    try:
        target = parse_mqtt_url(BrokerDir(broker_data).aggregator_url.read_text().strip())
    except (OSError, ValueError):
        return None, None
    where = f"{target.host}:{target.port}"
    try:
        socket.create_connection((target.host, target.port), timeout=0.5).close()
    except OSError:
        return where, False
    return where, True


def _database(conn: HubDb) -> tuple[int | None, Path | None]:
    if conn.dialect.name == "postgresql":
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]), \
            None
    path = Path(conn.target.location) if conn.target.engine == "sqlite" else None
    if path is None or not path.exists():
        return None, None
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0), path.parent


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} GB"


def _ago(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h"
