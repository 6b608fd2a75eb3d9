//! The engine: tenants, plans, checks and decisions.
//!
//! A [`Governor`] is cheap to clone (an `Arc`), `Send + Sync`, and safe to share across
//! threads. Tenant lookups hash the name once into a sharded table; each tenant's limits live
//! in an immutable profile swapped atomically (plan changes, overrides, reloads) and shared by
//! every tenant of a plan that has no overrides; its counters live in a [`TenantState`](crate::store::TenantState) of the
//! configured [`Store`]. No global lock is taken on the check path.

use crate::clock::{Clock, default_clock};
use crate::config::{Assignment, Config, Settings};
use crate::decision::{Action, Code, Decision};
use crate::error::{Error, Result};
use crate::limiter::{RateParams, RateRequest};
use crate::plan::{self, EnforcementAction, Feature, Plan, ResourceKind, ResourceLimits, ResourceSpec, intern};
use crate::quota::{AcquireOutcome, AcquireParams, CapacityOp, ConcurrencyStats, ExpiryReason, LeaseStatus};
use crate::registry::{Keyed, Registry, TenantName, bytes_eq};
use crate::store::{DurationParams, IdGen, MemoryStore, StateSlot, Store};
use crate::tenant::{IsolationMode, Override, QuotaTracking, Tenant, TenantContext};
use crate::usage::{
    Meter, ResourceStatus, StatusDocument, StatusQuotas, TenantUsage, UsageReport, UsageStats, Violation,
    ViolationCounts, format_duration_ms, render_prometheus,
};
use arc_swap::ArcSwap;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

/// Namespace of tenant ids: `Uuid::new_v5(&TENANT_NAMESPACE, name)`, identical in every host.
pub const TENANT_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a8e_54b3_4c1d_9a7e_0d3b_5e2f_71a4);

/// A resource of a plan (or an override) with its name interned and rate constants precomputed.
#[derive(Debug, Clone)]
struct Resolved {
    name: &'static str,
    spec: ResourceSpec,
    rate: Option<RateParams>,
}

impl Resolved {
    fn new(name: &'static str, spec: ResourceSpec) -> Self {
        let rate = match &spec.kind {
            ResourceKind::Rate { windows, burst, algorithm } => Some(RateParams::new(windows, *burst, *algorithm)),
            _ => None,
        };
        Self { name, spec, rate }
    }
}

/// A plan with resolved resources and the settings its checks need.
#[derive(Debug)]
pub(crate) struct ResolvedPlan {
    pub plan: Plan,
    resources: Box<[Resolved]>,
    max_queue_wait_ms: u64,
    max_throttle_delay_ms: u64,
    shadow_all: bool,
}

impl ResolvedPlan {
    fn new(plan: Plan, s: &Settings) -> Self {
        let resources = plan.resources.iter().map(|r| Resolved::new(intern(&r.name), r.clone())).collect();
        Self {
            plan,
            resources,
            max_queue_wait_ms: s.max_queue_wait_ms,
            max_throttle_delay_ms: s.max_throttle_delay_ms,
            shadow_all: s.shadow_mode || !s.enabled,
        }
    }

    #[inline]
    fn resource(&self, name: &str) -> Option<&Resolved> {
        self.resources.iter().find(|r| bytes_eq(r.name.as_bytes(), name.as_bytes()))
    }
}

/// An immutable snapshot of plans, assignments, overrides and settings.
#[derive(Debug)]
pub(crate) struct Catalog {
    settings: Settings,
    plans: Vec<Arc<ResolvedPlan>>,
    /// One shared profile per plan, for tenants without overrides or shadow mode.
    shared: Vec<Arc<Profile>>,
    assignments: Vec<Assignment>,
    overrides: HashMap<String, Vec<Override>>,
    known: HashSet<&'static str>,
}

impl Catalog {
    fn new(cfg: Config) -> Self {
        let Config { settings, plans, assignments, overrides } = cfg;
        let plans: Vec<_> = plans.into_iter().map(|p| Arc::new(ResolvedPlan::new(p, &settings))).collect();
        let mut by_tenant: HashMap<String, Vec<Override>> = HashMap::new();
        for (t, o) in overrides {
            by_tenant.entry(t).or_default().push(o);
        }
        Self::assemble(settings, plans, assignments, by_tenant)
    }

    fn assemble(
        settings: Settings,
        plans: Vec<Arc<ResolvedPlan>>,
        assignments: Vec<Assignment>,
        overrides: HashMap<String, Vec<Override>>,
    ) -> Self {
        let shared = plans.iter().map(|p| Arc::new(Profile::new(p.clone(), false, Box::new([])))).collect();
        let mut known: HashSet<&'static str> =
            [plan::QPS, plan::CONNECTIONS, plan::STORAGE, plan::TRANSACTION].into_iter().collect();
        for p in &plans {
            known.extend(p.resources.iter().map(|r| r.name));
        }
        Self { settings, plans, shared, assignments, overrides, known }
    }

    fn with_plans(&self, plans: Vec<Arc<ResolvedPlan>>) -> Self {
        Self::assemble(self.settings.clone(), plans, self.assignments.clone(), self.overrides.clone())
    }

    fn plan(&self, id: &str) -> Option<&Arc<ResolvedPlan>> {
        self.plans.iter().find(|p| p.plan.id == id)
    }

    fn fallback(&self) -> Option<&Arc<ResolvedPlan>> {
        self.plans.iter().find(|p| p.plan.is_default)
    }

    /// Plan for a tenant without an explicit plan: first matching assignment, else default.
    fn assigned(&self, name: &str) -> Option<&Arc<ResolvedPlan>> {
        self.assignments
            .iter()
            .filter(|a| a.pattern.matches(name))
            .find_map(|a| self.plan(&a.tier))
            .or_else(|| self.plan(&self.settings.default_tier))
            .or_else(|| self.fallback())
    }

    fn config_overrides(&self, tenant: &str) -> &[Override] {
        self.overrides.get(tenant).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The profile of a tenant on `plan` with these overrides: shared when there are none.
    fn profile(
        &self,
        plan: &Arc<ResolvedPlan>,
        shadow: bool,
        runtime: &[ActiveOverride],
        tenant: &str,
    ) -> Arc<Profile> {
        let config = self.config_overrides(tenant);
        if !shadow
            && config.is_empty()
            && runtime.iter().all(|a| a.from_config)
            && let Some(p) = self.shared.iter().find(|p| Arc::ptr_eq(&p.plan, plan))
        {
            return p.clone();
        }
        Arc::new(build_profile(plan.clone(), shadow, runtime, config))
    }
}

#[derive(Debug, Clone)]
struct ActiveOverride {
    resolved: Resolved,
    ovr: Override,
    from_config: bool,
}

/// A tenant's limits: plan, overrides, shadow flag. Immutable; replaced as a whole.
#[derive(Debug)]
pub(crate) struct Profile {
    plan: Arc<ResolvedPlan>,
    shadow: bool,
    overrides: Box<[ActiveOverride]>,
    /// The first `qps` rule flattened (see [`Profile::qps_at`]).
    qps: Option<QpsRule>,
    /// The `qps` rules after it, for once it expires.
    qps_later: Box<[QpsRule]>,
}

/// A profile's `qps` rule when it is single-window GCRA, flattened when the profile is built:
/// the window's constants and what the decision needs, in one place. A check of `qps` reads it
/// instead of walking overrides, plan, spec and windows (a chain of dependent loads that cost
/// about as much as the rate arithmetic).
#[derive(Debug, Clone)]
struct QpsRule {
    window: crate::limiter::WindowParams,
    /// The expiry of the override it comes from (`u64::MAX` for none or for the plan's rule).
    until_ms: u64,
    /// The longest throttle or queue delay (outside shadow mode).
    max_delay_ms: u64,
    /// Whether a delayed admission is a queue (else a throttle).
    queued: bool,
    /// The tenant's or the plan's shadow mode (the governor-wide flag is read per check).
    shadow: bool,
}

impl Profile {
    fn new(plan: Arc<ResolvedPlan>, shadow: bool, overrides: Box<[ActiveOverride]>) -> Self {
        let mut p = Self { plan, shadow, overrides, qps: None, qps_later: Box::new([]) };
        let mut rules = p.qps_rules().into_iter();
        p.qps = rules.next();
        p.qps_later = rules.collect();
        p
    }

    /// The `qps` rules in the order [`resource_at`](Self::resource_at) tries them: each
    /// override of `qps` (until its expiry), then the plan's rule. At `now` the first whose
    /// `now < until_ms` is the one `resource_at` finds. The list stops before the first rule
    /// that is not single-window GCRA and after the first that never expires: past its end
    /// the general path decides.
    fn qps_rules(&self) -> Vec<QpsRule> {
        let overrides =
            self.overrides.iter().filter(|o| plan::is_qps(o.resolved.name)).map(|o| (&o.resolved, o.ovr.expires_at_ms));
        let plan = self.plan.resource(plan::QPS).map(|r| (r, None));
        let mut rules = Vec::new();
        for (res, expires_at_ms) in overrides.chain(plan) {
            let Some(window) = res.rate.as_ref().filter(|p| p.is_single_gcra()).and_then(|p| p.windows.first()) else {
                break;
            };
            rules.push(QpsRule {
                window: *window,
                until_ms: expires_at_ms.unwrap_or(u64::MAX),
                max_delay_ms: self.max_delay(&res.spec, false),
                queued: res.spec.action == EnforcementAction::Queue,
                shadow: self.shadow || self.plan.shadow_all,
            });
            if expires_at_ms.is_none() {
                break;
            }
        }
        rules
    }

    /// The flattened `qps` rule in force at `now`, if there is one (else the general path
    /// decides). Almost always the first, which never expires.
    #[inline(always)]
    fn qps_at(&self, now: u64) -> Option<&QpsRule> {
        match &self.qps {
            Some(q) if now < q.until_ms => Some(q),
            Some(_) => self.qps_later.iter().find(|q| now < q.until_ms),
            None => None,
        }
    }

    /// The longest delay a rate check of `spec` accepts (0 in shadow mode).
    #[inline]
    fn max_delay(&self, spec: &ResourceSpec, shadow: bool) -> u64 {
        if shadow {
            return 0;
        }
        match spec.action {
            EnforcementAction::Throttle => spec.max_wait_ms.unwrap_or(self.plan.max_throttle_delay_ms),
            EnforcementAction::Queue => spec.max_wait_ms.unwrap_or(self.plan.max_queue_wait_ms),
            EnforcementAction::Reject => 0,
        }
    }

    #[inline]
    fn resource_at(&self, resource: &str, now: u64) -> Option<(&Resolved, bool)> {
        for o in self.overrides.iter() {
            if bytes_eq(o.resolved.name.as_bytes(), resource.as_bytes()) && o.ovr.expires_at_ms.is_none_or(|e| now < e)
            {
                return Some((&o.resolved, true));
            }
        }
        self.plan.resource(resource).map(|r| (r, false))
    }

    fn effective(&self, now: u64) -> Vec<(&'static str, ResourceSpec, bool)> {
        let mut names: Vec<&'static str> = self.plan.resources.iter().map(|r| r.name).collect();
        for o in self.overrides.iter() {
            if !names.contains(&o.resolved.name) {
                names.push(o.resolved.name);
            }
        }
        names.into_iter().filter_map(|n| self.resource_at(n, now).map(|(r, o)| (r.name, r.spec.clone(), o))).collect()
    }
}

/// Applies an override to a base spec.
fn apply_override(base: &ResourceSpec, o: &Override) -> Result<ResourceSpec> {
    let mut s = base.clone();
    match &mut s.kind {
        ResourceKind::Rate { windows, burst, .. } => {
            if let (Some(l), Some(w)) = (o.limit, windows.first_mut()) {
                if l == 0 {
                    return Err(Error::invalid("limit", "a rate limit must be at least 1"));
                }
                w.limit = l;
            }
            if let Some(b) = o.burst {
                if !b.is_finite() || b < 1.0 {
                    return Err(Error::invalid("burst", format!("burst must be ≥ 1.0, got {b}")));
                }
                *burst = b;
            }
        }
        ResourceKind::Concurrency { max, .. } | ResourceKind::Capacity { max, .. } => {
            if let Some(l) = o.limit {
                *max = l;
            }
        }
        ResourceKind::Duration { max_ms, idle_ms } => {
            if o.limit == Some(0) || o.idle_ms == Some(0) {
                let key = if o.limit == Some(0) { "limit" } else { "idleMs" };
                return Err(Error::invalid(key, "a duration limit must be at least 1 ms"));
            }
            if o.limit.is_some() {
                *max_ms = o.limit;
            }
            if o.idle_ms.is_some() {
                *idle_ms = o.idle_ms;
            }
        }
    }
    Ok(s)
}

fn build_profile(plan: Arc<ResolvedPlan>, shadow: bool, runtime: &[ActiveOverride], config: &[Override]) -> Profile {
    let mut overrides: Vec<ActiveOverride> = Vec::new();
    let mut add = |o: &Override, from_config: bool| {
        let name = intern(&o.resource);
        if let Some(base) = plan.resource(name)
            && let Ok(spec) = apply_override(&base.spec, o)
        {
            overrides.retain(|a| a.resolved.name != name || a.from_config != from_config);
            overrides.push(ActiveOverride { resolved: Resolved::new(name, spec), ovr: o.clone(), from_config });
        }
    };
    // Runtime overrides take precedence over configured ones: list them first.
    for a in runtime.iter().filter(|a| !a.from_config) {
        add(&a.ovr, false);
    }
    for o in config {
        add(o, true);
    }
    Profile::new(plan, shadow, overrides.into_boxed_slice())
}

/// One registered tenant. `repr(C)` with the hot fields first: behind the `Arc` header, a check
/// touches the name (24 bytes), the profile pointer, the `qps` GCRA word and the meter's
/// current-second counter: one 64-byte cache line.
#[repr(C)]
pub(crate) struct TenantEntry {
    name: TenantName,
    profile: ArcSwap<Profile>,
    hot: AtomicU64,
    meter: Meter,
    state: StateSlot,
    id: Uuid,
    isolation: IsolationMode,
    explicit: AtomicBool,
    created_at_ms: u64,
}

impl TenantEntry {
    fn name(&self) -> &str {
        self.name.as_str()
    }
}

/// A name-registry slot: the entry and a copy of its profile pointer. The copy is read under
/// the shard's read lock, so a string-keyed check needs no second synchronisation; every
/// profile change goes through [`Governor::set_profile`], which updates both copies.
#[derive(Clone)]
pub(crate) struct NameSlot {
    entry: Arc<TenantEntry>,
    profile: Arc<Profile>,
}

impl Keyed for NameSlot {
    #[inline]
    fn key(&self) -> &[u8] {
        self.entry.name.as_bytes()
    }
}

/// An id-registry slot.
#[derive(Clone)]
pub(crate) struct IdSlot(Arc<TenantEntry>);

impl Keyed for IdSlot {
    #[inline]
    fn key(&self) -> &[u8] {
        self.0.id.as_bytes()
    }
}

struct Inner {
    catalog: ArcSwap<Catalog>,
    admin: Mutex<()>,
    tenants: Registry<NameSlot>,
    ids_index: Registry<IdSlot>,
    store: Arc<dyn Store>,
    /// The store keeps single-window GCRA `qps` in the entry's `hot` word.
    qps_hot: bool,
    clock: Arc<dyn Clock>,
    ids: IdGen,
    global_shadow: AtomicBool,
    current: Mutex<Option<TenantContext>>,
    rls: crate::rls::RlsEngine,
}

/// The governor: register tenants, check their quotas, manage plans. Clones share state.
#[derive(Clone)]
pub struct Governor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governor")
            .field("tenants", &self.inner.tenants.len())
            .field("store", &self.inner.store.kind())
            .finish()
    }
}

impl Default for Governor {
    fn default() -> Self {
        Self::new()
    }
}

/// One check of [`Governor::check_many`].
#[derive(Debug, Clone, Copy)]
pub struct CheckRequest<'a> {
    /// The tenant's name.
    pub tenant: &'a str,
    /// The resource (`qps` for the usual check).
    pub resource: &'a str,
    /// Units asked for.
    pub cost: u64,
}

#[cold]
fn now_out_of_range(now: u64) -> Error {
    Error::invalid(
        "nowMs",
        format!(
            "{now} is not a time in milliseconds since the epoch this library handles (at most {}, in 2262; \
             microseconds passed by mistake?)",
            crate::clock::MAX_NOW_MS
        ),
    )
}

/// How a check uses the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Answer only.
    Peek,
    /// Consume, accepting the resource's throttle/queue delay.
    Consume,
    /// Consume only if it fits now (no delay, nothing reserved otherwise).
    ConsumeIfNow,
}

/// Builds a [`Governor`] with a configuration, store and clock.
pub struct GovernorBuilder {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl GovernorBuilder {
    /// Uses this configuration (default: built-in plans). It does not choose the store: a
    /// configuration in S2 federated mode names one, which [`store_spec`](Self::store_spec)
    /// opens.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// Uses the store these options name for the configuration given so far
    /// ([`StoreSpec::build_for`](crate::store::StoreSpec::build_for): the host's options, or
    /// the configuration's federated store, or memory).
    ///
    /// # Errors
    /// As [`StoreSpec::build_for`](crate::store::StoreSpec::build_for).
    pub fn store_spec(mut self, spec: &crate::store::StoreSpec) -> Result<Self> {
        self.store = spec.build_for(&self.config)?;
        Ok(self)
    }
    /// Uses this store (default: [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = store;
        self
    }
    /// Uses this clock for the convenience forms that take no `now_ms` (default: system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Builds the governor.
    pub fn build(self) -> Governor {
        Governor {
            inner: Arc::new(Inner {
                catalog: ArcSwap::from_pointee(Catalog::new(self.config)),
                admin: Mutex::new(()),
                tenants: Registry::new(),
                ids_index: Registry::new(),
                qps_hot: self.store.qps_in_hot_word(),
                store: self.store,
                clock: self.clock,
                ids: IdGen::default(),
                global_shadow: AtomicBool::new(false),
                current: Mutex::new(None),
                rls: crate::rls::RlsEngine::new(),
            }),
        }
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadReport {
    /// Tenants whose plan or effective limits changed, sorted by name.
    pub changed_tenants: Vec<String>,
    /// Plans now defined.
    pub plans: Vec<String>,
}

/// A duration lease past its deadline, for the host to roll back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredLease {
    /// The tenant.
    pub tenant: String,
    /// The resource (e.g. `transaction`).
    pub resource: String,
    /// The lease.
    pub lease_id: u64,
    /// Which deadline passed.
    pub reason: ExpiryReason,
    /// Stable code (`TRANSACTION_TIMEOUT` or `IDLE_IN_TRANSACTION_TIMEOUT`).
    pub code: &'static str,
    /// When the lease started.
    pub started_ms: u64,
    /// Last activity.
    pub last_activity_ms: u64,
}

/// Result of deleting a plan: the deleted plan, the fallback plan id, and the moved tenants.
pub type DeletedPlan = (Plan, String, Vec<Uuid>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn limit_code(name: &str, kind: &ResourceKind) -> Code {
    match kind {
        ResourceKind::Rate { .. } => Code::RateLimited,
        ResourceKind::Concurrency { .. } if name == plan::CONNECTIONS => Code::ConnectionLimit,
        ResourceKind::Concurrency { .. } => Code::ConcurrencyLimit,
        ResourceKind::Capacity { .. } if name == plan::STORAGE => Code::StorageQuotaExceeded,
        ResourceKind::Capacity { .. } => Code::QuotaExceeded,
        ResourceKind::Duration { .. } => Code::TransactionTimeout,
    }
}

fn wrong_kind(resource: &str, operation: &'static str, expected: &'static str, kind: &ResourceKind) -> Error {
    Error::WrongResourceKind { resource: resource.to_owned(), operation, expected, actual: kind.name() }
}

/// Builds a capacity decision. `value` is the gauge after the operation (or, for a check,
/// after the prospective write); `blocked` says whether the write was (or would be) refused.
fn capacity_decision(
    name: &'static str,
    kind: &ResourceKind,
    max: u64,
    warn: f64,
    value: u64,
    blocked: bool,
    shadow: bool,
) -> Decision {
    let remaining = Some(max.saturating_sub(value));
    if blocked {
        return Decision::reject(name, limit_code(name, kind), Some(max), remaining, 0);
    }
    let mut d = Decision::allow(name, Some(max), remaining);
    if value > max {
        d.action = Action::Warn;
        d.code = Some(limit_code(name, kind));
        d.shadow = shadow;
    } else if (value as f64) >= warn * max as f64 {
        d.action = Action::Warn;
        d.code = Some(Code::QuotaWarning);
    }
    d
}

impl Governor {
    /// A governor with the built-in plans, the memory store and the system clock.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> GovernorBuilder {
        GovernorBuilder { config: Config::default(), store: Arc::new(MemoryStore::new()), clock: default_clock() }
    }

    /// A governor configured from S2 TOML, on the memory store or, in federated mode, on the
    /// configuration's shared store (see [`StoreSpec::build_for`](crate::store::StoreSpec::build_for)).
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::configured(Config::from_toml(text)?)
    }

    /// A governor configured from the JSON model (the store as in [`from_toml`](Self::from_toml)).
    pub fn from_json(text: &str) -> Result<Self> {
        Self::configured(Config::from_json(text)?)
    }

    fn configured(config: Config) -> Result<Self> {
        Ok(Self::builder().config(config).store_spec(&crate::store::StoreSpec::default())?.build())
    }

    /// The installed clock's time (for the convenience forms).
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.inner.catalog.load().settings.clone()
    }

    /// Replaces a tenant's profile: the entry's copy (read by handles and id lookups) and the
    /// name slot's copy (read by string-keyed checks). Callers hold the admin lock.
    fn set_profile(&self, e: &TenantEntry, p: Arc<Profile>) {
        self.inner.tenants.update(e.name.as_bytes(), |s| s.profile = p.clone());
        e.profile.store(p);
    }

    fn all_entries(&self) -> Vec<Arc<TenantEntry>> {
        self.inner.tenants.all().into_iter().map(|s| s.entry).collect()
    }

    fn shadow_on(&self, p: &Profile) -> bool {
        p.shadow || p.plan.shadow_all || self.inner.global_shadow.load(Ordering::Relaxed)
    }

    // ----- lookups -------------------------------------------------------------------------

    fn entry(&self, tenant: &str) -> Result<Arc<TenantEntry>> {
        self.inner
            .tenants
            .with(tenant.as_bytes(), |s| s.entry.clone())
            .ok_or_else(|| Error::TenantNotFound(tenant.to_owned()))
    }

    fn entry_by_id(&self, id: &Uuid) -> Result<Arc<TenantEntry>> {
        self.inner.ids_index.with(id.as_bytes(), |s| s.0.clone()).ok_or_else(|| Error::TenantNotFound(id.to_string()))
    }

    fn snapshot(&self, e: &TenantEntry, now: u64) -> Tenant {
        let p = e.profile.load();
        let get = |n: &str| p.resource_at(n, now).and_then(|(r, _)| r.spec.kind.primary_limit());
        Tenant {
            id: e.id,
            name: e.name().to_owned(),
            plan_id: p.plan.plan.id.clone(),
            isolation_mode: e.isolation,
            limits: ResourceLimits {
                max_storage_bytes: get(plan::STORAGE).unwrap_or(u64::MAX),
                max_connections: get(plan::CONNECTIONS).unwrap_or(u64::MAX),
                max_qps: get(plan::QPS).unwrap_or(u64::MAX),
            },
            features: p.plan.plan.features,
            shadow: p.shadow,
            overrides: p
                .overrides
                .iter()
                .filter(|o| o.ovr.expires_at_ms.is_none_or(|x| now < x))
                .map(|o| o.ovr.clone())
                .collect(),
            created_at_ms: e.created_at_ms,
        }
    }

    /// The tenant named `name`.
    pub fn tenant(&self, name: &str) -> Result<Tenant> {
        let e = self.entry(name)?;
        Ok(self.snapshot(&e, self.now_ms()))
    }

    /// The tenant with id `id`.
    pub fn tenant_by_id(&self, id: Uuid) -> Result<Tenant> {
        let e = self.entry_by_id(&id)?;
        Ok(self.snapshot(&e, self.now_ms()))
    }

    fn sorted_entries(&self) -> Vec<Arc<TenantEntry>> {
        let mut v = self.all_entries();
        v.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        v
    }

    /// Every tenant, sorted by name.
    pub fn list_tenants(&self) -> Vec<Tenant> {
        let now = self.now_ms();
        self.sorted_entries().iter().map(|e| self.snapshot(e, now)).collect()
    }

    /// Number of registered tenants.
    pub fn tenant_count(&self) -> usize {
        self.inner.tenants.len()
    }

    /// A pre-resolved handle: checks through it skip the name lookup.
    pub fn handle(&self, tenant: &str) -> Result<TenantHandle> {
        Ok(TenantHandle { entry: self.entry(tenant)?, gov: self.clone() })
    }

    // ----- registration --------------------------------------------------------------------

    /// Registers a tenant. Plan: `plan` if given, else the first matching assignment, else
    /// `default_tier`. Modes other than `SharedSchema` need the plan's `all_isolation_modes`.
    pub fn register(&self, name: &str, plan: Option<&str>, isolation: IsolationMode, now_ms: u64) -> Result<Tenant> {
        if name.is_empty() {
            return Err(Error::invalid("name", "tenant name must not be empty"));
        }
        self.register_inner(name, plan, isolation, now_ms)
    }

    fn register_inner(&self, name: &str, plan: Option<&str>, isolation: IsolationMode, now_ms: u64) -> Result<Tenant> {
        let _g = lock(&self.inner.admin);
        if self.inner.tenants.with(name.as_bytes(), |_| ()).is_some() {
            return Err(Error::TenantExists(name.to_owned()));
        }
        let cat = self.inner.catalog.load();
        let (p, explicit) = match plan {
            Some(id) => (cat.plan(id).ok_or_else(|| Error::PlanNotFound(id.to_owned()))?, true),
            None => (cat.assigned(name).ok_or_else(|| Error::PlanNotFound(cat.settings.default_tier.clone()))?, false),
        };
        if isolation != IsolationMode::SharedSchema && !p.plan.features.all_isolation_modes {
            return Err(Error::IsolationNotAllowed { plan: p.plan.id.clone(), mode: isolation.as_str().to_owned() });
        }
        let entry = Arc::new(TenantEntry {
            name: TenantName::new(name),
            profile: ArcSwap::new(cat.profile(p, false, &[], name)),
            hot: AtomicU64::new(0),
            meter: Meter::default(),
            state: self.inner.store.open_slot(name),
            id: Uuid::new_v5(&TENANT_NAMESPACE, name.as_bytes()),
            isolation,
            explicit: AtomicBool::new(explicit),
            created_at_ms: now_ms,
        });
        self.inner.ids_index.insert_new(IdSlot(entry.clone()));
        self.inner.tenants.insert_new(NameSlot { entry: entry.clone(), profile: entry.profile.load_full() });
        Ok(self.snapshot(&entry, now_ms))
    }

    /// Removes a tenant and its state.
    pub fn remove_tenant(&self, name: &str) -> Result<Tenant> {
        let _g = lock(&self.inner.admin);
        let e = self.inner.tenants.remove(name.as_bytes()).ok_or_else(|| Error::TenantNotFound(name.to_owned()))?.entry;
        self.inner.ids_index.remove(e.id.as_bytes());
        Ok(self.snapshot(&e, self.now_ms()))
    }

    // ----- checks --------------------------------------------------------------------------

    /// Checks `cost` units of `resource` for `tenant` at `now_ms`, consuming them if admitted.
    ///
    /// Rate: consumes. Concurrency: answers whether `cost` more leases are free (use
    /// [`acquire`](Self::acquire) to take one). Capacity: answers whether a write of `cost`
    /// units fits (use [`add_usage`](Self::add_usage) to record it). Duration: an error.
    #[inline]
    pub fn check(&self, tenant: &str, resource: &str, cost: u64, now_ms: u64) -> Result<Decision> {
        self.inner.tenants.with_or(
            tenant.as_bytes(),
            |s| self.check_with(&s.entry, &s.profile, resource, cost, now_ms, Take::Consume),
            || Err(Error::TenantNotFound(tenant.to_owned())),
        )
    }

    /// Like [`check`](Self::check) but never consumes: what would happen now.
    pub fn peek(&self, tenant: &str, resource: &str, cost: u64, now_ms: u64) -> Result<Decision> {
        self.inner.tenants.with_or(
            tenant.as_bytes(),
            |s| self.check_with(&s.entry, &s.profile, resource, cost, now_ms, Take::Peek),
            || Err(Error::TenantNotFound(tenant.to_owned())),
        )
    }

    /// [`check`](Self::check) for the tenant of an explicit context.
    pub fn check_ctx(&self, ctx: &TenantContext, resource: &str, cost: u64, now_ms: u64) -> Result<Decision> {
        let e = self.entry_by_id(&ctx.tenant_id)?;
        self.check_entry(&e, resource, cost, now_ms, true)
    }

    #[inline]
    fn check_entry(&self, e: &TenantEntry, resource: &str, cost: u64, now: u64, consume: bool) -> Result<Decision> {
        let profile = e.profile.load();
        self.check_with(e, &profile, resource, cost, now, if consume { Take::Consume } else { Take::Peek })
    }

    /// A check of `resource` on a tenant's entry and profile. `inline(always)`, with the
    /// `qps` rule here and every other rule in [`check_rule`](Self::check_rule): left to
    /// itself the compiler inlined or not depending on the caller (a bench binary with more
    /// call sites than another ran 40% slower, every step a call). Not on WebAssembly, where
    /// each forced copy costs module size (over its budget) and the check meets its speed
    /// target without it.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline)]
    fn check_with(
        &self,
        e: &TenantEntry,
        profile: &Profile,
        resource: &str,
        cost: u64,
        now: u64,
        take: Take,
    ) -> Result<Decision> {
        if now > crate::clock::MAX_NOW_MS {
            return Err(now_out_of_range(now));
        }
        let consume = take != Take::Peek;
        if plan::is_qps(resource)
            && self.inner.qps_hot
            && let Some(q) = profile.qps_at(now)
        {
            let shadow = q.shadow || self.inner.global_shadow.load(Ordering::Relaxed);
            let max_delay_ms = if shadow || take == Take::ConsumeIfNow { 0 } else { q.max_delay_ms };
            let req = RateRequest { now_ms: now, cost, max_delay_ms, consume };
            let out = crate::store::hot_gcra(|| &*e.state, &e.hot, &q.window, req);
            return Ok(Self::rate_decision(e, plan::QPS, Some(q.window.limit), q.queued, shadow, req, out));
        }
        self.check_rule(e, profile, resource, cost, now, take)
    }

    /// [`check_with`](Self::check_with) for every rule but a flattened `qps` one.
    fn check_rule(
        &self,
        e: &TenantEntry,
        profile: &Profile,
        resource: &str,
        cost: u64,
        now: u64,
        take: Take,
    ) -> Result<Decision> {
        let consume = take != Take::Peek;
        let Some((res, _)) = profile.resource_at(resource, now) else {
            return self.unlimited(e, resource, cost, now, consume);
        };
        let (name, spec) = (res.name, &res.spec);
        let shadow = self.shadow_on(profile);
        match (&spec.kind, &res.rate) {
            (ResourceKind::Rate { windows, .. }, Some(params)) => {
                let max_delay_ms = if take == Take::ConsumeIfNow { 0 } else { profile.max_delay(spec, shadow) };
                let req = RateRequest { now_ms: now, cost, max_delay_ms, consume };
                let out = if self.inner.qps_hot && plan::is_qps(name) && params.is_single_gcra() {
                    crate::store::hot_gcra(|| &*e.state, &e.hot, &params.windows[0], req)
                } else {
                    e.state.rate(name, params, req, &e.hot)?
                };
                let queued = spec.action == EnforcementAction::Queue;
                Ok(Self::rate_decision(e, name, windows.first().map(|w| w.limit), queued, shadow, req, out))
            }
            (ResourceKind::Concurrency { max, .. }, _) => {
                let (ok, active) = e.state.available(name, *max, now, cost)?;
                let remaining = Some(max.saturating_sub(active));
                let code = limit_code(name, &spec.kind);
                Ok(if ok {
                    Decision::allow(name, Some(*max), remaining)
                } else if shadow {
                    Decision { shadow: true, code: Some(code), ..Decision::allow(name, Some(*max), remaining) }
                } else {
                    Decision::reject(name, code, Some(*max), remaining, 0)
                })
            }
            (ResourceKind::Capacity { max, warning_threshold, block_writes }, _) => {
                let (_, used) = e.state.capacity(name, CapacityOp::Get)?;
                let value = used.saturating_add(cost);
                let blocked = *block_writes && !shadow && value > *max;
                Ok(capacity_decision(name, &spec.kind, *max, *warning_threshold, value, blocked, shadow))
            }
            (kind, _) => Err(wrong_kind(resource, "check", "rate, concurrency or capacity", kind)),
        }
    }

    /// The decision for a rate rule's outcome (and the metering it implies). Forced inline as
    /// [`check_with`](Self::check_with) is.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline)]
    fn rate_decision(
        e: &TenantEntry,
        name: &'static str,
        limit: Option<u64>,
        queued: bool,
        shadow: bool,
        req: RateRequest,
        out: crate::limiter::RateOutcome,
    ) -> Decision {
        let (now, cost, consume) = (req.now_ms, req.cost, req.consume);
        let mut d = Decision {
            allowed: out.admitted,
            action: Action::Allow,
            code: None,
            resource: name,
            limit,
            remaining: Some(out.remaining),
            retry_after_ms: out.retry_after_ms,
            reset_ms: out.reset_ms,
            delay_ms: out.delay_ms,
            shadow: false,
            lease_id: None,
            ticket: None,
        };
        if out.admitted {
            if out.delay_ms > 0 {
                d.action = if queued { Action::Queue } else { Action::Throttle };
                d.code = Some(Code::RateLimited);
                if consume {
                    e.meter.violation(if queued { Violation::Queued } else { Violation::Throttled }, now);
                }
            }
            if consume && plan::is_qps(name) {
                e.meter.admitted(now, cost);
            }
        } else {
            d.code = Some(if out.never { Code::CostExceedsLimit } else { Code::RateLimited });
            d.action = Action::Reject;
            if shadow {
                d.allowed = true;
                d.action = Action::Allow;
                d.shadow = true;
                if consume {
                    e.meter.violation(Violation::Shadow, now);
                    if plan::is_qps(name) {
                        e.meter.admitted(now, cost);
                    }
                }
            } else if consume {
                e.meter.violation(Violation::Rejected, now);
            }
        }
        d
    }

    /// Checks (and consumes) several `(tenant, resource, cost)` at `now_ms`, answering each
    /// exactly as [`check`](Self::check) would, in order. With a shared store the rate
    /// decisions travel together (one pipelined round trip to Redis); with the memory store
    /// this is a loop. Requests for the same tenant and resource are decided in order.
    pub fn check_many(&self, requests: &[CheckRequest<'_>], now_ms: u64) -> Vec<Result<Decision>> {
        struct Pending {
            index: usize,
            entry: Arc<TenantEntry>,
            profile: Arc<Profile>,
            req: RateRequest,
        }
        if now_ms > crate::clock::MAX_NOW_MS {
            return requests.iter().map(|_| Err(now_out_of_range(now_ms))).collect();
        }
        let mut answers: Vec<Option<Result<Decision>>> = Vec::with_capacity(requests.len());
        let mut pending: Vec<Pending> = Vec::new();
        for (index, r) in requests.iter().enumerate() {
            let entry = match self.entry(r.tenant) {
                Ok(e) => e,
                Err(err) => {
                    answers.push(Some(Err(err)));
                    continue;
                }
            };
            let profile = entry.profile.load_full();
            // Rate checks the store decides go into the batch; the rest is answered now.
            let batched =
                profile.resource_at(r.resource, now_ms).and_then(|(res, _)| match (&res.spec.kind, &res.rate) {
                    (ResourceKind::Rate { .. }, Some(params))
                        if !(self.inner.qps_hot && plan::is_qps(res.name) && params.is_single_gcra()) =>
                    {
                        Some(profile.max_delay(&res.spec, self.shadow_on(&profile)))
                    }
                    _ => None,
                });
            match batched {
                Some(max_delay_ms) => {
                    let req = RateRequest { now_ms, cost: r.cost, max_delay_ms, consume: true };
                    answers.push(None);
                    pending.push(Pending { index, entry: entry.clone(), profile: profile.clone(), req });
                }
                None => {
                    answers.push(Some(self.check_with(&entry, &profile, r.resource, r.cost, now_ms, Take::Consume)))
                }
            }
        }
        if !pending.is_empty() {
            let items: Vec<crate::store::RateItem<'_>> = pending
                .iter()
                .filter_map(|p| {
                    let (res, _) = p.profile.resource_at(requests[p.index].resource, now_ms)?;
                    Some(crate::store::RateItem {
                        state: &p.entry.state,
                        resource: res.name,
                        params: res.rate.as_ref()?,
                        req: p.req,
                        hot: &p.entry.hot,
                    })
                })
                .collect();
            let outcomes = self.inner.store.rate_batch(&items);
            for (p, out) in pending.iter().zip(outcomes) {
                let answer = out.and_then(|out| {
                    let (res, _) = p
                        .profile
                        .resource_at(requests[p.index].resource, now_ms)
                        .ok_or_else(|| Error::Store("resource vanished during a batch".into()))?;
                    let ResourceKind::Rate { windows, .. } = &res.spec.kind else {
                        return Err(Error::Store("resource changed kind during a batch".into()));
                    };
                    let shadow = self.shadow_on(&p.profile);
                    let queued = res.spec.action == EnforcementAction::Queue;
                    Ok(Self::rate_decision(
                        &p.entry,
                        res.name,
                        windows.first().map(|w| w.limit),
                        queued,
                        shadow,
                        p.req,
                        out,
                    ))
                });
                if let Some(slot) = answers.get_mut(p.index) {
                    *slot = Some(answer);
                }
            }
        }
        answers.into_iter().map(|a| a.unwrap_or_else(|| Err(Error::Store("no answer in a batch".into())))).collect()
    }

    fn unlimited(&self, e: &TenantEntry, resource: &str, cost: u64, now: u64, consume: bool) -> Result<Decision> {
        let cat = self.inner.catalog.load();
        let name = cat
            .known
            .get(resource)
            .copied()
            .ok_or_else(|| Error::ResourceNotFound { tenant: e.name().to_owned(), resource: resource.to_owned() })?;
        if consume && name == plan::QPS {
            e.meter.admitted(now, cost);
        }
        Ok(Decision::allow(name, None, None))
    }

    /// The resource's interned name, its spec (`None`: unlimited for this tenant) and shadow.
    fn spec_for(
        &self,
        e: &TenantEntry,
        resource: &str,
        now: u64,
    ) -> Result<(&'static str, Option<ResourceSpec>, bool)> {
        let profile = e.profile.load();
        let shadow = self.shadow_on(&profile);
        match profile.resource_at(resource, now) {
            Some((r, _)) => Ok((r.name, Some(r.spec.clone()), shadow)),
            None => {
                let cat = self.inner.catalog.load();
                let n = cat.known.get(resource).copied().ok_or_else(|| Error::ResourceNotFound {
                    tenant: e.name().to_owned(),
                    resource: resource.to_owned(),
                })?;
                Ok((n, None, shadow))
            }
        }
    }

    // ----- concurrency ---------------------------------------------------------------------

    /// Acquires a concurrency lease. With action `queue`, a full resource returns a `queue`
    /// decision with a `ticket`: call again with `ticket` until granted or timed out
    /// (first come, first served). Release every granted lease with [`release`](Self::release).
    pub fn acquire(&self, tenant: &str, resource: &str, ticket: Option<u64>, now_ms: u64) -> Result<Decision> {
        let e = self.entry(tenant)?;
        let (name, spec, shadow) = self.spec_for(&e, resource, now_ms)?;
        let (max, ttl, action, kind) = match &spec {
            Some(s @ ResourceSpec { kind: ResourceKind::Concurrency { max, lease_ttl_ms }, .. }) => {
                (Some(*max), *lease_ttl_ms, s.action, s.kind.clone())
            }
            Some(s) => return Err(wrong_kind(resource, "acquire", "concurrency", &s.kind)),
            None => {
                (None, None, EnforcementAction::Reject, ResourceKind::Concurrency { max: u64::MAX, lease_ttl_ms: None })
            }
        };
        let wait = spec.as_ref().map(|s| s.max_wait_ms.unwrap_or(e.profile.load().plan.max_queue_wait_ms)).unwrap_or(0);
        let p = AcquireParams {
            max: max.unwrap_or(u64::MAX),
            lease_ttl_ms: ttl,
            queue: action == EnforcementAction::Queue && !shadow,
            max_wait_ms: wait,
        };
        let code = limit_code(name, &kind);
        let out = e.state.acquire(name, p, now_ms, ticket, &self.inner.ids)?;
        let remaining = |active: u64| max.map(|m| m.saturating_sub(active));
        Ok(match out {
            AcquireOutcome::Granted { lease, active } => {
                Decision { lease_id: Some(lease), ..Decision::allow(name, max, remaining(active)) }
            }
            AcquireOutcome::Rejected { active, timed_out: false, .. } if shadow => {
                e.meter.violation(Violation::Shadow, now_ms);
                let forced =
                    e.state.acquire(name, AcquireParams { max: u64::MAX, ..p }, now_ms, None, &self.inner.ids)?;
                let lease = match forced {
                    AcquireOutcome::Granted { lease, .. } => Some(lease),
                    _ => None,
                };
                Decision {
                    shadow: true,
                    code: Some(code),
                    lease_id: lease,
                    ..Decision::allow(name, max, remaining(active + 1))
                }
            }
            AcquireOutcome::Queued { ticket: t, wait_left_ms, active, .. } => {
                if ticket.is_none() {
                    e.meter.violation(Violation::Queued, now_ms);
                }
                Decision {
                    allowed: false,
                    action: Action::Queue,
                    code: Some(code),
                    ticket: Some(t),
                    retry_after_ms: wait_left_ms.min(100),
                    reset_ms: wait_left_ms,
                    ..Decision::allow(name, max, remaining(active))
                }
            }
            AcquireOutcome::Rejected { active, timed_out, retry_after_ms } => {
                e.meter.violation(Violation::Rejected, now_ms);
                let code = if timed_out { Code::QueueTimeout } else { code };
                Decision::reject(name, code, max, remaining(active), retry_after_ms)
            }
        })
    }

    /// Releases a lease. `LEASE_NOT_FOUND` if it is not held (released twice, or reclaimed
    /// after its TTL).
    pub fn release(&self, tenant: &str, resource: &str, lease_id: u64, now_ms: u64) -> Result<Decision> {
        let e = self.entry(tenant)?;
        let (name, spec, _) = self.spec_for(&e, resource, now_ms)?;
        let max = match &spec {
            Some(ResourceSpec { kind: ResourceKind::Concurrency { max, .. }, .. }) => Some(*max),
            Some(s) => return Err(wrong_kind(resource, "release", "concurrency", &s.kind)),
            None => None,
        };
        if !e.state.release(name, lease_id, now_ms)? {
            return Err(Error::LeaseNotFound {
                tenant: tenant.to_owned(),
                resource: resource.to_owned(),
                lease: lease_id,
            });
        }
        let active = e.state.concurrency_stats(name)?.active;
        Ok(Decision::allow(name, max, max.map(|m| m.saturating_sub(active))))
    }

    /// Abandons a queue ticket; `false` if it was unknown (already granted or timed out).
    pub fn cancel(&self, tenant: &str, resource: &str, ticket: u64) -> Result<bool> {
        let e = self.entry(tenant)?;
        let name = self.spec_for(&e, resource, 0)?.0;
        e.state.cancel(name, ticket)
    }

    /// Concurrency statistics (active, high-water mark, running average samples).
    pub fn concurrency_stats(&self, tenant: &str, resource: &str) -> Result<ConcurrencyStats> {
        let e = self.entry(tenant)?;
        let (name, spec, _) = self.spec_for(&e, resource, 0)?;
        if let Some(s) = spec.filter(|s| !matches!(s.kind, ResourceKind::Concurrency { .. })) {
            return Err(wrong_kind(resource, "concurrency_stats", "concurrency", &s.kind));
        }
        e.state.concurrency_stats(name)
    }

    // ----- capacity ------------------------------------------------------------------------

    fn capacity_op(
        &self,
        tenant: &str,
        resource: &str,
        op: impl FnOnce(Option<u64>) -> CapacityOp,
        now_ms: u64,
        is_write: bool,
    ) -> Result<Decision> {
        let e = self.entry(tenant)?;
        let (name, spec, shadow) = self.spec_for(&e, resource, now_ms)?;
        let Some(spec) = spec else {
            e.state.capacity(name, op(None))?;
            return Ok(Decision::allow(name, None, None));
        };
        let ResourceKind::Capacity { max, warning_threshold, block_writes } = spec.kind else {
            return Err(wrong_kind(resource, "usage", "capacity", &spec.kind));
        };
        let block = block_writes && !shadow;
        let (applied, value) = e.state.capacity(name, op(if block { Some(max) } else { None }))?;
        // A write answers "was it accepted"; a measurement answers "may the next write proceed".
        let blocked = if is_write { !applied } else { block && value >= max };
        let d = capacity_decision(name, &spec.kind, max, warning_threshold, value, blocked, shadow);
        if is_write {
            match (d.allowed, d.action, d.shadow) {
                (_, _, true) => e.meter.violation(Violation::Shadow, now_ms),
                (false, _, _) => e.meter.violation(Violation::Rejected, now_ms),
                (true, Action::Warn, _) => e.meter.violation(Violation::Warned, now_ms),
                _ => {}
            }
        }
        Ok(d)
    }

    /// Sets a gauge to a measured value (e.g. storage bytes from the host's size query). The
    /// decision says whether writes are still allowed.
    pub fn set_usage(&self, tenant: &str, resource: &str, value: u64, now_ms: u64) -> Result<Decision> {
        self.capacity_op(tenant, resource, |_| CapacityOp::Set(value), now_ms, false)
    }

    /// Records a write of `delta` units: refused (and not recorded) if it would pass the hard
    /// limit; `warn` above the warning threshold. Reads are never gated by capacity.
    pub fn add_usage(&self, tenant: &str, resource: &str, delta: u64, now_ms: u64) -> Result<Decision> {
        self.capacity_op(tenant, resource, |max| CapacityOp::Add { delta, max }, now_ms, true)
    }

    /// Records freed units (saturating at 0).
    pub fn subtract_usage(&self, tenant: &str, resource: &str, delta: u64, now_ms: u64) -> Result<Decision> {
        self.capacity_op(tenant, resource, |_| CapacityOp::Sub(delta), now_ms, false)
    }

    /// The gauge's current value.
    pub fn usage_value(&self, tenant: &str, resource: &str) -> Result<u64> {
        let e = self.entry(tenant)?;
        let (name, spec, _) = self.spec_for(&e, resource, 0)?;
        if let Some(s) = spec.filter(|s| !matches!(s.kind, ResourceKind::Capacity { .. })) {
            return Err(wrong_kind(resource, "usage", "capacity", &s.kind));
        }
        Ok(e.state.capacity(name, CapacityOp::Get)?.1)
    }

    // ----- duration ------------------------------------------------------------------------

    fn duration_params(
        &self,
        e: &TenantEntry,
        resource: &str,
        op: &'static str,
        now: u64,
    ) -> Result<(&'static str, DurationParams, Option<u64>)> {
        let (name, spec, shadow) = self.spec_for(e, resource, now)?;
        let none = DurationParams { max_ms: None, idle_ms: None };
        match spec {
            Some(ResourceSpec { kind: ResourceKind::Duration { max_ms, idle_ms }, .. }) if !shadow => {
                Ok((name, DurationParams { max_ms, idle_ms }, max_ms))
            }
            Some(ResourceSpec { kind: ResourceKind::Duration { max_ms, .. }, .. }) => Ok((name, none, max_ms)),
            Some(s) => Err(wrong_kind(resource, op, "duration", &s.kind)),
            None => Ok((name, none, None)),
        }
    }

    fn lease_decision(name: &'static str, limit: Option<u64>, lease: u64, st: LeaseStatus) -> Decision {
        let mut d = match st.expired {
            None => Decision::allow(name, limit, None),
            Some(r) => Decision::reject(name, r.code(), limit, Some(0), 0),
        };
        d.lease_id = Some(lease);
        d.reset_ms = if st.left_ms == u64::MAX { 0 } else { st.left_ms };
        d
    }

    /// Starts a duration lease (e.g. a transaction); `reset_ms` is the time to its nearest deadline.
    pub fn begin(&self, tenant: &str, resource: &str, now_ms: u64) -> Result<Decision> {
        let e = self.entry(tenant)?;
        let (name, p, limit) = self.duration_params(&e, resource, "begin", now_ms)?;
        let lease = e.state.begin(name, now_ms, &self.inner.ids)?;
        let st = crate::quota::lease_status(now_ms, now_ms, now_ms, p.max_ms, p.idle_ms);
        Ok(Self::lease_decision(name, limit, lease, st))
    }

    /// Records activity on a duration lease. A refusal (`TRANSACTION_TIMEOUT` or
    /// `IDLE_IN_TRANSACTION_TIMEOUT`) means the host must roll back and end it.
    pub fn touch(&self, tenant: &str, resource: &str, lease_id: u64, now_ms: u64) -> Result<Decision> {
        self.lease_op(tenant, resource, lease_id, now_ms, false)
    }

    /// Ends a duration lease. A refusal means it overran: the host should roll back rather
    /// than commit.
    pub fn end(&self, tenant: &str, resource: &str, lease_id: u64, now_ms: u64) -> Result<Decision> {
        self.lease_op(tenant, resource, lease_id, now_ms, true)
    }

    fn lease_op(&self, tenant: &str, resource: &str, lease_id: u64, now_ms: u64, end: bool) -> Result<Decision> {
        let e = self.entry(tenant)?;
        let (name, p, limit) = self.duration_params(&e, resource, if end { "end" } else { "touch" }, now_ms)?;
        let st =
            if end { e.state.end(name, lease_id, now_ms, p)? } else { e.state.touch(name, lease_id, now_ms, p)? };
        let st = st.ok_or_else(|| Error::LeaseNotFound {
            tenant: tenant.to_owned(),
            resource: resource.to_owned(),
            lease: lease_id,
        })?;
        if st.expired.is_some() {
            e.meter.violation(Violation::Rejected, now_ms);
        }
        Ok(Self::lease_decision(name, limit, lease_id, st))
    }

    /// [`begin`](Self::begin) on the built-in `transaction` resource.
    pub fn begin_transaction(&self, tenant: &str, now_ms: u64) -> Result<Decision> {
        self.begin(tenant, plan::TRANSACTION, now_ms)
    }

    /// Every duration lease past a deadline, over all tenants, sorted by tenant and lease.
    /// Leases stay listed until ended.
    pub fn expired_leases(&self, now_ms: u64) -> Vec<ExpiredLease> {
        let mut out = Vec::new();
        for e in self.sorted_entries() {
            let profile = e.profile.load();
            if self.shadow_on(&profile) {
                continue;
            }
            for (name, spec, _) in profile.effective(now_ms) {
                let ResourceKind::Duration { max_ms, idle_ms } = spec.kind else { continue };
                let Ok(list) = e.state.expired(name, now_ms, DurationParams { max_ms, idle_ms }) else { continue };
                for (lease, st) in list {
                    let reason = st.expired.unwrap_or(ExpiryReason::MaxDuration);
                    out.push(ExpiredLease {
                        tenant: e.name().to_owned(),
                        resource: name.to_owned(),
                        lease_id: lease,
                        reason,
                        code: reason.code().as_str(),
                        started_ms: st.started_ms,
                        last_activity_ms: st.last_activity_ms,
                    });
                }
            }
        }
        out
    }

    // ----- features ------------------------------------------------------------------------

    /// `allow`, or `reject` with `FEATURE_NOT_IN_PLAN`.
    pub fn check_feature(&self, tenant: &str, feature: Feature) -> Result<Decision> {
        let e = self.entry(tenant)?;
        let name = intern(feature.as_str());
        Ok(if e.profile.load().plan.plan.features.has(feature) {
            Decision::allow(name, None, None)
        } else {
            Decision::reject(name, Code::FeatureNotInPlan, None, None, 0)
        })
    }

    // ----- overrides and shadow --------------------------------------------------------------

    /// Sets (or replaces) an override of one resource's limit for one tenant.
    pub fn set_override(&self, tenant: &str, ovr: Override, now_ms: u64) -> Result<Tenant> {
        let _g = lock(&self.inner.admin);
        let e = self.entry(tenant)?;
        if ovr.limit.is_none() && ovr.burst.is_none() && ovr.idle_ms.is_none() {
            return Err(Error::invalid("override", "an override must set limit, burst or idleMs"));
        }
        let p = e.profile.load_full();
        let name = intern(&ovr.resource);
        let base = p.plan.resource(name).ok_or_else(|| {
            Error::invalid(
                "resource",
                format!(
                    "plan `{}` does not limit `{}`; an override needs a limited resource",
                    p.plan.plan.id, ovr.resource
                ),
            )
        })?;
        let spec = apply_override(&base.spec, &ovr)?;
        let mut list: Vec<ActiveOverride> =
            p.overrides.iter().filter(|a| a.resolved.name != name || a.from_config).cloned().collect();
        list.insert(0, ActiveOverride { resolved: Resolved::new(name, spec), ovr, from_config: false });
        self.set_profile(&e, Arc::new(Profile::new(p.plan.clone(), p.shadow, list.into_boxed_slice())));
        Ok(self.snapshot(&e, now_ms))
    }

    /// Removes every override of `resource` (runtime and configured); `false` if none.
    pub fn clear_override(&self, tenant: &str, resource: &str) -> Result<bool> {
        let _g = lock(&self.inner.admin);
        let e = self.entry(tenant)?;
        let p = e.profile.load_full();
        let list: Vec<ActiveOverride> = p.overrides.iter().filter(|a| a.resolved.name != resource).cloned().collect();
        let found = list.len() != p.overrides.len();
        if found {
            self.set_profile(&e, Arc::new(Profile::new(p.plan.clone(), p.shadow, list.into_boxed_slice())));
        }
        Ok(found)
    }

    /// Puts one tenant in or out of shadow (monitor-only) mode.
    pub fn set_shadow(&self, tenant: &str, shadow: bool) -> Result<()> {
        let _g = lock(&self.inner.admin);
        let e = self.entry(tenant)?;
        let p = e.profile.load_full();
        let cat = self.inner.catalog.load();
        let np = if shadow || !p.overrides.is_empty() {
            Arc::new(Profile::new(p.plan.clone(), shadow, p.overrides.clone()))
        } else {
            cat.profile(&p.plan, false, &[], e.name())
        };
        self.set_profile(&e, np);
        Ok(())
    }

    /// Puts every tenant in or out of shadow mode (in addition to the configured `shadow_mode`).
    pub fn set_global_shadow(&self, shadow: bool) {
        self.inner.global_shadow.store(shadow, Ordering::Relaxed);
    }

    // ----- plans ---------------------------------------------------------------------------

    /// The plan `id`.
    pub fn plan(&self, id: &str) -> Result<Plan> {
        self.inner.catalog.load().plan(id).map(|p| p.plan.clone()).ok_or_else(|| Error::PlanNotFound(id.to_owned()))
    }

    /// Every plan, in definition order.
    pub fn list_plans(&self) -> Vec<Plan> {
        self.inner.catalog.load().plans.iter().map(|p| p.plan.clone()).collect()
    }

    fn validate_plan(plan: &Plan) -> Result<()> {
        plan.validate("plan").map_err(|(key, message)| Error::invalid(key, message))
    }

    /// Adds a custom plan.
    pub fn create_plan(&self, plan: Plan) -> Result<Plan> {
        Self::validate_plan(&plan)?;
        let _g = lock(&self.inner.admin);
        let cat = self.inner.catalog.load_full();
        if cat.plan(&plan.id).is_some() {
            return Err(Error::PlanExists(plan.id));
        }
        let mut plans = cat.plans.clone();
        plans.push(Arc::new(ResolvedPlan::new(plan.clone(), &cat.settings)));
        self.inner.catalog.store(Arc::new(cat.with_plans(plans)));
        Ok(plan)
    }

    /// Replaces a plan's limits and features; its tenants get the new limits at once
    /// (counters kept). Returns the ids of the tenants on it.
    pub fn update_plan(&self, plan: Plan) -> Result<Vec<Uuid>> {
        Self::validate_plan(&plan)?;
        let _g = lock(&self.inner.admin);
        let cat = self.inner.catalog.load_full();
        let old = cat.plan(&plan.id).cloned().ok_or_else(|| Error::PlanNotFound(plan.id.clone()))?;
        let mut plan = plan;
        plan.is_default = old.plan.is_default;
        let resolved = Arc::new(ResolvedPlan::new(plan, &cat.settings));
        let plans = cat.plans.iter().map(|p| if Arc::ptr_eq(p, &old) { resolved.clone() } else { p.clone() }).collect();
        let new_cat = Arc::new(cat.with_plans(plans));
        self.inner.catalog.store(new_cat.clone());
        Ok(self.move_tenants(&new_cat, &old, &resolved, false))
    }

    /// Moves every tenant on `from` to `to`; returns their ids sorted by name.
    fn move_tenants(
        &self,
        cat: &Catalog,
        from: &Arc<ResolvedPlan>,
        to: &Arc<ResolvedPlan>,
        make_explicit: bool,
    ) -> Vec<Uuid> {
        let mut moved = Vec::new();
        for e in self.sorted_entries() {
            let p = e.profile.load_full();
            if Arc::ptr_eq(&p.plan, from) {
                self.set_profile(&e, cat.profile(to, p.shadow, &p.overrides, e.name()));
                if make_explicit {
                    e.explicit.store(true, Ordering::Relaxed);
                }
                moved.push(e.id);
            }
        }
        moved
    }

    /// Changes one tenant's plan (usage counters survive).
    pub fn change_plan(&self, tenant: &str, plan_id: &str, now_ms: u64) -> Result<Tenant> {
        let _g = lock(&self.inner.admin);
        let e = self.entry(tenant)?;
        let cat = self.inner.catalog.load_full();
        let to = cat.plan(plan_id).ok_or_else(|| Error::PlanNotFound(plan_id.to_owned()))?;
        if e.isolation != IsolationMode::SharedSchema && !to.plan.features.all_isolation_modes {
            return Err(Error::IsolationNotAllowed { plan: plan_id.to_owned(), mode: e.isolation.as_str().to_owned() });
        }
        let p = e.profile.load_full();
        self.set_profile(&e, cat.profile(to, p.shadow, &p.overrides, tenant));
        e.explicit.store(true, Ordering::Relaxed);
        Ok(self.snapshot(&e, now_ms))
    }

    /// Moves every tenant on `from` to `to`; returns their ids (sorted by tenant name).
    pub fn downgrade(&self, from: &str, to: &str) -> Result<Vec<Uuid>> {
        let _g = lock(&self.inner.admin);
        let cat = self.inner.catalog.load_full();
        let src = cat.plan(from).cloned().ok_or_else(|| Error::PlanNotFound(from.to_owned()))?;
        let dst = cat.plan(to).cloned().ok_or_else(|| Error::PlanNotFound(to.to_owned()))?;
        Ok(self.move_tenants(&cat, &src, &dst, true))
    }

    /// Deletes a plan and moves its tenants to the protected default plan (`unlimited`).
    pub fn delete_plan(&self, id: &str) -> Result<DeletedPlan> {
        let _g = lock(&self.inner.admin);
        let cat = self.inner.catalog.load_full();
        let victim = cat.plan(id).cloned().ok_or_else(|| Error::PlanNotFound(id.to_owned()))?;
        if victim.plan.is_default {
            return Err(Error::PlanProtected(id.to_owned()));
        }
        let fallback = cat.fallback().cloned().ok_or_else(|| Error::PlanNotFound(plan::UNLIMITED.to_owned()))?;
        let plans = cat.plans.iter().filter(|p| !Arc::ptr_eq(p, &victim)).cloned().collect();
        let new_cat = Arc::new(cat.with_plans(plans));
        self.inner.catalog.store(new_cat.clone());
        let moved = self.move_tenants(&new_cat, &victim, &fallback, true);
        Ok((victim.plan.clone(), fallback.plan.id.clone(), moved))
    }

    // ----- configuration -------------------------------------------------------------------

    /// Swaps in a new configuration atomically. Every tenant keeps its counters and leases;
    /// plans are re-resolved (explicit plan if it still exists, else assignment, else
    /// default); configured overrides are replaced, runtime overrides kept. Federated mode
    /// and its store ([`Settings::federation`](crate::config::Settings::federation)) cannot
    /// change: a configuration that changes them is a `CONFIG_INVALID` error naming
    /// `tenant_quotas.federation`, and nothing is swapped.
    pub fn reload(&self, config: Config) -> Result<ReloadReport> {
        let _g = lock(&self.inner.admin);
        if self.inner.catalog.load().settings.federation != config.settings.federation {
            return Err(Error::Config(crate::error::ConfigError {
                key: "tenant_quotas.federation".into(),
                line: None,
                column: None,
                message: "federated mode and its store are chosen when the governor is built; restart the process to change them".into(),
            }));
        }
        let now = self.now_ms();
        let new_cat = Arc::new(Catalog::new(config));
        let old_cat = self.inner.catalog.swap(new_cat.clone());
        // Whether plan `id` changed, decided once per plan rather than once per tenant.
        let mut plan_changed: HashMap<(usize, usize), bool> = HashMap::new();
        let mut changed = Vec::new();
        // The name slots' copies of the profiles: the same as the entries' (both change
        // together under the admin lock, held here), without an `ArcSwap` load per tenant.
        for NameSlot { entry: e, profile: p } in self.inner.tenants.all() {
            let explicit = e.explicit.load(Ordering::Relaxed);
            let (plan, explicit) = match new_cat.plan(&p.plan.plan.id) {
                Some(pl) if explicit => (pl, true),
                _ => match new_cat.assigned(e.name()) {
                    Some(pl) => (pl, false),
                    None => continue,
                },
            };
            let np = new_cat.profile(plan, p.shadow, &p.overrides, e.name());
            let differs = if p.overrides.is_empty() && np.overrides.is_empty() {
                let key = (Arc::as_ptr(&p.plan) as usize, Arc::as_ptr(&np.plan) as usize);
                *plan_changed.entry(key).or_insert_with(|| {
                    p.plan.plan != np.plan.plan
                        || p.plan.shadow_all != np.plan.shadow_all
                        || p.plan.max_queue_wait_ms != np.plan.max_queue_wait_ms
                        || p.plan.max_throttle_delay_ms != np.plan.max_throttle_delay_ms
                })
            } else {
                p.plan.plan.id != np.plan.plan.id || p.effective(now) != np.effective(now)
            };
            if differs {
                changed.push(e.name().to_owned());
            }
            e.explicit.store(explicit, Ordering::Relaxed);
            self.set_profile(&e, np);
        }
        drop(old_cat);
        changed.sort_unstable();
        Ok(ReloadReport { changed_tenants: changed, plans: new_cat.plans.iter().map(|p| p.plan.id.clone()).collect() })
    }

    /// [`reload`](Self::reload) from S2 TOML.
    pub fn reload_toml(&self, text: &str) -> Result<ReloadReport> {
        self.reload(Config::from_toml(text)?)
    }

    /// [`reload`](Self::reload) from the JSON model.
    pub fn reload_json(&self, text: &str) -> Result<ReloadReport> {
        self.reload(Config::from_json(text)?)
    }

    // ----- usage and status ----------------------------------------------------------------

    /// Records host-reported usage (tables, rows, bytes, compute...).
    pub fn record_usage(&self, tenant: &str, report: &UsageReport, now_ms: u64) -> Result<()> {
        self.entry(tenant)?.meter.report(report, now_ms);
        Ok(())
    }

    /// Starts a new billing period for a tenant (zeroes the `*_in_period` counters).
    pub fn reset_usage_period(&self, tenant: &str) -> Result<()> {
        self.entry(tenant)?.meter.reset_period();
        Ok(())
    }

    fn gauge(e: &TenantEntry, name: &'static str) -> u64 {
        e.state.capacity(name, CapacityOp::Get).map(|(_, v)| v).unwrap_or(0)
    }

    fn active(e: &TenantEntry, name: &'static str) -> u64 {
        e.state.concurrency_stats(name).map(|s| s.active).unwrap_or(0)
    }

    fn usage_of(e: &TenantEntry) -> TenantUsage {
        e.meter.usage(Self::gauge(e, plan::STORAGE), Self::active(e, plan::CONNECTIONS))
    }

    /// S1 `TenantUsage` of a tenant.
    pub fn usage(&self, tenant: &str) -> Result<TenantUsage> {
        let e = self.entry(tenant)?;
        Ok(Self::usage_of(&e))
    }

    /// Violation counts of a tenant.
    pub fn violations(&self, tenant: &str) -> Result<ViolationCounts> {
        Ok(self.entry(tenant)?.meter.violations())
    }

    /// S1 `QuotaTracking` of a tenant at `now_ms`.
    pub fn quota_tracking(&self, tenant: &str, now_ms: u64) -> Result<QuotaTracking> {
        let e = self.entry(tenant)?;
        let c = e.state.concurrency_stats(plan::CONNECTIONS).unwrap_or_default();
        Ok(QuotaTracking {
            active_connections: c.active,
            connections_hwm: c.high_water_mark,
            connections_total_samples: c.total_samples,
            connections_sample_count: c.sample_count,
            storage_bytes_used: Self::gauge(&e, plan::STORAGE),
            queries_this_window: e.meter.current_qps(now_ms),
        })
    }

    fn status_of(&self, e: &TenantEntry, now: u64) -> StatusDocument {
        let p = e.profile.load();
        let lim = |n: &str| p.resource_at(n, now).and_then(|(r, _)| r.spec.kind.primary_limit());
        let storage_used = Self::gauge(e, plan::STORAGE);
        let (avg, p99) = e.meter.qps_1h(now);
        let round1 = |v: f64| (v * 10.0).round() / 10.0;
        let gb = |b: u64| round1(b as f64 / plan::GB as f64);
        let resources = p
            .effective(now)
            .into_iter()
            .map(|(name, spec, overridden)| {
                let current = match spec.kind {
                    ResourceKind::Rate { .. } if name == plan::QPS => e.meter.current_qps(now),
                    ResourceKind::Rate { .. } => 0,
                    ResourceKind::Concurrency { .. } => Self::active(e, name),
                    ResourceKind::Capacity { .. } => Self::gauge(e, name),
                    ResourceKind::Duration { .. } => e.state.duration_stats(name).map(|s| s.0).unwrap_or(0),
                };
                ResourceStatus {
                    name: name.to_owned(),
                    kind: spec.kind.name(),
                    limit: spec.kind.primary_limit(),
                    current,
                    overridden,
                }
            })
            .collect();
        StatusDocument {
            tenant_id: e.name().to_owned(),
            tier: p.plan.plan.id.clone(),
            quotas: StatusQuotas {
                max_qps: lim(plan::QPS),
                current_qps: e.meter.current_qps(now),
                max_connections: lim(plan::CONNECTIONS),
                current_connections: Self::active(e, plan::CONNECTIONS),
                storage_quota_gb: lim(plan::STORAGE).map(gb),
                storage_used_gb: gb(storage_used),
                max_transaction_duration: lim(plan::TRANSACTION).map(format_duration_ms),
            },
            usage_stats: UsageStats {
                qps_1h_avg: round1(avg),
                qps_1h_p99: round1(p99),
                quota_violations_24h: e.meter.violations_24h(now),
            },
            resources,
            violations: e.meter.violations(),
            shadow: self.shadow_on(&p),
        }
    }

    /// The S2 admin status document of a tenant at `now_ms`.
    pub fn status(&self, tenant: &str, now_ms: u64) -> Result<StatusDocument> {
        let e = self.entry(tenant)?;
        Ok(self.status_of(&e, now_ms))
    }

    /// Prometheus text exposition of every tenant's gauges and counters at `now_ms`.
    pub fn prometheus(&self, now_ms: u64) -> String {
        let docs: Vec<_> =
            self.sorted_entries().iter().map(|e| (self.status_of(e, now_ms), Self::usage_of(e))).collect();
        let mut text = render_prometheus(&docs);
        for (name, value) in self.inner.store.metrics() {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            text.push_str(&format!(
                "# HELP tenantguard_store_{name} State store health ({}).\n# TYPE tenantguard_store_{name} {kind}\ntenantguard_store_{name} {value}\n",
                self.inner.store.kind()
            ));
        }
        text
    }

    /// The state store's health counters (see [`Store::metrics`]); empty for the memory store.
    pub fn store_metrics(&self) -> Vec<(&'static str, u64)> {
        self.inner.store.metrics()
    }

    /// Replays now the lease releases and undos that a shared store kept from calls it could
    /// not answer (see [`Store::flush`]). They are otherwise replayed by later calls, so call
    /// this before a process exits and, in a process that may sit idle after an outage, from
    /// a timer. Nothing to do for the memory store.
    ///
    /// # Errors
    /// [`Error::Store`] (`STORE_UNAVAILABLE`) when some still cannot be replayed, with how
    /// many; they stay queued.
    pub fn flush_store(&self) -> Result<()> {
        self.inner.store.flush()
    }

    /// The state store's kind (`"memory"`, `"redis"`).
    pub fn store_kind(&self) -> &'static str {
        self.inner.store.kind()
    }

    /// Drops idle tenants' rate state (cells equivalent to a fresh one); returns how many.
    pub fn evict_idle(&self, now_ms: u64) -> usize {
        let mut n = 0;
        for e in self.all_entries() {
            let p = e.profile.load_full();
            let params_of = |name: &'static str| p.resource_at(name, now_ms).and_then(|(r, _)| r.rate.clone());
            n += e.state.evict_idle(now_ms, &params_of, &e.hot);
        }
        n
    }

    /// Approximate bytes held per tenant on average: the entry (name, profile pointer, meter),
    /// its store state, its private profile if it has overrides, and two index slots.
    pub fn approx_bytes_per_tenant(&self) -> usize {
        let all = self.all_entries();
        if all.is_empty() {
            return 0;
        }
        let total: usize = all
            .iter()
            .map(|e| {
                let p = e.profile.load();
                let private =
                    if p.overrides.is_empty() && !p.shadow { 0 } else { std::mem::size_of::<Profile>() + 256 };
                std::mem::size_of::<TenantEntry>()
                    + 16 // Arc counts
                    + 2 * 16 // two index slots (pointer + control bytes, with load factor)
                    + if e.name.as_bytes().len() > 22 { e.name.as_bytes().len() } else { 0 }
                    + e.state.approx_bytes()
                    + e.meter.approx_bytes()
                    - std::mem::size_of::<Meter>()
                    + private
            })
            .sum();
        total / all.len()
    }

    // ----- per-request context (S1) --------------------------------------------------------

    /// S1: sets the manager-wide "current" context. Prefer passing a context explicitly
    /// ([`check_ctx`](Self::check_ctx)): a manager-wide context is shared by every request.
    pub fn set_current_context(&self, ctx: TenantContext) {
        *lock(&self.inner.current) = Some(ctx);
    }

    /// The manager-wide context, if set.
    pub fn current_context(&self) -> Option<TenantContext> {
        lock(&self.inner.current).clone()
    }

    /// Clears the manager-wide context.
    pub fn clear_current_context(&self) {
        *lock(&self.inner.current) = None;
    }

    // ----- S1 tutorial API -----------------------------------------------------------------

    fn register_lenient(&self, name: String, mode: IsolationMode, plan: Option<&str>) -> Tenant {
        let now = self.now_ms();
        if let Ok(t) = self.tenant(&name) {
            return t;
        }
        match self.register_inner(&name, plan, mode, now) {
            Ok(t) => t,
            Err(_) => match self.register_inner(&name, None, IsolationMode::SharedSchema, now) {
                Ok(t) => t,
                // Only a concurrent registration of the same name gets here: return it.
                Err(_) => self.tenant(&name).unwrap_or_else(|_| Tenant {
                    id: Uuid::new_v5(&TENANT_NAMESPACE, name.as_bytes()),
                    name,
                    plan_id: String::new(),
                    isolation_mode: mode,
                    limits: ResourceLimits::default(),
                    features: crate::plan::PlanFeatures::ALL,
                    shadow: false,
                    overrides: Vec::new(),
                    created_at_ms: now,
                }),
            },
        }
    }

    /// S1: registers a tenant on the default tier (or its matching assignment).
    ///
    /// Infallible as in the tutorial: an existing tenant of that name is returned as is, and
    /// a mode the plan does not allow falls back to `SharedSchema`. Use
    /// [`register`](Self::register) for typed errors instead.
    pub fn register_tenant(&self, name: String, mode: IsolationMode) -> Tenant {
        self.register_lenient(name, mode, None)
    }

    /// S1: registers a tenant on `plan`. Infallible as in the tutorial: an unknown plan falls
    /// back to the default tier (never to `unlimited`). Use [`register`](Self::register) for
    /// typed errors instead.
    pub fn register_tenant_with_plan(&self, name: String, mode: IsolationMode, plan: &str) -> Tenant {
        self.register_lenient(name, mode, Some(plan))
    }

    /// S1: `true` if one more unit of `resource` is admitted now (rate: consumes one;
    /// concurrency: a lease is free; capacity: one more unit fits). Unknown tenant or resource: `false`.
    ///
    /// A yes/no answer has no room for a delay, so a rate unit is consumed only when it fits
    /// now: a request that would be throttled or queued answers `false` and reserves nothing.
    pub fn check_quota(&self, tenant_id: Uuid, resource: &str) -> bool {
        match self.entry_by_id(&tenant_id) {
            Ok(e) => {
                let profile = e.profile.load();
                self.check_with(&e, &profile, resource, 1, self.now_ms(), Take::ConsumeIfNow)
                    .map(|d| d.is_immediate())
                    .unwrap_or(false)
            }
            Err(_) => false,
        }
    }

    /// Row-level security for this governor's tables.
    pub fn rls(&self) -> &crate::rls::RlsEngine {
        &self.inner.rls
    }

    /// S1: creates (or replaces) a policy on `table` and enables RLS on it. `expression` is
    /// used as USING when `using` is empty; `with_check` is the WITH CHECK expression.
    pub fn create_rls_policy(
        &self,
        table: String,
        name: String,
        expression: String,
        command: crate::rls::RLSCommand,
        using: String,
        with_check: Option<String>,
    ) -> Result<()> {
        use crate::rls::RLSCommand;
        let using = if using.trim().is_empty() { expression } else { using };
        let def = crate::rls::PolicyDef {
            name,
            restrictive: false,
            command,
            roles: vec![],
            using: if command == RLSCommand::Insert { None } else { Some(using) },
            with_check: if matches!(command, RLSCommand::Select | RLSCommand::Delete) { None } else { with_check },
        };
        self.inner.rls.create_policy(&table, def, true)?;
        self.inner.rls.set_enabled(&table, true);
        Ok(())
    }

    /// S1: changes a tenant's plan by id.
    pub fn change_tenant_plan(&self, tenant_id: Uuid, plan: &str) -> Result<Tenant> {
        let e = self.entry_by_id(&tenant_id)?;
        self.change_plan(e.name(), plan, self.now_ms())
    }

    /// S1: moves every tenant on `from` to `to`.
    pub fn downgrade_tenants(&self, from: &str, to: &str) -> Result<Vec<Uuid>> {
        self.downgrade(from, to)
    }

    /// S1: deletes a plan; its tenants fall back to the protected default.
    pub fn delete_plan_and_downgrade(&self, id: &str) -> Result<DeletedPlan> {
        self.delete_plan(id)
    }
}

/// A pre-resolved tenant: checks skip the name lookup. Stays valid while the tenant is
/// registered (after removal it keeps answering from the detached state).
#[derive(Clone)]
pub struct TenantHandle {
    entry: Arc<TenantEntry>,
    gov: Governor,
}

impl std::fmt::Debug for TenantHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantHandle").field("tenant", &self.entry.name).finish()
    }
}

impl TenantHandle {
    /// The tenant's name.
    pub fn name(&self) -> &str {
        self.entry.name()
    }

    /// The tenant's id.
    pub fn id(&self) -> Uuid {
        self.entry.id
    }

    /// The governor's clock (see [`Governor::now_ms`]).
    pub fn now_ms(&self) -> u64 {
        self.gov.now_ms()
    }

    /// [`Governor::check`] without the lookup.
    #[inline]
    pub fn check(&self, resource: &str, cost: u64, now_ms: u64) -> Result<Decision> {
        self.gov.check_entry(&self.entry, resource, cost, now_ms, true)
    }

    /// [`Governor::peek`] without the lookup.
    pub fn peek(&self, resource: &str, cost: u64, now_ms: u64) -> Result<Decision> {
        self.gov.check_entry(&self.entry, resource, cost, now_ms, false)
    }
}

/// A [`TenantHandle`] for one caller's hot loop: it keeps the tenant's profile between checks
/// and reads it again only when it changed (plan change, override, reload), so a check costs
/// one relaxed load instead of an `arc_swap` guard. Checks take `&mut self`; answers are those
/// of [`TenantHandle::check`]. The wasm shell's handle uses it: there the guard was ~15% of a
/// check.
#[derive(Clone)]
pub struct CachedTenantHandle {
    handle: TenantHandle,
    profile: arc_swap::Cache<ProfileCell, Arc<Profile>>,
}

/// An entry seen as its profile cell, for [`arc_swap::Cache`].
#[derive(Clone)]
struct ProfileCell(Arc<TenantEntry>);

impl std::ops::Deref for ProfileCell {
    type Target = ArcSwap<Profile>;
    fn deref(&self) -> &ArcSwap<Profile> {
        &self.0.profile
    }
}

impl std::fmt::Debug for CachedTenantHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTenantHandle").field("tenant", &self.handle.entry.name).finish()
    }
}

impl From<TenantHandle> for CachedTenantHandle {
    fn from(handle: TenantHandle) -> Self {
        let profile = arc_swap::Cache::new(ProfileCell(handle.entry.clone()));
        Self { handle, profile }
    }
}

impl CachedTenantHandle {
    /// The plain handle (for every other operation).
    pub fn handle(&self) -> &TenantHandle {
        &self.handle
    }

    /// [`TenantHandle::check`], with the cached profile.
    #[inline]
    pub fn check(&mut self, resource: &str, cost: u64, now_ms: u64) -> Result<Decision> {
        let profile = self.profile.load();
        self.handle.gov.check_with(&self.handle.entry, profile, resource, cost, now_ms, Take::Consume)
    }
}

#[cfg(test)]
mod layout_tests {
    use super::TenantEntry;
    use std::mem::offset_of;

    #[test]
    fn hot_fields_share_the_first_cache_line() {
        // An `Arc` puts 16 bytes of counts before the entry: the hot fields must end within
        // the next 48 bytes so a check touches one 64-byte line of the entry.
        let meter_second_end = offset_of!(TenantEntry, meter) + 8;
        assert!(offset_of!(TenantEntry, name) < 48 && offset_of!(TenantEntry, profile) < 48);
        assert!(offset_of!(TenantEntry, hot) + 8 <= 48, "hot word at {}", offset_of!(TenantEntry, hot));
        assert!(meter_second_end <= 48, "meter's second counter ends at {meter_second_end}");
    }

    #[test]
    fn a_private_profile_stays_small() {
        // Tenants with overrides or in shadow mode own a profile (the others share their
        // plan's); the flattened `qps` rules are most of it. BENCHMARKS.md quotes the figure.
        let size = std::mem::size_of::<super::Profile>();
        assert!(size <= 120, "{size} bytes");
    }

    #[test]
    fn an_idle_tenant_costs_under_300_bytes() {
        let g = crate::Governor::new();
        for i in 0..1000 {
            g.register(&format!("tenant-{i:05}"), None, crate::IsolationMode::SharedSchema, 0).unwrap();
            g.check(&format!("tenant-{i:05}"), "qps", 1, 0).unwrap();
        }
        let b = g.approx_bytes_per_tenant();
        assert!(b < 300, "{b} bytes per tenant");
    }
}

#[cfg(test)]
mod qps_rule_tests {
    //! The flattened `qps` rules against the general path, on the same profile: two tenants
    //! with the same plan and overrides, one checked through [`Governor::check_with`] (which
    //! must take the flattened rule) and one through [`Governor::check_rule`].
    use super::*;

    fn governor(action: &str) -> Governor {
        let toml = format!(
            "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 10\nburst_allowance = 1.5\n\
             enforcement_action = \"{action}\"\n\
             [[tenant_quotas.overrides]]\ntenant_id = \"fast\"\nmax_qps = 20\nexpires_at = \"1970-01-01T00:00:30Z\"\n\
             [[tenant_quotas.overrides]]\ntenant_id = \"general\"\nmax_qps = 20\nexpires_at = \"1970-01-01T00:00:30Z\"\n"
        );
        let g = Governor::from_toml(&toml).unwrap();
        for t in ["fast", "general"] {
            g.register(t, None, IsolationMode::SharedSchema, 0).unwrap();
            // A runtime override over the configured one, expiring first.
            let o = Override {
                resource: "qps".into(),
                limit: Some(40),
                burst: Some(1.0),
                idle_ms: None,
                expires_at_ms: Some(10_000),
                reason: None,
            };
            g.set_override(t, o, 0).unwrap();
        }
        g
    }

    fn decide(g: &Governor, tenant: &str, fast: bool, cost: u64, now: u64, take: Take) -> Decision {
        g.inner
            .tenants
            .with(tenant.as_bytes(), |s| {
                if fast {
                    assert!(s.profile.qps_at(now).is_some(), "a flattened rule applies at {now}");
                    g.check_with(&s.entry, &s.profile, "qps", cost, now, take)
                } else {
                    g.check_rule(&s.entry, &s.profile, "qps", cost, now, take)
                }
            })
            .unwrap()
            .unwrap()
    }

    #[test]
    fn the_flattened_rules_answer_as_the_general_path() {
        // Forward in uneven steps, with both expiries and the instants before them.
        let mut t = 0;
        let mut times: Vec<u64> = (0..900)
            .map(|i| {
                t += [3, 0, 41, 7, 0, 250][i % 6];
                t
            })
            .collect();
        times.extend([9_999, 10_000, 29_999, 30_000]);
        times.sort_unstable();
        for action in ["throttle", "queue", "reject"] {
            let g = governor(action);
            let mut limits = Vec::new();
            for (step, &now) in times.iter().enumerate() {
                let cost = [1, 1, 2, 1, 5, 1, 0, 30][step % 8];
                match step {
                    300 | 400 => {
                        for t in ["fast", "general"] {
                            g.set_shadow(t, step == 300).unwrap();
                        }
                    }
                    500 | 600 => g.set_global_shadow(step == 500),
                    _ => {}
                }
                for take in [Take::Peek, Take::ConsumeIfNow, Take::Consume] {
                    let fast = decide(&g, "fast", true, cost, now, take);
                    let general = decide(&g, "general", false, cost, now, take);
                    assert_eq!(fast, general, "{action}: step {step} at {now}, cost {cost}, {take:?}");
                    limits.push(fast.limit);
                }
            }
            limits.dedup();
            assert_eq!(limits, [Some(40), Some(20), Some(10)], "{action}: the walk crosses both expiries");
        }
    }
}
