"""An event's time without a synchronised clock, through a real mosquitto and the real
aggregator: the device measures the event's age on its boot clock, each publication carries it,
and the hub dates the event at its receive time minus that age, however long the device was
cut off."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.wire.contract import parse_ts

# A Pi without a real-time clock that booted without network: its wall clock is days off.
SKEW = timedelta(days=-3, hours=-5)


def test_presses_during_an_outage_keep_their_time_without_a_synchronised_clock(hub, tmp_path):
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    link = DeviceLink(LinkSettings(
        mqtt_url=url, device_id="kiosk-01", store_id="s001", zone_id="checkout", role="kiosk",
        outbox_path=tmp_path / "outbox.sqlite",
    ))
    hub.stop_broker()
    link.start()
    made: list[datetime] = []
    try:
        for score in (1, 2, 3):
            made.append(datetime.now(UTC))
            link.send("rating", {"score": score}, ts=made[-1] + SKEW, clock_is_synced=False)
            time.sleep(2.5)
        assert not link.stats().connected
        hub.start_broker()
        assert link.wait_acked(timeout=40), link.stats()
        reconnected = datetime.now(UTC)
    finally:
        link.stop()
    rows = hub.rows("SELECT score, at, received_at, clock_synced FROM ratings ORDER BY seq")
    assert [r["score"] for r in rows] == [1, 2, 3]
    assert all(r["clock_synced"] == 0 for r in rows)
    for row, when in zip(rows, made, strict=True):
        stored = parse_ts(row["at"])
        assert abs((stored - when).total_seconds()) < 1.0, (row, when)
        # the hub heard of it only after the outage: the time came from the age, not from it
        assert parse_ts(row["received_at"]) - when > timedelta(seconds=2)
    assert reconnected - made[0] > timedelta(seconds=7)
