"""A real filesystem of a few hundred KiB for tests of a full disk: a tmpfs mounted in a fresh
folder (root only; otherwise the test is skipped and says why), and a way to fill it up.

Imported by tests as `small_disk`."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(kib: int) -> Iterator[Path]:
    """A folder on a filesystem of ``kib`` KiB, unmounted and removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is tested on a small tmpfs, and mounting one needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small filesystem with")
    root = Path(tempfile.mkdtemp(prefix="peakend-disk-"))
    os.chmod(root, 0o755)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0755", "peakend-test", str(root)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        root.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield root
    finally:
        # lazy: a process of the test may still hold a file open there
        subprocess.run(["umount", "-l", str(root)], capture_output=True)
        root.rmdir()


def fill(folder: Path) -> Path:
    """Take every free byte of the filesystem that holds ``folder``; returns the file that
    holds them (delete it and the space is back)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    assert shutil.disk_usage(folder).free < 4096, "the filesystem still has room"
    return filler
