"""Typed, documented configuration shared by every role, and the loader that explains mistakes.

Each concern has its own model (device identity, MQTT connection, outbox); roles compose them
with their own sections. Unknown keys are refused so a misspelt key never silently falls back
to a default. :func:`load_config` turns a pydantic error into a message that names the file,
the field and the fix, which is what a tech reads on a Pi's console.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from peakend.broker.device.redaction import hide_url_passwords, is_secret_name
from peakend.broker.wire.forms import ROLES, SLUG_PATTERN

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message is meant for a person."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceSection(Section):
    """Who this device is; must match what `peakend provision` registered on the hub."""

    id: str = Field(
        pattern=SLUG_PATTERN,
        title="Device id",
        description="Also the MQTT user name and client id, e.g. kiosk-01.",
    )
    store: str = Field(pattern=SLUG_PATTERN, title="Store id", description="e.g. s001.")
    zone: str | None = Field(
        default=None,
        pattern=SLUG_PATTERN,
        title="Zone id",
        description="The zone this device rates or watches, e.g. checkout. "
        "A camera names its zones in [[zones]] instead.",
    )
    zones: list[str] | None = Field(
        default=None,
        title="Zones on the hub",
        description="A camera's zones as the hub registered them (written by peakend "
        "provision); each [[zones]] name must be one of them.",
    )
    role: str = Field(title="Role", description="kiosk or edge.")

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"must be one of {', '.join(ROLES)}")
        return value


class MqttSection(Section):
    """How the device reaches the hub's broker."""

    url: str = Field(
        title="Broker URL",
        description="mqtt://USER:PASSWORD@HOST:PORT, or mqtts:// for TLS. "
        "The password may also come from the environment variable PEAKEND_MQTT_PASSWORD.",
    )
    ca_file: str | None = Field(
        default=None,
        title="CA certificate",
        description="PEM file of the hub's CA, for mqtts:// with a private CA.",
    )
    keepalive_s: int = Field(default=30, ge=5, le=600, title="Keepalive (s)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value


class OutboxSection(Section):
    """The device's durable queue of messages the hub has not yet confirmed."""

    path: str = Field(
        default="outbox.sqlite",
        title="Outbox database",
        description="SQLite file; relative paths are relative to the config file.",
    )
    max_rows: int = Field(
        default=200_000,
        ge=100,
        title="Outbox bound",
        description="When full, the oldest health and queue messages are dropped (and the "
        "hub told which); ratings and dwell visits are never dropped.",
    )


class MqttUrl(BaseModel):
    model_config = ConfigDict(frozen=True)

    tls: bool
    host: str
    port: int
    username: str | None
    password: str | None

    def redacted(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttUrl:
    parts = urlsplit(url)
    shown = repr(hide_url_passwords(url))  # the message is shown; the password never is
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(
            f"{shown} is not an MQTT URL: write mqtt://USER:PASSWORD@HOST:PORT or mqtts://..."
        )
    if not parts.hostname:
        raise ValueError(f"{shown} has no host: write mqtt://USER:PASSWORD@HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown} has a port that is not a number") from None
    password = unquote(parts.password) if parts.password is not None else None
    if password is None:
        password = os.environ.get("PEAKEND_MQTT_PASSWORD")
    return MqttUrl(
        tls=parts.scheme == "mqtts",
        host=parts.hostname,
        port=port or (8883 if parts.scheme == "mqtts" else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=password,
    )


def load_config(path: str | Path, model: type[M]) -> M:
    """Read a TOML file into ``model``; every problem becomes one ConfigError for a person."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file. Copy an example from deploy/examples/.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror}).") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the syntax at that spot.") from None
    try:
        return model.model_validate(doc, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise ConfigError(explain(exc, path, model, doc)) from None


def explain(
    exc: ValidationError, path: str | Path, model: type[BaseModel], doc: Any = None
) -> str:
    """One line per problem: field, what is wrong, the value when it is safe to show, the fix.
    Never a secret: a value is shown only when it is a single value of a field whose name is
    not a secret's, with URL passwords masked (a problem of a whole section or file would
    otherwise print all of it, passwords included). As a last guard, every secret found in the
    document (``doc``, or the inputs the errors carry) is masked wherever it still appears."""
    lines = [f"{path}: {exc.error_count()} problem(s):"]
    errors = exc.errors(include_url=False)
    for error in errors:
        field = _field_name(error["loc"])
        message = hide_url_passwords(error["msg"].removeprefix("Value error, "))
        if error["type"] == "union_tag_invalid":
            # pydantic's own text quotes the value, whatever it is (a whole table, say)
            ctx = error.get("ctx", {})
            key, tags = ctx.get("discriminator", "kind"), ctx.get("expected_tags")
            message = f"{key} must be one of {tags}"
        if error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get(
            "pattern"
        ) == SLUG_PATTERN:
            message = "not a valid id: use lowercase letters, digits and dashes (e.g. s001)"
        if error["type"] == "extra_forbidden":
            fix = "remove it or check its spelling"
        elif error["type"] == "missing":
            fix = "add it"
        else:
            fix = _hint(model, error["loc"]) or "correct the value"
        lines.append(f"  - {field}: {message}{_shown_input(error)}; {fix}.")
    text = "\n".join(lines)
    secrets: set[str] = set()
    for source in [doc, *(e.get("input") for e in errors)]:
        _collect_secrets(source, "", secrets)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _collect_secrets(value: Any, name: str, out: set[str]) -> None:
    """Values of secret-named keys and URL passwords, anywhere in a parsed document."""
    if isinstance(value, dict):
        for k, v in value.items():
            _collect_secrets(v, str(k), out)
    elif isinstance(value, list):
        for v in value:
            _collect_secrets(v, name, out)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if is_secret_name(name) and len(text) >= 3:
            out.add(text)
        if "://" in text:
            try:
                password = urlsplit(text).password
            except ValueError:
                password = None
            if password and len(password) >= 3:
                out.update({password, unquote(password)})


def _shown_input(error: Any) -> str:
    if error["type"] in ("missing", "extra_forbidden"):
        return ""
    value = error.get("input")
    names = [part for part in error["loc"] if isinstance(part, str)]
    if names and is_secret_name(names[-1]):
        return " (the value is not shown: it is a secret)"
    if not isinstance(value, str | int | float | bool):
        return ""
    return f" (got {hide_url_passwords(repr(value))})"


def _field_name(loc: tuple[Any, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or "(file)"


def _hint(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The field's own description, which doubles as the fix."""
    current: Any = model
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            break
        info = fields[part]
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        current = next((a for a in (annotation, *args) if hasattr(a, "model_fields")), None)
    if info is None or not info.description:
        return None
    return "expected: " + info.description.rstrip(".")


def config_hash(path: str | Path) -> str:
    """Short fingerprint sent in the birth message so the hub sees which config a device runs."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def resolve(base: Path | None, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() or base is None else base / p
