"""The hub's configuration file (hub.toml): where things are, the stores, analytics and alerts.

One model per concern, unknown keys refused, every field documented, loaded with
``peakend.broker.device.config.load_config(path, HubConfig)``. Stores that are not listed use UTC,
default analytics and the default alert rules, so a hub runs before anyone writes this file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from peakend.broker.wire.forms import SLUG_PATTERN


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSection(_Section):
    """Where the hub's parts live."""

    mqtt_url: str | None = Field(
        default=None,
        title="Aggregator broker URL",
        description="mqtt://USER:PASSWORD@HOST:PORT the aggregator connects with "
        "(peakend serve --mqtt overrides it).",
    )
    db: str = Field(
        default="peakend.sqlite",
        validate_default=True,
        title="Database",
        description="SQLite file of the hub (relative paths are relative to this file), or "
        "postgresql://user:password@host:port/dbname.",
    )
    http: str | None = Field(
        default=None,
        pattern=r"^[^\s:]*:\d{1,5}$",
        title="Web address (plain HTTP)",
        description="HOST:PORT the managers' web listens on without encryption, e.g. "
        "0.0.0.0:8080; with https set it only sends browsers on to HTTPS (and answers "
        "/time for peakend doctor). Leave both out to run without the web.",
    )
    https: str | None = Field(
        default=None,
        pattern=r"^[^\s:]*:\d{1,5}$",
        title="Web address (HTTPS)",
        description="HOST:PORT the web listens on with HTTPS, e.g. 0.0.0.0:8443, using the "
        "broker folder's tls/web.pem (made by peakend broker --tls); passwords and install "
        "scripts then never cross the network in clear.",
    )
    public_host: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]{1,253}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$",
        title="Public host name",
        description="The name (or address) managers' browsers reach this hub by, e.g. "
        "hub.shop.example; the plain-HTTP side sends browsers to https:// on it. Default: "
        "the HTTPS address when it names one, else this machine's host name (which the "
        "hub's certificate carries). Never taken from a request.",
    )
    broker_data: str | None = Field(
        default=None,
        title="Broker data folder",
        description="The folder peakend broker keeps its config and registry.json of "
        "provisioned devices in; relative paths are relative to this file.",
    )

    @field_validator("db", "broker_data")
    @classmethod
    def _beside_this_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Relative paths start at hub.toml's folder, not at the folder the hub was started
        in: systemd starts `peakend serve` in /."""
        base = (info.context or {}).get("base_dir")
        if value is None or base is None:
            return value
        prefix = "sqlite:///" if value.startswith("sqlite:///") else ""
        rest = value[len(prefix):]
        if "://" in rest or Path(rest).expanduser().is_absolute():
            return value
        beside = Path(base).resolve() / Path(rest).expanduser()
        started_in = Path(rest).expanduser().resolve()
        # Earlier versions took these from the folder the hub was started in. A hub whose
        # database is still there must not quietly start on a new, empty one beside this file.
        moved = info.field_name == "db" and started_in.is_file() and started_in != beside
        if moved and not beside.exists():
            raise ValueError(
                f"{rest!r} is now taken relative to this file ({beside}), which does not exist, "
                f"but {started_in} does (where earlier versions looked): write the absolute "
                f"path of the one that holds the hub's data"
            )
        return prefix + str(beside)


class StoreSection(_Section):
    """One store: its id as the devices send it, a display name and its local time zone."""

    id: str = Field(pattern=SLUG_PATTERN, title="Store id", description="e.g. s001.")
    name: str = Field(default="", title="Name", description="Shown on the web, e.g. Market St.")
    timezone: str = Field(
        default="UTC",
        title="Time zone",
        description="IANA zone name such as Europe/Berlin; hours, days and weekdays in reports "
        "are this local time (daylight saving included).",
    )

    language: str = Field(
        default="en",
        title="Language",
        description="The language the store's digests are written in: en (English) or zh-Hans "
        "(简体中文). The web's pages follow each manager's own choice instead.",
    )

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        return _known_language(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None
        return value

    @property
    def label(self) -> str:
        return self.name or self.id


def _known_language(value: str) -> str:
    from peakend.broker.hub.i18n import LANGUAGES

    if value not in LANGUAGES:
        spoken = ", ".join(f"{tag} ({name})" for tag, name in LANGUAGES.items())
        raise ValueError(f"{value!r} is not a language the hub writes in; use one of {spoken}")
    return value


class AnalyticsSection(_Section):
    """How ratings are linked to waits and summarised."""

    lookback_min: float = Field(
        default=10.0,
        gt=0,
        le=240,
        title="Look-back (min)",
        description="A rating is linked to the visits of its zone that ended in this many "
        "minutes up to the press.",
    )
    wait_bands_s: list[float] = Field(
        default=[60.0, 120.0, 180.0, 300.0, 600.0],
        min_length=1,
        title="Wait bands (s)",
        description="Upper edges of the wait bands the Happy Index is shown by, in seconds, "
        "increasing; a last band takes everything longer.",
    )
    unhappy_max_score: int = Field(
        default=2,
        ge=1,
        le=3,
        title="Unhappy scores",
        description="Scores up to this one count as unhappy presses (1 very unhappy .. 4 very "
        "happy).",
    )
    min_ratings_tolerance: int = Field(
        default=30,
        ge=10,
        title="Minimum ratings for a tolerance point",
        description="Below this many ratings linked to a measured wait, the tolerance point "
        "says 'not enough data'.",
    )
    end_window_min: float = Field(
        default=60.0,
        gt=0,
        title="Day's end (min)",
        description="The peak-end view takes the ratings of the last this-many minutes of "
        "each day's activity as its end.",
    )

    @field_validator("wait_bands_s")
    @classmethod
    def _bands(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(value, value[1:], strict=False)) or value[0] <= 0:
            raise ValueError("wait bands must be positive and increasing")
        return value


# The labels of the example kiosk.toml's follow-up choices, in the languages it shows them, so
# a hub without a [reasons] section still names them as shoppers read them; any other key is
# shown as sent.
_UNHAPPY_LABELS: dict[str, str | dict[str, str]] = {
    "wait": {"en": "Long wait", "zh-Hans": "排队太久"},
    "staff": {"en": "Staff", "zh-Hans": "服务态度"},
    "price": {"en": "Prices", "zh-Hans": "价格"},
    "stock": {"en": "Out of stock", "zh-Hans": "缺货"},
    "clean": {"en": "Cleanliness", "zh-Hans": "卫生"},
    "other": {"en": "Something else", "zh-Hans": "其他"}}
_HAPPY_LABELS: dict[str, str | dict[str, str]] = {
    "fast": {"en": "Quick checkout", "zh-Hans": "结账快"},
    "staff": {"en": "Friendly staff", "zh-Hans": "服务热情"},
    "choice": {"en": "Good choice", "zh-Hans": "商品丰富"},
    "other": {"en": "Something else", "zh-Hans": "其他"}}

# A label is one English text, or a table of texts by language with English among them (the
# text for any language the table lacks), as kiosk.toml's follow-up labels are written.
Label = str | dict[str, str]


class ReasonsSection(_Section):
    """How the kiosks' follow-up answers (a rating's ``reason`` key) are named in reports."""

    wait: str = Field(
        default="wait",
        title="Wait reason",
        description="The key of the kiosk's unhappy choice that blames the wait (e.g. 'Long "
        "wait'); reports show how often it is named at each measured wait.",
    )
    unhappy: dict[str, Label] = Field(
        default_factory=lambda: dict(_UNHAPPY_LABELS),
        title="Labels of 'what went wrong'",
        description="Key -> label of the choices after a 1 or 2 (the kiosk's "
        "[[followup.unhappy]]): an English text, or one per language such as "
        "{ en = \"Long wait\", zh-Hans = \"排队太久\" }; keys not listed are shown as they "
        "were sent.",
    )
    happy: dict[str, Label] = Field(
        default_factory=lambda: dict(_HAPPY_LABELS),
        title="Labels of 'what went well'",
        description="Key -> label of the choices after a 3 or 4 (the kiosk's "
        "[[followup.happy]]), written as the unhappy ones; keys not listed are shown as they "
        "were sent.",
    )

    @field_validator("unhappy", "happy")
    @classmethod
    def _labels(cls, value: dict[str, Label]) -> dict[str, Label]:
        for key, label in value.items():
            if isinstance(label, dict):
                if not label.get("en"):
                    raise ValueError(f"the label of {key!r} needs its English text (en = "
                                     "\"...\"), shown in any language the table lacks")
                for language in label:
                    _known_language(language)
        return value

    def labels(self, side: str, language: str) -> dict[str, str]:
        """Key -> label of one side ("unhappy" or "happy") in ``language``. A label without
        that language falls back to its English text; a plain English text that is the example
        kiosk's own (a hub.toml written before labels had languages) takes that label's
        translations."""
        builtin = _UNHAPPY_LABELS if side == "unhappy" else _HAPPY_LABELS
        out = {}
        for key, label in (self.unhappy if side == "unhappy" else self.happy).items():
            if isinstance(label, str):
                known = builtin.get(key)
                label = known if isinstance(known, dict) and known["en"] == label else {
                    "en": label}
            out[key] = label.get(language) or label["en"]
        return out


class AlertRule(_Section):
    """Thresholds that open a service-recovery alert for a zone."""

    wait_p90_s: float | None = Field(
        default=300.0,
        gt=0,
        title="Wait p90 threshold (s)",
        description="Open a wait alert when the p90 wait of people who left the queue in the "
        "last wait_window_min minutes is above this; leave out to disable.",
    )
    wait_window_min: float = Field(
        default=10.0, gt=0, le=240, title="Wait window (min)",
        description="The minutes the wait p90 is taken over.",
    )
    wait_min_people: int = Field(
        default=3, ge=1, title="Minimum people",
        description="A wait alert needs at least this many measured waits in its window.",
    )
    unhappy_count: int | None = Field(
        default=3,
        ge=1,
        title="Unhappy presses",
        description="Open an unhappy alert at this many unhappy presses in "
        "unhappy_window_min minutes; leave out to disable.",
    )
    unhappy_window_min: float = Field(
        default=10.0, gt=0, le=240, title="Unhappy window (min)",
        description="The minutes unhappy presses are counted over.",
    )
    clear_ratio: float = Field(
        default=0.8,
        gt=0,
        le=1,
        title="Clear ratio",
        description="Hysteresis: an open alert closes only when its value falls below this "
        "share of its threshold.",
    )
    min_open_min: float = Field(
        default=5.0, ge=0, title="Minimum open (min)",
        description="An alert stays open at least this long, so a flicker never closes it.",
    )
    cooldown_min: float = Field(
        default=10.0, ge=0, title="Cool-down (min)",
        description="After closing, the same cause does not open again for this long.",
    )


class ZoneAlertRule(_Section):
    """Per-zone changes to the default alert rule; fields left out keep the default."""

    store: str = Field(pattern=SLUG_PATTERN, title="Store id", description="e.g. s001.")
    zone: str = Field(pattern=SLUG_PATTERN, title="Zone id", description="e.g. checkout.")
    wait_p90_s: float | None = Field(default=None, gt=0, title="Wait p90 threshold (s)",
                                     description="See [alerts.default].")
    wait_window_min: float | None = Field(default=None, gt=0, title="Wait window (min)",
                                          description="See [alerts.default].")
    wait_min_people: int | None = Field(default=None, ge=1, title="Minimum people",
                                        description="See [alerts.default].")
    unhappy_count: int | None = Field(default=None, ge=1, title="Unhappy presses",
                                      description="See [alerts.default].")
    unhappy_window_min: float | None = Field(default=None, gt=0, title="Unhappy window (min)",
                                             description="See [alerts.default].")
    disable_wait: bool = Field(default=False, title="No wait alerts",
                               description="true: this zone never raises wait alerts.")
    disable_unhappy: bool = Field(default=False, title="No unhappy alerts",
                                  description="true: this zone never raises unhappy alerts.")


class AlertsSection(_Section):
    """Service-recovery alerts, published on peakend/v1/{store}/alerts and shown on the web."""

    enabled: bool = Field(default=True, title="Enabled", description="false: no alerts at all.")
    default: AlertRule = Field(
        default_factory=AlertRule, title="Default rule", description="Used by every zone."
    )
    zones: list[ZoneAlertRule] = Field(
        default_factory=list,
        title="Zone overrides",
        description="[[alerts.zones]] entries changing the default rule for one zone.",
    )


class QuarantineSection(_Section):
    """What the hub keeps of the messages it could not store (bad input), and for how long.
    Each row keeps at most the first 4 KiB of what arrived, with the original's size and
    SHA-256; the writer deletes what is beyond these limits once a minute. The ledger keeps
    the seqs of quarantined messages, so deleting rows never moves a device's ack."""

    keep_days: float = Field(
        default=30.0,
        gt=0,
        le=3650,
        title="Keep (days)",
        description="Rows whose message was last received more than this many days ago are "
        "deleted.",
    )
    max_rows: int = Field(
        default=10_000,
        ge=100,
        le=10_000_000,
        title="Most rows",
        description="Above this many rows, those last received longest ago are deleted first; "
        "a device sending bad input in a loop then cannot fill the hub's disk.",
    )


_QUIET = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
ALERT_KINDS = ("wait", "unhappy")


class _Channel(_Section):
    """What every delivery channel shares: a name, and which alerts it takes."""

    name: str = Field(pattern=SLUG_PATTERN, title="Name",
                      description="Names the channel in logs and on the fleet page, e.g. "
                      "managers-mail.")
    stores: list[str] = Field(default_factory=list, title="Stores",
                              description="Store ids whose alerts this channel takes; empty: "
                              "every store.")
    kinds: list[Literal["wait", "unhappy"]] = Field(
        default_factory=lambda: list(ALERT_KINDS), min_length=1, title="Alert kinds",
        description="Which alerts it takes: wait, unhappy (default both).")
    quiet_hours: str | None = Field(
        default=None, pattern=_QUIET, title="Quiet hours (store-local)",
        description="HH:MM-HH:MM in the store's own time, e.g. 21:00-07:00: alerts opening "
        "then are not sent on this channel (they stay on the web).")

    @field_validator("stores")
    @classmethod
    def _store_ids(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if not re.fullmatch(SLUG_PATTERN, s)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a store id such as s001")
        return value


class EmailChannel(_Channel):
    """Mail through an SMTP server with STARTTLS and a login (port 587)."""

    type: Literal["email"] = Field(title="Type", description="email")
    smtp_host: str = Field(min_length=1, title="SMTP host", description="e.g. smtp.example.com.")
    smtp_port: int = Field(default=587, ge=1, le=65535, title="SMTP port",
                           description="587 for STARTTLS.")
    starttls: bool = Field(default=True, title="STARTTLS",
                           description="Encrypt with STARTTLS before logging in; false only "
                           "for a relay on this machine.")
    username: str | None = Field(default=None, title="User name",
                                 description="SMTP login; leave out for a server without one.")
    password_env: str | None = Field(
        default=None, pattern=_ENV_NAME, title="Password variable",
        description="Name of the environment variable holding the SMTP password, e.g. "
        "PEAKEND_SMTP_PASSWORD (the password itself never goes in this file).")
    ca_file: str | None = Field(default=None, title="CA file",
                                description="PEM file of the CA that signed the server's "
                                "certificate, when it is not a public one.")
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", title="From",
                        description="e.g. peakend@shop.example.")
    to: list[str] = Field(min_length=1, title="To", description="Addresses the mail goes to.")

    @model_validator(mode="after")
    def _login_needs_password(self) -> EmailChannel:
        if self.username and not self.password_env:
            raise ValueError("username is set but password_env is not: name the environment "
                             "variable holding the SMTP password")
        return self


class WebhookChannel(_Channel):
    """A JSON POST with a ``text`` field (Slack and Teams incoming webhooks take it as it is),
    signed with HMAC-SHA256 when a secret is set."""

    type: Literal["webhook"] = Field(title="Type", description="webhook")
    url_env: str = Field(
        pattern=_ENV_NAME, title="URL variable",
        description="Name of the environment variable holding the webhook URL (a Slack or "
        "Teams webhook URL is itself a secret), e.g. PEAKEND_SLACK_URL.")
    secret_env: str | None = Field(
        default=None, pattern=_ENV_NAME, title="Signing secret variable",
        description="Name of the environment variable holding the shared secret: each POST "
        "then carries X-Peakend-Signature: sha256=HMAC(secret, timestamp + '.' + body).")
    timeout_s: float = Field(default=10.0, gt=0, le=120, title="Timeout (s)",
                             description="How long one POST may take.")


class DeliverySection(_Section):
    """Where alerts are sent beyond the web: mail and webhooks, retried until delivered."""

    base_url: str = Field(
        default="http://localhost:8080", pattern=r"^https?://[^\s/]+(/\S*)?$",
        title="Web address in messages",
        description="The hub's web as managers reach it, e.g. https://hub.shop.example; a "
        "message links to its zone's page under it.")
    max_attempts: int = Field(default=12, ge=1, le=100, title="Most attempts",
                              description="A message that failed this often is given up "
                              "(state failed), logged and shown on the fleet page.")
    first_retry_s: float = Field(default=10.0, gt=0, le=3600, title="First retry (s)",
                                 description="Wait before the first retry; it doubles each "
                                 "time up to max_retry_s.")
    max_retry_s: float = Field(default=600.0, gt=0, le=86400, title="Longest retry (s)",
                               description="The longest wait between two attempts.")
    channels: list[Annotated[EmailChannel | WebhookChannel, Field(discriminator="type")]] = Field(
        default_factory=list, title="Channels",
        description="[[delivery.channels]] entries, each with type = email or webhook.")

    @model_validator(mode="after")
    def _unique_names(self) -> DeliverySection:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"channel name used twice: {', '.join(dupes)}")
        return self


class DigestSchedule(_Section):
    """A store's digest sent on a schedule by the delivery process (peakend digest by hand)."""

    store: str = Field(pattern=SLUG_PATTERN, title="Store id", description="e.g. s001.")
    every: Literal["day", "week"] = Field(
        default="day", title="Every", description="day: yesterday's digest each morning; "
        "week: last week's (Monday to Sunday) each Monday.")
    at: str = Field(default="07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                    title="At (store-local)", description="HH:MM in the store's own time.")
    channel: str = Field(pattern=SLUG_PATTERN, title="Channel",
                         description="The name of an email channel in [[delivery.channels]].")
    to: list[str] = Field(default_factory=list, title="To",
                          description="Addresses; default: the channel's own.")
    language: str | None = Field(
        default=None, title="Language",
        description="en or zh-Hans: the language of this schedule's digests, for readers "
        "who read another than the store's staff; default: the store's own language.")

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else _known_language(value)


class ApiSection(_Section):
    """The read-only JSON API under /api/v1, for BI tools with a personal access token."""

    rate_per_s: float = Field(default=5.0, gt=0, le=1000, title="Requests per second",
                              description="Each token's average; beyond it the API answers "
                              "429 with Retry-After.")
    burst: int = Field(default=20, ge=1, le=10_000, title="Burst",
                       description="Requests a token may make at once before the rate applies.")
    max_page: int = Field(default=10_000, ge=100, le=100_000, title="Largest page",
                          description="The most rows one request may ask for (limit=).")
    default_page: int = Field(default=1000, ge=1, le=100_000, title="Default page",
                              description="Rows per page when a request gives no limit.")


class HubConfig(_Section):
    """The hub: aggregator, web, stores, analytics and alerts."""

    hub: HubSection = Field(default_factory=HubSection, title="Hub", description="[hub]")
    stores: list[StoreSection] = Field(
        default_factory=list, title="Stores", description="[[stores]] entries."
    )
    analytics: AnalyticsSection = Field(
        default_factory=AnalyticsSection, title="Analytics", description="[analytics]"
    )
    alerts: AlertsSection = Field(
        default_factory=AlertsSection, title="Alerts", description="[alerts]"
    )
    reasons: ReasonsSection = Field(
        default_factory=ReasonsSection, title="Reasons", description="[reasons]"
    )
    quarantine: QuarantineSection = Field(
        default_factory=QuarantineSection, title="Quarantine", description="[quarantine]"
    )
    delivery: DeliverySection = Field(
        default_factory=DeliverySection, title="Delivery", description="[delivery]"
    )
    api: ApiSection = Field(default_factory=ApiSection, title="API", description="[api]")
    digests: list[DigestSchedule] = Field(
        default_factory=list, title="Digests", description="[[digests]] entries.")

    @model_validator(mode="after")
    def _unique_stores(self) -> HubConfig:
        ids = [s.id for s in self.stores]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"store listed twice: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _digest_channels(self) -> HubConfig:
        mails = {c.name for c in self.delivery.channels if isinstance(c, EmailChannel)}
        for d in self.digests:
            if d.channel not in mails:
                raise ValueError(f"digest of {d.store}: {d.channel!r} is not an email channel "
                                 "of [[delivery.channels]]; name one of type email")
        keys = [(d.store, d.every) for d in self.digests]
        twice = sorted({f"{s}/{e}" for s, e in keys if keys.count((s, e)) > 1})
        if twice:
            raise ValueError(f"digest listed twice: {', '.join(twice)}")
        return self

    def store(self, store_id: str) -> StoreSection:
        for s in self.stores:
            if s.id == store_id:
                return s
        return StoreSection(id=store_id)

    def timezone(self, store_id: str) -> ZoneInfo:
        return ZoneInfo(self.store(store_id).timezone)

    def alert_rule(self, store_id: str, zone_id: str) -> tuple[AlertRule, bool, bool]:
        """The zone's effective rule and whether its wait / unhappy alerts are enabled."""
        rule = self.alerts.default
        wait_on = self.alerts.enabled and rule.wait_p90_s is not None
        unhappy_on = self.alerts.enabled and rule.unhappy_count is not None
        for z in self.alerts.zones:
            if z.store == store_id and z.zone == zone_id:
                changes = {
                    k: v
                    for k, v in z.model_dump().items()
                    if k not in ("store", "zone", "disable_wait", "disable_unhappy")
                    and v is not None
                }
                rule = rule.model_copy(update=changes)
                wait_on = wait_on or "wait_p90_s" in changes
                unhappy_on = unhappy_on or "unhappy_count" in changes
                wait_on = wait_on and not z.disable_wait and self.alerts.enabled
                unhappy_on = unhappy_on and not z.disable_unhappy and self.alerts.enabled
        return rule, wait_on, unhappy_on


DEFAULT = HubConfig()
