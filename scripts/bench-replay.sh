#!/usr/bin/env bash
# Spool replay into PostgreSQL, as after an outage: start PostgreSQL (scripts/pg.sh) and a
# release semtrace on it, stop PostgreSQL, send SPANS spans (acknowledged from the spool), start
# PostgreSQL again and time until the spool is empty. Prints the spooling rate, the spool's size
# and the replay rate. Extra environment (e.g. SEMTRACE_PIPELINE__CONCURRENCY=1) reaches semtrace.
# Usage: scripts/bench-replay.sh [SPANS]   (after scripts/setup.sh --test; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
spans="${1:-800000}"
cargo build --release --quiet -p semtrace-server -p semtrace-bench
work=$(mktemp -d /tmp/semtrace-bench-replay.XXXXXX)
chmod 755 "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
read -r grpc http api < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# The body also comes with a 503 (unhealthy while PostgreSQL is down); empty while starting.
health() { curl -s "http://127.0.0.1:$api/api/v1/health" || true; }
field() { python3 -c "import json, sys; text = sys.stdin.read(); print(json.loads(text).get('$1') if text else None)"; }

scripts/pg.sh start "$work/pg" "$port" >/dev/null
SEMTRACE_STORAGE=postgres \
SEMTRACE_OTEL_STORAGE__CONNECTION_STRING="postgresql://postgres@127.0.0.1:$port/postgres" \
SEMTRACE_SEMANTIC__ENABLED=false RUST_LOG=warn \
  target/release/semtrace serve --data-dir "$work/data" --otlp-grpc-addr "127.0.0.1:$grpc" \
  --otlp-http-addr "127.0.0.1:$http" --http-addr "127.0.0.1:$api" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do [ "$(health | field healthy)" = True ] && break; sleep 0.2; done

scripts/pg.sh stop "$work/pg" >/dev/null
echo "== PostgreSQL stopped; sending $spans spans"
target/release/semtrace bench ingest --clients 4 --spans "$spans" --queries 0 \
  --otlp-http "http://127.0.0.1:$http" --api "http://127.0.0.1:$api" 2>&1 | grep -E 'acknowledged spans/s'
records=$(health | field spool_records)
bytes=$(health | field spool_bytes)
echo "spool: $records records, $((bytes / 1048576)) MiB"

scripts/pg.sh start "$work/pg" "$port" >/dev/null
started=$(date +%s.%N)
while [ "$(health | field spool_records)" != 0 ]; do sleep 0.2; done
elapsed=$(python3 -c "import time; print(round(time.time() - $started, 1))")
stored=$(health | field total_spans)
echo "replayed: $stored spans stored, in $elapsed s ($(python3 -c "print(round($stored / $elapsed))") spans/s)"
