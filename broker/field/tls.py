"""The broker's TLS files: a local CA and a server certificate, made with the openssl command.

A store's hub has no public name, so a public CA cannot vouch for it; ``peakend broker --tls``
makes a private CA once (kept in BROKER_DIR/tls, its key never leaves the hub) and a server
certificate signed by it whose names cover every way devices reach the hub. Devices get the CA
certificate (``ca.pem``) and verify the broker against it, so a device never talks to a
look-alike broker. A tech who has a company CA passes ``--ca --cert --key`` instead; those files
are copied into the folder so the ``mosquitto`` user can read them.

The hub's web (``peakend serve --https``) gets a certificate of its own from the same CA and
with the same names (``web.pem``/``web.key``), its key handed to the ``peakend`` service user,
since mosquitto's key belongs to the ``mosquitto`` user alone. Its key is kept when the
certificate is re-issued, so the public-key pin in install commands (:func:`public_key_pin`)
stays valid; with a company CA the given certificate and key serve the web too.

The ``openssl`` command is used rather than a Python package so the hub needs nothing beyond
Debian's own openssl, which every Raspberry Pi OS and Debian image has.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from peakend.broker.field.mosquitto import BrokerDir, BrokerError, TlsFiles

CA_DAYS = 3650
SERVER_DAYS = 825  # what browsers and most TLS stacks still accept for a leaf certificate
RENEW_BEFORE_DAYS = 30
# The user the hub's web runs as (deploy/systemd/peakend-serve.service).
WEB_USER = "peakend"


def ensure_tls(
    d: BrokerDir,
    hosts: list[str] | None = None,
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> TlsFiles:
    """The TLS files of a broker folder, made or refreshed as needed.

    With ``ca``/``cert``/``key`` given, they are copied in (and checked to belong together).
    Otherwise the folder's own CA is made on first use and the server certificate is re-issued
    when a host name is missing from it or it is close to expiry."""
    d.tls_dir.mkdir(exist_ok=True)
    files = TlsFiles(d.tls_dir / "ca.pem", d.tls_dir / "server.pem", d.tls_dir / "server.key")
    given = [p for p in (ca, cert, key) if p is not None]
    if given:
        if len(given) != 3:
            raise BrokerError("give all three of --ca, --cert and --key, or none of them")
        assert ca and cert and key
        for src in (ca, cert, key):
            if not Path(src).is_file():
                raise BrokerError(f"{src}: no such file")
        _verify_chain(Path(ca), Path(cert))
        _check_key_matches(Path(cert), Path(key))
        shutil.copyfile(ca, files.ca)
        shutil.copyfile(cert, files.cert)
        shutil.copyfile(key, files.key)
        (d.tls_dir / "ca.key").unlink(missing_ok=True)
        files.key.chmod(0o600)
        web = web_files(d)
        shutil.copyfile(cert, web.cert)
        web.key.unlink(missing_ok=True)
        fd = os.open(web.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Path(key).read_bytes())
        _hand_to_web_user(web)
        return files
    names = server_names(hosts or [])
    ca_key = d.tls_dir / "ca.key"
    if not (files.ca.exists() and ca_key.exists()):
        make_ca(files.ca, ca_key)
        files.cert.unlink(missing_ok=True)
    if not files.cert.exists() or not _covers(files.cert, names) or _expires_soon(files.cert):
        make_server_cert(files.ca, ca_key, files.cert, files.key, names)
    ensure_web_cert(d, names)
    return files


def web_files(d: BrokerDir) -> TlsFiles:
    """The web's certificate and key in a broker folder, with the CA that signed them."""
    return TlsFiles(d.tls_dir / "ca.pem", d.tls_dir / "web.pem", d.tls_dir / "web.key")


def ensure_web_cert(d: BrokerDir, names: list[str] | None = None) -> TlsFiles:
    """The web's certificate, issued by the folder's CA (made first if there is none) when it
    is missing, lacks a name or nears expiry; the key is kept across re-issues."""
    web = web_files(d)
    names = server_names(names or [])
    ca_key = d.tls_dir / "ca.key"
    if web.cert.exists() and web.key.exists() and not ca_key.exists():
        return web  # a company CA's certificate, copied in by ensure_tls
    fresh = not (web.cert.exists() and web.key.exists() and ca_key.exists())
    if (fresh or not _signed_by(web.ca, web.cert) or not _covers(web.cert, names)
            or _expires_soon(web.cert)):
        d.tls_dir.mkdir(exist_ok=True)
        if not (web.ca.exists() and ca_key.exists()):
            make_ca(web.ca, ca_key)
        make_server_cert(web.ca, ca_key, web.cert, web.key, names, keep_key=True)
    _hand_to_web_user(web)  # also when the service user was made after the certificate
    return web


def server_names(extra: list[str]) -> list[str]:
    """Names the server certificate must carry: loopback, this machine's names, and ``extra``."""
    names = ["localhost", "127.0.0.1", socket.gethostname()]
    fqdn = socket.getfqdn()
    if fqdn and "." in fqdn:
        names.append(fqdn)
    names += [h for h in extra if h]
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


def make_ca(ca_pem: Path, ca_key: Path) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca_key))
    ca_key.chmod(0o600)
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-sha256", "-days", str(CA_DAYS),
        "-subj", f"/O=peakend/CN=peakend hub CA {socket.gethostname()}",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", str(ca_pem),
    )


def make_server_cert(
    ca_pem: Path, ca_key: Path, cert: Path, key: Path, names: list[str], *, keep_key: bool = False
) -> None:
    if not (keep_key and key.exists()):
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
        key.chmod(0o600)
    san = ",".join(_san_entry(n) for n in names)
    with tempfile.TemporaryDirectory() as tmp:
        csr = Path(tmp) / "server.csr"
        ext = Path(tmp) / "ext.cnf"
        ext.write_text(
            f"subjectAltName={san}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
        )
        _openssl("req", "-new", "-key", str(key), "-subj", f"/O=peakend/CN={names[0]}",
                 "-out", str(csr))
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key),
            "-CAcreateserial", "-CAserial", str(Path(tmp) / "ca.srl"), "-sha256",
            "-days", str(SERVER_DAYS), "-extfile", str(ext), "-out", str(cert),
        )


def cert_names(cert: Path) -> list[str]:
    """The DNS names and IP addresses in a certificate's subjectAltName."""
    text = _openssl("x509", "-in", str(cert), "-noout", "-ext", "subjectAltName")
    names: list[str] = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        for prefix in ("DNS:", "IP Address:"):
            if part.startswith(prefix):
                names.append(part[len(prefix):].strip())
    return names


def cert_expiry(cert: Path) -> datetime:
    text = _openssl("x509", "-in", str(cert), "-noout", "-enddate").strip()
    when = text.split("=", 1)[1]
    return datetime.strptime(when, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)


def fingerprint(cert: Path) -> str:
    """SHA-256 fingerprint as openssl prints it (AA:BB:...), for a tech to compare by eye."""
    text = _openssl("x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256")
    return text.strip().split("=", 1)[1]


def public_key_pin(cert: Path) -> str:
    """``sha256//BASE64`` of the certificate's public key (its DER SubjectPublicKeyInfo), as
    curl's ``--pinnedpubkey`` takes it: a Pi without the CA can still tell the hub's web."""
    pem = _openssl("x509", "-in", str(cert), "-noout", "-pubkey")
    body = "".join(ln for ln in pem.splitlines() if ln and not ln.startswith("-----"))
    digest = hashlib.sha256(base64.b64decode(body)).digest()
    return "sha256//" + base64.b64encode(digest).decode()


# -- helpers ----------------------------------------------------------------------------------


def _san_entry(name: str) -> str:
    try:
        ipaddress.ip_address(name)
        return f"IP:{name}"
    except ValueError:
        return f"DNS:{name}"


def _covers(cert: Path, names: list[str]) -> bool:
    have = {n.lower() for n in cert_names(cert)}
    return all(n.lower() in have for n in names)


def _expires_soon(cert: Path) -> bool:
    return (cert_expiry(cert) - datetime.now(UTC)).days < RENEW_BEFORE_DAYS


def _signed_by(ca: Path, cert: Path) -> bool:
    try:
        _verify_chain(ca, cert)
    except BrokerError:
        return False
    return True


def _verify_chain(ca: Path, cert: Path) -> None:
    try:
        _openssl("verify", "-CAfile", str(ca), str(cert))
    except BrokerError as exc:
        raise BrokerError(f"{cert} is not signed by {ca}: {exc}") from None


def _check_key_matches(cert: Path, key: Path) -> None:
    a = _openssl("x509", "-in", str(cert), "-noout", "-pubkey")
    b = _openssl("pkey", "-in", str(key), "-pubout")
    if a.strip() != b.strip():
        raise BrokerError(f"{key} is not the private key of {cert}")


def _hand_to_web_user(web: TlsFiles) -> None:
    """As root (``peakend broker`` under systemd), give the web's key to the web's user."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam(WEB_USER)
    except KeyError:
        return
    for path in (web.cert, web.key):
        os.chown(path, user.pw_uid, user.pw_gid)


def _openssl(*args: str) -> str:
    exe = shutil.which("openssl")
    if exe is None:
        raise BrokerError("the openssl command is missing: `sudo apt-get install openssl`")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BrokerError(f"openssl {args[0]} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout
