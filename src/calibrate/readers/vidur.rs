//! vidur profiling tables (`data/profiling/{compute,network}/<device>/...`).
//!
//! * **compute** `compute/<org>/<model>/mlp.csv`: columns `time_stats.<op>.{min,max,mean,median,std}`
//!   in **milliseconds** for each operator of one layer, plus the model's config (`n_head`,
//!   `n_embd`, ...) and `num_tokens`, `num_tensor_parallel_workers`. One [`LayerOpSample`] per
//!   (row, operator) from the **median**; operators are whatever `time_stats.<op>.median` columns the
//!   header has (`emb`, `input_layernorm`, `attn_pre_proj`, `attn_rope`, `attn_post_proj`,
//!   `post_attention_layernorm`, `mlp_up_proj`, `mlp_act`, `mlp_down_proj`, `add`; phi-2 has no
//!   `post_attention_layernorm`). An **empty** median cell means vidur did not profile that operator
//!   for that row and is skipped; any other non-number is an error. `model` is `<org>/<model>` from
//!   the two directories above the file (the Hugging Face id).
//! * **network** `network/<cluster>/{all_reduce,send_recv}.csv`: `size` in **bytes** (as the README
//!   says, and as vidur's predictor reads it: `num_tokens = size / embedding_dim / 2`; it also fits
//!   the physics, 64 MiB send/recv in 0.193 ms = 348 GB/s on NVLink), times in ms (median used),
//!   `num_workers` = GPUs, `devices_per_node` = GPUs per node (`devices_per_node = 1` with 2
//!   workers: two nodes). `collective` (`all_reduce`, `send_recv`, ...) names both the
//!   [`Collective`](super::super::data::Collective) and the `time_stats.<collective>.median`
//!   column. Kernel `nccl` (torch.distributed over NCCL).

use std::path::Path;

use super::super::data::{CollectiveSample, Dataset, LayerOpSample};
use super::aiconfigurator::collective;
use super::fields::{push_source, Records, Table};
use super::{CalibError, ValueProblem};

const MS: f64 = 1e3;
const MEDIAN_MS: &str = "a positive median time in ms";

/// `(op name, column index)` of every `time_stats.<op>.median` column.
fn median_columns(t: &Table) -> Vec<(String, usize)> {
    t.names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let op = n.strip_prefix("time_stats.")?.strip_suffix(".median")?;
            (!op.is_empty()).then(|| (op.to_string(), i))
        })
        .collect()
}

/// `<org>/<model>` from `.../<org>/<model>/mlp.csv`.
fn model_id(path: &Path) -> Option<String> {
    let model_dir = path.parent()?;
    let model = model_dir.file_name()?.to_str()?;
    let org = model_dir.parent()?.file_name()?.to_str()?;
    Some(format!("{org}/{model}"))
}

const COMPUTE_COLS: &str = "time_stats.<op>.median (ms) for each operator, num_tokens, num_tensor_parallel_workers";

pub(super) fn read_compute(t: &Table, records: &mut Records, out: &mut Dataset) -> Result<(), CalibError> {
    let fmt = "vidur compute";
    let tokens = t.require("num_tokens", fmt, COMPUTE_COLS)?;
    let tp = t.require("num_tensor_parallel_workers", fmt, COMPUTE_COLS)?;
    let ops = median_columns(t);
    if ops.is_empty() {
        return Err(CalibError::Header {
            path: t.path.to_path_buf(),
            line: t.line,
            column: 1,
            problem: format!("{fmt} header has no time_stats.<op>.median column"),
            expected: format!("columns {COMPUTE_COLS}"),
        });
    }
    let model = model_id(t.path).ok_or_else(|| CalibError::Inconsistent {
        path: t.path.to_path_buf(),
        line: t.line,
        column: 1,
        problem: "cannot tell the model from the path".into(),
        expected: "a path .../<org>/<model>/mlp.csv".into(),
    })?;
    let before = out.layer_ops.len();
    while let Some(rec) = records.next_record()? {
        let row = t.row(rec)?;
        let tokens_v = row.count(tokens, 1)?;
        let tp_v = row.u32_count(tp, 1)?;
        for (op, i) in &ops {
            if row.raw(*i)?.is_empty() {
                continue;
            }
            out.layer_ops.push(LayerOpSample {
                model: model.clone(),
                op: op.clone(),
                tokens: tokens_v,
                tp: tp_v,
                latency_s: row.positive(*i, MS, MEDIAN_MS)?,
                at: row.at(),
            });
        }
    }
    push_source(out, t.path, "layer_ops", out.layer_ops.len() - before);
    Ok(())
}

const NETWORK_COLS: &str =
    "time_stats.<collective>.median (ms), num_workers, size (bytes), collective, devices_per_node";

pub(super) fn read_network(t: &Table, records: &mut Records, out: &mut Dataset) -> Result<(), CalibError> {
    let fmt = "vidur network";
    let size = t.require("size", fmt, NETWORK_COLS)?;
    let workers = t.require("num_workers", fmt, NETWORK_COLS)?;
    let per_node = t.require("devices_per_node", fmt, NETWORK_COLS)?;
    let coll = t.require("collective", fmt, NETWORK_COLS)?;
    let medians = median_columns(t);
    let before = out.collectives.len();
    while let Some(rec) = records.next_record()? {
        let row = t.row(rec)?;
        let name = row.text(coll)?;
        let collective = collective(name)
            .ok_or_else(|| row.err(coll, ValueProblem::UnknownName, "all_reduce, all_gather, send_recv, ..."))?;
        let Some(&(_, time)) = medians.iter().find(|(op, _)| op == name) else {
            return Err(t.inconsistent(
                row.line,
                coll,
                format!("collective {name} but the header has no time_stats.{name}.median column"),
                "the median time column of the row's collective".into(),
            ));
        };
        let gpus = row.u32_count(workers, 1)?;
        let gpus_per_node = row.u32_count(per_node, 1)?;
        if gpus_per_node > gpus || gpus % gpus_per_node != 0 {
            return Err(t.inconsistent(
                row.line,
                per_node,
                format!("devices_per_node {gpus_per_node} does not divide num_workers {gpus}"),
                "whole nodes".into(),
            ));
        }
        out.collectives.push(CollectiveSample {
            collective,
            kernel: "nccl".into(),
            gpus,
            gpus_per_node,
            bytes: row.count(size, 1)?,
            latency_s: row.positive(time, MS, MEDIAN_MS)?,
            at: row.at(),
        });
    }
    push_source(out, t.path, "collective", out.collectives.len() - before);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::data::Collective;
    use super::super::tests::Scratch;
    use super::super::{load_dir, load_file, CalibError, ValueProblem};

    // Shortened vidur compute header (two of the ten operators, real column names) with values from
    // vidur-h100/compute/meta-llama/Llama-2-70b-hf/mlp.csv line 2.
    const MLP: &str = "time_stats.attn_pre_proj.min,time_stats.attn_pre_proj.max,time_stats.attn_pre_proj.mean,time_stats.attn_pre_proj.median,time_stats.attn_pre_proj.std,time_stats.mlp_up_proj.min,time_stats.mlp_up_proj.max,time_stats.mlp_up_proj.mean,time_stats.mlp_up_proj.median,time_stats.mlp_up_proj.std,n_head,n_kv_head,n_embd,n_expanded_embd,vocab_size,use_gated_mlp,num_tokens,num_tensor_parallel_workers\n\
        0.929,1.037,0.9795999999999999,0.9824999999999999,0.030297524651363823,5.268,5.968,5.636450000000001,5.6685,0.20111948562981166,64,8,8192,28672,32768,True,4096,1\n\
        0.929,1.037,0.97,,0.03,5.268,5.968,5.63,5.6,0.2,64,8,8192,28672,32768,True,128,8\n";

    #[test]
    fn compute_median_ms_per_op() {
        let s = Scratch::new("vidur-mlp");
        s.file("compute/meta-llama/Llama-2-70b-hf/mlp.csv", MLP);
        let ds = load_dir(&s.0).unwrap();
        assert_eq!(ds.layer_ops.len(), 3, "empty median skipped");
        let o = &ds.layer_ops[1];
        assert_eq!(
            (o.model.as_str(), o.op.as_str(), o.tokens, o.tp),
            ("meta-llama/Llama-2-70b-hf", "mlp_up_proj", 4096, 1)
        );
        assert!((o.latency_s - 5.6685e-3).abs() < 1e-15);
        assert_eq!(ds.layer_ops[0].op, "attn_pre_proj");
        assert_eq!((ds.layer_ops[2].tokens, ds.layer_ops[2].tp, ds.layer_ops[2].at.line), (128, 8, 3));
        assert_eq!((ds.files[0].kind, ds.files[0].rows), ("layer_ops", 3));
    }

    #[test]
    fn compute_errors() {
        let s = Scratch::new("vidur-mlp-err");
        let p = s.file("a/b/mlp.csv", &MLP.replace(",5.6685,", ",nan,"));
        let e = load_file(&p).unwrap_err();
        assert!(matches!(e, CalibError::Value { line: 2, column: 9, problem: ValueProblem::NotFinite, .. }), "{e}");
        let p = s.file("a/b/mlp2.csv", "num_tokens,num_tensor_parallel_workers\n1,1\n");
        assert!(matches!(load_file(&p), Err(CalibError::Header { .. })));
        let p = s.file("a/b/mlp3.csv", &MLP.replace(",4096,1\n", ",4096,0\n"));
        let e = load_file(&p).unwrap_err();
        assert!(matches!(e, CalibError::Value { column: 18, problem: ValueProblem::NotPositive, .. }), "{e}");
    }

    // vidur-h100/network/h100_dgx/all_reduce.csv lines 1-2 and send_recv.csv lines 1-2 (with the
    // 64 MiB inter-node row).
    const ALL_REDUCE: &str = ",time_stats.all_reduce.min,time_stats.all_reduce.max,time_stats.all_reduce.mean,time_stats.all_reduce.median,time_stats.all_reduce.std,rank,num_workers,size,collective,devices_per_node,max_devices_per_node\n\
        0,0.015,0.038,0.03,0.037,0.010614455552060439,0,8,2048,all_reduce,8,8\n";
    const SEND_RECV: &str = ",time_stats.send_recv.min,time_stats.send_recv.max,time_stats.send_recv.mean,time_stats.send_recv.median,time_stats.send_recv.std,rank,num_workers,size,collective,devices_per_node,max_devices_per_node\n\
        0,0.01,0.02,0.015666666666666666,0.017,0.0041899350299921785,0,2,2048,send_recv,1,8\n\
        993,1.862,1.9,1.87,1.871,0.01,0,2,67108864,send_recv,1,8\n";

    #[test]
    fn network_bytes_and_nodes() {
        let s = Scratch::new("vidur-net");
        let ds = load_file(&s.file("all_reduce.csv", ALL_REDUCE)).unwrap();
        let c = &ds.collectives[0];
        assert_eq!(
            (c.collective, c.kernel.as_str(), c.gpus, c.gpus_per_node, c.bytes),
            (Collective::AllReduce, "nccl", 8, 8, 2048)
        );
        assert!((c.latency_s - 37e-6).abs() < 1e-15, "median, ms -> s");
        let ds = load_file(&s.file("send_recv.csv", SEND_RECV)).unwrap();
        let c = &ds.collectives[1];
        assert_eq!((c.collective, c.gpus, c.gpus_per_node, c.bytes), (Collective::SendRecv, 2, 1, 67_108_864));
        assert!((c.latency_s - 1.871e-3).abs() < 1e-15);
    }

    #[test]
    fn network_errors() {
        let s = Scratch::new("vidur-net-err");
        let e = load_file(&s.file("a.csv", &SEND_RECV.replace("2048,send_recv", "2048,all_reduce"))).unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 2, column: 10, .. }), "{e}");
        let e = load_file(&s.file("b.csv", &ALL_REDUCE.replace(",8,2048,all_reduce,8,", ",8,2048,all_reduce,3,")))
            .unwrap_err();
        assert!(matches!(e, CalibError::Inconsistent { line: 2, column: 11, .. }), "{e}");
        let e = load_file(&s.file("c.csv", &ALL_REDUCE.replace(",2048,", ",0,"))).unwrap_err();
        assert!(matches!(e, CalibError::Value { column: 9, problem: ValueProblem::NotPositive, .. }), "{e}");
    }
}
