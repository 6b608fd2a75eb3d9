//! Quota rules for concurrency leases, capacity gauges and duration leases, as pure
//! functions over state cells, plus the S1 per-user [`UserQuotaManager`].

use crate::clock::{Clock, default_clock};
use crate::decision::{Code, Decision};
use crate::error::{Error, Result};
use crate::sharded::Sharded;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;

/// Parameters of a concurrency acquisition.
#[derive(Debug, Clone, Copy)]
pub struct AcquireParams {
    /// Maximum leases held at once.
    pub max: u64,
    /// Leases older than this are reclaimed.
    pub lease_ttl_ms: Option<u64>,
    /// Whether a full resource queues the caller (else refuses).
    pub queue: bool,
    /// Queue wait bound.
    pub max_wait_ms: u64,
}

/// Outcome of a concurrency acquisition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireOutcome {
    /// Lease granted.
    Granted {
        /// The new lease.
        lease: u64,
        /// Leases held after the grant.
        active: u64,
    },
    /// Waiting in the tenant's first-come first-served queue.
    Queued {
        /// Poll again with this ticket.
        ticket: u64,
        /// 0-based place in the queue.
        position: u64,
        /// Time left before the wait times out.
        wait_left_ms: u64,
        /// Leases held.
        active: u64,
    },
    /// Refused: the resource is full (`timed_out` when a queued ticket ran out of time or is unknown).
    Rejected {
        /// Leases held.
        active: u64,
        /// The queued wait expired (or the ticket is unknown).
        timed_out: bool,
        /// Earliest lease expiry relative to now (0 if unknown).
        retry_after_ms: u64,
    },
}

/// Snapshot of a concurrency resource (S1 `QuotaTracking` fields for connections).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcurrencyStats {
    /// Leases held now.
    pub active: u64,
    /// High-water mark.
    pub high_water_mark: u64,
    /// Sum of the active count sampled at every acquire and release.
    pub total_samples: u64,
    /// Number of samples.
    pub sample_count: u64,
    /// Leases reclaimed because their TTL ran out.
    pub reclaimed: u64,
    /// Waiters in the queue.
    pub waiting: u64,
}

impl ConcurrencyStats {
    /// Running average of the active count over all samples.
    pub fn average(&self) -> f64 {
        if self.sample_count == 0 { 0.0 } else { self.total_samples as f64 / self.sample_count as f64 }
    }
}

/// State of one concurrency resource of one tenant.
#[derive(Debug, Clone, Default)]
pub struct ConcurrencyCell {
    leases: Vec<(u64, u64)>,       // (lease id, expires_at or u64::MAX)
    waiters: VecDeque<(u64, u64)>, // (ticket, deadline)
    stats: ConcurrencyStats,
}

impl ConcurrencyCell {
    fn sample(&mut self) {
        self.stats.active = self.leases.len() as u64;
        self.stats.high_water_mark = self.stats.high_water_mark.max(self.stats.active);
        self.stats.total_samples = self.stats.total_samples.saturating_add(self.stats.active);
        self.stats.sample_count = self.stats.sample_count.saturating_add(1);
    }

    fn reclaim(&mut self, now: u64) {
        let before = self.leases.len();
        self.leases.retain(|&(_, exp)| exp > now);
        self.stats.reclaimed += (before - self.leases.len()) as u64;
        self.stats.active = self.leases.len() as u64;
        self.waiters.retain(|&(_, deadline)| deadline >= now);
        self.stats.waiting = self.waiters.len() as u64;
    }

    /// Acquires a lease (first-come first-served: newcomers queue behind waiters).
    pub fn acquire(
        &mut self,
        p: AcquireParams,
        now: u64,
        ticket: Option<u64>,
        next_id: &mut dyn FnMut() -> u64,
    ) -> AcquireOutcome {
        self.reclaim(now);
        let active = self.leases.len() as u64;
        let free = p.max.saturating_sub(active);
        let retry_after_ms =
            self.leases.iter().map(|&(_, e)| e).min().filter(|&e| e != u64::MAX).map(|e| e - now).unwrap_or(0);
        let grant = |cell: &mut Self, next_id: &mut dyn FnMut() -> u64| {
            let lease = next_id();
            let exp = p.lease_ttl_ms.map(|t| now.saturating_add(t)).unwrap_or(u64::MAX);
            cell.leases.push((lease, exp));
            cell.sample();
            AcquireOutcome::Granted { lease, active: cell.leases.len() as u64 }
        };
        if let Some(t) = ticket {
            let Some(pos) = self.waiters.iter().position(|&(w, _)| w == t) else {
                return AcquireOutcome::Rejected { active, timed_out: true, retry_after_ms };
            };
            if (pos as u64) < free {
                self.waiters.remove(pos);
                self.stats.waiting = self.waiters.len() as u64;
                return grant(self, next_id);
            }
            let deadline = self.waiters[pos].1;
            return AcquireOutcome::Queued { ticket: t, position: pos as u64, wait_left_ms: deadline - now, active };
        }
        if self.waiters.is_empty() && free > 0 {
            return grant(self, next_id);
        }
        if p.queue && p.max_wait_ms > 0 {
            let t = next_id();
            self.waiters.push_back((t, now.saturating_add(p.max_wait_ms)));
            self.stats.waiting = self.waiters.len() as u64;
            return AcquireOutcome::Queued {
                ticket: t,
                position: self.waiters.len() as u64 - 1,
                wait_left_ms: p.max_wait_ms,
                active,
            };
        }
        AcquireOutcome::Rejected { active, timed_out: false, retry_after_ms }
    }

    /// Would one more lease be granted now (without queueing)?
    pub fn available(&self, max: u64, now: u64, cost: u64) -> (bool, u64) {
        let active = self.leases.iter().filter(|&&(_, e)| e > now).count() as u64;
        let waiting = self.waiters.iter().filter(|&&(_, d)| d >= now).count() as u64;
        (waiting == 0 && active.saturating_add(cost) <= max, active)
    }

    /// Releases a lease; `false` if it is not held (already released or reclaimed).
    pub fn release(&mut self, lease: u64, now: u64) -> bool {
        self.reclaim(now);
        let Some(i) = self.leases.iter().position(|&(l, _)| l == lease) else {
            return false;
        };
        self.leases.swap_remove(i);
        self.sample();
        true
    }

    /// Abandons a queued ticket; `false` if unknown.
    pub fn cancel(&mut self, ticket: u64) -> bool {
        let before = self.waiters.len();
        self.waiters.retain(|&(t, _)| t != ticket);
        self.stats.waiting = self.waiters.len() as u64;
        before != self.waiters.len()
    }

    /// Current statistics.
    pub fn stats(&self) -> ConcurrencyStats {
        self.stats
    }

    /// True when nothing is held or waiting.
    pub fn is_idle(&self) -> bool {
        self.leases.is_empty() && self.waiters.is_empty()
    }
}

/// An operation on a capacity gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityOp {
    /// Set the measured value.
    Set(u64),
    /// Add `delta` if the result stays within `max` (always when `max` is `None`).
    Add {
        /// Units to add.
        delta: u64,
        /// Block the write above this value.
        max: Option<u64>,
    },
    /// Subtract (saturating at 0).
    Sub(u64),
    /// Read only.
    Get,
}

/// Applies a capacity operation; returns (applied, value after).
pub fn apply_capacity(used: &mut u64, op: CapacityOp) -> (bool, u64) {
    match op {
        CapacityOp::Set(v) => *used = v,
        CapacityOp::Add { delta, max } => {
            let next = used.saturating_add(delta);
            if max.is_some_and(|m| next > m) {
                return (false, *used);
            }
            *used = next;
        }
        CapacityOp::Sub(d) => *used = used.saturating_sub(d),
        CapacityOp::Get => {}
    }
    (true, *used)
}

/// Why a duration lease expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryReason {
    /// Ran past its maximum duration.
    MaxDuration,
    /// Idle past its maximum idle time.
    Idle,
}

impl ExpiryReason {
    /// The decision code for this reason.
    pub fn code(self) -> Code {
        match self {
            ExpiryReason::MaxDuration => Code::TransactionTimeout,
            ExpiryReason::Idle => Code::IdleInTransactionTimeout,
        }
    }
}

/// Status of a duration lease at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseStatus {
    /// When the lease started.
    pub started_ms: u64,
    /// Last activity.
    pub last_activity_ms: u64,
    /// Set when a deadline has passed.
    pub expired: Option<ExpiryReason>,
    /// Time left before the nearest deadline (0 if expired; `u64::MAX` if none).
    pub left_ms: u64,
}

/// State of one duration resource of one tenant.
#[derive(Debug, Clone, Default)]
pub struct DurationCell {
    leases: Vec<(u64, u64, u64)>, // (lease, started, last activity)
    /// Leases that ended after a deadline.
    pub timeouts: u64,
    /// Most leases active at once.
    pub high_water_mark: u64,
}

/// Computes a lease's status against the limits.
pub fn lease_status(started: u64, last: u64, now: u64, max_ms: Option<u64>, idle_ms: Option<u64>) -> LeaseStatus {
    let max_deadline = max_ms.map(|m| started.saturating_add(m)).unwrap_or(u64::MAX);
    let idle_deadline = idle_ms.map(|m| last.saturating_add(m)).unwrap_or(u64::MAX);
    let expired = if now > max_deadline {
        Some(ExpiryReason::MaxDuration)
    } else if now > idle_deadline {
        Some(ExpiryReason::Idle)
    } else {
        None
    };
    let nearest = max_deadline.min(idle_deadline);
    LeaseStatus {
        started_ms: started,
        last_activity_ms: last,
        expired,
        left_ms: if expired.is_some() {
            0
        } else if nearest == u64::MAX {
            u64::MAX
        } else {
            nearest - now
        },
    }
}

impl DurationCell {
    /// Starts a lease.
    pub fn begin(&mut self, lease: u64, now: u64) {
        self.leases.push((lease, now, now));
        self.high_water_mark = self.high_water_mark.max(self.leases.len() as u64);
    }

    /// Records activity; returns the status (activity is not recorded on an expired lease).
    pub fn touch(&mut self, lease: u64, now: u64, max_ms: Option<u64>, idle_ms: Option<u64>) -> Option<LeaseStatus> {
        let entry = self.leases.iter_mut().find(|(l, _, _)| *l == lease)?;
        let st = lease_status(entry.1, entry.2, now, max_ms, idle_ms);
        if st.expired.is_none() {
            entry.2 = entry.2.max(now);
            return Some(lease_status(entry.1, entry.2, now, max_ms, idle_ms));
        }
        Some(st)
    }

    /// Ends a lease; returns its final status.
    pub fn end(&mut self, lease: u64, now: u64, max_ms: Option<u64>, idle_ms: Option<u64>) -> Option<LeaseStatus> {
        let i = self.leases.iter().position(|(l, _, _)| *l == lease)?;
        let (_, s, l) = self.leases.swap_remove(i);
        let st = lease_status(s, l, now, max_ms, idle_ms);
        if st.expired.is_some() {
            self.timeouts += 1;
        }
        Some(st)
    }

    /// Every active lease past a deadline, as (lease, status).
    pub fn expired(&self, now: u64, max_ms: Option<u64>, idle_ms: Option<u64>) -> Vec<(u64, LeaseStatus)> {
        let mut v: Vec<_> = self
            .leases
            .iter()
            .map(|&(l, s, a)| (l, lease_status(s, a, now, max_ms, idle_ms)))
            .filter(|(_, st)| st.expired.is_some())
            .collect();
        v.sort_by_key(|(l, _)| *l);
        v
    }

    /// Active leases.
    pub fn active(&self) -> u64 {
        self.leases.len() as u64
    }
}

#[derive(Debug, Clone, Copy)]
struct UserWindow {
    rpm: Option<u32>,
    count: u32,
    window_start: u64,
}

/// Per-user requests-per-minute quotas (S1 `quota::UserQuotaManager`).
///
/// Each user has a 60-second window that opens with their first request and resets once it
/// has elapsed; the default RPM applies unless [`set_quota`](Self::set_quota) overrode it.
pub struct UserQuotaManager {
    default_rpm: u32,
    users: Sharded<UserWindow>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for UserQuotaManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserQuotaManager").field("default_rpm", &self.default_rpm).finish_non_exhaustive()
    }
}

/// The window length of [`UserQuotaManager`].
pub const USER_WINDOW_MS: u64 = 60_000;

impl UserQuotaManager {
    /// A manager with `default_rpm` requests per minute per user, on the default clock.
    pub fn new(default_rpm: u32) -> Self {
        Self::with_clock(default_rpm, default_clock())
    }

    /// A manager on a host-supplied clock.
    pub fn with_clock(default_rpm: u32, clock: Arc<dyn Clock>) -> Self {
        Self { default_rpm, users: Sharded::new(), clock }
    }

    /// The default requests per minute.
    pub fn default_rpm(&self) -> u32 {
        self.default_rpm
    }

    /// Overrides the RPM of one user.
    pub fn set_quota(&self, user: &str, rpm: u32) {
        self.users.update_or_insert(
            user,
            |w| w.rpm = Some(rpm),
            || UserWindow { rpm: Some(rpm), count: 0, window_start: 0 },
        );
    }

    /// Removes a user's override (the default applies again).
    pub fn clear_quota(&self, user: &str) {
        self.users.update(user, |w| w.rpm = None);
    }

    /// Counts one request for `user` now; `Err(QuotaExceeded)` (code `RATE_LIMITED`) if over.
    pub fn check_quota(&self, user: &str) -> Result<()> {
        self.check_quota_at(user, self.clock.now_ms()).map(|_| ())
    }

    /// Counts one request for `user` at `now_ms`; returns the decision or `Err(QuotaExceeded)`.
    pub fn check_quota_at(&self, user: &str, now_ms: u64) -> Result<Decision> {
        let default = self.default_rpm;
        let d = self.users.update_or_insert(
            user,
            |w| Self::step(w, default, now_ms),
            || UserWindow { rpm: None, count: 0, window_start: now_ms },
        );
        if d.allowed { Ok(d) } else { Err(Error::QuotaExceeded(Box::new(d))) }
    }

    fn step(w: &mut UserWindow, default: u32, now: u64) -> Decision {
        let rpm = w.rpm.unwrap_or(default);
        if now >= w.window_start.saturating_add(USER_WINDOW_MS) || w.count == 0 && now > w.window_start {
            w.window_start = now;
            w.count = 0;
        }
        let reset = w.window_start.saturating_add(USER_WINDOW_MS).saturating_sub(now);
        if w.count < rpm {
            w.count += 1;
            let mut d = Decision::allow("user_rpm", Some(u64::from(rpm)), Some(u64::from(rpm - w.count)));
            d.reset_ms = reset;
            d
        } else {
            let mut d = Decision::reject("user_rpm", Code::RateLimited, Some(u64::from(rpm)), Some(0), reset);
            d.reset_ms = reset;
            d
        }
    }

    /// `(user, rpm, current_count, window_start_ms)` for every known user, sorted by user.
    pub fn snapshot(&self) -> Vec<(String, u32, u32, u64)> {
        let mut v: Vec<_> =
            self.users.collect(|k, w| (k.to_owned(), w.rpm.unwrap_or(self.default_rpm), w.count, w.window_start));
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn concurrency_fifo_queue() {
        let mut c = ConcurrencyCell::default();
        let mut n = 0;
        let mut id = || {
            n += 1;
            n
        };
        let p = AcquireParams { max: 1, lease_ttl_ms: None, queue: true, max_wait_ms: 100 };
        let AcquireOutcome::Granted { lease, .. } = c.acquire(p, 0, None, &mut id) else { unreachable!() };
        let AcquireOutcome::Queued { ticket: t1, position: 0, .. } = c.acquire(p, 1, None, &mut id) else {
            unreachable!()
        };
        let AcquireOutcome::Queued { ticket: t2, position: 1, .. } = c.acquire(p, 2, None, &mut id) else {
            unreachable!()
        };
        assert!(c.release(lease, 3));
        // The second waiter cannot jump the queue.
        assert!(matches!(c.acquire(p, 4, Some(t2), &mut id), AcquireOutcome::Queued { position: 1, .. }));
        assert!(matches!(c.acquire(p, 4, Some(t1), &mut id), AcquireOutcome::Granted { .. }));
        // t2 times out at 102.
        assert!(matches!(c.acquire(p, 200, Some(t2), &mut id), AcquireOutcome::Rejected { timed_out: true, .. }));
        assert_eq!(c.stats().high_water_mark, 1);
    }

    #[test]
    fn user_quota_window_resets() {
        let clock = ManualClock::new(1_000);
        let m = UserQuotaManager::with_clock(2, Arc::new(clock.clone()));
        assert!(m.check_quota("a").is_ok());
        assert!(m.check_quota("a").is_ok());
        let e = m.check_quota("a").err();
        assert_eq!(e.map(|e| e.code()), Some("RATE_LIMITED"));
        clock.advance(60_000);
        assert!(m.check_quota("a").is_ok());
        m.set_quota("b", 1);
        assert!(m.check_quota("b").is_ok());
        assert!(m.check_quota("b").is_err());
        let snap = m.snapshot();
        assert_eq!(snap[0], ("a".to_string(), 2, 1, 61_000));
        assert_eq!(snap[1].1, 1);
    }
}
