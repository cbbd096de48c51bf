#!/usr/bin/env bash
# Installs the Debian packages peakend needs, only those missing. Used by `make demo`,
# `make test` and the Pi set-up. Usage: deploy/install-deps.sh [hub|kiosk|edge|dev ...]
set -euo pipefail

# The hub only serves pages (managers' own browsers draw them); the Chromium the page tests run
# needs a CJK font, or Chinese pages show empty boxes.
declare -A PKGS=(
  [hub]="mosquitto mosquitto-clients openssl"
  [kiosk]="libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libmtdev1 fonts-wqy-microhei"
  [edge]="libgl1 libglib2.0-0 v4l-utils"
  [dev]="python3-venv chromium fonts-noto-cjk postgresql"
)

roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(hub kiosk edge dev)

wanted=()
for role in "${roles[@]}"; do
  [ -n "${PKGS[$role]+x}" ] || { echo "unknown role '$role' (hub, kiosk, edge, dev)" >&2; exit 2; }
  for p in ${PKGS[$role]}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || wanted+=("$p")
  done
done
[ ${#wanted[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${wanted[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
