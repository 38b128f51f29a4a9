#!/usr/bin/env bash
# Installs with apt-get what the daemon and its tests need and the machine lacks:
# redis-server (the queue; the tests start their own), nix-bin (nix-instantiate, which
# parses the Nix files in contrib/nixos/ and flake.nix; about 20 s to install),
# openssh-server (the SFTP backend's tests start their own sshd), with --with-browser
# chromium (the queue UI's browser tests), with --with-rgw Ceph's RADOS Gateway (ceph-mon,
# ceph-osd, radosgw: the second S3 server of the tests and the bench; ~32 s to install,
# measured on the 2-core sandbox with the package lists fresh). Needs root or sudo; does
# nothing when all are present.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nix-instantiate >/dev/null 2>&1 || need+=(nix-bin)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
for flag in "$@"; do
  case $flag in
    --with-browser) [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium) ;;
    --with-rgw) command -v radosgw >/dev/null 2>&1 && command -v ceph-osd >/dev/null 2>&1 || need+=(ceph-mon ceph-osd radosgw) ;;
    *) echo "unknown flag: $flag" >&2; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing with apt-get: ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
