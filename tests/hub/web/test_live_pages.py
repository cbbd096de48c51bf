"""Zone and store pages stay live in real Chromium: a new alert shows within 10 s without a
reload, and the live figures are those of the database; another store's stay out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub import i18n
from peakend.broker.hub.reports.alerts import AlertMonitor
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.reports.summary import fmt_duration, happy_index
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.wire.contract import format_ts

from .conftest import CONFIG, PASSWORD, messages, seed
from .http_client import Client


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[tuple[Path, str, datetime]]:
    path = tmp_path / "hub.sqlite"
    now = datetime.now(UTC)
    seed(path, messages(now, days=1))
    conn = open_db(path)
    add_user(conn, "anna", PASSWORD, ["s001"])
    add_user(conn, "li", PASSWORD, ["s001"], language="zh-Hans")
    conn.close()
    with serve_in_thread(create_app(str(path), CONFIG)) as url:
        yield path, url, now


def test_a_new_alert_shows_on_the_open_zone_and_store_pages_within_10_s(
        browser, live_hub: tuple[Path, str, datetime]) -> None:
    path, url, now = live_hub
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    failed: list[str] = []  # a browser asks for /favicon.ico, which the hub has not
    page.on("response", lambda r: failed.append(r.url)
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.goto(f"{url}/login")
    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{url}/s/s001/z/checkout")
    page.wait_for_selector("#live[data-updated]", timeout=10_000)
    assert page.locator("#live .live-alert").count() == 0
    store_page = context.new_page()
    store_page.goto(f"{url}/s/s001")
    store_page.wait_for_selector("#live[data-updated]", timeout=10_000)
    # the hub's monitor opens an alert from the three unhappy presses of a moment ago
    monitor = AlertMonitor(path, CONFIG)
    opened = monitor.check(now)
    monitor.close()
    [alert] = [e for s, e in opened if s == "s001" and e["kind"] == "unhappy"]
    start = time.monotonic()
    selector = f'#live .live-alert[data-live-alert="{alert["alert_id"]}"]'
    page.wait_for_selector(selector, timeout=10_000)
    seen_after = time.monotonic() - start
    store_page.wait_for_selector(selector, timeout=10_000)
    assert seen_after < 10
    assert alert["cause"] in page.locator(selector).inner_text()
    assert page.url.endswith("/s/s001/z/checkout")  # no reload, no navigation
    assert problems == []  # no script refused by the content security policy
    assert failed == []  # no poll failed
    status = page.request.get(f"{url}/s/s002/live.json").status
    context.close()
    assert status == 404


def test_live_figures_are_the_last_hour_of_the_database(
        live_hub: tuple[Path, str, datetime]) -> None:
    import json

    path, url, now = live_hub
    client = Client(url)
    assert client.login("anna", PASSWORD) == 303
    status, headers, body = client.request("GET", "/s/s001/live.json?zone=checkout")
    answered = datetime.now(UTC)
    assert status == 200 and headers["cache-control"] == "no-store"
    [zone] = json.loads(body)["zones"]
    # The hub's hour ends at its own "now", somewhere between the fixture's and the answer:
    # a row that fell out of the hour in between may or may not count. Each such row, oldest
    # first, is one more figure the hub may rightly show.
    conn = open_db(path)
    try:
        since = format_ts(now - timedelta(minutes=60))
        ratings = conn.execute(
            "SELECT score FROM ratings WHERE store_id = 's001' AND zone_id = 'checkout' AND "
            "at > $1 AND flagged = 0 ORDER BY at", (since,)).fetchall()
        waits = conn.execute(
            "SELECT wait_s FROM dwells WHERE store_id = 's001' AND zone_id = 'checkout' AND "
            "exit > $1 AND wait_s IS NOT NULL ORDER BY exit", (since,)).fetchall()
        unsure = format_ts(answered - timedelta(minutes=60))
        dropped_ratings = conn.execute(
            "SELECT count(*) FROM ratings WHERE store_id = 's001' AND zone_id = 'checkout' AND "
            "at > $1 AND at <= $2 AND flagged = 0", (since, unsure)).fetchone()[0]
        dropped_waits = conn.execute(
            "SELECT count(*) FROM dwells WHERE store_id = 's001' AND zone_id = 'checkout' AND "
            "exit > $1 AND exit <= $2 AND wait_s IS NOT NULL", (since, unsure)).fetchone()[0]
    finally:
        conn.close()
    scores = [[r[0] for r in ratings[k:]] for k in range(dropped_ratings + 1)]
    assert len(scores[-1]) >= 3
    assert any((zone["ratings"], zone["unhappy"]) == (len(s), sum(1 for x in s if x <= 2))
               # the panel shows the Happy Index as the pages write it
               and zone["happy_text"] == i18n.fmt_index(happy_index(len(s), float(sum(s))))
               for s in scores), zone
    # ... and the wait as they do, from the exact p90 (not the JSON's 0.1 s)
    shown = [fmt_duration(float(np.percentile([w[0] for w in waits[k:]], 90)))
             for k in range(dropped_waits + 1) if waits[k:]]
    assert shown and zone["wait_text"] in shown
    assert Client(url).request("GET", "/s/s001/live.json")[0] == 303  # not logged in


def test_the_live_panel_speaks_the_reader_s_language(
        live_hub: tuple[Path, str, datetime]) -> None:
    """live.js holds no words: its headings, the alerts' causes and the lines under them come
    in the poll's JSON, in the reader's language."""
    import json

    path, url, now = live_hub
    monitor = AlertMonitor(path, CONFIG)
    monitor.check(now)
    monitor.close()
    said = {}
    for name in ("anna", "li"):
        client = Client(url)
        assert client.login(name, PASSWORD) == 303
        said[name] = json.loads(client.request("GET", "/s/s001/live.json")[2])
    en, zh = said["anna"], said["li"]
    assert (en["text"]["heading"], zh["text"]["heading"]) == ("Now", "当前")
    assert zh["text"]["columns"] == ["区域", "评分", "不满意", "幸福指数", "等待 p90"]
    assert en["text"]["none"] == "No open alerts." and "未处理" == zh["text"]["open"]
    [en_alert] = [a for a in en["alerts"] if a["kind"] == "unhappy"]
    [zh_alert] = [a for a in zh["alerts"] if a["kind"] == "unhappy"]
    assert en_alert["cause"].startswith("3 unhappy in 10 min")
    assert zh_alert["cause"].startswith("10 分钟内 3 次不满意")
    assert en_alert["state_line"].startswith("opened ")
    assert zh_alert["state_line"].startswith("开启于 ")
