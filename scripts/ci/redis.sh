#!/usr/bin/env bash
# Install (if needed) and start a throwaway Redis for the test suite, then print the URL for
# ARENA_TEST_REDIS_URL on stdout (everything else goes to stderr):
#
#     export ARENA_TEST_REDIS_URL="$(scripts/ci/redis.sh)"
#     .venv/bin/python -m pytest
#
# It uses Debian's packaged server (redis-server) but runs an instance of its own on its own
# port, with its own folder and no persistence (no RDB snapshots, no AOF), so a machine's
# main Redis is never touched. Rate-limit counters are all the suite keeps there.
# Runs as root (apt-get); safe to run again: it only does what is missing.
#
# Settings (environment): ARENA_CI_REDIS_PORT (6380), ARENA_CI_REDIS_DIR (/var/lib/arena-ci-redis).
set -euo pipefail

port="${ARENA_CI_REDIS_PORT:-6380}"
folder="${ARENA_CI_REDIS_DIR:-/var/lib/arena-ci-redis}"

log() { echo "redis.sh: $*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
    log "run me as root (apt-get needs it)"
    exit 1
fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    log "installing Redis (Debian's package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends redis-server >&2
fi

ping() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -qx PONG; }

if ! ping; then
    log "starting redis-server on 127.0.0.1:$port"
    mkdir -p "$folder"
    # daemonize: it forks and returns; the pid file lets an operator stop it (kill "$(cat ...)").
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
        --dir "$folder" --pidfile "$folder/redis.pid" --logfile "$folder/redis.log" \
        --save "" --appendonly no >&2
fi

for _ in $(seq 1 60); do
    if ping; then
        break
    fi
    sleep 0.5
done
if ! ping; then
    log "Redis on port $port did not answer within 30 s; its log says:"
    tail -n 20 "$folder/redis.log" >&2 || true
    exit 1
fi

echo "redis://127.0.0.1:$port/0"
