//! The AST and the recursive-descent parser, which type-checks as it builds.

use super::lexer::{lex, Tok, Token};
use super::regex::SimpleRegex;
use super::rules::parse_duration_ns;
use super::AlertError;
use crate::metrics::series::METRIC_NAME;

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
pub(super) enum BinOp {
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
    pub(super) fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le)
    }
    pub(super) fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

const POW_PRECEDENCE: u8 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AggOp {
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
pub(super) enum Func {
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
pub(super) enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

impl Grouping {
    /// Whether an input label stays in the aggregation's output (Prometheus: `by` keeps exactly the
    /// listed labels, `without` drops the listed ones and the metric name).
    pub(super) fn keeps(&self, label: &str) -> bool {
        match self {
            Grouping::By(ls) => ls.iter().any(|l| l == label),
            Grouping::Without(ls) => label != METRIC_NAME && !ls.iter().any(|l| l == label),
        }
    }
}

/// `on (...)` (`on` true) or `ignoring (...)`; no modifier is `ignoring ()`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Matching {
    pub(super) on: bool,
    pub(super) labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Matcher {
    pub(super) label: String,
    pub(super) op: MatchOp,
    pub(super) value: String,
    pub(super) re: Option<SimpleRegex>,
}

impl Matcher {
    /// `value` is "" for an absent label, as in Prometheus.
    pub(super) fn matches(&self, value: &str) -> bool {
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
pub(super) struct Selector {
    pub(super) name: Option<String>,
    pub(super) matchers: Vec<Matcher>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
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

/// Parses and type-checks an expression, as Prometheus' parser does (`promql/parser/parse.go`
/// `checkAST`); the result is an instant vector or a scalar.
pub(super) fn parse(src: &str) -> Result<Expr, AlertError> {
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

/// Checks an expression parses and uses only supported features (called at scenario-load time).
pub fn check_expr(expr: &str) -> Result<(), AlertError> {
    parse(expr).map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
