#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test
//! Differential test of row-level security against a real PostgreSQL.
//!
//! Needs `TG_PG_URL` (`scripts/test.sh` starts a private cluster with `scripts/postgres.sh`
//! and runs this with `--ignored`). Every expression, hand-written and generated, is evaluated
//! on the same rows by PostgreSQL and by tenantguard; every policy set is applied to the same
//! table for several roles and tenants; any disagreement fails the test and prints the case.

use postgres::{Client, NoTls};
use serde_json::{Value as J, json};
use std::collections::BTreeMap;
use tenantguard::rls::expr::{EvalContext, parse};
use tenantguard::rls::{PolicyDef, RLSCommand, RlsContext, RlsEngine, row_from_json};

fn client() -> Client {
    let url = std::env::var("TG_PG_URL").expect("TG_PG_URL is not set: run scripts/test.sh, which starts PostgreSQL");
    Client::connect(&url, NoTls).expect("connect to PostgreSQL")
}

fn rows() -> Vec<J> {
    vec![
        json!({"id": 1, "tenant_id": "acme", "n": 5, "big": 5000000000i64, "price": 10.5, "x": "hello", "tags": ["a", "b"], "doc": {"k": "v", "arr": [1, 2]}, "flag": true, "ts": "2020-01-01 00:00:00+00"}),
        json!({"id": 2, "tenant_id": "beta", "n": 0, "big": -3, "price": 3.25, "x": null, "tags": ["b", null], "doc": {"k": null}, "flag": false, "ts": "2099-12-31 23:59:59.5+00"}),
        json!({"id": 3, "tenant_id": "acme", "n": null, "big": null, "price": null, "x": "10%", "tags": [], "doc": null, "flag": null, "ts": null}),
        json!({"id": 4, "tenant_id": null, "n": -7, "big": 7, "price": 0, "x": "ACME", "tags": null, "doc": {"k": "w"}, "flag": true, "ts": "2025-06-15 12:30:00+02"}),
        json!({"id": 5, "tenant_id": "a_cme", "n": 2147483647, "big": 1, "price": 99.99, "x": "", "tags": ["c"], "doc": {"arr": []}, "flag": false, "ts": "2024-02-29T08:00:00.123456Z"}),
    ]
}

fn setup(c: &mut Client) {
    c.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS expr_test; SET search_path = expr_test;
         DROP TABLE IF EXISTS t;
         CREATE TABLE t (id int PRIMARY KEY, tenant_id text, n bigint, big bigint, price numeric, x text, tags text[], doc jsonb, flag boolean, ts timestamptz);
         CREATE OR REPLACE FUNCTION current_tenant() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('app.tenant', true) $$;
         SET TimeZone = 'UTC'; SET app.tenant = 'acme'; SET app.region = 'eu'; SET app.claims = '{\"role\": \"admin\", \"lvl\": 3}';",
    )
    .unwrap();
    for r in rows() {
        c.execute("INSERT INTO t SELECT * FROM json_populate_record(null::t, $1::text::json)", &[&r.to_string()])
            .unwrap();
    }
}

fn ctx(user: &str) -> EvalContext {
    let settings = [
        ("app.tenant".to_string(), "acme".to_string()),
        ("app.region".to_string(), "eu".to_string()),
        ("app.claims".to_string(), "{\"role\": \"admin\", \"lvl\": 3}".to_string()),
    ];
    EvalContext::new(Some("acme".into()), user.into(), user.into(), settings.into())
}

/// PostgreSQL's answer per row, or its error.
fn pg(c: &mut Client, expr: &str) -> Result<Vec<Option<bool>>, String> {
    // CASE WHEN coerces its condition to boolean exactly as USING / WITH CHECK do (an
    // untyped NULL or 'true' literal becomes boolean; any other type is an error).
    let q = format!("SELECT CASE WHEN ({expr}) THEN true WHEN NOT ({expr}) THEN false END FROM t ORDER BY id");
    let rows = c
        .query(q.as_str(), &[])
        .map_err(|e| e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_else(|| e.to_string()))?;
    rows.iter().map(|r| r.try_get::<_, Option<bool>>(0).map_err(|e| format!("not boolean: {e}"))).collect()
}

/// Our answer per row, or the first error. `ts` is declared `timestamptz`, as in PostgreSQL;
/// `now()` is this process's clock (the test rows are far from it in both directions).
fn ours(expr: &str) -> Result<Vec<Option<bool>>, String> {
    let e = parse(expr).map_err(|e| e.message)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).ok();
    let c = ctx("postgres").at(now);
    let engine = RlsEngine::new();
    engine.set_column_types("t", &[("ts".to_string(), "timestamptz".to_string())].into()).unwrap();
    rows().iter().map(|r| e.truth(&engine.row("t", r).unwrap(), &c)).collect()
}

/// Agreement: same per-row answers, or both refuse. PostgreSQL type-checks before running and
/// aborts the whole statement on a run-time error; tenantguard types values as it meets them,
/// so a PostgreSQL error must show up as an error on at least one row here.
fn agree(c: &mut Client, expr: &str, failures: &mut Vec<String>) -> bool {
    let (p, o) = (pg(c, expr), ours(expr));
    let ok = match (&p, &o) {
        (Ok(a), Ok(b)) => a == b,
        (Err(_), Err(_)) => true,
        _ => false,
    };
    if !ok {
        failures.push(format!("{expr}\n    postgres:    {p:?}\n    tenantguard: {o:?}"));
    }
    ok
}

const HAND_WRITTEN: &[&str] = &[
    "tenant_id = current_tenant()",
    "tenant_id <> current_tenant()",
    "tenant_id != 'acme'",
    "n = 5",
    "n > 0 AND n < 10",
    "n >= 0 OR n IS NULL",
    "NOT (n = 0)",
    "n = '5'",
    "big > n",
    "price > 10",
    "price = 10.50",
    "price BETWEEN 3 AND 11",
    "price NOT BETWEEN 3 AND 11",
    "n BETWEEN -10 AND 10",
    "n IS NULL",
    "n IS NOT NULL",
    "flag",
    "NOT flag",
    "flag IS TRUE",
    "flag IS NOT TRUE",
    "flag IS FALSE",
    "flag IS NOT FALSE",
    "flag IS UNKNOWN",
    "(n = 5) IS NOT TRUE",
    "n IS DISTINCT FROM 5",
    "n IS NOT DISTINCT FROM NULL",
    "tenant_id IS DISTINCT FROM current_tenant()",
    "n IN (0, 5)",
    "n IN (0, NULL)",
    "n NOT IN (0, NULL)",
    "n NOT IN (1, 2)",
    "tenant_id IN ('acme', 'beta')",
    "tenant_id NOT IN ('acme')",
    "'a' = ANY(tags)",
    "'b' = ANY(tags)",
    "'z' <> ALL(tags)",
    "'b' <> ALL(tags)",
    "n = ANY('{0,5}')",
    "n = ANY(ARRAY[1, NULL])",
    "n <> ALL(ARRAY[1, NULL])",
    "tenant_id = ANY(ARRAY['acme', 'beta'])",
    "tenant_id LIKE 'ac%'",
    "tenant_id LIKE 'a_me'",
    "tenant_id NOT LIKE 'b%'",
    "tenant_id ILIKE 'ACME'",
    "x ILIKE 'acme'",
    "x LIKE '10\\%'",
    "x LIKE '10#%' ESCAPE '#'",
    "tenant_id LIKE 'a#_cme' ESCAPE '#'",
    "x LIKE '%'",
    "x LIKE ''",
    "lower(x) = 'acme'",
    "upper(tenant_id) = 'ACME'",
    "tenant_id || '-' || x = 'acme-hello'",
    "x || NULL IS NULL",
    "n + 1 = 6",
    "n * 2 - 1 = 9",
    "n / 2 = 2",
    "n % 2 = 1",
    "-n = -5",
    "n::text = '5'",
    "CAST(n AS text) = '0'",
    "x::int = 5",
    "'12'::int > n",
    "price::int = 11",
    "coalesce(n, 0) = 0",
    "coalesce(x, 'none') = 'none'",
    "nullif(n, 0) IS NULL",
    "doc ->> 'k' = 'v'",
    "doc -> 'k' IS NULL",
    "(doc ->> 'k') IS NULL",
    "(doc -> 'arr') ->> 1 = '2'",
    "current_setting('app.region') = 'eu'",
    "current_setting('app.claims')::jsonb ->> 'role' = 'admin'",
    "current_setting('app.missing', true) IS NULL",
    "current_user = 'postgres'",
    "session_user = current_user",
    "uuid 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
    "NULL AND false",
    "NULL OR true",
    "NULL::boolean",
    "true AND NULL",
    "1 + 2 * 3 = 7",
    "NOT n = 4",
    "false AND false OR true",
    "n = 5 IS TRUE",
    "ts < now()",
    "ts > now()",
    "now() > '2020-01-01'",
    "ts IS NULL",
    "ts >= '2024-02-29'",
    "ts > '2025-06-15T10:00:00Z'",
    "ts = '2025-06-15 10:30:00+00'",
    "ts = timestamptz '2020-01-01 00:00:00+00'",
    "ts BETWEEN '2020-01-01' AND '2025-01-01'",
    "ts::text = '2025-06-15 10:30:00+00'",
    "ts::text = '2099-12-31 23:59:59.5+00'",
    "ts::text = '2024-02-29 08:00:00.123456+00'",
    "ts::text LIKE '2099%'",
    "'2025-01-01 00:00:00+05'::timestamptz::text = '2024-12-31 19:00:00+00'",
    "'2025-01-01 05:30:00-05:30'::timestamptz = '2025-01-01 11:00Z'",
    "ts IN ('2020-01-01 00:00:00+00', NULL)",
    "price / 2 > 5",
    "(price / 3)::text = '3.5000000000000000'",
    "(price / 3)::text LIKE '3.5%'",
    "(1::numeric / 3)::text = '0.33333333333333333333'",
    "(10.5 / 4)::text = '2.6250000000000000'",
    "(100 / 7.0)::text = '14.2857142857142857'",
    "(n / 2.0)::text = '2.5000000000000000'",
    "(big / 3.00)::text = '1666666666.66666667'",
    "(0.001 / 7)::text = '0.00014285714285714286'",
    "(-7.5 / 2)::text = '-3.7500000000000000'",
    "(price % 3)::text = '1.5'",
    "(price % 0.4)::text = '0.1'",
    "(-7.5 % 2)::text = '-1.5'",
    "(12345678.9 / 0.03)::text = '411522630.00000000'",
    // Errors PostgreSQL raises (the statement fails; tenantguard must refuse too).
    "tenant_id = 5",
    "n = 'abc'",
    "'x'::uuid IS NULL",
    "1 / 0 = 1",
    "n + 2147483647 > 0 AND n::int + 1 > 0",
    "current_setting('app.missing') = 'x'",
    "n",
    "tenant_id = = 1",
    "ts = 5",
    "ts > '2025-02-30'",
    "'yesterday-ish'::timestamptz IS NULL",
    "price / 0 = 1",
    "price % 0 = 1",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

const INTS: &[&str] = &[
    "n",
    "big",
    "0",
    "5",
    "-7",
    "NULL",
    "n + 1",
    "n * 2",
    "n % 3",
    "coalesce(n, 1)",
    "nullif(n, 0)",
    "'5'",
    "2147483647",
    "big - n",
];
const TEXTS: &[&str] = &[
    "tenant_id",
    "x",
    "'acme'",
    "'beta'",
    "''",
    "NULL",
    "lower(x)",
    "upper(tenant_id)",
    "tenant_id || 'x'",
    "current_tenant()",
    "current_setting('app.region')",
    "doc ->> 'k'",
    "coalesce(x, 'z')",
];
const NUMS: &[&str] = &[
    "price",
    "10.5",
    "3.25",
    "0",
    "99.99",
    "price + 1",
    "price * 2",
    "NULL",
    "n",
    "price / 3",
    "price % 4",
    "n / 2.5",
    "big / 7.0",
];
const OPS: &[&str] = &["=", "<>", "!=", "<", "<=", ">", ">="];
const PATTERNS: &[&str] = &["'a%'", "'%e'", "'_cme'", "'%'", "''", "'AC%'", "'10\\%'", "'%c%'", "NULL"];

fn atom(r: &mut Rng) -> String {
    match r.next() % 12 {
        0 => format!("{} {} {}", r.pick(INTS), r.pick(OPS), r.pick(INTS)),
        1 => format!("{} {} {}", r.pick(TEXTS), r.pick(OPS), r.pick(TEXTS)),
        2 => format!("{} {} {}", r.pick(NUMS), r.pick(OPS), r.pick(NUMS)),
        3 => format!("{} IS {}NULL", r.pick(&[INTS, TEXTS].concat()), if r.chance(50) { "NOT " } else { "" }),
        4 => format!("{} IS {}DISTINCT FROM {}", r.pick(TEXTS), if r.chance(50) { "NOT " } else { "" }, r.pick(TEXTS)),
        5 => format!(
            "{} {}BETWEEN {} AND {}",
            r.pick(INTS),
            if r.chance(30) { "NOT " } else { "" },
            r.pick(INTS),
            r.pick(INTS)
        ),
        6 => {
            let items: Vec<&str> = (0..1 + r.next() % 3).map(|_| r.pick(&["0", "5", "-7", "NULL", "1"])).collect();
            format!("{} {}IN ({})", r.pick(INTS), if r.chance(40) { "NOT " } else { "" }, items.join(", "))
        }
        7 => format!(
            "{} {}{} {}",
            r.pick(TEXTS),
            if r.chance(30) { "NOT " } else { "" },
            r.pick(&["LIKE", "ILIKE"]),
            r.pick(PATTERNS)
        ),
        8 => format!(
            "{} {} {}({})",
            r.pick(&["'a'", "'b'", "'z'", "x", "NULL"]),
            r.pick(&["=", "<>"]),
            r.pick(&["ANY", "ALL"]),
            r.pick(&["tags", "ARRAY['a', NULL]", "'{a,b}'", "ARRAY['b']"])
        ),
        9 => r
            .pick(&[
                "flag",
                "NOT flag",
                "flag IS TRUE",
                "flag IS NOT FALSE",
                "flag IS UNKNOWN",
                "TRUE",
                "FALSE",
                "NULL",
            ])
            .to_owned(),
        10 => format!(
            "{} {} {}",
            r.pick(&["n::text", "CAST(big AS text)", "price::text"]),
            r.pick(OPS),
            r.pick(&["'5'", "'0'", "'10.5'", "NULL"])
        ),
        _ => format!(
            "({} {} {}) IS {}",
            r.pick(INTS),
            r.pick(OPS),
            r.pick(INTS),
            r.pick(&["TRUE", "NOT TRUE", "FALSE", "NULL", "NOT NULL"])
        ),
    }
}

fn predicate(r: &mut Rng, depth: u32) -> String {
    if depth == 0 || r.chance(35) {
        return atom(r);
    }
    match r.next() % 4 {
        0 => format!("({} AND {})", predicate(r, depth - 1), predicate(r, depth - 1)),
        1 => format!("({} OR {})", predicate(r, depth - 1), predicate(r, depth - 1)),
        2 => format!("NOT ({})", predicate(r, depth - 1)),
        _ => format!("{} {} {}", predicate(r, depth - 1), r.pick(&["AND", "OR"]), atom(r)),
    }
}

#[test]
#[ignore = "needs PostgreSQL: run through scripts/test.sh"]
fn expressions_agree_with_postgresql() {
    let mut c = client();
    setup(&mut c);
    let mut failures = Vec::new();
    for e in HAND_WRITTEN {
        agree(&mut c, e, &mut failures);
    }
    let mut r = Rng(0x7e4a_47c1_2f00_d15e);
    let mut generated = 0;
    let mut both_answered = 0;
    while generated < 2500 {
        let e = predicate(&mut r, 3);
        generated += 1;
        if agree(&mut c, &e, &mut failures) && ours(&e).is_ok() {
            both_answered += 1;
        }
    }
    println!(
        "{} hand-written and {generated} generated expressions compared ({both_answered} generated ones answered on every row)",
        HAND_WRITTEN.len()
    );
    assert!(both_answered > 1000, "too few generated cases were valid ({both_answered}); the generator is off");
    assert!(
        failures.is_empty(),
        "{} disagreements with PostgreSQL:\n{}",
        failures.len(),
        failures.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );
}

// ----- policies ----------------------------------------------------------------------------------

/// (id, tenant_id, owner, size, archived)
type DocRow = (i32, Option<&'static str>, &'static str, i32, Option<bool>);

const DOC_ROWS: &[DocRow] = &[
    (1, Some("acme"), "r_user", 10, Some(false)),
    (2, Some("acme"), "r_admin", 500, Some(false)),
    (3, Some("beta"), "r_user", 20, Some(true)),
    (4, None, "r_user", 5, None),
    (5, Some("beta"), "r_admin", 1000, Some(false)),
];

fn doc_json(id: i32, tenant: Option<&str>, owner: &str, size: i32, archived: Option<bool>) -> J {
    json!({"id": id, "tenant_id": tenant, "owner": owner, "size": size, "archived": archived})
}

fn doc_rows() -> Vec<J> {
    DOC_ROWS.iter().map(|&(i, t, o, s, a)| doc_json(i, t, o, s, a)).collect()
}

const POLICY_EXPRS: &[&str] = &[
    "tenant_id = current_tenant()",
    "owner = current_user",
    "NOT archived",
    "archived IS NOT TRUE",
    "size < 100",
    "size BETWEEN 5 AND 600",
    "tenant_id IN ('acme', NULL)",
    "true",
    "false",
    "tenant_id LIKE 'a%'",
    "coalesce(archived, false) = false",
];

fn random_policies(r: &mut Rng) -> Vec<PolicyDef> {
    let n = 1 + r.next() % 4;
    (0..n)
        .map(|i| {
            let command =
                [RLSCommand::All, RLSCommand::Select, RLSCommand::Insert, RLSCommand::Update, RLSCommand::Delete]
                    [(r.next() % 5) as usize];
            let roles = match r.next() % 3 {
                0 => vec![],
                1 => vec!["r_admin".to_string()],
                _ => vec!["r_user".to_string()],
            };
            let using = if command == RLSCommand::Insert { None } else { Some(r.pick(POLICY_EXPRS).to_owned()) };
            let with_check = if matches!(command, RLSCommand::Select | RLSCommand::Delete)
                || !r.chance(50) && command != RLSCommand::Insert
            {
                None
            } else {
                Some(r.pick(POLICY_EXPRS).to_owned())
            };
            PolicyDef { name: format!("p{i}"), restrictive: r.chance(30), command, roles, using, with_check }
        })
        .collect()
}

fn create_sql(p: &PolicyDef) -> String {
    let mut s = format!(
        "CREATE POLICY {} ON docs AS {} FOR {} TO {}",
        p.name,
        if p.restrictive { "RESTRICTIVE" } else { "PERMISSIVE" },
        p.command.sql(),
        if p.roles.is_empty() { "PUBLIC".to_string() } else { p.roles.join(", ") }
    );
    if let Some(u) = &p.using {
        s.push_str(&format!(" USING ({u})"));
    }
    if let Some(c) = &p.with_check {
        s.push_str(&format!(" WITH CHECK ({c})"));
    }
    s
}

fn pg_err(e: postgres::Error) -> String {
    e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_else(|| e.to_string())
}

fn as_role(c: &mut Client, role: &str, tenant: Option<&str>) {
    c.batch_execute(&format!("SET ROLE {role}")).unwrap();
    match tenant {
        Some(t) => c.execute("SELECT set_config('app.tenant', $1, false)", &[&t]).map(|_| ()).unwrap(),
        None => c.batch_execute("RESET app.tenant").unwrap(),
    }
}

fn outcome<T>(r: tenantguard::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

#[test]
#[ignore = "needs PostgreSQL: run through scripts/test.sh"]
fn policies_agree_with_postgresql() {
    let mut c = client();
    c.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS policy_test; SET search_path = policy_test;
         DROP TABLE IF EXISTS docs;
         DO $$ BEGIN CREATE ROLE r_admin NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         DO $$ BEGIN CREATE ROLE r_user NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         CREATE OR REPLACE FUNCTION current_tenant() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('app.tenant', true) $$;
         CREATE TABLE docs (id int PRIMARY KEY, tenant_id text, owner text, size int, archived boolean);
         GRANT USAGE ON SCHEMA policy_test TO r_admin, r_user;
         GRANT ALL ON docs TO r_admin, r_user;
         ALTER TABLE docs ENABLE ROW LEVEL SECURITY;",
    )
    .unwrap();
    for r in doc_rows() {
        c.execute("INSERT INTO docs SELECT * FROM json_populate_record(null::docs, $1::text::json)", &[&r.to_string()])
            .unwrap();
    }
    let rows: Vec<_> = doc_rows().iter().map(|r| row_from_json(r).unwrap()).collect();
    let candidates = [
        doc_json(10, Some("acme"), "r_user", 50, Some(false)),
        doc_json(11, Some("beta"), "r_admin", 5000, None),
        doc_json(12, None, "r_user", 1, Some(true)),
    ];
    let mut r = Rng(0x51ed_2a11_0bad_cafe);
    let mut failures: Vec<String> = Vec::new();
    let mut cases = 0;
    for _round in 0..60 {
        let policies = random_policies(&mut r);
        c.batch_execute("RESET ROLE").unwrap();
        let existing: Vec<String> = c
            .query("SELECT policyname FROM pg_policies WHERE tablename = 'docs'", &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        for name in existing {
            c.batch_execute(&format!("DROP POLICY {name} ON docs")).unwrap();
        }
        let engine = RlsEngine::new();
        engine.set_enabled("docs", true);
        for p in &policies {
            c.batch_execute(&create_sql(p)).unwrap();
            engine.create_policy("docs", p.clone(), false).unwrap();
        }
        let desc = policies.iter().map(create_sql).collect::<Vec<_>>().join("; ");
        for role in ["r_admin", "r_user"] {
            for tenant in [Some("acme"), Some("beta"), None] {
                let ctx = RlsContext {
                    tenant: tenant.map(Into::into),
                    user: role.into(),
                    roles: vec![role.into()],
                    settings: BTreeMap::new(),
                    ..Default::default()
                };
                let label = format!("[{desc}] as {role}, tenant {tenant:?}");
                // SELECT: the visible rows.
                as_role(&mut c, role, tenant);
                let pg_rows: Result<Vec<i32>, String> = c
                    .query("SELECT id FROM docs ORDER BY id", &[])
                    .map(|rs| rs.iter().map(|x| x.get(0)).collect())
                    .map_err(pg_err);
                let ours_rows: Result<Vec<i32>, String> =
                    outcome(engine.filter("docs", &rows, &ctx)).map(|ix| ix.iter().map(|i| DOC_ROWS[*i].0).collect());
                cases += 1;
                if pg_rows != ours_rows {
                    failures
                        .push(format!("SELECT {label}\n    postgres:    {pg_rows:?}\n    tenantguard: {ours_rows:?}"));
                }
                // INSERT: succeeds or fails with the same message.
                for cand in &candidates {
                    c.batch_execute("BEGIN").unwrap();
                    as_role(&mut c, role, tenant);
                    let pg_res = c
                        .execute(
                            "INSERT INTO docs SELECT * FROM json_populate_record(null::docs, $1::text::json)",
                            &[&cand.to_string()],
                        )
                        .map(|_| ())
                        .map_err(pg_err);
                    c.batch_execute("ROLLBACK").unwrap();
                    let ours_res = outcome(engine.check_insert("docs", &row_from_json(cand).unwrap(), &ctx));
                    cases += 1;
                    if pg_res != ours_res {
                        failures.push(format!(
                            "INSERT {cand} {label}\n    postgres:    {pg_res:?}\n    tenantguard: {ours_res:?}"
                        ));
                    }
                }
                // UPDATE and DELETE of each row (WHERE id = k reads the row: SELECT policies apply too).
                for (i, old) in doc_rows().iter().enumerate() {
                    let id = DOC_ROWS[i].0;
                    let mut new = old.clone();
                    new["size"] = json!(DOC_ROWS[i].3 + 100);
                    c.batch_execute("BEGIN").unwrap();
                    as_role(&mut c, role, tenant);
                    let pg_upd = c
                        .execute("UPDATE docs SET size = size + 100 WHERE id = $1", &[&id])
                        .map(|n| n == 1)
                        .map_err(pg_err);
                    c.batch_execute("ROLLBACK").unwrap();
                    let ours_upd =
                        outcome(engine.check_update("docs", &rows[i], &row_from_json(&new).unwrap(), &ctx, true));
                    c.batch_execute("BEGIN").unwrap();
                    as_role(&mut c, role, tenant);
                    let pg_del = c.execute("DELETE FROM docs WHERE id = $1", &[&id]).map(|n| n == 1).map_err(pg_err);
                    c.batch_execute("ROLLBACK").unwrap();
                    let ours_del = outcome(engine.check_delete("docs", &rows[i], &ctx, true));
                    cases += 2;
                    if pg_upd != ours_upd {
                        failures.push(format!(
                            "UPDATE id={id} {label}\n    postgres:    {pg_upd:?}\n    tenantguard: {ours_upd:?}"
                        ));
                    }
                    if pg_del != ours_del {
                        failures.push(format!(
                            "DELETE id={id} {label}\n    postgres:    {pg_del:?}\n    tenantguard: {ours_del:?}"
                        ));
                    }
                }
                // to_sql, run by the owner (RLS off): must select the same rows.
                c.batch_execute("RESET ROLE").unwrap();
                let f = engine.to_sql("docs", RLSCommand::Select, &ctx).unwrap();
                let params: Vec<Option<String>> = f.params.iter().map(|p| p.as_str().map(str::to_owned)).collect();
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn postgres::types::ToSql + Sync)).collect();
                let via_sql: Result<Vec<i32>, String> = c
                    .query(format!("SELECT id FROM docs WHERE {} ORDER BY id", f.sql).as_str(), &refs)
                    .map(|rs| rs.iter().map(|x| x.get(0)).collect())
                    .map_err(pg_err);
                cases += 1;
                if via_sql.as_ref().ok() != ours_rows.as_ref().ok() {
                    failures.push(format!("to_sql {label}\n    sql: {} {:?}\n    postgres:    {via_sql:?}\n    tenantguard: {ours_rows:?}", f.sql, f.params));
                }
            }
        }
    }
    c.batch_execute("RESET ROLE").unwrap();
    println!("{cases} policy cases compared");
    assert!(
        failures.is_empty(),
        "{} disagreements with PostgreSQL:\n{}",
        failures.len(),
        failures.iter().take(15).cloned().collect::<Vec<_>>().join("\n")
    );
}
