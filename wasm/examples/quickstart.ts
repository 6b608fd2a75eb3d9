// A typed tour of @tenantguard/wasm as a worker or browser uses it. CI type-checks it with
// `tsc --noEmit` against the generated .d.ts (npm run typecheck), so API drift breaks the build.
import init, { Governor, type Decision, type Tenant, type TenantHandle, type Row } from '@tenantguard/wasm'

export async function main(wasm: WebAssembly.Module): Promise<string[]> {
  await init({ module_or_path: wasm })
  const gov = new Governor({ toml: '[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = "free"\nmax_qps = 5\n' })
  const acme: Tenant = gov.register('acme', { plan: 'free' })
  const d: Decision = gov.check('acme', { cost: 1 })
  const out = [`${acme.name}: ${d.action}, ${d.remaining ?? 'unlimited'} left`]

  // The fast path: resolve once, then one number per request.
  const h: TenantHandle = gov.handle('acme')
  const wait: number = h.tryCheck()
  if (wait === Infinity) out.push(`refused: retry in ${h.lastDecision()?.retryAfterMs} ms`)
  h.free()

  try {
    gov.check('ghost')
  } catch (e) {
    out.push((e as Error & { code: string }).code) // TENANTGUARD_TENANT_NOT_FOUND
  }

  gov.rlsEnable('docs')
  gov.createPolicy('docs', { name: 'iso', using: "tenant_id = current_setting('app.tenant')" })
  const rows: Row[] = [{ id: 1, tenant_id: 'acme' }, { id: 2, tenant_id: 'globex' }]
  out.push(`visible: ${gov.filter('docs', rows, { settings: { 'app.tenant': 'acme' } }).length}`)
  return out
}
