package dev.tenantguard;

/** A pre-resolved tenant: the hot path. Thread-safe (close included); close it when done. */
public final class TenantHandle implements AutoCloseable {
    private final String tenant;
    private final NativeRef ref;

    TenantHandle(String tenant, long ptr) {
        this.tenant = tenant;
        this.ref = new NativeRef(ptr, "handle");
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
        long[] out = new long[Decision.SLOTS];
        byte[] r = Governor.utf8(resource);
        long c = Governor.unsigned("cost", cost);
        long now = Governor.time(nowMs);
        long p = ref.acquire();
        try {
            Native.handleCheck(p, r, c, now, out);
        } finally {
            ref.release();
        }
        return Decision.fromSlots(out);
    }

    /** Frees the native handle once checks in flight have finished; idempotent. */
    @Override
    public void close() {
        if (ref.close()) {
            Native.handleFree(ref.acquireClosed());
        }
    }
}
