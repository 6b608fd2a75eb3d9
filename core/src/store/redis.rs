//! A [`Store`] on Redis: one tenant's counters and leases shared by every process (and host
//! language) that points at the same server, in *strict* mode (every decision is one atomic
//! server-side script, one round trip).
//!
//! The rules run as Lua scripts (`store/lua/`), called with `EVALSHA` (loaded on first use and
//! again after a server restart). They are line-for-line twins of the Rust rules in
//! [`limiter`](crate::limiter) and [`quota`](crate::quota); a differential test replays random
//! request sequences through both and the conformance corpus runs against this store.
//!
//! # Time
//! With [`TimeSource::Server`] (the default) the scripts read the Redis server's `TIME`, so
//! processes whose clocks disagree still share one timeline; the `now_ms` the governor passes
//! is ignored for the store's state (its own bookkeeping, e.g. usage metering, still uses it).
//! [`TimeSource::Caller`] uses the caller's `now_ms` instead: deterministic replays (the
//! conformance corpus) and single-clock deployments. Mixing the two on one prefix is a
//! mistake: the timelines differ.
//!
//! # Keys
//! Every key of a tenant carries the tenant name as a hash tag, `<prefix>:{<tenant>}:...`, so
//! each script touches one cluster slot and runs on Redis Cluster. `{`, `}`, `%` and `:` in
//! names are percent-encoded ([`RedisOptions::cluster`] connects to a cluster). Rate cells live in one hash per tenant that expires once every
//! cell is idle (server time only); concurrency and duration leases, capacity gauges and
//! statistics persist until deleted.
//!
//! # Numbers
//! Redis runs Lua 5.1, whose numbers are doubles: every value handled by a script must stay
//! below 2^53. Parameters that could leave that range (a GCRA window whose burst span exceeds
//! ~104 days, a window counter whose `limit × window_ms` exceeds 2^51, gauge values above
//! 2^53) are refused with [`Error::InvalidArgument`] rather than decided imprecisely.
//!
//! # Failures
//! Every call is bounded by [`RedisOptions::timeout`] (default 50 ms) for connecting, writing
//! and reading. A connection that failed or timed out is dropped with the rest of the pool,
//! and for a backoff (25 ms doubling to 2 s) calls do not wait on the network at all; then a
//! new connection is tried. The scripts are loaded again after a server restart.
//!
//! While Redis cannot answer, rate checks and lease acquisitions follow the resource's
//! [`FailurePolicy`]: admit, refuse, or enforce in process at a share of the limit (the
//! default, with share 1). Leases granted in process carry ids with [`LOCAL_LEASE_BIT`] set and
//! are released in process; releases of Redis leases that fail are kept and replayed once
//! Redis answers again, so no lease leaks and nothing is counted twice. Other operations
//! (capacity gauges, transactions, statistics) report [`Error::Store`]. [`RedisStore::stats`]
//! counts calls, errors, reconnects and fallback decisions. The backoff reads the system's
//! monotonic clock: it schedules I/O and takes no part in any decision.

use super::{DurationParams, IdGen, MemoryTenantState, Store, TenantState};
use crate::error::{Error, Result};
use crate::limiter::{RateCell, RateOutcome, RateParams, RateRequest};
use crate::plan::RateAlgorithm;
use crate::quota::{AcquireOutcome, AcquireParams, CapacityOp, ConcurrencyStats, LeaseStatus, lease_status};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest integer a Redis Lua number holds exactly.
pub const LUA_MAX_INT: u64 = 1 << 53;

const NS_PER_MS: u64 = 1_000_000;

/// Which clock a [`RedisStore`] decides with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeSource {
    /// The Redis server's `TIME` (one timeline for every process).
    #[default]
    Server,
    /// The `now_ms` passed by the caller (deterministic replay, single-clock deployments).
    Caller,
}

/// Set in the ids of leases and queue tickets granted in process while Redis was unreachable
/// (2^52: ids from Redis stay below it, and JavaScript numbers hold it exactly).
pub const LOCAL_LEASE_BIT: u64 = 1 << 52;

/// What a rate check or lease acquisition decides when Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailurePolicy {
    /// Admit everything (availability first). Leases are granted in process, uncounted.
    FailOpen,
    /// Refuse everything (enforcement first), with a retry-after of one second.
    FailClosed,
    /// Enforce in process at `share` (0 < share ≤ 1) of every limit: with N processes,
    /// 1/N keeps the total near the limit.
    Local {
        /// Fraction of the limits (and burst capacity) this process may admit alone.
        share: f64,
    },
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy::Local { share: 1.0 }
    }
}

impl FailurePolicy {
    /// Parses `open`, `closed`, `local` (share 1) or `local:<share>`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |m: String| Error::InvalidArgument { name: "failure_policy".into(), message: m };
        match text {
            "open" | "fail-open" => Ok(Self::FailOpen),
            "closed" | "fail-closed" => Ok(Self::FailClosed),
            "local" => Ok(Self::default()),
            t => match t.strip_prefix("local:") {
                Some(share) => {
                    let share: f64 = share.parse().map_err(|_| bad(format!("`{share}` is not a number")))?;
                    let p = Self::Local { share };
                    p.validate()?;
                    Ok(p)
                }
                None => Err(bad(format!("unknown policy `{t}` (open, closed, local, local:<share>)"))),
            },
        }
    }

    fn validate(&self) -> Result<()> {
        match *self {
            Self::Local { share } if !(share > 0.0 && share <= 1.0) => Err(Error::InvalidArgument {
                name: "failure_policy".into(),
                message: format!("local share {share} must be in (0, 1]"),
            }),
            _ => Ok(()),
        }
    }
}

/// How rate decisions reach Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every decision is one atomic script on Redis: exact, one round trip per check.
    #[default]
    Strict,
    /// S2's federated quotas with proportional allocation. Each process reports its demand
    /// (units asked for per interval, smoothed) to Redis and reserves its share of the limit
    /// for the next `sync_interval_ms` (default 100): demand / total demand of the processes
    /// seen in the last three intervals. It admits from that reservation locally; when the
    /// interval ends the next request goes to Redis (decided exactly, as in strict mode) and
    /// takes the next reservation in the same round trip. A process that runs out early has
    /// its requests decided one by one in Redis until then.
    ///
    /// Error bound: every unit admitted was taken from the shared limit in Redis, but a
    /// reservation may reach one interval ahead, so over any window of T ms the fleet admits at
    /// most burst + limit × (T + sync_interval) / window. Units reserved and not used are
    /// dropped when the interval ends (the fleet then admits less than the limit). A refusal
    /// is remembered for its retry-after, at least a tenth and at most one interval.
    /// Concurrency, capacity and duration resources stay strict.
    Federated {
        /// How long reserved units (and remembered refusals) stay valid, in ms.
        sync_interval_ms: u64,
    },
}

impl Mode {
    /// Federated mode with the default 100 ms interval.
    pub fn federated() -> Self {
        Mode::Federated { sync_interval_ms: super::DEFAULT_SYNC_INTERVAL_MS }
    }
}

/// How to reach Redis and how to name keys.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisOptions {
    /// A `redis://` (or `rediss://`, `redis+unix://`) URL.
    pub url: String,
    /// Key prefix: one per deployment (no `{` or `}`). Default `tg`.
    pub prefix: String,
    /// The clock of decisions. Default [`TimeSource::Server`].
    pub time: TimeSource,
    /// Bound on connecting, writing and reading, per call. Default 50 ms.
    pub timeout: Duration,
    /// Policy while Redis cannot answer. Default: local enforcement at the full limit.
    pub failure: FailurePolicy,
    /// Per-resource policies, overriding `failure`.
    pub resource_failure: BTreeMap<String, FailurePolicy>,
    /// Strict (default) or federated.
    pub mode: Mode,
    /// `url` is one node of a Redis Cluster (the others are discovered). Every script touches
    /// one tenant's keys, which share a hash slot.
    pub cluster: bool,
    /// TTL given to concurrency leases whose resource sets none, so that the leases of a
    /// process that dies are reclaimed. Default none: a holder that keeps a lease longer
    /// (a pooled database connection) would lose it, so choose it above the longest hold.
    pub lease_ttl_ms: Option<u64>,
}

impl RedisOptions {
    /// Options for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "tg".into(),
            time: TimeSource::Server,
            timeout: Duration::from_millis(50),
            failure: FailurePolicy::default(),
            resource_failure: BTreeMap::new(),
            mode: Mode::Strict,
            lease_ttl_ms: None,
            cluster: false,
        }
    }
    /// Sets the key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Sets the time source.
    pub fn time(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }
    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Treats `url` as a seed node of a Redis Cluster.
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }
    /// Sets the default lease TTL (see [`RedisOptions::lease_ttl_ms`]).
    pub fn lease_ttl_ms(mut self, ttl: u64) -> Self {
        self.lease_ttl_ms = Some(ttl);
        self
    }
    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// Sets the default failure policy.
    pub fn failure(mut self, policy: FailurePolicy) -> Self {
        self.failure = policy;
        self
    }
    /// Sets the failure policy of one resource.
    pub fn resource_failure(mut self, resource: impl Into<String>, policy: FailurePolicy) -> Self {
        self.resource_failure.insert(resource.into(), policy);
        self
    }
    fn policy(&self, resource: &str) -> FailurePolicy {
        self.resource_failure.get(resource).copied().unwrap_or(self.failure)
    }
}

/// Counters of a [`RedisStore`]'s traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Script calls answered.
    pub calls: u64,
    /// Calls that failed (connection, timeout, server error).
    pub errors: u64,
    /// Connections opened (the first and every reconnect).
    pub connects: u64,
    /// Cluster calls sent on to a slot's importing node (an ASK redirect during a migration).
    pub ask_redirects: u64,
    /// Decisions taken by a failure policy because Redis could not answer.
    pub fallbacks: u64,
    /// Lease releases waiting for Redis to come back.
    pub pending_releases: u64,
}

struct Scripts {
    rate: redis::Script,
    concurrency: redis::Script,
    duration: redis::Script,
    capacity: redis::Script,
    evict: redis::Script,
}

macro_rules! lua {
    ($file:literal) => {
        redis::Script::new(concat!(include_str!("lua/prelude.lua"), include_str!(concat!("lua/", $file))))
    };
}

#[derive(Default)]
struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// One more failure: wait 25 ms, doubling per failure up to `cap_ms`.
    fn fail(&mut self, cap_ms: u64) {
        self.failures = self.failures.saturating_add(1);
        let ms = (25u64 << self.failures.clamp(1, 8).saturating_sub(1)).min(cap_ms);
        self.until = Some(Instant::now() + Duration::from_millis(ms));
    }

    /// Whether it is still running.
    fn active(&self) -> bool {
        self.until.is_some_and(|until| Instant::now() < until)
    }
}

struct Inner {
    client: Client,
    opts: RedisOptions,
    pool: Mutex<Vec<Conn>>,
    backoff: Mutex<Backoff>,
    scripts: Scripts,
    calls: AtomicU64,
    errors: AtomicU64,
    connects: AtomicU64,
    asks: AtomicU64,
    fallbacks: AtomicU64,
    /// Lease operations that failed or timed out, replayed in order once Redis answers (by
    /// the next call of any tenant).
    pending: Mutex<std::collections::VecDeque<Pending>>,
    pending_count: AtomicU64,
    /// When a replay failed while Redis otherwise answers (a slot migrating): replays wait
    /// until then (25 ms doubling to 1 s), so that calls do not each retry the stuck entry.
    /// Cleared when Redis recovers from an outage.
    replay_backoff: Mutex<Backoff>,
    /// The connection to the importing node of the last ASK redirect followed, with the
    /// scripts loaded there (a migration sends many calls to one node).
    ask_con: Mutex<Option<(String, redis::Connection)>>,
    /// Keys drawn from the OS's randomness: lease and ticket ids are hashes of a counter.
    id_keys: std::collections::hash_map::RandomState,
    id_seq: AtomicU64,
    /// This store's name among the processes sharing a federated limit (random).
    member: String,
}

/// A single server or a cluster (found from one seed node).
enum Client {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

/// A pooled connection.
enum Conn {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Conn {
    fn like(&mut self) -> &mut dyn redis::ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => &mut **c,
        }
    }
}

/// The Redis store. Cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("options", &self.inner.opts).finish_non_exhaustive()
    }
}

fn store_err(e: &redis::RedisError) -> Error {
    Error::Store(format!("redis: {e}"))
}

/// Percent-encodes the characters that would break a key's structure or its hash tag.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
}

fn lua_int(v: u64, name: &str) -> Result<u64> {
    if v > LUA_MAX_INT {
        return Err(Error::InvalidArgument {
            name: name.to_owned(),
            message: format!("{v} exceeds 2^53, the largest integer the Redis store's scripts hold exactly"),
        });
    }
    Ok(v)
}

/// Values meaning "no bound" (u64::MAX) are clamped to 2^53, which no script value reaches.
fn clamp(v: u64) -> u64 {
    v.min(LUA_MAX_INT)
}

fn opt_arg(v: Option<u64>) -> String {
    v.map(|v| clamp(v).to_string()).unwrap_or_else(|| "-1".to_owned())
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn reply(v: &[i64], i: usize) -> Result<u64> {
    v.get(i).map(|&x| u(x)).ok_or_else(|| Error::Store(format!("redis: script reply too short ({} values)", v.len())))
}

impl RedisStore {
    /// Connects lazily: this only checks the options. The first call opens a connection.
    pub fn new(opts: RedisOptions) -> Result<Self> {
        if opts.prefix.contains(['{', '}']) {
            return Err(Error::InvalidArgument {
                name: "prefix".into(),
                message: format!("`{}` contains `{{` or `}}`, which would break the per-tenant hash tags", opts.prefix),
            });
        }
        opts.failure.validate()?;
        for p in opts.resource_failure.values() {
            p.validate()?;
        }
        if opts.mode == (Mode::Federated { sync_interval_ms: 0 }) {
            return Err(Error::InvalidArgument { name: "sync_interval".into(), message: "must be positive".into() });
        }
        if opts.lease_ttl_ms == Some(0) {
            return Err(Error::InvalidArgument {
                name: "lease_ttl".into(),
                message: "must be at least 1 ms (0 would reclaim every lease at the next call)".into(),
            });
        }
        if opts.timeout.is_zero() {
            return Err(Error::InvalidArgument { name: "timeout".into(), message: "must be positive".into() });
        }
        let bad_url =
            |e: redis::RedisError| Error::InvalidArgument { name: "redis_url".into(), message: e.to_string() };
        let client = if opts.cluster {
            let c = redis::cluster::ClusterClientBuilder::new(vec![opts.url.as_str()])
                .connection_timeout(opts.timeout)
                .response_timeout(opts.timeout)
                // No resends: a script that timed out may have run, and running it again (an
                // acquisition, a gauge add, a begin) would apply it twice. The store's own
                // undo and replay handle what a failed call may have done.
                .retries(0)
                .build()
                .map_err(bad_url)?;
            Client::Cluster(c)
        } else {
            Client::Single(redis::Client::open(opts.url.as_str()).map_err(bad_url)?)
        };
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                opts,
                pool: Mutex::new(Vec::new()),
                backoff: Mutex::new(Backoff::default()),
                scripts: Scripts {
                    rate: lua!("rate.lua"),
                    concurrency: lua!("concurrency.lua"),
                    duration: lua!("duration.lua"),
                    capacity: lua!("capacity.lua"),
                    evict: lua!("evict.lua"),
                },
                calls: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                connects: AtomicU64::new(0),
                asks: AtomicU64::new(0),
                fallbacks: AtomicU64::new(0),
                pending: Mutex::new(std::collections::VecDeque::new()),
                pending_count: AtomicU64::new(0),
                replay_backoff: Mutex::new(Backoff::default()),
                ask_con: Mutex::new(None),
                id_keys: std::collections::hash_map::RandomState::new(),
                id_seq: AtomicU64::new(0),
                member: {
                    use std::hash::BuildHasher;
                    format!("{:016x}", std::collections::hash_map::RandomState::new().hash_one(std::process::id()))
                },
            }),
        })
    }

    /// A store at `url` with the default options.
    pub fn open(url: &str) -> Result<Self> {
        Self::new(RedisOptions::new(url))
    }

    /// The options.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.opts
    }

    /// Traffic counters.
    pub fn stats(&self) -> RedisStats {
        RedisStats {
            calls: self.inner.calls.load(Ordering::Relaxed),
            errors: self.inner.errors.load(Ordering::Relaxed),
            connects: self.inner.connects.load(Ordering::Relaxed),
            ask_redirects: self.inner.asks.load(Ordering::Relaxed),
            fallbacks: self.inner.fallbacks.load(Ordering::Relaxed),
            pending_releases: self.inner.pending_count.load(Ordering::Relaxed),
        }
    }

    /// Round trip to the server (`PING`): `Ok` when it answers within the timeout.
    pub fn ping(&self) -> Result<()> {
        self.inner.call(|c| redis::cmd("PING").query::<String>(c).map(|_| ()))
    }

    /// Deletes every key under this store's prefix (tests and decommissioning; walks the
    /// keyspace with `SCAN`, so it is slow on large databases). Returns how many were deleted.
    /// Single servers only: on a cluster it is an [`Error::InvalidArgument`].
    pub fn clear(&self) -> Result<u64> {
        if self.inner.opts.cluster {
            return Err(Error::InvalidArgument {
                name: "cluster".into(),
                message: "clear() walks one server's keyspace; not available on a cluster".into(),
            });
        }
        let mut pattern = String::new();
        for c in self.inner.opts.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push_str(":{*");
        self.inner.call(|c| {
            let (mut cursor, mut n) = (0u64, 0u64);
            loop {
                let (next, keys): (u64, Vec<String>) =
                    redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query(c)?;
                if !keys.is_empty() {
                    n += redis::cmd("DEL").arg(&keys).query::<u64>(c)?;
                }
                if next == 0 {
                    return Ok(n);
                }
                cursor = next;
            }
        })
    }
}

impl Inner {
    /// Fails at once while a backoff is running.
    fn check_backoff(&self) -> Result<()> {
        let b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = b.until {
            let now = Instant::now();
            if now < until {
                return Err(Error::Store(format!(
                    "redis: unavailable after {} failed attempts (next attempt in {} ms)",
                    b.failures,
                    (until - now).as_millis()
                )));
            }
        }
        Ok(())
    }

    /// Records a failed attempt: drops every pooled connection (after a restart or a stall
    /// they are all suspect) and starts or extends the backoff.
    fn failed(&self) {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).fail(2_000);
    }

    fn succeeded(&self) {
        let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        if b.failures != 0 || b.until.is_some() {
            *b = Backoff::default();
            // Recovered from an outage: replay at once.
            *self.replay_backoff.lock().unwrap_or_else(|p| p.into_inner()) = Backoff::default();
        }
    }

    fn connect(&self) -> Result<Conn> {
        let t = self.opts.timeout;
        let con = match &self.client {
            Client::Single(client) => client
                .get_connection_with_timeout(t)
                .and_then(|c| {
                    c.set_read_timeout(Some(t))?;
                    c.set_write_timeout(Some(t))?;
                    Ok(c)
                })
                .map(Conn::Single),
            Client::Cluster(client) => client.get_connection().map(|c| Conn::Cluster(Box::new(c))),
        };
        match con {
            Ok(c) => {
                self.connects.fetch_add(1, Ordering::Relaxed);
                Ok(c)
            }
            Err(e) => {
                self.failed();
                Err(store_err(&e))
            }
        }
    }

    /// Runs `f` on a pooled connection. A connection that failed is dropped, not pooled.
    fn call<R>(&self, f: impl FnMut(&mut dyn redis::ConnectionLike) -> redis::RedisResult<R>) -> Result<R> {
        self.call_flagged(f).map_err(|(e, _)| e)
    }

    /// [`Inner::call`], telling on failure whether the command may have reached the server
    /// (a timeout after writing: the server may still run it).
    fn call_flagged<R>(
        &self,
        f: impl FnMut(&mut dyn redis::ConnectionLike) -> redis::RedisResult<R>,
    ) -> std::result::Result<R, (Error, bool)> {
        let out = self.try_call(f);
        match &out {
            Ok(_) => {
                self.calls.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        out
    }

    fn try_call<R>(
        &self,
        mut f: impl FnMut(&mut dyn redis::ConnectionLike) -> redis::RedisResult<R>,
    ) -> std::result::Result<R, (Error, bool)> {
        self.check_backoff().map_err(|e| (e, false))?;
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut con = match pooled {
            Some(c) => c,
            None => self.connect().map_err(|e| (e, false))?,
        };
        match f(con.like()) {
            Ok(r) => {
                self.succeeded();
                self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(con);
                Ok(r)
            }
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain) => {
                // A script of several keys during its slot's migration: this call cannot run
                // until the keys have moved. That concerns the tenants of one slot only, so no
                // backoff for everyone, and the connection is fine.
                self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(con);
                Err((store_err(&e), false))
            }
            Err(e) if matches!(e.retry_method(), redis::RetryMethod::AskRedirect) => {
                // The tenant's slot is migrating and its keys are not on this node: the command
                // did not run. The cluster connection is fine (its slot map is right until the
                // migration ends); the command goes to the importing node, once.
                self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(con);
                match e.redirect_node() {
                    Some((addr, _slot)) => {
                        let addr = addr.to_owned();
                        self.follow_ask(&addr, &mut f)
                    }
                    None => Err((store_err(&e), false)),
                }
            }
            Err(e) => {
                if e.is_timeout() {
                    // A stalled server: back off so that nothing else waits for it.
                    self.failed();
                } else if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                    || e.is_cluster_error()
                {
                    if e.is_cluster_error() && e.redirect_node().is_none() {
                        // CLUSTERDOWN: the cluster is not serving; back off rather than
                        // rebuild a cluster connection on every call.
                        self.failed();
                    }
                    // A dead connection (idle timeout, server restart), or a cluster whose slots
                    // moved (the connection does not resend, so it does not follow MOVED itself):
                    // the others in the pool are suspect too; the next call connects afresh,
                    // reading the slot map again (and backs off if that fails).
                    self.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
                } else {
                    // A server-side error (e.g. a script error): the connection is fine.
                    self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(con);
                }
                Err((store_err(&e), true))
            }
        }
    }

    /// Runs `f` on the node an ASK redirect named (`host:port`), on a connection of its own
    /// after `ASKING`, as the cluster protocol asks during a slot migration: two round trips
    /// (plus connecting and loading the scripts the first time). `ASKING` covers the next
    /// command only, so the scripts are loaded there first: an `EVALSHA` that met `NOSCRIPT`
    /// would retry without it and be redirected back.
    fn follow_ask<R>(
        &self,
        addr: &str,
        f: &mut impl FnMut(&mut dyn redis::ConnectionLike) -> redis::RedisResult<R>,
    ) -> std::result::Result<R, (Error, bool)> {
        use redis::IntoConnectionInfo;
        let t = self.opts.timeout;
        let connect = || -> redis::RedisResult<redis::Connection> {
            let (host, port) = addr
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| {
                    redis::RedisError::from((redis::ErrorKind::Client, "bad ASK address", addr.to_owned()))
                })?;
            let info = self.opts.url.as_str().into_connection_info()?.set_addr(redis::ConnectionAddr::Tcp(host, port));
            let c = redis::Client::open(info)?.get_connection_with_timeout(t)?;
            c.set_read_timeout(Some(t))?;
            c.set_write_timeout(Some(t))?;
            Ok(c)
        };
        let cached = self.ask_con.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut con = match cached {
            Some((a, c)) if a == addr => c,
            _ => {
                let mut c = connect().map_err(|e| (store_err(&e), false))?;
                let s = &self.scripts;
                for script in [&s.rate, &s.concurrency, &s.duration, &s.capacity, &s.evict] {
                    script.prepare_invoke().load(&mut c).map_err(|e| (store_err(&e), false))?;
                }
                c
            }
        };
        redis::cmd("ASKING").query::<()>(&mut con).map_err(|e| (store_err(&e), false))?;
        let out = f(&mut con);
        // TRYAGAIN (a script of several keys, not all of them moved yet) did not run, and
        // leaves the connection fine; any other error drops it.
        let try_again =
            out.as_ref().is_err_and(|e| e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain));
        if out.is_ok() || try_again {
            *self.ask_con.lock().unwrap_or_else(|p| p.into_inner()) = Some((addr.to_owned(), con));
        }
        out.inspect(|_| {
            self.asks.fetch_add(1, Ordering::Relaxed);
        })
        .map_err(|e| (store_err(&e), !try_again))
    }

    /// A fresh lease or ticket id: random in [1, 2^52), unique with overwhelming probability
    /// across processes (the script refuses an id in use and the caller draws again).
    fn random_id(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = self.id_keys.build_hasher();
        h.write_u64(self.id_seq.fetch_add(1, Ordering::Relaxed));
        h.finish() % (LOCAL_LEASE_BIT - 1) + 1
    }

    fn run_script(&self, script: &redis::Script, keys: &[String], args: &[String]) -> Result<Vec<i64>> {
        self.call(|c| {
            let mut inv = script.prepare_invoke();
            for k in keys {
                inv.key(k);
            }
            for a in args {
                inv.arg(a);
            }
            inv.invoke::<Vec<i64>>(c)
        })
    }

    /// Replays the pending lease operations, oldest first, a bounded number per call; stops
    /// at the first failure.
    fn flush_pending(&self) -> Result<()> {
        /// Replays per call: after a long outage the backlog is worked off by many calls, none
        /// of which waits for all of it.
        const BUDGET: usize = 64;
        if self.pending_count.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        if self.replay_backoff.lock().unwrap_or_else(|p| p.into_inner()).active() {
            return Ok(());
        }
        // Another call is replaying: go on rather than wait for it. Not replayed yet means a
        // release or undo still to come, so the answers meanwhile are only more cautious.
        let mut pending = match self.pending.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
        };
        // A failure is this call's own round trip's to meet (it goes on either way).
        let _ = self.replay(&mut pending, BUDGET, false);
        Ok(())
    }

    /// Replays up to `budget` pending lease operations, oldest first. One that fails is kept,
    /// at the back (an entry that cannot be replayed now, its node down or its slot moving,
    /// must not hold back the others). The pass stops there, or with `go_on` goes on unless
    /// the failure started the global backoff (Redis down: the rest would fail alike). A
    /// failure starts the replay backoff and is answered.
    fn replay(&self, pending: &mut std::collections::VecDeque<Pending>, budget: usize, go_on: bool) -> Result<()> {
        let mut failure = None;
        for _ in 0..budget.min(pending.len()) {
            let Some(p) = pending.pop_front() else { break };
            if let Err(e) = self.replay_one(&p) {
                pending.push_back(p);
                failure = Some(e);
                if !go_on || self.backoff.lock().unwrap_or_else(|p| p.into_inner()).active() {
                    break;
                }
            }
        }
        let mut replay_backoff = self.replay_backoff.lock().unwrap_or_else(|p| p.into_inner());
        match failure {
            None => {
                *replay_backoff = Backoff::default();
                Ok(())
            }
            Some(e) => {
                replay_backoff.fail(1_000);
                Err(e)
            }
        }
    }

    /// Replays one kept operation; once it went through it leaves the count.
    fn replay_one(&self, p: &Pending) -> Result<()> {
        let args = [self.now_arg(p.now_ms), p.op.to_owned(), p.id.to_string()];
        self.run_script(&self.scripts.concurrency, &p.keys, &args)?;
        self.pending_count.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    /// [`Store::flush`]: one pass over the whole queue, past entries that fail alone.
    fn replay_all(&self) -> Result<()> {
        // Waits for a call that is replaying: this one must see the queue empty or fail.
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.is_empty() {
            return Ok(());
        }
        // An explicit flush (a process about to exit) tries now, even inside the wait that
        // an earlier failure started: Redis may be back already. Another failure restarts it.
        self.backoff.lock().unwrap_or_else(|p| p.into_inner()).until = None;
        self.replay(&mut pending, usize::MAX, true).map_err(|e| {
            let cause = match e {
                Error::Store(m) => m,
                other => other.to_string(),
            };
            Error::Store(format!("{} lease operation(s) still to replay: {cause}", pending.len()))
        })
    }

    fn now_arg(&self, now_ms: u64) -> String {
        match self.opts.time {
            TimeSource::Server => String::new(),
            TimeSource::Caller => now_ms.to_string(),
        }
    }
}

impl Store for RedisStore {
    fn open(&self, tenant: &str) -> Box<dyn TenantState> {
        let base = format!("{}:{{{}}}", self.inner.opts.prefix, escape(tenant));
        Box::new(RedisTenantState {
            inner: self.inner.clone(),
            base,
            fallback: MemoryTenantState::default(),
            fallback_hot: AtomicU64::new(0),
            local_ids: IdGen::starting_at(LOCAL_LEASE_BIT | 1),
            allocations: Mutex::new(Vec::new()),
        })
    }
    fn kind(&self) -> &'static str {
        "redis"
    }
    /// Strict mode on one server: every rate script of the batch in one pipelined round trip.
    /// Federated mode (decided locally) and clusters (keys on several nodes) go one by one.
    fn rate_batch(&self, items: &[super::RateItem<'_>]) -> Vec<Result<RateOutcome>> {
        let one_by_one = |items: &[super::RateItem<'_>]| -> Vec<Result<RateOutcome>> {
            items.iter().map(|i| i.state.rate(i.resource, i.params, i.req, i.hot)).collect()
        };
        if self.inner.opts.mode != Mode::Strict || self.inner.opts.cluster || items.len() < 2 {
            return one_by_one(items);
        }
        let states: Vec<Option<&RedisTenantState>> =
            items.iter().map(|i| (*i.state).as_any().downcast_ref::<RedisTenantState>()).collect();
        if states.iter().any(Option::is_none) {
            return one_by_one(items);
        }
        let mut out: Vec<Option<Result<RateOutcome>>> = Vec::with_capacity(items.len());
        let mut calls = Vec::new(); // (index, keys, args)
        for (index, (item, state)) in items.iter().zip(&states).enumerate() {
            let Some(state) = state else { continue };
            match state.rate_args(item.resource, item.params, item.req, None) {
                Ok((keys, args)) => {
                    out.push(None);
                    calls.push((index, keys, args));
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let script = &self.inner.scripts.rate;
        let pipelined = self.inner.flush_pending().and_then(|()| {
            self.inner.call(|c| {
                let build = || {
                    let mut pipe = redis::pipe();
                    for (_, keys, args) in &calls {
                        let mut inv = script.prepare_invoke();
                        for k in keys {
                            inv.key(k);
                        }
                        for a in args {
                            inv.arg(a);
                        }
                        pipe.invoke_script(&inv);
                    }
                    pipe
                };
                match build().query::<Vec<Vec<i64>>>(c) {
                    Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                        // After a server restart: load the script, then send the batch again.
                        script.prepare_invoke().load(c)?;
                        build().query::<Vec<Vec<i64>>>(c)
                    }
                    other => other,
                }
            })
        });
        match pipelined {
            Ok(replies) => {
                for ((index, _, _), r) in calls.iter().zip(replies) {
                    if let Some(slot) = out.get_mut(*index) {
                        *slot = Some(rate_outcome(&r));
                    }
                }
            }
            Err(Error::Store(_)) => {
                for (index, _, _) in &calls {
                    let (item, state) = (&items[*index], states[*index]);
                    if let (Some(slot), Some(state)) = (out.get_mut(*index), state) {
                        *slot = Some(state.rate_fallback(item.resource, item.params, item.req));
                    }
                }
            }
            Err(e) => {
                for (index, _, _) in &calls {
                    if let Some(slot) = out.get_mut(*index) {
                        *slot = Some(Err(e.clone()));
                    }
                }
            }
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| Err(Error::Store("redis: no reply in a batch".into())))).collect()
    }

    fn metrics(&self) -> Vec<(&'static str, u64)> {
        let s = self.stats();
        vec![
            ("calls_total", s.calls),
            ("errors_total", s.errors),
            ("connects_total", s.connects),
            ("ask_redirects_total", s.ask_redirects),
            ("fallback_decisions_total", s.fallbacks),
            ("pending_releases", s.pending_releases),
        ]
    }

    fn flush(&self) -> Result<()> {
        self.inner.replay_all()
    }
}

/// One tenant's state on Redis (keys under `<prefix>:{<tenant>}`), with the in-process cells
/// its failure policy uses while Redis cannot answer.
struct RedisTenantState {
    inner: Arc<Inner>,
    base: String,
    fallback: MemoryTenantState,
    fallback_hot: AtomicU64,
    local_ids: IdGen,
    /// Federated mode: units reserved per rate resource.
    allocations: Mutex<Vec<(&'static str, Allocation)>>,
}

/// Federated mode: what one process holds of one rate resource's shared limit.
#[derive(Debug, Default, Clone, Copy)]
struct Allocation {
    /// Units reserved in Redis, admitted locally until `expires_ms`.
    tokens: u64,
    expires_ms: u64,
    /// Units asked for in the current interval, which started at `interval_start`.
    demand: u64,
    interval_start: u64,
    /// Smoothed units asked for per interval.
    estimate: u64,
    /// A refusal from Redis and its cost, answered locally (for requests at least that
    /// large) until `refused_until`.
    refused: Option<(RateOutcome, u64)>,
    refused_until: u64,
}

/// A lease operation to replay: `release` of a lease that was released during an outage, or
/// `abort` of an acquisition that timed out (the server may have granted it after all, or may
/// still: the abort leaves a tombstone that the late acquisition respects) or of a queue
/// ticket given up during an outage.
#[derive(Debug, Clone)]
struct Pending {
    keys: [String; 4],
    op: &'static str,
    id: u64,
    now_ms: u64,
}

fn is_local(id: u64) -> bool {
    id & LOCAL_LEASE_BIT != 0
}

/// `share` of a limit, at least 1 (unbounded stays unbounded).
fn part(v: u64, share: f64) -> u64 {
    if v == u64::MAX { v } else { ((v as f64 * share).floor() as u64).max(1) }
}

impl RedisTenantState {
    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.base)
    }

    fn conc_keys(&self, resource: &str) -> [String; 4] {
        let r = escape(resource);
        [
            self.key(&format!("c:{r}:l")),
            self.key(&format!("c:{r}:w")),
            self.key(&format!("c:{r}:s")),
            self.key(&format!("c:{r}:x")),
        ]
    }

    fn dur_keys(&self, resource: &str) -> [String; 3] {
        let r = escape(resource);
        [self.key(&format!("d:{r}:l")), self.key(&format!("d:{r}:s")), self.key("ids")]
    }

    /// Runs a script, after replaying lease operations that failed earlier.
    fn run(&self, script: &redis::Script, keys: &[String], args: &[String]) -> Result<Vec<i64>> {
        self.inner.flush_pending()?;
        self.inner.run_script(script, keys, args)
    }

    fn concurrency(&self, resource: &str, now_ms: u64, op: &str, rest: &[String]) -> Result<Vec<i64>> {
        let mut args = vec![self.inner.now_arg(now_ms), op.to_owned()];
        args.extend_from_slice(rest);
        self.run(&self.inner.scripts.concurrency, &self.conc_keys(resource), &args)
    }

    fn duration(&self, resource: &str, now_ms: u64, op: &str, rest: &[String]) -> Result<Vec<i64>> {
        let mut args = vec![self.inner.now_arg(now_ms), op.to_owned()];
        args.extend_from_slice(rest);
        self.run(&self.inner.scripts.duration, &self.dur_keys(resource), &args)
    }

    fn defer(&self, resource: &str, op: &'static str, id: u64, now_ms: u64) {
        let p = Pending { keys: self.conc_keys(resource), op, id, now_ms };
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.push_back(p);
        // Counted under the lock: a replay cannot take it off before it is counted.
        self.inner.pending_count.fetch_add(1, Ordering::Relaxed);
    }

    /// One rate script call; with `fed` = (demand, interval) also reports this process's
    /// demand and reserves its share for the next interval (federated mode). Returns the
    /// outcome and the units reserved.
    fn rate_remote(
        &self,
        resource: &'static str,
        params: &RateParams,
        req: RateRequest,
        fed: Option<(u64, u64)>,
    ) -> Result<(RateOutcome, u64)> {
        let (keys, args) = self.rate_args(resource, params, req, fed)?;
        let r = match self.run(&self.inner.scripts.rate, &keys, &args) {
            Ok(r) => r,
            Err(Error::Store(_)) => return Ok((self.rate_fallback(resource, params, req)?, 0)),
            Err(e) => return Err(e),
        };
        Ok((rate_outcome(&r)?, reply(&r, 7)?))
    }

    /// The keys and arguments of one `rate.lua` call.
    fn rate_args(
        &self,
        resource: &'static str,
        params: &RateParams,
        req: RateRequest,
        fed: Option<(u64, u64)>,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let alg = match params.algorithm {
            RateAlgorithm::Gcra => "g",
            RateAlgorithm::FixedWindow => "f",
            RateAlgorithm::SlidingWindow => "s",
        };
        let (demand, interval) = fed.unwrap_or((0, 0));
        let mut args = Vec::with_capacity(10 + 5 * params.windows.len());
        args.extend([
            self.inner.now_arg(req.now_ms),
            resource.to_owned(),
            alg.to_owned(),
            // Above 2^53 a cost exceeds every capacity the store accepts: still a refusal.
            clamp(req.cost).to_string(),
            clamp(req.max_delay_ms).to_string(),
            if req.consume { "1" } else { "0" }.to_owned(),
            if self.inner.opts.time == TimeSource::Server { "1" } else { "0" }.to_owned(),
            clamp(demand).to_string(),
            self.inner.member.clone(),
            lua_int(interval, "sync_interval")?.to_string(),
        ]);
        for w in params.windows.iter() {
            match params.algorithm {
                RateAlgorithm::Gcra => lua_int(w.span_ns.saturating_add(w.t_ns), "window")?,
                _ => lua_int(w.limit.saturating_mul(w.window_ms).saturating_mul(4), "window")?,
            };
            args.extend([w.limit, w.window_ms, w.t_ns, w.cap, w.span_ns].map(|v| v.to_string()));
        }
        // The demand hash only when the script uses it: during a slot migration Redis refuses
        // a script that declares several keys (TRYAGAIN) unless all of them have moved, while
        // a one-key script follows the ASK redirect.
        let mut keys = vec![self.key("rate")];
        if demand > 0 {
            keys.push(self.key(&format!("fed:{}", escape(resource))));
        }
        Ok((keys, args))
    }

    /// Federated mode: admit from the units reserved, else one round trip that decides this
    /// request exactly and reserves units for the next interval. The allocation lock is not
    /// held across the round trip, so local answers never wait on the network.
    fn rate_federated(
        &self,
        resource: &'static str,
        params: &RateParams,
        req: RateRequest,
        interval: u64,
    ) -> Result<RateOutcome> {
        let now = req.now_ms;
        let demand = {
            let mut all = self.allocations.lock().unwrap_or_else(|p| p.into_inner());
            let a = Self::allocation(&mut all, resource, now);
            if now >= a.interval_start.saturating_add(interval) || now < a.interval_start {
                // A new interval: smooth the demand (intervals without traffic decay it).
                let gap = (now.saturating_sub(a.interval_start) / interval.max(1)).max(1);
                a.estimate = if gap == 1 { a.estimate.saturating_add(a.demand).div_ceil(2) } else { a.demand / gap };
                a.demand = 0;
                a.interval_start = now;
            }
            if req.consume {
                a.demand = a.demand.saturating_add(req.cost);
            }
            if now < a.expires_ms && a.tokens >= req.cost {
                if req.consume {
                    a.tokens -= req.cost;
                }
                return Ok(RateOutcome {
                    admitted: true,
                    delay_ms: 0,
                    retry_after_ms: 0,
                    remaining: a.tokens,
                    reset_ms: 0,
                    never: false,
                });
            }
            if let Some((refused, refused_cost)) = a.refused {
                let left = a.refused_until.saturating_sub(now);
                if left > 0 && req.consume && req.cost >= refused_cost && req.max_delay_ms < left {
                    return Ok(RateOutcome { retry_after_ms: left, ..refused });
                }
                if left == 0 {
                    a.refused = None;
                }
            }
            // One reservation per interval: until it ends, running out means deciding requests
            // one by one in Redis (what is left beyond the other processes' reservations).
            if req.consume && now >= a.expires_ms { a.estimate.max(a.demand) } else { 0 }
        };
        let (out, taken) = self.rate_remote(resource, params, req, Some((demand, interval)))?;
        let mut all = self.allocations.lock().unwrap_or_else(|p| p.into_inner());
        let a = Self::allocation(&mut all, resource, now);
        if taken > 0 {
            if now >= a.expires_ms {
                a.tokens = 0;
            }
            a.tokens = a.tokens.saturating_add(taken);
            a.expires_ms = now.saturating_add(interval);
        }
        if req.consume && !out.admitted && !out.never && out.retry_after_ms > 0 && a.tokens < req.cost {
            // At least a tenth of the interval: under saturation the shared limit refills in
            // Redis meanwhile (up to its burst) and the next round trip reserves what built up,
            // instead of one round trip per refill unit.
            a.refused = Some((out, req.cost));
            a.refused_until = now.saturating_add(out.retry_after_ms.max(interval / 10).min(interval));
        }
        Ok(out)
    }

    fn allocation<'a>(
        all: &'a mut Vec<(&'static str, Allocation)>,
        resource: &'static str,
        now: u64,
    ) -> &'a mut Allocation {
        let i = match all.iter().position(|(n, _)| std::ptr::eq(*n, resource) || *n == resource) {
            Some(i) => i,
            None => {
                all.push((resource, Allocation { interval_start: now, ..Allocation::default() }));
                all.len() - 1
            }
        };
        &mut all[i].1
    }

    fn rate_fallback(&self, resource: &'static str, params: &RateParams, req: RateRequest) -> Result<RateOutcome> {
        self.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
        Ok(match self.inner.opts.policy(resource) {
            FailurePolicy::FailOpen => RateOutcome {
                admitted: true,
                delay_ms: 0,
                retry_after_ms: 0,
                remaining: params.windows.iter().map(|w| w.limit).min().unwrap_or(0),
                reset_ms: 0,
                never: false,
            },
            FailurePolicy::FailClosed => RateOutcome {
                admitted: false,
                delay_ms: 0,
                retry_after_ms: 1_000,
                remaining: 0,
                reset_ms: 1_000,
                never: false,
            },
            FailurePolicy::Local { share } => {
                self.fallback.rate(resource, &params.scaled(share), req, &self.fallback_hot)?
            }
        })
    }

    fn acquire_fallback(
        &self,
        resource: &'static str,
        p: AcquireParams,
        now_ms: u64,
        ticket: Option<u64>,
    ) -> Result<AcquireOutcome> {
        self.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
        // A ticket of Redis's queue cannot be served here: give it up there once Redis answers
        // again (else it would hold its place at the head of the queue until its deadline),
        // and ask the local policy afresh.
        let ticket = match ticket {
            Some(t) if !is_local(t) => {
                self.defer(resource, "abort", t, now_ms);
                if matches!(self.inner.opts.policy(resource), FailurePolicy::FailClosed) {
                    return Ok(AcquireOutcome::Rejected { active: 0, timed_out: true, retry_after_ms: 1_000 });
                }
                None
            }
            other => other,
        };
        let p = match self.inner.opts.policy(resource) {
            FailurePolicy::FailOpen => AcquireParams { max: u64::MAX, queue: false, ..p },
            FailurePolicy::FailClosed => {
                return Ok(AcquireOutcome::Rejected { active: 0, timed_out: ticket.is_some(), retry_after_ms: 1_000 });
            }
            FailurePolicy::Local { share } => AcquireParams { max: part(p.max, share), ..p },
        };
        self.fallback.acquire(resource, p, now_ms, ticket, &self.local_ids)
    }

    fn touch_or_end(
        &self,
        op: &str,
        resource: &str,
        lease: u64,
        now_ms: u64,
        p: DurationParams,
    ) -> Result<Option<LeaseStatus>> {
        let r = self.duration(resource, now_ms, op, &[lease.to_string(), opt_arg(p.max_ms), opt_arg(p.idle_ms)])?;
        if reply(&r, 1)? == 0 {
            return Ok(None);
        }
        let now = reply(&r, 0)?;
        Ok(Some(lease_status(reply(&r, 2)?, reply(&r, 3)?, now, p.max_ms, p.idle_ms)))
    }
}

/// A rate script's reply as an outcome.
fn rate_outcome(r: &[i64]) -> Result<RateOutcome> {
    Ok(RateOutcome {
        admitted: reply(r, 0)? == 1,
        delay_ms: reply(r, 1)?,
        retry_after_ms: reply(r, 2)?,
        remaining: reply(r, 3)?,
        reset_ms: reply(r, 4)?,
        never: reply(r, 5)? == 1,
    })
}

/// Decodes a rate hash value (`rate.lua`'s cell encoding) into cells.
fn decode_cells(raw: &str) -> Option<Vec<RateCell>> {
    raw.split(',')
        .map(|part| {
            let mut it = part.split(':');
            let kind = it.next()?;
            let mut num = || it.next().and_then(|s| s.parse::<u64>().ok());
            Some(match kind {
                "e" => RateCell::Empty,
                "g" => {
                    let (ms, ns) = (num()?, num()?);
                    RateCell::Gcra { tat_ns: ms.saturating_mul(NS_PER_MS).saturating_add(ns) }
                }
                // The limit was added later: cells written without it read as 0 (unknown).
                "f" => RateCell::Fixed { start: num()?, count: num()?, limit: num().unwrap_or(0) },
                "s" => RateCell::Sliding { start: num()?, cur: num()?, prev: num()?, limit: num().unwrap_or(0) },
                _ => return None,
            })
        })
        .collect()
}

impl TenantState for RedisTenantState {
    fn rate(
        &self,
        resource: &'static str,
        params: &RateParams,
        req: RateRequest,
        _hot: &AtomicU64,
    ) -> Result<RateOutcome> {
        match self.inner.opts.mode {
            Mode::Strict => Ok(self.rate_remote(resource, params, req, None)?.0),
            Mode::Federated { sync_interval_ms } => self.rate_federated(resource, params, req, sync_interval_ms),
        }
    }

    fn acquire(
        &self,
        resource: &'static str,
        p: AcquireParams,
        now_ms: u64,
        ticket: Option<u64>,
        _ids: &IdGen,
    ) -> Result<AcquireOutcome> {
        let p = AcquireParams { lease_ttl_ms: p.lease_ttl_ms.or(self.inner.opts.lease_ttl_ms), ..p };
        if ticket.is_some_and(is_local) {
            return self.acquire_fallback(resource, p, now_ms, ticket);
        }
        if let Err(Error::Store(_)) = self.inner.flush_pending() {
            return self.acquire_fallback(resource, p, now_ms, ticket);
        }
        let mut draws = 0;
        let r = loop {
            draws += 1;
            if draws > 16 {
                return Err(Error::Store("redis: no free lease id after 16 draws".into()));
            }
            let id = self.inner.random_id();
            let args = [
                self.inner.now_arg(now_ms),
                "acquire".to_owned(),
                clamp(p.max).to_string(),
                opt_arg(p.lease_ttl_ms),
                if p.queue { "1" } else { "0" }.to_owned(),
                clamp(p.max_wait_ms).to_string(),
                ticket.map(|t| t.to_string()).unwrap_or_default(),
                id.to_string(),
            ];
            let keys = self.conc_keys(resource);
            let out = self.inner.call_flagged(|c| {
                let mut inv = self.inner.scripts.concurrency.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                for a in &args {
                    inv.arg(a);
                }
                inv.invoke::<Vec<i64>>(c)
            });
            match out {
                Ok(r) if matches!(r.get(1), Some(&4) | Some(&5)) => continue, // id in use: draw another
                Ok(r) => break r,
                Err((Error::Store(_), maybe_applied)) => {
                    if maybe_applied {
                        // The server may grant `id` (or may have): undo it once Redis answers
                        // again. A polled ticket is given up by the fallback.
                        self.defer(resource, "abort", id, now_ms);
                    }
                    return self.acquire_fallback(resource, p, now_ms, ticket);
                }
                Err((e, _)) => return Err(e),
            }
        };
        Ok(match reply(&r, 1)? {
            1 => AcquireOutcome::Granted { lease: reply(&r, 2)?, active: reply(&r, 3)? },
            2 => AcquireOutcome::Queued {
                ticket: reply(&r, 2)?,
                position: reply(&r, 3)?,
                wait_left_ms: reply(&r, 4)?,
                active: reply(&r, 5)?,
            },
            _ => AcquireOutcome::Rejected {
                active: reply(&r, 2)?,
                timed_out: reply(&r, 3)? == 1,
                retry_after_ms: reply(&r, 4)?,
            },
        })
    }

    fn available(&self, resource: &'static str, max: u64, now_ms: u64, cost: u64) -> Result<(bool, u64)> {
        let r =
            match self.concurrency(resource, now_ms, "available", &[clamp(max).to_string(), clamp(cost).to_string()]) {
                Ok(r) => r,
                Err(Error::Store(_)) => {
                    self.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
                    return match self.inner.opts.policy(resource) {
                        FailurePolicy::FailOpen => Ok((true, 0)),
                        FailurePolicy::FailClosed => Ok((false, 0)),
                        FailurePolicy::Local { share } => {
                            self.fallback.available(resource, part(max, share), now_ms, cost)
                        }
                    };
                }
                Err(e) => return Err(e),
            };
        Ok((reply(&r, 1)? == 1, reply(&r, 2)?))
    }

    fn release(&self, resource: &'static str, lease: u64, now_ms: u64) -> Result<bool> {
        if is_local(lease) {
            return self.fallback.release(resource, lease, now_ms);
        }
        match self.concurrency(resource, now_ms, "release", &[lease.to_string()]) {
            Ok(r) => Ok(reply(&r, 1)? == 1),
            Err(Error::Store(_)) => {
                // Replayed once Redis answers; until then the lease counts against the limit
                // there (or is reclaimed by its TTL), never twice.
                self.defer(resource, "release", lease, now_ms);
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn cancel(&self, resource: &'static str, ticket: u64) -> Result<bool> {
        if is_local(ticket) {
            return self.fallback.cancel(resource, ticket);
        }
        match self.concurrency(resource, 0, "cancel", &[ticket.to_string()]) {
            Ok(r) => Ok(reply(&r, 1)? == 1),
            Err(Error::Store(_)) => {
                // Given up during an outage: removed from the queue once Redis answers.
                self.defer(resource, "abort", ticket, 0);
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn concurrency_stats(&self, resource: &'static str) -> Result<ConcurrencyStats> {
        let r = match self.concurrency(resource, 0, "stats", &[]) {
            Ok(r) => r,
            // While Redis cannot answer: the in-process leases of the failure policy.
            Err(Error::Store(_)) => return self.fallback.concurrency_stats(resource),
            Err(e) => return Err(e),
        };
        Ok(ConcurrencyStats {
            active: reply(&r, 1)?,
            high_water_mark: reply(&r, 2)?,
            total_samples: reply(&r, 3)?,
            sample_count: reply(&r, 4)?,
            reclaimed: reply(&r, 5)?,
            waiting: reply(&r, 6)?,
        })
    }

    fn capacity(&self, resource: &'static str, op: CapacityOp) -> Result<(bool, u64)> {
        let (name, amount, max) = match op {
            CapacityOp::Set(v) => ("set", lua_int(v, "value")?, None),
            // With a bound the write is blocked anyway when delta is that large.
            CapacityOp::Add { delta, max: Some(m) } => ("add", clamp(delta), Some(lua_int(m, "max")?)),
            CapacityOp::Add { delta, max: None } => ("add", lua_int(delta, "delta")?, None),
            CapacityOp::Sub(d) => ("sub", clamp(d), None),
            CapacityOp::Get => ("get", 0, None),
        };
        let args = [String::new(), resource.to_owned(), name.to_owned(), amount.to_string(), opt_arg(max)];
        let r = self.run(&self.inner.scripts.capacity, &[self.key("cap")], &args)?;
        Ok((reply(&r, 0)? == 1, reply(&r, 1)?))
    }

    fn begin(&self, resource: &'static str, now_ms: u64, _ids: &IdGen) -> Result<u64> {
        reply(&self.duration(resource, now_ms, "begin", &[])?, 1)
    }

    fn touch(&self, resource: &'static str, lease: u64, now_ms: u64, p: DurationParams) -> Result<Option<LeaseStatus>> {
        self.touch_or_end("touch", resource, lease, now_ms, p)
    }

    fn end(&self, resource: &'static str, lease: u64, now_ms: u64, p: DurationParams) -> Result<Option<LeaseStatus>> {
        self.touch_or_end("end", resource, lease, now_ms, p)
    }

    fn expired(&self, resource: &'static str, now_ms: u64, p: DurationParams) -> Result<Vec<(u64, LeaseStatus)>> {
        let r = self.duration(resource, now_ms, "list", &[])?;
        let now = reply(&r, 0)?;
        let mut out: Vec<(u64, LeaseStatus)> = r[1..]
            .chunks_exact(3)
            .map(|c| (u(c[0]), lease_status(u(c[1]), u(c[2]), now, p.max_ms, p.idle_ms)))
            .filter(|(_, st)| st.expired.is_some())
            .collect();
        out.sort_by_key(|(l, _)| *l);
        Ok(out)
    }

    fn duration_stats(&self, resource: &'static str) -> Result<(u64, u64, u64)> {
        let r = self.duration(resource, 0, "stats", &[])?;
        Ok((reply(&r, 1)?, reply(&r, 2)?, reply(&r, 3)?))
    }

    fn evict_idle(
        &self,
        now_ms: u64,
        params_of: &dyn Fn(&'static str) -> Option<RateParams>,
        _hot: &AtomicU64,
    ) -> usize {
        // Read the cells, decide idleness with the Rust rule, then drop the idle ones that did
        // not change in between (one script). With server time, Redis expires idle hashes itself.
        let key = self.key("rate");
        let cells: Vec<(String, String)> = match self.inner.call(|c| redis::cmd("HGETALL").arg(&key).query(c)) {
            Ok(v) => v,
            Err(_) => return 0,
        };
        let now = match self.inner.opts.time {
            TimeSource::Caller => now_ms,
            TimeSource::Server => match self.inner.call(|c| redis::cmd("TIME").query::<(u64, u64)>(c)) {
                Ok((s, us)) => s.saturating_mul(1000).saturating_add(us / 1000),
                Err(_) => return 0,
            },
        };
        let mut args = vec![String::new()];
        for (name, raw) in cells {
            let idle = match (decode_cells(&raw), params_of(crate::plan::intern(&name))) {
                (Some(cs), Some(p)) => cs.iter().zip(p.windows.iter()).all(|(c, w)| c.is_idle(now, w)),
                (Some(_), None) => true,
                (None, _) => false,
            };
            if idle {
                args.push(name);
                args.push(raw);
            }
        }
        if args.len() == 1 {
            return 0;
        }
        self.inner
            .call(|c| {
                let mut inv = self.inner.scripts.evict.prepare_invoke();
                inv.key(&key);
                for a in &args {
                    inv.arg(a);
                }
                inv.invoke::<u64>(c)
            })
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .unwrap_or(0)
    }

    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.base.len()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_so_the_hash_tag_is_the_whole_tenant() {
        assert_eq!(escape("acme"), "acme");
        assert_eq!(escape("a{b}:c%"), "a%7Bb%7D%3Ac%25");
    }

    #[test]
    fn cells_decode() {
        assert_eq!(
            decode_cells("g:5:7,f:1000:3:5,s:0:1:2:9,e,f:0:1,s:0:1:2"),
            Some(vec![
                RateCell::Gcra { tat_ns: 5_000_007 },
                RateCell::Fixed { start: 1000, count: 3, limit: 5 },
                RateCell::Sliding { start: 0, cur: 1, prev: 2, limit: 9 },
                RateCell::Empty,
                RateCell::Fixed { start: 0, count: 1, limit: 0 },
                RateCell::Sliding { start: 0, cur: 1, prev: 2, limit: 0 },
            ])
        );
        assert_eq!(decode_cells("x:1"), None);
        assert_eq!(decode_cells("g:1"), None);
    }

    #[test]
    fn options_are_checked() {
        assert!(matches!(
            RedisStore::new(RedisOptions::new("redis://127.0.0.1/").prefix("a{b")),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(RedisStore::open("nope://x"), Err(Error::InvalidArgument { .. })));
        assert!(lua_int(LUA_MAX_INT + 1, "x").is_err());
    }
}
