"""The technician PIN: made per device by `peakend provision`, kept on the device only as a
salted scrypt hash (``pin_hash`` in kiosk.toml).

What the hash buys: the PIN cannot be read off the config file by whoever sees it (a support
ticket, a shared screen, a backup), and one device's PIN says nothing about another's. What it
does not: a few digits are few guesses, so someone holding the file can still try them all,
scrypt only makes each guess cost (about a tenth of a second on a Pi). The pad itself stops a
guesser at the kiosk after three wrong PINs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PIN_DIGITS = 6
# scrypt's cost: 16 MB and a fraction of a second on a Raspberry Pi, paid once per PIN typed.
_N, _R, _P = 2**14, 8, 1
_FORMAT = re.compile(r"^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{43})$")
EXAMPLE = "scrypt$16384$8$1$<salt>$<hash>"


def new_pin(digits: int = PIN_DIGITS) -> str:
    """A random PIN of ``digits`` digits (leading zeros allowed)."""
    return "".join(str(secrets.randbelow(10)) for _ in range(digits))


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash``, the form kept in the config file."""
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def check_pin_hash(text: str) -> str:
    """The text if it is a PIN hash this module made; ValueError (without the text) if not."""
    match = _FORMAT.match(text)
    if not match:
        raise ValueError(f"not a PIN hash of the form {EXAMPLE}")
    n, r, p = (int(g) for g in match.groups()[:3])
    if n < 2 or n & (n - 1) or n > 2**20 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("a PIN hash with scrypt costs out of range")
    return text


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` is the PIN ``stored`` was made from, compared in constant time."""
    match = _FORMAT.match(stored)
    if not match:
        return False
    n, r, p = (int(g) for g in match.groups()[:3])
    salt, key = _unb64(match.group(4)), _unb64(match.group(5))
    tried = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key))
    return hmac.compare_digest(tried, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
