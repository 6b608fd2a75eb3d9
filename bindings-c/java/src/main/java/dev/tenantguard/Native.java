package dev.tenantguard;

/**
 * The JNI entry points (bindings-c/java/src/main/c/tenantguard_jni.c, a C shim over
 * tenantguard.h). Strings cross as UTF-8 bytes, not JNI's modified UTF-8, so characters outside
 * the BMP survive. A failing call throws the {@link TenantGuardException} subclass for its
 * status. Handles are the C pointers as {@code long}s, owned by the Java objects that hold them.
 */
final class Native {
    /** The ABI this Java code was written against ({@code TG_ABI_VERSION}). */
    static final int ABI_VERSION = 2;

    static {
        String path = System.getProperty("tenantguard.library.path");
        if (path != null) {
            System.load(path);
        } else {
            System.loadLibrary("tenantguard_jni");
        }
        int loaded = abiVersion();
        if (loaded != ABI_VERSION) {
            throw new UnsatisfiedLinkError(
                    "libtenantguard ABI " + loaded + " does not match the Java package's ABI " + ABI_VERSION);
        }
    }

    private Native() {}

    static final int CHECK = 0;
    static final int PEEK = 1;
    static final int ACQUIRE = 2;
    static final int RELEASE = 3;
    static final int USAGE = 4;
    static final int TRANSACTION = 5;

    static native int abiVersion();

    static native long governorNew(byte[] config, int format, int defaultRpm, byte[] storeJson);

    static native void governorFree(long gov);

    static native long nowMs(long gov);

    static native void register(long gov, byte[] name, byte[] plan, long nowMs);

    /** One of CHECK..TRANSACTION; {@code a}/{@code b} are the operation's numbers (see the shim). */
    static native void decide(int op, long gov, String tenant, byte[] resource, long a, long b, long nowMs, long[] out);

    static native long handleNew(long gov, byte[] tenant);

    static native void handleCheck(long handle, byte[] resource, long cost, long nowMs, long[] out);

    static native void handleFree(long handle);

    static native byte[] call(long gov, byte[] op, byte[] args, long nowMs);

    /** The UTF-8 bytes of a decision's static resource name (slot 15 of the decision buffer). */
    static native byte[] resourceName(long name);

    private static final java.util.concurrent.ConcurrentHashMap<Long, String> NAMES = new java.util.concurrent.ConcurrentHashMap<>();

    /** The resource name at {@code address}, decoded once per name (the C side never frees them). */
    static String resource(long address) {
        String name = NAMES.get(address);
        if (name == null) {
            name = new String(resourceName(address), java.nio.charset.StandardCharsets.UTF_8);
            NAMES.putIfAbsent(address, name);
        }
        return name;
    }
}
