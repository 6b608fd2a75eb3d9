// Node benchmark: tenantguard's check against two pure-JS limiters, in the same process and run
// (compare the ratios, not the absolute figures: these machines are noisy).
//   node bench/bench.mjs [iterations]
import { Governor } from 'tenantguard'
import native_ from '../index.js'
const { checkHandle } = native_
import { RateLimiter } from 'limiter'
import { RateLimiterMemory } from 'rate-limiter-flexible'

const N = Number(process.argv[2] ?? 1_000_000)
const TENANTS = 10_000
const names = Array.from({ length: TENANTS }, (_, i) => `tenant-${i}`)
const BIG = 1e9 // limits high enough that every call is allowed: we time the check, not the refusal

function time(label, iters, fn) {
  fn(Math.min(iters, 10_000)) // warm up
  const t0 = process.hrtime.bigint()
  fn(iters)
  const ns = Number(process.hrtime.bigint() - t0) / iters
  return { label, ns }
}
async function timeAsync(label, iters, fn) {
  await fn(Math.min(iters, 10_000))
  const t0 = process.hrtime.bigint()
  await fn(iters)
  return { label, ns: Number(process.hrtime.bigint() - t0) / iters }
}

const gov = new Governor({ toml: `[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = ${BIG}\n` })
for (const n of names) gov.register(n, { plan: 'free' })
const native = gov.native
const limiters = new Map(names.map((n) => [n, new RateLimiter({ tokensPerInterval: BIG, interval: 'second' })]))
const flexible = new RateLimiterMemory({ points: BIG, duration: 1 })

const rows = []
rows.push(time('tenantguard gov.check(tenant), hot', N, (k) => { for (let i = 0; i < k; i++) gov.check('tenant-0') }))
rows.push(time('tenantguard gov.check(tenant), 10k tenants', N, (k) => { for (let i = 0; i < k; i++) gov.check(names[i % TENANTS]) }))
const handles = names.map((n) => gov.handle(n))
rows.push(time('tenantguard handle.tryCheck(), hot', N, (k) => { const h = handles[0]; for (let i = 0; i < k; i++) h.tryCheck() }))
rows.push(time('tenantguard handle.tryCheck(), 10k tenants', N, (k) => { for (let i = 0; i < k; i++) handles[i % TENANTS].tryCheck() }))
rows.push(time('tenantguard checkHandle(id, 1) (addon, no JS layer), hot', N, (k) => { for (let i = 0; i < k; i++) checkHandle(0, 1) }))
rows.push(time('tenantguard native.check(tenant) (addon, no JS layer), hot', N, (k) => { for (let i = 0; i < k; i++) native.check('tenant-0') }))
rows.push(time('napi-rs method call floor: native.nowMs()', N, (k) => { for (let i = 0; i < k; i++) native.nowMs() }))
rows.push(time('limiter tryRemoveTokens, hot (sync)', N, (k) => { const l = limiters.get('tenant-0'); for (let i = 0; i < k; i++) l.tryRemoveTokens(1) }))
rows.push(time('limiter tryRemoveTokens, 10k tenants (sync, Map lookup)', N, (k) => { for (let i = 0; i < k; i++) limiters.get(names[i % TENANTS]).tryRemoveTokens(1) }))
const M = Math.max(1, Math.floor(N / 4))
rows.push(await timeAsync('rate-limiter-flexible consume, hot (awaited)', M, async (k) => { for (let i = 0; i < k; i++) await flexible.consume('tenant-0') }))
rows.push(await timeAsync('rate-limiter-flexible consume, 10k tenants (awaited)', M, async (k) => { for (let i = 0; i < k; i++) await flexible.consume(names[i % TENANTS]) }))

const base = rows.find((r) => r.label.startsWith('limiter tryRemoveTokens, hot')).ns
console.log(`node ${process.version}, ${N} iterations (${M} for awaited), ratio = ns / limiter hot (same run)`)
for (const r of rows) console.log(`${r.label.padEnd(62)} ${r.ns.toFixed(0).padStart(7)} ns/call  ${(r.ns / base).toFixed(2)}x`)
