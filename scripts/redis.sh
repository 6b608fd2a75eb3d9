#!/usr/bin/env bash
# A private redis-server for the shared-store tests.
#   scripts/redis.sh start           -> prints "redis://127.0.0.1:<port>/ <dir>"; state under $TG_REDIS_DIR (default /tmp)
#   scripts/redis.sh stop <dir>      -> stops that server by its pid file and removes <dir>
#   scripts/redis.sh pid <dir>       -> the server's pid (for the SIGSTOP/kill fault tests)
#   scripts/redis.sh restart <dir>   -> starts the server again on the same port (after a kill)
#   scripts/redis.sh cluster         -> a 3-node Redis Cluster (all primaries) on free ports; prints
#                                       "redis://127.0.0.1:<first port>/ <dir>"; stop it with `stop <dir>`
# Installs redis-server from Debian if missing (idempotent). Listens on 127.0.0.1 only, on a
# free port, without persistence; nothing outside <dir> is touched.
set -euo pipefail
cmd=${1:-}
launch() {
  local dir=$1 port=$2
  shift 2
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" "$@" >/dev/null
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "redis-server did not answer on port $port; log:" >&2
  cat "$dir/redis.log" >&2 || true
  return 1
}
install() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "installing redis-server from Debian..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2
  fi
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
stop_one() {
  local dir=$1
  if [ -f "$dir/redis.pid" ]; then
    pid=$(cat "$dir/redis.pid")
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}
case "$cmd" in
  cluster)
    install
    dir=$(mktemp -d "${TG_REDIS_DIR:-/tmp}/tg-redis-cluster.XXXXXX")
    nodes=()
    for i in 1 2 3; do
      mkdir -p "$dir/node$i"
      port=$(free_port)
      # The cluster bus listens on port + 10000: pick again if that one is taken.
      while ! python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $port + 10000))" 2>/dev/null; do port=$(free_port); done
      echo "$port" > "$dir/node$i/port"
      launch "$dir/node$i" "$port" --cluster-enabled yes --cluster-config-file "$dir/node$i/nodes.conf"
      nodes+=("127.0.0.1:$port")
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 \
      || { cat "$dir/create.log" >&2; exit 1; }
    first=${nodes[0]#127.0.0.1:}
    for _ in $(seq 1 100); do
      if redis-cli -p "$first" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then break; fi
      sleep 0.1
    done
    echo "redis://127.0.0.1:$first/ $dir"
    ;;
  start)
    install
    dir=$(mktemp -d "${TG_REDIS_DIR:-/tmp}/tg-redis.XXXXXX")
    port=$(free_port)
    echo "$port" > "$dir/port"
    launch "$dir" "$port"
    echo "redis://127.0.0.1:$port/ $dir"
    ;;
  restart)
    dir=${2:?usage: redis.sh restart <dir>}
    launch "$dir" "$(cat "$dir/port")"
    ;;
  pid)
    dir=${2:?usage: redis.sh pid <dir>}
    cat "$dir/redis.pid"
    ;;
  stop)
    dir=${2:?usage: redis.sh stop <dir>}
    stop_one "$dir"
    for node in "$dir"/node*; do [ -d "$node" ] && stop_one "$node"; done
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | cluster | stop <dir> | pid <dir> | restart <dir>" >&2
    exit 2
    ;;
esac
