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
//! names are percent-encoded. Rate cells live in one hash per tenant that expires once every
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
//! and reading. A failed connection is dropped and re-established on a later call, with an
//! exponential backoff (25 ms doubling to 2 s) during which calls fail at once instead of
//! waiting for the timeout again. Failures surface as [`Error::Store`]; [`RedisStore::stats`]
//! counts them. The backoff reads the system's monotonic clock: it schedules I/O and takes no
//! part in any decision.

use super::{DurationParams, IdGen, Store, TenantState};
use crate::error::{Error, Result};
use crate::limiter::{RateCell, RateOutcome, RateParams, RateRequest};
use crate::plan::RateAlgorithm;
use crate::quota::{AcquireOutcome, AcquireParams, CapacityOp, ConcurrencyStats, LeaseStatus, lease_status};
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

/// How to reach Redis and how to name keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// A `redis://` (or `rediss://`, `redis+unix://`) URL.
    pub url: String,
    /// Key prefix: one per deployment (no `{` or `}`). Default `tg`.
    pub prefix: String,
    /// The clock of decisions. Default [`TimeSource::Server`].
    pub time: TimeSource,
    /// Bound on connecting, writing and reading, per call. Default 50 ms.
    pub timeout: Duration,
}

impl RedisOptions {
    /// Options for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), prefix: "tg".into(), time: TimeSource::Server, timeout: Duration::from_millis(50) }
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

struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

struct Inner {
    client: redis::Client,
    opts: RedisOptions,
    pool: Mutex<Vec<redis::Connection>>,
    backoff: Mutex<Backoff>,
    scripts: Scripts,
    calls: AtomicU64,
    errors: AtomicU64,
    connects: AtomicU64,
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
        if opts.timeout.is_zero() {
            return Err(Error::InvalidArgument { name: "timeout".into(), message: "must be positive".into() });
        }
        let client = redis::Client::open(opts.url.as_str())
            .map_err(|e| Error::InvalidArgument { name: "redis_url".into(), message: e.to_string() })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                opts,
                pool: Mutex::new(Vec::new()),
                backoff: Mutex::new(Backoff { failures: 0, until: None }),
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
        }
    }

    /// Round trip to the server (`PING`): `Ok` when it answers within the timeout.
    pub fn ping(&self) -> Result<()> {
        self.inner.call(|c| redis::cmd("PING").query::<String>(c).map(|_| ()))
    }

    /// Deletes every key under this store's prefix (tests and decommissioning; walks the
    /// keyspace with `SCAN`, so it is slow on large databases). Returns how many were deleted.
    pub fn clear(&self) -> Result<u64> {
        let mut pattern = String::new();
        for c in self.inner.opts.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push_str(":*");
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
    fn connect(&self) -> Result<redis::Connection> {
        {
            let b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(until) = b.until {
                let now = Instant::now();
                if now < until {
                    return Err(Error::Store(format!(
                        "redis: unavailable after {} failed connection attempts (next attempt in {} ms)",
                        b.failures,
                        (until - now).as_millis()
                    )));
                }
            }
        }
        let t = self.opts.timeout;
        let con = self.client.get_connection_with_timeout(t).and_then(|c| {
            c.set_read_timeout(Some(t))?;
            c.set_write_timeout(Some(t))?;
            Ok(c)
        });
        let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        match con {
            Ok(c) => {
                b.failures = 0;
                b.until = None;
                self.connects.fetch_add(1, Ordering::Relaxed);
                Ok(c)
            }
            Err(e) => {
                b.failures = b.failures.saturating_add(1);
                let ms = 25u64.saturating_mul(1 << b.failures.min(7).saturating_sub(1)).min(2_000);
                b.until = Some(Instant::now() + Duration::from_millis(ms));
                Err(store_err(&e))
            }
        }
    }

    /// Runs `f` on a pooled connection. A connection that failed is dropped, not pooled.
    fn call<R>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<R>) -> Result<R> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut con = match pooled {
            Some(c) => c,
            None => self.connect().inspect_err(|_| {
                self.errors.fetch_add(1, Ordering::Relaxed);
            })?,
        };
        match f(&mut con) {
            Ok(r) => {
                self.calls.fetch_add(1, Ordering::Relaxed);
                self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(con);
                Ok(r)
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let broken =
                    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error();
                if !broken {
                    self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(con);
                }
                Err(store_err(&e))
            }
        }
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
        Box::new(RedisTenantState { inner: self.inner.clone(), base })
    }
    fn kind(&self) -> &'static str {
        "redis"
    }
}

/// One tenant's state on Redis (keys under `<prefix>:{<tenant>}`).
struct RedisTenantState {
    inner: Arc<Inner>,
    base: String,
}

impl RedisTenantState {
    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.base)
    }

    fn conc_keys(&self, resource: &str) -> [String; 4] {
        let r = escape(resource);
        [self.key(&format!("c:{r}:l")), self.key(&format!("c:{r}:w")), self.key(&format!("c:{r}:s")), self.key("ids")]
    }

    fn dur_keys(&self, resource: &str) -> [String; 3] {
        let r = escape(resource);
        [self.key(&format!("d:{r}:l")), self.key(&format!("d:{r}:s")), self.key("ids")]
    }

    fn run(&self, script: &redis::Script, keys: &[String], args: &[String]) -> Result<Vec<i64>> {
        self.inner.call(|c| {
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
                "f" => RateCell::Fixed { start: num()?, count: num()? },
                "s" => RateCell::Sliding { start: num()?, cur: num()?, prev: num()? },
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
        let alg = match params.algorithm {
            RateAlgorithm::Gcra => "g",
            RateAlgorithm::FixedWindow => "f",
            RateAlgorithm::SlidingWindow => "s",
        };
        let mut args = Vec::with_capacity(7 + 5 * params.windows.len());
        args.extend([
            self.inner.now_arg(req.now_ms),
            resource.to_owned(),
            alg.to_owned(),
            lua_int(req.cost, "cost")?.to_string(),
            clamp(req.max_delay_ms).to_string(),
            if req.consume { "1" } else { "0" }.to_owned(),
            if self.inner.opts.time == TimeSource::Server { "1" } else { "0" }.to_owned(),
        ]);
        for w in params.windows.iter() {
            match params.algorithm {
                RateAlgorithm::Gcra => lua_int(w.span_ns.saturating_add(w.t_ns), "window")?,
                _ => lua_int(w.limit.saturating_mul(w.window_ms).saturating_mul(4), "window")?,
            };
            args.extend([w.limit, w.window_ms, w.t_ns, w.cap, w.span_ns].map(|v| v.to_string()));
        }
        let r = self.run(&self.inner.scripts.rate, &[self.key("rate")], &args)?;
        Ok(RateOutcome {
            admitted: reply(&r, 0)? == 1,
            delay_ms: reply(&r, 1)?,
            retry_after_ms: reply(&r, 2)?,
            remaining: reply(&r, 3)?,
            reset_ms: reply(&r, 4)?,
            never: reply(&r, 5)? == 1,
        })
    }

    fn acquire(
        &self,
        resource: &'static str,
        p: AcquireParams,
        now_ms: u64,
        ticket: Option<u64>,
        _ids: &IdGen,
    ) -> Result<AcquireOutcome> {
        let args = [
            clamp(p.max).to_string(),
            opt_arg(p.lease_ttl_ms),
            if p.queue { "1" } else { "0" }.to_owned(),
            clamp(p.max_wait_ms).to_string(),
            ticket.map(|t| t.to_string()).unwrap_or_default(),
        ];
        let r = self.concurrency(resource, now_ms, "acquire", &args)?;
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
        let r = self.concurrency(resource, now_ms, "available", &[clamp(max).to_string(), clamp(cost).to_string()])?;
        Ok((reply(&r, 1)? == 1, reply(&r, 2)?))
    }

    fn release(&self, resource: &'static str, lease: u64, now_ms: u64) -> Result<bool> {
        Ok(reply(&self.concurrency(resource, now_ms, "release", &[lease.to_string()])?, 1)? == 1)
    }

    fn cancel(&self, resource: &'static str, ticket: u64) -> Result<bool> {
        Ok(reply(&self.concurrency(resource, 0, "cancel", &[ticket.to_string()])?, 1)? == 1)
    }

    fn concurrency_stats(&self, resource: &'static str) -> Result<ConcurrencyStats> {
        let r = self.concurrency(resource, 0, "stats", &[])?;
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
            CapacityOp::Add { delta, max } => ("add", lua_int(delta, "delta")?, max),
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
            decode_cells("g:5:7,f:1000:3,s:0:1:2,e"),
            Some(vec![
                RateCell::Gcra { tat_ns: 5_000_007 },
                RateCell::Fixed { start: 1000, count: 3 },
                RateCell::Sliding { start: 0, cur: 1, prev: 2 },
                RateCell::Empty
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
