"""A digest mail as a mail client takes it from a real SMTP server: a plain-text part, an HTML
part whose every cid: image is a PNG part beside it (multipart/related) of a sensible size,
and charts that draw the day's hours against the usual day's."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import timedelta
from email.message import Message
from pathlib import Path

import numpy as np
import pytest
from receivers import smtp_receiver

from peakend.broker.cli.digest import main as digest_main
from peakend.broker.hub.db.store import Store
from peakend.broker.hub.reports.digest import build_digest, charts, day_period, render_html
from peakend.broker.hub.reports.mail_charts import TODAY, USUAL, hourly_chart, nice_step
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.wire.contract import new_envelope

from .conftest import T0, hub_config, mail_hub_toml
from .test_digest import BERLIN, seed_day


def read_png(data: bytes) -> np.ndarray:
    """A PNG's pixels, read by the format's rules (signature, chunk CRCs, IHDR, the five row
    filters), so an image that passes here opens in any viewer."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0), "expected 8-bit RGB, not interlaced"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * 3
    assert len(raw) == height * (stride + 1)
    out = np.zeros((height, stride), dtype=np.int32)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], np.frombuffer(
            raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)], dtype=np.uint8).astype(np.int32)
        prev = out[y - 1] if y else np.zeros(stride, dtype=np.int32)
        assert kind in (0, 1, 2, 3, 4)
        if kind in (0, 2):
            out[y] = (line + (prev if kind == 2 else 0)) % 256
        else:  # left-dependent filters, byte by byte
            for x in range(stride):
                a = out[y, x - 3] if x >= 3 else 0
                b, c = prev[x], prev[x - 3] if x >= 3 else 0
                pred = a if kind == 1 else (a + b) // 2 if kind == 3 else _paeth(a, b, c)
                out[y, x] = (line[x] + pred) % 256
    return out.reshape(height, width, 3).astype(np.uint8)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def seed_usual_monday(db: Path) -> None:
    """The Monday a week before T0's: presses of 4 at 07:xx and 09:xx Berlin, waits of 60 s."""
    store = Store(db)
    week_before = T0 - timedelta(days=7)
    for i, (hours, kind, data) in enumerate([
            (-2, "rating", {"score": 4}), (1, "rating", {"score": 4}),
            (-1, "dwell", "wait"), (1, "dwell", "wait")]):
        at = week_before + timedelta(hours=hours, minutes=i)
        if kind == "dwell":
            data = {"track": i, "enter": at - timedelta(seconds=60), "exit": at,
                    "dwell_s": 60.0, "wait_s": 60.0}
        env = new_envelope(device_id="kiosk-09" if kind == "rating" else "cam-09",
                           store_id="s001", zone_id="checkout", seq=100 + i, event_type=kind,
                           ts=at, data=data)
        with store.transaction():
            store.store_event(env, at)
    store.close()


def test_the_digest_mail_has_text_html_and_every_cid_image_as_a_png_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    seed_usual_monday(db)
    monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "mail-secret-42")
    with smtp_receiver(tmp_path, "peakend", "mail-secret-42") as smtp:
        toml = mail_hub_toml(tmp_path, smtp)
        assert digest_main(["--db", str(db), "--config", str(toml), "--store", "s001",
                            "--day", "2026-03-02", "--to", "area@shop.example"]) == 0
        [mail] = smtp.messages
    assert mail.get_content_type() == "multipart/alternative"
    text, related = mail.get_payload()
    assert text.get_content_type() == "text/plain"
    assert "checkout: Happy Index" in text.get_payload(decode=True).decode()
    # the HTML and its images together, so clients show them inline, not as attachments
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    html = html_part.get_payload(decode=True).decode()
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert sorted(cids) == ["happy-s001-2026-03-02@peakend", "wait-s001-2026-03-02@peakend"]
    by_cid: dict[str, Message] = {p["Content-ID"].strip("<>"): p for p in images}
    for cid in cids:
        part = by_cid[cid]
        assert part.get_content_type() == "image/png"
        pixels = read_png(part.get_payload(decode=True))
        height, width, _ = pixels.shape
        assert 300 <= width <= 1200 and 120 <= height <= 600
        assert f'width="{width}" height="{height}"' in html
        drawn = {tuple(c) for c in pixels.reshape(-1, 3)}
        assert TODAY in drawn and USUAL in drawn  # the day's bars, the usual day's line
    assert "The day against a usual Monday" in html
    assert "a usual Monday (1 of the last 4)" in html
    # a day gone by is "the day", not "today"
    assert "Too few ratings on the day to compare (2; 8 needed)." in html
    assert "today" not in html.lower()


def test_a_file_for_a_look_carries_its_charts_itself(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    out = tmp_path / "day.html"
    assert digest_main(["--db", str(db), "--store", "s001", "--day", "2026-03-02",
                        "--out", str(out)]) == 0
    html = out.read_text()
    assert "cid:" not in html and html.count('src="data:image/png;base64,') == 2


def test_a_weeks_digest_has_no_hourly_charts(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    seed_day(db)
    conn = open_db(db)
    try:
        from peakend.broker.hub.reports.digest import week_period
        d = build_digest(conn, hub_config([]), "s001", week_period("2026-W10", BERLIN))
        day = build_digest(conn, hub_config([]), "s001", day_period("2026-03-02", BERLIN))
    finally:
        conn.close()
    assert charts(d) == [] and "<img" not in render_html(d)
    assert [c.name for c in charts(day)] == ["happy", "wait"]


def test_a_bar_is_as_tall_as_its_value_and_the_grid_is_round() -> None:
    hours: list[float | None] = [None] * 24
    full, half = list(hours), list(hours)
    full[9], half[9] = 100.0, 50.0
    tall, short = read_png(hourly_chart(full, hours, 100.0)), read_png(hourly_chart(
        half, hours, 100.0))
    bar = lambda px: int((px == np.array(TODAY, dtype=np.uint8)).all(axis=2).any(axis=1).sum())  # noqa: E731
    assert abs(bar(tall) - 2 * bar(short)) <= 2 and bar(tall) > 150
    assert [nice_step(v) for v in (100, 7, 0.9, 42)] == [20, 2, 0.2, 10]
