//! Time as an input.
//!
//! No rule in this crate reads a clock. Every time-dependent operation takes an explicit
//! `now_ms` (milliseconds since the Unix epoch); the convenience forms that omit it ask the
//! [`Clock`] the host installed on the [`Governor`](crate::Governor). A [`ManualClock`] makes
//! tests and replays deterministic; [`SystemClock`] is the default on native targets, and the
//! WebAssembly shell supplies a `Date.now()` clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The latest time a rate check accepts: 2^63 ns, in ms (April 2262, where signed 64-bit
/// nanosecond clocks end too). Rate rules work in u64 nanoseconds; a `now_ms` beyond this
/// (microseconds passed by mistake, a corrupt timestamp) is an `INVALID_ARGUMENT` error
/// instead of a time the arithmetic would saturate on.
pub const MAX_NOW_MS: u64 = (1 << 63) / 1_000_000;

/// A source of the current time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The operating system's wall clock (`std::time::SystemTime`).
///
/// Not available on `wasm32-unknown-unknown`, where the host must supply a clock.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; shared clones see the same time.
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self { now: Arc::new(AtomicU64::new(start_ms)) }
    }

    /// Sets the time (it may go backwards: the rules tolerate that).
    pub fn set(&self, now_ms: u64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `delta_ms`.
    pub fn advance(&self, delta_ms: u64) {
        self.now.fetch_add(delta_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// A clock backed by a host function, e.g. JavaScript's `Date.now()`.
pub struct FnClock<F: Fn() -> u64 + Send + Sync>(pub F);

impl<F: Fn() -> u64 + Send + Sync> Clock for FnClock<F> {
    fn now_ms(&self) -> u64 {
        (self.0)()
    }
}

/// The default clock for this target: [`SystemClock`] on native targets.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub fn default_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// On `wasm32-unknown-unknown` there is no system clock: the default is a clock frozen at 0,
/// and the wasm shell installs a `Date.now()` clock instead.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub fn default_clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(0))
}
