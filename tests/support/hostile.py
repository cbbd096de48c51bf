"""A seeded stream of hostile messages from one device, each labelled with what the hub must do
with it, for the fuzz test (tests/hub/test_fuzz.py).

Each case starts as a valid envelope in the device's numbering and is then changed one way a
broken or hostile device might change it: text no database holds, deep nesting, wrong types,
times at the ends of the calendar, absurd skip notices, replayed ids, bytes that are not JSON.
The label comes from how the case was made, never from the hub's code:

- ``stored``: still valid by the contract; the hub must store it exactly once;
- ``duplicate``: the same bytes as a case sent before; stored once, never quarantined;
- ``quarantined``: it breaks the contract; the hub keeps its bytes with a reason;
- ``status``: a status whose text a database cannot hold as sent; recorded, not quarantined.

``seq`` is the seq the case takes in the device's numbering: None when its seq cannot be read,
or is another message's. Imported by tests as `hostile`.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from peakend.broker.wire.contract import format_ts

STORED, DUPLICATE, QUARANTINED, STATUS = "stored", "duplicate", "quarantined", "status"


class Case(NamedTuple):
    kind: str  # how it was made, for failure messages
    topic: str
    payload: bytes
    expect: str
    seq: int | None
    msg_id: str | None


Doc = dict[str, Any]


class HostileDevice:
    """Makes the cases of one device, in the order it would send them."""

    def __init__(self, seed: int, device: str, store: str, zone: str) -> None:
        self.rng = random.Random(seed)
        self.device, self.store, self.zone = device, store, zone
        self.next_seq = 1
        self.now = datetime.now(UTC)
        self.stored: list[Case] = []

    def stream(self, count: int) -> list[Case]:
        kinds = list(_KINDS)
        weights = [w for _, w in _KINDS.values()]
        cases = []
        while len(cases) < count:
            name = self.rng.choices(kinds, weights)[0]
            cases += _KINDS[name][0](self, name)
        return cases

    def good(self, count: int) -> list[Case]:
        return [self._case("good", self._doc("rating")) for _ in range(count)]

    # -- building blocks ---------------------------------------------------------------------

    def _doc(self, event_type: str | None = None, *, seq: int | None = None) -> Doc:
        """A valid envelope at the next seq (or ``seq``), not yet taken."""
        rng = self.rng
        event_type = event_type or rng.choice(["rating", "dwell", "queue", "health"])
        ts = self.now - timedelta(seconds=rng.uniform(0, 3 * 86400))
        data: Doc
        if event_type == "rating":
            data = {"score": rng.randint(1, 4), "reason": rng.choice([None, "queue", "staff"]),
                    "flags": rng.choice([[], ["repeat"]])}
        elif event_type == "dwell":
            dwell = round(rng.uniform(0, 900), 3)
            data = {"track": rng.choice([rng.randint(0, 10**6), f"t{rng.randint(0, 999)}"]),
                    "enter": format_ts(ts - timedelta(seconds=dwell)), "exit": format_ts(ts),
                    "dwell_s": dwell, "wait_s": rng.choice([None, round(dwell / 2, 3)])}
        elif event_type == "queue":
            data = {"window_s": 10.0, "length": round(rng.uniform(0, 20), 2),
                    "arrivals": rng.randint(0, 30), "departures": rng.randint(0, 30),
                    "wait_s": rng.choice([None, 42.0]), "wait_measured_s": None}
        else:
            data = {"fps": round(rng.uniform(0, 30), 1), "cpu": 55.0, "outbox": 3,
                    "temp_c": 61.5}
        return {"v": 1, "msg_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "device_id": self.device, "store_id": self.store,
                "zone_id": None if event_type == "health" else self.zone,
                "seq": self.next_seq if seq is None else seq, "ts": format_ts(ts),
                "clock_synced": rng.random() < 0.8, "type": event_type, "data": data}

    def _case(self, kind: str, doc: Doc, expect: str = STORED, *, raw: bytes | None = None,
              topic: str | None = None, takes_seq: bool = True) -> Case:
        payload = raw if raw is not None else json.dumps(doc, ensure_ascii=True).encode()
        seq = None
        if takes_seq:
            seq = self.next_seq
            self.next_seq += 1
        case = Case(kind, topic or self._topic(doc.get("type", "rating")), payload, expect, seq,
                    doc.get("msg_id") if expect != QUARANTINED else None)
        if expect == STORED:
            self.stored.append(case)
        return case

    def _topic(self, event_type: str) -> str:
        return f"peakend/v1/{self.store}/{self.device}/evt/{event_type}"


# -- the kinds of case: each returns the cases it makes -----------------------------------------

Maker = Callable[[HostileDevice, str], list[Case]]

_NESTED = "NESTED"


def _unstorable_text(d: HostileDevice, kind: str) -> list[Case]:
    bad = d.rng.choice(["\ud800", "\udfff", "\u0000", "a\ud83d", "\ud83d\ude00\udc00"])
    doc = d._doc(d.rng.choice(["dwell", "rating", "health"]))
    if doc["type"] == "dwell":
        doc["data"]["track"] = f"p{bad}"
    elif doc["type"] == "rating":
        doc["data"]["reason"] = bad
    else:
        doc["data"][f"note{bad}"] = [bad, {"k": bad}]
    return [d._case(kind, doc)]


def _odd_but_valid(d: HostileDevice, kind: str) -> list[Case]:
    doc = d._doc(d.rng.choice(["dwell", "queue", "health", "rating"]))
    if doc["type"] == "dwell":
        # the ends of the calendar with a synchronised clock: nothing to shift
        doc["clock_synced"] = True
        doc["data"].update(enter="0001-01-01T00:00:00.000Z", exit="9999-12-31T23:59:59.999Z",
                           dwell_s=86400, wait_s=0)
    elif doc["type"] == "queue":
        doc["data"].update(length=1e12, arrivals=10**9, wait_s=1e12, window_s=3600)
    elif doc["type"] == "health":
        doc["data"].update(big=10**300, tiny=5e-324, huge=1.7e308, deep=_NESTED,
                           text="\U0001f600\u202e\u0301")
    else:
        doc["data"]["reason"] = "\U0001f600" * 16
    raw = json.dumps(doc, ensure_ascii=d.rng.random() < 0.5).encode()
    raw = raw.replace(f'"{_NESTED}"'.encode(), b"[" * 25 + b"0" + b"]" * 25)
    return [d._case(kind, doc, raw=raw)]


def _notice(d: HostileDevice, kind: str) -> list[Case]:
    """A valid skip notice: over seqs already sent, or over a real hole it leaves first."""
    cases = []
    if d.rng.random() < 0.5:
        hole = d.next_seq, d.next_seq + d.rng.randint(0, 40)
        d.next_seq = hole[1] + 1  # never sent: the notice is the only news of them
        ranges = [list(hole)]
    else:
        ranges = []
        for _ in range(d.rng.randint(1, 20)):
            first = d.rng.randint(1, max(1, d.next_seq - 1))
            ranges.append([first, min(d.next_seq - 1, first + d.rng.randint(0, 5))])
        ranges = [r for r in ranges if r[0] <= r[1]]
    doc = d._doc("health")
    doc["data"]["skipped"] = ranges
    cases.append(d._case(kind, doc))
    return cases


def _breaks_contract(d: HostileDevice, kind: str) -> list[Case]:
    doc = d._doc()
    rng = d.rng
    raw = None
    topic = None
    change = rng.randrange(16)
    if change == 0:
        doc["data"] = {"score": rng.choice(["4", True, 5, 0, 4.5, None])}
        doc["type"] = "rating"
        doc["zone_id"] = d.zone
        topic = d._topic("rating")
    elif change == 1:
        del doc[rng.choice(["ts", "msg_id", "data", "clock_synced", "type", "device_id"])]
    elif change == 2:
        doc[rng.choice(["hack", "__proto__", "seqq"])] = 1
    elif change == 3:
        doc["ts"] = rng.choice(["yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00",
                                format_ts(d.now + timedelta(days=3)), 17, None])
    elif change == 4:
        doc["data"]["deep"] = _NESTED
        levels = rng.choice([31, 40, 256, 1200])
        raw = json.dumps(doc).encode().replace(
            f'"{_NESTED}"'.encode(), b"[" * levels + b"1" + b"]" * levels)
    elif change == 5:
        doc["data"]["pad"] = "x" * rng.randint(4100, 6000)
    elif change == 6:
        doc["type"], doc["zone_id"] = "dwell", d.zone
        doc["data"] = {"track": 1, "enter": doc["ts"], "exit": doc["ts"],
                       "dwell_s": rng.choice([float("nan"), float("inf"), -1, 86401])}
        topic = d._topic("dwell")
    elif change == 7:
        topic = d._topic(rng.choice([t for t in ("rating", "dwell", "queue", "health", "selfie")
                                     if t != doc["type"]]))
    elif change == 8:
        topic = f"peakend/v1/s002/{d.device}/evt/{doc['type']}"
        doc["store_id"] = "s002"
    elif change == 9:
        doc["zone_id"] = rng.choice(["entrance", "Check Out"])
    elif change == 10:
        doc["device_id"] = rng.choice(["cam-02", "kiosk-01"])
    elif change == 11:
        doc["type"], doc["zone_id"] = "health", None
        seq = doc["seq"]
        doc["data"] = {"skipped": rng.choice([
            [[seq, seq]], [[0, 1]], [[5, 3]], [[1, seq + 10**6]], [[1, 2]] * 201,
            [[1, "2"]], [[-5, -1]], [[1, 2**70]]])}
        topic = d._topic("health")
    elif change == 12:
        # an unsynchronised clock in year 1 with a visit at the end of 9999: moved to the
        # hub's clock it would leave the calendar
        doc["type"], doc["zone_id"], doc["clock_synced"] = "dwell", d.zone, False
        doc["ts"] = "0001-01-01T00:00:00.000Z"
        doc["data"] = {"track": 3, "enter": "9999-12-31T00:00:00.000Z",
                       "exit": "9999-12-31T00:00:01.000Z", "dwell_s": 1}
        topic = d._topic("dwell")
    elif change == 13 and d.stored:
        source = json.loads(rng.choice(d.stored).payload)
        doc = {**source, "seq": d.next_seq}  # a msg_id replayed under a new seq
        topic = d._topic(doc["type"])
    elif change == 14:
        raw = json.dumps(doc).encode().replace(b'"ts": "', b'"ts": "\xff\xfe', 1)
    else:
        field, values = rng.choice([("msg_id", ["not-a-uuid", 2]), ("v", [2, None, [1]]),
                                    ("data", [[], "x", 5]), ("clock_synced", ["yes", 1, None])])
        doc[field] = rng.choice(values)
    return [d._case(kind, doc, QUARANTINED, raw=raw, topic=topic)]


def _no_seq(d: HostileDevice, kind: str) -> list[Case]:
    """Quarantined without taking a seq: it has none to read, or another message's."""
    doc = d._doc()
    change = d.rng.randrange(4)
    raw = None
    if change == 0:
        full = json.dumps(doc).encode()
        raw = full[: d.rng.randint(1, len(full) - 2)]
    elif change == 1:
        raw = json.dumps([1, 2, d.rng.getrandbits(32)]).encode()
    elif change == 2:
        doc["seq"] = d.rng.choice(["7", 0, -3, True, 1.5, 2**63, None])
    elif d.stored:
        doc["seq"] = d.rng.choice(d.stored).seq  # a seq already used, under a new msg_id
    else:
        doc["seq"] = 0
    return [d._case(kind, doc, QUARANTINED, raw=raw, takes_seq=False)]


def _redelivery(d: HostileDevice, kind: str) -> list[Case]:
    if not d.stored:
        return []
    source = d.rng.choice(d.stored)
    return [source._replace(kind=kind, expect=DUPLICATE, seq=None)]


def _status(d: HostileDevice, kind: str) -> list[Case]:
    topic = f"peakend/v1/{d.store}/{d.device}/status"
    bad = d.rng.choice(["\ud800", "\u0000"])
    doc = {"state": "online", "boot_id": f"b{bad}{d.rng.getrandbits(32)}", "role": "edge",
           "zone_id": d.zone, "version": f"1.{bad}", "synced": True}
    return [d._case(kind, doc, STATUS, topic=topic, takes_seq=False)]


_KINDS: dict[str, tuple[Maker, int]] = {
    "unstorable text": (_unstorable_text, 15),
    "odd but valid": (_odd_but_valid, 10),
    "skip notice": (_notice, 6),
    "breaks the contract": (_breaks_contract, 50),
    "no seq of its own": (_no_seq, 10),
    "redelivery": (_redelivery, 6),
    "status": (_status, 3),
}
