//! S1 `multi_tenant` module.

/// S1 `multi_tenant::quotas`: the generic [`RateLimiter`](quotas::RateLimiter) and
/// [`TenantUsage`](quotas::TenantUsage).
pub mod quotas {
    use crate::clock::{Clock, default_clock};
    use crate::limiter::{self, RateCell, RateRequest, WindowParams};
    use crate::plan::{RateAlgorithm, RateWindow};
    use crate::sharded::Sharded;
    use std::sync::Arc;
    use std::time::Duration;

    pub use crate::usage::TenantUsage;

    /// A keyed rate limiter of any window and limit (sliding-window counter).
    ///
    /// `check(key, limit)` counts one event for `key` and answers whether it fits `limit`
    /// events per window; `remaining(key, limit)` answers without counting.
    pub struct RateLimiter {
        window_ms: u64,
        keys: Sharded<RateCell>,
        clock: Arc<dyn Clock>,
    }

    impl std::fmt::Debug for RateLimiter {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RateLimiter").field("window_ms", &self.window_ms).finish_non_exhaustive()
        }
    }

    impl RateLimiter {
        /// A limiter with windows of `window` on the default clock.
        pub fn new(window: Duration) -> Self {
            Self::with_clock(window, default_clock())
        }

        /// A limiter on a host-supplied clock.
        pub fn with_clock(window: Duration, clock: Arc<dyn Clock>) -> Self {
            let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
            Self { window_ms, keys: Sharded::new(), clock }
        }

        /// The window length in ms.
        pub fn window_ms(&self) -> u64 {
            self.window_ms
        }

        fn eval(&self, key: &str, limit: u64, now_ms: u64, consume: bool) -> limiter::RateOutcome {
            let w = [WindowParams::new(&RateWindow { limit: limit.max(1), window_ms: self.window_ms }, 1.0)];
            let req = RateRequest { now_ms, cost: 1, max_delay_ms: 0, consume };
            let alg = RateAlgorithm::SlidingWindow;
            if consume {
                self.keys.update_or_insert(
                    key,
                    |c| limiter::evaluate(std::slice::from_mut(c), &w, alg, req),
                    RateCell::default,
                )
            } else {
                let mut c = self.keys.with(key, |c| *c).unwrap_or_default();
                limiter::evaluate(std::slice::from_mut(&mut c), &w, alg, req)
            }
        }

        /// Counts one event for `key` now; `true` if within `limit` per window.
        pub fn check(&self, key: &str, limit: u64) -> bool {
            self.check_at(key, limit, self.clock.now_ms())
        }

        /// Counts one event for `key` at `now_ms`; `true` if within `limit` per window.
        pub fn check_at(&self, key: &str, limit: u64, now_ms: u64) -> bool {
            limit > 0 && self.eval(key, limit, now_ms, true).admitted
        }

        /// Events `key` may still send now under `limit` per window.
        pub fn remaining(&self, key: &str, limit: u64) -> u64 {
            self.remaining_at(key, limit, self.clock.now_ms())
        }

        /// Events `key` may still send at `now_ms` under `limit` per window.
        pub fn remaining_at(&self, key: &str, limit: u64, now_ms: u64) -> u64 {
            if limit == 0 {
                return 0;
            }
            // A peek's `remaining` counts what is left after one more event: add it back.
            let peek = self.eval(key, limit, now_ms, false);
            if peek.admitted { peek.remaining + 1 } else { 0 }
        }
    }
}
