"""kiosk.toml: the typed, documented configuration of one smiley kiosk.

The device-side sections ([device], [mqtt], [outbox]) are the ones every role shares; the rest
belongs to the kiosk. Everything is checked at start so a tech reads one message naming the
field and the fix, and the app refuses to start rather than showing shoppers a broken screen.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from peakend.broker.device.config import (
    ConfigError,
    DeviceSection,
    MqttSection,
    OutboxSection,
    load_config,
    resolve,
)
from peakend.broker.device.pin import EXAMPLE, check_pin_hash
from peakend.kiosk.catalog import KNOWN_LANGUAGES

MAX_REASONS = 6
_REASON_KEY = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

__all__ = ["ConfigError", "KioskConfig", "load_kiosk_config"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KioskSection(_Section):
    """What shoppers are asked, in which languages, and how the press flow is timed."""

    languages: list[str] = Field(
        default=["en", "zh-Hans"],
        min_length=1,
        title="Languages",
        description='Languages offered by the language button, e.g. ["en", "de", "zh-Hans"] '
        "(the catalogs in kiosk/locales/).",
    )
    default_language: str = Field(
        default="en",
        title="Default language",
        description="The language shown at start and after each visit; one of languages.",
    )
    language_reset_s: float = Field(
        default=20.0,
        ge=5,
        le=600,
        title="Language reset (s)",
        description="After a shopper switches the language and nobody touches the screen for "
        "this long, the question returns to default_language, so the next shopper is not "
        "greeted in the last one's language.",
    )
    question: dict[str, str] = Field(
        default_factory=dict,
        title="Question",
        description='The question per language, e.g. { en = "How was your visit?" }; '
        "a language left out uses the built-in question.",
    )
    repeat_interval_s: float = Field(
        default=5.0,
        ge=0,
        le=600,
        title="Repeat interval (s)",
        description="A press this soon after the previous one: the same face again is sent "
        "flagged repeat (and thanked again); a different face corrects the press before it, "
        "which the reports then leave out.",
    )
    thanks_s: float = Field(
        default=3.0,
        ge=0.5,
        le=30,
        title="Thank-you time (s)",
        description="How long the thank-you screen stays before the question returns.",
    )
    journal: str = Field(
        default="presses.sqlite",
        title="Press journal",
        description="SQLite file holding each press from the touch until it is in the outbox; "
        "relative to the config file.",
    )


class Reason(_Section):
    """One follow-up choice."""

    key: str = Field(
        pattern=_REASON_KEY,
        title="Reason key",
        description="What is sent in the rating's reason, e.g. wait or staff "
        "(lowercase letters, digits, dashes, underscores).",
    )
    labels: dict[str, str] = Field(
        title="Labels",
        description='The choice as shoppers read it, per language, e.g. '
        '{ en = "Long wait", zh-Hans = "排队太久" }.',
    )


class FollowupSection(_Section):
    """The optional question after a press: why unhappy, or what went well."""

    timeout_s: float = Field(
        default=6.0,
        ge=1,
        le=60,
        title="Follow-up timeout (s)",
        description="Without a choice for this long the press is sent without a reason.",
    )
    unhappy: list[Reason] = Field(
        default_factory=list,
        max_length=MAX_REASONS,
        title="Reasons when unhappy",
        description=f"Up to {MAX_REASONS} choices after a 1 or 2; empty asks nothing.",
    )
    happy: list[Reason] = Field(
        default_factory=list,
        max_length=MAX_REASONS,
        title="Reasons when happy",
        description=f"Up to {MAX_REASONS} choices after a 3 or 4; empty asks nothing.",
    )

    @field_validator("unhappy", "happy")
    @classmethod
    def _unique(cls, reasons: list[Reason]) -> list[Reason]:
        keys = [r.key for r in reasons]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"reason key(s) {', '.join(duplicates)} appear more than once")
        return reasons


class ScreenSection(_Section):
    """The display: the official Pi screen is 800x480 landscape; tall kiosks 1080x1920."""

    width: int = Field(default=800, ge=320, le=7680, title="Width (px)", description="e.g. 800.")
    height: int = Field(
        default=480, ge=240, le=7680, title="Height (px)", description="e.g. 480, or 1920."
    )
    fullscreen: bool = Field(
        default=True, title="Full screen", description="false only for trying it on a desktop."
    )
    font: str | None = Field(
        default=None,
        title="Font file",
        description="A TTF/TTC with Latin and CJK glyphs; empty searches the usual Debian "
        "fonts (fonts-wqy-microhei, fonts-noto-cjk).",
    )


class HoursSection(_Section):
    """Opening hours, local time; outside them the screen can dim (it still takes presses)."""

    dim_outside: bool = Field(
        default=False,
        title="Dim outside hours",
        description="true to dim the screen outside opening hours.",
    )
    open: str = Field(default="08:00", title="Opens", description='Local time "HH:MM".')
    close: str = Field(
        default="21:00",
        title="Closes",
        description='Local time "HH:MM"; earlier than open means past midnight.',
    )
    dim_level: float = Field(
        default=0.25,
        ge=0.05,
        le=1.0,
        title="Dimmed brightness",
        description="Brightness while dimmed, from 0.05 to 1.",
    )

    @field_validator("open", "close")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f'{value!r} is not a time of day: write "HH:MM", e.g. "08:30"')
        return value


class TechnicianSection(_Section):
    """The hidden menu: hold the top-left corner, then type the kiosk's own PIN."""

    pin_hash: str | None = Field(
        default=None,
        title="Technician PIN hash",
        description="Written by `peakend provision`, which makes a PIN for this kiosk and "
        f"prints it once; a salted hash ({EXAMPLE}), never the PIN. Without it the "
        "technician menu stays locked.",
        json_schema_extra={"secret": True},
    )
    pin: str | None = Field(
        default=None,
        pattern=r"^\d{4,8}$",
        title="Technician PIN (old form)",
        description="4 to 8 digits, in quotes; still read, but it keeps the PIN in plain "
        "text: re-provision the kiosk to replace it by pin_hash.",
        json_schema_extra={"secret": True},
    )
    hold_s: float = Field(
        default=3.0,
        ge=1,
        le=10,
        title="Hold time (s)",
        description="How long the top-left corner must be held to ask for the PIN.",
    )

    @field_validator("pin_hash")
    @classmethod
    def _pin_hash(cls, value: str | None) -> str | None:
        return None if value is None else check_pin_hash(value)

    @model_validator(mode="after")
    def _one_pin(self) -> TechnicianSection:
        if self.pin is not None and self.pin_hash is not None:
            raise ValueError("technician has both pin and pin_hash: remove the old pin line")
        return self


class KioskConfig(_Section):
    """A smiley kiosk: who it is, where it sends, and what it asks."""

    device: DeviceSection
    mqtt: MqttSection
    outbox: OutboxSection = OutboxSection()
    kiosk: KioskSection = KioskSection()
    followup: FollowupSection = FollowupSection()
    screen: ScreenSection = ScreenSection()
    hours: HoursSection = HoursSection()
    technician: TechnicianSection = TechnicianSection()

    @model_validator(mode="after")
    def _consistent(self) -> KioskConfig:
        if self.device.role != "kiosk":
            raise ValueError(f'device.role is {self.device.role!r}: set role = "kiosk"')
        if self.device.zone is None:
            raise ValueError(
                'device.zone is missing: a kiosk rates one zone, add zone = "checkout"'
            )
        k = self.kiosk
        unknown = [lang for lang in k.languages if lang not in KNOWN_LANGUAGES]
        if unknown:
            raise ValueError(
                f"kiosk.languages has {', '.join(unknown)} without a built-in catalog: "
                f"use {', '.join(KNOWN_LANGUAGES)}"
            )
        if k.default_language not in k.languages:
            raise ValueError(
                f"kiosk.default_language {k.default_language!r} is not in kiosk.languages: "
                "add it there or pick one of them"
            )
        extra = sorted(set(k.question) - set(k.languages))
        if extra:
            raise ValueError(
                f"kiosk.question has {', '.join(extra)} which is not in kiosk.languages: "
                "remove it or add the language"
            )
        for side in ("unhappy", "happy"):
            for i, reason in enumerate(getattr(self.followup, side)):
                missing = [lang for lang in k.languages if not reason.labels.get(lang)]
                if missing:
                    raise ValueError(
                        f"followup.{side}[{i}] ({reason.key}) has no label for "
                        f"{', '.join(missing)}: add it to labels"
                    )
        return self

    def advice(self) -> list[str]:
        """What works but should be fixed, for `kiosk --check` and `peakend doctor`."""
        tech = self.technician
        if tech.pin is not None:
            return [
                "technician.pin keeps the PIN in plain text in this file; it still opens the "
                "menu, but re-provision the kiosk (peakend provision --role kiosk ...) to get "
                "a PIN of its own, kept as pin_hash"
            ]
        if tech.pin_hash is None:
            return [
                "technician.pin_hash is not set, so the technician menu cannot be opened; "
                "provision the kiosk (peakend provision --role kiosk ...), which writes it and "
                "prints the PIN once"
            ]
        return []

    def reasons_for(self, score: int) -> list[Reason]:
        return self.followup.unhappy if score <= 2 else self.followup.happy


def load_kiosk_config(path: str | Path) -> KioskConfig:
    """Read and check kiosk.toml; raises ConfigError with a message for the tech."""
    return load_config(path, KioskConfig)


def state_path(config_path: str | Path, value: str) -> Path:
    """A file named in the config, relative to the config file's folder."""
    return resolve(Path(config_path).resolve().parent, value)
