//! The WebAssembly shell of tenantguard: converts types and errors, nothing else.
//!
//! Every method builds one request of the core's host-neutral API ([`tenantguard::api`]) and
//! returns its answer, so the rules, defaults and validation all live in the core. Values
//! cross the boundary with `serde-wasm-bindgen`; errors are thrown as JS `Error`s (`TypeError`
//! for invalid arguments) whose `code` is `TENANTGUARD_<CODE>`, the same codes as the Node
//! shell. Time comes from `Date.now()` unless a call passes `nowMs`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};
use tenantguard::api::{ApiError, ConfigSource, Engine, Request, defaults, js_numbers, js_whole};
use tenantguard::{Clock, Decision};
use wasm_bindgen::prelude::*;

// The data types (Decision, Tenant, Status, Policy, ...) are shared with the Node package:
// one definition, included verbatim in the generated .d.ts.
#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("../../bindings-node/types.d.ts");

/// `Date.now()`: the default clock of the wasm shell.
struct DateClock;

impl Clock for DateClock {
    fn now_ms(&self) -> u64 {
        let now = js_sys::Date::now();
        if now.is_finite() && now > 0.0 { now as u64 } else { 0 }
    }
}

/// A JS `Error` (a `TypeError` for argument errors) with `code` = `TENANTGUARD_<CODE>` and the
/// error's `key`, `line`, `column` and `decision` (with its fields copied onto the error).
fn js_error(e: ApiError) -> JsValue {
    let err: js_sys::Error = if e.code == "INVALID_ARGUMENT" || e.code == "WRONG_RESOURCE_KIND" {
        js_sys::TypeError::new(&e.message).into()
    } else {
        js_sys::Error::new(&e.message)
    };
    let obj: &JsValue = err.as_ref();
    let set = |k: &str, v: JsValue| {
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(obj, &JsValue::from_str(k), &v);
    };
    set("code", JsValue::from_str(&format!("TENANTGUARD_{}", e.code)));
    set("key", e.key.as_deref().map_or(JsValue::NULL, JsValue::from_str));
    set("line", e.line.map_or(JsValue::NULL, |n| JsValue::from_f64(f64::from(n))));
    set("column", e.column.map_or(JsValue::NULL, |n| JsValue::from_f64(f64::from(n))));
    if let Some(d) = e.decision {
        for field in ["resource", "limit", "remaining", "retryAfterMs"] {
            set(field, d.get(field).map_or(JsValue::NULL, |v| to_js(v).unwrap_or(JsValue::NULL)));
        }
        set("decision", to_js(&d).unwrap_or(JsValue::NULL));
    }
    err.into()
}

fn invalid(key: &str, message: impl Into<String>) -> JsValue {
    js_error(ApiError::invalid(key, message))
}

/// Rust → JS: plain objects, `null` for absent values (as JSON would).
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| invalid("result", e.to_string()))
}

/// Objects and arrays nested deeper than this are refused (serde_json's limit for JSON text).
const MAX_DEPTH: usize = 128;

/// What is wrong with a value before it is converted, if anything.
enum Unfit {
    /// Nested deeper than [`MAX_DEPTH`], or containing itself (infinitely deep): converting it
    /// would recurse until the wasm stack overflows, a trap that no `catch` sees and that
    /// leaves the instance unusable.
    TooDeep,
    /// A string with an unpaired UTF-16 surrogate, which has no UTF-8 form (the conversion
    /// would put U+FFFD in its place, so two different names would act for one tenant).
    LoneSurrogate,
}

/// Walks `v` the way the conversion will: arrays, maps and sets, and objects' own values.
fn check_value(v: &JsValue, depth: usize) -> Result<(), Unfit> {
    if let Some(s) = v.dyn_ref::<js_sys::JsString>() {
        return if s.is_valid_utf16() { Ok(()) } else { Err(Unfit::LoneSurrogate) };
    }
    if !v.is_object() {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(Unfit::TooDeep);
    }
    let each = |it: js_sys::Iterator| -> Result<(), Unfit> {
        for x in it.into_iter().flatten() {
            check_value(&x, depth + 1)?;
        }
        Ok(())
    };
    if let Some(a) = v.dyn_ref::<js_sys::Array>() {
        a.iter().try_for_each(|x| check_value(&x, depth + 1))
    } else if let Some(m) = v.dyn_ref::<js_sys::Map>() {
        each(m.keys())?;
        each(m.values())
    } else if let Some(set) = v.dyn_ref::<js_sys::Set>() {
        each(set.values())
    } else {
        let o: &js_sys::Object = v.unchecked_ref();
        js_sys::Object::keys(o).iter().try_for_each(|k| check_value(&k, depth + 1))?;
        js_sys::Object::values(o).iter().try_for_each(|x| check_value(&x, depth + 1))
    }
}

/// JS → a JSON value; `undefined`/`null` become `null`.
fn from_js(v: JsValue, what: &str) -> Result<Value, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Value::Null);
    }
    match check_value(&v, 0) {
        Ok(()) => {}
        Err(Unfit::TooDeep) => {
            return Err(invalid(what, format!("{what} is nested deeper than {MAX_DEPTH} levels, or contains itself")));
        }
        Err(Unfit::LoneSurrogate) => {
            return Err(invalid(what, format!("{what} holds an unpaired UTF-16 surrogate, which has no UTF-8 form")));
        }
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| invalid(what, format!("{what}: {e}")))
}

/// A required string argument (a `TypeError` otherwise, never a coerced `"42"`).
fn text(v: &JsValue, what: &str) -> Result<String, JsValue> {
    // An unpaired surrogate has no UTF-8 form: refused, not replaced by U+FFFD (which would
    // make two different names act for one tenant).
    match v.dyn_ref::<js_sys::JsString>() {
        Some(s) if !s.is_valid_utf16() => {
            Err(invalid(what, format!("{what} holds an unpaired UTF-16 surrogate, which has no UTF-8 form")))
        }
        _ => v.as_string().ok_or_else(|| invalid(what, format!("{what} must be a string"))),
    }
}

/// An options object merged over the positional arguments.
fn with_options(mut base: Map<String, Value>, options: JsValue) -> Result<Value, JsValue> {
    match from_js(options, "options")? {
        Value::Null => {}
        Value::Object(o) => base.extend(o),
        _ => return Err(invalid("options", "options must be an object")),
    }
    Ok(Value::Object(base))
}

fn time(now_ms: Option<f64>) -> Result<Option<u64>, JsValue> {
    now_ms.map(|n| whole(n, "nowMs")).transpose()
}

fn whole(x: f64, what: &str) -> Result<u64, JsValue> {
    js_whole(what, x).map_err(js_error)
}

/// The per-tenant governor (with the S1 per-user and keyed limiters).
#[wasm_bindgen]
pub struct Governor {
    engine: Engine,
}

#[wasm_bindgen]
impl Governor {
    /// `config`: `{toml}` or `{json}` (text or object), a plain object (the JSON model), or
    /// nothing for the built-in plans. `options.defaultRpm`: per-user quota default (60).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "ConfigText")] config: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ defaultRpm?: number }")] options: JsValue,
    ) -> Result<Governor, JsValue> {
        let source = match from_js(config, "config")? {
            Value::Null => None,
            Value::Object(o) if o.contains_key("toml") || o.contains_key("json") => Some(Value::Object(o)),
            Value::Object(o) => Some(json!({ "json": o })),
            _ => return Err(invalid("config", "config must be an object")),
        };
        let source: Option<ConfigSource> =
            source.map(serde_json::from_value).transpose().map_err(|e| invalid("config", e.to_string()))?;
        let rpm = match from_js(options, "options")? {
            Value::Null => defaults::USER_RPM,
            Value::Object(o) => match o.get("defaultRpm") {
                None | Some(Value::Null) => defaults::USER_RPM,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid("defaultRpm", "defaultRpm must be a whole number"))?,
            },
            _ => return Err(invalid("options", "options must be an object")),
        };
        Engine::from_config_with_clock(source.as_ref(), rpm, Arc::new(DateClock))
            .map(|engine| Governor { engine })
            .map_err(js_error)
    }

    /// Runs one operation of the host-neutral API (`op` and camelCase `args`, as in the
    /// conformance corpus), at `nowMs` if given.
    pub fn call(
        &self,
        op: &str,
        args: JsValue,
        #[wasm_bindgen(js_name = nowMs)] now_ms: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let args = match from_js(args, "args")? {
            Value::Null => json!({}),
            v => v,
        };
        self.run(op, args, time(now_ms)?)
    }

    fn run(&self, op: &str, args: Value, now: Option<u64>) -> Result<JsValue, JsValue> {
        let req = Request::parse(op, args).map_err(js_error)?;
        to_js(&js_numbers(self.engine.execute(req, now).map_err(js_error)?))
    }

    /// An operation on lease `lease_id` of `tenant` (`release`, `touch`, `end`).
    fn lease_op(&self, op: &str, tenant: &JsValue, lease_id: f64, options: JsValue) -> Result<JsValue, JsValue> {
        let base = obj([("tenant", text(tenant, "tenant")?.into()), ("leaseId", whole(lease_id, "leaseId")?.into())]);
        self.op(op, base, options)
    }

    fn op(&self, op: &str, base: Map<String, Value>, options: JsValue) -> Result<JsValue, JsValue> {
        self.run(op, with_options(base, options)?, None)
    }

    /// Milliseconds since the epoch, from the governor's clock.
    #[wasm_bindgen(js_name = nowMs)]
    pub fn now_ms(&self) -> f64 {
        self.engine.governor.now_ms() as f64
    }

    /// Checks and consumes `cost` units (options `{resource, cost, nowMs}`); returns the decision.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn check(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.op("check", obj([("tenant", text(&tenant, "tenant")?.into())]), options)
    }

    /// `check` answering JSON text: the package's entry modules (`wasm/js/`) parse it with
    /// `JSON.parse`, several times faster than building the object through serde-wasm-bindgen.
    #[wasm_bindgen(js_name = __checkJson, skip_typescript)]
    pub fn check_json(&self, tenant: JsValue, options: JsValue) -> Result<String, JsValue> {
        let name = text(&tenant, "tenant")?;
        let answer = match simple_check_options(&options) {
            // The common shapes (`{resource, cost, nowMs}`, any of them) go straight to the core.
            Some((resource, cost, now)) => {
                let g = &self.engine.governor;
                let cost = cost.map(|c| whole(c, "cost")).transpose()?.unwrap_or(defaults::CHECK_COST);
                let now = match now {
                    Some(n) => whole(n, "nowMs")?,
                    None => g.now_ms(),
                };
                let resource = resource.as_deref().unwrap_or(defaults::CHECK_RESOURCE);
                let d = g.check(&name, resource, cost, now).map_err(|e| js_error(e.into()))?;
                // No js_numbers pass: JSON.parse rounds integers beyond 2^53 to the same doubles.
                return serde_json::to_string(&d).map_err(|e| invalid("result", e.to_string()));
            }
            // Anything else (unknown options, odd types): the host-neutral path, whose errors
            // are the core's.
            None => {
                let args = with_options(obj([("tenant", name.into())]), options)?;
                let req = Request::parse("check", args).map_err(js_error)?;
                self.engine.execute(req, None).map_err(js_error)?
            }
        };
        serde_json::to_string(&js_numbers(answer)).map_err(|e| invalid("result", e.to_string()))
    }

    /// Like `check`, without consuming anything.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn peek(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.op("peek", obj([("tenant", text(&tenant, "tenant")?.into())]), options)
    }

    /// Resolves `tenant` once (options `{resource}`): `handle.tryCheck()` skips the lookup and
    /// builds no object.
    pub fn handle(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string }")] options: JsValue,
    ) -> Result<TenantHandle, JsValue> {
        let name = text(&tenant, "tenant")?;
        let resource = match from_js(options, "options")? {
            Value::Null => None,
            Value::Object(o) => match o.get("resource") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(invalid("resource", "resource must be a string")),
            },
            _ => return Err(invalid("options", "options must be an object")),
        };
        let handle = self.engine.governor.handle(&name).map_err(|e| js_error(e.into()))?;
        Ok(TenantHandle {
            handle: handle.into(),
            resource: resource.unwrap_or_else(|| defaults::CHECK_RESOURCE.to_owned()),
            last: None,
            error: None,
        })
    }

    /// Registers a tenant (options `{plan, isolation, nowMs}`).
    #[wasm_bindgen(unchecked_return_type = "Tenant")]
    pub fn register(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RegisterOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.op("registerTenant", obj([("name", text(&name, "name")?.into())]), options)
    }

    /// One tenant.
    #[wasm_bindgen(unchecked_return_type = "Tenant")]
    pub fn tenant(&self, #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue) -> Result<JsValue, JsValue> {
        self.op("getTenant", obj([("tenant", text(&tenant, "tenant")?.into())]), JsValue::NULL)
    }

    /// Every tenant.
    #[wasm_bindgen(js_name = listTenants)]
    #[wasm_bindgen(unchecked_return_type = "Tenant[]")]
    pub fn list_tenants(&self) -> Result<JsValue, JsValue> {
        self.op("listTenants", Map::new(), JsValue::NULL)
    }

    /// Removes a tenant.
    #[wasm_bindgen(js_name = removeTenant)]
    #[wasm_bindgen(unchecked_return_type = "Tenant")]
    pub fn remove_tenant(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.op("removeTenant", obj([("tenant", text(&tenant, "tenant")?.into())]), JsValue::NULL)
    }

    /// Opens a concurrency lease (options `{resource = "connections", ticket, nowMs}`).
    #[wasm_bindgen(js_name = acquireLease)]
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn acquire_lease(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; ticket?: number; nowMs?: number }")]
        options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.op("acquire", tenant_only(&tenant)?, options)
    }

    /// Releases a lease.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn release(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        lease_id: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.lease_op("release", &tenant, lease_id, options)
    }

    /// Adds `amount` to a capacity gauge (options `{resource = "storage", nowMs}`).
    #[wasm_bindgen(js_name = addUsage)]
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn add_usage(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        amount: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.usage_op("addUsage", tenant, amount, options)
    }

    /// Sets a capacity gauge.
    #[wasm_bindgen(js_name = setUsage)]
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn set_usage(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        amount: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.usage_op("setUsage", tenant, amount, options)
    }

    /// Subtracts from a capacity gauge.
    #[wasm_bindgen(js_name = subtractUsage)]
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn subtract_usage(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        amount: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.usage_op("subtractUsage", tenant, amount, options)
    }

    fn usage_op(&self, op: &str, tenant: JsValue, amount: f64, options: JsValue) -> Result<JsValue, JsValue> {
        let base = obj([("tenant", text(&tenant, "tenant")?.into()), ("amount", whole(amount, "amount")?.into())]);
        self.op(op, base, options)
    }

    /// Starts a duration lease (options `{resource = "transaction", nowMs}`).
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn begin(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.op("begin", tenant_only(&tenant)?, options)
    }

    /// Records activity on a duration lease.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn touch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        lease_id: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.lease_op("touch", &tenant, lease_id, options)
    }

    /// Ends a duration lease.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn end(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        lease_id: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "{ resource?: string; nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.lease_op("end", &tenant, lease_id, options)
    }

    /// The S2 status document of a tenant.
    #[wasm_bindgen(unchecked_return_type = "Status")]
    pub fn status(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.op("status", obj([("tenant", text(&tenant, "tenant")?.into())]), options)
    }

    /// S1 `TenantUsage`.
    #[wasm_bindgen(unchecked_return_type = "Usage")]
    pub fn usage(&self, #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue) -> Result<JsValue, JsValue> {
        self.op("usage", obj([("tenant", text(&tenant, "tenant")?.into())]), JsValue::NULL)
    }

    /// Prometheus text exposition of every tenant's usage.
    pub fn prometheus(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ nowMs?: number }")] options: JsValue,
    ) -> Result<String, JsValue> {
        let v = self.engine.execute(request("prometheus", with_options(Map::new(), options)?)?, None);
        Ok(v.map_err(js_error)?.get("text").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// Hot reload from `{toml}` / `{json}`: plans swap atomically; usage and leases survive.
    #[wasm_bindgen(unchecked_return_type = "Record<string, unknown>")]
    pub fn reload(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConfigText")] config: JsValue,
    ) -> Result<JsValue, JsValue> {
        let source = match from_js(config, "config")? {
            Value::Object(o) if o.contains_key("toml") || o.contains_key("json") => Value::Object(o),
            Value::Object(o) => json!({ "json": o }),
            _ => return Err(invalid("config", "config must be an object")),
        };
        self.run("reload", source, None)
    }

    /// Sets a per-tenant override (`{resource, limit, expiresAtMs, ...}`).
    #[wasm_bindgen(js_name = setOverride)]
    #[wasm_bindgen(unchecked_return_type = "Tenant")]
    pub fn set_override(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] ovr: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ nowMs?: number }")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let base = obj([("tenant", text(&tenant, "tenant")?.into()), ("override", from_js(ovr, "override")?)]);
        self.op("setOverride", base, options)
    }

    /// A feature gate: a reject decision with `FEATURE_NOT_IN_PLAN` when the plan lacks it.
    #[wasm_bindgen(js_name = checkFeature)]
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn check_feature(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] tenant: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] feature: JsValue,
    ) -> Result<JsValue, JsValue> {
        let base = obj([("tenant", text(&tenant, "tenant")?.into()), ("feature", text(&feature, "feature")?.into())]);
        self.op("checkFeature", base, JsValue::NULL)
    }

    /// One plan.
    #[wasm_bindgen(unchecked_return_type = "Plan")]
    pub fn plan(&self, #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue) -> Result<JsValue, JsValue> {
        self.op("getPlan", obj([("plan", text(&id, "plan")?.into())]), JsValue::NULL)
    }

    /// Every plan.
    #[wasm_bindgen(js_name = listPlans)]
    #[wasm_bindgen(unchecked_return_type = "Plan[]")]
    pub fn list_plans(&self) -> Result<JsValue, JsValue> {
        self.op("listPlans", Map::new(), JsValue::NULL)
    }

    /// Enables (or disables) row-level security on `table`.
    #[wasm_bindgen(js_name = rlsEnable)]
    pub fn rls_enable(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] table: JsValue,
        on: Option<bool>,
    ) -> Result<(), JsValue> {
        let base = obj([("table", text(&table, "table")?.into()), ("on", on.unwrap_or(true).into())]);
        self.op("rlsEnable", base, JsValue::NULL).map(drop)
    }

    /// `CREATE POLICY` on `table` (`{name, using, withCheck, command, roles, restrictive}`).
    #[wasm_bindgen(js_name = createPolicy)]
    pub fn create_policy(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] table: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Policy")] policy: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ replace?: boolean }")] options: JsValue,
    ) -> Result<(), JsValue> {
        let base = obj([("table", text(&table, "table")?.into()), ("policy", from_js(policy, "policy")?)]);
        self.op("rlsCreatePolicy", base, options).map(drop)
    }

    /// Whether `row` is visible to SELECT in `context`.
    #[wasm_bindgen(js_name = canSelect)]
    pub fn can_select(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] table: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Row")] row: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RlsContext")] context: JsValue,
    ) -> Result<bool, JsValue> {
        let v = self.rls("rlsCanSelect", &table, "row", row, context)?;
        Ok(js_sys::Reflect::get(&v, &JsValue::from_str("allowed"))?.as_bool().unwrap_or(false))
    }

    /// Throws (`TENANTGUARD_POLICY_VIOLATION`) when no policy admits inserting `row`.
    #[wasm_bindgen(js_name = checkInsert)]
    pub fn check_insert(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] table: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Row")] row: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RlsContext")] context: JsValue,
    ) -> Result<(), JsValue> {
        self.rls("rlsCheckInsert", &table, "row", row, context).map(drop)
    }

    /// The rows `context` may see, in order.
    pub fn filter(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] table: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Row[]")] rows: js_sys::Array,
        #[wasm_bindgen(unchecked_optional_param_type = "RlsContext")] context: JsValue,
    ) -> Result<js_sys::Array, JsValue> {
        let v = self.rls("rlsFilter", &table, "rows", rows.clone().into(), context)?;
        let indices = js_sys::Reflect::get(&v, &JsValue::from_str("indices"))?;
        let out = js_sys::Array::new();
        for i in js_sys::Array::from(&indices).iter() {
            out.push(&rows.get(i.as_f64().unwrap_or(-1.0) as u32));
        }
        Ok(out)
    }

    /// Which policies admitted or refused `row`, and why.
    #[wasm_bindgen(unchecked_return_type = "RlsExplanation")]
    pub fn explain(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] table: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Row")] row: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RlsContext")] context: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.rls("rlsExplain", &table, "row", row, context)
    }

    fn rls(
        &self,
        op: &str,
        table: &JsValue,
        field: &str,
        value: JsValue,
        context: JsValue,
    ) -> Result<JsValue, JsValue> {
        let mut base = obj([("table", text(table, "table")?.into()), (field, from_js(value, field)?)]);
        match from_js(context, "context")? {
            Value::Null => {}
            ctx => {
                base.insert("context".into(), ctx);
            }
        }
        self.op(op, base, JsValue::NULL)
    }
}

/// A pre-resolved tenant and resource: the hot path.
#[wasm_bindgen]
pub struct TenantHandle {
    handle: tenantguard::CachedTenantHandle,
    resource: String,
    last: Option<Decision>,
    error: Option<JsValue>,
}

#[wasm_bindgen]
impl TenantHandle {
    /// The tenant's name.
    #[wasm_bindgen(getter)]
    pub fn tenant(&self) -> String {
        self.handle.handle().name().to_owned()
    }

    /// The resource the checks are about.
    #[wasm_bindgen(getter)]
    pub fn resource(&self) -> String {
        self.resource.clone()
    }

    /// Checks and consumes `cost` (default 1) units. Returns the wait before proceeding: `0`
    /// (go now), a delay in ms (throttle/queue admission) or `Infinity` (refused);
    /// `lastDecision()` has the details.
    #[wasm_bindgen(js_name = tryCheck)]
    pub fn try_check(
        &mut self,
        cost: Option<f64>,
        #[wasm_bindgen(js_name = nowMs)] now_ms: Option<f64>,
    ) -> Result<f64, JsValue> {
        self.checked(cost.unwrap_or(1.0), now_ms)
    }

    /// The fast path behind `tryCheck` in the package's entry modules (`wasm/js/`): `nowMs`
    /// comes from the caller's `Date.now()` (no import call), and the result is a plain number
    /// (no `Result` array): NaN on error, which `__takeError()` then hands over to be thrown.
    #[wasm_bindgen(js_name = __check, skip_typescript)]
    pub fn fast_check(&mut self, cost: f64, now_ms: f64) -> f64 {
        self.checked(cost, Some(now_ms)).unwrap_or_else(|e| {
            self.error = Some(e);
            f64::NAN
        })
    }

    /// The error of the last `__check` that returned NaN.
    #[wasm_bindgen(js_name = __takeError, skip_typescript)]
    pub fn take_error(&mut self) -> JsValue {
        self.error.take().unwrap_or_else(|| invalid("handle", "no pending error"))
    }

    /// The decision of this handle's last `tryCheck`, or `null`.
    #[wasm_bindgen(js_name = lastDecision)]
    #[wasm_bindgen(unchecked_return_type = "Decision | null")]
    pub fn last_decision(&self) -> Result<JsValue, JsValue> {
        to_js(&self.last)
    }
}

impl TenantHandle {
    /// Both `tryCheck` forms: the check at `now_ms` (the handle's clock if `None`), kept for
    /// `lastDecision()`, answered as the wait (`Infinity`: refused).
    #[inline]
    fn checked(&mut self, cost: f64, now_ms: Option<f64>) -> Result<f64, JsValue> {
        let cost = whole(cost, "cost")?;
        let now = time(now_ms)?.unwrap_or_else(|| self.handle.handle().now_ms());
        let d = self.handle.check(&self.resource, cost, now).map_err(|e| js_error(e.into()))?;
        let wait = d.wait_ms().map_or(f64::INFINITY, |ms| ms as f64);
        self.last = Some(d);
        Ok(wait)
    }
}

/// `undefined`, `null` or an object with only `resource` (string), `cost` and `nowMs`
/// (numbers): those values; `None` for any other shape.
fn simple_check_options(options: &JsValue) -> Option<(Option<String>, Option<f64>, Option<f64>)> {
    if options.is_undefined() || options.is_null() {
        return Some((None, None, None));
    }
    let o: &js_sys::Object = options.dyn_ref()?;
    let mut out = (None, None, None);
    for key in js_sys::Object::keys(o).iter() {
        let value = js_sys::Reflect::get(o, &key).ok()?;
        if value.is_undefined() {
            continue;
        }
        match key.as_string()?.as_str() {
            "resource" => out.0 = Some(value.as_string()?),
            "cost" => out.1 = Some(value.as_f64()?),
            "nowMs" => out.2 = Some(value.as_f64()?),
            _ => return None,
        }
    }
    Some(out)
}

fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `{tenant}`: the operation's own default resource applies unless the options name one.
fn tenant_only(tenant: &JsValue) -> Result<Map<String, Value>, JsValue> {
    Ok(obj([("tenant", text(tenant, "tenant")?.into())]))
}

fn request(op: &str, args: Value) -> Result<Request, JsValue> {
    Request::parse(op, args).map_err(js_error)
}
