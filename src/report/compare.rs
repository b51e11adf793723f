//! `pdsim compare`: the deployment guide's "default vs tuned" table for any two runs.

use serde::Serialize;

use super::Summary;

/// One row: a metric of both runs and how B changes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    pub metric: &'static str,
    pub unit: &'static str,
    pub a: f64,
    pub b: f64,
    /// Whether a lower value is better.
    pub lower_is_better: bool,
}

impl CompareRow {
    /// B relative to A: `b / a` for higher-is-better metrics, `a / b` for lower-is-better ones, so
    /// that above 1 always means B is better. `None` when undefined (a zero).
    pub fn gain(&self) -> Option<f64> {
        let (num, den) = if self.lower_is_better { (self.a, self.b) } else { (self.b, self.a) };
        (den > 0.0 && num > 0.0 && num.is_finite() && den.is_finite()).then(|| num / den)
    }
}

/// The guide's table: TTFT P99, TPOT P99, throughput, KV transfer latency, GPU utilisation, cost.
pub fn compare_rows(a: &Summary, b: &Summary) -> Vec<CompareRow> {
    let row = |metric, unit, f: &dyn Fn(&Summary) -> f64, lower| CompareRow {
        metric,
        unit,
        a: f(a),
        b: f(b),
        lower_is_better: lower,
    };
    vec![
        row("TTFT P99", "ms", &|s| s.ttft_ms.p99, true),
        row("TPOT P99", "ms", &|s| s.tpot_ms.p99, true),
        row("throughput", "output tok/s", &|s| s.throughput.output_tok_s, false),
        row("KV transfer mean", "ms", &|s| s.kv_transfer_ms.mean, true),
        row("GPU utilization", "%", &|s| s.gpu_utilization() * 100.0, false),
        row("cost", "$ per 1M output tok", &|s| s.cost.usd_per_1m_output_tok, true),
        row("SLA attainment", "%", &|s| s.sla.attainment * 100.0, false),
        row("requests completed", "", &|s| s.requests.completed as f64, false),
    ]
}

fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A Markdown table (also readable on a terminal).
pub fn markdown(name_a: &str, name_b: &str, rows: &[CompareRow]) -> String {
    let mut o = format!("| metric | {name_a} | {name_b} | gain |\n|---|---|---|---|\n");
    for r in rows {
        let gain = match r.gain() {
            Some(g) if (g - 1.0).abs() < 0.005 => "same".to_string(),
            Some(g) if g >= 1.0 => format!("{g:.2}x better"),
            Some(g) => format!("{:.2}x worse", 1.0 / g),
            None => "-".to_string(),
        };
        let unit = if r.unit.is_empty() { String::new() } else { format!(" ({})", r.unit) };
        o.push_str(&format!("| {}{unit} | {} | {} | {gain} |\n", r.metric, num(r.a), num(r.b)));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_is_above_one_when_b_is_better() {
        let r = CompareRow { metric: "TTFT P99", unit: "ms", a: 820.0, b: 380.0, lower_is_better: true };
        assert!((r.gain().unwrap() - 820.0 / 380.0).abs() < 1e-12);
        let r = CompareRow { metric: "throughput", unit: "", a: 4200.0, b: 8900.0, lower_is_better: false };
        assert!((r.gain().unwrap() - 8900.0 / 4200.0).abs() < 1e-12);
        let r = CompareRow { metric: "x", unit: "", a: 0.0, b: 1.0, lower_is_better: false };
        assert_eq!(r.gain(), None);
        let t = markdown(
            "default",
            "tuned",
            &[CompareRow { metric: "TTFT P99", unit: "ms", a: 820.0, b: 380.0, lower_is_better: true }],
        );
        assert!(t.contains("| TTFT P99 (ms) | 820 | 380 | 2.16x better |"), "{t}");
    }
}
