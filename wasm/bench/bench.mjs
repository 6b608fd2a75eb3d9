// ns per check from Node into the wasm module, beside the native (napi-rs) shell in the same
// run (compare ratios, not absolute figures: these machines are noisy).
//   node bench/bench.mjs [iterations]
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const wasm = require('../js/node.cjs')
const native = require('../../bindings-node/lib.js')

const N = Number(process.argv[2] ?? 1_000_000)
const TENANTS = 10_000
const names = Array.from({ length: TENANTS }, (_, i) => `tenant-${i}`)
const TOML = '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 1000000000\n' // every call admitted

function time(label, fn) {
  fn(Math.min(N, 10_000)) // warm up
  const t0 = process.hrtime.bigint()
  fn(N)
  return { label, ns: Number(process.hrtime.bigint() - t0) / N }
}

const rows = []
for (const [host, mod] of [['wasm', wasm], ['native', native]]) {
  const gov = new mod.Governor({ toml: TOML })
  for (const n of names) gov.register(n, { plan: 'free' })
  const handles = names.map((n) => gov.handle(n))
  rows.push(time(`${host} handle.tryCheck(), hot`, (k) => { const h = handles[0]; for (let i = 0; i < k; i++) h.tryCheck() }))
  rows.push(time(`${host} handle.tryCheck(), 10k tenants`, (k) => { for (let i = 0; i < k; i++) handles[i % TENANTS].tryCheck() }))
  rows.push(time(`${host} handle.tryCheck(1, nowMs), hot`, (k) => { const h = handles[0]; for (let i = 0; i < k; i++) h.tryCheck(1, 1000) }))
  rows.push(time(`${host} handle.tryCheck(1, nowMs), 10k tenants`, (k) => { for (let i = 0; i < k; i++) handles[i % TENANTS].tryCheck(1, 1000) }))
  const M = Math.max(1, Math.floor(N / 10))
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < M; i++) gov.check(names[i % TENANTS])
  rows.push({ label: `${host} gov.check(tenant) → decision object, 10k tenants`, ns: Number(process.hrtime.bigint() - t0) / M })
}
const base = rows[0].ns
console.log(`node ${process.version}, ${N} iterations (gov.check: ${Math.floor(N / 10)}), ratio = ns / wasm hot`)
for (const r of rows) console.log(`${r.label.padEnd(58)} ${r.ns.toFixed(0).padStart(7)} ns/call  ${(r.ns / base).toFixed(2)}x`)
