//! KV-cache transfer tables: any CSV with one **bytes** column and one **time** column.
//!
//! Bytes column: `bytes`, `kv_bytes` or `kv_bytes_approx` (a whole number; float notation such as
//! `20e6` or `1.58e9` is accepted when it is exactly whole). Time column, with its unit:
//! `time_s` (s), `time_ms` (ms), `time_us` (us), `transfer_ms` (ms, Mooncake's SGLang table),
//! `actual_transfer_ms` (ms, Mooncake's vLLM table). Exactly one of each, or the header is an error;
//! other columns (`prompt_tokens`, `ttft_ms`, `bw_GBps`, ...) are ignored.
//!
//! The simple form users provide is therefore e.g.
//!
//! ```text
//! bytes,time_ms
//! 20000000,0.54
//! 146e6,1.50
//! ```
//!
//! The Mooncake EFA transfer-engine bench (bandwidth against block size, no transfer time) is not a
//! transfer-time table; it is allow-listed by its header (`block_size_B` with `write_GBps` /
//! `read_GBps`) and skipped.

use super::super::data::{Dataset, KvTransferSample};
use super::fields::{push_source, Records, Table};
use super::CalibError;

const BYTES_COLS: [&str; 3] = ["bytes", "kv_bytes", "kv_bytes_approx"];
const TIME_COLS: [(&str, f64); 5] =
    [("time_s", 1.0), ("time_ms", 1e3), ("time_us", 1e6), ("transfer_ms", 1e3), ("actual_transfer_ms", 1e3)];
const COLS: &str = "one bytes column (bytes, kv_bytes or kv_bytes_approx) and one time column (time_s, time_ms, \
                    time_us, transfer_ms or actual_transfer_ms)";

pub(super) fn has_bytes_column(t: &Table) -> bool {
    BYTES_COLS.iter().any(|c| t.has(c))
}

pub(super) fn has_time_column(t: &Table) -> bool {
    TIME_COLS.iter().any(|(c, _)| t.has(c))
}

fn header_err(t: &Table, problem: String) -> CalibError {
    CalibError::Header { path: t.path.to_path_buf(), line: t.line, column: 1, problem, expected: COLS.into() }
}

pub(super) fn read(t: &Table, records: &mut Records, out: &mut Dataset) -> Result<(), CalibError> {
    let bytes: Vec<usize> = BYTES_COLS.iter().filter_map(|c| t.find(c)).collect();
    let times: Vec<(usize, f64, &str)> = TIME_COLS.iter().filter_map(|&(c, s)| Some((t.find(c)?, s, c))).collect();
    if bytes.len() != 1 {
        return Err(header_err(t, "KV-transfer table with several bytes columns".into()));
    }
    let (time, scale, unit) = match times.as_slice() {
        [one] => *one,
        [] => return Err(header_err(t, "KV-transfer table with a bytes column but no time column".into())),
        _ => return Err(header_err(t, "KV-transfer table with several time columns".into())),
    };
    let expected = format!("a positive transfer time ({unit})");
    let before = out.kv_transfer.len();
    while let Some(rec) = records.next_record()? {
        let row = t.row(rec)?;
        out.kv_transfer.push(KvTransferSample {
            bytes: row.count(bytes[0], 1)?,
            latency_s: row.positive(time, scale, &expected)?,
            at: row.at(),
        });
    }
    push_source(out, t.path, "kv_transfer", out.kv_transfer.len() - before);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::Scratch;
    use super::super::{load_file, CalibError, ValueProblem};

    // kv-transfer/vllm_pd_mooncakeconnector_h800_qwen3_8b.csv lines 1-3 and
    // kv-transfer/sglang_pd_mooncake_h20_qwen3_235b.csv lines 1-2.
    const VLLM: &str =
        "prompt_tokens,mean_ttft_ms,kv_size,kv_bytes_approx,actual_transfer_ms,actual_bw_GBps,bw_utilization_pct\n\
        128,46.09,20 MB,20e6,0.54,36.53,18.3\n\
        256,48.04,38 MB,38e6,0.61,60.78,30.4\n";
    const SGLANG: &str = "prompt_tokens,ttft_ms,kv_size,kv_bytes_approx,transfer_ms,bw_GBps,bw_utilization_pct\n\
        4096,304.02,1.58 GB,1.58e9,10.95,144.05,72.0\n";

    #[test]
    fn mooncake_tables() {
        let s = Scratch::new("kv");
        let ds = load_file(&s.file("v.csv", VLLM)).unwrap();
        assert_eq!(ds.kv_transfer.len(), 2);
        assert_eq!(ds.kv_transfer[0].bytes, 20_000_000);
        assert!((ds.kv_transfer[0].latency_s - 0.54e-3).abs() < 1e-18);
        let ds = load_file(&s.file("s.csv", SGLANG)).unwrap();
        assert_eq!(ds.kv_transfer[0].bytes, 1_580_000_000);
        assert!((ds.kv_transfer[0].latency_s - 10.95e-3).abs() < 1e-15);
        assert_eq!((ds.files[0].kind, ds.files[0].rows), ("kv_transfer", 1));
    }

    #[test]
    fn simple_tables_in_s_ms_us() {
        let s = Scratch::new("kv-simple");
        for (unit, want) in [("time_s", 2.0), ("time_ms", 2e-3), ("time_us", 2e-6)] {
            let ds = load_file(&s.file(&format!("{unit}.csv"), &format!("bytes,{unit}\n1048576,2\n"))).unwrap();
            assert_eq!(ds.kv_transfer[0].bytes, 1_048_576);
            assert_eq!(ds.kv_transfer[0].latency_s, want, "{unit}");
        }
    }

    #[test]
    fn kv_errors() {
        let s = Scratch::new("kv-err");
        let e = load_file(&s.file("a.csv", "bytes\n5\n")).unwrap_err();
        assert!(matches!(e, CalibError::Header { line: 1, .. }), "{e}");
        let e = load_file(&s.file("b.csv", "bytes,time_ms,time_us\n5,1,1000\n")).unwrap_err();
        assert!(e.to_string().contains("several time columns"), "{e}");
        let e = load_file(&s.file("c.csv", "bytes,time_ms\n1.5e3,1\n2.5,1\n")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 3, column: 1, problem: ValueProblem::NotWhole, .. }), "{e}");
        let e = load_file(&s.file("d.csv", "bytes,time_ms\n100,-1\n")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 2, column: 2, problem: ValueProblem::NotPositive, .. }), "{e}");
        let e = load_file(&s.file("e.csv", "bytes,time_ms\n100,1\n200\n")).unwrap_err();
        assert!(matches!(e, CalibError::FieldCount { line: 3, column: 2, found: 1, expected: 2, .. }), "{e}");
        let e = load_file(&s.file("f.csv", "bytes,time_ms\n100,\"1\n")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 2, column: 2, problem: ValueProblem::LineBreak, .. }), "{e}");
    }
}
