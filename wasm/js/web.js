// The package's entry for workers and browsers: the wasm-bindgen module, with the hot
// `TenantHandle.tryCheck` routed through the numeric fast path (see `__check` in src/lib.rs).
import { TenantHandle } from '../pkg/web/tenantguard.js'

export * from '../pkg/web/tenantguard.js'
export { default } from '../pkg/web/tenantguard.js'

/** 0 (go now), a delay in ms, or Infinity (refused); throws the core's typed error. */
TenantHandle.prototype.tryCheck = function tryCheck(cost, nowMs) {
  const wait = this.__check(cost ?? 1, nowMs ?? Date.now())
  if (wait === wait) return wait // not NaN
  throw this.__takeError()
}
