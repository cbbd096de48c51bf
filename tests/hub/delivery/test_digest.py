"""Digests: the periods in the store's clock, what a digest says, `peakend digest` to a file,
the terminal or a real SMTP server, and the schedule that sends each period once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from receivers import smtp_receiver

from peakend.broker.cli.digest import main as digest_main
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.store import Store
from peakend.broker.hub.delivery.worker import DeliveryWorker
from peakend.broker.hub.reports.alerts import acknowledge
from peakend.broker.hub.reports.digest import (
    DigestError,
    build_digest,
    day_period,
    due_period,
    render_html,
    render_text,
    week_period,
)
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.wire.contract import new_envelope

from .conftest import T0, hub_config, mail_hub_toml, open_unhappy_alert

BERLIN = ZoneInfo("Europe/Berlin")


def test_periods_are_store_local_days_and_iso_weeks() -> None:
    d = day_period("2026-03-29", BERLIN)  # the night clocks go forward: a 23-hour day
    assert (d.since.isoformat(), d.until.isoformat()) == (
        "2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00")
    w = week_period("2026-W10", BERLIN)
    assert (w.since.isoformat(), w.until.isoformat()) == (
        "2026-03-01T23:00:00+00:00", "2026-03-08T23:00:00+00:00")
    assert w.previous(BERLIN).key == "2026-W09" and d.previous(BERLIN).key == "2026-03-28"
    for bad, fn in (("2026-3-2", day_period), ("yesterday", day_period),
                    ("2026-W54", week_period), ("2026-10", week_period)):
        with pytest.raises(DigestError, match="e.g."):
            fn(bad, BERLIN)


@pytest.mark.parametrize(("every", "now", "owed"), [
    ("day", "2026-03-03T05:59:00Z", None),  # 06:59 in Berlin: not yet 07:00
    ("day", "2026-03-03T06:00:00Z", "2026-03-02"),
    ("day", "2026-03-03T17:59:00Z", "2026-03-02"),  # the hub was off: still owed at 18:59
    ("day", "2026-03-03T18:01:00Z", None),  # more than 12 hours late: not sent any more
    ("week", "2026-03-09T06:30:00Z", "2026-W10"),  # Monday 07:30
    ("week", "2026-03-10T06:30:00Z", "2026-W10"),  # Tuesday: the hub was off on Monday
    ("week", "2026-03-12T06:30:00Z", None),
])
def test_a_schedule_owes_the_last_period_from_its_hour_until_too_late(
        every: str, now: str, owed: str | None) -> None:
    got = due_period(every, "07:00", BERLIN, datetime.fromisoformat(now.replace("Z", "+00:00")))
    assert (got.key if got else None) == owed


def seed_day(db: Path) -> None:
    """T0's day at checkout: four visits (waits 60..240 s), presses 4, 4, 1, 1, 1; the day
    before: two presses of 4."""
    store = Store(db)
    seq = 0

    def put(kind: str, at: datetime, data: dict, device: str) -> None:
        nonlocal seq
        seq += 1
        env = new_envelope(device_id=device, store_id="s001", zone_id="checkout", seq=seq,
                           event_type=kind, ts=at, data=data)
        with store.transaction():
            store.store_event(env, at)

    for i, wait in enumerate((60, 120, 180, 240)):
        at = T0 - timedelta(hours=1, minutes=i)
        put("dwell", at, {"track": i, "enter": at - timedelta(seconds=wait), "exit": at,
                          "dwell_s": float(wait), "wait_s": float(wait)}, "cam-01")
    for i, score in enumerate((4, 4)):
        put("rating", T0 - timedelta(hours=2, minutes=i), {"score": score}, "kiosk-02")
    for i, score in enumerate((4, 4)):
        put("rating", T0 - timedelta(days=1, minutes=i), {"score": score}, "kiosk-02")
    store.close()


def test_the_digest_says_each_zone_its_change_and_its_alerts(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    config = hub_config([])
    open_unhappy_alert(db, config)  # three presses of 1 and an alert on T0's day
    conn = open_db(db)
    try:
        d = build_digest(conn, config, "s001", day_period("2026-03-02", BERLIN))
        with pytest.raises(DigestError, match="no zone with data"):
            build_digest(conn, config, "s999", day_period("2026-03-02", BERLIN))
    finally:
        conn.close()
    [z] = d.zones
    s = z.line.summary
    assert (s.ratings, s.visits) == (5, 4)
    assert round(s.happy_index, 1) == 40.0  # (4+4+1+1+1)/5 = 2.2 -> 40
    assert z.change == "-60.0"  # the day before: 100
    assert [a["cause"] for a in z.alerts] == ["3 unhappy in 10 min"]
    assert z.link == "https://hub.shop.example/s/s001/z/checkout?since=2026-03-02&until=2026-03-03"
    html = render_html(d)
    assert 'data-zone="checkout"' in html and "3 unhappy in 10 min" in html
    assert "(-60.0 on the day before)" in html


def test_digest_command_writes_prints_and_mails(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    out = tmp_path / "day.html"
    base = ["--db", str(db), "--store", "s001", "--day", "2026-03-02"]
    assert digest_main([*base, "--out", str(out)]) == 0
    assert 'data-zone="checkout"' in out.read_text()
    assert digest_main(base) == 0
    assert "checkout: Happy Index 100.0" in capsys.readouterr().out
    assert digest_main(["--db", str(db), "--store", "s001", "--day", "2 March"]) == 2
    assert "not a day: write YYYY-MM-DD" in capsys.readouterr().err
    assert digest_main([*base, "--to", "m@shop.example"]) == 2
    assert "--to needs an email channel" in capsys.readouterr().err
    monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "mail-secret-42")
    with smtp_receiver(tmp_path, "peakend", "mail-secret-42") as smtp:
        toml = mail_hub_toml(tmp_path, smtp)
        assert digest_main([*base, "--config", str(toml), "--to", "area@shop.example"]) == 0
        [mail] = smtp.messages
    assert mail["To"] == "area@shop.example"
    assert mail["Subject"] == "[peakend] Market St: your day 2026-03-02"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk()
             if p.get_content_maintype() == "text"}
    assert "checkout: Happy Index 100.0" in parts["text/plain"]
    assert 'data-zone="checkout"' in parts["text/html"]


def test_a_scheduled_digest_goes_out_once_per_period(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "mail-secret-42")
    with smtp_receiver(tmp_path, "peakend", "mail-secret-42") as smtp:
        config = hub_config([{
            "type": "email", "name": "managers", "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port, "username": "peakend",
            "password_env": "PEAKEND_TEST_SMTP_PASSWORD", "ca_file": str(smtp.ca_file),
            "sender": "peakend@shop.example", "to": ["manager@shop.example"]}])
        config = config.model_validate({**config.model_dump(), "digests": [
            {"store": "s001", "every": "day", "at": "07:00", "channel": "managers"}]})
        now = datetime(2026, 3, 3, 5, 30, tzinfo=UTC)  # 06:30 in Berlin
        clock = lambda: now  # noqa: E731
        worker = DeliveryWorker(db, config, clock=clock)
        worker.run_once()
        assert smtp.messages == []
        for minutes in (31, 32, 60):  # 07:01 on: due once
            now = datetime(2026, 3, 3, 5, 30, tzinfo=UTC) + timedelta(minutes=minutes)
            worker.run_once()
        worker.close()
        again = DeliveryWorker(db, config, clock=clock)  # a restarted hub sends nothing more
        again.run_once()
        again.close()
        [mail] = smtp.messages
    assert mail["Subject"] == "[peakend] Market St: your day 2026-03-02"
    conn = open_db(db)
    try:
        rows = conn.execute("SELECT name, period, state, attempts FROM digest_runs").fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in rows] == [("s001/day", "2026-03-02", "sent", 1)]


def test_a_schedule_must_name_an_email_channel() -> None:
    with pytest.raises(ValueError, match="not an email channel"):
        hub_config([]).model_validate({"digests": [{"store": "s001", "channel": "nope"}]})


def chinese_store_config(**store: str) -> HubConfig:
    config = hub_config([])
    return config.model_validate({**config.model_dump(), "stores": [
        {"id": "s001", "name": "市场街店", "timezone": "Europe/Berlin", **store}]})


def english_words(text: str) -> list[str]:
    """The English left in a digest once what is not its own text is taken out: markup, links,
    the charts' data, ids, the time zone's name and the figures' names (p50, p90)."""
    text = re.sub(r'"(data|cid):[^"]*"', " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"https?://\S+", " ", text)
    for data in ("checkout", "Europe/Berlin", "[peakend]", "p50", "p90"):
        text = text.replace(data, " ")
    return re.findall(r"[A-Za-z]{2,}", text)


def test_a_digest_in_the_stores_language_is_chinese_throughout(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    config = chinese_store_config(language="zh-Hans")
    opened = open_unhappy_alert(db, config)
    conn = open_db(db)
    try:
        acknowledge(conn, 1, "王芳", "开了第二个收银台", now=opened)
        d = build_digest(conn, config, "s001", day_period("2026-03-02", BERLIN))
        english = build_digest(conn, config, "s001", day_period("2026-03-02", BERLIN), "en")
    finally:
        conn.close()
    assert d.language == "zh-Hans" and english.language == "en"
    text, html = render_text(d), render_html(d)
    assert d.title == "[peakend] 市场街店：2026-03-02 日报"
    assert "checkout：幸福指数 40.0 （较前一天 -60.0），5 条评分，不满意 60.0%" in text
    assert "警报 09:03：10 分钟内 3 次不满意" in text
    assert "由 王芳 确认" in text and "王芳: 开了第二个收银台" in text
    assert '<html lang="zh-Hans">' in html and "<th>幸福指数</th>" in html
    assert "较前一天 -60.0" in html and "10 分钟内 3 次不满意" in html
    assert english_words(text) == [] and english_words(html) == []
    # the day against the usual Monday, in words and in two charts titled in Chinese
    assert "当天与平常的星期一相比" in html and html.count('<img class="chart"') == 2
    assert 'alt="每小时幸福指数"' in html and "还没有平常的星期一可比较" in text
    # the same digest asked for in English is English, the ambient language untouched
    assert "Happy Index 40.0 (-60.0 on the day before)" in render_text(english)
    assert english_words(render_text(english))


def test_the_digest_command_takes_a_language_and_refuses_an_unknown_one(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    base = ["--db", str(db), "--store", "s001", "--day", "2026-03-02"]
    assert digest_main([*base, "--language", "zh-Hans"]) == 0
    assert "checkout：幸福指数 100.0" in capsys.readouterr().out
    assert digest_main([*base, "--language", "fr"]) == 2
    err = capsys.readouterr().err
    assert "'fr' is not a language the hub writes in" in err and "zh-Hans" in err


def test_a_store_or_schedule_language_must_be_one_the_hub_writes_in() -> None:
    with pytest.raises(ValueError, match="'fr' is not a language the hub writes in"):
        chinese_store_config(language="fr")
    config = chinese_store_config(language="zh-Hans")
    with pytest.raises(ValueError, match="'de' is not a language"):
        config.model_validate({**config.model_dump(), "delivery": {"channels": [
            {"type": "email", "name": "m", "smtp_host": "h", "sender": "a@b", "to": ["c@d"]}]},
            "digests": [{"store": "s001", "channel": "m", "language": "de"}]})
