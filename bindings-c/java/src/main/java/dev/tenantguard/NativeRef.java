package dev.tenantguard;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A native pointer shared by threads: calls take a use ({@link #acquire}/{@link #release}) and
 * {@link #close} frees the object only once no call is in flight, so closing while another
 * thread checks is safe (the check finishes first, later calls throw IllegalStateException).
 */
final class NativeRef {
    private final long ptr;
    private final AtomicInteger users = new AtomicInteger(); // -1 once closed
    private volatile boolean closing; // set by close(): no new use is taken after it
    private final String what;

    NativeRef(long ptr, String what) {
        this.ptr = ptr;
        this.what = what;
    }

    /** Takes a use; pair with {@link #release()} in a finally block. */
    long acquire() {
        while (true) {
            int u = users.get();
            if (u < 0 || closing) {
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

    /**
     * Refuses new uses at once, then marks the pointer closed once the calls in flight have
     * finished; true for the one caller that must free it.
     */
    boolean close() {
        closing = true;
        for (int spins = 0; ; spins++) {
            int u = users.get();
            if (u < 0) {
                return false;
            }
            if (u == 0 && users.compareAndSet(0, -1)) {
                return true;
            }
            // Calls in flight end soon (a native call is bounded by the store timeout): spin
            // briefly, then stop burning the CPU while waiting.
            if (spins < 1_000) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(100_000);
            }
        }
    }
}
