//! SQL values with PostgreSQL's typing rules for the subset RLS policies use.

use std::cmp::Ordering;
use std::fmt;

/// A SQL type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `boolean`
    Bool,
    /// `integer` (int4)
    Int4,
    /// `bigint` (int8)
    Int8,
    /// `numeric` (exact decimal)
    Numeric,
    /// `text`
    Text,
    /// `uuid`
    Uuid,
    /// `jsonb`
    Json,
    /// `timestamptz` (microseconds since the epoch; sessions run in UTC)
    Timestamptz,
    /// An array of the element type.
    Array(Box<Type>),
    /// An untyped string literal (PostgreSQL's `unknown`), resolved by context.
    Unknown,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("boolean"),
            Type::Int4 => f.write_str("integer"),
            Type::Int8 => f.write_str("bigint"),
            Type::Numeric => f.write_str("numeric"),
            Type::Text => f.write_str("text"),
            Type::Uuid => f.write_str("uuid"),
            Type::Json => f.write_str("jsonb"),
            Type::Timestamptz => f.write_str("timestamp with time zone"),
            Type::Array(t) => write!(f, "{t}[]"),
            Type::Unknown => f.write_str("unknown"),
        }
    }
}

impl Type {
    /// Parses a type name as written in a cast.
    pub fn parse(name: &str) -> Option<Type> {
        let n = name.trim().to_ascii_lowercase();
        if let Some(inner) = n.strip_suffix("[]") {
            return Type::parse(inner).map(|t| Type::Array(Box::new(t)));
        }
        Some(match n.as_str() {
            "bool" | "boolean" => Type::Bool,
            "int" | "int4" | "integer" => Type::Int4,
            "bigint" | "int8" => Type::Int8,
            "numeric" | "decimal" => Type::Numeric,
            "text" | "varchar" | "character varying" | "name" => Type::Text,
            "uuid" => Type::Uuid,
            "json" | "jsonb" => Type::Json,
            "timestamptz" | "timestamp with time zone" => Type::Timestamptz,
            _ => return None,
        })
    }

    fn is_integer(&self) -> bool {
        matches!(self, Type::Int4 | Type::Int8)
    }

    /// Numeric category (int4, int8, numeric).
    pub fn is_number(&self) -> bool {
        matches!(self, Type::Int4 | Type::Int8 | Type::Numeric)
    }
}

/// An exact decimal: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub struct Dec {
    m: i128,
    s: u32,
}

impl Dec {
    /// From an integer.
    pub fn int(v: i64) -> Dec {
        Dec { m: i128::from(v), s: 0 }
    }

    /// Parses `-12.340` (keeps the scale, as PostgreSQL displays it).
    pub fn parse(text: &str) -> Option<Dec> {
        let t = text.trim();
        let (neg, t) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if (int.is_empty() && frac.is_empty()) || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{int}{frac}");
        let m: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        Some(Dec { m: if neg { -m } else { m }, s: u32::try_from(frac.len()).ok()? })
    }

    fn rescale(self, s: u32) -> Option<i128> {
        self.m.checked_mul(10i128.checked_pow(s.checked_sub(self.s)?)?)
    }

    fn aligned(a: Dec, b: Dec) -> Option<(i128, i128, u32)> {
        let s = a.s.max(b.s);
        Some((a.rescale(s)?, b.rescale(s)?, s))
    }

    /// Exact comparison.
    pub fn compare(a: Dec, b: Dec) -> Ordering {
        match Dec::aligned(a, b) {
            Some((x, y, _)) => x.cmp(&y),
            None => (a.m as f64 / 10f64.powi(a.s as i32)).total_cmp(&(b.m as f64 / 10f64.powi(b.s as i32))),
        }
    }

    /// Weight (base-10000 group index, as PostgreSQL's NumericVar) and first group of `|self|`.
    fn weight_and_first(self) -> (i64, i128) {
        let digits = self.m.unsigned_abs().to_string();
        if self.m == 0 {
            return (0, 0);
        }
        let s = self.s as usize;
        let (int_part, frac_part) = if digits.len() > s {
            (&digits[..digits.len() - s], format!("{:0<width$}", &digits[digits.len() - s..], width = s))
        } else {
            ("", format!("{}{digits}", "0".repeat(s - digits.len())))
        };
        let int_part = int_part.trim_start_matches('0');
        if !int_part.is_empty() {
            let groups = int_part.len().div_ceil(4);
            let lead = int_part.len() - (groups - 1) * 4;
            return (groups as i64 - 1, int_part[..lead].parse().unwrap_or(0));
        }
        let padded = format!("{frac_part:0<width$}", width = frac_part.len().div_ceil(4) * 4);
        for (g, chunk) in padded.as_bytes().chunks(4).enumerate() {
            let v: i128 = std::str::from_utf8(chunk).ok().and_then(|c| c.parse().ok()).unwrap_or(0);
            if v != 0 {
                return (-(g as i64) - 1, v);
            }
        }
        (0, 0)
    }

    /// `a / b` with PostgreSQL's result scale (select_div_scale: at least 16 significant
    /// digits, never less than either input's scale), rounded half away from zero.
    pub fn divide(a: Dec, b: Dec) -> Result<Dec, String> {
        if b.m == 0 {
            return Err("division by zero".into());
        }
        let (w1, f1) = a.weight_and_first();
        let (w2, f2) = b.weight_and_first();
        let mut qweight = w1 - w2;
        if f1 <= f2 {
            qweight -= 1;
        }
        let rscale = (16 - qweight * 4).max(i64::from(a.s)).max(i64::from(b.s)).clamp(0, 1000) as u32;
        // q = a.m * 10^(b.s + rscale - a.s) / b.m, rounded.
        let e = i64::from(b.s) + i64::from(rscale) - i64::from(a.s);
        let overflow = || "numeric value out of range for tenantguard policies".to_owned();
        let (num, den) = if e >= 0 {
            (a.m.checked_mul(10i128.checked_pow(e as u32).ok_or_else(overflow)?).ok_or_else(overflow)?, b.m)
        } else {
            (a.m, b.m.checked_mul(10i128.checked_pow((-e) as u32).ok_or_else(overflow)?).ok_or_else(overflow)?)
        };
        let (q, r) = (num / den, num % den);
        let round_away = r.unsigned_abs().checked_mul(2).ok_or_else(overflow)? >= den.unsigned_abs();
        let neg = (num < 0) != (den < 0);
        let q = if round_away { if neg { q - 1 } else { q + 1 } } else { q };
        Ok(Dec { m: q, s: rscale })
    }

    /// `a % b` as PostgreSQL computes it: `a - trunc(a / b) * b`, at the larger input scale.
    pub fn modulo(a: Dec, b: Dec) -> Result<Dec, String> {
        if b.m == 0 {
            return Err("division by zero".into());
        }
        let overflow = || "numeric value out of range for tenantguard policies".to_owned();
        let (x, y, s) = Dec::aligned(a, b).ok_or_else(overflow)?;
        Ok(Dec { m: x % y, s })
    }

    /// `a + b`, `a - b`, `a * b` (exact; `None` on overflow).
    pub fn arith(a: Dec, b: Dec, op: char) -> Option<Dec> {
        match op {
            '+' | '-' => {
                let (x, y, s) = Dec::aligned(a, b)?;
                Some(Dec { m: if op == '+' { x.checked_add(y)? } else { x.checked_sub(y)? }, s })
            }
            '*' => Some(Dec { m: a.m.checked_mul(b.m)?, s: a.s + b.s }),
            _ => None,
        }
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.s == 0 {
            return write!(f, "{}", self.m);
        }
        let neg = self.m < 0;
        let digits = self.m.unsigned_abs().to_string();
        let s = self.s as usize;
        let padded = if digits.len() <= s { format!("{}{digits}", "0".repeat(s + 1 - digits.len())) } else { digits };
        let (i, fr) = padded.split_at(padded.len() - s);
        write!(f, "{}{i}.{fr}", if neg { "-" } else { "" })
    }
}

/// A SQL value.
#[derive(Debug, Clone)]
pub enum Value {
    /// `NULL` (of any type).
    Null,
    /// `boolean`
    Bool(bool),
    /// `integer`
    Int4(i32),
    /// `bigint`
    Int8(i64),
    /// `numeric`
    Numeric(Dec),
    /// `text`
    Text(String),
    /// `uuid`
    Uuid(u128),
    /// `jsonb`
    Json(serde_json::Value),
    /// `timestamptz`, microseconds since the epoch.
    Timestamptz(i64),
    /// An array with its element type.
    Array(Type, Vec<Value>),
    /// An untyped string literal, resolved by context.
    Unknown(String),
}

/// A run-time error with PostgreSQL's wording.
pub type SqlResult<T> = Result<T, String>;

impl Value {
    /// The value's type (`Unknown` for NULL without context).
    pub fn ty(&self) -> Type {
        match self {
            Value::Null | Value::Unknown(_) => Type::Unknown,
            Value::Bool(_) => Type::Bool,
            Value::Int4(_) => Type::Int4,
            Value::Int8(_) => Type::Int8,
            Value::Numeric(_) => Type::Numeric,
            Value::Text(_) => Type::Text,
            Value::Uuid(_) => Type::Uuid,
            Value::Json(_) => Type::Json,
            Value::Timestamptz(_) => Type::Timestamptz,
            Value::Array(t, _) => Type::Array(Box::new(t.clone())),
        }
    }

    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A host value (from JSON) as a SQL value: strings are text, integers bigint, other
    /// numbers numeric, objects jsonb, arrays arrays of their first non-null element's type.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int8(i),
                None => Dec::parse(&n.to_string()).map(Value::Numeric).unwrap_or(Value::Null),
            },
            serde_json::Value::String(s) => Value::Text(s.clone()),
            serde_json::Value::Array(xs) => {
                let vals: Vec<Value> = xs.iter().map(Value::from_json).collect();
                let t = vals.iter().find(|v| !v.is_null()).map(Value::ty).unwrap_or(Type::Text);
                Value::Array(t, vals)
            }
            serde_json::Value::Object(_) => Value::Json(v.clone()),
        }
    }

    /// The value as JSON (for answers and bound parameters).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int4(i) => J::from(*i),
            Value::Int8(i) => J::from(*i),
            Value::Numeric(d) => J::String(d.to_string()),
            Value::Text(s) | Value::Unknown(s) => J::String(s.clone()),
            Value::Uuid(u) => J::String(uuid::Uuid::from_u128(*u).hyphenated().to_string()),
            Value::Json(j) => j.clone(),
            Value::Timestamptz(_) => J::String(self.to_text().unwrap_or_default()),
            Value::Array(_, xs) => J::Array(xs.iter().map(Value::to_json).collect()),
        }
    }

    /// Text form (as PostgreSQL's output function writes it).
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => (if *b { "true" } else { "false" }).into(),
            Value::Int4(i) => i.to_string(),
            Value::Int8(i) => i.to_string(),
            Value::Numeric(d) => d.to_string(),
            Value::Text(s) | Value::Unknown(s) => s.clone(),
            Value::Uuid(u) => uuid::Uuid::from_u128(*u).hyphenated().to_string(),
            Value::Json(j) => j.to_string(),
            Value::Timestamptz(us) => format_timestamptz(*us),
            Value::Array(_, xs) => {
                let items: Vec<String> = xs
                    .iter()
                    .map(|x| match x {
                        Value::Null => "NULL".into(),
                        Value::Text(s) | Value::Unknown(s) if needs_quotes(s) => {
                            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                        }
                        other => other.to_text().unwrap_or_default(),
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
        })
    }
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.chars().any(|c| matches!(c, ',' | '{' | '}' | '"' | '\\') || c.is_whitespace())
}

fn invalid_input(t: &Type, s: &str) -> String {
    format!("invalid input syntax for type {t}: \"{s}\"")
}

/// Parses text as a value of type `t` (PostgreSQL's input functions).
pub fn parse_as(t: &Type, s: &str) -> SqlResult<Value> {
    let trimmed = s.trim();
    Ok(match t {
        Type::Text | Type::Unknown => Value::Text(s.to_owned()),
        Type::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Value::Bool(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Value::Bool(false),
            _ => return Err(invalid_input(t, s)),
        },
        Type::Int4 => Value::Int4(trimmed.parse().map_err(|_| {
            if trimmed.parse::<i128>().is_ok() {
                format!("value \"{s}\" is out of range for type integer")
            } else {
                invalid_input(t, s)
            }
        })?),
        Type::Int8 => Value::Int8(trimmed.parse().map_err(|_| {
            if trimmed.parse::<i128>().is_ok() {
                format!("value \"{s}\" is out of range for type bigint")
            } else {
                invalid_input(t, s)
            }
        })?),
        Type::Numeric => Value::Numeric(Dec::parse(trimmed).ok_or_else(|| invalid_input(t, s))?),
        Type::Uuid => Value::Uuid(parse_uuid(trimmed).ok_or_else(|| invalid_input(t, s))?),
        Type::Json => {
            Value::Json(serde_json::from_str(s).map_err(|_| "invalid input syntax for type json".to_owned())?)
        }
        Type::Timestamptz => Value::Timestamptz(parse_timestamptz(trimmed).ok_or_else(|| invalid_input(t, s))?),
        Type::Array(elem) => parse_array_literal(elem, s)?,
    })
}

fn parse_uuid(s: &str) -> Option<u128> {
    // PostgreSQL accepts braces and hyphens after any group of four digits.
    let inner = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(s);
    let hex: String = inner.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32
        || !hex.chars().all(|c| c.is_ascii_hexdigit())
        || inner.starts_with('-')
        || inner.ends_with('-')
        || inner.contains("--")
    {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

/// Parses an array literal such as `{1,2,NULL}` or `{"a b",c}`.
pub fn parse_array_literal(elem: &Type, s: &str) -> SqlResult<Value> {
    let t = s.trim();
    let Some(body) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
        return Err(format!("malformed array literal: \"{s}\""));
    };
    let mut items = Vec::new();
    if body.trim().is_empty() {
        return Ok(Value::Array(elem.clone(), items));
    }
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let (text, quoted) = if chars.get(i) == Some(&'"') {
            i += 1;
            let mut v = String::new();
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(c) = chars.get(i) {
                    v.push(*c);
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err(format!("malformed array literal: \"{s}\""));
            }
            i += 1;
            (v, true)
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ',' {
                if matches!(chars[i], '{' | '}' | '"') {
                    return Err(format!("malformed array literal: \"{s}\""));
                }
                i += 1;
            }
            (chars[start..i].iter().collect::<String>().trim().to_owned(), false)
        };
        items.push(if !quoted && text.eq_ignore_ascii_case("null") { Value::Null } else { parse_as(elem, &text)? });
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        match chars.get(i) {
            None => break,
            Some(',') => i += 1,
            Some(_) => return Err(format!("malformed array literal: \"{s}\"")),
        }
    }
    Ok(Value::Array(elem.clone(), items))
}

/// Casts `v` to `t` (explicit cast rules).
pub fn cast(v: Value, t: &Type) -> SqlResult<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if v.ty() == *t {
        return Ok(v);
    }
    let cannot = |v: &Value| format!("cannot cast type {} to {t}", v.ty());
    Ok(match (v, t) {
        (Value::Unknown(s), t) => parse_as(t, &s)?,
        (v, Type::Text) => Value::Text(v.to_text().unwrap_or_default()),
        (Value::Text(s), t) => parse_as(t, &s)?,
        (Value::Int4(i), Type::Int8) => Value::Int8(i64::from(i)),
        (Value::Int4(i), Type::Numeric) => Value::Numeric(Dec::int(i64::from(i))),
        (Value::Int8(i), Type::Int4) => Value::Int4(i32::try_from(i).map_err(|_| "integer out of range".to_owned())?),
        (Value::Int8(i), Type::Numeric) => Value::Numeric(Dec::int(i)),
        (Value::Numeric(d), t @ (Type::Int4 | Type::Int8)) => {
            // Round half away from zero, as PostgreSQL does.
            let s = d.to_string();
            let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
            let mut n: i128 = int.parse().map_err(|_| "numeric out of range".to_owned())?;
            if frac.starts_with(['5', '6', '7', '8', '9']) {
                n += if s.starts_with('-') { -1 } else { 1 };
            }
            if *t == Type::Int4 {
                Value::Int4(i32::try_from(n).map_err(|_| "integer out of range".to_owned())?)
            } else {
                Value::Int8(i64::try_from(n).map_err(|_| "bigint out of range".to_owned())?)
            }
        }
        (Value::Int4(i), Type::Bool) => Value::Bool(i != 0),
        (Value::Bool(b), Type::Int4) => Value::Int4(i32::from(b)),
        (Value::Array(_, xs), Type::Array(elem)) => {
            Value::Array((**elem).clone(), xs.into_iter().map(|x| cast(x, elem)).collect::<SqlResult<_>>()?)
        }
        (v, _) => return Err(cannot(&v)),
    })
}

/// Resolves an `unknown` literal against the other operand's type (PostgreSQL's rule for
/// operators with one untyped literal side).
pub fn unify(a: Value, b: Value) -> SqlResult<(Value, Value)> {
    match (&a, &b) {
        (Value::Unknown(_), Value::Unknown(_)) => Ok((cast(a, &Type::Text)?, cast(b, &Type::Text)?)),
        (Value::Unknown(_), _) if !b.is_null() => {
            let t = b.ty();
            Ok((cast(a, &t)?, b))
        }
        (_, Value::Unknown(_)) if !a.is_null() => {
            let t = a.ty();
            Ok((a, cast(b, &t)?))
        }
        _ => Ok((a, b)),
    }
}

/// Compares two non-null values of comparable types; `Err` names the missing operator.
pub fn compare(a: &Value, b: &Value, op: &str) -> SqlResult<Ordering> {
    use Value::*;
    let numeric = |v: &Value| -> Option<Dec> {
        match v {
            Int4(i) => Some(Dec::int(i64::from(*i))),
            Int8(i) => Some(Dec::int(*i)),
            Numeric(d) => Some(*d),
            _ => None,
        }
    };
    Ok(match (a, b) {
        (Bool(x), Bool(y)) => x.cmp(y),
        (Text(x), Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Uuid(x), Uuid(y)) => x.cmp(y),
        (Timestamptz(x), Timestamptz(y)) => x.cmp(y),
        (Int4(x), Int4(y)) => x.cmp(y),
        (Int8(x), Int8(y)) => x.cmp(y),
        (Int4(x), Int8(y)) => i64::from(*x).cmp(y),
        (Int8(x), Int4(y)) => x.cmp(&i64::from(*y)),
        (x, y) if x.ty().is_number() && y.ty().is_number() => match (numeric(x), numeric(y)) {
            (Some(p), Some(q)) => Dec::compare(p, q),
            _ => Ordering::Equal,
        },
        (Json(x), Json(y)) if op == "=" || op == "<>" => {
            if x == y {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        }
        (Array(_, xs), Array(_, ys)) => {
            for (x, y) in xs.iter().zip(ys) {
                match (x.is_null(), y.is_null()) {
                    (true, true) => continue,
                    (true, false) => return Ok(Ordering::Greater),
                    (false, true) => return Ok(Ordering::Less),
                    _ => {}
                }
                let o = compare(x, y, op)?;
                if o != Ordering::Equal {
                    return Ok(o);
                }
            }
            xs.len().cmp(&ys.len())
        }
        (x, y) => return Err(format!("operator does not exist: {} {op} {}", x.ty(), y.ty())),
    })
}

/// Whether integer arithmetic stays within `t`.
pub fn int_result(t: &Type, v: Option<i64>) -> SqlResult<Value> {
    let v = v.ok_or_else(|| format!("{} out of range", if *t == Type::Int4 { "integer" } else { "bigint" }))?;
    match t {
        Type::Int4 => i32::try_from(v).map(Value::Int4).map_err(|_| "integer out of range".to_owned()),
        _ => Ok(Value::Int8(v)),
    }
}

/// The result type of integer arithmetic between `a` and `b`.
pub fn int_type(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        (Type::Int4, Type::Int4) => Some(Type::Int4),
        (x, y) if x.is_integer() && y.is_integer() => Some(Type::Int8),
        _ => None,
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm (proleptic Gregorian calendar).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `2025-01-31`, `2025-01-31 12:30`, `2025-01-31T12:30:05.25Z`, `... +02`, `... -05:30`,
/// `... UTC`. Without a zone the session's (UTC) applies.
pub fn parse_timestamptz(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_at(s.find([' ', 'T', 't']).unwrap_or(s.len()));
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let month_days = [
        31,
        if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > month_days[(m - 1) as usize] {
        return None;
    }
    let rest = rest.trim_start_matches([' ', 'T', 't']).trim();
    let mut micros: i64 = 0;
    let mut offset_s: i64 = 0;
    if !rest.is_empty() {
        let zone_at = rest.find(['+', '-', 'Z', 'z', ' ']).unwrap_or(rest.len());
        let (time, zone) = rest.split_at(zone_at);
        let mut tp = time.split(':');
        let h: i64 = tp.next()?.parse().ok()?;
        let mi: i64 = tp.next()?.parse().ok()?;
        let (sec, frac) = match tp.next() {
            Some(x) => x.split_once('.').unwrap_or((x, "")),
            None => ("0", ""),
        };
        let sec: i64 = sec.parse().ok()?;
        if tp.next().is_some() || h > 24 || mi > 59 || sec > 60 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let frac_us: i64 = if frac.is_empty() {
            0
        } else {
            let mut f = frac.to_owned();
            f.truncate(7);
            while f.len() < 7 {
                f.push('0');
            }
            let v: i64 = f.parse().ok()?;
            (v + 5) / 10 // round to microseconds
        };
        micros = ((h * 60 + mi) * 60 + sec) * 1_000_000 + frac_us;
        let zone = zone.trim();
        if !zone.is_empty() && !zone.eq_ignore_ascii_case("z") && !zone.eq_ignore_ascii_case("utc") {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let z = zone.get(1..)?;
            let (zh, zm) = match z.split_once(':') {
                Some((a, b)) => (a.parse::<i64>().ok()?, b.parse::<i64>().ok()?),
                None if z.len() == 4 => (z.get(..2)?.parse::<i64>().ok()?, z.get(2..)?.parse::<i64>().ok()?),
                None => (z.parse::<i64>().ok()?, 0),
            };
            if zh > 15 || zm > 59 {
                return None;
            }
            offset_s = sign * (zh * 3600 + zm * 60);
        }
    }
    Some(days_from_civil(y, m, d) * 86_400_000_000 + micros - offset_s * 1_000_000)
}

/// PostgreSQL's ISO output in UTC: `2025-01-31 12:30:05.25+00`.
pub fn format_timestamptz(us: i64) -> String {
    let days = us.div_euclid(86_400_000_000);
    let rem = us.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000;
    let frac = rem % 1_000_000;
    let mut out = format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let f = format!("{frac:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push_str("+00");
    out
}
