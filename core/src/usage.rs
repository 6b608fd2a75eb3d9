//! Usage metering: per-tenant counters (S1 `TenantUsage`), violation counts, the S2 admin
//! status document and Prometheus text exposition.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// S1 `TenantUsage`: what a billing dashboard shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantUsage {
    /// Storage bytes used (the `storage` gauge).
    pub storage_bytes: u64,
    /// Tables (host-reported).
    pub table_count: u32,
    /// Rows (host-reported).
    pub total_rows: u64,
    /// Vector stores (host-reported).
    pub vector_store_count: u32,
    /// Vectors (host-reported).
    pub vector_count: u64,
    /// Branches (host-reported).
    pub branch_count: u32,
    /// Queries admitted on `qps` since the period started.
    pub queries_in_period: u64,
    /// Connections held now.
    pub active_connections: u32,
    /// API requests (host-reported) since the period started.
    pub api_requests_in_period: u64,
    /// Egress bytes (host-reported).
    pub egress_bytes: u64,
    /// Ingress bytes (host-reported).
    pub ingress_bytes: u64,
    /// Compute milliseconds (host-reported).
    pub compute_ms: u64,
    /// Last time any counter changed (ms since the epoch; admitted checks count to the second).
    pub last_updated: u64,
}

/// Host-reported usage: absolute gauges (`Some` replaces) and increments (added).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct UsageReport {
    /// Tables now.
    pub table_count: Option<u32>,
    /// Rows now.
    pub total_rows: Option<u64>,
    /// Vector stores now.
    pub vector_store_count: Option<u32>,
    /// Vectors now.
    pub vector_count: Option<u64>,
    /// Branches now.
    pub branch_count: Option<u32>,
    /// API requests to add.
    pub api_requests: u64,
    /// Egress bytes to add.
    pub egress_bytes: u64,
    /// Ingress bytes to add.
    pub ingress_bytes: u64,
    /// Compute ms to add.
    pub compute_ms: u64,
}

/// Counts of non-plain decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolationCounts {
    /// Refusals.
    pub rejected: u64,
    /// Admissions after a throttle delay.
    pub throttled: u64,
    /// Admissions after a queue wait (and queued leases).
    pub queued: u64,
    /// Would-be violations allowed in shadow mode.
    pub shadow: u64,
    /// Warnings (capacity above threshold).
    pub warned: u64,
}

const MINUTES: usize = 60;
const HOURS: usize = 24;
const LOW: u64 = 0xFFFF_FFFF;
/// The largest add the meter's fast path makes with a plain `fetch_add` ...
const FAST_ADD_MAX: u64 = 1 << 20;
/// ... into a counter at least this far from full (2,048 such adds at once cannot carry).
const FAST_ADD_ROOM: u64 = 1 << 31;

/// Per-minute admitted counts for the last hour (allocated once a tenant's traffic crosses a
/// minute; updated once a minute, under its own small lock).
#[derive(Debug)]
struct MinuteRing {
    /// Minute of the newest slot written.
    newest: u64,
    counts: [u32; MINUTES],
}

impl Default for MinuteRing {
    fn default() -> Self {
        Self { newest: 0, counts: [0; MINUTES] }
    }
}

impl MinuteRing {
    fn add(&mut self, minute: u64, n: u64) {
        if minute + (MINUTES as u64) <= self.newest {
            return; // older than the ring
        }
        if minute > self.newest {
            let gap = (minute - self.newest).min(MINUTES as u64);
            for k in 1..=gap {
                self.counts[((self.newest + k) % MINUTES as u64) as usize] = 0;
            }
            self.newest = minute;
        }
        let slot = &mut self.counts[(minute % MINUTES as u64) as usize];
        *slot = slot.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn get(&self, minute: u64) -> u64 {
        if minute > self.newest || minute + (MINUTES as u64) <= self.newest {
            0
        } else {
            u64::from(self.counts[(minute % MINUTES as u64) as usize])
        }
    }
}

/// Decisions other than a plain allow (allocated on a tenant's first violation).
#[derive(Debug, Default)]
struct ViolationLog {
    rejected: AtomicU64,
    throttled: AtomicU64,
    queued: AtomicU64,
    shadow: AtomicU64,
    warned: AtomicU64,
    /// Per-hour counts, (hour << 32 | count).
    hours: [AtomicU64; HOURS],
}

/// Host-reported usage (allocated on a tenant's first report).
#[derive(Debug, Default)]
struct Reported {
    table_count: AtomicU64,
    total_rows: AtomicU64,
    vector_store_count: AtomicU64,
    vector_count: AtomicU64,
    branch_count: AtomicU64,
    api_requests: AtomicU64,
    egress: AtomicU64,
    ingress: AtomicU64,
    compute: AtomicU64,
}

/// Lock-free per-tenant meter. An admitted check costs one atomic add on the current-second
/// counter (which sits in the tenant entry's first cache line). When the second rolls over,
/// its count goes into the period total and the current-minute accumulator (the next cache
/// line); once a minute that goes into the hour's ring. Everything rarely used is allocated
/// on first use, so an idle tenant's meter is 48 bytes.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Meter {
    /// (second << 32 | count) of the current second.
    second: AtomicU64,
    /// Queries of the period, excluding the current second.
    flushed: AtomicU64,
    /// (minute << 32 | count) of the current minute, excluding the current second.
    minute: AtomicU64,
    last_updated: AtomicU64,
    ring: OnceLock<Box<Mutex<MinuteRing>>>,
    violations: OnceLock<Box<ViolationLog>>,
    reported: OnceLock<Box<Reported>>,
}

/// The kind of violation to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    Rejected,
    Throttled,
    Queued,
    Shadow,
    Warned,
}

fn bump(slot: &AtomicU64, epoch: u64, n: u64) {
    let epoch = epoch & LOW;
    let mut cur = slot.load(Ordering::Relaxed);
    loop {
        let (e, c) = (cur >> 32, cur & LOW);
        let next = if e == epoch {
            (e << 32) | c.saturating_add(n).min(LOW)
        } else if epoch > e {
            (epoch << 32) | n.min(LOW)
        } else {
            return; // an older time than the slot holds: already rolled past
        };
        match slot.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

fn read(slot: &AtomicU64, epoch: u64) -> u64 {
    let v = slot.load(Ordering::Relaxed);
    if v >> 32 == (epoch & LOW) { v & LOW } else { 0 }
}

fn lock_ring(m: &Mutex<MinuteRing>) -> std::sync::MutexGuard<'_, MinuteRing> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Meter {
    /// Records `n` admitted queries at `now_ms`.
    #[inline(always)]
    pub fn admitted(&self, now_ms: u64, n: u64) {
        let sec = (now_ms / 1000) & LOW;
        let cur = self.second.load(Ordering::Relaxed);
        // Small adds to a counter far from full cannot carry into the second bits even when
        // many threads pass this test at once; anything else takes the compare-and-swap path.
        if cur >> 32 == sec && n <= FAST_ADD_MAX && (cur & LOW) < LOW - FAST_ADD_ROOM {
            // The only write on the hot path: `last_updated` is derived from this counter's
            // second (see `usage`), so nothing else of the entry is touched.
            self.second.fetch_add(n, Ordering::Relaxed);
        } else {
            self.roll(now_ms, sec, n);
        }
    }

    #[cold]
    fn roll(&self, now_ms: u64, sec: u64, n: u64) {
        self.last_updated.fetch_max(now_ms, Ordering::Relaxed);
        if n >= LOW {
            // Too many for the packed second counter: straight into the totals.
            self.flush(now_ms / 1000, n);
            return;
        }
        let mut cur = self.second.load(Ordering::Relaxed);
        loop {
            let (e, c) = (cur >> 32, cur & LOW);
            if e > sec {
                // Time went backwards: count it, attributed to its own minute.
                self.flush(now_ms / 1000, n);
                return;
            }
            if e == sec && n < LOW - c {
                match self.second.compare_exchange_weak(cur, cur + n, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return,
                    Err(actual) => {
                        cur = actual;
                        continue;
                    }
                }
            }
            match self.second.compare_exchange_weak(cur, (sec << 32) | n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    self.flush(e, c);
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Moves a finished second's count into the period total and the minute accumulator.
    fn flush(&self, sec: u64, count: u64) {
        if count == 0 {
            return;
        }
        let _ = self.flushed.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_add(count)));
        let m = (sec / 60) & LOW;
        let mut cur = self.minute.load(Ordering::Relaxed);
        loop {
            let (em, c) = (cur >> 32, cur & LOW);
            if em == m && count < LOW - c {
                match self.minute.compare_exchange_weak(cur, cur + count, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return,
                    Err(actual) => {
                        cur = actual;
                        continue;
                    }
                }
            }
            if em > m || count >= LOW {
                // An older minute, or too many for the packed accumulator: into the ring.
                self.ring_add(m, count);
                return;
            }
            match self.minute.compare_exchange_weak(cur, (m << 32) | count, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    if c > 0 {
                        self.ring_add(em, c);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    fn ring_add(&self, minute: u64, n: u64) {
        let ring = self.ring.get_or_init(|| Box::new(Mutex::new(MinuteRing::default())));
        lock_ring(ring).add(minute, n);
    }

    fn pending(&self) -> (u64, u64) {
        let v = self.second.load(Ordering::Relaxed);
        (v >> 32, v & LOW)
    }

    fn log(&self) -> &ViolationLog {
        self.violations.get_or_init(Box::default)
    }

    pub fn violation(&self, kind: Violation, now_ms: u64) {
        let log = self.log();
        let c = match kind {
            Violation::Rejected => &log.rejected,
            Violation::Throttled => &log.throttled,
            Violation::Queued => &log.queued,
            Violation::Shadow => &log.shadow,
            Violation::Warned => &log.warned,
        };
        c.fetch_add(1, Ordering::Relaxed);
        if kind != Violation::Warned {
            let h = now_ms / 3_600_000;
            bump(&log.hours[(h % HOURS as u64) as usize], h, 1);
        }
        if now_ms > self.last_updated.load(Ordering::Relaxed) {
            self.last_updated.fetch_max(now_ms, Ordering::Relaxed);
        }
    }

    pub fn report(&self, r: &UsageReport, now_ms: u64) {
        let rep = self.reported.get_or_init(Box::default);
        let set = |a: &AtomicU64, v: Option<u64>| {
            if let Some(v) = v {
                a.store(v, Ordering::Relaxed);
            }
        };
        set(&rep.table_count, r.table_count.map(u64::from));
        set(&rep.total_rows, r.total_rows);
        set(&rep.vector_store_count, r.vector_store_count.map(u64::from));
        set(&rep.vector_count, r.vector_count);
        set(&rep.branch_count, r.branch_count.map(u64::from));
        rep.api_requests.fetch_add(r.api_requests, Ordering::Relaxed);
        rep.egress.fetch_add(r.egress_bytes, Ordering::Relaxed);
        rep.ingress.fetch_add(r.ingress_bytes, Ordering::Relaxed);
        rep.compute.fetch_add(r.compute_ms, Ordering::Relaxed);
        self.last_updated.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Starts a new billing period: zeroes the period counters.
    pub fn reset_period(&self) {
        let (sec, c) = self.pending();
        // Keep the current second's count out of the new period, but in the history.
        if self.second.compare_exchange(sec << 32 | c, sec << 32, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            self.flush(sec, c);
        }
        self.flushed.store(0, Ordering::Relaxed);
        if let Some(rep) = self.reported.get() {
            for a in [&rep.api_requests, &rep.egress, &rep.ingress, &rep.compute] {
                a.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Queries admitted in the period.
    pub fn queries(&self) -> u64 {
        self.flushed.load(Ordering::Relaxed).saturating_add(self.pending().1)
    }

    pub fn usage(&self, storage_bytes: u64, active_connections: u64) -> TenantUsage {
        let g = |a: Option<&AtomicU64>| a.map(|a| a.load(Ordering::Relaxed)).unwrap_or(0);
        let g32 = |a: Option<&AtomicU64>| u32::try_from(g(a)).unwrap_or(u32::MAX);
        let r = self.reported.get();
        TenantUsage {
            storage_bytes,
            table_count: g32(r.map(|r| &r.table_count)),
            total_rows: g(r.map(|r| &r.total_rows)),
            vector_store_count: g32(r.map(|r| &r.vector_store_count)),
            vector_count: g(r.map(|r| &r.vector_count)),
            branch_count: g32(r.map(|r| &r.branch_count)),
            queries_in_period: self.queries(),
            active_connections: u32::try_from(active_connections).unwrap_or(u32::MAX),
            api_requests_in_period: g(r.map(|r| &r.api_requests)),
            egress_bytes: g(r.map(|r| &r.egress)),
            ingress_bytes: g(r.map(|r| &r.ingress)),
            compute_ms: g(r.map(|r| &r.compute)),
            // Admitted checks update the per-second counter only: their time is known to the
            // second. Reports and violations are exact.
            last_updated: {
                let (sec, c) = self.pending();
                let checks = if c > 0 { sec * 1000 } else { 0 };
                self.last_updated.load(Ordering::Relaxed).max(checks)
            },
        }
    }

    pub fn violations(&self) -> ViolationCounts {
        let Some(l) = self.violations.get() else { return ViolationCounts::default() };
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ViolationCounts {
            rejected: g(&l.rejected),
            throttled: g(&l.throttled),
            queued: g(&l.queued),
            shadow: g(&l.shadow),
            warned: g(&l.warned),
        }
    }

    /// Queries admitted in the second containing `now_ms`.
    pub fn current_qps(&self, now_ms: u64) -> u64 {
        let (sec, c) = self.pending();
        if sec == (now_ms / 1000) & LOW { c } else { 0 }
    }

    /// (average QPS, p99 of per-minute average QPS) over the hour ending at `now_ms`.
    pub fn qps_1h(&self, now_ms: u64) -> (f64, f64) {
        let m = now_ms / 60_000;
        let (psec, pcount) = self.pending();
        let (pm, pmc) = {
            let v = self.minute.load(Ordering::Relaxed);
            (v >> 32, v & LOW)
        };
        let ring = self.ring.get().map(|r| lock_ring(r));
        let mut per_min: Vec<u64> = (0..MINUTES as u64)
            .filter(|&k| k <= m)
            .map(|k| {
                let minute = m - k;
                let mut n = ring.as_ref().map(|r| r.get(minute)).unwrap_or(0);
                if pm == (minute & LOW) {
                    n += pmc;
                }
                if pcount > 0 && psec / 60 == (minute & LOW) {
                    n += pcount;
                }
                n
            })
            .collect();
        let total: u64 = per_min.iter().sum();
        per_min.sort_unstable();
        let idx =
            ((per_min.len() as f64 * 0.99).ceil() as usize).saturating_sub(1).min(per_min.len().saturating_sub(1));
        let p99 = per_min.get(idx).copied().unwrap_or(0) as f64 / 60.0;
        (total as f64 / 3600.0, p99)
    }

    /// Violations (rejected, throttled, queued, shadow) in the 24 hours ending at `now_ms`.
    pub fn violations_24h(&self, now_ms: u64) -> u64 {
        let Some(log) = self.violations.get() else { return 0 };
        let h = now_ms / 3_600_000;
        (0..HOURS as u64).filter(|&k| k <= h).map(|k| read(&log.hours[((h - k) % HOURS as u64) as usize], h - k)).sum()
    }

    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.ring.get().map(|_| std::mem::size_of::<Mutex<MinuteRing>>() + 16).unwrap_or(0)
            + self.violations.get().map(|_| std::mem::size_of::<ViolationLog>() + 16).unwrap_or(0)
            + self.reported.get().map(|_| std::mem::size_of::<Reported>() + 16).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_counts_seconds_minutes_and_the_hour() {
        let m = Meter::default();
        for s in 0..180u64 {
            m.admitted(s * 1000, 2); // 2 per second for 3 minutes
        }
        assert_eq!(m.queries(), 360);
        assert_eq!(m.current_qps(179_500), 2);
        let (avg, p99) = m.qps_1h(179_999);
        assert!((avg - 0.1).abs() < 1e-9, "360 / 3600 = {avg}");
        assert!((p99 - 2.0).abs() < 1e-9, "120 per minute = 2 QPS, got {p99}");
        // Two hours later, the history has aged out.
        assert_eq!(m.qps_1h(180_000 + 2 * 3_600_000), (0.0, 0.0));
        // Time going backwards is still counted.
        m.admitted(1_000, 1);
        assert_eq!(m.queries(), 361);
    }

    #[test]
    fn large_adds_from_many_threads_never_carry_into_the_second() {
        let m = std::sync::Arc::new(Meter::default());
        m.admitted(7_000, 1);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        m.admitted(7_000, 300_000_000);
                        m.admitted(7_000, 3);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.queries(), 1 + 4 * 50 * 300_000_003);
    }

    #[test]
    fn huge_costs_are_counted_exactly_and_never_overflow() {
        let m = Meter::default();
        m.admitted(5_000, 1);
        m.admitted(5_000, 5_000_000_000); // above the packed counter's 2^32 - 1
        m.admitted(5_000, 3);
        assert_eq!(m.queries(), 5_000_000_004);
        m.admitted(6_000, 7); // a new second flushes the previous one
        assert_eq!(m.queries(), 5_000_000_011);
        m.admitted(6_000, u64::MAX); // saturates, never wraps or panics
        assert_eq!(m.queries(), u64::MAX);
        m.admitted(1_000, u64::MAX); // time going backwards, huge
        m.admitted(6_000, 1);
        assert_eq!(m.queries(), u64::MAX);
        let (avg, p99) = m.qps_1h(6_500);
        assert!(avg.is_finite() && p99.is_finite() && avg > 0.0);
    }
}

/// `quotas` of the S2 admin status document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusQuotas {
    /// QPS limit (after overrides), `None` if unlimited.
    pub max_qps: Option<u64>,
    /// Queries admitted in the current second.
    pub current_qps: u64,
    /// Connection limit.
    pub max_connections: Option<u64>,
    /// Connections held.
    pub current_connections: u64,
    /// Storage quota in GB (GiB).
    pub storage_quota_gb: Option<f64>,
    /// Storage used in GB (GiB), one decimal.
    pub storage_used_gb: f64,
    /// Max transaction duration, humanised (`"5m"`).
    pub max_transaction_duration: Option<String>,
}

/// `usage_stats` of the S2 admin status document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageStats {
    /// Average admitted QPS over the last hour.
    pub qps_1h_avg: f64,
    /// 99th percentile of per-minute average QPS over the last hour.
    pub qps_1h_p99: f64,
    /// Violations in the last 24 hours.
    pub quota_violations_24h: u64,
}

/// One resource in the status document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceStatus {
    /// Resource name.
    pub name: String,
    /// Kind.
    pub kind: &'static str,
    /// Headline limit (after overrides).
    pub limit: Option<u64>,
    /// Current usage (active leases, gauge value, or admitted this second).
    pub current: u64,
    /// Whether an override is in force.
    pub overridden: bool,
}

/// The S2 admin API response for one tenant (snake_case keys, as in S2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusDocument {
    /// The tenant's name.
    pub tenant_id: String,
    /// The tenant's plan.
    pub tier: String,
    /// Headline quotas.
    pub quotas: StatusQuotas,
    /// Usage statistics.
    pub usage_stats: UsageStats,
    /// Every limited resource.
    pub resources: Vec<ResourceStatus>,
    /// Violation counts since registration.
    pub violations: ViolationCounts,
    /// Shadow mode.
    pub shadow: bool,
}

/// Formats milliseconds as S2 durations: `"10s"`, `"5m"`, `"1h"`, `"250ms"`.
pub fn format_duration_ms(ms: u64) -> String {
    match ms {
        0 => "0s".into(),
        m if m % 86_400_000 == 0 => format!("{}d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{m}ms"),
    }
}

/// Escapes a Prometheus label value.
pub fn prom_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Renders per-tenant metrics in the Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(docs: &[(StatusDocument, TenantUsage)]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = (String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let t = |d: &StatusDocument| format!("tenant=\"{}\",plan=\"{}\"", prom_escape(&d.tenant_id), prom_escape(&d.tier));
    family(
        "tenantguard_limit",
        "gauge",
        "Limit in force per tenant and resource (after overrides).",
        &mut docs.iter().flat_map(|(d, _)| {
            d.resources.iter().filter_map(move |r| {
                r.limit.map(|l| (format!("{},resource=\"{}\"", t(d), prom_escape(&r.name)), l.to_string()))
            })
        }),
    );
    family(
        "tenantguard_usage",
        "gauge",
        "Current usage per tenant and resource (leases held, gauge value, or admitted this second).",
        &mut docs.iter().flat_map(|(d, _)| {
            d.resources
                .iter()
                .map(move |r| (format!("{},resource=\"{}\"", t(d), prom_escape(&r.name)), r.current.to_string()))
        }),
    );
    family(
        "tenantguard_queries_total",
        "counter",
        "Queries admitted on qps in the current period.",
        &mut docs.iter().map(|(d, u)| (t(d), u.queries_in_period.to_string())),
    );
    family(
        "tenantguard_storage_bytes",
        "gauge",
        "Storage bytes used.",
        &mut docs.iter().map(|(d, u)| (t(d), u.storage_bytes.to_string())),
    );
    family(
        "tenantguard_decisions_total",
        "counter",
        "Non-plain decisions by outcome.",
        &mut docs.iter().flat_map(|(d, _)| {
            let v = d.violations;
            [
                ("rejected", v.rejected),
                ("throttled", v.throttled),
                ("queued", v.queued),
                ("shadow", v.shadow),
                ("warned", v.warned),
            ]
            .into_iter()
            .map(move |(o, n)| (format!("{},outcome=\"{o}\"", t(d)), n.to_string()))
        }),
    );
    family(
        "tenantguard_violations_24h",
        "gauge",
        "Violations in the last 24 hours.",
        &mut docs.iter().map(|(d, _)| (t(d), d.usage_stats.quota_violations_24h.to_string())),
    );
    out
}
