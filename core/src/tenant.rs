//! Tenants, isolation modes and per-request context (S1 `tenant` module).
//!
//! [`TenantManager`] is the S1 name of the [`Governor`](crate::Governor); the tutorial's code
//! compiles against this module with only the crate name changed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

pub use crate::governor::{Governor as TenantManager, TenantHandle};
pub use crate::plan::{Plan, PlanFeatures, ResourceLimits};
pub use crate::rls::RLSCommand;

/// How a tenant's data is separated from other tenants'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum IsolationMode {
    /// Shared tables, rows separated by tenant id (and RLS).
    #[default]
    SharedSchema,
    /// One schema per tenant.
    SeparateSchema,
    /// One database per tenant.
    SeparateDatabase,
}

impl IsolationMode {
    /// `SharedSchema`, `SeparateSchema` or `SeparateDatabase`.
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationMode::SharedSchema => "SharedSchema",
            IsolationMode::SeparateSchema => "SeparateSchema",
            IsolationMode::SeparateDatabase => "SeparateDatabase",
        }
    }

    /// Parses the names above (also `shared_schema`, `separate_schema`, `separate_database`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SharedSchema" | "shared_schema" => IsolationMode::SharedSchema,
            "SeparateSchema" | "separate_schema" => IsolationMode::SeparateSchema,
            "SeparateDatabase" | "separate_database" => IsolationMode::SeparateDatabase,
            _ => return None,
        })
    }
}

/// The tenant a request acts for (S1 `TenantContext`, exactly these public fields).
///
/// Pass it explicitly to the `*_ctx` checks so concurrent requests never see each other's
/// tenant; [`SessionContext`] adds settings and the RLS bypass flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantContext {
    /// The tenant's id.
    pub tenant_id: Uuid,
    /// The acting user.
    pub user_id: String,
    /// The user's roles.
    pub roles: Vec<String>,
    /// The tenant's isolation mode.
    pub isolation_mode: IsolationMode,
}

/// A [`TenantContext`] plus session settings (`current_setting`) and the RLS bypass flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionContext {
    /// The tenant context.
    pub tenant: TenantContext,
    /// Session settings, e.g. `app.region`.
    pub settings: BTreeMap<String, String>,
    /// PostgreSQL's BYPASSRLS: skip row-level security.
    pub bypass_rls: bool,
}

/// A temporary or permanent change of one limit for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Override {
    /// The resource (`qps`, `connections`, `storage`, `transaction`, or a custom one).
    pub resource: String,
    /// New headline limit: first window's limit (rate), max leases (concurrency), capacity
    /// (capacity) or max duration in ms (duration).
    #[serde(default)]
    pub limit: Option<u64>,
    /// New burst allowance (rate, GCRA).
    #[serde(default)]
    pub burst: Option<f64>,
    /// New max idle time in ms (duration).
    #[serde(default)]
    pub idle_ms: Option<u64>,
    /// When the override lapses (ms since the epoch); the plan value applies again after it,
    /// with no call needed.
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// Why (for the audit trail).
    #[serde(default)]
    pub reason: Option<String>,
}

impl Override {
    /// An override of `resource`'s headline limit.
    pub fn limit(resource: &str, limit: u64) -> Self {
        Self {
            resource: resource.to_owned(),
            limit: Some(limit),
            burst: None,
            idle_ms: None,
            expires_at_ms: None,
            reason: None,
        }
    }

    /// The same override, lapsing at `expires_at_ms`.
    pub fn until(mut self, expires_at_ms: u64) -> Self {
        self.expires_at_ms = Some(expires_at_ms);
        self
    }
}

/// A registered tenant, as returned by lookups (a snapshot, not a live view).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Stable id (UUID v5 of the name, so every host derives the same id).
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Current plan.
    pub plan_id: String,
    /// Isolation mode.
    pub isolation_mode: IsolationMode,
    /// The plan's headline limits, with active overrides applied.
    pub limits: ResourceLimits,
    /// The plan's features.
    pub features: PlanFeatures,
    /// Whether the tenant is in shadow (monitor-only) mode.
    pub shadow: bool,
    /// Overrides in force (expired ones omitted).
    pub overrides: Vec<Override>,
    /// Registration time (ms since the epoch).
    pub created_at_ms: u64,
}

/// S1 `QuotaTracking`: live counters of the three headline quotas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaTracking {
    /// Connections held now.
    pub active_connections: u64,
    /// Connections high-water mark.
    pub connections_hwm: u64,
    /// Sum of sampled connection counts.
    pub connections_total_samples: u64,
    /// Number of connection samples.
    pub connections_sample_count: u64,
    /// Storage bytes used.
    pub storage_bytes_used: u64,
    /// Queries admitted in the current second.
    pub queries_this_window: u64,
}
