"""`peakend serve` runs the managers' web in a process of its own, apart from ingest: a page
cannot hold the aggregator's interpreter, a web that dies comes back, and when serve ends (even
by kill -9) no web is left holding its port."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from pathlib import Path

from hubtools import PEAKEND, stop_process, wait_until
from peakend.broker.field.mosquitto import free_port
from peakend.broker.hub.server import start


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has ended too; only its parent has not collected it yet
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def web_children(pid: int) -> list[int]:
    """The web process(es) of a serve process, by the name the web gives itself."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if Path(f"/proc/{c}/comm").read_text().strip() == "peakend-web"]


def test_the_web_runs_apart_from_the_aggregator_and_is_restarted_when_it_dies(
    bare_hub,
) -> None:
    hub = bare_hub
    hub.start_broker()
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{address}"
    server = start(mqtt_url=hub.aggregator_url, db=str(hub.db_path), http=address,
                   broker_data=str(hub.dir.root), alerts=False)
    try:
        assert server.web is not None
        assert wait_until(lambda: answers(url), 30)
        first = server.web.pid
        assert first is not None and first != os.getpid()
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: not answers(url), 10)
        assert wait_until(lambda: server.web.pid != first and answers(url), 30)
        assert server.web.restarts == 1
        assert server.aggregator.alive()
        second = server.web.pid
    finally:
        server.stop()
    assert second is not None and not alive(second)
    assert not answers(url)


def test_serve_takes_its_web_along_when_it_is_stopped_or_killed(bare_hub, tmp_path: Path) -> None:
    hub = bare_hub
    hub.start_broker()
    for how in (signal.SIGTERM, signal.SIGKILL):
        address = f"127.0.0.1:{free_port()}"
        log = tmp_path / f"serve-{how.name}.log"
        serve = subprocess.Popen(
            [*PEAKEND, "serve", "--mqtt", hub.aggregator_url, "--db", str(hub.db_path),
             "--http", address, "--broker-data", str(hub.dir.root)],
            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
        try:
            assert wait_until(lambda a=address: answers(f"http://{a}"), 40), log.read_text()
            webs = web_children(serve.pid)
            assert len(webs) == 1, webs
            serve.send_signal(how)
            assert serve.wait(20) == (0 if how == signal.SIGTERM else -signal.SIGKILL)
            # the web notices within a second that serve is gone, even after a kill -9
            assert wait_until(lambda w=webs[0]: not alive(w), 10), f"web outlived {how.name}"
            assert not answers(f"http://{address}")
        finally:
            if serve.poll() is None:
                stop_process(serve)
