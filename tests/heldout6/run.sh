#!/usr/bin/env bash
# Held-out search-quality benchmark #6, end to end, through tests/heldout/run.sh: a fresh semtrace
# server on its own ports and a temporary data directory, this folder's labelled corpus (Online
# Boutique under locust load with chaos faults injected, as fault-injection RCA datasets record it:
# OpenTelemetry traces AND OTLP log records) sent over OTLP/HTTP by the OpenTelemetry Python SDK,
# the evaluation (tests/heldout/evaluate.py, then exclusions.json), then the server stopped.
#
#   tests/heldout6/run.sh [--seed N] [--traces N]
#
# Environment: as tests/heldout/run.sh. Ports: HELDOUT6_GRPC_PORT / HELDOUT6_HTTP_PORT /
# HELDOUT6_API_PORT, else 25317 / 25318 / 27686. BENCH_WAIT=0 skips waiting for running
# `semtrace bench` processes (default: wait up to 20 min, so throughput measurements do not share
# the CPU). Default seed 20261209, default 1500 traces (--traces overrides).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$HERE/../heldout/wait-for-bench.sh"

HELDOUT_CORPUS=$HERE HELDOUT_SEED=20261209 \
  HELDOUT_GRPC_PORT=${HELDOUT6_GRPC_PORT:-25317} \
  HELDOUT_HTTP_PORT=${HELDOUT6_HTTP_PORT:-25318} \
  HELDOUT_API_PORT=${HELDOUT6_API_PORT:-27686} \
  exec "$HERE/../heldout/run.sh" --traces 1500 "$@"
