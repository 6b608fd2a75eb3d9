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
    void leasesWorkWithTryWithResources() throws InterruptedException {
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
            // Java longs are signed, the core's numbers unsigned: negatives are refused, not wrapped.
            assertThrows(InvalidArgumentException.class, () -> gov.check("acme", null, -5, 0));
            assertThrows(InvalidArgumentException.class, () -> gov.addUsage("acme", null, -1, 0));
            assertThrows(InvalidArgumentException.class, () -> gov.check("acme", null, 1, -2));
            // A NUL character would cut a C string short: refused, never a silent other tenant.
            InvalidArgumentException nul = assertThrows(InvalidArgumentException.class, () -> gov.check("acme\u0000x"));
            assertEquals("INVALID_ARGUMENT", nul.code());
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
            assertThrows(InvalidArgumentException.class, () -> gov.check("lone-\uD83D")); // unpaired surrogate
            assertTrue(gov.check("tenant-\uD83D\uDE80-\u00e9", "qps", 1, Governor.NOW).allowed(), "the UTF-16 path reaches the same tenant");
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
            assertEquals(false, q.decision().allowed(), "the decision fields come with the exception");
            assertEquals(1L, q.decision().limit());
            assertTrue(q.retryAfterMs() > 0);
        }
    }

    @Test
    void decisionsNameTheResourceTheCoreDecidedOn() {
        String name = "tokens_\u00e9\u00e9_\uD83D\uDE80_" + "x".repeat(70); // long and non-ASCII
        String cfg = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"ai\"\n[[tenant_quotas.tiers.resources]]\n"
                + "name = \"" + name + "\"\nkind = \"rate\"\nwindows = [{ limit = 5, window = \"1s\" }]\n";
        try (Governor gov = Governor.fromToml(cfg)) {
            gov.register("acme", "ai");
            Decision d = gov.check("acme", name, 1, 0);
            assertEquals(name, d.resource());
            assertEquals(4L, d.remaining());
            assertEquals("qps", gov.check("acme").resource());
        }
    }

    @Test
    void aQueuedLeaseWaitsItsTurn() throws Exception {
        String cfg = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_connections = 1\n"
                + "enforcement_action = \"queue\"\nmax_queue_wait = \"5s\"\n";
        try (Governor gov = Governor.fromToml(cfg)) {
            gov.register("acme");
            Lease first = gov.lease("acme");
            Thread releaser = new Thread(() -> {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                first.close();
            });
            long t0 = System.nanoTime();
            releaser.start();
            try (Lease second = gov.lease("acme")) { // queued, then granted when the first is released
                assertTrue(second.decision().allowed());
                assertTrue(System.nanoTime() - t0 >= 90_000_000L, "waited for the release");
            }
            releaser.join();
        }
    }

    @Test
    void closingWhileOtherThreadsCheckIsSafe() throws Exception {
        for (int round = 0; round < 20; round++) {
            Governor gov = new Governor();
            gov.register("acme");
            TenantHandle h = gov.handle("acme");
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<Integer>> futures = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final boolean byName = t % 2 == 0;
                futures.add(pool.submit(() -> {
                    int closed = 0;
                    for (int i = 0; i < 2000; i++) {
                        try {
                            if (byName) {
                                gov.check("acme", null, 1, 0);
                            } else {
                                h.check(null, 1, 0);
                            }
                        } catch (IllegalStateException e) {
                            closed++; // after close: an exception, never a crash
                        }
                    }
                    return closed;
                }));
            }
            Thread.sleep(1);
            gov.close();
            h.close();
            for (Future<Integer> f : futures) {
                f.get();
            }
            pool.shutdown();
            assertThrows(IllegalStateException.class, () -> gov.check("acme"));
            assertThrows(IllegalStateException.class, h::check);
        }
    }

    @Test
    void unpairedSurrogatesAreRefusedNotReplaced() {
        try (Governor gov = new Governor()) {
            assertThrows(InvalidArgumentException.class, () -> gov.register("t\uD800"));
            assertThrows(InvalidArgumentException.class, () -> gov.register("t\uDC00x"));
            assertThrows(NotFoundException.class, () -> gov.check("t?"), "nothing was registered as t?");
            gov.register("t\uD83D\uDE00"); // a valid pair (an emoji) is fine
            assertTrue(gov.check("t\uD83D\uDE00").allowed());
        }
    }

    @Test
    void closeReturnsWhileOtherThreadsKeepCalling() throws Exception {
        Governor gov = new Governor();
        gov.register("acme");
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicLong afterClose = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < 3; t++) {
            futures.add(pool.submit(() -> {
                while (!stop.get()) {
                    boolean wasClosed = closed.get();
                    try {
                        gov.check("acme", null, 1, 0);
                        if (wasClosed) {
                            afterClose.incrementAndGet(); // a call that began after close returned
                        }
                    } catch (IllegalStateException e) {
                        // refused: closed
                    }
                }
            }));
        }
        Thread.sleep(20);
        long start = System.nanoTime();
        gov.close(); // callers never stop: close must not wait for a pause in the traffic
        closed.set(true);
        long took = (System.nanoTime() - start) / 1_000_000;
        Thread.sleep(20);
        stop.set(true);
        for (Future<?> f : futures) {
            f.get();
        }
        pool.shutdown();
        assertTrue(took < 2_000, "close took " + took + " ms");
        assertEquals(0, afterClose.get(), "calls that began after close must be refused");
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
