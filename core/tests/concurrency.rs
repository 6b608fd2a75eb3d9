#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! One governor shared by many threads: no lost updates, no over-admission.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use tenantguard::{Config, Governor, IsolationMode};

const THREADS: usize = 8;

fn reject_gov() -> Governor {
    Governor::from_toml("[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nenforcement_action = \"reject\"\n")
        .unwrap()
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn governor_is_send_and_sync() {
    assert_send_sync::<Governor>();
    assert_send_sync::<tenantguard::TenantHandle>();
    assert_send_sync::<tenantguard::UserQuotaManager>();
    assert_send_sync::<tenantguard::multi_tenant::quotas::RateLimiter>();
}

#[test]
fn hammering_one_tenant_admits_exactly_the_burst() {
    let gov = reject_gov();
    gov.register("hot", None, IsolationMode::SharedSchema, 0).unwrap();
    let admitted = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (gov, admitted) = (gov.clone(), admitted.clone());
            thread::spawn(move || {
                for _ in 0..1000 {
                    if gov.check("hot", "qps", 1, 5_000).unwrap().allowed {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        admitted.load(Ordering::Relaxed),
        150,
        "8000 concurrent checks at one instant admit exactly floor(100 × 1.5)"
    );
    assert_eq!(gov.usage("hot").unwrap().queries_in_period, 150);
    assert_eq!(gov.violations("hot").unwrap().rejected, 8000 - 150);
}

#[test]
fn hammering_over_time_never_exceeds_the_rate() {
    let gov = reject_gov();
    gov.register("hot", None, IsolationMode::SharedSchema, 0).unwrap();
    let admitted = Arc::new(AtomicU64::new(0));
    // Each thread walks simulated time 0..10 s; all threads share the same time line.
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (gov, admitted) = (gov.clone(), admitted.clone());
            thread::spawn(move || {
                for t in 0..10_000u64 {
                    if gov.check("hot", "qps", 1, t).unwrap().allowed {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Threads are not in lock-step, so a slow thread may present an earlier time after a fast
    // one moved on: GCRA never refills for that. The bound is burst + rate × 10 s.
    let n = admitted.load(Ordering::Relaxed);
    assert!(n <= 150 + 1000, "admitted {n} > burst + 10 s × 100/s");
    assert!(n >= 1000, "admitted {n}: the limit should be reached");
}

#[test]
fn concurrent_leases_never_exceed_the_limit() {
    let gov = Governor::new();
    gov.register("db", None, IsolationMode::SharedSchema, 0).unwrap(); // free: 10 connections
    let held = Arc::new(AtomicU64::new(0));
    let max_seen = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (gov, held, max_seen) = (gov.clone(), held.clone(), max_seen.clone());
            thread::spawn(move || {
                for _ in 0..2000 {
                    let d = gov.acquire("db", "connections", None, 0).unwrap();
                    if let Some(lease) = d.lease_id {
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        max_seen.fetch_max(now, Ordering::SeqCst);
                        held.fetch_sub(1, Ordering::SeqCst);
                        gov.release("db", "connections", lease, 0).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = gov.concurrency_stats("db", "connections").unwrap();
    assert_eq!(stats.active, 0, "every lease was released");
    assert!(stats.high_water_mark <= 10, "high-water mark {} above the limit", stats.high_water_mark);
    assert!(max_seen.load(Ordering::SeqCst) <= 10);
    assert_eq!(stats.sample_count % 2, 0, "one sample per acquire and per release");
}

#[test]
fn concurrent_storage_writes_never_pass_the_hard_limit() {
    let gov = Governor::new();
    gov.register("s", None, IsolationMode::SharedSchema, 0).unwrap(); // free: 10 GiB
    let accepted = Arc::new(AtomicU64::new(0));
    let chunk = 7 * 1024 * 1024; // 7 MiB writes
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (gov, accepted) = (gov.clone(), accepted.clone());
            thread::spawn(move || {
                for _ in 0..400 {
                    if gov.add_usage("s", "storage", chunk, 0).unwrap().allowed {
                        accepted.fetch_add(chunk, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let used = gov.usage_value("s", "storage").unwrap();
    assert_eq!(used, accepted.load(Ordering::Relaxed), "no lost update");
    assert!(used <= 10 * 1024 * 1024 * 1024);
    assert_eq!(used, (10 * 1024 * 1024 * 1024 / chunk) * chunk, "filled up to the last whole chunk");
}

#[test]
fn registration_checks_and_reload_race_safely() {
    let gov = reject_gov();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let registrar = {
        let gov = gov.clone();
        thread::spawn(move || {
            for i in 0..2000 {
                gov.register(&format!("t{i}"), None, IsolationMode::SharedSchema, 0).unwrap();
            }
        })
    };
    let checker = {
        let (gov, stop) = (gov.clone(), stop.clone());
        thread::spawn(move || {
            let mut ok = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for i in 0..50 {
                    match gov.check(&format!("t{i}"), "qps", 1, 0) {
                        Ok(_) => ok += 1,
                        Err(e) => assert_eq!(e.code(), "TENANT_NOT_FOUND"),
                    }
                }
            }
            ok
        })
    };
    let reloader = {
        let gov = gov.clone();
        thread::spawn(move || {
            for q in [200u64, 300, 400, 100] {
                let text = format!(
                    "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = {q}\nenforcement_action = \"reject\"\n"
                );
                gov.reload(Config::from_toml(&text).unwrap()).unwrap();
            }
        })
    };
    registrar.join().unwrap();
    reloader.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(checker.join().unwrap() > 0);
    assert_eq!(gov.tenant_count(), 2000);
    // After the last reload every tenant has the final limit, whatever the interleaving.
    for t in gov.list_tenants() {
        assert_eq!(t.limits.max_qps, 100, "{}", t.name);
    }
}
