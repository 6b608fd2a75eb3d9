//! # tenantguard
//!
//! Per-tenant resource governance for multi-tenant SaaS, in process: plans and tiers,
//! per-tenant quotas (rate, concurrency, capacity, duration), rate limiting, decisions with
//! stable codes, hot-reloadable configuration and usage metering. One deterministic core:
//! every time-dependent call takes `now_ms` explicitly (or reads a host-supplied
//! [`Clock`]), so the same inputs give the same decisions in every host.
//!
//! ```
//! use tenantguard::{Governor, IsolationMode};
//!
//! let gov = Governor::new();
//! gov.register("acme", Some("free"), IsolationMode::SharedSchema, 0)?;
//! let d = gov.check("acme", "qps", 1, 1_000)?;
//! assert!(d.allowed);
//! assert_eq!(d.limit, Some(100));
//! # Ok::<(), tenantguard::Error>(())
//! ```
//!
//! The S1 tutorial's module paths exist too: [`tenant`], [`quota`] and
//! [`multi_tenant::quotas`].

pub mod api;
pub mod clock;
pub mod config;
pub mod decision;
pub mod error;
pub mod glob;
pub mod governor;
pub mod limiter;
pub mod multi_tenant;
pub mod plan;
pub mod quota;
mod registry;
pub mod rls;
mod sharded;
pub mod store;
pub mod tenant;
pub mod usage;

pub use clock::{Clock, ManualClock};
pub use config::Config;
pub use decision::{Action, Code, Decision};
pub use error::{ConfigError, Error, Result};
pub use governor::{
    CachedTenantHandle, CheckRequest, ExpiredLease, Governor, GovernorBuilder, ReloadReport, TenantHandle,
};
pub use plan::{
    EnforcementAction, Feature, Plan, PlanFeatures, RateAlgorithm, RateWindow, ResourceKind, ResourceLimits,
    ResourceSpec,
};
pub use quota::UserQuotaManager;
pub use tenant::{IsolationMode, Override, SessionContext, Tenant, TenantContext, TenantManager};
pub use usage::{StatusDocument, TenantUsage, UsageReport};
pub use uuid::Uuid;

/// The README's Rust examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
