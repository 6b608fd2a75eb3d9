// A typed tour of the Node API. CI type-checks it with `tsc --noEmit` (see tsconfig.json),
// so a change to lib.d.ts that breaks user code fails the build.
import {
  Governor, QuotaExceededError, TenantGuardError, withTenant, currentTenant, RateLimiter, UserQuotaManager,
  type Decision, type Lease, type Row, type Tenant, type TenantHandle,
} from 'tenantguard'

const gov = new Governor({
  toml: `
[tenant_quotas]
[[tenant_quotas.tiers]]
name = "free"
max_qps = 100
max_connections = 2
enforcement_action = "reject"
`,
})

const acme: Tenant = gov.register('acme', { plan: 'free', isolation: 'SharedSchema' })
console.log(`${acme.name} on ${acme.planId}: ${acme.limits.maxQps} qps`)

// The synchronous hot path: one decision per request.
const d: Decision = gov.check('acme', { cost: 1 })
if (!d.allowed) console.log(`retry in ${d.retryAfterMs} ms (${d.code ?? 'limited'})`)

// The hottest path: resolve the tenant once, then a number per request (0 = go now).
{
  using h: TenantHandle = gov.handle('acme')
  const wait: number = h.tryCheck()
  if (wait === Infinity) console.log(`refused, retry in ${h.lastDecision()?.retryAfterMs} ms`)
}

// S1's per-user quotas and generic keyed limiter.
const users = new UserQuotaManager(60)
users.setQuota('alice', 120)
const ok: boolean = users.checkQuota('alice').allowed
const limiter = new RateLimiter('1s')
console.log(ok, limiter.check('login:alice', 5), limiter.remaining('login:alice', 5))

async function handle(tenant: string): Promise<number> {
  try {
    await gov.acquire(tenant) // waits out a throttle delay with a timer
    using lease: Lease = await gov.connection(tenant) // released when the block ends
    return lease.leaseId
  } catch (e) {
    if (e instanceof QuotaExceededError) return -e.retryAfterMs
    if (e instanceof TenantGuardError) throw new Error(`${e.code}: ${e.message}`)
    throw e
  }
}

// Row-level security, with the tenant taken from the async context.
gov.rlsEnable('documents')
gov.createPolicy('documents', { name: 'tenant_isolation', using: 'tenant_id = current_tenant()' })
const rows: Row[] = [{ id: 1, tenant_id: 'acme' }, { id: 2, tenant_id: 'globex' }]
const visible: Row[] = withTenant('acme', () => gov.filter('documents', rows))
console.log(withTenant('acme', currentTenant), visible.length)
const why = gov.explain('documents', rows[1], { context: { tenant: 'acme' } })
console.log(why.allowed, why.policies.map((p) => `${p.name}=${p.result}`).join(','))

const status = gov.status('acme')
for (const r of status.resources) console.log(`${r.name}: ${r.current}/${r.limit}`)
void handle('acme').then((id) => console.log('lease', id))

// Off the event loop (worth it with a Redis store): the same answers, as promises.
void gov.checkAsync('acme', { cost: 2 }).then((d: Decision) => console.log('async', d.action, d.remaining))
void gov.checkManyAsync([{ tenant: 'acme' }, { tenant: 'ghost' }]).then((rs) => {
  for (const r of rs) console.log(r instanceof TenantGuardError ? r.code : (r as Decision).allowed)
})
