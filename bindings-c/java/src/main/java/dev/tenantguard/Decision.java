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
    static final int SLOTS = 16;

    /** Builds a decision from the JNI shim's slots; limits beyond 2^63 read as unsigned. */
    static Decision fromSlots(long[] s) {
        int code = (int) s[2];
        return new Decision(
                s[0] != 0,
                ACTIONS[(int) s[1]],
                code < CODES.length ? CODES[code] : "OTHER",
                Native.resource(s[15]),
                s[3] != 0 ? s[4] : null,
                s[5] != 0 ? s[6] : null,
                s[7],
                s[8],
                s[9],
                s[10] != 0,
                s[11] != 0 ? s[12] : null,
                s[13] != 0 ? s[14] : null);
    }

    /** Parses the flat decision object of an error's JSON ({@code null} if absent or malformed). */
    static Decision fromErrorJson(String json) {
        if (json == null) {
            return null;
        }
        int at = json.indexOf("\"decision\":{");
        if (at < 0) {
            return null;
        }
        String d = json.substring(at + 12, json.indexOf('}', at));
        java.util.Map<String, String> f = new java.util.HashMap<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"(\\w+)\":(\"[^\"]*\"|[^,]+)").matcher(d);
        while (m.find()) {
            f.put(m.group(1), m.group(2).replace("\"", ""));
        }
        try {
            return new Decision(
                    Boolean.parseBoolean(f.get("allowed")),
                    Action.valueOf(f.get("action").toUpperCase(java.util.Locale.ROOT)),
                    nullable(f.get("code")),
                    f.get("resource"),
                    number(f.get("limit")),
                    number(f.get("remaining")),
                    Long.parseLong(f.get("retryAfterMs")),
                    Long.parseLong(f.get("resetMs")),
                    Long.parseLong(f.get("delayMs")),
                    Boolean.parseBoolean(f.get("shadow")),
                    number(f.get("leaseId")),
                    number(f.get("ticket")));
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String nullable(String v) {
        return v == null || v.equals("null") ? null : v;
    }

    private static Long number(String v) {
        return v == null || v.equals("null") ? null : Long.parseUnsignedLong(v);
    }

    /** Returns this decision if allowed, else throws {@link QuotaExceededException} carrying it. */
    public Decision orThrow() {
        if (!allowed) {
            throw new QuotaExceededException(this);
        }
        return this;
    }
}
