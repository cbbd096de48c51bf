"""The technician menu's rules, apart from the window: the PIN, when the menu closes by itself,
what it shows, and how far its test message has got.

Nothing here touches Kivy or a clock: each call gets ``now`` (monotonic seconds), and the app
carries out the answer (switches the screen, sets the labels). So the rules are tested in
microseconds, and the window tests only check that the screens follow them.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from peakend.broker.device.delivery import REFUSED, WAITING_FOR_HUB
from peakend.broker.device.pin import verify_pin
from peakend.kiosk.catalog import Catalog

if TYPE_CHECKING:
    from peakend.broker.device.config import DeviceSection
    from peakend.broker.device.link import LinkStats

MAX_PIN_TRIES = 3
# A link that is not up this long after it went down (or after the start) is reported as
# unreachable even before paho names a reason: connecting takes a second or two, not this.
CONNECT_GRACE_S = 15.0
# The technician screens close by themselves so a kiosk is never left in the menu.
IDLE_S = 120.0

ROWS = ("tech_device", "tech_store_zone", "tech_broker", "tech_outbox", "tech_last_ack",
        "tech_journal", "tech_version", "tech_last_error")


class PinVerdict(StrEnum):
    OPEN = "open"  # the right PIN: show the menu
    WRONG = "wrong"  # say so and let them try again
    LOCKED_OUT = "locked_out"  # too many tries: back to the shoppers


class TechnicianMenu:
    """One visit of a technician: from the hidden hold to the menu and back."""

    def __init__(
        self,
        pin_hash: str | None,
        *,
        plain_pin: str | None = None,
        max_tries: int = MAX_PIN_TRIES,
        idle_s: float = IDLE_S,
    ) -> None:
        # The provisioned kiosk's salted hash; a config of an earlier release may still carry
        # the PIN itself (``plain_pin``). With neither, no PIN opens the menu.
        self._hash = pin_hash
        self._plain = plain_pin.encode() if plain_pin is not None else None
        self.max_tries = max_tries
        self.idle_s = idle_s
        self.tries = 0
        self.touched_at = 0.0
        self.test_seq: int | None = None

    def ask_pin(self, now: float) -> None:
        """The corner was held: a fresh PIN pad."""
        self.tries = 0
        self.touched_at = now

    def enter_pin(self, entered: str, now: float) -> PinVerdict:
        self.touched_at = now
        if self._matches(entered):
            self.test_seq = None
            return PinVerdict.OPEN
        self.tries += 1
        return PinVerdict.LOCKED_OUT if self.tries >= self.max_tries else PinVerdict.WRONG

    def _matches(self, entered: str) -> bool:
        if not entered.isdigit():
            return False
        if self._hash is not None:
            return verify_pin(entered, self._hash)
        # Constant time: the pad is in a public place and a patient shopper could time it.
        return self._plain is not None and hmac.compare_digest(entered.encode(), self._plain)

    def test_queued(self, seq: int, now: float) -> None:
        self.touched_at = now
        self.test_seq = seq

    def expired(self, now: float) -> bool:
        """Untouched for ``idle_s``: the menu closes so shoppers get the question back."""
        return now - self.touched_at > self.idle_s

    def status(self, acked_seq: int, catalog: Catalog) -> str:
        """The line under the table: where the test message is, if one was sent."""
        if self.test_seq is None:
            return ""
        key = "tech_test_acked" if acked_seq >= self.test_seq else "tech_test_queued"
        return catalog.text(key, seq=self.test_seq)


class LinkWatch:
    """Since when the link has been down. The link knows only that it is down; a tech needs to
    know since when (a cable pulled at noon, or the hub off since last night)."""

    def __init__(self) -> None:
        self.down_since: float | None = None

    def observe(self, connected: bool, now: float) -> None:
        """``now``: wall-clock seconds (time.time()), shown to the tech as a time of day."""
        if connected:
            self.down_since = None
        elif self.down_since is None:
            self.down_since = now


def link_problem(
    stats: LinkStats, *, down_since: float | None, now: float, catalog: Catalog
) -> str | None:
    """What is wrong with the way to the hub, said so a tech knows what to check; None when
    nothing is. Host and port only: the password never reaches the screen."""
    where = host_port(stats.broker)
    error = stats.last_error or ""
    if stats.connected:
        if error == WAITING_FOR_HUB:
            return catalog.text("tech_err_hub_silent", where=where)
        return None
    if error.startswith(REFUSED):
        reason = error.removeprefix(REFUSED).strip(": ") or "-"
        return catalog.text("tech_err_refused", where=where, reason=reason)
    if down_since is None:
        if not error:
            return None
        down_since = now  # paho has said so before the watch saw it
    elif not error and now - down_since < CONNECT_GRACE_S:
        return None  # still connecting
    return catalog.text("tech_err_unreachable", where=where, since=_since(down_since, now))


def host_port(broker: str) -> str:
    """``host:port`` of a broker URL (the user, and any password, left out)."""
    parts = urlsplit(broker)
    return parts.netloc.rpartition("@")[2] or broker.rpartition("@")[2]


def _since(then: float, now: float) -> str:
    start, today = datetime.fromtimestamp(then), datetime.fromtimestamp(now)
    return start.strftime("%H:%M" if start.date() == today.date() else "%Y-%m-%d %H:%M")


def menu_rows(
    stats: LinkStats,
    *,
    device: DeviceSection,
    waiting_press: bool,
    kiosk_error: str | None,
    version: str,
    catalog: Catalog,
    down_since: float | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """The menu's table, one value per row of ROWS. ``down_since`` (from :class:`LinkWatch`)
    and ``now`` are wall-clock seconds."""
    acked = (
        datetime.fromtimestamp(stats.acked_at).strftime("%Y-%m-%d %H:%M:%S")
        + f"  (seq {stats.acked_seq})"
        if stats.acked_at
        else catalog.text("tech_never")
    )
    state = catalog.text("tech_connected" if stats.connected else "tech_disconnected")
    return {
        "tech_device": device.id,
        "tech_store_zone": f"{device.store} / {device.zone}",
        # Host and port only: the row must fit, and the password is never shown anyway.
        "tech_broker": f"{state}: {host_port(stats.broker)}",
        "tech_outbox": str(stats.outbox_depth),
        "tech_last_ack": acked,
        "tech_journal": "1" if waiting_press else "0",
        "tech_version": version,
        # The kiosk's own failure first: it is what the tech can act on at the screen. The
        # link's is said in the shop's words: paho's reasons ("Unspecified error") are not.
        "tech_last_error": kiosk_error
        or link_problem(stats, down_since=down_since, now=now or 0.0, catalog=catalog)
        or "-",
    }
