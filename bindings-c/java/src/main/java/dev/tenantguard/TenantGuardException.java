package dev.tenantguard;

/**
 * Base of every tenantguard error. {@link #code()} is the core's stable code
 * ({@code "TENANT_NOT_FOUND"}, ...), {@link #status()} the C status value and
 * {@link #errorJson()} the whole typed error ({@code {code, message, key, line, column, decision}}).
 */
public class TenantGuardException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int status;
    private final String code;
    private final String errorJson;

    TenantGuardException(int status, String code, String message, String errorJson) {
        super(message);
        this.status = status;
        this.code = code;
        this.errorJson = errorJson;
    }

    /** The C {@code TgStatus} value. */
    public int status() {
        return status;
    }

    /** The stable error code. */
    public String code() {
        return code;
    }

    /** The typed error as JSON ({@code null} when raised on the Java side). */
    public String errorJson() {
        return errorJson;
    }

    /** Called by the JNI shim (method ID cached in JNI_OnLoad) with UTF-8 bytes. */
    static TenantGuardException create(int status, byte[] code, byte[] message, byte[] json) {
        return create(status, utf8(code), utf8(message), utf8(json));
    }

    private static String utf8(byte[] b) {
        return b == null ? null : new String(b, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The exception for a failed call with this status. */
    static TenantGuardException create(int status, String code, String message, String json) {
        return switch (status) {
            case 1, 2, 3 -> new InvalidArgumentException(status, code, message, json);
            case 4 -> new ConfigException(status, code, message, json);
            case 5 -> new NotFoundException(status, code, message, json);
            case 6 -> new ConflictException(status, code, message, json);
            case 7 -> new QuotaExceededException(status, code, message, json);
            case 8 -> new PolicyViolationException(status, code, message, json);
            case 9 -> new PolicySyntaxException(status, code, message, json);
            case 10 -> new StoreUnavailableException(status, code, message, json);
            default -> new TenantGuardException(status, code, message, json);
        };
    }
}
