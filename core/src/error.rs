//! Typed errors. Every error has a stable [`Error::code`] that the shells map to their own
//! idiom (Python exception classes, JS `Error.code`, C status codes, Java exceptions).

use crate::decision::Decision;
use std::fmt;

/// A configuration problem: what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key path, e.g. `tenant_quotas.tiers[1].max_qps` (empty when the document itself
    /// could not be parsed).
    pub key: String,
    /// 1-based line in the source text, when known.
    pub line: Option<usize>,
    /// 1-based column in the source text, when known.
    pub column: Option<usize>,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
            (Some(l), None) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Everything that can go wrong, with a stable code per variant.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No tenant with this name or id.
    #[error("tenant `{0}` not found")]
    TenantNotFound(String),
    /// A tenant with this name is already registered.
    #[error("tenant `{0}` already exists")]
    TenantExists(String),
    /// No plan with this id.
    #[error("plan `{0}` not found")]
    PlanNotFound(String),
    /// A plan with this id already exists.
    #[error("plan `{0}` already exists")]
    PlanExists(String),
    /// The plan is the protected default and cannot be deleted.
    #[error("plan `{0}` is the protected default plan and cannot be deleted")]
    PlanProtected(String),
    /// The resource is not defined by any plan.
    #[error("resource `{resource}` is not defined for tenant `{tenant}` (no plan defines it)")]
    ResourceNotFound {
        /// The tenant.
        tenant: String,
        /// The resource name asked for.
        resource: String,
    },
    /// The operation does not apply to this kind of resource.
    #[error("resource `{resource}` is a {actual} resource; `{operation}` needs a {expected} resource")]
    WrongResourceKind {
        /// The resource.
        resource: String,
        /// The operation attempted.
        operation: &'static str,
        /// The kind the operation needs.
        expected: &'static str,
        /// The resource's kind.
        actual: &'static str,
    },
    /// No active lease with this id for the tenant and resource.
    #[error("lease {lease} not found for tenant `{tenant}` resource `{resource}`")]
    LeaseNotFound {
        /// The tenant.
        tenant: String,
        /// The resource.
        resource: String,
        /// The lease id.
        lease: u64,
    },
    /// The isolation mode requires a plan with `all_isolation_modes`.
    #[error("isolation mode {mode} is not allowed on plan `{plan}` (SharedSchema only)")]
    IsolationNotAllowed {
        /// The plan.
        plan: String,
        /// The requested mode.
        mode: String,
    },
    /// A configuration document or value is invalid.
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    /// An argument is invalid.
    #[error("invalid argument `{name}`: {message}")]
    InvalidArgument {
        /// The argument.
        name: String,
        /// What was wrong.
        message: String,
    },
    /// A `Result`-returning check was refused; the decision says why.
    #[error("{} on `{}` (limit {}, retry after {} ms)", .0.code.map(|c| c.as_str()).unwrap_or("QUOTA_EXCEEDED"), .0.resource, .0.limit.map(|l| l.to_string()).unwrap_or_else(|| "none".into()), .0.retry_after_ms)]
    QuotaExceeded(Box<Decision>),
    /// The state store failed (e.g. a remote store is unreachable).
    #[error("state store error: {0}")]
    Store(String),
    /// A policy expression does not parse.
    #[error("syntax error in {clause} of policy \"{policy}\" on table \"{table}\" at position {position}: {message}")]
    PolicySyntax {
        /// The table.
        table: String,
        /// The policy.
        policy: String,
        /// `using` or `with_check`.
        clause: String,
        /// What was wrong.
        message: String,
        /// 1-based character position in the expression.
        position: usize,
    },
    /// A policy of this name exists on the table.
    #[error("policy \"{policy}\" for table \"{table}\" already exists")]
    PolicyExists {
        /// The table.
        table: String,
        /// The policy.
        policy: String,
    },
    /// A new row fails the WITH CHECK of the table's policies (PostgreSQL's wording).
    #[error("new row violates row-level security policy {}for table \"{table}\"", .policy.as_ref().map(|p| format!("\"{p}\" ")).unwrap_or_default())]
    PolicyViolation {
        /// The table.
        table: String,
        /// The restrictive policy that failed (none when the permissive ones did).
        policy: Option<String>,
    },
    /// A policy raised an error on this row (type mismatch, bad input, missing setting).
    #[error("policy \"{policy}\" on table \"{table}\": {message}")]
    PolicyEvaluation {
        /// The table.
        table: String,
        /// The policy.
        policy: String,
        /// PostgreSQL's message.
        message: String,
    },
}

impl Error {
    /// The stable code for this error (`TENANT_NOT_FOUND`, `CONFIG_INVALID`, ...). For
    /// [`Error::QuotaExceeded`] it is the decision's code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TenantNotFound(_) => "TENANT_NOT_FOUND",
            Error::TenantExists(_) => "TENANT_EXISTS",
            Error::PlanNotFound(_) => "PLAN_NOT_FOUND",
            Error::PlanExists(_) => "PLAN_EXISTS",
            Error::PlanProtected(_) => "PLAN_PROTECTED",
            Error::ResourceNotFound { .. } => "RESOURCE_NOT_FOUND",
            Error::WrongResourceKind { .. } => "WRONG_RESOURCE_KIND",
            Error::LeaseNotFound { .. } => "LEASE_NOT_FOUND",
            Error::IsolationNotAllowed { .. } => "ISOLATION_NOT_ALLOWED",
            Error::Config(_) => "CONFIG_INVALID",
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::QuotaExceeded(d) => d.code.map(|c| c.as_str()).unwrap_or("QUOTA_EXCEEDED"),
            Error::Store(_) => "STORE_UNAVAILABLE",
            Error::PolicySyntax { .. } => "POLICY_SYNTAX_ERROR",
            Error::PolicyExists { .. } => "POLICY_EXISTS",
            Error::PolicyViolation { .. } => "POLICY_VIOLATION",
            Error::PolicyEvaluation { .. } => "POLICY_EVALUATION_ERROR",
        }
    }

    /// Fills in the table of a policy evaluation error.
    pub fn in_table(self, table: &str) -> Self {
        match self {
            Error::PolicyEvaluation { policy, message, .. } => {
                Error::PolicyEvaluation { table: table.to_owned(), policy, message }
            }
            other => other,
        }
    }

    /// Shorthand for an [`Error::InvalidArgument`].
    pub fn invalid(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument { name: name.into(), message: message.into() }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
