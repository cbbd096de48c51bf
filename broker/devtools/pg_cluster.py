"""A throwaway PostgreSQL cluster in a folder of its own, for tests, benchmarks and trials.

``initdb`` in a temporary folder, ``postgres`` on an ephemeral loopback port with its socket
in that folder, trust authentication for the one local user: nothing touches a PostgreSQL the
machine may already run. PostgreSQL refuses to run as root, so as root the cluster runs as the
``postgres`` account (or ``nobody``) and the folder is handed to it.

    with TempCluster.start() as cluster:
        dsn = cluster.create_database("hub")
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from peakend.broker.field.mosquitto import free_port

SUPERUSER = "peakend"


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL server binaries here; the message says what to install."""


def find_bindir() -> Path:
    """The folder with initdb/pg_ctl/postgres: $PG_BINDIR, PATH, or Debian's versioned path."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and all((Path(c) / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return Path(c)
    raise ClusterUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install Debian's "
        "`postgresql` package (or set PG_BINDIR)"
    )


class TempCluster:
    def __init__(self, root: Path, bindir: Path, port: int, user: str | None) -> None:
        self.root = root
        self.bindir = bindir
        self.port = port
        self.user = user  # the account the server runs as (None: ourselves)

    @classmethod
    def start(cls, *, fsync: bool = True, timeout: float = 60.0) -> TempCluster:
        bindir = find_bindir()
        root = Path(tempfile.mkdtemp(prefix="peakend-pg-"))
        user = _server_user()
        if user is not None:
            os.chmod(root, 0o755)
            pw = pwd.getpwnam(user)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        cluster = cls(root, bindir, free_port(), user)
        try:
            cluster._run(
                "initdb", "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            )
            options = (
                f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 "
                f"-c fsync={'on' if fsync else 'off'} -c max_connections=100 "
                "-c shared_buffers=64MB"
            )
            cluster._run(
                "pg_ctl", "-D", str(cluster.data), "-o", options, "-l", str(root / "server.log"),
                "-w", "-t", str(int(timeout)), "start",
            )
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempCluster:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def _run(self, binary: str, *args: str) -> None:
        cmd = [str(self.bindir / binary), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise subprocess.CalledProcessError(
                result.returncode, cmd, output=result.stdout, stderr=result.stderr + tail
            )


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return name
    raise ClusterUnavailable("running as root without a `postgres` or `nobody` user and runuser")


def wait_ready(dsn: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
