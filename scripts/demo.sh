#!/usr/bin/env bash
# The main job: replays the S2 noisy-neighbour load test on simulated time and prints the
# per-tier table. Exits non-zero if the noisy tenant is not held to its limit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
cargo run --release --quiet -p noisy_neighbor -- "$@"
