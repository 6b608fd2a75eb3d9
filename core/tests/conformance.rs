#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! Replays every scenario in `tests/conformance/` through the host-neutral API.
//! The format is documented in `tests/conformance/README.md`; every host has a runner
//! like this one and must give the same answers.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tenantguard::api::{ApiError, ConfigSource, Engine};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("tests").join("conformance")
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Subset match: every key of `expected` must match in `actual`.
fn matches(expected: &Value, actual: &Value, path: &str, errs: &mut Vec<String>) {
    match expected {
        Value::Object(m) if m.keys().any(|k| k.starts_with('$')) => {
            for (k, v) in m {
                let ok = match k.as_str() {
                    "$gte" => num(actual).zip(num(v)).is_some_and(|(a, b)| a >= b),
                    "$lte" => num(actual).zip(num(v)).is_some_and(|(a, b)| a <= b),
                    "$gt" => num(actual).zip(num(v)).is_some_and(|(a, b)| a > b),
                    "$lt" => num(actual).zip(num(v)).is_some_and(|(a, b)| a < b),
                    "$contains" => actual.as_str().zip(v.as_str()).is_some_and(|(a, b)| a.contains(b)),
                    "$len" => actual.as_array().map(|a| a.len() as f64) == num(v),
                    other => {
                        errs.push(format!("{path}: unknown matcher {other}"));
                        true
                    }
                };
                if !ok {
                    errs.push(format!("{path}: expected {k} {v}, got {actual}"));
                }
            }
        }
        Value::Object(m) => {
            let Some(a) = actual.as_object() else {
                errs.push(format!("{path}: expected an object, got {actual}"));
                return;
            };
            for (k, v) in m {
                match a.get(k) {
                    Some(av) => matches(v, av, &format!("{path}.{k}"), errs),
                    None if v.is_null() => {}
                    None => errs.push(format!("{path}.{k}: missing (expected {v})")),
                }
            }
        }
        Value::Array(xs) => {
            let Some(a) = actual.as_array() else {
                errs.push(format!("{path}: expected an array, got {actual}"));
                return;
            };
            if a.len() != xs.len() {
                errs.push(format!("{path}: expected {} elements, got {} ({actual})", xs.len(), a.len()));
                return;
            }
            for (i, (e, v)) in xs.iter().zip(a).enumerate() {
                matches(e, v, &format!("{path}[{i}]"), errs);
            }
        }
        Value::Number(_) => {
            if num(expected) != num(actual) {
                errs.push(format!("{path}: expected {expected}, got {actual}"));
            }
        }
        _ => {
            if expected != actual {
                errs.push(format!("{path}: expected {expected}, got {actual}"));
            }
        }
    }
}

fn substitute(v: &Value, vars: &HashMap<String, Value>) -> Value {
    match v {
        Value::String(s) if s.starts_with('$') => vars.get(&s[1..]).cloned().unwrap_or_else(|| v.clone()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), substitute(v, vars))).collect::<Map<_, _>>())
        }
        Value::Array(xs) => Value::Array(xs.iter().map(|x| substitute(x, vars)).collect()),
        _ => v.clone(),
    }
}

fn error_value(e: &ApiError) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, seg| match seg.parse::<usize>() {
        Ok(i) => cur.get(i),
        Err(_) => cur.get(seg),
    })
}

/// Builds the engine of one scenario (`name` is the file name, unique per scenario).
type MakeEngine<'a> = &'a dyn Fn(&str, Option<&ConfigSource>, u32) -> Result<Engine, ApiError>;

fn run_scenario(path: &Path, make: MakeEngine<'_>) -> Vec<String> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{name}: cannot read: {e}")],
    };
    let doc: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: invalid JSON: {e}")],
    };
    let mut errs = Vec::new();
    let config: Option<ConfigSource> = match doc.get("config") {
        Some(c) => match serde_json::from_value(c.clone()) {
            Ok(c) => Some(c),
            Err(e) => return vec![format!("{name}: bad `config`: {e}")],
        },
        None => None,
    };
    let rpm = doc.get("userQuotaDefaultRpm").and_then(Value::as_u64).unwrap_or(60) as u32;
    let engine = match make(&name, config.as_ref(), rpm) {
        Ok(e) => {
            if let Some(x) = doc.get("expectConfigError") {
                return vec![format!("{name}: expected config error {x}, but the config loaded")];
            }
            e
        }
        Err(e) => {
            match doc.get("expectConfigError") {
                Some(x) => matches(x, &error_value(&e), &format!("{name}: config error"), &mut errs),
                None => errs.push(format!("{name}: config failed to load: {e}")),
            }
            return errs;
        }
    };
    let Some(steps) = doc.get("steps").and_then(Value::as_array) else {
        return vec![format!("{name}: no `steps`")];
    };
    let mut vars: HashMap<String, Value> = HashMap::new();
    let mut at = 0u64;
    for (i, step) in steps.iter().enumerate() {
        let where_ = format!("{name} step {i} ({})", step.get("op").and_then(Value::as_str).unwrap_or("?"));
        if let Some(t) = step.get("at").and_then(Value::as_u64) {
            at = t;
        }
        let op = step.get("op").cloned().unwrap_or(Value::Null);
        let args = substitute(step.get("args").unwrap_or(&Value::Object(Map::new())), &vars);
        let request = serde_json::json!({ "op": op, "args": args });
        let repeat = step.get("repeat").and_then(Value::as_u64).unwrap_or(1);
        let mut tally: HashMap<String, u64> = HashMap::new();
        let mut last: Option<Result<Value, ApiError>> = None;
        for r in 0..repeat {
            let res = engine.execute_json(&request, Some(at));
            let label = if repeat > 1 { format!("{where_} #{r}") } else { where_.clone() };
            let expect = step.get("expect").map(|x| substitute(x, &vars));
            let expect_error = step.get("expectError").map(|x| substitute(x, &vars));
            match (&res, expect_error.as_ref()) {
                (Ok(v), None) => {
                    if let Some(x) = &expect {
                        matches(x, v, &label, &mut errs);
                    }
                    if let Some(a) = v.get("action").and_then(Value::as_str) {
                        *tally.entry(a.to_owned()).or_default() += 1;
                    }
                }
                (Ok(v), Some(x)) => errs.push(format!("{label}: expected error {x}, got {v}")),
                (Err(e), None) => errs.push(format!("{label}: unexpected error {}", error_value(e))),
                (Err(e), Some(x)) => {
                    let x = if x.is_string() { serde_json::json!({ "code": x }) } else { x.clone() };
                    matches(&x, &error_value(e), &label, &mut errs);
                }
            }
            last = Some(res);
            if errs.len() > 20 {
                break;
            }
        }
        if let Some(Value::Object(want)) = step.get("expectTally") {
            for (action, n) in want {
                let got = tally.get(action).copied().unwrap_or(0);
                if Some(got as f64) != n.as_f64() {
                    errs.push(format!("{where_}: expected {n} × {action}, got {got} (tally {tally:?})"));
                }
            }
        }
        if let (Some(Value::Object(binds)), Some(Ok(v))) = (step.get("bind"), &last) {
            for (var, field) in binds {
                match field.as_str().and_then(|f| lookup(v, f)) {
                    Some(val) => {
                        vars.insert(var.clone(), val.clone());
                    }
                    None => errs.push(format!("{where_}: cannot bind `{var}` to {field} in {v}")),
                }
            }
        }
        if errs.len() > 20 {
            errs.push(format!("{name}: stopping after 20 mismatches"));
            break;
        }
    }
    errs
}

fn replay(make: MakeEngine<'_>) {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus must hold at least 40 scenarios, found {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        failures.extend(run_scenario(f, make));
    }
    println!("conformance: {} scenarios replayed", files.len());
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn conformance_corpus() {
    replay(&|_, config, rpm| Engine::from_config(config, rpm));
}

/// The same corpus with every counter and lease in Redis (strict mode, the caller's clock so
/// the scenario's `at` times apply). Needs `TG_REDIS_URL`; `scripts/test.sh` starts a private
/// redis-server and runs this with `--ignored`.
#[cfg(feature = "redis")]
#[test]
#[ignore = "needs TG_REDIS_URL (scripts/test.sh starts redis-server)"]
fn conformance_corpus_on_redis() {
    use std::sync::Arc;
    use tenantguard::store::redis::{RedisOptions, RedisStore, TimeSource};
    let url = std::env::var("TG_REDIS_URL").expect("TG_REDIS_URL is not set: run scripts/test.sh, which starts Redis");
    let run = std::process::id();
    replay(&|name, config, rpm| {
        let opts = RedisOptions::new(&url)
            .prefix(format!("tgcorpus:{run}:{name}"))
            .time(TimeSource::Caller)
            .timeout(std::time::Duration::from_secs(2));
        let store = RedisStore::new(opts).expect("redis options");
        store.clear().expect("clear the scenario's keys");
        Engine::from_config_with_store(config, rpm, tenantguard::clock::default_clock(), Arc::new(store))
    });
}

/// The same on a 3-node Redis Cluster (`TG_REDIS_CLUSTER_URL`, one node; `scripts/test.sh`
/// starts one with `scripts/redis.sh cluster`): each tenant's keys share a hash slot, so every
/// script runs on the node that owns it. Fresh prefixes per run stand in for `clear()`.
#[cfg(feature = "redis")]
#[test]
#[ignore = "needs TG_REDIS_CLUSTER_URL (scripts/test.sh starts a Redis Cluster)"]
fn conformance_corpus_on_redis_cluster() {
    use std::sync::Arc;
    use tenantguard::store::redis::{RedisOptions, RedisStore, TimeSource};
    let url = std::env::var("TG_REDIS_CLUSTER_URL")
        .expect("TG_REDIS_CLUSTER_URL is not set: run scripts/test.sh, which starts a Redis Cluster");
    let run = format!("{}-{}", std::process::id(), tenantguard::clock::default_clock().now_ms());
    replay(&|name, config, rpm| {
        let opts = RedisOptions::new(&url)
            .cluster(true)
            .prefix(format!("tgcluster:{run}:{name}"))
            .time(TimeSource::Caller)
            .timeout(std::time::Duration::from_secs(2));
        let store = RedisStore::new(opts).expect("redis options");
        Engine::from_config_with_store(config, rpm, tenantguard::clock::default_clock(), Arc::new(store))
    });
}
