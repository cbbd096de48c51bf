"""Failed logins, counted per account and per address, and a lockout that expires.

A guesser gets a handful of tries per account and a few dozen per address, then waits: the
lockout ends by itself (no admin needed), and it is checked before any password is hashed.
A refused try is answered only after a pause (``refusal_pause_s``) that holds no thread, so a
guesser who keeps going gets one answer a second per connection: four such guessers made a
manager's page 2.5-3 times slower when refusals were answered at once. Counts live in the web
process's memory: a restart forgets them, which only gives a guesser a few more tries per
restart.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    # At most this many accounts and addresses are remembered; the least recently failed go
    # first, so rotating names or addresses cannot make the web's memory grow without bound.
    MAX_KEYS = 20_000

    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window_s: float = 900.0,
        lockout_s: float = 300.0,
        refusal_pause_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"account": per_account, "address": per_address}
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.refusal_pause_s = refusal_pause_s
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, account: str, address: str) -> float | None:
        """Seconds until this account may be tried again from this address; None: now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in (("account", account.casefold()), ("address", address)):
                times = self._recent(key, now)
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, times[-1] + self.lockout_s - now)
        return wait if wait > 0 else None

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (("account", account.casefold()), ("address", address)):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, account: str) -> None:
        """The right password: the account's count starts again (its address's does not, so
        one known account cannot be used to reset a guesser's count)."""
        with self._lock:
            self._failures.pop(("account", account.casefold()), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        # a failure counts for the window, or until the lockout it caused has run out
        keep = max(self.window_s, self.lockout_s)
        while times and times[0] <= now - keep:
            times.popleft()
        return times
