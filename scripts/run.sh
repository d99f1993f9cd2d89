#!/usr/bin/env bash
# Sets up (build, model) and runs the server on the embedded store.
# Extra arguments go to `semtrace serve`, e.g. scripts/run.sh --data-dir /var/lib/semtrace
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec target/release/semtrace serve "$@"
