package dev.tenantguard;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Replays every scenario of tests/conformance/ through the Java API: the typed methods for
 * checks, leases, usage and transactions, {@link Governor#call} for the rest.
 */
class ConformanceTest {
    static final Path CORPUS = Path.of(System.getProperty("tenantguard.corpus", "../../tests/conformance"));
    // serializeNulls: a row's NULL column must reach the core as null, not vanish.
    static final Gson GSON = new GsonBuilder().serializeNulls().create();

    static List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(CORPUS)) {
            return s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
    }

    @Test
    void theCorpusIsComplete() throws IOException {
        assertTrue(files().size() >= 40, "the corpus must hold at least 40 scenarios");
    }

    @TestFactory
    Stream<DynamicTest> corpus() throws IOException {
        return files().stream().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> replay(p)));
    }

    static JsonObject decisionJson(Decision d) {
        JsonObject o = new JsonObject();
        o.addProperty("allowed", d.allowed());
        o.addProperty("action", d.action().wireName());
        o.add("code", d.code() == null ? JsonNull.INSTANCE : new JsonPrimitive(d.code()));
        o.addProperty("resource", d.resource());
        o.add("limit", unsigned(d.limit()));
        o.add("remaining", unsigned(d.remaining()));
        o.addProperty("retryAfterMs", d.retryAfterMs());
        o.addProperty("resetMs", d.resetMs());
        o.addProperty("delayMs", d.delayMs());
        o.addProperty("shadow", d.shadow());
        o.add("leaseId", d.leaseId() == null ? JsonNull.INSTANCE : new JsonPrimitive(d.leaseId()));
        o.add("ticket", d.ticket() == null ? JsonNull.INSTANCE : new JsonPrimitive(d.ticket()));
        return o;
    }

    static JsonElement unsigned(Long v) {
        // Java longs are signed: limits beyond 2^63 (u64::MAX for "unlimited") read back unsigned.
        return v == null ? JsonNull.INSTANCE : new JsonPrimitive(v >= 0 ? (double) v : Double.parseDouble(Long.toUnsignedString(v)));
    }

    static boolean only(JsonObject args, String... keys) {
        List<String> allowed = List.of(keys);
        for (Map.Entry<String, JsonElement> e : args.entrySet()) {
            if (!allowed.contains(e.getKey())) {
                return false;
            }
            JsonElement v = e.getValue();
            boolean isString = v.isJsonPrimitive() && v.getAsJsonPrimitive().isString();
            boolean isNumber = v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber();
            if (e.getKey().equals("tenant") || e.getKey().equals("resource")) {
                if (!isString) {
                    return false;
                }
            } else if (!isNumber || v.getAsDouble() < 0 || v.getAsDouble() != Math.floor(v.getAsDouble())) {
                return false;
            }
        }
        return args.has("tenant") && args.get("tenant").isJsonPrimitive() && args.get("tenant").getAsJsonPrimitive().isString();
    }

    static String str(JsonObject a, String k) {
        return a.has(k) ? a.get(k).getAsString() : null;
    }

    static long num(JsonObject a, String k, long dflt) {
        return a.has(k) ? a.get(k).getAsLong() : dflt;
    }

    /** Runs one step through the Java API; typed methods where one exists. */
    static JsonElement run(Governor gov, String op, JsonObject args, long at) {
        long now = num(args, "nowMs", at);
        String t = str(args, "tenant");
        String r = str(args, "resource");
        boolean hasR = r != null;
        Decision d = switch (op) {
            case "check" -> only(args, "tenant", "resource", "cost", "nowMs") ? gov.check(t, r, num(args, "cost", 1), now) : null;
            case "peek" -> only(args, "tenant", "resource", "cost", "nowMs") ? gov.peek(t, r, num(args, "cost", 1), now) : null;
            case "acquire" -> hasR && only(args, "tenant", "resource", "ticket", "nowMs")
                    ? gov.acquire(t, r, args.has("ticket") ? args.get("ticket").getAsLong() : null, now) : null;
            case "release" -> hasR && only(args, "tenant", "resource", "leaseId", "nowMs") ? gov.release(t, r, num(args, "leaseId", 0), now) : null;
            case "setUsage" -> args.has("amount") && only(args, "tenant", "resource", "amount", "nowMs") ? gov.setUsage(t, r, num(args, "amount", 0), now) : null;
            case "addUsage" -> args.has("amount") && only(args, "tenant", "resource", "amount", "nowMs") ? gov.addUsage(t, r, num(args, "amount", 0), now) : null;
            case "subtractUsage" -> args.has("amount") && only(args, "tenant", "resource", "amount", "nowMs") ? gov.subtractUsage(t, r, num(args, "amount", 0), now) : null;
            case "begin" -> hasR && only(args, "tenant", "resource", "nowMs") ? gov.begin(t, r, now) : null;
            case "touch" -> hasR && only(args, "tenant", "resource", "leaseId", "nowMs") ? gov.touch(t, r, num(args, "leaseId", 0), now) : null;
            case "end" -> hasR && only(args, "tenant", "resource", "leaseId", "nowMs") ? gov.end(t, r, num(args, "leaseId", 0), now) : null;
            default -> null;
        };
        if (d != null) {
            return decisionJson(d);
        }
        return JsonParser.parseString(gov.call(op, GSON.toJson(args), at));
    }

    static JsonElement errorJson(TenantGuardException e) {
        if (e.errorJson() != null) {
            return JsonParser.parseString(e.errorJson());
        }
        JsonObject o = new JsonObject();
        o.addProperty("code", e.code());
        o.addProperty("message", e.getMessage());
        return o;
    }

    static JsonElement substitute(JsonElement v, JsonObject env) {
        if (v.isJsonPrimitive() && v.getAsJsonPrimitive().isString() && v.getAsString().startsWith("$") && env.has(v.getAsString().substring(1))) {
            return env.get(v.getAsString().substring(1)).deepCopy();
        }
        if (v.isJsonArray()) {
            JsonArray out = new JsonArray();
            v.getAsJsonArray().forEach(x -> out.add(substitute(x, env)));
            return out;
        }
        if (v.isJsonObject()) {
            JsonObject out = new JsonObject();
            v.getAsJsonObject().entrySet().forEach(e -> out.add(e.getKey(), substitute(e.getValue(), env)));
            return out;
        }
        return v;
    }

    static void match(JsonElement exp, JsonElement act, String where, List<String> errs) {
        if (exp.isJsonObject() && exp.getAsJsonObject().keySet().stream().anyMatch(k -> k.startsWith("$"))) {
            for (Map.Entry<String, JsonElement> m : exp.getAsJsonObject().entrySet()) {
                boolean num = act != null && act.isJsonPrimitive() && act.getAsJsonPrimitive().isNumber();
                boolean ok = switch (m.getKey()) {
                    case "$gte" -> num && act.getAsDouble() >= m.getValue().getAsDouble();
                    case "$lte" -> num && act.getAsDouble() <= m.getValue().getAsDouble();
                    case "$gt" -> num && act.getAsDouble() > m.getValue().getAsDouble();
                    case "$lt" -> num && act.getAsDouble() < m.getValue().getAsDouble();
                    case "$contains" -> act != null && act.isJsonPrimitive() && act.getAsString().contains(m.getValue().getAsString());
                    case "$len" -> act != null && act.isJsonArray() && act.getAsJsonArray().size() == m.getValue().getAsInt();
                    default -> false;
                };
                if (!ok) {
                    errs.add(where + ": expected " + m + ", got " + act);
                }
            }
        } else if (exp.isJsonArray()) {
            if (act == null || !act.isJsonArray() || act.getAsJsonArray().size() != exp.getAsJsonArray().size()) {
                errs.add(where + ": expected " + exp + ", got " + act);
                return;
            }
            for (int i = 0; i < exp.getAsJsonArray().size(); i++) {
                match(exp.getAsJsonArray().get(i), act.getAsJsonArray().get(i), where + "[" + i + "]", errs);
            }
        } else if (exp.isJsonObject()) {
            if (act == null || !act.isJsonObject()) {
                errs.add(where + ": expected an object, got " + act);
                return;
            }
            for (Map.Entry<String, JsonElement> e : exp.getAsJsonObject().entrySet()) {
                JsonElement a = act.getAsJsonObject().get(e.getKey());
                if (a == null || a.isJsonNull()) {
                    if (!e.getValue().isJsonNull()) {
                        errs.add(where + "." + e.getKey() + ": missing (expected " + e.getValue() + ")");
                    }
                } else {
                    match(e.getValue(), a, where + "." + e.getKey(), errs);
                }
            }
        } else if (exp.isJsonNull()) {
            if (act != null && !act.isJsonNull()) {
                errs.add(where + ": expected null, got " + act);
            }
        } else if (exp.getAsJsonPrimitive().isNumber()) {
            if (act == null || !act.isJsonPrimitive() || !act.getAsJsonPrimitive().isNumber() || act.getAsDouble() != exp.getAsDouble()) {
                errs.add(where + ": expected " + exp + ", got " + act);
            }
        } else if (!exp.equals(act)) {
            errs.add(where + ": expected " + exp + ", got " + act);
        }
    }

    static void replay(Path file) throws IOException {
        JsonObject doc = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        String name = file.getFileName().toString();
        List<String> errs = new ArrayList<>();
        String config = null;
        Governor.ConfigFormat format = Governor.ConfigFormat.TOML;
        if (doc.has("config")) {
            JsonObject c = doc.getAsJsonObject("config");
            if (c.has("toml")) {
                config = c.get("toml").getAsString();
            } else {
                JsonElement j = c.get("json");
                config = j.isJsonPrimitive() ? j.getAsString() : GSON.toJson(j);
                format = Governor.ConfigFormat.JSON;
            }
        }
        int rpm = doc.has("userQuotaDefaultRpm") ? doc.get("userQuotaDefaultRpm").getAsInt() : 60;
        Governor gov;
        try {
            gov = new Governor(config, format, rpm);
        } catch (TenantGuardException e) {
            assertTrue(doc.has("expectConfigError"), name + ": unexpected config error " + e.errorJson());
            match(doc.get("expectConfigError"), errorJson(e), name + ": config error", errs);
            assertTrue(errs.isEmpty(), String.join("\n", errs));
            return;
        }
        try (gov) {
            assertTrue(!doc.has("expectConfigError"), name + ": expected a config error, but the config loaded");
            JsonObject env = new JsonObject();
            long at = 0;
            JsonArray steps = doc.getAsJsonArray("steps");
            for (int i = 0; i < steps.size() && errs.size() < 20; i++) {
                JsonObject step = steps.get(i).getAsJsonObject();
                if (step.has("at")) {
                    at = step.get("at").getAsLong();
                }
                String op = step.get("op").getAsString();
                String where = name + " step " + i + " (" + op + ")";
                JsonObject args = step.has("args") ? substitute(step.get("args"), env).getAsJsonObject() : new JsonObject();
                JsonElement expect = step.has("expect") ? substitute(step.get("expect"), env) : null;
                JsonElement expectError = step.has("expectError") ? substitute(step.get("expectError"), env) : null;
                if (expectError != null && expectError.isJsonPrimitive()) {
                    JsonObject o = new JsonObject();
                    o.add("code", expectError);
                    expectError = o;
                }
                int repeat = step.has("repeat") ? step.get("repeat").getAsInt() : 1;
                JsonObject tally = new JsonObject();
                JsonElement last = null;
                for (int r = 0; r < repeat && errs.size() < 20; r++) {
                    JsonElement answer;
                    try {
                        answer = run(gov, op, args, at);
                    } catch (TenantGuardException e) {
                        if (expectError == null) {
                            errs.add(where + ": unexpected error " + errorJson(e));
                        } else {
                            match(expectError, errorJson(e), where, errs);
                        }
                        last = null;
                        continue;
                    }
                    if (expectError != null) {
                        errs.add(where + ": expected error " + expectError + ", got " + answer);
                    } else if (expect != null) {
                        match(expect, answer, where, errs);
                    }
                    if (answer.isJsonObject() && answer.getAsJsonObject().has("action")) {
                        String a = answer.getAsJsonObject().get("action").getAsString();
                        tally.addProperty(a, (tally.has(a) ? tally.get(a).getAsInt() : 0) + 1);
                    }
                    last = answer;
                }
                if (step.has("expectTally")) {
                    for (Map.Entry<String, JsonElement> e : step.getAsJsonObject("expectTally").entrySet()) {
                        int got = tally.has(e.getKey()) ? tally.get(e.getKey()).getAsInt() : 0;
                        if (got != e.getValue().getAsInt()) {
                            errs.add(where + ": expected " + e.getValue() + " x " + e.getKey() + ", got " + tally);
                        }
                    }
                }
                if (step.has("bind")) {
                    for (Map.Entry<String, JsonElement> b : step.getAsJsonObject("bind").entrySet()) {
                        JsonElement v = last;
                        for (String k : b.getValue().getAsString().split("\\.")) {
                            if (v == null) {
                                break;
                            }
                            v = v.isJsonArray() ? v.getAsJsonArray().get(Integer.parseInt(k)) : v.isJsonObject() ? v.getAsJsonObject().get(k) : null;
                        }
                        if (v == null) {
                            errs.add(where + ": cannot bind " + b.getKey());
                        } else {
                            env.add(b.getKey(), v);
                        }
                    }
                }
            }
        }
        assertTrue(errs.isEmpty(), String.join("\n", errs));
    }
}
