#!/usr/bin/env bash
# Builds the C ABI and its tests; `run` also runs them (under valgrind), `bench` runs the bench.
#   bash scripts/c-env.sh [build|run|go|bench]
# Installs (idempotently) what it needs from Debian: libcjson-dev (the conformance runner's
# JSON parser), valgrind, pkg-config. Outputs, all under target/:
#   release/libtenantguard.so (SONAME libtenantguard.so.0) and release/libtenantguard.a;
#   c-dist/{include,lib,lib/pkgconfig/tenantguard.pc}: an install tree the tests build against;
#   c-tests/: the test programs, each linked dynamically (rpath) and statically.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
MODE=${1:-build}

missing=()
for pkg in libcjson-dev valgrind pkg-config; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

# `cargo rustc` so rustc can print the static library's native dependencies; it prints them
# only when it actually compiles, so the last answer is kept beside the outputs.
OUT=target/c-tests
mkdir -p "$OUT"
cargo rustc --release --locked -p tenantguard-c --lib -- --print native-static-libs 2> "$OUT/build.log" \
  || { cat "$OUT/build.log" >&2; exit 1; }
native=$(sed -n 's/.*native-static-libs: //p' "$OUT/build.log" | tail -1)
if [ -n "$native" ]; then echo "$native" > "$OUT/native-static-libs"; fi
NATIVE=$(cat "$OUT/native-static-libs")

# The install tree: header, libraries (with the SONAME link) and the pkg-config file.
DIST=$ROOT/target/c-dist
rm -rf "$DIST" && mkdir -p "$DIST/include" "$DIST/lib/pkgconfig"
cp bindings-c/include/tenantguard.h "$DIST/include/"
cp target/release/libtenantguard.so target/release/libtenantguard.a "$DIST/lib/"
ln -sf libtenantguard.so "$DIST/lib/libtenantguard.so.0"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
sed -e "s|@PREFIX@|$DIST|" -e "s|@VERSION@|$VERSION|" -e "s|@NATIVE_STATIC_LIBS@|$NATIVE|" \
  bindings-c/tenantguard.pc.in > "$DIST/lib/pkgconfig/tenantguard.pc"
export PKG_CONFIG_PATH="$DIST/lib/pkgconfig"
readelf -d "$DIST/lib/libtenantguard.so" | grep -q 'SONAME.*libtenantguard.so.0' \
  || { echo "error: libtenantguard.so has no SONAME libtenantguard.so.0" >&2; exit 1; }

CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O2 -g"
DYN="$(pkg-config --cflags --libs tenantguard) -Wl,-rpath,$DIST/lib"
STATIC="$(pkg-config --cflags tenantguard) $DIST/lib/libtenantguard.a $NATIVE"
T=bindings-c/tests
gcc $CFLAGS "$T/test_api.c" $DYN -o "$OUT/test_api"
gcc $CFLAGS "$T/test_api.c" $STATIC -o "$OUT/test_api_static"
gcc $CFLAGS -pthread "$T/test_threads.c" $DYN -o "$OUT/test_threads"
gcc $CFLAGS -pthread "$T/test_threads.c" $STATIC -o "$OUT/test_threads_static"
gcc $CFLAGS "$T/conformance.c" $DYN -lcjson -o "$OUT/conformance"
gcc $CFLAGS "$T/test_hostile.c" $DYN -o "$OUT/test_hostile"
gcc $CFLAGS "$T/test_redis.c" $DYN -o "$OUT/test_redis"
gcc $CFLAGS "$T/bench.c" $DYN -o "$OUT/bench"
gcc $CFLAGS "$T/bench.c" $STATIC -o "$OUT/bench_static"
# The header is also valid C++ (extern "C", no C-only constructs): compile a use of it with g++.
printf '#include "tenantguard.h"\nint main() { TgDecision d{}; return tg_abi_version() == TG_ABI_VERSION && !d.allowed ? 0 : 1; }\n' > "$OUT/cxx_header.cpp"
g++ -std=c++17 -Wall -Wextra -Werror "$OUT/cxx_header.cpp" $DYN -o "$OUT/cxx_header" && "$OUT/cxx_header"
if ldd "$OUT/test_api_static" | grep -q libtenantguard; then
  echo "error: the static test links libtenantguard.so" >&2; exit 1
fi

VALGRIND="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
case "$MODE" in
  build) ;;
  run)
    for t in test_api test_api_static test_threads test_threads_static; do
      echo "--- $t (valgrind)"
      $VALGRIND "$OUT/$t"
    done
    echo "--- test_hostile (valgrind)"
    $VALGRIND "$OUT/test_hostile" 3000
    # valgrind runs one thread at a time: the thread test also runs natively, truly in parallel.
    echo "--- test_threads (native, parallel)"
    "$OUT/test_threads"
    echo "--- test_redis (valgrind; the store option on the redis-server of TG_REDIS_URL)"
    $VALGRIND "$OUT/test_redis"
    echo "--- conformance (valgrind)"
    $VALGRIND "$OUT/conformance" tests/conformance | tail -1
    ;;
  go)
    # The Go example (cgo on the same header and pkg-config file).
    PKG_CONFIG_PATH="$DIST/lib/pkgconfig" CGO_ENABLED=1 CGO_LDFLAGS="-Wl,-rpath,$DIST/lib" \
      go -C examples/go test -count=1 ./...
    ;;
  bench)
    echo "--- dynamic (libtenantguard.so)"; "$OUT/bench" "${2:-5000000}"
    echo "--- static (libtenantguard.a)"; "$OUT/bench_static" "${2:-5000000}"
    ;;
  *) echo "usage: $0 [build|run|go|bench [iterations]]" >&2; exit 2 ;;
esac
