//! The Redis store against a real redis-server.
//!
//! Needs `TG_REDIS_URL` (`scripts/test.sh` starts a private server with `scripts/redis.sh` and
//! runs these with `--ignored`). The differential tests drive the Lua scripts and the Rust
//! rules they mirror with the same random request sequences and require identical answers,
//! step by step.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tenantguard::limiter::{RateCell, RateParams, RateRequest, evaluate};
use tenantguard::quota::{AcquireParams, CapacityOp};
use tenantguard::store::redis::{FailurePolicy, LOCAL_LEASE_BIT, Mode, RedisOptions, RedisStore, TimeSource};
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

/// A differential test compares the script with the Rust rule only while no call failed: a
/// failed call is answered by the fallback, which runs the very rule it is compared with.
fn assert_no_fallback(s: &RedisStore, what: &str) {
    let st = s.stats();
    assert_eq!((st.errors, st.fallbacks), (0, 0), "{what}: a script call failed and the fallback answered");
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
    // The throttled sliding window whose delays reach into later windows (reservations carry
    // over), step by step.
    let windows = [RateWindow { limit: 10, window_ms: 1000 }];
    let params = RateParams::new(&windows, 1.0, RateAlgorithm::SlidingWindow);
    let remote = s.open("spill");
    let hot = AtomicU64::new(0);
    let mut cells = vec![RateCell::Empty];
    for (i, now) in (0..300u64).map(|i| (i, 1_800_000_000_999 + (i / 60) * 700)) {
        let req = RateRequest { now_ms: now, cost: 1 + i % 2, max_delay_ms: 2_500, consume: true };
        let want = evaluate(&mut cells, &params.windows, RateAlgorithm::SlidingWindow, req);
        assert_eq!(remote.rate("r", &params, req, &hot).unwrap(), want, "spill step {i}");
        steps += 1;
    }
    // The limit changes under the counters (downgrades, upgrades, overrides that lapse).
    for alg in [RateAlgorithm::FixedWindow, RateAlgorithm::SlidingWindow] {
        let remote = s.open(&format!("limits-{alg:?}"));
        let hot = AtomicU64::new(0);
        let mut cells = vec![RateCell::Empty];
        let mut now = 1_800_000_000_000u64;
        for i in 0..400u64 {
            let limit = [50, 7, 20, 3][(i / 25 % 4) as usize];
            let params = RateParams::new(&[RateWindow { limit, window_ms: 1000 }], 1.0, alg);
            now += rng.below(120);
            let req = RateRequest {
                now_ms: now,
                cost: 1 + rng.below(3),
                max_delay_ms: [0, 1500][rng.below(2) as usize],
                consume: true,
            };
            let want = evaluate(&mut cells, &params.windows, alg, req);
            assert_eq!(remote.rate("r", &params, req, &hot).unwrap(), want, "{alg:?} limit step {i}");
            steps += 1;
        }
    }
    assert_no_fallback(&s, "rate");
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
        let ids = IdGen::default();
        let dur_ids = IdGen::default(); // starts at 1 like the tenant's counter in Redis
        let max = 1 + rng.below(4);
        let ttl = if rng.below(2) == 0 { None } else { Some(50 + rng.below(500)) };
        let queue = rng.below(3) != 0;
        let mut now = 1_800_000_000_000u64;
        // Lease and ticket ids differ (the store draws random ones): (local, remote) pairs.
        let mut held: Vec<(u64, u64)> = Vec::new();
        let mut tickets: Vec<(u64, u64)> = Vec::new();
        let dp = DurationParams { max_ms: Some(200 + rng.below(400)), idle_ms: Some(50 + rng.below(150)) };
        let mut tx: Vec<u64> = Vec::new();
        for step in 0..150 {
            now += rng.below(60);
            let ctx = format!("case {case} step {step} max {max} ttl {ttl:?} queue {queue}");
            match rng.below(12) {
                0..=3 => {
                    let ticket = if rng.below(2) == 0 && !tickets.is_empty() {
                        Some(tickets[rng.below(tickets.len() as u64) as usize])
                    } else {
                        None
                    };
                    let p = AcquireParams { max, lease_ttl_ms: ttl, queue, max_wait_ms: 300 };
                    let want = local.acquire("c", p, now, ticket.map(|t| t.0), &ids).unwrap();
                    let got = remote.acquire("c", p, now, ticket.map(|t| t.1), &ids).unwrap();
                    use tenantguard::quota::AcquireOutcome::*;
                    match (want, got) {
                        (Granted { lease: a, active: x }, Granted { lease: b, active: y }) => {
                            assert_eq!(x, y, "{ctx}");
                            assert!(b > 0 && b < LOCAL_LEASE_BIT, "{ctx}: remote id {b}");
                            held.push((a, b));
                        }
                        (
                            Queued { ticket: a, position: p1, wait_left_ms: w1, active: x },
                            Queued { ticket: b, position: p2, wait_left_ms: w2, active: y },
                        ) => {
                            assert_eq!((p1, w1, x), (p2, w2, y), "{ctx}");
                            if ticket.is_none() {
                                tickets.push((a, b));
                            } else {
                                assert_eq!(Some((a, b)), ticket, "{ctx}");
                            }
                        }
                        (want, got) => assert_eq!(got, want, "{ctx}"),
                    }
                }
                4 | 5 if !held.is_empty() => {
                    let (a, b) = held.swap_remove(rng.below(held.len() as u64) as usize);
                    assert_eq!(remote.release("c", b, now).unwrap(), local.release("c", a, now).unwrap(), "{ctx}");
                }
                6 if !tickets.is_empty() => {
                    let (a, b) = tickets.swap_remove(rng.below(tickets.len() as u64) as usize);
                    assert_eq!(remote.cancel("c", b).unwrap(), local.cancel("c", a).unwrap(), "{ctx}");
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
                    // Transaction ids come from the tenant's counter in Redis: 1, 2, 3...
                    let (a, b) = (remote.begin("d", now, &ids).unwrap(), local.begin("d", now, &dur_ids).unwrap());
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
    assert_no_fallback(&s, "leases");
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
    assert_no_fallback(&s, "capacity");
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
    // Operations without a failure policy report the store error...
    match g.add_usage("acme", "storage", 10, 0) {
        Err(Error::Store(m)) => assert!(m.contains("redis"), "{m}"),
        other => panic!("expected a store error, got {other:?}"),
    }
    // ...and during the backoff they fail at once.
    match g.add_usage("acme", "storage", 10, 0) {
        Err(Error::Store(m)) => assert!(m.contains("next attempt"), "{m}"),
        other => panic!("expected a store error, got {other:?}"),
    }
    // Rate checks follow the default policy: in process at the full limit.
    assert!(g.check("acme", "qps", 1, 0).unwrap().allowed);
    assert_eq!(s.stats().fallbacks, 1);
    assert!(t.elapsed() < Duration::from_secs(2), "bounded by the timeout: {:?}", t.elapsed());
    assert_eq!(s.stats().errors, 3);
    assert!(s.ping().is_err());
}

/// A private redis-server for the fault tests (they stop and kill it), stopped on drop.
struct Server {
    url: String,
    dir: String,
}

impl Server {
    fn script(args: &[&str]) -> String {
        let out = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis.sh"))
            .args(args)
            .output()
            .expect("run scripts/redis.sh");
        assert!(out.status.success(), "redis.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
    fn start() -> Self {
        let line = Self::script(&["start"]);
        let (url, dir) = line.rsplit_once(' ').expect("url and dir");
        Self { url: url.to_owned(), dir: dir.to_owned() }
    }
    fn signal(&self, sig: &str) {
        let pid = Self::script(&["pid", &self.dir]);
        let ok = std::process::Command::new("kill").arg(format!("-{sig}")).arg(&pid).status().unwrap().success();
        assert!(ok, "kill -{sig} {pid}");
    }
    fn kill_and_wait(&self) {
        let pid = Self::script(&["pid", &self.dir]);
        self.signal("KILL");
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    fn restart(&self) {
        Self::script(&["restart", &self.dir]);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis.sh"))
            .args(["stop", &self.dir])
            .status();
    }
}

/// A governor on `server` with a 20/s rejecting `qps` and 2 connections, on the caller's
/// clock so counts are exact, with `policy` while Redis cannot answer.
fn faulty_governor(server: &Server, policy: FailurePolicy) -> (Governor, RedisStore) {
    let store = RedisStore::new(
        RedisOptions::new(&server.url)
            .prefix(format!("fault{}", rand_suffix()))
            .time(TimeSource::Caller)
            .timeout(Duration::from_millis(50))
            .failure(policy),
    )
    .unwrap();
    let cfg = Config::from_toml(
        "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 20\nburst_allowance = 1.0\nmax_connections = 2\nenforcement_action = \"reject\"\n",
    )
    .unwrap();
    let g = Governor::builder().config(cfg).store(Arc::new(store.clone())).build();
    g.register("acme", Some("t"), IsolationMode::SharedSchema, 0).unwrap();
    (g, store)
}

/// Waits (up to 5 s) until the store answers a ping again after a fault.
fn wait_for_recovery(store: &RedisStore, what: &str) {
    let t = Instant::now();
    while store.ping().is_err() {
        assert!(t.elapsed() < Duration::from_secs(5), "{what}: no recovery: {:?}", store.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::Ordering;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Admitted out of `n` checks at `now`, and the slowest call.
fn burst(g: &Governor, n: usize, now: u64) -> (usize, Duration) {
    let mut slowest = Duration::ZERO;
    let mut admitted = 0;
    for _ in 0..n {
        let t = Instant::now();
        if g.check("acme", "qps", 1, now).unwrap().allowed {
            admitted += 1;
        }
        slowest = slowest.max(t.elapsed());
    }
    (admitted, slowest)
}

/// SIGSTOP / SIGCONT of redis-server under each failure policy: bounded latency, the policy's
/// answers, releases replayed after recovery (no leaked lease), no double counting.
#[test]
#[ignore = "needs redis-server (scripts/test.sh)"]
fn a_stalled_server_follows_the_failure_policy_and_recovers() {
    let server = Server::start();
    let policies = [FailurePolicy::FailOpen, FailurePolicy::FailClosed, FailurePolicy::Local { share: 0.5 }];
    let govs: Vec<_> = policies.iter().map(|p| faulty_governor(&server, *p)).collect();
    let now = 1_000_000;
    let mut leases = Vec::new();
    for (g, _) in &govs {
        assert_eq!(burst(g, 5, now).0, 5);
        let d = g.acquire("acme", "connections", None, now).unwrap();
        leases.push(d.lease_id.unwrap());
    }

    server.signal("STOP");
    for ((g, store), policy) in govs.iter().zip(policies) {
        let (admitted, slowest) = burst(g, 30, now);
        // One call waits for the 50 ms timeout; then the backoff answers at once.
        assert!(slowest < Duration::from_millis(400), "{policy:?}: a call took {slowest:?}");
        let expected = match policy {
            FailurePolicy::FailOpen => 30,
            FailurePolicy::FailClosed => 0,
            FailurePolicy::Local { .. } => 10, // half of the 20 burst, in process
        };
        assert_eq!(admitted, expected, "{policy:?}");
        let d = g.check("acme", "qps", 1, now).unwrap();
        if policy == FailurePolicy::FailClosed {
            assert_eq!(d.retry_after_ms, 1_000);
        }
        // Releasing a Redis lease during the stall succeeds and is replayed later.
        let lease = leases.remove(0);
        g.release("acme", "connections", lease, now).unwrap();
        // A lease granted in process (open, local) is marked and released in process.
        match g.acquire("acme", "connections", None, now) {
            Ok(d) if d.allowed => {
                let id = d.lease_id.unwrap();
                assert_ne!(id & LOCAL_LEASE_BIT, 0, "{policy:?}: in-process lease id {id}");
                g.release("acme", "connections", id, now).unwrap();
            }
            Ok(d) => assert_eq!(policy, FailurePolicy::FailClosed, "{d:?}"),
            Err(e) => panic!("{policy:?}: {e}"),
        }
        let st = store.stats();
        assert!(st.fallbacks >= 30, "{policy:?}: {st:?}");
        assert_eq!(st.pending_releases, 1, "{policy:?}");
    }
    server.signal("CONT");

    for ((g, store), policy) in govs.iter().zip(policies) {
        // After the backoff the store reconnects; the pending release is replayed first.
        wait_for_recovery(store, &format!("{policy:?}"));
        assert!(g.check("acme", "qps", 1, now).unwrap().allowed);
        assert_eq!(store.stats().pending_releases, 0, "{policy:?}");
        // The in-process admissions were not added to Redis: 15 were left there (20 - 5), one
        // was taken just now, and the check that timed out when the server stalled was still
        // run by Redis when it resumed (a timed-out request may be counted: never more
        // admissions, at worst one unit fewer per timeout).
        let left = burst(g, 30, now).0;
        assert!((13..=14).contains(&left), "{policy:?}: {left}");
        let s = g.concurrency_stats("acme", "connections").unwrap();
        assert_eq!(s.active, 0, "{policy:?}: the lease released during the stall is gone: {s:?}");
    }

    // Kill and restart (no persistence): the scripts are loaded again, decisions resume.
    let (g, store) = &govs[1];
    server.kill_and_wait();
    assert_eq!(burst(g, 3, now).0, 0, "fail-closed while the server is down");
    server.restart();
    let t = Instant::now();
    while !g.check("acme", "qps", 1, now).unwrap().allowed {
        assert!(t.elapsed() < Duration::from_secs(5), "no recovery after restart: {:?}", store.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(store.stats().connects >= 3, "{:?}", store.stats());
}

/// An acquisition whose reply timed out may still be granted when the server resumes: the
/// store undoes it after recovery, so no lease leaks.
#[test]
#[ignore = "needs redis-server (scripts/test.sh)"]
fn a_timed_out_acquire_is_undone_after_recovery() {
    let server = Server::start();
    let (g, store) = faulty_governor(&server, FailurePolicy::FailClosed);
    let now = 5_000;
    let held = g.acquire("acme", "connections", None, now).unwrap().lease_id.unwrap();
    server.signal("STOP");
    let t = Instant::now();
    let d = g.acquire("acme", "connections", None, now).unwrap();
    assert!(t.elapsed() < Duration::from_millis(400), "took {:?}", t.elapsed());
    assert!(!d.allowed, "fail-closed refuses while Redis is stalled: {d:?}");
    assert_eq!(store.stats().pending_releases, 1, "the timed-out acquisition is to be undone");
    server.signal("CONT");
    wait_for_recovery(&store, "");
    // The next call replays the undo first: the server did grant the timed-out acquisition
    // when it resumed (high-water mark 2), and it is gone again.
    let s = g.concurrency_stats("acme", "connections").unwrap();
    assert_eq!(store.stats().pending_releases, 0);
    assert_eq!((s.active, s.high_water_mark), (1, 2), "{s:?}");
    g.release("acme", "connections", held, now).unwrap();
    let s = g.concurrency_stats("acme", "connections").unwrap();
    assert_eq!(s.active, 0, "nothing leaked: {s:?}");
}

/// Federated mode: most checks are answered from units reserved in Redis, and the total stays
/// within the stated bound (strict mode's answer plus one interval of the limit).
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn federated_mode_reserves_ahead_within_the_stated_bound() {
    let cfg = || {
        Config::from_toml(
            "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 1000\nburst_allowance = 1.0\nenforcement_action = \"reject\"\n",
        )
        .unwrap()
    };
    let run = |mode: Mode, per_ms: u64| {
        let tag = if mode == Mode::Strict { "strict" } else { "fed" };
        let s = store(&format!("{tag}{per_ms}"), TimeSource::Caller);
        let s = RedisStore::new(s.options().clone().mode(mode)).unwrap();
        let g = Governor::builder().config(cfg()).store(Arc::new(s.clone())).build();
        g.register("acme", Some("t"), IsolationMode::SharedSchema, 0).unwrap();
        let mut admitted = 0;
        for ms in 0..2_000u64 {
            for _ in 0..per_ms {
                if g.check("acme", "qps", 1, 1_000_000 + ms).unwrap().allowed {
                    admitted += 1;
                }
            }
        }
        (admitted, s.stats().calls)
    };
    // Offered at the limit (1 per ms): everything is admitted, with few round trips.
    let (admitted, calls) = run(Mode::federated(), 1);
    assert_eq!(admitted, 2_000);
    assert!(calls < 300, "round trips: {calls} for 2000 checks");
    // Offered at 3x the limit: strict admits burst + rate x time; federated never more.
    let (strict, strict_calls) = run(Mode::Strict, 3);
    let (federated, fed_calls) = run(Mode::federated(), 3);
    assert_eq!(strict_calls, 6_000);
    assert!((2_990..=3_000).contains(&strict), "strict admitted {strict}");
    // The stated bound: at most one interval (100 ms at 1000/s) ahead of strict mode.
    assert!(federated <= strict + 100, "federated {federated} > strict {strict} + 100");
    assert!(federated >= strict * 8 / 10, "federated {federated} admits far less than strict {strict}");
    assert!(fed_calls < strict_calls / 2, "federated round trips {fed_calls}");
    println!(
        "federated at 3x: admitted {federated} (strict {strict}), round trips {fed_calls} (strict {strict_calls})"
    );
}

/// S2 example 5's form: a configuration in federated mode opens its own shared store, in
/// federated mode (few round trips), with the host's options that name no server (prefix,
/// time source, mode) applied to it.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn a_federated_configuration_opens_its_shared_store() {
    let toml = format!(
        "[tenant_quotas]\nmode = \"federated\"\n[tenant_quotas.federation]\ncoordination_backend = \"redis\"\nredis_url = \"{}\"\nsync_interval = \"100ms\"\nquota_allocation = \"proportional\"\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 1000\nburst_allowance = 1.0\nenforcement_action = \"reject\"\n",
        url()
    );
    let run = |mode: Option<&str>, host_url: bool| {
        let cfg = Config::from_toml(&toml).unwrap();
        let host = tenantguard::store::StoreSpec {
            redis_url: host_url.then(url),
            prefix: Some(format!("tgtest:{}:fedcfg:{}", std::process::id(), rand_suffix())),
            time: Some("caller".into()),
            mode: mode.map(str::to_owned),
            ..Default::default()
        };
        let store = host.build_for(&cfg).unwrap();
        let g = Governor::builder().config(cfg).store(store).build();
        assert_eq!(g.store_kind(), "redis");
        g.register("acme", Some("t"), IsolationMode::SharedSchema, 0).unwrap();
        let admitted = (0..2_000u64).filter(|ms| g.check("acme", "qps", 1, 1_000_000 + ms).unwrap().allowed).count();
        let calls = g.store_metrics().into_iter().find(|(k, _)| *k == "calls_total").unwrap().1;
        (admitted, calls)
    };
    let (admitted, calls) = run(None, false);
    assert_eq!(admitted, 2_000);
    assert!(calls < 300, "federated mode: {calls} round trips for 2000 checks");
    let (admitted, calls) = run(Some("strict"), false);
    assert_eq!((admitted, calls), (2_000, 2_000), "the host asked for strict mode");
    // A host that names its own Redis still gets the configuration's federated mode.
    let (admitted, calls) = run(None, true);
    assert!(admitted == 2_000 && calls < 300, "host URL: {admitted} admitted in {calls} round trips");
    // The Rust convenience constructor opens it too.
    assert_eq!(Governor::from_toml(&toml).unwrap().store_kind(), "redis");
}

/// The leases of a process that dies without releasing are reclaimed by the store's lease TTL,
/// and another process gets the slot.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn leases_of_a_dead_holder_are_reclaimed_by_the_store_ttl() {
    let s = store("ttl", TimeSource::Caller);
    let opts = s.options().clone().lease_ttl_ms(1_000);
    let cfg = || {
        Config::from_toml(
            "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_connections = 1\nenforcement_action = \"reject\"\n",
        )
        .unwrap()
    };
    {
        let dying = Governor::builder().config(cfg()).store(Arc::new(RedisStore::new(opts.clone()).unwrap())).build();
        dying.register("acme", Some("t"), IsolationMode::SharedSchema, 0).unwrap();
        assert!(dying.acquire("acme", "connections", None, 0).unwrap().allowed);
        // dropped without releasing: the process died
    }
    let g = Governor::builder().config(cfg()).store(Arc::new(RedisStore::new(opts).unwrap())).build();
    g.register("acme", Some("t"), IsolationMode::SharedSchema, 0).unwrap();
    assert!(!g.acquire("acme", "connections", None, 500).unwrap().allowed, "still held within the TTL");
    assert!(g.acquire("acme", "connections", None, 1_000).unwrap().allowed, "reclaimed at the TTL");
    assert_eq!(g.concurrency_stats("acme", "connections").unwrap().reclaimed, 1);
}

/// `check_many` on Redis: the same answers as one-by-one checks, in one pipelined round trip.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn check_many_is_one_round_trip_with_the_same_answers() {
    let toml = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 3\nburst_allowance = 1.0\nenforcement_action = \"reject\"\nmax_connections = 1\n";
    let make = |tag: &str| {
        let s = store(tag, TimeSource::Caller);
        let g = Governor::builder().config(Config::from_toml(toml).unwrap()).store(Arc::new(s.clone())).build();
        for n in ["a", "b"] {
            g.register(n, Some("t"), IsolationMode::SharedSchema, 0).unwrap();
        }
        (g, s)
    };
    let ((batched, bs), (single, _)) = (make("batch"), make("single"));
    let list =
        [("a", "qps", 1), ("b", "qps", 2), ("a", "qps", 2), ("ghost", "qps", 1), ("a", "qps", 1), ("b", "qps", 2)];
    let reqs: Vec<tenantguard::CheckRequest<'_>> =
        list.iter().map(|&(tenant, resource, cost)| tenantguard::CheckRequest { tenant, resource, cost }).collect();
    let before = bs.stats().calls;
    let got = batched.check_many(&reqs, 1_000);
    assert_eq!(bs.stats().calls - before, 1, "one round trip for the batch");
    let want: Vec<_> = reqs.iter().map(|r| single.check(r.tenant, r.resource, r.cost, 1_000)).collect();
    assert_eq!(got, want);
    assert!(got[4].as_ref().is_ok_and(|d| !d.allowed), "a: 1 + 2 of 3, then refused");
}

/// Rate cells written before cells recorded their limit (`f:<start>:<count>`,
/// `s:<start>:<cur>:<prev>`) still read and write back, also on the federated path that stores
/// the cells exactly as read when a refused request reserves nothing.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn cells_written_without_a_limit_still_work() {
    for (alg, old) in
        [(RateAlgorithm::FixedWindow, "f:1800000000000:5"), (RateAlgorithm::SlidingWindow, "s:1800000000000:5:0")]
    {
        let s = store(&format!("oldcell{alg:?}"), TimeSource::Caller);
        let s = RedisStore::new(s.options().clone().mode(Mode::federated())).unwrap();
        let key = format!("{}:{{acme}}:rate", s.options().prefix);
        let mut raw = redis::Client::open(url()).unwrap().get_connection().unwrap();
        redis::cmd("HSET").arg(&key).arg("api").arg(old).query::<()>(&mut raw).unwrap();
        let params = RateParams::new(&[RateWindow { limit: 5, window_ms: 1000 }], 1.0, alg);
        let hot = AtomicU64::new(0);
        let req = RateRequest { now_ms: 1_800_000_000_500, cost: 1, max_delay_ms: 0, consume: true };
        let out = s.open("acme").rate("api", &params, req, &hot).unwrap();
        assert!(!out.admitted, "{alg:?}: the old cell's full window still counts: {out:?}");
        assert_eq!(s.stats().errors, 0, "{alg:?}: the script ran without error");
        let after: String = redis::cmd("HGET").arg(&key).arg("api").query(&mut raw).unwrap();
        assert!(after.starts_with(&old[..2]), "{alg:?}: {after}");
    }
}

/// A queue ticket polled while Redis cannot answer is given up in Redis too once it answers
/// again, so it does not hold the head of the queue until its deadline.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn a_ticket_polled_during_an_outage_does_not_block_the_queue() {
    use tenantguard::quota::AcquireOutcome;
    let server = Server::start();
    let (_g, store) = faulty_governor(&server, FailurePolicy::FailClosed);
    let st = store.open("acme");
    let ids = IdGen::default();
    let p = AcquireParams { max: 1, lease_ttl_ms: None, queue: true, max_wait_ms: 30_000 };
    let now = 5_000;
    let AcquireOutcome::Granted { lease, .. } = st.acquire("c", p, now, None, &ids).unwrap() else {
        panic!("first acquisition")
    };
    let AcquireOutcome::Queued { ticket, .. } = st.acquire("c", p, now, None, &ids).unwrap() else {
        panic!("second acquisition queues")
    };
    server.signal("STOP");
    // A call that times out starts the backoff; the poll right after it sends nothing.
    let _ = st.concurrency_stats("c");
    assert!(store.stats().errors >= 1, "{:?}", store.stats());
    let polled = st.acquire("c", p, now + 10, Some(ticket), &ids).unwrap();
    assert!(matches!(polled, AcquireOutcome::Rejected { timed_out: true, .. }), "{polled:?}");
    server.signal("CONT");
    wait_for_recovery(&store, "");
    assert!(st.release("c", lease, now + 20).unwrap());
    let next = st.acquire("c", p, now + 30, None, &ids).unwrap();
    assert!(matches!(next, AcquireOutcome::Granted { .. }), "the abandoned ticket still holds the queue: {next:?}");
}

/// After a long outage the backlog of releases is replayed a bounded part per call, so no
/// single call waits for all of it, and it drains.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn a_backlog_of_releases_is_replayed_in_bounded_parts() {
    let server = Server::start();
    let (g, store) = faulty_governor(&server, FailurePolicy::FailClosed);
    let now = 5_000;
    server.signal("STOP");
    for id in 1..=200u64 {
        let _ = g.release("acme", "connections", id, now);
    }
    assert_eq!(store.stats().pending_releases, 200, "{:?}", store.stats());
    server.signal("CONT");
    wait_for_recovery(&store, "");
    let mut left = 200;
    let mut calls = 0;
    while left > 0 {
        g.concurrency_stats("acme", "connections").unwrap();
        let now_left = store.stats().pending_releases;
        assert!(left - now_left <= 64, "one call replayed {} at once", left - now_left);
        left = now_left;
        calls += 1;
        assert!(calls <= 10, "the backlog does not drain: {left} left");
    }
    assert_eq!(g.concurrency_stats("acme", "connections").unwrap().active, 0);
}

/// `flush_store` replays the kept releases at once, all of them (a process about to exit
/// or going idle), and says how many are left when Redis still cannot answer.
#[test]
#[ignore = "needs TG_REDIS_URL"]
fn flush_store_replays_every_kept_release_or_says_how_many_are_left() {
    let server = Server::start();
    let (g, store) = faulty_governor(&server, FailurePolicy::FailClosed);
    let now = 5_000;
    let leases: Vec<u64> =
        (0..2).map(|_| g.acquire("acme", "connections", None, now).unwrap().lease_id.unwrap()).collect();
    g.flush_store().unwrap(); // nothing kept: nothing to do
    server.signal("STOP");
    for &id in &leases {
        let _ = g.release("acme", "connections", id, now);
    }
    for id in 1_000..1_100u64 {
        let _ = g.release("acme", "connections", id, now);
    }
    assert_eq!(store.stats().pending_releases, 102, "{:?}", store.stats());
    let err = g.flush_store().unwrap_err();
    assert_eq!(err.code(), "STORE_UNAVAILABLE", "{err}");
    assert!(err.to_string().contains("102 lease operation(s) still to replay"), "{err}");
    assert_eq!(store.stats().pending_releases, 102, "nothing is dropped");
    server.signal("CONT");
    // At once, inside the backoff the failures started: an explicit flush tries anyway. One
    // call replays all of it (a check's own replay takes 64 at most).
    g.flush_store().unwrap();
    assert_eq!(store.stats().pending_releases, 0, "{:?}", store.stats());
    let s = g.concurrency_stats("acme", "connections").unwrap();
    assert_eq!((s.active, s.high_water_mark), (0, 2), "{s:?}");
}

/// The hash slot of a tenant's keys (`<prefix>:{<tenant>}:...`: the tag is the name).
fn keyslot(seed: &str, tenant: &str) -> u16 {
    redis::cmd("CLUSTER").arg("KEYSLOT").arg(tenant).query(&mut node(seed)).unwrap()
}

/// `(id, host:port)` of the primary owning `slot` and of another primary.
fn owner_and_other(seed: &str, slot: u16) -> ((String, String), (String, String)) {
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut node(seed)).unwrap();
    // `<id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <state> <slots...>`
    let mut owner = None;
    let mut other = None;
    for line in nodes.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (id, addr) = (f[0].to_owned(), f[1].split('@').next().unwrap().to_owned());
        let owns = f[8..].iter().any(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
        });
        if owns {
            owner = Some((id, addr));
        } else if other.is_none() && f[2].contains("master") {
            other = Some((id, addr));
        }
    }
    (owner.unwrap(), other.unwrap())
}

/// A direct connection to one cluster node (`host:port`).
fn node(addr: &str) -> redis::Connection {
    redis::Client::open(format!("redis://{addr}")).unwrap().get_connection().unwrap()
}

/// Puts a slot back to normal on both nodes, whatever the test's outcome.
struct Stable<'a> {
    slot: u16,
    nodes: [&'a str; 2],
}

impl Drop for Stable<'_> {
    fn drop(&mut self) {
        // No unwrap here: a panic while unwinding from a failed assertion would abort and
        // hide it.
        for addr in self.nodes {
            if let Ok(mut c) = redis::Client::open(format!("redis://{addr}")).and_then(|c| c.get_connection()) {
                let _ = redis::cmd("CLUSTER").arg("SETSLOT").arg(self.slot).arg("STABLE").query::<()>(&mut c);
            }
        }
    }
}

/// During a slot migration a tenant's keys move to the importing node, and the owner answers
/// `ASK` for keys it no longer has. The store follows the redirect (`ASKING` on that node)
/// instead of falling back, and the limit holds across the calls.
#[test]
#[ignore = "needs TG_REDIS_CLUSTER_URL (scripts/test.sh starts a Redis Cluster)"]
fn cluster_calls_follow_ask_redirects_during_a_slot_migration() {
    let url = std::env::var("TG_REDIS_CLUSTER_URL")
        .expect("TG_REDIS_CLUSTER_URL is not set: run scripts/test.sh, which starts a Redis Cluster");
    let seed = url.trim_start_matches("redis://").trim_end_matches('/').to_owned();
    let tenant = format!("ask-{}-{}", std::process::id(), rand_suffix());
    // The store's keys are `<prefix>:{<tenant>}:...`: the hash tag is the tenant's name.
    let slot = keyslot(&seed, &tenant);
    let ((src_id, src), (dst_id, dst)) = owner_and_other(&seed, slot);
    let store = RedisStore::new(
        RedisOptions::new(&url)
            .cluster(true)
            .prefix(format!("tgask:{}", std::process::id()))
            .time(TimeSource::Caller)
            .timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let cfg = Config::from_toml(
        "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 2\nburst_allowance = 1.0\nenforcement_action = \"reject\"\n",
    )
    .unwrap();
    let g = Governor::builder().config(cfg).store(Arc::new(store.clone())).build();
    g.register(&tenant, Some("t"), IsolationMode::SharedSchema, 0).unwrap();
    // A lease taken before the migration: its keys are on the owner.
    let held = g.acquire(&tenant, "connections", None, 1_000).unwrap().lease_id.unwrap();
    // The same for a third tenant in another slot, migrated later.
    let third =
        (0..).map(|i| format!("ask-third-{}-{i}", std::process::id())).find(|t| keyslot(&seed, t) != slot).unwrap();
    g.register(&third, Some("t"), IsolationMode::SharedSchema, 0).unwrap();
    let held_third = g.acquire(&third, "connections", None, 1_000).unwrap().lease_id.unwrap();
    assert_eq!(store.stats().fallbacks, 0);

    let _stable = Stable { slot, nodes: [src.as_str(), dst.as_str()] };
    redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("IMPORTING").arg(&src_id).query::<()>(&mut node(&dst)).unwrap();
    redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("MIGRATING").arg(&dst_id).query::<()>(&mut node(&src)).unwrap();

    let answers: Vec<bool> = (0..3).map(|_| g.check(&tenant, "qps", 1, 1_000).unwrap().allowed).collect();
    assert_eq!(answers, [true, true, false], "2 per second, then refused: the state lives on the importing node");
    let st = store.stats();
    assert_eq!((st.errors, st.fallbacks), (0, 0), "a call fell back instead of following ASK");
    assert!(st.ask_redirects >= 3, "{st:?}");
    // The rate state was written on the importing node, not on the owner.
    let on = |addr: &str| -> u64 {
        let keys: Vec<String> =
            redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(100).query(&mut node(addr)).unwrap();
        keys.iter().filter(|k| k.contains(&tenant) && k.ends_with(":rate")).count() as u64
    };
    assert!(on(&dst) == 1 && on(&src) == 0, "rate keys: importing node {}, owner {}", on(&dst), on(&src));
    // A script of several keys (a connection lease) cannot run while its keys are split
    // between the nodes (TRYAGAIN): that call falls back, but only that tenant's. Another
    // tenant, in another slot, is still served by Redis: no backoff for everyone.
    let other = (0..)
        .map(|i| format!("ask-other-{}-{i}", std::process::id()))
        .find(|t| redis::cmd("CLUSTER").arg("KEYSLOT").arg(t).query::<u16>(&mut node(&seed)).unwrap() != slot)
        .unwrap();
    g.register(&other, Some("t"), IsolationMode::SharedSchema, 0).unwrap();
    let before = store.stats();
    let lease = g.acquire(&tenant, "connections", None, 1_000).unwrap();
    let after_lease = store.stats();
    assert_eq!(after_lease.fallbacks, before.fallbacks + 1, "{after_lease:?}");
    assert_eq!(after_lease.pending_releases, 0, "a refused script has nothing to undo: {after_lease:?}");
    g.release(&tenant, "connections", lease.lease_id.unwrap(), 1_000).unwrap();
    assert!(g.check(&other, "qps", 1, 1_000).unwrap().allowed);
    let after = store.stats();
    assert_eq!(after.fallbacks, after_lease.fallbacks, "the other tenant fell back: {after:?}");
    assert!(after.calls > after_lease.calls, "{after:?}");
    // Releasing the lease taken before the migration: its keys are split (TRYAGAIN), so the
    // release waits to be replayed. Calls of other tenants meanwhile retry it at a bounded
    // pace, not each one.
    g.release(&tenant, "connections", held, 1_000).unwrap();
    let waiting = store.stats();
    assert_eq!(waiting.pending_releases, 1, "{waiting:?}");
    for _ in 0..50 {
        g.check(&other, "qps", 0, 1_000).unwrap();
    }
    let later = store.stats();
    assert_eq!(later.pending_releases, 1, "{later:?}");
    assert!(later.errors - waiting.errors <= 3, "each call retried the stuck release: {later:?}");
    assert_eq!(later.fallbacks, waiting.fallbacks, "{later:?}");
    // An explicit flush meets the same TRYAGAIN: the release stays queued, the error says so,
    // and no global backoff starts (the other tenant is still answered by Redis).
    let e = g.flush_store().unwrap_err();
    assert!(e.to_string().contains("1 lease operation(s) still to replay"), "{e}");
    assert!(g.check(&other, "qps", 0, 1_000).unwrap().allowed);
    let flushed = store.stats();
    assert_eq!((flushed.fallbacks, flushed.pending_releases), (later.fallbacks, 1), "{flushed:?}");
    // A second stuck release queued behind the first, in another slot: the third tenant's,
    // released while its slot migrates too. Once that slot is stable again, a flush goes past
    // the first (still stuck) and replays the second.
    let slot3 = keyslot(&seed, &third);
    let ((src3_id, src3), (dst3_id, dst3)) = owner_and_other(&seed, slot3);
    let stable3 = Stable { slot: slot3, nodes: [src3.as_str(), dst3.as_str()] };
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot3)
        .arg("IMPORTING")
        .arg(&src3_id)
        .query::<()>(&mut node(&dst3))
        .unwrap();
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot3)
        .arg("MIGRATING")
        .arg(&dst3_id)
        .query::<()>(&mut node(&src3))
        .unwrap();
    g.release(&third, "connections", held_third, 1_000).unwrap();
    assert_eq!(store.stats().pending_releases, 2, "{:?}", store.stats());
    let e = g.flush_store().unwrap_err();
    assert!(e.to_string().contains("2 lease operation(s) still to replay"), "{e}");
    drop(stable3);
    let e = g.flush_store().unwrap_err();
    assert!(e.to_string().contains("1 lease operation(s) still to replay"), "past the stuck one: {e}");
    assert_eq!(g.concurrency_stats(&third, "connections").unwrap().active, 0, "the third tenant's release replayed");
    // Tidy up: drop the tenant's keys on the importing node (ASKING: it does not own the slot).
    let mut d = node(&dst);
    let keys: Vec<String> = redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(100).query(&mut d).unwrap();
    for k in keys.iter().filter(|k| k.contains(&tenant)) {
        let _ = redis::pipe().cmd("ASKING").cmd("DEL").arg(k).query::<((), u64)>(&mut d);
    }
    let mut o = node(&src);
    let keys: Vec<String> = redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(100).query(&mut o).unwrap();
    for k in keys.iter().filter(|k| k.contains(&tenant)) {
        let _ = redis::cmd("DEL").arg(k).query::<u64>(&mut o);
    }
    // Once the slot is stable again, a flush replays the release.
    drop(_stable);
    g.flush_store().unwrap();
    assert_eq!(store.stats().pending_releases, 0, "{:?}", store.stats());
}
