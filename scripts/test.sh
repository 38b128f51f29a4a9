#!/usr/bin/env bash
# The test suite: installs what is missing (npm deps, redis-server), builds, and runs every
# test file under node's test runner. Tests start their own redis-server and s3rver on free
# ports; nothing needs to be running. `--faults` runs the fault tests (faults/) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=dist/test
# The SDK notice about its future Node 22 releases is noise here: the lock file keeps one for Node 20 (docs/development.md).
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
if [ "${1:-}" = "--faults" ]; then suite=dist/faults; shift; fi
# A symlinked node_modules (a git worktree sharing an install) is left alone: npm ci would empty its target.
if [ ! -L node_modules ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then npm ci --no-audit --no-fund; fi
bash scripts/ensure-system-deps.sh --with-browser --with-rgw
rm -rf dist
npx tsc -p tsconfig.json
# Ceph RGW, the second S3 server, starts once for the whole run (~20 s), not per test file:
# test/helpers/rgw.ts says why. Its variables reach every test file; without radosgw
# (SYNC4LOONG_TEST_RGW=0, or not installed) the RGW tests say they are skipped.
if [ "$suite" = dist/test ] && [ -z "${RGW_ENDPOINT:-}" ] && [ "${SYNC4LOONG_TEST_RGW:-1}" != 0 ] && command -v radosgw >/dev/null 2>&1; then
  rgw_parent=$(mktemp -d -t sync4loong-rgw-run-XXXXXX)
  trap 'if [ -n "${RGW_DIR:-}" ]; then node dist/test/helpers/rgw.js down "$RGW_DIR" || true; fi; rm -rf "$rgw_parent"' EXIT
  rgw_vars=$(node dist/test/helpers/rgw.js up "$rgw_parent")
  while IFS='=' read -r name value; do export "$name=$value"; done <<<"$rgw_vars"
fi
# A hung test fails after 10 minutes (each test file counts as one test too) instead of
# holding the run until CI gives up on it without naming it.
# The files are listed here: since Node 21 `node --test DIR` reads DIR as a glob pattern
# (finding no file in it), and Node 20 reads no glob at all; a list works on every line.
mapfile -t files < <(find "$suite" -name '*.test.js' -type f | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test file under $suite" >&2; exit 1; fi
# Not exec: the EXIT trap above stops RGW when the run ends.
node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout="${TEST_TIMEOUT_MS:-600000}" "$@" "${files[@]}"
