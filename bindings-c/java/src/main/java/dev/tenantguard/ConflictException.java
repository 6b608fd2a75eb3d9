package dev.tenantguard;

/** The object exists already, or the change is not allowed. */
public class ConflictException extends TenantGuardException {
    private static final long serialVersionUID = 1L;

    ConflictException(int status, String code, String message, String json) {
        super(status, code, message, json);
    }
}
