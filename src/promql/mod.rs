//! Prometheus alerting rules (a Kubernetes `PrometheusRule`'s `spec.groups[].rules[]`) evaluated on the
//! metric series the simulator sampled on its simulated clock
//! ([`SeriesStore`](crate::metrics::series::SeriesStore)), reporting when each alert was firing.
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
//!
//! Layout: `lexer` (text to tokens), `parser` (AST and type-checking parser), `regex` (the matcher
//! regex subset), `eval` (an expression at one instant), `rules` (alert state over a run, `for:`,
//! the report, durations).

mod eval;
mod lexer;
mod parser;
mod regex;
mod rules;

pub use crate::spec::scenario::AlertRule;
pub use parser::check_expr;
pub use rules::{evaluate, parse_duration_ns, AlertReport};

const NS_PER_S: u64 = 1_000_000_000;

/// A label set sorted by name (as in [`Metric`](crate::metrics::series::Metric)).
type Labels = Vec<(String, String)>;

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

fn secs(ns: u64) -> f64 {
    ns as f64 / NS_PER_S as f64
}
