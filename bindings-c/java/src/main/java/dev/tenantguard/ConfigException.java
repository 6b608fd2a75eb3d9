package dev.tenantguard;

/** The configuration was rejected; {@link #errorJson()} has the key and line. */
public class ConfigException extends TenantGuardException {
    private static final long serialVersionUID = 1L;

    ConfigException(int status, String code, String message, String json) {
        super(status, code, message, json);
    }
}
