// The package's entry for workers and browsers: the wasm-bindgen module, with the hot
// `Governor.check` and `TenantHandle.tryCheck` routed through fast paths (see `__checkJson` and
// `__check` in src/lib.rs).
import { Governor, TenantHandle } from '../pkg/web/tenantguard.js'

export * from '../pkg/web/tenantguard.js'
export { default } from '../pkg/web/tenantguard.js'

/** The decision, as JSON text parsed here (faster than building the object in wasm). */
Governor.prototype.check = function check(tenant, options) {
  return JSON.parse(this.__checkJson(tenant, options))
}

/** 0 (go now), a delay in ms, or Infinity (refused); throws the core's typed error. */
TenantHandle.prototype.tryCheck = function tryCheck(cost, nowMs) {
  const wait = this.__check(cost ?? 1, nowMs ?? Date.now())
  if (wait === wait) return wait // not NaN
  throw this.__takeError()
}
