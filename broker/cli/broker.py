"""`peakend broker`: prepare the broker folder on first run, then run mosquitto in the
foreground (for systemd), passing signals on and exiting with its code.

With ``--tls`` devices connect by ``mqtts://`` on ``--tls-port`` and verify the broker against
the folder's CA (made on first use, or the ``--ca/--cert/--key`` given); the plain listener then
stays on loopback for the hub's own aggregator unless ``--plain-bind`` says otherwise."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from peakend.broker.cli.errors import FAILED, USAGE, fail
from peakend.broker.field.mosquitto import BrokerDir, BrokerError, Mosquitto, prepare

HELP = "prepare a broker folder and run mosquitto in the foreground"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peakend broker", description=HELP)
    parser.add_argument(
        "--data", required=True, help="broker folder (config, passwords, persistence)"
    )
    parser.add_argument("--port", type=int, default=1883, help="MQTT port (default 1883)")
    parser.add_argument(
        "--bind",
        default="0.0.0.0",
        help="address to listen on (default all; 127.0.0.1 for local only)",
    )
    parser.add_argument("--prepare-only", action="store_true", help="write the folder and exit")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="devices connect by mqtts:// and verify the broker; makes a local CA on first use",
    )
    parser.add_argument("--tls-port", type=int, default=8883, help="mqtts port (default 8883)")
    parser.add_argument(
        "--tls-host",
        action="append",
        default=[],
        help="extra name or address devices use to reach the hub, put in the certificate "
        "(localhost, 127.0.0.1 and this machine's name are always in it); repeat for several",
    )
    parser.add_argument("--ca", type=Path, help="with --tls: your own CA certificate (PEM)")
    parser.add_argument("--cert", type=Path, help="with --tls: the server certificate (PEM)")
    parser.add_argument("--key", type=Path, help="with --tls: the server certificate's key (PEM)")
    parser.add_argument(
        "--plain-bind",
        default=None,
        help="with --tls: address of the plain (unencrypted) listener (default 127.0.0.1, so "
        "only the hub itself uses it)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        d = _prepare(args)
    except BrokerError as exc:
        return fail("broker", exc, USAGE)
    print(f"broker folder ready: {d.root}")
    print(f"aggregator URL in {d.aggregator_url}")
    if args.tls:
        from peakend.broker.field.tls import cert_names, fingerprint

        print(f"TLS on {args.bind}:{args.tls_port}; devices need the CA {d.ca_file}")
        print(f"  CA fingerprint (SHA-256): {fingerprint(d.ca_file)}")
        print(f"  server certificate names: {', '.join(cert_names(d.tls_dir / 'server.pem'))}")
    if args.prepare_only:
        return 0
    plain = args.plain_bind or ("127.0.0.1" if args.tls else args.bind)
    broker = Mosquitto(d, port=args.port, host="127.0.0.1" if plain in ("0.0.0.0", "::") else plain)
    try:
        broker.start(quiet=False)
    except BrokerError as exc:
        return fail("broker", exc, FAILED)
    print(f"mosquitto listening on {plain}:{args.port}", flush=True)
    proc = broker.proc
    assert proc is not None

    def forward(signum: int, _frame: object) -> None:
        # Only pass the signal on: waiting here, inside the handler, would deadlock with the
        # proc.wait() below that the signal interrupted (both need Popen's wait lock).
        # mosquitto saves its persistence file on SIGTERM and reloads on SIGHUP.
        if proc.returncode is None:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        broker.stop()
        return 0
    finally:
        d.pid_file.unlink(missing_ok=True)


def _prepare(args: argparse.Namespace) -> BrokerDir:
    if not args.tls:
        if args.ca or args.cert or args.key:
            raise BrokerError("--ca, --cert and --key need --tls")
        return prepare(Path(args.data), port=args.port, bind=args.bind, plain_bind=args.plain_bind)
    from peakend.broker.field.tls import ensure_tls

    root = BrokerDir(Path(args.data).resolve())
    root.root.mkdir(parents=True, exist_ok=True)
    files = ensure_tls(root, args.tls_host, ca=args.ca, cert=args.cert, key=args.key)
    return prepare(
        root.root,
        port=args.port,
        bind=args.bind,
        tls=files,
        tls_port=args.tls_port,
        plain_bind=args.plain_bind or "127.0.0.1",
    )
