package dev.tenantguard;

/** A held concurrency lease, released by {@link #close()} (try-with-resources). */
public final class Lease implements AutoCloseable {
    private final Governor gov;
    private final String tenant;
    private final String resource;
    private final Decision decision;
    private boolean released;

    Lease(Governor gov, String tenant, String resource, Decision decision) {
        this.gov = gov;
        this.tenant = tenant;
        this.resource = resource;
        this.decision = decision;
    }

    /** The acquiring decision. */
    public Decision decision() {
        return decision;
    }

    /** The lease id. */
    public long leaseId() {
        return decision.leaseId();
    }

    /** Releases the lease; idempotent. */
    @Override
    public synchronized void close() {
        if (!released) {
            released = true;
            gov.release(tenant, resource, decision.leaseId(), Governor.NOW);
        }
    }
}
