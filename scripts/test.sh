#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test --dev
# The PostgreSQL tests share one cluster (scripts/pg.sh ensure starts it on first use); stop it at the end.
trap 'scripts/pg.sh stop target/pg-test' EXIT
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo nextest run --locked --workspace --no-fail-fast
