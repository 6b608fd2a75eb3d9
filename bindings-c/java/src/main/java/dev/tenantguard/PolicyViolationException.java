package dev.tenantguard;

/** No row-level security policy admits the row. */
public class PolicyViolationException extends TenantGuardException {
    private static final long serialVersionUID = 1L;

    PolicyViolationException(int status, String code, String message, String json) {
        super(status, code, message, json);
    }
}
