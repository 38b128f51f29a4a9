#!/usr/bin/env bash
# One command for the benchmark: installs what is missing (rclone and awscli from apt,
# redis-server), builds the project, runs bench/run.ts with the given arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
missing=()
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
# Any working `aws` will do (pip's, pyenv's or Debian's).
aws --version >/dev/null 2>&1 || missing+=(awscli)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]} with apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The WAN bench also runs on Ceph RGW.
if [ "${BENCH_ENTRY:-run}" = wan ]; then bash scripts/ensure-system-deps.sh --with-rgw; else bash scripts/ensure-system-deps.sh; fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci; fi
npx tsc -p tsconfig.json
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
exec node "dist/bench/${BENCH_ENTRY:-run}.js" "$@"
