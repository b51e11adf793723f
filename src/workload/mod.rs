//! Traffic: synthetic generators, closed-loop clients, trace readers.
//!
//! - [`open_loop`] turns a [`WorkloadSpec`] into an iterator of [`RequestSpec`] in non-decreasing arrival
//!   order (integer ns from 0). Synthetic sources are infinite: the caller applies `.take(n)` or a time
//!   limit. Closed loop is not an open-loop source: the engine runs its clients and draws their lengths from
//!   a [`LengthSampler`] built with the same seed.
//! - [`LengthSampler`] draws (input, output) token lengths; [`LengthDist::parse`](spec::LengthDist::parse) reads the CLI syntax.
//! - [`TraceStream`] replays a trace file (Azure CSV, Mooncake JSONL, BurstGPT CSV) line by line with bounded
//!   memory: speedup or rate rescaling, a time window, sampling, skipped bad lines ([`stream`]).
//! - [`read_azure_csv`] / [`read_mooncake_jsonl`] / [`read_burstgpt_csv`] read a whole trace into a `Vec`
//!   (sorted, first request at 0).
//!
//! Randomness is reproducible and split into independent streams per purpose (see [`synthetic`]): the
//! lengths drawn for a seed do not depend on the arrival process or rate.

pub mod prefix;
pub mod presets;
pub mod stream;
pub mod synthetic;
pub mod trace;

use rand_pcg::Pcg64;

use crate::spec::workload::{Arrival, RequestSpec, WorkloadSpec};
use prefix::PrefixGen;
use synthetic::ArrivalGen;

pub use stream::{TraceStatus, TraceStream, REORDER_WINDOW_LINES};
pub use synthetic::{
    rng_stream, splitmix64, LengthSampler, DEFAULT_LOGNORMAL_MAX, STREAM_ARRIVALS, STREAM_INPUT_LENGTHS,
    STREAM_OUTPUT_LENGTHS,
};
pub use trace::{
    detect_format, load_trace, parse_datetime_ns, read_azure_csv, read_azure_csv_from, read_mooncake_jsonl,
    read_mooncake_jsonl_from, read_trace, scale_times, AZURE_HEADER,
};
pub use trace::{read_burstgpt_csv, read_burstgpt_csv_from, sniff_format, BURSTGPT_HEADER};

/// Everything that can go wrong building a workload or reading a trace. Trace errors name the file (or the
/// display name given to a `*_from` reader) and the 1-based line, what was wrong and what was expected.
#[derive(thiserror::Error, Debug)]
pub enum WorkloadError {
    #[error("{path}: cannot read trace: {io}")]
    Io { path: String, io: std::io::Error },
    #[error("{path}:1: missing header: expected `{expected}`, got {got:?}")]
    MissingHeader { path: String, expected: &'static str, got: String },
    #[error("{path}:1: header lacks column {column}: expected `{expected}`, got {got:?}")]
    BadHeader { path: String, column: &'static str, expected: &'static str, got: String },
    /// A CSV row with fewer (`problem` says "truncated line") or more fields than the header.
    #[error("{path}:{line}: {problem}: expected {expected} fields (header {header:?}), got {got}")]
    FieldCount { path: String, line: usize, problem: &'static str, expected: usize, header: String, got: usize },
    /// A value of the wrong shape; `what` is `column NAME` (CSV) or ``field `name` `` (JSON); `got` is quoted
    /// as it appeared.
    #[error("{path}:{line}: {what}: expected {expected}, got {got}")]
    BadValue { path: String, line: usize, what: String, expected: &'static str, got: String },
    #[error("{path}:{line}: missing field `{field}` (expected {expected})")]
    MissingField { path: String, line: usize, field: &'static str, expected: &'static str },
    /// A JSONL line that is not valid JSON or not an object; `msg` is serde_json's message.
    #[error("{path}:{line}: bad JSON: {msg} (column {column})")]
    Json { path: String, line: usize, column: usize, msg: String },
    #[error("{path}:{line}: not valid UTF-8 text (byte {byte} of the line)")]
    NotUtf8 { path: String, line: usize, byte: usize },
    /// A trace line earlier than a request already replayed: displaced by more than the reorder window.
    #[error(
        "{path}:{line}: out of order by more than the reorder window ({window} lines): {early_s} s earlier than \
         line {replayed_line}, already replayed (expected times that are sorted, or nearly: sort the file, or \
         skip such lines with --skip-bad-lines)"
    )]
    OutOfOrder { path: String, line: usize, window: usize, early_s: f64, replayed_line: usize },
    #[error("{path}: empty trace: no requests (expected {expected})")]
    EmptyTrace { path: String, expected: &'static str },
    #[error(
        "workload: closed-loop arrival (concurrency {concurrency}) is not an open-loop source: expected \
         poisson, gamma, offline or a trace (the engine runs closed-loop clients with a LengthSampler)"
    )]
    ClosedLoop { concurrency: u32 },
    /// A parameter out of range; the message names it and says what was expected.
    #[error("workload: {0}")]
    InvalidSpec(String),
}

/// An open-loop request source: [`RequestSpec`]s in non-decreasing `arrival_ns`. Synthetic sources are
/// infinite; a trace source ends with the trace. Built by [`open_loop`].
#[derive(Debug)]
pub struct OpenLoop {
    inner: Inner,
}

#[derive(Debug)]
// One per source, built once and matched in place: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Synthetic {
        arrivals: ArrivalGen,
        rng: Pcg64,
        lengths: LengthSampler,
    },
    /// Synthetic with prefix blocks (system prompts, sessions).
    Prefix(Box<PrefixGen>),
    Trace(Box<TraceStream>),
}

impl OpenLoop {
    /// Whether the source ends (a trace) rather than going on forever (synthetic).
    pub fn is_finite(&self) -> bool {
        match &self.inner {
            Inner::Trace(_) => true,
            Inner::Synthetic { arrivals, .. } => arrivals.ends(),
            Inner::Prefix(g) => g.ends(),
        }
    }

    /// A trace source's status (the error that stopped it, skipped-line counts); `None` for synthetic.
    pub fn trace_status(&self) -> Option<std::sync::Arc<TraceStatus>> {
        match &self.inner {
            Inner::Trace(t) => Some(t.status()),
            Inner::Synthetic { .. } | Inner::Prefix(_) => None,
        }
    }
}

impl Iterator for OpenLoop {
    type Item = RequestSpec;

    #[inline]
    fn next(&mut self) -> Option<RequestSpec> {
        match &mut self.inner {
            Inner::Synthetic { arrivals, rng, lengths } => {
                let arrival_ns = arrivals.next_ns(rng)?;
                let (input_tok, output_tok) = lengths.sample();
                Some(RequestSpec { arrival_ns, input_tok, output_tok, blocks: None })
            }
            Inner::Prefix(g) => g.next(),
            Inner::Trace(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::Synthetic { .. } | Inner::Prefix(_) if !self.is_finite() => (usize::MAX, None),
            Inner::Synthetic { .. } | Inner::Prefix(_) => (0, None),
            Inner::Trace(it) => it.size_hint(),
        }
    }
}

/// Builds the open-loop request source of `spec`.
///
/// - Poisson: exponential gaps with mean `1e9 / rate` ns. Gamma: gaps ~ Gamma(shape `k = 1/cv^2`, scale
///   `mean_gap / k`), so the mean gap is `1e9 / rate` and the gaps' CV is `cv`. Each gap is rounded to whole
///   ns and accumulated in `u64`, so results are exact and deterministic. The process starts at t = 0; the
///   first request arrives one gap later.
/// - Offline: every request at t = 0 (infinite; take N).
/// - Diurnal, step, ramp: non-homogeneous Poisson processes, generated exactly (thinning, time rescaling;
///   see `synthetic::ArrivalGen`); a step/ramp profile whose last rate is 0 ends the source.
/// - SyntheticPrefix: as Synthetic, plus prefix blocks and sessions ([`prefix`]); sessions start at the
///   process's rate divided by the mean turns.
/// - Trace: the file streamed by [`TraceStream`] (first request at 0, in time order, window, sample and
///   time scale applied). It stops at the first bad line; [`OpenLoop::trace_status`] holds the error.
/// - ClosedLoop: [`WorkloadError::ClosedLoop`].
///
/// Gaps come from [`rng_stream`]`(seed, STREAM_ARRIVALS)`; lengths from [`LengthSampler::new`]`(isl, osl,
/// seed)`, so the length sequence for a seed is the same at every rate and arrival process.
pub fn open_loop(spec: &WorkloadSpec, seed: u64) -> Result<OpenLoop, WorkloadError> {
    let inner = match spec {
        WorkloadSpec::Synthetic { arrival, isl, osl } => {
            if let Arrival::ClosedLoop { concurrency, .. } = *arrival {
                return Err(WorkloadError::ClosedLoop { concurrency });
            }
            let arrivals = ArrivalGen::new(arrival).map_err(WorkloadError::InvalidSpec)?;
            isl.validate().map_err(|e| WorkloadError::InvalidSpec(format!("isl: {e}")))?;
            osl.validate().map_err(|e| WorkloadError::InvalidSpec(format!("osl: {e}")))?;
            Inner::Synthetic {
                arrivals,
                rng: rng_stream(seed, STREAM_ARRIVALS),
                lengths: LengthSampler::new(isl.clone(), osl.clone(), seed),
            }
        }
        WorkloadSpec::SyntheticPrefix { arrival, isl, osl, prefix } => {
            if let Arrival::ClosedLoop { concurrency, .. } = *arrival {
                return Err(WorkloadError::ClosedLoop { concurrency });
            }
            isl.validate().map_err(|e| WorkloadError::InvalidSpec(format!("isl: {e}")))?;
            osl.validate().map_err(|e| WorkloadError::InvalidSpec(format!("osl: {e}")))?;
            let g = PrefixGen::new(arrival, isl, osl, prefix, seed).map_err(WorkloadError::InvalidSpec)?;
            Inner::Prefix(Box::new(g))
        }
        WorkloadSpec::Trace { path, format, options } => {
            Inner::Trace(Box::new(TraceStream::open(path, *format, options, seed)?))
        }
    };
    Ok(OpenLoop { inner })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::workload::{LengthDist, TraceFormat, TraceOptions};

    fn synth(arrival: Arrival) -> WorkloadSpec {
        WorkloadSpec::Synthetic {
            arrival,
            isl: LengthDist::LogNormal { mean: 1000.0, sigma: 0.8, min: 1, max: 131_072 },
            osl: LengthDist::Uniform { min: 10, max: 500 },
        }
    }

    fn gaps_ns(spec: &WorkloadSpec, n: usize) -> Vec<f64> {
        let reqs: Vec<_> = open_loop(spec, 11).unwrap().take(n).collect();
        let mut prev = 0;
        reqs.iter()
            .map(|r| {
                assert!(r.arrival_ns >= prev);
                let g = (r.arrival_ns - prev) as f64;
                prev = r.arrival_ns;
                g
            })
            .collect()
    }

    fn mean_cv(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, var.sqrt() / m)
    }

    #[test]
    fn open_loop_is_send() {
        fn assert_send<T: Send + Iterator<Item = RequestSpec>>() {}
        assert_send::<OpenLoop>();
    }

    #[test]
    fn poisson_rate_within_2pct() {
        for rate in [5.0, 250.0, 40_000.0] {
            let n = 200_000;
            let last = open_loop(&synth(Arrival::Poisson { rate_per_s: rate }), 3).unwrap().take(n).last().unwrap();
            let achieved = n as f64 / (last.arrival_ns as f64 / 1e9);
            assert!((achieved / rate - 1.0).abs() < 0.02, "rate {rate}: achieved {achieved}");
        }
        let (_, cv) = mean_cv(&gaps_ns(&synth(Arrival::Poisson { rate_per_s: 100.0 }), 200_000));
        assert!((cv - 1.0).abs() < 0.03, "poisson gap cv {cv}");
    }

    #[test]
    fn gamma_cv_within_5pct() {
        for cv_want in [2.0, 0.5, 1.0] {
            let rate = 100.0;
            let g = gaps_ns(&synth(Arrival::Gamma { rate_per_s: rate, cv: cv_want }), 200_000);
            let (mean, cv) = mean_cv(&g);
            assert!((cv / cv_want - 1.0).abs() < 0.05, "cv {cv} vs {cv_want}");
            assert!((mean / (1e9 / rate) - 1.0).abs() < 0.02, "mean gap {mean} (cv {cv_want})");
        }
    }

    #[test]
    fn offline_all_at_zero() {
        let v: Vec<_> = open_loop(&synth(Arrival::Offline), 1).unwrap().take(1000).collect();
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|r| r.arrival_ns == 0 && r.input_tok >= 1 && (10..=500).contains(&r.output_tok)));
    }

    #[test]
    fn closed_loop_and_bad_specs_are_errors() {
        let e = open_loop(&synth(Arrival::ClosedLoop { concurrency: 8, ramp_up_ns: 0 }), 1).unwrap_err();
        assert!(matches!(e, WorkloadError::ClosedLoop { concurrency: 8 }), "{e}");
        let e = open_loop(&synth(Arrival::Poisson { rate_per_s: -3.0 }), 1).unwrap_err().to_string();
        assert!(e.contains("expected a positive number of requests/s, got -3"), "{e}");
        let bad_isl = WorkloadSpec::Synthetic {
            arrival: Arrival::Offline,
            isl: LengthDist::Uniform { min: 9, max: 3 },
            osl: LengthDist::Fixed(1),
        };
        let e = open_loop(&bad_isl, 1).unwrap_err().to_string();
        assert!(e.starts_with("workload: isl: uniform length: expected min <= max"), "{e}");
        let bad_speed = WorkloadSpec::Trace {
            path: "x.csv".into(),
            format: TraceFormat::AzureCsv,
            options: TraceOptions { speedup: 0.0, ..TraceOptions::default() },
        };
        let e = open_loop(&bad_speed, 1).unwrap_err().to_string();
        assert!(e.contains("trace speedup: expected a positive number"), "{e}");
        let missing = WorkloadSpec::Trace {
            path: "/no/such.csv".into(),
            format: TraceFormat::AzureCsv,
            options: TraceOptions::default(),
        };
        let e = open_loop(&missing, 1).unwrap_err().to_string();
        assert!(e.starts_with("/no/such.csv: cannot read trace"), "{e}");
    }

    #[test]
    fn deterministic_and_lengths_independent_of_rate() {
        let a: Vec<_> = open_loop(&synth(Arrival::Poisson { rate_per_s: 10.0 }), 99).unwrap().take(500).collect();
        let b: Vec<_> = open_loop(&synth(Arrival::Poisson { rate_per_s: 10.0 }), 99).unwrap().take(500).collect();
        assert_eq!(a, b);
        let c: Vec<_> = open_loop(&synth(Arrival::Poisson { rate_per_s: 10.0 }), 100).unwrap().take(500).collect();
        assert_ne!(a, c);
        let lens = |v: &[RequestSpec]| v.iter().map(|r| (r.input_tok, r.output_tok)).collect::<Vec<_>>();
        for other in
            [Arrival::Poisson { rate_per_s: 37.0 }, Arrival::Gamma { rate_per_s: 10.0, cv: 3.0 }, Arrival::Offline]
        {
            let d: Vec<_> = open_loop(&synth(other.clone()), 99).unwrap().take(500).collect();
            assert_eq!(lens(&a), lens(&d), "{other:?}");
        }
        // The same lengths as a closed-loop engine would draw with the same seed.
        let WorkloadSpec::Synthetic { isl, osl, .. } = synth(Arrival::Offline) else { unreachable!() };
        let mut s = LengthSampler::new(isl, osl, 99);
        assert_eq!(lens(&a), (0..500).map(|_| s.sample()).collect::<Vec<_>>());
        // Doubling the rate halves every arrival time (same gap stream, up to ns rounding).
        let e: Vec<_> = open_loop(&synth(Arrival::Poisson { rate_per_s: 20.0 }), 99).unwrap().take(500).collect();
        for (x, y) in a.iter().zip(&e) {
            assert!((x.arrival_ns as f64 / 2.0 - y.arrival_ns as f64).abs() <= 500.0);
        }
    }

    #[test]
    fn trace_source_with_speedup() {
        let dir = std::env::temp_dir().join(format!("pdsim-workload-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        std::fs::write(
            &p,
            "TIMESTAMP,ContextTokens,GeneratedTokens\n\
             2023-11-16 18:15:50.0000000,2,20\n\
             2023-11-16 18:15:48.0000000,1,10\n\
             2023-11-16 18:15:49.0000001,3,30\n",
        )
        .unwrap();
        let mk = |speedup| WorkloadSpec::Trace {
            path: p.clone(),
            format: TraceFormat::AzureCsv,
            options: TraceOptions { speedup, ..TraceOptions::default() },
        };
        let it = open_loop(&mk(1.0), 0).unwrap();
        assert!(it.is_finite());
        let status = it.trace_status().unwrap();
        let t1: Vec<_> = it.map(|r| (r.arrival_ns, r.input_tok)).collect();
        assert_eq!(t1, vec![(0, 1), (1_000_000_100, 3), (2_000_000_000, 2)]);
        assert!(status.take_error().is_none());
        let t2: Vec<_> = open_loop(&mk(2.0), 0).unwrap().map(|r| (r.arrival_ns, r.input_tok)).collect();
        assert_eq!(t2, vec![(0, 1), (500_000_050, 3), (1_000_000_000, 2)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
