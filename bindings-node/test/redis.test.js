'use strict'
// The shared Redis store from Node: options, errors, failure policies, and a Node process and
// a Rust process enforcing one tenant limit through one real redis-server. Needs TG_REDIS_URL
// and TG_REDIS_LOAD (scripts/test.sh sets both); skipped without them, except under CI=true.
const test = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const tg = require('../lib.js')

const URL = process.env.TG_REDIS_URL
const LOAD = process.env.TG_REDIS_LOAD
if ((!URL || !LOAD) && process.env.CI === 'true') throw new Error('TG_REDIS_URL and TG_REDIS_LOAD must be set in CI')
const skip = !URL || !LOAD ? 'needs TG_REDIS_URL and TG_REDIS_LOAD (run scripts/test.sh)' : false

const CONFIG = '[tenant_quotas]\ndefault_tier = "t"\n[[tenant_quotas.tiers]]\nname = "t"\nmax_qps = 200\nburst_allowance = 1.0\nmax_connections = 2\nenforcement_action = "reject"\n'
const prefix = () => 'nodetest-' + crypto.randomBytes(6).toString('hex')

function deadUrl () {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(`redis://127.0.0.1:${port}/`))
    })
  })
}

test('two governors on one prefix share one limit', { skip }, () => {
  const store = { redisUrl: URL, prefix: prefix(), time: 'caller' }
  const a = new tg.Governor({ toml: CONFIG }, { store })
  const b = new tg.Governor({ toml: CONFIG }, { store })
  assert.strictEqual(a.storeKind, 'redis')
  a.register('acme')
  b.register('acme')
  let admitted = 0
  for (let i = 0; i < 300; i++) if ((i % 2 ? a : b).check('acme', { nowMs: 1000 }).allowed) admitted++
  assert.strictEqual(admitted, 200)
  const lease = a.acquireLease('acme', { nowMs: 1000 })
  assert.ok(lease.allowed && lease.leaseId > 0)
  assert.strictEqual(b.concurrencyStats('acme').active, 1)
  b.release('acme', lease.leaseId, { nowMs: 1000 })
  assert.strictEqual(a.concurrencyStats('acme').active, 0)
  assert.ok(a.storeMetrics().calls_total >= 150)
  assert.match(a.prometheus(), /tenantguard_store_calls_total \d+/)
  // A URL alone is accepted too.
  assert.strictEqual(new tg.Governor(null, { store: URL }).storeKind, 'redis')
})

test('checkMany takes one round trip', { skip }, () => {
  const g = new tg.Governor({ toml: CONFIG }, { store: { redisUrl: URL, prefix: prefix(), time: 'caller' } })
  g.register('acme')
  const before = g.storeMetrics().calls_total
  const out = g.checkMany([...Array(250)].map(() => ({ tenant: 'acme' })).concat([{ tenant: 'ghost' }]), { nowMs: 1000 })
  assert.strictEqual(g.storeMetrics().calls_total - before, 1)
  assert.strictEqual(out.filter((d) => d.allowed === true).length, 200)
  assert.ok(out[250] instanceof tg.NotFoundError && out[250].code === 'TENANTGUARD_TENANT_NOT_FOUND')
})

test('async calls leave the event loop free while Redis is slow to answer', async () => {
  // A server that accepts and never answers: every store call waits out its 300 ms timeout.
  const silent = net.createServer((sock) => sock.on('data', () => {})).listen(0, '127.0.0.1')
  await new Promise((resolve) => silent.once('listening', resolve))
  try {
    const url = `redis://127.0.0.1:${silent.address().port}/`
    const g = new tg.Governor({ toml: CONFIG }, { store: { redisUrl: url, timeoutMs: 300, failurePolicy: 'open' } })
    g.register('acme')
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    const t = Date.now()
    const d = await g.checkAsync('acme', { nowMs: 1000 })
    clearInterval(timer)
    assert.ok(d.allowed, 'the open policy admits while the store cannot answer')
    assert.ok(Date.now() - t >= 250, `waited for the store (${Date.now() - t} ms)`)
    assert.ok(ticks >= 10, `the event loop ran meanwhile (${ticks} ticks of 10 ms)`)
    assert.strictEqual(g.storeMetrics().fallback_decisions_total, 1)
  } finally {
    silent.close()
  }
})

test('the async helpers use the thread pool with Redis', { skip }, async () => {
  const store = { redisUrl: URL, prefix: prefix(), time: 'caller' }
  const a = new tg.Governor({ toml: CONFIG }, { store })
  a.register('acme')
  const results = await Promise.all([...Array(300)].map(() => a.checkAsync('acme', { nowMs: 1000 })))
  assert.strictEqual(results.filter((d) => d.allowed).length, 200)
  const many = await a.checkManyAsync([{ tenant: 'acme' }, { tenant: 'ghost' }], { nowMs: 1000 })
  assert.strictEqual(many[0].allowed, false)
  assert.ok(many[1] instanceof tg.NotFoundError)
  // What `await using` does (Node 20 has Symbol.asyncDispose but not the syntax).
  const one = await a.connection('acme')
  const two = await a.connection('acme')
  assert.ok(one.leaseId > 0 && two.leaseId > 0)
  assert.strictEqual(a.concurrencyStats('acme').active, 2)
  await assert.rejects(a.connection('acme'), (e) => e instanceof tg.QuotaExceededError && e.code === 'TENANTGUARD_CONNECTION_LIMIT')
  await one[Symbol.asyncDispose]()
  await two.releaseAsync()
  await two.releaseAsync()
  assert.strictEqual(a.concurrencyStats('acme').active, 0, 'both leases released, once each')
})

test('the memory store by default', async () => {
  const g = new tg.Governor()
  assert.strictEqual(g.storeKind, 'memory')
  assert.deepStrictEqual(g.storeMetrics(), {})
  assert.strictEqual(g.flushStore(), undefined)
  assert.strictEqual(await g.flushStoreAsync(), undefined)
})

test('bad store options are InvalidArgumentError', () => {
  const url = 'redis://127.0.0.1:1/'
  for (const [store, fragment] of [
    [{ redisUrl: url, mode: 'eventual' }, 'unknown mode'],
    [{ redisUrl: url, failurePolicy: 'local:3' }, '(0, 1]'],
    [{ redisUrl: url, bogus: 1 }, 'bogus'],
    [{ mode: 'federated' }, 'without `redis_url`'],
    ['http://example.com', 'redis_url'],
    [{ redisUrl: url, timeoutMs: -5 }, 'timeoutMs'],
  ]) {
    assert.throws(() => new tg.Governor(null, { store }), (e) => e instanceof tg.InvalidArgumentError && e.code === 'TENANTGUARD_INVALID_ARGUMENT' && e.message.includes(fragment), JSON.stringify(store))
  }
})

test('failure policies when Redis is unreachable', async () => {
  for (const [policy, expected] of [['open', 50], ['closed', 0], ['local:0.5', 50]]) {
    const g = new tg.Governor({ toml: CONFIG }, { store: { redisUrl: await deadUrl(), failurePolicy: policy, timeoutMs: 50 } })
    g.register('acme')
    const t = Date.now()
    let admitted = 0
    for (let i = 0; i < 50; i++) if (g.check('acme', { nowMs: 1000 }).allowed) admitted++
    assert.strictEqual(admitted, expected, policy)
    assert.ok(Date.now() - t < 2000, 'bounded by the timeout and the backoff')
    assert.strictEqual(g.storeMetrics().fallback_decisions_total, 50)
    assert.throws(() => g.addUsage('acme', 10), (e) => e instanceof tg.StoreError && e.code === 'TENANTGUARD_STORE_UNAVAILABLE')
  }
})

test('a Node process and a Rust process enforce one limit', { skip }, async () => {
  const store = { redisUrl: URL, prefix: prefix() }
  const startAt = Date.now() + 1000
  const seconds = 2
  const rust = spawn(LOAD, ['worker', '--store', JSON.stringify(store), '--config', CONFIG, '--rate', '400',
    '--seconds', String(seconds), '--start-at-ms', String(startAt)])
  let out = ''
  rust.stdout.on('data', (d) => { out += d })
  const done = new Promise((resolve, reject) => rust.on('exit', (code) => code === 0 ? resolve() : reject(new Error('worker exit ' + code))))
  const g = new tg.Governor({ toml: CONFIG }, { store })
  g.register('acme')
  await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()))
  const start = Date.now()
  let admitted = 0
  // 400 checks per second, paced on timers (the event loop stays responsive).
  for (let i = 0; i < 400 * seconds; i++) {
    const due = start + (i * 1000) / 400
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()))
    if (g.check('acme').allowed) admitted++
  }
  const end = Date.now()
  await done
  const r = JSON.parse(out.trim().split('\n').pop())
  const total = admitted + r.admitted
  const span = (Math.max(end, r.endMs) - Math.min(start, r.startMs)) / 1000
  assert.ok(admitted > 0 && r.admitted > 0, `both got a share: node ${admitted}, rust ${r.admitted}`)
  // Burst + rate x the measured run, + 1 for the timestamps' ms resolution (the two ends are
  // read in different processes) and the unit that refills at the last instant.
  assert.ok(total <= 200 + 200 * span + 1, `admitted ${total} over ${span}s`)
  assert.ok(total >= 200 * seconds * 0.9, `admitted ${total}: the limit is used`)
})
