"""Accounts end to end: `peakend user` adds (refusing stores the hub does not know), lists,
removes and resets; the one-time link sets a new password and logs the user out everywhere;
an admin manages accounts in the web, and nobody else can."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubtools import PEAKEND
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user

from .conftest import CONFIG, PASSWORD
from .http_client import Client

NEW = "a new long password"


@pytest.fixture
def hub(hub_db: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    path = tmp_path / "hub.sqlite"
    shutil.copy(hub_db, path)
    conn = open_db(path)
    add_user(conn, "root", PASSWORD, ["s001", "s002"], admin=True)
    conn.close()
    with serve_in_thread(create_app(str(path), CONFIG)) as url:
        yield path, url


def user_cli(*args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PEAKEND, "user", *args], input=password + "\n", text=True,
                          capture_output=True, timeout=60)


def test_a_store_the_hub_does_not_know_is_refused(hub: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = hub
    typo = user_cli("add", "--db", str(db), "--store", "s0001", "gus", "--password-stdin")
    assert typo.returncode == 2
    assert "knows no store 's0001'" in typo.stderr and "s001" in typo.stderr
    assert "gus" not in user_cli("list", "--db", str(db)).stdout
    # a store in hub.toml is known before any device of it has sent anything
    toml = tmp_path / "hub.toml"
    toml.write_text('[[stores]]\nid = "s009"\ntimezone = "Europe/Berlin"\n')
    ok = user_cli("add", "--db", str(db), "--store", "s009", "--config", str(toml), "gus",
                  "--password-stdin")
    assert ok.returncode == 0, ok.stderr
    assert "gus\ts009" in user_cli("list", "--db", str(db)).stdout


def test_a_new_hub_with_nothing_to_check_against_takes_any_store(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    done = user_cli("add", "--db", str(db), "--store", "s001", "first", "--password-stdin")
    assert done.returncode == 0, done.stderr


def test_removing_an_account_ends_its_sessions(hub: tuple[Path, str]) -> None:
    db, url = hub
    assert user_cli("add", "--db", str(db), "--store", "s001", "hanna",
                    "--password-stdin").returncode == 0
    browser = Client(url)
    assert browser.login("hanna", PASSWORD) == 303
    assert browser.request("GET", "/s/s001")[0] == 200
    gone = user_cli("remove", "--db", str(db), "hanna")
    assert gone.returncode == 0, gone.stderr
    status, headers, _ = browser.request("GET", "/s/s001")
    assert status == 303 and headers["location"] == "/login"
    again = user_cli("remove", "--db", str(db), "hanna")
    assert again.returncode == 2 and "no user 'hanna'" in again.stderr


def test_a_reset_link_works_once_and_logs_the_user_out_everywhere(hub: tuple[Path, str]) -> None:
    db, url = hub
    assert user_cli("add", "--db", str(db), "--store", "s001", "ida",
                    "--password-stdin").returncode == 0
    laptop = Client(url)
    assert laptop.login("ida", PASSWORD) == 303
    made = user_cli("reset-password", "--db", str(db), "ida", "--url", url)
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith(f"{url}/reset/") and "works once" in made.stderr
    path = link[len(url):]
    phone = Client(url)
    status, _, page = phone.request("GET", path)
    assert status == 200 and "New password for ida" in page
    status, _, page = phone.request("POST", path, {"password": NEW, "again": "different"})
    assert status == 400 and "differ" in page
    status, headers, _ = phone.request("POST", path, {"password": NEW, "again": NEW})
    assert status == 303 and headers["location"] == "/login"
    assert laptop.request("GET", "/s/s001")[0] == 303, "the old session has ended"
    assert Client(url).login("ida", PASSWORD) == 401
    assert Client(url).login("ida", NEW) == 303
    assert phone.request("GET", path)[0] == 404, "a link works once"
    assert phone.request("POST", path, {"password": "x" * 9, "again": "x" * 9})[0] == 404
    assert Client(url).login("ida", NEW) == 303, "a used link changes nothing"


def test_only_an_admin_manages_accounts_in_the_web(hub: tuple[Path, str]) -> None:
    db, url = hub
    manager = Client(url)
    assert manager.login("anna", PASSWORD) == 303
    assert manager.request("GET", "/users")[0] == 404
    admin = Client(url)
    assert admin.login("root", PASSWORD) == 303
    status, _, page = admin.request("GET", "/users")
    assert status == 200 and "anna" in page and "Accounts" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    # refused: a store the admin does not have, a store nobody knows, a short password
    for form, words in [
        ({"name": "jan", "stores": "s001,s777", "password": PASSWORD}, "only your own"),
        ({"name": "jan", "stores": "s001", "password": "short"}, "at least 8"),
    ]:
        status, _, page = admin.request("POST", "/users", {"csrf": csrf, "action": "add", **form})
        assert status == 400 and words in page, page
    status, _, page = admin.request("POST", "/users", {
        "csrf": csrf, "action": "add", "name": "jan", "stores": "s002", "password": PASSWORD})
    assert status == 200 and "Created jan" in page
    assert Client(url).login("jan", PASSWORD) == 303
    status, _, page = admin.request("POST", "/users", {"csrf": csrf, "action": "reset",
                                                        "name": "jan"})
    link = re.search(r"(/reset/[A-Za-z0-9_-]+)", page).group(1)
    assert Client(url).request("GET", link)[0] == 200
    status, _, page = admin.request("POST", "/users", {"csrf": csrf, "action": "remove",
                                                        "name": "jan"})
    assert status == 200 and "Removed jan" in page
    assert Client(url).login("jan", PASSWORD) == 401
    status, _, page = admin.request("POST", "/users", {"csrf": csrf, "action": "remove",
                                                        "name": "root"})
    assert status == 400 and "your own account" in page
    # a forged form (no CSRF token) changes nothing
    status, _, _ = admin.request("POST", "/users", {"action": "remove", "name": "anna"})
    assert status == 403 and "anna" in user_cli("list", "--db", str(db)).stdout
