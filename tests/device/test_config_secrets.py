"""Config errors never show a secret, whatever is wrong and wherever.

Every config model (kiosk, camera, hub) is loaded from its example with secrets planted in it,
then broken in every way at every place: each value replaced by a wrong type, a nested table,
a list or a wrong string, each key removed, an unknown key added to each table, and the
file-wide mistakes (a zone listed twice, a language without a catalogue). The error text must
still name what is wrong, and must never contain a planted secret."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from peakend.broker.device.config import ConfigError, explain, load_config, parse_mqtt_url
from peakend.broker.device.redaction import hide_url_passwords, is_secret_name
from peakend.broker.hub.config import HubConfig
from peakend.edge.config import EdgeConfig
from peakend.kiosk.settings import KioskConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
URL_SECRET = "Zq7pw-planted"
DIGIT_SECRET = "80417395"  # a PIN's form: 4 to 8 digits
MODELS = {"kiosk.toml": KioskConfig, "edge.toml": EdgeConfig, "hub.toml": HubConfig}


def planted(doc: Any, key: str = "") -> Any:
    """The example with every URL's password and every secret-named value replaced."""
    if isinstance(doc, dict):
        return {k: planted(v, k) for k, v in doc.items()}
    if isinstance(doc, list):
        return [planted(v, key) for v in doc]
    if isinstance(doc, str):
        if "://" in doc and "@" in doc:
            head, _, rest = doc.partition("://")
            creds, _, host = rest.rpartition("@")
            user = creds.split(":")[0]
            return f"{head}://{user}:{URL_SECRET}@{host}"
        if is_secret_name(key):
            return DIGIT_SECRET if doc.isdigit() else f"{URL_SECRET}-{key}"
    return doc


def paths(doc: Any, here: tuple = ()) -> Iterator[tuple]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*here, k)
            yield from paths(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield (*here, i)
            yield from paths(v, (*here, i))


def tables(doc: Any, here: tuple = ()) -> Iterator[tuple]:
    if isinstance(doc, dict):
        yield here
        for k, v in doc.items():
            yield from tables(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from tables(v, (*here, i))


def at(doc: Any, path: tuple) -> tuple[Any, Any]:
    for part in path[:-1]:
        doc = doc[part]
    return doc, path[-1]


def broken(doc: dict) -> Iterator[tuple[str, dict]]:
    """Every way of breaking the document we can think of, one at a time."""
    wrong = [{"nested": f"{URL_SECRET}-nested"}, ["a list"], "no such value!", -1, 10**12, True]
    for path in paths(doc):
        for value in wrong:
            d = copy.deepcopy(doc)
            parent, key = at(d, path)
            parent[key] = value
            yield f"{path} = {value!r}", d
        d = copy.deepcopy(doc)
        parent, key = at(d, path)
        if isinstance(parent, dict):
            del parent[key]
            yield f"{path} removed", d
    for path in tables(doc):
        d = copy.deepcopy(doc)
        table = d
        for part in path:
            table = table[part]
        table["bogus_key"] = f"{URL_SECRET}-bogus"
        yield f"{path} + bogus_key", d
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            d = copy.deepcopy(doc)
            d[key] = value + [copy.deepcopy(value[0])]  # the same entry twice
            yield f"{key} listed twice", d


@pytest.mark.parametrize("example", sorted(MODELS))
def test_no_config_error_shows_a_planted_secret(example: str) -> None:
    model: type[BaseModel] = MODELS[example]
    doc = planted(tomllib.loads((EXAMPLES / example).read_text()))
    context = {"base_dir": EXAMPLES}
    model.model_validate(doc, context=context)  # the planted example itself is valid
    failures = 0
    for what, d in broken(doc):
        try:
            model.model_validate(d, context=context)
        except ValidationError as exc:
            failures += 1
            text = explain(exc, f"{example}", model)
            assert URL_SECRET not in text and DIGIT_SECRET not in text, (what, text)
            assert "problem(s)" in text and "; " in text, (what, text)
    assert failures > 40  # the battery did break the file in many places


def test_a_url_error_names_the_url_without_its_password(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    text = (EXAMPLES / "kiosk.toml").read_text().replace(
        "mqtt://kiosk-01:change-me@hub.local:1883", f"mqtt://kiosk-01:{URL_SECRET}@hub.local:abc"
    )
    config.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(config, KioskConfig)
    message = str(err.value)
    assert "mqtt://kiosk-01:***@hub.local:abc" in message and "not a number" in message
    assert URL_SECRET not in message
    with pytest.raises(ValueError) as err2:
        parse_mqtt_url(f"http://u:{URL_SECRET}@h")
    assert URL_SECRET not in str(err2.value)


def test_a_whole_file_problem_does_not_print_the_file(tmp_path: Path) -> None:
    # A problem of the whole file (its input is the whole document) used to end with all of
    # it, the device's MQTT password included: the text a tech pastes into a ticket.
    config = tmp_path / "kiosk.toml"
    config.write_text((EXAMPLES / "kiosk.toml").read_text()
                      .replace("change-me", URL_SECRET)
                      .replace('languages = ["en", "zh-Hans"]', 'languages = ["en", "xx"]'))
    with pytest.raises(ConfigError) as err:
        load_config(config, KioskConfig)
    text = str(err.value)
    assert "xx without a built-in catalog" in text
    assert URL_SECRET not in text and "{" not in text


def test_url_passwords_are_hidden_anywhere_in_a_text() -> None:
    text = ("could not reach mqtts://cam-01:s3cr%40t@hub:8883 nor "
            "postgresql://peak:pa:ss@db.local:5432/hub; 'mqtt://a:b@c'")
    shown = hide_url_passwords(text)
    assert "s3cr" not in shown and "pa:ss" not in shown and ":b@" not in shown
    assert "mqtts://cam-01:***@hub:8883" in shown
    assert "postgresql://peak:***@db.local:5432/hub" in shown
    assert is_secret_name("pin") and is_secret_name("smtp_password")
    assert is_secret_name("webhook_secret") and not is_secret_name("keepalive_s")
    assert not is_secret_name("spinner") and not is_secret_name("url")
    assert not is_secret_name("key") and is_secret_name("api_key")
    assert not is_secret_name("password_env")  # the name of the variable, not the secret
