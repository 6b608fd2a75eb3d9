'use strict'
// Native (napi-rs) and wasm answers must match: every step of every corpus scenario runs through
// both modules' host-neutral `call` and the two results (or errors) are compared exactly, not
// just against the corpus's expectations. Needs the Node addon built (scripts/node-env.sh).
const test = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const path = require('node:path')

const wasm = require(path.join(__dirname, '..', 'js', 'node.cjs'))
const native = require(path.join(__dirname, '..', '..', 'bindings-node', 'lib.js'))
const CORPUS = path.join(__dirname, '..', '..', 'tests', 'conformance')
const files = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.json')).sort()

// Key order may differ between the two converters; values may not.
const canon = (v) => (Array.isArray(v) ? v.map(canon)
  : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v)
const outcome = (fn) => {
  try {
    return { ok: canon(fn()) }
  } catch (e) {
    if (typeof e.code !== 'string' || !e.code.startsWith('TENANTGUARD_')) throw e
    return { err: { code: e.code, message: e.message, key: e.key ?? null, line: e.line ?? null, column: e.column ?? null, decision: canon(e.decision ?? null) } }
  }
}

for (const file of files) {
  test(file, () => {
    const doc = JSON.parse(fs.readFileSync(path.join(CORPUS, file), 'utf8'))
    const opts = { defaultRpm: doc.userQuotaDefaultRpm ?? 60 }
    const made = [outcome(() => new native.Governor(doc.config ?? undefined, opts) && {}), outcome(() => new wasm.Governor(doc.config ?? undefined, opts) && {})]
    assert.deepStrictEqual(made[1], made[0], 'construction')
    if (made[0].err) return
    const n = new native.Governor(doc.config ?? undefined, opts)
    const w = new wasm.Governor(doc.config ?? undefined, opts)
    const env = {}
    const sub = (v) => (typeof v === 'string' && v.startsWith('$') && v.slice(1) in env ? env[v.slice(1)]
      : Array.isArray(v) ? v.map(sub) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sub(x)])) : v)
    let at = 0
    doc.steps.forEach((step, i) => {
      if (step.at !== undefined) at = step.at
      const args = sub(step.args ?? {})
      let last
      for (let r = 0; r < (step.repeat ?? 1); r++) {
        const a = outcome(() => n.call(step.op, args, at))
        const b = outcome(() => w.call(step.op, args, at))
        assert.deepStrictEqual(b, a, `${file} step ${i} (${step.op}) repeat ${r}`)
        last = a.ok
      }
      for (const [name, field] of Object.entries(step.bind ?? {})) env[name] = field.split('.').reduce((v, k) => v?.[k], last)
    })
  })
}
