// Types for the idiomatic layer (lib.js / lib.mjs). The native addon's own types are in the
// generated index.d.ts; this file describes the JavaScript API users import from 'tenantguard'.

import type {
  Decision, CheckOptions, Tenant, RegisterOptions, Usage, Status, ConfigText, Row, Policy, RlsContext,
  ConcurrencyStats, ExpiredLease, Violations, Plan, PlanInput, RlsExplanation,
} from './types'
export * from './types'

/** A connection lease; release it in `finally`, or bind it with `using`. */
export interface Lease extends Disposable, AsyncDisposable {
  readonly decision: Decision
  readonly leaseId: number
  /** Idempotent. */
  release(): void
  /** Idempotent; on the thread pool (`await using lease = ...` calls it). */
  releaseAsync(): Promise<void>
}

/** A configuration: TOML or JSON text, a path to a `.toml`/`.json` file, or the JSON model as an object. */
export type ConfigSource = ConfigText | { path: string }

/**
 * Shared state on Redis: every process pointing at the same Redis (and prefix) enforces one
 * limit per tenant. The synchronous calls block the event loop for one round trip (strict mode)
 * or rarely (federated mode); `callAsync`, `checkAsync`, `checkManyAsync`, `acquire` and
 * `connection` make the round trip on the libuv thread pool instead.
 */
export interface StoreOptions {
  /** `redis://host:port/db`. */
  redisUrl: string
  /** Key prefix, one per deployment (default `tg`). */
  prefix?: string
  /** `strict` (every decision in Redis, default) or `federated` (local allocations, synced). */
  mode?: 'strict' | 'federated'
  /** Federated mode's reconciliation interval (default 100). */
  syncIntervalMs?: number
  /** While Redis cannot answer: `local` (default), `local:<share>`, `open` or `closed`. */
  failurePolicy?: string
  /** Per-resource failure policies, e.g. `{ qps: 'local:0.25', connections: 'closed' }`. */
  resourceFailurePolicies?: Record<string, string>
  /** Bound on each Redis call (default 50). */
  timeoutMs?: number
  /** `server` (Redis TIME, default) or `caller` (each call's `nowMs`). */
  time?: 'server' | 'caller'
  /** TTL of leases whose resource sets none, so a dead process's leases are reclaimed. */
  leaseTtlMs?: number
  /** `redisUrl` is one node of a Redis Cluster. */
  cluster?: boolean
}

/** The per-tenant governor: plans, tenants, quotas, rate limits and row-level security. */
export class Governor {
  /**
   * `store`: a Redis URL or options; without it counters and leases stay in process, unless
   * the configuration is in S2 federated mode (then on its Redis; options without a URL apply to it).
   */
  constructor(config?: ConfigSource | null, options?: { defaultRpm?: number; store?: string | StoreOptions })
  /** `'memory'` or `'redis'`. */
  readonly storeKind: 'memory' | 'redis'
  /** The store's health counters (`calls_total`, `errors_total`, `fallback_decisions_total`, ...). */
  storeMetrics(): Record<string, number>
  /**
   * Replays now the lease releases a shared store kept from calls it could not answer
   * (otherwise replayed by later calls): call it before the process exits. Throws a
   * `StoreError` (`TENANTGUARD_STORE_UNAVAILABLE`) saying how many are left when the store still cannot answer.
   */
  flushStore(): void
  /** `flushStore()` on the libuv thread pool: the event loop runs while the releases replay. */
  flushStoreAsync(): Promise<void>
  /** Runs one operation of the host-neutral API (`op` and camelCase `args`, as in the conformance corpus). */
  call(op: string, args?: Record<string, unknown>, nowMs?: number): any
  /**
   * `call` on the libuv thread pool: resolves with the answer, rejects with the typed error.
   * With a Redis store the round trip then happens off the event loop.
   */
  callAsync(op: string, args?: Record<string, unknown>, nowMs?: number): Promise<any>
  /** Milliseconds since the epoch, from the clock the governor uses. */
  nowMs(): number
  /** `check` on the thread pool (see `callAsync`). */
  checkAsync(tenant: string, options?: CheckOptions): Promise<Decision>
  /** `checkMany` on the thread pool: one task, and one Redis round trip in strict mode. */
  checkManyAsync(checks: Array<{ tenant: string; resource?: string; cost?: number }>, options?: { nowMs?: number }): Promise<Array<Decision | TenantGuardError>>
  /**
   * Several checks at one time, answered in order: a decision, or the error (returned, not
   * thrown) of a check that failed. With a Redis store the rate checks take one round trip.
   */
  checkMany(checks: Array<{ tenant: string; resource?: string; cost?: number }>, options?: { nowMs?: number }): Array<Decision | TenantGuardError>
  /** Checks and consumes `cost` units; returns the decision. For the hottest paths see `handle`. */
  check(tenant: string, options?: CheckOptions): Decision
  /** Resolves `tenant` once: `handle.tryCheck()` then skips the lookup and builds no object (~100 ns). */
  handle(tenant: string, options?: { resource?: string }): TenantHandle
  /** Like `check`, without consuming anything. */
  peek(tenant: string, options?: CheckOptions): Decision
  /**
   * Waits out a throttle delay with a timer; rejects with QuotaExceededError when refused.
   * With a Redis store the check runs on the thread pool.
   */
  acquire(tenant: string, options?: CheckOptions): Promise<Decision>
  register(name: string, options?: RegisterOptions): Tenant
  tenant(tenant: string): Tenant
  listTenants(): Tenant[]
  removeTenant(tenant: string): unknown
  /** Opens a connection lease (or returns a reject/queue decision). */
  acquireLease(tenant: string, options?: { resource?: string; ticket?: number; nowMs?: number }): Decision
  release(tenant: string, leaseId: number, options?: { resource?: string; nowMs?: number }): unknown
  /** A connection lease that waits in the queue with timers: `using lease = await gov.connection('acme')`. */
  connection(tenant: string, options?: { resource?: string }): Promise<Lease>
  addUsage(tenant: string, amount: number, options?: { resource?: string; nowMs?: number }): Decision
  setUsage(tenant: string, amount: number, options?: { resource?: string; nowMs?: number }): Decision
  subtractUsage(tenant: string, amount: number, options?: { resource?: string; nowMs?: number }): Decision
  /** Starts a transaction timer (the `transaction` duration limit). */
  begin(tenant: string, options?: { resource?: string; nowMs?: number }): Decision
  touch(tenant: string, leaseId: number, options?: { resource?: string; nowMs?: number }): Decision
  end(tenant: string, leaseId: number, options?: { resource?: string; nowMs?: number }): unknown
  status(tenant: string, options?: { nowMs?: number }): Status
  usage(tenant: string): Usage
  /** Prometheus text exposition of every tenant's usage. */
  prometheus(options?: { nowMs?: number }): string
  /** Hot reload: swaps plans atomically; usage and leases survive. */
  reload(config: ConfigSource): unknown
  setOverride(tenant: string, override: Record<string, unknown>, options?: { nowMs?: number }): unknown
  /** Removes the overrides of one resource; true if there were any. */
  clearOverride(tenant: string, resource: string): boolean
  /** Monitor-only mode for one tenant, or for every tenant when `tenant` is omitted. */
  setShadow(shadow: boolean, options?: { tenant?: string }): void
  /** Feature gate (`rls`, `cdc`, `migrations`, `custom_quotas`, `all_isolation_modes`): a reject decision with FEATURE_NOT_IN_PLAN when off. */
  checkFeature(tenant: string, feature: string): Decision
  /** Abandons a queue ticket; true if it was waiting. */
  cancel(tenant: string, ticket: number, options?: { resource?: string }): boolean
  concurrencyStats(tenant: string, options?: { resource?: string }): ConcurrencyStats
  /** Duration leases past their deadline (the host rolls those transactions back). */
  expiredLeases(options?: { nowMs?: number }): ExpiredLease[]
  /** Records usage measured by the host (S1 `UsageReport`). */
  recordUsage(tenant: string, report: Record<string, number>, options?: { nowMs?: number }): void
  violations(tenant: string): Violations
  /** S1 `QuotaTracking`. */
  quotaTracking(tenant: string, options?: { nowMs?: number }): Record<string, number>
  /** Drops rate state of idle tenants; returns how many were evicted. */
  evictIdle(options?: { nowMs?: number }): number

  plan(id: string): Plan
  listPlans(): Plan[]
  createPlan(plan: PlanInput): Plan
  /** Replaces a plan; returns the ids of the tenants on it. */
  updatePlan(plan: PlanInput): string[]
  changePlan(tenant: string, plan: string, options?: { nowMs?: number }): Tenant
  /** Moves every tenant of plan `from` to `to`; returns their ids. */
  downgrade(from: string, to: string): string[]
  /** Deletes a plan (any but the protected `unlimited`); its tenants move to `unlimited`. */
  deletePlan(id: string): { deleted: string; fallback: string; tenants: string[] }

  rlsEnable(table: string, on?: boolean): void
  createPolicy(table: string, policy: Policy, options?: { replace?: boolean }): void
  canSelect(table: string, row: Row, context?: RlsContext): boolean
  /** Throws PolicyViolationError when no policy admits the row. */
  checkInsert(table: string, row: Row, context?: RlsContext): void
  /** The rows the context may see, in order. */
  filter<R extends Row>(table: string, rows: readonly R[], context?: RlsContext): R[]
  /** The policies as a PostgreSQL predicate. */
  toSql(table: string, options?: { command?: string; context?: RlsContext }): unknown
  /**
   * Whether UPDATE changes `row` into `newRow`: false when USING hides `row` from UPDATE (the
   * statement updates nothing, as in PostgreSQL); throws PolicyViolationError when `newRow`
   * fails WITH CHECK.
   */
  checkUpdate(table: string, row: Row, newRow: Row, context?: RlsContext): boolean
  /** Whether DELETE may remove `row`. */
  canDelete(table: string, row: Row, context?: RlsContext): boolean
  /** Which policies admitted or refused `row`, and why. */
  explain(table: string, row: Row, options?: { command?: string; context?: RlsContext }): RlsExplanation
  rlsForce(table: string, on?: boolean): void
  /** Declares column types (`text`, `integer`, `numeric`, `boolean`, `timestamptz`, ...) for PostgreSQL's type errors. */
  setColumnTypes(table: string, columns: Record<string, string>): void
  dropPolicy(table: string, name: string): boolean
  listPolicies(table: string): Policy[]
}

/**
 * A pre-resolved tenant and resource: the hot path. Belongs to the thread that made it; usable
 * with `using`, closed explicitly, or freed when collected.
 */
export class TenantHandle implements Disposable {
  readonly tenant: string
  readonly resource: string
  /**
   * Checks and consumes `cost` (default 1) units. Returns the wait before proceeding: `0` (go now),
   * a delay in ms (throttle/queue admission) or `Infinity` (refused); `lastDecision()` has the details.
   */
  tryCheck(cost?: number, nowMs?: number): number
  /** Like `Governor.check`: returns the decision object. */
  check(options?: { cost?: number; nowMs?: number }): Decision
  /** The decision of this handle's last check, or null. */
  lastDecision(): Decision | null
  /** Frees the handle (idempotent); later checks throw InvalidArgumentError. */
  close(): void
  [Symbol.dispose](): void
}

/** S1 per-user requests-per-minute quotas. */
export class UserQuotaManager {
  constructor(defaultRpm?: number)
  setQuota(user: string, rpm: number): void
  /** The decision; throws QuotaExceededError (`TENANTGUARD_RATE_LIMITED`) over the quota. */
  checkQuota(user: string, options?: { nowMs?: number }): Decision
  snapshot(): { user: string; rpm: number; currentCount: number; windowStart: number }[]
}

/** S1's generic keyed limiter: `limit` events per window per key. */
export class RateLimiter {
  /** `window`: milliseconds or a duration such as `"1s"` (default one minute). */
  constructor(window?: number | string)
  check(key: string, limit: number, options?: { nowMs?: number }): boolean
  remaining(key: string, limit: number, options?: { nowMs?: number }): number
}


/** Runs `fn` with `tenant` as the current tenant of this async context (AsyncLocalStorage). */
export function withTenant<T>(tenant: string, fn: () => T): T
/** The tenant set by `withTenant`; throws outside one. */
export function currentTenant(): string

/** Base of every tenantguard error; `code` is stable (`TENANTGUARD_...`). */
export class TenantGuardError extends Error {
  readonly code: string
  /** The configuration key or argument at fault, when known. */
  readonly key: string | null
  readonly line: number | null
  readonly column: number | null
  readonly decision?: Decision
  readonly resource?: string
  readonly limit?: number | null
  readonly remaining?: number | null
  readonly retryAfterMs?: number
}
/** A refused check, lease or usage update; carries the decision fields. */
export class QuotaExceededError extends TenantGuardError {
  readonly decision: Decision
  readonly resource: string
  readonly retryAfterMs: number
}
export class ConfigError extends TenantGuardError {}
export class NotFoundError extends TenantGuardError {}
export class ConflictError extends TenantGuardError {}
export class StoreError extends TenantGuardError {}
export class PolicyViolationError extends TenantGuardError {}
export class PolicySyntaxError extends TenantGuardError {}
/** A bad argument value: a TypeError (and `instanceof TenantGuardError`). */
export class InvalidArgumentError extends TypeError {
  readonly code: string
  readonly key: string | null
}
