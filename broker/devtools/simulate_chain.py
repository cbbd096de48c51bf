"""Many simulated devices in one process, each through its own real DeviceLink and outbox.

A chain's tests and benchmarks need a hundred devices; a process each (as
:mod:`peakend.broker.devtools.simulate` runs them) is too heavy on a small machine. Here each
device is a DeviceLink (its own MQTT session, SQLite outbox, retransmission and ack handling,
exactly as on a kiosk) driven by a thread; message ids come from ``msg_id_for(device, seq)`` so
a test knows what must arrive.

    python -m peakend.broker.devtools.simulate_chain --devices devices.json --outbox-dir out \
        --count 30 --rate 1 --retransmit 3 --wait-acked 120

``devices.json`` is a list of ``{"device", "store", "zone", "role", "url"}``. Exits 0 when every
device's whole history is acked, and prints ``{device: acked_seq}`` as JSON; exits 2 at once,
naming the device and the error, when a device's thread fails."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.devtools.simulate import run_device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="many simulated devices in one process")
    parser.add_argument(
        "--devices", required=True, help="JSON list of device, store, zone, role, url"
    )
    parser.add_argument("--outbox-dir", required=True, help="one outbox file per device in here")
    parser.add_argument("--count", type=int, required=True, help="messages per device (lifetime)")
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per device")
    parser.add_argument("--retransmit", type=float, default=30.0, help="republish after S s")
    parser.add_argument("--wait-acked", type=float, default=120.0, help="then wait for the acks")
    args = parser.parse_args(argv)
    specs = json.loads(Path(args.devices).read_text())
    outboxes = Path(args.outbox_dir)
    outboxes.mkdir(parents=True, exist_ok=True)
    links = [
        DeviceLink(
            LinkSettings(
                mqtt_url=s["url"],
                device_id=s["device"],
                store_id=s["store"],
                zone_id=s["zone"],
                role=s["role"],
                outbox_path=outboxes / f"{s['device']}.sqlite",
                version="sim",
                retransmit_s=args.retransmit,
            )
        )
        for s in specs
    ]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    failures: list[str] = []

    def send(link: DeviceLink, **kwargs: object) -> None:
        # A device that crashes must end the run at once with its reason, not leave the
        # others waiting out --wait-acked for acks it will never earn.
        try:
            run_device(link, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            failures.append(f"{link.settings.device_id}: {type(exc).__name__}: {exc}")
            stop.set()

    for link in links:
        link.start()
    senders = [
        threading.Thread(
            target=send,
            args=(link,),
            kwargs={"count": args.count, "rate": args.rate, "role": spec["role"],
                    "stop": stop, "seed": i},
            daemon=True,
        )
        for i, (link, spec) in enumerate(zip(links, specs, strict=True))
    ]
    # Spread the starts over one message interval, as real devices are not in step.
    for i, t in enumerate(senders):
        t.start()
        if args.rate > 0:
            time.sleep(1.0 / args.rate / len(senders) * (i > 0))
    for t in senders:
        t.join()
    if failures:
        for line in failures:
            print(f"simulate_chain: device failed: {line}", file=sys.stderr)
        for link in links:
            link.stop()
        return 2
    deadline = time.monotonic() + args.wait_acked
    ok = True
    for link in links:
        ok = link.wait_acked(timeout=max(0.1, deadline - time.monotonic())) and ok
    print(json.dumps({link.settings.device_id: link.stats().acked_seq for link in links}))
    for link in links:
        link.stop()
    return 0 if ok and not stop.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
