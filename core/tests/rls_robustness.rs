#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! Hostile input never panics: random token soups, truncations and odd Unicode go through
//! the parser, the evaluator and the policy engine; every outcome is a value or a typed error.

use serde_json::json;
use tenantguard::rls::expr::{EvalContext, parse};
use tenantguard::rls::{PolicyDef, RLSCommand, RlsContext, RlsEngine, row_from_json};

const PIECES: &[&str] = &[
    "tenant_id",
    "n",
    "x",
    "ts",
    "doc",
    "tags",
    "=",
    "<>",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "->",
    "->>",
    "::",
    "(",
    ")",
    ",",
    "[",
    "]",
    ".",
    "'",
    "'a'",
    "''",
    "'{1,2}'",
    "'{\"a b\",NULL}'",
    "E'\\n'",
    "\"q\"",
    "\"",
    "1",
    "-1",
    "2147483648",
    "9223372036854775808",
    "1.5",
    ".5",
    "1e5",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "UNKNOWN",
    "DISTINCT",
    "FROM",
    "BETWEEN",
    "IN",
    "LIKE",
    "ILIKE",
    "ESCAPE",
    "ANY",
    "ALL",
    "ARRAY",
    "CAST",
    "AS",
    "int",
    "text",
    "uuid",
    "timestamptz",
    "numeric",
    "jsonb",
    "boolean",
    "bigint",
    "int[]",
    "current_tenant()",
    "current_user",
    "now()",
    "current_setting('a')",
    "current_setting('a', true)",
    "lower(",
    "upper(",
    "coalesce(",
    "nullif(",
    "é",
    "😀",
    "--",
    "/*",
    "\\",
    "$1",
    ";",
    " ",
    "'2025-02-30'",
    "'aéb'::timestamptz",
    "'2025-01-01 00:00+aéb'::timestamptz",
    "'1'::int / 0",
    "'x'::uuid",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn random_expressions_never_panic() {
    let row = row_from_json(
        &json!({"tenant_id": "acme", "n": 5, "x": null, "ts": "2025-01-01", "doc": {"a": [1]}, "tags": ["a"]}),
    )
    .unwrap();
    let ctx =
        EvalContext::new(Some("acme".into()), "u".into(), "u".into(), [("a".to_string(), "1".to_string())].into())
            .at(Some(0));
    let mut r = Rng(42);
    let mut parsed = 0;
    for _ in 0..40_000 {
        let n = 1 + r.next() % 12;
        let src: String = (0..n)
            .map(|_| PIECES[(r.next() as usize) % PIECES.len()])
            .collect::<Vec<_>>()
            .join(if r.next().is_multiple_of(3) { "" } else { " " });
        let outcome = std::panic::catch_unwind(|| match parse(&src) {
            Ok(e) => {
                let _ = e.eval(&row, &ctx);
                let _ = e.truth(&row, &ctx);
                true
            }
            Err(err) => {
                assert!(
                    err.position >= 1 && err.position <= src.chars().count() + 1,
                    "position {} out of range for {src:?}",
                    err.position
                );
                false
            }
        });
        match outcome {
            Ok(true) => parsed += 1,
            Ok(false) => {}
            Err(_) => panic!("panicked on {src:?}"),
        }
    }
    assert!(parsed > 1000, "the generator should produce some valid expressions ({parsed})");
}

#[test]
fn engine_rejects_bad_input_with_typed_errors() {
    let e = RlsEngine::new();
    e.set_enabled("t", true);
    for (using, check, command) in [
        ("", None, RLSCommand::All),
        ("'unterminated", None, RLSCommand::All),
        ("a = ", None, RLSCommand::Select),
        ("(((((", None, RLSCommand::All),
        ("x", Some("x = = 1"), RLSCommand::Update),
    ] {
        let def = PolicyDef {
            name: "p".into(),
            restrictive: false,
            command,
            roles: vec![],
            using: Some(using.into()),
            with_check: check.map(Into::into),
        };
        let err = e.create_policy("t", def, true).unwrap_err();
        assert_eq!(err.code(), "POLICY_SYNTAX_ERROR", "{using:?}");
    }
    let def = PolicyDef {
        name: "p".into(),
        restrictive: false,
        command: RLSCommand::All,
        roles: vec![],
        using: Some("n / x > 0".into()),
        with_check: None,
    };
    e.create_policy("t", def, true).unwrap();
    let ctx = RlsContext::default();
    let zero = row_from_json(&json!({"n": 1, "x": 0})).unwrap();
    assert_eq!(e.can_select("t", &zero, &ctx).unwrap_err().code(), "POLICY_EVALUATION_ERROR");
    assert_eq!(row_from_json(&json!([1, 2])).unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(
        e.set_column_types("t", &[("ts".to_string(), "interval".to_string())].into()).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    e.set_column_types("t", &[("ts".to_string(), "timestamptz".to_string())].into()).unwrap();
    assert_eq!(e.row("t", &json!({"ts": "2025-01-01 00:00+aéb"})).unwrap_err().code(), "INVALID_ARGUMENT");
}
