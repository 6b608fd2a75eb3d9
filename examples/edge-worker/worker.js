// An edge worker enforcing per-tenant limits with @tenantguard/wasm: the same Rust core as the
// Python, Node and JVM hosts. The tenant comes from the `x-tenant-id` header; a tenant over its
// plan's rate gets 429 with Retry-After, everyone else is served, and unknown tenants get 403.
// In production the tenant must come from something the client cannot choose freely (a verified
// token's claim, an API key lookup): a free-form header would let a client dodge its limit by
// sending another name.
//   Run: wasm/node_modules/.bin/workerd serve examples/edge-worker/config.capnp
import { initSync, Governor } from './js/web.js'
import wasmModule from './pkg/web/tenantguard_bg.wasm'

initSync({ module: wasmModule })

// The S2 TOML format, inline. 5 requests per second per tenant, no burst, refuse the excess.
const gov = new Governor({
  toml: `
[tenant_quotas]
default_tier = "free"

[[tenant_quotas.tiers]]
name = "free"
max_qps = 5
burst_allowance = 1.0
enforcement_action = "reject"
`,
})

// The known tenants (in a real deployment: loaded from configuration or an admin API), each
// resolved once so requests take the numeric fast path. Unknown names are never registered, so
// the map cannot grow with what clients send.
const TENANTS = ['acme', 'globex', 'noisy', 'quiet']
const handles = new Map()
for (const tenant of TENANTS) {
  gov.register(tenant, { plan: 'free' })
  handles.set(tenant, gov.handle(tenant))
}

export default {
  async fetch(request) {
    const tenant = request.headers.get('x-tenant-id')
    if (!tenant) return new Response('missing x-tenant-id\n', { status: 400 })
    const h = handles.get(tenant)
    if (h === undefined) return new Response('unknown tenant\n', { status: 403 })
    const wait = h.tryCheck()
    if (wait === Infinity) {
      const d = h.lastDecision()
      return new Response(JSON.stringify({ error: d.code, retryAfterMs: d.retryAfterMs }) + '\n', {
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': String(Math.max(1, Math.ceil(d.retryAfterMs / 1000))) },
      })
    }
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait)) // throttle admission
    return new Response(`ok ${tenant}\n`)
  },
}
