//! The one hand-written Node-API function: `checkHandle(id, cost[, nowMs])`.
//!
//! Measured on this machine (Node 20, one run): a napi-rs 3 exported function that adds two
//! numbers costs ~130 ns per call (borrow scopes and barriers around every call), above the
//! whole 120 ns budget of the hot path. This function is registered with the raw `napi_sys` API
//! instead: four Node-API calls and no allocation, so the hot check costs well under the budget.
//! Everything else in the shell uses napi-rs; the rule still lives in the core ([`crate::fast`]).
//!
//! This module is the only place in the crate allowed `unsafe`: each block is a Node-API call
//! with arguments that come straight from Node (`env`, `info`) or from this module's own locals.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use tenantguard::api::ApiError;

/// Registers `checkHandle` on the module's exports.
pub(crate) fn register(env: &Env, exports: &Object) -> Result<()> {
    let mut f: sys::napi_value = ptr::null_mut();
    let name = c"checkHandle";
    // SAFETY: `env` is the live environment Node passed to module registration; `name` is a
    // NUL-terminated string (length -1 = NAPI_AUTO_LENGTH) and `f` a valid out-pointer.
    let status =
        unsafe { sys::napi_create_function(env.raw(), name.as_ptr(), -1, Some(check_handle), ptr::null_mut(), &mut f) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(Status::GenericFailure, "napi_create_function(checkHandle) failed"));
    }
    // SAFETY: as above; `exports.raw()` is the exports object of this registration.
    let status = unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), f) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(Status::GenericFailure, "setting exports.checkHandle failed"));
    }
    Ok(())
}

/// What can go wrong in one call, turned into a JS exception by [`throw`].
enum Failure {
    /// An argument of the wrong JS type: a `TypeError` with a napi-rs style code.
    Type(&'static str),
    /// A typed core error: an `Error` whose message is the error as JSON (see `lib.js`).
    Api(ApiError),
}

/// `checkHandle(id: number, cost: number, nowMs?: number): number`.
///
/// # Safety
/// Called by Node only, with the `env` and `info` of a call on this thread.
unsafe extern "C" fn check_handle(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `env`/`info` come from Node for this call; `argv` has room for `argc` values.
        unsafe { call(env, info) }
    }));
    let failure = match outcome {
        Ok(Ok(wait)) => {
            let mut out: sys::napi_value = ptr::null_mut();
            // SAFETY: a valid env and out-pointer; on failure Node has an exception pending.
            unsafe { sys::napi_create_double(env, wait, &mut out) };
            return out;
        }
        Ok(Err(f)) => f,
        Err(_) => Failure::Api(crate::panicked("checkHandle")),
    };
    // SAFETY: a valid env on Node's thread.
    unsafe { throw(env, failure) };
    ptr::null_mut()
}

/// Reads the arguments and runs the check.
///
/// # Safety
/// `env` and `info` must be those of a Node-API call in progress on this thread.
unsafe fn call(env: sys::napi_env, info: sys::napi_callback_info) -> std::result::Result<f64, Failure> {
    let mut argc: usize = 3;
    let mut argv: [sys::napi_value; 3] = [ptr::null_mut(); 3];
    // SAFETY: `argv` holds `argc` (3) slots; Node writes at most that many and sets `argc` to the
    // number of arguments passed.
    let status =
        unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()) };
    if status != sys::Status::napi_ok || argc < 2 {
        return Err(Failure::Type("checkHandle(id, cost[, nowMs]) takes 2 or 3 arguments"));
    }
    let mut id: u32 = 0;
    // SAFETY: `argv[0]` is a live value of this call; `id` a valid out-pointer.
    if unsafe { sys::napi_get_value_uint32(env, argv[0], &mut id) } != sys::Status::napi_ok {
        return Err(Failure::Type("handle id must be a number"));
    }
    let mut cost: f64 = 0.0;
    // SAFETY: as above for `argv[1]`.
    if unsafe { sys::napi_get_value_double(env, argv[1], &mut cost) } != sys::Status::napi_ok {
        return Err(Failure::Type("cost must be a number"));
    }
    let now = if argc >= 3 {
        let mut now: f64 = 0.0;
        // SAFETY: as above for `argv[2]` (present since argc ≥ 3).
        if unsafe { sys::napi_get_value_double(env, argv[2], &mut now) } != sys::Status::napi_ok {
            return Err(Failure::Type("nowMs must be a number"));
        }
        Some(now)
    } else {
        None
    };
    crate::fast(id, cost, now).map_err(Failure::Api)
}

/// Throws `failure` as a JS exception.
///
/// # Safety
/// `env` must be the environment of a Node-API call in progress on this thread.
unsafe fn throw(env: sys::napi_env, failure: Failure) {
    let (type_error, message) = match failure {
        Failure::Type(m) => (true, m.to_owned()),
        Failure::Api(e) => (false, serde_json::to_string(&e).unwrap_or_default()),
    };
    // JSON and our messages contain no NUL byte; fall back to a fixed text if one ever did.
    let message = CString::new(message).unwrap_or_else(|_| c"tenantguard: error message had a NUL byte".to_owned());
    // SAFETY: both strings are NUL-terminated and outlive the call (Node copies them).
    unsafe {
        if type_error {
            sys::napi_throw_type_error(env, c"NumberExpected".as_ptr(), message.as_ptr());
        } else {
            sys::napi_throw_error(env, c"GenericFailure".as_ptr(), message.as_ptr());
        }
    }
}
