/* The JNI shim of dev.tenantguard.Native, written on the C ABI (tenantguard.h) and linked with
 * libtenantguard.a into libtenantguard_jni.so. It converts and nothing else:
 * - strings arrive as UTF-8 byte[], or (the tenant of a check) as a String encoded to UTF-8 here
 *   from its UTF-16; JNI's modified UTF-8 is never used, so non-BMP characters survive;
 * - a failing call throws the exception TenantGuardException.create(status, code, message, json)
 *   builds from UTF-8 byte[]s (class and method IDs cached in JNI_OnLoad); a string with a NUL
 *   character is refused (InvalidArgumentException) instead of being cut short;
 * - decisions are written into a long[16] the Java side turns into a record.
 * Panics cannot cross: every tg_* call already catches them (TG_STATUS_PANIC). */
#include <jni.h>
#include <stdlib.h>
#include <string.h>

#include "tenantguard.h"

static jclass exception_class;  /* global ref: dev.tenantguard.TenantGuardException */
static jmethodID exception_create;
static jclass illegal_state;    /* global ref: java.lang.IllegalStateException */

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
  (void)reserved;
  JNIEnv *env;
  if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
  jclass c = (*env)->FindClass(env, "dev/tenantguard/TenantGuardException");
  if (!c) return JNI_ERR;
  exception_class = (*env)->NewGlobalRef(env, c);
  exception_create = (*env)->GetStaticMethodID(env, c, "create", "(I[B[B[B)Ldev/tenantguard/TenantGuardException;");
  jclass i = (*env)->FindClass(env, "java/lang/IllegalStateException");
  if (!exception_create || !i) return JNI_ERR;
  illegal_state = (*env)->NewGlobalRef(env, i);
  return JNI_VERSION_1_8;
}

JNIEXPORT void JNICALL JNI_OnUnload(JavaVM *vm, void *reserved) {
  (void)reserved;
  JNIEnv *env;
  if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) return;
  (*env)->DeleteGlobalRef(env, exception_class);
  (*env)->DeleteGlobalRef(env, illegal_state);
}

/* A byte[] holding `s` (NULL for NULL); Java decodes it as UTF-8 (NewStringUTF would expect
 * modified UTF-8). Returns NULL with an exception pending if the JVM is out of memory. */
static jbyteArray bytes_of(JNIEnv *env, const char *s) {
  if (!s) return NULL;
  jsize n = (jsize)strlen(s);
  jbyteArray bytes = (*env)->NewByteArray(env, n);
  if (bytes) (*env)->SetByteArrayRegion(env, bytes, 0, n, (const jbyte *)s);
  return bytes;
}

/* Throws the exception TenantGuardException.create builds for `status`, described by `code`,
 * `message` and `json`; if that fails, whatever the JVM raised (or an IllegalStateException). */
static void throw_error(JNIEnv *env, TgStatus status, const char *code, const char *message, const char *json) {
  jbyteArray c = bytes_of(env, code), m = NULL, j = NULL;
  if (!(*env)->ExceptionCheck(env)) m = bytes_of(env, message);
  if (!(*env)->ExceptionCheck(env)) j = bytes_of(env, json);
  if ((*env)->ExceptionCheck(env)) return; /* out of memory: that error is already pending */
  jobject ex = (*env)->CallStaticObjectMethod(env, exception_class, exception_create, (jint)status, c, m, j);
  if ((*env)->ExceptionCheck(env)) return;
  if (ex) (*env)->Throw(env, (jthrowable)ex);
  else (*env)->ThrowNew(env, illegal_state, message ? message : "tenantguard: unknown error");
}

/* Throws the exception for `status` (the last error of this thread describes it). */
static void throw_status(JNIEnv *env, TgStatus status) {
  char *json = tg_last_error_json();
  throw_error(env, status, tg_last_error_code(), tg_last_error_message(), json);
  tg_string_free(json);
}

/* A NUL-terminated copy of a byte[] (NULL for a null array). `small` avoids malloc for short
 * strings; the result must be released with release_text. Returns 0 on allocation failure. */
typedef struct { char *ptr; int heap; } Text;

static void release_text(Text *t) {
  if (t->heap) free(t->ptr);
}

static int text(JNIEnv *env, jbyteArray bytes, char *small, size_t small_len, Text *out) {
  out->ptr = NULL;
  out->heap = 0;
  if (!bytes) return 1;
  jsize n = (*env)->GetArrayLength(env, bytes);
  char *buf = small;
  if ((size_t)n + 1 > small_len) {
    buf = malloc((size_t)n + 1);
    if (!buf) {
      (*env)->ThrowNew(env, illegal_state, "out of memory");
      return 0;
    }
    out->heap = 1;
  }
  (*env)->GetByteArrayRegion(env, bytes, 0, n, (jbyte *)buf);
  buf[n] = 0;
  out->ptr = buf;
  if (memchr(buf, 0, (size_t)n)) { /* a C string would silently end early: refuse it */
    release_text(out);
    out->ptr = NULL;
    throw_error(env, TG_STATUS_INVALID_ARGUMENT, "INVALID_ARGUMENT", "a string argument contains a NUL character", NULL);
    return 0;
  }
  return 1;
}

/* A NUL-terminated UTF-8 copy of a Java String, encoded here from its UTF-16 (no byte[] is
 * allocated on the Java side, and no modified UTF-8 is involved). A NUL character or an unpaired
 * surrogate is refused with InvalidArgumentException. Release with release_text. */
static int string_text(JNIEnv *env, jstring str, char *small, size_t small_len, Text *out) {
  out->ptr = NULL;
  out->heap = 0;
  if (!str) return 1;
  jsize n = (*env)->GetStringLength(env, str);
  jchar units_small[128];
  jchar *u = units_small;
  if (n > 128 && !(u = malloc((size_t)n * sizeof(jchar)))) {
    (*env)->ThrowNew(env, illegal_state, "out of memory");
    return 0;
  }
  (*env)->GetStringRegion(env, str, 0, n, u);
  size_t need = (size_t)n * 3 + 1;
  char *buf = small;
  if (need > small_len) {
    if (!(buf = malloc(need))) {
      if (u != units_small) free(u);
      (*env)->ThrowNew(env, illegal_state, "out of memory");
      return 0;
    }
    out->heap = 1;
  }
  out->ptr = buf;
  size_t k = 0;
  const char *bad = NULL;
  for (jsize i = 0; i < n && !bad; i++) {
    uint32_t c = u[i];
    if (c == 0) {
      bad = "a string argument contains a NUL character";
    } else if (c < 0x80) {
      buf[k++] = (char)c;
    } else if (c < 0x800) {
      buf[k++] = (char)(0xc0 | (c >> 6));
      buf[k++] = (char)(0x80 | (c & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff) {
      uint32_t cp = 0x10000 + ((c - 0xd800) << 10) + (u[++i] - 0xdc00); /* a surrogate pair: 4 bytes */
      buf[k++] = (char)(0xf0 | (cp >> 18));
      buf[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
      buf[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
      buf[k++] = (char)(0x80 | (cp & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdfff) {
      bad = "a string argument contains an unpaired surrogate";
    } else {
      buf[k++] = (char)(0xe0 | (c >> 12));
      buf[k++] = (char)(0x80 | ((c >> 6) & 0x3f));
      buf[k++] = (char)(0x80 | (c & 0x3f));
    }
  }
  buf[k] = 0;
  if (u != units_small) free(u);
  if (bad) {
    release_text(out);
    out->ptr = NULL;
    throw_error(env, TG_STATUS_INVALID_ARGUMENT, "INVALID_ARGUMENT", bad, NULL);
    return 0;
  }
  return 1;
}

static uint64_t now_of(jlong now) { return now == -1 ? TG_NOW : (uint64_t)now; }

/* Slot 15 is the address of the decision's static resource name: Java resolves it once per
 * name (Native.resourceName) and caches the String. */
static void write_decision(JNIEnv *env, jlongArray out, const TgDecision *d) {
  jlong s[16] = {
      d->allowed, d->action, d->code, d->has_limit, (jlong)d->limit, d->has_remaining, (jlong)d->remaining,
      (jlong)d->retry_after_ms, (jlong)d->reset_ms, (jlong)d->delay_ms, d->shadow,
      d->has_lease_id, (jlong)d->lease_id, d->has_ticket, (jlong)d->ticket, (jlong)(intptr_t)d->resource,
  };
  (*env)->SetLongArrayRegion(env, out, 0, 16, s);
}

JNIEXPORT jbyteArray JNICALL Java_dev_tenantguard_Native_resourceName(JNIEnv *env, jclass cls, jlong name) {
  (void)cls;
  return bytes_of(env, (const char *)(intptr_t)name);
}

JNIEXPORT jint JNICALL Java_dev_tenantguard_Native_abiVersion(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return (jint)tg_abi_version();
}

JNIEXPORT jlong JNICALL Java_dev_tenantguard_Native_governorNew(JNIEnv *env, jclass cls, jbyteArray config, jint format, jint rpm, jbyteArray store) {
  (void)cls;
  char small[256], small_store[256];
  Text c, st;
  if (!text(env, config, small, sizeof small, &c)) return 0;
  if (!text(env, store, small_store, sizeof small_store, &st)) {
    release_text(&c);
    return 0;
  }
  TgGovernor *gov = NULL;
  TgStatus s = tg_governor_new_with_store(c.ptr, format, rpm < 0 ? 0 : (uint32_t)rpm, st.ptr, &gov);
  release_text(&st);
  release_text(&c);
  if (s != TG_STATUS_OK) {
    throw_status(env, s);
    return 0;
  }
  return (jlong)(intptr_t)gov;
}

JNIEXPORT void JNICALL Java_dev_tenantguard_Native_governorFree(JNIEnv *env, jclass cls, jlong gov) {
  (void)env;
  (void)cls;
  tg_governor_free((TgGovernor *)(intptr_t)gov);
}

JNIEXPORT jlong JNICALL Java_dev_tenantguard_Native_nowMs(JNIEnv *env, jclass cls, jlong gov) {
  (void)cls;
  uint64_t now = 0;
  TgStatus s = tg_now_ms((const TgGovernor *)(intptr_t)gov, &now);
  if (s != TG_STATUS_OK) throw_status(env, s);
  return (jlong)now;
}

JNIEXPORT void JNICALL Java_dev_tenantguard_Native_register(JNIEnv *env, jclass cls, jlong gov, jbyteArray name, jbyteArray plan, jlong now) {
  (void)cls;
  char a[256], b[256];
  Text n, p;
  if (!text(env, name, a, sizeof a, &n)) return;
  if (!text(env, plan, b, sizeof b, &p)) { release_text(&n); return; }
  TgStatus s = tg_register((const TgGovernor *)(intptr_t)gov, n.ptr, p.ptr, now_of(now));
  release_text(&n);
  release_text(&p);
  if (s != TG_STATUS_OK) throw_status(env, s);
}

/* op: 0 check(a = cost), 1 peek(a = cost), 2 acquire(a = ticket, b = has ticket), 3 release(a = lease),
 * 4 usage(a = TgUsageOp, b = amount), 5 transaction(a = TgTransactionOp, b = lease). */
JNIEXPORT void JNICALL Java_dev_tenantguard_Native_decide(JNIEnv *env, jclass cls, jint op, jlong gov, jstring tenant,
                                                          jbyteArray resource, jlong a, jlong b, jlong now, jlongArray out) {
  (void)cls;
  if (!out || (*env)->GetArrayLength(env, out) < 16) {
    (*env)->ThrowNew(env, illegal_state, "decision buffer must hold 16 longs");
    return;
  }
  char ta[256], ra[128];
  Text t, r;
  if (!string_text(env, tenant, ta, sizeof ta, &t)) return;
  if (!text(env, resource, ra, sizeof ra, &r)) { release_text(&t); return; }
  const TgGovernor *g = (const TgGovernor *)(intptr_t)gov;
  TgDecision d;
  uint64_t ticket = (uint64_t)a;
  TgStatus s;
  switch (op) {
    case 0: s = tg_check(g, t.ptr, r.ptr, (uint64_t)a, now_of(now), &d); break;
    case 1: s = tg_peek(g, t.ptr, r.ptr, (uint64_t)a, now_of(now), &d); break;
    case 2: s = tg_acquire(g, t.ptr, r.ptr, b ? &ticket : NULL, now_of(now), &d); break;
    case 3: s = tg_release(g, t.ptr, r.ptr, (uint64_t)a, now_of(now), &d); break;
    case 4: s = tg_usage(g, t.ptr, r.ptr, (int32_t)a, (uint64_t)b, now_of(now), &d); break;
    case 5: s = tg_transaction(g, t.ptr, r.ptr, (int32_t)a, (uint64_t)b, now_of(now), &d); break;
    default:
      release_text(&t);
      release_text(&r);
      (*env)->ThrowNew(env, illegal_state, "unknown operation");
      return;
  }
  release_text(&t);
  release_text(&r);
  if (s != TG_STATUS_OK) throw_status(env, s);
  else write_decision(env, out, &d);
}

JNIEXPORT jlong JNICALL Java_dev_tenantguard_Native_handleNew(JNIEnv *env, jclass cls, jlong gov, jbyteArray tenant) {
  (void)cls;
  char ta[256];
  Text t;
  if (!text(env, tenant, ta, sizeof ta, &t)) return 0;
  TgTenantHandle *h = NULL;
  TgStatus s = tg_handle_new((const TgGovernor *)(intptr_t)gov, t.ptr, &h);
  release_text(&t);
  if (s != TG_STATUS_OK) {
    throw_status(env, s);
    return 0;
  }
  return (jlong)(intptr_t)h;
}

JNIEXPORT void JNICALL Java_dev_tenantguard_Native_handleCheck(JNIEnv *env, jclass cls, jlong handle, jbyteArray resource,
                                                               jlong cost, jlong now, jlongArray out) {
  (void)cls;
  if (!out || (*env)->GetArrayLength(env, out) < 16) {
    (*env)->ThrowNew(env, illegal_state, "decision buffer must hold 16 longs");
    return;
  }
  char ra[128];
  Text r;
  if (!text(env, resource, ra, sizeof ra, &r)) return;
  TgDecision d;
  TgStatus s = tg_handle_check((const TgTenantHandle *)(intptr_t)handle, r.ptr, (uint64_t)cost, now_of(now), &d);
  release_text(&r);
  if (s != TG_STATUS_OK) throw_status(env, s);
  else write_decision(env, out, &d);
}

JNIEXPORT void JNICALL Java_dev_tenantguard_Native_handleFree(JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  tg_handle_free((TgTenantHandle *)(intptr_t)handle);
}

JNIEXPORT jbyteArray JNICALL Java_dev_tenantguard_Native_call(JNIEnv *env, jclass cls, jlong gov, jbyteArray op,
                                                              jbyteArray args, jlong now) {
  (void)cls;
  char oa[128], aa[1024];
  Text o, a;
  if (!text(env, op, oa, sizeof oa, &o)) return NULL;
  if (!text(env, args, aa, sizeof aa, &a)) { release_text(&o); return NULL; }
  char *json = NULL;
  TgStatus s = tg_call((const TgGovernor *)(intptr_t)gov, o.ptr, a.ptr, now_of(now), &json);
  release_text(&o);
  release_text(&a);
  if (s != TG_STATUS_OK) {
    throw_status(env, s);
    return NULL;
  }
  jsize n = (jsize)strlen(json);
  jbyteArray out = (*env)->NewByteArray(env, n);
  if (out) (*env)->SetByteArrayRegion(env, out, 0, n, (const jbyte *)json);
  tg_string_free(json);
  return out;
}
