"""The managers' web in real Chromium: log in, a zone's charts, an alert, CSV, isolation."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from peakend.broker.hub.reports.queries import open_db
from peakend.broker.wire.contract import parse_ts

from .conftest import CONFIG, PASSWORD

LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def login(browser, url: str, name: str, viewport: dict) -> object:
    page = browser.new_page(viewport=viewport, accept_downloads=True)
    page.goto(f"{url}/s/s001")
    assert page.url.endswith("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def days_with_waits(hub_db: Path, store: str, zone: str, days: int) -> int:
    """The store-local days of the last ``days`` (today included) with a measured wait: the
    days a week's peak-end chart has a point for (today has none yet just after midnight)."""
    tz = CONFIG.timezone(store)
    today = datetime.now(tz).date()
    conn = open_db(hub_db)
    try:
        exits = [r[0] for r in conn.execute(
            "SELECT exit FROM dwells WHERE store_id = $1 AND zone_id = $2 AND wait_s IS NOT "
            "NULL", (store, zone))]
    finally:
        conn.close()
    local = {parse_ts(e).astimezone(tz).date() for e in exits}
    return sum(1 for d in local if today - timedelta(days=days - 1) <= d <= today)


def test_manager_opens_a_zone_sees_charts_acknowledges_and_exports(
    browser, web_url: str, hub_db: Path, artifacts: Path
) -> None:
    page = login(browser, web_url, "anna", LAPTOP)
    # one store: straight to it
    page.wait_for_url(f"{web_url}/s/s001")
    assert page.locator("h1").inner_text().startswith("Market Street")
    assert page.locator("table.zones tbody tr").count() == 2
    page.screenshot(path=str(artifacts / "store-laptop.png"), full_page=True)
    # pages open on today; the week shows every chart with a week of data
    page.click("nav.periods a:text('7 days')")
    page.wait_for_url(f"{web_url}/s/s001?period=7d")
    page.click("table.zones a:text('checkout')")
    page.wait_for_url("**/s/s001/z/checkout**")
    # the charts are drawn with data in them: heat maps in SVG, the others by Chart.js
    assert page.locator("svg.heat.wide").count() == 2
    assert page.locator("svg.heat rect[data-value]:not([data-value=''])").count() > 20

    def values(figure: str, series: int = 0) -> int:
        return page.evaluate(f"Chart.getChart(document.querySelector('#{figure} canvas'))"
                             f".data.datasets[{series}].data.filter(v => v !== null).length")

    assert values("chart-bands") >= 3
    assert values("chart-peak-end") == days_with_waits(hub_db, "s001", "checkout", 7) >= 6
    happy = float(page.locator("#kpi-happy").inner_text())
    assert 0 < happy < 100
    assert page.locator("#tolerance").inner_text() != ""
    page.screenshot(path=str(artifacts / "zone-laptop.png"), full_page=True)
    # acknowledge the open unhappy alert with a comment
    alert = page.locator(".alert-item.open", has_text="unhappy in 10 min").first
    assert "3 unhappy in 10 min; checkout p90 wait" in alert.inner_text()
    alert.locator("input[name=comment]").fill("second till opened")
    alert.locator("button:text('Acknowledge')").click()
    page.wait_for_url("**/s/s001/z/checkout**")
    alert = page.locator(".alert-item.open", has_text="unhappy in 10 min").first
    assert "acknowledged by anna" in alert.inner_text()
    assert "second till opened" in alert.inner_text()
    page.screenshot(path=str(artifacts / "zone-alert-acked.png"), full_page=False)
    # CSV export: every rating of the period with its linked wait
    with page.expect_download() as info:
        page.click("#export")
    text = Path(info.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) > 100
    assert {"at_local", "score", "linked_wait_p50_s", "queue_length"} <= set(rows[0])
    assert all(1 <= int(r["score"]) <= 4 for r in rows)
    page.close()


def test_zone_page_on_a_phone(browser, web_url: str, artifacts: Path) -> None:
    page = login(browser, web_url, "anna", PHONE)
    page.wait_for_url(f"{web_url}/s/s001")
    page.goto(f"{web_url}/s/s001/z/checkout?period=30d")
    # the heat maps turn a quarter on a phone, so the whole day shows
    assert page.locator("svg.heat.tall:visible").count() == 2
    assert page.locator("svg.heat.wide:visible").count() == 0
    # nothing wider than the screen except inside a scroll box
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1
    page.screenshot(path=str(artifacts / "zone-phone.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("path", [
    "/s/s002", "/s/s002/z/checkout", "/s/s002/z/checkout/export.csv?period=30d"])
def test_manager_of_one_store_gets_nothing_of_another(browser, web_url: str, path: str) -> None:
    page = login(browser, web_url, "anna", LAPTOP)
    page.wait_for_url(f"{web_url}/s/s001")
    resp = page.request.get(web_url + path)
    assert resp.status == 404
    assert "checkout" not in resp.text() and "Harbour" not in resp.text()
    page.close()


def test_wrong_password_and_forged_forms_are_refused(browser, web_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{web_url}/login")
    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong name or password" in page.locator(".error").inner_text()
    page.close()
    page = login(browser, web_url, "anna", LAPTOP)
    page.wait_for_url(f"{web_url}/s/s001")
    # a post without the session's CSRF token (as a foreign site would send) changes nothing
    resp = page.request.post(f"{web_url}/s/s001/alerts/1/ack", form={"comment": "forged"})
    assert resp.status == 403
    page.close()


def test_manager_of_two_stores_chooses_one(browser, web_url: str, artifacts: Path) -> None:
    page = login(browser, web_url, "chris", LAPTOP)
    page.wait_for_url(f"{web_url}/")
    names = page.locator("table.stores tbody th strong").all_inner_texts()
    assert names == ["Market Street", "Harbour Mall"]
    page.screenshot(path=str(artifacts / "stores-laptop.png"))
    page.click("table.stores a:has-text('Harbour Mall')")
    page.wait_for_url(f"{web_url}/s/s002")
    assert "America/New_York" in page.locator(".clock").inner_text()
    page.close()
