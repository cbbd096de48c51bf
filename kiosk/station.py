"""A kiosk without its window: config, link, journal, flow and catalog, wired together.

The Kivy app and the simulated shoppers both start a :class:`Station`, so whatever drives the
flow, the same link, journal and rules handle the press.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from peakend.broker.device.config import config_hash
from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.device.version import version
from peakend.kiosk.catalog import Catalog
from peakend.kiosk.flow import FlowRules, RatingFlow, is_open, parse_clock
from peakend.kiosk.journal import PressJournal
from peakend.kiosk.settings import KioskConfig, load_kiosk_config, state_path
from peakend.kiosk.touchpoint import Touchpoint

log = logging.getLogger(__name__)


@dataclass
class Station:
    config: KioskConfig
    config_path: Path
    link: DeviceLink
    journal: PressJournal
    touchpoint: Touchpoint
    catalog: Catalog

    @classmethod
    def open(cls, config_path: str | Path, config: KioskConfig | None = None) -> Station:
        """Load (unless given) and wire everything; the link is not started yet."""
        config_path = Path(config_path)
        config = config or load_kiosk_config(config_path)
        link = DeviceLink(link_settings(config, config_path))
        journal = PressJournal(state_path(config_path, config.kiosk.journal))
        touchpoint = Touchpoint(RatingFlow(flow_rules(config)), journal, link)
        k = config.kiosk
        catalog = Catalog(k.languages, k.default_language, k.question)
        return cls(config, config_path, link, journal, touchpoint, catalog)

    def start(self) -> None:
        """Send what a previous run left in the journal, then connect."""
        self.touchpoint.recover()
        self.link.start()

    stopped: bool = False

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        # Close an open follow-up first so its press goes out without a reason now, rather
        # than waiting for the next start.
        self.touchpoint.close_pending()
        self.link.stop()
        self.journal.close()

    def dimmed(self, now: datetime | None = None) -> bool:
        hours = self.config.hours
        if not hours.dim_outside:
            return False
        local = (now or datetime.now()).time()
        return not is_open(local, parse_clock(hours.open), parse_clock(hours.close))


def flow_rules(config: KioskConfig) -> FlowRules:
    asks = frozenset(s for s in (1, 2, 3, 4) if config.reasons_for(s))
    return FlowRules(
        repeat_interval_s=config.kiosk.repeat_interval_s,
        followup_timeout_s=config.followup.timeout_s,
        thanks_s=config.kiosk.thanks_s,
        language_reset_s=config.kiosk.language_reset_s,
        asks_reason=asks,
    )


def link_settings(config: KioskConfig, config_path: Path) -> LinkSettings:
    return LinkSettings(
        mqtt_url=config.mqtt.url,
        device_id=config.device.id,
        store_id=config.device.store,
        zone_id=config.device.zone,
        role="kiosk",
        outbox_path=state_path(config_path, config.outbox.path),
        version=version(),
        config_hash=config_hash(config_path),
        ca_file=config.mqtt.ca_file,
        keepalive_s=config.mqtt.keepalive_s,
        max_outbox_rows=config.outbox.max_rows,
    )
