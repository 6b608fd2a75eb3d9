'use strict'
// Express middleware: one tenantguard check per request, 429 + Retry-After when the tenant is
// over its plan. Run it with `node examples/express.js` and send requests with an `x-tenant` header.
const express = require('express')
const { Governor, QuotaExceededError, NotFoundError, withTenant } = require('tenantguard')

/** Rate-limits each request by the tenant named in `header`; the tenant is the async context of the handler. */
function tenantLimiter(gov, { header = 'x-tenant', resource = 'qps' } = {}) {
  return async (req, res, next) => {
    const tenant = req.get(header)
    if (!tenant) return res.status(400).json({ error: `missing ${header} header` })
    try {
      const d = await gov.acquire(tenant, { resource }) // waits out a throttle delay, throws when refused
      res.set('RateLimit-Limit', String(d.limit ?? ''))
      res.set('RateLimit-Remaining', String(d.remaining ?? ''))
    } catch (e) {
      if (e instanceof QuotaExceededError) {
        res.set('Retry-After', String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))))
        return res.status(429).json({ error: e.code, resource: e.resource, retryAfterMs: e.retryAfterMs })
      }
      if (e instanceof NotFoundError) return res.status(403).json({ error: e.code })
      return next(e)
    }
    withTenant(tenant, next)
  }
}

/** The demo app: a free tenant allowed 5 requests per second, rejected (not throttled) beyond. */
function createApp(gov = defaultGovernor()) {
  const app = express()
  app.use(tenantLimiter(gov))
  app.get('/documents', (req, res) => {
    const rows = [{ id: 1, tenant_id: 'acme' }, { id: 2, tenant_id: 'globex' }]
    res.json(gov.filter('documents', rows))
  })
  return app
}

function defaultGovernor() {
  const gov = new Governor({
    toml: `
[tenant_quotas]
[[tenant_quotas.tiers]]
name = "free"
max_qps = 5
burst_allowance = 1.0
enforcement_action = "reject"
`,
  })
  gov.register('acme', { plan: 'free' })
  gov.register('globex', { plan: 'free' })
  gov.rlsEnable('documents')
  gov.createPolicy('documents', { name: 'tenant_isolation', using: 'tenant_id = current_tenant()' })
  return gov
}

module.exports = { tenantLimiter, createApp, defaultGovernor }

if (require.main === module) {
  const port = Number(process.env.PORT ?? 3000)
  createApp().listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}/documents`))
}
