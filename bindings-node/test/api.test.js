'use strict'
// The JS surface: decisions, error classes with stable codes, timers, leases, context, RLS.
const test = require('node:test')
const assert = require('node:assert')
const tg = require('../lib.js')

const REJECT = '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nenforcement_action = "reject"\n'

test('decisions and errors', () => {
  const gov = new tg.Governor()
  gov.register('acme', { plan: 'free' })
  const d = gov.check('acme', { nowMs: 1000 })
  assert.deepStrictEqual([d.allowed, d.action, d.limit, d.remaining], [true, 'allow', 100, 149])
  assert.throws(() => gov.check('ghost'), (e) => e instanceof tg.NotFoundError && e instanceof tg.TenantGuardError && e.code === 'TENANTGUARD_TENANT_NOT_FOUND')
  assert.throws(() => gov.register('acme'), (e) => e instanceof tg.ConflictError && e.code === 'TENANTGUARD_TENANT_EXISTS')
  assert.throws(() => gov.check(42), TypeError)
  assert.throws(() => gov.check('acme', { cost: -1 }), (e) => e instanceof TypeError && e instanceof tg.TenantGuardError && e.code === 'TENANTGUARD_INVALID_ARGUMENT')
  assert.throws(() => gov.check('acme', { colour: 'red' }), TypeError)
  assert.throws(() => new tg.Governor({ toml: '[tenant_quotas]\nwat = 1\n' }), (e) => e instanceof tg.ConfigError && e.key === 'tenant_quotas.wat' && e.line === 2)
  assert.throws(() => new tg.Governor(42), TypeError)
})

test('acquire waits with timers and throws QuotaExceededError when refused', async () => {
  const gov = new tg.Governor({ toml: '[tenant_quotas]\nmax_throttle_delay = "20ms"\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 1000\nburst_allowance = 1.0\n' })
  gov.register('acme')
  const now = gov.nowMs()
  for (let i = 0; i < 1000; i++) gov.check('acme', { nowMs: now })
  const t0 = Date.now()
  const d = await gov.acquire('acme', { nowMs: now })
  assert.strictEqual(d.action, 'throttle')
  assert.ok(Date.now() - t0 >= d.delayMs - 1, 'waited the delay')
  for (let i = 0; i < 19; i++) gov.check('acme', { nowMs: now })
  await assert.rejects(gov.acquire('acme', { nowMs: now }), (e) => e instanceof tg.QuotaExceededError && e.code === 'TENANTGUARD_RATE_LIMITED' && e.retryAfterMs > 0 && e.limit === 1000)
})

test('connection leases: using/dispose and first-come first-served queueing', async () => {
  const gov = new tg.Governor({ toml: '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_connections = 1\nenforcement_action = "queue"\nmax_queue_wait = "2s"\n' })
  gov.register('acme')
  const first = await gov.connection('acme')
  const waiting = gov.connection('acme')
  setTimeout(() => first[Symbol.dispose](), 20)
  const second = await waiting
  assert.ok(second.leaseId > first.leaseId)
  second.release()
  second.release()
  assert.strictEqual(gov.call('concurrencyStats', { tenant: 'acme', resource: 'connections' }).active, 0)
})

test('withTenant gives each async context its own tenant', async () => {
  const seen = await Promise.all(['a', 'b', 'a', 'b'].map((t) => tg.withTenant(t, async () => {
    await new Promise((r) => setTimeout(r, 1))
    return tg.currentTenant()
  })))
  assert.deepStrictEqual(seen, ['a', 'b', 'a', 'b'])
  assert.throws(() => tg.currentTenant())
})

test('row-level security', () => {
  const gov = new tg.Governor({ toml: REJECT })
  gov.rlsEnable('docs')
  gov.createPolicy('docs', { name: 'tenant', using: 'tenant_id = current_tenant()' })
  const rows = [{ tenant_id: 'acme' }, { tenant_id: 'beta' }]
  tg.withTenant('acme', () => {
    assert.deepStrictEqual(gov.filter('docs', rows), [rows[0]])
    assert.ok(gov.canSelect('docs', rows[0]))
    assert.throws(() => gov.checkInsert('docs', rows[1]), (e) => e instanceof tg.PolicyViolationError && /violates row-level security/.test(e.message))
    assert.deepStrictEqual(gov.toSql('docs').params, ['acme'])
  })
  assert.throws(() => gov.createPolicy('docs', { name: 'bad', using: 'a = = 1' }), tg.PolicySyntaxError)
})

test('config from a path, for the constructor and for reload', () => {
  const dir = require('node:path').join(__dirname, '..', '..', 'examples', 'config')
  const gov = new tg.Governor({ path: `${dir}/tiered.toml` })
  const r = gov.reload({ path: `${dir}/custom-resources.json` })
  assert.ok(r.plans.includes('ai_pro'), `reload read the JSON file: ${r.plans}`)
  assert.throws(() => gov.reload(5), TypeError)
  assert.throws(() => gov.reload({ toml: '[tenant_quotas]\nwat = 1\n' }), tg.ConfigError)
})
