// Data types shared by every JavaScript host of tenantguard: this package (lib.d.ts re-exports
// them) and the WebAssembly package, whose generated .d.ts includes this file verbatim
// (wasm/src/lib.rs, `typescript_custom_section`). One definition, so the two cannot drift.

/** A configuration given inline: TOML or JSON text, or the JSON model as an object. */
export type ConfigText = { toml: string } | { json: string | object } | Record<string, unknown>

/** What the core decided for one check. */
export type Action = 'allow' | 'warn' | 'throttle' | 'queue' | 'reject'

/** The answer to every check, lease and transaction call. */
export interface Decision {
  readonly allowed: boolean
  readonly action: Action
  /** Why the request was limited (`RATE_LIMITED`, `QUOTA_EXCEEDED`, ...), or null when allowed. */
  readonly code: string | null
  /** The resource that decided (`qps`, `connections`, `storage`, `transaction`, or a custom one). */
  readonly resource: string
  readonly limit: number | null
  readonly remaining: number | null
  /** How long to wait before retrying, in ms (0 when allowed). */
  readonly retryAfterMs: number
  /** When the window or bucket is full again, in ms from now. */
  readonly resetMs: number
  /** How long a throttled request should be delayed before it runs, in ms. */
  readonly delayMs: number
  /** True when the tenant is in shadow mode: the decision was recorded, not enforced. */
  readonly shadow: boolean
  /** Set when a connection lease or transaction was opened. */
  readonly leaseId: number | null
  /** A queue ticket to present on the next acquire (queue enforcement). */
  readonly ticket: number | null
}

/** Options for `check`, `peek` and `acquire`. */
export interface CheckOptions {
  /** Defaults to `qps`. */
  resource?: string
  /** Units consumed; defaults to 1. */
  cost?: number
  /** Logical time in ms; defaults to the system clock. */
  nowMs?: number
}

/** Isolation modes of the S1 API. */
export type IsolationMode = 'SharedSchema' | 'SeparateSchema' | 'SeparateDatabase'

/** A tenant as the governor knows it. */
export interface Tenant {
  readonly id: string
  readonly name: string
  readonly planId: string
  readonly isolationMode: IsolationMode
  readonly createdAtMs: number
  readonly shadow: boolean
  readonly limits: { readonly maxConnections: number; readonly maxQps: number; readonly maxStorageBytes: number }
  readonly features: Readonly<Record<string, boolean>>
  readonly overrides: readonly unknown[]
}

/** Options for `register`. */
export interface RegisterOptions {
  plan?: string
  isolation?: IsolationMode
  nowMs?: number
}

/** Usage counters of one tenant (the S1 `TenantUsage`). */
export interface Usage {
  readonly activeConnections: number
  readonly queriesInPeriod: number
  readonly storageBytes: number
  readonly lastUpdated: number
  readonly [counter: string]: number
}

/** The S2 status document of one tenant (snake_case, as the proxy's admin API prints it). */
export interface Status {
  readonly tenant_id: string
  readonly tier: string
  readonly shadow: boolean
  readonly quotas: Readonly<Record<string, unknown>>
  readonly resources: ReadonlyArray<{
    readonly name: string
    readonly kind: 'rate' | 'concurrency' | 'capacity' | 'duration'
    readonly current: number
    /** null when the resource has no limit. */
    readonly limit: number | null
    readonly overridden: boolean
  }>
  readonly usage_stats: Readonly<Record<string, number>>
}


/** A scalar or array cell of an RLS row or context value. */
export type RlsValue = string | number | boolean | null | RlsValue[]
/** A row checked by RLS policies: column name to value. */
export type Row = Readonly<Record<string, RlsValue>>

/** An RLS policy, in PostgreSQL's `CREATE POLICY` terms. */
export interface Policy {
  name: string
  /** `all` (default), `select`, `insert`, `update` or `delete`. */
  command?: 'all' | 'select' | 'insert' | 'update' | 'delete'
  /** `AS RESTRICTIVE` (default permissive): restrictive policies are AND-ed. */
  restrictive?: boolean
  roles?: string[]
  using?: string
  withCheck?: string
}

/** The session an RLS check runs in: user, roles, tenant and `current_setting` values. */
export interface RlsContext {
  /** `current_tenant()`; filled from `withTenant` when omitted. */
  tenant?: string
  /** `current_user` (also matched against the policies' roles). */
  user?: string
  /** Roles the user is a member of. */
  roles?: string[]
  /** `current_setting(name)` values. */
  settings?: Readonly<Record<string, string>>
  /** BYPASSRLS. */
  bypass?: boolean
  /** The user owns the table. */
  owner?: boolean
  /** The time `now()` returns, in ms since the epoch. */
  nowMs?: number
}

/** `concurrencyStats`: S1 `QuotaTracking` for one concurrency resource. */
export interface ConcurrencyStats {
  active: number
  waiting: number
  highWaterMark: number
  average: number
  sampleCount: number
  totalSamples: number
  reclaimed: number
}

/** A duration lease past its deadline. */
export interface ExpiredLease {
  tenant: string
  resource: string
  leaseId: number
  /** `TRANSACTION_TIMEOUT` (or the code of the duration resource). */
  code: string
  /** `max_duration` or `idle`. */
  reason: string
  startedMs: number
  lastActivityMs: number
}

export interface Violations {
  throttled: number
  queued: number
  rejected: number
  warned: number
  shadow: number
}

/** A plan as stored: limits per resource and feature flags. */
export interface Plan {
  id: string
  description: string
  isDefault: boolean
  features: Record<string, boolean>
  resources: Record<string, unknown>[]
}
/** What `createPlan`/`updatePlan` take: a plan in the JSON config model. */
export type PlanInput = Record<string, unknown> & { id: string }

/** `explain`: each policy's verdict. */
export interface RlsExplanation {
  allowed: boolean
  applied: boolean
  policies: { name: string; kind: 'permissive' | 'restrictive'; clause: string; result: boolean | null }[]
}
