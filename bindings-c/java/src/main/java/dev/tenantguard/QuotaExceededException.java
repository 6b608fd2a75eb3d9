package dev.tenantguard;

/**
 * A refusal: from {@link Decision#orThrow()} (with the decision) or an operation that raises
 * its refusal (the S1 per-user quota, through {@link Governor#call}).
 */
public class QuotaExceededException extends TenantGuardException {
    private static final long serialVersionUID = 1L;
    private final transient Decision decision;

    QuotaExceededException(Decision d) {
        super(7, d.code() == null ? "QUOTA_EXCEEDED" : d.code(), d.code() + " on " + d.resource(), null);
        this.decision = d;
    }

    QuotaExceededException(int status, String code, String message, String json) {
        super(status, code, message, json);
        this.decision = Decision.fromErrorJson(json);
    }

    /** The refused decision (from the error's JSON when raised by {@link Governor#call}). */
    public Decision decision() {
        return decision;
    }

    /** How long until the same request could succeed (0 when unknown). */
    public long retryAfterMs() {
        return decision == null ? 0 : decision.retryAfterMs();
    }
}
