"""Nothing lost, nothing doubled: 10,000 messages from 3 device processes while, in turn, the
broker, the aggregator and a device are killed and restarted."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from peakend.broker.devtools.simulate import msg_id_for

COUNTS = {"kiosk-01": 3334, "kiosk-02": 3333, "cam-01": 3333}
ROLES = {"kiosk-01": "kiosk", "kiosk-02": "kiosk", "cam-01": "edge"}


def spawn_device(hub, device_id, url, outbox):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "peakend.broker.devtools.simulate",
            "--url",
            url,
            "--device",
            device_id,
            "--store",
            "s001",
            "--zone",
            "checkout",
            "--role",
            ROLES[device_id],
            "--outbox",
            str(outbox),
            "--count",
            str(COUNTS[device_id]),
            "--rate",
            "220",
            "--retransmit",
            "3",
            "--wait-acked",
            "150",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(hub.root / f"{device_id}.log", "ab"),
    )


def stored_total(hub) -> int:
    return hub.scalar("SELECT count(*) FROM ledger") or 0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_message_stored_exactly_once_through_kills_and_restarts(bare_hub, tmp_path):
    hub = bare_hub
    hub.start_broker()
    urls = {d: hub.provision(d, "s001", ["checkout"], ROLES[d]) for d in COUNTS}
    hub.spawn_aggregator()
    devices = {d: spawn_device(hub, d, urls[d], tmp_path / f"{d}.sqlite") for d in COUNTS}

    # 1. The broker dies hard (kill -9) and comes back on the same port.
    assert hub.wait_until(lambda: stored_total(hub) > 1000, 60)
    hub.kill_broker()
    time.sleep(1.0)
    hub.start_broker()

    # 2. The aggregator dies hard mid-batch and is started again.
    before = stored_total(hub)
    assert hub.wait_until(lambda: stored_total(hub) > before + 1000, 60)
    hub.kill_spawned_aggregator()
    time.sleep(1.0)
    hub.spawn_aggregator()

    # 3. A device dies hard and is started again on the same outbox.
    before = stored_total(hub)
    assert hub.wait_until(lambda: stored_total(hub) > before + 1000, 60)
    devices["kiosk-01"].send_signal(signal.SIGKILL)
    devices["kiosk-01"].wait()
    devices["kiosk-01"] = spawn_device(
        hub, "kiosk-01", urls["kiosk-01"], tmp_path / "kiosk-01.sqlite"
    )

    for device_id, proc in devices.items():
        assert proc.wait(timeout=180) == 0, f"{device_id} did not see all its messages acked"

    total = sum(COUNTS.values())
    assert total == 10_000
    stored = hub.rows("SELECT msg_id, device_id, seq FROM ledger WHERE outcome = 'stored'")
    assert len(stored) == total
    expected = {str(msg_id_for(d, s)) for d, n in COUNTS.items() for s in range(1, n + 1)}
    assert {r["msg_id"] for r in stored} == expected
    events = hub.scalar(
        "SELECT (SELECT count(*) FROM ratings) + (SELECT count(*) FROM dwells)"
        " + (SELECT count(*) FROM queue_windows)"
    )
    assert events == total
    assert hub.rows("SELECT topic, reason FROM quarantine") == []
    acks = {
        r["device_id"]: r["acked_seq"] for r in hub.rows("SELECT device_id, acked_seq FROM devices")
    }
    assert acks == COUNTS
