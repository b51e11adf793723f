//! nccl-tests text logs (`all_reduce_perf`, `all_gather_perf`, `reduce_scatter_perf`, `alltoall_perf`,
//! `sendrecv_perf`), verbatim or transcribed.
//!
//! # Format
//!
//! Comment lines start with `#`. The table header is a comment whose first word is `size` and that
//! has a `time` column, e.g. `# size count type redop root time algbw busbw #wrong time algbw busbw
//! #wrong` (out-of-place, then in-place; older versions lack `root` or say `error`); columns are
//! found by name, so any version's column set works. Data lines are whitespace-separated and must
//! have as many fields as the header. `size` is in **bytes** (nccl-tests' size: the whole buffer,
//! e.g. all ranks' parts for all-gather), `time` in **microseconds**; the **first** `time` column
//! (out-of-place) is used. Any size range is accepted. A units line with `(ms)`/`(ns)`/`(s)` is an
//! error (nccl-tests always prints us). Lines before the first header (a command, `##` banners,
//! MPI chatter) and non-comment lines that do not start with a number (NCCL INFO output) are not
//! data; an `mpirun --tag-output` prefix (`[1,0]<stdout>:`) is stripped. A comment after data rows
//! ends a table (a data line after that, before a new header, is an error: a comment cut the table);
//! a log may hold several tables (one per test).
//!
//! Each data line is checked against itself: `size = count x sizeof(type)` when the type is known,
//! and `algbw = size / time` (GB/s, to print rounding) when `algbw` >= 0.1, so a misaligned column
//! is an error rather than a wrong value. A line with too few fields (a truncated log) is an error at
//! that line, and a header with no data rows after it is an error at the header.
//!
//! # What the log must say
//!
//! * **Collective**: the `# Collective test starting: <name>_perf` line, else the `<name>_perf`
//!   binary in a command line of the log (`> mpirun ... all_reduce_perf -b 8 ...`, continuation lines
//!   with `\` joined), else the file name (`allreduce` / `all_reduce`, `allgather`, `reducescatter`,
//!   `alltoall`, `sendrecv`; exactly one). Tests with no [`Collective`] variant (broadcast, reduce,
//!   gather, scatter, hypercube) are an error.
//! * **GPUs** (ranks): the `#  Rank  N ... on <host> device ...` lines (counted), else the command
//!   (`mpirun -np/-n N` x `-t` x `-g`; no launcher: `-t` x `-g`), else the ratio busbw / algbw of the
//!   fastest row, which nccl-tests computes from the rank count: 2(n-1)/n for all-reduce, (n-1)/n for
//!   all-gather, reduce-scatter and all-to-all (send/recv gives no count). When both a declared count
//!   and the ratio are there they must agree.
//! * **GPUs per node**: distinct hosts in the Rank lines (ranks must spread evenly), else the
//!   command (`-npernode`/`-N`/`-ppn`/`--map-by ppr:N:node` for mpirun, `--ntasks-per-node`/`-N`
//!   nodes for srun), else a node count in the file name (`2node`, `2nodes`: `..._2node16gpu_...`),
//!   else all GPUs on one node.
//!
//! Kernel: `nccl`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::super::data::{Collective, CollectiveSample, Provenance};
use super::aiconfigurator::dtype_bytes;
use super::fields::{parse_count, parse_positive};
use super::{CalibError, ValueProblem};

pub(super) const EXPECTED: &str = "an nccl-tests log: a `#` header line with columns `size count type redop root \
     time algbw busbw #wrong time algbw busbw #wrong` followed by whitespace-separated data lines (size in bytes, \
     time in us)";

/// Strips an `mpirun --tag-output` prefix such as `[1,0]<stdout>:`.
pub(super) fn strip_tag(line: &str) -> &str {
    if line.starts_with('[') {
        if let Some(p) = line.find(">:") {
            if line[..p].contains("]<std") {
                return &line[p + 2..];
            }
        }
    }
    line
}

/// Is this line the nccl-tests table header (`# size count type ... time ...`)?
pub(super) fn is_table_header(line: &str) -> bool {
    let t = line.trim_start();
    if !t.starts_with('#') {
        return false;
    }
    let mut toks = t.trim_start_matches('#').split_whitespace();
    toks.next() == Some("size") && toks.any(|w| w == "time")
}

/// Column indices of a table header.
#[derive(Debug, Clone)]
struct Columns {
    names: Vec<String>,
    size: usize,
    time: usize,
    count: Option<usize>,
    ty: Option<usize>,
    algbw: Option<usize>,
    busbw: Option<usize>,
}

impl Columns {
    fn parse(line: &str) -> Columns {
        let names: Vec<String> =
            line.trim_start().trim_start_matches('#').split_whitespace().map(str::to_string).collect();
        let find = |n: &str| names.iter().position(|x| x == n);
        Columns {
            size: find("size").expect("checked by is_table_header"),
            time: find("time").expect("checked by is_table_header"),
            count: find("count"),
            ty: find("type"),
            algbw: find("algbw"),
            busbw: find("busbw"),
            names,
        }
    }
}

/// What a command line says.
#[derive(Debug, Clone, Default, PartialEq)]
struct Command {
    /// `all_reduce` from `.../all_reduce_perf`.
    test: String,
    /// Total GPUs, if the command fixes it.
    gpus: Option<u64>,
    /// GPUs per node, if the command fixes it.
    gpus_per_node: Option<u64>,
}

fn opt_value<'a>(toks: &[&'a str], i: &mut usize) -> (&'a str, Option<&'a str>) {
    let t = toks[*i];
    if let Some((k, v)) = t.split_once('=') {
        if k.starts_with('-') {
            return (k, Some(v));
        }
    }
    // A flag followed by another flag takes no value.
    let v = toks.get(*i + 1).copied().filter(|v| !v.starts_with('-'));
    if v.is_some() {
        *i += 1;
    }
    (t, v)
}

fn num(v: Option<&str>) -> Option<u64> {
    v?.parse().ok().filter(|&n| n > 0)
}

/// Parses a command line that runs an nccl-tests binary (`<name>_perf` or `<name>_perf_mpi`).
fn parse_command(line: &str) -> Option<Command> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let base = |t: &str| t.rsplit('/').next().unwrap_or(t).to_string();
    let (b, test) = toks.iter().enumerate().find_map(|(i, t)| {
        let b = base(t);
        let name = b.strip_suffix("_perf").or_else(|| b.strip_suffix("_perf_mpi"))?;
        (!name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
            .then(|| (i, name.to_string()))
    })?;
    let launcher = toks[..b].iter().position(|t| {
        matches!(base(t).as_str(), "mpirun" | "mpiexec" | "orterun" | "prterun" | "srun" | "mpirun.openmpi")
    });
    let (mut procs, mut per_node_procs, mut nodes) = (None, None, None);
    if let Some(l) = launcher {
        let srun = base(toks[l]) == "srun";
        let args = &toks[l + 1..b];
        let mut i = 0;
        while i < args.len() {
            let (k, v) = opt_value(args, &mut i);
            match (srun, k) {
                (false, "-np" | "-n" | "--np" | "--n" | "-c") | (true, "-n" | "--ntasks") => procs = num(v),
                (false, "-npernode" | "--npernode" | "-N" | "-ppn" | "--ppn" | "-perhost")
                | (true, "--ntasks-per-node") => per_node_procs = num(v),
                (true, "-N" | "--nodes") => nodes = num(v),
                (false, "--map-by" | "-map-by") => {
                    // ppr:N:node
                    if let Some(rest) = v.and_then(|v| v.strip_prefix("ppr:")) {
                        if let Some((n, unit)) = rest.split_once(':') {
                            if unit.starts_with("node") {
                                per_node_procs = num(Some(n));
                            }
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    let (mut threads, mut gpus) = (1, 1);
    let args = &toks[b + 1..];
    let mut i = 0;
    while i < args.len() {
        let (k, v) = opt_value(args, &mut i);
        match k {
            "-g" | "--ngpus" => gpus = num(v).unwrap_or(1),
            "-t" | "--nthreads" => threads = num(v).unwrap_or(1),
            _ => {}
        }
        i += 1;
    }
    let per_proc = threads * gpus;
    let procs = if launcher.is_some() { procs } else { Some(1) };
    let total = procs.map(|p| p * per_proc);
    let per_node = match (per_node_procs, nodes, total) {
        (Some(p), _, _) => Some(p * per_proc),
        (None, Some(n), Some(t)) if t % n == 0 => Some(t / n),
        _ => None,
    };
    Some(Command { test, gpus: total, gpus_per_node: per_node })
}

fn collective_of(test: &str) -> Result<Collective, String> {
    Ok(match test {
        "all_reduce" => Collective::AllReduce,
        "all_gather" => Collective::AllGather,
        "reduce_scatter" => Collective::ReduceScatter,
        "alltoall" => Collective::AllToAll,
        "sendrecv" => Collective::SendRecv,
        other => return Err(other.to_string()),
    })
}

/// The collective a file name names, if exactly one.
fn collective_from_name(path: &Path) -> Option<Collective> {
    let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
    let table: [(&[&str], Collective); 5] = [
        (&["all_reduce", "allreduce"], Collective::AllReduce),
        (&["all_gather", "allgather"], Collective::AllGather),
        (&["reduce_scatter", "reducescatter"], Collective::ReduceScatter),
        (&["alltoall", "all_to_all", "all2all"], Collective::AllToAll),
        (&["sendrecv", "send_recv"], Collective::SendRecv),
    ];
    let hits: Vec<Collective> =
        table.iter().filter(|(pats, _)| pats.iter().any(|p| stem.contains(p))).map(|&(_, c)| c).collect();
    match hits.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// A node count in the file name (`2node`, `2nodes`, `2-node`), if exactly one.
fn nodes_from_name(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
    let mut found = BTreeSet::new();
    for (pos, _) in stem.match_indices("node") {
        let before = stem[..pos].trim_end_matches(['-', '_']);
        let digits: String = before.chars().rev().take_while(char::is_ascii_digit).collect();
        if let Some(n) = digits.chars().rev().collect::<String>().parse::<u64>().ok().filter(|&n| n > 0) {
            found.insert(n);
        }
    }
    (found.len() == 1).then(|| *found.iter().next().expect("one"))
}

/// What the lines before a table said.
#[derive(Debug, Clone, Default)]
struct Meta {
    /// Rank -> host (empty host when the line names none).
    ranks: BTreeMap<u64, String>,
    rank_line: u32,
    command: Option<Command>,
    /// From `# Collective test starting: <name>_perf`.
    announced: Option<String>,
}

struct DataRow {
    line: u32,
    bytes: u64,
    time_us: f64,
    algbw: Option<f64>,
    busbw: Option<f64>,
}

struct Block {
    header_line: u32,
    cols: Columns,
    meta: Meta,
    rows: Vec<DataRow>,
}

struct Parser<'a> {
    path: &'a Path,
}

impl Parser<'_> {
    fn value_err(
        &self,
        line: u32,
        i: usize,
        name: &str,
        raw: &str,
        problem: ValueProblem,
        expected: &str,
    ) -> CalibError {
        CalibError::Value {
            path: self.path.to_path_buf(),
            line,
            column: i as u32 + 1,
            field: name.to_string(),
            value: raw.to_string(),
            problem,
            expected: expected.to_string(),
        }
    }

    fn inconsistent(&self, line: u32, column: usize, problem: String, expected: String) -> CalibError {
        CalibError::Inconsistent { path: self.path.to_path_buf(), line, column: column as u32, problem, expected }
    }

    fn data_row(&self, line: u32, text: &str, cols: &Columns) -> Result<DataRow, CalibError> {
        let toks: Vec<&str> = text.split_whitespace().collect();
        if toks.len() != cols.names.len() {
            return Err(CalibError::FieldCount {
                path: self.path.to_path_buf(),
                line,
                column: toks.len().min(cols.names.len()) as u32 + 1,
                found: toks.len(),
                expected: cols.names.len(),
            });
        }
        let bytes = parse_count(toks[cols.size], 1)
            .map_err(|p| self.value_err(line, cols.size, "size", toks[cols.size], p, "a size in bytes >= 1"))?;
        let time_us = parse_positive(toks[cols.time], 1.0)
            .map_err(|p| self.value_err(line, cols.time, "time", toks[cols.time], p, "a positive time in us"))?;
        if let (Some(c), Some(t)) = (cols.count, cols.ty) {
            let count = parse_count(toks[c], 0)
                .map_err(|p| self.value_err(line, c, "count", toks[c], p, "an element count"))?;
            if let Some(e) = dtype_bytes(toks[t]) {
                if count.checked_mul(e) != Some(bytes) {
                    return Err(self.inconsistent(
                        line,
                        c + 1,
                        format!("count {count} x {e} bytes ({}) != size {bytes}", toks[t]),
                        "size = count x sizeof(type) (misaligned columns?)".into(),
                    ));
                }
            }
        }
        let bw = |i: Option<usize>, name: &str| -> Result<Option<f64>, CalibError> {
            let Some(i) = i else { return Ok(None) };
            let v: f64 = toks[i]
                .parse()
                .map_err(|_| self.value_err(line, i, name, toks[i], ValueProblem::NotANumber, "a bandwidth in GB/s"))?;
            if !v.is_finite() || v < 0.0 {
                let p = if v.is_finite() { ValueProblem::Negative } else { ValueProblem::NotFinite };
                return Err(self.value_err(line, i, name, toks[i], p, "a bandwidth in GB/s"));
            }
            Ok(Some(v))
        };
        let algbw = bw(cols.algbw, "algbw")?;
        let busbw = bw(cols.busbw, "busbw")?;
        if let (Some(a), Some(i)) = (algbw, cols.algbw) {
            let implied = bytes as f64 / time_us / 1e3;
            if a >= 0.1 && (implied - a).abs() > 0.01 + 0.01 * a {
                return Err(self.inconsistent(
                    line,
                    i + 1,
                    format!("algbw {a} GB/s but size / time = {implied:.3} GB/s"),
                    "time in us and size in bytes with algbw = size / time (misaligned columns?)".into(),
                ));
            }
        }
        Ok(DataRow { line, bytes, time_us, algbw, busbw })
    }

    /// Turns a finished table into samples.
    fn finish(&self, b: Block) -> Result<Vec<CollectiveSample>, CalibError> {
        if b.rows.is_empty() {
            return Err(CalibError::NoData {
                path: self.path.to_path_buf(),
                line: b.header_line,
                what: "nccl-tests table header".into(),
            });
        }
        let named = b.meta.announced.clone().or_else(|| b.meta.command.as_ref().map(|c| c.test.clone()));
        let collective = match named {
            Some(test) => collective_of(&test).map_err(|t| {
                self.inconsistent(
                    b.header_line,
                    1,
                    format!("nccl-tests test {t}_perf has no pdsim collective"),
                    "all_reduce, all_gather, reduce_scatter, alltoall or sendrecv".into(),
                )
            })?,
            None => collective_from_name(self.path).ok_or_else(|| {
                self.inconsistent(
                    b.header_line,
                    1,
                    "cannot tell which collective this table measured".into(),
                    "a `# Collective test starting: <name>_perf` line, a command running <name>_perf, or a file \
                     name containing exactly one of allreduce, allgather, reducescatter, alltoall, sendrecv"
                        .into(),
                )
            })?,
        };

        // Rank count implied by busbw / algbw of the fastest row (precise to print rounding).
        let inferred = b
            .rows
            .iter()
            .filter(|r| r.algbw.is_some_and(|a| a >= 1.0) && r.busbw.is_some())
            .max_by(|x, y| x.algbw.partial_cmp(&y.algbw).expect("finite"))
            .and_then(|r| {
                let (a, bb) = (r.algbw?, r.busbw?);
                let ratio = bb / a;
                // factor(n) = k (n-1) / n, k = 2 for all-reduce, 1 for the others.
                let k = match collective {
                    Collective::AllReduce => 2.0,
                    Collective::AllGather | Collective::ReduceScatter | Collective::AllToAll => 1.0,
                    Collective::SendRecv => return None,
                };
                if ratio >= k {
                    return None;
                }
                let n = k / (k - ratio);
                let rounded = n.round();
                // Distinguishable from its neighbours given 0.005 GB/s print rounding on both numbers.
                let err = ratio * (0.005 / a + 0.005 / bb);
                let gap = k / (rounded * (rounded + 1.0));
                ((n - rounded).abs() < 0.2 && gap > 3.0 * err && rounded >= 1.0).then_some((rounded as u64, r.line))
            });

        let declared = if !b.meta.ranks.is_empty() {
            Some((b.meta.ranks.len() as u64, "Rank lines"))
        } else {
            b.meta.command.as_ref().and_then(|c| c.gpus).map(|g| (g, "command line"))
        };
        let gpus = match (declared, inferred) {
            (Some((d, src)), Some((n, line))) if d != n => {
                let col = b.cols.busbw.map_or(1, |i| i + 1);
                return Err(self.inconsistent(
                    line,
                    col,
                    format!("busbw / algbw implies {n} ranks but the {src} say {d}"),
                    "a log whose rank count matches its bandwidths".into(),
                ));
            }
            (Some((d, _)), _) => d,
            (None, Some((n, _))) => n,
            (None, None) => {
                return Err(self.inconsistent(
                    b.header_line,
                    1,
                    "cannot tell how many GPUs ran this table".into(),
                    "`#  Rank N ... on <host>` lines, a command with mpirun -np / -g, or algbw and busbw columns \
                     of a collective other than sendrecv"
                        .into(),
                ))
            }
        };

        let gpus_per_node = if !b.meta.ranks.is_empty() {
            let mut per_host: BTreeMap<&str, u64> = BTreeMap::new();
            for h in b.meta.ranks.values() {
                *per_host.entry(h.as_str()).or_default() += 1;
            }
            let counts: BTreeSet<u64> = per_host.values().copied().collect();
            if counts.len() != 1 {
                return Err(self.inconsistent(
                    b.meta.rank_line,
                    1,
                    format!("ranks spread unevenly over hosts: {per_host:?}"),
                    "the same number of ranks on every host".into(),
                ));
            }
            *counts.iter().next().expect("one")
        } else if let Some(p) = b.meta.command.as_ref().and_then(|c| c.gpus_per_node) {
            p
        } else if let Some(nodes) = nodes_from_name(self.path) {
            if gpus % nodes != 0 {
                return Err(self.inconsistent(
                    b.header_line,
                    1,
                    format!("{gpus} GPUs do not split over the {nodes} nodes the file name says"),
                    "a GPU count divisible by the node count".into(),
                ));
            }
            gpus / nodes
        } else {
            gpus
        };
        if gpus_per_node == 0 || gpus_per_node > gpus || gpus % gpus_per_node != 0 {
            return Err(self.inconsistent(
                b.header_line,
                1,
                format!("{gpus_per_node} GPUs per node for {gpus} GPUs"),
                "whole nodes".into(),
            ));
        }
        let too_big = |v: u64| self.inconsistent(b.header_line, 1, format!("{v} GPUs"), "fewer than 2^32 GPUs".into());
        let gpus32 = u32::try_from(gpus).map_err(|_| too_big(gpus))?;
        let per_node32 = u32::try_from(gpus_per_node).map_err(|_| too_big(gpus_per_node))?;
        Ok(b.rows
            .into_iter()
            .map(|r| CollectiveSample {
                collective,
                kernel: "nccl".into(),
                gpus: gpus32,
                gpus_per_node: per_node32,
                bytes: r.bytes,
                latency_s: r.time_us / 1e6,
                at: Provenance { file: self.path.to_path_buf(), line: r.line },
            })
            .collect())
    }
}

/// Parses an nccl-tests log. See the [module docs](self).
pub(super) fn parse(path: &Path, text: &str) -> Result<Vec<CollectiveSample>, CalibError> {
    let p = Parser { path };
    let mut out = Vec::new();
    let mut meta = Meta::default();
    let mut pending_cmd = String::new();
    let mut block: Option<Block> = None;
    let mut any_header = false;
    // Line of the comment that ended the last table, while no new header has come.
    let mut ended_at: Option<u32> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line = idx as u32 + 1;
        let l = strip_tag(raw).trim();
        if l.is_empty() {
            continue;
        }
        if let Some(body) = l.strip_prefix('#') {
            let body = body.trim_start_matches('#').trim();
            if is_table_header(l) {
                if let Some(b) = block.take() {
                    out.extend(p.finish(b)?);
                }
                any_header = true;
                ended_at = None;
                block =
                    Some(Block { header_line: line, cols: Columns::parse(l), meta: meta.clone(), rows: Vec::new() });
                continue;
            }
            if let Some(b) = &block {
                if b.rows.is_empty() {
                    // The units line right under the header.
                    if let Some(u) = body.split_whitespace().find(|w| matches!(*w, "(ms)" | "(ns)" | "(s)" | "(sec)")) {
                        return Err(p.inconsistent(
                            line,
                            1,
                            format!("time unit {u} in the units line"),
                            "nccl-tests times in (us)".into(),
                        ));
                    }
                } else {
                    out.extend(p.finish(block.take().expect("some"))?);
                    ended_at = Some(line);
                }
            }
            let toks: Vec<&str> = body.split_whitespace().collect();
            if body.starts_with("Using devices") {
                meta.ranks.clear();
            } else if toks.first() == Some(&"Rank") && toks.len() >= 2 {
                if let Ok(rank) = toks[1].parse::<u64>() {
                    let host = toks.iter().position(|w| *w == "on").and_then(|i| toks.get(i + 1)).unwrap_or(&"");
                    meta.ranks.insert(rank, host.to_string());
                    meta.rank_line = line;
                }
            } else if let Some(rest) = body.strip_prefix("Collective test starting:") {
                let name = rest.trim();
                let name = name.strip_suffix("_perf").or_else(|| name.strip_suffix("_perf_mpi")).unwrap_or(name);
                meta.announced = Some(name.to_string());
            } else {
                feed_command(&mut pending_cmd, body, &mut meta);
            }
            continue;
        }
        let starts_numeric = l.as_bytes()[0].is_ascii_digit();
        match (&mut block, starts_numeric) {
            (Some(b), true) => {
                let row = p.data_row(line, l, &b.cols)?;
                b.rows.push(row);
            }
            (_, false) => {
                // `> mpirun ...`, `$ ./all_reduce_perf ...`, plain commands, NCCL INFO lines.
                let body = l.trim_start_matches(['>', '$']).trim();
                feed_command(&mut pending_cmd, body, &mut meta);
            }
            (None, true) => {
                // Before any header: preamble. After a table ended: a comment cut the table in two,
                // and these rows would silently lose their header.
                if let Some(end) = ended_at {
                    return Err(p.inconsistent(
                        line,
                        1,
                        format!("data line after the table ended at the `#` line {end}"),
                        "data lines only between a header and the next `#` line".into(),
                    ));
                }
            }
        }
    }
    if let Some(b) = block.take() {
        out.extend(p.finish(b)?);
    }
    if !any_header {
        return Err(CalibError::UnknownFormat {
            path: path.to_path_buf(),
            line: 1,
            found: "no nccl-tests table header".into(),
            expected: EXPECTED.into(),
        });
    }
    Ok(out)
}

/// Accumulates `\`-continued lines and records a complete command that runs an nccl-tests binary.
fn feed_command(pending: &mut String, body: &str, meta: &mut Meta) {
    if let Some(head) = body.strip_suffix('\\') {
        pending.push_str(head);
        pending.push(' ');
        return;
    }
    pending.push_str(body);
    let full = std::mem::take(pending);
    if let Some(cmd) = parse_command(&full) {
        meta.command = Some(cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Scratch;
    use super::super::{load_file, CalibError, ValueProblem};
    use super::*;

    fn parse_str(name: &str, text: &str) -> Result<Vec<CollectiveSample>, CalibError> {
        parse(Path::new(name), text)
    }

    // Abridged from nccl-tests/gcp_a3mega_h100_2node16gpu_tcpxo_allreduce.log (4 of 16 Rank lines
    // shown would change the count, so this keeps the command and drops the Rank lines).
    const GCP: &str = "## NCCL TEST RESULT

> mpirun -v --mca btl self,tcp --mca btl_tcp_if_include enp0s12 --hostfile ~/hostfile \\
>    -np 16 \\
>    -npernode 8 \\
>    -x ${HOST_VARS} \\
>    /opt/src/nccl-tests/build/all_reduce_perf -b 8 -e 8G -f 2 -g 1

# nThread 1 nGpus 1 minBytes 8 maxBytes 8589934592 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0
#
#                                                              out-of-place                       in-place          
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       
           8             2     float     sum      -1    135.8    0.00    0.00      0    123.5    0.00    0.00      0
  2147483648     536870912     float     sum      -1    12646  169.81  318.40      0    12641  169.88  318.52      0
  8589934592    2147483648     float     sum      -1    47535  180.71  338.82      0    47743  179.92  337.35      0
# Out of bounds values : 0 OK
# Avg bus bandwidth    : 70.742 
";

    #[test]
    fn verbatim_log_with_command() {
        let v = parse_str("x.log", GCP).unwrap();
        assert_eq!(v.len(), 3);
        let r = &v[1];
        assert_eq!((r.collective, r.kernel.as_str(), r.gpus, r.gpus_per_node), (Collective::AllReduce, "nccl", 16, 8));
        assert_eq!(r.bytes, 2_147_483_648, "size is bytes, not the element count");
        assert!((r.latency_s - 12_646e-6).abs() < 1e-15, "out-of-place time in us");
        assert_eq!(r.at.line, 15);
        assert!((v[0].latency_s - 135.8e-6).abs() < 1e-15);
    }

    #[test]
    fn rank_lines_give_gpus_and_hosts() {
        let mut ranks = String::from("# Using devices\n");
        for r in 0..8 {
            let host = if r < 4 { "node-a" } else { "node-b" };
            ranks.push_str(&format!(
                "#  Rank {r:2} Group  0 Pid   {} on {host} device  {} [0000:04:00] NVIDIA H100 80GB HBM3\n",
                6000 + r,
                r % 4
            ));
        }
        // Rows: nccl-tests/h100_2node_4gpu_each_allreduce_unknown_fabric.log lines 4-7.
        let text = format!(
            "# Collective test starting: all_reduce_perf\n{ranks}\
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
           8             2     float     sum      -1    32.07    0.00    0.00      0    33.05    0.00    0.00      0
        1024           256     float     sum      -1    32.45    0.03    0.06      0    32.38    0.03    0.06      0
       65536         16384     float     sum      -1    79.77    0.82    1.44      0    73.88    0.89    1.55      0
"
        );
        let v = parse_str("run.log", &text).unwrap();
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|c| (c.gpus, c.gpus_per_node) == (8, 4)));
    }

    // nccl-tests/oci_bm_gpu_h100_8_2node16gpu_roce_allreduce.log lines 4-8 (cmd line, header, units, 2 rows).
    const OCI: &str = "# cmd: mpirun -n 16 ... -x NCCL_IB_GID_INDEX=3 ./build/all_reduce_perf -b 1G -e 16G -f 2
#                                                              out-of-place                       in-place
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
  1073741824     268435456     float     sum      -1   4511.2  238.02  446.28      0   4520.9  237.50  445.32      0
  2147483648     536870912     float     sum      -1   8825.9  243.31  456.22      0   8827.8  243.26  456.12      0
";

    #[test]
    fn transcribed_table_uses_command_and_file_name() {
        let v = parse_str("oci_2node16gpu_allreduce.log", OCI).unwrap();
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|c| (c.gpus, c.gpus_per_node) == (16, 8)));
        // Without the node count in the name: one node assumed.
        let v = parse_str("oci.log", OCI).unwrap();
        assert_eq!((v[0].gpus, v[0].gpus_per_node), (16, 16));
    }

    #[test]
    fn subset_without_metadata_infers_ranks_from_busbw() {
        let body = OCI.lines().skip(1).collect::<Vec<_>>().join("\n");
        let v = parse_str("allreduce_2node.log", &body).unwrap();
        assert!(v.iter().all(|c| (c.gpus, c.gpus_per_node) == (16, 8)));
        // A command that contradicts the bandwidths.
        let lie = OCI.replace("-n 16", "-n 8");
        let e = parse_str("x.log", &lie).unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 6, .. }), "{e}");
        assert!(e.to_string().contains("implies 16 ranks"), "{e}");
    }

    #[test]
    fn other_collectives_and_old_header() {
        // An all_gather table in the older column layout (no root, `error`), 8 ranks: busbw = 7/8 algbw.
        let text = "# Collective test starting: all_gather_perf
#       size         count    type   redop     time   algbw   busbw  error     time   algbw   busbw  error
     1048576        262144   float    none    100.0   10.49    9.18  0e+00    100.0   10.49    9.18  0e+00
";
        let v = parse_str("x.log", text).unwrap();
        assert_eq!((v[0].collective, v[0].gpus, v[0].bytes), (Collective::AllGather, 8, 1_048_576));
        // sendrecv with -g 2 and no launcher.
        let text = "$ ./build/sendrecv_perf -b 8M -e 8M -g 2
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
     8388608       2097152     float     sum      -1    30.00  279.62  279.62      0    30.00  279.62  279.62      0
";
        let v = parse_str("y.log", text).unwrap();
        assert_eq!((v[0].collective, v[0].gpus, v[0].gpus_per_node), (Collective::SendRecv, 2, 2));
        // broadcast has no Collective.
        let e = parse_str("z.log", &text.replace("sendrecv_perf", "broadcast_perf")).unwrap_err();
        assert!(e.to_string().contains("broadcast_perf"), "{e}");
    }

    #[test]
    fn truncated_and_empty_logs_are_errors() {
        // Last data line cut mid-way.
        let cut = &OCI[..OCI.len() - 40];
        let e = parse_str("t.log", cut).unwrap_err();
        assert!(matches!(e, CalibError::FieldCount { line: 6, found: 8, expected: 13, column: 9, .. }), "{e}");
        assert!(e.to_string().starts_with("t.log:6:9: 8 fields (too few"), "{e}");
        // Header but no rows.
        let head: String = OCI.lines().take(4).map(|l| format!("{l}\n")).collect();
        let e = parse_str("h.log", &head).unwrap_err();
        assert!(matches!(e, CalibError::NoData { line: 3, .. }), "{e}");
        let e = parse_str("h.log", &format!("{head}# Out of bounds values : 0 OK\n")).unwrap_err();
        assert!(matches!(e, CalibError::NoData { line: 3, .. }), "{e}");
        // A comment in the middle of the table.
        let split = OCI.replace("\n  2147483648", "\n# note\n  2147483648");
        let e = parse_str("s.log", &split).unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 7, .. }), "{e}");
        // No header at all.
        let e = parse_str("n.log", "  8  2  float sum -1 1.0 0 0 0 1.0 0 0 0\n").unwrap_err();
        assert!(matches!(e, CalibError::UnknownFormat { .. }), "{e}");
    }

    #[test]
    fn bad_values_and_misaligned_columns() {
        let e = parse_str("a.log", &OCI.replace("4511.2", "abc")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 5, column: 6, problem: ValueProblem::NotANumber, .. }), "{e}");
        let e = parse_str("a.log", &OCI.replace("4511.2", "0.0000")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 5, column: 6, problem: ValueProblem::NotPositive, .. }), "{e}");
        let e = parse_str("a.log", &OCI.replace("4511.2", "   nan")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 5, column: 6, problem: ValueProblem::NotFinite, .. }), "{e}");
        // Time in ms instead of us: algbw no longer matches.
        let e = parse_str("a.log", &OCI.replace("4511.2", "4.5112")).unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 5, column: 7, .. }), "{e}");
        // Size given as the element count.
        let e =
            parse_str("a.log", &OCI.replace("  1073741824     268435456", "   268435456     268435456")).unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 5, column: 2, .. }), "{e}");
        // A units line in ms.
        let e = parse_str("a.log", &OCI.replace("(us)", "(ms)")).unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 4, .. }), "{e}");
    }

    #[test]
    fn command_parsing() {
        let c =
            parse_command("mpirun --allow-run-as-root -np 16 -npernode 8 ./all_reduce_perf -b 8 -e 1G -f 2 -g 1 -n 50")
                .unwrap();
        assert_eq!(c, Command { test: "all_reduce".into(), gpus: Some(16), gpus_per_node: Some(8) });
        let c = parse_command("srun -N 2 --ntasks=16 /opt/nccl-tests/build/alltoall_perf -b 1M").unwrap();
        assert_eq!(c, Command { test: "alltoall".into(), gpus: Some(16), gpus_per_node: Some(8) });
        let c = parse_command("mpirun --map-by ppr:4:node -np 8 all_gather_perf -t 1 -g 1").unwrap();
        assert_eq!(c.gpus_per_node, Some(4));
        let c = parse_command("./build/reduce_scatter_perf -g 8 -n 100").unwrap();
        assert_eq!((c.gpus, c.gpus_per_node), (Some(8), None));
        let c = parse_command("mpirun --hostfile h ./all_reduce_perf -g 1").unwrap();
        assert_eq!(c.gpus, None, "mpirun without -np leaves the count open");
        assert!(parse_command("echo hello").is_none());
        assert_eq!(nodes_from_name(Path::new("h100_2node_4gpu_each_allreduce.log")), Some(2));
        assert_eq!(nodes_from_name(Path::new("gcp_a3mega_h100_2node16gpu_tcpxo.log")), Some(2));
        assert_eq!(nodes_from_name(Path::new("run.log")), None);
        assert_eq!(collective_from_name(Path::new("x_allreduce.log")), Some(Collective::AllReduce));
        assert_eq!(collective_from_name(Path::new("x_allreduce_allgather.log")), None);
        assert_eq!(strip_tag("[1,0]<stdout>:# Rank 0"), "# Rank 0");
    }

    #[test]
    fn tagged_output_and_multiple_tables() {
        let one = OCI.lines().map(|l| format!("[1,0]<stdout>:{l}\n")).collect::<String>();
        let text = format!("{one}# Avg bus bandwidth : 1\n{}", OCI.replace("all_reduce_perf", "all_reduce_perf -g 1"));
        let s = Scratch::new("nccl-multi");
        let ds = load_file(&s.file("two_2node.txt", &text)).unwrap();
        assert_eq!(ds.collectives.len(), 4);
        assert_eq!(ds.files.len(), 1);
        assert_eq!(ds.collectives[3].at.line, 13);
    }
}
