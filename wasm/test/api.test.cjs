'use strict'
// The wasm package's JS surface, including error paths, on its Node build (wasm/pkg/node).
// The same module runs in workerd (examples/edge-worker, test/workerd.test.cjs).
const test = require('node:test')
const assert = require('node:assert')
const path = require('node:path')

const tg = require(path.join(__dirname, '..', 'js', 'node.cjs'))
const REJECT = '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 10\nburst_allowance = 1.0\nenforcement_action = "reject"\n'

const code = (c) => (e) => e instanceof Error && e.code === `TENANTGUARD_${c}`

test('decisions come from the same core, with Date.now() as the default clock', () => {
  const gov = new tg.Governor()
  gov.register('acme', { plan: 'free' })
  const d = gov.check('acme', { nowMs: 1000 })
  assert.deepStrictEqual([d.allowed, d.action, d.code, d.limit, d.remaining, d.leaseId], [true, 'allow', null, 100, 149, null])
  const now = gov.nowMs()
  assert.ok(Math.abs(now - Date.now()) < 5000, `nowMs ${now} is Date.now()`)
  assert.strictEqual(gov.tenant('acme').planId, 'free')
  assert.strictEqual(gov.listPlans().length, 5)
  assert.strictEqual(gov.checkFeature('acme', 'cdc').code, 'FEATURE_NOT_IN_PLAN')
  assert.match(gov.prometheus(), /tenantguard_/)
})

test('errors: Error objects with the Node shell\'s codes (TypeError for bad arguments)', () => {
  const gov = new tg.Governor({ toml: REJECT })
  gov.register('acme')
  assert.throws(() => gov.check('ghost'), code('TENANT_NOT_FOUND'))
  assert.throws(() => gov.register('acme'), code('TENANT_EXISTS'))
  assert.throws(() => gov.check(42), (e) => e instanceof TypeError && code('INVALID_ARGUMENT')(e))
  assert.throws(() => gov.check('acme', { cost: -1 }), (e) => e instanceof TypeError && code('INVALID_ARGUMENT')(e))
  assert.throws(() => gov.check('acme', { colour: 'red' }), TypeError)
  assert.throws(() => gov.check('acme', 'fast'), TypeError)
  assert.throws(() => gov.addUsage('acme', -5), TypeError)
  assert.throws(() => new tg.Governor({ toml: '[tenant_quotas]\nwat = 1\n' }), (e) => code('CONFIG_INVALID')(e) && e.key === 'tenant_quotas.wat' && e.line === 2)
  assert.throws(() => new tg.Governor(42), TypeError)
  // Federated mode needs the Redis store, which an edge build has not: an error, not local limits.
  const federated = '[tenant_quotas]\nmode = "federated"\n[tenant_quotas.federation]\nredis_url = "redis://127.0.0.1:6379/"\n'
  assert.throws(() => new tg.Governor({ toml: federated }), (e) => code('CONFIG_INVALID')(e) && e.key === 'tenant_quotas.federation.redis_url' && /no Redis support/.test(e.message))
  assert.throws(() => new tg.Governor(null, { defaultRpm: -1 }), TypeError)
  for (let i = 0; i < 10; i++) gov.check('acme', { nowMs: 0 })
  const d = gov.check('acme', { nowMs: 0 })
  assert.deepStrictEqual([d.allowed, d.action, d.code], [false, 'reject', 'RATE_LIMITED'])
  // The per-user quota throws its refusal, with the decision's fields on the error.
  const users = new tg.Governor(null, { defaultRpm: 1 })
  users.call('userQuotaCheck', { user: 'bob' }, 0)
  assert.throws(() => users.call('userQuotaCheck', { user: 'bob' }, 0), (e) => code('RATE_LIMITED')(e) && e.limit === 1 && e.retryAfterMs > 0 && e.decision.allowed === false)
  assert.throws(() => gov.call('noSuchOp', {}), TypeError)
})

test('tenant handles: the numeric fast path', () => {
  const gov = new tg.Governor({ toml: REJECT })
  gov.register('acme')
  const h = gov.handle('acme')
  assert.deepStrictEqual([h.tenant, h.resource, h.lastDecision()], ['acme', 'qps', null])
  for (let i = 0; i < 10; i++) assert.strictEqual(h.tryCheck(1, 0), 0)
  assert.strictEqual(h.tryCheck(1, 0), Infinity)
  assert.strictEqual(h.lastDecision().code, 'RATE_LIMITED')
  assert.strictEqual(gov.peek('acme', { nowMs: 0 }).remaining, 0, 'one state behind both paths')
  assert.throws(() => h.tryCheck(-1, 0), TypeError)
  assert.throws(() => h.tryCheck(1, 0.5), TypeError)
  assert.throws(() => gov.handle('ghost'), code('TENANT_NOT_FOUND'))
  h.free()
})

test('leases, usage, transactions, overrides and reload', () => {
  const gov = new tg.Governor({ toml: '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_connections = 1\nenforcement_action = "reject"\nstorage_quota_bytes = 1000\n' })
  gov.register('acme')
  const l = gov.acquireLease('acme', { nowMs: 0 })
  assert.ok(l.allowed && l.leaseId > 0)
  assert.strictEqual(gov.acquireLease('acme', { nowMs: 0 }).code, 'CONNECTION_LIMIT')
  gov.release('acme', l.leaseId, { nowMs: 1 })
  assert.ok(gov.acquireLease('acme', { nowMs: 2 }).allowed)
  assert.strictEqual(gov.addUsage('acme', 2000).code, 'STORAGE_QUOTA_EXCEEDED')
  gov.setUsage('acme', 600)
  assert.strictEqual(gov.usage('acme').storageBytes, 600)
  const t = gov.begin('acme', { nowMs: 0 })
  assert.ok(t.leaseId > 0)
  assert.strictEqual(gov.touch('acme', t.leaseId, { nowMs: 100 }).allowed, true)
  gov.end('acme', t.leaseId, { nowMs: 200 })
  gov.setOverride('acme', { resource: 'connections', limit: 5 })
  assert.strictEqual(gov.acquireLease('acme', { nowMs: 3 }).limit, 5)
  gov.reload({ toml: '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_connections = 3\n' })
  assert.strictEqual(gov.tenant('acme').planId, 'free')
  assert.throws(() => gov.reload({ toml: 'nonsense = [' }), code('CONFIG_INVALID'))
  assert.throws(() => gov.release('acme', 999), code('LEASE_NOT_FOUND'))
  assert.strictEqual(gov.listTenants().length, 1)
  assert.strictEqual(gov.removeTenant('acme').name, 'acme')
})

test('row-level security', () => {
  const gov = new tg.Governor()
  gov.rlsEnable('docs')
  gov.createPolicy('docs', { name: 'iso', using: "tenant_id = current_setting('app.tenant')" })
  const rows = [{ id: 1, tenant_id: 'a' }, { id: 2, tenant_id: 'b' }, { id: 3, tenant_id: 'a' }]
  const ctx = { settings: { 'app.tenant': 'a' } }
  assert.deepStrictEqual(gov.filter('docs', rows, ctx).map((r) => r.id), [1, 3])
  assert.strictEqual(gov.filter('docs', rows, ctx)[0], rows[0], 'the caller\'s own row objects come back')
  assert.strictEqual(gov.canSelect('docs', rows[1], ctx), false)
  assert.throws(() => gov.checkInsert('docs', { tenant_id: 'b' }, ctx), code('POLICY_VIOLATION'))
  assert.strictEqual(gov.explain('docs', rows[1], ctx).policies[0].result, false)
  assert.throws(() => gov.createPolicy('docs', { name: 'bad', using: 'tenant_id = = 1' }), code('POLICY_SYNTAX_ERROR'))
})

test('a value that contains itself is a TypeError, and the module keeps working', () => {
  const gov = new tg.Governor()
  gov.rlsEnable('docs')
  gov.createPolicy('docs', { name: 'iso', using: "tenant_id = current_setting('app.tenant')" })
  const ctx = { settings: { 'app.tenant': 'a' } }
  const row = { id: 1, tenant_id: 'a' }
  row.self = row
  assert.throws(() => gov.canSelect('docs', row, ctx), (e) => code('INVALID_ARGUMENT')(e) && /contains itself/.test(e.message))
  let deep = []
  for (let i = 0; i < 500; i++) deep = [deep]
  assert.throws(() => gov.canSelect('docs', { id: 2, tenant_id: 'a', tags: deep }, ctx), code('INVALID_ARGUMENT'))
  const m = new Map()
  m.set('self', m)
  assert.throws(() => gov.canSelect('docs', { id: 4, tenant_id: 'a', m }, ctx), code('INVALID_ARGUMENT'))
  const opts = { nowMs: 1 }
  opts.loop = opts
  assert.throws(() => gov.register('acme', opts), code('INVALID_ARGUMENT'))
  // No trap: the same instance still answers.
  assert.strictEqual(gov.canSelect('docs', { id: 3, tenant_id: 'a' }, ctx), true)
  gov.register('acme', { plan: 'free' })
  assert.strictEqual(gov.check('acme', { nowMs: 1000 }).allowed, true)
})

test('unpaired surrogates in names are refused, not replaced', () => {
  const gov = new tg.Governor()
  assert.throws(() => gov.register('t\uD800'), code('INVALID_ARGUMENT'))
  assert.throws(() => gov.check('t\uDC00'), code('INVALID_ARGUMENT'))
  assert.throws(() => gov.call('registerTenant', { name: 't\uD800' }), code('INVALID_ARGUMENT'))
  assert.throws(() => gov.register('ok', { name: 't\uD800' }), code('INVALID_ARGUMENT'))
  gov.register('t\uD83D\uDE00', { plan: 'free' })
  assert.strictEqual(gov.check('t\uD83D\uDE00', { nowMs: 0 }).allowed, true)
})
