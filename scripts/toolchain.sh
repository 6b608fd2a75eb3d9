#!/usr/bin/env bash
# Checks (idempotently) that the Rust toolchain this project needs is present.
# Machines of this project's kind ship Rust through rustup with rustfmt and clippy; nothing is
# downloaded here. Sourced by demo.sh and test.sh.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "error: '$1' not found. Install Rust with rustup (rustfmt and clippy components) and retry." >&2
    exit 1
  fi
}
need cargo
need rustc
if ! cargo fmt --version >/dev/null 2>&1; then
  echo "error: rustfmt missing: rustup component add rustfmt" >&2
  exit 1
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  echo "error: clippy missing: rustup component add clippy" >&2
  exit 1
fi
# Edition 2024 needs Rust 1.85; the Node shell (napi-rs 3, let chains) needs 1.88.
ver=$(rustc --version | awk '{print $2}')
major=${ver%%.*}; rest=${ver#*.}; minor=${rest%%.*}
if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 88 ]; }; then
  echo "error: rustc $ver is too old; tenantguard needs 1.88 or later" >&2
  exit 1
fi
