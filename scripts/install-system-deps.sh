#!/usr/bin/env bash
# System packages the project needs on Debian 12, installed only when missing (uses sudo when not root):
#   mosquitto >= 2.0.21  the local double's broker (Debian 12 ships 2.0.11; 2.0.21 is in bookworm-backports,
#                        served by the same Debian mirror), and mosquitto-clients (mosquitto_pub/_sub probes)
#   softhsm2             a PKCS#11 token for the factory CLI's hardware-key path and its tests
#   chromium             renders the policy review's HTML report in a test (headless screenshot)
#   iproute2, util-linux `ip` and `unshare`: awscrt's x509 credentials test runs the double on port 443 in a
#                        network namespace of its own (tests/iot_emulator/x509_probe.py)
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_mosquitto=2.0.21
have=$(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([0-9.]*\).*/\1/p' || true)
mosquitto_ok=0
if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$need_mosquitto" "$have" | sort -V | head -1)" = "$need_mosquitto" ]; then
  mosquitto_ok=1
fi
command -v mosquitto_pub >/dev/null || mosquitto_ok=0
softhsm_ok=0
if command -v softhsm2-util >/dev/null && [ -e /usr/lib/softhsm/libsofthsm2.so ]; then softhsm_ok=1; fi
chromium_ok=0
if command -v chromium >/dev/null; then chromium_ok=1; fi
netns_ok=0
if command -v unshare >/dev/null && { command -v ip >/dev/null || [ -x /usr/sbin/ip ]; }; then netns_ok=1; fi
[ "$mosquitto_ok$softhsm_ok$chromium_ok$netns_ok" = "1111" ] && exit 0

if [ "$mosquitto_ok" = 0 ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
$SUDO apt-get update -qq
export DEBIAN_FRONTEND=noninteractive
if [ "$mosquitto_ok" = 0 ]; then
  $SUDO apt-get install -y -qq -t bookworm-backports mosquitto mosquitto-clients >/dev/null
  # The package may start a system broker on 1883; the double starts its own.
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
if [ "$softhsm_ok" = 0 ]; then
  $SUDO apt-get install -y -qq softhsm2 >/dev/null
fi
if [ "$chromium_ok" = 0 ]; then
  $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ "$netns_ok" = 0 ]; then
  $SUDO apt-get install -y -qq iproute2 util-linux >/dev/null
fi
# (mosquitto -h and softhsm2-util --version exit non-zero by design: report, do not fail)
echo "installed: $( (mosquitto -h 2>/dev/null || true) | head -1), softhsm $(softhsm2-util --version 2>/dev/null || true)"
