'use strict'
// The real edge test: examples/edge-worker runs in workerd (npm package `workerd`, pinned) on
// 127.0.0.1 with a private port; a burst from one tenant is throttled, another tenant is not.
const test = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')

const ROOT = path.join(__dirname, '..', '..')
const WORKERD = path.join(ROOT, 'wasm', 'node_modules', '.bin', 'workerd')
const CONFIG = path.join(ROOT, 'examples', 'edge-worker', 'config.capnp')

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

async function waitUntilServing(url, proc, log) {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`workerd exited (${proc.exitCode}):\n${log()}`)
    try {
      await fetch(url) // 400 without a tenant header: the worker is up
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`workerd did not start within 30 s:\n${log()}`)
}

const get = (url, tenant) => fetch(url, { headers: { 'x-tenant-id': tenant } })

test('workerd: a noisy tenant gets 429 with Retry-After, a quiet one is served', async () => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/`
  let out = ''
  const proc = spawn(WORKERD, ['serve', CONFIG, '--socket-addr', `http=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  proc.stdout.on('data', (d) => { out += d })
  proc.stderr.on('data', (d) => { out += d })
  try {
    await waitUntilServing(url, proc, () => out)
    assert.strictEqual((await fetch(url)).status, 400, 'no tenant header → 400')
    assert.strictEqual((await get(url, 'stranger')).status, 403, 'an unknown tenant is refused, not registered')
    // A burst of 20 from one tenant against 5 per second: the first 5 pass, the rest are refused.
    const noisy = []
    for (let i = 0; i < 20; i++) noisy.push(await get(url, 'noisy'))
    const codes = noisy.map((r) => r.status)
    const ok = codes.filter((c) => c === 200).length
    const limited = noisy.filter((r) => r.status === 429)
    assert.ok(ok >= 5 && ok <= 7, `noisy admitted ${ok} of 20: ${codes}`)
    assert.strictEqual(ok + limited.length, 20, `only 200 and 429: ${codes}`)
    assert.strictEqual(codes.slice(0, 5).join(), '200,200,200,200,200', 'the first five are served')
    for (const r of limited) assert.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After in whole seconds')
    assert.strictEqual((await limited[0].json()).error, 'RATE_LIMITED')
    // The quiet tenant has its own budget.
    for (let i = 0; i < 5; i++) {
      const r = await get(url, 'quiet')
      assert.strictEqual(r.status, 200)
      assert.strictEqual(await r.text(), 'ok quiet\n')
    }
  } finally {
    proc.kill('SIGTERM')
    await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)))
  }
})
