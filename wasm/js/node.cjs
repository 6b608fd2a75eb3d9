'use strict'
// The package's entry for Node (CommonJS): as js/web.js, over the nodejs build.
const tg = require('../pkg/node/tenantguard.js')

/** The decision, as JSON text parsed here (faster than building the object in wasm). */
tg.Governor.prototype.check = function check(tenant, options) {
  return JSON.parse(this.__checkJson(tenant, options))
}

/** 0 (go now), a delay in ms, or Infinity (refused); throws the core's typed error. */
tg.TenantHandle.prototype.tryCheck = function tryCheck(cost, nowMs) {
  const wait = this.__check(cost ?? 1, nowMs ?? Date.now())
  if (wait === wait) return wait // not NaN
  throw this.__takeError()
}

module.exports = tg
