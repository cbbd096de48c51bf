"""The wire contract v1: topics, the envelope and its payloads, validated in one place.

Devices build envelopes with :func:`new_envelope`; the hub checks raw MQTT payloads with
:func:`parse_event`. Everything a device in the field may say is defined here, so the JSON
Schema printed by ``peakend contract schema`` is the whole truth for third-party devices.

Additions to v1 are optional fields an older peer can do without. ``age_s`` (a device whose
clock is not synchronised says how many seconds before publishing the event happened, on its
boot clock; the hub dates the event at its receive time minus that age) is one: a device adds
it to the stored envelope at each publication with :func:`with_age`, and an age below 0, not
finite or over :data:`MAX_AGE_S` is refused like any other impossible value.
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import from_json

# Re-exported: the contract is where a device builder looks for them.
from peakend.broker.wire.forms import ROLES, SLUG_PATTERN, format_ts, is_slug, parse_ts, printable  # noqa: F401
from peakend.broker.wire.storable import MAX_DEPTH, TOO_DEEP, TooDeep, storable, top_level

VERSION = 1
ROOT = "peakend/v1"
MAX_PAYLOAD_BYTES = 4096
MAX_FUTURE = timedelta(days=1)
MAX_INT = 2**63 - 1  # SQLite's and PostgreSQL's bigint: a larger number must not reach the store
MAX_COUNT = 10**9
MAX_SKIPPED = 1_000_000  # seqs one health message may declare dropped
# An event's age (see Envelope.age_s) past a year is a device's bug, not an outage it lived
# through: such a message is quarantined with the reason, like any other impossible value.
MAX_AGE_S = 366 * 86400.0
# What age_s adds to an envelope at most: room kept below MAX_PAYLOAD_BYTES when it is built.
AGE_ROOM = len(b',"age_s":31622400.000')
EVENT_TYPES = ("rating", "dwell", "queue", "health")


class ContractError(ValueError):
    """A message or topic that does not follow the contract; the text is the reason stored."""


def _check_slug(value: str) -> str:
    if not is_slug(value):
        raise ValueError(
            f"{value!r} is not a valid id: use 1-63 lowercase letters, digits and dashes, "
            "starting with a letter or digit"
        )
    return value


def _coerce_ts(value: Any) -> datetime:
    try:
        # a string is what arrives; the other forms are for envelopes built in code
        return parse_ts(value) if type(value) is str else _to_utc(value)
    except OverflowError:
        raise ValueError("timestamp is out of range") from None


def _to_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp has no timezone; send UTC ending in Z")
        return value.astimezone(UTC)
    if isinstance(value, str):
        return parse_ts(value)
    raise ValueError("timestamp must be an ISO 8601 string such as 2026-11-22T11:21:03.512Z")


Slug = Annotated[StrictStr, Field(pattern=SLUG_PATTERN, max_length=63)]
Timestamp = Annotated[datetime, PlainSerializer(format_ts, return_type=str)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# JSON has one number type; a device writing 3 for 3.0 is still right.
Number = Annotated[StrictFloat | StrictInt, Field(ge=-1e12, le=1e12)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rating(_Model):
    """An end-of-visit press on the kiosk."""

    score: StrictInt = Field(ge=1, le=4, description="1 very unhappy .. 4 very happy")
    reason: StrictStr | None = Field(
        default=None, max_length=64, description="a key from the kiosk's configured reason list"
    )
    flags: list[Slug] = Field(
        default_factory=list,
        max_length=8,
        description='markers such as "repeat" (a press too soon after the last one); a flagged '
        'press is left out of reports, except for "correction"',
    )
    # Added to v1 (additive: a rating without it is what it always was, and Envelope.to_json
    # leaves it out when empty, so ordinary ratings stay byte for byte as before).
    replaces: uuid.UUID | None = Field(
        default=None,
        description='with the flag "correction": the msg_id of the same device\'s press this one '
        "replaces (a different face pressed within the repeat interval); the hub keeps the "
        "replaced press but leaves it out of reports",
    )


# Flags that mark a press without taking it out of the reports: a correction is the shopper's
# real answer (the press it replaces is the one left out).
COUNTED_FLAGS = frozenset({"correction"})


class Dwell(_Model):
    """One person's visit to a zone, sent when the visit ends."""

    track: StrictStr | StrictInt = Field(description="the tracker's id for the person")
    enter: Timestamp
    exit: Timestamp
    dwell_s: Number = Field(ge=0, le=86400, description="seconds in the zone")
    wait_s: Number | None = Field(
        default=None,
        ge=0,
        le=86400,
        description="queue zones: seconds from entering to crossing the exit line",
    )
    # Added to v1 (additive: a dwell without it is what it always was, and Envelope.to_json
    # leaves it out when false, so ordinary dwells stay byte for byte as before).
    wait_floor: StrictBool = Field(
        default=False,
        description="true when wait_s is only a lower bound: the person was first seen inside "
        "the zone (a track born mid-queue), so when they joined is unknown; the hub keeps the "
        "value apart and leaves it out of measured waits and of the link to ratings. A hub "
        "older than this field quarantines dwells that carry it: update hubs before edges",
    )

    @field_validator("enter", "exit", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime:
        return _coerce_ts(value)

    @model_validator(mode="after")
    def _order(self) -> Dwell:
        if self.exit < self.enter:
            raise ValueError("exit is before enter")
        if self.wait_floor and self.wait_s is None:
            raise ValueError("wait_floor is true but there is no wait_s it could qualify")
        return self


class Queue(_Model):
    """The state of a queue zone over one window."""

    window_s: Number = Field(gt=0, le=3600)
    length: Number = Field(ge=0, description="mean people in the zone over the window")
    arrivals: Count
    departures: Count = Field(description="exit-line crossings")
    wait_s: Number | None = Field(default=None, ge=0, description="predicted wait if joining now")
    wait_measured_s: Number | None = Field(
        default=None, ge=0, description="median measured wait of people who crossed recently"
    )


class Health(BaseModel):
    """Device vitals; open-ended so devices can add vitals without a new contract version."""

    model_config = ConfigDict(extra="allow", frozen=True)

    fps: Number | None = None
    cpu: Number | None = None
    outbox: Count | None = None
    temp_c: Number | None = None
    skipped: list[tuple[StrictInt, StrictInt]] | None = Field(
        default=None,
        max_length=200,
        description="seq ranges [first, last] the device's full outbox dropped; the hub counts "
        "them as handled so its ack can move past them",
    )


PAYLOADS: dict[str, type[BaseModel]] = {
    "rating": Rating,
    "dwell": Dwell,
    "queue": Queue,
    "health": Health,
}


class Envelope(_Model):
    """Every event a device sends, whatever its type."""

    v: Literal[1] = 1
    msg_id: uuid.UUID
    device_id: Slug
    store_id: Slug
    zone_id: Slug | None = None
    seq: StrictInt = Field(
        ge=1, le=MAX_INT, description="grows by one per message over the device's life"
    )
    ts: Timestamp
    clock_synced: StrictBool
    type: Literal["rating", "dwell", "queue", "health"]
    data: Rating | Dwell | Queue | Health
    age_s: Annotated[
        StrictFloat | StrictInt, Field(ge=0, le=MAX_AGE_S, allow_inf_nan=False)
    ] | None = Field(
        default=None,
        description="seconds from the event to this publication, measured on the device's "
        "boot clock, which no clock step moves; optional, sent when clock_synced is false. "
        "The hub then dates the event at its own receive time minus this age (a visit's "
        "enter and exit shift with it). Without it the hub uses its receive time. Added to v1; "
        "hubs that predate it quarantine envelopes that carry it, so update the hub first",
    )

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> datetime:
        return _coerce_ts(value)

    @model_validator(mode="before")
    @classmethod
    def _data_by_type(cls, values: Any) -> Any:
        # Validate data against the model its type names, so the error names the right fields.
        if isinstance(values, dict) and isinstance(values.get("type"), str):
            model = PAYLOADS.get(values["type"])
            if model is None:
                raise ValueError(
                    f"unknown type {values['type']!r}; expected one of {', '.join(EVENT_TYPES)}"
                )
            data = values.get("data")
            if isinstance(data, dict):
                try:
                    values = {**values, "data": model.model_validate(data)}
                except ValidationError as exc:
                    raise ValueError(describe(exc, prefix="data.")) from None
            elif not isinstance(data, BaseModel):
                raise ValueError("data must be a JSON object")
        return values

    @model_validator(mode="after")
    def _zone(self) -> Envelope:
        if self.type in ("rating", "dwell", "queue") and self.zone_id is None:
            raise ValueError(f"a {self.type} message needs a zone_id")
        if isinstance(self.data, Health) and self.data.skipped:
            total = 0
            for first, last in self.data.skipped:
                if not 1 <= first <= last < self.seq:
                    raise ValueError(
                        f"data.skipped: range [{first}, {last}] must lie below this seq {self.seq}"
                    )
                total += last - first + 1
            if total > MAX_SKIPPED:
                raise ValueError(f"data.skipped: {total} seqs; at most {MAX_SKIPPED} per message")
        return self

    def to_json(self) -> bytes:
        # Optional fields added to v1 are left out when empty: without them the envelope is byte
        # for byte what v1 devices always sent, which a hub of an earlier release accepts.
        skip: dict[str, Any] = {}
        if self.age_s is None:
            skip["age_s"] = True
        data: set[str] = set()
        if isinstance(self.data, Rating) and self.data.replaces is None:
            data.add("replaces")
        if isinstance(self.data, Dwell) and not self.data.wait_floor:
            data.add("wait_floor")
        if data:
            skip["data"] = data
        return self.model_dump_json(exclude_none=False, exclude=skip or None).encode()


class Status(BaseModel):
    """Birth (retained) and last will on the status topic."""

    model_config = ConfigDict(extra="allow", frozen=True)

    state: Literal["online", "offline"]
    boot_id: StrictStr | None = Field(default=None, max_length=64)
    role: Literal["kiosk", "edge"] | None = None
    zone_id: Slug | None = None
    version: StrictStr | None = Field(default=None, max_length=64)
    config_hash: StrictStr | None = Field(default=None, max_length=128)
    synced: StrictBool | None = None  # in a birth: has the device's outbox heard the hub yet


class Ack(BaseModel):
    """The hub's ack. ``boot_id`` is set when the ack answers a birth: the device that sent it
    knows it is the hub's answer now, not an old copy a broker or a bridge handed on."""

    # Extra keys are ignored, so a hub may say more without breaking devices already out there.
    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: StrictInt = Field(ge=0)
    boot_id: StrictStr | None = None


# -- topics -----------------------------------------------------------------------------------


def status_topic(store: str, device: str) -> str:
    return f"{ROOT}/{_check_slug(store)}/{_check_slug(device)}/status"


def event_topic(store: str, device: str, event_type: str) -> str:
    if event_type not in EVENT_TYPES:
        raise ContractError(f"unknown event type {event_type!r}")
    return f"{ROOT}/{_check_slug(store)}/{_check_slug(device)}/evt/{event_type}"


def ack_topic(store: str, device: str) -> str:
    return f"{ROOT}/{_check_slug(store)}/{_check_slug(device)}/ack"


def alerts_topic(store: str) -> str:
    return f"{ROOT}/{_check_slug(store)}/alerts"


EVENTS_SUBSCRIPTION = f"{ROOT}/+/+/evt/#"
STATUS_SUBSCRIPTION = f"{ROOT}/+/+/status"


class Topic(NamedTuple):
    """A parsed device topic."""

    store: str
    device: str
    kind: str  # "status", "evt" or "ack"
    event_type: str | None = None


def parse_topic(topic: str) -> Topic:
    return _parse_topic(topic)


# A hub sees a few topics per device over and over; a bounded cache, so a device inventing
# topics costs memory no longer than the cache holds. Refused topics raise and are not cached.
@functools.lru_cache(maxsize=4096)
def _parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != ROOT:
        raise ContractError(f"topic {topic!r} is not below {ROOT}/{{store}}/{{device}}/")
    store, device, kind, rest = parts[2], parts[3], parts[4], parts[5:]
    if not (is_slug(store) and is_slug(device)):
        raise ContractError(f"topic {topic!r} has a store or device that is not a valid id")
    if kind == "evt" and len(rest) == 1:
        return Topic(store, device, "evt", rest[0])
    if kind in ("status", "ack") and not rest:
        return Topic(store, device, kind)
    raise ContractError(f"topic {topic!r} is not a status, evt/{{type}} or ack topic")


# -- building and checking --------------------------------------------------------------------


def new_envelope(
    *,
    device_id: str,
    store_id: str,
    zone_id: str | None,
    seq: int,
    event_type: str,
    data: dict[str, Any] | BaseModel,
    ts: datetime | None = None,
    clock_synced: bool = True,
    msg_id: uuid.UUID | None = None,
) -> Envelope:
    """Build a validated envelope; raises ContractError with the reason when it would not pass."""
    try:
        envelope = Envelope.model_validate(
            {
                "msg_id": msg_id or uuid.uuid4(),
                "device_id": device_id,
                "store_id": store_id,
                "zone_id": zone_id,
                "seq": seq,
                "ts": ts or datetime.now(UTC),
                "clock_synced": clock_synced,
                "type": event_type,
                "data": data.model_dump() if isinstance(data, BaseModel) else data,
            }
        )
    except ValidationError as exc:
        raise ContractError(describe(exc)) from None
    size = len(envelope.to_json())
    # An unsynchronised device adds its age when it publishes: keep room for it now.
    limit = MAX_PAYLOAD_BYTES - (0 if clock_synced else AGE_ROOM)
    if size > limit:
        raise ContractError(f"envelope is {size} bytes; the limit is {limit}")
    return envelope


def with_age(payload: bytes, age_s: float) -> bytes:
    """An envelope as :meth:`Envelope.to_json` wrote it (so without an age), with ``age_s``
    added at the end: the device stamps each publication without parsing the JSON again."""
    if not payload.endswith(b"}"):
        raise ContractError("not an envelope: it does not end with }")
    age = min(max(age_s, 0.0), MAX_AGE_S)
    return payload[:-1] + b',"age_s":%.3f}' % age


def parse_event(
    topic: str, raw: bytes, now: datetime | None = None, where: Topic | None = None
) -> Envelope:
    """Check one raw event as the hub receives it; ContractError carries the quarantine reason."""
    where = where or parse_topic(topic)
    if where.kind != "evt":
        raise ContractError(f"topic {topic!r} is not an event topic")
    doc = _json_object(raw)
    try:
        envelope = _ENVELOPE.validate_python(doc)
    except ValidationError as exc:
        raise ContractError(describe(exc)) from None
    except (OverflowError, RecursionError, ValueError) as exc:
        raise ContractError(f"payload cannot be read: {exc}") from None
    if envelope.device_id != where.device:
        raise ContractError(
            f"device_id {envelope.device_id!r} does not match topic device {where.device!r}"
        )
    if envelope.store_id != where.store:
        raise ContractError(
            f"store_id {envelope.store_id!r} does not match topic store {where.store!r}"
        )
    if envelope.type != where.event_type:
        raise ContractError(
            f"type {envelope.type!r} does not match topic type {where.event_type!r}"
        )
    now = now or datetime.now(UTC)
    if envelope.ts > now + MAX_FUTURE:
        raise ContractError(f"ts {format_ts(envelope.ts)} is more than a day in the future")
    return envelope


_ENVELOPE = TypeAdapter(Envelope)


def parse_status(raw: bytes) -> Status:
    """Check a status (birth or last will) as the hub receives it, with the same limits as an
    event: at most MAX_PAYLOAD_BYTES of UTF-8 JSON. ContractError carries the reason."""
    doc = _json_object(raw)
    try:
        return Status.model_validate(doc)
    except ValidationError as exc:
        raise ContractError(describe(exc)) from None
    except (OverflowError, RecursionError, ValueError) as exc:
        raise ContractError(f"payload cannot be read: {exc}") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object of a payload within the size limit; ContractError says why not."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    if b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        # The common message: no \u escape that could hide text no database stores, and too
        # few brackets to nest too deeply (storable() would leave it as it is). pydantic's own
        # JSON reader takes it from the bytes several times faster than decoding and json.loads;
        # it refuses what they refuse (bad UTF-8, control characters, trailing text), and what
        # it refuses goes the long way below, which words the reason.
        try:
            doc = from_json(raw, cache_strings="keys")
        except ValueError:
            pass
        else:
            if isinstance(doc, dict):
                return doc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        # Text the database could not hold is made storable here, before the contract checks
        # it, so a message that passes the contract can be stored (see storable.py).
        doc = storable(json.loads(text), text)
    except (RecursionError, TooDeep):
        raise ContractError(TOO_DEEP) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} col {exc.colno}"
        raise ContractError(f"payload is not JSON: {exc.msg} at {where}") from None
    if not isinstance(doc, dict):
        raise ContractError("payload must be a JSON object")
    return doc


def peek_seq(raw: bytes) -> int | None:
    """Best-effort seq of a message that failed validation, so it still counts as handled:
    read from its top level even when its text is not all UTF-8 or it nests too deeply."""
    text = raw.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except RecursionError:
        try:
            doc = top_level(text)
        except ValueError:
            return None
    except ValueError:
        return None
    seq = doc.get("seq") if isinstance(doc, dict) else None
    ok = isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_INT
    return seq if ok else None


def describe(exc: ValidationError, prefix: str = "") -> str:
    """A one-line reason naming each failing field."""
    parts = []
    for error in exc.errors(include_url=False):
        # keys are the sender's: escaped, so a reason stays one line wherever it is shown
        where = ".".join(printable(str(p), 80) for p in error["loc"]
                         if not str(p).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}{where}: {message}" if where else message)
    return "; ".join(parts)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the envelope, the status birth/will and the ack."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "peakend wire contract v1",
        "topics": {
            "status": f"{ROOT}/{{store}}/{{device}}/status  (device -> hub, qos 1, retained)",
            "event": f"{ROOT}/{{store}}/{{device}}/evt/{{type}}  (device -> hub, qos 1)",
            "ack": f"{ROOT}/{{store}}/{{device}}/ack  (hub -> device, qos 1, retained)",
            "alerts": f"{ROOT}/{{store}}/alerts  (hub -> store, qos 1)",
        },
        "max_payload_bytes": MAX_PAYLOAD_BYTES,
        # nesting is bounded too; text the hub cannot store (a lone surrogate, a NUL) arrives
        # as U+FFFD
        "max_nesting_levels": MAX_DEPTH,
        "envelope": Envelope.model_json_schema(mode="serialization"),
        "status": Status.model_json_schema(),
        "ack": Ack.model_json_schema(),
    }
