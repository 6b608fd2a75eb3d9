package dev.tenantguard;

/** What the host should do with a request (the C `TgAction` values, in order). */
public enum Action {
    /** Proceed. */
    ALLOW,
    /** Proceed; usage is above the warning threshold. */
    WARN,
    /** Proceed after {@link Decision#delayMs()}. */
    THROTTLE,
    /** Proceed after the queue wait, or (leases) poll again with the ticket. */
    QUEUE,
    /** Refuse; retry after {@link Decision#retryAfterMs()}. */
    REJECT;

    /** The stable lower-case name ({@code "allow"}, {@code "throttle"}, ...), as in the corpus. */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
