package dev.tenantguard;

/**
 * The answer to every check, lease, usage and transaction call. Immutable.
 *
 * @param allowed whether the request may proceed (possibly after {@code delayMs})
 * @param action what the host should do
 * @param code why, when not a plain allow ({@code "RATE_LIMITED"}, ...), else {@code null}
 * @param resource the resource decided on
 * @param limit the limit in force, {@code null} when unlimited
 * @param remaining units left, {@code null} when unlimited
 * @param retryAfterMs for a refusal: ms until the same request could succeed
 * @param resetMs ms until the resource is replenished (rate) or the deadline (duration)
 * @param delayMs for throttle/queue admissions: ms to wait before proceeding
 * @param shadow shadow mode: the request would have been limited, and was allowed and recorded
 * @param leaseId the lease of a concurrency or duration acquisition, else {@code null}
 * @param ticket a queue ticket to poll with, else {@code null}
 */
public record Decision(
        boolean allowed,
        Action action,
        String code,
        String resource,
        Long limit,
        Long remaining,
        long retryAfterMs,
        long resetMs,
        long delayMs,
        boolean shadow,
        Long leaseId,
        Long ticket) {

    private static final Action[] ACTIONS = Action.values();
    private static final String[] CODES = {
        null, "QUOTA_EXCEEDED", "RATE_LIMITED", "CONNECTION_LIMIT", "CONCURRENCY_LIMIT", "STORAGE_QUOTA_EXCEEDED",
        "QUOTA_WARNING", "TRANSACTION_TIMEOUT", "IDLE_IN_TRANSACTION_TIMEOUT", "FEATURE_NOT_IN_PLAN",
        "COST_EXCEEDS_LIMIT", "QUEUE_TIMEOUT",
    };

    /** Slots of the {@code long[]} the JNI shim fills (see tenantguard_jni.c). */
    static final int SLOTS = 15;

    /** Builds a decision from the JNI shim's slots; limits beyond 2^63 read as unsigned. */
    static Decision fromSlots(long[] s, String resource) {
        int code = (int) s[2];
        return new Decision(
                s[0] != 0,
                ACTIONS[(int) s[1]],
                code < CODES.length ? CODES[code] : "OTHER",
                resource,
                s[3] != 0 ? s[4] : null,
                s[5] != 0 ? s[6] : null,
                s[7],
                s[8],
                s[9],
                s[10] != 0,
                s[11] != 0 ? s[12] : null,
                s[13] != 0 ? s[14] : null);
    }

    /** Returns this decision if allowed, else throws {@link QuotaExceededException} carrying it. */
    public Decision orThrow() {
        if (!allowed) {
            throw new QuotaExceededException(this);
        }
        return this;
    }
}
