"""The camera's link over an outbox a power cut damaged: it starts, sets the file aside and
sends on, instead of dying at every restart."""

from __future__ import annotations

import os
from pathlib import Path

from peakend.edge.config import EdgeConfig
from peakend.edge.runner import make_link


def test_the_camera_link_starts_over_a_damaged_outbox(tmp_path: Path) -> None:
    cfg = EdgeConfig.model_validate({
        "device": {"id": "cam-01", "store": "s001", "role": "edge"},
        "camera": {"source": "0"},
        "zones": [{"name": "checkout", "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}],
        "mqtt": {"url": "mqtt://cam-01:secret@127.0.0.1:1"},
    })
    (tmp_path / "outbox.sqlite").write_bytes(os.urandom(16 * 4096))
    link = make_link(cfg, tmp_path)
    try:
        assert "the outbox file was damaged" in (link.outbox.salvage_report or "")
        envelope = link.send("queue", {"window_s": 10.0, "length": 2.0, "arrivals": 1,
                                       "departures": 1}, zone_id="checkout")
        assert envelope.seq == 1 and link.stats().outbox_depth == 1
    finally:
        link.stop()
    assert len(list(tmp_path.glob("outbox.sqlite.corrupt-*.txt"))) == 1
