"""Files that several processes rewrite: an exclusive lock around read-modify-write, and a
replace that a reader never sees half done.

``peakend provision`` and ``--revoke`` run as separate processes (a tech may run two at once)
while the aggregator and the web read the same files: without the lock the later writer puts
back what it read before the other's change and that change is lost; without the rename a
reader can meet a half-written file."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (a ``.lock`` file beside it, since the file itself
    is replaced by rename and a lock on its old inode would guard nothing)."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def replace_atomically(
    path: Path, text: str, *, mode: int | None = None, owner: tuple[int, int] | None = None
) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk and rename it over
    ``path``. ``mode`` defaults to the mode of the file it replaces (0o644 for a new one),
    so a file other users read stays readable; ``owner`` is (uid, gid) to hand it to."""
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
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
