/* Hostile input through the C ABI: random bytes as names (invalid UTF-8 included), random and
 * truncated JSON to tg_call, out-of-range enum values and huge numbers. Every call must return
 * a defined TgStatus with a last error set, never crash, and never panic (TG_STATUS_PANIC).
 * Deterministic (fixed seed); run under valgrind by scripts/c-env.sh. */
#undef NDEBUG
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantguard.h"

extern TgStatus tg__test_panic(void); /* test hook, not in the header */

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void) { /* xorshift64* */
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545f4914f6cdd1dULL;
}

static void random_bytes(char *buf, size_t cap) {
  size_t n = next() % (cap - 1);
  for (size_t i = 0; i < n; i++) {
    char c = (char)(next() & 0xff);
    buf[i] = c ? c : 'x';
  }
  buf[n] = 0;
}

static const char *OPS[] = {"registerTenant", "check", "peek", "acquire", "release", "setUsage", "addUsage", "begin", "touch",
                            "end", "status", "usage", "createPlan", "setOverride", "reload", "rlsCreatePolicy",
                            "rlsFilter", "rlsCanSelect", "userQuotaCheck", "rateLimiterCheck", "listPlans", "nope"};
static const char *FRAGMENTS[] = {"{", "}", "[", "]", "\"tenant\"", "\"acme\"", ":", ",", "\"resource\"", "\"qps\"", "-1",
                                  "18446744073709551616", "1e308", "null", "true", "\"cost\"", "\"policy\"",
                                  "{\"name\":\"p\",\"using\":\"", "tenant_id = current_tenant()", "((((", "\"\\ud800\"",
                                  "\"rows\"", "[{\"a\":1}]", "\"table\"", "\"t\"", "\"toml\"", "\"[x\"", "0", "\"plan\""};

static void check_status(TgStatus s) {
  assert(s != TG_STATUS_PANIC);
  assert((int)s >= TG_STATUS_OK && (int)s <= TG_STATUS_PANIC);
  if (s != TG_STATUS_OK) {
    assert(tg_last_error_code() != NULL && tg_last_error_message() != NULL);
    char *json = tg_last_error_json();
    assert(json && json[0] == '{');
    tg_string_free(json);
  }
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 3000;
  TgGovernor *gov = NULL;
  assert(tg_governor_new(NULL, TG_CONFIG_FORMAT_TOML, 0, &gov) == TG_STATUS_OK);
  assert(tg_register(gov, "acme", NULL, 0) == TG_STATUS_OK);
  char name[64], json[512];
  TgDecision d;
  int ok = 0;
  for (int i = 0; i < rounds; i++) {
    random_bytes(name, sizeof name);
    uint64_t n = next();
    check_status(tg_check(gov, name, (i % 3) ? NULL : name, n % 4 ? 1 : n, n, &d));
    check_status(tg_register(gov, name, (i % 5) ? NULL : name, 0));
    check_status(tg_usage(gov, "acme", (i % 2) ? NULL : name, (int32_t)(n % 7) - 2, n, 0, &d));
    check_status(tg_transaction(gov, "acme", NULL, (int32_t)(n % 5) - 1, n, 0, &d));
    /* JSON built from fragments: mostly malformed, sometimes valid. */
    json[0] = 0;
    const char *op = OPS[next() % (sizeof OPS / sizeof *OPS)];
    if (i % 4 == 0) { /* well-formed JSON with hostile values */
      static const char *TEMPLATES[][2] = {
          {"check", "{\"tenant\": \"acme\", \"cost\": %llu}"},
          {"setUsage", "{\"tenant\": \"acme\", \"amount\": %llu}"},
          {"status", "{\"tenant\": \"acme\", \"nowMs\": %llu}"},
          {"rateLimiterCheck", "{\"window\": %llu, \"key\": \"k\", \"limit\": 3}"},
          {"userQuotaSet", "{\"user\": \"u\", \"rpm\": %llu}"},
          {"setOverride", "{\"tenant\": \"acme\", \"override\": {\"resource\": \"qps\", \"limit\": %llu}}"},
      };
      int t = (int)(next() % 6);
      op = TEMPLATES[t][0];
      snprintf(json, sizeof json, TEMPLATES[t][1], (unsigned long long)(next() >> (next() % 64)));
    } else {
      int parts = (int)(next() % 12);
      for (int p = 0; p < parts; p++) strncat(json, FRAGMENTS[next() % (sizeof FRAGMENTS / sizeof *FRAGMENTS)], sizeof json - strlen(json) - 1);
    }
    char *out = NULL;
    TgStatus s = tg_call(gov, op, json, n % 2 ? TG_NOW : n % 100000, &out);
    check_status(s);
    if (s == TG_STATUS_OK) {
      ok++;
      assert(out != NULL);
      tg_string_free(out);
    }
    TgGovernor *g2 = NULL;
    s = tg_governor_new(json, (int32_t)(n % 4) - 1, (uint32_t)n, &g2);
    check_status(s);
    tg_governor_free(g2);
  }
  /* A panic inside the library (through a test hook the header leaves out) comes back as
   * TG_STATUS_PANIC with the last error set, and the library stays usable. */
  assert(tg__test_panic() == TG_STATUS_PANIC);
  assert(strcmp(tg_last_error_code(), "PANIC") == 0);
  assert(strstr(tg_last_error_message(), "panic caught at the C boundary") != NULL);
  /* The governor still works after all of that. */
  assert(tg_check(gov, "acme", NULL, 1, TG_NOW, &d) == TG_STATUS_OK);
  tg_governor_free(gov);
  printf("test_hostile: %d rounds, %d JSON calls accepted, no crash, no panic from the input; the deliberate panic was caught\n", rounds, ok);
  return 0;
}
