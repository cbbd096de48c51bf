"""The zone and store pages as a manager reads them, in Chromium at a laptop's and a phone's
width: what went wrong and what went well, faces, errors, one clock. Every page checked here
keeps its text inside its boxes and asks nothing of any server but the hub."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from pagecheck import chart_problems, hover_tooltip, only_hub_requests, overflowing_text

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub import i18n
from peakend.broker.hub.reports import analytics as an
from peakend.broker.hub.reports import compare as cmp
from peakend.broker.hub.reports.queries import (
    MAX_DAYS,
    Period,
    open_db,
    parse_moment,
    previous_period,
    store_overview,
    store_report,
    today_view,
    zone_report,
    zones,
)
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.wire.contract import format_ts, new_envelope

from .conftest import CONFIG, PASSWORD, messages, seed

WIDTHS = {"laptop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


# The browser's language for each language the pages speak (its Accept-Language)
LOCALES = {"en": "en-GB", "zh-Hans": "zh-CN"}


def login(browser, url: str, name: str, viewport: dict, language: str = "en") -> object:
    page = browser.new_page(viewport=viewport, accept_downloads=True, locale=LOCALES[language])
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


@pytest.fixture
def speaking(language: str) -> Iterator[str]:
    """The test's own sentences (the report functions it calls) in the page's language."""
    i18n.use(language)
    try:
        yield language
    finally:
        i18n.use("en")


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_zone_page_says_what_went_wrong_and_well(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str, speaking: str
) -> None:
    _ = i18n.gettext
    query, period = fixed_period()
    conn = open_db(hub_db)
    try:
        rep = zone_report(conn, "s001", "checkout", period, CONFIG)
    finally:
        conn.close()
    assert rep.went_wrong.answered > 20 and rep.went_well.answered > 20
    page = login(browser, web_url, "anna", WIDTHS[size], speaking)
    shot = size if speaking == "en" else f"{size}-{speaking}"
    with only_hub_requests(page, web_url):
        assert page.goto(f"{web_url}/s/s001/z/checkout?{urlencode(query)}").status == 200
        page.screenshot(path=str(artifacts / f"zone-reasons-{shot}.png"), full_page=True)
        assert overflowing_text(page) == []
    for side, scores in ((rep.went_wrong, _("1 or 2")), (rep.went_well, _("3 or 4"))):
        card = page.locator(f"#reasons-{side.side}")
        said = _("%(answered)s of %(presses)s presses of %(scores)s said why (%(share)s).") % {
            "answered": side.answered, "presses": side.presses, "scores": scores,
            "share": an.fmt_share(side.answered_share)}
        assert said in card.inner_text()
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


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_faces_beside_the_happy_index_on_store_and_zone_pages(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str, speaking: str
) -> None:
    _ = i18n.gettext
    query, period = fixed_period()
    conn = open_db(hub_db)
    try:
        lines = store_report(conn, period, store="s001", config=CONFIG)
        rep = zone_report(conn, "s001", "checkout", period, CONFIG)
    finally:
        conn.close()
    page = login(browser, web_url, "anna", WIDTHS[size], speaking)
    shot = size if speaking == "en" else f"{size}-{speaking}"
    with only_hub_requests(page, web_url):
        assert page.goto(f"{web_url}/s/s001?{urlencode(query)}").status == 200
        page.screenshot(path=str(artifacts / f"store-faces-{shot}.png"), full_page=True)
        assert overflowing_text(page) == []
        rows = table_rows(page, "table.zones")
        assert [r[2] for r in rows] == [
            " / ".join(f"{f.share * 100:.0f}" for f in line.face_shares) for line in lines]
        assert [t.strip() for t in page.locator(".face-legend li").all_inner_texts()] == [
            f"{i} {_(name)}" for i, name in enumerate(
                ("very unhappy", "unhappy", "happy", "very happy"), start=1)]
        # the zone line's counts are the zone report's, by another path (the rollup)
        checkout = next(line for line in lines if line.zone_id == "checkout")
        assert list(checkout.faces) == [f.count for f in rep.faces]
        assert page.goto(f"{web_url}/s/s001/z/checkout?{urlencode(query)}").status == 200
        assert overflowing_text(page) == []
    assert table_rows(page, "#faces table") == [
        [f"{f.score} {_(f.label)}", str(f.count), an.fmt_share(f.share)] for f in rep.faces]
    presses = i18n.ngettext("%(num)d press", "%(num)d presses", rep.summary.ratings)
    assert presses % {"num": rep.summary.ratings} in page.locator("#faces h2").inner_text()
    assert sum(f.count for f in rep.faces) == rep.summary.ratings
    bar = page.locator("#faces svg.facebar rect")
    assert bar.count() == sum(1 for f in rep.faces if f.count)
    page.close()


@pytest.fixture(scope="module")
def with_a_ghost_store(hub_db: Path) -> str:
    """olga's account lists s009, which the hub has never heard of."""
    conn = open_db(hub_db)
    try:
        add_user(conn, "olga", PASSWORD, ["s001", "s009"])
    finally:
        conn.close()
    return "olga"


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_unknown_store_or_zone_is_a_404_page(
    browser, web_url: str, artifacts: Path, with_a_ghost_store: str, size: str
) -> None:
    page = login(browser, web_url, with_a_ghost_store, WIDTHS[size])
    with only_hub_requests(page, web_url):
        resp = page.goto(f"{web_url}/s/s001/z/nowhere?period=7d")
        assert resp.status == 404
        page.screenshot(path=str(artifacts / f"zone-404-{size}.png"), full_page=True)
        assert overflowing_text(page) == []
        assert "No zone 'nowhere' at Market Street" in page.locator(".error-page").inner_text()
        assert page.locator("section.kpis").count() == 0
        resp = page.goto(f"{web_url}/s/s009")
        assert resp.status == 404
        assert "No store s009 on this hub" in page.locator(".error-page").inner_text()
        # the list of their stores still shows it, without figures
        assert page.goto(f"{web_url}/").status == 200
        assert page.locator("table.stores tr[data-store=s009] td.num").first.inner_text() == "-"
    assert page.request.get(f"{web_url}/s/s001/z/nowhere/export.csv").status == 404
    # another manager's store still reads like one that does not exist
    theirs = page.request.get(f"{web_url}/s/s002/z/nowhere")
    assert theirs.status == 404 and "Nothing here, or not yours to see" in theirs.text()
    assert "nowhere" not in theirs.text()
    page.close()


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_reversed_or_unreadable_dates_get_a_400_page(
    browser, web_url: str, artifacts: Path, size: str, speaking: str
) -> None:
    _ = i18n.gettext
    page = login(browser, web_url, "anna", WIDTHS[size], speaking)
    # each reason as the page says it (after its first letter, which the page capitalises)
    cases = {
        "since=2026-12-05&until=2026-12-01": _(
            "the period ends (%(until)s) before it starts (%(since)s): pick an end after the "
            "start") % {"until": "2026-12-01", "since": "2026-12-05"},
        "since=yesterday": _(
            "'%(text)s' is not a date or time: write 2026-11-01 or 2026-11-01T09:00 (local "
            "time of the store) or 2026-11-01T08:00:00Z (UTC)") % {"text": "yesterday"},
        "until=2026-12-01": _("the period has an end but no start: pick a start date"),
        "period=fortnight": _(
            "unknown period '%(kind)s': use hour, day, week, month, 7d or 30d (any number of "
            "days from 1 to %(max)d)") % {"kind": "fortnight", "max": MAX_DAYS},
    }
    shot = size if speaking == "en" else f"{size}-{speaking}"
    with only_hub_requests(page, web_url):
        for n, (query, reason) in enumerate(cases.items()):
            for path in ("/s/s001", "/s/s001/z/checkout"):
                resp = page.goto(f"{web_url}{path}?{query}")
                assert resp.status == 400, (path, query)
                text = page.locator(".error-page").inner_text()
                assert _("This period cannot be shown") in text and reason[1:] in text, text
                assert page.locator("table.zones, section.kpis").count() == 0
                assert overflowing_text(page) == []
            if n == 0:
                page.screenshot(path=str(artifacts / f"period-400-{shot}.png"), full_page=True)
        # the way out: the same zone for the last 7 days
        page.click(f"text={_('Show this page for the last 7 days')}")
        page.wait_for_url(f"{web_url}/s/s001/z/checkout")
        assert page.locator("section.kpis").count() == 1
        # one day from the form, start and end the same date: that whole day
        today = datetime.now(CONFIG.timezone("s001")).date().isoformat()
        assert page.goto(f"{web_url}/s/s001/z/checkout?since={today}&until={today}").status == 200
    assert int(page.locator("#kpi-happy + .small").inner_text().split()[0]) > 0
    page.close()


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_store_page_shows_every_time_in_store_time(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str
) -> None:
    conn = open_db(hub_db)
    try:
        last = {z: at for _, z, at in zones(conn, "s001")}
    finally:
        conn.close()
    tz = CONFIG.timezone("s001")
    page = login(browser, web_url, "anna", WIDTHS[size])
    with only_hub_requests(page, web_url):
        assert page.goto(f"{web_url}/s/s001?period=day").status == 200
        assert overflowing_text(page) == []
    assert page.locator(".clock").inner_text() == "All times in store time (Europe/Berlin)."
    checkout_last = datetime.fromisoformat(last["checkout"].replace("Z", "+00:00"))
    shown = page.locator("tr[data-zone=checkout] td").last.inner_text()
    # checkout's last press was a minute ago: the store's clock, hours and minutes (with the
    # weekday if that minute was yesterday, store time)
    local = checkout_last.astimezone(tz)
    today = datetime.now(tz).date()
    assert shown == local.strftime("%H:%M" if local.date() == today else "%a %H:%M")
    for opened in page.locator(".alert-item .muted.small").all_inner_texts():
        assert "Z" not in opened and "UTC" not in opened
    page.close()


@pytest.fixture(scope="module")
def promo_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """s001 with a kiosk zone (checkout) and a camera-only zone (promo), a week of each."""
    db = tmp_path_factory.mktemp("promo") / "hub.sqlite"
    now = datetime.now(UTC)
    envelopes = [e for e in messages(now, days=7, rng_seed=5) if e.store_id == "s001"
                 and e.zone_id == "checkout"]
    seq = 0
    rng = random.Random(9)
    for d in range(7, -1, -1):
        day = (now - timedelta(days=d)).astimezone(CONFIG.timezone("s001")).date()
        t = datetime(day.year, day.month, day.day, 9, tzinfo=CONFIG.timezone("s001"))
        while t < min(t.replace(hour=19), now - timedelta(minutes=5)):
            t += timedelta(seconds=rng.expovariate(1 / 120))
            dwell = rng.uniform(20, 300)
            seq += 1
            envelopes.append(new_envelope(
                device_id="cam-promo", store_id="s001", zone_id="promo", seq=seq,
                event_type="dwell", ts=t, data={"track": seq, "enter": t - timedelta(
                    seconds=dwell), "exit": t, "dwell_s": dwell, "wait_s": None}))
    seed(db, envelopes)
    conn = open_db(db)
    add_user(conn, "anna", PASSWORD, ["s001"])
    conn.close()
    with serve_in_thread(create_app(str(db), CONFIG)) as url:
        yield url


def tr(language: str, message: str, plural: str | None = None, n: int = 1) -> str:
    """What the pages say for ``message`` (or its ``plural`` for ``n``) in ``language``."""
    i18n.use(language)
    try:
        return i18n.gettext(message) if plural is None else i18n.ngettext(message, plural, n)
    finally:
        i18n.use("en")


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_camera_only_zone_shows_visits_and_dwell_not_empty_ratings(
    browser, promo_web: str, artifacts: Path, size: str, language: str
) -> None:
    page = login(browser, promo_web, "anna", WIDTHS[size], language)
    shot = size if language == "en" else f"{size}-{language}"
    with only_hub_requests(page, promo_web):
        assert page.goto(f"{promo_web}/s/s001?period=7d").status == 200
        assert overflowing_text(page) == []
        page.screenshot(path=str(artifacts / f"store-camera-only-{shot}.png"), full_page=True)
        promo = page.locator("tr[data-zone=promo]").inner_text()
        assert tr(language, "camera only") in promo
        assert {"en": " visits", "zh-Hans": " 人次"}[language] in promo
        assert "0.0%" not in promo
        assert page.locator("tr[data-zone=checkout] td").nth(5).inner_text().endswith("%")
        assert page.goto(f"{promo_web}/s/s001/z/promo?period=7d").status == 200
        page.screenshot(path=str(artifacts / f"zone-camera-only-{shot}.png"), full_page=True)
        assert overflowing_text(page) == []
    # no rating views at all: no Happy Index, faces, reasons, response rate
    text = page.locator("main").inner_text()
    for absent in ("Happy Index", "Response", "response", "What went wrong", "Faces"):
        assert tr(language, absent) not in text
    assert int(page.locator("#kpi-visits").inner_text()) > 500
    assert chart_problems(page) == []
    dwell = "Chart.getChart(document.querySelector('#chart-dwell canvas'))"
    assert page.evaluate(f"{dwell}.scales.y.options.title.text") == tr(language, "minutes")
    assert page.evaluate(f"{dwell}.legend.legendItems.map(i => i.text)") == [
        tr(language, "Dwell p50"), tr(language, "Dwell p90")]
    assert hover_tooltip(page, "chart-dwell")[0].startswith(tr(language, "Dwell p50") + ": ")
    heat = page.locator("svg.heat.wide")
    assert heat.count() == 1  # visits; no waits measured here, so no wait map
    assert heat.locator("rect[data-value]:not([data-value=''])").count() >= 7 * 9
    assert heat.locator(".legend text").last.text_content() == tr(language, "no data")
    page.close()


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
@pytest.mark.parametrize("path", ["/s/s001", "/s/s001/z/checkout"])
def test_pages_open_on_today_against_a_usual_day(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str, path: str, speaking: str
) -> None:
    _ = i18n.gettext
    zone_ids = ["checkout"] if "/z/" in path else ["checkout", "deli"]
    conn = open_db(hub_db)
    try:
        before = today_view(conn, "s001", zone_ids, datetime.now(UTC), CONFIG)
        page = login(browser, web_url, "anna", WIDTHS[size], speaking)
        with only_hub_requests(page, web_url):
            assert page.goto(web_url + path).status == 200
            name = "store" if path == "/s/s001" else "zone"
            shot = size if speaking == "en" else f"{size}-{speaking}"
            page.screenshot(path=str(artifacts / f"{name}-today-{shot}.png"), full_page=True)
            assert overflowing_text(page) == []
        after = today_view(conn, "s001", zone_ids, datetime.now(UTC), CONFIG)
    finally:
        conn.close()
    assert page.locator("nav.periods a[aria-current]").inner_text() == _("Today")
    card = page.locator("#today")
    assert card.locator("h2").inner_text() == _("Today against a usual %(weekday)s") % {
        "weekday": before.weekday}
    # the fixture holds two of the last four same weekdays (7 and 14 days ago)
    assert before.usual.days == 2
    sentences = card.locator(".sentences li").all_inner_texts()
    assert sentences in (before.sentences, after.sentences)
    compared = _("Happy Index today %(span)s: %(today).1f against %(usual).1f on %(per)s, "
                 "%(change)s (%(n)d and %(un)d ratings).").split("%(span)s")[0]
    too_few = _("Too few ratings today %(span)s to compare (%(n)d; %(needed)d needed).")
    assert any(s.startswith(compared) or s.startswith(too_few.split("%(span)s")[0])
               for s in sentences)
    # the usual day's hours, as the table behind the charts shows them
    card.locator(f"summary:text('{_('The numbers, hour by hour')}')").click()
    rows = {int(r.get_attribute("data-hour")): r.locator("td").all_inner_texts()
            for r in card.locator("table.hours tbody tr").all()}
    usual = before.usual.hours
    assert sorted(rows) == [h.hour for h in usual if h.ratings or h.waits
                            or before.today.hours[h.hour].ratings
                            or before.today.hours[h.hour].waits]
    for h in usual:
        if h.hour in rows:
            assert rows[h.hour][2:4] == [an.fmt_index(h.happy_index), str(h.ratings)]
            assert rows[h.hour][6:8] == [an.fmt_duration(h.wait_p90_s), str(h.waits)]
    # both charts have their axes, a legend naming today and the usual day, exact values on
    # hover: the usual day's first hour with data, as the table says
    assert chart_problems(page) == []
    for metric, unit in (("happy", "Happy Index"), ("wait", "minutes")):
        legend = page.evaluate(
            f"Chart.getChart(document.querySelector('#chart-day-{metric} canvas'))"
            ".legend.legendItems.map(i => i.text)")
        usual_day = _("usual %(weekday)s") % {"weekday": before.weekday}
        assert legend == [_("today"), usual_day]
        assert page.evaluate(f"Chart.getChart(document.querySelector('#chart-day-{metric} "
                             "canvas')).scales.y.options.title.text") == _(unit)
    first = next(h for h in usual if h.ratings)
    lines = hover_tooltip(page, "chart-day-happy", series=1)
    assert f"{usual_day}: {an.fmt_index(first.happy_index)} (n={first.ratings})" in lines
    page.close()


def figures(page, selector: str) -> list[dict[str, str]]:
    """Each row of a compared table: its name and each figure cell's value and change."""
    out = []
    for r in page.locator(f"{selector} tbody tr").all():
        cells = r.locator("td.num").all()
        out.append({"name": r.locator("th a").inner_text(),
                    "values": [c.get_attribute("data-value") for c in cells[:4]],
                    "changes": [c.locator(".change").all_inner_texts() for c in cells[:4]],
                    "alerts": cells[4].inner_text()})
    return out


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_stores_side_by_side_with_their_change_and_zones_ranked(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str
) -> None:
    query, period = fixed_period(7)
    conn = open_db(hub_db)
    try:
        expected = {}
        for st in ("s001", "s002"):
            p = Period(parse_moment(query["since"], CONFIG.timezone(st)).astimezone(UTC),
                       parse_moment(query["until"], CONFIG.timezone(st)).astimezone(UTC))
            now, lines = store_overview(conn, p, [st], CONFIG)
            before, _ = store_overview(conn, previous_period(p, "custom", CONFIG.timezone(st)),
                                       [st], CONFIG)
            expected[st] = (now[st], before[st], lines)
        open_alerts = dict(conn.execute(
            "SELECT store_id, count(*) FROM alerts WHERE state = 'open' GROUP BY store_id"))
    finally:
        conn.close()
    page = login(browser, web_url, "chris", WIDTHS[size])
    with only_hub_requests(page, web_url):
        assert page.goto(f"{web_url}/?{urlencode(query)}").status == 200
        page.screenshot(path=str(artifacts / f"stores-compared-{size}.png"), full_page=True)
        assert overflowing_text(page) == []
        rows = figures(page, "table.stores")
        assert [r["name"] for r in rows] == ["Market Street", "Harbour Mall"]
        for r, st in zip(rows, ("s001", "s002"), strict=True):
            now, before, _ = expected[st]
            assert r["values"] == [str(now.happy_index), str(now.unhappy_share),
                                   str(now.wait_p90_s), str(now.ratings)]
            # a change is the difference of the figures as shown (tenths, whole seconds)
            shown_index = round(now.happy_index * 10) - round(before.happy_index * 10)
            assert r["changes"][0] == [cmp.fmt_change_index(shown_index / 10)]
            shown_wait = round(now.wait_p90_s) - round(before.wait_p90_s)
            assert r["changes"][2] == [cmp.fmt_change_duration(shown_wait)]
            assert r["alerts"] == str(open_alerts.get(st, 0))
        # sort by Happy Index: lowest first, then highest first
        page.click("table.stores thead a:text('Happy Index')")
        page.wait_for_url("**sort=-happy**")
        ordered = [float(v["values"][0]) for v in figures(page, "table.stores")]
        assert ordered == sorted(ordered, reverse=True)
        page.click("table.stores thead a:text('Happy Index')")
        page.wait_for_url("**sort=happy**")
        ordered = [float(v["values"][0]) for v in figures(page, "table.stores")]
        assert ordered == sorted(ordered)
        # zones across stores, worst Happy Index first; the period stays as it was
        zones_shown = figures(page, "table.ranked")
        lines = [line for _, _, ls in expected.values() for line in ls]
        assert [z["values"][0] for z in zones_shown] == [
            str(line.summary.happy_index) for line in sorted(
                lines, key=lambda line: line.summary.happy_index)]
        page.click("table.ranked thead a:text('Wait p90')")
        page.wait_for_url("**zsort=-wait**")
        assert query["since"] in page.url.replace("%3A", ":")
        waits = [float(z["values"][2]) for z in figures(page, "table.ranked")]
        assert waits == sorted(waits, reverse=True) and len(waits) == 3
        assert page.goto(f"{web_url}/?sort=colour").status == 400
        assert "cannot sort by 'colour'" in page.locator(".error-page").inner_text()
    page.close()


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_zone_charts_have_axes_legends_tables_and_explanations(
    browser, web_url: str, hub_db: Path, artifacts: Path, size: str, language: str
) -> None:
    query, period = fixed_period()
    conn = open_db(hub_db)
    try:
        rep = zone_report(conn, "s001", "checkout", period, CONFIG)
    finally:
        conn.close()
    page = login(browser, web_url, "anna", WIDTHS[size], language)
    with only_hub_requests(page, web_url) as seen:
        assert page.goto(f"{web_url}/s/s001/z/checkout?{urlencode(query)}").status == 200
        assert chart_problems(page) == []
        # the wait p90 bars of the trend stand on their own axis, in minutes
        trend = "Chart.getChart(document.querySelector('#chart-trend canvas'))"
        assert page.evaluate(f"{trend}.data.datasets[1].yAxisID") == "y2"
        assert page.evaluate(f"{trend}.scales.y2.options.title.text") == tr(language,
                                                                               "minutes")
        top = page.evaluate(f"{trend}.scales.y2.max")
        assert top >= max(p.wait_p90_s for p in rep.trend if p.wait_p90_s) / 60
        # exact values on hover: the band's Happy Index and its n, as the report has them
        # (written by the page's own formatter from the exact value, never from a rounded one)
        band = next(b for b in rep.bands if b.ratings)
        with i18n.speaking(language):
            shown = i18n.fmt_index(band.happy_index)
        assert hover_tooltip(page, "chart-bands") == [
            f"{tr(language, 'Happy Index')}: {shown} (n={band.ratings})"]
        # every explanation opens in place
        for key in ("happy", "unhappy", "p90", "tolerance"):
            page.click(f"details.explain[data-explains={key}] summary")
            assert page.locator(f"details.explain[data-explains={key}] p").is_visible()
        # the tables behind the charts open too, and nothing runs out of its box
        for summary in page.locator("details.behind summary").all():
            summary.click()
        shot = size if language == "en" else f"{size}-{language}"
        page.screenshot(path=str(artifacts / f"zone-open-{shot}.png"), full_page=True)
        assert overflowing_text(page) == []
    assert any(u.endswith("/static/vendor/chartjs/chart.umd.min.js") for u in seen)
    text = page.locator("details.explain[data-explains=tolerance] p").inner_text()
    assert text == tr(language, TOLERANCE) % {"num": 30}
    tol = rep.tolerance
    assert page.locator("#tolerance-range").inner_text() == tr(
        language, "80%% range %(low)s-%(high)s, n=%(num)d") % {
        "low": an.fmt_duration(tol.low_s), "high": an.fmt_duration(tol.high_s),
        "num": tol.ratings}
    # the trend's table: each day's Happy Index and wait p90
    rows = page.locator("#chart-trend table.behind tbody tr").all()
    assert len(rows) == len(rep.trend)
    first = rep.trend[0]
    with i18n.speaking(language):
        shown = i18n.fmt_index(first.happy_index)
    assert rows[0].locator("td").all_inner_texts()[:2] == [
        f"{shown} (n={first.ratings})",
        f"{an.fmt_duration(first.wait_p90_s)} ("
        + tr(language, "%(num)d visit", "%(num)d visits", first.visits) % {"num": first.visits}
        + ")"]
    page.close()


TOLERANCE = (
    "The wait beyond which unhappy presses clearly climb, found from each rating and the wait "
    "measured just before it. The 80 %% range is how sure it is; with fewer than %(num)s "
    "ratings linked to a measured wait, or no clear step, it says so instead of guessing.")


def test_today_view_with_the_usual_day_kept_reads_only_today(hub_db: Path) -> None:
    now = datetime.now(UTC)
    conn = open_db(hub_db)
    try:
        full = today_view(conn, "s001", ["checkout", "deli"], now, CONFIG)
        again = today_view(conn, "s001", ["checkout", "deli"], now, CONFIG, usual=full.usual)
    finally:
        conn.close()
    assert again.usual is full.usual
    assert again.today.hours == full.today.hours and again.sentences == full.sentences
    assert sum(h.ratings for h in full.today.hours) > 0
