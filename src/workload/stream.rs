//! Streaming trace replay: memory bounded by the reorder window and the requests in flight, not by the
//! trace's length.
//!
//! A [`TraceStream`] reads a trace line by line ([`RecordReader`]), puts the records in time order
//! through a bounded reorder buffer, and applies the replay options ([`TraceOptions`]):
//!
//! 1. **Order.** Trace files are not guaranteed sorted (the Azure traces are not). Records pass through a
//!    min-heap of at most [`REORDER_WINDOW_LINES`] records: a record is emitted once that many later lines
//!    have been read, so any line displaced by fewer lines than that comes out in order (ties in file
//!    order, as a stable sort would give). A line earlier than a request already emitted is an error
//!    ([`WorkloadError::OutOfOrder`], naming file:line) or, with `skip_bad_lines`, skipped and counted.
//! 2. **Origin.** Times are shifted so the trace's first request is at 0 (trace time).
//! 3. **Window.** Requests before `start` are skipped, reading stops at `start + duration`, and times
//!    shift so the window starts at 0.
//! 4. **Sample.** A request is kept when a hash of its line number and the seed falls below `sample`: the
//!    same lines are kept at every speed and window, and the kept set changes with the seed.
//! 5. **Time scale.** Times are divided by `speedup`, or, with `rate`, by the factor that makes the mean
//!    arrival rate of the kept requests equal `rate` (`(n - 1) / (last - first)` over the window; measured
//!    by a first, cheap pass over the file), and rounded to whole ns.
//!
//! The engine takes an infallible iterator, so a stream *stops* at the first error (a malformed line, an
//! I/O error, an empty trace or window) and records it in its shared [`TraceStatus`], with the counts of
//! skipped lines; [`crate::runner::run`] checks it after the simulation and fails the run with the error.
//! The requests read before a bad line are still replayed first, and an error that lies beyond the
//! end of the window (or beyond where the consumer stopped) is never reported.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use super::synthetic::splitmix64;
use super::trace::{check_speedup, open_trace, LineOutcome, RecordReader, TraceRecord};
use super::WorkloadError;
use crate::spec::workload::{RequestSpec, TraceFormat, TraceOptions};

/// How many records the reorder buffer holds: a line may be up to this many lines late in the file.
pub const REORDER_WINDOW_LINES: usize = 10_000;

/// What a trace replay has met so far, shared between the stream (inside the engine) and the runner.
#[derive(Debug, Default)]
pub struct TraceStatus {
    skipped_lines: AtomicU64,
    skipped_failed: AtomicU64,
    error: Mutex<Option<WorkloadError>>,
}

impl TraceStatus {
    /// Malformed or too-far-out-of-order lines skipped (with `skip_bad_lines`).
    pub fn skipped_lines(&self) -> u64 {
        self.skipped_lines.load(AtomicOrdering::Relaxed)
    }

    /// BurstGPT rows of failed requests (`Response tokens` 0), not replayed.
    pub fn skipped_failed_requests(&self) -> u64 {
        self.skipped_failed.load(AtomicOrdering::Relaxed)
    }

    /// The error that stopped the stream, if any (taken: a second call gives `None`).
    pub fn take_error(&self) -> Option<WorkloadError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    pub fn has_error(&self) -> bool {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Records `e` unless an earlier error is already recorded.
    fn fail(&self, e: WorkloadError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }
}

/// A record ordered by (time, line) for the min-heap.
#[derive(Debug)]
struct ByTime(TraceRecord);

impl PartialEq for ByTime {
    fn eq(&self, o: &Self) -> bool {
        (self.0.t_ns, self.0.line) == (o.0.t_ns, o.0.line)
    }
}
impl Eq for ByTime {}
impl PartialOrd for ByTime {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByTime {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.0.t_ns, self.0.line).cmp(&(o.0.t_ns, o.0.line))
    }
}

/// Records in time order through a bounded reorder buffer (step 1 of the module docs).
#[derive(Debug)]
struct Ordered<R> {
    reader: RecordReader<R>,
    heap: BinaryHeap<Reverse<ByTime>>,
    window: usize,
    /// Time and line of the last record emitted.
    last: Option<(i64, usize)>,
    eof: bool,
    /// Records read (failed BurstGPT rows and bad lines not included).
    records: u64,
    skip_bad: bool,
    /// The error that stopped reading: reported once the records read before it are emitted.
    pending: Option<WorkloadError>,
    status: Arc<TraceStatus>,
}

impl<R: BufRead> Ordered<R> {
    /// Stops reading at `e`. The records already read still come out (those before the bad line in
    /// time order); `e` is reported when they are exhausted, so a consumer that stops earlier (the end
    /// of a window, a request limit) never sees an error in lines it did not need.
    fn stop(&mut self, e: WorkloadError) {
        self.pending = Some(e);
        self.eof = true;
    }

    fn next(&mut self) -> Option<TraceRecord> {
        while !self.eof && self.heap.len() <= self.window {
            match self.reader.next_outcome() {
                Err(e) => self.stop(e),
                Ok(None) => {
                    self.eof = true;
                    if self.records == 0 {
                        let e = self.reader.empty_error();
                        self.stop(e);
                    }
                }
                Ok(Some(LineOutcome::Record(r))) => {
                    if let Some((t, line)) = self.last {
                        if r.t_ns < t {
                            if self.skip_bad {
                                self.status.skipped_lines.fetch_add(1, AtomicOrdering::Relaxed);
                                continue;
                            }
                            let e = WorkloadError::OutOfOrder {
                                path: self.reader.name().to_string(),
                                line: r.line,
                                window: self.window,
                                early_s: (t as f64 - r.t_ns as f64) / 1e9,
                                replayed_line: line,
                            };
                            self.stop(e);
                            continue;
                        }
                    }
                    self.records += 1;
                    self.heap.push(Reverse(ByTime(r)));
                }
                Ok(Some(LineOutcome::Bad(e))) => {
                    if self.skip_bad {
                        self.status.skipped_lines.fetch_add(1, AtomicOrdering::Relaxed);
                    } else {
                        self.stop(e);
                    }
                }
                Ok(Some(LineOutcome::Failed)) => {
                    self.status.skipped_failed.fetch_add(1, AtomicOrdering::Relaxed);
                }
                Ok(Some(LineOutcome::Filtered)) => {}
            }
        }
        let Some(Reverse(ByTime(r))) = self.heap.pop() else {
            if let Some(e) = self.pending.take() {
                self.status.fail(e);
            }
            return None;
        };
        self.last = Some((r.t_ns, r.line));
        Some(r)
    }
}

/// A trace replayed as an iterator of [`RequestSpec`] in non-decreasing arrival order (see the module docs).
/// Ends at the end of the trace (or window), or at the first error, which [`TraceStream::status`] holds.
#[derive(Debug)]
pub struct TraceStream<R = BufReader<File>> {
    ordered: Ordered<R>,
    /// Time of the trace's first request.
    t0: Option<i64>,
    start_ns: u64,
    /// `start + duration`, trace time.
    end_ns: Option<u64>,
    /// Arrival times are divided by this.
    factor: f64,
    /// Keep a line when its hash is below this (`None`: keep all).
    sample_below: Option<u64>,
    sample_key: u64,
    emitted: u64,
    /// Latest trace time seen (for the empty-window error).
    last_rel_ns: u64,
    done: bool,
    describe_window: String,
}

/// The sampling hash of one line: uniform in u64, a function of the seed and the line only.
#[inline]
fn sample_hash(key: u64, line: usize) -> u64 {
    let mut s = key ^ (line as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    splitmix64(&mut s)
}

fn validate(opts: &TraceOptions) -> Result<(), WorkloadError> {
    check_speedup(opts.speedup)?;
    if let Some(r) = opts.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(WorkloadError::InvalidSpec(format!(
                "trace rate: expected a positive number of requests/s, got {r}"
            )));
        }
    }
    if !(opts.sample > 0.0 && opts.sample <= 1.0) {
        return Err(WorkloadError::InvalidSpec(format!(
            "trace sample: expected a fraction of requests to keep in (0, 1], got {}",
            opts.sample
        )));
    }
    if opts.duration_ns == Some(0) {
        return Err(WorkloadError::InvalidSpec("trace window duration: expected a duration > 0, got 0".into()));
    }
    Ok(())
}

impl TraceStream<BufReader<File>> {
    /// Replays the trace file at `path`. With `opts.rate`, first reads the file once to measure its mean
    /// rate (errors found then are returned here).
    pub fn open(path: &Path, format: TraceFormat, opts: &TraceOptions, seed: u64) -> Result<Self, WorkloadError> {
        validate(opts)?;
        let name = path.display().to_string();
        let factor = match opts.rate {
            None => opts.speedup,
            Some(rate) => {
                let unscaled = TraceOptions { rate: None, speedup: 1.0, ..opts.clone() };
                let mut pass = TraceStream::from_reader(open_trace(path)?, &name, format, &unscaled, seed)?;
                let (mut n, mut first, mut last) = (0u64, 0u64, 0u64);
                for r in pass.by_ref() {
                    if n == 0 {
                        first = r.arrival_ns;
                    }
                    last = r.arrival_ns;
                    n += 1;
                }
                if let Some(e) = pass.status().take_error() {
                    return Err(e);
                }
                if n < 2 || last == first {
                    return Err(WorkloadError::InvalidSpec(format!(
                        "trace rate: cannot rescale {name} to {rate} requests/s: expected at least two requests \
                         at different times{}, got {n} request(s) spanning {} s",
                        pass.describe_window,
                        (last - first) as f64 / 1e9
                    )));
                }
                let trace_rate = (n - 1) as f64 / ((last - first) as f64 / 1e9);
                rate / trace_rate
            }
        };
        let mut s = TraceStream::from_reader(
            open_trace(path)?,
            &name,
            format,
            &TraceOptions { rate: None, ..opts.clone() },
            seed,
        )?;
        s.factor = factor;
        Ok(s)
    }
}

impl<R: BufRead> TraceStream<R> {
    /// Replays a trace from any reader; `name` stands for the file in errors. `opts.rate` needs a second
    /// pass, so it is refused here (use [`TraceStream::open`]).
    pub fn from_reader(
        reader: R,
        name: &str,
        format: TraceFormat,
        opts: &TraceOptions,
        seed: u64,
    ) -> Result<Self, WorkloadError> {
        validate(opts)?;
        if opts.rate.is_some() {
            return Err(WorkloadError::InvalidSpec(format!(
                "trace rate: {name} is not a file that can be read twice; expected a trace file"
            )));
        }
        let reader = RecordReader::new(reader, name, format)?.with_model(opts.model.clone());
        let ordered = Ordered {
            reader,
            heap: BinaryHeap::new(),
            window: REORDER_WINDOW_LINES,
            last: None,
            eof: false,
            records: 0,
            skip_bad: opts.skip_bad_lines,
            pending: None,
            status: Arc::new(TraceStatus::default()),
        };
        let sample_below = (opts.sample < 1.0).then(|| (opts.sample * 2f64.powi(64)) as u64);
        let mut key_state = seed ^ 0x7472_6163_655F_736D; // "trace_sm"
        let mut describe_window = String::new();
        if opts.start_ns > 0 || opts.duration_ns.is_some() {
            describe_window =
                format!(" in the window starting {} s after the first request", opts.start_ns as f64 / 1e9);
            if let Some(d) = opts.duration_ns {
                describe_window += &format!(" and lasting {} s", d as f64 / 1e9);
            }
        }
        if opts.sample < 1.0 {
            describe_window += &format!(" with sample {}", opts.sample);
        }
        Ok(TraceStream {
            ordered,
            t0: None,
            start_ns: opts.start_ns,
            end_ns: opts.duration_ns.map(|d| opts.start_ns.saturating_add(d)),
            factor: opts.speedup,
            sample_below,
            sample_key: splitmix64(&mut key_state),
            emitted: 0,
            last_rel_ns: 0,
            done: false,
            describe_window,
        })
    }

    /// The shared status: skipped-line counts and the error that stopped the stream.
    pub fn status(&self) -> Arc<TraceStatus> {
        Arc::clone(&self.ordered.status)
    }

    /// Sets the reorder window (records held); for tests.
    pub fn with_reorder_window(mut self, lines: usize) -> Self {
        self.ordered.window = lines.max(1);
        self
    }

    fn end(&mut self) -> Option<RequestSpec> {
        self.done = true;
        if self.emitted == 0 && !self.ordered.status.has_error() {
            self.ordered.status.fail(WorkloadError::InvalidSpec(format!(
                "trace {}: no requests{}: expected a window within the trace, which spans {} s",
                self.ordered.reader.name(),
                self.describe_window,
                self.last_rel_ns as f64 / 1e9
            )));
        }
        None
    }
}

impl<R: BufRead> Iterator for TraceStream<R> {
    type Item = RequestSpec;

    fn next(&mut self) -> Option<RequestSpec> {
        if self.done {
            return None;
        }
        loop {
            let Some(r) = self.ordered.next() else { return self.end() };
            let t0 = *self.t0.get_or_insert(r.t_ns);
            // r.t_ns >= t0: records come out in order.
            let rel = u64::try_from(i128::from(r.t_ns) - i128::from(t0)).unwrap_or(u64::MAX);
            self.last_rel_ns = rel;
            if rel < self.start_ns {
                continue;
            }
            if self.end_ns.is_some_and(|end| rel >= end) {
                return self.end();
            }
            if self.sample_below.is_some_and(|below| sample_hash(self.sample_key, r.line) >= below) {
                continue;
            }
            let t = rel - self.start_ns;
            // Saturating cast; a monotone map, so order is kept.
            let arrival_ns = if self.factor == 1.0 { t } else { (t as f64 / self.factor).round() as u64 };
            self.emitted += 1;
            return Some(RequestSpec {
                arrival_ns,
                input_tok: r.input_tok,
                output_tok: r.output_tok,
                blocks: r.blocks,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::trace::{read_azure_csv, read_burstgpt_csv_from, read_mooncake_jsonl, read_trace};
    use std::io::Write;
    use std::path::PathBuf;

    const AZ_H: &str = "TIMESTAMP,ContextTokens,GeneratedTokens\n";

    fn stream(text: &str, format: TraceFormat, opts: &TraceOptions) -> (Vec<RequestSpec>, Arc<TraceStatus>) {
        let s = TraceStream::from_reader(text.as_bytes(), "t.trace", format, opts, 7).unwrap();
        let st = s.status();
        (s.collect(), st)
    }

    fn azure(text: &str, opts: &TraceOptions) -> (Vec<RequestSpec>, Arc<TraceStatus>) {
        stream(text, TraceFormat::AzureCsv, opts)
    }

    fn times(v: &[RequestSpec]) -> Vec<u64> {
        v.iter().map(|r| r.arrival_ns).collect()
    }

    /// An Azure trace (seconds) with one request per second at 0..n s, input = line number.
    fn seconds_trace(n: usize) -> String {
        let mut s = String::from(AZ_H);
        for i in 0..n {
            s += &format!("{i},{},1\n", i + 2);
        }
        s
    }

    fn temp_file(tag: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pdsim-stream-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
        p
    }

    #[test]
    fn reorders_within_the_window_like_a_stable_sort() {
        let csv = format!("{AZ_H}3,1,1\n1,2,1\n2,3,1\n1,4,1\n0.5,5,1\n7,6,1\n");
        let (v, st) = azure(&csv, &TraceOptions::default());
        assert!(st.take_error().is_none());
        let want = crate::workload::read_azure_csv_from(csv.as_bytes(), "x").unwrap();
        assert_eq!(v, want);
        assert_eq!(v.iter().map(|r| r.input_tok).collect::<Vec<_>>(), [5, 2, 4, 3, 1, 6]);
    }

    #[test]
    fn out_of_order_beyond_the_window_stops_or_is_skipped() {
        // Line 6 (time 0) comes after 1..4 s were emitted with a 2-record window.
        let csv = format!("{AZ_H}1,1,1\n2,2,1\n3,3,1\n4,4,1\n0,5,1\n5,6,1\n");
        let s = TraceStream::from_reader(csv.as_bytes(), "t.csv", TraceFormat::AzureCsv, &TraceOptions::default(), 1)
            .unwrap()
            .with_reorder_window(2);
        let st = s.status();
        let v: Vec<_> = s.collect();
        // The records read before the bad line still come out, then the stream stops.
        assert_eq!(times(&v), [0, 1_000_000_000, 2_000_000_000, 3_000_000_000]);
        let e = st.take_error().unwrap().to_string();
        assert!(
            e.starts_with("t.csv:6: out of order by more than the reorder window (2 lines): 2 s earlier than line 3"),
            "{e}"
        );
        let opts = TraceOptions { skip_bad_lines: true, ..TraceOptions::default() };
        let s = TraceStream::from_reader(csv.as_bytes(), "t.csv", TraceFormat::AzureCsv, &opts, 1)
            .unwrap()
            .with_reorder_window(2);
        let st = s.status();
        let v: Vec<_> = s.collect();
        assert_eq!(v.iter().map(|r| r.input_tok).collect::<Vec<_>>(), [1, 2, 3, 4, 6]);
        assert!(st.take_error().is_none());
        assert_eq!(st.skipped_lines(), 1);
    }

    #[test]
    fn malformed_line_stops_the_stream_with_file_and_line() {
        let csv = format!("{AZ_H}0,1,1\n1,2,1\n2,abc,1\n3,4,1\n");
        let (v, st) = azure(&csv, &TraceOptions::default());
        assert_eq!(times(&v), [0, 1_000_000_000]);
        let e = st.take_error().unwrap().to_string();
        assert!(e.starts_with("t.trace:4: column ContextTokens: expected a positive integer, got \"abc\""), "{e}");
        assert!(st.take_error().is_none(), "taken once");
    }

    #[test]
    fn skip_bad_lines_counts_every_kind_of_bad_line() {
        let csv = format!("{AZ_H}0,1,1\nnope,2,1\n1,0,1\n2,3\n3,4,1,9\n4,5,1\n");
        let opts = TraceOptions { skip_bad_lines: true, ..TraceOptions::default() };
        let (v, st) = azure(&csv, &opts);
        assert_eq!(v.iter().map(|r| r.input_tok).collect::<Vec<_>>(), [1, 5]);
        assert_eq!(st.skipped_lines(), 4);
        assert!(st.take_error().is_none());
        // Invalid UTF-8 is a bad line too.
        let mut bytes = format!("{AZ_H}0,1,1\n").into_bytes();
        bytes.extend_from_slice(b"1,\xff,1\n2,2,1\n");
        let s = TraceStream::from_reader(&bytes[..], "u.csv", TraceFormat::AzureCsv, &opts, 1).unwrap();
        let st = s.status();
        assert_eq!(s.count(), 2);
        assert_eq!(st.skipped_lines(), 1);
        // A header error is not a line to skip.
        let e = TraceStream::from_reader(&b"a,b\n1,2\n"[..], "h.csv", TraceFormat::AzureCsv, &opts, 1).unwrap_err();
        assert!(e.to_string().starts_with("h.csv:1: missing header"), "{e}");
    }

    #[test]
    fn empty_trace_and_empty_window_are_errors() {
        let (v, st) = azure(AZ_H, &TraceOptions::default());
        assert!(v.is_empty());
        assert!(st.take_error().unwrap().to_string().starts_with("t.trace: empty trace"));
        let opts = TraceOptions { start_ns: 100_000_000_000, ..TraceOptions::default() };
        let (v, st) = azure(&seconds_trace(10), &opts);
        assert!(v.is_empty());
        let e = st.take_error().unwrap().to_string();
        assert!(e.contains("no requests in the window starting 100 s after the first request"), "{e}");
        assert!(e.contains("which spans 9 s"), "{e}");
    }

    #[test]
    fn speedup_divides_times() {
        let opts = TraceOptions { speedup: 4.0, ..TraceOptions::default() };
        let (v, _) = azure(&seconds_trace(5), &opts);
        assert_eq!(times(&v), [0, 250_000_000, 500_000_000, 750_000_000, 1_000_000_000]);
        let bad = TraceOptions { speedup: -1.0, ..TraceOptions::default() };
        let e = TraceStream::from_reader(&b""[..], "x", TraceFormat::AzureCsv, &bad, 1).unwrap_err();
        assert!(e.to_string().contains("trace speedup: expected a positive number"), "{e}");
    }

    #[test]
    fn window_skips_before_start_stops_at_end_and_shifts_to_zero() {
        // Origin at the first request (10 s), window [2 s, 2 s + 3 s) of trace time.
        let mut csv = String::from(AZ_H);
        for i in 0..10 {
            csv += &format!("{},{},1\n", 10 + i, i + 1);
        }
        csv += "garbage line after the window\n";
        let opts =
            TraceOptions { start_ns: 2_000_000_000, duration_ns: Some(3_000_000_000), ..TraceOptions::default() };
        let (v, st) = azure(&csv, &opts);
        assert_eq!(v.iter().map(|r| r.input_tok).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(times(&v), [0, 1_000_000_000, 2_000_000_000]);
        assert!(st.take_error().is_none());
        // With a speedup, the window is still in trace time.
        let opts = TraceOptions { speedup: 2.0, ..opts };
        let (v, _) = azure(&csv, &opts);
        assert_eq!(times(&v), [0, 500_000_000, 1_000_000_000]);
        // Start only: to the end (where the bad line stops it).
        let opts = TraceOptions { start_ns: 8_000_000_000, ..TraceOptions::default() };
        let (v, st) = azure(&csv, &opts);
        assert_eq!(times(&v), [0, 1_000_000_000]);
        assert!(st.take_error().unwrap().to_string().starts_with("t.trace:12:"));
    }

    #[test]
    fn sample_keeps_a_seeded_deterministic_fraction() {
        let csv = seconds_trace(20_000);
        let opts = TraceOptions { sample: 0.25, ..TraceOptions::default() };
        let (a, _) = azure(&csv, &opts);
        let (b, _) = azure(&csv, &opts);
        assert_eq!(a, b);
        let frac = a.len() as f64 / 20_000.0;
        assert!((frac - 0.25).abs() < 0.015, "kept {frac}");
        // Another seed keeps another set.
        let s = TraceStream::from_reader(csv.as_bytes(), "t", TraceFormat::AzureCsv, &opts, 8).unwrap();
        let c: Vec<_> = s.collect();
        assert_ne!(a, c);
        // The same lines at another speed; times keep the trace's own gaps (first kept line not at 0).
        let (d, _) = azure(&csv, &TraceOptions { speedup: 2.0, ..opts.clone() });
        assert_eq!(
            a.iter().map(|r| r.input_tok).collect::<Vec<_>>(),
            d.iter().map(|r| r.input_tok).collect::<Vec<_>>()
        );
        assert!(a.iter().zip(&d).all(|(x, y)| x.arrival_ns == 2 * y.arrival_ns));
        assert!(a.iter().all(|r| r.arrival_ns == u64::from(r.input_tok - 2) * 1_000_000_000));
        let e =
            TraceStream::from_reader(&b""[..], "x", TraceFormat::AzureCsv, &TraceOptions { sample: 0.0, ..opts }, 1)
                .unwrap_err();
        assert!(e.to_string().contains("trace sample: expected a fraction"), "{e}");
    }

    #[test]
    fn rate_rescales_to_the_mean_arrival_rate() {
        // 1001 requests over 1000 s: 1 req/s; irregular gaps.
        let mut csv = String::from(AZ_H);
        for i in 0..=1000u64 {
            let t = i as f64 + if i % 3 == 0 { 0.4 } else { 0.0 } - if i == 1000 || i == 0 { 0.4 } else { 0.0 };
            csv += &format!("{t},{},1\n", i + 1);
        }
        let p = temp_file("rate", &csv);
        let opts = TraceOptions { rate: Some(50.0), ..TraceOptions::default() };
        let v: Vec<_> = TraceStream::open(&p, TraceFormat::AzureCsv, &opts, 1).unwrap().collect();
        assert_eq!(v.len(), 1001);
        let span_s = (v[1000].arrival_ns - v[0].arrival_ns) as f64 / 1e9;
        let rate = 1000.0 / span_s;
        assert!((rate - 50.0).abs() < 1e-6, "rate {rate}");
        // With a window: the rate of the kept requests.
        let opts = TraceOptions {
            rate: Some(10.0),
            start_ns: 100_000_000_000,
            duration_ns: Some(200_000_000_000),
            ..TraceOptions::default()
        };
        let v: Vec<_> = TraceStream::open(&p, TraceFormat::AzureCsv, &opts, 1).unwrap().collect();
        let rate = (v.len() - 1) as f64 / ((v.last().unwrap().arrival_ns - v[0].arrival_ns) as f64 / 1e9);
        assert!((rate - 10.0).abs() < 1e-6, "rate {rate}");
        // Errors of the measuring pass are returned at once.
        let bad = temp_file("rate-bad", &format!("{AZ_H}0,1,1\n1,x,1\n"));
        let opts = TraceOptions { rate: Some(5.0), ..TraceOptions::default() };
        let e = TraceStream::open(&bad, TraceFormat::AzureCsv, &opts, 1).unwrap_err().to_string();
        assert!(e.contains("t.csv:3: column ContextTokens"), "{e}");
        let one = temp_file("rate-one", &format!("{AZ_H}0,1,1\n"));
        let e = TraceStream::open(&one, TraceFormat::AzureCsv, &opts, 1).unwrap_err().to_string();
        assert!(e.contains("expected at least two requests at different times, got 1 request(s)"), "{e}");
        for f in [p, bad, one] {
            std::fs::remove_dir_all(f.parent().unwrap()).unwrap();
        }
    }

    #[test]
    fn burstgpt_failures_counted_and_model_filter() {
        let csv = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
                   5,ChatGPT,472,18,490,Conversation log\n\
                   45,ChatGPT,1087,0,1087,Conversation log\n\
                   118,GPT-4,417,276,693,Conversation log\n\
                   90.5,ChatGPT,1360,220,1580,API log\n";
        let (v, st) = stream(csv, TraceFormat::BurstGptCsv, &TraceOptions::default());
        assert_eq!(v, read_burstgpt_csv_from(csv.as_bytes(), "b").unwrap());
        assert_eq!(st.skipped_failed_requests(), 1);
        assert_eq!(st.skipped_lines(), 0);
        let opts = TraceOptions { model: Some("GPT-4".into()), ..TraceOptions::default() };
        let (v, _) = stream(csv, TraceFormat::BurstGptCsv, &opts);
        assert_eq!(v.iter().map(|r| (r.arrival_ns, r.input_tok)).collect::<Vec<_>>(), [(0, 417)]);
    }

    #[test]
    fn mooncake_blocks_are_filled() {
        let jsonl = "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 2, \"hash_ids\": [0, 1]}\n\
                     {\"timestamp\": 4, \"input_length\": 1500, \"output_length\": 2, \"hash_ids\": [0, 1, 9]}\n";
        let (v, _) = stream(jsonl, TraceFormat::MooncakeJsonl, &TraceOptions::default());
        assert_eq!(v[0].blocks.as_deref(), Some(&[0, 1][..]));
        assert_eq!(v[1].blocks.as_deref(), Some(&[0, 1, 9][..]));
        assert_eq!(v[1].arrival_ns, 4_000_000);
    }

    // ---- the real traces under ../shared, when present: the stream equals the Vec reader ----

    #[test]
    fn streaming_equals_the_vec_reader_on_the_real_traces() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces");
        for (rel, format) in [
            ("azure-llm-2023/AzureLLMInferenceTrace_conv.csv", TraceFormat::AzureCsv),
            ("azure-llm-2023/AzureLLMInferenceTrace_code.csv", TraceFormat::AzureCsv),
            ("mooncake/conversation_trace.jsonl", TraceFormat::MooncakeJsonl),
        ] {
            let p = root.join(rel);
            if !p.is_file() {
                eprintln!("SKIPPED: {} is missing", p.display());
                continue;
            }
            let want = match format {
                TraceFormat::AzureCsv => read_azure_csv(&p),
                _ => read_mooncake_jsonl(&p),
            }
            .unwrap();
            assert_eq!(want, read_trace(&p, format).unwrap());
            let s = TraceStream::open(&p, format, &TraceOptions::default(), 42).unwrap();
            let st = s.status();
            let got: Vec<_> = s.collect();
            assert!(st.take_error().is_none(), "{rel}");
            assert_eq!(st.skipped_lines(), 0);
            assert_eq!(got.len(), want.len(), "{rel}");
            assert!(got == want, "{rel}: the stream differs from the sorted Vec reader");
            if format == TraceFormat::MooncakeJsonl {
                assert!(got
                    .iter()
                    .all(|r| r.blocks.as_ref().is_some_and(|b| b.len() == r.input_tok.div_ceil(512) as usize)));
            }
        }
    }
}
