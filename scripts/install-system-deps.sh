#!/usr/bin/env bash
# System packages the double needs: mosquitto >= 2.0.21 (Debian 12 ships 2.0.11; 2.0.21 comes
# from the same mirror's bookworm-backports suite). Idempotent; uses sudo when not root.
set -euo pipefail
need=2.0.21
have=$(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([0-9.]*\).*/\1/p' || true)
if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" = "$need" ]; then
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mosquitto >/dev/null
# The package would start a system broker on 1883; the double starts its own.
$SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
mosquitto -h | head -1
