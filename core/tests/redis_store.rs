#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! The Redis store against a real redis-server.
//!
//! Needs `TG_REDIS_URL` (`scripts/test.sh` starts a private server with `scripts/redis.sh` and
//! runs these with `--ignored`). The differential tests drive the Lua scripts and the Rust
//! rules they mirror with the same random request sequences and require identical answers,
//! step by step.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tenantguard::limiter::{RateCell, RateParams, RateRequest, evaluate};
use tenantguard::quota::{AcquireParams, CapacityOp};
use tenantguard::store::redis::{RedisOptions, RedisStore, TimeSource};
use tenantguard::store::{DurationParams, IdGen, MemoryTenantState, Store, TenantState};
use tenantguard::{Config, Error, Governor, IsolationMode, RateAlgorithm, RateWindow};

fn url() -> String {
    std::env::var("TG_REDIS_URL").expect("TG_REDIS_URL is not set: run scripts/test.sh, which starts Redis")
}

fn store(prefix: &str, time: TimeSource) -> RedisStore {
    let s = RedisStore::new(
        RedisOptions::new(url())
            .prefix(format!("tgtest:{}:{prefix}", std::process::id()))
            .time(time)
            .timeout(Duration::from_secs(2)),
    )
    .unwrap();
    s.clear().unwrap();
    s
}

/// xorshift: deterministic sequences without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
#[ignore = "needs TG_REDIS_URL"]
fn rate_scripts_match_the_rust_rules() {
    let s = store("rate", TimeSource::Caller);
    let algs = [RateAlgorithm::Gcra, RateAlgorithm::FixedWindow, RateAlgorithm::SlidingWindow];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut steps = 0;
    for case in 0..60 {
        let alg = algs[case % 3];
        let nwin = 1 + rng.below(3) as usize;
        let windows: Vec<RateWindow> = (0..nwin)
            .map(|i| RateWindow {
                limit: 1 + rng.below([10, 100, 7][i]),
                window_ms: [1000, 60_000, 86_400_000][i] / (1 + rng.below(3)),
            })
            .collect();
        let burst = [1.0, 1.5, 2.0, 3.0][rng.below(4) as usize];
        let params = RateParams::new(&windows, burst, alg);
        // Real epoch times (about 1.8e12 ms) so the scripts' precision is exercised.
        let mut now = 1_800_000_000_000 + rng.below(1_000_000);
        let tenant = format!("t{case}");
        let remote = s.open(&tenant);
        let hot = AtomicU64::new(0);
        let mut cells = vec![RateCell::Empty; nwin];
        for step in 0..120 {
            match rng.below(10) {
                0 => now += rng.below(5_000),
                1 => now = now.saturating_sub(rng.below(300)), // the clock may step back
                2 => now += rng.below(100_000),
                _ => now += rng.below(40),
            }
            let req = RateRequest {
                now_ms: now,
                cost: [1, 1, 1, 2, 3, 0, 50][rng.below(7) as usize],
                max_delay_ms: [0, 0, 100, 1000, 5000][rng.below(5) as usize],
                consume: rng.below(8) != 0,
            };
            let want = evaluate(&mut cells, &params.windows, alg, req);
            let got = remote.rate("r", &params, req, &hot).unwrap();
            assert_eq!(got, want, "case {case} step {step}: {alg:?} {windows:?} burst {burst} {req:?}");
            steps += 1;
        }
    }
    println!("rate: {steps} steps identical");
}

#[test]
#[ignore = "needs TG_REDIS_URL"]
fn lease_scripts_match_the_rust_rules() {
    let s = store("lease", TimeSource::Caller);
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for case in 0..40 {
        let tenant = format!("t{case}");
        let remote = s.open(&tenant);
        let local = MemoryTenantState::default();
        let ids = IdGen::default(); // ids start at 1 like the tenant's Redis counter
        let max = 1 + rng.below(4);
        let ttl = if rng.below(2) == 0 { None } else { Some(50 + rng.below(500)) };
        let queue = rng.below(3) != 0;
        let mut now = 1_800_000_000_000u64;
        let mut held: Vec<u64> = Vec::new();
        let mut tickets: Vec<u64> = Vec::new();
        let dp = DurationParams { max_ms: Some(200 + rng.below(400)), idle_ms: Some(50 + rng.below(150)) };
        let mut tx: Vec<u64> = Vec::new();
        for step in 0..150 {
            now += rng.below(60);
            let ctx = format!("case {case} step {step} max {max} ttl {ttl:?} queue {queue}");
            match rng.below(12) {
                0..=3 => {
                    let ticket = if rng.below(2) == 0 {
                        tickets.get(rng.below(tickets.len().max(1) as u64) as usize).copied()
                    } else {
                        None
                    };
                    let p = AcquireParams { max, lease_ttl_ms: ttl, queue, max_wait_ms: 300 };
                    let want = local.acquire("c", p, now, ticket, &ids).unwrap();
                    let got = remote.acquire("c", p, now, ticket, &ids).unwrap();
                    assert_eq!(got, want, "{ctx}");
                    match got {
                        tenantguard::quota::AcquireOutcome::Granted { lease, .. } => held.push(lease),
                        tenantguard::quota::AcquireOutcome::Queued { ticket, .. } => tickets.push(ticket),
                        _ => {}
                    }
                }
                4 | 5 if !held.is_empty() => {
                    let l = held.swap_remove(rng.below(held.len() as u64) as usize);
                    assert_eq!(remote.release("c", l, now).unwrap(), local.release("c", l, now).unwrap(), "{ctx}");
                }
                6 if !tickets.is_empty() => {
                    let t = tickets.swap_remove(rng.below(tickets.len() as u64) as usize);
                    assert_eq!(remote.cancel("c", t).unwrap(), local.cancel("c", t).unwrap(), "{ctx}");
                }
                7 => {
                    let cost = 1 + rng.below(2);
                    assert_eq!(
                        remote.available("c", max, now, cost).unwrap(),
                        local.available("c", max, now, cost).unwrap(),
                        "{ctx}"
                    );
                }
                8 => {
                    let (a, b) = (remote.begin("d", now, &ids).unwrap(), local.begin("d", now, &ids).unwrap());
                    assert_eq!(a, b, "{ctx}");
                    tx.push(a);
                }
                9 if !tx.is_empty() => {
                    let l = tx[rng.below(tx.len() as u64) as usize];
                    assert_eq!(remote.touch("d", l, now, dp).unwrap(), local.touch("d", l, now, dp).unwrap(), "{ctx}");
                }
                10 if !tx.is_empty() => {
                    let l = tx.swap_remove(rng.below(tx.len() as u64) as usize);
                    assert_eq!(remote.end("d", l, now, dp).unwrap(), local.end("d", l, now, dp).unwrap(), "{ctx}");
                }
                _ => {
                    assert_eq!(remote.expired("d", now, dp).unwrap(), local.expired("d", now, dp).unwrap(), "{ctx}");
                }
            }
            assert_eq!(remote.concurrency_stats("c").unwrap(), local.concurrency_stats("c").unwrap(), "{ctx}");
            assert_eq!(remote.duration_stats("d").unwrap(), local.duration_stats("d").unwrap(), "{ctx}");
        }
    }
}

#[test]
#[ignore = "needs TG_REDIS_URL"]
fn capacity_script_matches_the_rust_rule() {
    let s = store("cap", TimeSource::Caller);
    let remote = s.open("acme");
    let local = MemoryTenantState::default();
    let mut rng = Rng(7);
    for step in 0..300 {
        let op = match rng.below(5) {
            0 => CapacityOp::Set(rng.below(1 << 40)),
            1 => CapacityOp::Add { delta: rng.below(1000), max: Some(5000) },
            2 => CapacityOp::Add { delta: rng.below(1 << 30), max: None },
            3 => CapacityOp::Sub(rng.below(2000)),
            _ => CapacityOp::Get,
        };
        assert_eq!(
            remote.capacity("storage", op).unwrap(),
            local.capacity("storage", op).unwrap(),
            "step {step} {op:?}"
        );
    }
    // Beyond 2^53 the store refuses instead of rounding.
    assert!(matches!(remote.capacity("storage", CapacityOp::Set(u64::MAX)), Err(Error::InvalidArgument { .. })));
}

/// Two governors (two connection pools, as two processes would have) on one prefix enforce
/// one limit together, on the server's clock.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn two_governors_share_one_limit_on_server_time() {
    let s = store("shared", TimeSource::Server);
    let opts = s.options().clone();
    let cfg = || {
        Config::from_toml(
            "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 100\nburst_allowance = 1.5\nenforcement_action = \"reject\"\n",
        )
        .unwrap()
    };
    let g1 = Governor::builder().config(cfg()).store(Arc::new(s)).build();
    let g2 = Governor::builder().config(cfg()).store(Arc::new(RedisStore::new(opts).unwrap())).build();
    for g in [&g1, &g2] {
        g.register("acme", Some("t"), IsolationMode::SharedSchema, 0).unwrap();
    }
    // 100 QPS, burst 1.5 -> 150 at once; the two governors' own clocks are ignored.
    let mut admitted = 0;
    for i in 0..200u64 {
        let g = if i % 2 == 0 { &g1 } else { &g2 };
        if g.check("acme", "qps", 1, i * 1_000_000).unwrap().allowed {
            admitted += 1;
        }
    }
    // A few may refill while the loop runs (one per 10 ms of server time).
    assert!((150..=160).contains(&admitted), "admitted {admitted}");
}

#[test]
#[ignore = "needs TG_REDIS_URL"]
fn leases_from_many_threads_never_exceed_the_limit() {
    let s = Arc::new(store("threads", TimeSource::Caller));
    let ids = Arc::new(IdGen::default());
    let peak = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (s, ids, peak) = (s.clone(), ids.clone(), peak.clone());
            std::thread::spawn(move || {
                let st = s.open("acme");
                let p = AcquireParams { max: 3, lease_ttl_ms: None, queue: false, max_wait_ms: 0 };
                for _ in 0..100 {
                    if let tenantguard::quota::AcquireOutcome::Granted { lease, active } =
                        st.acquire("c", p, 1, None, &ids).unwrap()
                    {
                        peak.fetch_max(active, std::sync::atomic::Ordering::Relaxed);
                        assert!(st.release("c", lease, 1).unwrap());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let st = s.open("acme");
    let stats = st.concurrency_stats("c").unwrap();
    assert_eq!(stats.active, 0, "every lease released");
    assert!(peak.load(std::sync::atomic::Ordering::Relaxed) <= 3);
    assert_eq!(stats.high_water_mark, peak.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn an_unreachable_server_is_a_store_error_within_the_timeout() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = RedisStore::new(RedisOptions::new(format!("redis://127.0.0.1:{port}/")).timeout(Duration::from_millis(50)))
        .unwrap();
    let g = Governor::builder().store(Arc::new(s.clone())).build();
    g.register("acme", Some("free"), IsolationMode::SharedSchema, 0).unwrap();
    let t = Instant::now();
    match g.check("acme", "qps", 1, 0) {
        Err(Error::Store(m)) => assert!(m.contains("redis"), "{m}"),
        other => panic!("expected a store error, got {other:?}"),
    }
    // During the backoff further calls fail at once.
    match g.check("acme", "qps", 1, 0) {
        Err(Error::Store(m)) => assert!(m.contains("next attempt"), "{m}"),
        other => panic!("expected a store error, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(2), "bounded by the timeout: {:?}", t.elapsed());
    assert_eq!(s.stats().errors, 2);
    assert!(s.ping().is_err());
}
