/* ns per check from C: a hot tenant and 10,000 tenants, by name and through handles. Built
 * against both the shared and the static library by scripts/c-env.sh (`bench` / `bench-static`).
 *   usage: bench [iterations]     (compare ratios in one run: these machines are noisy) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tenantguard.h"

enum { TENANTS = 10000 };

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  TgGovernor *gov = NULL;
  const char *cfg = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 1000000000\n";
  if (tg_governor_new(cfg, TG_CONFIG_FORMAT_TOML, 0, &gov) != TG_STATUS_OK) return 1;
  static char names[TENANTS][16];
  static TgTenantHandle *handles[TENANTS];
  for (int i = 0; i < TENANTS; i++) {
    snprintf(names[i], sizeof names[i], "tenant-%d", i);
    if (tg_register(gov, names[i], "free", 0) != TG_STATUS_OK || tg_handle_new(gov, names[i], &handles[i]) != TG_STATUS_OK) return 1;
  }
  TgDecision d;
  long allowed = 0;
  struct { const char *label; int kind; } cases[] = {
      {"tg_check(name), hot", 0}, {"tg_check(name), 10k tenants", 1},
      {"tg_handle_check, hot", 2}, {"tg_handle_check, 10k tenants", 3},
      {"tg_check(name), hot, TG_NOW (clock read)", 4},
  };
  printf("%ld iterations per case\n", n);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    for (int pass = 0; pass < 2; pass++) { /* pass 0 warms up */
      long iters = pass ? n : n / 10;
      double t0 = now_ns();
      for (long i = 0; i < iters; i++) {
        int k = (int)(i % TENANTS);
        switch (cases[c].kind) {
          case 0: tg_check(gov, names[0], NULL, 1, 1000, &d); break;
          case 1: tg_check(gov, names[k], NULL, 1, 1000, &d); break;
          case 2: tg_handle_check(handles[0], NULL, 1, 1000, &d); break;
          case 3: tg_handle_check(handles[k], NULL, 1, 1000, &d); break;
          default: tg_check(gov, names[0], NULL, 1, TG_NOW, &d); break;
        }
        allowed += d.allowed;
      }
      if (pass) printf("%-44s %7.1f ns/call\n", cases[c].label, (now_ns() - t0) / (double)iters);
    }
  }
  for (int i = 0; i < TENANTS; i++) tg_handle_free(handles[i]);
  tg_governor_free(gov);
  return allowed > 0 ? 0 : 1;
}
