"""One-time install scripts: how a device's config and the hub's CA reach a Pi with one paste.

``peakend provision`` writes the script for a device into BROKER_DIR/install, named by the
SHA-256 of a random token (the token itself is stored nowhere), and prints a command that
fetches it from the hub's web once, checks its SHA-256 and runs it:

    curl -fsS --pinnedpubkey 'sha256//KEYHASH' -k https://HUB:8443/install/TOKEN.sh
      -o peakend-install.sh && echo "SHA256  peakend-install.sh" | sha256sum -c --quiet
      && sudo bash peakend-install.sh

(one line). The script holds the device's MQTT password, so it comes over HTTPS. A fresh Pi
has no copy of the hub's CA yet (the script brings it), so instead of a CA the command pins the
hash of the web certificate's public key: ``-k`` only skips the CA check, curl still refuses
any other key (curl's documentation: the pin is independent of peer verification), so nobody
on the store network can read the script or stand in for the hub. When the broker folder has
no web certificate (``--web-url`` pointing at a web with a certificate the Pi already trusts),
the command has no pin and curl checks the certificate as usual. A hub web with HTTPS voids a
link asked for over its plain HTTP port, whose token crossed the network in clear.

The first fetch deletes the script (a second one gets 404) and a script not fetched within its
lifetime is refused and removed. The pinned hash means a script altered on the way is not run;
someone who fetches it first makes the tech's paste fail loudly, and the tech provisions again,
which also replaces the password the stolen copy held.

``peakend serve`` notes where its web listens (:func:`record_web`), so ``provision`` prints a
command for the web that actually runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from peakend.broker.device.files import replace_atomically
from peakend.broker.field.mosquitto import BrokerDir

DEFAULT_TTL_S = 30 * 60
PI_CONFIG_DIR = "/etc/peakend"
PI_STATE_DIR = "/var/lib/peakend"
PI_PEAKEND = "/opt/peakend/bin/peakend"
# Not *.json: those are the scripts' own notes (see drop_device).
WEB_RECORD = "web-ports"


@dataclass(frozen=True)
class InstallScript:
    token: str
    sha256: str
    path: Path
    expires_at: float

    def command(self, web_url: str, pin: str | None = None) -> str:
        """The line a tech pastes on the Pi; ``pin`` (``sha256//...``) for an https web with
        a certificate the Pi cannot verify yet."""
        url = f"{web_url.rstrip('/')}/install/{self.token}.sh"
        fetch = f"curl -fsS --pinnedpubkey '{pin}' -k {url}" if pin else f"curl -fsS {url}"
        return (
            f"{fetch} -o peakend-install.sh && echo \"{self.sha256}  peakend-install.sh\""
            " | sha256sum -c --quiet && sudo bash peakend-install.sh"
        )


def create(
    d: BrokerDir,
    *,
    device_id: str,
    role: str,
    config_text: str,
    ca_pem: str | None,
    ttl_s: float = DEFAULT_TTL_S,
    now: float | None = None,
) -> InstallScript:
    """Write the script for one device; earlier unfetched scripts of that device are dropped."""
    d.install.mkdir(mode=0o700, exist_ok=True)
    sweep(d.root, now=now)
    drop_device(d, device_id)
    token = secrets.token_urlsafe(24)
    name = _name(token)
    text = script_text(device_id=device_id, role=role, config_text=config_text, ca_pem=ca_pem)
    expires = (now if now is not None else time.time()) + ttl_s
    _write_private(d.install / f"{name}.json",
                   json.dumps({"device": device_id, "role": role, "expires_at": expires}))
    _write_private(d.install / f"{name}.sh", text)
    return InstallScript(token, hashlib.sha256(text.encode()).hexdigest(),
                         d.install / f"{name}.sh", expires)


def claim(root: str | Path, token: str, *, now: float | None = None) -> str | None:
    """The script for ``token``, once: it is removed as it is read. None if unknown, used or
    expired (an expired one is removed too)."""
    d = BrokerDir(Path(root))
    if not token or len(token) > 100:
        return None
    name = _name(token)
    script, meta = d.install / f"{name}.sh", d.install / f"{name}.json"
    taken = d.install / f"{name}.taken-{secrets.token_hex(4)}"
    try:
        # rename is atomic: of two fetches at the same moment only one gets the file.
        os.rename(script, taken)
    except FileNotFoundError:
        return None
    try:
        expires = float(json.loads(meta.read_text()).get("expires_at", 0))
    except (FileNotFoundError, ValueError):
        expires = 0.0
    try:
        text = taken.read_text()
    finally:
        taken.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
    if (now if now is not None else time.time()) > expires:
        return None
    return text


def sweep(root: str | Path, *, now: float | None = None) -> int:
    """Delete every expired script (each holds a live MQTT password) and any left half-claimed
    by a crash; returns how many scripts went. Run by the web every minute and by each
    provision, so an expired script does not wait on disk for someone to ask for its link."""
    d = BrokerDir(Path(root))
    if not d.install.exists():
        return 0
    now = now if now is not None else time.time()
    swept = 0
    for meta in d.install.glob("*.json"):
        try:
            expires = float(json.loads(meta.read_text()).get("expires_at", 0))
        except (OSError, ValueError):
            expires = 0.0
        if now > expires:
            meta.with_suffix(".sh").unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            swept += 1
    for leftover in d.install.glob("*.taken-*"):
        if now - leftover.stat().st_mtime > 60:
            leftover.unlink(missing_ok=True)
    for script in d.install.glob("*.sh"):
        if not script.with_suffix(".json").exists():
            script.unlink(missing_ok=True)  # no expiry known: treat as expired
            swept += 1
    return swept


def drop_device(d: BrokerDir, device_id: str) -> int:
    """Remove unfetched scripts of a device (after a revoke or a new provision)."""
    dropped = 0
    if not d.install.exists():
        return 0
    for meta in d.install.glob("*.json"):
        try:
            owner = json.loads(meta.read_text()).get("device")
        except (OSError, ValueError):
            continue
        if owner == device_id:
            meta.with_suffix(".sh").unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            dropped += 1
    return dropped


def record_web(d: BrokerDir, *, https_port: int | None, http_port: int | None) -> None:
    """Where this hub's web listens, for the install commands ``provision`` prints."""
    d.install.mkdir(mode=0o700, exist_ok=True)
    _write_private(d.install / WEB_RECORD,
                   json.dumps({"https_port": https_port, "http_port": http_port}))


def recorded_web(d: BrokerDir) -> dict[str, int | None] | None:
    """What :func:`record_web` last noted, or None (no web started with this folder yet)."""
    try:
        doc = json.loads((d.install / WEB_RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    return {k: doc.get(k) if isinstance(doc.get(k), int) else None
            for k in ("https_port", "http_port")}


def script_text(*, device_id: str, role: str, config_text: str, ca_pem: str | None) -> str:
    """The bash script a Pi runs: config (and CA) into /etc/peakend, then the service started."""
    config_file = f"{PI_CONFIG_DIR}/{role}.toml"
    service = f"peakend-{role}"
    lines = [
        "#!/usr/bin/env bash",
        f"# peakend: install the config of device {device_id} ({role}) on this Pi.",
        "# Made by `peakend provision` on the hub; it works once and then expires.",
        "set -euo pipefail",
        '[ "$(id -u)" -eq 0 ] || { echo "run it as root: sudo bash $0" >&2; exit 1; }',
        f'PEAKEND="${{PEAKEND:-{PI_PEAKEND}}}"',
        '# PEAKEND_ROOT: write below another folder instead of / (to try the script out).',
        'R="${PEAKEND_ROOT:-}"',
        f'install -d -m 0755 "$R{PI_CONFIG_DIR}"',
        f'install -d -m 0750 "$R{PI_STATE_DIR}"',
        "group=root",
        "if id peakend >/dev/null 2>&1; then",
        "  group=peakend",
        f'  chown peakend:peakend "$R{PI_STATE_DIR}"',
        "fi",
        "umask 077",
        f"cat > \"$R{config_file}.new\" <<'PEAKEND_CONFIG_END'",
        config_text.rstrip("\n"),
        "PEAKEND_CONFIG_END",
    ]
    files = [config_file]
    if ca_pem:
        lines += [
            f"cat > \"$R{PI_CONFIG_DIR}/ca.pem.new\" <<'PEAKEND_CA_END'",
            ca_pem.strip(),
            "PEAKEND_CA_END",
        ]
        files.append(f"{PI_CONFIG_DIR}/ca.pem")
    for f in files:
        lines += [
            f'chown root:"$group" "$R{f}.new" && chmod 0640 "$R{f}.new"',
            f'mv -f "$R{f}.new" "$R{f}"',
            f'echo "written: $R{f}"',
        ]
    lines += [
        '# It holds the device password: remove the downloaded copy.',
        'case "$0" in *peakend-install*.sh) rm -f -- "$0" ;; esac',
        'if [ -x "$PEAKEND" ]; then',
        f"  systemctl enable {service}.service >/dev/null 2>&1 || true",
        f"  systemctl restart {service}.service && echo \"started: {service}\"",
        "  sleep 3",
        f'  "$PEAKEND" doctor --config {config_file} || true',
        "else",
        f'  echo "peakend is not installed on this Pi yet: run deploy/pi-setup.sh {role},"',
        f'  echo "then: sudo systemctl restart {service} && peakend doctor --config {config_file}"',
        "fi",
        "",
    ]
    return "\n".join(lines)


def _name(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_private(path: Path, text: str) -> None:
    owner = None
    if os.geteuid() == 0:
        # provision runs as root, the web as the hub's service user, who owns install/
        # (deploy/pi-setup.sh hub makes it so): the scripts must be theirs to read and remove.
        folder = path.parent.stat()
        owner = (folder.st_uid, folder.st_gid)
    replace_atomically(path, text, mode=0o600, owner=owner)
