//! Where counters and leases live.
//!
//! A [`Store`] opens one [`TenantState`] per tenant; the governor asks it to run the rules of
//! [`limiter`] and [`quota`](crate::quota) atomically. [`MemoryStore`] keeps
//! the cells in process under a per-tenant lock (no global lock on the hot path). A shared
//! store (`redis::RedisStore`, cargo feature `redis`) implements the same trait by running the
//! same rules as server-side scripts, so the rules above it do not change.

use crate::error::Result;
use crate::limiter::{self, RateCell, RateOutcome, RateParams, RateRequest};
use crate::quota::{
    AcquireOutcome, AcquireParams, CapacityOp, ConcurrencyCell, ConcurrencyStats, DurationCell, LeaseStatus,
    apply_capacity,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

#[cfg(feature = "redis")]
pub mod redis;

/// Hands out lease and ticket ids, unique within a governor.
#[derive(Debug)]
pub struct IdGen(AtomicU64);

impl Default for IdGen {
    fn default() -> Self {
        Self(AtomicU64::new(1))
    }
}

impl IdGen {
    /// A generator whose first id is `first` (e.g. a separate id range for a fallback store).
    pub fn starting_at(first: u64) -> Self {
        Self(AtomicU64::new(first))
    }

    /// The next id.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// What a build without the `redis` feature answers a Redis store.
const NO_REDIS: &str = "this build has no Redis support (core feature `redis`; not available in WebAssembly)";

/// Federated mode's default interval between reservations (S2's `sync_interval`), in ms.
pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 100;

/// Parameters of a duration resource.
#[derive(Debug, Clone, Copy)]
pub struct DurationParams {
    /// Maximum lifetime.
    pub max_ms: Option<u64>,
    /// Maximum idle time.
    pub idle_ms: Option<u64>,
}

/// A factory of per-tenant state.
pub trait Store: Send + Sync {
    /// Opens (or creates) the state of `tenant`.
    fn open(&self, tenant: &str) -> Box<dyn TenantState>;
    /// Opens the state as a [`StateSlot`]; the memory store places its state inline in the
    /// tenant's entry (one pointer chase fewer per check). Other stores keep the default.
    fn open_slot(&self, tenant: &str) -> StateSlot {
        StateSlot::Shared(self.open(tenant))
    }
    /// True if this store keeps a single-window GCRA `qps` entirely in the lent `hot` word
    /// (see [`TenantState::rate`]); the governor then runs that rule on the word directly.
    fn qps_in_hot_word(&self) -> bool {
        false
    }
    /// A short name for diagnostics (`"memory"`, `"redis"`).
    fn kind(&self) -> &'static str;
    /// Runs several rate rules (of any tenants) at once, answering each as
    /// [`TenantState::rate`] would, in order. A remote store sends them in one round trip.
    fn rate_batch(&self, items: &[RateItem<'_>]) -> Vec<Result<RateOutcome>> {
        items.iter().map(|i| i.state.rate(i.resource, i.params, i.req, i.hot)).collect()
    }
    /// Counters of the store's own health (calls, errors, fallback decisions...), as
    /// `(name, value)`; exported by [`Governor::prometheus`](crate::Governor::prometheus) as
    /// `tenantguard_store_<name>`. None for the memory store.
    fn metrics(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    /// Replays now every lease operation kept from a call that failed (releases and undos
    /// made while the store could not answer), all of them, without the pacing that calls
    /// otherwise replay them at. Such operations are otherwise replayed only by later calls,
    /// so a process that goes idle or shuts down calls this (see
    /// [`Governor::flush_store`](crate::Governor::flush_store)). Nothing to do for the
    /// memory store.
    ///
    /// # Errors
    /// [`Error::Store`](crate::Error::Store) when an operation still cannot be replayed,
    /// saying how many remain; they stay queued for a later call.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// One rate rule of a [`Store::rate_batch`].
#[derive(Debug)]
pub struct RateItem<'a> {
    /// The tenant's state.
    pub state: &'a StateSlot,
    /// The resource.
    pub resource: &'static str,
    /// Its windows.
    pub params: &'a RateParams,
    /// The request.
    pub req: RateRequest,
    /// The tenant's hot word (see [`TenantState::rate`]).
    pub hot: &'a AtomicU64,
}

/// The store a host asks for, as the shells receive it (a dict, an object, JSON text): the
/// memory store when `redis_url` is absent, else a `redis::RedisStore` (feature `redis`). Keys are accepted
/// in camelCase and snake_case.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreSpec {
    /// `redis://host:port/db`: share counters and leases through this Redis.
    #[serde(default, alias = "redis_url")]
    pub redis_url: Option<String>,
    /// Key prefix, one per deployment (default `tg`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// `strict` (default) or `federated`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Federated mode's reconciliation interval (default 100 ms).
    #[serde(default, alias = "sync_interval_ms")]
    pub sync_interval_ms: Option<u64>,
    /// `local` (default: in process at the full limit), `local:<share>`, `open` or `closed`.
    #[serde(default, alias = "failure_policy")]
    pub failure_policy: Option<String>,
    /// Per-resource failure policies, e.g. `{"qps": "local:0.25", "connections": "closed"}`.
    #[serde(default, alias = "resource_failure_policies")]
    pub resource_failure_policies: Option<std::collections::BTreeMap<String, String>>,
    /// Bound on each Redis call (default 50 ms).
    #[serde(default, alias = "timeout_ms")]
    pub timeout_ms: Option<u64>,
    /// `server` (default: Redis `TIME`) or `caller` (the `now_ms` of each call).
    #[serde(default)]
    pub time: Option<String>,
    /// TTL of concurrency leases whose resource sets none (leases of dead processes are
    /// reclaimed); default none.
    #[serde(default, alias = "lease_ttl_ms")]
    pub lease_ttl_ms: Option<u64>,
    /// `redis_url` is one node of a Redis Cluster.
    #[serde(default)]
    pub cluster: Option<bool>,
}

impl StoreSpec {
    /// Parses a spec from JSON text.
    pub fn from_json(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| crate::Error::InvalidArgument { name: "store".into(), message: e.to_string() })?;
        Self::from_value(v)
    }

    /// Parses a spec from a JSON value; errors name the offending key (`store.timeoutMs`).
    pub fn from_value(v: serde_json::Value) -> Result<Self> {
        serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let name = if path == "." { "store".to_owned() } else { format!("store.{path}") };
            crate::Error::InvalidArgument { name, message: e.into_inner().to_string() }
        })
    }

    /// The spec for a Redis URL with every other option at its default (the shells' `store`
    /// given as a plain string).
    pub fn url(url: impl Into<String>) -> Self {
        Self { redis_url: Some(url.into()), ..Self::default() }
    }

    /// True when the spec asks for the memory store.
    pub fn is_memory(&self) -> bool {
        self.redis_url.is_none()
    }

    /// Builds the store. Asking for Redis in a build without the `redis` feature (wasm) is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub fn build(&self) -> Result<std::sync::Arc<dyn Store>> {
        let Some(url) = &self.redis_url else {
            if *self != Self::default() {
                return Err(crate::Error::InvalidArgument {
                    name: "store".into(),
                    message: "Redis options given without `redis_url`".into(),
                });
            }
            return Ok(std::sync::Arc::new(MemoryStore::new()));
        };
        self.build_redis(url)
    }

    /// The store of a governor configured with `config`. Without federated mode in the
    /// configuration, the one these options name. With it
    /// ([`Settings::federation`](crate::config::Settings::federation)), the configuration's
    /// Redis unless these options name their own, in federated mode at its `sync_interval`
    /// unless these options set a mode (`"strict"`) or an interval; every other option given
    /// here (failure policy, timeout, prefix...) applies as given.
    ///
    /// # Errors
    /// As [`build`](Self::build); a Redis store the configuration names that this build cannot
    /// open (no Redis support: WebAssembly) is a [`ConfigError`](crate::ConfigError) naming
    /// `tenant_quotas.federation.redis_url`.
    pub fn build_for(&self, config: &crate::Config) -> Result<std::sync::Arc<dyn Store>> {
        let Some(f) = &config.settings.federation else { return self.build() };
        if self.redis_url.is_none() && !cfg!(feature = "redis") {
            return Err(crate::Error::Config(crate::ConfigError {
                key: "tenant_quotas.federation.redis_url".into(),
                line: None,
                column: None,
                message: NO_REDIS.into(),
            }));
        }
        let mode = self.mode.clone().or_else(|| f.mode.clone());
        let federated = mode.as_deref() == Some("federated");
        let sync_interval_ms = self.sync_interval_ms.or(if federated { f.sync_interval_ms } else { None });
        let redis_url = self.redis_url.clone().or_else(|| f.redis_url.clone());
        Self { redis_url, mode, sync_interval_ms, ..self.clone() }.build()
    }

    #[cfg(feature = "redis")]
    fn build_redis(&self, url: &str) -> Result<std::sync::Arc<dyn Store>> {
        use redis::{FailurePolicy, Mode, RedisOptions, RedisStore, TimeSource};
        let bad =
            |name: &str, message: String| crate::Error::InvalidArgument { name: format!("store.{name}"), message };
        let mut o = RedisOptions::new(url);
        if let Some(p) = &self.prefix {
            o = o.prefix(p.clone());
        }
        o.mode = match (self.mode.as_deref(), self.sync_interval_ms) {
            (None | Some("strict"), None) => Mode::Strict,
            (Some("strict"), Some(_)) | (None, Some(_)) => {
                return Err(bad("syncIntervalMs", "only applies to mode `federated`".into()));
            }
            (Some("federated"), ms) => Mode::Federated { sync_interval_ms: ms.unwrap_or(DEFAULT_SYNC_INTERVAL_MS) },
            (Some(m), _) => return Err(bad("mode", format!("unknown mode `{m}` (strict, federated)"))),
        };
        if let Some(p) = &self.failure_policy {
            o.failure = FailurePolicy::parse(p)?;
        }
        for (r, p) in self.resource_failure_policies.iter().flatten() {
            o.resource_failure.insert(r.clone(), FailurePolicy::parse(p)?);
        }
        if let Some(ms) = self.timeout_ms {
            o.timeout = std::time::Duration::from_millis(ms);
        }
        o.lease_ttl_ms = self.lease_ttl_ms;
        o.cluster = self.cluster.unwrap_or(false);
        o.time = match self.time.as_deref() {
            None | Some("server") => TimeSource::Server,
            Some("caller") => TimeSource::Caller,
            Some(t) => return Err(bad("time", format!("unknown time source `{t}` (server, caller)"))),
        };
        Ok(std::sync::Arc::new(RedisStore::new(o)?))
    }

    #[cfg(not(feature = "redis"))]
    fn build_redis(&self, _url: &str) -> Result<std::sync::Arc<dyn Store>> {
        Err(crate::Error::InvalidArgument { name: "store.redisUrl".into(), message: NO_REDIS.into() })
    }
}

/// The counters and leases of one tenant. Every method is atomic with respect to the others.
///
/// `resource` names are interned (`&'static str`), so implementations may compare pointers.
pub trait TenantState: Send + Sync {
    /// Runs a rate rule. `hot` is one atomic word the governor keeps in the tenant's entry,
    /// next to everything else a check touches; an in-process store may keep the `qps` cell
    /// there (the memory store does), other stores ignore it.
    fn rate(
        &self,
        resource: &'static str,
        params: &RateParams,
        req: RateRequest,
        hot: &AtomicU64,
    ) -> Result<RateOutcome>;
    /// `hot` reads 0 where a single-window GCRA `qps` is checked: the tenant never used it, or
    /// `qps` just came back from a several-window plan. A store that keeps that case in `hot`
    /// (see [`rate`](Self::rate)) moves the state it kept elsewhere meanwhile back into it.
    /// The default does nothing.
    fn qps_back_to_hot(&self, hot: &AtomicU64) {
        let _ = hot;
    }
    /// Acquires a concurrency lease (or polls a queue ticket).
    fn acquire(
        &self,
        resource: &'static str,
        p: AcquireParams,
        now_ms: u64,
        ticket: Option<u64>,
        ids: &IdGen,
    ) -> Result<AcquireOutcome>;
    /// Whether `cost` more leases would be granted now, and the active count.
    fn available(&self, resource: &'static str, max: u64, now_ms: u64, cost: u64) -> Result<(bool, u64)>;
    /// Releases a lease; `Ok(false)` if it is not held.
    fn release(&self, resource: &'static str, lease: u64, now_ms: u64) -> Result<bool>;
    /// Abandons a queue ticket; `Ok(false)` if unknown.
    fn cancel(&self, resource: &'static str, ticket: u64) -> Result<bool>;
    /// Concurrency statistics.
    fn concurrency_stats(&self, resource: &'static str) -> Result<ConcurrencyStats>;
    /// Applies a capacity operation; returns (applied, value after).
    fn capacity(&self, resource: &'static str, op: CapacityOp) -> Result<(bool, u64)>;
    /// Starts a duration lease.
    fn begin(&self, resource: &'static str, now_ms: u64, ids: &IdGen) -> Result<u64>;
    /// Records activity on a duration lease (`None` if unknown).
    fn touch(&self, resource: &'static str, lease: u64, now_ms: u64, p: DurationParams) -> Result<Option<LeaseStatus>>;
    /// Ends a duration lease (`None` if unknown).
    fn end(&self, resource: &'static str, lease: u64, now_ms: u64, p: DurationParams) -> Result<Option<LeaseStatus>>;
    /// Active duration leases past a deadline.
    fn expired(&self, resource: &'static str, now_ms: u64, p: DurationParams) -> Result<Vec<(u64, LeaseStatus)>>;
    /// (active, high-water mark, timeouts) of a duration resource.
    fn duration_stats(&self, resource: &'static str) -> Result<(u64, u64, u64)>;
    /// Drops rate state equivalent to a fresh cell; returns how many cells were dropped.
    fn evict_idle(&self, now_ms: u64, params_of: &dyn Fn(&'static str) -> Option<RateParams>, hot: &AtomicU64)
    -> usize;
    /// Approximate bytes of state held.
    fn approx_bytes(&self) -> usize;
    /// For stores that batch: the concrete state behind the trait object.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Where a tenant's state lives: inline (memory store) or behind the store's trait object.
pub enum StateSlot {
    /// In-process state, stored inline.
    Memory(MemoryTenantState),
    /// Any other store.
    Shared(Box<dyn TenantState>),
}

impl std::fmt::Debug for StateSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateSlot::Memory(m) => m.fmt(f),
            StateSlot::Shared(_) => f.write_str("Shared(..)"),
        }
    }
}

impl std::ops::Deref for StateSlot {
    type Target = dyn TenantState;
    fn deref(&self) -> &Self::Target {
        match self {
            StateSlot::Memory(m) => m,
            StateSlot::Shared(b) => &**b,
        }
    }
}

impl StateSlot {
    /// [`TenantState::rate`], statically dispatched for the memory store (the hot path).
    #[inline]
    pub fn rate(
        &self,
        resource: &'static str,
        params: &RateParams,
        req: RateRequest,
        hot: &AtomicU64,
    ) -> Result<RateOutcome> {
        match self {
            StateSlot::Memory(m) => m.rate(resource, params, req, hot),
            StateSlot::Shared(s) => s.rate(resource, params, req, hot),
        }
    }
}

/// The in-process store.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl MemoryStore {
    /// A new memory store.
    pub fn new() -> Self {
        Self
    }
}

impl Store for MemoryStore {
    fn open(&self, _tenant: &str) -> Box<dyn TenantState> {
        Box::new(MemoryTenantState::default())
    }
    fn open_slot(&self, _tenant: &str) -> StateSlot {
        StateSlot::Memory(MemoryTenantState::default())
    }
    fn qps_in_hot_word(&self) -> bool {
        true
    }
    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[derive(Debug)]
enum Cell {
    Rate1(RateCell),
    RateN(Box<[RateCell]>),
    Concurrency(Box<ConcurrencyCell>),
    Capacity(u64),
    Duration(Box<DurationCell>),
}

/// Bytes of in-process state for a rate resource of one tenant in the general cell list
/// (name and cell).
pub const RATE_STATE_BYTES: usize = std::mem::size_of::<(&'static str, Cell)>();

// The issue's budget: at most 64 bytes of rate state per tenant-resource (checked at compile time).
const _: () = assert!(RATE_STATE_BYTES <= 64, "rate state per tenant-resource above 64 bytes");

/// Bytes of the lock-free `qps` cell a single-window GCRA `qps` uses: one atomic word in the
/// tenant's entry.
pub const FAST_RATE_STATE_BYTES: usize = std::mem::size_of::<AtomicU64>();

/// Per-tenant cells of the memory store. A single-window GCRA `qps` lives in the atomic word
/// the governor lends (one compare-and-swap per check, no lock); everything else sits behind
/// one small per-tenant lock.
#[derive(Debug, Default)]
pub struct MemoryTenantState {
    cells: Mutex<Vec<(&'static str, Cell)>>,
}

impl MemoryTenantState {
    fn lock(&self) -> MutexGuard<'_, Vec<(&'static str, Cell)>> {
        self.cells.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot<'a>(
        cells: &'a mut Vec<(&'static str, Cell)>,
        resource: &'static str,
        init: impl FnOnce() -> Cell,
    ) -> &'a mut Cell {
        let i = match cells.iter().position(|(n, _)| std::ptr::eq(*n, resource) || *n == resource) {
            Some(i) => i,
            None => {
                cells.push((resource, init()));
                cells.len() - 1
            }
        };
        &mut cells[i].1
    }

    /// Runs `f` on the resource's cell of one kind (`get` finds it, `make` builds it). A cell of
    /// another kind (the resource changed kind with a plan change) is replaced by a fresh one,
    /// except for a read (`Access::Read`): a read never creates or replaces a cell, and sees a
    /// fresh one instead, so a statistics call cannot wipe another kind's state.
    fn with_cell<C: Default, R>(
        &self,
        resource: &'static str,
        access: Access,
        get: fn(&mut Cell) -> Option<&mut C>,
        make: fn(C) -> Cell,
        f: impl FnOnce(&mut C) -> R,
    ) -> Result<R> {
        let mut g = self.lock();
        if access == Access::Read {
            let found = g.iter_mut().find(|(n, _)| std::ptr::eq(*n, resource) || *n == resource);
            return Ok(match found.and_then(|(_, cell)| get(cell)) {
                Some(c) => f(c),
                None => f(&mut C::default()),
            });
        }
        let cell = Self::slot(&mut g, resource, || make(C::default()));
        if let Some(c) = get(cell) {
            return Ok(f(c));
        }
        let mut fresh = C::default();
        let out = f(&mut fresh);
        *cell = make(fresh);
        Ok(out)
    }

    fn with_conc<R>(
        &self,
        resource: &'static str,
        access: Access,
        f: impl FnOnce(&mut ConcurrencyCell) -> R,
    ) -> Result<R> {
        let get: fn(&mut Cell) -> Option<&mut Box<ConcurrencyCell>> = |c| match c {
            Cell::Concurrency(c) => Some(c),
            _ => None,
        };
        self.with_cell(resource, access, get, Cell::Concurrency, |c| f(c))
    }

    fn with_dur<R>(&self, resource: &'static str, access: Access, f: impl FnOnce(&mut DurationCell) -> R) -> Result<R> {
        let get: fn(&mut Cell) -> Option<&mut Box<DurationCell>> = |c| match c {
            Cell::Duration(c) => Some(c),
            _ => None,
        };
        self.with_cell(resource, access, get, Cell::Duration, |c| f(c))
    }
}

/// The single-window GCRA `qps` check on the tenant's hot word. A word at 0 (never used, or
/// `qps` just back from a several-window plan) first takes back what `state` kept in a cell.
///
/// `state` is a function so that the common case never reads it: the tenant's state slot lies
/// on another cache line of its entry than the hot word (a `perf annotate` of the check by name
/// showed a stall on loading it, on every check, once the tenants outgrow L2).
#[inline(always)]
pub(crate) fn hot_gcra<'a>(
    state: impl FnOnce() -> &'a dyn TenantState,
    hot: &AtomicU64,
    w: &limiter::WindowParams,
    req: RateRequest,
) -> RateOutcome {
    if hot.load(Ordering::Relaxed) == 0 {
        state().qps_back_to_hot(hot);
    }
    limiter::gcra_atomic(hot, w, req)
}

/// Whether a memory-store operation may create or replace a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Statistics and checks that change nothing a fresh cell would not.
    Read,
    /// Acquisitions, releases, gauge changes, duration leases.
    Write,
}

impl TenantState for MemoryTenantState {
    #[inline]
    fn rate(
        &self,
        resource: &'static str,
        params: &RateParams,
        req: RateRequest,
        hot: &AtomicU64,
    ) -> Result<RateOutcome> {
        let is_qps = crate::plan::is_qps(resource);
        if is_qps && params.is_single_gcra() {
            return Ok(hot_gcra(|| self, hot, &params.windows[0], req));
        }
        let mut g = self.lock();
        if is_qps {
            // `qps` left single-window GCRA (plan change): its live state is the hot word,
            // which goes into the first window of the cell (over any older cell's).
            let tat_ns = hot.swap(0, Ordering::Relaxed);
            if tat_ns != 0 {
                let live = RateCell::Gcra { tat_ns };
                match g.iter_mut().find(|(n, _)| *n == resource) {
                    Some((_, Cell::Rate1(c))) => *c = live,
                    Some((_, Cell::RateN(cs))) if !cs.is_empty() => cs[0] = live,
                    Some((_, other)) => *other = Cell::Rate1(live),
                    None => g.push((resource, Cell::Rate1(live))),
                }
            }
        }
        let windows = &params.windows;
        let n = windows.len();
        let cell = Self::slot(&mut g, resource, || {
            if n == 1 { Cell::Rate1(RateCell::Empty) } else { Cell::RateN(vec![RateCell::Empty; n].into_boxed_slice()) }
        });
        match cell {
            Cell::Rate1(c) if n == 1 => Ok(limiter::evaluate(std::slice::from_mut(c), windows, params.algorithm, req)),
            Cell::RateN(cs) if cs.len() == n => Ok(limiter::evaluate(cs, windows, params.algorithm, req)),
            other => {
                // Window count or kind changed (plan change or reload): resize, keeping the
                // first window's state.
                let first = match other {
                    Cell::Rate1(c) => *c,
                    Cell::RateN(cs) => cs.first().copied().unwrap_or_default(),
                    _ => RateCell::Empty,
                };
                let mut cs = vec![RateCell::Empty; n];
                if let Some(f) = cs.first_mut() {
                    *f = first;
                }
                let out = limiter::evaluate(&mut cs, windows, params.algorithm, req);
                *other = if n == 1 { Cell::Rate1(cs[0]) } else { Cell::RateN(cs.into_boxed_slice()) };
                Ok(out)
            }
        }
    }

    fn qps_back_to_hot(&self, hot: &AtomicU64) {
        let mut g = self.lock();
        if let Some(i) = g.iter().position(|(n, _)| *n == crate::plan::QPS) {
            let (_, cell) = g.swap_remove(i);
            let first = match cell {
                Cell::Rate1(c) => c,
                Cell::RateN(cs) => cs.first().copied().unwrap_or_default(),
                _ => RateCell::Empty,
            };
            if let RateCell::Gcra { tat_ns } = first {
                hot.fetch_max(tat_ns, Ordering::Relaxed);
            }
        }
    }

    fn acquire(
        &self,
        resource: &'static str,
        p: AcquireParams,
        now_ms: u64,
        ticket: Option<u64>,
        ids: &IdGen,
    ) -> Result<AcquireOutcome> {
        self.with_conc(resource, Access::Write, |c| c.acquire(p, now_ms, ticket, &mut || ids.next()))
    }

    fn available(&self, resource: &'static str, max: u64, now_ms: u64, cost: u64) -> Result<(bool, u64)> {
        self.with_conc(resource, Access::Read, |c| c.available(max, now_ms, cost))
    }

    fn release(&self, resource: &'static str, lease: u64, now_ms: u64) -> Result<bool> {
        self.with_conc(resource, Access::Write, |c| c.release(lease, now_ms))
    }

    fn cancel(&self, resource: &'static str, ticket: u64) -> Result<bool> {
        self.with_conc(resource, Access::Write, |c| c.cancel(ticket))
    }

    fn concurrency_stats(&self, resource: &'static str) -> Result<ConcurrencyStats> {
        self.with_conc(resource, Access::Read, |c| c.stats())
    }

    fn capacity(&self, resource: &'static str, op: CapacityOp) -> Result<(bool, u64)> {
        let get: fn(&mut Cell) -> Option<&mut u64> = |c| match c {
            Cell::Capacity(used) => Some(used),
            _ => None,
        };
        let access = if matches!(op, CapacityOp::Get) { Access::Read } else { Access::Write };
        self.with_cell(resource, access, get, Cell::Capacity, |used| apply_capacity(used, op))
    }

    fn begin(&self, resource: &'static str, now_ms: u64, ids: &IdGen) -> Result<u64> {
        self.with_dur(resource, Access::Write, |c| {
            let id = ids.next();
            c.begin(id, now_ms);
            id
        })
    }

    fn touch(&self, resource: &'static str, lease: u64, now_ms: u64, p: DurationParams) -> Result<Option<LeaseStatus>> {
        self.with_dur(resource, Access::Write, |c| c.touch(lease, now_ms, p.max_ms, p.idle_ms))
    }

    fn end(&self, resource: &'static str, lease: u64, now_ms: u64, p: DurationParams) -> Result<Option<LeaseStatus>> {
        self.with_dur(resource, Access::Write, |c| c.end(lease, now_ms, p.max_ms, p.idle_ms))
    }

    fn expired(&self, resource: &'static str, now_ms: u64, p: DurationParams) -> Result<Vec<(u64, LeaseStatus)>> {
        self.with_dur(resource, Access::Write, |c| c.expired(now_ms, p.max_ms, p.idle_ms))
    }

    fn duration_stats(&self, resource: &'static str) -> Result<(u64, u64, u64)> {
        self.with_dur(resource, Access::Read, |c| (c.active(), c.high_water_mark, c.timeouts))
    }

    fn evict_idle(
        &self,
        now_ms: u64,
        params_of: &dyn Fn(&'static str) -> Option<RateParams>,
        hot: &AtomicU64,
    ) -> usize {
        let mut dropped = 0;
        let tat = hot.load(Ordering::Relaxed);
        if tat != 0
            && tat <= now_ms.saturating_mul(1_000_000)
            && hot.compare_exchange(tat, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            dropped += 1;
        }
        let mut g = self.lock();
        let before = g.len();
        g.retain(|(name, cell)| {
            let idle = match cell {
                Cell::Rate1(c) => {
                    params_of(name).is_none_or(|p| p.windows.first().is_none_or(|w| c.is_idle(now_ms, w)))
                }
                Cell::RateN(cs) => {
                    params_of(name).is_none_or(|p| cs.iter().zip(p.windows.iter()).all(|(c, w)| c.is_idle(now_ms, w)))
                }
                _ => false,
            };
            !idle
        });
        dropped += before - g.len();
        if g.is_empty() {
            *g = Vec::new();
        }
        dropped
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn approx_bytes(&self) -> usize {
        let g = self.lock();
        let mut n = std::mem::size_of::<Self>() + g.capacity() * std::mem::size_of::<(&'static str, Cell)>();
        for (_, c) in g.iter() {
            n += match c {
                Cell::RateN(cs) => cs.len() * std::mem::size_of::<RateCell>(),
                Cell::Concurrency(_) => std::mem::size_of::<ConcurrencyCell>(),
                Cell::Duration(_) => std::mem::size_of::<DurationCell>(),
                _ => 0,
            };
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_specs() {
        assert_eq!(StoreSpec::from_json("{}").and_then(|s| s.build()).map(|s| s.kind()).ok(), Some("memory"));
        let e = StoreSpec::from_json(r#"{"redisUrl": "redis://x/", "bogus": 1}"#).err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("bogus")));
        let e = StoreSpec::from_json(r#"{"mode": "federated"}"#).and_then(|s| s.build()).err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("without `redis_url`")));
        // snake_case aliases
        let s = StoreSpec::from_json(r#"{"redis_url": "redis://127.0.0.1:1/", "failure_policy": "closed"}"#).ok();
        assert_eq!(s.as_ref().and_then(|s| s.failure_policy.as_deref()), Some("closed"));
        let built = s.map(|s| s.build().map(|st| st.kind()));
        #[cfg(feature = "redis")]
        assert_eq!(built.and_then(|b| b.ok()), Some("redis"));
        #[cfg(not(feature = "redis"))]
        assert!(built.is_some_and(|b| b.is_err()));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_specs_are_checked() {
        let bad = |json: &str| StoreSpec::from_json(json).and_then(|s| s.build()).err().map(|e| e.to_string());
        let u = r#""redisUrl": "redis://127.0.0.1:1/""#;
        assert!(bad(&format!("{{{u}, \"mode\": \"eventual\"}}")).is_some_and(|m| m.contains("unknown mode")));
        assert!(bad(&format!("{{{u}, \"syncIntervalMs\": 5}}")).is_some_and(|m| m.contains("federated")));
        assert!(bad(&format!("{{{u}, \"failurePolicy\": \"local:2\"}}")).is_some_and(|m| m.contains("(0, 1]")));
        assert!(bad(&format!("{{{u}, \"failurePolicy\": \"maybe\"}}")).is_some_and(|m| m.contains("unknown policy")));
        assert!(bad(&format!("{{{u}, \"time\": \"local\"}}")).is_some_and(|m| m.contains("time source")));
        assert!(
            bad(&format!("{{{u}, \"mode\": \"federated\", \"syncIntervalMs\": 0}}"))
                .is_some_and(|m| m.contains("positive"))
        );
        assert!(bad(r#"{"redisUrl": "http://x"}"#).is_some_and(|m| m.contains("redis_url")));
        assert!(bad(&format!("{{{u}, \"leaseTtlMs\": 0}}")).is_some_and(|m| m.contains("lease_ttl")));
        assert_eq!(
            bad(&format!("{{{u}, \"mode\": \"federated\", \"resourceFailurePolicies\": {{\"qps\": \"open\"}}}}")),
            None
        );
    }
    use crate::quota::CapacityOp;

    #[test]
    fn a_resource_that_changes_kind_starts_afresh() {
        let s = MemoryTenantState::default();
        let ids = IdGen::default();
        assert_eq!(s.capacity("r", CapacityOp::Set(7)).ok(), Some((true, 7)));
        // Now a concurrency resource (plan change): no leases yet, then one.
        assert_eq!(s.available("r", 1, 0, 1).ok(), Some((true, 0)));
        let p = AcquireParams { max: 1, lease_ttl_ms: None, queue: false, max_wait_ms: 0 };
        assert!(matches!(s.acquire("r", p, 0, None, &ids), Ok(AcquireOutcome::Granted { active: 1, .. })));
        assert_eq!(s.available("r", 1, 0, 1).ok(), Some((false, 1)));
        // Back to capacity: the old value 7 is gone.
        assert_eq!(s.capacity("r", CapacityOp::Get).ok(), Some((true, 0)));
        // And a duration lease on it starts from nothing.
        assert_eq!(s.duration_stats("r").ok().map(|(active, _, _)| active), Some(0));
    }
}
