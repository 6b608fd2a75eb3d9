//! Pre-resolved handles answer exactly as checks by name, across every profile change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenantguard::{CachedTenantHandle, Decision, Governor, IsolationMode, Override};

fn two_governors() -> (Governor, Governor) {
    let (a, b) = (Governor::new(), Governor::new());
    for g in [&a, &b] {
        g.register("acme", Some("free"), IsolationMode::SharedSchema, 0).unwrap();
    }
    (a, b)
}

/// Runs `steps` checks of `cost` at `now` on the handle of `by_handle` and by name on
/// `by_name`, asserting the answers are equal; returns how many were admitted right away.
fn same_answers(
    by_name: &Governor,
    h: &mut CachedTenantHandle,
    plain: &tenantguard::TenantHandle,
    now: u64,
    steps: u64,
) -> u64 {
    let mut admitted = 0;
    for i in 0..steps {
        let want: Decision = by_name.check("acme", "qps", 1, now + i / 50).unwrap();
        let got = h.check("qps", 1, now + i / 50).unwrap();
        assert_eq!(got, want, "step {i} at {now}");
        // The plain handle of the same governor answers the same question (without consuming).
        let peek = plain.peek("qps", 0, now + i / 50).unwrap();
        assert_eq!(peek.limit, want.limit, "step {i}");
        admitted += u64::from(want.allowed && want.delay_ms == 0);
    }
    admitted
}

#[test]
fn a_cached_handle_follows_plan_changes_overrides_and_reloads() {
    let (by_name, by_handle) = two_governors();
    let plain = by_handle.handle("acme").unwrap();
    let mut h = CachedTenantHandle::from(plain.clone());
    assert_eq!(h.handle().name(), "acme");

    // free: 100/s with burst 1.5.
    assert_eq!(same_answers(&by_name, &mut h, &plain, 1_000, 300), 150);

    // A plan change after the cache was filled: the handle sees pro's 500/s at once.
    for g in [&by_name, &by_handle] {
        g.change_plan("acme", "pro", 5_000).unwrap();
    }
    let d = h.check("qps", 1, 5_000).unwrap();
    assert_eq!(d.limit, Some(500));
    by_name.check("acme", "qps", 1, 5_000).unwrap();
    same_answers(&by_name, &mut h, &plain, 5_000, 1_200);

    // An override, then its expiry with no call in between.
    let ovr = Override {
        resource: "qps".into(),
        limit: Some(7),
        burst: Some(1.0),
        idle_ms: None,
        expires_at_ms: Some(20_000),
        reason: None,
    };
    for g in [&by_name, &by_handle] {
        g.set_override("acme", ovr.clone(), 10_000).unwrap();
    }
    assert_eq!(same_answers(&by_name, &mut h, &plain, 10_000, 40), 7);
    assert_eq!(h.check("qps", 1, 20_000).unwrap().limit, Some(500));
    by_name.check("acme", "qps", 1, 20_000).unwrap();

    // A reload that changes the plan's limit.
    let toml = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"pro\"\nmax_qps = 3\nburst_allowance = 1.0\n";
    for g in [&by_name, &by_handle] {
        g.reload_toml(toml).unwrap();
    }
    assert_eq!(same_answers(&by_name, &mut h, &plain, 30_000, 20), 3);
}

#[test]
fn a_cached_handle_is_send_and_its_clones_share_the_tenant() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CachedTenantHandle>();
    let g = Governor::new();
    g.register("acme", Some("free"), IsolationMode::SharedSchema, 0).unwrap();
    let mut a = CachedTenantHandle::from(g.handle("acme").unwrap());
    let mut b = a.clone();
    let admitted = (0..200)
        .map(|i| if i % 2 == 0 { a.check("qps", 1, 1_000) } else { b.check("qps", 1, 1_000) })
        .filter(|d| d.as_ref().unwrap().delay_ms == 0 && d.as_ref().unwrap().allowed)
        .count();
    assert_eq!(admitted, 150, "free's burst, shared by both clones");
}

/// A small deterministic generator (xorshift64*), so the sequence below is replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_admin_changes_never_make_a_cached_handle_answer_differently() {
    let plans = ["free", "starter", "pro", "enterprise", "unlimited"];
    for seed in 1..=20u64 {
        let (by_name, by_handle) = two_governors();
        let mut h = CachedTenantHandle::from(by_handle.handle("acme").unwrap());
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut now = 1_000;
        for step in 0..400 {
            now += rng.below(40);
            match rng.below(20) {
                0 => {
                    let plan = plans[rng.below(plans.len() as u64) as usize];
                    for g in [&by_name, &by_handle] {
                        g.change_plan("acme", plan, now).unwrap();
                    }
                }
                1 => {
                    let ovr = Override {
                        resource: "qps".into(),
                        limit: Some(1 + rng.below(20)),
                        burst: Some(1.0 + rng.below(3) as f64),
                        idle_ms: None,
                        expires_at_ms: if rng.below(2) == 0 { None } else { Some(now + rng.below(500)) },
                        reason: None,
                    };
                    // Refused on `unlimited` (nothing to override): alike on both.
                    let a = by_name.set_override("acme", ovr.clone(), now).map(|_| ());
                    let b = by_handle.set_override("acme", ovr, now).map(|_| ());
                    assert_eq!(a.is_ok(), b.is_ok(), "seed {seed}, step {step}");
                }
                2 => {
                    for g in [&by_name, &by_handle] {
                        g.clear_override("acme", "qps").unwrap();
                    }
                }
                3 => {
                    let shadow = rng.below(2) == 0;
                    for g in [&by_name, &by_handle] {
                        g.set_shadow("acme", shadow).unwrap();
                    }
                }
                _ => {
                    let cost = 1 + rng.below(3);
                    let want = by_name.check("acme", "qps", cost, now).unwrap();
                    let got = h.check("qps", cost, now).unwrap();
                    assert_eq!(got, want, "seed {seed}, step {step}, t={now}");
                }
            }
        }
    }
}
