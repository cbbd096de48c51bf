"""When a service-recovery alert opens, stays, updates and closes: pure rules, no database.

:class:`peakend.broker.hub.reports.alerts.AlertMonitor` reads a zone's recent waits and
presses, asks :func:`wait_reading` and :func:`unhappy_reading` what they amount to, asks
:func:`decide` what to do with the zone's open alert of that kind, and carries the answer out.
No storms: one open alert per zone and cause, hysteresis (an alert closes only once its value
falls below ``clear_ratio`` of the threshold, and not before ``min_open_min``), and a cool-down
before the same cause opens again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import numpy as np

from peakend.broker.hub.config import AlertRule
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports.analytics import fmt_duration


@dataclass(frozen=True)
class Reading:
    """What a zone shows right now for one cause."""

    kind: str  # "wait" or "unhappy"
    value: float | None
    threshold: float
    cause: str

    @property
    def over(self) -> bool:
        """A wait alert needs the p90 above its threshold; an unhappy alert opens at the
        threshold's count of presses."""
        if self.value is None:
            return False
        return self.value > self.threshold if self.kind == "wait" else self.value >= self.threshold


class Action(Enum):
    NOTHING = "nothing"
    OPEN = "open"
    UPDATE = "update"  # still over: keep the cause current, without announcing it again
    CLOSE = "close"


def wait_reading(zone: str, waits: list[float], rule: AlertRule) -> Reading:
    """The p90 of the measured waits of people who left the queue in the rule's window; no
    value while fewer than ``wait_min_people`` did (two slow people are not a queue)."""
    threshold = rule.wait_p90_s or 0.0
    if len(waits) < rule.wait_min_people:
        return Reading("wait", None, threshold, "")
    p90 = float(np.percentile(np.asarray(waits, dtype=float), 90))
    cause = (f"{zone} p90 wait {fmt_duration(p90)} over the last {rule.wait_window_min:g} "
             f"min ({len(waits)} people; threshold {fmt_duration(threshold)})")
    return Reading("wait", p90, threshold, cause)


def unhappy_reading(zone: str, count: int, rule: AlertRule, wait: Reading) -> Reading:
    """Unhappy presses in the rule's window; the cause names the wait too, since that is
    what staff can act on."""
    cause = f"{count} unhappy in {rule.unhappy_window_min:g} min"
    if wait.value is not None:
        cause += f"; {zone} p90 wait {fmt_duration(wait.value)}"
    return Reading("unhappy", float(count), float(rule.unhappy_count or 0), cause)


# The causes above are stored in English (the alert's record, its API field and its messages
# keep them as written); pages and digests say them again in the reader's language. Kept
# beside the f-strings that write them, so a change to one shows in the other. A cause of
# another shape (an older hub's) is shown as it was written.
_WAIT_CAUSE = re.compile(r"(?P<zone>\S+) p90 wait (?P<p90>[\d:]+) over the last (?P<window>[\d.]+) "
                         r"min \((?P<people>\d+) people; threshold (?P<threshold>[\d:]+)\)")
_UNHAPPY_CAUSE = re.compile(r"(?P<count>\d+) unhappy in (?P<window>[\d.]+) min"
                            r"(?:; (?P<zone>\S+) p90 wait (?P<p90>[\d:]+))?")


def cause_text(cause: str) -> str:
    """An alert's stored cause in the current language."""
    if m := _WAIT_CAUSE.fullmatch(cause):
        return _("%(zone)s p90 wait %(p90)s over the last %(window)s min (%(people)s people; "
                 "threshold %(threshold)s)") % m.groupdict()
    if m := _UNHAPPY_CAUSE.fullmatch(cause):
        text = _("%(count)s unhappy in %(window)s min") % m.groupdict()
        if m.group("zone"):
            text += _("; %(zone)s p90 wait %(p90)s") % m.groupdict()
        return text
    return cause


def decide(
    reading: Reading,
    rule: AlertRule,
    now: datetime,
    *,
    opened_at: datetime | None,
    closed_recently: bool,
) -> Action:
    """What to do with the zone's alert of this kind. ``opened_at``: when the open one opened
    (None: none is open); ``closed_recently``: one of this kind closed within the cool-down."""
    if opened_at is None:
        return Action.OPEN if reading.over and not closed_recently else Action.NOTHING
    clear = reading.value is None or reading.value < reading.threshold * rule.clear_ratio
    if clear and now - opened_at >= timedelta(minutes=rule.min_open_min):
        return Action.CLOSE
    return Action.UPDATE if reading.over else Action.NOTHING
