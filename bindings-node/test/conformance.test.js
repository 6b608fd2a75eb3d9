'use strict'
// Replays every scenario of tests/conformance/ through the JS API; answers must match.
// TG_MODULE chooses the module under test (default: this package's lib.js), so the same
// runner can drive the WebAssembly package.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const path = require('node:path')

const tg = require(process.env.TG_MODULE ?? path.join(__dirname, '..', 'lib.js'))
const CORPUS = path.join(__dirname, '..', '..', 'tests', 'conformance')
const files = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.json')).sort()

const num = (v) => typeof v === 'number'

function matches(expected, actual, where, errs) {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected) && Object.keys(expected).some((k) => k.startsWith('$'))) {
    for (const [k, v] of Object.entries(expected)) {
      const ok = {
        $gte: () => num(actual) && actual >= v,
        $lte: () => num(actual) && actual <= v,
        $gt: () => num(actual) && actual > v,
        $lt: () => num(actual) && actual < v,
        $contains: () => typeof actual === 'string' && actual.includes(v),
        $len: () => Array.isArray(actual) && actual.length === v,
      }[k]
      if (!ok || !ok()) errs.push(`${where}: expected ${k} ${JSON.stringify(v)}, got ${JSON.stringify(actual)}`)
    }
  } else if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      errs.push(`${where}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
      return
    }
    expected.forEach((e, i) => matches(e, actual[i], `${where}[${i}]`, errs))
  } else if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') {
      errs.push(`${where}: expected an object, got ${JSON.stringify(actual)}`)
      return
    }
    for (const [k, v] of Object.entries(expected)) {
      if (k in actual) matches(v, actual[k], `${where}.${k}`, errs)
      else if (v !== null) errs.push(`${where}.${k}: missing (expected ${JSON.stringify(v)})`)
    }
  } else if (expected !== actual && !(num(expected) && num(actual) && expected === actual)) {
    errs.push(`${where}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

function errorValue(e) {
  if (typeof e.code === 'string' && e.code.startsWith('TENANTGUARD_')) {
    return { code: e.code.slice('TENANTGUARD_'.length), message: e.message, key: e.key, line: e.line, column: e.column, decision: e.decision }
  }
  throw e
}

// Operations with a typed method; the rest go through Governor.call (the host-neutral API).
const OPS = {
  registerTenant: (g, { name, ...o }) => g.register(name, o),
  getTenant: (g, { tenant, ...o }) => (Object.keys(o).length ? g.call('getTenant', { tenant, ...o }) : g.tenant(tenant)),
  check: (g, { tenant, ...o }) => g.check(tenant, o),
  peek: (g, { tenant, ...o }) => g.peek(tenant, o),
  addUsage: (g, { tenant, amount, ...o }) => g.addUsage(tenant, amount, o),
  setUsage: (g, { tenant, amount, ...o }) => g.setUsage(tenant, amount, o),
  subtractUsage: (g, { tenant, amount, ...o }) => g.subtractUsage(tenant, amount, o),
  status: (g, { tenant, ...o }) => g.status(tenant, o),
  usage: (g, { tenant, ...o }) => (Object.keys(o).length ? g.call('usage', { tenant, ...o }) : g.usage(tenant)),
}

for (const file of files) {
  test(file, () => {
    const doc = JSON.parse(fs.readFileSync(path.join(CORPUS, file), 'utf8'))
    const errs = []
    let gov
    try {
      gov = new tg.Governor(doc.config ?? undefined, { defaultRpm: doc.userQuotaDefaultRpm ?? 60 })
    } catch (e) {
      if (!doc.expectConfigError) throw e
      matches(doc.expectConfigError, errorValue(e), `${file}: config error`, errs)
      assert.deepStrictEqual(errs, [])
      return
    }
    assert.ok(!doc.expectConfigError, 'expected a config error, but the config loaded')
    const env = {}
    const sub = (v) => (typeof v === 'string' && v.startsWith('$') && v.slice(1) in env ? env[v.slice(1)]
      : Array.isArray(v) ? v.map(sub) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sub(x)])) : v)
    let at = 0
    doc.steps.forEach((step, i) => {
      if (step.at !== undefined) at = step.at
      const where = `${file} step ${i} (${step.op})`
      const args = sub(step.args ?? {})
      const expect = step.expect === undefined ? undefined : sub(step.expect)
      let expectError = step.expectError === undefined ? undefined : sub(step.expectError)
      if (typeof expectError === 'string') expectError = { code: expectError }
      const tally = {}
      let last
      for (let r = 0; r < (step.repeat ?? 1); r++) {
        let result
        try {
          const fn = OPS[step.op]
          const withNow = 'nowMs' in args ? args : { ...args }
          result = fn && !step.op.startsWith('rls') && !('nowMs' in args) ? fn(gov, { ...withNow, ...(['getTenant', 'usage'].includes(step.op) ? {} : { nowMs: at }) }) : gov.call(step.op, args, at)
        } catch (e) {
          if (expectError === undefined) errs.push(`${where}: unexpected error ${JSON.stringify(errorValue(e))}`)
          else matches(expectError, errorValue(e), where, errs)
          last = undefined
          continue
        }
        if (expectError !== undefined) errs.push(`${where}: expected error ${JSON.stringify(expectError)}, got ${JSON.stringify(result)}`)
        else if (expect !== undefined) matches(expect, result, where, errs)
        if (result && typeof result.action === 'string') tally[result.action] = (tally[result.action] ?? 0) + 1
        last = result
        if (errs.length > 20) break
      }
      for (const [action, n] of Object.entries(step.expectTally ?? {})) {
        if ((tally[action] ?? 0) !== n) errs.push(`${where}: expected ${n} × ${action}, got ${JSON.stringify(tally)}`)
      }
      for (const [name, field] of Object.entries(step.bind ?? {})) {
        env[name] = field.split('.').reduce((v, k) => v?.[k], last)
        if (env[name] === undefined) errs.push(`${where}: cannot bind ${name} to ${field}`)
      }
    })
    assert.deepStrictEqual(errs, [], errs.join('\n'))
  })
}

test('the corpus is complete', () => {
  assert.ok(files.length >= 40, `the corpus must hold at least 40 scenarios, found ${files.length}`)
})
