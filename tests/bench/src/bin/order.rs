//! Check by tenant name against `governor` at one tenant count, in registration order and in
//! a shuffled order (the access-order figures of BENCHMARKS.md):
//! `cargo run --release -p tenantguard-bench --bin order -- [tenants] [checks per round]`.
//! Best of 7 rounds; every check is admitted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a failed setup is a failed run

use governor::{Quota, RateLimiter};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant;
use tenantguard::{Governor, IsolationMode};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let n = args.next().unwrap_or(10_000).max(1);
    let iters = args.next().unwrap_or(10_000_000);
    let gov = Governor::from_toml("[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 1000000000\n")
        .unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("tenant-{i:07}")).collect();
    for name in &names {
        gov.register(name, Some("free"), IsolationMode::SharedSchema, 0).unwrap();
    }
    let lim = RateLimiter::keyed(Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap()));
    for k in &names {
        let _ = lim.check_key(k);
    }
    // A fixed shuffle (xorshift, Fisher-Yates), so runs compare.
    let mut shuffled: Vec<usize> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        shuffled.swap(i, (x % (i as u64 + 1)) as usize);
    }
    println!("{n} tenants, {iters} checks per round, best of 7 (ns per check)");
    println!("{:<24} {:>12} {:>12}", "order", "tenantguard", "governor");
    // Simulated time only moves forward, across both orders (going back would refuse).
    let mut t_ms = 1_000u64;
    for (label, order) in [("registration", (0..n).collect::<Vec<_>>()), ("shuffled", shuffled)] {
        let keys: Vec<&String> = order.iter().map(|&i| &names[i]).collect();
        let (mut ours, mut theirs) = (f64::MAX, f64::MAX);
        for _ in 0..7 {
            let t = Instant::now();
            let mut ok = 0u64;
            for (i, k) in keys.iter().cycle().take(iters).enumerate() {
                // Time advances 1 ms every 1024 checks, as in the main bench.
                let now = t_ms + (i as u64 >> 10);
                ok += u64::from(gov.check(k, "qps", 1, now).map(|d| d.allowed).unwrap_or(false));
            }
            t_ms += iters as u64 >> 10;
            ours = ours.min(t.elapsed().as_nanos() as f64 / iters as f64);
            let ours_ok = ok;
            let t = Instant::now();
            for k in keys.iter().cycle().take(iters) {
                ok += u64::from(lim.check_key(k).is_ok());
            }
            theirs = theirs.min(t.elapsed().as_nanos() as f64 / iters as f64);
            assert_eq!(
                (ours_ok, ok - ours_ok),
                (iters as u64, iters as u64),
                "checks were refused (tenantguard, governor): the figures would mix in the refusal path"
            );
            black_box(ok);
        }
        println!("{label:<24} {ours:>12.1} {theirs:>12.1}");
    }
}
