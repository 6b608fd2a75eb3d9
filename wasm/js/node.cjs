'use strict'
// The package's entry for Node (CommonJS): as js/web.js, over the nodejs build.
const tg = require('../pkg/node/tenantguard.js')

/** 0 (go now), a delay in ms, or Infinity (refused); throws the core's typed error. */
tg.TenantHandle.prototype.tryCheck = function tryCheck(cost, nowMs) {
  const wait = this.__check(cost ?? 1, nowMs ?? Date.now())
  if (wait === wait) return wait // not NaN
  throw this.__takeError()
}

module.exports = tg
