//! The Python shell of tenantguard: converts types and errors, nothing else.
//!
//! Every rule lives in the `tenantguard` crate. This module maps Python arguments onto the
//! core API, returns decisions as frozen `Decision` objects and everything else as plain
//! dicts (snake_case keys), and raises the exception classes defined in
//! `tenantguard/errors.py` with the error's stable `code`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMapping, PySequence, PySet, PyString,
    PyTuple,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::time::Duration;
use tenantguard::api::ApiError;
use tenantguard::multi_tenant::quotas::RateLimiter;
use tenantguard::store::StoreSpec;
use tenantguard::{Config, Decision, Error, Feature, Governor, IsolationMode, Override, Plan, UserQuotaManager};

// ----- errors ---------------------------------------------------------------------------------

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class_for(code: &str, has_decision: bool) -> &'static str {
    match code {
        "TENANT_NOT_FOUND" | "PLAN_NOT_FOUND" | "RESOURCE_NOT_FOUND" | "LEASE_NOT_FOUND" => "NotFound",
        "CONFIG_INVALID" => "ConfigError",
        "INVALID_ARGUMENT" | "WRONG_RESOURCE_KIND" => "InvalidArgument",
        "TENANT_EXISTS" | "PLAN_EXISTS" | "PLAN_PROTECTED" | "ISOLATION_NOT_ALLOWED" => "Conflict",
        "STORE_UNAVAILABLE" => "StoreError",
        "POLICY_VIOLATION" => "PolicyViolation",
        "POLICY_SYNTAX_ERROR" => "PolicySyntaxError",
        "POLICY_EXISTS" => "Conflict",
        _ if has_decision => "QuotaExceeded",
        _ => "TenantGuardError",
    }
}

/// Builds the Python exception for a core error: the class by code, with `code`, `key`,
/// `line`, `column` and (for quota errors) the decision and its fields as attributes.
fn py_err(py: Python<'_>, e: Error) -> PyErr {
    let api = ApiError::from(e.clone());
    let decision = match &e {
        Error::QuotaExceeded(d) => Some(PyDecision::from((**d).clone())),
        _ => None,
    };
    let build = || -> PyResult<PyErr> {
        let module = ERRORS.get_or_try_init(py, || py.import("tenantguard.errors").map(Bound::unbind))?.bind(py);
        let cls = module.getattr(class_for(&api.code, decision.is_some()))?;
        let exc = cls.call1((api.message.clone(),))?;
        exc.setattr("code", api.code.clone())?;
        exc.setattr("key", api.key.clone())?;
        exc.setattr("line", api.line)?;
        exc.setattr("column", api.column)?;
        if let Some(d) = decision {
            exc.setattr("resource", d.resource)?;
            exc.setattr("limit", d.limit)?;
            exc.setattr("remaining", d.remaining)?;
            exc.setattr("retry_after_ms", d.retry_after_ms)?;
            exc.setattr("decision", Py::new(py, d)?)?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|err| err)
}

trait IntoPy<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| py_err(py, e))
    }
}

fn invalid(py: Python<'_>, name: &str, message: impl Into<String>) -> PyErr {
    py_err(py, Error::invalid(name, message))
}

// ----- dict conversion ------------------------------------------------------------------------

fn snake(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            o.push('_');
            o.push(c.to_ascii_lowercase());
        } else {
            o.push(c);
        }
    }
    o
}

fn camel(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            o.push(c.to_ascii_uppercase());
            up = false;
        } else {
            o.push(c);
        }
    }
    o
}

fn rekey(v: Value, f: fn(&str) -> String) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (f(&k), rekey(v, f))).collect::<Map<_, _>>()),
        Value::Array(xs) => Value::Array(xs.into_iter().map(|x| rekey(x, f)).collect()),
        other => other,
    }
}

/// A core value as a Python dict/list with snake_case keys.
fn to_py<T: Serialize>(py: Python<'_>, v: &T) -> PyResult<Py<PyAny>> {
    let value = serde_json::to_value(v).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(pythonize::pythonize(py, &rekey(value, snake))?.unbind())
}

/// Containers nested deeper than this are refused (serde_json's own limit for JSON text).
const MAX_DEPTH: usize = 128;

/// A dict or any other mapping (`collections.abc.Mapping`): what config, store options, rows
/// and contexts may be.
fn is_mapping(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyDict>() || obj.cast::<PyMapping>().is_ok()
}

/// A Python value as JSON, refusing dicts, lists and tuples nested deeper than [`MAX_DEPTH`]
/// (a container that contains itself is infinitely deep): converting those would overflow the
/// stack, which crashes the interpreter instead of raising.
fn depythonize(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    // Walks what `pythonize` walks, in its order: dicts, lists and tuples; sets; any other
    // sequence or mapping; dataclasses.
    fn depth_ok(obj: &Bound<'_, PyAny>, depth: usize) -> bool {
        let deeper = |it: PyResult<Bound<'_, pyo3::types::PyIterator>>| match it {
            Ok(it) => it.flatten().all(|v| depth_ok(&v, depth + 1)),
            Err(_) => true, // not iterable after all: the conversion reports it
        };
        if obj.is_none()
            || obj.is_instance_of::<PyBool>()
            || obj.is_instance_of::<PyInt>()
            || obj.is_instance_of::<PyString>()
            || obj.is_instance_of::<PyFloat>()
            || obj.is_instance_of::<PyBytes>()
            || obj.is_instance_of::<PyByteArray>()
        {
            return true;
        }
        if depth > MAX_DEPTH {
            return false;
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            d.iter().all(|(_, v)| depth_ok(&v, depth + 1))
        } else if let Ok(l) = obj.cast::<PyList>() {
            l.iter().all(|v| depth_ok(&v, depth + 1))
        } else if let Ok(t) = obj.cast::<PyTuple>() {
            t.iter().all(|v| depth_ok(&v, depth + 1))
        } else if obj.is_instance_of::<PySet>()
            || obj.is_instance_of::<PyFrozenSet>()
            || obj.cast::<PySequence>().is_ok()
        {
            deeper(obj.try_iter())
        } else if let Ok(m) = obj.cast::<PyMapping>() {
            deeper(m.values().and_then(|v| v.try_iter()))
        } else if let Ok(fields) = obj.getattr("__dataclass_fields__") {
            match fields.try_iter() {
                Ok(names) => names.flatten().all(|n| match n.cast::<PyString>() {
                    Ok(name) => obj.getattr(name).map_or(true, |v| depth_ok(&v, depth + 1)),
                    Err(_) => true,
                }),
                Err(_) => true,
            }
        } else {
            true
        }
    }
    if !depth_ok(obj, 0) {
        return Err(invalid(
            py,
            what,
            format!("`{what}` is nested deeper than {MAX_DEPTH} levels, or contains itself"),
        ));
    }
    pythonize::depythonize(obj).map_err(|e| invalid(py, what, e.to_string()))
}

/// A Python dict (snake_case or camelCase keys) as a core value.
fn from_py<T: DeserializeOwned>(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    let value: Value = depythonize(py, obj, what)?;
    serde_json::from_value(rekey(value, camel)).map_err(|e| invalid(py, what, e.to_string()))
}

fn config_from(
    py: Python<'_>,
    config: Option<&Bound<'_, PyAny>>,
    toml: Option<&str>,
    json: Option<&str>,
    path: Option<&str>,
) -> PyResult<Config> {
    let given = [config.is_some(), toml.is_some(), json.is_some(), path.is_some()].iter().filter(|b| **b).count();
    if given > 1 {
        return Err(invalid(py, "config", "give one of config (dict), toml, json or path"));
    }
    let parsed = if let Some(c) = config {
        if !is_mapping(c) {
            return Err(PyTypeError::new_err(format!(
                "config must be a dict (a mapping), not {}",
                c.get_type().name()?
            )));
        }
        let value: Value = depythonize(py, c, "config")?;
        Config::from_json(&value.to_string())
    } else if let Some(t) = toml {
        Config::from_toml(t)
    } else if let Some(j) = json {
        Config::from_json(j)
    } else if let Some(p) = path {
        Config::from_path(p)
    } else {
        return Ok(Config::default());
    };
    parsed.map_err(|e| py_err(py, Error::Config(e)))
}

fn isolation(py: Python<'_>, s: &str) -> PyResult<IsolationMode> {
    IsolationMode::parse(s).ok_or_else(|| {
        invalid(
            py,
            "isolation",
            format!("unknown isolation mode `{s}` (SharedSchema, SeparateSchema, SeparateDatabase)"),
        )
    })
}

// ----- Decision -------------------------------------------------------------------------------

/// The answer to every check (frozen). `bool(decision)` is `decision.allowed`.
#[pyclass(frozen, eq, skip_from_py_object, module = "tenantguard", name = "Decision")]
#[derive(Clone, PartialEq)]
pub struct PyDecision {
    #[pyo3(get)]
    allowed: bool,
    #[pyo3(get)]
    action: &'static str,
    #[pyo3(get)]
    code: Option<&'static str>,
    #[pyo3(get)]
    resource: &'static str,
    #[pyo3(get)]
    limit: Option<u64>,
    #[pyo3(get)]
    remaining: Option<u64>,
    #[pyo3(get)]
    retry_after_ms: u64,
    #[pyo3(get)]
    reset_ms: u64,
    #[pyo3(get)]
    delay_ms: u64,
    #[pyo3(get)]
    shadow: bool,
    #[pyo3(get)]
    lease_id: Option<u64>,
    #[pyo3(get)]
    ticket: Option<u64>,
}

impl From<Decision> for PyDecision {
    #[inline]
    fn from(d: Decision) -> Self {
        Self {
            allowed: d.allowed,
            action: d.action.as_str(),
            code: d.code.map(|c| c.as_str()),
            resource: d.resource,
            limit: d.limit,
            remaining: d.remaining,
            retry_after_ms: d.retry_after_ms,
            reset_ms: d.reset_ms,
            delay_ms: d.delay_ms,
            shadow: d.shadow,
            lease_id: d.lease_id,
            ticket: d.ticket,
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "None".into())
}

#[pymethods]
impl PyDecision {
    fn __bool__(&self) -> bool {
        self.allowed
    }

    fn __repr__(&self) -> String {
        format!(
            "Decision(allowed={}, action='{}', code={}, resource='{}', limit={}, remaining={}, retry_after_ms={}, reset_ms={}, delay_ms={}, shadow={}, lease_id={}, ticket={})",
            if self.allowed { "True" } else { "False" },
            self.action,
            self.code.map(|c| format!("'{c}'")).unwrap_or_else(|| "None".into()),
            self.resource,
            opt(self.limit),
            opt(self.remaining),
            self.retry_after_ms,
            self.reset_ms,
            self.delay_ms,
            if self.shadow { "True" } else { "False" },
            opt(self.lease_id),
            opt(self.ticket),
        )
    }

    /// The decision as a dict (snake_case keys).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("allowed", self.allowed)?;
        d.set_item("action", self.action)?;
        d.set_item("code", self.code)?;
        d.set_item("resource", self.resource)?;
        d.set_item("limit", self.limit)?;
        d.set_item("remaining", self.remaining)?;
        d.set_item("retry_after_ms", self.retry_after_ms)?;
        d.set_item("reset_ms", self.reset_ms)?;
        d.set_item("delay_ms", self.delay_ms)?;
        d.set_item("shadow", self.shadow)?;
        d.set_item("lease_id", self.lease_id)?;
        d.set_item("ticket", self.ticket)?;
        Ok(d)
    }
}

// ----- Governor -------------------------------------------------------------------------------

/// Per-tenant governance: tenants, plans, checks, leases, usage. Thread-safe; one instance
/// is meant to be shared by the whole process.
#[pyclass(subclass, frozen, module = "tenantguard._native", name = "Governor")]
pub struct PyGovernor {
    gov: Governor,
    /// The store does network I/O (Redis): calls that reach it release the GIL.
    remote: bool,
}

impl PyGovernor {
    fn now(&self, now_ms: Option<u64>) -> u64 {
        now_ms.unwrap_or_else(|| self.gov.now_ms())
    }

    fn io<T: Send>(&self, py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
        if self.remote { py.detach(f) } else { f() }
    }
}

/// The `store=` argument: a Redis URL, or a dict of the core's `StoreSpec` (snake_case or
/// camelCase keys).
fn store_from(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<StoreSpec> {
    if let Ok(url) = obj.extract::<String>() {
        return Ok(StoreSpec::url(url));
    }
    if !is_mapping(obj) {
        return Err(PyTypeError::new_err(format!(
            "store must be a Redis URL or a dict (a mapping), not {}",
            obj.get_type().name()?
        )));
    }
    let value: Value = depythonize(py, obj, "store")?;
    StoreSpec::from_value(value).map_err(|e| py_err(py, e))
}

#[pymethods]
impl PyGovernor {
    /// A governor from a config dict (the JSON model), TOML text, JSON text or a file path;
    /// the built-in plans if none is given. `store` shares counters and leases through Redis:
    /// a URL, or a dict (`redis_url`, `mode`, `sync_interval_ms`, `failure_policy`,
    /// `resource_failure_policies`, `timeout_ms`, `prefix`, `time`, `lease_ttl_ms`, `cluster`).
    #[new]
    #[pyo3(signature = (config=None, *, toml=None, json=None, path=None, store=None))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        toml: Option<&str>,
        json: Option<&str>,
        path: Option<&str>,
        store: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let cfg = config_from(py, config, toml, json, path)?;
        let spec = match store {
            Some(s) => store_from(py, s)?,
            None => StoreSpec::default(),
        };
        let gov = Governor::builder().config(cfg).store_spec(&spec).map_err(|e| py_err(py, e))?.build();
        let remote = gov.store_kind() != "memory";
        Ok(Self { gov, remote })
    }

    /// The state store: `"memory"` or `"redis"`.
    #[getter]
    fn store_kind(&self) -> &'static str {
        self.gov.store_kind()
    }

    /// The store's health counters (calls, errors, reconnects, fallback decisions, pending
    /// releases); empty for the memory store.
    fn store_metrics(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.gov.store_metrics().into_iter().collect()
    }

    /// Replays now the lease releases a shared store kept from calls it could not answer
    /// (otherwise replayed by later calls): call it before the process exits. Raises
    /// `StoreError` (code `STORE_UNAVAILABLE`) saying how many are left when the store still
    /// cannot answer.
    fn flush_store(&self, py: Python<'_>) -> PyResult<()> {
        self.io(py, || self.gov.flush_store()).py(py)
    }

    /// Milliseconds since the epoch from the system clock (what `now_ms=None` means).
    fn now_ms(&self) -> u64 {
        self.gov.now_ms()
    }

    // tenants

    #[pyo3(signature = (name, plan=None, isolation="SharedSchema", now_ms=None))]
    fn register(
        &self,
        py: Python<'_>,
        name: &str,
        plan: Option<&str>,
        isolation: &str,
        now_ms: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let iso = self::isolation(py, isolation)?;
        let t = self.gov.register(name, plan, iso, self.now(now_ms)).py(py)?;
        to_py(py, &t)
    }

    fn tenant(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.tenant(name).py(py)?)
    }

    fn tenant_by_id(&self, py: Python<'_>, id: &str) -> PyResult<Py<PyAny>> {
        let uuid = tenantguard::Uuid::parse_str(id).map_err(|e| invalid(py, "id", e.to_string()))?;
        to_py(py, &self.gov.tenant_by_id(uuid).py(py)?)
    }

    fn list_tenants(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.list_tenants())
    }

    fn remove_tenant(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.remove_tenant(name).py(py)?)
    }

    /// A pre-resolved tenant: checks through it skip the name lookup.
    fn handle(&self, py: Python<'_>, tenant: &str) -> PyResult<PyTenantHandle> {
        Ok(PyTenantHandle { handle: self.gov.handle(tenant).py(py)?, gov: self.gov.clone(), remote: self.remote })
    }

    // checks

    /// Checks (and consumes) `cost` units of `resource` for `tenant`.
    #[pyo3(signature = (tenant, resource="qps", cost=1, now_ms=None))]
    fn check(
        &self,
        py: Python<'_>,
        tenant: &str,
        resource: &str,
        cost: u64,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.check(tenant, resource, cost, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    /// Several checks at one time, answered in order: a `Decision`, or the exception (returned,
    /// not raised) of a check that failed. Each item is a tenant name or a tuple
    /// `(tenant, resource="qps", cost=1)`. With a Redis store the rate checks take one round trip.
    #[pyo3(signature = (checks, now_ms=None))]
    fn check_many(
        &self,
        py: Python<'_>,
        checks: Vec<Bound<'_, PyAny>>,
        now_ms: Option<u64>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut owned: Vec<(String, String, u64)> = Vec::with_capacity(checks.len());
        for c in &checks {
            if let Ok(t) = c.extract::<String>() {
                owned.push((t, "qps".to_owned(), 1));
            } else if let Ok((t, r)) = c.extract::<(String, String)>() {
                owned.push((t, r, 1));
            } else if let Ok((t, r, cost)) = c.extract::<(String, String, u64)>() {
                owned.push((t, r, cost));
            } else {
                return Err(PyTypeError::new_err(
                    "each check is a tenant name or a tuple (tenant, resource[, cost]) with a non-negative cost",
                ));
            }
        }
        let reqs: Vec<tenantguard::CheckRequest<'_>> =
            owned.iter().map(|(t, r, c)| tenantguard::CheckRequest { tenant: t, resource: r, cost: *c }).collect();
        let now = self.now(now_ms);
        let results = self.io(py, || self.gov.check_many(&reqs, now));
        results
            .into_iter()
            .map(|r| match r {
                Ok(d) => Ok(Py::new(py, PyDecision::from(d))?.into_any()),
                Err(e) => Ok(py_err(py, e).into_value(py).into_any()),
            })
            .collect()
    }

    /// What `check` would answer, without consuming.
    #[pyo3(signature = (tenant, resource="qps", cost=1, now_ms=None))]
    fn peek(
        &self,
        py: Python<'_>,
        tenant: &str,
        resource: &str,
        cost: u64,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.peek(tenant, resource, cost, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, resource="connections", ticket=None, now_ms=None))]
    fn acquire_lease(
        &self,
        py: Python<'_>,
        tenant: &str,
        resource: &str,
        ticket: Option<u64>,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.acquire(tenant, resource, ticket, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, lease_id, resource="connections", now_ms=None))]
    fn release(
        &self,
        py: Python<'_>,
        tenant: &str,
        lease_id: u64,
        resource: &str,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.release(tenant, resource, lease_id, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, ticket, resource="connections"))]
    fn cancel(&self, py: Python<'_>, tenant: &str, ticket: u64, resource: &str) -> PyResult<bool> {
        self.io(py, || self.gov.cancel(tenant, resource, ticket)).py(py)
    }

    #[pyo3(signature = (tenant, resource="connections"))]
    fn concurrency_stats(&self, py: Python<'_>, tenant: &str, resource: &str) -> PyResult<Py<PyAny>> {
        let s = self.io(py, || self.gov.concurrency_stats(tenant, resource)).py(py)?;
        let d = to_py(py, &s)?;
        d.bind(py).set_item("average", s.average())?;
        Ok(d)
    }

    #[pyo3(signature = (tenant, amount, resource="storage", now_ms=None))]
    fn set_usage(
        &self,
        py: Python<'_>,
        tenant: &str,
        amount: u64,
        resource: &str,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.set_usage(tenant, resource, amount, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, amount, resource="storage", now_ms=None))]
    fn add_usage(
        &self,
        py: Python<'_>,
        tenant: &str,
        amount: u64,
        resource: &str,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.add_usage(tenant, resource, amount, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, amount, resource="storage", now_ms=None))]
    fn subtract_usage(
        &self,
        py: Python<'_>,
        tenant: &str,
        amount: u64,
        resource: &str,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.subtract_usage(tenant, resource, amount, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, resource="storage"))]
    fn usage_value(&self, py: Python<'_>, tenant: &str, resource: &str) -> PyResult<u64> {
        self.io(py, || self.gov.usage_value(tenant, resource)).py(py)
    }

    #[pyo3(signature = (tenant, resource="transaction", now_ms=None))]
    fn begin(&self, py: Python<'_>, tenant: &str, resource: &str, now_ms: Option<u64>) -> PyResult<PyDecision> {
        self.io(py, || self.gov.begin(tenant, resource, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, lease_id, resource="transaction", now_ms=None))]
    fn touch(
        &self,
        py: Python<'_>,
        tenant: &str,
        lease_id: u64,
        resource: &str,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.touch(tenant, resource, lease_id, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (tenant, lease_id, resource="transaction", now_ms=None))]
    fn end(
        &self,
        py: Python<'_>,
        tenant: &str,
        lease_id: u64,
        resource: &str,
        now_ms: Option<u64>,
    ) -> PyResult<PyDecision> {
        self.io(py, || self.gov.end(tenant, resource, lease_id, self.now(now_ms))).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (now_ms=None))]
    fn expired_leases(&self, py: Python<'_>, now_ms: Option<u64>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.expired_leases(self.now(now_ms)))
    }

    fn check_feature(&self, py: Python<'_>, tenant: &str, feature: &str) -> PyResult<PyDecision> {
        let f = Feature::parse(feature).ok_or_else(|| {
            invalid(
                py,
                "feature",
                format!("unknown feature `{feature}` (rls, cdc, migrations, custom_quotas, all_isolation_modes)"),
            )
        })?;
        self.gov.check_feature(tenant, f).map(PyDecision::from).py(py)
    }

    // overrides and shadow

    #[pyo3(signature = (tenant, resource, *, limit=None, burst=None, idle_ms=None, expires_at_ms=None, reason=None, now_ms=None))]
    #[allow(clippy::too_many_arguments)] // one keyword argument per Override field
    fn set_override(
        &self,
        py: Python<'_>,
        tenant: &str,
        resource: &str,
        limit: Option<u64>,
        burst: Option<f64>,
        idle_ms: Option<u64>,
        expires_at_ms: Option<u64>,
        reason: Option<String>,
        now_ms: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let o = Override { resource: resource.to_owned(), limit, burst, idle_ms, expires_at_ms, reason };
        to_py(py, &self.gov.set_override(tenant, o, self.now(now_ms)).py(py)?)
    }

    fn clear_override(&self, py: Python<'_>, tenant: &str, resource: &str) -> PyResult<bool> {
        self.gov.clear_override(tenant, resource).py(py)
    }

    #[pyo3(signature = (tenant, shadow=true))]
    fn set_shadow(&self, py: Python<'_>, tenant: &str, shadow: bool) -> PyResult<()> {
        self.gov.set_shadow(tenant, shadow).py(py)
    }

    #[pyo3(signature = (shadow=true))]
    fn set_global_shadow(&self, shadow: bool) {
        self.gov.set_global_shadow(shadow);
    }

    // plans

    fn plan(&self, py: Python<'_>, id: &str) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.plan(id).py(py)?)
    }

    fn list_plans(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.list_plans())
    }

    fn create_plan(&self, py: Python<'_>, plan: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let p: Plan = from_py(py, plan, "plan")?;
        to_py(py, &self.gov.create_plan(p).py(py)?)
    }

    fn update_plan(&self, py: Python<'_>, plan: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let p: Plan = from_py(py, plan, "plan")?;
        Ok(self.gov.update_plan(p).py(py)?.iter().map(|u| u.to_string()).collect())
    }

    #[pyo3(signature = (tenant, plan, now_ms=None))]
    fn change_plan(&self, py: Python<'_>, tenant: &str, plan: &str, now_ms: Option<u64>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.change_plan(tenant, plan, self.now(now_ms)).py(py)?)
    }

    fn downgrade(&self, py: Python<'_>, from_plan: &str, to_plan: &str) -> PyResult<Vec<String>> {
        Ok(self.gov.downgrade(from_plan, to_plan).py(py)?.iter().map(|u| u.to_string()).collect())
    }

    /// Deletes a plan; returns `(deleted_plan, fallback_plan_id, moved_tenant_ids)`.
    fn delete_plan<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyTuple>> {
        let (plan, fallback, moved) = self.gov.delete_plan(id).py(py)?;
        let ids: Vec<String> = moved.iter().map(|u| u.to_string()).collect();
        PyTuple::new(
            py,
            [to_py(py, &plan)?, fallback.into_pyobject(py)?.into_any().unbind(), ids.into_pyobject(py)?.unbind()],
        )
    }

    // configuration

    /// Hot reload from a config dict, TOML, JSON or a path: counters and leases are kept.
    #[pyo3(signature = (config=None, *, toml=None, json=None, path=None))]
    fn reload(
        &self,
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        toml: Option<&str>,
        json: Option<&str>,
        path: Option<&str>,
    ) -> PyResult<Py<PyAny>> {
        if config.is_none() && toml.is_none() && json.is_none() && path.is_none() {
            return Err(invalid(py, "config", "give one of config (dict), toml, json or path"));
        }
        let cfg = config_from(py, config, toml, json, path)?;
        let report = py.detach(|| self.gov.reload(cfg)).py(py)?;
        to_py(py, &report)
    }

    // usage and status

    #[pyo3(signature = (tenant, now_ms=None))]
    fn status(&self, py: Python<'_>, tenant: &str, now_ms: Option<u64>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.status(tenant, self.now(now_ms)).py(py)?)
    }

    fn usage(&self, py: Python<'_>, tenant: &str) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.usage(tenant).py(py)?)
    }

    /// Records host usage: gauges (`table_count=`, `total_rows=`, ...) and increments
    /// (`api_requests=`, `egress_bytes=`, ...).
    #[pyo3(signature = (tenant, now_ms=None, **report))]
    fn record_usage(
        &self,
        py: Python<'_>,
        tenant: &str,
        now_ms: Option<u64>,
        report: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let r = match report {
            Some(d) => from_py(py, d.as_any(), "report")?,
            None => Default::default(),
        };
        self.gov.record_usage(tenant, &r, self.now(now_ms)).py(py)
    }

    fn reset_usage_period(&self, py: Python<'_>, tenant: &str) -> PyResult<()> {
        self.gov.reset_usage_period(tenant).py(py)
    }

    fn violations(&self, py: Python<'_>, tenant: &str) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.violations(tenant).py(py)?)
    }

    #[pyo3(signature = (tenant, now_ms=None))]
    fn quota_tracking(&self, py: Python<'_>, tenant: &str, now_ms: Option<u64>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.quota_tracking(tenant, self.now(now_ms)).py(py)?)
    }

    /// Prometheus text exposition of every tenant.
    #[pyo3(signature = (now_ms=None))]
    fn prometheus(&self, py: Python<'_>, now_ms: Option<u64>) -> String {
        let now = self.now(now_ms);
        py.detach(|| self.gov.prometheus(now))
    }

    #[pyo3(signature = (now_ms=None))]
    fn evict_idle(&self, py: Python<'_>, now_ms: Option<u64>) -> usize {
        let now = self.now(now_ms);
        py.detach(|| self.gov.evict_idle(now))
    }

    // row-level security

    /// `ALTER TABLE ... ENABLE/DISABLE ROW LEVEL SECURITY`.
    #[pyo3(signature = (table, on=true))]
    fn rls_enable(&self, table: &str, on: bool) {
        self.gov.rls().set_enabled(table, on);
    }

    /// `ALTER TABLE ... [NO] FORCE ROW LEVEL SECURITY`.
    #[pyo3(signature = (table, on=true))]
    fn rls_force(&self, table: &str, on: bool) {
        self.gov.rls().set_forced(table, on);
    }

    /// `CREATE POLICY name ON table AS ... FOR command TO roles USING (...) WITH CHECK (...)`.
    #[pyo3(signature = (table, name, *, using=None, with_check=None, command="all", roles=None, restrictive=false, replace=false))]
    #[allow(clippy::too_many_arguments)] // one keyword argument per CREATE POLICY clause
    fn create_policy(
        &self,
        py: Python<'_>,
        table: &str,
        name: &str,
        using: Option<String>,
        with_check: Option<String>,
        command: &str,
        roles: Option<Vec<String>>,
        restrictive: bool,
        replace: bool,
    ) -> PyResult<()> {
        let command: tenantguard::rls::RLSCommand = serde_json::from_value(Value::String(command.to_ascii_lowercase()))
            .map_err(|_| {
                invalid(py, "command", format!("unknown command `{command}` (all, select, insert, update, delete)"))
            })?;
        let def = tenantguard::rls::PolicyDef {
            name: name.to_owned(),
            restrictive,
            command,
            roles: roles.unwrap_or_default(),
            using,
            with_check,
        };
        self.gov.rls().create_policy(table, def, replace).py(py)
    }

    /// Declares column types (`uuid`, `timestamptz`, `numeric`, ...): row values are converted
    /// to them, as a PostgreSQL column would.
    fn set_column_types(
        &self,
        py: Python<'_>,
        table: &str,
        columns: std::collections::BTreeMap<String, String>,
    ) -> PyResult<()> {
        self.gov.rls().set_column_types(table, &columns).py(py)
    }

    fn drop_policy(&self, table: &str, name: &str) -> bool {
        self.gov.rls().drop_policy(table, name)
    }

    fn policies(&self, py: Python<'_>, table: &str) -> PyResult<Py<PyAny>> {
        to_py(py, &self.gov.rls().policies(table))
    }

    /// SELECT: whether `row` (a dict) is visible to `context`.
    #[pyo3(signature = (table, row, context=None))]
    fn can_select(
        &self,
        py: Python<'_>,
        table: &str,
        row: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let (r, c) = (self.py_row(py, table, row)?, self.rls_ctx(py, context)?);
        self.gov.rls().can_select(table, &r, &c).py(py)
    }

    /// INSERT: raises `PolicyViolation` if the new row fails WITH CHECK.
    #[pyo3(signature = (table, row, context=None))]
    fn check_insert(
        &self,
        py: Python<'_>,
        table: &str,
        row: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (r, c) = (self.py_row(py, table, row)?, self.rls_ctx(py, context)?);
        self.gov.rls().check_insert(table, &r, &c).py(py)
    }

    /// UPDATE: `False` if the old row is not updatable (nothing happens); raises
    /// `PolicyViolation` if the new row fails WITH CHECK.
    #[pyo3(signature = (table, old_row, new_row, context=None, reads=false))]
    fn check_update(
        &self,
        py: Python<'_>,
        table: &str,
        old_row: &Bound<'_, PyAny>,
        new_row: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        reads: bool,
    ) -> PyResult<bool> {
        let (o, n, c) =
            (self.py_row(py, table, old_row)?, self.py_row(py, table, new_row)?, self.rls_ctx(py, context)?);
        self.gov.rls().check_update(table, &o, &n, &c, reads).py(py)
    }

    /// DELETE: whether the row would be deleted.
    #[pyo3(signature = (table, row, context=None, reads=false))]
    fn check_delete(
        &self,
        py: Python<'_>,
        table: &str,
        row: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        reads: bool,
    ) -> PyResult<bool> {
        let (r, c) = (self.py_row(py, table, row)?, self.rls_ctx(py, context)?);
        self.gov.rls().check_delete(table, &r, &c, reads).py(py)
    }

    /// Indices of the visible rows.
    #[pyo3(signature = (table, rows, context=None))]
    fn filter_indices(
        &self,
        py: Python<'_>,
        table: &str,
        rows: Vec<Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<usize>> {
        let rows = rows.iter().map(|r| self.py_row(py, table, r)).collect::<PyResult<Vec<_>>>()?;
        let c = self.rls_ctx(py, context)?;
        self.gov.rls().filter(table, &rows, &c).py(py)
    }

    /// Which policies applied and what each evaluated to.
    #[pyo3(signature = (table, row, command="select", context=None))]
    fn explain(
        &self,
        py: Python<'_>,
        table: &str,
        row: &Bound<'_, PyAny>,
        command: &str,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let cmd = rls_command(py, command)?;
        let (r, c) = (self.py_row(py, table, row)?, self.rls_ctx(py, context)?);
        to_py(py, &self.gov.rls().explain(table, cmd, &r, &c).py(py)?)
    }

    /// The combined policy as a `WHERE` fragment and its parameters: `(sql, params)`.
    #[pyo3(signature = (table, command="select", context=None))]
    fn to_sql(
        &self,
        py: Python<'_>,
        table: &str,
        command: &str,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(String, Py<PyAny>)> {
        let cmd = rls_command(py, command)?;
        let c = self.rls_ctx(py, context)?;
        let f = self.gov.rls().to_sql(table, cmd, &c).py(py)?;
        Ok((f.sql, pythonize::pythonize(py, &f.params)?.unbind()))
    }

    fn __repr__(&self) -> String {
        format!("Governor(tenants={})", self.gov.tenant_count())
    }
}

impl PyGovernor {
    /// A Python dict as a row of `table` (declared column types applied).
    fn py_row(&self, py: Python<'_>, table: &str, row: &Bound<'_, PyAny>) -> PyResult<tenantguard::rls::expr::Row> {
        if !is_mapping(row) {
            return Err(PyTypeError::new_err(format!(
                "a row must be a dict (a mapping), not {}",
                row.get_type().name()?
            )));
        }
        let v: Value = depythonize(py, row, "row")?;
        self.gov.rls().row(table, &v).py(py)
    }

    /// A context dict; `now()` is the system clock unless `now_ms` is given.
    fn rls_ctx(&self, py: Python<'_>, ctx: Option<&Bound<'_, PyAny>>) -> PyResult<tenantguard::rls::RlsContext> {
        let mut c: tenantguard::rls::RlsContext = match ctx {
            None => Default::default(),
            Some(c) if is_mapping(c) => from_py(py, c, "context")?,
            Some(c) => {
                return Err(PyTypeError::new_err(format!(
                    "context must be a dict (a mapping), not {}",
                    c.get_type().name()?
                )));
            }
        };
        c.now_ms = c.now_ms.or_else(|| Some(self.gov.now_ms()));
        Ok(c)
    }
}

fn rls_command(py: Python<'_>, command: &str) -> PyResult<tenantguard::rls::RLSCommand> {
    serde_json::from_value(Value::String(command.to_ascii_lowercase())).map_err(|_| {
        invalid(py, "command", format!("unknown command `{command}` (all, select, insert, update, delete)"))
    })
}

/// A pre-resolved tenant (`Governor.handle(name)`): checks skip the name lookup.
#[pyclass(frozen, module = "tenantguard", name = "TenantHandle")]
pub struct PyTenantHandle {
    handle: tenantguard::TenantHandle,
    gov: Governor,
    remote: bool,
}

#[pymethods]
impl PyTenantHandle {
    #[getter]
    fn name(&self) -> &str {
        self.handle.name()
    }

    #[getter]
    fn id(&self) -> String {
        self.handle.id().to_string()
    }

    #[pyo3(signature = (resource="qps", cost=1, now_ms=None))]
    fn check(&self, py: Python<'_>, resource: &str, cost: u64, now_ms: Option<u64>) -> PyResult<PyDecision> {
        let now = now_ms.unwrap_or_else(|| self.gov.now_ms());
        if self.remote {
            return py.detach(|| self.handle.check(resource, cost, now)).map(PyDecision::from).py(py);
        }
        self.handle.check(resource, cost, now).map(PyDecision::from).py(py)
    }

    #[pyo3(signature = (resource="qps", cost=1, now_ms=None))]
    fn peek(&self, py: Python<'_>, resource: &str, cost: u64, now_ms: Option<u64>) -> PyResult<PyDecision> {
        let now = now_ms.unwrap_or_else(|| self.gov.now_ms());
        if self.remote {
            return py.detach(|| self.handle.peek(resource, cost, now)).map(PyDecision::from).py(py);
        }
        self.handle.peek(resource, cost, now).map(PyDecision::from).py(py)
    }

    fn __repr__(&self) -> String {
        format!("TenantHandle('{}')", self.handle.name())
    }
}

// ----- S1 limiters ----------------------------------------------------------------------------

/// Per-user requests-per-minute (S1 `UserQuotaManager`).
#[pyclass(frozen, module = "tenantguard", name = "UserQuotaManager")]
pub struct PyUserQuotaManager {
    inner: UserQuotaManager,
    gov: Governor,
}

#[pymethods]
impl PyUserQuotaManager {
    #[new]
    #[pyo3(signature = (default_rpm=60))]
    fn new(default_rpm: u32) -> Self {
        Self { inner: UserQuotaManager::new(default_rpm), gov: Governor::new() }
    }

    #[getter]
    fn default_rpm(&self) -> u32 {
        self.inner.default_rpm()
    }

    fn set_quota(&self, user: &str, rpm: u32) {
        self.inner.set_quota(user, rpm);
    }

    fn clear_quota(&self, user: &str) {
        self.inner.clear_quota(user);
    }

    /// Counts one request; raises `QuotaExceeded` (code `RATE_LIMITED`) when over.
    #[pyo3(signature = (user, now_ms=None))]
    fn check_quota(&self, py: Python<'_>, user: &str, now_ms: Option<u64>) -> PyResult<PyDecision> {
        let now = now_ms.unwrap_or_else(|| self.gov.now_ms());
        self.inner.check_quota_at(user, now).map(PyDecision::from).py(py)
    }

    /// `[(user, rpm, current_count, window_start_ms), ...]` sorted by user.
    fn snapshot(&self) -> Vec<(String, u32, u32, u64)> {
        self.inner.snapshot()
    }
}

/// A keyed limiter of any window (S1 `multi_tenant::quotas::RateLimiter`).
#[pyclass(frozen, module = "tenantguard", name = "RateLimiter")]
pub struct PyRateLimiter {
    inner: RateLimiter,
    gov: Governor,
}

#[pymethods]
impl PyRateLimiter {
    /// `window_ms` milliseconds per window, or `window` as text (`"60s"`).
    #[new]
    #[pyo3(signature = (window_ms=None, *, window=None))]
    fn new(py: Python<'_>, window_ms: Option<u64>, window: Option<&str>) -> PyResult<Self> {
        let ms = match (window_ms, window) {
            (Some(ms), None) => ms,
            (None, Some(text)) => tenantguard::config::parse_duration_ms(text).map_err(|m| invalid(py, "window", m))?,
            _ => return Err(invalid(py, "window", "give window_ms or window")),
        };
        if ms == 0 {
            return Err(invalid(py, "window", "window must be at least 1 ms"));
        }
        Ok(Self { inner: RateLimiter::new(Duration::from_millis(ms)), gov: Governor::new() })
    }

    #[getter]
    fn window_ms(&self) -> u64 {
        self.inner.window_ms()
    }

    #[pyo3(signature = (key, limit, now_ms=None))]
    fn check(&self, key: &str, limit: u64, now_ms: Option<u64>) -> bool {
        self.inner.check_at(key, limit, now_ms.unwrap_or_else(|| self.gov.now_ms()))
    }

    #[pyo3(signature = (key, limit, now_ms=None))]
    fn remaining(&self, key: &str, limit: u64, now_ms: Option<u64>) -> u64 {
        self.inner.remaining_at(key, limit, now_ms.unwrap_or_else(|| self.gov.now_ms()))
    }
}

/// The native module. Every type is `Send + Sync`, so it is marked free-threading safe.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGovernor>()?;
    m.add_class::<PyTenantHandle>()?;
    m.add_class::<PyDecision>()?;
    m.add_class::<PyUserQuotaManager>()?;
    m.add_class::<PyRateLimiter>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
