#!/usr/bin/env bash
# `npm run quickstart`: installs what is missing, starts a private redis-server (AOF on,
# data under ./.sync4loong/redis) and the daemon on embedded defaults, with the `fs`
# storage backend under ./.sync4loong/bucket, listening on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ ! -f dist/src/cli/index.js ]; then npm ci --no-audit --no-fund; fi
bash scripts/ensure-system-deps.sh

STATE="$PWD/.sync4loong"
mkdir -p "$STATE/redis" "$STATE/bucket"
HTTP_PORT="${PORT:-8080}"
REDIS_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

# The private redis-server runs in its own session so Ctrl-C reaches only the daemon,
# which then drains and closes before redis is stopped.
setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE/redis" \
  --appendonly yes --save '' --daemonize no --maxmemory-policy noeviction >"$STATE/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done

cat >"$STATE/config.toml" <<TOML
# Written by scripts/quickstart.sh; see docs/configuration.md.
[redis]
addr = "127.0.0.1:$REDIS_PORT"

[storage]
type = "fs"
root = "$STATE/bucket"

[http]
addr = "127.0.0.1:$HTTP_PORT"

[publish]
# /publish reads only below these folders; add yours.
allowed_roots = ["/tmp", "$PWD"]
TOML

cat <<MSG
sync4loong quick start: objects land in $STATE/bucket
Try it from another terminal:

  mkdir -p /tmp/sync4loong-demo && echo hello > /tmp/sync4loong-demo/hello.txt
  curl -X POST http://127.0.0.1:$HTTP_PORT/publish -H 'Content-Type: application/json' \\
    -d '[{"from": "/tmp/sync4loong-demo", "to": "store/"}]'
  ls $STATE/bucket/store

Ctrl-C stops the daemon and its redis-server.
MSG
node bin/sync4loong daemon --config "$STATE/config.toml"
