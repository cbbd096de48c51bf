#!/usr/bin/env bash
# Set up a Raspberry Pi (Raspberry Pi OS Lite, Bookworm) or a Debian box as a peakend device or
# hub, once. Then the hub's `peakend provision` prints a one-line command that installs the
# device's config; the service starts by itself.
#
#   sudo deploy/pi-setup.sh kiosk|edge|hub [--from PACKAGE] [--tls]
#
# PACKAGE is what pip installs peakend from: a wheel (peakend-*.whl), a source folder, or a
# requirement such as "peakend==1.2" from your package index. Default: this checkout.
# Safe to run again (it upgrades peakend and re-installs the units).
set -euo pipefail

role="${1:-}"
shift || true
here="$(cd "$(dirname "$0")" && pwd)"
from="$(dirname "$here")"
tls=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from="$2"; shift 2 ;;
    --tls) tls="--tls"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case "$role" in
  kiosk|edge|hub) ;;
  *) echo "usage: sudo $0 kiosk|edge|hub [--from PACKAGE] [--tls]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "run it as root: sudo $0 $role" >&2; exit 1; }

step() { echo; echo "== $*"; }

step "1/6 Debian packages for the $role"
"$here/install-deps.sh" "$role"
dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed" \
  || apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
echo "ok"

step "2/6 service user peakend"
if ! id peakend >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/peakend --shell /usr/sbin/nologin peakend
fi
for group in video input render tty gpio; do
  getent group "$group" >/dev/null && usermod -a -G "$group" peakend
done
# 0755: on a hub, mosquitto (its own user) must pass through to /var/lib/peakend/broker.
install -d -o peakend -g peakend -m 0755 /var/lib/peakend
install -d -m 0755 /etc/peakend
echo "ok: $(id peakend)"

step "3/6 peakend into /opt/peakend (from $from)"
[ -x /opt/peakend/bin/python ] || python3 -m venv /opt/peakend
extra="$role"; [ "$role" = hub ] && extra="server"
/opt/peakend/bin/pip install -q --upgrade pip
/opt/peakend/bin/pip install -q --upgrade "${from}[${extra}]"
ln -sf /opt/peakend/bin/peakend /usr/local/bin/peakend
echo "ok: $(/opt/peakend/bin/peakend --version)"

step "4/6 systemd units, log rotation, journal cap"
units="$here/systemd"
install -d /etc/systemd/journald.conf.d
install -m 0644 "$here/journald/peakend.conf" /etc/systemd/journald.conf.d/peakend.conf
systemctl restart systemd-journald || true
if [ "$role" = hub ]; then
  install -m 0644 "$units/peakend-broker.service" "$units/peakend-serve.service" /etc/systemd/system/
  install -m 0644 "$here/logrotate/peakend" /etc/logrotate.d/peakend
else
  install -m 0644 "$units/peakend-$role.service" /etc/systemd/system/
fi
systemctl daemon-reload
echo "ok"

step "5/6 $role specifics"
case "$role" in
  kiosk)
    # Screen blanking off for the console the kiosk draws over, from the next boot on.
    cmdline=/boot/firmware/cmdline.txt; [ -f "$cmdline" ] || cmdline=/boot/cmdline.txt
    if [ -f "$cmdline" ] && ! grep -q "consoleblank=0" "$cmdline"; then
      sed -i '1 s/$/ consoleblank=0/' "$cmdline"
      echo "consoleblank=0 added to $cmdline"
    fi
    # The kiosk owns tty1: no login prompt there.
    systemctl disable --now getty@tty1.service >/dev/null 2>&1 || true
    systemctl enable peakend-kiosk.service
    ;;
  edge)
    systemctl enable peakend-edge.service
    ls /dev/video* 2>/dev/null || echo "note: no /dev/video* yet: connect the camera"
    ;;
  hub)
    /opt/peakend/bin/peakend broker --data /var/lib/peakend/broker --prepare-only $tls
    # The web hands out install scripts and reads the registry: it runs as peakend.
    install -d -o peakend -g peakend -m 0700 /var/lib/peakend/broker/install
    chgrp peakend /var/lib/peakend/broker/aggregator.url
    chmod 0640 /var/lib/peakend/broker/aggregator.url
    if [ -n "$tls" ]; then
      echo 'PEAKEND_BROKER_ARGS=--tls' > /etc/default/peakend-hub
    fi
    if [ ! -f /etc/peakend/hub.toml ]; then
      # With TLS the web speaks HTTPS too (logins, install scripts); 8080 then only redirects.
      https_line=""
      if [ -n "$tls" ]; then https_line='https = "0.0.0.0:8443"'; fi
      cat > /etc/peakend/hub.toml <<HUB
# peakend hub; every key and the stores: see deploy/examples/hub.toml
[hub]
db = "/var/lib/peakend/hub.sqlite"
http = "0.0.0.0:8080"
$https_line
broker_data = "/var/lib/peakend/broker"
HUB
    fi
    systemctl enable --now peakend-broker.service peakend-serve.service
    ;;
esac

step "6/6 done"
if [ "$role" = hub ]; then
  echo "hub running. Next: a web account (sudo -u peakend peakend user add --db /var/lib/peakend/hub.sqlite --store s001 NAME),"
  echo "then for each device: sudo peakend provision --data /var/lib/peakend/broker --id ... (see GUIDE.md)"
else
  echo "this Pi is ready for its config: paste the install command \`peakend provision\` printed on the hub."
fi
