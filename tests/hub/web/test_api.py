"""The read-only API: a token reads its account's stores and nothing else, whatever it asks;
pages add up to every row once; filters, CSV, errors, revocation, the rate limit, OpenAPI."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from peakend.broker.cli.token import main as token_main
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.reports.rollup import refresh_rollups
from peakend.broker.hub.web.api import ENDPOINTS, encode_cursor
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.hub.web.tokens import create_token

from .conftest import CONFIG, messages, seed
from .http_client import Client

FAST = CONFIG.model_copy(update={"api": CONFIG.api.model_copy(
    update={"rate_per_s": 1000.0, "burst": 10_000})})
NAMES = [e.name for e in ENDPOINTS]


@pytest.fixture(scope="module")
def api_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("api") / "hub.sqlite"
    now = datetime.now(UTC)
    seed(path, messages(now, days=3) + _queue_windows(now))
    conn = open_db(path)
    refresh_rollups(conn)
    for store in ("s001", "s002"):
        for k, kind in enumerate(("wait", "unhappy")):
            conn.execute(
                "INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, closed_at, cause, "
                "value, threshold) VALUES ($1, 'checkout', $2, 'closed', $3, $3, $4, 400, 300)",
                (store, kind, (now - timedelta(hours=5 + k)).isoformat(), f"{store} cause"))
    add_user(conn, "anna", "anna password", ["s001"])
    add_user(conn, "chris", "chris password", ["s001", "s002"])
    tokens = {"anna": create_token(conn, "anna", "bi")[1],
              "chris": create_token(conn, "chris", "bi")[1]}
    conn.close()
    return path, tokens


@pytest.fixture(scope="module")
def api(api_db: tuple[Path, dict[str, str]]) -> Iterator[str]:
    with serve_in_thread(create_app(str(api_db[0]), FAST)) as url:
        yield url


def get(base: str, path: str, token: str | None) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(base).request("GET", path, headers=headers)


def rows_of(body: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    if headers.get("content-type", "").startswith("text/csv"):
        return list(csv.DictReader(io.StringIO(body)))
    return json.loads(body)["data"]


def all_pages(base: str, endpoint: str, token: str, query: str = "") -> list[dict[str, Any]]:
    out, cursor = [], None
    for _ in range(10_000):
        q = query + (f"&cursor={cursor}" if cursor else "")
        status, headers, body = get(base, f"/api/v1/{endpoint}?{q}", token)
        assert status == 200, body
        out += rows_of(body, headers)
        cursor = headers.get("x-next-cursor")
        if not cursor:
            return out
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("endpoint", NAMES)
def test_a_token_never_reads_another_store_whatever_it_asks(
        api: str, api_db: tuple[Path, dict[str, str]], endpoint: str) -> None:
    tokens = api_db[1]
    # the other store has rows on this endpoint: chris, who may see both, reads them
    theirs = all_pages(api, endpoint, tokens["chris"], "store=s002&limit=500")
    assert theirs and all(r["store_id"] == "s002" for r in theirs)
    mine = all_pages(api, endpoint, tokens["anna"], "limit=500")
    assert mine and {r["store_id"] for r in mine} == {"s001"}
    # a cursor from the middle of s002's rows, for every parameter anna could send with it
    status, headers, _ = get(api, f"/api/v1/{endpoint}?store=s002&limit=1", tokens["chris"])
    s002_cursor = headers["x-next-cursor"]
    since = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    for query in ["store=s002", "store=S002", "store=s002&zone=checkout", "zone=checkout",
                  "store=s001&store=s002", "store=", f"since={since}", "format=csv",
                  f"cursor={s002_cursor}", f"cursor={s002_cursor}&store=s002",
                  f"cursor={s002_cursor}&format=csv", "limit=1", "store=s001,s002",
                  "store=s00%2A", "zone=%25"]:
        status, headers, body = get(api, f"/api/v1/{endpoint}?{query}", tokens["anna"])
        assert status in (200, 404), (query, status, body)
        if status == 200:
            assert all(r["store_id"] == "s001" for r in rows_of(body, headers)), query
            assert "s002" not in body, query
        else:
            assert json.loads(body) == {"error": "No such store."}, query


def test_pages_add_up_to_every_row_once_even_while_rows_arrive(
        api: str, api_db: tuple[Path, dict[str, str]]) -> None:
    path, tokens = api_db
    conn = open_db(path)
    try:
        expected = {r[0] for r in conn.execute(
            "SELECT msg_id FROM ratings WHERE store_id = 's001'")}
    finally:
        conn.close()
    first = get(api, "/api/v1/ratings?limit=37", tokens["anna"])
    got = [r["msg_id"] for r in json.loads(first[2])["data"]]
    # a new press arrives while a sync job is half way: it joins at the end
    later = datetime.now(UTC) + timedelta(seconds=1)
    seed(path, [_rating("s001", later, 4, "kiosk-late")])
    cursor = first[1]["x-next-cursor"]
    while cursor:
        status, headers, body = get(api, f"/api/v1/ratings?limit=37&cursor={cursor}",
                                    tokens["anna"])
        assert status == 200
        got += [r["msg_id"] for r in json.loads(body)["data"]]
        cursor = headers.get("x-next-cursor")
    assert len(got) == len(set(got)) == len(expected) + 1
    assert set(got[:-1]) == expected


def _queue_windows(now: datetime) -> list[Any]:
    from peakend.broker.wire.contract import new_envelope

    return [new_envelope(device_id=f"cam-q-{store}", store_id=store, zone_id="checkout",
                         seq=i + 1, event_type="queue", ts=now - timedelta(minutes=10 * i),
                         data={"window_s": 10.0, "length": 2.0 + i % 3, "arrivals": 1,
                               "departures": 1, "wait_s": 60.0, "wait_measured_s": None})
            for store in ("s001", "s002") for i in range(30)]


def _rating(store: str, at: datetime, score: int, device: str) -> Any:
    from peakend.broker.wire.contract import new_envelope

    return new_envelope(device_id=device, store_id=store, zone_id="checkout", seq=1,
                        event_type="rating", ts=at, data={"score": score})


def _visits_and_a_press(path: Path, visits: list[tuple[datetime, float, bool]],
                        at: datetime) -> str:
    """A hub with one queue's visits (exit, wait, whether only a floor) and an unhappy press at
    ``at``; returns a token that reads it."""
    from peakend.broker.wire.contract import new_envelope

    seed(path, [new_envelope(device_id="cam-1", store_id="s001", zone_id="checkout", seq=i + 1,
                             event_type="dwell", ts=exit_, data={
                                 "track": i, "enter": exit_ - timedelta(seconds=w + 10),
                                 "exit": exit_, "dwell_s": w + 10, "wait_s": w,
                                 **({"wait_floor": True} if floor else {})})
                for i, (exit_, w, floor) in enumerate(visits)] + [_rating("s001", at, 2, "k-1")])
    conn = open_db(path)
    add_user(conn, "anna", "anna password", ["s001"])
    _, secret = create_token(conn, "anna", "bi")
    conn.close()
    return secret


def test_a_rating_carries_the_waits_of_its_look_back(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    visits = [(t0 - timedelta(minutes=m), w) for m, w in ((12, 900), (8, 100), (5, 300),
                                                           (2, 200))]
    secret = _visits_and_a_press(path, [(exit_, w, False) for exit_, w in visits], t0)
    with serve_in_thread(create_app(str(path), FAST)) as base:
        status, _, body = get(base, "/api/v1/ratings", secret)
    [r] = json.loads(body)["data"]
    # the 900 s wait ended 12 minutes before: outside the 10-minute look-back
    assert (r["linked_visits"], r["linked_waits"]) == (3, 3)
    assert (r["linked_wait_s"], r["linked_wait_max_s"], r["linked_dwell_s"]) == (200, 300, 210)


def test_a_wait_known_only_as_a_floor_is_kept_apart_and_left_out_of_the_link(
        tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    # (minutes before the press, wait, whether the device saw the person only from mid-queue)
    visits = [(t0 - timedelta(minutes=m), w, floor)
              for m, w, floor in ((8, 100, False), (5, 300, False), (3, 1000, True))]
    secret = _visits_and_a_press(path, visits, t0)
    with serve_in_thread(create_app(str(path), FAST)) as base:
        _, _, ratings = get(base, "/api/v1/ratings", secret)
        _, _, dwells = get(base, "/api/v1/dwells", secret)
    [r] = json.loads(ratings)["data"]
    # the visit counts; its wait, a floor of 1000 s, neither raises the median nor is the longest
    assert (r["linked_visits"], r["linked_waits"]) == (3, 2)
    assert (r["linked_wait_s"], r["linked_wait_max_s"]) == (200, 300)
    rows = {d["track"]: (d["wait_s"], d["wait_floor_s"]) for d in json.loads(dwells)["data"]}
    assert rows == {"0": (100, None), "1": (300, None), "2": (None, 1000)}


def test_time_filters_csv_and_the_day_rollups(api: str, api_db: tuple[Path, dict[str, str]]
                                              ) -> None:
    path, tokens = api_db
    anna = tokens["anna"]
    since = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    until = since + timedelta(hours=24)  # a whole day holds a store's open hours
    q = f"since={since.isoformat()}&until={until.isoformat()}".replace("+", "%2B")
    rows = all_pages(api, "dwells", anna, q + "&limit=50")
    conn = open_db(path)
    try:
        (n,) = conn.execute("SELECT count(*) FROM dwells WHERE store_id = 's001' AND exit >= $1 "
                            "AND exit < $2", (since.isoformat()[:19] + ".000Z",
                                              until.isoformat()[:19] + ".000Z")).fetchone()
        days = {tuple(r) for r in conn.execute(
            "SELECT zone_id, count(*) FROM ratings WHERE store_id = 's001' AND flagged = 0 "
            "GROUP BY zone_id")}
    finally:
        conn.close()
    assert n > 0 and len(rows) == n
    assert all(since.isoformat()[:19] <= r["exit"][:19] < until.isoformat()[:19] for r in rows)
    status, headers, body = get(api, "/api/v1/queue_windows?format=csv&limit=5", anna)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(body)))
    assert table[0][:3] == ["msg_id", "store_id", "zone_id"] and len(table) == 6
    assert headers["x-next-cursor"]
    # the day rollups add up to the ratings they were folded from
    per_zone: dict[str, int] = {}
    for d in all_pages(api, "days", anna, "limit=2"):
        per_zone[d["zone_id"]] = per_zone.get(d["zone_id"], 0) + d["ratings"]
    assert {(z, c) for z, c in per_zone.items()} == days


@pytest.mark.parametrize(("query", "says"), [
    ("since=yesterday", "since must be ISO 8601"),
    ("until=2026-03-02T08:00:00", "until must be ISO 8601"),
    ("limit=0", "limit must be 1.."), ("limit=100001", "limit must be 1.."),
    ("limit=ten", "whole number"), ("format=xml", "format must be json or csv"),
    ("cursor=bm90LWEtY3Vyc29y", "cursor is not one"), ("colour=red", "unknown parameter"),
    (f"cursor={encode_cursor('dwells', 5)}", "cursor is not one"),
    (f"cursor={encode_cursor('ratings', 'x')}", "cursor is not one"),
])
def test_bad_input_gets_a_clear_400(api: str, api_db: tuple[Path, dict[str, str]], query: str,
                                    says: str) -> None:
    status, _, body = get(api, f"/api/v1/ratings?{query}", api_db[1]["anna"])
    assert status == 400 and says in json.loads(body)["error"]


def test_no_token_a_wrong_one_or_a_revoked_one_gets_401(
        api: str, api_db: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture) -> None:
    path = str(api_db[0])
    for token in (None, "pkt_wrong", "Basic abc"):
        status, headers, _ = get(api, "/api/v1/zones", token)
        assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert token_main(["add", "--db", path, "--user", "anna", "--name", "sheet"]) == 0
    secret = capsys.readouterr().out.strip()
    assert get(api, "/api/v1/zones", secret)[0] == 200
    assert token_main(["list", "--db", path, "--user", "anna"]) == 0
    listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    [token_id] = [row[0] for row in listed if row[1] == "sheet"]
    assert secret not in "".join("\t".join(r) for r in listed)
    # chris cannot revoke anna's token by its id
    assert token_main(["revoke", "--db", path, "--user", "chris", token_id]) == 2
    assert "chris has no token" in capsys.readouterr().err
    assert get(api, "/api/v1/zones", secret)[0] == 200
    assert token_main(["revoke", "--db", path, "--user", "anna", token_id]) == 0
    assert get(api, "/api/v1/zones", secret)[0] == 401
    assert token_main(["add", "--db", path, "--user", "nobody"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err


def test_each_token_has_its_own_rate_limit(api_db: tuple[Path, dict[str, str]]) -> None:
    path, tokens = api_db
    slow = CONFIG.model_copy(update={"api": CONFIG.api.model_copy(
        update={"rate_per_s": 0.1, "burst": 3})})
    with serve_in_thread(create_app(str(path), slow)) as base:
        assert [get(base, "/api/v1/zones", tokens["anna"])[0] for _ in range(3)] == [200] * 3
        status, headers, body = get(base, "/api/v1/zones", tokens["anna"])
        assert status == 429 and 1 <= int(headers["retry-after"]) <= 10
        assert "Retry-After" in json.loads(body)["error"]
        assert get(base, "/api/v1/zones", tokens["chris"])[0] == 200


def test_openapi_describes_every_endpoint(api: str, api_db: tuple[Path, dict[str, str]]) -> None:
    status, _, body = get(api, "/api/openapi.json", None)
    spec = json.loads(body)
    assert status == 200 and spec["openapi"].startswith("3.1")
    assert sorted(spec["paths"]) == sorted(f"/api/v1/{n}" for n in NAMES)
    for path, item in spec["paths"].items():
        assert get(api, path + "?limit=1", api_db[1]["anna"])[0] == 200
        props = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert "next_cursor" in props["properties"]


def test_hub_config_api_section_is_validated() -> None:
    with pytest.raises(ValueError, match="max_page"):
        HubConfig.model_validate({"api": {"max_page": 5}})


def test_tokens_page_makes_a_token_shown_once_and_revokes_only_ones_own(
        api: str, api_db: tuple[Path, dict[str, str]]) -> None:
    import re

    anna = Client(api)
    assert anna.login("anna", "anna password") == 303
    _, _, page = anna.request("GET", "/tokens")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    # without the form's CSRF token nothing is made
    status, _, _ = anna.request("POST", "/tokens", {"action": "create", "name": "x"})
    assert status == 403
    status, headers, page = anna.request("POST", "/tokens", {"csrf": csrf, "action": "create",
                                                            "name": "excel"})
    assert status == 200 and headers["cache-control"] == "no-store"
    secret = re.search(r'class="token-secret">(pkt_[^<]+)<', page).group(1)
    assert get(api, "/api/v1/zones", secret)[0] == 200
    _, _, again = anna.request("GET", "/tokens")
    assert secret not in again and "excel" in again
    token_id = re.search(r'id="token-(\d+)">\s*<td>excel', again).group(1)
    chris = Client(api)
    assert chris.login("chris", "chris password") == 303
    _, _, page = chris.request("GET", "/tokens")
    chris_csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    status, _, page = chris.request("POST", "/tokens", {"csrf": chris_csrf, "action": "revoke",
                                                        "id": token_id})
    assert status == 400 and "chris has no token" in page
    assert get(api, "/api/v1/zones", secret)[0] == 200
    status, _, page = anna.request("POST", "/tokens", {"csrf": csrf, "action": "revoke",
                                                       "id": token_id})
    assert status == 200 and "Revoked token excel" in page
    assert get(api, "/api/v1/zones", secret)[0] == 401


def test_every_endpoint_pages_on_both_engines(db_url: str) -> None:
    now = datetime.now(UTC)
    seed(db_url, messages(now, days=1) + _queue_windows(now))
    conn = open_db(db_url)
    conn.execute("INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, cause, value, "
                 "threshold) VALUES ('s002', 'checkout', 'wait', 'open', $1, 'c', 400, 300)",
                 (now.isoformat(),))
    add_user(conn, "chris", "chris password", ["s001", "s002"])
    _, secret = create_token(conn, "chris", "bi")
    conn.close()
    with serve_in_thread(create_app(db_url, FAST)) as base:
        for name in NAMES:
            whole = all_pages(base, name, secret, "limit=10000")
            paged = all_pages(base, name, secret, "limit=3")
            assert whole and paged == whole, name
            assert {r["store_id"] for r in whole} == {"s001", "s002"} or name == "alerts"
