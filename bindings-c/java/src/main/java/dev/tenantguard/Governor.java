package dev.tenantguard;

import java.nio.charset.StandardCharsets;

/**
 * The per-tenant governor: plans, tenants, quotas, rate limits and row-level security, from the
 * same Rust core as every other tenantguard host. Thread-safe; close it when done (try-with-resources).
 *
 * <p>Every {@code nowMs} parameter takes milliseconds since the epoch, or {@link #NOW} for the
 * system clock. Refusals are {@link Decision}s ({@code allowed == false}); {@link Decision#orThrow()}
 * turns one into a {@link QuotaExceededException}.
 */
public final class Governor implements AutoCloseable {
    /** Use the governor's clock ({@code TG_NOW}). */
    public static final long NOW = -1L;

    /** The format of a configuration text. */
    public enum ConfigFormat {
        /** The S2 TOML format. */
        TOML,
        /** The same model as JSON. */
        JSON
    }

    private final Object lock = new Object();
    private volatile long ptr;

    /** A governor with the built-in plans (free, starter, pro, enterprise, unlimited). */
    public Governor() {
        this(null, ConfigFormat.TOML, 60);
    }

    /**
     * A governor from a configuration text.
     *
     * @param config the configuration, or {@code null} for the built-in plans
     * @param format its format
     * @param defaultRpm the S1 per-user quota default
     * @throws ConfigException when the configuration is rejected (with key and line)
     */
    public Governor(String config, ConfigFormat format, int defaultRpm) {
        this.ptr = Native.governorNew(utf8(config), format.ordinal(), defaultRpm);
    }

    /** A governor from S2 TOML text. */
    public static Governor fromToml(String toml) {
        return new Governor(toml, ConfigFormat.TOML, 60);
    }

    /** A governor from the JSON model. */
    public static Governor fromJson(String json) {
        return new Governor(json, ConfigFormat.JSON, 60);
    }

    static byte[] utf8(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    long ptr() {
        long p = ptr;
        if (p == 0) {
            throw new IllegalStateException("the governor is closed");
        }
        return p;
    }

    /** The governor's clock, in ms since the epoch. */
    public long nowMs() {
        return Native.nowMs(ptr());
    }

    /** Registers a tenant on the default plan. */
    public void register(String name) {
        register(name, null);
    }

    /** Registers a tenant on {@code plan} ({@code null}: the default plan), shared-schema isolation. */
    public void register(String name, String plan) {
        Native.register(ptr(), utf8(name), utf8(plan), NOW);
    }

    private Decision decide(int op, String tenant, String resource, String dflt, long a, long b, long nowMs) {
        long[] out = new long[Decision.SLOTS];
        Native.decide(op, ptr(), utf8(tenant), utf8(resource), a, b, nowMs, out);
        return Decision.fromSlots(out, resource == null ? dflt : resource);
    }

    /** Checks and consumes one unit of {@code qps} now. */
    public Decision check(String tenant) {
        return check(tenant, null, 1, NOW);
    }

    /** Checks and consumes {@code cost} units of {@code resource} ({@code null}: {@code qps}). */
    public Decision check(String tenant, String resource, long cost, long nowMs) {
        return decide(Native.CHECK, tenant, resource, "qps", cost, 0, nowMs);
    }

    /** Like {@link #check(String, String, long, long)}, without consuming anything. */
    public Decision peek(String tenant, String resource, long cost, long nowMs) {
        return decide(Native.PEEK, tenant, resource, "qps", cost, 0, nowMs);
    }

    /**
     * Acquires a concurrency lease on {@code resource} ({@code null}: {@code connections}); pass the
     * {@code ticket} of a queued request to poll it, else {@code null}.
     */
    public Decision acquire(String tenant, String resource, Long ticket, long nowMs) {
        return decide(Native.ACQUIRE, tenant, resource, "connections", ticket == null ? 0 : ticket, ticket == null ? 0 : 1, nowMs);
    }

    /** Releases a lease. */
    public Decision release(String tenant, String resource, long leaseId, long nowMs) {
        return decide(Native.RELEASE, tenant, resource, "connections", leaseId, 0, nowMs);
    }

    /**
     * A connection lease for try-with-resources; released on close.
     *
     * @throws QuotaExceededException when the tenant is at its connection limit
     */
    public Lease lease(String tenant) {
        Decision d = acquire(tenant, null, null, NOW);
        if (!d.allowed() || d.leaseId() == null) {
            throw new QuotaExceededException(d);
        }
        return new Lease(this, tenant, "connections", d);
    }

    /** Sets the capacity gauge {@code resource} ({@code null}: {@code storage}). */
    public Decision setUsage(String tenant, String resource, long amount, long nowMs) {
        return decide(Native.USAGE, tenant, resource, "storage", 0, amount, nowMs);
    }

    /** Adds to a capacity gauge (a write: refused over the hard limit). */
    public Decision addUsage(String tenant, String resource, long amount, long nowMs) {
        return decide(Native.USAGE, tenant, resource, "storage", 1, amount, nowMs);
    }

    /** Subtracts from a capacity gauge. */
    public Decision subtractUsage(String tenant, String resource, long amount, long nowMs) {
        return decide(Native.USAGE, tenant, resource, "storage", 2, amount, nowMs);
    }

    /** Starts a duration lease ({@code null} resource: {@code transaction}). */
    public Decision begin(String tenant, String resource, long nowMs) {
        return decide(Native.TRANSACTION, tenant, resource, "transaction", 0, 0, nowMs);
    }

    /** Activity on a duration lease (resets its idle timer). */
    public Decision touch(String tenant, String resource, long leaseId, long nowMs) {
        return decide(Native.TRANSACTION, tenant, resource, "transaction", 1, leaseId, nowMs);
    }

    /** Ends a duration lease. */
    public Decision end(String tenant, String resource, long leaseId, long nowMs) {
        return decide(Native.TRANSACTION, tenant, resource, "transaction", 2, leaseId, nowMs);
    }

    /** Resolves {@code tenant} once: checks on the handle skip the name lookup. */
    public TenantHandle handle(String tenant) {
        return new TenantHandle(this, tenant, Native.handleNew(ptr(), utf8(tenant)));
    }

    /**
     * Runs any operation of the host-neutral API ({@code "status"}, {@code "createPlan"},
     * {@code "rlsFilter"}, ... as in the conformance corpus) with JSON arguments.
     *
     * @param argsJson a JSON object, or {@code null} for {@code {}}
     * @return the answer as JSON
     */
    public String call(String op, String argsJson, long nowMs) {
        return new String(Native.call(ptr(), utf8(op), utf8(argsJson), nowMs), StandardCharsets.UTF_8);
    }

    /** Frees the native governor; idempotent. Handles opened from it stay usable. */
    @Override
    public void close() {
        synchronized (lock) {
            long p = ptr;
            ptr = 0;
            if (p != 0) {
                Native.governorFree(p);
            }
        }
    }
}
