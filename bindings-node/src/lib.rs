//! The Node shell of tenantguard: converts types and errors, nothing else.
//!
//! Errors are thrown as JS `Error`s whose `code` is `TENANTGUARD_<CODE>` and whose message is
//! the core's; `lib.js` turns them into `Error` subclasses carrying the decision fields.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Value, json};
use tenantguard::api::{ApiError, Engine, Request};

/// The message carries the whole typed error as JSON; `lib.js` rebuilds an `Error` subclass
/// with `code` = `TENANTGUARD_<CODE>` and the decision fields.
fn js_err(e: ApiError) -> Error {
    Error::new(Status::GenericFailure, serde_json::to_string(&e).unwrap_or_default())
}

/// JS has one number type: napi-rs hands integral numbers beyond 32 bits over as floats.
/// Integral numbers exactly representable in a double (|n| ≤ 2^53) become integers again.
fn integers(v: Value) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => {
                if f >= 0.0 {
                    json!(f as u64)
                } else {
                    json!(f as i64)
                }
            }
            _ => Value::Number(n),
        },
        Value::Array(xs) => Value::Array(xs.into_iter().map(integers).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, integers(v))).collect()),
        other => other,
    }
}

/// The governor (with the S1 per-user and keyed limiters), driven by host-neutral requests.
#[napi]
pub struct NativeGovernor {
    engine: Engine,
}

#[napi]
impl NativeGovernor {
    /// `config`: `{toml}` or `{json}` (object or text) or nothing for the built-in plans.
    #[napi(factory)]
    pub fn create(config: Option<Value>, default_rpm: Option<u32>) -> Result<Self> {
        let source = match config {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(integers(v)).map_err(|e| js_err(ApiError::invalid("config", e.to_string())))?,
            ),
        };
        Ok(Self { engine: Engine::from_config(source.as_ref(), default_rpm.unwrap_or(60)).map_err(js_err)? })
    }

    /// Runs one operation of the host-neutral API (`op`, `args`), at `nowMs` if given.
    #[napi]
    pub fn call(&self, op: String, args: Option<Value>, now_ms: Option<i64>) -> Result<Value> {
        let now = match now_ms {
            Some(n) if n < 0 => return Err(js_err(ApiError::invalid("nowMs", "nowMs must not be negative"))),
            Some(n) => Some(n as u64),
            None => None,
        };
        let args = integers(args.unwrap_or_else(|| json!({})));
        let req: Request = serde_json::from_value(json!({ "op": op, "args": args }))
            .map_err(|e| js_err(ApiError::invalid("request", e.to_string())))?;
        self.engine.execute(req, now).map_err(js_err)
    }

    /// The hot path: a rate/concurrency/capacity check returning the decision's fields.
    #[napi]
    pub fn check(
        &self,
        tenant: String,
        resource: Option<String>,
        cost: Option<i64>,
        now_ms: Option<i64>,
    ) -> Result<Value> {
        let cost = match cost {
            Some(c) if c < 0 => return Err(js_err(ApiError::invalid("cost", "cost must not be negative"))),
            Some(c) => c as u64,
            None => 1,
        };
        let g = &self.engine.governor;
        let now = match now_ms {
            Some(n) if n < 0 => return Err(js_err(ApiError::invalid("nowMs", "nowMs must not be negative"))),
            Some(n) => n as u64,
            None => g.now_ms(),
        };
        let d = g
            .check(&tenant, resource.as_deref().unwrap_or(tenantguard::plan::QPS), cost, now)
            .map_err(|e| js_err(e.into()))?;
        serde_json::to_value(d).map_err(|e| js_err(ApiError::invalid("decision", e.to_string())))
    }

    /// Milliseconds since the epoch from the system clock.
    #[napi]
    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.engine.governor.now_ms()).unwrap_or(i64::MAX)
    }
}
