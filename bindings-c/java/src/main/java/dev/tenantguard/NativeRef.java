package dev.tenantguard;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A native pointer shared by threads: calls take a use ({@link #acquire}/{@link #release}) and
 * {@link #close} frees the object only once no call is in flight, so closing while another
 * thread checks is safe (the check finishes first, later calls throw IllegalStateException).
 */
final class NativeRef {
    private final long ptr;
    private final AtomicInteger users = new AtomicInteger(); // -1 once closed
    private final String what;

    NativeRef(long ptr, String what) {
        this.ptr = ptr;
        this.what = what;
    }

    /** Takes a use; pair with {@link #release()} in a finally block. */
    long acquire() {
        while (true) {
            int u = users.get();
            if (u < 0) {
                throw new IllegalStateException("the " + what + " is closed");
            }
            if (users.compareAndSet(u, u + 1)) {
                return ptr;
            }
        }
    }

    /** The pointer, for the one caller {@link #close()} answered true. */
    long acquireClosed() {
        return ptr;
    }

    void release() {
        users.decrementAndGet();
    }

    /** Marks the pointer closed once no call uses it; true for the one caller that must free it. */
    boolean close() {
        while (true) {
            int u = users.get();
            if (u < 0) {
                return false;
            }
            if (u == 0 && users.compareAndSet(0, -1)) {
                return true;
            }
            Thread.onSpinWait();
        }
    }
}
