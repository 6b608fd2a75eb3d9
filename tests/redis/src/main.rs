//! `redis-load`: drives a governor on the shared Redis store.
//!
//! ```text
//! redis-load worker --store <json> --config <toml> --tenant <name> --rate <per s> \
//!                   --seconds <s> [--start-at-ms <epoch ms>]
//!     Offers `rate` checks per second for `seconds` (paced), prints one JSON line:
//!     {"admitted", "attempted", "startMs", "endMs", "metrics"}.
//! redis-load bench --store <json> --config <toml> --checks <n> [--threads <k>] [--batch <b>]
//!     Sequential (or `threads` concurrent clients on one governor) checks of one hot
//!     tenant, one by one or `b` at a time with `check_many` (pipelined); prints
//!     {"checks", "seconds", "perSecond", "p50Us", "p99Us", "metrics"}.
//! ```
//! The multi-process tests and the benchmark (`tests/redis/*.py`) run it beside Python
//! workers on the same Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tenantguard::store::StoreSpec;
use tenantguard::{Config, Governor, IsolationMode};

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("redis-load: {msg}");
    std::process::exit(2)
}

fn args() -> (String, HashMap<String, String>) {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_else(|| fail("usage: redis-load worker|bench --key value..."));
    let mut m = HashMap::new();
    while let Some(k) = it.next() {
        let Some(k) = k.strip_prefix("--") else { fail(format!("unexpected argument `{k}`")) };
        let v = it.next().unwrap_or_else(|| fail(format!("--{k} needs a value")));
        m.insert(k.to_owned(), v);
    }
    (cmd, m)
}

fn get<T: std::str::FromStr>(m: &HashMap<String, String>, k: &str, default: Option<T>) -> T {
    match m.get(k) {
        Some(v) => v.parse().unwrap_or_else(|_| fail(format!("--{k}: bad value `{v}`"))),
        None => default.unwrap_or_else(|| fail(format!("--{k} is required"))),
    }
}

fn governor(m: &HashMap<String, String>) -> (Governor, String) {
    let spec = StoreSpec::from_json(&get::<String>(m, "store", None)).unwrap_or_else(|e| fail(e));
    let store = spec.build().unwrap_or_else(|e| fail(e));
    let cfg = Config::from_toml(&get::<String>(m, "config", None)).unwrap_or_else(|e| fail(e));
    let tenant: String = get(m, "tenant", Some("acme".to_owned()));
    let g = Governor::builder().config(cfg).store(store).build();
    g.register(&tenant, None, IsolationMode::SharedSchema, epoch_ms()).unwrap_or_else(|e| fail(e));
    (g, tenant)
}

fn metrics(g: &Governor) -> serde_json::Value {
    g.store_metrics().into_iter().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v))).collect()
}

fn worker(m: &HashMap<String, String>) {
    let (g, tenant) = governor(m);
    let rate: f64 = get(m, "rate", None);
    let seconds: f64 = get(m, "seconds", None);
    if let Some(at) = m.get("start-at-ms").map(|v| v.parse::<u64>().unwrap_or_else(|_| fail("--start-at-ms"))) {
        std::thread::sleep(Duration::from_millis(at.saturating_sub(epoch_ms())));
    }
    let total = (rate * seconds) as u64;
    let (start_ms, start) = (epoch_ms(), Instant::now());
    let (mut admitted, mut errors) = (0u64, 0u64);
    for i in 0..total {
        let due = Duration::from_secs_f64(i as f64 / rate);
        let el = start.elapsed();
        if due > el {
            std::thread::sleep(due - el);
        }
        match g.check(&tenant, "qps", 1, epoch_ms()) {
            Ok(d) if d.allowed => admitted += 1,
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    let out = serde_json::json!({
        "admitted": admitted, "attempted": total, "errors": errors,
        "startMs": start_ms, "endMs": epoch_ms(), "metrics": metrics(&g),
    });
    println!("{out}");
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn bench(m: &HashMap<String, String>) {
    let (g, tenant) = governor(m);
    let g = Arc::new(g);
    let checks: usize = get(m, "checks", None);
    let threads: usize = get(m, "threads", Some(1));
    let batch: usize = get::<usize>(m, "batch", Some(1)).max(1);
    // Warm-up: connections and script loading.
    for _ in 0..200 {
        let _ = g.check(&tenant, "qps", 1, epoch_ms());
    }
    let start = Instant::now();
    let per = checks / threads.max(1);
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (g, tenant) = (g.clone(), tenant.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per);
                if batch == 1 {
                    for _ in 0..per {
                        let t = Instant::now();
                        let _ = g.check(&tenant, "qps", 1, epoch_ms());
                        lat.push(t.elapsed().as_nanos() as u64);
                    }
                } else {
                    // `check_many`: one pipelined round trip per batch; latency = batch time / size.
                    let reqs = vec![tenantguard::CheckRequest { tenant: &tenant, resource: "qps", cost: 1 }; batch];
                    for _ in 0..per / batch {
                        let t = Instant::now();
                        let _ = g.check_many(&reqs, epoch_ms());
                        let each = t.elapsed().as_nanos() as u64 / batch as u64;
                        lat.extend(std::iter::repeat_n(each, batch));
                    }
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let out = serde_json::json!({
        "checks": lat.len(), "threads": threads, "seconds": secs,
        "perSecond": lat.len() as f64 / secs,
        "p50Us": percentile(&lat, 0.50), "p99Us": percentile(&lat, 0.99),
        "metrics": metrics(&g),
    });
    println!("{out}");
}

fn main() {
    let (cmd, m) = args();
    match cmd.as_str() {
        "worker" => worker(&m),
        "bench" => bench(&m),
        other => fail(format!("unknown command `{other}` (worker, bench)")),
    }
}
