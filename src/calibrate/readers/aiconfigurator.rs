//! aiconfigurator `systems/data/<system>` perf tables (parquet converted to CSV, columns unchanged).
//!
//! Common to all: `latency` is in **milliseconds** and becomes seconds; `framework` (`TRTLLM`,
//! `VLLM`, `vLLM`, `SGLANG`, ...) becomes lower case (`trtllm`, `vllm`, `sglang`); extra columns
//! (`version`, `device`, `kernel_source`, `power`, ...) are ignored.
//!
//! * **GEMM** (`gemm_dtype, m, n, k, latency`): `gemm_dtype` `bfloat16`/`bf16` -> `Bf16`, `fp8` ->
//!   `Fp8`, `fp8_block` -> `Fp8Block`. Rows of any other dtype (int4/w4a8/nvfp4 variants, fp16, ...)
//!   are skipped silently: [`GemmDtype`] has no variant for them. An `op_name` other than `gemm` is
//!   an error.
//! * **Attention** (`batch_size, isl, num_heads, num_key_value_heads, head_dim, window_size,
//!   kv_cache_dtype, step, latency`): the phase comes from `op_name` (`context_attention` /
//!   `generation_attention`), or from the file name (`context_...` / `generation_...`) when there is
//!   no `op_name` column. Heads are per GPU. `kv_cache_dtype` `bfloat16`/`float16` -> 2 bytes,
//!   `fp8`/`int8` -> 1 byte; `window_size` 0 = full attention (a missing `window_size` column means
//!   0). Context: `isl` is the prompt length per sequence; `step` (the already-cached prefix) is 0 in
//!   every aiconfigurator context row. Generation: aiconfigurator's collector benchmarks one new
//!   token per sequence (`isl` = 1) attending over `step` tokens already in the KV cache
//!   (`num_cached_tokens_per_seq = step`); so `ctx = step` (1, 3, 7, ..., 131071 here), and `isl` is
//!   not the prompt length.
//!
//!   Skipped silently, because the samples have no field to tell them apart and mixing them would
//!   fit a wrong curve: rows with `attn_dtype` other than 16-bit (TensorRT-LLM's fp8 context FMHA,
//!   `attn_dtype = fp8`, 25 433 rows of the trtllm context table), KV dtypes other than the four
//!   above, `beam_width > 1`, context rows with `step > 0` (prefix-cached prefill) and generation
//!   rows with `isl != 1` (several query tokens per sequence, e.g. speculative decoding).
//!   `num_key_value_heads` must divide `num_heads`.
//! * **NCCL / custom all-reduce** (`op_name, nccl_dtype | allreduce_dtype, num_gpus, message_size,
//!   latency`): `message_size` is an **element count** (aiconfigurator divides nccl-tests' byte size
//!   by the element size), so `bytes = message_size x sizeof(dtype)` with half/float16/bfloat16 = 2,
//!   float/float32/int32 = 4, int8/uint8/fp8 = 1, double/int64 = 8; an unknown dtype is an error.
//!   `op_name` `all_reduce`/`all_gather`/`reduce_scatter`/`alltoall` (also `send_recv`) ->
//!   [`Collective`]. `kernel` is `nccl` for the NCCL table (`nccl_dtype` column); for custom
//!   all-reduce it is the `implementation` column (`trtllm`), else the `backend` column (vLLM's
//!   `vllm_graph` / `vllm_eager`, kept apart because the eager kernel is ~5x slower at small sizes),
//!   else the lower-case framework. `gpus_per_node = gpus` (one 8-GPU HGX node).
//! * **MoE** (`op_name, kernel_source, moe_dtype, num_tokens, hidden_size, inter_size, topk,
//!   num_experts, moe_tp_size, moe_ep_size, distribution, latency`): one layer's routed experts on
//!   one GPU (see [`MoeSample`]). `moe_dtype` as `gemm_dtype`; `distribution` `balanced`,
//!   `power_law_1.01` or `power_law_1.2` ([`ExpertLoad`]). Skipped silently: other dtypes (int4,
//!   MXFP4, NVFP4: no [`GemmDtype`] for them yet), other distributions, and kernels that are not
//!   SwiGLU-gated (`kernel_source` with `nongated`, TensorRT-LLM's Relu2 path for Nemotron; or
//!   `situ_as_silu`, Kimi-K3 rows run with another epilogue). `moe_ep_size` must divide
//!   `num_experts`, `topk` must not exceed it. An `op_name` other than `moe` is an error.

use super::super::data::{
    Collective, CollectiveSample, ContextAttentionSample, Dataset, GemmDtype, GemmSample, GenerationAttentionSample,
    MoeSample,
};
use super::fields::{push_source, Records, Row, Table};
use super::{CalibError, ValueProblem};
use crate::spec::model::ExpertLoad;

const MS: f64 = 1e3;
const LATENCY_MS: &str = "a positive latency in ms";

/// `framework` lower-cased; a name, not free text.
fn framework(row: &Row, i: usize) -> Result<String, CalibError> {
    let s = row.text(i)?;
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
        return Err(row.err(i, ValueProblem::UnknownName, "a framework name such as TRTLLM, VLLM, SGLANG"));
    }
    Ok(s.to_ascii_lowercase())
}

/// `gemm_dtype` / `moe_dtype`: the formats [`GemmDtype`] has (`None`: a row to skip).
fn weight_dtype(s: &str) -> Option<GemmDtype> {
    match s {
        "bfloat16" | "bf16" => Some(GemmDtype::Bf16),
        "fp8" => Some(GemmDtype::Fp8),
        "fp8_block" => Some(GemmDtype::Fp8Block),
        _ => None,
    }
}

/// A table of one op: an `op_name` column, where there is one, names it on every row.
fn expect_op(row: &Row, op: Option<usize>, name: &str) -> Result<(), CalibError> {
    match op {
        Some(op) if row.text(op)? != name => {
            Err(row.err(op, ValueProblem::UnknownName, &format!("`{name}` in a {name} table")))
        }
        _ => Ok(()),
    }
}

const GEMM_COLS: &str = "framework, gemm_dtype, m, n, k, latency (ms)";

pub(super) fn read_gemm(t: &Table, records: &mut Records, out: &mut Dataset) -> Result<(), CalibError> {
    let fmt = "aiconfigurator gemm";
    let fw = t.require("framework", fmt, GEMM_COLS)?;
    let dt = t.require("gemm_dtype", fmt, GEMM_COLS)?;
    let (m, n, k) = (t.require("m", fmt, GEMM_COLS)?, t.require("n", fmt, GEMM_COLS)?, t.require("k", fmt, GEMM_COLS)?);
    let lat = t.require("latency", fmt, GEMM_COLS)?;
    let op = t.find("op_name");
    let before = out.gemm.len();
    while let Some(rec) = records.next_record()? {
        let row = t.row(rec)?;
        expect_op(&row, op, "gemm")?;
        let Some(dtype) = weight_dtype(row.text(dt)?) else { continue };
        out.gemm.push(GemmSample {
            framework: framework(&row, fw)?,
            dtype,
            m: row.count(m, 1)?,
            n: row.count(n, 1)?,
            k: row.count(k, 1)?,
            latency_s: row.positive(lat, MS, LATENCY_MS)?,
            at: row.at(),
        });
    }
    push_source(out, t.path, "gemm", out.gemm.len() - before);
    Ok(())
}

const MOE_COLS: &str = "framework, kernel_source, moe_dtype, num_tokens, hidden_size, inter_size, topk, num_experts, \
                        moe_tp_size, moe_ep_size, distribution, latency (ms)";

pub(super) fn read_moe(t: &Table, records: &mut Records, out: &mut Dataset) -> Result<(), CalibError> {
    let fmt = "aiconfigurator moe";
    let col = |name: &str| t.require(name, fmt, MOE_COLS);
    let (fw, kernel, dt, tokens) = (col("framework")?, col("kernel_source")?, col("moe_dtype")?, col("num_tokens")?);
    let (hidden, inter, topk, experts) = (col("hidden_size")?, col("inter_size")?, col("topk")?, col("num_experts")?);
    let (tp, ep, dist, lat) = (col("moe_tp_size")?, col("moe_ep_size")?, col("distribution")?, col("latency")?);
    let op = t.find("op_name");
    let before = out.moe.len();
    while let Some(rec) = records.next_record()? {
        let row = t.row(rec)?;
        expect_op(&row, op, "moe")?;
        let Some(dtype) = weight_dtype(row.text(dt)?) else { continue };
        let Some(load) = ExpertLoad::parse(row.text(dist)?) else { continue };
        let kernel_source = row.text(kernel)?;
        if kernel_source.contains("nongated") || kernel_source.contains("situ_as_silu") {
            continue;
        }
        let experts_v = row.count(experts, 1)?;
        let ep_v = row.count(ep, 1)?;
        if experts_v % ep_v != 0 {
            return Err(row.err(ep, ValueProblem::OutOfRange, "an EP size dividing num_experts"));
        }
        let topk_v = row.count(topk, 1)?;
        if topk_v > experts_v {
            return Err(row.err(topk, ValueProblem::OutOfRange, "a top-k of at most num_experts"));
        }
        out.moe.push(MoeSample {
            framework: framework(&row, fw)?,
            kernel: kernel_source.to_string(),
            dtype,
            tokens: row.count(tokens, 1)?,
            hidden: row.count(hidden, 1)?,
            inter: row.count(inter, 1)?,
            topk: topk_v,
            experts: experts_v,
            moe_tp: row.count(tp, 1)?,
            moe_ep: ep_v,
            load,
            latency_s: row.positive(lat, MS, LATENCY_MS)?,
            at: row.at(),
        });
    }
    push_source(out, t.path, "moe", out.moe.len() - before);
    Ok(())
}

const ATTN_COLS: &str = "framework, op_name, batch_size, isl, num_heads, num_key_value_heads, head_dim, \
                         window_size, kv_cache_dtype, step, latency (ms)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Context,
    Generation,
}

pub(super) fn read_attention(t: &Table, records: &mut Records, out: &mut Dataset) -> Result<(), CalibError> {
    let fmt = "aiconfigurator attention";
    let fw = t.require("framework", fmt, ATTN_COLS)?;
    let batch = t.require("batch_size", fmt, ATTN_COLS)?;
    let isl = t.require("isl", fmt, ATTN_COLS)?;
    let heads = t.require("num_heads", fmt, ATTN_COLS)?;
    let kv_heads = t.require("num_key_value_heads", fmt, ATTN_COLS)?;
    let head_dim = t.require("head_dim", fmt, ATTN_COLS)?;
    let kv_dtype = t.require("kv_cache_dtype", fmt, ATTN_COLS)?;
    let step = t.require("step", fmt, ATTN_COLS)?;
    let lat = t.require("latency", fmt, ATTN_COLS)?;
    let window = t.find("window_size");
    let attn_dtype = t.find("attn_dtype");
    let beam = t.find("beam_width");
    let op = t.find("op_name");
    let name = t.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let file_phase = if name.starts_with("context") {
        Some(Phase::Context)
    } else if name.starts_with("generation") {
        Some(Phase::Generation)
    } else {
        None
    };
    if op.is_none() && file_phase.is_none() {
        return Err(CalibError::Header {
            path: t.path.to_path_buf(),
            line: t.line,
            column: 1,
            problem: "attention table with no `op_name` column and a file name that names no phase".into(),
            expected: "an `op_name` column (context_attention / generation_attention) or a file name starting \
                       with context_ or generation_"
                .into(),
        });
    }
    let (ctx_before, gen_before) = (out.context_attention.len(), out.generation_attention.len());
    let mut saw = (false, false);
    while let Some(rec) = records.next_record()? {
        let row = t.row(rec)?;
        let phase = match op {
            Some(op) => match row.text(op)? {
                "context_attention" => Phase::Context,
                "generation_attention" => Phase::Generation,
                _ => return Err(row.err(op, ValueProblem::UnknownName, "context_attention or generation_attention")),
            },
            None => file_phase.expect("checked above"),
        };
        match phase {
            Phase::Context => saw.0 = true,
            Phase::Generation => saw.1 = true,
        }
        if let Some(a) = attn_dtype {
            if !matches!(row.text(a)?, "bfloat16" | "bf16" | "float16" | "fp16") {
                continue;
            }
        }
        if let Some(b) = beam {
            if row.count(b, 1)? != 1 {
                continue;
            }
        }
        let kv_bytes = match row.text(kv_dtype)? {
            "bfloat16" | "bf16" | "float16" | "fp16" => 2,
            "fp8" | "int8" => 1,
            _ => continue,
        };
        let step_v = row.count(step, 0)?;
        let isl_v = row.count(isl, 1)?;
        match phase {
            Phase::Context if step_v != 0 => continue,
            Phase::Generation if isl_v != 1 => continue,
            _ => {}
        }
        let h = row.count(heads, 1)?;
        let kvh = row.count(kv_heads, 1)?;
        if kvh > h || h % kvh != 0 {
            return Err(t.inconsistent(
                row.line,
                kv_heads,
                format!("num_key_value_heads {kvh} does not divide num_heads {h}"),
                "KV heads that divide the query heads".into(),
            ));
        }
        let framework = framework(&row, fw)?;
        let batch_v = row.count(batch, 1)?;
        let head_dim_v = row.count(head_dim, 1)?;
        let window_v = match window {
            Some(w) => row.count(w, 0)?,
            None => 0,
        };
        let latency_s = row.positive(lat, MS, LATENCY_MS)?;
        match phase {
            Phase::Context => out.context_attention.push(ContextAttentionSample {
                framework,
                batch: batch_v,
                isl: isl_v,
                heads: h,
                kv_heads: kvh,
                head_dim: head_dim_v,
                kv_bytes,
                window: window_v,
                latency_s,
                at: row.at(),
            }),
            Phase::Generation => {
                if step_v == 0 {
                    return Err(row.err(step, ValueProblem::NotPositive, "a cached KV length >= 1"));
                }
                out.generation_attention.push(GenerationAttentionSample {
                    framework,
                    batch: batch_v,
                    ctx: step_v,
                    heads: h,
                    kv_heads: kvh,
                    head_dim: head_dim_v,
                    kv_bytes,
                    window: window_v,
                    latency_s,
                    at: row.at(),
                })
            }
        }
    }
    if saw.0 {
        push_source(out, t.path, "context_attention", out.context_attention.len() - ctx_before);
    }
    if saw.1 {
        push_source(out, t.path, "generation_attention", out.generation_attention.len() - gen_before);
    }
    Ok(())
}

const COLL_COLS: &str = "op_name, nccl_dtype or allreduce_dtype, num_gpus, message_size (elements), latency (ms), \
                         and for custom all-reduce implementation or backend or framework";

/// Bytes per element of an NCCL / all-reduce dtype name.
pub(super) fn dtype_bytes(name: &str) -> Option<u64> {
    Some(match name.to_ascii_lowercase().as_str() {
        "int8" | "uint8" | "char" | "fp8" | "fp8e4m3" | "fp8e5m2" | "f8e4m3" | "f8e5m2" | "float8" => 1,
        "half" | "float16" | "fp16" | "bfloat16" | "bf16" => 2,
        "float" | "float32" | "fp32" | "int32" | "uint32" | "int" => 4,
        "double" | "float64" | "fp64" | "int64" | "uint64" => 8,
        _ => return None,
    })
}

/// A collective name in aiconfigurator's / vidur's spelling.
pub(super) fn collective(name: &str) -> Option<Collective> {
    Some(match name {
        "all_reduce" | "allreduce" => Collective::AllReduce,
        "all_gather" | "allgather" => Collective::AllGather,
        "reduce_scatter" | "reducescatter" => Collective::ReduceScatter,
        "alltoall" | "all_to_all" => Collective::AllToAll,
        "send_recv" | "sendrecv" => Collective::SendRecv,
        _ => return None,
    })
}

pub(super) fn read_collective(t: &Table, records: &mut Records, out: &mut Dataset) -> Result<(), CalibError> {
    let fmt = "aiconfigurator collective";
    let op = t.require("op_name", fmt, COLL_COLS)?;
    let nccl = t.find("nccl_dtype");
    let dtype = match nccl.or(t.find("allreduce_dtype")) {
        Some(i) => i,
        None => t.require("nccl_dtype", fmt, COLL_COLS)?,
    };
    let gpus = t.require("num_gpus", fmt, COLL_COLS)?;
    let size = t.require("message_size", fmt, COLL_COLS)?;
    let lat = t.require("latency", fmt, COLL_COLS)?;
    let kernel_col = match nccl {
        Some(_) => None,
        None => Some(match t.find("implementation").or(t.find("backend")) {
            Some(i) => i,
            None => t.require("framework", "aiconfigurator custom all-reduce", COLL_COLS)?,
        }),
    };
    let before = out.collectives.len();
    while let Some(rec) = records.next_record()? {
        let row = t.row(rec)?;
        let collective = collective(row.text(op)?).ok_or_else(|| {
            row.err(op, ValueProblem::UnknownName, "all_reduce, all_gather, reduce_scatter, alltoall or send_recv")
        })?;
        let elem = dtype_bytes(row.text(dtype)?).ok_or_else(|| {
            row.err(dtype, ValueProblem::UnknownName, "half, bfloat16, float, int8, fp8 or another known dtype")
        })?;
        let kernel = match kernel_col {
            None => "nccl".to_string(),
            Some(k) => framework(&row, k)?,
        };
        let count = row.count(size, 1)?;
        let bytes = count
            .checked_mul(elem)
            .ok_or_else(|| row.err(size, ValueProblem::OutOfRange, "an element count whose bytes fit 64 bits"))?;
        let gpus_v = row.u32_count(gpus, 1)?;
        out.collectives.push(CollectiveSample {
            collective,
            kernel,
            gpus: gpus_v,
            gpus_per_node: gpus_v,
            bytes,
            latency_s: row.positive(lat, MS, LATENCY_MS)?,
            at: row.at(),
        });
    }
    push_source(out, t.path, "collective", out.collectives.len() - before);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::Scratch;
    use super::super::{load_file, CalibError, ValueProblem};
    use super::*;

    // Header and rows: aiconfigurator-h100/gemm_perf.trtllm-1.3.0rc20.csv (line 24269 is the 8192^3 row).
    const GEMM: &str = "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency\n\
        TRTLLM,1.3.0rc20,NVIDIA H100 80GB HBM3,gemm,torch_flow,bfloat16,8192,8192,8192,1.4047840436299641\n\
        TRTLLM,1.3.0rc20,NVIDIA H100 80GB HBM3,gemm,torch_flow,fp8_block,1,2,3,0.01\n\
        TRTLLM,1.3.0rc20,NVIDIA H100 80GB HBM3,gemm,torch_flow,int4_wo,1,2,3,0.01\n\
        VLLM,0.19.0,NVIDIA H100 80GB HBM3,gemm,vllm_default,fp8,32768,65536,12288,76.48566351996529\n";

    fn load(name: &str, text: &str) -> Result<Dataset, CalibError> {
        let s = Scratch::new(&format!("aic-{name}"));
        load_file(&s.file(name, text))
    }

    #[test]
    fn gemm_ms_to_seconds_and_dtypes() {
        let ds = load("gemm_perf.x.csv", GEMM).unwrap();
        assert_eq!(ds.gemm.len(), 3, "int4 row skipped");
        let g = &ds.gemm[0];
        assert_eq!((g.framework.as_str(), g.dtype, g.m, g.n, g.k), ("trtllm", GemmDtype::Bf16, 8192, 8192, 8192));
        assert!((g.latency_s - 1.404_784_043_629_964e-3).abs() < 1e-18, "ms -> s");
        assert_eq!(g.at.line, 2);
        assert_eq!(ds.gemm[1].dtype, GemmDtype::Fp8Block);
        assert_eq!((ds.gemm[2].framework.as_str(), ds.gemm[2].dtype, ds.gemm[2].at.line), ("vllm", GemmDtype::Fp8, 5));
        assert_eq!(ds.files.len(), 1);
        assert_eq!((ds.files[0].kind, ds.files[0].rows), ("gemm", 3));
    }

    #[test]
    fn gemm_recognised_by_header_not_name() {
        let ds = load("whatever.csv", GEMM).unwrap();
        assert_eq!(ds.gemm.len(), 3);
    }

    #[test]
    fn gemm_errors() {
        let h = "framework,version,device,op_name,kernel_source,gemm_dtype,m,n,k,latency\n";
        // Truncated last line.
        let e = load("gemm_perf.a.csv", &format!("{h}TRTLLM,1,H100,gemm,torch_flow,bfloat16,8192,8192")).unwrap_err();
        assert!(matches!(e, CalibError::FieldCount { line: 2, column: 9, found: 8, expected: 10, .. }), "{e}");
        assert!(e.to_string().contains("gemm_perf.a.csv:2:9: 8 fields (too few"), "{e}");
        // Non-numeric, zero, negative, NaN, inf.
        for (v, p) in [
            ("abc", ValueProblem::NotANumber),
            ("0", ValueProblem::NotPositive),
            ("-1.5", ValueProblem::NotPositive),
            ("NaN", ValueProblem::NotFinite),
            ("inf", ValueProblem::NotFinite),
            ("", ValueProblem::Empty),
        ] {
            let e = load("gemm_perf.b.csv", &format!("{h}TRTLLM,1,H100,gemm,t,bfloat16,1,2,3,{v}\n")).unwrap_err();
            match &e {
                CalibError::Value { line: 2, column: 10, field, problem, .. } => {
                    assert_eq!((field.as_str(), *problem), ("latency", p), "{e}")
                }
                _ => panic!("{v}: {e}"),
            }
        }
        let e = load("gemm_perf.c.csv", &format!("{h}TRTLLM,1,H100,gemm,t,bfloat16,0,2,3,1\n")).unwrap_err();
        assert!(matches!(e, CalibError::Value { column: 7, problem: ValueProblem::NotPositive, .. }), "{e}");
        let e = load("gemm_perf.c.csv", &format!("{h}TRTLLM,1,H100,gemm,t,bfloat16,1.5,2,3,1\n")).unwrap_err();
        assert!(matches!(e, CalibError::Value { column: 7, problem: ValueProblem::NotWhole, .. }), "{e}");
        // Missing column: a damaged gemm file is named by its header's problem.
        let e = load("gemm_perf.d.csv", "framework,gemm_dtype,m,n,latency\nTRTLLM,fp8,1,2,3\n").unwrap_err();
        assert!(matches!(e, CalibError::Header { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("no `k` column"), "{e}");
        // Header only.
        let e = load("gemm_perf.e.csv", h).unwrap_err();
        assert!(matches!(e, CalibError::NoData { line: 1, .. }), "{e}");
        // Wrong op in a gemm table.
        let e = load("gemm_perf.f.csv", &format!("{h}TRTLLM,1,H100,moe,t,bfloat16,1,2,3,1\n")).unwrap_err();
        assert!(matches!(e, CalibError::Value { column: 4, problem: ValueProblem::UnknownName, .. }), "{e}");
        // Duplicate column.
        let e = load("gemm_perf.g.csv", "framework,gemm_dtype,m,n,k,latency,m\nT,fp8,1,2,3,4,5\n").unwrap_err();
        assert!(matches!(e, CalibError::Header { column: 7, .. }), "{e}");
        // Not UTF-8.
        let sc = Scratch::new("aic-utf8");
        let p = sc.0.join("gemm_perf.u.csv");
        std::fs::write(&p, [h.as_bytes(), b"TRT\xffLLM,1,H100,gemm,t,bfloat16,1,2,3,1\n"].concat()).unwrap();
        let e = load_file(&p).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 2, column: 1, problem: ValueProblem::NotText, .. }), "{e}");
        // Too many fields.
        let e = load("gemm_perf.h.csv", &format!("{h}TRTLLM,1,H100,gemm,t,bfloat16,1,2,3,1,9\n")).unwrap_err();
        assert!(matches!(e, CalibError::FieldCount { found: 11, expected: 10, .. }), "{e}");
    }

    // Header and first rows: context_attention_perf.trtllm-1.3.0rc20.csv and
    // generation_attention_perf.vllm-0.19.0.csv (column orders differ between the two frameworks).
    const CTX: &str = "framework,version,device,op_name,kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,window_size,beam_width,attn_dtype,kv_cache_dtype,step,latency\n\
        TRTLLM,1.3.0rc20,NVIDIA H100 80GB HBM3,context_attention,torch_flow,16,8192,96,1,128,0,1,bfloat16,bfloat16,0,53.49678039550781\n\
        TRTLLM,1.3.0rc20,NVIDIA H100 80GB HBM3,context_attention,torch_flow,8,12288,96,2,256,0,1,bfloat16,fp8,0,47.063629150390625\n\
        TRTLLM,1.3.0rc20,NVIDIA H100 80GB HBM3,context_attention,torch_flow,8,12288,96,2,256,0,1,fp8,fp8,0,30.0\n";
    const GEN: &str = "framework,version,device,op_name,kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,beam_width,attn_dtype,kv_cache_dtype,step,window_size,latency\n\
        VLLM,0.19.0,NVIDIA H100 80GB HBM3,generation_attention,vllm_flash_attn,32,1,64,1,128,1,bfloat16,fp8,1,128,0.010698666175206503\n\
        VLLM,0.19.0,NVIDIA H100 80GB HBM3,generation_attention,vllm_flash_attn,32,1,64,1,128,1,bfloat16,bfloat16,131071,0,1.5\n";

    #[test]
    fn context_attention() {
        let ds = load("context_attention_perf.t.csv", CTX).unwrap();
        assert_eq!(ds.context_attention.len(), 2, "fp8 FMHA row skipped");
        let c = &ds.context_attention[0];
        assert_eq!(
            (c.batch, c.isl, c.heads, c.kv_heads, c.head_dim, c.kv_bytes, c.window),
            (16, 8192, 96, 1, 128, 2, 0)
        );
        assert!((c.latency_s - 53.49678039550781e-3).abs() < 1e-15);
        assert_eq!(ds.context_attention[1].kv_bytes, 1);
        assert_eq!((ds.files[0].kind, ds.files[0].rows), ("context_attention", 2));
    }

    #[test]
    fn generation_attention_ctx_is_step() {
        let ds = load("generation_attention_perf.v.csv", GEN).unwrap();
        assert_eq!(ds.generation_attention.len(), 2);
        let g = &ds.generation_attention[0];
        assert_eq!((g.framework.as_str(), g.batch, g.ctx, g.kv_bytes, g.window), ("vllm", 32, 1, 1, 128));
        assert!((g.latency_s - 0.010698666175206503e-3).abs() < 1e-18);
        assert_eq!((ds.generation_attention[1].ctx, ds.generation_attention[1].kv_bytes), (131_071, 2));
    }

    #[test]
    fn attention_errors() {
        let bad_kv = CTX.replace(",96,1,128,0,1,bfloat16,bfloat16,0,", ",96,7,128,0,1,bfloat16,bfloat16,0,");
        let e = load("context_attention_perf.x.csv", &bad_kv).unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 2, column: 9, .. }), "{e}");
        let bad_op = GEN.replace(
            "generation_attention,vllm_flash_attn,32,1,64,1,128,1,bfloat16,fp8",
            "mla,x,32,1,64,1,128,1,bfloat16,fp8",
        );
        let e = load("generation_attention_perf.x.csv", &bad_op).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 2, column: 4, problem: ValueProblem::UnknownName, .. }), "{e}");
        let zero_step = GEN.replace(",bfloat16,bfloat16,131071,0,1.5", ",bfloat16,bfloat16,0,0,1.5");
        let e = load("generation_attention_perf.y.csv", &zero_step).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 3, column: 14, problem: ValueProblem::NotPositive, .. }), "{e}");
        // No op_name and a name that says nothing.
        let e = load("attn.csv", "framework,batch_size,isl,num_heads,num_key_value_heads,head_dim,kv_cache_dtype,step,latency\nT,1,1,1,1,1,fp8,1,1\n")
            .unwrap_err();
        assert!(matches!(e, CalibError::Header { .. }), "{e}");
    }

    // custom_allreduce_perf.trtllm-1.3.0rc20.csv line 62, custom_allreduce_perf.vllm-0.19.0.csv lines 122-123,
    // nccl_perf.nccl-2.29.2.csv lines 2 and 464.
    const CUSTOM_TRT: &str =
        "framework,version,device,op_name,kernel_source,allreduce_dtype,num_gpus,message_size,latency,implementation\n\
        TRTLLM,1.3.0rc20,NVIDIA H100 80GB HBM3,all_reduce,TRTLLM,bfloat16,8,2097152,0.05190271854400634,trtllm\n";
    const CUSTOM_VLLM: &str = "framework,version,device,op_name,kernel_source,allreduce_dtype,num_gpus,message_size,latency,backend\n\
        vLLM,0.19.0,NVIDIA H100 80GB HBM3,all_reduce,vLLM_custom_graph,bfloat16,8,2097152,0.030569920539855956,vllm_graph\n\
        vLLM,0.19.0,NVIDIA H100 80GB HBM3,all_reduce,vLLM_custom_eager,bfloat16,8,2097152,0.043369598388671875,vllm_eager\n";
    const NCCL: &str = "framework,version,device,op_name,kernel_source,nccl_dtype,num_gpus,message_size,latency\n\
        TRTLLM,2.29.2,NVIDIA H100 80GB HBM3,all_gather,NCCL,half,2,256,0.00531\n\
        TRTLLM,2.29.2,NVIDIA H100 80GB HBM3,all_reduce,NCCL,half,8,256,0.01559\n\
        TRTLLM,2.29.2,NVIDIA H100 80GB HBM3,alltoall,NCCL,int8,4,1024,0.02\n";

    #[test]
    fn collectives_count_elements_not_bytes() {
        let ds = load("custom_allreduce_perf.trtllm.csv", CUSTOM_TRT).unwrap();
        let c = &ds.collectives[0];
        assert_eq!((c.collective, c.kernel.as_str(), c.gpus, c.gpus_per_node), (Collective::AllReduce, "trtllm", 8, 8));
        assert_eq!(c.bytes, 4_194_304, "2 097 152 bf16 elements x 2 bytes");
        assert!((c.latency_s - 5.190271854400634e-5).abs() < 1e-18);

        let ds = load("custom_allreduce_perf.vllm.csv", CUSTOM_VLLM).unwrap();
        let kernels: Vec<_> = ds.collectives.iter().map(|c| c.kernel.as_str()).collect();
        assert_eq!(kernels, ["vllm_graph", "vllm_eager"]);

        let ds = load("nccl_perf.csv", NCCL).unwrap();
        let got: Vec<_> = ds.collectives.iter().map(|c| (c.collective, c.kernel.as_str(), c.gpus, c.bytes)).collect();
        assert_eq!(
            got,
            [
                (Collective::AllGather, "nccl", 2, 512),
                (Collective::AllReduce, "nccl", 8, 512),
                (Collective::AllToAll, "nccl", 4, 1024)
            ]
        );
        assert!((ds.collectives[1].latency_s - 15.59e-6).abs() < 1e-15);
    }

    #[test]
    fn collective_errors() {
        let e = load("nccl_perf.a.csv", &NCCL.replace(",half,8,", ",complex64,8,")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 3, column: 6, problem: ValueProblem::UnknownName, .. }), "{e}");
        let e = load("nccl_perf.b.csv", &NCCL.replace("alltoall", "broadcast")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 4, column: 4, problem: ValueProblem::UnknownName, .. }), "{e}");
        let e = load("nccl_perf.c.csv", &NCCL.replace(",8,256,", ",8,-256,")).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 3, column: 8, problem: ValueProblem::NotPositive, .. }), "{e}");
        let e = load("nccl_perf.d.csv", "framework,op_name,num_gpus,message_size,latency\nT,all_reduce,2,1,1\n")
            .unwrap_err();
        assert!(e.to_string().contains("no `nccl_dtype` column"), "{e}");
    }
}
