//! The S2 noisy-neighbour load test, replayed deterministically on simulated time.
//!
//! 100 tenants (80 free, 15 pro, 5 enterprise) share one governor configured with S2's
//! example 1 (`examples/config/tiered.toml`). `free_tenant_042` has buggy code offering
//! 5000 QPS for 60 s; everyone else offers a normal load below their tier's limit. The table
//! shows offered versus admitted QPS per tier and the noisy tenant held to its limit.
//!
//! Run: `cargo run --release -p noisy_neighbor` (add `--seconds N` for a shorter run).

use std::collections::BTreeMap;
use std::process::ExitCode;
use tenantguard::{Action, Governor, IsolationMode};

const CONFIG: &str = include_str!("../../config/tiered.toml");
const NOISY: &str = "free_tenant_042";

struct Load {
    name: String,
    tier: &'static str,
    qps: u64,
}

#[derive(Default, Clone, Copy)]
struct Tally {
    offered: u64,
    admitted: u64,
    immediate: u64,
    throttled: u64,
    queued: u64,
    rejected: u64,
    max_delay_ms: u64,
}

fn tenants() -> Vec<Load> {
    let mut v = Vec::new();
    for i in 0..80u64 {
        let name = format!("free_tenant_{i:03}");
        let qps = if name == NOISY { 5000 } else { 20 + (i * 37) % 60 };
        v.push(Load { name, tier: "free", qps });
    }
    for i in 0..15u64 {
        v.push(Load { name: format!("pro_tenant_{i:02}"), tier: "pro", qps: 100 + (i * 53) % 300 });
    }
    for i in 0..5u64 {
        v.push(Load { name: format!("enterprise_{i}"), tier: "enterprise", qps: 1000 + (i * 911) % 3000 });
    }
    v
}

fn main() -> ExitCode {
    let seconds: u64 =
        std::env::args().skip_while(|a| a != "--seconds").nth(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let gov = match Governor::from_toml(CONFIG) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let load = tenants();
    let mut handles = Vec::new();
    for t in &load {
        // No explicit plan: the S2 assignments (`free_tenant_*` → free, ...) decide.
        match gov.register(&t.name, None, IsolationMode::SharedSchema, 0).and_then(|_| gov.handle(&t.name)) {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("register {}: {e}", t.name);
                return ExitCode::FAILURE;
            }
        }
    }
    let mut tally = vec![Tally::default(); load.len()];
    let start = std::time::Instant::now();
    let end_ms = seconds * 1000;
    // Every millisecond each tenant sends the requests its rate calls for (evenly spaced).
    for t in 0..end_ms {
        for (i, l) in load.iter().enumerate() {
            let n = (t + 1) * l.qps / 1000 - t * l.qps / 1000;
            for _ in 0..n {
                let d = match handles[i].check("qps", 1, t) {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("check {}: {e}", l.name);
                        return ExitCode::FAILURE;
                    }
                };
                let s = &mut tally[i];
                s.offered += 1;
                if d.allowed {
                    s.admitted += 1;
                    s.max_delay_ms = s.max_delay_ms.max(d.delay_ms);
                }
                match d.action {
                    Action::Throttle => s.throttled += 1,
                    Action::Queue => s.queued += 1,
                    Action::Reject => s.rejected += 1,
                    Action::Allow | Action::Warn => s.immediate += 1,
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let total: u64 = tally.iter().map(|t| t.offered).sum();

    println!(
        "tenantguard noisy-neighbour replay: {} tenants, {seconds} s simulated, {total} checks in {:.2} s wall ({:.0} ns/check)\n",
        load.len(),
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / total.max(1) as f64
    );
    println!(
        "{:<26} {:>7} {:>13} {:>14} {:>10} {:>10} {:>10} {:>10}",
        "group", "tenants", "offered QPS", "admitted QPS", "throttled", "queued", "rejected", "max delay"
    );
    let mut groups: BTreeMap<(u8, String), (u64, Tally)> = BTreeMap::new();
    for (l, t) in load.iter().zip(&tally) {
        let key = if l.name == NOISY {
            (0, format!("{NOISY} (noisy)"))
        } else {
            (
                match l.tier {
                    "free" => 1,
                    "pro" => 2,
                    _ => 3,
                },
                format!("{} (others)", l.tier),
            )
        };
        let g = groups.entry(key).or_default();
        g.0 += 1;
        g.1.offered += t.offered;
        g.1.admitted += t.admitted;
        g.1.throttled += t.throttled;
        g.1.queued += t.queued;
        g.1.rejected += t.rejected;
        g.1.max_delay_ms = g.1.max_delay_ms.max(t.max_delay_ms);
    }
    for ((_, name), (n, t)) in &groups {
        let per = |v: u64| v as f64 / seconds as f64 / *n as f64;
        println!(
            "{:<26} {:>7} {:>13.1} {:>14.1} {:>10} {:>10} {:>10} {:>8} ms",
            name,
            n,
            per(t.offered),
            per(t.admitted),
            t.throttled,
            t.queued,
            t.rejected,
            t.max_delay_ms
        );
    }

    // The promise, checked: the noisy tenant is held to 100 QPS (plus its 150 burst and at most
    // 1 s of throttled reservations), and nobody else loses a single request.
    let noisy = load.iter().position(|l| l.name == NOISY).map(|i| tally[i]).unwrap_or_default();
    let bound = 100 * seconds + 150 + 100;
    let others_rejected: u64 = load
        .iter()
        .zip(&tally)
        .filter(|(l, _)| l.name != NOISY)
        .map(|(_, t)| t.rejected + t.throttled + t.queued)
        .sum();
    println!(
        "\nnoisy tenant: offered {} QPS, admitted {:.1} QPS (limit 100, burst 150); other tenants limited: {others_rejected} requests",
        noisy.offered / seconds.max(1),
        noisy.admitted as f64 / seconds as f64
    );
    if noisy.admitted > bound || noisy.admitted < 100 * seconds || others_rejected != 0 {
        eprintln!("FAILED: noisy admitted {} (bound {bound}), others limited {others_rejected}", noisy.admitted);
        return ExitCode::FAILURE;
    }
    println!("OK: the noisy tenant is held to its limit and every other tenant is unaffected.");
    let status = gov.status(NOISY, end_ms);
    if let Ok(s) = status {
        println!("\nS2 status document for {NOISY}:\n{}", serde_json_pretty(&s));
    }
    ExitCode::SUCCESS
}

fn serde_json_pretty(s: &tenantguard::StatusDocument) -> String {
    serde_json::to_string_pretty(s).unwrap_or_default()
}
