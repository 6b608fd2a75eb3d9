//! Decisions: what every check answers.

use serde::Serialize;
use std::fmt;

/// What the host should do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Proceed.
    Allow,
    /// Proceed, but usage is above the warning threshold.
    Warn,
    /// Proceed after waiting `delay_ms` (the capacity is reserved).
    Throttle,
    /// Proceed after waiting `delay_ms` in the tenant's queue (bounded wait), or, for a
    /// concurrency lease, poll again with the returned `ticket`.
    Queue,
    /// Refuse; retry after `retry_after_ms` at the earliest.
    Reject,
}

impl Action {
    /// The stable lower-case name (`"allow"`, `"throttle"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::Throttle => "throttle",
            Action::Queue => "queue",
            Action::Reject => "reject",
        }
    }
}

/// Stable reason codes carried by decisions. Their string forms never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// A capacity or other quota is exhausted.
    QuotaExceeded,
    /// A rate limit is exhausted.
    RateLimited,
    /// The tenant holds its maximum number of connections.
    ConnectionLimit,
    /// A concurrency limit other than `connections` is reached.
    ConcurrencyLimit,
    /// The storage quota is exhausted (writes blocked, reads still allowed).
    StorageQuotaExceeded,
    /// Usage is above the warning threshold.
    QuotaWarning,
    /// A transaction ran past its maximum duration.
    TransactionTimeout,
    /// A transaction was idle past its maximum idle time.
    IdleInTransactionTimeout,
    /// The tenant's plan does not include the requested feature.
    FeatureNotInPlan,
    /// The request's cost can never fit the limit (cost above burst capacity).
    CostExceedsLimit,
    /// A queued request's wait ran past the maximum queue wait.
    QueueTimeout,
}

impl Code {
    /// The stable upper-case name (`"RATE_LIMITED"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::QuotaExceeded => "QUOTA_EXCEEDED",
            Code::RateLimited => "RATE_LIMITED",
            Code::ConnectionLimit => "CONNECTION_LIMIT",
            Code::ConcurrencyLimit => "CONCURRENCY_LIMIT",
            Code::StorageQuotaExceeded => "STORAGE_QUOTA_EXCEEDED",
            Code::QuotaWarning => "QUOTA_WARNING",
            Code::TransactionTimeout => "TRANSACTION_TIMEOUT",
            Code::IdleInTransactionTimeout => "IDLE_IN_TRANSACTION_TIMEOUT",
            Code::FeatureNotInPlan => "FEATURE_NOT_IN_PLAN",
            Code::CostExceedsLimit => "COST_EXCEEDS_LIMIT",
            Code::QueueTimeout => "QUEUE_TIMEOUT",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to every check: never just a bool.
///
/// `limit` and `remaining` are `None` when the resource is unlimited for this tenant.
/// All durations are milliseconds relative to the `now` of the call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Whether the request may proceed (possibly after `delay_ms`).
    pub allowed: bool,
    /// What the host should do.
    pub action: Action,
    /// Why, when the answer is anything but a plain allow (also set in shadow mode).
    pub code: Option<Code>,
    /// The resource the decision is about.
    pub resource: &'static str,
    /// The limit in force (after overrides), `None` if unlimited.
    pub limit: Option<u64>,
    /// Units left after this request (a refused request takes none: units left now), `None`
    /// if unlimited.
    pub remaining: Option<u64>,
    /// For a refusal: how long until the same request could succeed.
    pub retry_after_ms: u64,
    /// How long until the resource is fully replenished (rate) or the deadline (duration).
    pub reset_ms: u64,
    /// For throttle/queue admissions: how long to wait before proceeding.
    pub delay_ms: u64,
    /// True when the tenant (or the governor) is in shadow mode and the request would have
    /// been limited: it is allowed and recorded as a violation.
    pub shadow: bool,
    /// The lease handle for concurrency and duration acquisitions.
    pub lease_id: Option<u64>,
    /// A queue ticket for a waiting concurrency acquisition (poll again with it).
    pub ticket: Option<u64>,
}

impl Decision {
    /// How long to wait before proceeding: `Some(0)` go now, `Some(ms)` after a throttle or
    /// queue delay, `None` refused. (The JS shells' `tryCheck` answers it as a number, with
    /// `Infinity` for `None`.)
    #[inline]
    pub fn wait_ms(&self) -> Option<u64> {
        self.allowed.then_some(self.delay_ms)
    }

    /// A plain allow for `resource`.
    pub fn allow(resource: &'static str, limit: Option<u64>, remaining: Option<u64>) -> Self {
        Self {
            allowed: true,
            action: Action::Allow,
            code: None,
            resource,
            limit,
            remaining,
            retry_after_ms: 0,
            reset_ms: 0,
            delay_ms: 0,
            shadow: false,
            lease_id: None,
            ticket: None,
        }
    }

    /// A refusal of `resource` for reason `code`.
    pub fn reject(
        resource: &'static str,
        code: Code,
        limit: Option<u64>,
        remaining: Option<u64>,
        retry_after_ms: u64,
    ) -> Self {
        Self {
            allowed: false,
            action: Action::Reject,
            code: Some(code),
            resource,
            limit,
            remaining,
            retry_after_ms,
            reset_ms: 0,
            delay_ms: 0,
            shadow: false,
            lease_id: None,
            ticket: None,
        }
    }

    /// True when the request may proceed immediately (allowed with no delay).
    pub fn is_immediate(&self) -> bool {
        self.allowed && self.delay_ms == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_the_delay_of_an_admission_and_none_for_a_refusal() {
        let go = Decision::allow("qps", Some(10), Some(9));
        assert_eq!(go.wait_ms(), Some(0));
        assert_eq!(Decision { delay_ms: 40, action: Action::Throttle, ..go.clone() }.wait_ms(), Some(40));
        assert_eq!(Decision::reject("qps", Code::RateLimited, Some(10), Some(0), 100).wait_ms(), None);
    }
}
