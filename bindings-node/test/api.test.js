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
  // Doubles that are not whole numbers are refused, never truncated to something else.
  for (const bad of [NaN, Infinity, 1.5, -1]) assert.throws(() => gov.check('acme', { cost: bad }), tg.InvalidArgumentError)
  assert.throws(() => gov.check('acme', { nowMs: NaN }), tg.InvalidArgumentError)
  assert.throws(() => gov.call('check', { tenant: 'acme' }, -5), tg.InvalidArgumentError)
  assert.throws(() => new tg.Governor({ toml: '[tenant_quotas]\nwat = 1\n' }), (e) => e instanceof tg.ConfigError && e.key === 'tenant_quotas.wat' && e.line === 2)
  assert.throws(() => new tg.Governor(42), TypeError)
})

test('the async forms answer as the sync ones and reject with the same typed errors', async () => {
  const a = new tg.Governor()
  const b = new tg.Governor()
  for (const g of [a, b]) g.register('acme', { plan: 'free' })
  for (let i = 0; i < 160; i++) {
    const nowMs = 1000 + (i % 7)
    assert.deepStrictEqual(await a.checkAsync('acme', { nowMs, cost: 1 + (i % 3) }), b.check('acme', { nowMs, cost: 1 + (i % 3) }))
  }
  const checks = [{ tenant: 'acme' }, { tenant: 'ghost' }, { tenant: 'acme', resource: 'qpz' }]
  const [x, y] = [await a.checkManyAsync(checks, { nowMs: 5000 }), b.checkMany(checks, { nowMs: 5000 })]
  assert.deepStrictEqual(x[0], y[0])
  assert.ok(x[1] instanceof tg.NotFoundError && x[1].code === 'TENANTGUARD_TENANT_NOT_FOUND')
  assert.ok(x[2] instanceof tg.NotFoundError && x[2].code === 'TENANTGUARD_RESOURCE_NOT_FOUND')
  assert.deepStrictEqual(await a.callAsync('concurrencyStats', { tenant: 'acme' }), b.call('concurrencyStats', { tenant: 'acme' }))
  await assert.rejects(a.checkAsync('ghost'), (e) => e instanceof tg.NotFoundError && e.code === 'TENANTGUARD_TENANT_NOT_FOUND')
  await assert.rejects(a.checkAsync('acme', { cost: -1 }), (e) => e instanceof tg.InvalidArgumentError)
  await assert.rejects(a.callAsync('launchMissiles'), (e) => e instanceof tg.InvalidArgumentError && e.key === 'request')
  await assert.rejects(a.callAsync('check', { tenant: 'acme' }, 1.5), tg.InvalidArgumentError)
  // Many at once: every one settles, and the tenant's limit holds across them.
  const c = new tg.Governor({ toml: REJECT })
  c.register('acme', { plan: 'free' })
  const all = await Promise.all([...Array(400)].map(() => c.checkAsync('acme', { nowMs: 9000 })))
  assert.strictEqual(all.filter((d) => d.allowed).length, 150)
})

test('unpaired surrogates in names are refused, not replaced', async () => {
  const gov = new tg.Governor()
  assert.throws(() => gov.register('t\uD800'), (e) => e instanceof tg.InvalidArgumentError && e.key === 'name')
  assert.throws(() => gov.check('t\uDC00'), tg.InvalidArgumentError)
  assert.throws(() => gov.handle('t\uD800'), tg.InvalidArgumentError)
  await assert.rejects(gov.checkAsync('t\uD800'), tg.InvalidArgumentError)
  assert.throws(() => gov.checkMany([{ tenant: 't\uD800' }]), tg.InvalidArgumentError)
  assert.throws(() => gov.filter('docs', [{ tenant_id: 'a' }], { tenant: 't\uD800' }), tg.InvalidArgumentError)
  assert.throws(() => gov.check('t\uFFFD'), tg.NotFoundError, 'nothing was registered in its place')
  gov.register('t\uD83D\uDE00') // a valid pair
  assert.strictEqual(gov.check('t\uD83D\uDE00', { nowMs: 0 }).allowed, true)
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

test('tenant handles: the numeric fast path agrees with check and reports every outcome', () => {
  const gov = new tg.Governor({ toml: '[tenant_quotas]\nmax_throttle_delay = "50ms"\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 10\nburst_allowance = 1.0\n' })
  gov.register('acme')
  gov.register('globex')
  const h = gov.handle('acme')
  assert.strictEqual([h.tenant, h.resource].join(), 'acme,qps')
  assert.strictEqual(h.lastDecision()?.resource ?? 'qps', 'qps')
  for (let i = 0; i < 10; i++) assert.strictEqual(h.tryCheck(1, 1000), 0)
  // The handle and the name-keyed path share the tenant's state.
  assert.strictEqual(gov.peek('acme', { nowMs: 1000 }).remaining, 0)
  const wait = h.tryCheck(1, 1000) // over the limit: throttled by 100 ms (> 50 ms max) → refused
  const d = h.lastDecision()
  assert.strictEqual(wait, Infinity)
  assert.deepStrictEqual([d.allowed, d.code, d.limit], [false, 'RATE_LIMITED', 10])
  assert.ok(d.retryAfterMs > 0)
  assert.strictEqual(h.tryCheck(1, 1100), 0, 'one token back after 100 ms')
  const g = gov.handle('globex')
  assert.strictEqual(g.check({ nowMs: 1000 }).remaining, 9, 'other tenants unaffected')
  assert.strictEqual(h.lastDecision().code, null, 'each handle keeps its own last decision')
  // Errors: typed, never a crash.
  assert.throws(() => gov.handle('ghost'), (e) => e instanceof tg.NotFoundError)
  assert.throws(() => h.tryCheck(-1, 1000), (e) => e instanceof tg.InvalidArgumentError && e.code === 'TENANTGUARD_INVALID_ARGUMENT')
  assert.throws(() => h.tryCheck(1.5, 1000), tg.InvalidArgumentError)
  assert.throws(() => h.tryCheck(1, NaN), tg.InvalidArgumentError)
  assert.throws(() => h.tryCheck('1', 1000), TypeError)
  assert.throws(() => h.tryCheck(1, '1000'), TypeError)
  assert.throws(() => gov.handle('acme', { resource: 'nope' }).tryCheck(1, 1000), tg.TenantGuardError)
  // The raw Node-API function itself: wrong arity and types are TypeErrors, never a crash.
  const { checkHandle } = require('../index.js')
  assert.throws(() => checkHandle(), TypeError)
  assert.throws(() => checkHandle(0), TypeError)
  assert.throws(() => checkHandle({}, 1), TypeError)
  assert.throws(() => checkHandle(0, 1, null), TypeError)
  g.close()
  g.close() // idempotent
  assert.throws(() => g.tryCheck(1, 1000), (e) => e instanceof tg.InvalidArgumentError && /no open tenant handle/.test(e.message))
  const scoped = gov.handle('globex') // what `using` does (Node 20 JS has no `using`)
  try {
    assert.strictEqual(scoped.tryCheck(1, 1000), 0)
  } finally {
    scoped[Symbol.dispose]()
  }
  assert.throws(() => scoped.tryCheck(1, 1000), tg.InvalidArgumentError)
})

test('throttle admissions come back as a positive wait', () => {
  const gov = new tg.Governor({ toml: '[tenant_quotas]\nmax_throttle_delay = "1s"\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 10\nburst_allowance = 1.0\n' })
  gov.register('acme')
  const h = gov.handle('acme')
  for (let i = 0; i < 10; i++) h.tryCheck(1, 0)
  assert.strictEqual(h.tryCheck(1, 0), 100)
  assert.strictEqual(h.lastDecision().action, 'throttle')
})

test('plans, features, overrides, shadow and usage reports', () => {
  const gov = new tg.Governor()
  assert.deepStrictEqual(gov.listPlans().map((p) => p.id).sort(), ['enterprise', 'free', 'pro', 'starter', 'unlimited'])
  gov.register('acme', { plan: 'free' })
  assert.strictEqual(gov.checkFeature('acme', 'cdc').code, 'FEATURE_NOT_IN_PLAN')
  const free = gov.plan('free')
  const plan = gov.createPlan({ ...free, id: 'gold', resources: [{ ...free.resources[0], windows: [{ limit: 7, windowMs: 1000 }] }] })
  assert.strictEqual(plan.id, 'gold')
  assert.throws(() => gov.createPlan({ ...free, id: 'gold' }), (e) => e instanceof tg.ConflictError && e.code === 'TENANTGUARD_PLAN_EXISTS')
  assert.strictEqual(gov.changePlan('acme', 'gold').planId, 'gold')
  assert.strictEqual(gov.check('acme', { nowMs: 0 }).limit, 7)
  assert.deepStrictEqual(gov.downgrade('gold', 'free').length, 1)
  assert.strictEqual(gov.deletePlan('gold').fallback.length > 0, true)
  assert.throws(() => gov.deletePlan('unlimited'), (e) => e instanceof tg.ConflictError)
  gov.setOverride('acme', { resource: 'qps', limit: 3 })
  assert.strictEqual(gov.check('acme', { nowMs: 0 }).limit, 3)
  assert.strictEqual(gov.clearOverride('acme', 'qps'), true)
  gov.setShadow(true, { tenant: 'acme' })
  for (let i = 0; i < 200; i++) assert.ok(gov.check('acme', { nowMs: 0 }).allowed)
  assert.ok(gov.violations('acme').shadow > 0)
  gov.setShadow(false, { tenant: 'acme' })
  const lease = gov.begin('acme', { nowMs: 0 })
  assert.deepStrictEqual(gov.expiredLeases({ nowMs: 60_000 }).map((l) => [l.leaseId, l.reason]), [[lease.leaseId, 'max_duration']])
  assert.strictEqual(gov.concurrencyStats('acme').active, 0)
  assert.ok(gov.evictIdle({ nowMs: 10 * 86_400_000 }) >= 0)
})

test('UserQuotaManager and RateLimiter', () => {
  const users = new tg.UserQuotaManager(2)
  users.checkQuota('bob', { nowMs: 0 })
  users.checkQuota('bob', { nowMs: 0 })
  assert.throws(() => users.checkQuota('bob', { nowMs: 0 }), (e) => e instanceof tg.QuotaExceededError && e.code === 'TENANTGUARD_RATE_LIMITED')
  assert.strictEqual(users.checkQuota('bob', { nowMs: 60_000 }).allowed, true, 'a new minute')
  users.setQuota('carol', 1)
  assert.deepStrictEqual(users.snapshot().find((r) => r.user === 'carol')?.rpm, 1)
  const limiter = new tg.RateLimiter('1s')
  assert.deepStrictEqual([0, 0, 0].map(() => limiter.check('k', 2, { nowMs: 0 })), [true, true, false])
  assert.strictEqual(limiter.remaining('k', 2, { nowMs: 0 }), 0)
  assert.strictEqual(limiter.remaining('k', 2, { nowMs: 2500 }), 2)
  assert.throws(() => new tg.RateLimiter(0), tg.InvalidArgumentError)
  assert.throws(() => new tg.RateLimiter('soon'), tg.InvalidArgumentError)
})

test('RLS explain, update/delete checks and policy management', () => {
  const gov = new tg.Governor()
  gov.rlsEnable('docs')
  gov.setColumnTypes('docs', { tenant_id: 'text' })
  gov.createPolicy('docs', { name: 'iso', using: "tenant_id = current_setting('app.tenant')" })
  const ctx = { settings: { 'app.tenant': 'a' } }
  const why = gov.explain('docs', { tenant_id: 'b' }, { context: ctx })
  assert.deepStrictEqual([why.allowed, why.policies[0].name, why.policies[0].result], [false, 'iso', false])
  assert.strictEqual(gov.canDelete('docs', { tenant_id: 'a' }, ctx), true)
  assert.throws(() => gov.checkUpdate('docs', { tenant_id: 'a' }, { tenant_id: 'b' }, ctx), tg.PolicyViolationError)
  assert.strictEqual(gov.checkUpdate('docs', { tenant_id: 'a' }, { tenant_id: 'a' }, ctx), true)
  assert.strictEqual(gov.checkUpdate('docs', { tenant_id: 'b' }, { tenant_id: 'a' }, ctx), false, 'USING hides the row: nothing to update')
  assert.deepStrictEqual(gov.listPolicies('docs').map((p) => p.name), ['iso'])
  assert.strictEqual(gov.dropPolicy('docs', 'iso'), true)
  gov.rlsForce('docs')
})

test('a panic inside the addon becomes a TENANTGUARD_INTERNAL error, and the process lives on', () => {
  const native = require('../index.js')
  assert.strictEqual(typeof native.__panicForTest, 'function')
  assert.throws(() => native.__panicForTest(), (e) => {
    const body = JSON.parse(e.message)
    return body.code === 'INTERNAL' && /panic caught in __panicForTest/.test(body.message)
  })
  // Still usable afterwards.
  const gov = new tg.Governor()
  gov.register('acme', { plan: 'free' })
  assert.strictEqual(gov.check('acme', { nowMs: 1000 }).allowed, true)
})
