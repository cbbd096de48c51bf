"""hub.toml: the documented example loads, mistakes are explained, overrides apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakend.broker.device.config import ConfigError, load_config
from peakend.broker.hub.config import HubConfig, ZoneAlertRule

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


def test_every_field_is_documented() -> None:
    models = [HubConfig, ZoneAlertRule, *(f.annotation for f in HubConfig.model_fields.values()
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
