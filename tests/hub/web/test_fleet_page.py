"""The fleet page in Chromium, as a tech sees it at a desk (1280 px) and on a phone (390 px):
nothing off screen, times in the store's clock, the hub's own vitals, and a banner that says
so when the hub's broker is the problem rather than the devices."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user

PASSWORD = "tech password"
CONFIG = HubConfig.model_validate({"stores": [{"id": "s001", "timezone": "Asia/Kolkata"}]})
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def fleet_web(hub, tmp_path: Path) -> Iterator[str]:
    conn = open_db(hub.db_path, must_exist=False)
    add_user(conn, "tech-anna", PASSWORD, ["s001"])
    conn.close()
    # a kiosk that came and went, a camera whose zone is mistyped, one never switched on
    for device, zones, role in [("kiosk-01", ["checkout"], "kiosk"),
                                ("cam-02", ["checkout"], "edge"),
                                ("kiosk-03", ["checkout"], "kiosk")]:
        url = hub.provision(device, "s001", zones, role)
        if device == "kiosk-03":
            continue
        link = DeviceLink(LinkSettings(mqtt_url=url, device_id=device, store_id="s001",
                                       zone_id="checkout" if role == "kiosk" else None,
                                       role=role, outbox_path=tmp_path / f"{device}.sqlite"))
        link.start()
        now = datetime.now(UTC)
        if role == "kiosk":
            link.send("rating", {"score": 4})
        else:
            link.send("dwell", {"track": 1, "enter": now - timedelta(seconds=30), "exit": now,
                                "dwell_s": 30.0, "wait_s": 20.0},
                      zone_id="a-zone-name-that-is-not-registered-for-this-camera", ts=now)
        assert link.wait_acked(timeout=15), link.stats()
        link.stop()
    assert hub.wait_until(lambda: hub.scalar(
        "SELECT state FROM devices WHERE device_id = 'kiosk-01'") == "offline", 15)
    with serve_in_thread(create_app(hub.db_path, CONFIG, broker_data=hub.dir.root)) as url:
        yield url


def open_fleet(browser, url: str, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(url + "/login")
    page.fill("input[name=name]", "tech-anna")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(url + "/fleet")
    return page


def nothing_off_screen(page) -> list[str]:
    """Texts cut off or reaching past the right edge of the window."""
    return page.evaluate("""() => {
        const width = window.innerWidth, out = [];
        if (document.documentElement.scrollWidth > width + 1) out.push('page scrolls sideways');
        for (const el of document.querySelectorAll('td, .banner, h1, .hub-vitals, .badge')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1) out.push('past the edge: ' + el.innerText);
            if (el.scrollWidth > el.clientWidth + 1) out.push('cut off: ' + el.innerText);
        }
        return out;
    }""")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_fleet_page_fits_and_speaks_store_time(browser, fleet_web, artifacts, width):
    page = open_fleet(browser, fleet_web, width)
    try:
        text = page.inner_text("main")
        assert "offline since" in text and "never connected" in text
        assert "a-zone-name-that-is-not-registered-for-this-camera" in text
        assert not ISO.search(text), "every time in the store's clock, not a raw UTC stamp"
        assert "times in Asia/Kolkata" in text
        assert "broker answering at" in text and "free" in text and "database" in text
        assert "0 messages waiting in device outboxes" in text
        page.screenshot(path=str(artifacts / f"fleet-{width}.png"), full_page=True)
        assert nothing_off_screen(page) == []
    finally:
        page.close()


def test_a_banner_says_when_the_hub_broker_is_down(browser, fleet_web, hub, artifacts):
    hub.stop_broker()
    page = open_fleet(browser, fleet_web, 390)
    try:
        banner = page.locator(".banner.problem")
        assert banner.count() == 1
        assert "hub's own broker is not answering" in banner.inner_text()
        page.screenshot(path=str(artifacts / "fleet-broker-down-390.png"), full_page=True)
        assert nothing_off_screen(page) == []
    finally:
        page.close()
        hub.start_broker()
