#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! `Governor::check_many` answers exactly like the same checks one by one, in order.

use tenantguard::{CheckRequest, Config, Error, Governor, IsolationMode};

const TOML: &str = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 3\nburst_allowance = 1.0\nenforcement_action = \"reject\"\nmax_connections = 1\n[[tenant_quotas.tiers.resources]]\nname = \"api\"\nkind = \"rate\"\nalgorithm = \"sliding_window\"\nwindows = [{ limit = 2, window = \"1s\" }]\n";

fn governor() -> Governor {
    let g = Governor::builder().config(Config::from_toml(TOML).unwrap()).build();
    for n in ["a", "b"] {
        g.register(n, Some("t"), IsolationMode::SharedSchema, 0).unwrap();
    }
    g
}

#[test]
fn check_many_answers_like_checks_in_order() {
    let (batched, single) = (governor(), governor());
    let list = [
        ("a", "qps", 1),
        ("b", "qps", 2),
        ("a", "qps", 2),
        ("ghost", "qps", 1),
        ("a", "connections", 1),
        ("a", "api", 1),
        ("a", "api", 1),
        ("a", "api", 1),
        ("b", "qps", 2),
        ("a", "nope", 1),
    ];
    let reqs: Vec<CheckRequest<'_>> =
        list.iter().map(|&(tenant, resource, cost)| CheckRequest { tenant, resource, cost }).collect();
    let got = batched.check_many(&reqs, 1_000);
    let want: Vec<_> = reqs.iter().map(|r| single.check(r.tenant, r.resource, r.cost, 1_000)).collect();
    assert_eq!(got, want);
    assert!(matches!(got[3], Err(Error::TenantNotFound(_))));
    assert!(got[2].as_ref().is_ok_and(|d| d.allowed) && got[8].as_ref().is_ok_and(|d| !d.allowed));
    assert!(got[7].as_ref().is_ok_and(|d| !d.allowed), "the third `api` unit of 2 is refused");
}
