//! Prometheus alerting rules (a Kubernetes `PrometheusRule`'s `spec.groups[].rules[]`) evaluated on the
//! metric series the simulator sampled on its simulated clock ([`SeriesStore`]), reporting when each
//! alert was firing.
//!
//! The expressions are PromQL as users write them for Prometheus. This module has its own small
//! recursive-descent parser and evaluator for the subset alerting rules use (a maintained parser crate,
//! `promql-parser`, pulls in 63 crates including `regex`, `chrono` and an LR parser generator run at
//! build time, and still leaves the evaluator to write). Semantics follow the Prometheus 3 source
//! (`promql/engine.go`, `promql/functions.go`, `promql/quantile.go`, `rules/alerting.go`) and the
//! documentation at <https://prometheus.io/docs/prometheus/latest/querying/>.
//!
//! Supported:
//! - selectors `name{l="v", l!="v", l=~"re", l!~"re"}` (and `{__name__="..."}`); a regex is fully
//!   anchored, as in Prometheus, and may use literals, escaped metacharacters, `|`, `.`, `.*`, `.+`
//!   and one group around the whole pattern;
//! - range selectors `x[5m]` as function arguments;
//! - functions `rate`, `irate`, `increase`, `histogram_quantile`, `avg_over_time`, `max_over_time`,
//!   `min_over_time`, `sum_over_time`, `count_over_time`, `last_over_time`, `abs`, `ceil`, `floor`,
//!   `sqrt`, `exp`, `ln`, `log2`, `log10`, `sgn`, `clamp_min`, `clamp_max`, `vector`, `scalar`, `time`;
//! - aggregations `sum`, `avg`, `min`, `max`, `count` with `by (...)` / `without (...)` before or after
//!   the argument;
//! - binary `+ - * / % ^`, comparisons `== != > < >= <=` (filtering, or with `bool`), set operators
//!   `and`, `or`, `unless`, one-to-one vector matching with `on (...)` / `ignoring (...)`, unary minus,
//!   number literals (`1e3`, `0x1f`, `Inf`, `NaN`), parentheses, `#` comments.
//!
//! Not supported (named in the error): other functions and aggregations (`topk`, `quantile`, ...),
//! `group_left` / `group_right`, `offset`, `@`, subqueries, `atan2`, string literals, native histograms,
//! template expansion in rule labels, `keep_firing_for`. Staleness markers do not exist here: a series
//! the simulator stops sampling stays visible for the 5-minute lookback, as a Prometheus target that
//! vanished without a stale marker would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::metrics::series::{Metric, Series, SeriesStore, METRIC_NAME};
pub use crate::spec::scenario::AlertRule;

const NS_PER_S: u64 = 1_000_000_000;

/// A label set sorted by name (as in [`Metric`]).
type Labels = Vec<(String, String)>;

/// Prometheus' default lookback delta (`--query.lookback-delta`, 5m): an instant selector sees a
/// series' latest sample in `(t - 5m, t]`.
const LOOKBACK_DELTA_NS: u64 = 300 * NS_PER_S;

/// When one alert was firing during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertReport {
    pub name: String,
    pub expr: String,
    pub for_s: f64,
    /// [start, end) in simulated seconds when the alert was FIRING (after its `for:`); an interval still open at the end of the run ends at the run's end.
    pub firing: Vec<(f64, f64)>,
    pub fired: bool,
    /// Evaluations at which the expression returned a non-empty result (pending or firing).
    pub active_evaluations: u64,
}

/// Why a duration, an expression or a rule evaluation was rejected. Columns are 1-based and count
/// characters from the start of the expression text.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("bad duration {text:?}: {reason}")]
    BadDuration { text: String, reason: String },
    #[error("in `{expr}` at column {col}: expected {expected}, found {found}")]
    Syntax { expr: String, col: usize, expected: String, found: String },
    #[error("in `{expr}` at column {col}: unknown function `{name}`")]
    UnknownFunction { expr: String, col: usize, name: String },
    #[error("in `{expr}` at column {col}: {what} is not supported by pdsim's PromQL evaluator")]
    Unsupported { expr: String, col: usize, what: String },
    #[error("in `{expr}` at column {col}: {message}")]
    Invalid { expr: String, col: usize, message: String },
    #[error("alert {rule:?}: {source}")]
    Rule {
        rule: String,
        #[source]
        source: Box<AlertError>,
    },
    #[error("alert {rule:?} at t = {t_s} s: {message}")]
    Eval { rule: String, t_s: f64, message: String },
    #[error("the rule evaluation interval must be positive")]
    ZeroInterval,
}

/// Parses a Prometheus duration: "30s", "5m", "1h30m", "250ms", "2d". Errors name the bad text.
///
/// As Prometheus' `model.ParseDuration`: integer amounts with units `y` (365d), `w`, `d`, `h`, `m`,
/// `s`, `ms`, each at most once and largest first; a bare `0` is zero.
pub fn parse_duration_ns(s: &str) -> Result<u64, AlertError> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400 * NS_PER_S),
        ("w", 7 * 86_400 * NS_PER_S),
        ("d", 86_400 * NS_PER_S),
        ("h", 3_600 * NS_PER_S),
        ("m", 60 * NS_PER_S),
        ("s", NS_PER_S),
        ("ms", 1_000_000),
    ];
    let err = |reason: String| AlertError::BadDuration { text: s.to_string(), reason };
    if s.is_empty() {
        return Err(err("empty duration".into()));
    }
    if s == "0" {
        return Ok(0);
    }
    let b = s.as_bytes();
    let (mut i, mut total, mut last_unit) = (0, 0u64, None::<usize>);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(err(format!(
                "expected a whole number at {:?}; durations look like 30s, 5m, 1h30m, 250ms",
                &s[start..]
            )));
        }
        let amount: u64 = s[start..i].parse().map_err(|_| err(format!("{} is too large", &s[start..i])))?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        if unit.is_empty() {
            return Err(err(match s[i..].chars().next() {
                Some(c) => format!("unexpected {c:?} after {amount}; amounts are whole numbers with a unit"),
                None => format!("missing unit after {amount} (one of y, w, d, h, m, s, ms)"),
            }));
        }
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(err(format!("unknown unit {unit:?} (one of y, w, d, h, m, s, ms)")));
        };
        if last_unit.is_some_and(|last| last >= idx) {
            return Err(err(format!("unit {unit:?} out of order: each unit at most once, largest first")));
        }
        last_unit = Some(idx);
        total = amount
            .checked_mul(UNITS[idx].1)
            .and_then(|ns| total.checked_add(ns))
            .ok_or_else(|| err("too large".into()))?;
    }
    Ok(total)
}

/// Checks an expression parses and uses only supported features (called at scenario-load time).
pub fn check_expr(expr: &str) -> Result<(), AlertError> {
    parse(expr).map(|_| ())
}

/// Evaluates every rule at t = eval_interval_ns, 2*eval_interval_ns, ... <= end_ns (Prometheus evaluates rule groups on their `interval`), with Prometheus' semantics; one report per rule in input order.
///
/// Alert state follows `rules/alerting.go` (`AlertingRule.Eval`): each element the expression returns
/// is identified by its labels without `__name__`, overridden by the rule's `labels` (an empty value
/// removes the label). A new element is pending with `activeAt` = the evaluation time; it fires once
/// `t - activeAt >= for` (at once for `for: 0`); an element missing at a later evaluation is resolved,
/// and if it returns it is pending afresh. A scalar result counts as one element with no labels, as in
/// Prometheus' `EngineQueryFunc`. The report's `firing` is the union over elements: an interval starts
/// at the first evaluation where some element fires and ends at the first evaluation where none does.
///
/// Unlike Prometheus, which logs a failed evaluation and keeps the rule's state, a query error (e.g.
/// many-to-many matching) aborts with [`AlertError::Eval`], so that a broken rule is not silently quiet.
pub fn evaluate(
    rules: &[AlertRule],
    store: &SeriesStore,
    eval_interval_ns: u64,
    end_ns: u64,
) -> Result<Vec<AlertReport>, AlertError> {
    if eval_interval_ns == 0 {
        return Err(AlertError::ZeroInterval);
    }
    let exprs = rules
        .iter()
        .map(|r| parse(&r.expr).map_err(|e| AlertError::Rule { rule: r.name.clone(), source: Box::new(e) }))
        .collect::<Result<Vec<_>, _>>()?;
    rules.iter().zip(&exprs).map(|(rule, expr)| evaluate_rule(rule, expr, store, eval_interval_ns, end_ns)).collect()
}

fn evaluate_rule(
    rule: &AlertRule,
    expr: &Expr,
    store: &SeriesStore,
    interval: u64,
    end_ns: u64,
) -> Result<AlertReport, AlertError> {
    // alert label set -> activeAt, firing
    let mut active: HashMap<Labels, (u64, bool)> = HashMap::new();
    let mut firing = Vec::new();
    let mut open: Option<u64> = None;
    let mut active_evaluations = 0;
    let mut t = interval;
    while t <= end_ns {
        let eval_err = |message: String| AlertError::Eval { rule: rule.name.clone(), t_s: secs(t), message };
        let samples = match (Evaluator { store, t }).eval(expr).map_err(eval_err)? {
            Value::Scalar(v) => vec![Sample { metric: Arc::new(Vec::new()), v }],
            Value::Vector(v) => v,
        };
        if !samples.is_empty() {
            active_evaluations += 1;
        }
        let mut present = HashSet::with_capacity(samples.len());
        for s in &samples {
            let mut labels: BTreeMap<&str, &str> =
                s.metric.iter().filter(|(k, _)| k != METRIC_NAME).map(|(k, v)| (k.as_str(), v.as_str())).collect();
            for (k, v) in &rule.labels {
                if v.is_empty() {
                    labels.remove(k.as_str());
                } else {
                    labels.insert(k, v);
                }
            }
            let key: Labels = labels.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            if !present.insert(key) {
                return Err(eval_err(
                    "vector contains metrics with the same labelset after applying alert labels".into(),
                ));
            }
        }
        active.retain(|k, _| present.contains(k));
        for key in present {
            active.entry(key).or_insert((t, false));
        }
        let mut any_firing = false;
        for (active_at, is_firing) in active.values_mut() {
            if !*is_firing && t - *active_at >= rule.for_ns {
                *is_firing = true;
            }
            any_firing |= *is_firing;
        }
        match (any_firing, open) {
            (true, None) => open = Some(t),
            (false, Some(start)) => {
                firing.push((secs(start), secs(t)));
                open = None;
            }
            _ => {}
        }
        let Some(next) = t.checked_add(interval) else { break };
        t = next;
    }
    if let Some(start) = open {
        firing.push((secs(start), secs(end_ns)));
    }
    Ok(AlertReport {
        name: rule.name.clone(),
        expr: rule.expr.clone(),
        for_s: secs(rule.for_ns),
        fired: !firing.is_empty(),
        firing,
        active_evaluations,
    })
}

fn secs(ns: u64) -> f64 {
    ns as f64 / NS_PER_S as f64
}

// ---------------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    /// The text between `[` and `]`, trimmed.
    Range(String),
    Sym(&'static str),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character column.
    col: usize,
    text: String,
}

const SYMBOLS: [&str; 16] = ["==", "!=", ">=", "<=", "=~", "!~", "=", ">", "<", "+", "-", "*", "/", "%", "^", "@"];

fn lex(src: &str) -> Result<Vec<Token>, AlertError> {
    let chars: Vec<char> = src.chars().collect();
    let syntax = |col: usize, expected: &str, found: String| AlertError::Syntax {
        expr: src.to_string(),
        col,
        expected: expected.to_string(),
        found,
    };
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let tok = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.eq_ignore_ascii_case("inf") {
                Tok::Num(f64::INFINITY)
            } else if word.eq_ignore_ascii_case("nan") {
                Tok::Num(f64::NAN)
            } else {
                Tok::Ident(word)
            }
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            match lex_number(&chars, &mut i) {
                Some(v) => Tok::Num(v),
                None => {
                    let text: String = chars[start..i].iter().collect();
                    return Err(syntax(start + 1, "a number", format!("`{text}`")));
                }
            }
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(syntax(
                            chars.len() + 1,
                            &format!("closing {c} of the string"),
                            "end of expression".into(),
                        ))
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some('\\') if c != '`' => {
                        let unescaped = match chars.get(i + 1) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some(&e @ ('\\' | '"' | '\'')) => e,
                            Some(e) => return Err(syntax(i + 1, "a valid escape sequence", format!("`\\{e}`"))),
                            None => return Err(syntax(i + 2, "an escaped character", "end of expression".into())),
                        };
                        s.push(unescaped);
                        i += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else if c == '[' {
            let Some(len) = chars[i + 1..].iter().position(|&c| c == ']') else {
                return Err(syntax(chars.len() + 1, "`]` closing the range", "end of expression".into()));
            };
            let inner: String = chars[i + 1..i + 1 + len].iter().collect();
            i += len + 2;
            Tok::Range(inner.trim().to_string())
        } else {
            let single = match c {
                '(' => Some(Tok::LParen),
                ')' => Some(Tok::RParen),
                '{' => Some(Tok::LBrace),
                '}' => Some(Tok::RBrace),
                ',' => Some(Tok::Comma),
                _ => None,
            };
            if let Some(t) = single {
                i += 1;
                t
            } else {
                let rest: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let Some(&sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                    return Err(syntax(i + 1, "an expression or operator", format!("unexpected character `{c}`")));
                };
                i += sym.len();
                Tok::Sym(sym)
            }
        };
        toks.push(Token { tok, col: start + 1, text: chars[start..i].iter().collect() });
    }
    toks.push(Token { tok: Tok::Eof, col: chars.len() + 1, text: String::new() });
    Ok(toks)
}

/// A number literal as Prometheus' lexer reads it: decimal with optional fraction and exponent, or hex.
fn lex_number(chars: &[char], i: &mut usize) -> Option<f64> {
    let start = *i;
    let digits = |i: &mut usize| {
        while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
    };
    if chars[start] == '0' && matches!(chars.get(start + 1), Some('x' | 'X')) {
        *i += 2;
        while chars.get(*i).is_some_and(|c| c.is_ascii_hexdigit()) {
            *i += 1;
        }
        let hex: String = chars[start + 2..*i].iter().collect();
        return u64::from_str_radix(&hex, 16).ok().map(|v| v as f64);
    }
    digits(i);
    if chars.get(*i) == Some(&'.') {
        *i += 1;
        digits(i);
    }
    if matches!(chars.get(*i), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(*i + 1), Some('+' | '-')));
        if chars.get(*i + 1 + sign).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1 + sign;
            digits(i);
        }
    }
    chars[start..*i].iter().collect::<String>().parse().ok()
}

// ---------------------------------------------------------------------------------------------------
// AST

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Scalar,
    Vector,
    Matrix,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Scalar => "scalar",
            Ty::Vector => "instant vector",
            Ty::Matrix => "range vector",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    /// Prometheus' precedence, lowest first: `or`; `and unless`; comparisons; `+ -`; `* / %`; `^`.
    fn precedence(self) -> u8 {
        use BinOp::*;
        match self {
            Or => 1,
            And | Unless => 2,
            Eq | Ne | Gt | Lt | Ge | Le => 3,
            Add | Sub => 4,
            Mul | Div | Mod => 5,
            Pow => POW_PRECEDENCE,
        }
    }
    fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le)
    }
    fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

const POW_PRECEDENCE: u8 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

const AGGREGATIONS: [(&str, AggOp); 5] =
    [("sum", AggOp::Sum), ("avg", AggOp::Avg), ("min", AggOp::Min), ("max", AggOp::Max), ("count", AggOp::Count)];
const UNSUPPORTED_AGGREGATIONS: &[&str] =
    &["topk", "bottomk", "quantile", "stddev", "stdvar", "group", "count_values", "limitk", "limit_ratio"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Rate,
    Irate,
    Increase,
    HistogramQuantile,
    AvgOverTime,
    MaxOverTime,
    MinOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    Abs,
    Ceil,
    Floor,
    Sqrt,
    Exp,
    Ln,
    Log2,
    Log10,
    Sgn,
    ClampMin,
    ClampMax,
    Vector,
    Scalar,
    Time,
}

/// Name, function, argument types, result type.
type FuncSig = (&'static str, Func, &'static [Ty], Ty);

const FUNCTIONS: [FuncSig; 24] = {
    use Ty::*;
    [
        ("rate", Func::Rate, &[Matrix], Vector),
        ("irate", Func::Irate, &[Matrix], Vector),
        ("increase", Func::Increase, &[Matrix], Vector),
        ("histogram_quantile", Func::HistogramQuantile, &[Scalar, Vector], Vector),
        ("avg_over_time", Func::AvgOverTime, &[Matrix], Vector),
        ("max_over_time", Func::MaxOverTime, &[Matrix], Vector),
        ("min_over_time", Func::MinOverTime, &[Matrix], Vector),
        ("sum_over_time", Func::SumOverTime, &[Matrix], Vector),
        ("count_over_time", Func::CountOverTime, &[Matrix], Vector),
        ("last_over_time", Func::LastOverTime, &[Matrix], Vector),
        ("abs", Func::Abs, &[Vector], Vector),
        ("ceil", Func::Ceil, &[Vector], Vector),
        ("floor", Func::Floor, &[Vector], Vector),
        ("sqrt", Func::Sqrt, &[Vector], Vector),
        ("exp", Func::Exp, &[Vector], Vector),
        ("ln", Func::Ln, &[Vector], Vector),
        ("log2", Func::Log2, &[Vector], Vector),
        ("log10", Func::Log10, &[Vector], Vector),
        ("sgn", Func::Sgn, &[Vector], Vector),
        ("clamp_min", Func::ClampMin, &[Vector, Scalar], Vector),
        ("clamp_max", Func::ClampMax, &[Vector, Scalar], Vector),
        ("vector", Func::Vector, &[Scalar], Vector),
        ("scalar", Func::Scalar, &[Vector], Scalar),
        ("time", Func::Time, &[], Scalar),
    ]
};

/// PromQL functions this evaluator does not implement (so the error says "not supported" rather than
/// "unknown").
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "changes",
    "clamp",
    "cos",
    "cosh",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "first_over_time",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "info",
    "label_join",
    "label_replace",
    "mad_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "resets",
    "round",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "stddev_over_time",
    "stdvar_over_time",
    "tan",
    "tanh",
    "timestamp",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "year",
];

#[derive(Debug, Clone, PartialEq)]
enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

impl Grouping {
    /// Whether an input label stays in the aggregation's output (Prometheus: `by` keeps exactly the
    /// listed labels, `without` drops the listed ones and the metric name).
    fn keeps(&self, label: &str) -> bool {
        match self {
            Grouping::By(ls) => ls.iter().any(|l| l == label),
            Grouping::Without(ls) => label != METRIC_NAME && !ls.iter().any(|l| l == label),
        }
    }
}

/// `on (...)` (`on` true) or `ignoring (...)`; no modifier is `ignoring ()`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Matching {
    on: bool,
    labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Debug, Clone, PartialEq)]
struct Matcher {
    label: String,
    op: MatchOp,
    value: String,
    re: Option<SimpleRegex>,
}

impl Matcher {
    /// `value` is "" for an absent label, as in Prometheus.
    fn matches(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => value == self.value,
            (MatchOp::Ne, _) => value != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(value),
            (MatchOp::NotRe, Some(re)) => !re.is_match(value),
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Selector {
    name: Option<String>,
    matchers: Vec<Matcher>,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Num(f64),
    Select(Selector),
    Range(Selector, u64),
    Call(Func, Vec<Expr>),
    Agg { op: AggOp, grouping: Grouping, arg: Box<Expr> },
    Neg(Box<Expr>),
    Binary { op: BinOp, lhs: Box<Expr>, rhs: Box<Expr>, return_bool: bool, matching: Matching },
}

impl Expr {
    fn ty(&self) -> Ty {
        match self {
            Expr::Num(_) => Ty::Scalar,
            Expr::Select(_) | Expr::Agg { .. } => Ty::Vector,
            Expr::Range(..) => Ty::Matrix,
            Expr::Call(f, _) => FUNCTIONS.iter().find(|s| s.1 == *f).map_or(Ty::Vector, |s| s.3),
            Expr::Neg(e) => e.ty(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.ty() == Ty::Scalar && rhs.ty() == Ty::Scalar {
                    Ty::Scalar
                } else {
                    Ty::Vector
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Regex subset

#[derive(Debug, Clone, Copy, PartialEq)]
enum RePiece {
    Lit(char),
    Any,
    AnyStar,
    AnyPlus,
}

/// A fully anchored regex (Prometheus wraps matcher regexes in `^(?s:...)$`) made of alternatives of
/// literals, `.`, `.*` and `.+`; `.` matches any character, newline included.
#[derive(Debug, Clone, PartialEq)]
struct SimpleRegex {
    alts: Vec<Vec<RePiece>>,
}

impl SimpleRegex {
    /// Errors name the unsupported construct.
    fn new(pattern: &str) -> Result<Self, String> {
        let mut p = pattern;
        while let Some(inner) = strip_outer_group(p) {
            p = inner;
        }
        let chars: Vec<char> = p.chars().collect();
        let mut alts = vec![Vec::new()];
        let mut i = 0;
        while i < chars.len() {
            let piece = match chars[i] {
                '|' => {
                    alts.push(Vec::new());
                    i += 1;
                    continue;
                }
                '\\' => match chars.get(i + 1) {
                    Some(&c) if !c.is_ascii_alphanumeric() => {
                        i += 1;
                        RePiece::Lit(c)
                    }
                    Some(&c) => return Err(format!("regex escape `\\{c}`")),
                    None => return Err("a regex ending in `\\`".into()),
                },
                '.' => match chars.get(i + 1) {
                    Some('*') => {
                        i += 1;
                        RePiece::AnyStar
                    }
                    Some('+') => {
                        i += 1;
                        RePiece::AnyPlus
                    }
                    _ => RePiece::Any,
                },
                c @ ('(' | ')' | '[' | ']' | '{' | '}' | '?' | '*' | '+' | '^' | '$') => {
                    return Err(format!(
                        "regex syntax `{c}` in {pattern:?} (supported: literals, `|`, `.`, `.*`, `.+`, one outer group)"
                    ))
                }
                c => RePiece::Lit(c),
            };
            alts.last_mut().expect("alts starts non-empty").push(piece);
            i += 1;
        }
        Ok(SimpleRegex { alts })
    }

    fn is_match(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        self.alts.iter().any(|alt| match_pieces(alt, &chars))
    }
}

/// `(...)` around the whole pattern, if the first `(` closes at the last character.
fn strip_outer_group(p: &str) -> Option<&str> {
    let inner = p.strip_prefix('(')?.strip_suffix(')')?;
    let mut depth = 0i32;
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => depth += 1,
            ')' if depth == 0 => return None,
            ')' => depth -= 1,
            _ => {}
        }
    }
    (depth == 0 && !escaped && !inner.starts_with('?')).then_some(inner)
}

fn match_pieces(p: &[RePiece], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((RePiece::Lit(c), rest)) => s.first() == Some(c) && match_pieces(rest, &s[1..]),
        Some((RePiece::Any, rest)) => !s.is_empty() && match_pieces(rest, &s[1..]),
        Some((RePiece::AnyStar, rest)) => (0..=s.len()).any(|i| match_pieces(rest, &s[i..])),
        Some((RePiece::AnyPlus, rest)) => (1..=s.len()).any(|i| match_pieces(rest, &s[i..])),
    }
}

// ---------------------------------------------------------------------------------------------------
// Parser

/// Parses and type-checks an expression, as Prometheus' parser does (`promql/parser/parse.go`
/// `checkAST`); the result is an instant vector or a scalar.
fn parse(src: &str) -> Result<Expr, AlertError> {
    let mut p = Parser { src, toks: lex(src)?, pos: 0 };
    let expr = p.parse_binary(1)?;
    if p.peek() != &Tok::Eof {
        return p.syntax("an operator or end of expression");
    }
    if expr.ty() == Ty::Matrix {
        return p.invalid(1, "an alerting expression must be an instant vector or a scalar, not a range vector");
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn col(&self) -> usize {
        self.toks[self.pos].col
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn syntax<T>(&self, expected: &str) -> Result<T, AlertError> {
        let found = match self.peek() {
            Tok::Eof => "end of expression".to_string(),
            _ => format!("`{}`", self.toks[self.pos].text),
        };
        Err(AlertError::Syntax { expr: self.src.to_string(), col: self.col(), expected: expected.to_string(), found })
    }

    fn invalid<T>(&self, col: usize, message: impl Into<String>) -> Result<T, AlertError> {
        Err(AlertError::Invalid { expr: self.src.to_string(), col, message: message.into() })
    }

    fn unsupported<T>(&self, col: usize, what: impl Into<String>) -> Result<T, AlertError> {
        Err(AlertError::Unsupported { expr: self.src.to_string(), col, what: what.into() })
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<(), AlertError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            self.syntax(expected)
        }
    }

    fn peek_binop(&self) -> Result<Option<BinOp>, AlertError> {
        use BinOp::*;
        Ok(Some(match self.peek() {
            Tok::Sym(s) => match *s {
                "+" => Add,
                "-" => Sub,
                "*" => Mul,
                "/" => Div,
                "%" => Mod,
                "^" => Pow,
                "==" => Eq,
                "!=" => Ne,
                ">" => Gt,
                "<" => Lt,
                ">=" => Ge,
                "<=" => Le,
                _ => return Ok(None),
            },
            Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                "and" => And,
                "or" => Or,
                "unless" => Unless,
                "atan2" => return self.unsupported(self.col(), "the `atan2` operator"),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        }))
    }

    /// Precedence climbing over binary operators with precedence >= `min_prec`; `^` is
    /// right-associative, the others left-associative.
    fn parse_binary(&mut self, min_prec: u8) -> Result<Expr, AlertError> {
        let mut lhs = self.parse_unary()?;
        while let Some(op) = self.peek_binop()? {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_col = self.col();
            let op_text = self.bump().text;
            let mut return_bool = false;
            if self.is_kw("bool") {
                if !op.is_comparison() {
                    return self.invalid(self.col(), "bool modifier can only be used on comparison operators");
                }
                self.bump();
                return_bool = true;
            }
            let mut matching = None;
            if self.is_kw("on") || self.is_kw("ignoring") {
                let on = self.is_kw("on");
                let kw = self.bump().text;
                matching = Some(Matching { on, labels: self.parse_label_list(&kw)? });
            }
            if self.is_kw("group_left") || self.is_kw("group_right") {
                let what = format!("`{}` (many-to-one matching)", self.toks[self.pos].text);
                return self.unsupported(self.col(), what);
            }
            let rhs = self.parse_binary(if op == BinOp::Pow { prec } else { prec + 1 })?;
            let (lt, rt) = (lhs.ty(), rhs.ty());
            if lt == Ty::Matrix || rt == Ty::Matrix {
                return self.invalid(op_col, "binary expression must contain only scalar and instant vector types");
            }
            let has_scalar = lt == Ty::Scalar || rt == Ty::Scalar;
            if op.is_set() && has_scalar {
                return self
                    .invalid(op_col, format!("set operator `{op_text}` not allowed in binary scalar expression"));
            }
            if op.is_comparison() && lt == Ty::Scalar && rt == Ty::Scalar && !return_bool {
                return self.invalid(op_col, "comparisons between scalars must use BOOL modifier");
            }
            if matching.is_some() && has_scalar {
                return self.invalid(op_col, "vector matching only allowed between instant vectors");
            }
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                return_bool,
                matching: matching.unwrap_or_default(),
            };
        }
        Ok(lhs)
    }

    /// Unary `-`/`+` bind like `*` in Prometheus' grammar: tighter than `+ - * /`, looser than `^`.
    fn parse_unary(&mut self) -> Result<Expr, AlertError> {
        if matches!(self.peek(), Tok::Sym("-" | "+")) {
            let col = self.col();
            let neg = self.bump().tok == Tok::Sym("-");
            let operand = self.parse_binary(POW_PRECEDENCE)?;
            if operand.ty() == Ty::Matrix {
                return self
                    .invalid(col, "unary expression only allowed on expressions of type scalar or instant vector");
            }
            return Ok(match (neg, operand) {
                (true, Expr::Num(v)) => Expr::Num(-v),
                (true, e) => Expr::Neg(Box::new(e)),
                (false, e) => e,
            });
        }
        let col = self.col();
        let parenthesized = self.peek() == &Tok::LParen;
        let mut expr = self.parse_primary()?;
        if let Tok::Range(text) = self.peek().clone() {
            let range_col = self.col();
            if text.contains(':') {
                return self.unsupported(range_col, "a subquery");
            }
            let Expr::Select(sel) = expr else {
                return self.invalid(col, "ranges only allowed for vector selectors");
            };
            if parenthesized {
                return self.invalid(col, "ranges only allowed for vector selectors");
            }
            let range = parse_duration_ns(&text).or_else(|e| self.invalid(range_col + 1, e.to_string()))?;
            if range == 0 {
                return self.invalid(range_col + 1, "range duration must be greater than 0");
            }
            self.bump();
            expr = Expr::Range(sel, range);
        }
        if self.is_kw("offset") {
            return self.unsupported(self.col(), "the `offset` modifier");
        }
        if self.peek() == &Tok::Sym("@") {
            return self.unsupported(self.col(), "the `@` modifier");
        }
        Ok(expr)
    }

    fn parse_primary(&mut self) -> Result<Expr, AlertError> {
        let col = self.col();
        match self.peek().clone() {
            Tok::Num(v) => {
                self.bump();
                Ok(Expr::Num(v))
            }
            Tok::Str(_) => self.unsupported(col, "a string literal"),
            Tok::LParen => {
                self.bump();
                let e = self.parse_binary(1)?;
                self.expect(Tok::RParen, "`)` closing the parenthesis")?;
                Ok(e)
            }
            Tok::LBrace => Ok(Expr::Select(self.parse_selector(None, col)?)),
            Tok::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                if let Some((_, op)) = AGGREGATIONS.iter().find(|(n, _)| *n == lower) {
                    return self.parse_aggregation(*op, &name);
                }
                if UNSUPPORTED_AGGREGATIONS.contains(&lower.as_str()) {
                    return self.unsupported(col, format!("the `{name}` aggregation"));
                }
                self.bump();
                if self.peek() == &Tok::LParen {
                    return self.parse_call(&name, col);
                }
                Ok(Expr::Select(self.parse_selector(Some(name), col)?))
            }
            _ => self.syntax("an expression"),
        }
    }

    fn parse_call(&mut self, name: &str, col: usize) -> Result<Expr, AlertError> {
        let Some(&(_, func, arg_tys, _)) = FUNCTIONS.iter().find(|s| s.0 == name) else {
            if UNSUPPORTED_FUNCTIONS.contains(&name) {
                return self.unsupported(col, format!("the function `{name}`"));
            }
            return Err(AlertError::UnknownFunction { expr: self.src.to_string(), col, name: name.to_string() });
        };
        self.bump(); // (
        let mut args = Vec::new();
        if self.peek() == &Tok::RParen {
            self.bump();
        } else {
            loop {
                let arg_col = self.col();
                args.push((self.parse_binary(1)?, arg_col));
                match self.peek() {
                    Tok::Comma => {
                        self.bump();
                    }
                    _ => {
                        self.expect(Tok::RParen, &format!("`,` or `)` closing the call to `{name}`"))?;
                        break;
                    }
                }
            }
        }
        if args.len() != arg_tys.len() {
            return self.invalid(
                col,
                format!("expected {} argument(s) in call to `{name}`, got {}", arg_tys.len(), args.len()),
            );
        }
        for ((arg, arg_col), want) in args.iter().zip(arg_tys) {
            if arg.ty() != *want {
                return self.invalid(
                    *arg_col,
                    format!("expected type {} in call to function `{name}`, got {}", want.name(), arg.ty().name()),
                );
            }
        }
        Ok(Expr::Call(func, args.into_iter().map(|(a, _)| a).collect()))
    }

    fn parse_aggregation(&mut self, op: AggOp, name: &str) -> Result<Expr, AlertError> {
        self.bump();
        let mut grouping = None;
        if self.is_kw("by") || self.is_kw("without") {
            grouping = Some(self.parse_grouping()?);
        }
        self.expect(Tok::LParen, &format!("`(` after `{name}`"))?;
        let arg_col = self.col();
        let arg = self.parse_binary(1)?;
        if self.peek() == &Tok::Comma {
            return self.invalid(self.col(), format!("`{name}` takes one argument"));
        }
        self.expect(Tok::RParen, &format!("`)` closing `{name}(`"))?;
        if grouping.is_none() && (self.is_kw("by") || self.is_kw("without")) {
            grouping = Some(self.parse_grouping()?);
        }
        if arg.ty() != Ty::Vector {
            return self.invalid(
                arg_col,
                format!("expected type instant vector in aggregation expression, got {}", arg.ty().name()),
            );
        }
        Ok(Expr::Agg { op, grouping: grouping.unwrap_or(Grouping::By(Vec::new())), arg: Box::new(arg) })
    }

    fn parse_grouping(&mut self) -> Result<Grouping, AlertError> {
        let by = self.is_kw("by");
        let kw = self.bump().text;
        let labels = self.parse_label_list(&kw)?;
        Ok(if by { Grouping::By(labels) } else { Grouping::Without(labels) })
    }

    fn parse_label_list(&mut self, keyword: &str) -> Result<Vec<String>, AlertError> {
        self.expect(Tok::LParen, &format!("`(` after `{keyword}`"))?;
        let mut labels = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::RParen => {
                    self.bump();
                    return Ok(labels);
                }
                Tok::Ident(label) => {
                    self.bump();
                    labels.push(label);
                    match self.peek() {
                        Tok::Comma => {
                            self.bump();
                        }
                        Tok::RParen => {}
                        _ => return self.syntax("`,` or `)` in the label list"),
                    }
                }
                _ => return self.syntax("a label name or `)`"),
            }
        }
    }

    fn parse_selector(&mut self, name: Option<String>, col: usize) -> Result<Selector, AlertError> {
        let mut matchers = Vec::new();
        if self.peek() == &Tok::LBrace {
            self.bump();
            loop {
                let label = match self.peek().clone() {
                    Tok::RBrace => {
                        self.bump();
                        break;
                    }
                    Tok::Ident(label) => label,
                    _ => return self.syntax("a label name or `}`"),
                };
                self.bump();
                let op = match self.peek() {
                    Tok::Sym("=") => MatchOp::Eq,
                    Tok::Sym("!=") => MatchOp::Ne,
                    Tok::Sym("=~") => MatchOp::Re,
                    Tok::Sym("!~") => MatchOp::NotRe,
                    _ => return self.syntax("a label matching operator (`=`, `!=`, `=~` or `!~`)"),
                };
                self.bump();
                let value_col = self.col();
                let Tok::Str(value) = self.peek().clone() else {
                    return self.syntax("a quoted label value");
                };
                self.bump();
                let re = match op {
                    MatchOp::Re | MatchOp::NotRe => {
                        Some(SimpleRegex::new(&value).or_else(|what| self.unsupported(value_col, what))?)
                    }
                    _ => None,
                };
                matchers.push(Matcher { label, op, value, re });
                match self.peek() {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RBrace => {}
                    _ => return self.syntax("`,` or `}`"),
                }
            }
        }
        let named_twice = name.is_some() && matchers.iter().any(|m| m.label == METRIC_NAME);
        if named_twice {
            return self.invalid(col, "metric name must not be set twice");
        }
        if name.is_none() && matchers.iter().all(|m| m.matches("")) {
            return self.invalid(col, "vector selector must contain at least one non-empty matcher");
        }
        Ok(Selector { name, matchers })
    }
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

#[derive(Debug, Clone)]
struct Sample {
    metric: Metric,
    v: f64,
}

#[derive(Debug, Clone)]
enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
}

/// Evaluates an expression at one instant `t` (ns).
struct Evaluator<'a> {
    store: &'a SeriesStore,
    t: u64,
}

impl<'a> Evaluator<'a> {
    fn eval(&self, e: &Expr) -> Result<Value, String> {
        Ok(match e {
            Expr::Num(v) => Value::Scalar(*v),
            Expr::Select(sel) => Value::Vector(self.instant(sel)),
            Expr::Range(..) => return Err("a range vector cannot be evaluated on its own".into()),
            Expr::Call(f, args) => self.call(*f, args)?,
            Expr::Agg { op, grouping, arg } => Value::Vector(aggregate(*op, grouping, self.vector(arg)?)),
            Expr::Neg(inner) => match self.eval(inner)? {
                Value::Scalar(v) => Value::Scalar(-v),
                // Prometheus drops the metric name on unary minus.
                Value::Vector(v) => Value::Vector(unique(
                    v.into_iter().map(|s| Sample { metric: drop_name(&s.metric), v: -s.v }).collect(),
                )?),
            },
            Expr::Binary { op, lhs, rhs, return_bool, matching } => {
                let (l, r) = (self.eval(lhs)?, self.eval(rhs)?);
                match (l, r) {
                    (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(scalar_binop(*op, a, b)),
                    (Value::Vector(v), Value::Scalar(b)) => {
                        Value::Vector(unique(vector_scalar(*op, v, b, false, *return_bool))?)
                    }
                    (Value::Scalar(a), Value::Vector(v)) => {
                        Value::Vector(unique(vector_scalar(*op, v, a, true, *return_bool))?)
                    }
                    (Value::Vector(a), Value::Vector(b)) if op.is_set() => Value::Vector(set_op(*op, a, b, matching)),
                    (Value::Vector(a), Value::Vector(b)) => {
                        Value::Vector(unique(vector_vector(*op, a, b, *return_bool, matching)?)?)
                    }
                }
            }
        })
    }

    fn vector(&self, e: &Expr) -> Result<Vec<Sample>, String> {
        match self.eval(e)? {
            Value::Vector(v) => Ok(v),
            Value::Scalar(_) => Err("expected an instant vector, got a scalar".into()),
        }
    }

    fn scalar(&self, e: &Expr) -> Result<f64, String> {
        match self.eval(e)? {
            Value::Scalar(v) => Ok(v),
            Value::Vector(_) => Err("expected a scalar, got an instant vector".into()),
        }
    }

    /// The series a selector matches (absent labels match as "").
    fn select(&self, sel: &Selector) -> Vec<&'a Series> {
        let name = sel.name.as_deref().or_else(|| {
            sel.matchers.iter().find(|m| m.label == METRIC_NAME && m.op == MatchOp::Eq).map(|m| m.value.as_str())
        });
        let matches = |s: &&Series| sel.matchers.iter().all(|m| m.matches(label(&s.metric, &m.label).unwrap_or("")));
        match name {
            Some(name) => self.store.series_named(name).filter(matches).collect(),
            None => self.store.all_series().filter(matches).collect(),
        }
    }

    /// Instant vector selector: each series' latest sample in `(t - lookback, t]`, metric name kept.
    fn instant(&self, sel: &Selector) -> Vec<Sample> {
        let from = self.t.checked_sub(LOOKBACK_DELTA_NS);
        self.select(sel)
            .into_iter()
            .filter_map(|s| {
                let w = s.window(from, self.t);
                (!w.is_empty()).then(|| Sample { metric: s.metric.clone(), v: s.v[w.end - 1] })
            })
            .collect()
    }

    fn call(&self, f: Func, args: &[Expr]) -> Result<Value, String> {
        use Func::*;
        let out = match f {
            Rate | Irate | Increase | AvgOverTime | MaxOverTime | MinOverTime | SumOverTime | CountOverTime
            | LastOverTime => {
                let Some(Expr::Range(sel, range)) = args.first() else {
                    return Err("expected a range vector argument".into());
                };
                let from = self.t.checked_sub(*range);
                let mut out = Vec::new();
                for s in self.select(sel) {
                    let w = s.window(from, self.t);
                    let (ts, vs) = (&s.t[w.clone()], &s.v[w]);
                    let v = match f {
                        Rate => extrapolated_rate(ts, vs, self.t, *range, true),
                        Increase => extrapolated_rate(ts, vs, self.t, *range, false),
                        Irate => irate(ts, vs),
                        _ => over_time(f, vs),
                    };
                    if let Some(v) = v {
                        // Prometheus drops the metric name for range functions except last_over_time.
                        let metric = if f == LastOverTime { s.metric.clone() } else { drop_name(&s.metric) };
                        out.push(Sample { metric, v });
                    }
                }
                out
            }
            HistogramQuantile => histogram_quantile(self.scalar(&args[0])?, self.vector(&args[1])?),
            Abs | Ceil | Floor | Sqrt | Exp | Ln | Log2 | Log10 | Sgn => self
                .vector(&args[0])?
                .into_iter()
                .map(|s| Sample { metric: drop_name(&s.metric), v: math_fn(f, s.v) })
                .collect(),
            ClampMin | ClampMax => {
                let v = self.vector(&args[0])?;
                let bound = self.scalar(&args[1])?;
                v.into_iter()
                    .map(|s| Sample {
                        metric: drop_name(&s.metric),
                        v: if f == ClampMin { go_max(bound, s.v) } else { go_min(bound, s.v) },
                    })
                    .collect()
            }
            Vector => {
                return Ok(Value::Vector(vec![Sample { metric: Arc::new(Vec::new()), v: self.scalar(&args[0])? }]))
            }
            Scalar => {
                let v = self.vector(&args[0])?;
                return Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }));
            }
            Time => return Ok(Value::Scalar(secs(self.t))),
        };
        Ok(Value::Vector(unique(out)?))
    }
}

/// A label's value, if the (sorted) label set has it.
fn label<'m>(metric: &'m [(String, String)], name: &str) -> Option<&'m str> {
    metric.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok().map(|i| metric[i].1.as_str())
}

fn drop_name(metric: &Metric) -> Metric {
    if label(metric, METRIC_NAME).is_none() {
        metric.clone()
    } else {
        Arc::new(metric.iter().filter(|(k, _)| k != METRIC_NAME).cloned().collect())
    }
}

fn fmt_labels<'m>(labels: impl IntoIterator<Item = (&'m str, &'m str)>) -> String {
    let inner: Vec<String> = labels.into_iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn fmt_metric(metric: &[(String, String)]) -> String {
    let name = label(metric, METRIC_NAME).unwrap_or("");
    name.to_string()
        + &fmt_labels(metric.iter().filter(|(k, _)| k != METRIC_NAME).map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Prometheus rejects a result with two elements of the same label set (e.g. after dropping names).
fn unique(v: Vec<Sample>) -> Result<Vec<Sample>, String> {
    if v.len() > 1 {
        let mut seen = HashSet::with_capacity(v.len());
        for s in &v {
            if !seen.insert(&**s.metric) {
                return Err(format!("vector cannot contain metrics with the same labelset {}", fmt_metric(&s.metric)));
            }
        }
    }
    Ok(v)
}

/// Go's `math.Max` / `math.Min`: NaN if either is NaN.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn math_fn(f: Func, v: f64) -> f64 {
    match f {
        Func::Abs => v.abs(),
        Func::Ceil => v.ceil(),
        Func::Floor => v.floor(),
        Func::Sqrt => v.sqrt(),
        Func::Exp => v.exp(),
        Func::Ln => v.ln(),
        Func::Log2 => v.log2(),
        Func::Log10 => v.log10(),
        // Prometheus' sgn returns 0 and NaN unchanged
        Func::Sgn if v > 0.0 => 1.0,
        Func::Sgn if v < 0.0 => -1.0,
        _ => v,
    }
}

/// Neumaier-compensated summation step, as Prometheus' `kahanSumInc`.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// `rate` (`is_rate`) and `increase` as Prometheus' `extrapolatedRate` (`promql/functions.go`, after
/// prometheus/prometheus#13725): the counter's increase over the samples in `(t - range, t]`, adding
/// back the value before each reset; extrapolated to the window's ends when the first/last sample is
/// within 1.1 average sample intervals of them, otherwise by half an average interval; at the start
/// never past the counter's extrapolated zero. `None` with fewer than two samples, or (which Prometheus'
/// storage cannot hold) when they all have the same time.
fn extrapolated_rate(ts: &[u64], vs: &[f64], t: u64, range: u64, is_rate: bool) -> Option<f64> {
    if vs.len() < 2 || ts[0] == ts[ts.len() - 1] {
        return None;
    }
    let n = vs.len();
    let mut result = vs[n - 1] - vs[0];
    let mut prev = vs[0];
    for &v in &vs[1..] {
        if v < prev {
            result += prev;
        }
        prev = v;
    }
    let range_start = t as i128 - range as i128;
    let to_s = |ns: i128| ns as f64 / NS_PER_S as f64;
    let mut duration_to_start = to_s(ts[0] as i128 - range_start);
    let mut duration_to_end = to_s(t as i128 - ts[n - 1] as i128);
    let sampled_interval = to_s(ts[n - 1] as i128 - ts[0] as i128);
    let average_between = sampled_interval / (n - 1) as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    // Counters cannot be negative: do not extrapolate to before the counter's zero point.
    if result > 0.0 && vs[0] >= 0.0 {
        let duration_to_zero = sampled_interval * (vs[0] / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= to_s(range as i128);
    }
    Some(result * factor)
}

/// `irate` as Prometheus' `instantValue`: per-second change between the last two samples, the last
/// value itself after a counter reset. `None` with fewer than two samples or no time between them.
fn irate(ts: &[u64], vs: &[f64]) -> Option<f64> {
    let n = vs.len();
    if n < 2 || ts[n - 1] == ts[n - 2] {
        return None;
    }
    let (prev, last) = (vs[n - 2], vs[n - 1]);
    let delta = if last < prev { last } else { last - prev };
    Some(delta / secs(ts[n - 1] - ts[n - 2]))
}

/// The `*_over_time` functions on the samples in the window; `None` for an empty window.
fn over_time(f: Func, vs: &[f64]) -> Option<f64> {
    let first = *vs.first()?;
    Some(match f {
        Func::SumOverTime | Func::AvgOverTime => {
            let (sum, c) = vs.iter().fold((0.0, 0.0), |(s, c), &v| kahan_inc(v, s, c));
            if f == Func::SumOverTime {
                sum + c
            } else {
                (sum + c) / vs.len() as f64
            }
        }
        // Prometheus: a NaN is replaced by any later value, so NaN only if all are NaN.
        Func::MaxOverTime => vs.iter().fold(first, |m, &v| if v > m || m.is_nan() { v } else { m }),
        Func::MinOverTime => vs.iter().fold(first, |m, &v| if v < m || m.is_nan() { v } else { m }),
        Func::CountOverTime => vs.len() as f64,
        _ => vs[vs.len() - 1],
    })
}

/// Aggregation over groups of the input's label sets; output order is by label set.
fn aggregate(op: AggOp, grouping: &Grouping, input: Vec<Sample>) -> Vec<Sample> {
    struct Acc {
        sum: f64,
        c: f64,
        n: u64,
        min: f64,
        max: f64,
    }
    let mut groups: BTreeMap<Labels, Acc> = BTreeMap::new();
    for s in &input {
        let key: Labels = s.metric.iter().filter(|(k, _)| grouping.keeps(k)).cloned().collect();
        let acc = groups.entry(key).or_insert(Acc { sum: 0.0, c: 0.0, n: 0, min: s.v, max: s.v });
        (acc.sum, acc.c) = kahan_inc(s.v, acc.sum, acc.c);
        acc.n += 1;
        if acc.min > s.v || acc.min.is_nan() {
            acc.min = s.v;
        }
        if acc.max < s.v || acc.max.is_nan() {
            acc.max = s.v;
        }
    }
    groups
        .into_iter()
        .map(|(key, a)| Sample {
            metric: Arc::new(key),
            v: match op {
                AggOp::Sum => a.sum + a.c,
                AggOp::Avg => (a.sum + a.c) / a.n as f64,
                AggOp::Min => a.min,
                AggOp::Max => a.max,
                AggOp::Count => a.n as f64,
            },
        })
        .collect()
}

/// Arithmetic result, or for a comparison the left value and whether the element is kept (Prometheus'
/// `vectorElemBinop`).
fn elem_op(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
    }
}

/// Scalar/scalar: comparisons (which the parser requires to carry `bool`) give 1 or 0.
fn scalar_binop(op: BinOp, a: f64, b: f64) -> f64 {
    let (v, keep) = elem_op(op, a, b);
    if op.is_comparison() {
        f64::from(u8::from(keep))
    } else {
        v
    }
}

/// Vector/scalar (`swap`: the scalar is on the left), as Prometheus' `VectorscalarBinop`: arithmetic
/// and `bool` drop the metric name; a comparison filter keeps the element, name and vector value.
fn vector_scalar(op: BinOp, v: Vec<Sample>, scalar: f64, swap: bool, return_bool: bool) -> Vec<Sample> {
    let mut out = Vec::with_capacity(v.len());
    for s in v {
        let (l, r) = if swap { (scalar, s.v) } else { (s.v, scalar) };
        let (mut value, mut keep) = elem_op(op, l, r);
        if op.is_comparison() && swap {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let metric = if !op.is_comparison() || return_bool { drop_name(&s.metric) } else { s.metric };
            out.push(Sample { metric, v: value });
        }
    }
    out
}

/// The labels two elements are matched on: the `on` labels, or all but `__name__` and the `ignoring`
/// labels (Prometheus' `signatureFunc`).
fn signature<'m>(metric: &'m [(String, String)], m: &Matching) -> Vec<(&'m str, &'m str)> {
    metric
        .iter()
        .filter(|(k, _)| {
            let listed = m.labels.iter().any(|l| l == k);
            if m.on {
                listed
            } else {
                k != METRIC_NAME && !listed
            }
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// One-to-one vector/vector operation (Prometheus' `VectorBinop`): result labels are the left side's,
/// reduced to the `on` labels or without the `ignoring` ones, without `__name__` for arithmetic and
/// `bool`; a comparison filter keeps the left value.
fn vector_vector(
    op: BinOp,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    return_bool: bool,
    m: &Matching,
) -> Result<Vec<Sample>, String> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let mut right: HashMap<Vec<(&str, &str)>, &Sample> = HashMap::with_capacity(rhs.len());
    for rs in &rhs {
        let sig = signature(&rs.metric, m);
        if let Some(dup) = right.get(&sig) {
            return Err(format!(
                "found duplicate series for the match group {} on the right hand-side of the operation: [{}, {}];\
                 many-to-many matching not allowed: matching labels must be unique on one side",
                fmt_labels(sig.iter().copied()),
                fmt_metric(&rs.metric),
                fmt_metric(&dup.metric)
            ));
        }
        right.insert(sig, rs);
    }
    let drop = !op.is_comparison() || return_bool;
    let mut matched = HashSet::new();
    let mut out = Vec::new();
    for ls in &lhs {
        let sig = signature(&ls.metric, m);
        let Some(rs) = right.get(&sig) else { continue };
        let (mut value, keep) = elem_op(op, ls.v, rs.v);
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        if !matched.insert(sig) {
            return Err(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()
            );
        }
        let keep_label = |k: &str| {
            let listed = m.labels.iter().any(|l| l == k);
            !(drop && k == METRIC_NAME) && (if m.on { listed } else { !listed })
        };
        let metric = if ls.metric.iter().all(|(k, _)| keep_label(k)) {
            ls.metric.clone()
        } else {
            Arc::new(ls.metric.iter().filter(|(k, _)| keep_label(k)).cloned().collect())
        };
        out.push(Sample { metric, v: value });
    }
    Ok(out)
}

/// `and`, `or`, `unless` (Prometheus' `VectorAnd`/`VectorOr`/`VectorUnless`); elements keep their labels.
fn set_op(op: BinOp, lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    match op {
        BinOp::Or => {
            let left: HashSet<_> = lhs.iter().map(|s| signature(&s.metric, m)).collect();
            let extra: Vec<Sample> = rhs.iter().filter(|s| !left.contains(&signature(&s.metric, m))).cloned().collect();
            drop(left);
            let mut out = lhs;
            out.extend(extra);
            out
        }
        _ => {
            let right: HashSet<_> = rhs.iter().map(|s| signature(&s.metric, m)).collect();
            let want = op == BinOp::And;
            lhs.into_iter().filter(|s| right.contains(&signature(&s.metric, m)) == want).collect()
        }
    }
}

/// `histogram_quantile` on classic buckets (Prometheus' `funcHistogramQuantile`): elements grouped by
/// all labels but `le`, the output without `__name__`; elements without a numeric `le` are ignored.
fn histogram_quantile(q: f64, v: Vec<Sample>) -> Vec<Sample> {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for s in &v {
        let Some(upper) = label(&s.metric, "le").and_then(parse_le) else { continue };
        let key: Labels = s.metric.iter().filter(|(k, _)| k != "le").cloned().collect();
        groups.entry(key).or_default().push((upper, s.v));
    }
    groups
        .into_iter()
        .map(|(key, mut buckets)| Sample {
            metric: Arc::new(key.into_iter().filter(|(k, _)| k != METRIC_NAME).collect()),
            v: bucket_quantile(q, &mut buckets),
        })
        .collect()
}

/// An `le` value as Go's `strconv.ParseFloat` reads it (`+Inf`, `1e-3`, ...).
fn parse_le(s: &str) -> Option<f64> {
    s.parse().ok()
}

/// Prometheus' `BucketQuantile` (`promql/quantile.go`) on `(upper bound, cumulative count)` buckets:
/// sorted by bound; NaN without a `+Inf` bucket, with fewer than two buckets or no observations;
/// buckets with equal bounds merged; counts made monotonic (a decrease is replaced by the previous
/// count, relative differences below 1e-12 ignored); linear interpolation inside the bucket holding
/// rank `q * count`, from 0 in the lowest bucket (or its bound if that is <= 0); a rank in the `+Inf`
/// bucket gives the highest finite bound.
fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // coalesce equal bounds
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(upper, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == upper => last.1 += count,
            _ => merged.push((upper, count)),
        }
    }
    *buckets = merged;
    // ensureMonotonicAndIgnoreSmallDeltas
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = buckets.len();
    let b = buckets[..n - 1].partition_point(|x| x.1 < rank);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Prometheus' `almost.Equal`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_S;

    /// Evaluates `expr` at `t_s` seconds; elements as (`name{labels}`, value), sorted.
    fn at(store: &SeriesStore, expr: &str, t_s: u64) -> Vec<(String, f64)> {
        let e = parse(expr).unwrap_or_else(|err| panic!("{err}"));
        match (Evaluator { store, t: t_s * S }).eval(&e).unwrap_or_else(|err| panic!("{expr}: {err}")) {
            Value::Scalar(v) => vec![("scalar".into(), v)],
            Value::Vector(v) => {
                let mut out: Vec<_> = v.iter().map(|s| (fmt_metric(&s.metric), s.v)).collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
        }
    }

    fn one(store: &SeriesStore, expr: &str, t_s: u64) -> f64 {
        let r = at(store, expr, t_s);
        assert_eq!(r.len(), 1, "{expr} at {t_s}s: {r:?}");
        r[0].1
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    fn rule(name: &str, expr: &str, for_s: u64) -> AlertRule {
        AlertRule { name: name.into(), expr: expr.into(), for_ns: for_s * S, labels: BTreeMap::new() }
    }

    #[test]
    fn rate_follows_the_slope_and_extrapolates() {
        let mut st = SeriesStore::new();
        // counter from 100 at t=60 s, +10/s, scraped every 15 s up to 600 s
        for k in 0..=36 {
            let t = 60 + 15 * k;
            st.push("c_total", &[("pod", "a")], t * S, 100.0 + 10.0 * (t - 60) as f64);
            st.push("z_total", &[], t * S, 10.0 * (t - 60) as f64);
        }
        // window (300, 600]: first sample 15 s after the window start (< 1.1 * 15): full extrapolation
        assert!(close(one(&st, "rate(c_total[5m])", 600), 10.0));
        assert_eq!(at(&st, "rate(c_total[5m])", 600)[0].0, "{pod=\"a\"}", "rate drops the metric name");
        assert!(close(one(&st, "increase(c_total[1m])", 600), 600.0));
        assert!(close(one(&st, "irate(c_total[1m])", 600), 10.0));
        // At 120 s the series began at 60 s, 240 s after the window start (-180 s): Prometheus
        // extrapolates only half an interval (7.5 s): increase 600 * 67.5 / 60 = 675.
        assert!(close(one(&st, "increase(c_total[5m])", 120), 675.0));
        assert!(close(one(&st, "rate(c_total[5m])", 120), 2.25));
        // a counter starting at 0 is not extrapolated before its zero point
        assert!(close(one(&st, "increase(z_total[5m])", 120), 600.0));
        // one sample: no result
        assert!(at(&st, "rate(c_total[5m])", 60).is_empty());
    }

    #[test]
    fn rate_handles_a_counter_reset() {
        let mut st = SeriesStore::new();
        // +150 per 15 s; the process restarts just after 30 s and counts 150 again by 45 s
        for (t, v) in [(0, 0.0), (15, 150.0), (30, 300.0), (45, 150.0), (60, 300.0), (75, 450.0)] {
            st.push("c_total", &[], t * S, v);
        }
        // window (15, 75]: 300, 150, 300, 450 -> increase 450 - 300 + 300 = 450 over 45 s, extrapolated
        // by 15 s at the start: 600 over the minute
        assert!(close(one(&st, "increase(c_total[1m])", 75), 600.0));
        assert!(close(one(&st, "rate(c_total[1m])", 75), 10.0));
        assert!(close(one(&st, "irate(c_total[1m])", 45), 10.0));
    }

    #[test]
    fn over_time_functions() {
        let mut st = SeriesStore::new();
        for (t, v) in [(10, 3.0), (20, 9.0), (30, 6.0)] {
            st.push("q", &[], t * S, v);
        }
        assert_eq!(one(&st, "max_over_time(q[5m])", 30), 9.0);
        assert_eq!(one(&st, "min_over_time(q[5m])", 30), 3.0);
        assert_eq!(one(&st, "sum_over_time(q[5m])", 30), 18.0);
        assert_eq!(one(&st, "avg_over_time(q[5m])", 30), 6.0);
        assert_eq!(one(&st, "count_over_time(q[15s])", 30), 2.0, "window (15, 30] is left-open");
        assert_eq!(at(&st, "last_over_time(q[1m])", 30), vec![("q{}".into(), 6.0)]);
        // instant selector: latest sample within the 5-minute lookback
        assert_eq!(one(&st, "q", 25), 9.0);
        assert!(at(&st, "q", 330).is_empty());
        assert_eq!(one(&st, "q", 329), 6.0);
    }

    #[test]
    fn histogram_quantile_interpolates() {
        let mut st = SeriesStore::new();
        st.push_histogram("h", &[], 10 * S, &[0.1, 0.5, 1.0], &[10, 30, 40, 50], 0.0);
        st.push_histogram("empty", &[], 10 * S, &[0.1, 0.5, 1.0], &[0, 0, 0, 0], 0.0);
        assert!(close(one(&st, "histogram_quantile(0.5, h_bucket)", 10), 0.4)); // 0.1 + 0.4 * 15/20
        assert!(close(one(&st, "histogram_quantile(0.05, h_bucket)", 10), 0.025)); // from 0: 0.1 * 2.5/10
        assert_eq!(one(&st, "histogram_quantile(0.99, h_bucket)", 10), 1.0, "+Inf bucket: highest finite bound");
        assert!(one(&st, "histogram_quantile(0.5, empty_bucket)", 10).is_nan());
        assert!(at(&st, "histogram_quantile(0.5, empty_bucket) > 0", 10).is_empty());
        assert_eq!(one(&st, "histogram_quantile(2, h_bucket)", 10), f64::INFINITY);
    }

    #[test]
    fn histogram_quantile_fixes_monotonicity() {
        // le=0.5 dropped below le=0.1: Prometheus raises it to 10 before interpolating
        let mut b = vec![(f64::INFINITY, 20.0), (0.1, 10.0), (1.0, 20.0), (0.5, 8.0)];
        assert!(close(bucket_quantile(0.6, &mut b), 0.6)); // 0.5 + 0.5 * (12 - 10) / (20 - 10)
        let mut single = vec![(f64::INFINITY, 5.0)];
        assert!(bucket_quantile(0.5, &mut single).is_nan());
        let mut no_inf = vec![(0.1, 5.0), (1.0, 5.0)];
        assert!(bucket_quantile(0.5, &mut no_inf).is_nan());
    }

    #[test]
    fn histogram_quantile_of_summed_rates() {
        let mut st = SeriesStore::new();
        // per 15 s: pod a adds (cumulative) 4, 8, 10, 10; pod b adds 0, 4, 6, 10
        for k in 0..=40u64 {
            let kf = k as f64;
            let a = [4 * k, 8 * k, 10 * k, 10 * k];
            let b = [0, 4 * k, 6 * k, 10 * k];
            st.push_histogram("lat", &[("pod", "a")], k * 15 * S, &[0.1, 0.5, 1.0], &a, kf);
            st.push_histogram("lat", &[("pod", "b")], k * 15 * S, &[0.1, 0.5, 1.0], &b, kf);
        }
        // summed: 4, 12, 16, 20 -> rank 10 -> 0.1 + 0.4 * (10 - 4) / (12 - 4) = 0.4
        for e in [
            "histogram_quantile(0.5, sum by (le) (rate(lat_bucket[5m])))",
            "histogram_quantile(0.5, sum(rate(lat_bucket[5m])) by (le))",
        ] {
            assert_eq!(at(&st, e, 600).len(), 1);
            assert!(close(one(&st, e, 600), 0.4), "{e}");
        }
        let per_pod = at(&st, "histogram_quantile(0.5, rate(lat_bucket[2m]))", 600);
        assert_eq!(per_pod.len(), 2);
        assert_eq!(per_pod[0].0, "{pod=\"a\"}");
        assert!(close(per_pod[0].1, 0.2), "{per_pod:?}"); // rank 5 in (0.1, 0.5]: 0.1 + 0.4 * 1/4
        assert!(close(per_pod[1].1, 0.75), "{per_pod:?}"); // rank 5 in (0.5, 1]: 0.5 + 0.5 * 1/2
    }

    fn kv_store() -> SeriesStore {
        let mut st = SeriesStore::new();
        st.push("usage", &[("pod", "a"), ("gpu", "0")], 10 * S, 95.0);
        st.push("usage", &[("pod", "b"), ("gpu", "0")], 10 * S, 50.0);
        for pod in ["a", "b", "c"] {
            st.push("capacity", &[("pod", pod)], 10 * S, 100.0);
        }
        st.push("util", &[("pool", "decode"), ("pod", "a")], 10 * S, 0.2);
        st.push("util", &[("pool", "decode"), ("pod", "b")], 10 * S, 0.3);
        st.push("util", &[("pool", "prefill"), ("pod", "c")], 10 * S, 0.9);
        st
    }

    #[test]
    fn vector_matching_and_comparisons() {
        let st = kv_store();
        // no common label set without ignoring(gpu)
        assert!(at(&st, "usage / capacity", 10).is_empty());
        assert_eq!(at(&st, "usage / ignoring(gpu) capacity > 0.9", 10), vec![("{pod=\"a\"}".into(), 0.95)]);
        assert_eq!(at(&st, "usage / on(pod) capacity > 0.9", 10), vec![("{pod=\"a\"}".into(), 0.95)]);
        // a comparison filter keeps the left side's name, labels and value
        assert_eq!(
            at(&st, "usage > on(pod) 0.9 * capacity", 10),
            vec![("{pod=\"a\"}".into(), 95.0)],
            "on() keeps only the on labels, not even the name (Prometheus' resultMetric)"
        );
        assert_eq!(at(&st, "usage > 90", 10), vec![("usage{gpu=\"0\", pod=\"a\"}".into(), 95.0)]);
        assert_eq!(at(&st, "90 < usage", 10), vec![("usage{gpu=\"0\", pod=\"a\"}".into(), 95.0)]);
        assert_eq!(
            at(&st, "usage > bool 90", 10),
            vec![("{gpu=\"0\", pod=\"a\"}".into(), 1.0), ("{gpu=\"0\", pod=\"b\"}".into(), 0.0)]
        );
        assert_eq!(one(&st, "2 > bool 1", 10), 1.0);
        assert_eq!(one(&st, "-2 ^ 2 + 1", 10), -3.0, "unary minus binds looser than ^");
        assert_eq!(one(&st, "2 ^ 3 ^ 2", 10), 512.0, "^ is right-associative");
        assert_eq!(one(&st, "1 + 2 * 3 - 4 / 2", 10), 5.0);
        // set operators
        assert_eq!(at(&st, "capacity and on(pod) usage", 10).len(), 2);
        assert_eq!(at(&st, "capacity unless on(pod) usage", 10), vec![("capacity{pod=\"c\"}".into(), 100.0)]);
        assert_eq!(at(&st, "usage > 90 or usage < 60", 10).len(), 2);
        // many-to-many is an error
        let e = parse("capacity * on() usage").unwrap();
        let err = (Evaluator { store: &st, t: 10 * S }).eval(&e).unwrap_err();
        assert!(err.contains("many-to-many") || err.contains("multiple matches"), "{err}");
    }

    #[test]
    fn aggregations_by_label() {
        let st = kv_store();
        assert_eq!(
            at(&st, "avg by (pool) (util)", 10),
            vec![("{pool=\"decode\"}".into(), 0.25), ("{pool=\"prefill\"}".into(), 0.9)]
        );
        assert_eq!(at(&st, "avg(util{pool=\"decode\"}) < 0.3", 10), vec![("{}".into(), 0.25)]);
        assert_eq!(at(&st, "max(util) by (pool)", 10)[0].1, 0.3);
        assert_eq!(at(&st, "min without (pod) (util)", 10)[1], ("{pool=\"prefill\"}".into(), 0.9));
        assert_eq!(one(&st, "count(util)", 10), 3.0);
        assert!(close(one(&st, "sum(util{pool=~\"dec.*|x\"})", 10), 0.5));
        assert_eq!(one(&st, "sum(util{pool!~\"(decode)\"})", 10), 0.9);
        assert_eq!(one(&st, "sum(util{pool!=\"decode\", pod=~\".+\"})", 10), 0.9);
        assert_eq!(one(&st, "count({pool=\"decode\"})", 10), 2.0);
        assert_eq!(one(&st, "scalar(sum(capacity)) / 3", 10), 100.0);
        assert_eq!(at(&st, "vector(1)", 10), vec![("{}".into(), 1.0)]);
        assert_eq!(one(&st, "time()", 10), 10.0);
        assert_eq!(one(&st, "clamp_max(sum(util), 1)", 10), 1.0);
        assert!(close(one(&st, "abs(-sum(util))", 10), 1.4));
    }

    #[test]
    fn regex_subset() {
        let re = SimpleRegex::new("decode|pre.+|x.*y|a\\.b").unwrap();
        for s in ["decode", "prefill", "xy", "x--y", "a.b"] {
            assert!(re.is_match(s), "{s}");
        }
        for s in ["decoder", "pre", "xyz", "axb", ""] {
            assert!(!re.is_match(s), "{s}");
        }
        assert!(SimpleRegex::new("(a|b)").unwrap().is_match("b"));
        assert!(SimpleRegex::new("a.c").unwrap().is_match("abc"));
        assert!(SimpleRegex::new("a[bc]").is_err());
        assert!(SimpleRegex::new("a*").is_err());
        assert!(SimpleRegex::new("(a)|(b)").is_err());
        assert!(SimpleRegex::new("\\d").is_err());
    }

    /// A gauge scraped every 5 s, 1 while `lo <= t <= hi`, else 0, from 0 to 400 s.
    fn gauge(lo: u64, hi: u64) -> SeriesStore {
        let mut st = SeriesStore::new();
        for t in (0..=400).step_by(5) {
            st.push("g", &[("pod", "a")], t * S, if (lo..=hi).contains(&t) { 1.0 } else { 0.0 });
        }
        st
    }

    #[test]
    fn for_delays_firing_until_held() {
        let st = gauge(60, 200);
        let r = &evaluate(&[rule("High", "g > 0.5", 60)], &st, 15 * S, 400 * S).unwrap()[0];
        // pending at 60 s, firing from 120 s (60 s held), resolved at 210 s (first eval after 200 s)
        assert_eq!(r.firing, vec![(120.0, 210.0)]);
        assert!(r.fired);
        assert_eq!(r.active_evaluations, 10, "evaluations 60, 75, ..., 195");
        assert_eq!(r.for_s, 60.0);
        // for: 0 fires at the first active evaluation; still firing at the end: ends at the run's end
        let st = gauge(60, 1000);
        let r = &evaluate(&[rule("Now", "g > 0.5", 0)], &st, 15 * S, 400 * S).unwrap()[0];
        assert_eq!(r.firing, vec![(60.0, 400.0)]);
    }

    #[test]
    fn a_blip_shorter_than_for_never_fires() {
        let st = gauge(60, 100);
        let r = &evaluate(&[rule("Blip", "g > 0.5", 60)], &st, 15 * S, 400 * S).unwrap()[0];
        assert!(!r.fired);
        assert!(r.firing.is_empty());
        assert_eq!(r.active_evaluations, 3); // 60, 75, 90
    }

    #[test]
    fn for_is_tracked_per_label_set() {
        // pod a active 60..=110, pod b 100..=200: neither is held 60 s at once until b at 165 s
        let mut st = SeriesStore::new();
        for t in (0..=400u64).step_by(5) {
            st.push("g", &[("pod", "a")], t * S, f64::from(u8::from((60..=110).contains(&t))));
            st.push("g", &[("pod", "b")], t * S, f64::from(u8::from((100..=200).contains(&t))));
        }
        let r = &evaluate(&[rule("R", "g > 0.5", 60)], &st, 15 * S, 400 * S).unwrap()[0];
        assert_eq!(r.firing, vec![(165.0, 210.0)]);
        // an alert label set by the rule collapses both pods into one label set: an error, as in Prometheus
        let mut merged = rule("M", "g > 0.5", 0);
        merged.labels.insert("pod".into(), "x".into());
        assert!(matches!(
            evaluate(&[merged], &st, 15 * S, 400 * S),
            Err(AlertError::Eval { t_s, .. }) if t_s == 105.0
        ));
    }

    #[test]
    fn parse_errors_name_column_and_expectation() {
        let err = check_expr("rate(x[5m]").unwrap_err();
        match &err {
            AlertError::Syntax { col, expected, found, .. } => {
                assert_eq!(*col, 11);
                assert!(expected.contains("`)`"), "{expected}");
                assert_eq!(found, "end of expression");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("column 11"), "{err}");
        let err = check_expr("sum(foo_bar(x))").unwrap_err();
        assert!(matches!(&err, AlertError::UnknownFunction { name, col: 5, .. } if name == "foo_bar"), "{err:?}");
        assert!(err.to_string().contains("foo_bar"));
        let err = check_expr("predict_linear(x[5m], 60) < 0").unwrap_err();
        assert!(matches!(&err, AlertError::Unsupported { what, .. } if what.contains("predict_linear")), "{err:?}");
        let err = check_expr("topk(3, x)").unwrap_err();
        assert!(err.to_string().contains("topk"), "{err}");
        let err = check_expr("a * on(x) group_left b").unwrap_err();
        assert!(err.to_string().contains("group_left"), "{err}");
        assert!(matches!(check_expr("rate(x[5m] offset 1m)"), Err(AlertError::Unsupported { .. })));
        assert!(matches!(check_expr("max_over_time(rate(x[1m])[5m:1m])"), Err(AlertError::Unsupported { .. })));
        for (bad, needle) in [
            ("1 > 2", "BOOL"),
            ("x[5m]", "range vector"),
            ("rate(x)", "expected type range vector"),
            ("sum(x[5m])", "aggregation"),
            ("x + bool y", "comparison"),
            ("1 and x", "set operator"),
            ("rate(x[5m], 1)", "argument"),
            ("(x)[5m]", "ranges only allowed"),
            ("x{a=\"\"}[0s]", "greater than 0"),
            ("{a=\"\"}", "non-empty matcher"),
            ("x[5q]", "unknown unit"),
        ] {
            let err = check_expr(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        for (bad, col) in [("x >", 4), ("sum(x) by le", 11), ("x{a=1}", 5), ("x{a=~\"[a]\"}", 6), ("x $ y", 3)] {
            let err = check_expr(bad).unwrap_err();
            let got = match err {
                AlertError::Syntax { col, .. } | AlertError::Unsupported { col, .. } => col,
                other => panic!("{bad}: {other:?}"),
            };
            assert_eq!(got, col, "{bad}");
        }
        assert!(check_expr("x > 1 # comment\n").is_ok());
        assert!(check_expr("SUM BY (le) (x) > Inf or x != NaN unless x == 1e3 and x > 0x1f").is_ok());
    }

    #[test]
    fn durations() {
        for (s, ns) in [
            ("30s", 30 * S),
            ("5m", 300 * S),
            ("1h30m", 5400 * S),
            ("250ms", 250_000_000),
            ("2d", 2 * 86_400 * S),
            ("1w", 7 * 86_400 * S),
            ("1y", 365 * 86_400 * S),
            ("1m30s500ms", 90 * S + 500_000_000),
            ("0", 0),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration_ns(s).unwrap(), ns, "{s}");
        }
        for bad in ["", "5", "m", "1.5m", "5x", "30s5m", "-1m", "5m5m", " 5m", "99999999999y", "5M"] {
            let err = parse_duration_ns(bad).unwrap_err();
            assert!(matches!(&err, AlertError::BadDuration { text, .. } if text == bad), "{bad}: {err:?}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn example_rules_parse_and_evaluate() {
        let mut st = SeriesStore::new();
        let bounds = [0.005, 0.01, 0.05, 0.1, 0.5, 1.0];
        for k in 0..=80u64 {
            let t = k * 15 * S;
            for (pod, pool) in [("p0", "prefill"), ("d0", "decode"), ("d1", "decode")] {
                let l = [("pod", pod), ("pool", pool)];
                let c = [k, 2 * k, 5 * k, 8 * k, 9 * k, 10 * k, 10 * k];
                for h in ["dynamo_ttft_seconds", "dynamo_tpot_seconds", "dynamo_kv_transfer_latency_seconds"] {
                    st.push_histogram(h, &l, t, &bounds, &c, k as f64);
                }
                st.push("dynamo_kv_cache_usage_bytes", &l, t, 95.0);
                st.push("dynamo_kv_cache_capacity_bytes", &l, t, 100.0);
                st.push("dynamo_gpu_utilization", &l, t, 0.2);
                st.push("dynamo_decode_batch_size", &l, t, 64.0);
                st.push("dynamo_decode_max_batch_size", &l, t, 64.0);
                st.push("dynamo_output_tokens_total", &l, t, 500.0 * k as f64);
            }
            st.push("dynamo_prefill_queue_depth", &[("pool", "prefill")], t, if k > 40 { 120.0 } else { 10.0 });
        }
        let rules = [
            ("TTFT", "histogram_quantile(0.99, sum(rate(dynamo_ttft_seconds_bucket[5m])) by (le)) > 0.5", 300),
            ("TPOT", "histogram_quantile(0.99, rate(dynamo_tpot_seconds_bucket[2m])) > 0.03", 120),
            ("KvPod", "dynamo_kv_cache_usage_bytes / dynamo_kv_cache_capacity_bytes > 0.9", 60),
            ("KvAll", "sum(dynamo_kv_cache_usage_bytes) / sum(dynamo_kv_cache_capacity_bytes) > 0.9", 0),
            ("Queue", "dynamo_prefill_queue_depth > 50", 60),
            ("Idle", "avg(dynamo_gpu_utilization{pool=\"decode\"}) < 0.3", 600),
            ("Batch", "dynamo_decode_batch_size / dynamo_decode_max_batch_size > 0.95", 0),
            ("Tokens", "rate(dynamo_output_tokens_total[1m]) < 1000", 0),
            (
                "Kvx",
                "histogram_quantile(0.99, sum by (le) (rate(dynamo_kv_transfer_latency_seconds_bucket[5m]))) > 0.01",
                0,
            ),
            ("QueueMax", "max_over_time(dynamo_prefill_queue_depth[5m]) > 100", 0),
        ];
        let rules: Vec<AlertRule> = rules.iter().map(|(n, e, f)| rule(n, e, *f)).collect();
        for r in &rules {
            check_expr(&r.expr).unwrap_or_else(|e| panic!("{e}"));
        }
        let end = 1200 * S;
        let reports = evaluate(&rules, &st, 15 * S, end).unwrap();
        assert_eq!(reports.len(), rules.len());
        assert_eq!(
            reports.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["TTFT", "TPOT", "KvPod", "KvAll", "Queue", "Idle", "Batch", "Tokens", "Kvx", "QueueMax"]
        );
        let by = |n: &str| reports.iter().find(|r| r.name == n).unwrap();
        // p99 falls in (0.5, 1]: 0.5 + 0.5 * (9.9 - 9) / 1 = 0.95 > 0.5, held 5 min after the first
        // evaluation with two samples in the window (15 s)
        assert_eq!(by("TTFT").firing, vec![(315.0, 1200.0)]);
        assert_eq!(by("KvPod").firing, vec![(75.0, 1200.0)]);
        assert_eq!(by("KvAll").firing, vec![(15.0, 1200.0)]);
        assert_eq!(by("Queue").firing, vec![(675.0, 1200.0)], "above 50 from 615 s, held 60 s");
        assert_eq!(by("Idle").firing, vec![(615.0, 1200.0)]);
        assert!(by("Batch").fired);
        assert!(by("Tokens").fired, "3 pods at 33.3 tokens/s each");
        assert!(by("Kvx").fired);
        assert_eq!(by("QueueMax").firing, vec![(615.0, 1200.0)]);
        assert!(by("TPOT").fired);
        let json = serde_json::to_value(&reports[0]).unwrap();
        assert_eq!(json["firing"][0][0], 315.0);
        assert!(matches!(evaluate(&rules, &st, 0, end), Err(AlertError::ZeroInterval)));
        let bad = [rule("Bad", "rate(x[5m]", 0)];
        let err = evaluate(&bad, &st, 15 * S, end).unwrap_err();
        assert!(err.to_string().contains("\"Bad\"") && err.to_string().contains("column 11"), "{err}");
    }
}
