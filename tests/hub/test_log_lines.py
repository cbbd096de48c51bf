"""What a device sends cannot forge or split a line of the hub's log: CR, LF and other control
characters in a topic, a key or a reason are escaped."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import new_envelope


def test_cr_and_lf_from_a_device_are_escaped_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = json.loads(new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout",
                                  seq=1, event_type="rating", data={"score": 3}).to_json())
    forged = "\r\n2026-12-05 10:00:00 INFO peakend.broker.hub.writer: all is well"
    doc["data"]["x" + forged] = 1
    bad_key = json.dumps(doc).encode()
    bad_topic = "peakend/v1/s001/kiosk-01/evt/rating" + forged
    hub = Ingest(tmp_path / "hub.sqlite")
    try:
        with caplog.at_level(logging.INFO):
            result = hub.handle([
                ("peakend/v1/s001/kiosk-01/evt/rating", bad_key, time.time()),
                (bad_topic, b"{}", time.time()),
            ])
    finally:
        hub.close()
    assert result.counters.quarantined == 2
    lines = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(lines) == 2
    for line in lines:
        assert "\n" not in line and "\r" not in line, line
        assert "\\r\\n2026-12-05" in line, "escaped, not dropped: the tech sees what came"
