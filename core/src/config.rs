//! Configuration: the S2 TOML format (`[tenant_quotas]`, tiers, assignments, overrides,
//! storage and transaction sections) and the same model as JSON.
//!
//! Tiers named after a built-in plan start from it and change only the keys given (S2's
//! storage and transaction examples set one or two keys per tier); other tiers start from the
//! S1 custom-plan defaults, or from `extends = "<tier>"`. Every error is a
//! [`ConfigError`] naming the key path and, for TOML, the line.

use crate::error::ConfigError;
use crate::glob::Glob;
use crate::plan::{self, EnforcementAction, GB, Plan, RateAlgorithm, RateWindow, ResourceKind, ResourceSpec};
use crate::tenant::Override;
use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// A duration in milliseconds, written `"10s"`, `"5m"`, `"100ms"`, `"1h"`, `"1d"` or as an
/// integer number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationMs(pub u64);

impl<'de> Deserialize<'de> for DurationMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationMs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10s\", \"5m\", \"250ms\" or milliseconds as an integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationMs, E> {
                Ok(DurationMs(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationMs, E> {
                u64::try_from(v)
                    .map(DurationMs)
                    .map_err(|_| E::custom(format!("duration must not be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationMs, E> {
                parse_duration_ms(v).map(DurationMs).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `"10s"`, `"5m"`, `"1h30m"`, `"250ms"`, `"1d"`.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("duration must not be negative, got \"{s}\""));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid duration \"{s}\": {e} (use e.g. \"10s\", \"5m\", \"250ms\")"))
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A point in time in ms since the epoch, written as RFC 3339 (`"2025-12-20T00:00:00Z"`, or a
/// TOML datetime) or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampMs(pub u64);

/// Parses an RFC 3339 timestamp into ms since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Result<u64, String> {
    let t = humantime::parse_rfc3339_weak(s.trim()).map_err(|e| format!("invalid RFC 3339 timestamp \"{s}\": {e}"))?;
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|_| format!("timestamp \"{s}\" is before 1970"))
}

impl<'de> Deserialize<'de> for TimestampMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TimestampMs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp such as \"2025-12-20T00:00:00Z\" or milliseconds since the epoch")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimestampMs, E> {
                Ok(TimestampMs(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimestampMs, E> {
                u64::try_from(v)
                    .map(TimestampMs)
                    .map_err(|_| E::custom(format!("timestamp must not be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimestampMs, E> {
                parse_rfc3339_ms(v).map(TimestampMs).map_err(E::custom)
            }
            // A native TOML datetime arrives as a one-entry map holding its text.
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<TimestampMs, A::Error> {
                let Some((_, text)) = map.next_entry::<String, String>()? else {
                    return Err(de::Error::custom("empty datetime"));
                };
                parse_rfc3339_ms(&text).map(TimestampMs).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Top-level document. `[proxy]` and `[backend]` of HeliosProxy files are accepted and
/// ignored (they configure a proxy, which this library is not).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tenant_quotas: Option<RawQuotas>,
    #[serde(default)]
    proxy: Option<IgnoredAny>,
    #[serde(default)]
    backend: Option<IgnoredAny>,
    #[serde(default)]
    quota_metrics: Option<RawMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: Option<bool>,
    prometheus_port: Option<u16>,
    alert_on_quota_violation: Option<bool>,
    alert_threshold: Option<u64>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawMode {
    Local,
    Federated,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuotas {
    enabled: Option<bool>,
    identifier: Option<String>,
    default_tier: Option<String>,
    mode: Option<RawMode>,
    shadow_mode: Option<bool>,
    max_queue_wait: Option<DurationMs>,
    max_throttle_delay: Option<DurationMs>,
    #[serde(default)]
    tiers: Vec<RawTier>,
    #[serde(default)]
    assignments: Vec<RawAssignment>,
    #[serde(default)]
    overrides: Vec<RawOverride>,
    storage: Option<RawStorage>,
    transaction: Option<RawTransaction>,
    federation: Option<RawFederation>,
}

/// S2 `[tenant_quotas.federation]`: the shared store that federated mode coordinates through.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFederation {
    coordination_backend: Option<String>,
    redis_url: Option<String>,
    sync_interval: Option<DurationMs>,
    quota_allocation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    name: String,
    extends: Option<String>,
    description: Option<String>,
    max_qps: Option<u64>,
    max_connections: Option<u64>,
    max_transaction_duration: Option<DurationMs>,
    max_idle_in_transaction: Option<DurationMs>,
    storage_quota_gb: Option<u64>,
    storage_quota_bytes: Option<u64>,
    burst_allowance: Option<f64>,
    enforcement_action: Option<EnforcementAction>,
    rate_algorithm: Option<RateAlgorithm>,
    max_queue_wait: Option<DurationMs>,
    features: Option<RawFeatures>,
    #[serde(default)]
    resources: Vec<RawResource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeatures {
    rls: Option<bool>,
    cdc: Option<bool>,
    migrations: Option<bool>,
    custom_quotas: Option<bool>,
    all_isolation_modes: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    Rate,
    Concurrency,
    Capacity,
    Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    limit: u64,
    window: DurationMs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    name: String,
    kind: RawKind,
    limit: Option<u64>,
    window: Option<DurationMs>,
    windows: Option<Vec<RawWindow>>,
    burst: Option<f64>,
    algorithm: Option<RateAlgorithm>,
    action: Option<EnforcementAction>,
    max_wait: Option<DurationMs>,
    warning_threshold: Option<f64>,
    block_writes: Option<bool>,
    lease_ttl: Option<DurationMs>,
    max_duration: Option<DurationMs>,
    max_idle: Option<DurationMs>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssignment {
    tenant_pattern: String,
    tier: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    tenant_id: String,
    max_qps: Option<u64>,
    max_connections: Option<u64>,
    storage_quota_gb: Option<u64>,
    storage_quota_bytes: Option<u64>,
    max_transaction_duration: Option<DurationMs>,
    max_idle_in_transaction: Option<DurationMs>,
    burst_allowance: Option<f64>,
    expires_at: Option<TimestampMs>,
    reason: Option<String>,
    #[serde(default)]
    resources: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum StorageEnforcement {
    BlockWrites,
    Warn,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    enabled: Option<bool>,
    check_interval: Option<DurationMs>,
    enforcement: Option<StorageEnforcement>,
    warning_threshold: Option<f64>,
    storage_query: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum TxnEnforcement {
    Rollback,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransaction {
    enabled: Option<bool>,
    check_interval: Option<DurationMs>,
    enforcement: Option<TxnEnforcement>,
}

/// Governor-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `false` behaves as global shadow mode: nothing is refused, would-be violations counted.
    pub enabled: bool,
    /// Informational: how the host identifies tenants (S2 `identifier`).
    pub identifier: Option<String>,
    /// Plan for tenants registered without one and matching no assignment.
    pub default_tier: String,
    /// Bound on queue waits (default 5 s).
    pub max_queue_wait_ms: u64,
    /// Bound on throttle delays (default 1 s).
    pub max_throttle_delay_ms: u64,
    /// Global shadow (monitor-only) mode.
    pub shadow_mode: bool,
    /// How often the host should measure storage (informational; default 60 s).
    pub storage_check_interval_ms: u64,
    /// The host's storage measurement query (carried for the host; never run here).
    pub storage_query: Option<String>,
    /// How often the host should sweep expired transactions (default 1 s).
    pub transaction_check_interval_ms: u64,
    /// Prometheus port the host may serve metrics on (informational).
    pub prometheus_port: Option<u16>,
    /// Violations per minute above which the host should alert (informational).
    pub alert_threshold: Option<u64>,
    /// S2 federated mode (`mode = "federated"` with `[tenant_quotas.federation]`): the shared
    /// store the limits are enforced through, in federated mode.
    /// [`Governor::from_toml`](crate::Governor::from_toml), the shells and
    /// [`StoreSpec::build_for`](crate::store::StoreSpec::build_for) open it unless the host
    /// names its own Redis; [`GovernorBuilder::config`](crate::GovernorBuilder::config) does
    /// not. It cannot change on reload.
    pub federation: Option<crate::store::StoreSpec>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: true,
            identifier: None,
            default_tier: "free".into(),
            max_queue_wait_ms: plan::DEFAULT_MAX_QUEUE_WAIT_MS,
            max_throttle_delay_ms: plan::DEFAULT_MAX_THROTTLE_DELAY_MS,
            shadow_mode: false,
            storage_check_interval_ms: 60_000,
            storage_query: None,
            transaction_check_interval_ms: 1_000,
            prometheus_port: None,
            alert_threshold: None,
            federation: None,
        }
    }
}

/// A tier assignment by tenant-name glob.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The pattern.
    pub pattern: Glob,
    /// The plan id.
    pub tier: String,
}

/// A loaded configuration: plans, assignments, overrides, settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Settings.
    pub settings: Settings,
    /// Every plan (built-ins merged with configured tiers).
    pub plans: Vec<Plan>,
    /// Assignments, first match wins.
    pub assignments: Vec<Assignment>,
    /// Overrides by tenant name.
    pub overrides: Vec<(String, Override)>,
}

impl Default for Config {
    /// The five built-in plans, `default_tier = "free"`, no assignments.
    fn default() -> Self {
        Self { settings: Settings::default(), plans: Plan::builtins(), assignments: Vec::new(), overrides: Vec::new() }
    }
}

/// Source format, for error positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML (S2).
    Toml,
    /// JSON (same model).
    Json,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// Splits `a.b[2].c` into segments.
fn path_segments(path: &str) -> Vec<Result<String, usize>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Ok(rest[..i].to_owned()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Err(n));
                }
                rest = &stripped[end + 1..];
            }
        } else if !rest.is_empty() {
            out.push(Ok(rest.to_owned()));
        }
    }
    out
}

/// Finds the byte span of a key path in a TOML document (the deepest segment found): the key's,
/// or with `value` the span of the value written for it.
fn toml_span(text: &str, path: &str, value: bool) -> Option<std::ops::Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut best = None;
    let mut cur: &DeValue<'_>;
    let root = doc.get_ref();
    let segs = path_segments(path);
    let mut table = Some(root);
    let mut array: Option<&toml::de::DeArray<'_>> = None;
    for seg in segs {
        match seg {
            Ok(key) => {
                let t = table?;
                let (k, v) = t.get_key_value(key.as_str())?;
                best = Some(if value { v.span() } else { k.span() });
                cur = v.get_ref();
                table = cur.as_table();
                array = cur.as_array();
            }
            Err(i) => {
                let a = array?;
                let v = a.get(i)?;
                best = Some(v.span());
                cur = v.get_ref();
                table = cur.as_table();
                array = cur.as_array();
            }
        }
    }
    best
}

/// A minimal walk over (already valid) JSON text, to find where a key path is written.
struct JsonWalk<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> JsonWalk<'a> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// Skips a string starting at `"`; returns its raw contents (escapes left as written).
    fn string(&mut self) -> Option<&'a [u8]> {
        let b = self.b;
        let start = self.i + 1;
        let mut j = start;
        loop {
            match *b.get(j)? {
                b'\\' => j += 2,
                b'"' => break,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        b.get(start..j)
    }

    fn skip_value(&mut self) -> Option<()> {
        self.ws();
        match *self.b.get(self.i)? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                loop {
                    self.ws();
                    match *self.b.get(self.i)? {
                        c if c == close => {
                            self.i += 1;
                            return Some(());
                        }
                        b',' | b':' => self.i += 1,
                        _ => self.skip_value()?,
                    }
                }
            }
            _ => {
                while self.b.get(self.i).is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace()) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    /// Walks into the value at the cursor along `segs`; returns the offset of the deepest
    /// segment found (of the value written for the last key, with `value`).
    fn find(&mut self, segs: &[Result<String, usize>], mut best: Option<usize>, value: bool) -> Option<usize> {
        let Some((seg, rest)) = segs.split_first() else { return best };
        self.ws();
        match (seg, *self.b.get(self.i)?) {
            (Ok(key), b'{') => {
                self.i += 1;
                loop {
                    self.ws();
                    match *self.b.get(self.i)? {
                        b'}' => return best,
                        b',' => self.i += 1,
                        b'"' => {
                            let at = self.i;
                            let name = self.string()?;
                            self.ws();
                            self.i += 1; // ':'
                            if name == key.as_bytes() {
                                self.ws();
                                best = Some(if value && rest.is_empty() { self.i } else { at });
                                return self.find(rest, best, value);
                            }
                            self.skip_value()?;
                        }
                        _ => return best,
                    }
                }
            }
            (Err(index), b'[') => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    match *self.b.get(self.i)? {
                        b']' => return best,
                        b',' => self.i += 1,
                        _ if n == *index => {
                            best = Some(self.i);
                            return self.find(rest, best, value);
                        }
                        _ => {
                            self.skip_value()?;
                            n += 1;
                        }
                    }
                }
            }
            _ => best,
        }
    }
}

/// The byte offset where a key path is written in a JSON document (the deepest segment found;
/// with `value`, where the last key's value starts).
fn json_span(text: &str, path: &str, value: bool) -> Option<usize> {
    JsonWalk { b: text.as_bytes(), i: 0 }.find(&path_segments(path), None, value)
}

/// An error at `key`: located at the key itself in the text.
fn err_at(text: &str, format: Format, key: &str, message: impl Into<String>) -> ConfigError {
    located(text, format, key, false, message.into())
}

/// An error located at `key`, or (`value`) at the value written for it.
fn located(text: &str, format: Format, key: &str, value: bool, message: String) -> ConfigError {
    let offset = match format {
        Format::Toml => toml_span(text, key, value).map(|s| s.start),
        Format::Json => json_span(text, key, value),
    };
    let (line, column) = offset.map(|o| line_col(text, o)).map(|(l, c)| (Some(l), Some(c))).unwrap_or((None, None));
    ConfigError { key: key.to_owned(), line, column, message }
}

/// Deserializes the raw model from a JSON value, with the key path of an error. Both formats go
/// through this one instantiation (TOML is read into a value first): the deserializer code
/// exists once, which keeps the WebAssembly module small, and errors are located in the text
/// afterwards.
fn raw_from_value(v: serde_json::Value, text: &str, format: Format) -> Result<RawFile, ConfigError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let message = e.into_inner().to_string();
        // An unknown key is reported where the key is written; a bad value where the value is.
        let at_value = !message.starts_with("unknown field");
        located(text, format, &key, at_value, message)
    })
}

fn clean_serde_message(msg: &str) -> String {
    // toml's messages carry a rendered snippet after the first line; keep the sentence.
    msg.lines().next().unwrap_or(msg).trim().to_owned()
}

/// A TOML document as a JSON value, refusing `nan` and `inf`: `serde_json::Value` would
/// silently turn them into `null`, which the model reads as "not set".
struct TomlValue(serde_json::Value);

impl<'de> Deserialize<'de> for TomlValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TomlVisitor).map(TomlValue)
    }
}

struct TomlVisitor;

impl<'de> serde::de::Visitor<'de> for TomlVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(b.into())
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(x)
            .map(serde_json::Value::Number)
            .ok_or_else(|| E::custom(format!("`{x}` is not a finite number")))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(TomlValue(v)) = a.next_element()? {
            out.push(v);
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some((k, TomlValue(v))) = a.next_entry::<String, TomlValue>()? {
            out.insert(k, v);
        }
        Ok(serde_json::Value::Object(out))
    }
}

/// The store of S2 federated mode, from `mode` and `[tenant_quotas.federation]`.
fn federation(
    mode: Option<RawMode>,
    section: Option<RawFederation>,
    text: &str,
    format: Format,
) -> Result<Option<crate::store::StoreSpec>, ConfigError> {
    const KEY: &str = "tenant_quotas.federation";
    let f = match (mode, section) {
        (Some(RawMode::Federated), Some(f)) => f,
        (Some(RawMode::Federated), None) => {
            return Err(err_at(
                text,
                format,
                "tenant_quotas.mode",
                "federated mode needs a [tenant_quotas.federation] section with `redis_url` (the shared store)",
            ));
        }
        (_, Some(_)) => {
            return Err(err_at(
                text,
                format,
                KEY,
                "a federation section needs mode = \"federated\" in [tenant_quotas]",
            ));
        }
        (_, None) => return Ok(None),
    };
    // Keys with one supported value. (Each process reserves its share of the global limit in
    // proportion to its demand: `proportional`.)
    for (key, given, supported) in [
        ("coordination_backend", &f.coordination_backend, "redis"),
        ("quota_allocation", &f.quota_allocation, "proportional"),
    ] {
        if let Some(v) = given.as_deref().filter(|v| *v != supported) {
            let message = format!("unknown {} `{v}` (the one supported is `{supported}`)", key.replace('_', " "));
            return Err(err_at(text, format, &format!("{KEY}.{key}"), message));
        }
    }
    let Some(url) = f.redis_url else {
        return Err(err_at(text, format, KEY, "federated mode needs `redis_url` (the shared store)"));
    };
    const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];
    if !SCHEMES.iter().any(|s| url.starts_with(s)) {
        return Err(located(
            text,
            format,
            &format!("{KEY}.redis_url"),
            true,
            format!("`{url}` is not a Redis URL (redis://host:port/db)"),
        ));
    }
    if f.sync_interval.is_some_and(|d| d.0 == 0) {
        return Err(err_at(text, format, &format!("{KEY}.sync_interval"), "must be at least 1ms"));
    }
    Ok(Some(crate::store::StoreSpec {
        redis_url: Some(url),
        mode: Some("federated".into()),
        // Written out, so that leaving it out and writing the default compare equal on reload.
        sync_interval_ms: Some(f.sync_interval.map_or(crate::store::DEFAULT_SYNC_INTERVAL_MS, |d| d.0)),
        ..Default::default()
    }))
}

impl Config {
    /// Parses the S2 TOML format.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let TomlValue(value) = toml::from_str(text).map_err(|e| {
            let (line, column) =
                e.span().map(|s| line_col(text, s.start)).map(|(l, c)| (Some(l), Some(c))).unwrap_or((None, None));
            ConfigError { key: String::new(), line, column, message: clean_serde_message(e.message()) }
        })?;
        Self::build(raw_from_value(value, text, Format::Toml)?, text, Format::Toml)
    }

    /// Parses the same model written as JSON.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            ConfigError { key: String::new(), line: Some(e.line()), column: Some(e.column()), message: msg }
        })?;
        Self::build(raw_from_value(value, text, Format::Json)?, text, Format::Json)
    }

    /// Parses a file, choosing the format by extension (`.json` is JSON, anything else TOML).
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<Config, ConfigError> {
        let p = path.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
            key: String::new(),
            line: None,
            column: None,
            message: format!("cannot read {}: {e}", p.display()),
        })?;
        if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    fn build(raw: RawFile, text: &str, format: Format) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        // [proxy] and [backend] configure a proxy; accepted and ignored here.
        let (_, _) = (raw.proxy, raw.backend);
        if let Some(m) = raw.quota_metrics {
            let _ = (m.enabled, m.alert_on_quota_violation);
            cfg.settings.prometheus_port = m.prometheus_port;
            cfg.settings.alert_threshold = m.alert_threshold;
        }
        let Some(q) = raw.tenant_quotas else {
            return Ok(cfg);
        };
        cfg.settings.federation = federation(q.mode, q.federation, text, format)?;
        let s = &mut cfg.settings;
        s.enabled = q.enabled.unwrap_or(true);
        s.identifier = q.identifier;
        s.shadow_mode = q.shadow_mode.unwrap_or(false);
        if let Some(d) = q.max_queue_wait {
            s.max_queue_wait_ms = d.0;
        }
        if let Some(d) = q.max_throttle_delay {
            s.max_throttle_delay_ms = d.0;
        }

        // Tiers.
        let mut seen = std::collections::HashSet::new();
        for (i, t) in q.tiers.iter().enumerate() {
            let path = format!("tenant_quotas.tiers[{i}]");
            if t.name.trim().is_empty() {
                return Err(err_at(text, format, &format!("{path}.name"), "tier name must not be empty"));
            }
            if !seen.insert(t.name.clone()) {
                return Err(err_at(
                    text,
                    format,
                    &format!("{path}.name"),
                    format!("tier `{}` is defined twice", t.name),
                ));
            }
            let base = match (&t.extends, cfg.plans.iter().find(|p| p.id == t.name)) {
                (Some(parent), _) => match cfg.plans.iter().find(|p| &p.id == parent) {
                    Some(p) => Plan { id: t.name.clone(), is_default: false, ..p.clone() },
                    None => {
                        return Err(err_at(
                            text,
                            format,
                            &format!("{path}.extends"),
                            format!("unknown tier `{parent}` (define it earlier or use a built-in)"),
                        ));
                    }
                },
                (None, Some(existing)) => existing.clone(),
                (None, None) => Plan::custom(&t.name),
            };
            let plan = apply_tier(base, t, &path).map_err(|(k, m)| err_at(text, format, &k, m))?;
            match cfg.plans.iter_mut().find(|p| p.id == plan.id) {
                Some(slot) => *slot = plan,
                None => cfg.plans.push(plan),
            }
        }

        // Storage and transaction sections apply to every plan.
        if let Some(st) = &q.storage {
            if let Some(w) = st.warning_threshold
                && (!w.is_finite() || w <= 0.0 || w > 1.0)
            {
                return Err(err_at(
                    text,
                    format,
                    "tenant_quotas.storage.warning_threshold",
                    format!("must be in (0, 1], got {w}"),
                ));
            }
            if let Some(d) = st.check_interval {
                s.storage_check_interval_ms = d.0;
            }
            s.storage_query.clone_from(&st.storage_query);
            for p in &mut cfg.plans {
                if st.enabled == Some(false) {
                    p.resources.retain(|r| r.name != plan::STORAGE);
                    continue;
                }
                if let Some(ResourceSpec {
                    kind: ResourceKind::Capacity { warning_threshold, block_writes, .. }, ..
                }) = p.resource_mut(plan::STORAGE)
                {
                    if let Some(w) = st.warning_threshold {
                        *warning_threshold = w;
                    }
                    if let Some(e) = st.enforcement {
                        *block_writes = e == StorageEnforcement::BlockWrites;
                    }
                }
            }
        }
        if let Some(tx) = &q.transaction {
            let _ = tx.enforcement;
            if let Some(d) = tx.check_interval {
                s.transaction_check_interval_ms = d.0;
            }
            if tx.enabled == Some(false) {
                for p in &mut cfg.plans {
                    p.resources.retain(|r| r.name != plan::TRANSACTION);
                }
            }
        }

        // Default tier.
        if let Some(d) = q.default_tier {
            if !cfg.plans.iter().any(|p| p.id == d) {
                return Err(err_at(text, format, "tenant_quotas.default_tier", format!("unknown tier `{d}`")));
            }
            cfg.settings.default_tier = d;
        }

        // Assignments.
        for (i, a) in q.assignments.iter().enumerate() {
            let path = format!("tenant_quotas.assignments[{i}]");
            let pattern = Glob::new(&a.tenant_pattern).map_err(|m| {
                err_at(
                    text,
                    format,
                    &format!("{path}.tenant_pattern"),
                    format!("invalid glob `{}`: {m}", a.tenant_pattern),
                )
            })?;
            if !cfg.plans.iter().any(|p| p.id == a.tier) {
                return Err(err_at(text, format, &format!("{path}.tier"), format!("unknown tier `{}`", a.tier)));
            }
            cfg.assignments.push(Assignment { pattern, tier: a.tier.clone() });
        }

        // Overrides.
        for (i, o) in q.overrides.iter().enumerate() {
            let path = format!("tenant_quotas.overrides[{i}]");
            if o.tenant_id.trim().is_empty() {
                return Err(err_at(text, format, &format!("{path}.tenant_id"), "tenant_id must not be empty"));
            }
            let mk = |resource: &str| Override {
                resource: resource.to_owned(),
                limit: None,
                burst: None,
                idle_ms: None,
                expires_at_ms: o.expires_at.map(|t| t.0),
                reason: o.reason.clone(),
            };
            let mut list = Vec::new();
            if o.max_qps.is_some() || o.burst_allowance.is_some() {
                if let Some(b) = o.burst_allowance
                    && (!b.is_finite() || b < 1.0)
                {
                    return Err(err_at(
                        text,
                        format,
                        &format!("{path}.burst_allowance"),
                        format!("must be ≥ 1.0, got {b}"),
                    ));
                }
                list.push(Override { limit: o.max_qps, burst: o.burst_allowance, ..mk(plan::QPS) });
            }
            if o.max_qps == Some(0) {
                return Err(err_at(text, format, &format!("{path}.max_qps"), "must be at least 1"));
            }
            if let Some(c) = o.max_connections {
                list.push(Override { limit: Some(c), ..mk(plan::CONNECTIONS) });
            }
            if let Some(b) = o.storage_quota_bytes.or(o.storage_quota_gb.map(|g| g.saturating_mul(GB))) {
                list.push(Override { limit: Some(b), ..mk(plan::STORAGE) });
            }
            for (key, d) in [
                ("max_transaction_duration", o.max_transaction_duration),
                ("max_idle_in_transaction", o.max_idle_in_transaction),
            ] {
                if d.is_some_and(|d| d.0 == 0) {
                    return Err(err_at(text, format, &format!("{path}.{key}"), "must be longer than 0"));
                }
            }
            if o.max_transaction_duration.is_some() || o.max_idle_in_transaction.is_some() {
                list.push(Override {
                    limit: o.max_transaction_duration.map(|d| d.0),
                    idle_ms: o.max_idle_in_transaction.map(|d| d.0),
                    ..mk(plan::TRANSACTION)
                });
            }
            for (name, limit) in &o.resources {
                // 0 is no rate and no duration: refuse it when every tier that limits the
                // resource makes it one of those (a plan created later may define it too).
                let kinds: Vec<&ResourceKind> =
                    cfg.plans.iter().filter_map(|p| p.resource(name)).map(|r| &r.kind).collect();
                let needs_one =
                    |k: &&ResourceKind| matches!(k, ResourceKind::Rate { .. } | ResourceKind::Duration { .. });
                if *limit == 0 && !kinds.is_empty() && kinds.iter().all(needs_one) {
                    return Err(err_at(
                        text,
                        format,
                        &format!("{path}.resources.{name}"),
                        format!("`{name}` is a rate or duration resource: its limit must be at least 1"),
                    ));
                }
                list.push(Override { limit: Some(*limit), ..mk(name) });
            }
            if list.is_empty() {
                return Err(err_at(text, format, &path, "override sets no limit"));
            }
            cfg.overrides.extend(list.into_iter().map(|ov| (o.tenant_id.clone(), ov)));
        }
        Ok(cfg)
    }
}

fn apply_tier(mut p: Plan, t: &RawTier, path: &str) -> Result<Plan, (String, String)> {
    if let Some(d) = &t.description {
        p.description.clone_from(d);
    }
    let action = t.enforcement_action;
    if t.max_qps.is_some()
        || t.burst_allowance.is_some()
        || t.rate_algorithm.is_some()
        || action.is_some()
        || t.max_queue_wait.is_some()
    {
        if t.max_qps == Some(0) {
            return Err((format!("{path}.max_qps"), "must be at least 1".into()));
        }
        let spec = p
            .resource_mut(plan::QPS)
            .map(|r| r.clone())
            .unwrap_or_else(|| ResourceSpec::rate(plan::QPS, 1000, 1000, 1.0, EnforcementAction::Throttle));
        let mut spec = spec;
        if let ResourceKind::Rate { windows, burst, algorithm } = &mut spec.kind {
            if let Some(q) = t.max_qps {
                match windows.first_mut() {
                    Some(w) => w.limit = q,
                    None => windows.push(RateWindow { limit: q, window_ms: 1000 }),
                }
            }
            if let Some(b) = t.burst_allowance {
                if !b.is_finite() || b < 1.0 {
                    return Err((format!("{path}.burst_allowance"), format!("must be a number ≥ 1.0, got {b}")));
                }
                *burst = b;
            }
            if let Some(a) = t.rate_algorithm {
                *algorithm = a;
            }
        }
        if let Some(a) = action {
            spec.action = a;
        }
        if let Some(w) = t.max_queue_wait {
            spec.max_wait_ms = Some(w.0);
        }
        p.set_resource(spec);
    }
    if t.max_connections.is_some() || action.is_some() || t.max_queue_wait.is_some() {
        let mut spec = p
            .resource(plan::CONNECTIONS)
            .cloned()
            .unwrap_or_else(|| ResourceSpec::concurrency(plan::CONNECTIONS, 50, EnforcementAction::Throttle));
        if let (ResourceKind::Concurrency { max, .. }, Some(c)) = (&mut spec.kind, t.max_connections) {
            *max = c;
        }
        if let Some(a) = action {
            spec.action = a;
        }
        if let Some(w) = t.max_queue_wait {
            spec.max_wait_ms = Some(w.0);
        }
        p.set_resource(spec);
    }
    if let Some(bytes) = t.storage_quota_bytes.or(t.storage_quota_gb.map(|g| g.saturating_mul(GB))) {
        let mut spec =
            p.resource(plan::STORAGE).cloned().unwrap_or_else(|| ResourceSpec::capacity(plan::STORAGE, bytes));
        if let ResourceKind::Capacity { max, .. } = &mut spec.kind {
            *max = bytes;
        }
        p.set_resource(spec);
    }
    if t.max_transaction_duration.is_some() || t.max_idle_in_transaction.is_some() {
        let mut spec = p
            .resource(plan::TRANSACTION)
            .cloned()
            .unwrap_or_else(|| ResourceSpec::duration(plan::TRANSACTION, None, None));
        if let ResourceKind::Duration { max_ms, idle_ms } = &mut spec.kind {
            if let Some(d) = t.max_transaction_duration {
                if d.0 == 0 {
                    return Err((format!("{path}.max_transaction_duration"), "must be longer than 0".into()));
                }
                *max_ms = Some(d.0);
            }
            if let Some(d) = t.max_idle_in_transaction {
                if d.0 == 0 {
                    return Err((format!("{path}.max_idle_in_transaction"), "must be longer than 0".into()));
                }
                *idle_ms = Some(d.0);
            }
        }
        p.set_resource(spec);
    }
    if let Some(f) = &t.features {
        let pf = &mut p.features;
        let set = |dst: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut pf.rls_enabled, f.rls);
        set(&mut pf.cdc_enabled, f.cdc);
        set(&mut pf.migrations_enabled, f.migrations);
        set(&mut pf.custom_quotas_enabled, f.custom_quotas);
        set(&mut pf.all_isolation_modes, f.all_isolation_modes);
    }
    for (i, r) in t.resources.iter().enumerate() {
        let rp = format!("{path}.resources[{i}]");
        let spec = raw_resource(r, &rp)?;
        spec.validate(&rp)?;
        p.set_resource(spec);
    }
    p.validate(path)?;
    Ok(p)
}

fn raw_resource(r: &RawResource, path: &str) -> Result<ResourceSpec, (String, String)> {
    let need = |v: Option<u64>, key: &str| {
        v.ok_or_else(|| (format!("{path}.{key}"), format!("a {} resource needs `{key}`", kind_name(r.kind))))
    };
    let kind = match r.kind {
        RawKind::Rate => {
            let windows = match (&r.windows, r.limit, r.window) {
                (Some(ws), None, None) => {
                    ws.iter().map(|w| RateWindow { limit: w.limit, window_ms: w.window.0 }).collect()
                }
                (None, Some(limit), window) => {
                    vec![RateWindow { limit, window_ms: window.map(|w| w.0).unwrap_or(1000) }]
                }
                (Some(_), _, _) => {
                    return Err((
                        format!("{path}.windows"),
                        "give either `windows` or `limit`/`window`, not both".into(),
                    ));
                }
                (None, None, _) => {
                    return Err((
                        format!("{path}.limit"),
                        "a rate resource needs `limit` (and `window`) or `windows`".into(),
                    ));
                }
            };
            ResourceKind::Rate { windows, burst: r.burst.unwrap_or(1.0), algorithm: r.algorithm.unwrap_or_default() }
        }
        RawKind::Concurrency => {
            ResourceKind::Concurrency { max: need(r.limit, "limit")?, lease_ttl_ms: r.lease_ttl.map(|d| d.0) }
        }
        RawKind::Capacity => ResourceKind::Capacity {
            max: need(r.limit, "limit")?,
            warning_threshold: r.warning_threshold.unwrap_or(plan::DEFAULT_WARNING_THRESHOLD),
            block_writes: r.block_writes.unwrap_or(true),
        },
        RawKind::Duration => {
            ResourceKind::Duration { max_ms: r.max_duration.map(|d| d.0), idle_ms: r.max_idle.map(|d| d.0) }
        }
    };
    Ok(ResourceSpec {
        name: r.name.clone(),
        kind,
        action: r.action.unwrap_or_default(),
        max_wait_ms: r.max_wait.map(|d| d.0),
    })
}

fn kind_name(k: RawKind) -> &'static str {
    match k {
        RawKind::Rate => "rate",
        RawKind::Concurrency => "concurrency",
        RawKind::Capacity => "capacity",
        RawKind::Duration => "duration",
    }
}
