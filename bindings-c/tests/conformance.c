/* Replays every scenario of tests/conformance/ through the C API and checks the answers.
 * JSON is read with cJSON (Debian's libcjson-dev). The typed C functions (tg_check, tg_peek,
 * tg_acquire, tg_release, tg_usage, tg_transaction) are driven directly and their TgDecision
 * turned into the corpus's JSON shape; the other operations go through tg_call.
 *   usage: conformance <corpus-dir>       exit status 0 when every scenario passes */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tenantguard.h"

static int failures;
static char where[512];

static void fail(const char *fmt, const char *a, const char *b) {
  failures++;
  fprintf(stderr, "FAIL %s: ", where);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
  if (buf) buf[n] = 0;
  fclose(f);
  return buf;
}

/* ---- matching (subset semantics, as in tests/conformance/README.md) ---- */

static void match(const cJSON *exp, const cJSON *act, const char *path);

static int is_matcher(const cJSON *exp) {
  return cJSON_IsObject(exp) && exp->child && exp->child->string && exp->child->string[0] == '$';
}

static void show(const char *path, const cJSON *exp, const cJSON *act) {
  char *e = cJSON_PrintUnformatted(exp), *a = act ? cJSON_PrintUnformatted(act) : NULL;
  failures++;
  fprintf(stderr, "FAIL %s: %s: expected %s, got %s\n", where, path, e ? e : "?", a ? a : "(missing)");
  free(e);
  free(a);
}

static void match(const cJSON *exp, const cJSON *act, const char *path) {
  if (is_matcher(exp)) {
    for (const cJSON *m = exp->child; m; m = m->next) {
      int ok = 0;
      if (!strcmp(m->string, "$gte")) ok = cJSON_IsNumber(act) && act->valuedouble >= m->valuedouble;
      else if (!strcmp(m->string, "$lte")) ok = cJSON_IsNumber(act) && act->valuedouble <= m->valuedouble;
      else if (!strcmp(m->string, "$gt")) ok = cJSON_IsNumber(act) && act->valuedouble > m->valuedouble;
      else if (!strcmp(m->string, "$lt")) ok = cJSON_IsNumber(act) && act->valuedouble < m->valuedouble;
      else if (!strcmp(m->string, "$contains")) ok = cJSON_IsString(act) && strstr(act->valuestring, m->valuestring);
      else if (!strcmp(m->string, "$len")) ok = cJSON_IsArray(act) && cJSON_GetArraySize(act) == m->valueint;
      if (!ok) show(path, exp, act);
    }
  } else if (cJSON_IsArray(exp)) {
    if (!cJSON_IsArray(act) || cJSON_GetArraySize(act) != cJSON_GetArraySize(exp)) { show(path, exp, act); return; }
    int i = 0;
    for (const cJSON *e = exp->child, *a = act->child; e && a; e = e->next, a = a->next, i++) {
      char sub[400];
      snprintf(sub, sizeof sub, "%s[%d]", path, i);
      match(e, a, sub);
    }
  } else if (cJSON_IsObject(exp)) {
    if (!cJSON_IsObject(act)) { show(path, exp, act); return; }
    for (const cJSON *e = exp->child; e; e = e->next) {
      const cJSON *a = cJSON_GetObjectItemCaseSensitive(act, e->string);
      char sub[400];
      snprintf(sub, sizeof sub, "%s.%s", path, e->string);
      if (!a || cJSON_IsNull(a)) {
        if (!cJSON_IsNull(e)) show(sub, e, a);
      } else {
        match(e, a, sub);
      }
    }
  } else if (cJSON_IsNumber(exp)) {
    if (!cJSON_IsNumber(act) || act->valuedouble != exp->valuedouble) show(path, exp, act);
  } else if (cJSON_IsString(exp)) {
    if (!cJSON_IsString(act) || strcmp(exp->valuestring, act->valuestring)) show(path, exp, act);
  } else if (cJSON_IsBool(exp)) {
    if (!cJSON_IsBool(act) || cJSON_IsTrue(exp) != cJSON_IsTrue(act)) show(path, exp, act);
  } else if (cJSON_IsNull(exp)) {
    if (act && !cJSON_IsNull(act)) show(path, exp, act);
  }
}

/* ---- $variables ---- */

static cJSON *env;

static cJSON *substitute(const cJSON *v) {
  if (cJSON_IsString(v) && v->valuestring[0] == '$') {
    const cJSON *bound = cJSON_GetObjectItemCaseSensitive(env, v->valuestring + 1);
    if (bound) return cJSON_Duplicate(bound, 1);
  }
  cJSON *copy = cJSON_Duplicate(v, 0);
  if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
    for (const cJSON *c = v->child; c; c = c->next) {
      cJSON *s = substitute(c);
      if (cJSON_IsObject(v)) cJSON_AddItemToObject(copy, c->string, s);
      else cJSON_AddItemToArray(copy, s);
    }
  }
  return copy;
}

static const cJSON *field(const cJSON *v, const char *dotted) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", dotted);
  for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) {
    char *end;
    long i = strtol(tok, &end, 10);
    v = (*end == 0 && cJSON_IsArray(v)) ? cJSON_GetArrayItem(v, (int)i) : cJSON_GetObjectItemCaseSensitive(v, tok);
  }
  return v;
}

/* ---- the C API, driven directly ---- */

static const char *ACTIONS[] = {"allow", "warn", "throttle", "queue", "reject"};
static const char *CODES[] = {NULL, "QUOTA_EXCEEDED", "RATE_LIMITED", "CONNECTION_LIMIT", "CONCURRENCY_LIMIT",
                              "STORAGE_QUOTA_EXCEEDED", "QUOTA_WARNING", "TRANSACTION_TIMEOUT",
                              "IDLE_IN_TRANSACTION_TIMEOUT", "FEATURE_NOT_IN_PLAN", "COST_EXCEEDS_LIMIT", "QUEUE_TIMEOUT"};

static cJSON *decision_json(const TgDecision *d) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "allowed", d->allowed);
  cJSON_AddStringToObject(o, "action", (unsigned)d->action < sizeof ACTIONS / sizeof *ACTIONS ? ACTIONS[d->action] : "?");
  if (d->code == TG_CODE_NONE) cJSON_AddNullToObject(o, "code");
  else if ((int)d->code < (int)(sizeof CODES / sizeof *CODES)) cJSON_AddStringToObject(o, "code", CODES[d->code]);
  else cJSON_AddStringToObject(o, "code", "OTHER");
  cJSON_AddStringToObject(o, "resource", d->resource);
#define OPT(name, has, v) if (has) cJSON_AddNumberToObject(o, name, (double)(v)); else cJSON_AddNullToObject(o, name)
  OPT("limit", d->has_limit, d->limit);
  OPT("remaining", d->has_remaining, d->remaining);
  OPT("leaseId", d->has_lease_id, d->lease_id);
  OPT("ticket", d->has_ticket, d->ticket);
#undef OPT
  cJSON_AddNumberToObject(o, "retryAfterMs", (double)d->retry_after_ms);
  cJSON_AddNumberToObject(o, "resetMs", (double)d->reset_ms);
  cJSON_AddNumberToObject(o, "delayMs", (double)d->delay_ms);
  cJSON_AddBoolToObject(o, "shadow", d->shadow);
  return o;
}

/* Whether every key of `args` is one of `allowed` (space-separated) and has a usable type. */
static int only(const cJSON *args, const char *allowed) {
  for (const cJSON *a = args->child; a; a = a->next) {
    char key[64];
    snprintf(key, sizeof key, " %s ", a->string);
    char list[256];
    snprintf(list, sizeof list, " %s ", allowed);
    if (!strstr(list, key)) return 0;
    if (!strcmp(a->string, "tenant") || !strcmp(a->string, "resource")) {
      if (!cJSON_IsString(a)) return 0;
    } else if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble != (double)(uint64_t)a->valuedouble) {
      return 0;
    }
  }
  return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(args, "tenant"));
}

static uint64_t num(const cJSON *args, const char *key, uint64_t dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
  return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : dflt;
}

static const char *str(const cJSON *args, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Runs one operation; returns the answer, or NULL with *err set to the error object. */
static cJSON *run(TgGovernor *gov, const char *op, const cJSON *args, uint64_t at, cJSON **err) {
  TgDecision d;
  TgStatus s = TG_STATUS_OK;
  int typed = 1;
  uint64_t now = num(args, "nowMs", at);
  const char *tenant = str(args, "tenant"), *resource = str(args, "resource");
  if (!strcmp(op, "check") && only(args, "tenant resource cost nowMs")) {
    s = tg_check(gov, tenant, resource, num(args, "cost", 1), now, &d);
  } else if (!strcmp(op, "peek") && only(args, "tenant resource cost nowMs")) {
    s = tg_peek(gov, tenant, resource, num(args, "cost", 1), now, &d);
  } else if (!strcmp(op, "acquire") && resource && only(args, "tenant resource ticket nowMs")) {
    uint64_t ticket = num(args, "ticket", 0);
    s = tg_acquire(gov, tenant, resource, cJSON_GetObjectItemCaseSensitive(args, "ticket") ? &ticket : NULL, now, &d);
  } else if (!strcmp(op, "release") && resource && only(args, "tenant resource leaseId nowMs")) {
    s = tg_release(gov, tenant, resource, num(args, "leaseId", 0), now, &d);
  } else if ((!strcmp(op, "setUsage") || !strcmp(op, "addUsage") || !strcmp(op, "subtractUsage")) &&
             only(args, "tenant resource amount nowMs") && cJSON_GetObjectItemCaseSensitive(args, "amount")) {
    int u = op[0] == 's' && op[1] == 'e' ? TG_USAGE_OP_SET : op[0] == 'a' ? TG_USAGE_OP_ADD : TG_USAGE_OP_SUBTRACT;
    s = tg_usage(gov, tenant, resource, u, num(args, "amount", 0), now, &d);
  } else if (!strcmp(op, "begin") && resource && only(args, "tenant resource nowMs")) {
    s = tg_transaction(gov, tenant, resource, TG_TRANSACTION_OP_BEGIN, 0, now, &d);
  } else if ((!strcmp(op, "touch") || !strcmp(op, "end")) && resource && only(args, "tenant resource leaseId nowMs")) {
    int t = !strcmp(op, "touch") ? TG_TRANSACTION_OP_TOUCH : TG_TRANSACTION_OP_END;
    s = tg_transaction(gov, tenant, resource, t, num(args, "leaseId", 0), now, &d);
  } else {
    typed = 0;
  }
  if (typed) {
    if (s == TG_STATUS_OK) return decision_json(&d);
  } else {
    char *text = cJSON_PrintUnformatted(args);
    char *out = NULL;
    s = tg_call(gov, op, text, at, &out);
    free(text);
    if (s == TG_STATUS_OK) {
      cJSON *answer = cJSON_Parse(out);
      tg_string_free(out);
      return answer;
    }
  }
  char *e = tg_last_error_json();
  *err = cJSON_Parse(e);
  tg_string_free(e);
  return NULL;
}

static void scenario(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *text = read_file(path);
  cJSON *doc = text ? cJSON_Parse(text) : NULL;
  free(text);
  snprintf(where, sizeof where, "%s", name);
  if (!doc) { fail("cannot read %s%s", path, ""); return; }
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(doc, "config");
  const cJSON *rpm = cJSON_GetObjectItemCaseSensitive(doc, "userQuotaDefaultRpm");
  char *cfg = NULL;
  int format = TG_CONFIG_FORMAT_TOML;
  if (config) {
    const cJSON *toml = cJSON_GetObjectItemCaseSensitive(config, "toml"), *json = cJSON_GetObjectItemCaseSensitive(config, "json");
    if (toml) cfg = strdup(toml->valuestring);
    else if (cJSON_IsString(json)) { cfg = strdup(json->valuestring); format = TG_CONFIG_FORMAT_JSON; }
    else { cfg = cJSON_PrintUnformatted(json); format = TG_CONFIG_FORMAT_JSON; }
  }
  TgGovernor *gov = NULL;
  TgStatus s = tg_governor_new(cfg, format, rpm ? (uint32_t)rpm->valueint : 60, &gov);
  free(cfg);
  const cJSON *expect_cfg = cJSON_GetObjectItemCaseSensitive(doc, "expectConfigError");
  if (expect_cfg) {
    if (s == TG_STATUS_OK) fail("expected a config error%s%s", "", "");
    else {
      char *e = tg_last_error_json();
      cJSON *err = cJSON_Parse(e);
      tg_string_free(e);
      match(expect_cfg, err, "config error");
      cJSON_Delete(err);
    }
    tg_governor_free(gov);
    cJSON_Delete(doc);
    return;
  }
  if (s != TG_STATUS_OK) { fail("config failed to load: %s%s", tg_last_error_message(), ""); cJSON_Delete(doc); return; }
  env = cJSON_CreateObject();
  uint64_t at = 0;
  int i = 0;
  for (const cJSON *step = cJSON_GetObjectItemCaseSensitive(doc, "steps")->child; step; step = step->next, i++) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(step, "at");
    if (a) at = (uint64_t)a->valuedouble;
    const char *op = cJSON_GetObjectItemCaseSensitive(step, "op")->valuestring;
    const cJSON *raw_args = cJSON_GetObjectItemCaseSensitive(step, "args");
    cJSON *args = raw_args ? substitute(raw_args) : cJSON_CreateObject();
    const cJSON *raw_expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    const cJSON *raw_err = cJSON_GetObjectItemCaseSensitive(step, "expectError");
    cJSON *expect = raw_expect ? substitute(raw_expect) : NULL;
    cJSON *expect_err = raw_err ? substitute(raw_err) : NULL;
    if (cJSON_IsString(expect_err)) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "code", expect_err->valuestring);
      cJSON_Delete(expect_err);
      expect_err = o;
    }
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(step, "repeat");
    int repeat = rep ? rep->valueint : 1;
    cJSON *tally = cJSON_CreateObject(), *last = NULL;
    for (int r = 0; r < repeat && failures < 50; r++) {
      snprintf(where, sizeof where, "%s step %d (%s) run %d", name, i, op, r);
      cJSON *err = NULL;
      cJSON *answer = run(gov, op, args, at, &err);
      if (!answer) {
        if (!expect_err) {
          char *e = cJSON_PrintUnformatted(err);
          fail("unexpected error %s%s", e, "");
          free(e);
        } else {
          match(expect_err, err, "error");
        }
        cJSON_Delete(err);
        cJSON_Delete(last);
        last = NULL;
        continue;
      }
      if (expect_err) fail("expected an error, got an answer%s%s", "", "");
      else if (expect) match(expect, answer, "answer");
      const cJSON *action = cJSON_GetObjectItemCaseSensitive(answer, "action");
      if (cJSON_IsString(action)) {
        cJSON *n = cJSON_GetObjectItemCaseSensitive(tally, action->valuestring);
        if (n) cJSON_SetNumberValue(n, n->valuedouble + 1);
        else cJSON_AddNumberToObject(tally, action->valuestring, 1);
      }
      cJSON_Delete(last);
      last = answer;
    }
    snprintf(where, sizeof where, "%s step %d (%s)", name, i, op);
    const cJSON *expect_tally = cJSON_GetObjectItemCaseSensitive(step, "expectTally");
    for (const cJSON *t = expect_tally ? expect_tally->child : NULL; t; t = t->next) {
      const cJSON *got = cJSON_GetObjectItemCaseSensitive(tally, t->string);
      if ((got ? got->valueint : 0) != t->valueint) {
        char *g = cJSON_PrintUnformatted(tally);
        fail("tally %s: %s", t->string, g);
        free(g);
      }
    }
    const cJSON *bind = cJSON_GetObjectItemCaseSensitive(step, "bind");
    for (const cJSON *b = bind ? bind->child : NULL; b; b = b->next) {
      const cJSON *v = last ? field(last, b->valuestring) : NULL;
      if (!v) fail("cannot bind %s to %s", b->string, b->valuestring);
      else {
        cJSON_DeleteItemFromObjectCaseSensitive(env, b->string);
        cJSON_AddItemToObject(env, b->string, cJSON_Duplicate(v, 1));
      }
    }
    cJSON_Delete(last);
    cJSON_Delete(tally);
    cJSON_Delete(args);
    cJSON_Delete(expect);
    cJSON_Delete(expect_err);
  }
  cJSON_Delete(env);
  tg_governor_free(gov);
  cJSON_Delete(doc);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]); return 2; }
  if (tg_abi_version() != TG_ABI_VERSION) { fprintf(stderr, "ABI mismatch\n"); return 2; }
  DIR *d = opendir(argv[1]);
  if (!d) { perror(argv[1]); return 2; }
  char *names[1024];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 1024;) {
    size_t len = strlen(e->d_name);
    if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, by_name);
  for (int i = 0; i < n; i++) {
    int before = failures;
    scenario(argv[1], names[i]);
    printf("%s %s\n", failures == before ? "ok  " : "FAIL", names[i]);
    free(names[i]);
  }
  printf("C conformance: %d scenarios, %d failures\n", n, failures);
  if (n < 40) { fprintf(stderr, "the corpus must hold at least 40 scenarios\n"); return 1; }
  return failures ? 1 : 0;
}
