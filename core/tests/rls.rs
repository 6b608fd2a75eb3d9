#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! Row-level security: the expression language and the policy rules, with the answers
//! PostgreSQL gives (each expectation below is PostgreSQL 15's documented behaviour).

use serde_json::json;
use tenantguard::rls::expr::{EvalContext, parse};
use tenantguard::rls::{PolicyDef, RLSCommand, RlsContext, RlsEngine, row_from_json};

fn eval(src: &str, row: serde_json::Value) -> Result<Option<bool>, String> {
    let ctx = EvalContext::new(
        Some("acme".into()),
        "alice".into(),
        "alice".into(),
        [
            ("app.region".to_string(), "eu".to_string()),
            ("app.claims".to_string(), r#"{"role":"admin","lvl":3}"#.to_string()),
        ]
        .into(),
    );
    let e = parse(src).map_err(|e| format!("syntax: {} at {}", e.message, e.position))?;
    e.truth(&row_from_json(&row).unwrap(), &ctx)
}

fn t(src: &str) -> Option<bool> {
    eval(src, json!({"tenant_id": "acme", "n": 5, "big": 5_000_000_000i64, "x": null, "tags": ["a", "b"], "price": 10.5, "doc": {"k": "v", "arr": [1, 2]}}))
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn three_valued_logic() {
    assert_eq!(t("NULL AND false"), Some(false));
    assert_eq!(t("NULL AND true"), None);
    assert_eq!(t("NULL OR true"), Some(true));
    assert_eq!(t("NULL OR false"), None);
    assert_eq!(t("NOT (x = 1)"), None);
    assert_eq!(t("x IS NULL AND n IS NOT NULL"), Some(true));
    assert_eq!(t("(x = 1) IS UNKNOWN"), Some(true));
    assert_eq!(t("(x = 1) IS NOT TRUE"), Some(true));
    assert_eq!(t("x IS DISTINCT FROM NULL"), Some(false));
    assert_eq!(t("n IS DISTINCT FROM x"), Some(true));
    assert_eq!(t("n IS NOT DISTINCT FROM 5"), Some(true));
}

#[test]
fn in_and_any_null_rules() {
    assert_eq!(t("n IN (1, 5)"), Some(true));
    assert_eq!(t("n IN (1, NULL)"), None);
    assert_eq!(t("n NOT IN (1, NULL)"), None);
    assert_eq!(t("n NOT IN (1, 2)"), Some(true));
    assert_eq!(t("x IN (1, 2)"), None);
    assert_eq!(t("'a' = ANY(tags)"), Some(true));
    assert_eq!(t("'z' = ANY(tags)"), Some(false));
    assert_eq!(t("'z' <> ALL(tags)"), Some(true));
    assert_eq!(t("n = ANY('{1,5}')"), Some(true));
    assert_eq!(t("n = ANY(ARRAY[1, NULL])"), None);
    assert_eq!(t("n <> ALL(ARRAY[1, NULL])"), None);
    assert_eq!(t("n = ANY(ARRAY[]::int[])"), Some(false));
}

#[test]
fn comparisons_types_and_casts() {
    assert_eq!(t("tenant_id = current_tenant()"), Some(true));
    assert_eq!(t("n = '5'"), Some(true), "an untyped literal takes the other side's type");
    assert_eq!(t("big > n"), Some(true), "int4 and int8 compare");
    assert_eq!(t("price > 10"), Some(true), "numeric and integer compare");
    assert_eq!(t("price = 10.50"), Some(true), "numeric equality is exact");
    assert_eq!(t("n BETWEEN 1 AND 5"), Some(true));
    assert_eq!(t("n NOT BETWEEN 1 AND 4"), Some(true));
    assert_eq!(t("n::text = '5'"), Some(true));
    assert_eq!(t("CAST('7' AS int) + n = 12"), Some(true));
    assert_eq!(t("'1.5'::numeric::int = 2"), Some(true), "numeric to int rounds half away from zero");
    assert_eq!(
        t("uuid 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"),
        Some(true)
    );
    let e = eval("tenant_id = 5", json!({"tenant_id": "acme"})).unwrap_err();
    assert_eq!(e, "operator does not exist: text = integer");
    let e = eval("n = 'abc'", json!({"n": 1})).unwrap_err();
    assert_eq!(e, "invalid input syntax for type bigint: \"abc\"");
    let e = eval("'x'::uuid IS NULL", json!({})).unwrap_err();
    assert!(e.starts_with("invalid input syntax for type uuid"), "{e}");
    assert_eq!(eval("2147483647 + 1 > 0", json!({})).unwrap_err(), "integer out of range");
    assert_eq!(eval("1 / 0 = 1", json!({})).unwrap_err(), "division by zero");
    assert_eq!(t("7 / 2 = 3 AND -7 / 2 = -3 AND 7 % 3 = 1"), Some(true), "integer division truncates");
    // Numeric division takes PostgreSQL's result scale (values confirmed in PostgreSQL 15).
    assert_eq!(t("(10.5 / 3)::text = '3.5000000000000000'"), Some(true));
    assert_eq!(t("(1::numeric / 3)::text = '0.33333333333333333333'"), Some(true));
    assert_eq!(t("(5000000000 / 3.00)::text = '1666666666.66666667'"), Some(true));
    assert_eq!(t("(0.001 / 7)::text = '0.00014285714285714286'"), Some(true));
    assert_eq!(t("(-7.5 % 2)::text = '-1.5' AND (10.5 % 0.4)::text = '0.1'"), Some(true));
    assert_eq!(t("(12345678.9 / 0.03)::text = '411522630.00000000'"), Some(true));
    assert_eq!(eval("price / 0 = 1", json!({"price": 1.5})).unwrap_err(), "division by zero");
}

#[test]
fn text_like_and_json() {
    assert_eq!(t("tenant_id LIKE 'ac%'"), Some(true));
    assert_eq!(t("tenant_id LIKE 'a_me'"), Some(true));
    assert_eq!(t("tenant_id NOT LIKE 'b%'"), Some(true));
    assert_eq!(t("tenant_id ILIKE 'ACME'"), Some(true));
    assert_eq!(t("'10%' LIKE '10\\%'"), Some(true));
    assert_eq!(t("'10x' LIKE '10\\%'"), Some(false));
    assert_eq!(t("'a_b' LIKE 'a#_b' ESCAPE '#'"), Some(true));
    assert_eq!(t("x LIKE 'a%'"), None);
    assert_eq!(t("lower('ABC') || upper('d') = 'abcD'"), Some(true));
    assert_eq!(t("coalesce(x, 'none') = 'none'"), Some(true));
    assert_eq!(t("nullif(n, 5) IS NULL"), Some(true));
    assert_eq!(t("doc ->> 'k' = 'v'"), Some(true));
    assert_eq!(t("(doc -> 'arr') ->> 1 = '2'"), Some(true));
    assert_eq!(t("current_setting('app.region') = 'eu'"), Some(true));
    assert_eq!(t("current_setting('app.claims')::jsonb ->> 'role' = 'admin'"), Some(true));
    assert_eq!(t("current_setting('app.missing', true) IS NULL"), Some(true));
    assert_eq!(
        eval("current_setting('app.missing') = 'x'", json!({})).unwrap_err(),
        "unrecognized configuration parameter \"app.missing\""
    );
    assert_eq!(t("current_user = 'alice' AND session_user = current_role"), Some(true));
}

#[test]
fn precedence_follows_postgresql() {
    assert_eq!(t("1 + 2 * 3 = 7"), Some(true));
    assert_eq!(t("NOT n = 4"), Some(true), "NOT binds looser than =");
    assert_eq!(t("n = 5 IS TRUE"), Some(true), "IS binds looser than =");
    assert_eq!(t("false AND false OR true"), Some(true));
    assert_eq!(t("'a' || 'b' = 'ab'"), Some(true));
}

#[test]
fn syntax_errors_report_the_position() {
    let e = parse("tenant_id = = current_tenant()").unwrap_err();
    assert_eq!((e.message.as_str(), e.position), ("syntax error at or near \"=\"", 13));
    let e = parse("tenant_id = 'open").unwrap_err();
    assert_eq!(e.message, "unterminated quoted string");
    let e = parse("pg_sleep(1)").unwrap_err();
    assert!(e.message.contains("not supported"));
    assert!(parse("").is_err());
    assert!(parse("a = 1 = 2").is_err(), "comparison operators do not chain");
}

fn engine() -> RlsEngine {
    let e = RlsEngine::new();
    e.set_enabled("docs", true);
    let p = |name: &str,
             restrictive: bool,
             command: RLSCommand,
             roles: &[&str],
             using: Option<&str>,
             check: Option<&str>| PolicyDef {
        name: name.into(),
        restrictive,
        command,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        using: using.map(Into::into),
        with_check: check.map(Into::into),
    };
    e.create_policy(
        "docs",
        p("tenant", false, RLSCommand::All, &[], Some("tenant_id = current_tenant()"), None),
        false,
    )
    .unwrap();
    e.create_policy("docs", p("admins", false, RLSCommand::Select, &["admin"], Some("true"), None), false).unwrap();
    e.create_policy("docs", p("not_archived", true, RLSCommand::All, &[], Some("NOT archived"), None), false).unwrap();
    e.create_policy("docs", p("small_writes", true, RLSCommand::Insert, &[], None, Some("size < 100")), false).unwrap();
    e
}

fn ctx(tenant: &str, roles: &[&str]) -> RlsContext {
    RlsContext {
        tenant: Some(tenant.into()),
        user: "u".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

fn row(v: serde_json::Value) -> tenantguard::rls::expr::Row {
    row_from_json(&v).unwrap()
}

#[test]
fn policies_combine_like_postgresql() {
    let e = engine();
    let mine = row(json!({"tenant_id": "acme", "archived": false, "size": 1}));
    let theirs = row(json!({"tenant_id": "beta", "archived": false, "size": 1}));
    let archived = row(json!({"tenant_id": "acme", "archived": true, "size": 1}));
    let unknown = row(json!({"tenant_id": "acme", "archived": null, "size": 1}));
    let c = ctx("acme", &[]);
    assert!(e.can_select("docs", &mine, &c).unwrap());
    assert!(!e.can_select("docs", &theirs, &c).unwrap());
    assert!(!e.can_select("docs", &archived, &c).unwrap(), "restrictive policies AND in");
    assert!(!e.can_select("docs", &unknown, &c).unwrap(), "NULL hides the row");
    assert!(
        e.can_select("docs", &theirs, &ctx("acme", &["admin"])).unwrap(),
        "permissive policies OR together, per role"
    );
    assert_eq!(e.filter("docs", &[mine.clone(), theirs.clone(), archived.clone()], &c).unwrap(), vec![0]);
    // INSERT: ALL without WITH CHECK uses USING; restrictive INSERT policy adds its check.
    assert!(e.check_insert("docs", &mine, &c).is_ok());
    let err = e.check_insert("docs", &theirs, &c).unwrap_err();
    assert_eq!(err.to_string(), "new row violates row-level security policy for table \"docs\"");
    assert_eq!(err.code(), "POLICY_VIOLATION");
    let big = row(json!({"tenant_id": "acme", "archived": false, "size": 500}));
    assert_eq!(
        e.check_insert("docs", &big, &c).unwrap_err().to_string(),
        "new row violates row-level security policy \"small_writes\" for table \"docs\""
    );
    // UPDATE: invisible old row means nothing is updated, no error; a new row that fails checks is an error.
    assert!(!e.check_update("docs", &theirs, &mine, &c, false).unwrap());
    assert!(e.check_update("docs", &mine, &mine, &c, true).unwrap());
    assert!(e.check_update("docs", &mine, &theirs, &c, false).is_err());
    // DELETE.
    assert!(e.check_delete("docs", &mine, &c, true).unwrap());
    assert!(!e.check_delete("docs", &theirs, &c, true).unwrap());
    // Bypass, disabled, owner.
    assert!(e.can_select("docs", &theirs, &RlsContext { bypass: true, ..c.clone() }).unwrap());
    assert!(e.can_select("docs", &theirs, &RlsContext { owner: true, ..c.clone() }).unwrap());
    e.set_forced("docs", true);
    assert!(
        !e.can_select("docs", &theirs, &RlsContext { owner: true, ..c.clone() }).unwrap(),
        "FORCE applies RLS to the owner"
    );
    e.set_enabled("docs", false);
    assert!(e.can_select("docs", &theirs, &c).unwrap(), "disabled: policies kept but ignored");
    assert_eq!(e.policies("docs").len(), 4);
}

#[test]
fn enabled_without_policies_denies_and_rejections_match_postgresql() {
    let e = RlsEngine::new();
    e.set_enabled("t", true);
    let c = ctx("acme", &[]);
    let r = row(json!({"a": 1}));
    assert!(!e.can_select("t", &r, &c).unwrap(), "default deny");
    let bad = |command, using: Option<&str>, check: Option<&str>| PolicyDef {
        name: "p".into(),
        restrictive: false,
        command,
        roles: vec![],
        using: using.map(Into::into),
        with_check: check.map(Into::into),
    };
    assert_eq!(
        e.create_policy("t", bad(RLSCommand::Select, None, Some("true")), false).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        e.create_policy("t", bad(RLSCommand::Delete, Some("true"), Some("true")), false).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        e.create_policy("t", bad(RLSCommand::Insert, Some("true"), None), false).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let err = e.create_policy("t", bad(RLSCommand::All, Some("a = = 1"), None), false).unwrap_err();
    assert_eq!(err.code(), "POLICY_SYNTAX_ERROR");
    e.create_policy("t", bad(RLSCommand::All, Some("a = 1"), None), false).unwrap();
    assert_eq!(
        e.create_policy("t", bad(RLSCommand::All, Some("a = 2"), None), false).unwrap_err().code(),
        "POLICY_EXISTS"
    );
    e.create_policy("t", bad(RLSCommand::All, Some("a = 2"), None), true).unwrap();
    assert!(!e.can_select("t", &r, &c).unwrap(), "replaced");
    let err = e.can_select("t", &row(json!({"a": "x"})), &c).unwrap_err();
    assert_eq!(err.code(), "POLICY_EVALUATION_ERROR");
    assert!(err.to_string().contains("operator does not exist: text = integer"), "{err}");
    assert!(e.drop_policy("t", "p"));
    assert!(!e.can_select("t", &r, &c).unwrap());
}

#[test]
fn explain_and_to_sql() {
    let e = engine();
    let c = RlsContext { settings: [("app.x".to_string(), "1".to_string())].into(), ..ctx("acme", &[]) };
    let ex = e.explain("docs", RLSCommand::Select, &row(json!({"tenant_id": "acme", "archived": true})), &c).unwrap();
    assert!(ex.applied && !ex.allowed);
    let results: Vec<_> = ex.policies.iter().map(|p| (p.name.as_str(), p.result)).collect();
    assert_eq!(results, vec![("tenant", Some(true)), ("not_archived", Some(false))]);
    let f = e.to_sql("docs", RLSCommand::Select, &c).unwrap();
    assert_eq!(f.sql, "(((\"tenant_id\" = $1::text))) AND ((NOT \"archived\"))");
    assert_eq!(f.params, vec![json!("acme")]);
    let evil = ctx("x'; DROP TABLE docs; --", &[]);
    let f = e.to_sql("docs", RLSCommand::Select, &evil).unwrap();
    assert!(!f.sql.contains("DROP"), "context values are parameters, never SQL text");
    assert_eq!(f.params, vec![json!("x'; DROP TABLE docs; --")]);
}

#[test]
fn s1_create_rls_policy() {
    use tenantguard::tenant::{IsolationMode, RLSCommand, TenantManager};
    let manager = TenantManager::new();
    let _tenant = manager.register_tenant_with_plan("acme".to_string(), IsolationMode::SharedSchema, "pro");
    manager
        .create_rls_policy(
            "documents".to_string(),
            "tenant_isolation".to_string(),
            "tenant_id = current_tenant()".to_string(),
            RLSCommand::All,
            "tenant_id = current_tenant()".to_string(),
            Some("tenant_id = current_tenant()".to_string()),
        )
        .unwrap();
    let c = ctx("acme", &[]);
    assert!(manager.rls().can_select("documents", &row(json!({"tenant_id": "acme"})), &c).unwrap());
    assert!(!manager.rls().can_select("documents", &row(json!({"tenant_id": "beta"})), &c).unwrap());
}
