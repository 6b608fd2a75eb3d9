// A typed tour of the Node API. CI type-checks it with `tsc --noEmit` (see tsconfig.json),
// so a change to lib.d.ts that breaks user code fails the build.
import {
  Governor, QuotaExceededError, TenantGuardError, withTenant, currentTenant,
  type Decision, type Lease, type Row, type Tenant,
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

const status = gov.status('acme')
for (const r of status.resources) console.log(`${r.name}: ${r.current}/${r.limit}`)
void handle('acme').then((id) => console.log('lease', id))
