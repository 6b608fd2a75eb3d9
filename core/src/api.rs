//! The host-neutral API: one serde request type per operation and JSON answers, with stable
//! camelCase names and `deny_unknown_fields`, so every shell is conversion only.
//!
//! [`Engine`] bundles a [`Governor`] with the S1 [`UserQuotaManager`] and keyed
//! [`RateLimiter`]s; [`Engine::execute`] runs one [`Request`]. The conformance corpus in
//! `tests/conformance/` is written in this vocabulary (`op` + `args`).

use crate::config::{Config, parse_duration_ms};
use crate::error::Error;
use crate::governor::Governor;
use crate::multi_tenant::quotas::RateLimiter;
use crate::plan::{Feature, Plan};
use crate::quota::UserQuotaManager;
use crate::tenant::{IsolationMode, Override};
use crate::usage::UsageReport;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A typed error as hosts see it: stable `code`, message, and for configuration errors the
/// key path and position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// Stable code (`TENANT_NOT_FOUND`, `CONFIG_INVALID`, `RATE_LIMITED`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Config key path or argument name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// 1-based line in the config text, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The decision, for `QuotaExceeded` errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Box<Value>>,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let mut out = ApiError {
            code: e.code().to_owned(),
            message: e.to_string(),
            key: None,
            line: None,
            column: None,
            decision: None,
        };
        match &e {
            Error::Config(c) => {
                out.key = Some(c.key.clone());
                out.line = c.line.and_then(|l| u32::try_from(l).ok());
                out.column = c.column.and_then(|l| u32::try_from(l).ok());
            }
            Error::InvalidArgument { name, .. } => out.key = Some(name.clone()),
            Error::QuotaExceeded(d) => out.decision = serde_json::to_value(d).ok().map(Box::new),
            _ => {}
        }
        out
    }
}

impl ApiError {
    /// An `INVALID_ARGUMENT` error about `key`.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ApiError::from(Error::invalid(key, message))
    }

    /// An `INTERNAL` error: a defect of tenantguard's, not of the input (an answer that
    /// would not encode, a panic a shell caught at its boundary).
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            code: "INTERNAL".into(),
            message: message.into(),
            key: None,
            line: None,
            column: None,
            decision: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The defaults of the host-neutral API. Shells that call the core directly on a fast path use
/// these instead of restating them, so every host defaults identically.
pub mod defaults {
    use crate::plan;

    /// Resource of `check` and `peek`.
    pub const CHECK_RESOURCE: &str = plan::QPS;
    /// Units of `check` and `peek`.
    pub const CHECK_COST: u64 = 1;
    /// Resource of the usage (gauge) operations.
    pub const USAGE_RESOURCE: &str = plan::STORAGE;
    /// Resource of the lease operations (`acquire`, `release`, `cancel`, `concurrencyStats`).
    pub const LEASE_RESOURCE: &str = plan::CONNECTIONS;
    /// Resource of the duration operations (`begin`, `touch`, `end`).
    pub const TRANSACTION_RESOURCE: &str = plan::TRANSACTION;
    /// Requests per minute of a user without a quota of its own (S1 `UserQuotaManager`).
    pub const USER_RPM: u32 = 60;
}

/// A configuration given inline: TOML text, JSON text, or a JSON object.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigSource {
    /// S2 TOML text.
    #[serde(default)]
    pub toml: Option<String>,
    /// The JSON model, as text or as an object.
    #[serde(default)]
    pub json: Option<Value>,
}

impl ConfigSource {
    /// Parses whichever form is present (exactly one must be).
    pub fn parse(&self) -> Result<Config, Error> {
        match (&self.toml, &self.json) {
            (Some(t), None) => Ok(Config::from_toml(t)?),
            (None, Some(Value::String(s))) => Ok(Config::from_json(s)?),
            (None, Some(v)) => Ok(Config::from_json(&v.to_string())?),
            _ => Err(Error::invalid("config", "give exactly one of `toml` or `json`")),
        }
    }
}

/// Arguments naming a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantArgs {
    /// Tenant name.
    pub tenant: String,
    /// Time (ms since the epoch); the engine's clock if absent.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `registerTenant`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterArgs {
    /// Unique name.
    pub name: String,
    /// Plan id (assignment / default tier if absent).
    #[serde(default)]
    pub plan: Option<String>,
    /// `SharedSchema` (default), `SeparateSchema`, `SeparateDatabase`.
    #[serde(default)]
    pub isolation: Option<String>,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `check` and `peek`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckArgs {
    /// Tenant name.
    pub tenant: String,
    /// Resource (default `qps`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Units (default 1).
    #[serde(default)]
    pub cost: Option<u64>,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// One check of `checkMany`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchCheck {
    /// Tenant name.
    pub tenant: String,
    /// Resource (default `qps`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Units (default 1).
    #[serde(default)]
    pub cost: Option<u64>,
}

/// `checkMany`: several checks at one time (pipelined to a shared store).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckManyArgs {
    /// The checks, answered in order.
    pub checks: Vec<BatchCheck>,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// Operations on one resource of one tenant (`acquire`, `begin`, `clearOverride`, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceArgs {
    /// Tenant name.
    pub tenant: String,
    /// Resource (default: `connections` for lease operations, `transaction` for `begin`;
    /// required by `clearOverride`).
    #[serde(default)]
    pub resource: Option<String>,
    /// A queue ticket to poll (`acquire` only).
    #[serde(default)]
    pub ticket: Option<u64>,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// Operations on a lease (`release`, `touch`, `end`) or ticket (`cancel`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseArgs {
    /// Tenant name.
    pub tenant: String,
    /// Resource (default: `connections` for `release`/`cancel`, `transaction` for `touch`/`end`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Lease (or ticket, for `cancel`).
    pub lease_id: u64,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `setUsage`, `addUsage`, `subtractUsage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageArgs {
    /// Tenant name.
    pub tenant: String,
    /// Capacity resource (default `storage`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Value (set) or delta (add/subtract).
    pub amount: u64,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `checkFeature`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureArgs {
    /// Tenant name.
    pub tenant: String,
    /// `rls`, `cdc`, `migrations`, `custom_quotas`, `all_isolation_modes`.
    pub feature: String,
}

/// `setOverride`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OverrideArgs {
    /// Tenant name.
    pub tenant: String,
    /// The override.
    #[serde(rename = "override")]
    pub ovr: Override,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `setShadow` (per tenant, or every tenant when `tenant` is absent).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShadowArgs {
    /// Tenant name; absent for the global switch.
    #[serde(default)]
    pub tenant: Option<String>,
    /// On or off.
    pub shadow: bool,
}

/// Operations naming a plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanIdArgs {
    /// Plan id.
    pub plan: String,
}

/// `createPlan`, `updatePlan`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanArgs {
    /// The plan.
    pub plan: Plan,
}

/// `changePlan`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePlanArgs {
    /// Tenant name.
    pub tenant: String,
    /// New plan id.
    pub plan: String,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `downgrade`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DowngradeArgs {
    /// From plan.
    pub from: String,
    /// To plan.
    pub to: String,
}

/// `recordUsage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordUsageArgs {
    /// Tenant name.
    pub tenant: String,
    /// What to record.
    pub report: UsageReport,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// Operations that only take a time (`expiredLeases`, `prometheus`, `evictIdle`, `listTenants`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeArgs {
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `userQuotaCheck`, `userQuotaSet`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserQuotaArgs {
    /// User id.
    pub user: String,
    /// New RPM (`userQuotaSet` only).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// A window written as `"60s"` or milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum WindowArg {
    /// Milliseconds.
    Ms(u64),
    /// `"60s"`, `"1m"`, ...
    Text(String),
}

impl WindowArg {
    fn ms(&self) -> Result<u64, Error> {
        let ms = match self {
            WindowArg::Ms(v) => *v,
            WindowArg::Text(s) => parse_duration_ms(s).map_err(|m| Error::invalid("window", m))?,
        };
        if ms == 0 { Err(Error::invalid("window", "window must be at least 1 ms")) } else { Ok(ms) }
    }
}

/// `rateLimiterCheck`, `rateLimiterRemaining`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimiterArgs {
    /// Window of the limiter (one limiter per distinct window).
    pub window: WindowArg,
    /// Key.
    pub key: String,
    /// Events per window.
    pub limit: u64,
    /// Time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// `rlsEnable`, `rlsForce`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RlsTableArgs {
    /// Table.
    pub table: String,
    /// On (default) or off.
    #[serde(default = "yes")]
    pub on: bool,
}

fn yes() -> bool {
    true
}

/// `rlsCreatePolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RlsPolicyArgs {
    /// Table.
    pub table: String,
    /// The policy.
    pub policy: crate::rls::PolicyDef,
    /// Replace a policy of the same name.
    #[serde(default)]
    pub replace: bool,
}

/// `rlsDropPolicy`, `rlsListPolicies` (name ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RlsNameArgs {
    /// Table.
    pub table: String,
    /// Policy name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Row checks: `rlsCanSelect`, `rlsCheckInsert`, `rlsCheckDelete`, `rlsCheckUpdate`,
/// `rlsFilter`, `rlsExplain`, `rlsToSql`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RlsRowArgs {
    /// Table.
    pub table: String,
    /// The row (SELECT, INSERT new row, DELETE, EXPLAIN), or the old row (UPDATE).
    #[serde(default)]
    pub row: Option<Value>,
    /// The new row (UPDATE).
    #[serde(default)]
    pub new_row: Option<Value>,
    /// Rows (`rlsFilter`).
    #[serde(default)]
    pub rows: Option<Vec<Value>>,
    /// The command (`rlsExplain`, `rlsToSql`; default select).
    #[serde(default)]
    pub command: Option<crate::rls::RLSCommand>,
    /// The statement reads the row (UPDATE/DELETE with WHERE or RETURNING).
    #[serde(default)]
    pub reads: bool,
    /// Who is asking.
    #[serde(default)]
    pub context: crate::rls::RlsContext,
}

impl RlsRowArgs {
    fn row(&self, rls: &crate::rls::RlsEngine, which: &str) -> Result<crate::rls::expr::Row, Error> {
        let v = if which == "newRow" { self.new_row.as_ref() } else { self.row.as_ref() };
        rls.row(&self.table, v.ok_or_else(|| Error::invalid(which, format!("`{which}` is required")))?)
    }

    /// The context, with `now()` taken from the call's time unless it sets `nowMs`.
    fn ctx(&self, now_ms: u64) -> crate::rls::RlsContext {
        let mut c = self.context.clone();
        c.now_ms = c.now_ms.or(Some(now_ms));
        c
    }
}

/// `rlsSetColumnTypes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RlsColumnsArgs {
    /// Table.
    pub table: String,
    /// Column name to type (`uuid`, `timestamptz`, `numeric`, `integer`, `text[]`, ...).
    pub columns: std::collections::BTreeMap<String, String>,
}

/// One operation. JSON form: `{"op": "check", "args": {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "camelCase", deny_unknown_fields)]
pub enum Request {
    /// Register a tenant → tenant.
    RegisterTenant(RegisterArgs),
    /// Look up a tenant → tenant.
    GetTenant(TenantArgs),
    /// Every tenant → list.
    ListTenants(#[serde(default)] TimeArgs),
    /// Remove a tenant → tenant.
    RemoveTenant(TenantArgs),
    /// Consume → decision.
    Check(CheckArgs),
    /// Several checks at once → `{results: [decision | {error}]}` in order (one pipelined
    /// round trip to a shared store).
    CheckMany(CheckManyArgs),
    /// Answer without consuming → decision.
    Peek(CheckArgs),
    /// Acquire a concurrency lease (or poll a ticket) → decision.
    Acquire(ResourceArgs),
    /// Release a lease → decision.
    Release(LeaseArgs),
    /// Abandon a ticket → `{cancelled}`.
    Cancel(LeaseArgs),
    /// Concurrency statistics → stats.
    ConcurrencyStats(ResourceArgs),
    /// Set a gauge → decision.
    SetUsage(UsageArgs),
    /// Record a write → decision.
    AddUsage(UsageArgs),
    /// Record freed units → decision.
    SubtractUsage(UsageArgs),
    /// Start a duration lease → decision.
    Begin(ResourceArgs),
    /// Activity on a duration lease → decision.
    Touch(LeaseArgs),
    /// End a duration lease → decision.
    End(LeaseArgs),
    /// Leases past a deadline → list.
    ExpiredLeases(#[serde(default)] TimeArgs),
    /// Feature gate → decision.
    CheckFeature(FeatureArgs),
    /// Set an override → tenant.
    SetOverride(OverrideArgs),
    /// Clear overrides of a resource → `{cleared}`.
    ClearOverride(ResourceArgs),
    /// Shadow mode → `{}`.
    SetShadow(ShadowArgs),
    /// One plan → plan.
    GetPlan(PlanIdArgs),
    /// Every plan → list.
    ListPlans(#[serde(default)] TimeArgs),
    /// Add a plan → plan.
    CreatePlan(PlanArgs),
    /// Replace a plan → `{tenants}`.
    UpdatePlan(PlanArgs),
    /// Change a tenant's plan → tenant.
    ChangePlan(ChangePlanArgs),
    /// Bulk move → `{tenants}`.
    Downgrade(DowngradeArgs),
    /// Delete a plan → `{deleted, fallback, tenants}`.
    DeletePlan(PlanIdArgs),
    /// Hot reload → reload report.
    Reload(ConfigSource),
    /// S2 status document.
    Status(TenantArgs),
    /// S1 `TenantUsage`.
    Usage(TenantArgs),
    /// Record host usage → `{}`.
    RecordUsage(RecordUsageArgs),
    /// Violation counts.
    Violations(TenantArgs),
    /// S1 `QuotaTracking`.
    QuotaTracking(TenantArgs),
    /// Prometheus text → `{text}`.
    Prometheus(#[serde(default)] TimeArgs),
    /// Evict idle rate state → `{evicted}`.
    EvictIdle(#[serde(default)] TimeArgs),
    /// The state store's kind and health counters → `{kind, metrics: {name: value}}`.
    StoreMetrics(#[serde(default)] TimeArgs),
    /// Replays the store's kept lease operations now → `{}` (or `STORE_UNAVAILABLE`).
    FlushStore(#[serde(default)] TimeArgs),
    /// Per-user RPM check → decision (or `RATE_LIMITED` error).
    UserQuotaCheck(UserQuotaArgs),
    /// Per-user RPM override → `{}`.
    UserQuotaSet(UserQuotaArgs),
    /// Per-user snapshot → list.
    UserQuotaSnapshot(#[serde(default)] TimeArgs),
    /// Generic limiter check → `{allowed}`.
    RateLimiterCheck(RateLimiterArgs),
    /// Generic limiter remaining → `{remaining}`.
    RateLimiterRemaining(RateLimiterArgs),
    /// Enable/disable RLS on a table → `{}`.
    RlsEnable(RlsTableArgs),
    /// Declare column types → `{}`.
    RlsSetColumnTypes(RlsColumnsArgs),
    /// Force/unforce RLS on a table → `{}`.
    RlsForce(RlsTableArgs),
    /// `CREATE POLICY` → `{}`.
    RlsCreatePolicy(RlsPolicyArgs),
    /// `DROP POLICY` → `{dropped}`.
    RlsDropPolicy(RlsNameArgs),
    /// Policies of a table → list.
    RlsListPolicies(RlsNameArgs),
    /// SELECT visibility → `{allowed}`.
    RlsCanSelect(RlsRowArgs),
    /// INSERT check → `{}` or `POLICY_VIOLATION`.
    RlsCheckInsert(RlsRowArgs),
    /// UPDATE check → `{updated}` or `POLICY_VIOLATION`.
    RlsCheckUpdate(RlsRowArgs),
    /// DELETE check → `{deleted}`.
    RlsCheckDelete(RlsRowArgs),
    /// Visible rows → `{indices}`.
    RlsFilter(RlsRowArgs),
    /// Policy trace → explanation.
    RlsExplain(RlsRowArgs),
    /// Combined policy as SQL → `{sql, params}`.
    RlsToSql(RlsRowArgs),
}

impl Request {
    /// Operation `op` with its arguments (an object; null means `{}`), read straight into the
    /// operation's argument type. The shells call this rather than deserializing a
    /// `{"op", "args"}` value into [`Request`]: the derived form of an adjacently tagged enum
    /// buffers the arguments and instantiates every argument type twice, which the
    /// WebAssembly module pays for in size.
    pub fn parse(op: &str, args: Value) -> Result<Request, ApiError> {
        fn read<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
            serde_json::from_value(v).map_err(|e| ApiError::invalid("request", e.to_string()))
        }
        let a = if args.is_null() { Value::Object(serde_json::Map::new()) } else { args };
        Ok(match op {
            "registerTenant" => Request::RegisterTenant(read(a)?),
            "getTenant" => Request::GetTenant(read(a)?),
            "listTenants" => Request::ListTenants(read(a)?),
            "removeTenant" => Request::RemoveTenant(read(a)?),
            "check" => Request::Check(read(a)?),
            "checkMany" => Request::CheckMany(read(a)?),
            "peek" => Request::Peek(read(a)?),
            "acquire" => Request::Acquire(read(a)?),
            "release" => Request::Release(read(a)?),
            "cancel" => Request::Cancel(read(a)?),
            "concurrencyStats" => Request::ConcurrencyStats(read(a)?),
            "setUsage" => Request::SetUsage(read(a)?),
            "addUsage" => Request::AddUsage(read(a)?),
            "subtractUsage" => Request::SubtractUsage(read(a)?),
            "begin" => Request::Begin(read(a)?),
            "touch" => Request::Touch(read(a)?),
            "end" => Request::End(read(a)?),
            "expiredLeases" => Request::ExpiredLeases(read(a)?),
            "checkFeature" => Request::CheckFeature(read(a)?),
            "setOverride" => Request::SetOverride(read(a)?),
            "clearOverride" => Request::ClearOverride(read(a)?),
            "setShadow" => Request::SetShadow(read(a)?),
            "getPlan" => Request::GetPlan(read(a)?),
            "listPlans" => Request::ListPlans(read(a)?),
            "createPlan" => Request::CreatePlan(read(a)?),
            "updatePlan" => Request::UpdatePlan(read(a)?),
            "changePlan" => Request::ChangePlan(read(a)?),
            "downgrade" => Request::Downgrade(read(a)?),
            "deletePlan" => Request::DeletePlan(read(a)?),
            "reload" => Request::Reload(read(a)?),
            "status" => Request::Status(read(a)?),
            "usage" => Request::Usage(read(a)?),
            "recordUsage" => Request::RecordUsage(read(a)?),
            "violations" => Request::Violations(read(a)?),
            "quotaTracking" => Request::QuotaTracking(read(a)?),
            "prometheus" => Request::Prometheus(read(a)?),
            "evictIdle" => Request::EvictIdle(read(a)?),
            "storeMetrics" => Request::StoreMetrics(read(a)?),
            "flushStore" => Request::FlushStore(read(a)?),
            "userQuotaCheck" => Request::UserQuotaCheck(read(a)?),
            "userQuotaSet" => Request::UserQuotaSet(read(a)?),
            "userQuotaSnapshot" => Request::UserQuotaSnapshot(read(a)?),
            "rateLimiterCheck" => Request::RateLimiterCheck(read(a)?),
            "rateLimiterRemaining" => Request::RateLimiterRemaining(read(a)?),
            "rlsEnable" => Request::RlsEnable(read(a)?),
            "rlsSetColumnTypes" => Request::RlsSetColumnTypes(read(a)?),
            "rlsForce" => Request::RlsForce(read(a)?),
            "rlsCreatePolicy" => Request::RlsCreatePolicy(read(a)?),
            "rlsDropPolicy" => Request::RlsDropPolicy(read(a)?),
            "rlsListPolicies" => Request::RlsListPolicies(read(a)?),
            "rlsCanSelect" => Request::RlsCanSelect(read(a)?),
            "rlsCheckInsert" => Request::RlsCheckInsert(read(a)?),
            "rlsCheckUpdate" => Request::RlsCheckUpdate(read(a)?),
            "rlsCheckDelete" => Request::RlsCheckDelete(read(a)?),
            "rlsFilter" => Request::RlsFilter(read(a)?),
            "rlsExplain" => Request::RlsExplain(read(a)?),
            "rlsToSql" => Request::RlsToSql(read(a)?),
            _ => return Err(ApiError::invalid("request", format!("unknown operation `{op}`"))),
        })
    }

    /// A request written as `{"op": ..., "args": ...}` (`args` may be left out; no other keys).
    pub fn from_json(v: Value) -> Result<Request, ApiError> {
        let Value::Object(mut m) = v else {
            return Err(ApiError::invalid("request", "a request is an object: {\"op\": ..., \"args\": {...}}"));
        };
        if let Some(k) = m.keys().find(|k| *k != "op" && *k != "args") {
            return Err(ApiError::invalid("request", format!("unknown field `{k}`, expected `op` or `args`")));
        }
        let op = match m.remove("op") {
            Some(Value::String(op)) => op,
            _ => return Err(ApiError::invalid("request", "missing field `op` (a string)")),
        };
        Request::parse(&op, m.remove("args").unwrap_or(Value::Null))
    }
}

/// For JavaScript hosts: a JS number as a count or time. NaN, infinities, fractions, negatives
/// and integers beyond 2^53 are refused (named `name`), never truncated.
#[inline]
pub fn js_whole(name: &str, x: f64) -> Result<u64, ApiError> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if (0.0..=EXACT).contains(&x) && x.fract() == 0.0 { Ok(x as u64) } else { Err(not_whole(name, x)) }
}

#[cold]
fn not_whole(name: &str, x: f64) -> ApiError {
    ApiError::invalid(name, format!("{name} must be a whole number ≥ 0, got {x}"))
}

/// For JavaScript hosts, which have one number type: integers beyond ±2^53 (such as
/// `u64::MAX` for "unlimited") become the nearest double, as `JSON.parse` would give them,
/// instead of a `BigInt` in one host and a conversion error in another.
pub fn js_numbers(v: Value) -> Value {
    const EXACT: u64 = 1 << 53;
    match v {
        Value::Number(n)
            if n.as_u64().is_some_and(|u| u > EXACT) || n.as_i64().is_some_and(|i| i.unsigned_abs() > EXACT) =>
        {
            n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
        }
        Value::Array(xs) => Value::Array(xs.into_iter().map(js_numbers).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, js_numbers(v))).collect()),
        other => other,
    }
}

/// A governor plus the S1 per-user and generic limiters, answering [`Request`]s.
pub struct Engine {
    /// The governor.
    pub governor: Governor,
    /// Per-user quotas (default 60 RPM).
    pub user_quotas: UserQuotaManager,
    limiters: Mutex<HashMap<u64, Arc<RateLimiter>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("governor", &self.governor).finish_non_exhaustive()
    }
}

/// The configuration of a source, or the built-in plans without one.
fn parse(config: Option<&ConfigSource>) -> Result<Config, ApiError> {
    Ok(config.map(ConfigSource::parse).transpose()?.unwrap_or_default())
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))
}

impl Engine {
    /// An engine over `governor` with per-user quotas of `default_rpm`.
    pub fn new(governor: Governor, default_rpm: u32) -> Self {
        Self { governor, user_quotas: UserQuotaManager::new(default_rpm), limiters: Mutex::new(HashMap::new()) }
    }

    /// An engine configured from an inline configuration (default built-ins if `None`).
    pub fn from_config(config: Option<&ConfigSource>, default_rpm: u32) -> Result<Self, ApiError> {
        Self::from_config_with_clock(config, default_rpm, crate::clock::default_clock())
    }

    /// [`Engine::from_config`] with the host's clock (e.g. `Date.now()` in a wasm shell).
    pub fn from_config_with_clock(
        config: Option<&ConfigSource>,
        default_rpm: u32,
        clock: std::sync::Arc<dyn crate::Clock>,
    ) -> Result<Self, ApiError> {
        Self::from_config_with_spec(config, default_rpm, clock, &crate::store::StoreSpec::default())
    }

    /// [`Engine::from_config_with_clock`] with the store the host's options name or, when they
    /// name none, the configuration's federated store ([`StoreSpec::build_for`](crate::store::StoreSpec::build_for)).
    pub fn from_config_with_spec(
        config: Option<&ConfigSource>,
        default_rpm: u32,
        clock: std::sync::Arc<dyn crate::Clock>,
        store: &crate::store::StoreSpec,
    ) -> Result<Self, ApiError> {
        let builder = Governor::builder().config(parse(config)?).clock(clock).store_spec(store)?;
        Ok(Self::new(builder.build(), default_rpm))
    }

    /// [`Engine::from_config_with_clock`] keeping counters and leases in `store` (e.g. a
    /// shared Redis store, so several processes enforce one limit).
    pub fn from_config_with_store(
        config: Option<&ConfigSource>,
        default_rpm: u32,
        clock: std::sync::Arc<dyn crate::Clock>,
        store: std::sync::Arc<dyn crate::store::Store>,
    ) -> Result<Self, ApiError> {
        Ok(Self::new(Governor::builder().config(parse(config)?).clock(clock).store(store).build(), default_rpm))
    }

    fn limiter(&self, window_ms: u64) -> Arc<RateLimiter> {
        let mut m = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(window_ms)
            .or_insert_with(|| Arc::new(RateLimiter::new(std::time::Duration::from_millis(window_ms))))
            .clone()
    }

    /// Parses and runs one JSON request (`{"op": ..., "args": ...}`); `now_ms` is used
    /// when the args carry no `nowMs`.
    pub fn execute_json(&self, request: &Value, now_ms: Option<u64>) -> Result<Value, ApiError> {
        self.execute(Request::from_json(request.clone())?, now_ms)
    }

    /// Runs one request.
    pub fn execute(&self, req: Request, now_ms: Option<u64>) -> Result<Value, ApiError> {
        let g = &self.governor;
        let t = |n: Option<u64>| n.or(now_ms).unwrap_or_else(|| g.now_ms());
        Ok(match req {
            Request::RegisterTenant(a) => {
                let iso = match a.isolation.as_deref() {
                    None => IsolationMode::SharedSchema,
                    Some(s) => IsolationMode::parse(s).ok_or_else(|| {
                        ApiError::invalid(
                            "isolation",
                            format!("unknown isolation mode `{s}` (SharedSchema, SeparateSchema, SeparateDatabase)"),
                        )
                    })?,
                };
                to_json(&g.register(&a.name, a.plan.as_deref(), iso, t(a.now_ms))?)?
            }
            Request::GetTenant(a) => to_json(&g.tenant(&a.tenant)?)?,
            Request::ListTenants(_) => to_json(&g.list_tenants())?,
            Request::RemoveTenant(a) => to_json(&g.remove_tenant(&a.tenant)?)?,
            Request::Check(a) => to_json(&g.check(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::CHECK_RESOURCE),
                a.cost.unwrap_or(defaults::CHECK_COST),
                t(a.now_ms),
            )?)?,
            Request::CheckMany(a) => {
                let reqs: Vec<crate::CheckRequest<'_>> = a
                    .checks
                    .iter()
                    .map(|c| crate::CheckRequest {
                        tenant: &c.tenant,
                        resource: c.resource.as_deref().unwrap_or(defaults::CHECK_RESOURCE),
                        cost: c.cost.unwrap_or(defaults::CHECK_COST),
                    })
                    .collect();
                let results = g
                    .check_many(&reqs, t(a.now_ms))
                    .into_iter()
                    .map(|r| match r {
                        Ok(d) => to_json(&d),
                        Err(e) => Ok(json!({ "error": to_json(&ApiError::from(e))? })),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                json!({ "results": results })
            }
            Request::Peek(a) => to_json(&g.peek(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::CHECK_RESOURCE),
                a.cost.unwrap_or(defaults::CHECK_COST),
                t(a.now_ms),
            )?)?,
            Request::Acquire(a) => to_json(&g.acquire(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::LEASE_RESOURCE),
                a.ticket,
                t(a.now_ms),
            )?)?,
            Request::Release(a) => to_json(&g.release(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::LEASE_RESOURCE),
                a.lease_id,
                t(a.now_ms),
            )?)?,
            Request::Cancel(a) => {
                json!({ "cancelled": g.cancel(&a.tenant, a.resource.as_deref().unwrap_or(defaults::LEASE_RESOURCE), a.lease_id)? })
            }
            Request::ConcurrencyStats(a) => {
                let s = g.concurrency_stats(&a.tenant, a.resource.as_deref().unwrap_or(defaults::LEASE_RESOURCE))?;
                let mut v = to_json(&s)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("average".into(), json!(s.average()));
                }
                v
            }
            Request::SetUsage(a) => to_json(&g.set_usage(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::USAGE_RESOURCE),
                a.amount,
                t(a.now_ms),
            )?)?,
            Request::AddUsage(a) => to_json(&g.add_usage(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::USAGE_RESOURCE),
                a.amount,
                t(a.now_ms),
            )?)?,
            Request::SubtractUsage(a) => to_json(&g.subtract_usage(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::USAGE_RESOURCE),
                a.amount,
                t(a.now_ms),
            )?)?,
            Request::Begin(a) => to_json(&g.begin(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::TRANSACTION_RESOURCE),
                t(a.now_ms),
            )?)?,
            Request::Touch(a) => to_json(&g.touch(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::TRANSACTION_RESOURCE),
                a.lease_id,
                t(a.now_ms),
            )?)?,
            Request::End(a) => to_json(&g.end(
                &a.tenant,
                a.resource.as_deref().unwrap_or(defaults::TRANSACTION_RESOURCE),
                a.lease_id,
                t(a.now_ms),
            )?)?,
            Request::ExpiredLeases(a) => to_json(&g.expired_leases(t(a.now_ms)))?,
            Request::CheckFeature(a) => {
                let f = Feature::parse(&a.feature).ok_or_else(|| {
                    ApiError::invalid(
                        "feature",
                        format!(
                            "unknown feature `{}` (rls, cdc, migrations, custom_quotas, all_isolation_modes)",
                            a.feature
                        ),
                    )
                })?;
                to_json(&g.check_feature(&a.tenant, f)?)?
            }
            Request::SetOverride(a) => to_json(&g.set_override(&a.tenant, a.ovr, t(a.now_ms))?)?,
            Request::ClearOverride(a) => {
                let resource = a
                    .resource
                    .as_deref()
                    .ok_or_else(|| ApiError::invalid("resource", "clearOverride needs `resource`"))?;
                json!({ "cleared": g.clear_override(&a.tenant, resource)? })
            }
            Request::SetShadow(a) => {
                match a.tenant {
                    Some(tn) => g.set_shadow(&tn, a.shadow)?,
                    None => g.set_global_shadow(a.shadow),
                }
                json!({})
            }
            Request::GetPlan(a) => to_json(&g.plan(&a.plan)?)?,
            Request::ListPlans(_) => to_json(&g.list_plans())?,
            Request::CreatePlan(a) => to_json(&g.create_plan(a.plan)?)?,
            Request::UpdatePlan(a) => {
                let ids = g.update_plan(a.plan)?;
                json!({ "tenants": ids })
            }
            Request::ChangePlan(a) => to_json(&g.change_plan(&a.tenant, &a.plan, t(a.now_ms))?)?,
            Request::Downgrade(a) => json!({ "tenants": g.downgrade(&a.from, &a.to)? }),
            Request::DeletePlan(a) => {
                let (deleted, fallback, moved) = g.delete_plan(&a.plan)?;
                json!({ "deleted": deleted.id, "fallback": fallback, "tenants": moved })
            }
            Request::Reload(c) => to_json(&g.reload(c.parse()?)?)?,
            Request::Status(a) => to_json(&g.status(&a.tenant, t(a.now_ms))?)?,
            Request::Usage(a) => to_json(&g.usage(&a.tenant)?)?,
            Request::RecordUsage(a) => {
                g.record_usage(&a.tenant, &a.report, t(a.now_ms))?;
                json!({})
            }
            Request::Violations(a) => to_json(&g.violations(&a.tenant)?)?,
            Request::QuotaTracking(a) => to_json(&g.quota_tracking(&a.tenant, t(a.now_ms))?)?,
            Request::Prometheus(a) => json!({ "text": g.prometheus(t(a.now_ms)) }),
            Request::EvictIdle(a) => json!({ "evicted": g.evict_idle(t(a.now_ms)) }),
            Request::FlushStore(_) => {
                g.flush_store()?;
                json!({})
            }
            Request::StoreMetrics(_) => {
                let m: serde_json::Map<String, Value> =
                    g.store_metrics().into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect();
                json!({ "kind": g.store_kind(), "metrics": m })
            }
            Request::UserQuotaCheck(a) => to_json(&self.user_quotas.check_quota_at(&a.user, t(a.now_ms))?)?,
            Request::UserQuotaSet(a) => {
                let rpm = a.rpm.ok_or_else(|| ApiError::invalid("rpm", "userQuotaSet needs `rpm`"))?;
                self.user_quotas.set_quota(&a.user, rpm);
                json!({})
            }
            Request::UserQuotaSnapshot(_) => {
                let rows: Vec<Value> = self
                    .user_quotas
                    .snapshot()
                    .into_iter()
                    .map(|(u, rpm, c, w)| json!({ "user": u, "rpm": rpm, "currentCount": c, "windowStart": w }))
                    .collect();
                Value::Array(rows)
            }
            Request::RateLimiterCheck(a) => {
                let l = self.limiter(a.window.ms()?);
                json!({ "allowed": l.check_at(&a.key, a.limit, t(a.now_ms)) })
            }
            Request::RateLimiterRemaining(a) => {
                let l = self.limiter(a.window.ms()?);
                json!({ "remaining": l.remaining_at(&a.key, a.limit, t(a.now_ms)) })
            }
            Request::RlsEnable(a) => {
                g.rls().set_enabled(&a.table, a.on);
                json!({})
            }
            Request::RlsSetColumnTypes(a) => {
                g.rls().set_column_types(&a.table, &a.columns)?;
                json!({})
            }
            Request::RlsForce(a) => {
                g.rls().set_forced(&a.table, a.on);
                json!({})
            }
            Request::RlsCreatePolicy(a) => {
                g.rls().create_policy(&a.table, a.policy, a.replace)?;
                json!({})
            }
            Request::RlsDropPolicy(a) => {
                let name = a.name.ok_or_else(|| ApiError::invalid("name", "`name` is required"))?;
                json!({ "dropped": g.rls().drop_policy(&a.table, &name) })
            }
            Request::RlsListPolicies(a) => to_json(&g.rls().policies(&a.table))?,
            Request::RlsCanSelect(a) => {
                json!({ "allowed": g.rls().can_select(&a.table, &a.row(g.rls(), "row")?, &a.ctx(t(None)))? })
            }
            Request::RlsCheckInsert(a) => {
                g.rls().check_insert(&a.table, &a.row(g.rls(), "row")?, &a.ctx(t(None)))?;
                json!({})
            }
            Request::RlsCheckUpdate(a) => {
                let ctx = &a.ctx(t(None));
                json!({ "updated": g.rls().check_update(&a.table, &a.row(g.rls(), "row")?, &a.row(g.rls(), "newRow")?, ctx, a.reads)? })
            }
            Request::RlsCheckDelete(a) => {
                json!({ "deleted": g.rls().check_delete(&a.table, &a.row(g.rls(), "row")?, &a.ctx(t(None)), a.reads)? })
            }
            Request::RlsFilter(a) => {
                let rows = a.rows.as_ref().ok_or_else(|| ApiError::invalid("rows", "`rows` is required"))?;
                let rows = rows.iter().map(|r| g.rls().row(&a.table, r)).collect::<Result<Vec<_>, _>>()?;
                json!({ "indices": g.rls().filter(&a.table, &rows, &a.ctx(t(None)))? })
            }
            Request::RlsExplain(a) => {
                let cmd = a.command.unwrap_or(crate::rls::RLSCommand::Select);
                to_json(&g.rls().explain(&a.table, cmd, &a.row(g.rls(), "row")?, &a.ctx(t(None)))?)?
            }
            Request::RlsToSql(a) => {
                let cmd = a.command.unwrap_or(crate::rls::RLSCommand::Select);
                to_json(&g.rls().to_sql(&a.table, cmd, &a.ctx(t(None)))?)?
            }
        })
    }
}

#[cfg(test)]
mod js_number_tests {
    use super::js_numbers;
    use serde_json::json;

    #[test]
    fn integers_beyond_2_pow_53_become_doubles_everywhere_in_the_tree() {
        let v =
            js_numbers(json!({ "a": u64::MAX, "b": [9_007_199_254_740_993_u64, 5], "c": -9_007_199_254_740_993_i64 }));
        assert!(v["a"].is_f64() && v["b"][0].is_f64() && v["c"].is_f64(), "{v}");
        assert_eq!(v["a"].as_f64(), Some(18_446_744_073_709_551_615_u64 as f64));
        assert_eq!(v["b"][1], json!(5), "small integers stay integers");
        assert_eq!(
            js_numbers(json!(9_007_199_254_740_992_u64)),
            json!(9_007_199_254_740_992_u64),
            "2^53 itself is exact"
        );
    }
}

#[cfg(test)]
mod default_tests {
    use super::{Engine, defaults};
    use serde_json::json;

    #[test]
    fn lease_and_transaction_operations_default_their_resource() {
        let e = Engine::from_config(None, defaults::USER_RPM).unwrap();
        e.execute_json(&json!({ "op": "registerTenant", "args": { "name": "acme" } }), Some(0)).unwrap();
        let lease = e.execute_json(&json!({ "op": "acquire", "args": { "tenant": "acme" } }), Some(0)).unwrap();
        assert_eq!(lease["resource"], json!("connections"));
        let stats =
            e.execute_json(&json!({ "op": "concurrencyStats", "args": { "tenant": "acme" } }), Some(0)).unwrap();
        assert_eq!(stats["active"], json!(1));
        let release = json!({ "op": "release", "args": { "tenant": "acme", "leaseId": lease["leaseId"] } });
        assert_eq!(e.execute_json(&release, Some(1)).unwrap()["resource"], json!("connections"));
        let txn = e.execute_json(&json!({ "op": "begin", "args": { "tenant": "acme" } }), Some(0)).unwrap();
        assert_eq!(txn["resource"], json!("transaction"));
        let end = json!({ "op": "end", "args": { "tenant": "acme", "leaseId": txn["leaseId"] } });
        assert_eq!(e.execute_json(&end, Some(5)).unwrap()["resource"], json!("transaction"));
        // clearOverride has no default: which override to clear must be said.
        let clear = json!({ "op": "clearOverride", "args": { "tenant": "acme" } });
        assert_eq!(e.execute_json(&clear, Some(0)).unwrap_err().code, "INVALID_ARGUMENT");
    }
}

#[cfg(test)]
mod parse_tests {
    use super::Request;
    use serde_json::{Value, json};

    /// Every operation the derived `Deserialize` knows (read from its own "expected one of"
    /// message, so a new variant is covered without editing this test).
    fn derived_ops() -> Vec<String> {
        let e = serde_json::from_value::<Request>(json!({ "op": "§", "args": {} })).unwrap_err().to_string();
        let list = e.split("expected one of ").nth(1).unwrap_or_default();
        list.split(", ").map(|s| s.trim_matches(|c: char| c == '`' || c.is_whitespace()).to_owned()).collect()
    }

    #[test]
    fn parse_agrees_with_the_derived_form_for_every_operation() {
        let ops = derived_ops();
        assert!(ops.len() >= 50 && ops.contains(&"checkMany".to_owned()), "{ops:?}");
        let samples = [
            json!({}),
            json!({ "tenant": "acme" }),
            json!({ "tenant": "acme", "resource": "qps", "cost": 2, "nowMs": 5 }),
            json!({ "name": "acme" }),
            json!({ "tenant": "acme", "colour": "red" }),
            json!({ "table": "t", "row": { "a": 1 } }),
            json!({ "user": "u", "rpm": 5 }),
            json!({ "window": "1s", "key": "k", "limit": 3 }),
            json!({ "checks": [{ "tenant": "a" }] }),
            json!({ "plan": "free" }),
        ];
        for op in &ops {
            for args in &samples {
                let derived = serde_json::from_value::<Request>(json!({ "op": op, "args": args }));
                let parsed = Request::parse(op, args.clone());
                assert_eq!(
                    derived.as_ref().map(|r| format!("{r:?}")).ok(),
                    parsed.as_ref().map(|r| format!("{r:?}")).ok(),
                    "{op} {args}: derived {derived:?}, parsed {parsed:?}"
                );
            }
        }
        assert_eq!(Request::parse("launchMissiles", Value::Null).unwrap_err().key.as_deref(), Some("request"));
        assert!(Request::from_json(json!({ "op": "listTenants" })).is_ok(), "args may be left out");
        assert!(Request::from_json(json!({ "op": "listTenants", "args": {}, "x": 1 })).is_err());
        assert!(Request::from_json(json!(["listTenants"])).is_err());
    }
}
