//! The C ABI of tenantguard: converts types and errors, nothing else.
//!
//! Conventions (the header, `include/tenantguard.h`, is generated from this file):
//! - Every function returns a [`TgStatus`] and writes results through out-parameters. Each goes
//!   through one guard ([`guard`]) that catches panics: none crosses the boundary; a caught panic
//!   returns `TG_STATUS_PANIC`.
//! - A NULL handle, NULL required pointer or NULL out-parameter returns
//!   `TG_STATUS_NULL_ARGUMENT`; strings must be NUL-terminated UTF-8 (`TG_STATUS_INVALID_UTF8`).
//! - Details of the last failed call on a thread: [`tg_last_error_code`],
//!   [`tg_last_error_message`] (borrowed, valid until the next failed call on that thread) and
//!   [`tg_last_error_json`] (owned).
//! - Ownership: handles from `*_new` are freed with the matching `*_free`; every `char *` this
//!   library returns through an out-parameter is freed with [`tg_string_free`]. Nothing else
//!   the library returns needs freeing.
//! - Thread safety: a `TgGovernor` and a `TgTenantHandle` may be used from any number of
//!   threads at once; `*_free` must not race with other calls on the same object.
//! - Time: pass `TG_NOW` for the governor's clock, or milliseconds since the epoch.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use serde_json::{Value, json};
use tg::api::{ApiError, Engine, Request, defaults};
use tg::clock::default_clock;
use tg::store::StoreSpec;
use tg::{Action, Code, Decision, TenantHandle};

/// The ABI version; bumped on every incompatible change of this header.
pub const TG_ABI_VERSION: u32 = 2;

// The guard relies on unwinding to catch panics: a `panic = "abort"` build would turn every
// panic into a process abort instead of `TG_STATUS_PANIC`.
#[cfg(not(panic = "unwind"))]
compile_error!("tenantguard-c must be built with panic = \"unwind\" (see [profile.release] in Cargo.toml)");

/// Pass as `now_ms` to use the governor's clock (the system clock).
pub const TG_NOW: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// Result of every call. Values are stable and never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TgStatus {
    /// Success.
    Ok = 0,
    /// A required pointer (handle, string, out-parameter) was NULL.
    NullArgument = 1,
    /// A string was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument was invalid (negative, malformed JSON, unknown option, wrong resource kind).
    InvalidArgument = 3,
    /// The configuration was rejected (`tg_last_error_json` has the key and line).
    ConfigInvalid = 4,
    /// A tenant, plan, resource, lease or policy was not found.
    NotFound = 5,
    /// The object exists already, or the change is not allowed (protected plan, isolation).
    Conflict = 6,
    /// A refusal raised as an error (per-user quota); checks report refusals in the decision.
    QuotaExceeded = 7,
    /// No RLS policy admits the row.
    PolicyViolation = 8,
    /// An RLS expression did not parse.
    PolicySyntaxError = 9,
    /// The shared store is unavailable.
    StoreUnavailable = 10,
    /// Any other error (see `tg_last_error_code`).
    Error = 11,
    /// A panic was caught at the boundary (a bug: please report it).
    Panic = 12,
}

/// What the host should do with a request.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TgAction {
    /// Proceed.
    Allow = 0,
    /// Proceed; usage is above the warning threshold.
    Warn = 1,
    /// Proceed after `delay_ms`.
    Throttle = 2,
    /// Proceed after `delay_ms` in the queue, or (leases) poll again with `ticket`.
    Queue = 3,
    /// Refuse; retry after `retry_after_ms`.
    Reject = 4,
}

/// Why a decision is not a plain allow. Values are stable and never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TgCode {
    /// A plain allow.
    None = 0,
    /// `QUOTA_EXCEEDED`.
    QuotaExceeded = 1,
    /// `RATE_LIMITED`.
    RateLimited = 2,
    /// `CONNECTION_LIMIT`.
    ConnectionLimit = 3,
    /// `CONCURRENCY_LIMIT`.
    ConcurrencyLimit = 4,
    /// `STORAGE_QUOTA_EXCEEDED`.
    StorageQuotaExceeded = 5,
    /// `QUOTA_WARNING`.
    QuotaWarning = 6,
    /// `TRANSACTION_TIMEOUT`.
    TransactionTimeout = 7,
    /// `IDLE_IN_TRANSACTION_TIMEOUT`.
    IdleInTransactionTimeout = 8,
    /// `FEATURE_NOT_IN_PLAN`.
    FeatureNotInPlan = 9,
    /// `COST_EXCEEDS_LIMIT`.
    CostExceedsLimit = 10,
    /// `QUEUE_TIMEOUT`.
    QueueTimeout = 11,
    /// Reserved for codes a newer core adds before this header knows them.
    Other = 99,
}

/// The format of a configuration text.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TgConfigFormat {
    /// The S2 TOML format.
    Toml = 0,
    /// The same model as JSON.
    Json = 1,
}

/// The answer to every check, lease, usage and transaction call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TgDecision {
    /// Whether the request may proceed (possibly after `delay_ms`).
    pub allowed: bool,
    /// What the host should do.
    pub action: TgAction,
    /// Why, when not a plain allow (also set in shadow mode).
    pub code: TgCode,
    /// Whether `limit` is set (false: unlimited).
    pub has_limit: bool,
    /// The limit in force.
    pub limit: u64,
    /// Whether `remaining` is set (false: unlimited).
    pub has_remaining: bool,
    /// Units left after this request.
    pub remaining: u64,
    /// For a refusal: ms until the same request could succeed.
    pub retry_after_ms: u64,
    /// ms until the resource is replenished (rate) or the deadline (duration).
    pub reset_ms: u64,
    /// For throttle/queue admissions: ms to wait before proceeding.
    pub delay_ms: u64,
    /// Shadow mode: the request would have been limited, and was allowed and recorded.
    pub shadow: bool,
    /// Whether `lease_id` is set.
    pub has_lease_id: bool,
    /// The lease of a concurrency or duration acquisition.
    pub lease_id: u64,
    /// Whether `ticket` is set.
    pub has_ticket: bool,
    /// A queue ticket: call `tg_acquire` again with it.
    pub ticket: u64,
    /// The resource's name, NUL-terminated UTF-8. Static: valid for the life of the process,
    /// never freed. (An interior NUL byte in a configured name is dropped.)
    pub resource: *const c_char,
}

/// A governor (with the S1 per-user and keyed limiters). Opaque.
pub struct TgGovernor {
    engine: Engine,
}

/// A pre-resolved tenant: checks skip the name lookup. Opaque.
pub struct TgTenantHandle {
    handle: TenantHandle,
}

/// A failure on its way to the caller.
struct Failure {
    status: TgStatus,
    error: ApiError,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        let status = match error.code.as_str() {
            "INVALID_ARGUMENT" | "WRONG_RESOURCE_KIND" => TgStatus::InvalidArgument,
            "CONFIG_INVALID" => TgStatus::ConfigInvalid,
            c if c.ends_with("_NOT_FOUND") => TgStatus::NotFound,
            c if c.ends_with("_EXISTS") || c == "PLAN_PROTECTED" || c == "ISOLATION_NOT_ALLOWED" => TgStatus::Conflict,
            "POLICY_VIOLATION" => TgStatus::PolicyViolation,
            "POLICY_SYNTAX_ERROR" => TgStatus::PolicySyntaxError,
            "STORE_UNAVAILABLE" => TgStatus::StoreUnavailable,
            _ if error.decision.is_some() => TgStatus::QuotaExceeded,
            _ => TgStatus::Error,
        };
        Failure { status, error }
    }
}

impl From<tg::Error> for Failure {
    fn from(e: tg::Error) -> Self {
        ApiError::from(e).into()
    }
}

fn failure(status: TgStatus, code: &str, key: &str, message: String) -> Failure {
    let mut error = ApiError::invalid(key, message);
    error.code = code.to_owned();
    Failure { status, error }
}

/// The last failure of this thread, kept as C strings so the getters can lend them.
struct LastError {
    code: CString,
    message: CString,
    json: String,
}

thread_local! {
    static LAST: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|b| *b != 0);
        CString::new(bytes).unwrap_or_default()
    })
}

fn remember(f: &Failure) {
    let last = LastError {
        code: c_string(f.error.code.clone()),
        message: c_string(f.error.message.clone()),
        json: serde_json::to_string(&f.error).unwrap_or_default(),
    };
    // `try_with`: during thread teardown there is no slot left to fill, and no panic either.
    let _ = LAST.try_with(|l| *l.borrow_mut() = Some(last));
}

/// The one guard every export goes through: runs `f`, catches panics, records failures.
fn guard(f: impl FnOnce() -> Result<(), Failure>) -> TgStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => TgStatus::Ok,
        Ok(Err(e)) => {
            remember(&e);
            e.status
        }
        Err(_) => {
            let e = failure(
                TgStatus::Panic,
                "PANIC",
                "",
                "tenantguard: internal error (panic caught at the C boundary)".into(),
            );
            remember(&e);
            TgStatus::Panic
        }
    }
}

/// A required string argument.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(failure(TgStatus::NullArgument, "NULL_ARGUMENT", what, format!("`{what}` is NULL")));
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|e| failure(TgStatus::InvalidUtf8, "INVALID_UTF8", what, format!("`{what}` is not valid UTF-8: {e}")))
}

/// An optional string argument (NULL → `None`).
///
/// # Safety
/// As [`text`].
unsafe fn opt_text<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() { Ok(None) } else { unsafe { text(p, what) }.map(Some) }
}

/// A required object behind a handle.
///
/// # Safety
/// `p` is NULL or a live handle of this type.
unsafe fn object<'a, T>(p: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: non-null handles are live objects created by this library (caller's contract).
    unsafe { p.as_ref() }
        .ok_or_else(|| failure(TgStatus::NullArgument, "NULL_ARGUMENT", what, format!("`{what}` is NULL")))
}

/// Writes `v` through a required out-parameter.
///
/// # Safety
/// `out` is NULL or valid for writing a `T`.
unsafe fn put<T>(out: *mut T, v: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(failure(TgStatus::NullArgument, "NULL_ARGUMENT", what, format!("`{what}` is NULL")));
    }
    // SAFETY: non-null and writable by the caller's contract.
    unsafe { out.write(v) };
    Ok(())
}

fn now(gov: &TgGovernor, now_ms: u64) -> u64 {
    if now_ms == TG_NOW { gov.engine.governor.now_ms() } else { now_ms }
}

#[inline(always)]
fn code_of(d: &Decision) -> TgCode {
    // Exhaustive: a new core code fails to compile here until it has a TgCode value.
    match d.code {
        None => TgCode::None,
        Some(Code::QuotaExceeded) => TgCode::QuotaExceeded,
        Some(Code::RateLimited) => TgCode::RateLimited,
        Some(Code::ConnectionLimit) => TgCode::ConnectionLimit,
        Some(Code::ConcurrencyLimit) => TgCode::ConcurrencyLimit,
        Some(Code::StorageQuotaExceeded) => TgCode::StorageQuotaExceeded,
        Some(Code::QuotaWarning) => TgCode::QuotaWarning,
        Some(Code::TransactionTimeout) => TgCode::TransactionTimeout,
        Some(Code::IdleInTransactionTimeout) => TgCode::IdleInTransactionTimeout,
        Some(Code::FeatureNotInPlan) => TgCode::FeatureNotInPlan,
        Some(Code::CostExceedsLimit) => TgCode::CostExceedsLimit,
        Some(Code::QueueTimeout) => TgCode::QueueTimeout,
    }
}

/// C copies of the core's interned resource names (a handful per process), kept for the life
/// of the process; each thread caches the ones it has seen so the hot path takes no lock.
static NAMES: std::sync::Mutex<Vec<(&'static str, &'static CStr)>> = std::sync::Mutex::new(Vec::new());

thread_local! {
    static NAME_CACHE: RefCell<Vec<(&'static str, &'static CStr)>> = const { RefCell::new(Vec::new()) };
}

fn c_name_slow(name: &'static str) -> &'static CStr {
    let mut all = NAMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, c)) = all.iter().find(|(n, _)| std::ptr::eq(*n, name)) {
        return c;
    }
    let c: &'static CStr = Box::leak(c_string(name.to_owned()).into_boxed_c_str());
    all.push((name, c));
    c
}

/// The NUL-terminated, never-freed C form of an interned resource name.
#[inline(always)]
fn c_name(name: &'static str) -> *const c_char {
    let cached = NAME_CACHE.try_with(|cache| {
        if let Some((_, c)) = cache.borrow().iter().find(|(n, _)| std::ptr::eq(*n, name)) {
            return c.as_ptr();
        }
        let c = c_name_slow(name);
        cache.borrow_mut().push((name, c));
        c.as_ptr()
    });
    // During thread teardown the cache is gone: go to the shared list directly.
    cached.unwrap_or_else(|_| c_name_slow(name).as_ptr())
}

#[inline(always)]
fn to_c(d: &Decision) -> TgDecision {
    let resource = c_name(d.resource);
    TgDecision {
        allowed: d.allowed,
        action: match d.action {
            Action::Allow => TgAction::Allow,
            Action::Warn => TgAction::Warn,
            Action::Throttle => TgAction::Throttle,
            Action::Queue => TgAction::Queue,
            Action::Reject => TgAction::Reject,
        },
        code: code_of(d),
        has_limit: d.limit.is_some(),
        limit: d.limit.unwrap_or(0),
        has_remaining: d.remaining.is_some(),
        remaining: d.remaining.unwrap_or(0),
        retry_after_ms: d.retry_after_ms,
        reset_ms: d.reset_ms,
        delay_ms: d.delay_ms,
        shadow: d.shadow,
        has_lease_id: d.lease_id.is_some(),
        lease_id: d.lease_id.unwrap_or(0),
        has_ticket: d.ticket.is_some(),
        ticket: d.ticket.unwrap_or(0),
        resource,
    }
}

/// Runs a decision-returning governor call and writes the decision.
///
/// # Safety
/// `gov`, `tenant`, `resource` and `out` as the exported functions document.
unsafe fn decide(
    gov: *const TgGovernor,
    tenant: *const c_char,
    resource: *const c_char,
    default_resource: &str,
    out: *mut TgDecision,
    f: impl FnOnce(&TgGovernor, &str, &str) -> Result<Decision, tg::Error>,
) -> TgStatus {
    guard(|| {
        // SAFETY: forwarded caller contracts.
        let g = unsafe { object(gov, "gov") }?;
        let t = unsafe { text(tenant, "tenant") }?;
        let r = unsafe { opt_text(resource, "resource") }?.unwrap_or(default_resource);
        if out.is_null() {
            return Err(failure(TgStatus::NullArgument, "NULL_ARGUMENT", "out", "`out` is NULL".into()));
        }
        let d = f(g, t, r)?;
        // SAFETY: checked non-null above; writable by contract.
        unsafe { put(out, to_c(&d), "out") }
    })
}

/// Panics inside [`guard`], for the test that a panic comes back as [`TgStatus::Panic`] with
/// the last error set and never crosses the boundary (`tests/test_hostile.c`). Not part of
/// the API: cbindgen leaves it out of the header.
///
/// # Safety
/// Safe to call at any time: it takes no pointers.
#[unsafe(no_mangle)]
#[allow(clippy::panic, reason = "the point of this test hook")]
pub extern "C" fn tg__test_panic() -> TgStatus {
    guard(|| panic!("deliberate panic (test hook)"))
}

/// The ABI version of the loaded library ([`TG_ABI_VERSION`] when it was built); loaders
/// compare it with the header's `TG_ABI_VERSION` and refuse a mismatch.
///
/// Thread safety: Thread-safe.
///
/// # Safety
/// Safe to call at any time: it takes no pointers.
#[unsafe(no_mangle)]
pub extern "C" fn tg_abi_version() -> u32 {
    TG_ABI_VERSION
}

/// Creates a governor from a configuration text in `format` (a `TgConfigFormat` value), or with the built-in plans when
/// `config` is NULL. `default_rpm` is the S1 per-user quota default (0 means 60). On success
/// `*out` owns the governor: free it with `tg_governor_free`. Counters and leases stay in
/// process, unless the configuration is in S2 federated mode (then on its Redis); see
/// `tg_governor_new_with_store` to share them through Redis.
///
/// # Safety
/// `config` is NULL or a NUL-terminated string; `out` is valid for writing a pointer.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_governor_new(
    config: *const c_char,
    format: i32,
    default_rpm: u32,
    out: *mut *mut TgGovernor,
) -> TgStatus {
    // SAFETY: forwarded caller contract (a NULL store is the memory store).
    unsafe { tg_governor_new_with_store(config, format, default_rpm, std::ptr::null(), out) }
}

/// `tg_governor_new` with a state store: `store_json` is NULL (in process, or a federated
/// configuration's Redis) or a JSON object
/// such as `{"redisUrl": "redis://127.0.0.1:6379/", "mode": "federated",
/// "failurePolicy": "local:0.5"}` (keys: redisUrl, prefix, mode, syncIntervalMs,
/// failurePolicy, resourceFailurePolicies, timeoutMs, time, leaseTtlMs, cluster; snake_case
/// accepted). The store
/// connects lazily: a Redis that is down is not an error here. Bad options are
/// `TG_STATUS_INVALID_ARGUMENT` naming the key. On success `*out` owns the governor: free it
/// with `tg_governor_free`.
///
/// # Safety
/// `config` and `store_json` are NULL or NUL-terminated strings; `out` is valid for writing a
/// pointer.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_governor_new_with_store(
    config: *const c_char,
    format: i32,
    default_rpm: u32,
    store_json: *const c_char,
    out: *mut *mut TgGovernor,
) -> TgStatus {
    guard(|| {
        // SAFETY: caller contract.
        let text = unsafe { opt_text(config, "config") }?;
        let store = unsafe { opt_text(store_json, "store_json") }?;
        let source = match (text, format) {
            (None, _) => None,
            (Some(t), f) if f == TgConfigFormat::Toml as i32 => Some(json!({ "toml": t })),
            (Some(t), f) if f == TgConfigFormat::Json as i32 => Some(json!({ "json": t })),
            (Some(_), f) => return Err(ApiError::invalid("format", format!("unknown TgConfigFormat {f}")).into()),
        };
        let source = source
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Failure::from(ApiError::invalid("config", e.to_string())))?;
        let spec = match store {
            None => StoreSpec::default(),
            Some(j) => StoreSpec::from_json(j).map_err(|e| Failure::from(ApiError::from(e)))?,
        };
        let rpm = if default_rpm == 0 { defaults::USER_RPM } else { default_rpm };
        let engine = Engine::from_config_with_spec(source.as_ref(), rpm, default_clock(), &spec)?;
        let boxed = Box::into_raw(Box::new(TgGovernor { engine }));
        // SAFETY: caller contract; on failure the governor is reclaimed below.
        if let Err(e) = unsafe { put(out, boxed, "out") } {
            // SAFETY: `boxed` came from Box::into_raw just above and was not handed out.
            drop(unsafe { Box::from_raw(boxed) });
            return Err(e);
        }
        Ok(())
    })
}

/// Frees a governor. NULL is a no-op.
///
/// # Safety
/// `gov` is NULL or a governor from `tg_governor_new` not freed before; no other call on it
/// may run concurrently or afterwards. Handles opened from it stay valid (they share its state).
///
/// Thread safety: Not concurrently with any other call on `gov`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_governor_free(gov: *mut TgGovernor) {
    if !gov.is_null() {
        // SAFETY: caller contract: an unfreed governor from Box::into_raw.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(gov) })));
    }
}

/// The governor's clock, in ms since the epoch.
///
/// # Safety
/// `gov` is a live governor or NULL; `out` is valid for writing or NULL.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_now_ms(gov: *const TgGovernor, out: *mut u64) -> TgStatus {
    guard(|| {
        // SAFETY: caller contract.
        let g = unsafe { object(gov, "gov") }?;
        unsafe { put(out, g.engine.governor.now_ms(), "out") }
    })
}

/// Registers tenant `name` on `plan` (NULL: the plan of the first `tenant_pattern` its name
/// matches, else `default_tier`) with shared-schema isolation.
/// Use `tg_call` with `registerTenant` for the other isolation modes.
///
/// # Safety
/// `gov` is a live governor or NULL; `name` a NUL-terminated string or NULL; `plan` NULL or a
/// NUL-terminated string.
///
/// Thread safety: Thread-safe (concurrent calls on one governor are fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_register(
    gov: *const TgGovernor,
    name: *const c_char,
    plan: *const c_char,
    now_ms: u64,
) -> TgStatus {
    guard(|| {
        // SAFETY: caller contract.
        let g = unsafe { object(gov, "gov") }?;
        let n = unsafe { text(name, "name") }?;
        let p = unsafe { opt_text(plan, "plan") }?;
        g.engine.governor.register(n, p, tg::IsolationMode::SharedSchema, now(g, now_ms))?;
        Ok(())
    })
}

/// Checks and consumes `cost` units of `resource` (NULL: `qps`) for `tenant`; writes the
/// decision. A refusal is a decision (`allowed == false`), not an error status.
///
/// # Safety
/// `gov` live or NULL; `tenant` NUL-terminated or NULL; `resource` NULL or NUL-terminated;
/// `out` writable or NULL.
///
/// Thread safety: Thread-safe: any number of threads may check one governor and one tenant at once; the limit is never over-admitted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_check(
    gov: *const TgGovernor,
    tenant: *const c_char,
    resource: *const c_char,
    cost: u64,
    now_ms: u64,
    out: *mut TgDecision,
) -> TgStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        decide(gov, tenant, resource, defaults::CHECK_RESOURCE, out, |g, t, r| {
            g.engine.governor.check(t, r, cost, now(g, now_ms))
        })
    }
}

/// Like `tg_check`, without consuming anything.
///
/// # Safety
/// As `tg_check`.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_peek(
    gov: *const TgGovernor,
    tenant: *const c_char,
    resource: *const c_char,
    cost: u64,
    now_ms: u64,
    out: *mut TgDecision,
) -> TgStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        decide(gov, tenant, resource, defaults::CHECK_RESOURCE, out, |g, t, r| {
            g.engine.governor.peek(t, r, cost, now(g, now_ms))
        })
    }
}

/// Acquires a concurrency lease on `resource` (NULL: `connections`). `ticket` is NULL for a
/// new request, or the ticket of a queued one to poll it. The decision carries `lease_id`
/// (release it with `tg_release`) or a `ticket`.
///
/// # Safety
/// As `tg_check`; `ticket` NULL or readable.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_acquire(
    gov: *const TgGovernor,
    tenant: *const c_char,
    resource: *const c_char,
    ticket: *const u64,
    now_ms: u64,
    out: *mut TgDecision,
) -> TgStatus {
    // SAFETY: `ticket` is NULL or readable by the caller's contract.
    let ticket = unsafe { ticket.as_ref() }.copied();
    // SAFETY: forwarded caller contract.
    unsafe {
        decide(gov, tenant, resource, defaults::LEASE_RESOURCE, out, |g, t, r| {
            g.engine.governor.acquire(t, r, ticket, now(g, now_ms))
        })
    }
}

/// Releases lease `lease_id` of `resource` (NULL: `connections`).
///
/// # Safety
/// As `tg_check`.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_release(
    gov: *const TgGovernor,
    tenant: *const c_char,
    resource: *const c_char,
    lease_id: u64,
    now_ms: u64,
    out: *mut TgDecision,
) -> TgStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        decide(gov, tenant, resource, defaults::LEASE_RESOURCE, out, |g, t, r| {
            g.engine.governor.release(t, r, lease_id, now(g, now_ms))
        })
    }
}

/// Which gauge operation `tg_usage` applies.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TgUsageOp {
    /// Set the gauge to `amount`.
    Set = 0,
    /// Add `amount` (a write; refused over the hard limit).
    Add = 1,
    /// Subtract `amount` (never refused).
    Subtract = 2,
}

/// Updates the capacity gauge `resource` (NULL: `storage`) of `tenant`; `op` is a `TgUsageOp`.
///
/// # Safety
/// As `tg_check`.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_usage(
    gov: *const TgGovernor,
    tenant: *const c_char,
    resource: *const c_char,
    op: i32,
    amount: u64,
    now_ms: u64,
    out: *mut TgDecision,
) -> TgStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        decide(gov, tenant, resource, defaults::USAGE_RESOURCE, out, |g, t, r| {
            let n = now(g, now_ms);
            match op {
                o if o == TgUsageOp::Set as i32 => g.engine.governor.set_usage(t, r, amount, n),
                o if o == TgUsageOp::Add as i32 => g.engine.governor.add_usage(t, r, amount, n),
                o if o == TgUsageOp::Subtract as i32 => g.engine.governor.subtract_usage(t, r, amount, n),
                o => Err(tg::Error::invalid("op", format!("unknown TgUsageOp {o}"))),
            }
        })
    }
}

/// Which step of a duration lease (a transaction) `tg_transaction` takes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TgTransactionOp {
    /// Start: the decision carries the `lease_id`.
    Begin = 0,
    /// Activity on `lease_id` (resets the idle timer).
    Touch = 1,
    /// End `lease_id`.
    End = 2,
}

/// Begins, touches or ends (`op`, a `TgTransactionOp`) a duration lease on `resource` (NULL:
/// `transaction`). `lease_id` is
/// ignored for `TG_TRANSACTION_OP_BEGIN`.
///
/// # Safety
/// As `tg_check`.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_transaction(
    gov: *const TgGovernor,
    tenant: *const c_char,
    resource: *const c_char,
    op: i32,
    lease_id: u64,
    now_ms: u64,
    out: *mut TgDecision,
) -> TgStatus {
    // SAFETY: forwarded caller contract.
    unsafe {
        decide(gov, tenant, resource, defaults::TRANSACTION_RESOURCE, out, |g, t, r| {
            let n = now(g, now_ms);
            match op {
                o if o == TgTransactionOp::Begin as i32 => g.engine.governor.begin(t, r, n),
                o if o == TgTransactionOp::Touch as i32 => g.engine.governor.touch(t, r, lease_id, n),
                o if o == TgTransactionOp::End as i32 => g.engine.governor.end(t, r, lease_id, n),
                o => Err(tg::Error::invalid("op", format!("unknown TgTransactionOp {o}"))),
            }
        })
    }
}

/// Resolves `tenant` once; `*out` owns the handle (free it with `tg_handle_free`).
///
/// # Safety
/// `gov` live or NULL; `tenant` NUL-terminated or NULL; `out` writable or NULL.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_handle_new(
    gov: *const TgGovernor,
    tenant: *const c_char,
    out: *mut *mut TgTenantHandle,
) -> TgStatus {
    guard(|| {
        // SAFETY: caller contract.
        let g = unsafe { object(gov, "gov") }?;
        let t = unsafe { text(tenant, "tenant") }?;
        if out.is_null() {
            return Err(failure(TgStatus::NullArgument, "NULL_ARGUMENT", "out", "`out` is NULL".into()));
        }
        let handle = g.engine.governor.handle(t)?;
        // SAFETY: checked non-null above.
        unsafe { put(out, Box::into_raw(Box::new(TgTenantHandle { handle })), "out") }
    })
}

/// `tg_check` on a pre-resolved tenant: the fast path.
///
/// # Safety
/// `handle` live or NULL; `resource` NULL or NUL-terminated; `out` writable or NULL.
///
/// Thread safety: Thread-safe: one handle may be shared by threads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_handle_check(
    handle: *const TgTenantHandle,
    resource: *const c_char,
    cost: u64,
    now_ms: u64,
    out: *mut TgDecision,
) -> TgStatus {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { object(handle, "handle") }?;
        let r = unsafe { opt_text(resource, "resource") }?.unwrap_or(defaults::CHECK_RESOURCE);
        if out.is_null() {
            return Err(failure(TgStatus::NullArgument, "NULL_ARGUMENT", "out", "`out` is NULL".into()));
        }
        let n = if now_ms == TG_NOW { h.handle.now_ms() } else { now_ms };
        let d = h.handle.check(r, cost, n)?;
        // SAFETY: checked non-null above.
        unsafe { put(out, to_c(&d), "out") }
    })
}

/// Frees a handle. NULL is a no-op.
///
/// # Safety
/// `handle` is NULL or a handle from `tg_handle_new` not freed before, with no concurrent use.
///
/// Thread safety: Not concurrently with any other call on `handle`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_handle_free(handle: *mut TgTenantHandle) {
    if !handle.is_null() {
        // SAFETY: caller contract: an unfreed handle from Box::into_raw.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(handle) })));
    }
}

/// Runs any operation of the host-neutral API: `op` (e.g. `"status"`, `"createPlan"`,
/// `"rlsFilter"`, as in the conformance corpus) with `args_json` (a JSON object; NULL for `{}`),
/// at `now_ms`. On success `*out_json` owns the JSON answer: free it with `tg_string_free`.
///
/// # Safety
/// `gov` live or NULL; `op` NUL-terminated or NULL; `args_json` NULL or NUL-terminated;
/// `out_json` writable or NULL.
///
/// Thread safety: Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_call(
    gov: *const TgGovernor,
    op: *const c_char,
    args_json: *const c_char,
    now_ms: u64,
    out_json: *mut *mut c_char,
) -> TgStatus {
    guard(|| {
        // SAFETY: caller contract.
        let g = unsafe { object(gov, "gov") }?;
        let op = unsafe { text(op, "op") }?;
        let args = unsafe { opt_text(args_json, "args_json") }?;
        if out_json.is_null() {
            return Err(failure(TgStatus::NullArgument, "NULL_ARGUMENT", "out_json", "`out_json` is NULL".into()));
        }
        let args: Value = match args {
            None => json!({}),
            Some(a) => {
                serde_json::from_str(a).map_err(|e| Failure::from(ApiError::invalid("args_json", e.to_string())))?
            }
        };
        let req = Request::parse(op, args)?;
        let answer = g.engine.execute(req, if now_ms == TG_NOW { None } else { Some(now_ms) })?;
        let text = c_string(answer.to_string());
        // SAFETY: checked non-null above.
        unsafe { put(out_json, text.into_raw(), "out_json") }
    })
}

/// Frees a string this library returned through an out-parameter. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string from this library not freed before.
///
/// Thread safety: Thread-safe (each string is freed once).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tg_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: caller contract: a string from CString::into_raw.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { CString::from_raw(s) })));
    }
}

/// The stable code of the last failed call on this thread (`"TENANT_NOT_FOUND"`,
/// `"NULL_ARGUMENT"`, ...), or NULL if none failed yet. Borrowed: valid until the next failed
/// call on this thread; do not free.
///
/// Thread safety: Per thread: describes the calling thread's last failure only.
///
/// # Safety
/// Safe to call at any time: it takes no pointers.
#[unsafe(no_mangle)]
pub extern "C" fn tg_last_error_code() -> *const c_char {
    LAST.try_with(|l| l.borrow().as_ref().map_or(ptr::null(), |e| e.code.as_ptr())).unwrap_or(ptr::null())
}

/// The message of the last failed call on this thread, or NULL. Borrowed, as
/// `tg_last_error_code`.
///
/// Thread safety: Per thread, as `tg_last_error_code`.
///
/// # Safety
/// Safe to call at any time: it takes no pointers.
#[unsafe(no_mangle)]
pub extern "C" fn tg_last_error_message() -> *const c_char {
    LAST.try_with(|l| l.borrow().as_ref().map_or(ptr::null(), |e| e.message.as_ptr())).unwrap_or(ptr::null())
}

/// The last failed call's error as JSON (`{code, message, key, line, column, decision}`), or
/// NULL if none. Owned: free it with `tg_string_free`.
///
/// Thread safety: Per thread, as `tg_last_error_code`.
///
/// # Safety
/// Safe to call at any time: it takes no pointers.
#[unsafe(no_mangle)]
pub extern "C" fn tg_last_error_json() -> *mut c_char {
    LAST.try_with(|l| l.borrow().as_ref().map_or(ptr::null_mut(), |e| c_string(e.json.clone()).into_raw()))
        .unwrap_or(ptr::null_mut())
}

/// The name of a status (`"TG_STATUS_NOT_FOUND"`, ...; `"TG_STATUS_UNKNOWN"` for a value that
/// is not a `TgStatus`). Static: do not free.
///
/// Thread safety: Thread-safe.
///
/// # Safety
/// Safe to call at any time: it takes no pointers.
#[unsafe(no_mangle)]
pub extern "C" fn tg_status_name(status: i32) -> *const c_char {
    const ALL: [TgStatus; 13] = [
        TgStatus::Ok,
        TgStatus::NullArgument,
        TgStatus::InvalidUtf8,
        TgStatus::InvalidArgument,
        TgStatus::ConfigInvalid,
        TgStatus::NotFound,
        TgStatus::Conflict,
        TgStatus::QuotaExceeded,
        TgStatus::PolicyViolation,
        TgStatus::PolicySyntaxError,
        TgStatus::StoreUnavailable,
        TgStatus::Error,
        TgStatus::Panic,
    ];
    let Some(status) = ALL.into_iter().find(|s| *s as i32 == status) else { return c"TG_STATUS_UNKNOWN".as_ptr() };
    let s: &'static CStr = match status {
        TgStatus::Ok => c"TG_STATUS_OK",
        TgStatus::NullArgument => c"TG_STATUS_NULL_ARGUMENT",
        TgStatus::InvalidUtf8 => c"TG_STATUS_INVALID_UTF8",
        TgStatus::InvalidArgument => c"TG_STATUS_INVALID_ARGUMENT",
        TgStatus::ConfigInvalid => c"TG_STATUS_CONFIG_INVALID",
        TgStatus::NotFound => c"TG_STATUS_NOT_FOUND",
        TgStatus::Conflict => c"TG_STATUS_CONFLICT",
        TgStatus::QuotaExceeded => c"TG_STATUS_QUOTA_EXCEEDED",
        TgStatus::PolicyViolation => c"TG_STATUS_POLICY_VIOLATION",
        TgStatus::PolicySyntaxError => c"TG_STATUS_POLICY_SYNTAX_ERROR",
        TgStatus::StoreUnavailable => c"TG_STATUS_STORE_UNAVAILABLE",
        TgStatus::Error => c"TG_STATUS_ERROR",
        TgStatus::Panic => c"TG_STATUS_PANIC",
    };
    s.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_turns_a_panic_into_a_status_and_a_last_error() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, TgStatus::Panic);
        // SAFETY: the getters return NUL-terminated strings owned by this thread's last error.
        let code = unsafe { CStr::from_ptr(tg_last_error_code()) };
        assert_eq!(code.to_str().unwrap(), "PANIC");
        // The guard keeps working afterwards.
        assert_eq!(guard(|| Ok(())), TgStatus::Ok);
    }

    #[test]
    fn status_values_are_distinct_and_named() {
        let names: std::collections::HashSet<String> =
            (0..13).map(|i| unsafe { CStr::from_ptr(tg_status_name(i)) }.to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 13);
        assert!(!names.contains("TG_STATUS_UNKNOWN"));
    }
}
