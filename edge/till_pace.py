"""The till's pace, kept across a restart.

A queue's predicted wait needs the till's pace: the gaps between calls that were one service
each, and the quickest walk through the empty lane. A fresh start knows neither, so for the
first service or two after a power cut or an update nobody in line got a predicted wait.
Kept here, the next start predicts from the first call. The kept gaps serve until the first
fresh one, which replaces them; the kept walk until the first fresh crossing
(estimators.py).

One small JSON file per camera (``queue.pace_path``), by zone name: numbers of seconds, no
times of day and nothing about anyone.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from peakend.broker.device.files import replace_atomically

log = logging.getLogger(__name__)

# A gap between two calls of less than half a second is one shopper counted twice, and one
# of over half an hour no service (a lane that never emptied while the till was shut); no
# walk through a lane takes that long either. Such numbers are neither kept nor read back.
SHORTEST_GAP_S = 0.5
LONGEST_S = 1800.0


@dataclass(frozen=True)
class TillPace:
    """One queue's latest service gaps (seconds, oldest first) and its quickest walk."""

    gaps: tuple[float, ...]
    walk_s: float | None = None


@dataclass(frozen=True)
class SavedPace:
    zones: dict[str, TillPace]

    def write(self, path: Path) -> None:
        """Write what ``read`` will take back (a gap no till makes is left out)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            name: {"gaps": [round(g, 3) for g in pace.gaps if _gap(g)],
                   "walk_s": round(pace.walk_s, 3) if _seconds(pace.walk_s) else None}
            for name, pace in sorted(self.zones.items())
        }
        replace_atomically(path, json.dumps({"zones": doc}))  # never half a file behind a power cut

    @classmethod
    def read(cls, path: Path) -> SavedPace | None:
        """The kept pace of each zone whose entry can be trusted; None without a file or
        when none can. What is dropped is learned again, as on a first start."""
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            log.warning("the till's pace in %s cannot be read (%s); it is learned again",
                        path, type(exc).__name__)
            return None
        entries = doc.get("zones") if isinstance(doc, dict) else None
        if not isinstance(entries, dict):
            log.warning("%s holds no till's pace; it is learned again", path)
            return None
        zones: dict[str, TillPace] = {}
        for name, entry in entries.items():
            pace = _entry(entry)
            if pace is None:
                log.warning("the till's pace of zone %r in %s is damaged; it is learned again",
                            name, path)
            else:
                zones[str(name)] = pace
        return cls(zones) if zones else None


def _entry(entry: object) -> TillPace | None:
    # Whole or not at all: one impossible number says the entry was damaged, and what is
    # left of it is not the pace the camera kept.
    if not isinstance(entry, dict):
        return None
    gaps, walk = entry.get("gaps"), entry.get("walk_s")
    if not isinstance(gaps, list) or not all(map(_gap, gaps)):
        return None
    if walk is not None and not _seconds(walk):
        return None
    return TillPace(tuple(float(g) for g in gaps), None if walk is None else float(walk))


def _gap(value: object) -> bool:
    return _seconds(value) and SHORTEST_GAP_S <= float(value)  # type: ignore[arg-type]


def _seconds(value: object) -> bool:
    # JSON numbers only (true is not 1 s), and a span a till could take.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value)) and 0.0 <= float(value) <= LONGEST_S
    except OverflowError:  # an integer of hundreds of digits
        return False
