package dev.tenantguard;

/** The shared store is unavailable. */
public class StoreUnavailableException extends TenantGuardException {
    private static final long serialVersionUID = 1L;

    StoreUnavailableException(int status, String code, String message, String json) {
        super(status, code, message, json);
    }
}
