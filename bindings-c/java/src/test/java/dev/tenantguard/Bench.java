package dev.tenantguard;

/**
 * ns per check from Java through JNI: a hot tenant and 10,000 tenants, by name and through
 * handles (compare ratios in one run: these machines are noisy).
 *   bash scripts/java-env.sh bench [iterations]
 */
public final class Bench {
    private Bench() {}

    interface Case {
        boolean run(int i);
    }

    private static long time(Case c, long iters) {
        long admitted = 0;
        for (int i = 0; i < iters; i++) {
            if (c.run(i)) {
                admitted++;
            }
        }
        return admitted;
    }

    public static void main(String[] args) {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 5_000_000L;
        int tenants = 10_000;
        try (Governor gov = Governor.fromToml("[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 1000000000\n")) {
            String[] names = new String[tenants];
            TenantHandle[] handles = new TenantHandle[tenants];
            for (int i = 0; i < tenants; i++) {
                names[i] = "tenant-" + i;
                gov.register(names[i], "free");
                handles[i] = gov.handle(names[i]);
            }
            String[] labels = {"check(name), hot", "check(name), 10k tenants", "handle.check, hot", "handle.check, 10k tenants", "check(name), hot, Governor.NOW"};
            Case[] cases = {
                i -> gov.check(names[0], null, 1, 1000).allowed(),
                i -> gov.check(names[i % tenants], null, 1, 1000).allowed(),
                i -> handles[0].check(null, 1, 1000).allowed(),
                i -> handles[i % tenants].check(null, 1, 1000).allowed(),
                i -> gov.check(names[0], null, 1, Governor.NOW).allowed(),
            };
            System.out.printf("java %s, %d iterations per case, best of 3 rounds%n", System.getProperty("java.version"), n);
            long sink = 0;
            // Four rounds over all cases; each case prints its best of rounds 2-4 (round 1 mixes in
            // JIT compilation, and these machines are noisy).
            double[] best = new double[cases.length];
            java.util.Arrays.fill(best, Double.MAX_VALUE);
            for (int round = 0; round < 4; round++) {
                for (int c = 0; c < cases.length; c++) {
                    sink += time(cases[c], Math.max(1, n / 5)); // warm-up
                    long t0 = System.nanoTime();
                    sink += time(cases[c], n);
                    if (round > 0) {
                        best[c] = Math.min(best[c], (System.nanoTime() - t0) / (double) n);
                    }
                }
            }
            for (int c = 0; c < cases.length; c++) {
                System.out.printf("%-36s %7.1f ns/call%n", labels[c], best[c]);
            }
            for (TenantHandle h : handles) {
                h.close();
            }
            if (sink == 0) {
                throw new IllegalStateException("nothing admitted");
            }
        }
    }
}
