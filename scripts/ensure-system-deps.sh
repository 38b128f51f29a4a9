#!/usr/bin/env bash
# Installs with apt-get what the daemon and its tests need and the machine lacks:
# redis-server (the queue; the tests start their own), openssh-server (the SFTP backend's
# tests start their own sshd) and chromium (the queue UI's browser tests). Needs root or sudo; does nothing when both are present.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ "${1:-}" = "--with-browser" ] && [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then need+=(chromium); fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing with apt-get: ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
