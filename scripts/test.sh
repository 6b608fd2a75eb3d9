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

# The workspace build turns the core's `redis` feature on (the Redis test worker needs it), so
# the core is linted once more without it: the build WebAssembly and `cargo test -p` use.
step "cargo clippy (core without the Redis store)"
cargo clippy -p tenantguard --all-targets --locked -- -D warnings

step "cargo test (unit, integration, conformance corpus, doctests incl. README)"
cargo test --workspace --locked

step "shared store: Lua scripts vs the Rust rules, the corpus (one server and a 3-node cluster), threads and faults"
rd=$(scripts/redis.sh start)
rd_dir=${rd#* }
trap 'scripts/redis.sh stop "$rd_dir"' EXIT
export TG_REDIS_URL=${rd% *}
cluster=$(scripts/redis.sh cluster)
cluster_dir=${cluster#* }
trap 'scripts/redis.sh stop "$rd_dir"; scripts/redis.sh stop "$cluster_dir"' EXIT
TG_REDIS_CLUSTER_URL=${cluster% *} \
  cargo test --locked -p tenantguard --features redis --test redis_store --test conformance -- --include-ignored --nocapture
scripts/redis.sh stop "$cluster_dir"
trap 'scripts/redis.sh stop "$rd_dir"' EXIT
# The Rust worker of the multi-process tests (Python, Node) and of the Redis benchmark.
cargo build --release --locked -q -p tenantguard-redis-load
export TG_REDIS_LOAD=$PWD/target/release/redis-load

step "row-level security: differential test against a real PostgreSQL (private cluster)"
pg=$(scripts/postgres.sh start)
pg_dir=${pg#* }
trap 'scripts/postgres.sh stop "$pg_dir"; scripts/redis.sh stop "$rd_dir"' EXIT
TG_PG_URL=${pg% *} cargo test --locked -p tenantguard --test rls_postgres -- --ignored --nocapture
scripts/postgres.sh stop "$pg_dir"
trap 'scripts/redis.sh stop "$rd_dir"' EXIT

step "cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p tenantguard --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p tenantguard --features redis --quiet

step "demo: noisy neighbour (self-checking)"
cargo run --release --locked --quiet -p noisy_neighbor

step "bench smoke run (figures are not judged here; see BENCHMARKS.md); criterion benches compile"
cargo run --release --locked --quiet -p tenantguard-bench -- --quick
cargo run --release --locked --quiet -p tenantguard-bench --bin order -- 1000 100000
cargo bench --locked --no-run -p tenantguard --quiet

step "node: npm install, napi build (regenerates index.js / index.d.ts: drift fails the build)"
bash scripts/node-env.sh
if [ "${CI:-}" = true ]; then
  git diff --exit-code -- bindings-node/index.js bindings-node/index.d.ts
fi

step "node: tsc --noEmit over lib.d.ts and the TypeScript example, then compile and run the example"
(cd bindings-node && npx tsc -p tsconfig.json && rm -rf .ts-out \
  && npx tsc -p tsconfig.json --noEmit false --rootDir . --outDir .ts-out && node .ts-out/examples/quickstart.js)

step "node: node --test (surface, errors, timers, leases, context, RLS, corpus, Express over HTTP)"
(cd bindings-node && node --test test/)

step "node: bench smoke run (figures are not judged here; see BENCHMARKS.md)"
(cd bindings-node && node bench/bench.mjs 2000)

step "wasm: Debian Rust for wasm32, pinned wasm-bindgen CLI, wasm-opt; web + Node builds (generated .d.ts: drift fails)"
bash scripts/wasm-env.sh
if [ "${CI:-}" = true ]; then
  git diff --exit-code -- wasm/tenantguard.d.ts
fi

step "wasm: tsc --noEmit on the TypeScript example against the generated .d.ts"
(cd wasm && npx tsc -p tsconfig.json)

step "wasm: the Node shell's corpus runner pointed at the wasm package (TG_MODULE)"
(cd bindings-node && TG_MODULE="$PWD/../wasm/js/node.cjs" node --test test/conformance.test.js)

step "wasm: node --test (surface and errors, native/wasm parity on every corpus step, workerd edge test)"
(cd wasm && node --test test/)

step "wasm: bench smoke run (figures are not judged here; see BENCHMARKS.md)"
(cd wasm && node bench/bench.mjs 2000)

step "C: libtenantguard.so/.a, generated header (drift fails), pkg-config; tests dynamic + static under valgrind; C corpus runner"
bash scripts/c-env.sh run
if [ "${CI:-}" = true ]; then
  git diff --exit-code -- bindings-c/include/tenantguard.h
fi

step "Go: the cgo example's test against the same library (go test; Go ships on this machine kind)"
bash scripts/c-env.sh go

step "C: bench smoke run (static and dynamic; see BENCHMARKS.md)"
bash scripts/c-env.sh bench 20000

step "Java: JNI shim on tenantguard.h with libtenantguard.a inside; mvn test (JUnit 5: API, threads, corpus)"
bash scripts/java-env.sh test

step "Java: bench smoke run"
bash scripts/java-env.sh bench 20000

step "python: venv, pinned tools, pip install ./bindings-python (maturin, abi3 wheel)"
source scripts/python-env.sh
python -c "import tenantguard, sys; print('tenantguard', tenantguard.__version__, 'on', sys.version.split()[0])"

step "python: pytest (surface, errors, threads, asyncio, corpus, Starlette, Redis store incl. Rust+Python processes and federated mode)"
(cd bindings-python && python -m pytest -q tests)

step "python: mypy --strict on the package, tests and examples; stubtest (stubs must match the module)"
(cd bindings-python && python -m mypy --strict python/tenantguard tests ../examples/python)
python -m mypy.stubtest tenantguard._native

step "python: bench smoke run"
python bindings-python/bench/bench.py --quick
python bindings-python/bench/redis_bench.py --quick
deactivate

printf '\nall checks passed\n'
