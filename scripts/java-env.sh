#!/usr/bin/env bash
# Builds the Java package dev.tenantguard on the C ABI and runs its JUnit 5 tests with Maven.
#   bash scripts/java-env.sh [test|bench [iterations]]
# 1. the C library and header (scripts/c-env.sh build);
# 2. the JNI shim (bindings-c/java/src/main/c/tenantguard_jni.c) compiled with gcc against
#    tenantguard.h and the JDK's jni.h, with libtenantguard.a linked in:
#    bindings-c/java/target/native/libtenantguard_jni.so;
# 3. mvn test (JUnit 5 and Gson from Maven Central, cached in ~/.m2 after the first run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=${1:-test}
for tool in javac mvn gcc; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (this machine kind ships OpenJDK 17, Maven and gcc)" >&2; exit 1; }
done
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
export JAVA_HOME

bash scripts/c-env.sh build
DIST=$ROOT/target/c-dist
NATIVE=$(cat target/c-tests/native-static-libs)
OUT=bindings-c/java/target/native
mkdir -p "$OUT"
# The Rust symbols stay inside the JNI library (--exclude-libs); only Java_* and JNI_On* export.
gcc -std=c11 -Wall -Wextra -Werror -O2 -g -shared -fPIC \
  -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -I"$DIST/include" \
  bindings-c/java/src/main/c/tenantguard_jni.c "$DIST/lib/libtenantguard.a" $NATIVE \
  -Wl,--exclude-libs,ALL -Wl,--no-undefined -o "$OUT/libtenantguard_jni.so"

MVN="mvn -B -q -f bindings-c/java/pom.xml"
case "$MODE" in
  test)
    $MVN test
    grep -h "Tests run" bindings-c/java/target/surefire-reports/*.txt
    ;;
  bench)
    $MVN test-compile
    CP="bindings-c/java/target/classes:bindings-c/java/target/test-classes"
    java -Dtenantguard.library.path="$ROOT/$OUT/libtenantguard_jni.so" -cp "$CP" dev.tenantguard.Bench "${2:-5000000}"
    ;;
  *) echo "usage: $0 [test|bench [iterations]]" >&2; exit 2 ;;
esac
