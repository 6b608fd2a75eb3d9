//! Prints ns per check for tenantguard and, in the same run, for `governor` (keyed, String
//! keys), with the ratio. Also bytes per tenant and the time to reload 100,000 tenants.
//!
//! `cargo run --release -p tenantguard-bench` (full) or `-- --quick` (CI smoke: small sizes).
//! Figures are best-of-5 on a noisy 2-core machine: compare ratios within one run.

use governor::{Quota, RateLimiter};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant;
use tenantguard::{Config, Governor, IsolationMode};

const BENCH_CONFIG: &str = r#"
[tenant_quotas]
default_tier = "bench"
[[tenant_quotas.tiers]]
name = "bench"
max_qps = 1000000000
enforcement_action = "reject"
"#;

/// Simulated time shared by every measured loop: it only moves forward, across runs and
/// cases, advancing 1 ms every 1024 checks as a live service's clock would. (Restarting it per
/// run would make later runs present earlier times, which the limiter rightly refuses.)
static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn tick(i: usize) -> u64 {
    CLOCK.load(std::sync::atomic::Ordering::Relaxed) + (i >> 10) as u64
}

fn advance(iters: usize) {
    CLOCK.fetch_add((iters >> 10) as u64 + 1, std::sync::atomic::Ordering::Relaxed);
}

fn best_of<F: FnMut() -> u64>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let n = f();
            let ns = t.elapsed().as_nanos() as f64 / n.max(1) as f64;
            advance(n as usize);
            ns
        })
        .fold(f64::INFINITY, f64::min)
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn governed(n: usize) -> (Governor, Vec<String>) {
    let gov = Governor::builder().config(Config::from_toml(BENCH_CONFIG).unwrap_or_default()).build();
    let names: Vec<String> = (0..n).map(|i| format!("tenant-{i:07}")).collect();
    for name in &names {
        if let Err(e) = gov.register(name, None, IsolationMode::SharedSchema, 0) {
            eprintln!("register: {e}");
            std::process::exit(1);
        }
    }
    (gov, names)
}

/// Round-robin index without a division per iteration (a `%` costs ~13 ns here and would
/// swamp both libraries' figures).
struct Cycle {
    i: usize,
    n: usize,
}

impl Cycle {
    fn new(n: usize) -> Self {
        Self { i: 0, n: n.max(1) }
    }
    #[inline]
    fn next(&mut self) -> usize {
        let i = self.i;
        self.i += 1;
        if self.i == self.n {
            self.i = 0;
        }
        i
    }
}

fn tg_round_robin(gov: &Governor, names: &[String], iters: usize) -> f64 {
    best_of(5, || {
        let mut ok = 0u64;
        let mut c = Cycle::new(names.len());
        for i in 0..iters {
            let name = &names[c.next()];
            // Time advances 1 ms every 1024 checks, as a live service's would.
            if let Ok(d) = gov.check(name, "qps", 1, tick(i)) {
                ok += u64::from(d.allowed);
            }
        }
        if ok != iters as u64 {
            eprintln!(
                "warning: {} of {iters} checks were refused; the figures mix in the refusal path",
                iters as u64 - ok
            );
        }
        black_box(ok);
        iters as u64
    })
}

fn gov_round_robin(lim: &governor::DefaultKeyedRateLimiter<String>, keys: &[String], iters: usize) -> f64 {
    best_of(5, || {
        let mut ok = 0u64;
        let mut c = Cycle::new(keys.len());
        for _ in 0..iters {
            ok += u64::from(lim.check_key(&keys[c.next()]).is_ok());
        }
        black_box(ok);
        iters as u64
    })
}

fn keyed_governor(keys: &[String]) -> governor::DefaultKeyedRateLimiter<String> {
    let lim = RateLimiter::keyed(Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap_or(NonZeroU32::MIN)));
    for k in keys {
        let _ = lim.check_key(k);
    }
    lim
}

fn row(label: &str, ours: f64, theirs: Option<f64>) {
    match theirs {
        Some(t) => println!("{label:<34} {ours:>9.1} ns {t:>12.1} ns {:>9.2}x", t / ours),
        None => println!("{label:<34} {ours:>9.1} ns {:>12} {:>10}", "-", "-"),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iters = if quick { 200_000 } else { 5_000_000 };
    let big = if quick { 100_000 } else { 1_000_000 };
    println!(
        "tenantguard bench ({}; best of 5; governor = keyed governor::RateLimiter with String keys)\n",
        if quick { "quick" } else { "full" }
    );
    println!("{:<34} {:>12} {:>15} {:>10}", "case", "tenantguard", "governor", "gov/ours");

    // 1. One hot tenant.
    let (gov, names) = governed(1);
    let keys = names.clone();
    let glim = keyed_governor(&keys);
    row("check, 1 hot tenant", tg_round_robin(&gov, &names, iters), Some(gov_round_robin(&glim, &keys, iters)));
    let h = gov.handle(&names[0]).ok();
    if let Some(h) = h {
        let ns = best_of(5, || {
            let mut ok = 0u64;
            for i in 0..iters {
                ok += h.check("qps", 1, tick(i)).map(|d| u64::from(d.allowed)).unwrap_or(0);
            }
            black_box(ok);
            iters as u64
        });
        row("check via TenantHandle, hot", ns, None);
    }

    // 2. 10,000 tenants round-robin.
    let (gov, names) = governed(10_000);
    let glim = keyed_governor(&names);
    row(
        "check, 10,000 tenants round-robin",
        tg_round_robin(&gov, &names, iters),
        Some(gov_round_robin(&glim, &names, iters)),
    );
    let handles: Vec<_> = names.iter().filter_map(|n| gov.handle(n).ok()).collect();
    let hns = best_of(5, || {
        let mut ok = 0u64;
        let mut c = Cycle::new(handles.len());
        for i in 0..iters {
            ok += handles[c.next()].check("qps", 1, tick(i)).map(|d| u64::from(d.allowed)).unwrap_or(0);
        }
        black_box(ok);
        iters as u64
    });
    row("check via TenantHandle, 10,000", hns, None);
    drop(handles);

    // 3. Two threads on the same 10,000 tenants (wall time per check per thread).
    let per_thread = iters / 2;
    let two = best_of(3, || {
        std::thread::scope(|s| {
            for t in 0..2 {
                let (gov, names) = (&gov, &names);
                s.spawn(move || {
                    let mut ok = 0u64;
                    let mut c = Cycle::new(names.len());
                    c.i = t * names.len() / 2;
                    for i in 0..per_thread {
                        let name = &names[c.next()];
                        ok += gov.check(name, "qps", 1, tick(i)).map(|d| u64::from(d.allowed)).unwrap_or(0);
                    }
                    black_box(ok);
                });
            }
        });
        per_thread as u64
    });
    let gtwo = best_of(3, || {
        std::thread::scope(|s| {
            for t in 0..2 {
                let (glim, names) = (&glim, &names);
                s.spawn(move || {
                    let mut ok = 0u64;
                    let mut c = Cycle::new(names.len());
                    c.i = t * names.len() / 2;
                    for _ in 0..per_thread {
                        ok += u64::from(glim.check_key(&names[c.next()]).is_ok());
                    }
                    black_box(ok);
                });
            }
        });
        per_thread as u64
    });
    row("check, 2 threads × 10,000 tenants", two, Some(gtwo));
    drop((gov, glim));

    // 4. Many tenants: lookups miss the cache.
    let rss0 = rss_bytes();
    let (gov, names) = governed(big);
    let ns = tg_round_robin(&gov, &names, iters.max(big * 2));
    let rss1 = rss_bytes();
    let glim = keyed_governor(&names);
    let gns = gov_round_robin(&glim, &names, iters.max(big * 2));
    row(&format!("check, {big} tenants round-robin"), ns, Some(gns));
    drop(glim);

    println!();
    println!(
        "rate state per tenant-resource (memory store): {} bytes for qps (inline word), {} bytes for other rate resources",
        tenantguard::store::FAST_RATE_STATE_BYTES,
        tenantguard::store::RATE_STATE_BYTES
    );
    println!("governor estimate per tenant (entry, profile, state, meter): {} bytes", gov.approx_bytes_per_tenant());
    if let (Some(a), Some(b)) = (rss0, rss1) {
        println!("resident memory per tenant ({big} tenants, measured): {} bytes", b.saturating_sub(a) / big as u64);
    }

    drop((gov, names)); // the 1,000,000 tenants: freed before the next case measures

    // 5. Reload with 100,000 tenants: best of 5, each reload changing every tenant's limit.
    let (gov, names) = governed(100_000);
    for n in &names {
        let _ = gov.check(n, "qps", 1, 0);
    }
    let configs = [BENCH_CONFIG.replace("1000000000", "999999999"), BENCH_CONFIG.to_owned()]
        .map(|t| Config::from_toml(&t).unwrap_or_default());
    let (mut ms, mut changed) = (f64::INFINITY, usize::MAX);
    for i in 0..5 {
        let cfg = configs[i % 2].clone();
        let t = Instant::now();
        let report = gov.reload(cfg);
        ms = ms.min(t.elapsed().as_secs_f64() * 1000.0);
        match report {
            Ok(r) => changed = changed.min(r.changed_tenants.len()),
            Err(e) => {
                eprintln!("reload: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("reload of 100,000 tenants (best of 5): {ms:.1} ms ({changed} tenants reported changed, fewest of 5)");
    rls_bench(quick);
    let t = Instant::now();
    let evicted = gov.evict_idle(60_000);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    println!("evict_idle over 100,000 tenants a minute later: {evicted} idle rate cells dropped in {ms:.1} ms");
}

fn rls_bench(quick: bool) {
    use tenantguard::rls::{PolicyDef, RLSCommand, RlsContext, RlsEngine, row_from_json};
    let n = if quick { 100_000 } else { 2_000_000 };
    let def = |name: &str, restrictive: bool, command: RLSCommand, using: &str| PolicyDef {
        name: name.into(),
        restrictive,
        command,
        roles: vec![],
        using: Some(using.into()),
        with_check: None,
    };
    let simple = RlsEngine::new();
    simple.set_enabled("docs", true);
    let _ = simple.create_policy("docs", def("tenant", false, RLSCommand::All, "tenant_id = current_tenant()"), false);
    let five = RlsEngine::new();
    five.set_enabled("docs", true);
    for p in [
        def("tenant", false, RLSCommand::All, "tenant_id = current_tenant()"),
        def("shared", false, RLSCommand::Select, "visibility IN ('public', 'shared', 'org')"),
        def("admins", false, RLSCommand::Select, "current_user LIKE 'admin%'"),
        def("not_archived", true, RLSCommand::All, "archived IS NOT TRUE"),
        def("region", true, RLSCommand::Select, "region = ANY(ARRAY['eu', 'us', 'ap'])"),
    ] {
        let _ = five.create_policy("docs", p, false);
    }
    let row = row_from_json(
        &serde_json::json!({"tenant_id": "acme", "visibility": "private", "archived": false, "region": "eu"}),
    );
    let Ok(row) = row else { return };
    let ctx = RlsContext { tenant: Some("acme".into()), user: "alice".into(), ..Default::default() };
    let prepared = ctx.prepare();
    let per_row = |e: &RlsEngine| {
        let table = e.table("docs");
        best_of(5, || {
            let mut ok = 0u64;
            for _ in 0..n {
                ok += u64::from(table.can_select(black_box(&row), &prepared).unwrap_or(false));
            }
            black_box(ok);
            n as u64
        })
    };
    println!();
    println!("RLS: `tenant_id = current_tenant()` per row: {:.1} ns", per_row(&simple));
    println!("RLS: 5-policy table (permissive + restrictive, IN, LIKE, ANY) per row: {:.1} ns", per_row(&five));
    let src = "tenant_id = current_tenant() AND NOT archived AND region IN ('eu', 'us') AND name LIKE 'a%'";
    let parse = best_of(5, || {
        for _ in 0..10_000 {
            black_box(tenantguard::rls::expr::parse(black_box(src)).is_ok());
        }
        10_000
    });
    println!("RLS: parse + compile of a typical policy: {:.2} µs", parse / 1000.0);
}
