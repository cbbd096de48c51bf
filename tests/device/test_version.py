"""Every device reports the installed package's version: the kiosk's menu and birth, and the
camera's birth (which once said 0.1.0 whatever was installed)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from peakend.broker.device import version as version_module
from peakend.broker.device.link import LinkSettings


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    real = metadata.version
    monkeypatch.setattr(
        version_module.metadata, "version",
        lambda name: "9.8.7" if name == "peakend" else real(name),
    )
    version_module.version.cache_clear()
    yield "9.8.7"
    version_module.version.cache_clear()


def test_the_link_reports_the_installed_version_by_default(installed: str, tmp_path) -> None:
    settings = LinkSettings(mqtt_url="mqtt://hub:1883", device_id="kiosk-01", store_id="s001",
                            role="kiosk", outbox_path=tmp_path / "o.sqlite")
    assert settings.version == installed


def test_the_camera_reports_the_installed_version(installed: str, tmp_path: Path) -> None:
    from peakend.edge.config import EdgeConfig
    from peakend.edge.runner import make_link

    cfg = EdgeConfig.model_validate({
        "device": {"id": "cam-01", "store": "s001", "role": "edge"},
        "mqtt": {"url": "mqtt://cam-01:pw@127.0.0.1:1"},
        "camera": {"source": "0"},
        "zones": [{"name": "checkout", "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]]}],
    })
    link = make_link(cfg, tmp_path)
    try:
        assert link.settings.version == installed
    finally:
        link.stop()


def test_the_kiosk_reports_the_installed_version(installed: str, tmp_path: Path) -> None:
    from peakend.kiosk.settings import KioskConfig
    from peakend.kiosk.station import link_settings

    config = KioskConfig.model_validate({
        "device": {"id": "kiosk-01", "store": "s001", "zone": "checkout", "role": "kiosk"},
        "mqtt": {"url": "mqtt://kiosk-01:pw@127.0.0.1:1"},
        "technician": {"pin": "4071"},
    })
    (tmp_path / "kiosk.toml").write_text("")
    assert link_settings(config, tmp_path / "kiosk.toml").version == installed


def test_without_package_metadata_the_version_says_unknown(monkeypatch) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version_module.metadata, "version", missing)
    version_module.version.cache_clear()
    try:
        assert version_module.version() == "0+unknown"
    finally:
        version_module.version.cache_clear()
