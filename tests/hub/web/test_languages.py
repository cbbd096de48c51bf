"""The managers' web in the store's languages: every page in English and in Chinese
(zh-Hans) at a laptop's and a phone's width in Chromium, text inside its boxes and charts with
their axes and legends; the catalogue complete and compiled; each user's choice kept."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from pagecheck import chart_problems, only_hub_requests, overflowing_text

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub import i18n
from peakend.broker.hub.delivery import outbox
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user, get_user, session_user, start_reset
from peakend.broker.hub.web.tokens import create_token, revoke_token

from .conftest import CONFIG, PASSWORD
from .test_pages import WIDTHS

ROOT = Path(__file__).parents[3]
LOCALES = ROOT / "broker" / "hub" / "locales"
PO = LOCALES / "zh_Hans" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# The browser each language's reader has: its Accept-Language
BROWSER = {"en": "en-GB", "zh-Hans": "zh-CN"}


# -- the catalogue ---------------------------------------------------------------------------

def _extracted() -> dict[str | tuple[str, ...], str]:
    """Every msgid the templates and the hub's Python use, with where it is used."""
    found: dict[str | tuple[str, ...], str] = {}
    method_map = [("broker/hub/web/templates/**.html", "jinja2"),
                  ("broker/hub/reports/**.html", "jinja2"), ("broker/hub/**.py", "python")]
    options = {"broker/hub/web/templates/**.html": {"extensions": "jinja2.ext.i18n"},
               "broker/hub/reports/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    for filename, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options, keywords=keywords):
        if filename.startswith("broker/hub/") and message:
            found[message if isinstance(message, str) else tuple(message)] = filename
    return found


def test_every_text_of_the_pages_has_a_chinese_translation() -> None:
    catalogue = read_po(PO.open("rb"), locale="zh_Hans")
    used = _extracted()
    assert len(used) > 150  # the extraction saw the pages, not an empty folder
    missing = []
    for msgid, where in used.items():
        key = msgid if isinstance(msgid, str) else msgid[0]
        entry = catalogue.get(key)
        strings = () if entry is None else (
            entry.string if isinstance(entry.string, tuple) else (entry.string,))
        if entry is None or entry.fuzzy or not all(strings):
            missing.append(f"{where}: {msgid!r}")
    assert not missing, "untranslated (run `make messages`, then translate):\n" + "\n".join(
        missing)
    # a translation keeps every placeholder of its English (Babel's own checks)
    problems = [f"{m.id!r}: {errs}" for m, errs in catalogue.check()]
    assert not problems, problems


def test_the_shipped_mo_is_compiled_from_the_po() -> None:
    po = read_po(PO.open("rb"), locale="zh_Hans")
    mo = read_mo(BytesIO(MO.read_bytes()))
    def entries(catalogue) -> dict[object, object]:
        return {_tuple(m.id): _tuple(m.string) for m in catalogue
                if m.id and m.string and not m.fuzzy}

    want, got = entries(po), entries(mo)
    assert len(want) > 150
    assert got == want, "messages.mo is stale: run `make messages` (pybabel compile)"


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def test_the_wheel_ships_the_catalogues() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"peakend.broker.hub" = ["locales/*.pot", "locales/*/LC_MESSAGES/*.po", ' \
           '"locales/*/LC_MESSAGES/*.mo"]' in text


@pytest.mark.parametrize(("header", "language"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"), ("zh-Hans-CN", "zh-Hans"), ("zh", "zh-Hans"),
    ("de-DE, en-GB;q=0.7", "en"), ("fr, zh;q=0.5", "zh-Hans"), ("en;q=0.4, zh;q=0.8", "zh-Hans"),
    ("zh-TW", "en"), ("", "en"), ("zh;q=0", "en"),
])
def test_the_browser_s_language_is_the_first_we_speak(header: str, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_dates_and_numbers_are_written_the_language_s_way() -> None:
    from datetime import datetime

    moment = datetime(2026, 3, 2, 14, 5)
    i18n.use("zh-Hans")
    try:
        assert i18n.fmt_datetime(moment, "MMMEd") == "3月2日周一"
        assert i18n.fmt_decimal(12345.67, 1) == "12,345.7"
        assert i18n.fmt_share(0.1234) == "12.3%"
        # the Happy Index keeps its 0-100 scale and one decimal in every language
        assert i18n.fmt_index(75.04) == "75.0"
        assert i18n.fmt_change_share(-0.012) == "-1.2 个百分点"
        assert i18n.gettext("Happy Index") == "幸福指数"
    finally:
        i18n.use("en")
    assert i18n.fmt_datetime(moment, "MMMEd") == "Mon 2 Mar"
    assert i18n.fmt_change_share(0.03) == "+3.0 pts"
    assert i18n.gettext("Happy Index") == "Happy Index"


# -- the pages -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(hub_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The seeded hub with two admins of both stores: one who chose Chinese, one who has not
    chosen (their browser decides); and a live password-reset link. Each admin has a live and
    a revoked API token, and the open alert's channels are failing (the fleet page's banner)."""
    path = tmp_path_factory.mktemp("languages") / "hub.sqlite"
    shutil.copy(hub_db, path)
    conn = open_db(path)
    add_user(conn, "li", PASSWORD, ["s001", "s002"], admin=True, language="zh-Hans")
    add_user(conn, "ed", PASSWORD, ["s001", "s002"], admin=True)
    add_user(conn, "fay", PASSWORD, ["s001"])
    token = start_reset(conn, "fay")
    for name in ("li", "ed"):
        create_token(conn, name, "power-bi")
        old, _ = create_token(conn, name, "excel")
        revoke_token(conn, name, old.id)
    now = datetime.now(UTC)
    (alert_id,) = conn.execute("SELECT id FROM alerts WHERE store_id = 's001' AND "
                               "state = 'open' ORDER BY id LIMIT 1").fetchone()
    outbox.enqueue(conn, alert_id, ["teams", "mail"], 3.0, now)
    teams, mail = outbox.claim_due(conn, now, lease_s=60)
    # the receivers' own words are data, shown as they came: kept free of English sentences
    outbox.mark_failed(conn, teams.id, "HTTP 500")
    outbox.mark_retry(conn, mail.id, "SMTP 535", now)
    outbox.plan_digest(conn, "s001/day", "2026-03-02", now)
    for row_id, *_ in outbox.claim(conn, "digest_runs", "name", now, lease_s=60):
        outbox.mark_failed(conn, row_id, "SMTP 421", "digest_runs")
    conn.close()
    with serve_in_thread(create_app(str(path), CONFIG)) as url:
        yield {"url": url, "db": str(path), "reset": f"/reset/{token}"}


USERS = {"en": "ed", "zh-Hans": "li"}
# (name, path, has Chart.js charts); the reset link is filled in from the fixture
PAGES = [
    ("stores", "/", False),
    ("store-today", "/s/s001", True),
    ("zone-today", "/s/s001/z/checkout", True),
    ("zone-week", "/s/s001/z/checkout?period=7d", True),
    ("fleet", "/fleet", False),
    ("accounts", "/users", False),
    ("tokens", "/tokens", False),
    ("error-400", "/s/s001?since=2026-02-10&until=2026-02-01", False),
    ("error-404", "/s/s001/z/nowhere", False),
]
# A heading of each page, as each language writes it: the page really is in that language
HEADINGS = {
    "stores": ("Your stores", "您的门店"), "store-today": ("Zones", "区域"),
    "zone-today": ("Faces", "表情"), "zone-week": ("Trend", "趋势"),
    "fleet": ("Devices", "设备"), "accounts": ("Accounts", "账户"),
    "tokens": ("API tokens", "API 令牌"),
    "error-400": ("This period cannot be shown", "无法显示此时段"),
    "error-404": ("Not found", "未找到"), "login": ("Log in", "登录"),
    "reset": ("New password", "新密码"),
}


def _open(browser, size: str, language: str) -> object:
    return browser.new_page(viewport=WIDTHS[size], locale=BROWSER[language])


def _log_in(page, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(lambda u: not u.endswith("/login"))


# Three or more Latin words in a row: a sentence (or its part) left in English. Ids, units and
# names (s001, checkout, p90, API) are at most two; the stores' names are data, as written in
# hub.toml, and taken out first. Every page is checked, with what shows only in some states:
# the alerts' causes, the live panel, the reasons, the fleet page's banner for a failing
# channel, the tokens page.
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ ,;:'’-]+[A-Za-z]{2,}){2,}")
NAMES = [s.name for s in CONFIG.stores if s.name]


def english_left(page) -> list[str]:
    """The English runs in the page's visible text, outside code (a command is a command in
    every language)."""
    text = page.evaluate("""() => {
        const body = document.body.cloneNode(true);
        body.querySelectorAll('code, script, style').forEach(e => e.remove());
        return body.innerText; }""")
    for name in NAMES:
        text = text.replace(name, "")
    return ENGLISH_RUN.findall(text)


def _check(page, url: str, shot: str, language: str, heading: str, charts: bool,
           artifacts: Path) -> None:
    assert page.locator("html").get_attribute("lang") == language
    if page.locator("#live").count():
        # the live panel draws after its first poll: wait for it, so its text is checked too
        page.wait_for_selector("#live h2")
        assert page.locator("#live .live-figures th").count() == 5
    headings = page.locator("h1, h2").all_inner_texts()
    assert any(heading in t for t in headings), (heading, headings)
    if charts:
        page.wait_for_function("() => document.querySelectorAll('figure.chartjs').length === 0"
                               " || window.Chart && [...document.querySelectorAll("
                               "'figure.chartjs canvas')].every(c => Chart.getChart(c))")
        assert page.locator("figure.chartjs").count() > 0
        assert chart_problems(page) == []
    page.screenshot(path=str(artifacts / f"{shot}.png"), full_page=True)
    assert overflowing_text(page) == [], shot


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_every_page_fits_in_each_language(
    browser, site: dict[str, str], artifacts: Path, size: str, language: str
) -> None:
    url = site["url"]
    page = _open(browser, size, language)
    words = 0 if language == "en" else 1
    with only_hub_requests(page, url):
        # logged out: the login page and the reset page read in the browser's language
        for name, path in [("login", "/login"), ("reset", site["reset"])]:
            page.goto(url + path)
            _check(page, url, f"{language}-{name}-{size}", language,
                   HEADINGS[name][words], False, artifacts)
            if language == "zh-Hans":
                assert english_left(page) == [], name
        _log_in(page, url, USERS[language])
        for name, path, charts in PAGES:
            page.goto(url + path)
            _check(page, url, f"{language}-{name}-{size}", language, HEADINGS[name][words],
                   charts, artifacts)
            if language == "zh-Hans":
                assert english_left(page) == [], name
    page.close()


def test_the_states_checked_for_english_are_on_the_pages(browser, site: dict[str, str]) -> None:
    """What the check for English left must see: an open alert with its cause, a failing
    channel and a digest given up, a live and a revoked token, the live panel, the reasons;
    each in Chinese, and in English for the English reader."""
    url = site["url"]
    for language, want in [
        ("zh-Hans", ["警报渠道 teams 发送失败：1 条警报已放弃", "摘要 s001/day 已放弃发送", "有效",
                     "已于", "分钟内 3 次不满意", "当前", "排队太久"]),
        ("en", ["Alert channel teams is failing: 1 alert given up", "Digest s001/day of",
                "live", "revoked ", "3 unhappy in 10 min", "Now", "Long wait"]),
    ]:
        page = _open(browser, "laptop", language)
        _log_in(page, url, USERS[language])
        seen = ""
        for path in ("/fleet", "/tokens", "/s/s001", "/s/s001/z/checkout?period=7d"):
            page.goto(url + path)
            if page.locator("#live").count():
                page.wait_for_selector("#live h2")
            seen += page.locator("body").inner_text()
        for text in want:
            assert text in seen, (language, text)
        # the check finds English where there is some: it is not blind
        assert bool(english_left(page)) == (language == "en")
        page.close()


def test_chinese_pages_keep_their_charts_axis_titles_and_legends_in_chinese(
    browser, site: dict[str, str]
) -> None:
    page = _open(browser, "laptop", "zh-Hans")
    _log_in(page, site["url"], "li")
    page.goto(site["url"] + "/s/s001/z/checkout?period=7d")
    page.wait_for_function("() => window.Chart && Chart.getChart("
                           "document.querySelector('#chart-trend canvas'))")
    axes = page.evaluate("() => Object.values(Chart.getChart(document.querySelector("
                         "'#chart-trend canvas')).scales).map(s => s.options.title.text)")
    assert set(axes) == {"幸福指数", "分钟"} or "周起始" in axes or "日期" in axes
    legend = page.evaluate("() => Chart.getChart(document.querySelector('#chart-trend canvas'))"
                           ".legend.legendItems.map(i => i.text)")
    assert legend == ["幸福指数", "等待 p90"]
    # the heat map's weekdays are Chinese too
    assert "周一" in page.locator("#heat-happy svg.heat.wide").inner_html()
    page.close()


def test_chinese_glyphs_are_drawn_not_boxes(browser, site: dict[str, str]) -> None:
    """With no CJK font, Chromium draws each character as the same empty box: two different
    characters then give the same pixels."""
    page = _open(browser, "laptop", "zh-Hans")
    page.goto(site["url"] + "/login")
    same = page.evaluate("""() => {
        const font = getComputedStyle(document.querySelector('h1')).fontFamily;
        const draw = (ch) => {
            const c = document.createElement('canvas'); c.width = 48; c.height = 48;
            const g = c.getContext('2d'); g.font = `40px ${font}`; g.fillText(ch, 2, 40);
            return Array.from(g.getImageData(0, 0, 48, 48).data).join(',');
        };
        return [draw('登') === draw('录'), draw('幸') === draw('福')];
    }""")
    assert same == [False, False], "Chinese text shows as boxes: install fonts-noto-cjk"
    # and a font of the system draws them, not one Chromium happened to bring
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    assert fonts.stdout.strip(), "no CJK font installed: deploy/install-deps.sh dev"
    page.close()


def test_the_header_switches_the_language_and_the_choice_follows_the_user(
    browser, site: dict[str, str]
) -> None:
    url = site["url"]
    page = _open(browser, "phone", "en")
    _log_in(page, url, "fay")
    page.goto(f"{url}/s/s001/z/checkout?period=7d")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("form.language button[value='zh-Hans']")
    page.wait_for_url(f"{url}/s/s001/z/checkout?period=7d")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert "趋势" in page.locator("h2").all_inner_texts()
    conn = open_db(site["db"])
    try:
        user = session_user(conn, next(c["value"] for c in page.context.cookies()
                                       if c["name"] == "peakend_session"))
        assert user is not None and user[0].language == "zh-Hans"
    finally:
        conn.close()
    # another browser, in English: the user's own choice wins over it
    other = _open(browser, "laptop", "en")
    _log_in(other, url, "fay")
    assert other.locator("html").get_attribute("lang") == "zh-Hans"
    other.click("form.language button[value='en']")
    other.wait_for_load_state()
    assert other.locator("html").get_attribute("lang") == "en"
    other.close()
    page.close()


def test_a_forged_language_switch_is_refused(browser, site: dict[str, str]) -> None:
    page = _open(browser, "laptop", "en")
    _log_in(page, site["url"], "ed")
    status = page.evaluate("""async () => (await fetch('/language', {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: 'csrf=forged&language=zh-Hans&back=/'})).status""")
    assert status == 403
    status = page.evaluate("""async () => {
        const csrf = document.querySelector('input[name=csrf]').value;
        return (await fetch('/language', {method: 'POST', redirect: 'manual',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: `csrf=${csrf}&language=klingon&back=/`})).status; }""")
    assert status == 400
    page.close()
    conn = open_db(site["db"])
    try:
        ed = next(u for u in [get_user(conn, i) for i in range(1, 20)] if u and u.name == "ed")
        assert ed.language is None
    finally:
        conn.close()


def test_user_add_takes_a_language(tmp_path: Path, hub_db: Path) -> None:
    path = tmp_path / "hub.sqlite"
    shutil.copy(hub_db, path)
    done = subprocess.run(
        [sys.executable, "-m", "peakend.broker.cli", "user", "add", "--db", str(path),
         "--store", "s001", "--language", "zh-Hans", "--password-stdin", "wei"],
        input=PASSWORD + "\n", text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    conn = open_db(path)
    try:
        (uid,) = conn.execute("SELECT id FROM users WHERE name = 'wei'").fetchone()
        assert get_user(conn, uid).language == "zh-Hans"
    finally:
        conn.close()
    wrong = subprocess.run(
        [sys.executable, "-m", "peakend.broker.cli", "user", "add", "--db", str(path),
         "--store", "s001", "--language", "xx", "--password-stdin", "wu"],
        input=PASSWORD + "\n", text=True, capture_output=True, timeout=60)
    assert wrong.returncode == 2 and "zh-Hans" in wrong.stderr
