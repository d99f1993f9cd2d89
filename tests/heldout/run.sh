#!/usr/bin/env bash
# Held-out search-quality benchmark, end to end: a fresh semtrace server on its own ports and a
# temporary data directory, the labelled corpus sent over OTLP/HTTP by the OpenTelemetry Python
# SDK, the evaluation, then the server stopped.
#
#   tests/heldout/run.sh [--seed N] [--traces N]
#
# Environment: SEMTRACE_BIN (default target/release/semtrace), PYTHON (default .venv/bin/python),
# HELDOUT_GRPC_PORT / HELDOUT_HTTP_PORT / HELDOUT_API_PORT (default 34317 / 34318 / 36686),
# KEEP_DATA=1 keeps the data directory (and the server log) afterwards, HELDOUT_CORPUS (default
# this folder: the folder holding corpus.py and queries.json, where labels and results are
# written) and HELDOUT_SEED (default 20241130) to run another corpus (tests/heldout2/run.sh).
# Each corpus's exclusions.json, when present, is scored after queries.json. After the search evaluation, `semtrace bench similar` measures similar traces on the same
# labels (same-fault share at 10 per fault kind); HELDOUT_SIMILAR=0 skips it, HELDOUT_BENCH_BIN
# runs it from another binary (default SEMTRACE_BIN; to measure a server older than the bench).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${SEMTRACE_BIN:-$ROOT/target/release/semtrace}
PY=${PYTHON:-$ROOT/.venv/bin/python}
GRPC_PORT=${HELDOUT_GRPC_PORT:-34317}
HTTP_PORT=${HELDOUT_HTTP_PORT:-34318}
API_PORT=${HELDOUT_API_PORT:-36686}

CORPUS=${HELDOUT_CORPUS:-$HERE}
SEED=${HELDOUT_SEED:-20241130}
TRACES=2400
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) SEED=$2; shift 2 ;;
    --traces) TRACES=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

[ -x "$BIN" ] || { echo "no semtrace binary at $BIN (cargo build --release -p semtrace-server -p semtrace-bench)" >&2; exit 1; }
"$PY" -c 'import opentelemetry.exporter.otlp.proto.http' 2>/dev/null \
  || { echo "$PY lacks the OpenTelemetry OTLP exporter (scripts/setup.sh --test)" >&2; exit 1; }

DATA=$(mktemp -d "${TMPDIR:-/tmp}/semtrace-heldout.XXXXXX")
LOG="$DATA/server.log"
SERVER_PID=""

stop() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_DATA:-0}" = 1 ]; then
    echo "data directory kept: $DATA (server log: $LOG)" >&2
  else
    rm -rf "$DATA"
  fi
}
trap stop EXIT

# run from the repository root so ./models is found (semantic.models_dir defaults to ./models)
cd "$ROOT"
echo "starting semtrace: data $DATA, OTLP gRPC :$GRPC_PORT, OTLP HTTP :$HTTP_PORT, API :$API_PORT" >&2
# SEMTRACE_BIN is this script's, not the server's: SEMTRACE_* variables are configuration.
env -u SEMTRACE_BIN "$BIN" serve --data-dir "$DATA" \
  --otlp-grpc-addr "127.0.0.1:$GRPC_PORT" \
  --otlp-http-addr "127.0.0.1:$HTTP_PORT" \
  --http-addr "127.0.0.1:$API_PORT" >"$LOG" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$API_PORT/api/v1/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "semtrace exited during start-up:" >&2; tail -n 30 "$LOG" >&2; exit 1
  fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$API_PORT/api/v1/health" >/dev/null \
  || { echo "semtrace did not answer:" >&2; tail -n 30 "$LOG" >&2; exit 1; }

echo "sending the corpus (seed $SEED, $TRACES traces)" >&2
"$PY" "$CORPUS/corpus.py" --otlp "http://127.0.0.1:$HTTP_PORT" --seed "$SEED" --traces "$TRACES" \
  --out "$CORPUS" >"$DATA/corpus.json"
"$PY" - "$DATA/corpus.json" >&2 <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
print("sent %d traces, %d spans %s, acknowledged %d" % (m["traces"], m["spans"], m["kinds"], m["spans_acknowledged"]))
PYEOF

"$PY" "$HERE/evaluate.py" --server "http://127.0.0.1:$API_PORT" --labels "$CORPUS/labels.json" \
  --queries "$CORPUS/queries.json" --out "$CORPUS/results.json"
# Questions that exclude a subject or deny failure ("…, not database related", "slow but no
# errors"), written blind by a helper session on 2026-12-06, scored apart from the main set.
if [ -f "$CORPUS/exclusions.json" ]; then
  echo "=== exclusion and denial questions ($CORPUS/exclusions.json)" >&2
  "$PY" "$HERE/evaluate.py" --server "http://127.0.0.1:$API_PORT" --labels "$CORPUS/labels.json" \
    --queries "$CORPUS/exclusions.json" --out "$CORPUS/results-exclusions.json"
fi

if [ "${HELDOUT_SIMILAR:-1}" = 1 ]; then
  env -u SEMTRACE_BIN "${HELDOUT_BENCH_BIN:-$BIN}" bench similar --api "http://127.0.0.1:$API_PORT" --labels "$CORPUS/labels.json" \
    ${HELDOUT_SIMILAR_ARGS:-}
fi
