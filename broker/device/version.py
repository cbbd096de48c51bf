"""The version a device reports in its birth and its technician menu: the installed package's."""

from __future__ import annotations

import functools
from importlib import metadata


@functools.cache
def version() -> str:
    """The installed peakend's version (read once: the kiosk's menu asks every tenth of a
    second, and the metadata lookup walks sys.path)."""
    try:
        return metadata.version("peakend")
    except metadata.PackageNotFoundError:
        return "0+unknown"
