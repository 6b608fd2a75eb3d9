package dev.tenantguard;

/** A row-level security expression did not parse. */
public class PolicySyntaxException extends TenantGuardException {
    private static final long serialVersionUID = 1L;

    PolicySyntaxException(int status, String code, String message, String json) {
        super(status, code, message, json);
    }
}
