#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! The S1 tutorial's Rust snippets, with only the crate name changed (`heliosdb_lite` →
//! `tenantguard`), compile and behave as the tutorial describes.

use std::time::Duration;
use tenantguard::multi_tenant::quotas::{RateLimiter, TenantUsage};
use tenantguard::quota::UserQuotaManager;
use tenantguard::tenant::{IsolationMode, PlanFeatures, QuotaTracking, ResourceLimits, TenantContext, TenantManager};

#[derive(Debug)]
struct QuotaExceeded;

fn handle_request(manager: &TenantManager, acme_id: tenantguard::Uuid) -> Result<(), QuotaExceeded> {
    // Section 5, verbatim.
    if manager.check_quota(acme_id, "connections") {
        // Acquire a connection slot for this tenant.
    } else {
        return Err(QuotaExceeded);
    }
    Ok(())
}

#[test]
fn tutorial_sections_1_to_9() {
    // 1. The quota surface: the structs exist with these public fields.
    let defaults = ResourceLimits::default();
    assert_eq!(
        (defaults.max_storage_bytes, defaults.max_connections, defaults.max_qps),
        (100 * 1024 * 1024 * 1024, 50, 1000)
    );
    let _t = QuotaTracking {
        active_connections: 0,
        connections_hwm: 0,
        connections_total_samples: 0,
        connections_sample_count: 0,
        storage_bytes_used: 0,
        queries_this_window: 0,
    };
    // 2. Plans and tiers.
    let _f = PlanFeatures {
        rls_enabled: true,
        cdc_enabled: false,
        migrations_enabled: false,
        custom_quotas_enabled: false,
        all_isolation_modes: false,
    };

    // 3. Registering a tenant.
    let manager = TenantManager::new();
    // Default plan = "free".
    let acme = manager.register_tenant("acme".to_string(), IsolationMode::SharedSchema);
    // Or pin to a specific plan.
    let beta = manager.register_tenant_with_plan("beta".to_string(), IsolationMode::SharedSchema, "starter");
    println!("{} -> plan {}", acme.name, acme.plan_id);
    println!("limit: {} connections", acme.limits.max_connections);
    assert_eq!(acme.plan_id, "free");
    assert_eq!(acme.limits.max_connections, 10);
    assert_eq!(beta.plan_id, "starter");

    // 4. Per-request context.
    let ctx = TenantContext {
        tenant_id: acme.id,
        user_id: "alice@acme.com".to_string(),
        roles: vec!["analyst".to_string()],
        isolation_mode: IsolationMode::SharedSchema,
    };
    manager.set_current_context(ctx);
    assert_eq!(manager.current_context().map(|c| c.tenant_id), Some(acme.id));

    // 5. Checking quotas.
    assert!(handle_request(&manager, acme.id).is_ok());
    let user_quotas = UserQuotaManager::new(60); // default 60 RPM
    user_quotas.set_quota("alice@acme.com", 1000); // override for power user
    let mut admitted = 0;
    for _ in 0..1001 {
        match user_quotas.check_quota("alice@acme.com") {
            Ok(()) => admitted += 1,
            Err(e) => assert_eq!(e.code(), "RATE_LIMITED"),
        }
    }
    assert_eq!(admitted, 1000, "the override of 1000 RPM applies");
    let bob_admitted = (0..61).filter(|_| user_quotas.check_quota("bob@acme.com").is_ok()).count();
    assert_eq!(bob_admitted, 60, "the default of 60 RPM applies");

    // 6. The QPS rate limiter.
    let limiter = RateLimiter::new(Duration::from_secs(60)); // 1-minute windows
    let allowed = limiter.check("acme", 10_000); // tenant_id, limit
    assert!(allowed);
    let remaining = limiter.remaining("acme", 10_000);
    assert_eq!(remaining, 9_999);
    let usage = TenantUsage { storage_bytes: 1, queries_in_period: 2, ..TenantUsage::default() };
    assert_eq!(usage.queries_in_period, 2);

    // 8. Plan lifecycle.
    let legacy = tenantguard::Plan::custom("legacy_pro");
    manager.create_plan(legacy).unwrap();
    let old = manager.register_tenant_with_plan("old".to_string(), IsolationMode::SharedSchema, "legacy_pro");
    assert_eq!(old.plan_id, "legacy_pro");
    // Move one tenant up.
    manager.change_tenant_plan(acme.id, "pro").unwrap();
    // Bulk-downgrade.
    manager.downgrade_tenants("starter", "free").unwrap();
    // Delete a plan; all its tenants fall back to the configured default.
    let (deleted, fallback_id, downgraded) = manager.delete_plan_and_downgrade("legacy_pro").unwrap();
    println!("deleted {}, fallback {}, {} tenants moved", deleted.id, fallback_id, downgraded.len());
    assert_eq!((deleted.id.as_str(), fallback_id.as_str(), downgraded.len()), ("legacy_pro", "unlimited", 1));
    assert!(manager.delete_plan_and_downgrade("unlimited").is_err(), "the protected default cannot be deleted");

    // 9. Inspecting state.
    for (user, rpm, current_count, window_start) in user_quotas.snapshot() {
        println!("{user}: {current_count}/{rpm} since {window_start}");
    }
    let mut seen = Vec::new();
    for t in manager.list_tenants() {
        println!("{:>10} plan={} qps={}", t.name, t.plan_id, t.limits.max_qps);
        seen.push((t.name, t.plan_id));
    }
    assert_eq!(
        seen,
        vec![("acme".into(), "pro".into()), ("beta".into(), "free".into()), ("old".into(), "unlimited".into())]
    );
}

#[test]
fn compat_registration_is_lenient_but_never_escalates() {
    let manager = TenantManager::new();
    // An unknown plan falls back to the default tier, never to `unlimited`.
    let t = manager.register_tenant_with_plan("x".to_string(), IsolationMode::SharedSchema, "no_such_plan");
    assert_eq!(t.plan_id, "free");
    // Registering the same name again returns the existing tenant.
    let again = manager.register_tenant("x".to_string(), IsolationMode::SharedSchema);
    assert_eq!(again.id, t.id);
    // A mode the plan does not allow falls back to SharedSchema.
    let y = manager.register_tenant("y".to_string(), IsolationMode::SeparateDatabase);
    assert_eq!(y.isolation_mode, IsolationMode::SharedSchema);
    // The typed form reports both problems.
    assert_eq!(
        manager.register("z", Some("no_such_plan"), IsolationMode::SharedSchema, 0).unwrap_err().code(),
        "PLAN_NOT_FOUND"
    );
    assert_eq!(
        manager.register("z", None, IsolationMode::SeparateDatabase, 0).unwrap_err().code(),
        "ISOLATION_NOT_ALLOWED"
    );
    // check_quota on an unknown tenant or resource is false, not a panic.
    assert!(!manager.check_quota(tenantguard::Uuid::nil(), "qps"));
    assert!(!manager.check_quota(t.id, "no_such_resource"));
}

/// S1's `check_quota` answers yes or no: a unit that would need a throttle delay is not
/// reserved behind a `false`, so an overloaded tenant keeps getting its rate.
#[test]
fn check_quota_never_spends_capacity_on_a_false() {
    use std::sync::Arc;
    use tenantguard::clock::ManualClock;
    let clock = ManualClock::new(1_000);
    let manager = tenantguard::Governor::builder().clock(Arc::new(clock.clone())).build();
    let t = manager.register("acme", Some("free"), IsolationMode::SharedSchema, 0).unwrap();
    // free: 100 qps, burst 1.5, throttle up to 1 s.
    let first = (0..200).filter(|_| manager.check_quota(t.id, "qps")).count();
    assert_eq!(first, 150);
    // Every later 10 ms frees exactly one unit, and it goes to the next caller.
    for _ in 0..50 {
        clock.advance(10);
        let yes = (0..20).filter(|_| manager.check_quota(t.id, "qps")).count();
        assert_eq!(yes, 1);
    }
    // Nothing was reserved: a throttling check sees no queue ahead of it.
    let d = manager.peek("acme", "qps", 1, tenantguard::clock::Clock::now_ms(&clock)).unwrap();
    assert_eq!((d.allowed, d.delay_ms), (true, 10));
}
