#!/usr/bin/env bash
# The whole test suite: installs what is missing (npm deps, redis-server), builds, runs
# every test file under node's test runner. Tests start their own redis-server and s3rver
# on free ports; nothing needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci; fi
bash scripts/ensure-redis.sh
rm -rf dist
npx tsc -p tsconfig.json
exec node --test --test-concurrency="${TEST_CONCURRENCY:-2}" dist/test/ "$@"
