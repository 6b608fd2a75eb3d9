/* Several pthreads hammer one governor: the rate limit admits exactly its capacity at a fixed
 * time (no over-admission, no lost update), leases never exceed the connection limit, and
 * errors stay per thread. Run under valgrind too (DRD-free: this checks results, not races). */
#undef NDEBUG
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "tenantguard.h"

enum { THREADS = 8, CALLS = 2000 };
static TgGovernor *gov;
static TgTenantHandle *handle;
static atomic_long admitted, peak, active;

static void *hammer(void *arg) {
  long id = (long)arg;
  TgDecision d;
  for (int i = 0; i < CALLS; i++) {
    /* Half the threads by name, half through the shared handle. */
    TgStatus s = (id % 2) ? tg_check(gov, "acme", NULL, 1, 5000, &d) : tg_handle_check(handle, NULL, 1, 5000, &d);
    assert(s == TG_STATUS_OK);
    if (d.allowed) atomic_fetch_add(&admitted, 1);
    if (i % 4 == 0) {
      assert(tg_acquire(gov, "acme", NULL, NULL, 5000, &d) == TG_STATUS_OK);
      if (d.allowed) {
        long now = atomic_fetch_add(&active, 1) + 1;
        long p = atomic_load(&peak);
        while (now > p && !atomic_compare_exchange_weak(&peak, &p, now)) {}
        atomic_fetch_sub(&active, 1);
        assert(tg_release(gov, "acme", NULL, d.lease_id, 5000, &d) == TG_STATUS_OK);
      }
    }
    /* The last error is per thread: this thread's own failure, whatever the others do. */
    if (i % 100 == 0) {
      char name[32];
      snprintf(name, sizeof name, "ghost-%ld", id);
      assert(tg_check(gov, name, NULL, 1, 5000, &d) == TG_STATUS_NOT_FOUND);
      assert(strstr(tg_last_error_message(), name) != NULL);
    }
  }
  return NULL;
}

int main(void) {
  const char *cfg = "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 1000\nburst_allowance = 1.0\n"
                    "enforcement_action = \"reject\"\nmax_connections = 3\n";
  assert(tg_governor_new(cfg, TG_CONFIG_FORMAT_TOML, 0, &gov) == TG_STATUS_OK);
  assert(tg_register(gov, "acme", NULL, 0) == TG_STATUS_OK);
  assert(tg_handle_new(gov, "acme", &handle) == TG_STATUS_OK);
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) assert(pthread_create(&t[i], NULL, hammer, (void *)i) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  printf("test_threads: %d threads x %d checks at one instant: %ld admitted (limit 1000), peak leases %ld\n",
         THREADS, CALLS, atomic_load(&admitted), atomic_load(&peak));
  assert(atomic_load(&admitted) == 1000);
  assert(atomic_load(&peak) <= 3);
  /* Nothing leaked: all 3 connections can be taken again, and a 4th is refused. */
  TgDecision d;
  for (int i = 0; i < 3; i++) assert(tg_acquire(gov, "acme", NULL, NULL, 6000, &d) == TG_STATUS_OK && d.allowed);
  assert(tg_acquire(gov, "acme", NULL, NULL, 6000, &d) == TG_STATUS_OK && !d.allowed && d.code == TG_CODE_CONNECTION_LIMIT);
  tg_handle_free(handle);
  tg_governor_free(gov);
  return 0;
}
