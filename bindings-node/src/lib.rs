//! The Node shell of tenantguard: converts types and errors, nothing else.
//!
//! Errors are thrown as JS `Error`s whose `code` is `TENANTGUARD_<CODE>` and whose message is
//! the core's; `lib.js` turns them into `Error` subclasses carrying the decision fields.

use std::cell::RefCell;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Value, json};
use tenantguard::api::{ApiError, Engine, Request, defaults, js_numbers, js_whole as whole};
use tenantguard::clock::default_clock;
use tenantguard::store::StoreSpec;
use tenantguard::{CachedTenantHandle, Decision};

mod hot;

/// The message carries the whole typed error as JSON; `lib.js` rebuilds an `Error` subclass
/// with `code` = `TENANTGUARD_<CODE>` and the decision fields.
fn js_err(e: ApiError) -> Error {
    Error::new(Status::GenericFailure, serde_json::to_string(&e).unwrap_or_default())
}

/// Runs the body of a Node-API entry, turning a panic into an `INTERNAL` error (thrown as
/// `TENANTGUARD_INTERNAL`): a panic must never unwind into Node, where it would abort the
/// process. `hot.rs` does the same for `checkHandle`.
pub(crate) fn guard<T>(entry: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|_| Err(js_err(panicked(entry))))
}

/// The error a caught panic becomes.
pub(crate) fn panicked(entry: &str) -> ApiError {
    ApiError::internal(format!("tenantguard: internal error (panic caught in {entry})"))
}

/// JS has one number type: napi-rs hands integral numbers beyond 32 bits over as floats.
/// Integral numbers exactly representable in a double (|n| ≤ 2^53) become integers again.
fn integers(v: Value) -> Value {
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
    engine: Arc<Engine>,
}

/// One operation run on the libuv thread pool (`callAsync`): with a Redis store the round trip
/// happens there, so the event loop keeps running. The answer is JSON text, as `check`'s.
pub struct CallTask {
    engine: Arc<Engine>,
    request: Option<Request>,
    now: Option<u64>,
}

#[napi]
impl Task for CallTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        // On a libuv worker thread: a panic here would abort the process too.
        guard("callAsync", || {
            let request = self.request.take().ok_or_else(|| js_err(ApiError::invalid("request", "already run")))?;
            let answer = self.engine.execute(request, self.now).map(js_numbers).map_err(js_err)?;
            serde_json::to_string(&answer).map_err(|e| js_err(ApiError::invalid("answer", e.to_string())))
        })
    }

    fn resolve(&mut self, _env: Env, output: String) -> Result<String> {
        Ok(output)
    }
}

/// `{"op": op, "args": args}` as a typed request, and `nowMs` as whole milliseconds.
fn request(op: String, args: Option<Value>, now_ms: Option<f64>) -> Result<(Request, Option<u64>)> {
    let now = now_ms.map(|n| whole("nowMs", n)).transpose().map_err(js_err)?;
    let args = integers(args.unwrap_or_else(|| json!({})));
    let req = Request::parse(&op, args).map_err(js_err)?;
    Ok((req, now))
}

#[napi]
impl NativeGovernor {
    /// `config`: `{toml}` or `{json}` (object or text) or nothing for the built-in plans.
    /// `store`: a Redis URL or the core's `StoreSpec` object (`redisUrl`, `mode`, ...); the
    /// memory store if absent, or a federated configuration's (`StoreSpec::build_for`).
    #[napi(factory)]
    pub fn create(config: Option<Value>, default_rpm: Option<u32>, store: Option<Value>) -> Result<Self> {
        guard("Governor", || Self::build(config, default_rpm, store))
    }

    fn build(config: Option<Value>, default_rpm: Option<u32>, store: Option<Value>) -> Result<Self> {
        let source = match config {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(integers(v)).map_err(|e| js_err(ApiError::invalid("config", e.to_string())))?,
            ),
        };
        let spec = match store {
            None | Some(Value::Null) => StoreSpec::default(),
            Some(Value::String(url)) => StoreSpec::url(url),
            Some(v) => StoreSpec::from_value(integers(v)).map_err(|e| js_err(e.into()))?,
        };
        let rpm = default_rpm.unwrap_or(defaults::USER_RPM);
        Ok(Self {
            engine: Arc::new(
                Engine::from_config_with_spec(source.as_ref(), rpm, default_clock(), &spec).map_err(js_err)?,
            ),
        })
    }

    /// The state store: `"memory"` or `"redis"`.
    #[napi]
    pub fn store_kind(&self) -> Result<String> {
        guard("storeKind", || Ok(self.engine.governor.store_kind().to_owned()))
    }

    /// The store's health counters (empty for the memory store).
    #[napi]
    pub fn store_metrics(&self) -> Result<Value> {
        guard("storeMetrics", || {
            let metrics = self.engine.governor.store_metrics();
            let m: serde_json::Map<String, Value> =
                metrics.into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect();
            Ok(js_numbers(Value::Object(m)))
        })
    }

    /// Runs one operation of the host-neutral API (`op`, `args`), at `nowMs` if given.
    #[napi]
    pub fn call(&self, op: String, args: Option<Value>, now_ms: Option<f64>) -> Result<Value> {
        guard("call", || {
            let (req, now) = request(op, args, now_ms)?;
            self.engine.execute(req, now).map(js_numbers).map_err(js_err)
        })
    }

    /// [`call`](Self::call) on the libuv thread pool: the promise settles with the answer or
    /// the typed error. The arguments are checked here, before the promise is made.
    #[napi]
    pub fn call_async(&self, op: String, args: Option<Value>, now_ms: Option<f64>) -> Result<AsyncTask<CallTask>> {
        guard("callAsync", || {
            let (req, now) = request(op, args, now_ms)?;
            Ok(AsyncTask::new(CallTask { engine: Arc::clone(&self.engine), request: Some(req), now }))
        })
    }

    /// A rate/concurrency/capacity check by tenant name, returning the decision as JSON text:
    /// `JSON.parse` builds the object several times faster than napi-rs's per-property
    /// conversion of a `serde_json::Value`.
    #[napi]
    pub fn check(
        &self,
        tenant: String,
        resource: Option<String>,
        cost: Option<f64>,
        now_ms: Option<f64>,
    ) -> Result<String> {
        guard("check", || self.check_json(&tenant, resource.as_deref(), cost, now_ms))
    }

    fn check_json(
        &self,
        tenant: &str,
        resource: Option<&str>,
        cost: Option<f64>,
        now_ms: Option<f64>,
    ) -> Result<String> {
        // JS numbers are doubles: NaN, infinities, fractions and negatives are refused, not
        // truncated (the same rule as the fast path and the wasm shell).
        let cost = cost.map(|c| whole("cost", c)).transpose().map_err(js_err)?.unwrap_or(defaults::CHECK_COST);
        let g = &self.engine.governor;
        let now = match now_ms {
            Some(n) => whole("nowMs", n).map_err(js_err)?,
            None => g.now_ms(),
        };
        let d =
            g.check(tenant, resource.unwrap_or(defaults::CHECK_RESOURCE), cost, now).map_err(|e| js_err(e.into()))?;
        serde_json::to_string(&d).map_err(|e| js_err(ApiError::invalid("decision", e.to_string())))
    }

    /// Resolves `tenant` once and returns a numeric handle for the fast path (`checkHandle`, see
    /// the `hot` module).
    /// Handles belong to the JS thread that opened them; free them with [`handle_close`].
    #[napi]
    pub fn open_handle(&self, tenant: String, resource: Option<String>) -> Result<u32> {
        guard("openHandle", || {
            let handle = self.engine.governor.handle(&tenant).map_err(|e| js_err(e.into()))?;
            let resource = resource.unwrap_or_else(|| defaults::CHECK_RESOURCE.to_owned());
            Ok(HOT.with(|hot| hot.handles.borrow_mut().insert(Slot { handle: handle.into(), resource, last: None })))
        })
    }

    /// Milliseconds since the epoch from the system clock.
    #[napi]
    pub fn now_ms(&self) -> Result<i64> {
        guard("nowMs", || Ok(i64::try_from(self.engine.governor.now_ms()).unwrap_or(i64::MAX)))
    }
}

/// One open handle: the resolved tenant and the resource its checks are about.
struct Slot {
    handle: CachedTenantHandle,
    resource: String,
    last: Option<Decision>,
}

/// Open handles of this JS thread, indexed by the numbers JS holds; freed slots are reused.
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
}

impl Slab {
    fn insert(&mut self, slot: Slot) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }
}

thread_local! {
    // Node runs each isolate (main thread, each worker) on its own OS thread, and a handle is
    // only meaningful in the isolate that opened it: thread-local state needs no lock.
    static HOT: Hot = Hot::default();
}

/// This thread's open handles, each with the decision of its last fast check.
#[derive(Default)]
struct Hot {
    handles: RefCell<Slab>,
}

const EXACT: f64 = 9_007_199_254_740_992.0;

#[cold]
fn no_handle(id: u32) -> ApiError {
    ApiError::invalid("handle", format!("no open tenant handle {id} on this thread"))
}

/// The fast check behind `TenantHandle.tryCheck`: `cost` units on handle `id`, at `now` or the
/// governor's clock. Returns the wait before proceeding: 0, a delay in ms, or `Infinity`
/// (refused); the decision itself is kept for [`last_decision`].
pub(crate) fn fast(id: u32, cost: f64, now: Option<f64>) -> std::result::Result<f64, ApiError> {
    let cost = whole("cost", cost)?;
    let now = match now {
        Some(n) => Some(whole("nowMs", n)?),
        None => None,
    };
    HOT.with(|hot| {
        let mut handles = hot.handles.borrow_mut();
        let Some(Some(s)) = handles.slots.get_mut(id as usize) else { return Err(no_handle(id)) };
        let d = s.handle.check(&s.resource, cost, now.unwrap_or_else(|| s.handle.handle().now_ms()))?;
        let wait = d.wait_ms().map_or(f64::INFINITY, |ms| ms as f64);
        s.last = Some(d);
        Ok(wait)
    })
}

/// The decision of handle `id`'s last fast check as JSON text (`null` if none yet).
#[napi]
pub fn last_decision(id: u32) -> Result<String> {
    guard("lastDecision", || {
        HOT.with(|hot| match hot.handles.borrow().slots.get(id as usize) {
            Some(Some(s)) => serde_json::to_string(&s.last),
            _ => Ok("null".to_owned()),
        })
        .map_err(|e| js_err(ApiError::invalid("decision", e.to_string())))
    })
}

/// Adds the hand-written hot function (see the `hot` module) to the exports.
#[napi(module_exports)]
pub fn exports(exports: Object, env: Env) -> Result<()> {
    hot::register(&env, &exports)
}

/// The resource handle `id` checks (`""` for an unknown handle).
#[napi]
pub fn handle_resource(id: u32) -> Result<String> {
    guard("handleResource", || {
        Ok(HOT.with(|hot| match hot.handles.borrow().slots.get(id as usize) {
            Some(Some(s)) => s.resource.clone(),
            _ => String::new(),
        }))
    })
}

/// Frees handle `id` (idempotent; ids are reused afterwards).
#[napi]
pub fn handle_close(id: u32) -> Result<()> {
    guard("handleClose", || {
        HOT.with(|hot| {
            let mut slab = hot.handles.borrow_mut();
            if let Some(slot) = slab.slots.get_mut(id as usize)
                && slot.take().is_some()
            {
                slab.free.push(id);
            }
        });
        Ok(())
    })
}

/// Panics inside [`guard`], for the test that a panic becomes a `TENANTGUARD_INTERNAL` error
/// and the process lives on (`test/api.test.js`). Not part of the API.
#[napi(js_name = "__panicForTest", skip_typescript)]
#[allow(clippy::panic, reason = "the point of this test hook")]
pub fn panic_for_test() -> Result<()> {
    guard("__panicForTest", || panic!("deliberate panic (test hook)"))
}
