'use strict'
// The Express example over a real HTTP socket on 127.0.0.1.
const test = require('node:test')
const assert = require('node:assert')
const { createApp } = require('../examples/express.js')

test('express middleware answers 429 with Retry-After, per tenant, and scopes RLS to the tenant', async (t) => {
  const server = createApp().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.after(() => server.close())
  const url = `http://127.0.0.1:${server.address().port}/documents`
  const get = (tenant) => fetch(url, { headers: tenant ? { 'x-tenant': tenant } : {} })

  const ok = await get('acme')
  assert.strictEqual(ok.status, 200)
  assert.deepStrictEqual(await ok.json(), [{ id: 1, tenant_id: 'acme' }])
  assert.strictEqual(ok.headers.get('ratelimit-limit'), '5')

  const statuses = []
  let limited
  for (let i = 0; i < 10; i++) {
    const r = await get('acme')
    statuses.push(r.status)
    if (r.status === 429) limited ??= r
    await r.arrayBuffer()
  }
  assert.ok(statuses.slice(0, 4).every((s) => s === 200), `first requests pass: ${statuses}`)
  assert.ok(limited, `acme is limited after its burst: ${statuses}`)
  const retry = Number(limited.headers.get('retry-after'))
  assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After is whole seconds: ${retry}`)

  // The noisy tenant does not affect its neighbour.
  const other = await get('globex')
  assert.strictEqual(other.status, 200)
  assert.deepStrictEqual(await other.json(), [{ id: 2, tenant_id: 'globex' }])

  assert.strictEqual((await get('ghost')).status, 403)
  assert.strictEqual((await get(null)).status, 400)
})
