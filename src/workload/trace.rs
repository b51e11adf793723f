//! Trace readers: Azure LLM inference CSV, Mooncake JSONL and BurstGPT CSV.
//!
//! Two layers:
//! - [`RecordReader`] parses a trace line by line from any [`BufRead`] (no copy of the whole trace in
//!   memory) into [`TraceRecord`]s in file order, one [`LineOutcome`] per non-blank line. A malformed line
//!   is a [`LineOutcome::Bad`] the caller may stop at or skip; only an I/O error ends the stream.
//!   [`crate::workload::stream`] orders and replays those records with bounded memory.
//! - The `read_*` functions collect a whole trace into a `Vec`, sorted stably by arrival time and shifted
//!   so the earliest request is at 0 ns (they accept any order). They stop at the first bad line.
//!
//! Every error names the file and the 1-based line, what was wrong and what was expected; nothing in a
//! file's content can make them panic.
//!
//! Token-count policy (all formats): an input length of 0 is malformed (error); an output length of 0 is
//! read as 1 token, since every served request produces at least one token (the Azure 2023 and Mooncake
//! conversation traces contain no zero outputs; other files in these formats may). BurstGPT is the
//! exception: there a `Response tokens` of 0 marks a *failed* request (BurstGPT's own convention), so
//! such rows are not replayed but counted apart ([`LineOutcome::Failed`], `skipped_failed_requests` in
//! the summary).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};

use super::WorkloadError;
use crate::spec::workload::{RequestSpec, TraceFormat};

/// The Azure trace header, as expected in error messages.
pub const AZURE_HEADER: &str = "TIMESTAMP,ContextTokens,GeneratedTokens";
/// The BurstGPT trace header, as expected in error messages.
pub const BURSTGPT_HEADER: &str = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type";
const AZURE_TS_EXPECTED: &str = "a timestamp like \"2023-11-16 18:15:46.6805900\" (or seconds as a number)";
const BURSTGPT_TS_EXPECTED: &str = "seconds since the trace start (a number)";
const POSITIVE_INT: &str = "a positive integer";
const NON_NEG_INT: &str = "a non-negative integer";

/// Guesses the trace format from the file extension: `.csv` -> Azure CSV, `.jsonl` / `.json` -> Mooncake JSONL
/// (case-insensitive). `None` for anything else. See [`sniff_format`] to tell BurstGPT from Azure CSV.
pub fn detect_format(path: &Path) -> Option<TraceFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(TraceFormat::AzureCsv),
        "jsonl" | "json" => Some(TraceFormat::MooncakeJsonl),
        _ => None,
    }
}

/// [`detect_format`], but a `.csv` whose first line names a `Request tokens` column is BurstGPT. Reads
/// only the first line.
pub fn sniff_format(path: &Path) -> Option<TraceFormat> {
    let f = detect_format(path)?;
    if f != TraceFormat::AzureCsv {
        return Some(f);
    }
    let mut first = Vec::new();
    if let Ok(file) = File::open(path) {
        let _ = BufReader::new(file).take(4096).read_until(b'\n', &mut first);
    }
    let head = String::from_utf8_lossy(&first).to_ascii_lowercase();
    Some(if head.contains("request tokens") { TraceFormat::BurstGptCsv } else { TraceFormat::AzureCsv })
}

/// Reads a trace file of the given format (sorted, first request at 0; see the module docs).
pub fn read_trace(path: &Path, format: TraceFormat) -> Result<Vec<RequestSpec>, WorkloadError> {
    match format {
        TraceFormat::AzureCsv => read_azure_csv(path),
        TraceFormat::MooncakeJsonl => read_mooncake_jsonl(path),
        TraceFormat::BurstGptCsv => read_burstgpt_csv(path),
    }
}

/// Reads a trace and replays it `speedup` times faster: every arrival time is divided by `speedup` and
/// rounded to the nearest nanosecond. `speedup` must be finite and > 0.
pub fn load_trace(path: &Path, format: TraceFormat, speedup: f64) -> Result<Vec<RequestSpec>, WorkloadError> {
    check_speedup(speedup)?;
    let mut reqs = read_trace(path, format)?;
    scale_times(&mut reqs, speedup);
    Ok(reqs)
}

pub(crate) fn check_speedup(speedup: f64) -> Result<(), WorkloadError> {
    if speedup.is_finite() && speedup > 0.0 {
        Ok(())
    } else {
        Err(WorkloadError::InvalidSpec(format!(
            "trace speedup: expected a positive number (2 = twice as fast), got {speedup}"
        )))
    }
}

/// Divides every arrival by `speedup` (rounded to nearest ns), shifts the earliest to 0 and sorts stably.
pub fn scale_times(reqs: &mut [RequestSpec], speedup: f64) {
    if speedup != 1.0 {
        for r in reqs.iter_mut() {
            // Saturating cast; times here are at most a few days of ns, far below 2^53.
            r.arrival_ns = (r.arrival_ns as f64 / speedup).round() as u64;
        }
    }
    if let Some(t0) = reqs.iter().map(|r| r.arrival_ns).min() {
        for r in reqs.iter_mut() {
            r.arrival_ns -= t0;
        }
    }
    reqs.sort_by_key(|r| r.arrival_ns);
}

/// Opens a trace file with a 64 KiB buffer; the error names the path.
pub fn open_trace(path: &Path) -> Result<BufReader<File>, WorkloadError> {
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|io| WorkloadError::Io { path: path.display().to_string(), io })
}

/// Reads an Azure LLM inference trace CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`).
pub fn read_azure_csv(path: &Path) -> Result<Vec<RequestSpec>, WorkloadError> {
    read_azure_csv_from(open_trace(path)?, &path.display().to_string())
}

/// Reads an Mooncake JSONL trace (`timestamp` ms, `input_length`, `output_length`, `hash_ids`).
pub fn read_mooncake_jsonl(path: &Path) -> Result<Vec<RequestSpec>, WorkloadError> {
    read_mooncake_jsonl_from(open_trace(path)?, &path.display().to_string())
}

/// Reads a BurstGPT CSV trace (see [`read_burstgpt_csv_from`]).
pub fn read_burstgpt_csv(path: &Path) -> Result<Vec<RequestSpec>, WorkloadError> {
    read_burstgpt_csv_from(open_trace(path)?, &path.display().to_string())
}

/// [`read_azure_csv`] from any reader; `name` is used in error messages in place of the path.
///
/// The header must name the columns `TIMESTAMP`, `ContextTokens` and `GeneratedTokens` (any order, extra
/// columns allowed and ignored; names matched case-insensitively); every row must have as many fields as
/// the header. Blank lines are skipped. TIMESTAMP is `YYYY-MM-DD HH:MM:SS[.fraction]` (`T` also accepted
/// between date and time; fractions beyond 9 digits are truncated to ns; an optional `Z` or `+HH:MM`/`-HH:MM`
/// offset is applied) or a plain number of seconds. ContextTokens must be a positive integer;
/// GeneratedTokens a non-negative integer, 0 read as 1 (see the module docs).
pub fn read_azure_csv_from<R: Read>(reader: R, name: &str) -> Result<Vec<RequestSpec>, WorkloadError> {
    collect(reader, name, TraceFormat::AzureCsv)
}

/// [`read_mooncake_jsonl`] from any reader; `name` is used in error messages in place of the path.
///
/// One JSON object per line (blank lines skipped; unknown keys ignored): `timestamp` in ms (integer or
/// float, any origin), `input_length` a positive integer, `output_length` a non-negative integer (0 read as
/// 1), `hash_ids` optional but, when present and not null, an array of non-negative integers: the prompt's
/// 512-token block hashes, kept in [`RequestSpec::blocks`] (an empty array is read as no block list).
pub fn read_mooncake_jsonl_from<R: Read>(reader: R, name: &str) -> Result<Vec<RequestSpec>, WorkloadError> {
    collect(reader, name, TraceFormat::MooncakeJsonl)
}

/// [`read_burstgpt_csv`] from any reader; `name` is used in error messages in place of the path.
///
/// Header as in the BurstGPT release: `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`
/// (columns found by name, case-insensitively, in any order; `Timestamp`, `Model`, `Request tokens` and
/// `Response tokens` are required). `Timestamp` is seconds since the trace start (a number, fractions
/// allowed); `Request tokens` a positive integer; `Response tokens` a non-negative integer. Rows with
/// `Response tokens` 0 are failed requests in BurstGPT: they are left out (counted as
/// `skipped_failed_requests` when replayed).
pub fn read_burstgpt_csv_from<R: Read>(reader: R, name: &str) -> Result<Vec<RequestSpec>, WorkloadError> {
    collect(reader, name, TraceFormat::BurstGptCsv)
}

/// Reads every record (stopping at the first bad line), sorts and shifts: the `read_*_from` functions.
fn collect<R: Read>(reader: R, name: &str, format: TraceFormat) -> Result<Vec<RequestSpec>, WorkloadError> {
    let mut rr = RecordReader::new(BufReader::with_capacity(1 << 16, reader), name, format)?;
    let mut reqs = Vec::new();
    while let Some(out) = rr.next_outcome()? {
        match out {
            LineOutcome::Record(r) => reqs.push(RequestSpec {
                arrival_ns: time_key(r.t_ns),
                input_tok: r.input_tok,
                output_tok: r.output_tok,
                blocks: r.blocks,
            }),
            LineOutcome::Bad(e) => return Err(e),
            LineOutcome::Failed | LineOutcome::Filtered => {}
        }
    }
    if reqs.is_empty() {
        return Err(rr.empty_error());
    }
    scale_times(&mut reqs, 1.0);
    Ok(reqs)
}

/// Maps a signed time to an order-preserving unsigned key (flip the sign bit); the difference of two keys is
/// the difference of the times.
#[inline]
fn time_key(t: i64) -> u64 {
    (t as u64) ^ (1 << 63)
}

/// One request as read from a trace line, before ordering and time shifting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord {
    /// 1-based line in the file.
    pub line: usize,
    /// Arrival time in ns from the trace's own origin (may be negative; not yet shifted to 0).
    pub t_ns: i64,
    pub input_tok: u32,
    pub output_tok: u32,
    pub blocks: Option<Arc<[u64]>>,
}

/// What one non-blank line of a trace holds.
#[derive(Debug)]
pub enum LineOutcome {
    Record(TraceRecord),
    /// A malformed line; the error names the file and line.
    Bad(WorkloadError),
    /// BurstGPT: a failed request (`Response tokens` 0); not replayed, counted.
    Failed,
    /// BurstGPT: a row for another model than the one asked for.
    Filtered,
}

/// Which columns of a CSV header hold the fields a format needs.
#[derive(Debug)]
struct CsvLayout {
    /// Column names as they appear in error messages.
    cols: &'static [&'static str],
    /// Index of each of `cols` in a row.
    idx: Vec<usize>,
    n_cols: usize,
    header: String,
}

impl CsvLayout {
    fn parse(
        header: &str,
        cols: &'static [&'static str],
        expected: &'static str,
        name: &str,
    ) -> Result<Self, WorkloadError> {
        let mut idx = vec![usize::MAX; cols.len()];
        let mut n_cols = 0;
        for (i, f) in header.split(',').enumerate() {
            n_cols = i + 1;
            let f = csv_field(f);
            for (c, col) in cols.iter().enumerate() {
                if f.eq_ignore_ascii_case(col) && idx[c] == usize::MAX {
                    idx[c] = i;
                }
            }
        }
        if idx.iter().all(|&i| i == usize::MAX) {
            return Err(WorkloadError::MissingHeader { path: name.to_string(), expected, got: header.to_string() });
        }
        if let Some(c) = idx.iter().position(|&i| i == usize::MAX) {
            return Err(WorkloadError::BadHeader {
                path: name.to_string(),
                column: cols[c],
                expected,
                got: header.to_string(),
            });
        }
        Ok(CsvLayout { cols, idx, n_cols, header: header.to_string() })
    }

    /// The wanted fields of `line` (at most 4 are used), or a field-count error.
    fn fields<'a>(&self, line: &'a str, ln: usize, name: &str) -> Result<[&'a str; 4], WorkloadError> {
        let mut vals = [""; 4];
        let mut n = 0;
        for (i, f) in line.split(',').enumerate() {
            n = i + 1;
            for (c, &at) in self.idx.iter().enumerate() {
                if at == i {
                    vals[c] = csv_field(f);
                }
            }
        }
        if n != self.n_cols {
            return Err(WorkloadError::FieldCount {
                path: name.to_string(),
                line: ln,
                problem: if n < self.n_cols { "truncated line (too few fields)" } else { "too many fields" },
                expected: self.n_cols,
                header: self.header.clone(),
                got: n,
            });
        }
        Ok(vals)
    }

    fn bad(&self, c: usize, val: &str, expected: &'static str, ln: usize, name: &str) -> WorkloadError {
        WorkloadError::BadValue {
            path: name.to_string(),
            line: ln,
            what: format!("column {}", self.cols[c]),
            expected,
            got: format!("{val:?}"),
        }
    }
}

#[derive(Debug)]
enum Layout {
    Azure(CsvLayout),
    Mooncake,
    BurstGpt(CsvLayout),
}

const AZURE_COLS: &[&str] = &["TIMESTAMP", "ContextTokens", "GeneratedTokens"];
const BURSTGPT_COLS: &[&str] = &["Timestamp", "Request tokens", "Response tokens", "Model"];

/// Parses a trace line by line from a [`BufRead`]; memory does not grow with the trace. See the module
/// docs for the formats and [`read_azure_csv_from`], [`read_mooncake_jsonl_from`] and
/// [`read_burstgpt_csv_from`] for what each field must hold.
#[derive(Debug)]
pub struct RecordReader<R> {
    lines: Lines<R>,
    name: String,
    layout: Layout,
    format: TraceFormat,
    model: Option<String>,
}

impl<R: BufRead> RecordReader<R> {
    /// Reads the header (CSV formats); `name` stands for the file in error messages.
    pub fn new(reader: R, name: &str, format: TraceFormat) -> Result<Self, WorkloadError> {
        let mut lines = Lines::new(reader, name);
        let layout = match format {
            TraceFormat::MooncakeJsonl => Layout::Mooncake,
            TraceFormat::AzureCsv | TraceFormat::BurstGptCsv => {
                let header = match lines.next_line()? {
                    Some((_, h)) => h.to_string(),
                    None => {
                        return Err(WorkloadError::EmptyTrace {
                            path: name.to_string(),
                            expected: "a header line and at least one data row",
                        })
                    }
                };
                if format == TraceFormat::AzureCsv {
                    Layout::Azure(CsvLayout::parse(&header, AZURE_COLS, AZURE_HEADER, name)?)
                } else {
                    Layout::BurstGpt(CsvLayout::parse(&header, BURSTGPT_COLS, BURSTGPT_HEADER, name)?)
                }
            }
        };
        Ok(RecordReader { lines, name: name.to_string(), layout, format, model: None })
    }

    /// BurstGPT: keep only rows whose `Model` is `model` (case-insensitive); others are
    /// [`LineOutcome::Filtered`]. Ignored for other formats.
    pub fn with_model(mut self, model: Option<String>) -> Self {
        self.model = model;
        self
    }

    /// The file's display name, as used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error for a trace with no requests at all.
    pub fn empty_error(&self) -> WorkloadError {
        let expected = match self.format {
            TraceFormat::MooncakeJsonl => "at least one JSON line",
            TraceFormat::AzureCsv | TraceFormat::BurstGptCsv => "at least one data row after the header",
        };
        WorkloadError::EmptyTrace { path: self.name.clone(), expected }
    }

    /// The next non-blank line's outcome; `Ok(None)` at end of input; `Err` only for an I/O error.
    pub fn next_outcome(&mut self) -> Result<Option<LineOutcome>, WorkloadError> {
        loop {
            let (ln, line) = match self.lines.next_line() {
                Ok(Some(x)) => x,
                Ok(None) => return Ok(None),
                Err(e @ WorkloadError::NotUtf8 { .. }) => return Ok(Some(LineOutcome::Bad(e))),
                Err(e) => return Err(e),
            };
            if line.trim().is_empty() {
                continue;
            }
            let name = self.name.as_str();
            let out = match &self.layout {
                Layout::Azure(l) => parse_azure_row(l, line, ln, name),
                Layout::Mooncake => parse_mooncake_line(line, ln, name),
                Layout::BurstGpt(l) => parse_burstgpt_row(l, line, ln, name, self.model.as_deref()),
            };
            return Ok(Some(match out {
                Ok(o) => o,
                Err(e) => LineOutcome::Bad(e),
            }));
        }
    }
}

/// Reads lines as bytes into a reused buffer, tracking the 1-based line number; strips `\n`, `\r\n`, and a
/// UTF-8 byte-order mark on line 1.
#[derive(Debug)]
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line: usize,
    name: String,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R, name: &str) -> Self {
        Lines { reader, buf: Vec::with_capacity(256), line: 0, name: name.to_string() }
    }

    /// The next line's 1-based number and text, or `None` at end of input.
    fn next_line(&mut self) -> Result<Option<(usize, &str)>, WorkloadError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|io| WorkloadError::Io { path: self.name.clone(), io })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut b = &self.buf[..];
        if let Some(rest) = b.strip_suffix(b"\n") {
            b = rest;
        }
        if let Some(rest) = b.strip_suffix(b"\r") {
            b = rest;
        }
        if self.line == 1 {
            if let Some(rest) = b.strip_prefix(b"\xEF\xBB\xBF") {
                b = rest;
            }
        }
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Some((self.line, s))),
            Err(e) => {
                Err(WorkloadError::NotUtf8 { path: self.name.clone(), line: self.line, byte: e.valid_up_to() + 1 })
            }
        }
    }
}

/// A CSV field with surrounding blanks and one pair of double quotes removed.
fn csv_field(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s)
}

fn parse_azure_row(l: &CsvLayout, line: &str, ln: usize, name: &str) -> Result<LineOutcome, WorkloadError> {
    let vals = l.fields(line, ln, name)?;
    let bad = |c: usize, expected: &'static str| l.bad(c, vals[c], expected, ln, name);
    let t_ns = parse_azure_time(vals[0]).ok_or_else(|| bad(0, AZURE_TS_EXPECTED))?;
    let input_tok = match vals[1].parse::<u32>() {
        Ok(v) if v > 0 => v,
        _ => return Err(bad(1, POSITIVE_INT)),
    };
    let output_tok = vals[2].parse::<u32>().map_err(|_| bad(2, NON_NEG_INT))?.max(1);
    Ok(LineOutcome::Record(TraceRecord { line: ln, t_ns, input_tok, output_tok, blocks: None }))
}

fn parse_burstgpt_row(
    l: &CsvLayout,
    line: &str,
    ln: usize,
    name: &str,
    model: Option<&str>,
) -> Result<LineOutcome, WorkloadError> {
    let vals = l.fields(line, ln, name)?;
    let bad = |c: usize, expected: &'static str| l.bad(c, vals[c], expected, ln, name);
    let t_ns = parse_seconds(vals[0]).ok_or_else(|| bad(0, BURSTGPT_TS_EXPECTED))?;
    let input_tok = match vals[1].parse::<u32>() {
        Ok(v) if v > 0 => v,
        _ => return Err(bad(1, POSITIVE_INT)),
    };
    let output_tok = vals[2].parse::<u32>().map_err(|_| bad(2, NON_NEG_INT))?;
    if model.is_some_and(|m| !vals[3].eq_ignore_ascii_case(m.trim())) {
        return Ok(LineOutcome::Filtered);
    }
    if output_tok == 0 {
        return Ok(LineOutcome::Failed);
    }
    Ok(LineOutcome::Record(TraceRecord { line: ln, t_ns, input_tok, output_tok, blocks: None }))
}

/// A number of seconds as ns (finite, within the i64-ns range).
fn parse_seconds(s: &str) -> Option<i64> {
    let secs: f64 = s.parse().ok()?;
    let ns = (secs * 1e9).round();
    (ns.is_finite() && ns.abs() < 9.0e18).then_some(ns as i64)
}

/// An Azure TIMESTAMP in ns: a civil date-time (see [`parse_datetime_ns`]) or a plain number of seconds.
fn parse_azure_time(s: &str) -> Option<i64> {
    parse_datetime_ns(s).or_else(|| parse_seconds(s))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]` (`T` also accepted as the separator; 1-2 digit
/// month, day and hour; fraction digits beyond 9 truncated) into nanoseconds since 1970-01-01 UTC. `None` if
/// malformed, out of calendar range, or beyond the i64-ns range (years ~1678-2262).
pub fn parse_datetime_ns(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let mut i = 0;
    // Reads between `min` and `max` ASCII digits as a number.
    let digits = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *i;
        let mut v: u32 = 0;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            v = v * 10 + u32::from(b[*i] - b'0');
            *i += 1;
        }
        (*i - start >= min).then_some(v)
    };
    let expect = |i: &mut usize, c: &[u8]| -> Option<()> {
        if *i < b.len() && c.contains(&b[*i]) {
            *i += 1;
            Some(())
        } else {
            None
        }
    };
    let year = i64::from(digits(&mut i, 4, 4)?);
    expect(&mut i, b"-")?;
    let month = digits(&mut i, 1, 2)?;
    expect(&mut i, b"-")?;
    let day = digits(&mut i, 1, 2)?;
    expect(&mut i, b" T")?;
    let hour = digits(&mut i, 1, 2)?;
    expect(&mut i, b":")?;
    let minute = digits(&mut i, 2, 2)?;
    expect(&mut i, b":")?;
    let second = digits(&mut i, 2, 2)?;
    let mut frac_ns: i64 = 0;
    if expect(&mut i, b".").is_some() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac_ns = frac_ns * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            frac_ns *= 10;
        }
    }
    let mut offset_s: i64 = 0;
    if i < b.len() {
        match b[i] {
            b'Z' | b'z' => i += 1,
            sign @ (b'+' | b'-') => {
                i += 1;
                let oh = digits(&mut i, 2, 2)?;
                let _ = expect(&mut i, b":");
                let om = digits(&mut i, 2, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                offset_s = i64::from(oh * 3600 + om * 60);
                if sign == b'-' {
                    offset_s = -offset_s;
                }
            }
            _ => return None,
        }
    }
    if i != b.len()
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

/// A JSON scalar as it appeared, for checking and error messages without allocating on the good path.
#[derive(Debug)]
enum Scalar {
    U(u64),
    I(i64),
    F(f64),
    /// Anything else, described for the error message.
    Other(String),
}

impl Scalar {
    fn describe(&self) -> String {
        match self {
            Scalar::U(v) => v.to_string(),
            Scalar::I(v) => v.to_string(),
            Scalar::F(v) => v.to_string(),
            Scalar::Other(s) => s.clone(),
        }
    }

    /// A whole number (integral floats accepted) as i128, else `None`.
    fn integer(&self) -> Option<i128> {
        match *self {
            Scalar::U(v) => Some(i128::from(v)),
            Scalar::I(v) => Some(i128::from(v)),
            Scalar::F(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 => Some(f as i128),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::U(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::I(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::F(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Other(format!("{v:?}")))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null".into()))
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null".into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an array".into()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an object".into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `hash_ids` read as an array of non-negative integers. `bad` describes the first offending element (or
/// the value if it is not an array); `ids` holds the array otherwise.
#[derive(Debug, Default)]
struct HashIds {
    ids: Vec<u64>,
    bad: Option<String>,
}

impl<'de> Deserialize<'de> for HashIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HashIds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of non-negative integers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<HashIds, A::Error> {
                let mut ids = Vec::with_capacity(a.size_hint().unwrap_or(16).min(4096));
                let mut bad = None;
                let mut k = 0usize;
                while let Some(x) = a.next_element::<Scalar>()? {
                    match x {
                        Scalar::U(v) if bad.is_none() => ids.push(v),
                        _ if bad.is_none() => bad = Some(format!("element {k} = {}", x.describe())),
                        _ => {}
                    }
                    k += 1;
                }
                Ok(HashIds { ids, bad })
            }
            fn visit_u64<E>(self, v: u64) -> Result<HashIds, E> {
                Ok(HashIds { ids: Vec::new(), bad: Some(v.to_string()) })
            }
            fn visit_i64<E>(self, v: i64) -> Result<HashIds, E> {
                Ok(HashIds { ids: Vec::new(), bad: Some(v.to_string()) })
            }
            fn visit_f64<E>(self, v: f64) -> Result<HashIds, E> {
                Ok(HashIds { ids: Vec::new(), bad: Some(v.to_string()) })
            }
            fn visit_str<E>(self, v: &str) -> Result<HashIds, E> {
                Ok(HashIds { ids: Vec::new(), bad: Some(format!("{v:?}")) })
            }
            fn visit_bool<E>(self, v: bool) -> Result<HashIds, E> {
                Ok(HashIds { ids: Vec::new(), bad: Some(v.to_string()) })
            }
            fn visit_unit<E>(self) -> Result<HashIds, E> {
                Ok(HashIds { ids: Vec::new(), bad: Some("null".into()) })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<HashIds, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(HashIds { ids: Vec::new(), bad: Some("an object".into()) })
            }
        }
        d.deserialize_any(V)
    }
}

/// One Mooncake line; unknown fields are ignored.
#[derive(serde::Deserialize)]
struct MooncakeLine {
    #[serde(default)]
    timestamp: Option<Scalar>,
    #[serde(default)]
    input_length: Option<Scalar>,
    #[serde(default)]
    output_length: Option<Scalar>,
    /// `null` reads as absent (serde maps `null` to `None` for an `Option`).
    #[serde(default)]
    hash_ids: Option<HashIds>,
}

/// One non-blank Mooncake JSONL line (see [`read_mooncake_jsonl_from`]).
fn parse_mooncake_line(line: &str, ln: usize, name: &str) -> Result<LineOutcome, WorkloadError> {
    if !line.trim_start().starts_with('{') {
        // serde would also accept a JSON array as the struct's fields in order.
        let col = line.len() - line.trim_start().len() + 1;
        return Err(WorkloadError::Json {
            path: name.to_string(),
            line: ln,
            column: col,
            msg: "expected a JSON object `{\"timestamp\": ..., \"input_length\": ..., ...}`".into(),
        });
    }
    let rec: MooncakeLine = serde_json::from_str(line).map_err(|e| {
        let mut msg = e.to_string();
        if let Some(at) = msg.rfind(" at line ") {
            msg.truncate(at);
        }
        WorkloadError::Json { path: name.to_string(), line: ln, column: e.column(), msg }
    })?;
    let missing = |field: &'static str, expected: &'static str| WorkloadError::MissingField {
        path: name.to_string(),
        line: ln,
        field,
        expected,
    };
    let bad = |field: &str, expected: &'static str, got: String| WorkloadError::BadValue {
        path: name.to_string(),
        line: ln,
        what: format!("field `{field}`"),
        expected,
        got,
    };
    let ts = rec.timestamp.ok_or_else(|| missing("timestamp", "a time in milliseconds"))?;
    let t_ns = match ts {
        Scalar::U(ms) => i64::try_from(ms).ok().and_then(|ms| ms.checked_mul(1_000_000)),
        Scalar::I(ms) => ms.checked_mul(1_000_000),
        Scalar::F(ms) => {
            let ns = (ms * 1e6).round();
            (ns.is_finite() && ns.abs() < 9.0e18).then_some(ns as i64)
        }
        Scalar::Other(_) => None,
    }
    .ok_or_else(|| bad("timestamp", "a time in milliseconds (a number)", ts.describe()))?;
    let length = |v: Option<Scalar>, field: &'static str, min: i128, expected: &'static str| {
        let v = v.ok_or_else(|| missing(field, expected))?;
        match v.integer() {
            Some(n) if n >= min && n <= i128::from(u32::MAX) => Ok(n as u32),
            _ => Err(bad(field, expected, v.describe())),
        }
    };
    let input_tok = length(rec.input_length, "input_length", 1, POSITIVE_INT)?;
    let output_tok = length(rec.output_length, "output_length", 0, NON_NEG_INT)?.max(1);
    let blocks = match rec.hash_ids {
        Some(HashIds { bad: Some(b), .. }) => return Err(bad("hash_ids", "an array of non-negative integers", b)),
        Some(HashIds { ids, .. }) if !ids.is_empty() => Some(Arc::from(ids)),
        _ => None,
    };
    Ok(LineOutcome::Record(TraceRecord { line: ln, t_ns, input_tok, output_tok, blocks }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn azure(s: &str) -> Result<Vec<RequestSpec>, WorkloadError> {
        read_azure_csv_from(s.as_bytes(), "traces/x.csv")
    }

    fn mooncake(s: &str) -> Result<Vec<RequestSpec>, WorkloadError> {
        read_mooncake_jsonl_from(s.as_bytes(), "traces/m.jsonl")
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T, WorkloadError>) -> String {
        r.expect_err("expected an error").to_string()
    }

    fn rs(arrival_ns: u64, input_tok: u32, output_tok: u32) -> RequestSpec {
        RequestSpec { arrival_ns, input_tok, output_tok, blocks: None }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        // 2023-11-16 00:00:00 UTC = 1700092800 s.
        assert_eq!(days_from_civil(2023, 11, 16) * 86_400, 1_700_092_800);
    }

    #[test]
    fn datetime_parsing() {
        let base = 1_700_092_800 * 1_000_000_000i64;
        let hms = (18 * 3600 + 15 * 60 + 46) * 1_000_000_000i64;
        assert_eq!(parse_datetime_ns("2023-11-16 18:15:46.6805900"), Some(base + hms + 680_590_000));
        assert_eq!(parse_datetime_ns("2023-11-16T18:15:46"), Some(base + hms));
        assert_eq!(parse_datetime_ns("2023-11-16 18:15:46.5"), Some(base + hms + 500_000_000));
        assert_eq!(parse_datetime_ns("2023-11-16 18:15:46.123456789"), Some(base + hms + 123_456_789));
        assert_eq!(parse_datetime_ns("2023-11-16 18:15:46.1234567891"), Some(base + hms + 123_456_789));
        assert_eq!(parse_datetime_ns("2023-11-16 18:15:46Z"), Some(base + hms));
        assert_eq!(parse_datetime_ns("2023-11-16 19:15:46+01:00"), Some(base + hms));
        assert_eq!(parse_datetime_ns("2023-11-16 8:15:46"), Some(base + hms - 10 * 3_600_000_000_000));
        assert_eq!(
            parse_datetime_ns("2024-02-29 00:00:00"),
            Some(days_from_civil(2024, 2, 29) * 86_400 * 1_000_000_000)
        );
        for bad in [
            "",
            "2023-11-16",
            "2023-11-16 18:15",
            "2023-13-16 18:15:46",
            "2023-02-29 00:00:00",
            "2023-11-16 24:00:00",
            "2023-11-16 18:60:00",
            "2023-11-16 18:15:46.",
            "2023-11-16 18:15:46.12x",
            "2023/11/16 18:15:46",
            "23-11-16 18:15:46",
            "3000-01-01 00:00:00",
        ] {
            assert_eq!(parse_datetime_ns(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn azure_unsorted_is_sorted_and_shifted() {
        // Rows in the shape of AzureLLMInferenceTrace_conv.csv (first rows of that file, reordered).
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n\
                   2023-11-16 18:15:50.9951690,396,109\r\n\
                   2023-11-16 18:15:46.6805900,374,44\r\n\
                   2023-11-16 18:15:51.3910170,91,16\r\n\
                   \r\n\
                   2023-11-16 18:15:51.2224670,879,55\r\n\
                   2023-11-16 18:15:51.2224670,10,0";
        let r = azure(csv).unwrap();
        assert_eq!(
            r,
            vec![
                rs(0, 374, 44),
                rs(4_314_579_000, 396, 109),
                rs(4_541_877_000, 879, 55),
                rs(4_541_877_000, 10, 1), // stable for ties; 0 output -> 1
                rs(4_710_427_000, 91, 16),
            ]
        );
    }

    #[test]
    fn azure_other_layouts() {
        // BOM, quoted header, reordered and extra columns, numeric seconds.
        let csv = "\u{feff}\"GeneratedTokens\",ContextTokens,Extra,TIMESTAMP\n5,100,x,12.5\n6,200,y,10\n";
        assert_eq!(azure(csv).unwrap(), vec![rs(0, 200, 6), rs(2_500_000_000, 100, 5)]);
    }

    #[test]
    fn azure_errors_name_file_line_and_expectation() {
        let h = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
        let ok = "2023-11-16 18:15:46.6805900,374,44\n";
        let cases: Vec<(String, &str)> = vec![
            (format!("{h}{ok}{ok}2023-11-16 18:15:46.6805900,abc,44\n"), "traces/x.csv:4: column ContextTokens: expected a positive integer, got \"abc\""),
            (format!("{h}{ok}2023-11-16 18:15:46.6805900,0,44\n"), "traces/x.csv:3: column ContextTokens: expected a positive integer, got \"0\""),
            (format!("{h}{ok}2023-11-16 18:15:46.6805900,5,-1\n"), "traces/x.csv:3: column GeneratedTokens: expected a non-negative integer, got \"-1\""),
            (format!("{h}yesterday,5,1\n"), "traces/x.csv:2: column TIMESTAMP: expected a timestamp like"),
            (format!("{h}{ok}2023-11-16 18:15:46.6805900,374\n"), "traces/x.csv:3: truncated line (too few fields): expected 3 fields (header \"TIMESTAMP,ContextTokens,GeneratedTokens\"), got 2"),
            (format!("{h}{ok}{ok}2023-11-16 18:15:46.6805900,374,4,4\n"), "traces/x.csv:4: too many fields: expected 3"),
            (format!("{ok}{ok}"), "traces/x.csv:1: missing header: expected `TIMESTAMP,ContextTokens,GeneratedTokens`, got \"2023-11-16"),
            ("TIMESTAMP,Context,GeneratedTokens\n1,2,3\n".into(), "traces/x.csv:1: header lacks column ContextTokens: expected `TIMESTAMP,ContextTokens,GeneratedTokens`, got \"TIMESTAMP,Context,GeneratedTokens\""),
            (h.into(), "traces/x.csv: empty trace: no requests (expected at least one data row after the header)"),
            (String::new(), "traces/x.csv: empty trace"),
        ];
        for (input, want) in cases {
            let e = err_text(azure(&input));
            assert!(e.starts_with(want), "input {input:?}\n got: {e}\nwant: {want}");
        }
        let e =
            err_text(read_azure_csv_from(&b"TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,\xff\n"[..], "traces/x.csv"));
        assert!(e.starts_with("traces/x.csv:2: not valid UTF-8"), "{e}");
    }

    #[test]
    fn mooncake_reads_and_sorts() {
        // First lines of mooncake/conversation_trace.jsonl (hash_ids shortened), plus a reordered float time.
        let jsonl = r#"{"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]}
{"timestamp": 12.5, "input_length": 7322, "output_length": 0, "hash_ids": [0, 14]}

{"timestamp": 3, "input_length": 2290, "output_length": 316, "extra": {"a": [1]}}
{"timestamp": 3, "input_length": 1.0e3, "output_length": 3, "hash_ids": null}
"#;
        let r = mooncake(jsonl).unwrap();
        let with = |r: RequestSpec, b: &[u64]| RequestSpec { blocks: Some(Arc::from(b)), ..r };
        assert_eq!(
            r,
            vec![
                with(rs(0, 6758, 500), &[0, 1, 2]),
                rs(3_000_000, 2290, 316),
                rs(3_000_000, 1000, 3),
                with(rs(12_500_000, 7322, 1), &[0, 14]),
            ]
        );
        // hash_ids fill `blocks`, shared prefixes as equal leading ids; an empty list means none.
        let r = mooncake(concat!(
            r#"{"timestamp": 1, "input_length": 1500, "output_length": 1, "hash_ids": [7, 8, 18446744073709551615]}"#,
            "\n",
            r#"{"timestamp": 2, "input_length": 5, "output_length": 1, "hash_ids": []}"#
        ))
        .unwrap();
        assert_eq!(r[0].blocks.as_deref(), Some(&[7, 8, u64::MAX][..]));
        assert_eq!(r[1].blocks, None);
        // Shifted to the earliest even when that is not line 1 or is negative.
        let r = mooncake("{\"timestamp\": 5, \"input_length\": 1, \"output_length\": 1}\n{\"timestamp\": -5, \"input_length\": 2, \"output_length\": 2}").unwrap();
        assert_eq!(r, vec![rs(0, 2, 2), rs(10_000_000, 1, 1)]);
    }

    #[test]
    fn mooncake_errors_name_file_line_and_expectation() {
        let ok = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [1]}\n";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5\n"),
                "traces/m.jsonl:2: bad JSON: EOF while parsing an object (column ",
            ),
            (format!("{ok}{ok}garbage\n"), "traces/m.jsonl:3: bad JSON: expected a JSON object"),
            (format!("{ok}{{garbage\n"), "traces/m.jsonl:2: bad JSON: key must be a string (column 2)"),
            (
                format!("{ok}{{\"timestamp\": 0, \"output_length\": 5}}\n"),
                "traces/m.jsonl:2: missing field `input_length` (expected a positive integer)",
            ),
            (
                "{\"input_length\": 3, \"output_length\": 5}\n".into(),
                "traces/m.jsonl:1: missing field `timestamp` (expected a time in milliseconds)",
            ),
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": \"abc\", \"output_length\": 5}}\n"),
                "traces/m.jsonl:2: field `input_length`: expected a positive integer, got \"abc\"",
            ),
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 5}}\n"),
                "traces/m.jsonl:2: field `input_length`: expected a positive integer, got 0",
            ),
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": 2.5, \"output_length\": 5}}\n"),
                "traces/m.jsonl:2: field `input_length`: expected a positive integer, got 2.5",
            ),
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": 1, \"output_length\": -5}}\n"),
                "traces/m.jsonl:2: field `output_length`: expected a non-negative integer, got -5",
            ),
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 99999999999}}\n"),
                "traces/m.jsonl:2: field `output_length`: expected a non-negative integer, got 99999999999",
            ),
            (
                format!("{ok}{{\"timestamp\": \"noon\", \"input_length\": 1, \"output_length\": 1}}\n"),
                "traces/m.jsonl:2: field `timestamp`: expected a time in milliseconds (a number), got \"noon\"",
            ),
            (
                format!(
                    "{ok}{{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": [1, \"x\"]}}\n"
                ),
                "traces/m.jsonl:2: field `hash_ids`: expected an array of non-negative integers, got element 1 = \"x\"",
            ),
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": [1, -2]}}\n"),
                "traces/m.jsonl:2: field `hash_ids`: expected an array of non-negative integers, got element 1 = -2",
            ),
            (
                format!("{ok}{{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": 7}}\n"),
                "traces/m.jsonl:2: field `hash_ids`: expected an array of non-negative integers, got 7",
            ),
            ("[1, 2]\n".into(), "traces/m.jsonl:1: bad JSON: expected a JSON object"),
            ("\n\n".into(), "traces/m.jsonl: empty trace: no requests (expected at least one JSON line)"),
        ];
        for (input, want) in cases {
            let e = err_text(mooncake(&input));
            assert!(e.starts_with(want), "input {input:?}\n got: {e}\nwant: {want}");
        }
    }

    /// Rows in the shape of the BurstGPT release (BurstGPT_1.csv: header and first rows, values altered).
    const BURST: &str = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
                         5,ChatGPT,472,18,490,Conversation log\n\
                         45,ChatGPT,1087,0,1087,Conversation log\n\
                         118,GPT-4,417,276,693,Conversation log\n\
                         \n\
                         90.5,ChatGPT,1360,220,1580,API log\n";

    #[test]
    fn burstgpt_reads_skips_failures_and_filters_models() {
        let r = read_burstgpt_csv_from(BURST.as_bytes(), "b.csv").unwrap();
        // The failed request (Response tokens 0, line 3) is left out; times in seconds from 5 s.
        assert_eq!(r, vec![rs(0, 472, 18), rs(85_500_000_000, 1360, 220), rs(113_000_000_000, 417, 276)]);
        let mut rr = RecordReader::new(BURST.as_bytes(), "b.csv", TraceFormat::BurstGptCsv)
            .unwrap()
            .with_model(Some("chatgpt".into()));
        let mut kinds = Vec::new();
        while let Some(o) = rr.next_outcome().unwrap() {
            kinds.push(match o {
                LineOutcome::Record(r) => format!("record@{}", r.line),
                LineOutcome::Failed => "failed".into(),
                LineOutcome::Filtered => "filtered".into(),
                LineOutcome::Bad(e) => e.to_string(),
            });
        }
        assert_eq!(kinds, ["record@2", "failed", "filtered", "record@6"]);
    }

    #[test]
    fn burstgpt_errors_name_file_line_and_expectation() {
        let h = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";
        let cases: Vec<(String, &str)> = vec![
            (format!("{h}x,ChatGPT,1,1,2,API log\n"), "b.csv:2: column Timestamp: expected seconds since the trace start (a number), got \"x\""),
            (format!("{h}1,ChatGPT,0,1,1,API log\n"), "b.csv:2: column Request tokens: expected a positive integer, got \"0\""),
            (format!("{h}1,ChatGPT,5,-1,4,API log\n"), "b.csv:2: column Response tokens: expected a non-negative integer, got \"-1\""),
            (format!("{h}1,ChatGPT,5,1\n"), "b.csv:2: truncated line (too few fields): expected 6 fields"),
            ("Timestamp,Model,Request tokens,Total tokens\n1,a,2,3\n".into(), "b.csv:1: header lacks column Response tokens: expected `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`"),
            (format!("{h}1,ChatGPT,5,0,5,API log\n"), "b.csv: empty trace: no requests (expected at least one data row after the header)"),
        ];
        for (input, want) in cases {
            let e = err_text(read_burstgpt_csv_from(input.as_bytes(), "b.csv"));
            assert!(e.starts_with(want), "input {input:?}\n got: {e}\nwant: {want}");
        }
    }

    #[test]
    fn format_sniffing_tells_burstgpt_from_azure() {
        let dir = std::env::temp_dir().join(format!("pdsim-sniff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let b = dir.join("b.csv");
        std::fs::write(&b, BURST).unwrap();
        let a = dir.join("a.csv");
        std::fs::write(&a, "TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,3\n").unwrap();
        assert_eq!(sniff_format(&b), Some(TraceFormat::BurstGptCsv));
        assert_eq!(sniff_format(&a), Some(TraceFormat::AzureCsv));
        assert_eq!(sniff_format(Path::new("m.jsonl")), Some(TraceFormat::MooncakeJsonl));
        assert_eq!(read_trace(&b, TraceFormat::BurstGptCsv).unwrap().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_error_names_path() {
        let e = err_text(read_azure_csv(Path::new("/nonexistent/dir/t.csv")));
        assert!(e.starts_with("/nonexistent/dir/t.csv: cannot read trace: "), "{e}");
    }

    #[test]
    fn format_detection() {
        assert_eq!(detect_format(Path::new("a/b.csv")), Some(TraceFormat::AzureCsv));
        assert_eq!(detect_format(Path::new("a/b.CSV")), Some(TraceFormat::AzureCsv));
        assert_eq!(detect_format(Path::new("b.jsonl")), Some(TraceFormat::MooncakeJsonl));
        assert_eq!(detect_format(Path::new("b.json")), Some(TraceFormat::MooncakeJsonl));
        assert_eq!(detect_format(Path::new("b.txt")), None);
        assert_eq!(detect_format(Path::new("b")), None);
    }

    #[test]
    fn speedup_scales_times() {
        let mut v = vec![rs(0, 1, 1), rs(1_000_000_001, 2, 2), rs(3, 3, 3)];
        scale_times(&mut v, 2.0);
        assert_eq!(v, vec![rs(0, 1, 1), rs(2, 3, 3), rs(500_000_001, 2, 2)]);
        assert!(check_speedup(0.0).is_err() && check_speedup(f64::INFINITY).is_err() && check_speedup(-1.0).is_err());
    }

    // ---- the real traces under ../shared, when present ----

    fn shared_trace(rel: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces").join(rel);
        if p.is_file() {
            Some(p)
        } else {
            eprintln!("SKIPPED: ../shared/traces not found ({} is missing)", p.display());
            None
        }
    }

    /// Mean and nearest-rank p90 of a sample.
    fn mean_p90(mut v: Vec<u32>) -> (f64, u32) {
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        v.sort_unstable();
        let rank = (0.9 * v.len() as f64).ceil() as usize; // 1-based nearest rank
        (mean, v[rank.max(1) - 1])
    }

    fn check_sorted_from_zero(r: &[RequestSpec]) {
        assert_eq!(r[0].arrival_ns, 0);
        assert!(r.windows(2).all(|w| w[0].arrival_ns <= w[1].arrival_ns));
        assert!(r.iter().all(|x| x.input_tok >= 1 && x.output_tok >= 1));
    }

    fn report_azure(name: &str, r: &[RequestSpec]) {
        let (im, ip) = mean_p90(r.iter().map(|x| x.input_tok).collect());
        let (om, op) = mean_p90(r.iter().map(|x| x.output_tok).collect());
        let span = r.last().map_or(0, |x| x.arrival_ns) as f64 / 1e9;
        println!(
            "{name}: {} requests over {span:.1} s; ContextTokens mean {im:.1} p90 {ip}; \
             GeneratedTokens mean {om:.1} p90 {op}",
            r.len()
        );
    }

    #[test]
    fn real_azure_conv_trace() {
        let Some(p) = shared_trace("azure-llm-2023/AzureLLMInferenceTrace_conv.csv") else {
            return;
        };
        let r = read_azure_csv(&p).unwrap();
        assert_eq!(r.len(), 19_366);
        check_sorted_from_zero(&r);
        let span_s = r.last().unwrap().arrival_ns as f64 / 1e9;
        assert!((3300.0..=3900.0).contains(&span_s), "span {span_s} s, expected ~1 hour");
        report_azure("azure conv", &r);
        // Through the format-dispatching loader with a speedup.
        let fast = load_trace(&p, TraceFormat::AzureCsv, 2.0).unwrap();
        assert_eq!(fast.len(), r.len());
        let fast_span = fast.last().unwrap().arrival_ns as f64 / 1e9;
        assert!((fast_span - span_s / 2.0).abs() < 1e-6);
    }

    #[test]
    fn real_azure_code_trace() {
        let Some(p) = shared_trace("azure-llm-2023/AzureLLMInferenceTrace_code.csv") else {
            return;
        };
        let r = read_azure_csv(&p).unwrap();
        assert_eq!(r.len(), 8_819);
        check_sorted_from_zero(&r);
        report_azure("azure code", &r);
    }

    #[test]
    fn real_mooncake_trace() {
        let Some(p) = shared_trace("mooncake/conversation_trace.jsonl") else {
            return;
        };
        assert_eq!(detect_format(&p), Some(TraceFormat::MooncakeJsonl));
        let r = read_mooncake_jsonl(&p).unwrap();
        assert_eq!(r.len(), 12_031);
        check_sorted_from_zero(&r);
        let span_s = r.last().unwrap().arrival_ns as f64 / 1e9;
        assert!((3300.0..=3700.0).contains(&span_s), "span {span_s} s, expected ~59 min");
        let (im, ip) = mean_p90(r.iter().map(|x| x.input_tok).collect());
        let (om, op) = mean_p90(r.iter().map(|x| x.output_tok).collect());
        println!(
            "mooncake conversation: {} requests over {span_s:.1} s; input mean {im:.1} p90 {ip}; output mean {om:.1} p90 {op}",
            r.len()
        );
    }
}
