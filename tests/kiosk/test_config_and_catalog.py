"""kiosk.toml checks, the string catalogs, and the command's refusal to start on a bad file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peakend.broker.device.pin import hash_pin
from peakend.kiosk import cli
from peakend.kiosk.catalog import KNOWN_LANGUAGES, Catalog, strings
from peakend.kiosk.settings import ConfigError, load_kiosk_config

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "kiosk.toml"


def test_documented_example_is_valid_and_keeps_the_keys_provisioning_fills_in() -> None:
    config = load_kiosk_config(EXAMPLE)
    assert config.device.role == "kiosk" and config.device.zone == "checkout"
    text = EXAMPLE.read_text("utf-8")
    for line in ('id = "kiosk-01"', 'store = "s001"', 'zone = "checkout"', 'role = "kiosk"'):
        assert line in text.splitlines(), f"provisioning replaces the line {line!r}"
    assert any(line.startswith('url = "mqtt://') for line in text.splitlines())
    assert len(config.followup.unhappy) <= 6 and len(config.followup.happy) <= 6


def test_every_language_has_every_string_english_has() -> None:
    assert {"en", "zh-Hans", "de"} <= set(KNOWN_LANGUAGES)
    english = strings("en")
    for language in KNOWN_LANGUAGES:
        catalog = strings(language)
        assert set(catalog) == set(english), language
        assert all(value.strip() for value in catalog.values()), language
        # The same placeholders, so a translated line never loses the seq or the host.
        for key, value in catalog.items():
            assert sorted(re.findall(r"{\w+}", value)) == sorted(
                re.findall(r"{\w+}", english[key])), (language, key)


def test_catalog_switches_languages_and_prefers_the_configured_question() -> None:
    catalog = Catalog(["en", "zh-Hans"], "en", {"en": "How was checkout?"})
    assert catalog.text("question") == "How was checkout?"
    assert catalog.switch() == "zh-Hans"
    assert catalog.text("question") == strings("zh-Hans")["question"]
    assert catalog.text("tech_test_queued", seq=7).endswith("7")
    catalog.reset()
    assert catalog.language == "en"


@pytest.mark.parametrize(
    ("change", "field", "fix"),
    [
        (('role = "kiosk"', 'role = "edge"'), "role", 'role = "kiosk"'),
        (('zone = "checkout"\n', ""), "zone", "add zone"),
        (('hold_s = 3.0', "hold_s = 0.2"), "technician.hold_s", "held"),
        (('language_reset_s = 20.0', 'language_reset_s = "20s"'), "kiosk.language_reset_s",
         "nobody touches"),
        (('# pin_hash = "scrypt$16384$8$1$<salt>$<hash>"', 'pin_hash = "4071"'),
         "technician.pin_hash", "peakend provision"),
        (('default_language = "en"', 'default_language = "fr"'), "default_language", "languages"),
        (('open = "08:00"', 'open = "8am"'), "hours.open", "HH:MM"),
        (('url = "mqtt://', 'url = "http://'), "mqtt.url", "mqtt://"),
        (('thanks_s = 3.0', 'thanks_s = 3.0\ncolour = "red"'), "kiosk.colour", "spelling"),
        (('key = "wait"', 'key = "Wait!"'), "followup.unhappy", "lowercase"),
    ],
)
def test_bad_config_names_the_field_and_the_fix(tmp_path, change, field, fix) -> None:
    text = EXAMPLE.read_text("utf-8").replace(*change, 1)
    path = tmp_path / "kiosk.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_kiosk_config(path)
    message = str(caught.value)
    assert field in message and fix in message, message


def test_seven_reasons_are_refused(tmp_path) -> None:
    extra = "".join(
        f'\n[[followup.happy]]\nkey = "r{i}"\nlabels = {{ en = "R", zh-Hans = "R" }}\n'
        for i in range(3)
    )
    path = tmp_path / "kiosk.toml"
    path.write_text(EXAMPLE.read_text("utf-8") + extra, "utf-8")
    with pytest.raises(ConfigError, match="followup.happy"):
        load_kiosk_config(path)


def test_reason_without_a_label_for_an_offered_language_is_refused(tmp_path) -> None:
    text = EXAMPLE.read_text("utf-8").replace(
        'labels = { en = "Long wait", zh-Hans = "排队太久" }', 'labels = { en = "Long wait" }'
    )
    path = tmp_path / "kiosk.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=r"followup.unhappy\[0\] \(wait\).*zh-Hans"):
        load_kiosk_config(path)


def test_command_refuses_to_start_with_the_message(tmp_path, capsys) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(EXAMPLE.read_text("utf-8").replace("hold_s = 3.0", "hold_s = 99"), "utf-8")
    assert cli.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "will not start" in err and "technician.hold_s" in err


def test_command_check_accepts_the_example_and_says_its_menu_is_locked(capsys) -> None:
    assert cli.main(["--config", str(EXAMPLE), "--check"]) == 0
    out, err = capsys.readouterr()
    assert "ok" in out
    assert "technician menu cannot be opened" in err and "peakend provision" in err


def test_the_documented_example_and_the_readmes_give_no_pin() -> None:
    root = EXAMPLE.parents[2]
    for path in (EXAMPLE, root / "README.md", root / "kiosk" / "README.md"):
        text = path.read_text("utf-8")
        assert "4071" not in text, path
        assert not re.search(r'^\s*pin\s*=\s*"\d+"', text, re.M), path


def test_an_old_plain_pin_is_still_read_with_a_warning_to_re_provision(tmp_path, capsys) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(EXAMPLE.read_text("utf-8").replace(
        '# pin_hash = "scrypt$16384$8$1$<salt>$<hash>"', 'pin = "4071"'), "utf-8")
    config = load_kiosk_config(path)
    assert config.technician.pin == "4071" and config.technician.pin_hash is None
    assert cli.main(["--config", str(path), "--check"]) == 0
    err = capsys.readouterr().err
    assert "plain text" in err and "re-provision" in err and "4071" not in err
    from peakend.kiosk.doctor import check_technician_pin

    check = check_technician_pin(config)
    assert check.status == "WARN" and "peakend provision" in check.fix
    assert "4071" not in check.detail + check.fix


def test_a_wrong_pin_or_hash_is_refused_without_showing_it(tmp_path) -> None:
    for line in ('pin = "12"', 'pin_hash = "scrypt$1$1$1$abc$def"',
                 'pin = "4071"\npin_hash = "' + hash_pin("4071") + '"'):
        path = tmp_path / "kiosk.toml"
        path.write_text(EXAMPLE.read_text("utf-8").replace(
            '# pin_hash = "scrypt$16384$8$1$<salt>$<hash>"', line), "utf-8")
        with pytest.raises(ConfigError) as caught:
            load_kiosk_config(path)
        message = str(caught.value)
        assert "technician" in message
        for secret in ("12", "4071", "abc$def", "change-me"):
            assert f"'{secret}" not in message and f"{secret}'" not in message, message


def test_an_error_across_fields_does_not_print_the_file_with_its_password(tmp_path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(EXAMPLE.read_text("utf-8").replace('role = "kiosk"', 'role = "edge"'),
                    "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_kiosk_config(path)
    assert "device.role" in str(caught.value) and "change-me" not in str(caught.value)


def test_the_language_reset_is_typed_documented_and_twenty_seconds_by_default() -> None:
    from peakend.kiosk.settings import KioskSection

    field = KioskSection.model_fields["language_reset_s"]
    assert field.default == 20.0 and field.title and field.description
    assert load_kiosk_config(EXAMPLE).kiosk.language_reset_s == 20.0


def test_every_option_has_help() -> None:
    assert cli.HELP
    for action in cli.build_parser()._actions:
        assert action.help, action.dest
