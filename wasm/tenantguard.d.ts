/* tslint:disable */
/* eslint-disable */
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



/**
 * The per-tenant governor (with the S1 per-user and keyed limiters).
 */
export class Governor {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Opens a concurrency lease (options `{resource = "connections", ticket, nowMs}`).
     */
    acquireLease(tenant: string, options?: { resource?: string; ticket?: number; nowMs?: number }): Decision;
    /**
     * Adds `amount` to a capacity gauge (options `{resource = "storage", nowMs}`).
     */
    addUsage(tenant: string, amount: number, options?: { resource?: string; nowMs?: number }): Decision;
    /**
     * Starts a duration lease (options `{resource = "transaction", nowMs}`).
     */
    begin(tenant: string, options?: { resource?: string; nowMs?: number }): Decision;
    /**
     * Runs one operation of the host-neutral API (`op` and camelCase `args`, as in the
     * conformance corpus), at `nowMs` if given.
     */
    call(op: string, args: any, nowMs?: number | null): any;
    /**
     * Whether `row` is visible to SELECT in `context`.
     */
    canSelect(table: string, row: Row, context?: RlsContext): boolean;
    /**
     * A feature gate: a reject decision with `FEATURE_NOT_IN_PLAN` when the plan lacks it.
     */
    checkFeature(tenant: string, feature: string): Decision;
    /**
     * Throws (`TENANTGUARD_POLICY_VIOLATION`) when no policy admits inserting `row`.
     */
    checkInsert(table: string, row: Row, context?: RlsContext): void;
    /**
     * Checks and consumes `cost` units (options `{resource, cost, nowMs}`); returns the decision.
     */
    check(tenant: string, options?: CheckOptions): Decision;
    /**
     * `CREATE POLICY` on `table` (`{name, using, withCheck, command, roles, restrictive}`).
     */
    createPolicy(table: string, policy: Policy, options?: { replace?: boolean }): void;
    /**
     * Ends a duration lease.
     */
    end(tenant: string, lease_id: number, options?: { resource?: string; nowMs?: number }): Decision;
    /**
     * Which policies admitted or refused `row`, and why.
     */
    explain(table: string, row: Row, context?: RlsContext): RlsExplanation;
    /**
     * The rows `context` may see, in order.
     */
    filter(table: string, rows: Row[], context?: RlsContext): Array<any>;
    /**
     * Resolves `tenant` once (options `{resource}`): `handle.tryCheck()` skips the lookup and
     * builds no object.
     */
    handle(tenant: string, options?: { resource?: string }): TenantHandle;
    /**
     * Every plan.
     */
    listPlans(): Plan[];
    /**
     * Every tenant.
     */
    listTenants(): Tenant[];
    /**
     * `config`: `{toml}` or `{json}` (text or object), a plain object (the JSON model), or
     * nothing for the built-in plans. `options.defaultRpm`: per-user quota default (60).
     */
    constructor(config?: ConfigText, options?: { defaultRpm?: number });
    /**
     * Milliseconds since the epoch, from the governor's clock.
     */
    nowMs(): number;
    /**
     * Like `check`, without consuming anything.
     */
    peek(tenant: string, options?: CheckOptions): Decision;
    /**
     * One plan.
     */
    plan(id: string): Plan;
    /**
     * Prometheus text exposition of every tenant's usage.
     */
    prometheus(options?: { nowMs?: number }): string;
    /**
     * Registers a tenant (options `{plan, isolation, nowMs}`).
     */
    register(name: string, options?: RegisterOptions): Tenant;
    /**
     * Releases a lease.
     */
    release(tenant: string, lease_id: number, options?: { resource?: string; nowMs?: number }): Decision;
    /**
     * Hot reload from `{toml}` / `{json}`: plans swap atomically; usage and leases survive.
     */
    reload(config: ConfigText): Record<string, unknown>;
    /**
     * Removes a tenant.
     */
    removeTenant(tenant: string): Tenant;
    /**
     * Enables (or disables) row-level security on `table`.
     */
    rlsEnable(table: string, on?: boolean | null): void;
    /**
     * Sets a per-tenant override (`{resource, limit, expiresAtMs, ...}`).
     */
    setOverride(tenant: string, ovr: Record<string, unknown>, options?: { nowMs?: number }): Tenant;
    /**
     * Sets a capacity gauge.
     */
    setUsage(tenant: string, amount: number, options?: { resource?: string; nowMs?: number }): Decision;
    /**
     * The S2 status document of a tenant.
     */
    status(tenant: string, options?: { nowMs?: number }): Status;
    /**
     * Subtracts from a capacity gauge.
     */
    subtractUsage(tenant: string, amount: number, options?: { resource?: string; nowMs?: number }): Decision;
    /**
     * One tenant.
     */
    tenant(tenant: string): Tenant;
    /**
     * Records activity on a duration lease.
     */
    touch(tenant: string, lease_id: number, options?: { resource?: string; nowMs?: number }): Decision;
    /**
     * S1 `TenantUsage`.
     */
    usage(tenant: string): Usage;
}

/**
 * A pre-resolved tenant and resource: the hot path.
 */
export class TenantHandle {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * The decision of this handle's last `tryCheck`, or `null`.
     */
    lastDecision(): Decision | null;
    /**
     * Checks and consumes `cost` (default 1) units. Returns the wait before proceeding: `0`
     * (go now), a delay in ms (throttle/queue admission) or `Infinity` (refused);
     * `lastDecision()` has the details.
     */
    tryCheck(cost?: number | null, nowMs?: number | null): number;
    /**
     * The resource the checks are about.
     */
    readonly resource: string;
    /**
     * The tenant's name.
     */
    readonly tenant: string;
}

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_governor_free: (a: number, b: number) => void;
    readonly __wbg_tenanthandle_free: (a: number, b: number) => void;
    readonly governor___checkJson: (a: number, b: any, c: any) => [number, number, number, number];
    readonly governor_acquireLease: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_addUsage: (a: number, b: any, c: number, d: any) => [number, number, number];
    readonly governor_begin: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_call: (a: number, b: number, c: number, d: any, e: number, f: number) => [number, number, number];
    readonly governor_canSelect: (a: number, b: any, c: any, d: any) => [number, number, number];
    readonly governor_check: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_checkFeature: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_checkInsert: (a: number, b: any, c: any, d: any) => [number, number];
    readonly governor_createPolicy: (a: number, b: any, c: any, d: any) => [number, number];
    readonly governor_end: (a: number, b: any, c: number, d: any) => [number, number, number];
    readonly governor_explain: (a: number, b: any, c: any, d: any) => [number, number, number];
    readonly governor_filter: (a: number, b: any, c: any, d: any) => [number, number, number];
    readonly governor_handle: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_listPlans: (a: number) => [number, number, number];
    readonly governor_listTenants: (a: number) => [number, number, number];
    readonly governor_new: (a: any, b: any) => [number, number, number];
    readonly governor_nowMs: (a: number) => number;
    readonly governor_peek: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_plan: (a: number, b: any) => [number, number, number];
    readonly governor_prometheus: (a: number, b: any) => [number, number, number, number];
    readonly governor_register: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_release: (a: number, b: any, c: number, d: any) => [number, number, number];
    readonly governor_reload: (a: number, b: any) => [number, number, number];
    readonly governor_removeTenant: (a: number, b: any) => [number, number, number];
    readonly governor_rlsEnable: (a: number, b: any, c: number) => [number, number];
    readonly governor_setOverride: (a: number, b: any, c: any, d: any) => [number, number, number];
    readonly governor_setUsage: (a: number, b: any, c: number, d: any) => [number, number, number];
    readonly governor_status: (a: number, b: any, c: any) => [number, number, number];
    readonly governor_subtractUsage: (a: number, b: any, c: number, d: any) => [number, number, number];
    readonly governor_tenant: (a: number, b: any) => [number, number, number];
    readonly governor_touch: (a: number, b: any, c: number, d: any) => [number, number, number];
    readonly governor_usage: (a: number, b: any) => [number, number, number];
    readonly tenanthandle___check: (a: number, b: number, c: number) => number;
    readonly tenanthandle___takeError: (a: number) => any;
    readonly tenanthandle_lastDecision: (a: number) => [number, number, number];
    readonly tenanthandle_resource: (a: number) => [number, number];
    readonly tenanthandle_tenant: (a: number) => [number, number];
    readonly tenanthandle_tryCheck: (a: number, b: number, c: number, d: number, e: number) => [number, number, number];
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
