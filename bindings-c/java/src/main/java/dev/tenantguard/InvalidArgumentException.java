package dev.tenantguard;

/** A NULL, non-UTF-8 or invalid argument (negative, malformed JSON, wrong resource kind). */
public class InvalidArgumentException extends TenantGuardException {
    private static final long serialVersionUID = 1L;

    InvalidArgumentException(int status, String code, String message, String json) {
        super(status, code, message, json);
    }
}
