//! Row-level security with PostgreSQL's semantics (`CREATE POLICY`).
//!
//! Per table: RLS enabled or not, forced or not, and named policies. A policy is `PERMISSIVE`
//! (default) or `RESTRICTIVE`, applies `FOR ALL | SELECT | INSERT | UPDATE | DELETE` (default
//! ALL) `TO` roles (default PUBLIC), with `USING` and `WITH CHECK` expressions. For a command
//! the applicable policies combine as (OR of permissive) AND (AND of restrictive); with no
//! permissive policy nothing passes. NULL counts as false.
//!
//! Status: the expression language covers literals (text, integer, numeric, boolean, NULL,
//! typed literals), columns, comparisons, `BETWEEN`, `IS [NOT] NULL/TRUE/FALSE/DISTINCT
//! FROM`, `AND/OR/NOT`, `IN`, `= ANY`/`<> ALL` over arrays, `ARRAY[...]` and `'{...}'`,
//! `[I]LIKE ... ESCAPE`, `||`, arithmetic, casts, `COALESCE`, `NULLIF`, `lower`, `upper`,
//! `->`/`->>`, `timestamptz` (casts, typed literals, declared columns) with `now()`, and the
//! context functions. Not yet: subqueries and other functions.

pub mod expr;
pub mod value;

use crate::error::{Error, Result};
use expr::{EvalContext, Expr, Row, SyntaxError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use value::Value;

/// The command a policy applies to (S1 `RLSCommand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RLSCommand {
    /// Every command.
    #[default]
    All,
    /// `SELECT`
    Select,
    /// `INSERT`
    Insert,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
}

impl RLSCommand {
    /// `ALL`, `SELECT`, ...
    pub fn sql(self) -> &'static str {
        match self {
            RLSCommand::All => "ALL",
            RLSCommand::Select => "SELECT",
            RLSCommand::Insert => "INSERT",
            RLSCommand::Update => "UPDATE",
            RLSCommand::Delete => "DELETE",
        }
    }
}

/// A policy definition, as `CREATE POLICY` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDef {
    /// Name, unique per table.
    pub name: String,
    /// `AS RESTRICTIVE` (default permissive).
    #[serde(default)]
    pub restrictive: bool,
    /// `FOR ...` (default ALL).
    #[serde(default)]
    pub command: RLSCommand,
    /// `TO ...` roles; empty is PUBLIC.
    #[serde(default)]
    pub roles: Vec<String>,
    /// `USING (...)`
    #[serde(default)]
    pub using: Option<String>,
    /// `WITH CHECK (...)`
    #[serde(default)]
    pub with_check: Option<String>,
}

#[derive(Debug, Clone)]
struct Policy {
    def: PolicyDef,
    using: Option<Expr>,
    check: Option<Expr>,
}

#[derive(Debug, Clone, Default)]
struct TableState {
    enabled: bool,
    forced: bool,
    policies: Vec<Policy>,
    columns: BTreeMap<String, value::Type>,
}

/// Who is asking: the values the context functions return, the roles policies are matched
/// against, and PostgreSQL's BYPASSRLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RlsContext {
    /// `current_tenant()`
    pub tenant: Option<String>,
    /// `current_user` / `current_role` (also matched against `TO` roles).
    pub user: String,
    /// Roles the user is a member of (matched against `TO` roles).
    pub roles: Vec<String>,
    /// `current_setting(name)`.
    pub settings: BTreeMap<String, String>,
    /// BYPASSRLS: row-level security does not apply.
    pub bypass: bool,
    /// The user owns the table: RLS applies only if the table forces it.
    pub owner: bool,
    /// The call's time for `now()` (ms since the epoch); hosts fill it from their clock.
    pub now_ms: Option<u64>,
}

impl RlsContext {
    /// Prepares the context for evaluation (do it once for many rows).
    pub fn prepare(&self) -> PreparedContext {
        let eval = EvalContext::new(self.tenant.clone(), self.user.clone(), self.user.clone(), self.settings.clone())
            .at(self.now_ms);
        PreparedContext { ctx: self.clone(), eval }
    }
}

/// A context ready for evaluation: reuse it across rows ([`RlsTable::can_select`]).
#[derive(Debug, Clone)]
pub struct PreparedContext {
    ctx: RlsContext,
    eval: EvalContext,
}

/// A snapshot of one table's RLS state: evaluates rows without locking or lookups. Take a
/// new one after changing the table's policies.
#[derive(Debug, Clone)]
pub struct RlsTable {
    name: String,
    state: Option<Arc<TableState>>,
}

impl RlsTable {
    /// SELECT visibility of `row` (see [`RlsEngine::can_select`]).
    #[inline]
    pub fn can_select(&self, row: &Row, ctx: &PreparedContext) -> Result<bool> {
        match &self.state {
            Some(t) if RlsEngine::applies(t, &ctx.ctx) => {
                Ok(RlsEngine::combined(t, RLSCommand::Select, false, row, &ctx.ctx, &ctx.eval)
                    .map_err(|e| e.in_table(&self.name))?
                    .0)
            }
            _ => Ok(true),
        }
    }
}

/// What one policy evaluated to, for [`RlsEngine::explain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTrace {
    /// Policy name.
    pub name: String,
    /// `permissive` or `restrictive`.
    pub kind: &'static str,
    /// Which expression was evaluated (`using` or `with_check`).
    pub clause: &'static str,
    /// `true`, `false` or `null`.
    pub result: Option<bool>,
}

/// The answer of [`RlsEngine::explain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// Whether RLS applied at all (enabled, not bypassed).
    pub applied: bool,
    /// Each applicable policy and its result.
    pub policies: Vec<PolicyTrace>,
    /// The final answer.
    pub allowed: bool,
}

/// A combined policy as SQL, with context values as bound parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlFilter {
    /// A `WHERE` fragment using `$1`, `$2`, ... for context values.
    pub sql: String,
    /// The parameters, in order.
    pub params: Vec<serde_json::Value>,
}

fn policy_error(table: &str, e: &SyntaxError, clause: &str, policy: &str) -> Error {
    Error::PolicySyntax {
        table: table.to_owned(),
        policy: policy.to_owned(),
        clause: clause.to_owned(),
        message: e.message.clone(),
        position: e.position,
    }
}

/// Row-level security for a set of tables. `Send + Sync`; reads never block each other.
#[derive(Debug, Default)]
pub struct RlsEngine {
    tables: RwLock<HashMap<String, Arc<TableState>>>,
}

/// Converts a host row (JSON object) into SQL values.
pub fn row_from_json(v: &serde_json::Value) -> Result<Row> {
    let obj = v.as_object().ok_or_else(|| Error::invalid("row", "a row must be an object of column name to value"))?;
    Ok(obj.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
}

impl RlsEngine {
    /// An engine with no tables.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<TableState>>> {
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<TableState>>> {
        self.tables.write().unwrap_or_else(|p| p.into_inner())
    }

    /// `ALTER TABLE t ENABLE/DISABLE ROW LEVEL SECURITY` (policies are kept when disabled).
    pub fn set_enabled(&self, table: &str, enabled: bool) {
        Arc::make_mut(self.write().entry(table.to_owned()).or_default()).enabled = enabled;
    }

    /// `ALTER TABLE t [NO] FORCE ROW LEVEL SECURITY`.
    pub fn set_forced(&self, table: &str, forced: bool) {
        Arc::make_mut(self.write().entry(table.to_owned()).or_default()).forced = forced;
    }

    /// Declares column types (`uuid`, `timestamptz`, `numeric`, `integer`, `text[]`, ...):
    /// [`row`](Self::row) converts a host row's values to them, as a PostgreSQL column would.
    /// Undeclared columns take their type from the JSON value.
    pub fn set_column_types(&self, table: &str, columns: &BTreeMap<String, String>) -> Result<()> {
        let mut typed = BTreeMap::new();
        for (c, t) in columns {
            let ty = value::Type::parse(t)
                .ok_or_else(|| Error::invalid(format!("columns.{c}"), format!("unsupported type `{t}`")))?;
            typed.insert(c.clone(), ty);
        }
        Arc::make_mut(self.write().entry(table.to_owned()).or_default()).columns = typed;
        Ok(())
    }

    /// A host row (JSON object) as SQL values, with the table's declared column types applied.
    pub fn row(&self, table: &str, v: &serde_json::Value) -> Result<Row> {
        let mut row = row_from_json(v)?;
        if let Some(t) = self.read().get(table) {
            for (c, ty) in &t.columns {
                if let Some(val) = row.remove(c) {
                    let converted = value::cast(val, ty).map_err(|m| Error::invalid(format!("row.{c}"), m))?;
                    row.insert(c.clone(), converted);
                }
            }
        }
        Ok(row)
    }

    /// `CREATE POLICY` (or replace one of the same name when `replace`). Rejects what
    /// PostgreSQL rejects: WITH CHECK on SELECT/DELETE, USING on INSERT, syntax errors.
    pub fn create_policy(&self, table: &str, def: PolicyDef, replace: bool) -> Result<()> {
        if def.name.is_empty() {
            return Err(Error::invalid("name", "policy name must not be empty"));
        }
        match def.command {
            RLSCommand::Select | RLSCommand::Delete if def.with_check.is_some() => {
                return Err(Error::invalid(
                    "withCheck",
                    "only WITH CHECK expression allowed for INSERT; WITH CHECK cannot be applied to SELECT or DELETE",
                ));
            }
            RLSCommand::Insert if def.using.is_some() => {
                return Err(Error::invalid("using", "only WITH CHECK expression allowed for INSERT"));
            }
            _ => {}
        }
        let using = def
            .using
            .as_deref()
            .map(expr::parse)
            .transpose()
            .map_err(|e| policy_error(table, &e, "using", &def.name))?;
        let check = def
            .with_check
            .as_deref()
            .map(expr::parse)
            .transpose()
            .map_err(|e| policy_error(table, &e, "with_check", &def.name))?;
        let mut g = self.write();
        let t = Arc::make_mut(g.entry(table.to_owned()).or_default());
        match t.policies.iter().position(|p| p.def.name == def.name) {
            Some(i) if replace => t.policies[i] = Policy { def, using, check },
            Some(_) => return Err(Error::PolicyExists { table: table.to_owned(), policy: def.name }),
            None => t.policies.push(Policy { def, using, check }),
        }
        Ok(())
    }

    /// `DROP POLICY`; `false` if there was none.
    pub fn drop_policy(&self, table: &str, name: &str) -> bool {
        let mut g = self.write();
        let Some(t) = g.get_mut(table) else { return false };
        let t = Arc::make_mut(t);
        let before = t.policies.len();
        t.policies.retain(|p| p.def.name != name);
        before != t.policies.len()
    }

    /// The policies of a table, in creation order.
    pub fn policies(&self, table: &str) -> Vec<PolicyDef> {
        self.read().get(table).map(|t| t.policies.iter().map(|p| p.def.clone()).collect()).unwrap_or_default()
    }

    /// (enabled, forced) of a table.
    pub fn table_state(&self, table: &str) -> (bool, bool) {
        self.read().get(table).map(|t| (t.enabled, t.forced)).unwrap_or((false, false))
    }

    fn applies(t: &TableState, ctx: &RlsContext) -> bool {
        t.enabled && !ctx.bypass && (!ctx.owner || t.forced)
    }

    fn matches_role(p: &Policy, ctx: &RlsContext) -> bool {
        p.def.roles.is_empty()
            || p.def
                .roles
                .iter()
                .any(|r| r.eq_ignore_ascii_case("public") || *r == ctx.user || ctx.roles.iter().any(|x| x == r))
    }

    /// Evaluates the combined policies for `cmd` on `row` (`use_check`: the WITH CHECK side,
    /// falling back to USING for ALL/UPDATE policies). Returns the result, the restrictive
    /// policy that failed (if that is why), and the trace.
    fn combined(
        t: &TableState,
        cmd: RLSCommand,
        use_check: bool,
        row: &Row,
        ctx: &RlsContext,
        ec: &EvalContext,
    ) -> Result<(bool, Option<String>, Vec<PolicyTrace>)> {
        let mut any_permissive = None::<bool>;
        let mut failed_restrictive = None;
        let mut all_restrictive = true;
        let mut trace = Vec::new();
        for p in t
            .policies
            .iter()
            .filter(|p| (p.def.command == RLSCommand::All || p.def.command == cmd) && Self::matches_role(p, ctx))
        {
            let (clause, e) = if use_check {
                match (&p.check, &p.using) {
                    (Some(c), _) => ("with_check", Some(c)),
                    (None, Some(u)) if matches!(p.def.command, RLSCommand::All | RLSCommand::Update) => {
                        ("using", Some(u))
                    }
                    _ => ("with_check", None),
                }
            } else {
                ("using", p.using.as_ref())
            };
            // As in PostgreSQL (add_security_quals), a policy without the expression this
            // command needs contributes nothing: it admits nothing and restricts nothing.
            let Some(e) = e else { continue };
            let result = e.truth(row, ec).map_err(|m| Error::PolicyEvaluation {
                table: String::new(),
                policy: p.def.name.clone(),
                message: m,
            })?;
            trace.push(PolicyTrace {
                name: p.def.name.clone(),
                kind: if p.def.restrictive { "restrictive" } else { "permissive" },
                clause,
                result,
            });
            let ok = result == Some(true);
            if p.def.restrictive {
                if !ok && all_restrictive {
                    all_restrictive = false;
                    failed_restrictive = Some(p.def.name.clone());
                }
            } else {
                any_permissive = Some(any_permissive.unwrap_or(false) || ok);
            }
        }
        let permitted = any_permissive == Some(true);
        Ok((permitted && all_restrictive, if permitted { failed_restrictive } else { None }, trace))
    }

    fn with_table<T>(&self, table: &str, f: impl FnOnce(Option<&TableState>) -> Result<T>) -> Result<T> {
        let t = self.read().get(table).cloned();
        f(t.as_deref())
    }

    /// A lock-free snapshot of `table` for evaluating many rows.
    pub fn table(&self, table: &str) -> RlsTable {
        RlsTable { name: table.to_owned(), state: self.read().get(table).cloned() }
    }

    fn visible(&self, table: &str, cmd: RLSCommand, row: &Row, ctx: &RlsContext) -> Result<bool> {
        self.with_table(table, |t| match t {
            Some(t) if Self::applies(t, ctx) => {
                let ec = ctx.prepare().eval;
                Ok(Self::combined(t, cmd, false, row, ctx, &ec).map_err(|e| e.in_table(table))?.0)
            }
            _ => Ok(true),
        })
    }

    fn check_new(&self, table: &str, cmd: RLSCommand, row: &Row, ctx: &RlsContext) -> Result<()> {
        self.with_table(table, |t| match t {
            Some(t) if Self::applies(t, ctx) => {
                let ec = ctx.prepare().eval;
                let (ok, failed, _) = Self::combined(t, cmd, true, row, ctx, &ec).map_err(|e| e.in_table(table))?;
                if ok { Ok(()) } else { Err(Error::PolicyViolation { table: table.to_owned(), policy: failed }) }
            }
            _ => Ok(()),
        })
    }

    /// SELECT: whether `row` is visible (FALSE or NULL hides it; never an error).
    pub fn can_select(&self, table: &str, row: &Row, ctx: &RlsContext) -> Result<bool> {
        self.visible(table, RLSCommand::Select, row, ctx)
    }

    /// INSERT: `Err(PolicyViolation)` ("new row violates row-level security policy ...") if
    /// the new row fails WITH CHECK.
    pub fn check_insert(&self, table: &str, new_row: &Row, ctx: &RlsContext) -> Result<()> {
        self.check_new(table, RLSCommand::Insert, new_row, ctx)
    }

    /// UPDATE: `Ok(false)` if the old row is not visible to UPDATE (nothing is updated);
    /// `Err(PolicyViolation)` if the new row fails WITH CHECK. With `reads` (the statement
    /// reads the row: WHERE or RETURNING), SELECT policies also apply to both rows.
    pub fn check_update(
        &self,
        table: &str,
        old_row: &Row,
        new_row: &Row,
        ctx: &RlsContext,
        reads: bool,
    ) -> Result<bool> {
        if reads && !self.visible(table, RLSCommand::Select, old_row, ctx)? {
            return Ok(false);
        }
        if !self.visible(table, RLSCommand::Update, old_row, ctx)? {
            return Ok(false);
        }
        self.check_new(table, RLSCommand::Update, new_row, ctx)?;
        if reads && !self.visible(table, RLSCommand::Select, new_row, ctx)? {
            return Err(Error::PolicyViolation { table: table.to_owned(), policy: None });
        }
        Ok(true)
    }

    /// DELETE: whether the row may be deleted (not visible: nothing is deleted, no error).
    pub fn check_delete(&self, table: &str, row: &Row, ctx: &RlsContext, reads: bool) -> Result<bool> {
        if reads && !self.visible(table, RLSCommand::Select, row, ctx)? {
            return Ok(false);
        }
        self.visible(table, RLSCommand::Delete, row, ctx)
    }

    /// The indices of the rows visible to SELECT.
    pub fn filter(&self, table: &str, rows: &[Row], ctx: &RlsContext) -> Result<Vec<usize>> {
        let (t, prepared) = (self.table(table), ctx.prepare());
        let mut out = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if t.can_select(r, &prepared)? {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Which policies applied to `cmd` on `row`, what each evaluated to, and the answer.
    pub fn explain(&self, table: &str, cmd: RLSCommand, row: &Row, ctx: &RlsContext) -> Result<Explanation> {
        self.with_table(table, |t| match t {
            Some(t) if Self::applies(t, ctx) => {
                let ec = ctx.prepare().eval;
                let check = cmd == RLSCommand::Insert;
                let (allowed, _, policies) =
                    Self::combined(t, cmd, check, row, ctx, &ec).map_err(|e| e.in_table(table))?;
                Ok(Explanation { applied: true, policies, allowed })
            }
            _ => Ok(Explanation { applied: false, policies: vec![], allowed: true }),
        })
    }

    /// The combined USING policy for `cmd` as a PostgreSQL `WHERE` fragment: context values
    /// become bound parameters (`$1`, ...), never interpolated text.
    pub fn to_sql(&self, table: &str, cmd: RLSCommand, ctx: &RlsContext) -> Result<SqlFilter> {
        self.with_table(table, |t| {
            let mut params: Vec<serde_json::Value> = Vec::new();
            let Some(t) = t.filter(|t| Self::applies(t, ctx)) else {
                return Ok(SqlFilter { sql: "true".into(), params });
            };
            let mut permissive = Vec::new();
            let mut restrictive = Vec::new();
            for p in t
                .policies
                .iter()
                .filter(|p| (p.def.command == RLSCommand::All || p.def.command == cmd) && Self::matches_role(p, ctx))
            {
                let frag = match &p.using {
                    Some(e) => format!("({})", sql::render(e, ctx, &mut params)?),
                    None => "true".to_owned(),
                };
                if p.def.restrictive { restrictive.push(frag) } else { permissive.push(frag) }
            }
            let mut parts =
                vec![if permissive.is_empty() { "false".to_owned() } else { format!("({})", permissive.join(" OR ")) }];
            parts.extend(restrictive);
            Ok(SqlFilter { sql: parts.join(" AND "), params })
        })
    }
}

mod sql {
    //! Renders expressions back to PostgreSQL SQL with bound parameters.
    use super::RlsContext;
    use super::expr::{Expr, Func};
    use super::value::{Type, Value};
    use crate::error::{Error, Result};

    fn ident(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    fn lit(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    fn param(params: &mut Vec<serde_json::Value>, v: serde_json::Value, ty: &str) -> String {
        params.push(v);
        format!("${}::{ty}", params.len())
    }

    fn value(v: &Value) -> String {
        match v {
            Value::Null => "NULL".into(),
            Value::Bool(b) => (if *b { "true" } else { "false" }).into(),
            Value::Int4(i) => i.to_string(),
            Value::Int8(i) => format!("{i}::bigint"),
            Value::Numeric(d) => format!("{d}::numeric"),
            Value::Unknown(s) => lit(s),
            Value::Text(s) => format!("{}::text", lit(s)),
            other => format!("{}::{}", lit(&other.to_text().unwrap_or_default()), other.ty()),
        }
    }

    pub(super) fn render(e: &Expr, ctx: &RlsContext, p: &mut Vec<serde_json::Value>) -> Result<String> {
        let r = |e: &Expr, p: &mut Vec<serde_json::Value>| render(e, ctx, p);
        Ok(match e {
            Expr::Lit(v) => value(v),
            Expr::Col(c) => ident(c),
            Expr::Func(f, args) => match f {
                Func::CurrentTenant => param(
                    p,
                    ctx.tenant.clone().map(serde_json::Value::String).unwrap_or(serde_json::Value::Null),
                    "text",
                ),
                Func::CurrentUser | Func::CurrentRole | Func::SessionUser => {
                    param(p, serde_json::Value::String(ctx.user.clone()), "text")
                }
                Func::CurrentSetting => {
                    let Some(Expr::Lit(Value::Unknown(name))) = args.first() else {
                        return Err(Error::invalid(
                            "policy",
                            "current_setting() needs a literal name to be rendered as SQL",
                        ));
                    };
                    let missing_ok = matches!(args.get(1), Some(Expr::Lit(Value::Bool(true))));
                    match ctx.settings.get(name) {
                        Some(v) => param(p, serde_json::Value::String(v.clone()), "text"),
                        None if missing_ok => param(p, serde_json::Value::Null, "text"),
                        None => {
                            return Err(Error::invalid(
                                "policy",
                                format!("unrecognized configuration parameter \"{name}\""),
                            ));
                        }
                    }
                }
                Func::Lower => format!("lower({})", r(&args[0], p)?),
                Func::Upper => format!("upper({})", r(&args[0], p)?),
                Func::Coalesce => {
                    format!("COALESCE({})", args.iter().map(|a| r(a, p)).collect::<Result<Vec<_>>>()?.join(", "))
                }
                Func::NullIf => format!("NULLIF({}, {})", r(&args[0], p)?, r(&args[1], p)?),
                Func::Now => match ctx.now_ms {
                    Some(ms) => {
                        let us = i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1000);
                        param(p, serde_json::Value::String(super::value::format_timestamptz(us)), "timestamptz")
                    }
                    None => return Err(Error::invalid("context", "now() needs the call's time (nowMs)")),
                },
            },
            Expr::Not(x) => format!("(NOT {})", r(x, p)?),
            Expr::And(a, b) => format!("({} AND {})", r(a, p)?, r(b, p)?),
            Expr::Or(a, b) => format!("({} OR {})", r(a, p)?, r(b, p)?),
            Expr::Cmp(op, a, b) => format!("({} {} {})", r(a, p)?, op.sql(), r(b, p)?),
            Expr::IsNull(x, neg) => format!("({} IS {}NULL)", r(x, p)?, if *neg { "NOT " } else { "" }),
            Expr::IsBool(x, v, neg) => {
                format!("({} IS {}{})", r(x, p)?, if *neg { "NOT " } else { "" }, if *v { "TRUE" } else { "FALSE" })
            }
            Expr::Distinct(a, b, not) => {
                format!("({} IS {}DISTINCT FROM {})", r(a, p)?, if *not { "NOT " } else { "" }, r(b, p)?)
            }
            Expr::Between(x, lo, hi, neg) => {
                format!("({} {}BETWEEN {} AND {})", r(x, p)?, if *neg { "NOT " } else { "" }, r(lo, p)?, r(hi, p)?)
            }
            Expr::In(x, items, neg) => format!(
                "({} {}IN ({}))",
                r(x, p)?,
                if *neg { "NOT " } else { "" },
                items.iter().map(|i| r(i, p)).collect::<Result<Vec<_>>>()?.join(", ")
            ),
            Expr::AnyAll(op, x, arr, all) => {
                format!("({} {} {}({}))", r(x, p)?, op.sql(), if *all { "ALL" } else { "ANY" }, r(arr, p)?)
            }
            Expr::Like(x, pat, esc, ci, neg) => format!(
                "({} {}{} {}{})",
                r(x, p)?,
                if *neg { "NOT " } else { "" },
                if *ci { "ILIKE" } else { "LIKE" },
                r(pat, p)?,
                match esc {
                    Some(e) => format!(" ESCAPE {}", r(e, p)?),
                    None => String::new(),
                }
            ),
            Expr::Concat(a, b) => format!("({} || {})", r(a, p)?, r(b, p)?),
            Expr::Arith(op, a, b) => format!("({} {op} {})", r(a, p)?, r(b, p)?),
            Expr::Neg(x) => format!("(- {})", r(x, p)?),
            Expr::Cast(x, t) => format!("CAST({} AS {})", r(x, p)?, type_sql(t)),
            Expr::Array(items) => {
                format!("ARRAY[{}]", items.iter().map(|i| r(i, p)).collect::<Result<Vec<_>>>()?.join(", "))
            }
            Expr::Json(x, k, text) => format!("({} {} {})", r(x, p)?, if *text { "->>" } else { "->" }, r(k, p)?),
        })
    }

    fn type_sql(t: &Type) -> String {
        match t {
            Type::Unknown => "text".into(),
            other => other.to_string(),
        }
    }
}
