#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! Configuration files: the S2 examples load, errors name key and line, TOML and JSON agree.

use std::path::PathBuf;
use tenantguard::store::StoreSpec;
use tenantguard::{Config, Governor, IsolationMode, ResourceKind};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/config").join(name)
}

#[test]
fn s2_example_1_tiered_loads() {
    let cfg = Config::from_path(example("tiered.toml")).unwrap();
    assert_eq!(cfg.settings.default_tier, "free");
    assert_eq!(cfg.settings.identifier.as_deref(), Some("application_name"));
    assert_eq!(cfg.settings.prometheus_port, Some(9092));
    assert_eq!(cfg.assignments.len(), 3);
    assert_eq!(cfg.overrides.len(), 1);
    assert_eq!(cfg.overrides[0].1.expires_at_ms, Some(1_766_188_800_000));
    let gov = Governor::builder().config(cfg).build();
    let t = gov.register("pro_tenant_x", None, IsolationMode::SharedSchema, 0).unwrap();
    assert_eq!(t.plan_id, "pro");
    assert_eq!(gov.plan("enterprise").unwrap().limits().max_storage_bytes, 1000 * 1024 * 1024 * 1024);
}

#[test]
fn s2_examples_2_and_3_load() {
    let cfg = Config::from_path(example("storage-and-transactions.toml")).unwrap();
    assert_eq!(cfg.settings.storage_check_interval_ms, 60_000);
    assert!(cfg.settings.storage_query.as_deref().is_some_and(|q| q.contains("pg_total_relation_size")));
    let free = cfg.plans.iter().find(|p| p.id == "free").unwrap();
    assert_eq!(free.limits().max_storage_bytes, 5 * 1024 * 1024 * 1024);
    assert_eq!(free.limits().max_qps, 100, "keys not given keep the built-in values");
    let txn = free.resource("transaction").unwrap();
    assert_eq!(txn.kind, ResourceKind::Duration { max_ms: Some(10_000), idle_ms: Some(5_000) });
}

#[test]
fn s2_example_5_federated_names_its_shared_store() {
    let cfg = Config::from_path(example("federated.toml")).unwrap();
    let expected = StoreSpec {
        redis_url: Some("redis://quota-coordinator.global:6379".into()),
        mode: Some("federated".into()),
        sync_interval_ms: Some(100),
        ..StoreSpec::default()
    };
    assert_eq!(cfg.settings.federation, Some(expected));
    // Writing the default interval or leaving it out is the same configuration.
    let implicit =
        Config::from_toml(&FEDERATED.replace("redis://127.0.0.1:1/", "redis://quota-coordinator.global:6379"));
    assert_eq!(implicit.unwrap().settings.federation, cfg.settings.federation);
    // `mode = "local"` (the default) names no shared store.
    let local = Config::from_toml("[tenant_quotas]\nmode = \"local\"\n").unwrap();
    assert_eq!(local.settings.federation, None);
}

const FEDERATED: &str =
    "[tenant_quotas]\nmode = \"federated\"\n[tenant_quotas.federation]\nredis_url = \"redis://127.0.0.1:1/\"\n";

#[test]
fn federation_mistakes_are_config_errors_naming_the_key() {
    let cases = [
        ("[tenant_quotas]\nmode = \"federated\"\n", "tenant_quotas.mode", 2, "[tenant_quotas.federation]"),
        (
            "[tenant_quotas]\n[tenant_quotas.federation]\nredis_url = \"redis://x/\"\n",
            "tenant_quotas.federation",
            2,
            "mode = \"federated\"",
        ),
        (
            "[tenant_quotas]\nmode = \"federated\"\n[tenant_quotas.federation]\nsync_interval = \"100ms\"\n",
            "tenant_quotas.federation",
            3,
            "redis_url",
        ),
        (
            &format!("{FEDERATED}coordination_backend = \"etcd\"\n"),
            "tenant_quotas.federation.coordination_backend",
            5,
            "`etcd`",
        ),
        (
            &format!("{FEDERATED}quota_allocation = \"equal\"\n"),
            "tenant_quotas.federation.quota_allocation",
            5,
            "`equal`",
        ),
        (&format!("{FEDERATED}sync_interval = \"0s\"\n"), "tenant_quotas.federation.sync_interval", 5, "at least"),
        (&format!("{FEDERATED}regions = 3\n"), "tenant_quotas.federation.regions", 5, "unknown field"),
        (
            "[tenant_quotas]\nmode = \"federated\"\n[tenant_quotas.federation]\nredis_url = \"http://x/\"\n",
            "tenant_quotas.federation.redis_url",
            4,
            "not a Redis URL",
        ),
    ];
    for (text, key, line, fragment) in cases {
        let e = Config::from_toml(text).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), (key, Some(line)), "{text}: {e}");
        assert!(e.message.contains(fragment), "{text}: {e}");
    }
}

#[test]
fn a_reload_cannot_change_federated_mode() {
    let g = Governor::new();
    g.register("acme", None, IsolationMode::SharedSchema, 0).unwrap();
    let e = g.reload(Config::from_toml(FEDERATED).unwrap()).unwrap_err();
    assert_eq!(e.code(), "CONFIG_INVALID");
    assert!(e.to_string().contains("tenant_quotas.federation"), "{e}");
    // Nothing was swapped: the default tier still applies.
    assert_eq!(g.tenant("acme").unwrap().plan_id, "free");
    g.reload(Config::from_toml("[tenant_quotas]\ndefault_tier = \"pro\"\n").unwrap()).unwrap();
}

#[cfg(not(feature = "redis"))]
#[test]
fn a_federated_config_without_redis_support_is_an_error_not_a_local_limit() {
    let Err(e) = Governor::from_toml(FEDERATED) else { panic!("no silent fallback to the memory store") };
    assert_eq!(e.code(), "CONFIG_INVALID");
    assert!(e.to_string().contains("tenant_quotas.federation.redis_url"), "{e}");
    assert!(e.to_string().contains("no Redis support"), "{e}");
    let Err(e) = tenantguard::api::Engine::from_config(
        Some(&serde_json::from_value(serde_json::json!({ "toml": FEDERATED })).unwrap()),
        60,
    ) else {
        panic!("the shells' constructor too")
    };
    assert_eq!((e.code.as_str(), e.key.as_deref()), ("CONFIG_INVALID", Some("tenant_quotas.federation.redis_url")));
}

#[test]
fn json_example_loads_with_custom_resources() {
    let cfg = Config::from_path(example("custom-resources.json")).unwrap();
    let gov = Governor::builder().config(cfg).build();
    let t = gov.register("ai_startup", None, IsolationMode::SharedSchema, 0).unwrap();
    assert_eq!(t.plan_id, "ai_pro");
    let d = gov.check("ai_startup", "ai_tokens", 20_000, 0).unwrap();
    assert!(d.allowed);
    let d = gov.check("ai_startup", "ai_tokens", 1, 0).unwrap();
    assert!(!d.allowed);
    assert_eq!(d.code.map(|c| c.as_str()), Some("RATE_LIMITED"));
    let lease = gov.acquire("ai_startup", "exports", None, 0).unwrap();
    assert!(lease.lease_id.is_some());
}

#[test]
fn toml_and_json_forms_give_the_same_model() {
    let toml = r#"
[tenant_quotas]
default_tier = "starter"
max_queue_wait = "2s"
[[tenant_quotas.tiers]]
name = "team"
max_qps = 300
burst_allowance = 2.5
enforcement_action = "queue"
rate_algorithm = "sliding_window"
[[tenant_quotas.assignments]]
tenant_pattern = "team_*"
tier = "team"
[[tenant_quotas.overrides]]
tenant_id = "team_a"
max_connections = 7
expires_at = 2030-01-01T00:00:00Z
"#;
    let json = r#"{"tenant_quotas": {"default_tier": "starter", "max_queue_wait": 2000,
        "tiers": [{"name": "team", "max_qps": 300, "burst_allowance": 2.5, "enforcement_action": "queue", "rate_algorithm": "sliding_window"}],
        "assignments": [{"tenant_pattern": "team_*", "tier": "team"}],
        "overrides": [{"tenant_id": "team_a", "max_connections": 7, "expires_at": "2030-01-01T00:00:00Z"}]}}"#;
    let a = Config::from_toml(toml).unwrap();
    let b = Config::from_json(json).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.settings.max_queue_wait_ms, 2000);
    assert_eq!(a.overrides[0].1.expires_at_ms, Some(1_893_456_000_000), "native TOML datetimes are accepted");
}

#[test]
fn errors_name_key_and_line() {
    let e = Config::from_toml("[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"a\"\nwat = 1\n").unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("tenant_quotas.tiers[0].wat", Some(4)));
    let e = Config::from_toml("[tenant_quotas]\nmax_queue_wait = \"-5s\"\n").unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("tenant_quotas.max_queue_wait", Some(2)));
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = Config::from_json("{\"tenant_quotas\": {\"wat\": 1}}").unwrap_err();
    assert_eq!(e.key, "tenant_quotas.wat");
    assert_eq!(e.line, Some(1));
    let e = Config::from_path("/nonexistent/tg.toml").unwrap_err();
    assert!(e.message.contains("cannot read"));
}

#[test]
fn json_errors_are_located_in_the_text_too() {
    // A semantic error (found after deserializing) and a type error, each with its line.
    let text =
        "{\n  \"tenant_quotas\": {\n    \"tiers\": [{ \"name\": \"free\" }],\n    \"default_tier\": \"gold\"\n  }\n}\n";
    let e = Config::from_json(text).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("tenant_quotas.default_tier", Some(4)), "{e}");
    let text = "{\"tenant_quotas\": {\n\"tiers\": [\n{\"name\": \"a\"},\n{\"name\": \"b\", \"max_qps\": \"many\"}]}}";
    let e = Config::from_json(text).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("tenant_quotas.tiers[1].max_qps", Some(4)), "{e}");
    // Escaped quotes inside strings do not confuse the search.
    let text = "{\"tenant_quotas\": {\"tiers\": [{\"name\": \"a \\\" b\", \"description\": \"x\"},\n {\"name\": \"c\", \"wat\": 1}]}}";
    let e = Config::from_json(text).unwrap_err();
    assert_eq!((e.key.as_str(), e.line), ("tenant_quotas.tiers[1].wat", Some(2)), "{e}");
}

/// TOML has `nan` and `inf`; none of them is a limit. They are errors at their line, not
/// silently "not set" (which a JSON value would make of them).
#[test]
fn non_finite_numbers_are_errors_at_their_line() {
    for (key, value) in [
        ("burst_allowance", "nan"),
        ("burst_allowance", "+inf"),
        ("max_qps", "inf"),
        ("max_connections", "-inf"),
        ("max_storage_gb", "nan"),
    ] {
        let text = format!("[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"a\"\n{key} = {value}\n");
        let e = Config::from_toml(&text).unwrap_err();
        assert_eq!(e.line, Some(4), "{key} = {value}: {e}");
        assert!(e.message.contains("not a finite number"), "{key} = {value}: {e}");
    }
    let e = Config::from_toml("[tenant_quotas]\n[tenant_quotas.storage]\nwarning_threshold = nan\n").unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    // Finite floats and datetimes still read as before.
    Config::from_toml("[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"a\"\nburst_allowance = 2.5\n").unwrap();
}

/// Zero is no duration and no rate: an override or resource that says so is an error naming
/// the key, as the tier keys already were, instead of transactions expiring after 1 ms or an
/// override being dropped without notice.
#[test]
fn zero_durations_and_zero_rates_in_overrides_and_resources_are_errors() {
    let cases = [
        (
            "[tenant_quotas]\n[[tenant_quotas.overrides]]\ntenant_id = \"a\"\nmax_transaction_duration = \"0s\"\n",
            "tenant_quotas.overrides[0].max_transaction_duration",
        ),
        (
            "[tenant_quotas]\n[[tenant_quotas.overrides]]\ntenant_id = \"a\"\nmax_idle_in_transaction = \"0ms\"\n",
            "tenant_quotas.overrides[0].max_idle_in_transaction",
        ),
        (
            "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\n[[tenant_quotas.tiers.resources]]\nname = \"batch\"\nkind = \"duration\"\nmax_duration = \"0s\"\n",
            "tenant_quotas.tiers[0].resources[0].max_duration",
        ),
        (
            "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"t\"\n[[tenant_quotas.tiers.resources]]\nname = \"api\"\nkind = \"rate\"\nlimit = 5\n[[tenant_quotas.overrides]]\ntenant_id = \"a\"\nresources = { api = 0 }\n",
            "tenant_quotas.overrides[0].resources.api",
        ),
    ];
    for (text, key) in cases {
        let e = Config::from_toml(text).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert!(e.line.is_some(), "{e}");
    }
    // 0 stays valid where it means something: no connections, no storage.
    Config::from_toml(
        "[tenant_quotas]\n[[tenant_quotas.overrides]]\ntenant_id = \"a\"\nresources = { connections = 0 }\n",
    )
    .unwrap();
}
