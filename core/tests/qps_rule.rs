//! A check of `qps` reads a rule flattened when the profile is built; every other rate
//! resource walks overrides, plan and spec. These tests hold the two to the same answers, and
//! the flattened rule to override expiry, shadow mode and plan changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenantguard::{Decision, Governor, IsolationMode, Override};

/// A tier whose `qps` and custom `api` resources are the same rule.
fn twin_rules(action: &str) -> Governor {
    let toml = format!(
        "[tenant_quotas]\ndefault_tier = \"t\"\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 10\n\
         burst_allowance = 1.5\nenforcement_action = \"{action}\"\n\
         [[tenant_quotas.tiers.resources]]\nname = \"api\"\nkind = \"rate\"\nlimit = 10\nwindow = \"1s\"\n\
         burst = 1.5\nalgorithm = \"gcra\"\naction = \"{action}\"\n"
    );
    let g = Governor::from_toml(&toml).unwrap();
    g.register("acme", None, IsolationMode::SharedSchema, 0).unwrap();
    g
}

/// `d` with the resource name of `other`, for comparing a `qps` and an `api` decision.
fn as_resource(d: &Decision, other: &Decision) -> Decision {
    Decision { resource: other.resource, ..d.clone() }
}

/// Checks `qps` and `api` alike at each `(now, cost)` and asserts equal answers.
fn same_answers(g: &Governor, steps: &[(u64, u64)], what: &str) -> Vec<Decision> {
    steps
        .iter()
        .enumerate()
        .map(|(i, &(now, cost))| {
            let peek_q = g.peek("acme", "qps", cost, now).unwrap();
            let peek_a = g.peek("acme", "api", cost, now).unwrap();
            assert_eq!(as_resource(&peek_q, &peek_a), peek_a, "{what}: peek {i} at {now}");
            let q = g.check("acme", "qps", cost, now).unwrap();
            let a = g.check("acme", "api", cost, now).unwrap();
            assert_eq!(q.resource, "qps");
            assert_eq!(as_resource(&q, &a), a, "{what}: check {i} at {now} cost {cost}");
            q
        })
        .collect()
}

/// A burst past the limit, costs above one, refill, and a cost beyond the burst.
fn traffic() -> Vec<(u64, u64)> {
    let mut steps: Vec<(u64, u64)> = (0..30).map(|i| (1_000 + i, 1)).collect();
    steps.extend([(1_500, 3), (2_000, 2), (2_001, 16), (9_000, 1), (9_000, 15), (9_000, 1)]);
    steps
}

#[test]
fn qps_answers_as_the_general_path_for_every_action() {
    for action in ["throttle", "queue", "reject"] {
        let g = twin_rules(action);
        let out = same_answers(&g, &traffic(), action);
        // The traffic reaches the limit under every action (so the comparison covers refusals
        // or delays, not only plain admissions).
        assert!(out.iter().any(|d| !d.is_immediate()), "{action}: {out:?}");
    }
}

#[test]
fn qps_answers_as_the_general_path_in_shadow_mode() {
    let g = twin_rules("reject");
    g.set_shadow("acme", true).unwrap();
    let out = same_answers(&g, &traffic(), "tenant shadow");
    assert!(out.iter().any(|d| d.shadow && d.allowed), "{out:?}");

    let g = twin_rules("throttle");
    g.set_global_shadow(true);
    let out = same_answers(&g, &traffic(), "global shadow");
    assert!(out.iter().all(|d| d.allowed && d.delay_ms == 0), "{out:?}");
    assert!(out.iter().any(|d| d.shadow), "{out:?}");
    g.set_global_shadow(false);
    let out = same_answers(&g, &[(20_000, 14), (20_000, 5)], "global shadow off");
    assert!(out.iter().any(|d| d.delay_ms > 0), "{out:?}");
}

fn qps_override(limit: u64, expires_at_ms: Option<u64>) -> Override {
    Override {
        resource: "qps".into(),
        limit: Some(limit),
        burst: None,
        idle_ms: None,
        expires_at_ms,
        reason: Some("launch".into()),
    }
}

#[test]
fn overrides_of_qps_layer_and_expire_as_for_any_resource() {
    // A configured override (no expiry) under a runtime one that expires at 5 s.
    let g = Governor::from_toml(
        "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 10\nburst_allowance = 1.0\n\
         enforcement_action = \"reject\"\n[[tenant_quotas.overrides]]\ntenant_id = \"acme\"\nmax_qps = 20\n",
    )
    .unwrap();
    g.register("acme", None, IsolationMode::SharedSchema, 0).unwrap();
    let admitted = |now: u64| (0..100).filter(|_| g.check("acme", "qps", 1, now).unwrap().allowed).count();
    assert_eq!(g.check("acme", "qps", 0, 0).unwrap().limit, Some(20));
    g.set_override("acme", qps_override(40, Some(5_000)), 0).unwrap();
    assert_eq!(g.check("acme", "qps", 0, 1_000).unwrap().limit, Some(40));
    assert_eq!(admitted(1_000), 40);
    // At the expiry, with no call in between, the configured override applies again.
    assert_eq!(g.check("acme", "qps", 0, 5_000).unwrap().limit, Some(20));
    assert_eq!(admitted(60_000), 20);
    // A runtime override without expiry replaces the runtime one and goes over the configured one.
    g.set_override("acme", qps_override(5, None), 0).unwrap();
    assert_eq!(admitted(120_000), 5);
    g.change_plan("acme", "pro", 120_000).unwrap();
    assert_eq!(g.check("acme", "qps", 0, 180_000).unwrap().limit, Some(5), "overrides outlive a plan change");
    // Clearing removes runtime and configured overrides: the plan's value.
    assert!(g.clear_override("acme", "qps").unwrap());
    assert_eq!(g.check("acme", "qps", 0, 180_000).unwrap().limit, Some(500));
}

#[test]
fn a_plan_whose_qps_is_not_single_window_gcra_takes_the_general_path() {
    let g = Governor::from_toml(
        "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 10\n\
         [[tenant_quotas.tiers.resources]]\nname = \"qps\"\nkind = \"rate\"\nalgorithm = \"fixed_window\"\n\
         windows = [{ limit = 3, window = \"1s\" }, { limit = 5, window = \"1m\" }]\naction = \"reject\"\n",
    )
    .unwrap();
    g.register("acme", None, IsolationMode::SharedSchema, 0).unwrap();
    let admitted: Vec<bool> = (0..4).map(|_| g.check("acme", "qps", 1, 0).unwrap().allowed).collect();
    assert_eq!(admitted, [true, true, true, false]);
    let next_second: Vec<bool> = (0..3).map(|_| g.check("acme", "qps", 1, 1_000).unwrap().allowed).collect();
    assert_eq!(next_second, [true, true, false], "the minute window holds 5");
}
