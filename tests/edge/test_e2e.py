"""A replayed recording published through the real broker into the real aggregator."""

from __future__ import annotations

import json
from pathlib import Path

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.edge import cli, runner, scenes


def test_replay_publishes_dwell_queue_and_health_into_the_hub(hub, tmp_path: Path) -> None:
    url = hub.provision("cam-01", "s001", ["checkout", "promo"], "edge")
    video, config = scenes.render_demo_scene(tmp_path, seconds=40)
    text = config.read_text().replace(
        "[camera]", f'[mqtt]\nurl = "{url}"\n\n[outbox]\npath = "outbox.sqlite"\n\n[camera]', 1
    )
    config.write_text(text)
    out = tmp_path / "sent.jsonl"
    code = cli.main(
        [
            "run",
            "--config",
            str(config),
            "--jsonl",
            str(out),
            "--start",
            "2026-01-05T09:00:00Z",
            "--quiet",
        ]
    )
    assert code == 0
    sent = [json.loads(line) for line in out.read_text().splitlines()]
    dwell = [d for d in sent if d["type"] == "dwell"]
    queue = [d for d in sent if d["type"] == "queue"]
    assert dwell and len(queue) == 3  # whole 10 s windows of a 40 s recording
    assert hub.wait_until(lambda: len(hub.rows("SELECT * FROM dwells")) == len(dwell), 15)
    rows = hub.rows("SELECT * FROM dwells ORDER BY seq")
    assert [r["msg_id"] for r in rows] == [d["msg_id"] for d in dwell]
    assert {r["zone_id"] for r in rows} <= {"checkout", "promo"}
    assert hub.wait_until(lambda: len(hub.rows("SELECT * FROM queue_windows")) == 3, 10)
    windows = hub.rows("SELECT * FROM queue_windows ORDER BY seq")
    assert [w["length"] for w in windows] == [q["data"]["length"] for q in queue]
    assert hub.wait_until(lambda: len(hub.rows("SELECT * FROM health")) == 1, 10)
    assert hub.rows("SELECT count(*) AS n FROM quarantine")[0]["n"] == 0
    # Everything is confirmed by the hub, so the outbox is empty again.
    assert hub.rows("SELECT count(*) AS n FROM ledger")[0]["n"] == len(sent)


def test_demo_style_run_with_a_link_owned_by_the_caller(hub, tmp_path: Path) -> None:
    url = hub.provision("cam-02", "s001", ["checkout", "promo"], "edge")
    video, config = scenes.render_demo_scene(tmp_path, seconds=25)
    link = DeviceLink(
        LinkSettings(
            mqtt_url=url,
            device_id="cam-02",
            store_id="s001",
            role="edge",
            outbox_path=tmp_path / "outbox.sqlite",
        )
    )
    link.start()
    try:
        text = config.read_text().replace('id = "cam-01"', 'id = "cam-02"')
        config.write_text(text)
        summary = runner.run(config, source=str(video), publish=True, link=link)
        assert summary.counts.get("queue") == 2
        assert link.wait_acked(timeout=15)
    finally:
        link.stop()
    assert len(hub.rows("SELECT * FROM queue_windows WHERE device_id = 'cam-02'")) == 2
