//! The evaluator: an expression at one instant over the simulated series, with Prometheus' semantics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::parser::{AggOp, BinOp, Expr, Func, Grouping, MatchOp, Matching, Selector};
use super::{secs, Labels, NS_PER_S};
use crate::metrics::series::{Metric, Series, SeriesStore, METRIC_NAME};

/// Prometheus' default lookback delta (`--query.lookback-delta`, 5m): an instant selector sees a
/// series' latest sample in `(t - 5m, t]`.
const LOOKBACK_DELTA_NS: u64 = 300 * NS_PER_S;

#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) metric: Metric,
    pub(super) v: f64,
}

#[derive(Debug, Clone)]
pub(super) enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
}

/// Evaluates an expression at one instant `t` (ns).
pub(super) struct Evaluator<'a> {
    pub(super) store: &'a SeriesStore,
    pub(super) t: u64,
}

impl<'a> Evaluator<'a> {
    pub(super) fn eval(&self, e: &Expr) -> Result<Value, String> {
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
    use crate::promql::parser::parse;

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
}
