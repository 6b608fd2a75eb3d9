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

    private final NativeRef ref;

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
        this(config, format, defaultRpm, null);
    }

    /**
     * A governor whose counters and leases live in a shared store: every process (in any
     * tenantguard host) pointing at the same Redis and prefix enforces one limit per tenant.
     *
     * @param config the configuration, or {@code null} for the built-in plans
     * @param format its format
     * @param defaultRpm the S1 per-user quota default
     * @param storeJson {@code null} for the in-process store (or a federated configuration's
     *     Redis), or a JSON object such as
     *     {@code {"redisUrl": "redis://127.0.0.1:6379/", "mode": "federated", "failurePolicy": "local:0.5"}}
     *     (keys: redisUrl, prefix, mode, syncIntervalMs, failurePolicy, resourceFailurePolicies,
     *     timeoutMs, time, leaseTtlMs, cluster). Redis is reached lazily: a server that is down is not an error here.
     * @throws ConfigException when the configuration is rejected (with key and line)
     * @throws InvalidArgumentException when the store options are rejected (naming the key)
     */
    public Governor(String config, ConfigFormat format, int defaultRpm, String storeJson) {
        if (defaultRpm < 0) {
            throw invalid("defaultRpm", defaultRpm);
        }
        this.ref = new NativeRef(
                Native.governorNew(utf8(config), format.ordinal(), defaultRpm, utf8(storeJson)), "governor");
    }

    /**
     * Replays now the lease releases a shared store kept from calls it could not answer
     * (otherwise replayed by later calls): call it before the process exits.
     *
     * @throws TenantGuardException {@code STORE_UNAVAILABLE}, saying how many are left, when the
     *     store still cannot answer
     */
    public void flushStore() {
        call("flushStore", null, NOW);
    }

    /**
     * The state store's kind and health counters as JSON:
     * {@code {"kind": "redis", "metrics": {"calls_total": ..., "fallback_decisions_total": ...}}}.
     */
    public String storeMetrics() {
        return call("storeMetrics", null, NOW);
    }

    /** A governor from S2 TOML text. */
    public static Governor fromToml(String toml) {
        return new Governor(toml, ConfigFormat.TOML, 60);
    }

    /** A governor from the JSON model. */
    public static Governor fromJson(String json) {
        return new Governor(json, ConfigFormat.JSON, 60);
    }

    /**
     * UTF-8 bytes of {@code s}, refusing an unpaired surrogate: {@code getBytes} would turn it
     * into {@code '?'}, so {@code "t\uD800"} would act for a tenant named {@code "t?"}.
     */
    static byte[] utf8(String s) {
        if (s == null) {
            return null;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new InvalidArgumentException(3, "INVALID_ARGUMENT",
                        "a string holds an unpaired UTF-16 surrogate at index " + i + ", which has no UTF-8 form", null);
            }
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static InvalidArgumentException invalid(String what, long value) {
        return new InvalidArgumentException(3, "INVALID_ARGUMENT", what + " must not be negative, got " + value, null);
    }

    /** Java longs are signed, the core's numbers unsigned: negatives are refused, not wrapped. */
    static long unsigned(String what, long value) {
        if (value < 0) {
            throw invalid(what, value);
        }
        return value;
    }

    /** A time: {@link #NOW} or a non-negative number of ms. */
    static long time(long nowMs) {
        return nowMs == NOW ? NOW : unsigned("nowMs", nowMs);
    }

    /** The governor's clock, in ms since the epoch. */
    public long nowMs() {
        long p = ref.acquire();
        try {
            return Native.nowMs(p);
        } finally {
            ref.release();
        }
    }

    /** Registers a tenant on the plan of the first {@code tenant_pattern} its name matches, else {@code default_tier}. */
    public void register(String name) {
        register(name, null);
    }

    /** Registers a tenant on {@code plan} ({@code null}: by {@code tenant_pattern}, else {@code default_tier}), shared-schema isolation. */
    public void register(String name, String plan) {
        long p = ref.acquire();
        try {
            Native.register(p, utf8(name), utf8(plan), NOW);
        } finally {
            ref.release();
        }
    }

    private Decision decide(int op, String tenant, String resource, long a, long b, long nowMs) {
        long[] out = new long[Decision.SLOTS];
        byte[] r = utf8(resource);
        long now = time(nowMs);
        long p = ref.acquire();
        try {
            Native.decide(op, p, tenant, r, a, b, now, out); // the shim encodes the name to UTF-8
        } finally {
            ref.release();
        }
        return Decision.fromSlots(out);
    }

    /** Checks and consumes one unit of {@code qps} now. */
    public Decision check(String tenant) {
        return check(tenant, null, 1, NOW);
    }

    /** Checks and consumes {@code cost} units of {@code resource} ({@code null}: {@code qps}). */
    public Decision check(String tenant, String resource, long cost, long nowMs) {
        return decide(Native.CHECK, tenant, resource, unsigned("cost", cost), 0, nowMs);
    }

    /** Like {@link #check(String, String, long, long)}, without consuming anything. */
    public Decision peek(String tenant, String resource, long cost, long nowMs) {
        return decide(Native.PEEK, tenant, resource, unsigned("cost", cost), 0, nowMs);
    }

    /**
     * Acquires a concurrency lease on {@code resource} ({@code null}: {@code connections}); pass the
     * {@code ticket} of a queued request to poll it, else {@code null}.
     */
    public Decision acquire(String tenant, String resource, Long ticket, long nowMs) {
        return decide(Native.ACQUIRE, tenant, resource, ticket == null ? 0 : ticket, ticket == null ? 0 : 1, nowMs);
    }

    /** Releases a lease. */
    public Decision release(String tenant, String resource, long leaseId, long nowMs) {
        return decide(Native.RELEASE, tenant, resource, leaseId, 0, nowMs);
    }

    /**
     * A connection lease for try-with-resources; released on close. Under a queue policy this
     * waits its turn (first come, first served), polling with its ticket.
     *
     * @throws QuotaExceededException when refused (limit reached, or the queue wait ran out)
     * @throws InterruptedException if interrupted while queued (the ticket is cancelled)
     */
    public Lease lease(String tenant) throws InterruptedException {
        Decision d = acquire(tenant, null, null, NOW);
        while (!d.allowed() && d.action() == Action.QUEUE && d.ticket() != null) {
            long ticket = d.ticket();
            try {
                Thread.sleep(Math.max(1, d.retryAfterMs()));
                d = acquire(tenant, null, ticket, NOW);
            } catch (InterruptedException | RuntimeException e) {
                // Give the place in the queue up whatever ended the wait, so it does not hold
                // the head of the queue until its deadline.
                try {
                    call("cancel", "{\"tenant\": " + jsonString(tenant) + ", \"resource\": \"connections\", \"leaseId\": " + ticket + "}", NOW);
                } catch (RuntimeException cancelFailed) {
                    e.addSuppressed(cancelFailed);
                }
                throw e;
            }
        }
        if (!d.allowed() || d.leaseId() == null) {
            throw new QuotaExceededException(d);
        }
        return new Lease(this, tenant, d.resource(), d);
    }

    static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /** Sets the capacity gauge {@code resource} ({@code null}: {@code storage}). */
    public Decision setUsage(String tenant, String resource, long amount, long nowMs) {
        return decide(Native.USAGE, tenant, resource, 0, unsigned("amount", amount), nowMs);
    }

    /** Adds to a capacity gauge (a write: refused over the hard limit). */
    public Decision addUsage(String tenant, String resource, long amount, long nowMs) {
        return decide(Native.USAGE, tenant, resource, 1, unsigned("amount", amount), nowMs);
    }

    /** Subtracts from a capacity gauge. */
    public Decision subtractUsage(String tenant, String resource, long amount, long nowMs) {
        return decide(Native.USAGE, tenant, resource, 2, unsigned("amount", amount), nowMs);
    }

    /** Starts a duration lease ({@code null} resource: {@code transaction}). */
    public Decision begin(String tenant, String resource, long nowMs) {
        return decide(Native.TRANSACTION, tenant, resource, 0, 0, nowMs);
    }

    /** Activity on a duration lease (resets its idle timer). */
    public Decision touch(String tenant, String resource, long leaseId, long nowMs) {
        return decide(Native.TRANSACTION, tenant, resource, 1, leaseId, nowMs);
    }

    /** Ends a duration lease. */
    public Decision end(String tenant, String resource, long leaseId, long nowMs) {
        return decide(Native.TRANSACTION, tenant, resource, 2, leaseId, nowMs);
    }

    /** Resolves {@code tenant} once: checks on the handle skip the name lookup. */
    public TenantHandle handle(String tenant) {
        long p = ref.acquire();
        try {
            return new TenantHandle(tenant, Native.handleNew(p, utf8(tenant)));
        } finally {
            ref.release();
        }
    }

    /**
     * Runs any operation of the host-neutral API ({@code "status"}, {@code "createPlan"},
     * {@code "rlsFilter"}, ... as in the conformance corpus) with JSON arguments.
     *
     * @param argsJson a JSON object, or {@code null} for {@code {}}
     * @return the answer as JSON
     */
    public String call(String op, String argsJson, long nowMs) {
        byte[] o = utf8(op);
        byte[] a = utf8(argsJson);
        long now = time(nowMs);
        long p = ref.acquire();
        try {
            return new String(Native.call(p, o, a, now), StandardCharsets.UTF_8);
        } finally {
            ref.release();
        }
    }

    /**
     * Frees the native governor once calls in flight on other threads have finished; idempotent.
     * Later calls throw IllegalStateException. Handles opened from it stay usable.
     */
    @Override
    public void close() {
        if (ref.close()) {
            Native.governorFree(ref.acquireClosed());
        }
    }
}
