"""The zone and store pages as a manager reads them, in Chromium at a laptop's and a phone's
width: what went wrong and what went well, faces, errors, one clock. Every page checked here
keeps its text inside its boxes and asks nothing of any server but the hub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from pagecheck import only_hub_requests, overflowing_text

from peakend.broker.hub.reports import analytics as an
from peakend.broker.hub.reports.queries import (
    Period,
    open_db,
    parse_moment,
    store_report,
    zone_report,
)
from peakend.broker.wire.contract import format_ts

from .conftest import CONFIG, PASSWORD

WIDTHS = {"laptop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def login(browser, url: str, name: str, viewport: dict) -> object:
    page = browser.new_page(viewport=viewport, accept_downloads=True)
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: not u.endswith("/login"))
    return page


def fixed_period(days: int = 14) -> tuple[dict[str, str], Period]:
    """A query for the last ``days`` days to the next minute, and the same period for the
    report functions, so the page and the test compute over the same rows."""
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    query = {"since": format_ts(now - timedelta(days=days)), "until": format_ts(now)}
    tz = CONFIG.timezone("s001")
    return query, Period(parse_moment(query["since"], tz).astimezone(UTC),
                         parse_moment(query["until"], tz).astimezone(UTC))


def table_rows(page, selector: str) -> list[list[str]]:
    return [[c.strip() for c in r.locator("th, td").all_inner_texts()]
            for r in page.locator(f"{selector} tbody tr").all()]


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_zone_page_says_what_went_wrong_and_well(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str
) -> None:
    query, period = fixed_period()
    conn = open_db(hub_db)
    try:
        rep = zone_report(conn, "s001", "checkout", period, CONFIG)
    finally:
        conn.close()
    assert rep.went_wrong.answered > 20 and rep.went_well.answered > 20
    page = login(browser, web_url, "anna", WIDTHS[size])
    with only_hub_requests(page, web_url):
        assert page.goto(f"{web_url}/s/s001/z/checkout?{urlencode(query)}").status == 200
        page.screenshot(path=str(artifacts / f"zone-reasons-{size}.png"), full_page=True)
        assert overflowing_text(page) == []
    for side in (rep.went_wrong, rep.went_well):
        card = page.locator(f"#reasons-{side.side}")
        assert f"{side.answered} of {side.presses} presses" in card.inner_text()
        assert table_rows(page, f"#reasons-{side.side} table") == [
            [r.label, "", str(r.count), an.fmt_share(r.share)] for r in side.reasons]
    # the wait reason by measured wait: the report's bands, and it climbs with the wait
    rows = table_rows(page, "#wait-reason table")
    assert rows == [[b.label, str(b.ratings), str(b.named), "", an.fmt_share(b.share),
                     an.fmt_share(b.share_of_complaints)] for b in rep.wait_reason_bands]
    shares = [b.share for b in rep.wait_reason_bands if b.ratings >= 20]
    assert shares[-1] > shares[0]
    page.close()


def test_zone_csv_carries_each_rating_s_reason(browser, web_url: str, hub_db: Path) -> None:
    query, period = fixed_period()
    conn = open_db(hub_db)
    try:
        rep = zone_report(conn, "s001", "checkout", period, CONFIG)
    finally:
        conn.close()
    page = login(browser, web_url, "anna", WIDTHS["laptop"])
    resp = page.request.get(f"{web_url}/s/s001/z/checkout/export.csv?{urlencode(query)}")
    lines = resp.text().splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["at_utc", "at_local", "weekday", "score", "reason"]
    reasons = [line.split(",")[4] or None for line in lines[1:]]
    assert reasons == list(rep.data.reason) and any(reasons)
    page.close()


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_faces_beside_the_happy_index_on_store_and_zone_pages(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str
) -> None:
    query, period = fixed_period()
    conn = open_db(hub_db)
    try:
        lines = store_report(conn, period, store="s001", config=CONFIG)
        rep = zone_report(conn, "s001", "checkout", period, CONFIG)
    finally:
        conn.close()
    page = login(browser, web_url, "anna", WIDTHS[size])
    with only_hub_requests(page, web_url):
        assert page.goto(f"{web_url}/s/s001?{urlencode(query)}").status == 200
        page.screenshot(path=str(artifacts / f"store-faces-{size}.png"), full_page=True)
        assert overflowing_text(page) == []
        rows = table_rows(page, "table.zones")
        assert [r[2] for r in rows] == [
            " / ".join(f"{f.share * 100:.0f}" for f in line.face_shares) for line in lines]
        assert [t.strip() for t in page.locator(".face-legend li").all_inner_texts()] == [
            "1 very unhappy", "2 unhappy", "3 happy", "4 very happy"]
        # the zone line's counts are the zone report's, by another path (the rollup)
        checkout = next(line for line in lines if line.zone_id == "checkout")
        assert list(checkout.faces) == [f.count for f in rep.faces]
        assert page.goto(f"{web_url}/s/s001/z/checkout?{urlencode(query)}").status == 200
        assert overflowing_text(page) == []
    assert table_rows(page, "#faces table") == [
        [f"{f.score} {f.label}", str(f.count), an.fmt_share(f.share)] for f in rep.faces]
    assert f"{rep.summary.ratings} presses" in page.locator("#faces h2").inner_text()
    assert sum(f.count for f in rep.faces) == rep.summary.ratings
    bar = page.locator("#faces svg.facebar rect")
    assert bar.count() == sum(1 for f in rep.faces if f.count)
    page.close()
