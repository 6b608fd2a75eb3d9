//! Plans (tiers): resource limits and feature flags.
//!
//! Five built-ins follow the S2 tier tables: `free`, `starter`, `pro`, `enterprise` and
//! `unlimited` (the protected default that deleted plans fall back to). Custom plans start
//! from the S1 defaults (100 GB storage, 50 connections, 1000 QPS) and may define any number
//! of named resources of the four [`ResourceKind`]s.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Bytes in the `GB` of `storage_quota_gb` (GiB, as storage tools report).
pub const GB: u64 = 1024 * 1024 * 1024;
/// The built-in queries-per-second resource.
pub const QPS: &str = "qps";
/// The built-in connections resource.
pub const CONNECTIONS: &str = "connections";
/// The built-in storage resource (bytes).
pub const STORAGE: &str = "storage";
/// The built-in transaction duration resource.
pub const TRANSACTION: &str = "transaction";
/// The id of the protected default plan.
pub const UNLIMITED: &str = "unlimited";
/// Default maximum wait for a queued request (5 s).
pub const DEFAULT_MAX_QUEUE_WAIT_MS: u64 = 5_000;
/// Default maximum delay for a throttled request (1 s).
pub const DEFAULT_MAX_THROTTLE_DELAY_MS: u64 = 1_000;
/// Default warning threshold for capacity resources (90%).
pub const DEFAULT_WARNING_THRESHOLD: f64 = 0.9;

/// Whether `name` is the built-in `qps` resource.
///
/// By value, not by pointer: an interned name's pointer equals [`QPS`]'s only where the
/// compiler merged the constant's copies, which the wasm build did not (its checks missed the
/// `qps` fast path). Byte by byte: a slice comparison is a `memcmp` call where it is not
/// inlined (the wasm build, whose `compiler_builtins` is optimised for size).
#[inline(always)]
pub fn is_qps(name: &str) -> bool {
    matches!(name.as_bytes(), [b'q', b'p', b's'])
}

/// Interns a resource name for the life of the process (bounded by the distinct names
/// configured), so decisions can carry it without allocating.
pub fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    for builtin in [QPS, CONNECTIONS, STORAGE, TRANSACTION] {
        if name == builtin {
            return builtin;
        }
    }
    let set = NAMES.get_or_init(|| Mutex::new(HashSet::new()));
    let mut set = match set.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(existing) = set.get(name) {
        return existing;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// What happens when a rate or concurrency limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementAction {
    /// Admit after a computed delay (bounded by the max throttle delay), else reject.
    #[default]
    Throttle,
    /// Admit after waiting in the tenant's queue (bounded by the max queue wait), else reject.
    Queue,
    /// Refuse immediately.
    Reject,
}

/// Rate-limiting algorithm of a rate resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RateAlgorithm {
    /// Generic cell rate algorithm, equivalent to a token bucket; honours `burst`.
    #[default]
    #[serde(alias = "token_bucket")]
    Gcra,
    /// Sliding-window counter (weighted previous window); `burst` is not used.
    SlidingWindow,
    /// Fixed windows aligned to the Unix epoch; `burst` is not used.
    FixedWindow,
}

/// One window of a rate resource: `limit` units per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateWindow {
    /// Units admitted per window.
    pub limit: u64,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

/// The kind of a resource and its limits. In JSON its fields sit beside the resource's own
/// (`{"name": "qps", "kind": "rate", "windows": [...], ...}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ResourceKind {
    /// Events per window (several windows allowed; all must admit).
    Rate {
        /// The windows, e.g. 100 per second and 100,000 per day.
        windows: Vec<RateWindow>,
        /// Burst allowance as a multiple of the first window's limit (GCRA only; ≥ 1).
        burst: f64,
        /// The algorithm.
        algorithm: RateAlgorithm,
    },
    /// Leases acquired and released (e.g. connections).
    Concurrency {
        /// Maximum leases held at once.
        max: u64,
        /// Leases not released within this time are reclaimed (holder presumed dead).
        lease_ttl_ms: Option<u64>,
    },
    /// A gauge (e.g. storage bytes): writes blocked at the limit, reads never.
    Capacity {
        /// The hard limit.
        max: u64,
        /// Fraction of `max` at which decisions turn to `warn`.
        warning_threshold: f64,
        /// Whether reaching the limit blocks writes (`false`: warn only).
        block_writes: bool,
    },
    /// Leases with deadlines (e.g. transactions); expired leases are reported.
    Duration {
        /// Maximum lifetime of a lease in ms (`None`: no limit).
        max_ms: Option<u64>,
        /// Maximum time without activity in ms (`None`: no limit).
        idle_ms: Option<u64>,
    },
}

impl ResourceKind {
    /// `"rate"`, `"concurrency"`, `"capacity"` or `"duration"`.
    pub fn name(&self) -> &'static str {
        match self {
            ResourceKind::Rate { .. } => "rate",
            ResourceKind::Concurrency { .. } => "concurrency",
            ResourceKind::Capacity { .. } => "capacity",
            ResourceKind::Duration { .. } => "duration",
        }
    }

    /// The headline limit: first window's limit, max leases, capacity, or max duration.
    pub fn primary_limit(&self) -> Option<u64> {
        match self {
            ResourceKind::Rate { windows, .. } => windows.first().map(|w| w.limit),
            ResourceKind::Concurrency { max, .. } | ResourceKind::Capacity { max, .. } => Some(*max),
            ResourceKind::Duration { max_ms, .. } => *max_ms,
        }
    }
}

/// A named resource limited by a plan.
///
/// Deserializing rejects unknown keys and keys of another kind (`max` on a rate resource), so
/// a misspelt limit is an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ResourceSpecWire")]
pub struct ResourceSpec {
    /// Resource name (`qps`, `connections`, `storage`, `transaction`, or any custom name).
    pub name: String,
    /// Kind and limits.
    #[serde(flatten)]
    pub kind: ResourceKind,
    /// What happens at the limit (rate and concurrency resources).
    #[serde(default)]
    pub action: EnforcementAction,
    /// Maximum wait for `queue` (default 5 s) and delay for `throttle` (default 1 s).
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
}

impl ResourceSpec {
    /// A rate resource of `limit` per `window_ms` with GCRA and the given burst.
    pub fn rate(name: &str, limit: u64, window_ms: u64, burst: f64, action: EnforcementAction) -> Self {
        Self {
            name: name.to_owned(),
            kind: ResourceKind::Rate {
                windows: vec![RateWindow { limit, window_ms }],
                burst,
                algorithm: RateAlgorithm::Gcra,
            },
            action,
            max_wait_ms: None,
        }
    }

    /// A concurrency resource of at most `max` leases.
    pub fn concurrency(name: &str, max: u64, action: EnforcementAction) -> Self {
        Self {
            name: name.to_owned(),
            kind: ResourceKind::Concurrency { max, lease_ttl_ms: None },
            action,
            max_wait_ms: None,
        }
    }

    /// A capacity resource of `max` units with the default 90% warning threshold.
    pub fn capacity(name: &str, max: u64) -> Self {
        Self {
            name: name.to_owned(),
            kind: ResourceKind::Capacity { max, warning_threshold: DEFAULT_WARNING_THRESHOLD, block_writes: true },
            action: EnforcementAction::Reject,
            max_wait_ms: None,
        }
    }

    /// A duration resource.
    pub fn duration(name: &str, max_ms: Option<u64>, idle_ms: Option<u64>) -> Self {
        Self {
            name: name.to_owned(),
            kind: ResourceKind::Duration { max_ms, idle_ms },
            action: EnforcementAction::Reject,
            max_wait_ms: None,
        }
    }

    /// Checks the limits make sense; `path` names the resource in errors.
    pub fn validate(&self, path: &str) -> Result<(), (String, String)> {
        if self.name.is_empty() {
            return Err((format!("{path}.name"), "resource name must not be empty".into()));
        }
        match &self.kind {
            ResourceKind::Rate { windows, burst, .. } => {
                if windows.is_empty() {
                    return Err((format!("{path}.windows"), "a rate resource needs at least one window".into()));
                }
                for (i, w) in windows.iter().enumerate() {
                    if w.limit == 0 {
                        return Err((format!("{path}.windows[{i}].limit"), "limit must be at least 1".into()));
                    }
                    if w.window_ms == 0 {
                        return Err((format!("{path}.windows[{i}].window"), "window must be at least 1 ms".into()));
                    }
                }
                if !burst.is_finite() || *burst < 1.0 {
                    return Err((format!("{path}.burst"), format!("burst must be a number ≥ 1.0, got {burst}")));
                }
            }
            ResourceKind::Capacity { warning_threshold, .. } => {
                if !warning_threshold.is_finite() || *warning_threshold <= 0.0 || *warning_threshold > 1.0 {
                    return Err((
                        format!("{path}.warning_threshold"),
                        format!("warning threshold must be in (0, 1], got {warning_threshold}"),
                    ));
                }
            }
            ResourceKind::Concurrency { lease_ttl_ms, .. } => {
                if *lease_ttl_ms == Some(0) {
                    return Err((format!("{path}.lease_ttl"), "lease ttl must be at least 1 ms".into()));
                }
            }
            ResourceKind::Duration { max_ms, idle_ms } => {
                if *max_ms == Some(0) {
                    return Err((format!("{path}.max_duration"), "must be longer than 0".into()));
                }
                if *idle_ms == Some(0) {
                    return Err((format!("{path}.max_idle"), "must be longer than 0".into()));
                }
            }
        }
        Ok(())
    }
}

/// The JSON form of a [`ResourceSpec`]: every kind's fields, checked against `kind`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResourceSpecWire {
    name: String,
    kind: KindName,
    #[serde(default)]
    action: EnforcementAction,
    #[serde(default)]
    max_wait_ms: Option<u64>,
    windows: Option<Vec<RateWindow>>,
    burst: Option<f64>,
    algorithm: Option<RateAlgorithm>,
    max: Option<u64>,
    lease_ttl_ms: Option<u64>,
    warning_threshold: Option<f64>,
    block_writes: Option<bool>,
    max_ms: Option<u64>,
    idle_ms: Option<u64>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum KindName {
    Rate,
    Concurrency,
    Capacity,
    Duration,
}

impl TryFrom<ResourceSpecWire> for ResourceSpec {
    type Error = String;

    fn try_from(w: ResourceSpecWire) -> Result<Self, String> {
        let kind_name = match w.kind {
            KindName::Rate => "rate",
            KindName::Concurrency => "concurrency",
            KindName::Capacity => "capacity",
            KindName::Duration => "duration",
        };
        // The fields each kind takes; any other field that is set is an error.
        let allowed: &[&str] = match w.kind {
            KindName::Rate => &["windows", "burst", "algorithm"],
            KindName::Concurrency => &["max", "leaseTtlMs"],
            KindName::Capacity => &["max", "warningThreshold", "blockWrites"],
            KindName::Duration => &["maxMs", "idleMs"],
        };
        let present = [
            ("windows", w.windows.is_some()),
            ("burst", w.burst.is_some()),
            ("algorithm", w.algorithm.is_some()),
            ("max", w.max.is_some()),
            ("leaseTtlMs", w.lease_ttl_ms.is_some()),
            ("warningThreshold", w.warning_threshold.is_some()),
            ("blockWrites", w.block_writes.is_some()),
            ("maxMs", w.max_ms.is_some()),
            ("idleMs", w.idle_ms.is_some()),
        ];
        if let Some((field, _)) = present.iter().find(|(f, set)| *set && !allowed.contains(f)) {
            return Err(format!(
                "`{field}` does not apply to a {kind_name} resource (it takes {})",
                allowed.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        let missing = |field: &str| format!("missing field `{field}` (a {kind_name} resource needs it)");
        let kind = match w.kind {
            KindName::Rate => ResourceKind::Rate {
                windows: w.windows.ok_or_else(|| missing("windows"))?,
                burst: w.burst.ok_or_else(|| missing("burst"))?,
                algorithm: w.algorithm.ok_or_else(|| missing("algorithm"))?,
            },
            KindName::Concurrency => {
                ResourceKind::Concurrency { max: w.max.ok_or_else(|| missing("max"))?, lease_ttl_ms: w.lease_ttl_ms }
            }
            KindName::Capacity => ResourceKind::Capacity {
                max: w.max.ok_or_else(|| missing("max"))?,
                warning_threshold: w.warning_threshold.ok_or_else(|| missing("warningThreshold"))?,
                block_writes: w.block_writes.ok_or_else(|| missing("blockWrites"))?,
            },
            KindName::Duration => ResourceKind::Duration { max_ms: w.max_ms, idle_ms: w.idle_ms },
        };
        Ok(ResourceSpec { name: w.name, kind, action: w.action, max_wait_ms: w.max_wait_ms })
    }
}

/// Feature flags of a plan (S1 `PlanFeatures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanFeatures {
    /// Row-level security.
    pub rls_enabled: bool,
    /// Change data capture.
    pub cdc_enabled: bool,
    /// Schema migrations.
    pub migrations_enabled: bool,
    /// Per-tenant quota overrides.
    pub custom_quotas_enabled: bool,
    /// All isolation modes (otherwise `SharedSchema` only).
    pub all_isolation_modes: bool,
}

impl PlanFeatures {
    /// Every feature on.
    pub const ALL: PlanFeatures = PlanFeatures {
        rls_enabled: true,
        cdc_enabled: true,
        migrations_enabled: true,
        custom_quotas_enabled: true,
        all_isolation_modes: true,
    };

    /// Whether `feature` is on.
    pub fn has(&self, feature: Feature) -> bool {
        match feature {
            Feature::Rls => self.rls_enabled,
            Feature::Cdc => self.cdc_enabled,
            Feature::Migrations => self.migrations_enabled,
            Feature::CustomQuotas => self.custom_quotas_enabled,
            Feature::AllIsolationModes => self.all_isolation_modes,
        }
    }
}

/// A feature that plans switch on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Row-level security.
    Rls,
    /// Change data capture.
    Cdc,
    /// Schema migrations.
    Migrations,
    /// Per-tenant quota overrides.
    CustomQuotas,
    /// All isolation modes.
    AllIsolationModes,
}

impl Feature {
    /// Parses `rls`, `cdc`, `migrations`, `custom_quotas`, `all_isolation_modes`.
    pub fn parse(s: &str) -> Option<Feature> {
        Some(match s {
            "rls" => Feature::Rls,
            "cdc" => Feature::Cdc,
            "migrations" => Feature::Migrations,
            "custom_quotas" => Feature::CustomQuotas,
            "all_isolation_modes" => Feature::AllIsolationModes,
            _ => return None,
        })
    }

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Rls => "rls",
            Feature::Cdc => "cdc",
            Feature::Migrations => "migrations",
            Feature::CustomQuotas => "custom_quotas",
            Feature::AllIsolationModes => "all_isolation_modes",
        }
    }
}

/// S1 `ResourceLimits`: the three headline quotas of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLimits {
    /// Storage bytes (`u64::MAX` when unlimited).
    pub max_storage_bytes: u64,
    /// Concurrent connections (`u64::MAX` when unlimited). S1 has `usize`; a fixed width
    /// keeps the answer identical on 32-bit hosts (wasm32), as the corpus demands.
    pub max_connections: u64,
    /// Queries per second (`u64::MAX` when unlimited; `u64` for the same reason).
    pub max_qps: u64,
}

impl Default for ResourceLimits {
    /// The S1 defaults: 100 GB, 50 connections, 1000 QPS.
    fn default() -> Self {
        Self { max_storage_bytes: 100 * GB, max_connections: 50, max_qps: 1000 }
    }
}

/// A plan (tier). Deserializing rejects unknown keys at every level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    /// Unique id, e.g. `free`.
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The protected fallback for deleted plans (only `unlimited` by default).
    #[serde(default)]
    pub is_default: bool,
    /// Feature flags.
    pub features: PlanFeatures,
    /// Limited resources. A resource not listed is unlimited for this plan.
    pub resources: Vec<ResourceSpec>,
}

#[allow(clippy::too_many_arguments)] // a row of the S2 tier table
fn tier(
    id: &str,
    qps: u64,
    conns: u64,
    storage_gb: u64,
    txn_s: u64,
    idle_s: u64,
    burst: f64,
    action: EnforcementAction,
    features: PlanFeatures,
) -> Plan {
    Plan {
        id: id.to_owned(),
        description: String::new(),
        is_default: false,
        features,
        resources: vec![
            ResourceSpec::rate(QPS, qps, 1000, burst, action),
            ResourceSpec::concurrency(CONNECTIONS, conns, action),
            ResourceSpec::capacity(STORAGE, storage_gb * GB),
            ResourceSpec::duration(TRANSACTION, Some(txn_s * 1000), Some(idle_s * 1000)),
        ],
    }
}

impl Plan {
    /// A custom plan with the S1 defaults (1000 QPS, 50 connections, 100 GB, no transaction
    /// limit), every feature off but RLS.
    pub fn custom(id: &str) -> Self {
        let d = ResourceLimits::default();
        Plan {
            id: id.to_owned(),
            description: String::new(),
            is_default: false,
            features: PlanFeatures {
                rls_enabled: true,
                cdc_enabled: false,
                migrations_enabled: false,
                custom_quotas_enabled: false,
                all_isolation_modes: false,
            },
            resources: vec![
                ResourceSpec::rate(QPS, d.max_qps, 1000, 1.0, EnforcementAction::Throttle),
                ResourceSpec::concurrency(CONNECTIONS, d.max_connections, EnforcementAction::Throttle),
                ResourceSpec::capacity(STORAGE, d.max_storage_bytes),
            ],
        }
    }

    /// The five built-in plans in tier order.
    pub fn builtins() -> Vec<Plan> {
        let free_f = PlanFeatures {
            rls_enabled: true,
            cdc_enabled: false,
            migrations_enabled: false,
            custom_quotas_enabled: false,
            all_isolation_modes: false,
        };
        let starter_f = PlanFeatures { cdc_enabled: true, ..free_f };
        use EnforcementAction::*;
        vec![
            tier("free", 100, 10, 10, 10, 5, 1.5, Throttle, free_f),
            tier("starter", 250, 25, 50, 60, 15, 1.5, Throttle, starter_f),
            tier("pro", 500, 50, 100, 300, 30, 2.0, Queue, PlanFeatures::ALL),
            tier("enterprise", 5000, 500, 1000, 3600, 600, 3.0, Throttle, PlanFeatures::ALL),
            Plan {
                id: UNLIMITED.to_owned(),
                description: "no limits; protected fallback".into(),
                is_default: true,
                features: PlanFeatures::ALL,
                resources: vec![],
            },
        ]
    }

    /// The resource named `name`, if this plan limits it.
    pub fn resource(&self, name: &str) -> Option<&ResourceSpec> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// Mutable access to the resource named `name`.
    pub fn resource_mut(&mut self, name: &str) -> Option<&mut ResourceSpec> {
        self.resources.iter_mut().find(|r| r.name == name)
    }

    /// Adds or replaces a resource.
    pub fn set_resource(&mut self, spec: ResourceSpec) {
        match self.resource_mut(&spec.name) {
            Some(slot) => *slot = spec,
            None => self.resources.push(spec),
        }
    }

    /// The S1 `ResourceLimits` view of this plan.
    pub fn limits(&self) -> ResourceLimits {
        let get = |n: &str| self.resource(n).and_then(|r| r.kind.primary_limit());
        ResourceLimits {
            max_storage_bytes: get(STORAGE).unwrap_or(u64::MAX),
            max_connections: get(CONNECTIONS).unwrap_or(u64::MAX),
            max_qps: get(QPS).unwrap_or(u64::MAX),
        }
    }

    /// Validates every resource; errors name the offending path.
    pub fn validate(&self, path: &str) -> Result<(), (String, String)> {
        if self.id.is_empty() {
            return Err((format!("{path}.name"), "plan id must not be empty".into()));
        }
        let mut seen = HashSet::new();
        for (i, r) in self.resources.iter().enumerate() {
            if !seen.insert(r.name.as_str()) {
                return Err((format!("{path}.resources[{i}].name"), format!("resource `{}` is defined twice", r.name)));
            }
            r.validate(&format!("{path}.resources[{i}]"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_qps_matches_the_constant_only() {
        assert!(is_qps(QPS) && is_qps(intern("qps")) && is_qps(&String::from("qps")));
        for other in ["", "q", "qp", "qpss", "QPS", "pqs", CONNECTIONS, STORAGE, TRANSACTION] {
            assert!(!is_qps(other), "{other}");
        }
    }

    #[test]
    fn every_builtin_and_custom_plan_round_trips_through_json() {
        let mut plans = Plan::builtins();
        let mut custom = Plan::custom("ai");
        custom.resources.push(ResourceSpec {
            name: "ai_tokens".into(),
            kind: ResourceKind::Rate {
                windows: vec![
                    RateWindow { limit: 100, window_ms: 1000 },
                    RateWindow { limit: 1_000_000, window_ms: 86_400_000 },
                ],
                burst: 1.0,
                algorithm: RateAlgorithm::SlidingWindow,
            },
            action: EnforcementAction::Queue,
            max_wait_ms: Some(250),
        });
        custom.resources.push(ResourceSpec {
            name: "workers".into(),
            kind: ResourceKind::Concurrency { max: 4, lease_ttl_ms: Some(30_000) },
            action: EnforcementAction::Reject,
            max_wait_ms: None,
        });
        plans.push(custom);
        for p in plans {
            let json = serde_json::to_value(&p).unwrap();
            let back: Plan = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{}: {e}: {json}", p.id));
            assert_eq!(back, p);
        }
    }

    #[test]
    fn a_key_of_another_kind_or_a_misspelt_key_is_refused() {
        let parse = |v: serde_json::Value| serde_json::from_value::<ResourceSpec>(v).map_err(|e| e.to_string());
        let ok = parse(
            serde_json::json!({"name": "c", "kind": "capacity", "max": 10, "warningThreshold": 0.5, "blockWrites": false}),
        );
        assert!(matches!(
            ok,
            Ok(ResourceSpec { kind: ResourceKind::Capacity { max: 10, block_writes: false, .. }, .. })
        ));
        let e = parse(serde_json::json!({"name": "c", "kind": "duration", "maxMs": 5, "max": 10})).unwrap_err();
        assert!(e.contains("`max` does not apply to a duration resource"), "{e}");
        let e = parse(serde_json::json!({"name": "c", "kind": "duration", "idelMs": 5})).unwrap_err();
        assert!(e.contains("unknown field `idelMs`"), "{e}");
        let e = parse(serde_json::json!({"name": "q", "kind": "rate", "windows": [], "burst": 1.0})).unwrap_err();
        assert!(e.contains("missing field `algorithm`"), "{e}");
    }
}
