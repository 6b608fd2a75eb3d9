package dev.tenantguard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The store option on a real redis-server ({@code TG_REDIS_URL}, set by scripts/test.sh):
 * governors on one prefix share one limit and one lease count, bad options name their key, an
 * unreachable Redis follows the failure policy. Without TG_REDIS_URL these tests are skipped
 * locally and fail under CI=true.
 */
class RedisStoreTest {
    static final String CONFIG = "[tenant_quotas]\ndefault_tier = \"t\"\n[[tenant_quotas.tiers]]\nname = \"t\"\n"
            + "max_qps = 20\nburst_allowance = 1.0\nmax_connections = 3\nenforcement_action = \"reject\"\n";
    static String url;

    @BeforeAll
    static void redis() {
        url = System.getenv("TG_REDIS_URL");
        if (url == null && "true".equals(System.getenv("CI"))) {
            throw new IllegalStateException("TG_REDIS_URL must be set in CI (scripts/test.sh sets it)");
        }
        Assumptions.assumeTrue(url != null, "needs TG_REDIS_URL (run scripts/test.sh)");
    }

    static String store(String extra) {
        return "{\"redisUrl\": \"" + url + "\", \"prefix\": \"javatest-" + UUID.randomUUID() + "\"" + extra + "}";
    }

    static Governor governor(String storeJson) {
        return new Governor(CONFIG, Governor.ConfigFormat.TOML, 60, storeJson);
    }

    @Test
    void governorsOnOnePrefixShareOneLimit() {
        String store = store(", \"time\": \"caller\"");
        try (Governor a = governor(store); Governor b = governor(store)) {
            a.register("acme");
            b.register("acme");
            int admitted = 0;
            for (int i = 0; i < 30; i++) {
                if ((i % 2 == 0 ? a : b).check("acme", "qps", 1, 5000).allowed()) {
                    admitted++;
                }
            }
            assertEquals(20, admitted);
            Decision lease = a.acquire("acme", "connections", null, 5000);
            assertTrue(lease.allowed());
            b.release("acme", "connections", lease.leaseId(), 5000);
            assertThrows(NotFoundException.class, () -> a.release("acme", "connections", lease.leaseId(), 5000));
            assertTrue(a.storeMetrics().contains("\"kind\":\"redis\""), a.storeMetrics());
            a.flushStore();
            assertTrue(a.storeMetrics().contains("\"pending_releases\":0"), a.storeMetrics());
        }
    }

    @Test
    void leasesFromManyThreadsNeverExceedTheLimit() throws Exception {
        try (Governor g = governor(store(""))) {
            g.register("acme");
            AtomicLong peak = new AtomicLong();
            ExecutorService pool = Executors.newFixedThreadPool(6);
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        Decision d = g.acquire("acme", "connections", null, Governor.NOW);
                        if (d.allowed()) {
                            peak.accumulateAndGet(3 - d.remaining(), Math::max);
                            g.release("acme", "connections", d.leaseId(), Governor.NOW);
                        }
                    }
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
            pool.shutdown();
            assertTrue(peak.get() <= 3, "peak " + peak.get());
            assertTrue(g.call("concurrencyStats", "{\"tenant\": \"acme\"}", Governor.NOW).contains("\"active\":0"));
        }
    }

    @Test
    void badOptionsNameTheirKey() {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> governor("{\"redisUrl\": \"redis://127.0.0.1:1/\", \"timeoutMs\": -1}"));
        assertEquals("INVALID_ARGUMENT", e.code());
        assertTrue(e.getMessage().contains("store.timeoutMs"), e.getMessage());
        assertThrows(InvalidArgumentException.class, () -> governor("{\"mode\": \"federated\"}"));
        assertThrows(InvalidArgumentException.class, () -> governor("not json"));
        try (Governor memory = governor(null)) {
            assertTrue(memory.storeMetrics().contains("\"kind\":\"memory\""));
        }
    }

    @Test
    void anUnreachableRedisFollowsTheFailurePolicy() {
        String down = "{\"redisUrl\": \"redis://127.0.0.1:1/\", \"failurePolicy\": \"closed\", \"timeoutMs\": 50}";
        try (Governor g = governor(down)) {
            g.register("acme");
            Decision d = g.check("acme", "qps", 1, 5000);
            assertFalse(d.allowed());
            assertEquals(1000L, d.retryAfterMs());
            StoreUnavailableException e = assertThrows(StoreUnavailableException.class,
                    () -> g.addUsage("acme", "storage", 10, 5000));
            assertEquals("STORE_UNAVAILABLE", e.code());
        }
    }
}
