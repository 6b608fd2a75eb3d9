#!/usr/bin/env bash
# Every check CI runs: formatting, lints, all tests (unit, integration, the conformance corpus,
# README examples), docs, the demo, and a short smoke run of the bench binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, integration, conformance corpus, doctests incl. README)"
cargo test --workspace --locked

step "cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p tenantguard --quiet

step "demo: noisy neighbour (self-checking)"
cargo run --release --locked --quiet -p noisy_neighbor

step "bench smoke run (figures are not judged here; see BENCHMARKS.md)"
cargo run --release --locked --quiet -p tenantguard-bench -- --quick

printf '\nall checks passed\n'
