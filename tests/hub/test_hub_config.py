"""hub.toml: the documented example loads, mistakes are explained, overrides apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakend.broker.device.config import ConfigError, load_config
from peakend.broker.hub.config import (
    DigestSchedule,
    EmailChannel,
    HubConfig,
    QuarantineSection,
    WebhookChannel,
    ZoneAlertRule,
)

EXAMPLE = Path(__file__).parents[2] / "deploy" / "examples" / "hub.toml"


def test_the_documented_example_loads() -> None:
    config = load_config(EXAMPLE, HubConfig)
    assert config.hub.http == "0.0.0.0:8080"
    assert str(config.timezone("s002")) == "America/New_York"
    assert str(config.timezone("s999")) == "UTC"  # not listed: UTC
    rule, wait_on, unhappy_on = config.alert_rule("s001", "checkout")
    assert rule.wait_p90_s == 240 and wait_on and unhappy_on
    _, wait_on, unhappy_on = config.alert_rule("s001", "deli")
    assert not wait_on and unhappy_on
    assert config.quarantine.keep_days == 30 and config.quarantine.max_rows == 10_000
    mail, hook = config.delivery.channels
    assert (mail.type, mail.password_env, mail.quiet_hours) == (
        "email", "PEAKEND_SMTP_PASSWORD", "21:00-07:00")
    assert (hook.type, hook.kinds) == ("webhook", ["wait"])
    assert [(d.every, d.at) for d in config.digests] == [("day", "07:00"), ("week", "07:30")]
    assert config.api.rate_per_s == 5.0


def test_every_field_is_documented() -> None:
    models = [HubConfig, ZoneAlertRule, EmailChannel, WebhookChannel, DigestSchedule,
              *(f.annotation for f in HubConfig.model_fields.values()
                if hasattr(f.annotation, "model_fields"))]
    for model in models:
        for name, info in model.model_fields.items():
            assert info.title and info.description, f"{model.__name__}.{name}"


def test_mistakes_name_the_field_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "hub.toml"
    bad.write_text('[[stores]]\nid = "s001"\ntimezone = "Mars/Olympus"\n[analytics]\nlookbak = 5\n')
    with pytest.raises(ConfigError) as err:
        load_config(bad, HubConfig)
    text = str(err.value)
    assert "stores[0].timezone" in text and "IANA" in text
    assert "analytics.lookbak" in text and "check its spelling" in text


def test_quarantine_retention_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "hub.toml"
    bad.write_text('[quarantine]\nkeep_days = 0\nmax_rows = "many"\nkeep_raw = true\n')
    with pytest.raises(ConfigError) as err:
        load_config(bad, HubConfig)
    text = str(err.value)
    assert "quarantine.keep_days" in text and "greater than 0" in text
    assert "quarantine.max_rows" in text
    assert "quarantine.keep_raw" in text
    bad.write_text("[quarantine]\nmax_rows = 500\n")
    assert load_config(bad, HubConfig).quarantine == QuarantineSection(max_rows=500)


def test_relative_paths_start_at_the_file_not_the_working_folder(tmp_path: Path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    conf = folder / "hub.toml"
    conf.write_text('[hub]\ndb = "hub.sqlite"\nbroker_data = "broker"\n')
    monkeypatch.chdir(tmp_path)  # systemd starts `peakend serve` elsewhere, in /
    hub = load_config(Path("etc/hub.toml"), HubConfig).hub
    assert hub.db == str(folder / "hub.sqlite")
    assert hub.broker_data == str(folder / "broker")
    conf.write_text('[hub]\ndb = "sqlite:///data/hub.sqlite"\n')
    assert load_config(conf, HubConfig).hub.db == f"sqlite:///{folder}/data/hub.sqlite"
    # Left out: the default file, beside hub.toml too.
    conf.write_text("[hub]\n")
    assert load_config(conf, HubConfig).hub.db == str(folder / "peakend.sqlite")
    for fixed in ("/var/lib/peakend/hub.sqlite", "sqlite:////var/lib/peakend/hub.sqlite",
                  "postgresql://hub:secret@db.local:5432/peakend"):
        conf.write_text(f'[hub]\ndb = "{fixed}"\n')
        assert load_config(conf, HubConfig).hub.db == fixed


def test_a_hub_whose_data_is_where_earlier_versions_looked_is_not_started_empty(
    tmp_path: Path, monkeypatch
):
    """Earlier versions took a relative db from the folder the hub was started in: when the
    data is there and nothing is beside hub.toml, starting on a new empty database would
    restart every device's ack at 0. The config is refused, naming both paths."""
    folder = tmp_path / "etc"
    folder.mkdir()
    conf = folder / "hub.toml"
    conf.write_text('[hub]\ndb = "hub.sqlite"\n')
    (tmp_path / "hub.sqlite").write_bytes(b"")  # where the hub kept its data until now
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(conf, HubConfig)
    text = str(err.value)
    assert str(folder / "hub.sqlite") in text and str(tmp_path / "hub.sqlite") in text
    assert "absolute path" in text


def test_reason_labels_speak_each_language_and_fall_back_to_english(tmp_path: Path) -> None:
    example = load_config(EXAMPLE, HubConfig).reasons
    assert example.labels("unhappy", "zh-Hans")["wait"] == "排队太久"
    assert example.labels("unhappy", "en")["wait"] == "Long wait"
    written = tmp_path / "hub.toml"
    written.write_text('[reasons.unhappy]\nwait = "Long wait"\nqueue = "Queue too long"\n'
                       'music = { en = "Loud music", zh-Hans = "音乐太吵" }\n'
                       '[reasons.happy]\nfast = "Speedy"\n')
    reasons = load_config(written, HubConfig).reasons
    # a label with Chinese shows it; a plain English one that is the example kiosk's own
    # takes that label's Chinese; any other shows its English
    assert reasons.labels("unhappy", "zh-Hans") == {
        "wait": "排队太久", "queue": "Queue too long", "music": "音乐太吵"}
    assert reasons.labels("unhappy", "en")["music"] == "Loud music"
    assert reasons.labels("happy", "zh-Hans") == {"fast": "Speedy"}
    # nothing written: the example kiosk's choices, in both languages
    assert HubConfig().reasons.labels("happy", "zh-Hans")["fast"] == "结账快"


@pytest.mark.parametrize(("label", "says"), [
    ('{ zh-Hans = "音乐太吵" }', "needs its English text"),
    ('{ en = "Loud music", fr = "Musique" }', "'fr' is not a language"),
])
def test_a_reason_label_table_is_checked(tmp_path: Path, label: str, says: str) -> None:
    bad = tmp_path / "hub.toml"
    bad.write_text(f"[reasons.unhappy]\nmusic = {label}\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad, HubConfig)
    assert "reasons.unhappy" in str(err.value) and says in str(err.value)
