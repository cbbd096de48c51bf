"""mosquitto, configured and supervised by peakend.

``prepare()`` lays out a broker folder (idempotent: credentials survive, the config is
rewritten from the current options); ``Mosquitto`` runs the real binary and waits until it
accepts connections. Choices that differ from mosquitto's defaults, and why:

- ``max_queued_messages``: the default 1000 silently drops QoS 1 messages for a client that is
  away, e.g. the aggregator during a restart.
- ``autosave_interval 1``: the default writes the persistence file every 30 minutes, so a
  ``kill -9`` loses what arrived since; once a second is as close to "every message" as
  mosquitto gets without rewriting its whole database per message. The device outbox covers the
  last second: nothing leaves it until the hub has stored it.
- Devices authenticate with their id as user name and may only write below their own topic and
  read their own ack (``pattern`` lines with ``%u``); a publish outside that gets the client
  disconnected, which is what an impostor deserves.
- ``use_username_as_clientid true``: the broker names every connection by its account,
  whatever client id it asked for. Otherwise any device account could connect as
  ``peakend-aggregator`` (or as another device), knock that client off again and again and
  receive its persistent session. So every process that connects has an account of its own:
  each device, each store bridge, the aggregator, each aggregator worker of a chain
  (:func:`hub_account`) and the hub's tools (``peakend-tools``: doctor, revocation, bridge
  status), which must not share the aggregator's account and so knock it off.
  (``clientid_prefixes`` cannot do this: one prefix for every account ties no id to an account.)
- When started as root, mosquitto drops to the ``mosquitto`` user, so the folders it writes must
  be owned by that user and every folder above must be traversable.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from peakend.broker.device.config import parse_mqtt_url
from peakend.broker.device.files import replace_atomically
from peakend.broker.hub.locked_file import locked
from peakend.broker.wire.forms import is_slug

log = logging.getLogger(__name__)

AGGREGATOR_USER = "peakend-aggregator"
TOOLS_USER = "peakend-tools"
# Accounts with the hub's rights are named peakend-...; device ids may not start so (provision).
HUB_PREFIX = "peakend-"
MOSQUITTO_USER = "mosquitto"
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for its $7$ (PBKDF2-SHA512) hashes
# Device ids (slugs), the hub's account and bridge accounts.
_ACCOUNT = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


class BrokerError(RuntimeError):
    """The broker cannot be prepared or started; the message says what to do."""


@dataclass(frozen=True)
class BrokerDir:
    """The files of one broker folder."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def conf_d(self) -> Path:
        """Sections peakend adds to a prepared broker (a store's bridge): ``prepare`` rewrites
        mosquitto.conf on every start, so they live in files of their own, included from it."""
        return self.root / "conf.d"

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    @property
    def acl(self) -> Path:
        return self.root / "acl"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def registry(self) -> Path:
        return self.root / "registry.json"

    @property
    def aggregator_url(self) -> Path:
        return self.root / "aggregator.url"

    @property
    def tools_url(self) -> Path:
        return self.root / "tools.url"

    @property
    def hub_accounts(self) -> Path:
        """URL files of the hub accounts beyond the aggregator's: a chain's workers."""
        return self.root / "hub"

    @property
    def devices(self) -> Path:
        return self.root / "devices"

    @property
    def pid_file(self) -> Path:
        return self.root / "mosquitto.pid"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def tls_port_file(self) -> Path:
        """Present while the broker is set up for TLS: devices are then given mqtts:// URLs."""
        return self.root / "tls_port"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def install(self) -> Path:
        """One-time install scripts waiting to be fetched by a device (see provision)."""
        return self.root / "install"

    def tls_port(self) -> int | None:
        try:
            return int(self.tls_port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


def prepare(
    root: str | Path,
    *,
    port: int,
    bind: str = "127.0.0.1",
    tls: TlsFiles | None = None,
    tls_port: int | None = None,
    plain_bind: str | None = None,
) -> BrokerDir:
    """Create or refresh a broker folder; existing credentials are kept.

    With ``tls`` and ``tls_port`` devices connect by TLS on ``bind:tls_port``; the plain
    listener then stays on ``plain_bind`` (the caller picks loopback, so only the hub's own
    aggregator uses it)."""
    d = BrokerDir(Path(root).resolve())
    d.root.mkdir(parents=True, exist_ok=True)
    for sub in (d.data, d.logs, d.devices, d.conf_d, d.hub_accounts):
        sub.mkdir(exist_ok=True)
    os.chmod(d.root, 0o755)
    plain = plain_bind or bind
    if not d.passwd.exists():
        d.passwd.write_text("")
    # The aggregator runs next to the broker: it always uses the plain listener. Its password
    # is made once; host and port are written again on every start, since they may change.
    host = plain if plain not in ("0.0.0.0", "::") else "127.0.0.1"
    _keep_hub_account(d, AGGREGATOR_USER, d.aggregator_url, host, port)
    _keep_hub_account(d, TOOLS_USER, d.tools_url, host, port)
    for url_file in sorted(d.hub_accounts.glob("*.url")):
        _keep_hub_account(d, url_file.stem, url_file, host, port)
    write_acl(d)
    d.conf.write_text(
        config_text(d, port=port, bind=bind, tls=tls, tls_port=tls_port, plain_bind=plain)
    )
    d.port_file.write_text(f"{port}\n")
    if tls and tls_port:
        d.tls_port_file.write_text(f"{tls_port}\n")
    else:
        d.tls_port_file.unlink(missing_ok=True)
    _hand_to_mosquitto_user(d)
    return d


def config_text(
    d: BrokerDir,
    *,
    port: int,
    bind: str,
    tls: TlsFiles | None,
    tls_port: int | None,
    plain_bind: str | None = None,
) -> str:
    lines = [
        "# Written by `peakend broker`; edits are overwritten on the next start.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {d.passwd}",
        f"acl_file {d.acl}",
        "",
        f"listener {port} {plain_bind or bind}",
        "protocol mqtt",
    ]
    if tls and tls_port:
        lines += [
            "",
            f"listener {tls_port} {bind}",
            "protocol mqtt",
            f"cafile {tls.ca}",
            f"certfile {tls.cert}",
            f"keyfile {tls.key}",
            "tls_version tlsv1.2",
        ]
    lines += [
        "",
        "# Client id = account (see the module's doc): no account can take over another's",
        "# connection or persistent session.",
        "use_username_as_clientid true",
        "",
        "persistence true",
        f"persistence_location {d.data}/",
        "autosave_interval 1",
        "autosave_on_changes false",
        "persistent_client_expiration 14d",
        "max_queued_messages 1000000",
        "max_queued_bytes 0",
        "max_inflight_messages 2000",
        "max_packet_size 65536",
        "",
        "log_dest stdout",
        f"log_dest file {d.logs}/mosquitto.log",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "",
        f"include_dir {d.conf_d}",
        "",
    ]
    return "\n".join(lines)


def acl_text(hub_users: list[str] | None = None) -> str:
    """The hub's accounts (default: the aggregator's and the tools') read every device and
    write acks and alerts; every other account is a device (or, at a chain's centre, a store
    bridge with a block of its own)."""
    lines = ["# The hub's accounts (aggregator, workers, tools) read every device and write",
             "# acks and alerts."]
    for user in hub_users or [AGGREGATOR_USER, TOOLS_USER]:
        lines += [f"user {user}", "topic readwrite peakend/v1/#", ""]
    return "\n".join(
        [
            *lines,
            "# Every other account is a device whose user name is its id (%u).",
            "pattern write peakend/v1/+/%u/status",
            "pattern write peakend/v1/+/%u/evt/+",
            "pattern read peakend/v1/+/%u/ack",
            "",
        ]
    )


# -- credentials ------------------------------------------------------------------------------


def new_password() -> str:
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A mosquitto 2 ``$7$`` password hash (PBKDF2-SHA512), as mosquitto_passwd writes it."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def set_password(d: BrokerDir, username: str, password: str) -> None:
    # One "user:hash" line per account: a name with a colon, a newline or a space would write
    # a broken line (or a second account), whoever called.
    if not _ACCOUNT.fullmatch(username):
        raise ValueError(f"{username!r} cannot be an account name: use lowercase letters, "
                         "digits and dashes")
    # Locked: two provisions at once must not drop each other's account.
    with locked(d.passwd):
        lines = [ln for ln in _read_lines(d.passwd) if ln.split(":", 1)[0] != username]
        lines.append(f"{username}:{hash_password(password)}")
        _write_private(d.passwd, "\n".join(lines) + "\n")
    _hand_to_mosquitto_user(d)


def remove_user(d: BrokerDir, username: str) -> bool:
    with locked(d.passwd):
        lines = _read_lines(d.passwd)
        kept = [ln for ln in lines if ln.split(":", 1)[0] != username]
        _write_private(d.passwd, "\n".join(kept) + ("\n" if kept else ""))
    _hand_to_mosquitto_user(d)
    return len(kept) != len(lines)


def hub_users(d: BrokerDir) -> list[str]:
    """The accounts with the hub's rights: the aggregator, the tools and a chain's workers."""
    return [AGGREGATOR_USER, TOOLS_USER, *sorted(p.stem for p in d.hub_accounts.glob("*.url"))]


def write_acl(d: BrokerDir) -> None:
    # A chain's centre keeps its store bridges' accounts (bridges.json) across starts.
    from peakend.broker.field.bridge import centre_acl, load_bridges

    d.acl.write_text(centre_acl(list(load_bridges(d).values()), hub_users(d)))


def hub_account(root: str | Path, name: str) -> str:
    """The MQTT URL of the hub account ``name`` (``peakend-...``), made if missing.

    The broker names a connection by its account, so two aggregator workers on one account
    would knock each other off: each worker of a chain (``peakend serve --shared GROUP
    --client-id NAME``) gets its own account, with the aggregator's rights and host."""
    d = BrokerDir(Path(root).resolve())
    if name == AGGREGATOR_USER:
        return aggregator_url(d.root)
    if not (name.startswith(HUB_PREFIX) and is_slug(name)) or name == TOOLS_USER:
        raise BrokerError(
            f"{name!r} cannot be a hub account: name a worker peakend-<letters, digits, "
            "dashes>, e.g. peakend-worker-1"
        )
    url_file = d.hub_accounts / f"{name}.url"
    known = any(ln.split(":", 1)[0] == name for ln in _read_lines(d.passwd))
    if url_file.exists() and known:
        return url_file.read_text().strip()
    agg = parse_mqtt_url(aggregator_url(d.root))
    try:
        d.hub_accounts.mkdir(exist_ok=True)
        _keep_hub_account(d, name, url_file, agg.host, agg.port)
        write_acl(d)
    except OSError as exc:
        raise BrokerError(
            f"the hub account {name} does not exist yet and cannot be made here ({exc.strerror}"
            f"): run the same command once as the owner of {d.root} (e.g. with sudo)"
        ) from None
    reload_running_broker(d)
    return url_file.read_text().strip()


def _keep_hub_account(d: BrokerDir, user: str, url_file: Path, host: str, port: int) -> None:
    """Make the account once; its URL is written again on every start (host and port may
    change)."""
    password = _existing_password(d, user, url_file)
    if password is None:
        password = new_password()
        set_password(d, user, password)
    _write_private(url_file, f"mqtt://{user}:{password}@{host}:{port}\n")


def _existing_password(d: BrokerDir, user: str, url_file: Path) -> str | None:
    try:
        url = parse_mqtt_url(url_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    has_account = any(ln.startswith(f"{user}:") for ln in _read_lines(d.passwd))
    return url.password if has_account and url.username == user else None


def password_matches(d: BrokerDir, user: str, password: str) -> bool:
    """Whether ``password`` is the one the broker's password file holds for ``user``: checked
    on the file, as logging in to check it would knock off whoever uses the account."""
    for line in _read_lines(d.passwd):
        name, _, stored = line.partition(":")
        if name != user:
            continue
        parts = stored.split("$")  # "", "7", iterations, salt, digest
        if len(parts) != 5 or parts[1] != "7":
            return False
        salt = base64.b64decode(parts[3])
        digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]))
        return secrets.compare_digest(base64.b64encode(digest).decode(), parts[4])
    return False


def aggregator_url(root: str | Path) -> str:
    d = BrokerDir(Path(root))
    try:
        return d.aggregator_url.read_text().strip()
    except FileNotFoundError:
        raise BrokerError(
            f"{d.aggregator_url} does not exist: run `peakend broker --data {d.root}` first"
        ) from None


def tools_url(root: str | Path) -> str:
    """The account of the hub's tools (doctor, revocation, bridge status): never the
    aggregator's, whose connection and session a tool would take over."""
    d = BrokerDir(Path(root))
    try:
        return d.tools_url.read_text().strip()
    except FileNotFoundError:
        raise BrokerError(
            f"{d.tools_url} does not exist: run `peakend broker --data {d.root}` (this version "
            "makes it) first"
        ) from None


# -- running it -------------------------------------------------------------------------------


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)),
        None,
    )
    if not found:
        raise BrokerError(
            "mosquitto is not installed: `sudo apt-get install mosquitto` (or run `make demo`, "
            "which installs it)"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Mosquitto:
    """A mosquitto process for one broker folder."""

    def __init__(self, d: BrokerDir, *, port: int, host: str = "127.0.0.1") -> None:
        self.dir = d
        self.port = port
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0, *, quiet: bool = True) -> None:
        out = subprocess.DEVNULL if quiet else None
        # Its own session: Ctrl-C in a terminal reaches the whole process group, and the broker
        # must outlive the devices and the aggregator that are still finishing their work; the
        # supervisor stops it last (stop()).
        self.proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.dir.conf)], stdout=out, stderr=out,
            start_new_session=True,
        )
        self.dir.pid_file.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise BrokerError(
                        f"mosquitto exited with code {self.proc.returncode} at start; "
                        f"see {self.dir.logs}/mosquitto.log"
                    )
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.2):
                        return
                except OSError:
                    time.sleep(0.05)
        except BaseException:
            self.kill()  # Ctrl-C while waiting: its own session would outlive us otherwise
            raise
        self.kill()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL: what a power cut does; only the last autosave survives."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.dir.pid_file.unlink(missing_ok=True)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reload(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)


def reload_running_broker(d: BrokerDir) -> bool:
    """Ask a running broker of this folder to re-read passwords and ACL (SIGHUP)."""
    try:
        pid = int(d.pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False


# -- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def _read_lines(path: Path) -> list[str]:
    try:
        return [ln for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        return []


def _write_private(path: Path, text: str) -> None:
    replace_atomically(path, text, mode=0o600)


def _hand_to_mosquitto_user(d: BrokerDir) -> None:
    """As root, mosquitto drops to its own user: give it what it must read and write."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam(MOSQUITTO_USER)
    except KeyError:
        return
    _check_traversable(d.root, user)
    for path in (d.data, d.logs):
        for sub in [path, *path.rglob("*")]:
            os.chown(sub, user.pw_uid, user.pw_gid)
    for path in (d.passwd, d.acl):
        if path.exists():
            os.chown(path, user.pw_uid, user.pw_gid)
            os.chmod(path, 0o600)
    if d.tls_dir.exists():
        # The server's key must be readable by mosquitto; the CA's key stays root's alone.
        os.chmod(d.tls_dir, 0o755)
        for name in ("ca.pem", "server.pem", "server.key"):
            path = d.tls_dir / name
            if path.exists():
                os.chown(path, user.pw_uid, user.pw_gid)


def _check_traversable(root: Path, user: pwd.struct_passwd) -> None:
    for parent in [root, *root.parents]:
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            continue
        if not st.st_mode & 0o001:
            raise BrokerError(
                f"mosquitto runs as user {user.pw_name} and cannot enter {parent}: "
                f"choose a broker folder outside it (e.g. /var/lib/peakend/broker) "
                f"or `chmod o+x {parent}`"
            )
