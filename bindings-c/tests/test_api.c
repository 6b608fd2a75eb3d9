/* The C surface and its error paths, with plain asserts. Built twice (linked dynamically with
 * an rpath and statically) and run under valgrind by scripts/c-env.sh. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantguard.h"

#define OK(call) do { TgStatus s_ = (call); if (s_ != TG_STATUS_OK) { \
  fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call, tg_status_name(s_), tg_last_error_message()); abort(); } } while (0)

static const char *REJECT =
    "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 10\nburst_allowance = 1.0\n"
    "enforcement_action = \"reject\"\nmax_connections = 1\nstorage_quota_bytes = 1000\n";

static void abi(void) {
  assert(tg_abi_version() == TG_ABI_VERSION);
  assert(strcmp(tg_status_name(TG_STATUS_NOT_FOUND), "TG_STATUS_NOT_FOUND") == 0);
  assert(strcmp(tg_status_name(12345), "TG_STATUS_UNKNOWN") == 0);
}

static void decisions(void) {
  TgGovernor *gov = NULL;
  OK(tg_governor_new(REJECT, TG_CONFIG_FORMAT_TOML, 0, &gov));
  OK(tg_register(gov, "acme", NULL, 0));
  TgDecision d;
  for (int i = 0; i < 10; i++) {
    OK(tg_check(gov, "acme", NULL, 1, 1000, &d));
    assert(d.allowed && d.action == TG_ACTION_ALLOW && d.code == TG_CODE_NONE);
    assert(d.has_limit && d.limit == 10 && d.has_remaining && d.remaining == (uint64_t)(9 - i));
    assert(strcmp(d.resource, "qps") == 0);
  }
  OK(tg_check(gov, "acme", "qps", 1, 1000, &d)); /* a refusal is a decision, not an error */
  assert(!d.allowed && d.action == TG_ACTION_REJECT && d.code == TG_CODE_RATE_LIMITED && d.retry_after_ms > 0);
  OK(tg_peek(gov, "acme", NULL, 1, 1100, &d));
  assert(d.allowed && d.remaining == 0);

  /* Leases. */
  OK(tg_acquire(gov, "acme", NULL, NULL, 0, &d));
  assert(d.allowed && d.has_lease_id);
  uint64_t lease = d.lease_id;
  OK(tg_acquire(gov, "acme", "connections", NULL, 0, &d));
  assert(!d.allowed && d.code == TG_CODE_CONNECTION_LIMIT);
  OK(tg_release(gov, "acme", NULL, lease, 1, &d));
  assert(tg_release(gov, "acme", NULL, lease, 1, &d) == TG_STATUS_NOT_FOUND);
  assert(strcmp(tg_last_error_code(), "LEASE_NOT_FOUND") == 0);

  /* Usage: writes over the hard limit are refused. */
  OK(tg_usage(gov, "acme", NULL, TG_USAGE_OP_SET, 900, 0, &d));
  OK(tg_usage(gov, "acme", "storage", TG_USAGE_OP_ADD, 200, 0, &d));
  assert(!d.allowed && d.code == TG_CODE_STORAGE_QUOTA_EXCEEDED);
  OK(tg_usage(gov, "acme", NULL, TG_USAGE_OP_SUBTRACT, 500, 0, &d));
  assert(d.allowed);
  assert(tg_usage(gov, "acme", NULL, 7, 1, 0, &d) == TG_STATUS_INVALID_ARGUMENT);

  /* Transactions. */
  OK(tg_transaction(gov, "acme", NULL, TG_TRANSACTION_OP_BEGIN, 0, 0, &d));
  assert(d.allowed && d.has_lease_id);
  uint64_t txn = d.lease_id;
  OK(tg_transaction(gov, "acme", NULL, TG_TRANSACTION_OP_TOUCH, txn, 100, &d));
  OK(tg_transaction(gov, "acme", NULL, TG_TRANSACTION_OP_END, txn, 200, &d));
  assert(tg_transaction(gov, "acme", NULL, 42, txn, 200, &d) == TG_STATUS_INVALID_ARGUMENT);

  /* Handles share the tenant's state. */
  TgTenantHandle *h = NULL;
  OK(tg_handle_new(gov, "acme", &h));
  OK(tg_handle_check(h, NULL, 1, 1000, &d));
  assert(!d.allowed);
  OK(tg_handle_check(h, NULL, 1, 2000, &d));
  assert(d.allowed && d.remaining == 9);
  tg_handle_free(h);

  /* The clock. */
  uint64_t now = 0;
  OK(tg_now_ms(gov, &now));
  assert(now > 1700000000000ULL);
  OK(tg_check(gov, "acme", NULL, 1, TG_NOW, &d));
  tg_governor_free(gov);
}

static void long_resource_names(void) {
  /* 80 bytes of UTF-8 (multi-byte characters): returned whole, never truncated mid-character. */
  const char *name = "tokens_\xc3\xa9\xc3\xa9\xc3\xa9_\xf0\x9f\x9a\x80_0123456789012345678901234567890123456789012345678901";
  char cfg[512];
  snprintf(cfg, sizeof cfg,
           "[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"ai\"\n[[tenant_quotas.tiers.resources]]\n"
           "name = \"%s\"\nkind = \"rate\"\nwindows = [{ limit = 5, window = \"1s\" }]\n", name);
  TgGovernor *gov = NULL;
  OK(tg_governor_new(cfg, TG_CONFIG_FORMAT_TOML, 0, &gov));
  OK(tg_register(gov, "acme", "ai", 0));
  TgDecision d;
  OK(tg_check(gov, "acme", name, 1, 0, &d));
  assert(strlen(name) > 63 && strcmp(d.resource, name) == 0);
  assert(d.limit == 5 && d.remaining == 4);
  tg_governor_free(gov);
}

static void json_calls(void) {
  TgGovernor *gov = NULL;
  OK(tg_governor_new("{\"tenant_quotas\": {\"tiers\": [{\"name\": \"free\", \"max_qps\": 5}]}}", TG_CONFIG_FORMAT_JSON, 60, &gov));
  char *out = NULL;
  OK(tg_call(gov, "registerTenant", "{\"name\": \"acme\", \"plan\": \"free\"}", 0, &out));
  assert(strstr(out, "\"name\":\"acme\"") != NULL);
  tg_string_free(out);
  OK(tg_call(gov, "listPlans", NULL, 0, &out));
  assert(strstr(out, "\"enterprise\"") != NULL);
  tg_string_free(out);
  OK(tg_call(gov, "prometheus", "{}", 0, &out));
  assert(strstr(out, "tenantguard_") != NULL);
  tg_string_free(out);
  /* RLS through the same entry point. */
  OK(tg_call(gov, "rlsEnable", "{\"table\": \"docs\", \"on\": true}", 0, &out));
  tg_string_free(out);
  OK(tg_call(gov, "rlsCreatePolicy", "{\"table\": \"docs\", \"policy\": {\"name\": \"iso\", \"using\": \"tenant_id = current_setting('app.t')\"}}", 0, &out));
  tg_string_free(out);
  OK(tg_call(gov, "rlsFilter", "{\"table\": \"docs\", \"rows\": [{\"tenant_id\": \"a\"}, {\"tenant_id\": \"b\"}], \"context\": {\"settings\": {\"app.t\": \"b\"}}}", 0, &out));
  assert(strcmp(out, "{\"indices\":[1]}") == 0);
  tg_string_free(out);
  out = (char *)0x1;
  assert(tg_call(gov, "noSuchOp", NULL, 0, &out) == TG_STATUS_INVALID_ARGUMENT);
  assert(out == (char *)0x1); /* untouched on failure */
  assert(tg_call(gov, "status", "{not json", 0, &out) == TG_STATUS_INVALID_ARGUMENT);
  assert(tg_call(gov, "status", "{\"tenant\": \"ghost\"}", 0, &out) == TG_STATUS_NOT_FOUND);
  /* The per-user quota refuses with an error status carrying the decision. */
  TgGovernor *users = NULL;
  OK(tg_governor_new(NULL, TG_CONFIG_FORMAT_TOML, 1, &users));
  OK(tg_call(users, "userQuotaCheck", "{\"user\": \"bob\"}", 0, &out));
  tg_string_free(out);
  assert(tg_call(users, "userQuotaCheck", "{\"user\": \"bob\"}", 0, &out) == TG_STATUS_QUOTA_EXCEEDED);
  char *err = tg_last_error_json();
  assert(strstr(err, "\"code\":\"RATE_LIMITED\"") && strstr(err, "\"decision\""));
  tg_string_free(err);
  tg_governor_free(users);
  tg_governor_free(gov);
}

static void errors(void) {
  TgGovernor *gov = NULL;
  TgDecision d;
  /* Configuration errors carry the key and line. */
  assert(tg_governor_new("[tenant_quotas]\nwat = 1\n", TG_CONFIG_FORMAT_TOML, 0, &gov) == TG_STATUS_CONFIG_INVALID);
  assert(gov == NULL);
  assert(strcmp(tg_last_error_code(), "CONFIG_INVALID") == 0);
  char *err = tg_last_error_json();
  assert(strstr(err, "\"key\":\"tenant_quotas.wat\"") && strstr(err, "\"line\":2"));
  tg_string_free(err);
  assert(tg_governor_new("{}", 9, 0, &gov) == TG_STATUS_INVALID_ARGUMENT);
  assert(tg_governor_new(NULL, TG_CONFIG_FORMAT_TOML, 0, NULL) == TG_STATUS_NULL_ARGUMENT);
  OK(tg_governor_new(NULL, TG_CONFIG_FORMAT_TOML, 0, &gov));
  OK(tg_register(gov, "acme", "free", 0));
  /* NULL handles, strings and out-parameters: an error status, never a crash. */
  assert(tg_check(NULL, "acme", NULL, 1, 0, &d) == TG_STATUS_NULL_ARGUMENT);
  assert(strcmp(tg_last_error_code(), "NULL_ARGUMENT") == 0);
  assert(tg_check(gov, NULL, NULL, 1, 0, &d) == TG_STATUS_NULL_ARGUMENT);
  assert(tg_check(gov, "acme", NULL, 1, 0, NULL) == TG_STATUS_NULL_ARGUMENT);
  assert(tg_handle_check(NULL, NULL, 1, 0, &d) == TG_STATUS_NULL_ARGUMENT);
  assert(tg_now_ms(NULL, NULL) == TG_STATUS_NULL_ARGUMENT);
  assert(tg_call(gov, NULL, NULL, 0, NULL) == TG_STATUS_NULL_ARGUMENT);
  tg_governor_free(NULL);
  tg_handle_free(NULL);
  tg_string_free(NULL);
  /* Invalid UTF-8. */
  assert(tg_check(gov, "acme\xff", NULL, 1, 0, &d) == TG_STATUS_INVALID_UTF8);
  assert(strcmp(tg_last_error_code(), "INVALID_UTF8") == 0);
  assert(tg_register(gov, "x", "\xc3\x28", 0) == TG_STATUS_INVALID_UTF8);
  /* Typed errors. */
  assert(tg_check(gov, "ghost", NULL, 1, 0, &d) == TG_STATUS_NOT_FOUND);
  assert(strcmp(tg_last_error_code(), "TENANT_NOT_FOUND") == 0);
  assert(strstr(tg_last_error_message(), "ghost") != NULL);
  assert(tg_register(gov, "acme", NULL, 0) == TG_STATUS_CONFLICT);
  assert(tg_register(gov, "other", "no-such-plan", 0) == TG_STATUS_NOT_FOUND);
  assert(tg_usage(gov, "acme", "qps", TG_USAGE_OP_ADD, 1, 0, &d) == TG_STATUS_INVALID_ARGUMENT); /* wrong kind */
  assert(strcmp(tg_last_error_code(), "WRONG_RESOURCE_KIND") == 0);
  TgTenantHandle *h = (TgTenantHandle *)0x1;
  assert(tg_handle_new(gov, "ghost", &h) == TG_STATUS_NOT_FOUND);
  assert(h == (TgTenantHandle *)0x1);
  tg_governor_free(gov);
}

int main(void) {
  abi();
  decisions();
  long_resource_names();
  json_calls();
  errors();
  puts("test_api: all passed");
  return 0;
}
