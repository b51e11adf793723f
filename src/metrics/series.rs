//! Metric samples on the simulated clock, stored the way a Prometheus server holds what it scraped:
//! one series per metric name and label set, each a list of `(time, value)` samples in time order.
//! [`super::alerts`] evaluates PromQL alerting rules on them.
//!
//! Label sets follow Prometheus' data model: label names are sorted, and a label whose value is
//! empty is the same as no label at all (so it is not stored).

use std::collections::BTreeMap;
use std::sync::Arc;

/// A series' identity: its labels sorted by name, the metric name included as `__name__`
/// (Prometheus' `labels.Labels`). Shared, so that selecting a series costs no copy.
pub(crate) type Metric = Arc<Vec<(String, String)>>;

/// The label that carries a series' metric name (Prometheus' `labels.MetricName`).
pub(crate) const METRIC_NAME: &str = "__name__";

/// One stored series.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) metric: Metric,
    /// Sample times in ns on the simulated clock, non-decreasing.
    pub(crate) t: Vec<u64>,
    pub(crate) v: Vec<f64>,
}

/// Metric samples on the simulated clock, as a Prometheus server would have scraped them.
#[derive(Debug, Clone, Default)]
pub struct SeriesStore {
    /// Keyed by (metric name, labels sorted by name without `__name__`) so that iteration, and so
    /// every result built from it, is deterministic.
    series: BTreeMap<(String, Vec<(String, String)>), Series>,
}

impl SeriesStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one sample; times per series must be non-decreasing (debug_assert).
    pub fn push(&mut self, name: &str, labels: &[(&str, &str)], t_ns: u64, value: f64) {
        let mut sorted: Vec<(String, String)> = labels
            .iter()
            .filter(|(k, v)| !v.is_empty() && *k != METRIC_NAME)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        sorted.sort();
        debug_assert!(sorted.windows(2).all(|w| w[0].0 != w[1].0), "duplicate label name in {labels:?}");
        let key = (name.to_string(), sorted);
        let series = self.series.entry(key).or_insert_with_key(|(name, labels)| {
            let mut metric = labels.clone();
            metric.push((METRIC_NAME.to_string(), name.clone()));
            metric.sort();
            Series { metric: Arc::new(metric), t: Vec::new(), v: Vec::new() }
        });
        debug_assert!(
            series.t.last().is_none_or(|&last| last <= t_ns),
            "samples of {name}{labels:?} out of time order: {t_ns} after {:?}",
            series.t.last()
        );
        series.t.push(t_ns);
        series.v.push(value);
    }

    /// Convenience: a Prometheus histogram's cumulative `name_bucket{le=..}` series (upper bounds in
    /// the metric's unit, `+Inf` added), `name_sum` and `name_count`, from cumulative counts.
    ///
    /// `cumulative_counts[i]` is the number of observations `<= upper_bounds[i]`. One more entry than
    /// there are bounds, if given, is the total count (the `+Inf` bucket); otherwise the total is the
    /// last entry. A last bound of `+Inf` is not added twice. `le` values are written as Rust prints
    /// the bound (`0.5`, `1`, `+Inf`); `histogram_quantile` reads them back as numbers.
    pub fn push_histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        t_ns: u64,
        upper_bounds: &[f64],
        cumulative_counts: &[u64],
        sum: f64,
    ) {
        assert!(
            cumulative_counts.len() == upper_bounds.len() || cumulative_counts.len() == upper_bounds.len() + 1,
            "histogram {name}: {} cumulative counts for {} upper bounds",
            cumulative_counts.len(),
            upper_bounds.len()
        );
        debug_assert!(upper_bounds.windows(2).all(|w| w[0] < w[1]), "histogram {name}: bounds not increasing");
        let bucket = format!("{name}_bucket");
        let base: Vec<(&str, &str)> = labels.iter().copied().filter(|(k, _)| *k != "le").collect();
        let mut total = cumulative_counts.last().copied().unwrap_or(0);
        let mut inf_written = false;
        for (i, &bound) in upper_bounds.iter().enumerate() {
            let le = format_le(bound);
            let mut with_le = base.clone();
            with_le.push(("le", &le));
            self.push(&bucket, &with_le, t_ns, cumulative_counts[i] as f64);
            if bound == f64::INFINITY {
                inf_written = true;
                total = cumulative_counts[i];
            }
        }
        if !inf_written {
            let mut with_le = base;
            with_le.push(("le", "+Inf"));
            self.push(&bucket, &with_le, t_ns, total as f64);
        }
        self.push(&format!("{name}_sum"), labels, t_ns, sum);
        self.push(&format!("{name}_count"), labels, t_ns, total as f64);
    }

    /// Distinct metric names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut last: Option<&str> = None;
        self.series.keys().filter_map(move |(name, _)| {
            if last == Some(name.as_str()) {
                None
            } else {
                last = Some(name.as_str());
                last
            }
        })
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Every series named `name`, in label order.
    pub(crate) fn series_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Series> + 'a {
        let name = name.to_string();
        self.series.range((name.clone(), Vec::new())..).take_while(move |((n, _), _)| *n == name).map(|(_, s)| s)
    }

    /// Every series, in (name, labels) order.
    pub(crate) fn all_series(&self) -> impl Iterator<Item = &Series> {
        self.series.values()
    }
}

/// An `le` label value: `+Inf` for infinity, otherwise the shortest text that reads back as `bound`.
fn format_le(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".to_string()
    } else {
        format!("{bound}")
    }
}

impl Series {
    /// Index range of the samples with time in `(from, to]` (`from` exclusive: Prometheus 3 selects
    /// ranges and the lookback window left-open).
    pub(crate) fn window(&self, from_excl: Option<u64>, to_incl: u64) -> std::ops::Range<usize> {
        let end = self.t.partition_point(|&t| t <= to_incl);
        let start = match from_excl {
            Some(from) => self.t[..end].partition_point(|&t| t <= from),
            None => 0,
        };
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_sorts_labels_and_drops_empty_values() {
        let mut s = SeriesStore::new();
        s.push("m", &[("b", "2"), ("a", "1"), ("c", "")], 1, 1.0);
        s.push("m", &[("a", "1"), ("b", "2")], 2, 2.0);
        s.push("other", &[], 1, 0.0);
        assert_eq!(s.len(), 2);
        assert!(!s.is_empty());
        assert_eq!(s.names().collect::<Vec<_>>(), vec!["m", "other"]);
        let m: Vec<_> = s.series_named("m").collect();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].t, vec![1, 2]);
        let labels: Vec<_> = m[0].metric.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(labels, vec!["__name__=m", "a=1", "b=2"]);
    }

    #[test]
    fn push_histogram_writes_buckets_sum_and_count() {
        let mut s = SeriesStore::new();
        s.push_histogram("lat", &[("pool", "p")], 5, &[0.1, 0.5], &[3, 7, 9], 2.5);
        s.push_histogram("lat2", &[], 5, &[0.1, f64::INFINITY], &[3, 9], 2.5);
        s.push_histogram("lat3", &[], 5, &[0.1, 1.0], &[3, 9], 2.5);
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            vec!["lat2_bucket", "lat2_count", "lat2_sum", "lat3_bucket", "lat3_count", "lat3_sum", "lat_bucket"]
                .into_iter()
                .chain(["lat_count", "lat_sum"])
                .collect::<Vec<_>>()
        );
        let buckets: Vec<(String, f64)> = s
            .series_named("lat_bucket")
            .map(|x| (x.metric.iter().find(|l| l.0 == "le").unwrap().1.clone(), x.v[0]))
            .collect();
        assert_eq!(buckets, vec![("+Inf".into(), 9.0), ("0.1".into(), 3.0), ("0.5".into(), 7.0)]);
        assert_eq!(s.series_named("lat2_bucket").count(), 2);
        let inf3: Vec<f64> = s.series_named("lat3_bucket").map(|x| x.v[0]).collect();
        assert_eq!(inf3, vec![9.0, 3.0, 9.0], "+Inf, 0.1, 1 (text order)");
        assert_eq!(s.series_named("lat_count").next().unwrap().v, vec![9.0]);
        assert_eq!(s.series_named("lat_sum").next().unwrap().v, vec![2.5]);
    }

    #[test]
    fn window_is_left_open() {
        let mut s = SeriesStore::new();
        for t in [10, 20, 30, 40] {
            s.push("m", &[], t, t as f64);
        }
        let x = s.series_named("m").next().unwrap();
        assert_eq!(x.window(Some(10), 30), 1..3);
        assert_eq!(x.window(Some(9), 40), 0..4);
        assert_eq!(x.window(None, 25), 0..2);
        assert_eq!(x.window(Some(40), 50), 4..4);
    }
}
