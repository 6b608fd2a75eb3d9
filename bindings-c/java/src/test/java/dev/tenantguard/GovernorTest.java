package dev.tenantguard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class GovernorTest {
    static final String REJECT = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 10\n"
            + "burst_allowance = 1.0\nenforcement_action = \"reject\"\nmax_connections = 1\nstorage_quota_bytes = 1000\n";

    @Test
    void decisionsAreRecordsFromTheCore() {
        try (Governor gov = Governor.fromToml(REJECT)) {
            gov.register("acme");
            for (int i = 0; i < 10; i++) {
                Decision d = gov.check("acme", null, 1, 1000);
                assertTrue(d.allowed());
                assertEquals(Action.ALLOW, d.action());
                assertNull(d.code());
                assertEquals(10L, d.limit());
                assertEquals(9L - i, d.remaining());
                assertEquals("qps", d.resource());
            }
            Decision refused = gov.check("acme", "qps", 1, 1000);
            assertFalse(refused.allowed());
            assertEquals(Action.REJECT, refused.action());
            assertEquals("RATE_LIMITED", refused.code());
            assertTrue(refused.retryAfterMs() > 0);
            QuotaExceededException q = assertThrows(QuotaExceededException.class, refused::orThrow);
            assertEquals("RATE_LIMITED", q.code());
            assertEquals(refused, q.decision());
            assertTrue(gov.peek("acme", null, 1, 1100).allowed());
            assertTrue(Math.abs(gov.nowMs() - System.currentTimeMillis()) < 5000);
        }
    }

    @Test
    void leasesWorkWithTryWithResources() {
        try (Governor gov = Governor.fromToml(REJECT)) {
            gov.register("acme");
            try (Lease lease = gov.lease("acme")) {
                assertTrue(lease.leaseId() > 0);
                QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> gov.lease("acme"));
                assertEquals("CONNECTION_LIMIT", e.code());
            }
            try (Lease again = gov.lease("acme")) { // released by the block above
                assertTrue(again.decision().allowed());
            }
            Decision txn = gov.begin("acme", null, 0);
            assertTrue(gov.touch("acme", null, txn.leaseId(), 100).allowed());
            gov.end("acme", null, txn.leaseId(), 200);
            gov.setUsage("acme", null, 900, 0);
            assertEquals("STORAGE_QUOTA_EXCEEDED", gov.addUsage("acme", null, 200, 0).code());
            assertTrue(gov.subtractUsage("acme", "storage", 500, 0).allowed());
        }
    }

    @Test
    void errorsAreTypedExceptions() {
        ConfigException c = assertThrows(ConfigException.class, () -> Governor.fromToml("[tenant_quotas]\nwat = 1\n"));
        assertEquals("CONFIG_INVALID", c.code());
        assertTrue(c.errorJson().contains("\"key\":\"tenant_quotas.wat\"") && c.errorJson().contains("\"line\":2"), c.errorJson());
        try (Governor gov = new Governor()) {
            gov.register("acme", "free");
            NotFoundException nf = assertThrows(NotFoundException.class, () -> gov.check("ghost"));
            assertEquals("TENANT_NOT_FOUND", nf.code());
            assertThrows(ConflictException.class, () -> gov.register("acme"));
            assertThrows(NotFoundException.class, () -> gov.register("x", "no-such-plan"));
            InvalidArgumentException npe = assertThrows(InvalidArgumentException.class, () -> gov.check(null));
            assertEquals("NULL_ARGUMENT", npe.code());
            assertThrows(InvalidArgumentException.class, () -> gov.addUsage("acme", "qps", 1, 0)); // wrong kind
            assertThrows(InvalidArgumentException.class, () -> gov.call("noSuchOp", null, 0));
            assertThrows(InvalidArgumentException.class, () -> gov.call("status", "{not json", 0));
            // Costs are unsigned 64-bit, as in C: -5 is 2^64-5 units, which no burst can hold.
            assertEquals("COST_EXCEEDS_LIMIT", gov.check("acme", null, -5, 0).code());
        }
        Governor closed = new Governor();
        closed.close();
        closed.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> closed.check("acme"));
    }

    @Test
    void stringsCrossAsUtf8IncludingNonBmpCharacters() {
        try (Governor gov = new Governor()) {
            String name = "tenant-\uD83D\uDE80-\u00e9"; // 🚀 is outside the BMP: modified UTF-8 would mangle it
            gov.register(name);
            assertTrue(gov.call("getTenant", "{\"tenant\": \"" + name + "\"}", 0).contains(name));
            assertTrue(gov.check(name).allowed());
            NotFoundException e = assertThrows(NotFoundException.class, () -> gov.check("ghost-\uD83D\uDE80"));
            assertTrue(e.getMessage().contains("\uD83D\uDE80"), e.getMessage());
        }
    }

    @Test
    void jsonCallsCoverTheRestOfTheApi() {
        try (Governor gov = new Governor(null, Governor.ConfigFormat.TOML, 1)) {
            gov.call("registerTenant", "{\"name\": \"acme\", \"plan\": \"pro\"}", 0);
            assertTrue(gov.call("status", "{\"tenant\": \"acme\"}", 0).contains("\"max_qps\":500"));
            assertTrue(gov.call("listPlans", null, 0).contains("\"enterprise\""));
            gov.call("rlsEnable", "{\"table\": \"docs\", \"on\": true}", 0);
            gov.call("rlsCreatePolicy", "{\"table\": \"docs\", \"policy\": {\"name\": \"iso\", \"using\": \"tenant_id = current_setting('app.t')\"}}", 0);
            assertEquals("{\"indices\":[0]}", gov.call("rlsFilter",
                    "{\"table\": \"docs\", \"rows\": [{\"tenant_id\": \"a\"}, {\"tenant_id\": \"b\"}], \"context\": {\"settings\": {\"app.t\": \"a\"}}}", 0));
            assertThrows(PolicySyntaxException.class,
                    () -> gov.call("rlsCreatePolicy", "{\"table\": \"docs\", \"policy\": {\"name\": \"bad\", \"using\": \"= =\"}}", 0));
            gov.call("userQuotaCheck", "{\"user\": \"bob\"}", 0);
            QuotaExceededException q = assertThrows(QuotaExceededException.class, () -> gov.call("userQuotaCheck", "{\"user\": \"bob\"}", 0));
            assertEquals("RATE_LIMITED", q.code());
            assertTrue(q.errorJson().contains("\"decision\""));
        }
    }

    @Test
    void handlesShareTheTenantsState() {
        try (Governor gov = Governor.fromToml(REJECT)) {
            gov.register("acme");
            try (TenantHandle h = gov.handle("acme")) {
                assertEquals("acme", h.tenant());
                for (int i = 0; i < 10; i++) {
                    assertTrue(h.check(null, 1, 0).allowed());
                }
                assertFalse(gov.check("acme", null, 1, 0).allowed());
                assertTrue(h.check(null, 1, 100).allowed());
            }
            assertThrows(NotFoundException.class, () -> gov.handle("ghost"));
        }
    }

    @Test
    void manyThreadsNeverOverAdmit() throws Exception {
        String cfg = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 1000\nburst_allowance = 1.0\n"
                + "enforcement_action = \"reject\"\n";
        try (Governor gov = Governor.fromToml(cfg)) {
            gov.register("acme");
            AtomicLong admitted = new AtomicLong();
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try (TenantHandle h = gov.handle("acme")) {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    final boolean byName = t % 2 == 0;
                    futures.add(pool.submit(() -> {
                        for (int i = 0; i < 5000; i++) {
                            Decision d = byName ? gov.check("acme", null, 1, 5000) : h.check(null, 1, 5000);
                            if (d.allowed()) {
                                admitted.incrementAndGet();
                            }
                        }
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
            assertEquals(1000, admitted.get(), "exactly the limit at one instant, across 8 threads");
        }
    }
}
