//! Readers for the measurement formats people have, into the one unit system of [`super::data`]
//! (sizes in elements or bytes as named, times in seconds).
//!
//! Entry points: [`load_dir`] (a whole calibration-data tree) and [`load_file`] (one file). Both
//! return a [`Dataset`] or the first [`CalibError`]; no reader panics on bad input and no value is
//! ever guessed: a row is either converted exactly, skipped by a documented rule, or an error.
//!
//! # Formats
//!
//! A file is dispatched by its extension and then by its **header**, not by its name (names are only
//! a fallback where the header leaves something open):
//!
//! | file | recognised by | becomes |
//! |---|---|---|
//! | `*.md`, `*.markdown`, other extensions | extension | skipped (Markdown tables are not fit data) |
//! | aiconfigurator `gemm_perf.*.csv` | `gemm_dtype` column | [`GemmSample`](super::data::GemmSample) |
//! | aiconfigurator `context_attention_perf.*.csv`, `generation_attention_perf.*.csv` | `num_key_value_heads` | [`ContextAttentionSample`](super::data::ContextAttentionSample), [`GenerationAttentionSample`](super::data::GenerationAttentionSample) |
//! | aiconfigurator `nccl_perf.*.csv`, `custom_allreduce_perf.*.csv` | `nccl_dtype` / `allreduce_dtype` | [`CollectiveSample`](super::data::CollectiveSample) |
//! | vidur `compute/<org>/<model>/mlp.csv` | `num_tensor_parallel_workers` + `time_stats.<op>.median` | [`LayerOpSample`](super::data::LayerOpSample) |
//! | vidur `network/<cluster>/{all_reduce,send_recv}.csv` | `num_workers` + `devices_per_node` | [`CollectiveSample`](super::data::CollectiveSample) |
//! | KV-transfer tables | a bytes column + a time column | [`KvTransferSample`](super::data::KvTransferSample) |
//! | nccl-tests text logs (`*.log`, `*.txt`, `*.out`) | a `#` header line with `size` and `time` | [`CollectiveSample`](super::data::CollectiveSample) |
//! | `published_interconnect_facts.csv`, Mooncake `efa_tebench` (bandwidth vs block size) | their headers (allow-list) | skipped: not curves of time |
//!
//! A `.csv` (or a `.txt`/`.log` holding CSV) whose header matches none of these is an error naming
//! the file and the headers that were expected. The per-format rules, units and judgment calls are
//! documented on each reader module: `aiconfigurator`, `vidur`, `nccl_tests`, `kv_transfer`.
//!
//! # Errors
//!
//! Every [`CalibError`] but [`CalibError::Io`] prints as `path:line:column: what was wrong, what was
//! expected`. `line` is the 1-based line of the row (for CSV, the line the record starts on).
//! `column` is the **1-based field index** in the row (CSV field, or whitespace-separated field of
//! an nccl-tests line), never a character column; it is 1 when the problem concerns the whole line
//! (unknown header, missing column, no data rows), and one past the last field present when a line
//! is too short.

use std::fmt;
use std::path::{Path, PathBuf};

use super::data::Dataset;

mod aiconfigurator;
mod fields;
mod kv_transfer;
mod nccl_tests;
mod vidur;

/// What was wrong with one field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    /// The field is empty.
    Empty,
    /// Not valid UTF-8 text.
    NotText,
    /// Not a number.
    NotANumber,
    /// `NaN` or infinite.
    NotFinite,
    /// Zero or negative where a positive time or size is needed.
    NotPositive,
    /// Negative where a count is needed.
    Negative,
    /// Has a fractional part where a whole number is needed.
    NotWhole,
    /// Too large (or, after a unit conversion, too small) to be represented exactly.
    OutOfRange,
    /// A name (dtype, collective, operator) the reader does not know.
    UnknownName,
    /// A line break inside a field (an unterminated quote).
    LineBreak,
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueProblem::Empty => "empty field",
            ValueProblem::NotText => "not valid UTF-8",
            ValueProblem::NotANumber => "not a number",
            ValueProblem::NotFinite => "NaN or infinite",
            ValueProblem::NotPositive => "zero or negative",
            ValueProblem::Negative => "negative",
            ValueProblem::NotWhole => "not a whole number",
            ValueProblem::OutOfRange => "out of range",
            ValueProblem::UnknownName => "unknown name",
            ValueProblem::LineBreak => "a field with a line break",
        })
    }
}

/// Why a calibration file could not be read. See the [module docs](self) for the message format.
#[derive(thiserror::Error, Debug)]
pub enum CalibError {
    /// The file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file (`.csv`, `.log`, `.txt`, ...) whose header matches none of the known formats, or a
    /// file [`load_file`] was asked to read that is no data format at all.
    #[error("{}:{line}:1: {found}, expected {expected}", path.display())]
    UnknownFormat { path: PathBuf, line: u32, found: String, expected: String },
    /// A header of a recognised format lacks a column it needs, or has one twice.
    #[error("{}:{line}:{column}: {problem}, expected {expected}", path.display())]
    Header { path: PathBuf, line: u32, column: u32, problem: String, expected: String },
    /// A line with fewer (typically a truncated line) or more fields than its header.
    #[error(
        "{}:{line}:{column}: {found} fields ({}), expected {expected} as in the header",
        path.display(),
        if found < expected { "too few: truncated line?" } else { "too many" }
    )]
    FieldCount { path: PathBuf, line: u32, column: u32, found: usize, expected: usize },
    /// A field that is not a valid value (non-numeric, NaN/inf, zero or negative time or size, ...).
    #[error("{}:{line}:{column}: {field} = {value:?} is {problem}, expected {expected}", path.display())]
    Value {
        path: PathBuf,
        line: u32,
        column: u32,
        field: String,
        value: String,
        problem: ValueProblem,
        expected: String,
    },
    /// A header with no data rows after it (an empty table or a log cut off after its header).
    #[error("{}:{line}:1: {what} has no data rows, expected at least one", path.display())]
    NoData { path: PathBuf, line: u32, what: String },
    /// Values that are valid alone but contradict each other, or something the file does not say
    /// (e.g. an nccl-tests log whose GPU count cannot be determined).
    #[error("{}:{line}:{column}: {problem}, expected {expected}", path.display())]
    Inconsistent { path: PathBuf, line: u32, column: u32, problem: String, expected: String },
    /// The CSV itself is malformed (e.g. an unterminated quote).
    #[error("{}:{line}:1: malformed CSV ({source}), expected comma-separated fields", path.display())]
    Csv {
        path: PathBuf,
        line: u32,
        #[source]
        source: csv::Error,
    },
}

impl CalibError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            CalibError::Io { path, .. }
            | CalibError::UnknownFormat { path, .. }
            | CalibError::Header { path, .. }
            | CalibError::FieldCount { path, .. }
            | CalibError::Value { path, .. }
            | CalibError::NoData { path, .. }
            | CalibError::Inconsistent { path, .. }
            | CalibError::Csv { path, .. } => path,
        }
    }
}

/// How a file is treated, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileClass {
    /// Always CSV.
    Csv,
    /// `.csv.gz`: gzip-compressed CSV (aiconfigurator's tables as the shared data ships most of them).
    CsvGz,
    /// `.log`, `.txt`, `.out`: an nccl-tests log, or CSV (aiconfigurator's raw `*_perf.txt` are CSV).
    Text,
    /// Markdown and any other extension: not a data format.
    NotData,
}

fn classify(path: &Path) -> FileClass {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    if name.ends_with(".csv.gz") {
        return FileClass::CsvGz;
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => FileClass::Csv,
        Some("log" | "txt" | "out") => FileClass::Text,
        _ => FileClass::NotData,
    }
}

/// Reads every calibration file under `dir`, recursively, in sorted (byte-wise file name) order so
/// the result is deterministic.
///
/// Markdown (`*.md`), files with other extensions than `.csv`/`.log`/`.txt`/`.out`, hidden entries
/// (names starting with `.`) and the allow-listed non-curve tables are skipped; any other `.csv`,
/// `.log`, `.txt` or `.out` must be one of the formats in the [module docs](self), else the whole
/// load fails with an error naming the file. (Given a file instead of a directory, it is
/// [`load_file`].) Each file that yields data appends its samples and one
/// [`SourceFile`](super::data::SourceFile) per sample kind (`rows` = samples appended from it; a
/// recognised file whose rows were all skipped by a documented filter gets an entry with 0 rows).
pub fn load_dir(dir: &Path) -> Result<Dataset, CalibError> {
    load_dir_filtered(dir, &Filter::default())
}

/// Which measurements a calibration takes: those of one GPU, of chosen engine releases.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `device` names of GPUs other than the one fitted (`NVIDIA H200` when fitting an H100): a table
    /// whose first row names one of them is skipped. A device pdsim does not know (a user's own
    /// measurements) is read.
    pub other_devices: Vec<String>,
    /// aiconfigurator tables are named `<family>.<framework>-<version>.csv[.gz]`: when set, only
    /// those whose `<framework>-<version>` is listed (`trtllm-1.3.0rc20`) are read. Files named
    /// otherwise (vidur, nccl-tests logs, KV-transfer tables) are read either way.
    pub releases: Option<Vec<String>>,
}

impl Filter {
    /// The filter that fits `gpu`: other known GPUs' tables skipped, every release read.
    pub fn for_gpu(gpu: &crate::spec::hardware::Gpu) -> Filter {
        let other_devices = crate::spec::hardware::GPUS
            .iter()
            .filter(|g| g.name != gpu.name)
            .flat_map(|g| g.devices.iter().map(|d| d.to_string()))
            .collect();
        Filter { other_devices, releases: None }
    }

    /// Whether `path`'s name passes the release filter.
    fn takes_release(&self, path: &Path) -> bool {
        match (&self.releases, release_of(path)) {
            (Some(releases), Some(release)) => releases.iter().any(|r| r.eq_ignore_ascii_case(release)),
            _ => true,
        }
    }
}

/// The `<framework>-<version>` an aiconfigurator table's name carries
/// (`gemm_perf.trtllm-1.3.0rc20.csv.gz` -> `trtllm-1.3.0rc20`); `None` for other files.
pub fn release_of(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gz").unwrap_or(name).strip_suffix(".csv")?;
    let (_, release) = stem.split_once('.')?;
    release.contains('-').then_some(release)
}

/// [`load_dir`] keeping only what `filter` takes.
pub fn load_dir_filtered(dir: &Path, filter: &Filter) -> Result<Dataset, CalibError> {
    if dir.is_file() {
        return load_file(dir);
    }
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    let mut out = Dataset::default();
    for file in &files {
        match classify(file) {
            FileClass::NotData => {}
            _ if !filter.takes_release(file) => {}
            class => read_into_filtered(file, class, filter, &mut out)?,
        }
    }
    Ok(out)
}

/// Reads one calibration file. Unlike [`load_dir`], a file that is no data format at all (Markdown,
/// unknown extension) is an error; an allow-listed non-curve table (interconnect facts, EFA
/// bandwidth bench) gives an empty [`Dataset`].
pub fn load_file(path: &Path) -> Result<Dataset, CalibError> {
    let mut out = Dataset::default();
    match classify(path) {
        FileClass::NotData => {
            return Err(CalibError::UnknownFormat {
                path: path.to_path_buf(),
                line: 1,
                found: "not a calibration data file (Markdown or unknown extension)".into(),
                expected: "a .csv, .csv.gz, .log, .txt or .out file in one of the formats of pdsim::calibrate::readers"
                    .into(),
            })
        }
        class => read_into(path, class, &mut out)?,
    }
    Ok(out)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CalibError + '_ {
    move |source| CalibError::Io { path: path.to_path_buf(), source }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CalibError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        entries.push(entry.file_name());
    }
    entries.sort();
    for name in entries {
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let path = dir.join(&name);
        // `metadata` follows symbolic links.
        let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            collect_files(&path, out)?;
        } else if meta.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// What kind of content a file holds, after looking at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Csv,
    NcclTests,
}

/// Tells an nccl-tests log from CSV in a `.txt`/`.log`: a `#` line naming the `size` and `time`
/// columns makes it nccl-tests; otherwise a first non-comment line with a comma makes it CSV.
fn sniff_text(text: &str) -> Option<Content> {
    if text.lines().any(|l| nccl_tests::is_table_header(nccl_tests::strip_tag(l))) {
        return Some(Content::NcclTests);
    }
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'))?;
    first.contains(',').then_some(Content::Csv)
}

fn read_into(path: &Path, class: FileClass, out: &mut Dataset) -> Result<(), CalibError> {
    read_into_filtered(path, class, &Filter::default(), out)
}

fn read_into_filtered(path: &Path, class: FileClass, filter: &Filter, out: &mut Dataset) -> Result<(), CalibError> {
    let raw = std::fs::read(path).map_err(io_err(path))?;
    let bytes = if class == FileClass::CsvGz {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(raw.as_slice()), &mut text)
            .map_err(io_err(path))?;
        text
    } else {
        raw
    };
    if !filter.other_devices.is_empty() {
        if let Some(device) = fields::first_device(&bytes) {
            if filter.other_devices.iter().any(|d| d == &device) {
                return Ok(());
            }
        }
    }
    let content = match class {
        FileClass::Csv | FileClass::CsvGz => Content::Csv,
        FileClass::Text => {
            let text = String::from_utf8_lossy(&bytes);
            sniff_text(&text).ok_or_else(|| CalibError::UnknownFormat {
                path: path.to_path_buf(),
                line: 1,
                found: "text matching no known format".into(),
                expected: format!("{}, or CSV with {}", nccl_tests::EXPECTED, fields::EXPECTED_CSV),
            })?
        }
        FileClass::NotData => return Ok(()),
    };
    match content {
        Content::Csv => fields::read_csv(path, &bytes, out),
        Content::NcclTests => {
            let text = std::str::from_utf8(&bytes).map_err(|e| {
                let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
                CalibError::Value {
                    path: path.to_path_buf(),
                    line: line as u32,
                    column: 1,
                    field: "line".into(),
                    value: String::new(),
                    problem: ValueProblem::NotText,
                    expected: "UTF-8 text".into(),
                }
            })?;
            let samples = nccl_tests::parse(path, text)?;
            fields::push_source(out, path, "collective", samples.len());
            out.collectives.extend(samples);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::data::Collective;
    use super::*;
    use std::time::Instant;

    /// A scratch directory under the system temp dir, removed on drop.
    pub(crate) struct Scratch(pub PathBuf);

    impl Scratch {
        pub(crate) fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "pdsim-readers-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        pub(crate) fn file(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn real_data() -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/calibration-data");
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("SKIPPED: ../shared/calibration-data not found");
            None
        }
    }

    #[test]
    fn load_dir_skips_markdown_and_allow_listed_tables_and_is_sorted() {
        let s = Scratch::new("dir");
        s.file("README.md", "# not data\n| a | b |\n");
        s.file("b/kv.csv", "bytes,time_ms\n1000,2\n");
        s.file("a/kv.csv", "bytes,time_us\n10,5\n");
        s.file(
            "a/facts.csv",
            "id,hardware,path,tool,metric,value,unit,message_or_block_size,source,notes\np,H100,x,y,bw,1,GB/s,l,s,n\n",
        );
        s.file(".hidden/x.csv", "garbage\n");
        s.file("notes.json", "{}");
        let ds = load_dir(&s.0).unwrap();
        assert_eq!(ds.kv_transfer.len(), 2);
        assert_eq!(ds.kv_transfer[0].latency_s, 5e-6, "a/ before b/, us -> s rounds correctly");
        assert_eq!(ds.kv_transfer[1].latency_s, 2e-3);
        assert_eq!(ds.files.len(), 2);
        assert!(ds.files[0].path.ends_with("a/kv.csv"));
    }

    #[test]
    fn unknown_csv_in_dir_is_an_error_naming_it() {
        let s = Scratch::new("unknown");
        s.file("x/mystery.csv", "foo,bar\n1,2\n");
        let err = load_dir(&s.0).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CalibError::UnknownFormat { line: 1, .. }), "{msg}");
        assert!(msg.contains("mystery.csv:1:1:"), "{msg}");
        assert!(msg.contains("gemm_dtype") && msg.contains("bytes"), "names expected headers: {msg}");
        assert_eq!(err.path(), s.0.join("x/mystery.csv"));
    }

    #[test]
    fn unknown_text_file_is_an_error() {
        let s = Scratch::new("text");
        s.file("run.log", "hello world\nnothing here\n");
        let msg = load_dir(&s.0).unwrap_err().to_string();
        assert!(msg.contains("run.log:1:1:") && msg.contains("nccl-tests"), "{msg}");
    }

    #[test]
    fn txt_holding_csv_is_read_as_csv() {
        let s = Scratch::new("txtcsv");
        let p = s.file(
            "gemm_perf.txt",
            "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency\n\
             TRTLLM,1,H100,gemm,torch_flow,bfloat16,1,2,3,0.5\n",
        );
        let ds = load_file(&p).unwrap();
        assert_eq!(ds.gemm.len(), 1);
    }

    #[test]
    fn load_file_rejects_markdown_and_reads_allow_listed_as_empty() {
        let s = Scratch::new("single");
        let md = s.file("t.md", "| a |\n");
        assert!(matches!(load_file(&md), Err(CalibError::UnknownFormat { .. })));
        let efa = s.file(
            "efa_tebench_gpu2gpu.csv",
            "instance,gpu,nics,line_rate_GBps,path,block_size_B,threads,batch,write_GBps,read_GBps\n\
             p5,H100,32x EFA,400,GPU-to-GPU,1048576,8,128,335.11,\n",
        );
        assert_eq!(load_file(&efa).unwrap(), Dataset::default());
        let missing = s.0.join("nope.csv");
        assert!(matches!(load_file(&missing), Err(CalibError::Io { .. })));
    }

    #[test]
    fn whole_calibration_data_dir() {
        let Some(dir) = real_data() else { return };
        let t0 = Instant::now();
        // the H100's tables of the releases its committed profile fits (the folder also holds other
        // GPUs' and releases' tables, compressed)
        let h100 = crate::spec::hardware::Gpu::find("h100-sxm").unwrap();
        let releases = ["trtllm-1.3.0rc20", "vllm-0.19.0", "nccl-2.29.2"].map(String::from).to_vec();
        let filter = Filter { releases: Some(releases), ..Filter::for_gpu(h100) };
        let ds = load_dir_filtered(&dir, &filter).unwrap();
        let took = t0.elapsed();
        eprintln!(
            "loaded {} in {took:?}: gemm {}, context_attention {}, generation_attention {}, collectives {}, \
             layer_ops {}, kv_transfer {}, files {}",
            dir.display(),
            ds.gemm.len(),
            ds.context_attention.len(),
            ds.generation_attention.len(),
            ds.collectives.len(),
            ds.layer_ops.len(),
            ds.kv_transfer.len(),
            ds.files.len()
        );
        for f in &ds.files {
            eprintln!("  {:>7} {:<21} {}", f.rows, f.kind, f.path.strip_prefix(&dir).unwrap().display());
        }

        // Row counts per kind (from the files' line counts minus headers and documented filters).
        assert_eq!(ds.gemm.len(), 100_668 + 101_003, "every gemm row is bf16/fp8/fp8_block");
        // trtllm context: 75 840 rows of which 25 433 ran fp8 FMHA (attn_dtype fp8), skipped.
        assert_eq!(ds.context_attention.len(), 75_840 - 25_433 + 43_656);
        assert_eq!(ds.generation_attention.len(), 52_033 + 45_056);
        // nccl 504 + custom 69 + 138 + vidur all_reduce 2982 + send_recv 1988 + nccl-tests 31 + 11 + 5.
        assert_eq!(ds.collectives.len(), 504 + 69 + 138 + 2982 + 1988 + 31 + 11 + 5);
        // vidur: five models x 1044 rows x 10 ops, phi-2 261 rows x 9 ops (no post_attention_layernorm).
        assert_eq!(ds.layer_ops.len(), 5 * 1044 * 10 + 261 * 9);
        assert_eq!(ds.kv_transfer.len(), 18);
        // MoE: trtllm 126 360 rows less 14 418 non-gated and 1 053 MXFP4; vLLM 0.19 46 494 less 10 206 int4
        assert_eq!(ds.moe.len(), 126_360 - 14_418 - 1_053 + 46_494 - 10_206);
        assert_eq!(ds.files.len(), 9 + 6 + 2 + 3 + 2 + 2);
        let total: usize = ds.files.iter().map(|f| f.rows).sum();
        assert_eq!(
            total,
            ds.gemm.len()
                + ds.context_attention.len()
                + ds.generation_attention.len()
                + ds.collectives.len()
                + ds.layer_ops.len()
                + ds.kv_transfer.len()
                + ds.moe.len()
        );

        // All times positive and finite, all sizes positive.
        let times = ds
            .gemm
            .iter()
            .map(|s| s.latency_s)
            .chain(ds.context_attention.iter().map(|s| s.latency_s))
            .chain(ds.generation_attention.iter().map(|s| s.latency_s))
            .chain(ds.collectives.iter().map(|s| s.latency_s))
            .chain(ds.layer_ops.iter().map(|s| s.latency_s))
            .chain(ds.kv_transfer.iter().map(|s| s.latency_s))
            .chain(ds.moe.iter().map(|s| s.latency_s));
        for t in times {
            assert!(t.is_finite() && t > 0.0 && t < 1.0, "{t}");
        }
        assert!(ds.collectives.iter().all(|c| c.bytes > 0 && c.gpus >= 2 && c.gpus % c.gpus_per_node == 0));

        // Spot values. trtllm bf16 gemm 8192^3: 1.4047840436299641 ms (gemm_perf.trtllm line 24269).
        let g = ds
            .gemm
            .iter()
            .find(|g| {
                g.framework == "trtllm"
                    && g.dtype == super::super::data::GemmDtype::Bf16
                    && (g.m, g.n, g.k) == (8192, 8192, 8192)
            })
            .unwrap();
        assert!((g.latency_s - 1.404_784_043_629_964e-3).abs() < 1e-15, "{}", g.latency_s);
        assert_eq!(g.at.line, 24269);
        assert!((2.0 * 8192f64.powi(3) / g.latency_s / 1e12 - 782.7).abs() < 1.0, "~780 TFLOP/s");

        // trtllm custom all-reduce, 8 GPUs, 2 097 152 bf16 elements = 4 194 304 bytes, 0.0519 ms.
        let c =
            ds.collectives.iter().find(|c| c.kernel == "trtllm" && c.gpus == 8 && c.bytes == 2_097_152 * 2).unwrap();
        assert_eq!(c.collective, Collective::AllReduce);
        assert_eq!(c.gpus_per_node, 8);
        assert!((c.latency_s - 0.05190271854400634e-3).abs() < 1e-15);
        // The 8-GPU NCCL all-reduce floor of ~15.6 us (256 half elements = 512 bytes).
        let n = ds
            .collectives
            .iter()
            .find(|c| c.at.file.ends_with("nccl_perf.nccl-2.29.2.csv") && c.at.line == 464)
            .unwrap();
        assert_eq!((n.collective, n.kernel.as_str(), n.gpus, n.bytes), (Collective::AllReduce, "nccl", 8, 512));
        assert!((n.latency_s - 15.59e-6).abs() < 1e-12, "{}", n.latency_s);
        // vLLM custom all-reduce keeps graph and eager apart.
        assert_eq!(ds.collectives.iter().filter(|c| c.kernel == "vllm_graph").count(), 69);
        assert_eq!(ds.collectives.iter().filter(|c| c.kernel == "vllm_eager").count(), 69);

        // GCP A3-Mega log: 2 147 483 648 bytes, 12 646 us out-of-place, 16 ranks on 2 hosts.
        let l = ds
            .collectives
            .iter()
            .find(|c| c.at.file.ends_with("gcp_a3mega_h100_2node16gpu_tcpxo_allreduce.log") && c.bytes == 2_147_483_648)
            .unwrap();
        assert_eq!((l.gpus, l.gpus_per_node, l.kernel.as_str()), (16, 8, "nccl"));
        assert!((l.latency_s - 12_646e-6).abs() < 1e-12);
        // The subset log (2 nodes x 4 GPUs, GPU count only in the busbw/algbw ratio and the name).
        let u: Vec<_> =
            ds.collectives.iter().filter(|c| c.at.file.to_string_lossy().contains("unknown_fabric")).collect();
        assert_eq!(u.len(), 11);
        assert!(u.iter().all(|c| (c.gpus, c.gpus_per_node) == (8, 4)));
        assert_eq!(u[10].bytes, 17_179_869_184);
        assert!((u[10].latency_s - 0.127_660).abs() < 1e-12);
        // OCI log: mpirun -n 16, two nodes.
        let o: Vec<_> = ds.collectives.iter().filter(|c| c.at.file.to_string_lossy().contains("oci_bm")).collect();
        assert_eq!(o.len(), 5);
        assert!(o.iter().all(|c| (c.gpus, c.gpus_per_node) == (16, 8)));

        // vidur: send_recv with devices_per_node = 1 crosses nodes; 64 MiB over IB ~ 1.871 ms.
        let sr = ds
            .collectives
            .iter()
            .find(|c| c.collective == Collective::SendRecv && c.gpus_per_node == 1 && c.bytes == 67_108_864)
            .unwrap();
        assert!((sr.latency_s - 1.871e-3).abs() < 1e-12);
        let lo = ds
            .layer_ops
            .iter()
            .find(|o| o.model == "meta-llama/Llama-2-70b-hf" && o.op == "mlp_up_proj" && o.tokens == 4096 && o.tp == 1)
            .unwrap();
        assert!((lo.latency_s - 5.6685e-3).abs() < 1e-12, "{}", lo.latency_s);

        // KV transfer: the vLLM Mooncake table's first row, 20e6 bytes in 0.54 ms.
        let kv = ds.kv_transfer.iter().find(|k| k.bytes == 20_000_000).unwrap();
        assert!((kv.latency_s - 0.54e-3).abs() < 1e-15);

        // Generation attention: ctx = step (the cached KV length), up to 131071.
        assert_eq!(ds.generation_attention.iter().map(|g| g.ctx).max(), Some(131_071));
        assert!(ds.generation_attention.iter().all(|g| g.kv_bytes == 1 || g.kv_bytes == 2));
        assert!(ds.context_attention.iter().any(|c| c.window == 8192));

        // Deterministic.
        assert_eq!(load_dir_filtered(&dir, &filter).unwrap(), ds);
        if !cfg!(debug_assertions) {
            assert!(took.as_secs_f64() < 1.0, "load took {took:?}");
        }
    }

    #[test]
    fn each_real_file_loads_alone_like_in_the_dir() {
        let Some(dir) = real_data() else { return };
        let log = dir.join("nccl-tests/h100_2node_4gpu_each_allreduce_unknown_fabric.log");
        let ds = load_file(&log).unwrap();
        assert_eq!(ds.collectives.len(), 11);
        assert_eq!(ds.collectives[0].at, super::super::data::Provenance { file: log.clone(), line: 6 });
        assert_eq!(ds.collectives[0].bytes, 8);
        assert!((ds.collectives[0].latency_s - 32.07e-6).abs() < 1e-15);
        let facts = dir.join("interconnect/published_interconnect_facts.csv");
        assert_eq!(load_file(&facts).unwrap(), Dataset::default());
        let efa = dir.join("kv-transfer/efa_tebench_gpu2gpu.csv");
        assert_eq!(load_file(&efa).unwrap(), Dataset::default());
    }
}
