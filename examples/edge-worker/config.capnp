# workerd configuration for the edge-worker example. The wasm package must be built first
# (bash scripts/wasm-env.sh). The test overrides the address with --socket-addr http=127.0.0.1:PORT.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "js/web.js", esModule = embed "../../wasm/js/web.js"),
    (name = "pkg/web/tenantguard.js", esModule = embed "../../wasm/pkg/web/tenantguard.js"),
    (name = "pkg/web/tenantguard_bg.wasm", wasm = embed "../../wasm/pkg/web/tenantguard_bg.wasm"),
  ],
  compatibilityDate = "2025-06-01",
);
