/* The store option of the C ABI on a real redis-server (TG_REDIS_URL, set by scripts/test.sh):
 * two governors on one prefix share one limit and one lease count; bad options are
 * TG_STATUS_INVALID_ARGUMENT naming the key; an unreachable Redis follows the failure policy.
 * Run under valgrind by scripts/c-env.sh. Without TG_REDIS_URL it fails unless TG_REDIS_OPTIONAL
 * is set (local runs), so CI can never pass it vacuously. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tenantguard.h"

#define OK(call) do { TgStatus s_ = (call); if (s_ != TG_STATUS_OK) { \
  fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call, tg_status_name(s_), tg_last_error_message()); abort(); } } while (0)

static const char *CONFIG =
    "[tenant_quotas]\ndefault_tier = \"t\"\n[[tenant_quotas.tiers]]\nname = \"t\"\nmax_qps = 20\n"
    "burst_allowance = 1.0\nmax_connections = 2\nenforcement_action = \"reject\"\n";

int main(void) {
  const char *url = getenv("TG_REDIS_URL");
  if (!url) {
    if (getenv("TG_REDIS_OPTIONAL")) { puts("test_redis: skipped (no TG_REDIS_URL)"); return 0; }
    fprintf(stderr, "test_redis: TG_REDIS_URL is not set\n");
    return 1;
  }
  char store[512];
  snprintf(store, sizeof store, "{\"redisUrl\": \"%s\", \"prefix\": \"ctest-%ld\", \"time\": \"caller\"}", url, (long)time(NULL));

  TgGovernor *a = NULL, *b = NULL;
  OK(tg_governor_new_with_store(CONFIG, TG_CONFIG_FORMAT_TOML, 0, store, &a));
  OK(tg_governor_new_with_store(CONFIG, TG_CONFIG_FORMAT_TOML, 0, store, &b));
  OK(tg_register(a, "acme", NULL, 0));
  OK(tg_register(b, "acme", NULL, 0));
  int admitted = 0;
  TgDecision d;
  for (int i = 0; i < 30; i++) {
    OK(tg_check(i % 2 ? a : b, "acme", NULL, 1, 5000, &d));
    admitted += d.allowed;
  }
  assert(admitted == 20);
  OK(tg_acquire(a, "acme", NULL, NULL, 5000, &d));
  assert(d.allowed && d.has_lease_id);
  uint64_t lease = d.lease_id;
  char *json = NULL;
  OK(tg_call(b, "concurrencyStats", "{\"tenant\": \"acme\"}", 5000, &json));
  assert(strstr(json, "\"active\":1"));
  tg_string_free(json);
  OK(tg_release(b, "acme", NULL, lease, 5000, &d));
  OK(tg_call(a, "storeMetrics", NULL, TG_NOW, &json));
  assert(strstr(json, "\"kind\":\"redis\"") && strstr(json, "\"calls_total\""));
  tg_string_free(json);
  OK(tg_call(a, "flushStore", NULL, TG_NOW, &json));
  assert(strcmp(json, "{}") == 0);
  tg_string_free(json);
  tg_governor_free(a);
  tg_governor_free(b);

  /* Bad options: an invalid-argument status naming the key. */
  TgGovernor *bad = NULL;
  assert(tg_governor_new_with_store(NULL, 0, 0, "{\"redisUrl\": \"redis://127.0.0.1:1/\", \"timeoutMs\": -1}", &bad) == TG_STATUS_INVALID_ARGUMENT);
  assert(bad == NULL && strstr(tg_last_error_message(), "store.timeoutMs"));
  assert(tg_governor_new_with_store(NULL, 0, 0, "{\"mode\": \"federated\"}", &bad) == TG_STATUS_INVALID_ARGUMENT);
  assert(tg_governor_new_with_store(NULL, 0, 0, "not json", &bad) == TG_STATUS_INVALID_ARGUMENT);
  /* NULL store: the memory store. */
  OK(tg_governor_new_with_store(NULL, 0, 0, NULL, &bad));
  OK(tg_call(bad, "storeMetrics", NULL, TG_NOW, &json));
  assert(strstr(json, "\"kind\":\"memory\""));
  tg_string_free(json);
  tg_governor_free(bad);

  /* Unreachable Redis, fail-closed: refusals, and capacity operations report the store error. */
  TgGovernor *down = NULL;
  OK(tg_governor_new_with_store(CONFIG, TG_CONFIG_FORMAT_TOML, 0,
                                "{\"redisUrl\": \"redis://127.0.0.1:1/\", \"failurePolicy\": \"closed\", \"timeoutMs\": 50}", &down));
  OK(tg_register(down, "acme", NULL, 0));
  OK(tg_check(down, "acme", NULL, 1, 5000, &d));
  assert(!d.allowed && d.retry_after_ms == 1000);
  TgStatus s = tg_usage(down, "acme", NULL, TG_USAGE_OP_ADD, 10, 5000, &d);
  assert(s != TG_STATUS_OK && strcmp(tg_last_error_code(), "STORE_UNAVAILABLE") == 0);
  tg_governor_free(down);
  puts("test_redis: ok");
  return 0;
}
