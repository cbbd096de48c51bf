"""The device registry: ``registry.json`` in the broker folder, written by ``peakend provision``
(and ``--revoke``), read by the aggregator's writer, the fleet page and ``peakend doctor``.

On disk (unchanged since the first release)::

    {"devices": {"kiosk-01": {"store": "s001", "zones": ["checkout"], "role": "kiosk",
                              "revoked": false, "provisioned_at": "2026-11-22T11:21:03+00:00"}}}

Every change is a read-modify-write under the file's lock (:func:`edit_registry`), so two
provisions at once, or a provision and a revoke, never lose each other's entry; the new file
replaces the old by rename, so a reader never meets half of one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peakend.broker.device.files import replace_atomically
from peakend.broker.hub.locked_file import locked
from peakend.broker.wire import contract

log = logging.getLogger(__name__)


class RegistryError(ValueError):
    """The registry file cannot be read: ``what`` names the file and the problem, ``fix`` says
    what to do; the message is both."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what, self.fix = what, fix


class RegisteredDevice(BaseModel):
    """One provisioned device."""

    # Keys a newer peakend adds survive a save by this one.
    model_config = ConfigDict(extra="allow")

    store: str = Field(description="the store id the device was provisioned for")
    zones: list[str] = Field(default_factory=list, description="zones it rates or watches")
    role: str | None = Field(default=None, description="kiosk or edge")
    revoked: bool = Field(default=False, description="locked out by `peakend provision --revoke`")
    provisioned_at: str | None = Field(default=None, description="when, ISO 8601 UTC")
    revoked_at: str | None = Field(default=None, description="when it was revoked, ISO 8601 UTC")


class RegistryFile(BaseModel):
    """The whole file: device id -> its entry."""

    model_config = ConfigDict(extra="allow")

    devices: dict[str, RegisteredDevice] = Field(default_factory=dict)

    def to_text(self) -> str:
        doc = self.model_dump(mode="json")
        for entry in doc["devices"].values():
            # Written only when set, as the first release did; other keys are kept as they are.
            for key in _OPTIONAL:
                if entry.get(key) is None:
                    entry.pop(key, None)
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


_OPTIONAL = [name for name, f in RegisteredDevice.model_fields.items() if f.default is None]


def load_registry(path: str | Path) -> RegistryFile:
    """The registry at ``path``; an empty one when there is no file yet."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return RegistryFile()
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read it ({exc})", "check its owner and mode") from None
    try:
        return RegistryFile.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise RegistryError(
            f"{path} is damaged ({where}: {first['msg']})",
            "restore it from a backup, or move it away and provision the devices again",
        ) from None


def save_registry(path: str | Path, registry: RegistryFile) -> None:
    """Replace the file with ``registry`` as a whole, under its lock. To change entries use
    :func:`edit_registry`, which also reads under the lock."""
    path = Path(path)
    with locked(path):
        replace_atomically(path, registry.to_text())


@contextmanager
def edit_registry(path: str | Path) -> Iterator[RegistryFile]:
    """Lock, read, let the caller change the registry, write it back (only when the block
    ends without an exception)."""
    path = Path(path)
    with locked(path):
        registry = load_registry(path)
        yield registry
        replace_atomically(path, registry.to_text())


class Registry:
    """The writer's view of the registry file, read again when the file changes.

    Without a registry file the hub trusts the broker's ACL for the device and the topic for
    the store, and does not check zones.

    ``refresh_on_lookup``: look at the file's modification time on every lookup. The writer
    passes False and calls :meth:`refresh` once per batch instead: a batch of thousands of
    messages would otherwise stat the file thousands of times."""

    def __init__(self, path: str | Path | None, *, refresh_on_lookup: bool = True) -> None:
        self.path = Path(path) if path else None
        self._refresh_on_lookup = refresh_on_lookup
        self._mtime: float | None = -1.0  # never read yet
        self._devices: dict[str, RegisteredDevice] = {}
        self._trust = False

    def check(self, envelope: contract.Envelope) -> str | None:
        """The reason the envelope does not fit its registered device, or None."""
        checked, device = self._lookup(envelope.device_id)
        if not checked:
            return None
        if device is None or device.revoked:
            return f"device {envelope.device_id!r} is not registered on this hub"
        return _store_mismatch(envelope.device_id, device, envelope.store_id) or _zone_mismatch(
            envelope.device_id, device, envelope.zone_id
        )

    def status_problem(
        self, device_id: str, store_id: str, zone_id: str | None = None
    ) -> str | None:
        """Why a status on ``store_id`` naming ``zone_id`` cannot be ``device_id``'s, or None.
        A revoked or unknown device's status is recorded (revoking sets it offline); a store or
        a zone that contradicts the registry is refused, as in an event."""
        checked, device = self._lookup(device_id)
        if not checked or device is None:
            return None
        return _store_mismatch(device_id, device, store_id) or _zone_mismatch(
            device_id, device, zone_id
        )

    def active(self, device_id: str) -> bool:
        """Registered and not revoked (or no registry to say otherwise)."""
        checked, device = self._lookup(device_id)
        return not checked or bool(device and not device.revoked)

    def _lookup(self, device_id: str) -> tuple[bool, RegisteredDevice | None]:
        """(whether a registry is in force, the device's entry)."""
        if self.path is None:
            return False, None
        if self._refresh_on_lookup or self._mtime == -1.0:
            self.refresh()
        if self._trust:
            return False, None
        return True, self._devices.get(device_id)

    def refresh(self) -> None:
        """Read the file again if it changed since the last look."""
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime == self._mtime:
            return
        self._mtime = mtime
        if mtime is None:
            # No registry file (yet): trust the broker's ACL rather than quarantine everyone.
            log.warning("no device registry at %s: checking devices by the broker's ACL only",
                        self.path)
            self._devices = {}
            self._trust = True
            return
        try:
            self._devices = load_registry(self.path).devices
            self._trust = False
        except RegistryError as exc:
            # A damaged file (edited by hand, a disk error): keep the registry we had.
            log.error("%s; keeping the last good device registry", exc)


def _zone_mismatch(device_id: str, device: RegisteredDevice, zone_id: str | None) -> str | None:
    zones = device.zones
    if zone_id is None or not zones or zone_id in zones:
        return None
    return f"zone {zone_id!r} is not a zone registered for {device_id} ({', '.join(zones)})"


def _store_mismatch(device_id: str, device: RegisteredDevice, store_id: str) -> str | None:
    if store_id == device.store:
        return None
    return (f"store {store_id!r} does not match store {device.store!r} "
            f"registered for {device_id}")
