"""Files that several processes rewrite: an exclusive lock around read-modify-write
(the replace a reader never sees half done is
:func:`peakend.broker.device.files.replace_atomically`).

``peakend provision`` and ``--revoke`` run as separate processes (a tech may run two at once)
while the aggregator and the web read the same files: without the lock the later writer puts
back what it read before the other's change and that change is lost; without the rename a
reader can meet a half-written file."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (a ``.lock`` file beside it, since the file itself
    is replaced by rename and a lock on its old inode would guard nothing)."""
    lock_path = path.with_name(path.name + ".lock")
    # read-only is enough for flock, and lets a user who may not write a lock file that root
    # made earlier (a first `sudo peakend provision`) still take it
    fd = os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
