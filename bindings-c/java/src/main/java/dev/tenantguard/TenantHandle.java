package dev.tenantguard;

/** A pre-resolved tenant: the hot path. Thread-safe; close it when done. */
public final class TenantHandle implements AutoCloseable {
    private final String tenant;
    private final Object lock = new Object();
    private volatile long ptr;

    TenantHandle(Governor gov, String tenant, long ptr) {
        this.tenant = tenant;
        this.ptr = ptr;
    }

    /** The tenant's name. */
    public String tenant() {
        return tenant;
    }

    /** Checks and consumes one unit of {@code qps} now. */
    public Decision check() {
        return check(null, 1, Governor.NOW);
    }

    /** Checks and consumes {@code cost} units of {@code resource} ({@code null}: {@code qps}). */
    public Decision check(String resource, long cost, long nowMs) {
        long p = ptr;
        if (p == 0) {
            throw new IllegalStateException("the handle is closed");
        }
        long[] out = new long[Decision.SLOTS];
        Native.handleCheck(p, Governor.utf8(resource), cost, nowMs, out);
        return Decision.fromSlots(out, resource == null ? "qps" : resource);
    }

    /** Frees the native handle; idempotent. */
    @Override
    public void close() {
        synchronized (lock) {
            long p = ptr;
            ptr = 0;
            if (p != 0) {
                Native.handleFree(p);
            }
        }
    }
}
