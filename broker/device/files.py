"""Replacing a file so that a reader, or a power cut, never meets it half written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_atomically(
    path: Path, text: str, *, mode: int | None = None, owner: tuple[int, int] | None = None
) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk and rename it over
    ``path``. ``mode`` defaults to the mode of the file it replaces (0o644 for a new one), so
    a file other users read stays readable and a private one (a device config holds its MQTT
    password) stays private; ``owner`` is (uid, gid) to hand it to, by default the replaced
    file's when root rewrites it."""
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    if mode is None:
        mode = old.st_mode & 0o777 if old else 0o644
    if owner is None and old is not None and os.geteuid() == 0:
        owner = (old.st_uid, old.st_gid)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
