"""The link's publisher outlives a round that fails (a page of the outbox damaged while the
device runs, an I/O error): it says why in last_error and sends on once it can, instead of
dying silently and leaving every message unsent until a restart."""

from __future__ import annotations

import sqlite3
import time

from peakend.broker.device.link import DeviceLink, LinkSettings


def test_the_publisher_outlives_a_failed_round_and_says_why(hub, tmp_path):
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    link = DeviceLink(LinkSettings(
        mqtt_url=url, device_id="kiosk-01", store_id="s001", zone_id="checkout", role="kiosk",
        outbox_path=tmp_path / "outbox.sqlite",
    ))
    read = link.outbox.pending
    failures = [sqlite3.DatabaseError("database disk image is malformed")] * 2

    def pending(after: int, limit: int):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return read(after, limit)

    link.outbox.pending = pending  # type: ignore[method-assign]
    link.start()
    try:
        link.send("rating", {"score": 3})
        deadline = time.monotonic() + 10
        while "outbox file is damaged" not in (link.stats().last_error or ""):
            assert time.monotonic() < deadline, link.stats()
            time.sleep(0.05)
        assert "restart the service" in (link.stats().last_error or "")
        assert link.wait_acked(timeout=20), link.stats()
        assert link.stats().last_error is None
    finally:
        link.stop()
    assert hub.scalar("SELECT count(*) FROM ratings") == 1
