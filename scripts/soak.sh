#!/usr/bin/env bash
# The full-length reliability runs the CI suite shortens: PostgreSQL stopped for 60 s during
# ingest (absorbed by the spool; with a 1 MiB spool, refused only once full; kill -9 while
# down), and a 60 s overload flood (peak RSS printed). Prints what each saw.
# Usage: scripts/soak.sh [SECONDS]   (after scripts/setup.sh --test)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
trap 'scripts/pg.sh stop target/pg-test' EXIT
SOAK_OUTAGE_SECONDS="$seconds" OVERLOAD_SECONDS="$seconds" \
  cargo nextest run --locked -p semtrace-server --test server --no-capture \
  -E 'test(/^postgres::.*(outage|full_spool)/) | test(/^overload::overload/)' 2>&1 |
  grep -E --line-buffered 'acknowledged|offered|PASS|FAIL|panicked'
