//! The policy expression language: a PostgreSQL subset with PostgreSQL's semantics.
//!
//! Parse once ([`parse`]), evaluate many rows ([`Expr::eval`]). Three-valued logic throughout:
//! `None` is SQL NULL.

use super::value::{Dec, SqlResult, Type, Value, cast, compare, int_result, int_type, parse_array_literal, unify};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A syntax error with its position (1-based character offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What was wrong.
    pub message: String,
    /// 1-based character position in the expression.
    pub position: usize,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` / `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as SQL.
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// Functions and context values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `current_tenant()`
    CurrentTenant,
    /// `current_user`
    CurrentUser,
    /// `session_user`
    SessionUser,
    /// `current_role`
    CurrentRole,
    /// `current_setting(name [, missing_ok])`
    CurrentSetting,
    /// `lower(text)`
    Lower,
    /// `upper(text)`
    Upper,
    /// `coalesce(...)`
    Coalesce,
    /// `nullif(a, b)`
    NullIf,
    /// `now()`, `current_timestamp`: the call's time.
    Now,
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A literal.
    Lit(Value),
    /// A column of the row.
    Col(String),
    /// A function or context value.
    Func(Func, Vec<Expr>),
    /// `NOT e`
    Not(Box<Expr>),
    /// `a AND b`
    And(Box<Expr>, Box<Expr>),
    /// `a OR b`
    Or(Box<Expr>, Box<Expr>),
    /// `a op b`
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `e IS [NOT] NULL`
    IsNull(Box<Expr>, bool),
    /// `e IS [NOT] TRUE/FALSE` (value, negated)
    IsBool(Box<Expr>, bool, bool),
    /// `a IS [NOT] DISTINCT FROM b` (negated = NOT DISTINCT)
    Distinct(Box<Expr>, Box<Expr>, bool),
    /// `e [NOT] BETWEEN lo AND hi`
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    /// `e [NOT] IN (list)`
    In(Box<Expr>, Vec<Expr>, bool),
    /// `e op ANY/ALL (array)` (all)
    AnyAll(CmpOp, Box<Expr>, Box<Expr>, bool),
    /// `e [NOT] [I]LIKE pattern [ESCAPE c]` (case-insensitive, negated)
    Like(Box<Expr>, Box<Expr>, Option<Box<Expr>>, bool, bool),
    /// `a || b`
    Concat(Box<Expr>, Box<Expr>),
    /// `a + - * / % b`
    Arith(char, Box<Expr>, Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `e::type`, `CAST(e AS type)`
    Cast(Box<Expr>, Type),
    /// `ARRAY[...]`
    Array(Vec<Expr>),
    /// `e -> k` (false) or `e ->> k` (true)
    Json(Box<Expr>, Box<Expr>, bool),
}

/// Values the context functions read, prepared once per call (or once for many rows).
#[derive(Debug, Clone)]
pub struct EvalContext {
    tenant: Value,
    user: Value,
    session_user: Value,
    settings: BTreeMap<String, String>,
    now: Option<Value>,
}

impl Default for EvalContext {
    fn default() -> Self {
        Self::new(None, String::new(), String::new(), BTreeMap::new())
    }
}

impl EvalContext {
    /// `current_tenant()`, `current_user`/`current_role`, `session_user`, `current_setting()`.
    pub fn new(tenant: Option<String>, user: String, session_user: String, settings: BTreeMap<String, String>) -> Self {
        Self {
            tenant: tenant.map(Value::Text).unwrap_or(Value::Null),
            user: Value::Text(user),
            session_user: Value::Text(session_user),
            settings,
            now: None,
        }
    }

    /// Sets the time `now()` returns (ms since the epoch).
    pub fn at(mut self, now_ms: Option<u64>) -> Self {
        self.now = now_ms.map(|ms| Value::Timestamptz(i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1000)));
        self
    }
}

// ----- lexer ------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String, bool),
    Str(String),
    Num(String),
    Op(&'static str),
    End,
}

const OPS: [&str; 19] =
    ["->>", "::", "<>", "!=", "<=", ">=", "||", "->", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ","];

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |m: &str, p: usize| SyntaxError { message: m.to_owned(), position: p + 1 };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '\'' || ((c == 'E' || c == 'e') && chars.get(i + 1) == Some(&'\'')) {
            let escapes = c != '\'';
            i += if escapes { 2 } else { 1 };
            let mut s = String::new();
            loop {
                let Some(&ch) = chars.get(i) else { return Err(err("unterminated quoted string", start)) };
                if ch == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        s.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                if escapes && ch == '\\' {
                    i += 1;
                    let e = chars.get(i).copied().unwrap_or('\\');
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                    i += 1;
                    continue;
                }
                s.push(ch);
                i += 1;
            }
            out.push((Tok::Str(s), start));
            continue;
        }
        if c == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&ch) = chars.get(i) else { return Err(err("unterminated quoted identifier", start)) };
                i += 1;
                if ch == '"' {
                    if chars.get(i) == Some(&'"') {
                        s.push('"');
                        i += 1;
                        continue;
                    }
                    break;
                }
                s.push(ch);
            }
            out.push((Tok::Ident(s, true), start));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push((Tok::Num(chars[start..i].iter().collect()), start));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push((Tok::Ident(word.to_lowercase(), false), start));
            continue;
        }
        if c == '[' || c == ']' || c == '.' {
            out.push((
                Tok::Op(if c == '[' {
                    "["
                } else if c == ']' {
                    "]"
                } else {
                    "."
                }),
                start,
            ));
            i += 1;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(**op)) {
            Some(op) => {
                out.push((Tok::Op(op), start));
                i += op.chars().count();
            }
            None => return Err(err(&format!("syntax error at or near \"{c}\""), start)),
        }
    }
    out.push((Tok::End, chars.len()));
    Ok(out)
}

// ----- parser -----------------------------------------------------------------------------------

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
}

type PResult<T> = Result<T, SyntaxError>;

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].0
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.i + k).min(self.toks.len() - 1)].0
    }

    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].1 + 1
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(SyntaxError { message: message.into(), position: self.pos() })
    }

    fn near<T>(&self) -> PResult<T> {
        let near = match self.peek() {
            Tok::End => return self.err("syntax error at end of input"),
            Tok::Ident(s, _) | Tok::Num(s) => s.clone(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Op(o) => (*o).to_owned(),
        };
        self.err(format!("syntax error at or near \"{near}\""))
    }

    fn kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s, false) if s == k)
    }

    fn kw_at(&self, n: usize, k: &str) -> bool {
        matches!(self.peek_at(n), Tok::Ident(s, false) if s == k)
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        if self.kw(k) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn op(&self, o: &str) -> bool {
        matches!(self.peek(), Tok::Op(x) if *x == o)
    }

    fn eat_op(&mut self, o: &str) -> bool {
        if self.op(o) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, o: &str) -> PResult<()> {
        if self.eat_op(o) { Ok(()) } else { self.near() }
    }

    fn expect_kw(&mut self, k: &str) -> PResult<()> {
        if self.eat_kw(k) { Ok(()) } else { self.near() }
    }

    fn list(&mut self) -> PResult<Vec<Expr>> {
        let mut v = vec![self.expr(0)?];
        while self.eat_op(",") {
            v.push(self.expr(0)?);
        }
        Ok(v)
    }

    fn type_name(&mut self) -> PResult<Type> {
        let Tok::Ident(mut name, _) = self.peek().clone() else { return self.near() };
        self.i += 1;
        if (name == "character" && self.eat_kw("varying")) || (name == "double" && self.eat_kw("precision")) {
            name = format!("{name} varying");
        }
        if self.op("[") && matches!(self.peek_at(1), Tok::Op("]")) {
            self.i += 2;
            name.push_str("[]");
        }
        match Type::parse(&name) {
            Some(t) => Ok(t),
            None => Err(SyntaxError {
                message: format!("type \"{name}\" is not supported"),
                position: self.toks[self.i - 1].1 + 1,
            }),
        }
    }

    /// Binding powers follow PostgreSQL's operator precedence table.
    fn expr(&mut self, min: u8) -> PResult<Expr> {
        let mut lhs = self.prefix()?;
        loop {
            let (bp, kind) = match self.peek() {
                Tok::Op("::") => (11, "cast"),
                Tok::Op("[") => (11, "subscript"),
                Tok::Op("*" | "/" | "%") => (9, "arith"),
                Tok::Op("+" | "-") => (8, "arith"),
                Tok::Op("||" | "->" | "->>") => (7, "other"),
                Tok::Ident(s, false) if s == "between" || s == "in" || s == "like" || s == "ilike" => (6, "pred"),
                Tok::Ident(s, false)
                    if s == "not"
                        && (self.kw_at(1, "between")
                            || self.kw_at(1, "in")
                            || self.kw_at(1, "like")
                            || self.kw_at(1, "ilike")) =>
                {
                    (6, "pred")
                }
                Tok::Op("=" | "<>" | "!=" | "<" | "<=" | ">" | ">=") => (5, "cmp"),
                Tok::Ident(s, false) if s == "is" || s == "isnull" || s == "notnull" => (4, "is"),
                Tok::Ident(s, false) if s == "and" => (2, "and"),
                Tok::Ident(s, false) if s == "or" => (1, "or"),
                _ => break,
            };
            if bp < min {
                break;
            }
            lhs = match kind {
                "cast" => {
                    self.i += 1;
                    let t = self.type_name()?;
                    Expr::Cast(b(lhs), t)
                }
                "subscript" => return self.err("array subscripts are not supported"),
                "arith" => {
                    let Tok::Op(o) = self.peek().clone() else { return self.near() };
                    self.i += 1;
                    let rhs = self.expr(bp + 1)?;
                    Expr::Arith(o.chars().next().unwrap_or('+'), b(lhs), b(rhs))
                }
                "other" => {
                    let Tok::Op(o) = self.peek().clone() else { return self.near() };
                    self.i += 1;
                    let rhs = self.expr(bp + 1)?;
                    match o {
                        "||" => Expr::Concat(b(lhs), b(rhs)),
                        "->" => Expr::Json(b(lhs), b(rhs), false),
                        _ => Expr::Json(b(lhs), b(rhs), true),
                    }
                }
                "pred" => {
                    let neg = self.eat_kw("not");
                    if self.eat_kw("between") {
                        let lo = self.expr(bp + 1)?;
                        self.expect_kw("and")?;
                        let hi = self.expr(bp + 1)?;
                        Expr::Between(b(lhs), b(lo), b(hi), neg)
                    } else if self.eat_kw("in") {
                        self.expect_op("(")?;
                        let items = self.list()?;
                        self.expect_op(")")?;
                        Expr::In(b(lhs), items, neg)
                    } else {
                        let ci = self.kw("ilike");
                        self.i += 1;
                        let pat = self.expr(bp + 1)?;
                        let esc = if self.eat_kw("escape") { Some(b(self.expr(bp + 1)?)) } else { None };
                        Expr::Like(b(lhs), b(pat), esc, ci, neg)
                    }
                }
                "cmp" => {
                    let Tok::Op(o) = self.peek().clone() else { return self.near() };
                    self.i += 1;
                    let op = match o {
                        "=" => CmpOp::Eq,
                        "<>" | "!=" => CmpOp::Ne,
                        "<" => CmpOp::Lt,
                        "<=" => CmpOp::Le,
                        ">" => CmpOp::Gt,
                        _ => CmpOp::Ge,
                    };
                    if (self.kw("any") || self.kw("some") || self.kw("all")) && matches!(self.peek_at(1), Tok::Op("("))
                    {
                        let all = self.kw("all");
                        self.i += 2;
                        let arr = self.expr(0)?;
                        self.expect_op(")")?;
                        Expr::AnyAll(op, b(lhs), b(arr), all)
                    } else {
                        let rhs = self.expr(bp + 1)?;
                        if matches!(self.peek(), Tok::Op("=" | "<>" | "!=" | "<" | "<=" | ">" | ">=")) {
                            return self.near();
                        }
                        Expr::Cmp(op, b(lhs), b(rhs))
                    }
                }
                "is" => {
                    if self.eat_kw("isnull") {
                        Expr::IsNull(b(lhs), false)
                    } else if self.eat_kw("notnull") {
                        Expr::IsNull(b(lhs), true)
                    } else {
                        self.i += 1;
                        let neg = self.eat_kw("not");
                        if self.eat_kw("null") {
                            Expr::IsNull(b(lhs), neg)
                        } else if self.eat_kw("true") {
                            Expr::IsBool(b(lhs), true, neg)
                        } else if self.eat_kw("false") {
                            Expr::IsBool(b(lhs), false, neg)
                        } else if self.eat_kw("unknown") {
                            Expr::IsNull(b(lhs), neg)
                        } else if self.eat_kw("distinct") {
                            self.expect_kw("from")?;
                            let rhs = self.expr(bp + 1)?;
                            Expr::Distinct(b(lhs), b(rhs), neg)
                        } else {
                            return self.near();
                        }
                    }
                }
                "and" => {
                    self.i += 1;
                    let rhs = self.expr(bp + 1)?;
                    Expr::And(b(lhs), b(rhs))
                }
                _ => {
                    self.i += 1;
                    let rhs = self.expr(bp + 1)?;
                    Expr::Or(b(lhs), b(rhs))
                }
            };
        }
        Ok(lhs)
    }

    fn prefix(&mut self) -> PResult<Expr> {
        let tok = self.peek().clone();
        match tok {
            Tok::Op("(") => {
                self.i += 1;
                let e = self.expr(0)?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Op("-") => {
                self.i += 1;
                let e = self.expr(10)?;
                Ok(match e {
                    Expr::Lit(Value::Int4(v)) => Expr::Lit(Value::Int4(-v)),
                    Expr::Lit(Value::Int8(v)) => Expr::Lit(Value::Int8(-v)),
                    other => Expr::Neg(b(other)),
                })
            }
            Tok::Op("+") => {
                self.i += 1;
                self.expr(10)
            }
            Tok::Str(s) => {
                self.i += 1;
                Ok(Expr::Lit(Value::Unknown(s)))
            }
            Tok::Num(n) => {
                self.i += 1;
                if n.contains('.') {
                    return Dec::parse(&n).map(|d| Expr::Lit(Value::Numeric(d))).map_or_else(|| self.near(), Ok);
                }
                Ok(Expr::Lit(match n.parse::<i32>() {
                    Ok(v) => Value::Int4(v),
                    Err(_) => match n.parse::<i64>() {
                        Ok(v) => Value::Int8(v),
                        Err(_) => Value::Numeric(Dec::parse(&n).unwrap_or(Dec::int(0))),
                    },
                }))
            }
            Tok::Ident(word, true) => {
                self.i += 1;
                self.column(word)
            }
            Tok::Ident(word, false) => self.word(word),
            _ => self.near(),
        }
    }

    fn column(&mut self, first: String) -> PResult<Expr> {
        // `table.column`: the table qualifier is dropped (one table per policy).
        if self.eat_op(".") {
            return match self.peek().clone() {
                Tok::Ident(col, _) => {
                    self.i += 1;
                    Ok(Expr::Col(col))
                }
                _ => self.near(),
            };
        }
        Ok(Expr::Col(first))
    }

    fn word(&mut self, word: String) -> PResult<Expr> {
        let call = matches!(self.peek_at(1), Tok::Op("("));
        match word.as_str() {
            "true" | "false" => {
                self.i += 1;
                Ok(Expr::Lit(Value::Bool(word == "true")))
            }
            "null" => {
                self.i += 1;
                Ok(Expr::Lit(Value::Null))
            }
            "not" => {
                self.i += 1;
                Ok(Expr::Not(b(self.expr(3)?)))
            }
            "current_timestamp" if !call => {
                self.i += 1;
                Ok(Expr::Func(Func::Now, vec![]))
            }
            "current_user" | "session_user" | "current_role" | "user" if !call => {
                self.i += 1;
                Ok(Expr::Func(
                    match word.as_str() {
                        "session_user" => Func::SessionUser,
                        "current_role" => Func::CurrentRole,
                        _ => Func::CurrentUser,
                    },
                    vec![],
                ))
            }
            "array" if matches!(self.peek_at(1), Tok::Op("[")) => {
                self.i += 2;
                let items = if self.op("]") { vec![] } else { self.list()? };
                self.expect_op("]")?;
                let arr = Expr::Array(items);
                // Fold an array of literals once, at compile time (same rules as at run time).
                if let Expr::Array(items) = &arr
                    && !items.is_empty()
                    && items.iter().all(|i| matches!(i, Expr::Lit(_)))
                    && let Ok(v) = arr.eval(&Row::new(), &EvalContext::default())
                {
                    return Ok(Expr::Lit(v));
                }
                Ok(arr)
            }
            "cast" if call => {
                self.i += 2;
                let e = self.expr(0)?;
                self.expect_kw("as")?;
                let t = self.type_name()?;
                self.expect_op(")")?;
                Ok(Expr::Cast(b(e), t))
            }
            _ if call => {
                let f = match word.as_str() {
                    "current_tenant" => Func::CurrentTenant,
                    "current_setting" => Func::CurrentSetting,
                    "lower" => Func::Lower,
                    "upper" => Func::Upper,
                    "coalesce" => Func::Coalesce,
                    "nullif" => Func::NullIf,
                    "now" => Func::Now,
                    _ => return self.err(format!("function {word}() is not supported in policies")),
                };
                self.i += 2;
                let args = if self.op(")") { vec![] } else { self.list()? };
                self.expect_op(")")?;
                let arity_ok = match f {
                    Func::CurrentTenant | Func::Now => args.is_empty(),
                    Func::CurrentSetting => args.len() == 1 || args.len() == 2,
                    Func::Lower | Func::Upper => args.len() == 1,
                    Func::NullIf => args.len() == 2,
                    Func::Coalesce => !args.is_empty(),
                    _ => true,
                };
                if !arity_ok {
                    return self
                        .err(format!("function {word}() called with the wrong number of arguments ({})", args.len()));
                }
                Ok(Expr::Func(f, args))
            }
            _ if matches!(self.peek_at(1), Tok::Str(_)) && Type::parse(&word).is_some() => {
                // A typed literal: uuid '...', int '42', jsonb '{}'.
                let t = self.type_name()?;
                let Tok::Str(s) = self.peek().clone() else { return self.near() };
                self.i += 1;
                Ok(Expr::Cast(b(Expr::Lit(Value::Unknown(s))), t))
            }
            "and" | "or" | "is" | "in" | "like" | "ilike" | "between" | "then" | "else" | "end" | "from" | "as" => {
                self.near()
            }
            _ => {
                self.i += 1;
                self.column(word)
            }
        }
    }
}

/// Parses a policy expression.
pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
    let toks = lex(src)?;
    let mut p = Parser { toks, i: 0 };
    if matches!(p.peek(), Tok::End) {
        return p.err("syntax error at end of input");
    }
    let e = p.expr(0)?;
    if !matches!(p.peek(), Tok::End) {
        return p.near();
    }
    Ok(e)
}

// ----- evaluation -------------------------------------------------------------------------------

/// A row: column name to value.
pub type Row = BTreeMap<String, Value>;

fn truth(v: &Value) -> SqlResult<Option<bool>> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Unknown(s) => match super::value::parse_as(&Type::Bool, s)? {
            Value::Bool(b) => Ok(Some(b)),
            _ => Ok(None),
        },
        other => Err(format!("argument of boolean expression must be type boolean, not type {}", other.ty())),
    }
}

fn b3(v: Option<bool>) -> Value {
    v.map(Value::Bool).unwrap_or(Value::Null)
}

/// SQL LIKE over any symbols (chars, or bytes for ASCII): `%` any run, `_` one symbol,
/// `esc` quotes the next symbol. Iterative, backtracking only to the last `%`.
fn like<T: PartialEq + Copy>(text: &[T], pat: &[T], esc: Option<T>, any: T, one: T) -> bool {
    let (mut t, mut p) = (0usize, 0usize);
    let (mut star_p, mut star_t) = (usize::MAX, 0usize);
    while t < text.len() {
        if p < pat.len() {
            let c = pat[p];
            if Some(c) == esc {
                if let Some(&lit) = pat.get(p + 1)
                    && lit == text[t]
                {
                    p += 2;
                    t += 1;
                    continue;
                }
            } else if c == any {
                star_p = p;
                star_t = t;
                p += 1;
                continue;
            } else if c == one || c == text[t] {
                p += 1;
                t += 1;
                continue;
            }
        }
        if star_p != usize::MAX {
            p = star_p + 1;
            star_t += 1;
            t = star_t;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == any {
        p += 1;
    }
    p == pat.len()
}

fn as_text(v: Value) -> SqlResult<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Unknown(s) => Ok(Value::Text(s)),
        Value::Text(_) => Ok(v),
        other => Err(format!("function requires text, got {}", other.ty())),
    }
}

impl Expr {
    /// Evaluates the expression on `row` (three-valued: NULL is `Value::Null`).
    pub fn eval(&self, row: &Row, ctx: &EvalContext) -> SqlResult<Value> {
        Ok(match self {
            Expr::Lit(v) => v.clone(),
            Expr::Col(c) => row.get(c).cloned().ok_or_else(|| format!("column \"{c}\" does not exist"))?,
            Expr::Func(f, args) => match f {
                Func::CurrentTenant => ctx.tenant.clone(),
                Func::CurrentUser | Func::CurrentRole => ctx.user.clone(),
                Func::SessionUser => ctx.session_user.clone(),
                Func::Now => ctx.now.clone().ok_or("now() needs the call's time (RlsContext.now_ms)")?,
                Func::CurrentSetting => {
                    let name = cast(args[0].eval(row, ctx)?, &Type::Text)?.to_text().unwrap_or_default();
                    let missing_ok = match args.get(1) {
                        Some(e) => truth(&e.eval(row, ctx)?)?.unwrap_or(false),
                        None => false,
                    };
                    match ctx.settings.get(&name) {
                        Some(v) => Value::Text(v.clone()),
                        None if missing_ok => Value::Null,
                        None => return Err(format!("unrecognized configuration parameter \"{name}\"")),
                    }
                }
                Func::Lower | Func::Upper => match as_text(args[0].eval(row, ctx)?)? {
                    Value::Text(s) => Value::Text(if *f == Func::Lower { s.to_lowercase() } else { s.to_uppercase() }),
                    other => other,
                },
                Func::Coalesce => {
                    let mut vals = Vec::new();
                    for a in args {
                        vals.push(a.eval(row, ctx)?);
                    }
                    let t = vals.iter().map(Value::ty).find(|t| *t != Type::Unknown).unwrap_or(Type::Text);
                    let mut out = Value::Null;
                    for v in vals {
                        let v = cast_implicit(v, &t)?;
                        if !v.is_null() {
                            out = v;
                            break;
                        }
                    }
                    out
                }
                Func::NullIf => {
                    let (a, bv) = unify(args[0].eval(row, ctx)?, args[1].eval(row, ctx)?)?;
                    if !a.is_null() && !bv.is_null() && compare(&a, &bv, "=")? == Ordering::Equal {
                        Value::Null
                    } else {
                        a
                    }
                }
            },
            Expr::Not(e) => b3(truth(&e.eval(row, ctx)?)?.map(|v| !v)),
            Expr::And(l, r) => {
                let a = truth(&l.eval(row, ctx)?)?;
                if a == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let c = truth(&r.eval(row, ctx)?)?;
                b3(match (a, c) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Expr::Or(l, r) => {
                let a = truth(&l.eval(row, ctx)?)?;
                if a == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let c = truth(&r.eval(row, ctx)?)?;
                b3(match (a, c) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            Expr::Cmp(op, l, r) => {
                // Fast path: leaves compared in place (no clone of column values).
                if let (Some(a), Some(c)) = (l.leaf(row, ctx), r.leaf(row, ctx))
                    && let Some(res) = cmp_ref(*op, a?, c?)
                {
                    return Ok(b3(res?));
                }
                b3(cmp(*op, l.eval(row, ctx)?, r.eval(row, ctx)?)?)
            }
            Expr::IsNull(e, neg) => match e.leaf(row, ctx) {
                Some(v) => Value::Bool(v?.is_null() != *neg),
                None => Value::Bool(e.eval(row, ctx)?.is_null() != *neg),
            },
            Expr::IsBool(e, want, neg) => Value::Bool((truth(&e.eval(row, ctx)?)? == Some(*want)) != *neg),
            Expr::Distinct(l, r, not) => {
                let (a, c) = unify(l.eval(row, ctx)?, r.eval(row, ctx)?)?;
                let distinct = match (a.is_null(), c.is_null()) {
                    (true, true) => false,
                    (true, false) | (false, true) => true,
                    _ => compare(&a, &c, "IS DISTINCT FROM")? != Ordering::Equal,
                };
                Value::Bool(distinct != *not)
            }
            Expr::Between(e, lo, hi, neg) => {
                let v = e.eval(row, ctx)?;
                let a = cmp(CmpOp::Ge, v.clone(), lo.eval(row, ctx)?)?;
                let c = cmp(CmpOp::Le, v, hi.eval(row, ctx)?)?;
                let both = match (a, c) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                b3(if *neg { both.map(|x| !x) } else { both })
            }
            Expr::In(e, items, neg) => {
                if let Some(v) = e.leaf(row, ctx) {
                    let v = v?;
                    let mut refs = Vec::with_capacity(items.len());
                    for it in items {
                        match it.leaf(row, ctx) {
                            Some(x) => refs.push(x?),
                            None => break,
                        }
                    }
                    if refs.len() == items.len()
                        && let Some(found) = any_ref(CmpOp::Eq, v, refs.into_iter(), false)
                    {
                        let found = found?;
                        return Ok(b3(if *neg { found.map(|x| !x) } else { found }));
                    }
                }
                let v = e.eval(row, ctx)?;
                let mut vals = Vec::with_capacity(items.len());
                for it in items {
                    vals.push(it.eval(row, ctx)?);
                }
                let found = any_match(CmpOp::Eq, &v, &vals, false)?;
                b3(if *neg { found.map(|x| !x) } else { found })
            }
            Expr::AnyAll(op, e, arr, all) => {
                if let (Some(v), Some(a)) = (e.leaf(row, ctx), arr.leaf(row, ctx)) {
                    match a? {
                        Value::Null => return Ok(Value::Null),
                        Value::Array(_, xs) => {
                            if let Some(r) = any_ref(*op, v?, xs.iter(), *all) {
                                return Ok(b3(r?));
                            }
                        }
                        _ => {}
                    }
                }
                let v = e.eval(row, ctx)?;
                let a = arr.eval(row, ctx)?;
                let elems = match a {
                    Value::Null => return Ok(Value::Null),
                    Value::Array(_, xs) => xs,
                    Value::Unknown(s) => {
                        let t = if v.ty() == Type::Unknown { Type::Text } else { v.ty() };
                        match parse_array_literal(&t, &s)? {
                            Value::Array(_, xs) => xs,
                            _ => vec![],
                        }
                    }
                    other => {
                        return Err(format!("op ANY/ALL (array) requires array on right side, got {}", other.ty()));
                    }
                };
                b3(any_match(*op, &v, &elems, *all)?)
            }
            Expr::Like(e, p, None, false, neg)
                if !matches!((e.leaf(row, ctx), p.leaf(row, ctx)), (None, _) | (_, None)) =>
            {
                // Fast path: ASCII text and pattern matched on bytes, no allocation.
                let (Some(Ok(a)), Some(Ok(q))) = (e.leaf(row, ctx), p.leaf(row, ctx)) else {
                    return self.eval_like_slow(row, ctx);
                };
                match (a, q) {
                    (Value::Null, _) | (_, Value::Null) => Value::Null,
                    (Value::Text(s) | Value::Unknown(s), Value::Text(pat) | Value::Unknown(pat))
                        if s.is_ascii() && pat.is_ascii() =>
                    {
                        Value::Bool(like(s.as_bytes(), pat.as_bytes(), Some(b'\\'), b'%', b'_') != *neg)
                    }
                    _ => return self.eval_like_slow(row, ctx),
                }
            }
            Expr::Like(..) => return self.eval_like_slow(row, ctx),
            Expr::Concat(l, r) => {
                let (a, c) = (l.eval(row, ctx)?, r.eval(row, ctx)?);
                if a.is_null() || c.is_null() {
                    return Ok(Value::Null);
                }
                if matches!(a, Value::Array(..)) || matches!(c, Value::Array(..)) {
                    return Err("array concatenation is not supported in policies".into());
                }
                Value::Text(format!("{}{}", a.to_text().unwrap_or_default(), c.to_text().unwrap_or_default()))
            }
            _ => return self.eval_rest(row, ctx),
        })
    }

    fn eval_like_slow(&self, row: &Row, ctx: &EvalContext) -> SqlResult<Value> {
        let Expr::Like(e, p, esc, ci, neg) = self else { return Err("internal: not a LIKE".into()) };
        Ok({
            let (Value::Text(s) | Value::Unknown(s)) = as_text(e.eval(row, ctx)?)? else { return Ok(Value::Null) };
            let (Value::Text(pat) | Value::Unknown(pat)) = as_text(p.eval(row, ctx)?)? else {
                return Ok(Value::Null);
            };
            let esc_char = match esc {
                None => Some('\\'),
                Some(x) => match as_text(x.eval(row, ctx)?)? {
                    Value::Text(t) if t.is_empty() => None,
                    Value::Text(t) if t.chars().count() == 1 => t.chars().next(),
                    Value::Null => return Ok(Value::Null),
                    _ => return Err("invalid escape string".into()),
                },
            };
            let (s, pat) = if *ci { (s.to_lowercase(), pat.to_lowercase()) } else { (s, pat) };
            let s: Vec<char> = s.chars().collect();
            let pat: Vec<char> = pat.chars().collect();
            Value::Bool(like(&s, &pat, esc_char, '%', '_') != *neg)
        })
    }

    fn eval_rest(&self, row: &Row, ctx: &EvalContext) -> SqlResult<Value> {
        Ok(match self {
            Expr::Arith(op, l, r) => arith(*op, l.eval(row, ctx)?, r.eval(row, ctx)?)?,
            Expr::Neg(e) => match e.eval(row, ctx)? {
                Value::Null => Value::Null,
                Value::Int4(v) => Value::Int4(v.checked_neg().ok_or("integer out of range")?),
                Value::Int8(v) => Value::Int8(v.checked_neg().ok_or("bigint out of range")?),
                Value::Numeric(d) => Value::Numeric(Dec::arith(Dec::int(0), d, '-').ok_or("numeric out of range")?),
                other => return Err(format!("operator does not exist: - {}", other.ty())),
            },
            Expr::Cast(e, t) => cast(e.eval(row, ctx)?, t)?,
            Expr::Array(items) => {
                let mut vals = Vec::new();
                for it in items {
                    vals.push(it.eval(row, ctx)?);
                }
                let t = vals.iter().map(Value::ty).find(|t| *t != Type::Unknown).unwrap_or(Type::Text);
                let vals = vals.into_iter().map(|v| cast_implicit(v, &t)).collect::<SqlResult<Vec<_>>>()?;
                Value::Array(t, vals)
            }
            Expr::Json(e, k, as_text) => {
                let j = match e.eval(row, ctx)? {
                    Value::Null => return Ok(Value::Null),
                    Value::Json(j) => j,
                    Value::Unknown(s) | Value::Text(s) => {
                        serde_json::from_str(&s).map_err(|_| "invalid input syntax for type json".to_owned())?
                    }
                    other => return Err(format!("operator does not exist: {} -> unknown", other.ty())),
                };
                let got = match k.eval(row, ctx)? {
                    Value::Null => return Ok(Value::Null),
                    Value::Int4(i) => j.as_array().and_then(|a| {
                        let idx = if i < 0 { a.len() as i64 + i64::from(i) } else { i64::from(i) };
                        usize::try_from(idx).ok().and_then(|u| a.get(u))
                    }),
                    Value::Unknown(s) | Value::Text(s) => j.as_object().and_then(|o| o.get(&s)),
                    other => return Err(format!("operator does not exist: jsonb -> {}", other.ty())),
                };
                match got {
                    None => Value::Null,
                    Some(v) if *as_text => match v {
                        serde_json::Value::Null => Value::Null,
                        serde_json::Value::String(s) => Value::Text(s.clone()),
                        other => Value::Text(other.to_string()),
                    },
                    Some(v) => Value::Json(v.clone()),
                }
            }
            _ => return Err("internal: unexpected expression".into()),
        })
    }

    /// A borrowed value for leaves (columns, literals, context values); `None` for the rest.
    #[inline]
    fn leaf<'a>(&'a self, row: &'a Row, ctx: &'a EvalContext) -> Option<SqlResult<&'a Value>> {
        match self {
            Expr::Lit(v) => Some(Ok(v)),
            Expr::Col(c) => Some(row.get(c).ok_or_else(|| format!("column \"{c}\" does not exist"))),
            Expr::Func(Func::CurrentTenant, _) => Some(Ok(&ctx.tenant)),
            Expr::Func(Func::CurrentUser | Func::CurrentRole, _) => Some(Ok(&ctx.user)),
            Expr::Func(Func::SessionUser, _) => Some(Ok(&ctx.session_user)),
            Expr::Func(Func::Now, _) => {
                Some(ctx.now.as_ref().ok_or_else(|| "now() needs the call's time (RlsContext.now_ms)".to_owned()))
            }
            _ => None,
        }
    }

    /// Evaluates to SQL truth (`None` is NULL); non-boolean results are errors.
    pub fn truth(&self, row: &Row, ctx: &EvalContext) -> SqlResult<Option<bool>> {
        truth(&self.eval(row, ctx)?)
    }
}

/// Implicit coercion used by COALESCE, ARRAY[] and comparisons: unknown literals take the
/// target type, integers widen, anything else must already match.
fn cast_implicit(v: Value, t: &Type) -> SqlResult<Value> {
    match (&v, t) {
        (Value::Null, _) => Ok(Value::Null),
        (Value::Unknown(_), _) => cast(v, t),
        (Value::Int4(_), Type::Int8 | Type::Numeric) | (Value::Int8(_), Type::Numeric) => cast(v, t),
        _ if v.ty() == *t => Ok(v),
        _ if v.ty().is_number() && t.is_number() => Ok(v),
        _ => Err(format!("types {} and {} cannot be matched", t, v.ty())),
    }
}

/// Compares two borrowed leaves without cloning; `None` when a literal needs coercion to a
/// non-text type (the caller then takes the general path).
#[inline]
fn cmp_ref(op: CmpOp, a: &Value, c: &Value) -> Option<SqlResult<Option<bool>>> {
    if a.is_null() || c.is_null() {
        // NULL compared with anything is NULL, once the types check (they do for leaves
        // PostgreSQL would accept; an untyped NULL takes the other side's type).
        return match (a, c) {
            (Value::Null, _) | (_, Value::Null) => Some(Ok(None)),
            _ => None,
        };
    }
    match (a, c) {
        (Value::Unknown(x), Value::Text(y) | Value::Unknown(y)) | (Value::Text(x), Value::Unknown(y)) => {
            Some(Ok(Some(op.holds(x.as_bytes().cmp(y.as_bytes())))))
        }
        (Value::Unknown(_), _) | (_, Value::Unknown(_)) => None,
        _ => Some(compare(a, c, op.sql()).map(|o| Some(op.holds(o)))),
    }
}

/// `v op ANY/ALL (elems)` over borrowed values; `None` when coercion is needed.
fn any_ref<'a>(
    op: CmpOp,
    v: &Value,
    elems: impl Iterator<Item = &'a Value>,
    all: bool,
) -> Option<SqlResult<Option<bool>>> {
    let mut saw_null = false;
    let mut any = false;
    for e in elems {
        any = true;
        match cmp_ref(op, v, e)? {
            Ok(Some(r)) if r != all => return Some(Ok(Some(!all))),
            Ok(Some(_)) => {}
            Ok(None) => saw_null = true,
            Err(err) => return Some(Err(err)),
        }
    }
    if v.is_null() && any {
        return Some(Ok(None));
    }
    Some(Ok(if saw_null { None } else { Some(all) }))
}

fn cmp(op: CmpOp, a: Value, c: Value) -> SqlResult<Option<bool>> {
    let (a, c) = unify(a, c)?;
    if a.is_null() || c.is_null() {
        return Ok(None);
    }
    Ok(Some(op.holds(compare(&a, &c, op.sql())?)))
}

/// `v op ANY(elems)` (or ALL): PostgreSQL's NULL rules.
fn any_match(op: CmpOp, v: &Value, elems: &[Value], all: bool) -> SqlResult<Option<bool>> {
    let mut saw_null = false;
    for e in elems {
        match cmp(op, v.clone(), e.clone())? {
            Some(r) if r != all => return Ok(Some(!all)),
            Some(_) => {}
            None => saw_null = true,
        }
    }
    if v.is_null() && !elems.is_empty() {
        return Ok(None);
    }
    Ok(if saw_null { None } else { Some(all) })
}

fn arith(op: char, a: Value, c: Value) -> SqlResult<Value> {
    let (a, c) = unify(a, c)?;
    if a.is_null() || c.is_null() {
        return Ok(Value::Null);
    }
    let (ta, tc) = (a.ty(), c.ty());
    if let Some(t) = int_type(&ta, &tc) {
        let x = match a {
            Value::Int4(v) => i64::from(v),
            Value::Int8(v) => v,
            _ => 0,
        };
        let y = match c {
            Value::Int4(v) => i64::from(v),
            Value::Int8(v) => v,
            _ => 0,
        };
        if (op == '/' || op == '%') && y == 0 {
            return Err("division by zero".into());
        }
        return int_result(
            &t,
            match op {
                '+' => x.checked_add(y),
                '-' => x.checked_sub(y),
                '*' => x.checked_mul(y),
                '/' => x.checked_div(y),
                _ => x.checked_rem(y),
            },
        );
    }
    if ta.is_number() && tc.is_number() {
        let to_dec = |v: Value| match v {
            Value::Int4(i) => Dec::int(i64::from(i)),
            Value::Int8(i) => Dec::int(i),
            Value::Numeric(d) => d,
            _ => Dec::int(0),
        };
        if op == '/' {
            return Dec::divide(to_dec(a), to_dec(c)).map(Value::Numeric);
        }
        if op == '%' {
            return Dec::modulo(to_dec(a), to_dec(c)).map(Value::Numeric);
        }
        return Dec::arith(to_dec(a), to_dec(c), op).map(Value::Numeric).ok_or_else(|| "numeric out of range".into());
    }
    Err(format!("operator does not exist: {ta} {op} {tc}"))
}
