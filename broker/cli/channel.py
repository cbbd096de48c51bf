"""``peakend channel test``: send a test message through one of hub.toml's alert channels."""

from __future__ import annotations

import argparse
import time

from peakend.broker.cli.errors import FAILED, USAGE, fail

HELP = "send a test message through an alert channel of hub.toml"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peakend channel", description="Alert channels of "
                                "hub.toml's [[delivery.channels]].")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    test = sub.add_parser(
        "test", help="send a test message through a channel now",
        description="Send a test message through the channel NAME now, with the secrets "
        "its environment variables hold, as the hub's delivery would (STARTTLS and login for "
        "mail, the signature for a webhook), ignoring its quiet hours. Prints what was sent, "
        "or why the receiver did not take it; exit code 1 then.")
    test.add_argument("--config", default="/etc/peakend/hub.toml",
                      help="hub.toml (default: /etc/peakend/hub.toml)")
    test.add_argument("name", help="the channel's name, e.g. managers-mail")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.device.config import ConfigError, load_config
    from peakend.broker.hub.config import EmailChannel, HubConfig
    from peakend.broker.hub.delivery.rules import Message
    from peakend.broker.hub.delivery.senders import SendError, send

    try:
        config = load_config(args.config, HubConfig)
    except ConfigError as exc:
        return fail("channel", exc, USAGE)
    channels = {c.name: c for c in config.delivery.channels}
    channel = channels.get(args.name)
    if channel is None:
        known = ", ".join(channels) or "none"
        return fail("channel", f"{args.config} has no channel {args.name!r} in "
                    f"[[delivery.channels]] (it has: {known})", USAGE)
    now = int(time.time())
    kinds = " and ".join(channel.kinds)
    stores = ", ".join(channel.stores) if channel.stores else "every store"
    message = Message(
        f"[peakend] test of channel {channel.name}",
        f"A test from the peakend hub: {kinds} alerts of {stores} reach you here."
        + (f" Quiet hours (store time): {channel.quiet_hours}." if channel.quiet_hours else "")
        + f"\nZone pages are under {config.delivery.base_url}", config.delivery.base_url)
    try:
        # a delivery id of its own: a receiver that drops repeats never takes it for an alert
        send(channel, message, f"test-{now}", now)
    except SendError as exc:
        return fail("channel", f"{channel.name}: not delivered: {exc}", FAILED)
    where = (f"mail to {', '.join(channel.to)} through {channel.smtp_host}:{channel.smtp_port}"
             if isinstance(channel, EmailChannel) else f"a POST to ${channel.url_env}"
             + (" (signed)" if channel.secret_env else " (unsigned: no secret_env)"))
    print(f"{channel.name}: the receiver took the test message ({where})")
    return 0
