package dev.tenantguard;

/** A tenant, plan, resource, lease or policy was not found. */
public class NotFoundException extends TenantGuardException {
    private static final long serialVersionUID = 1L;

    NotFoundException(int status, String code, String message, String json) {
        super(status, code, message, json);
    }
}
