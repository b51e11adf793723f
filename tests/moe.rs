//! Mixture-of-experts models end to end: the shipped EP scenario runs and accounts for every
//! request, expert parallelism and the expert load change what it simulates, memory follows the
//! GPU, and what pdsim cannot simulate is refused naming it.

mod common;
use common::*;

use pdsim::perf::memory::{memory_plan, FractionOf, PoolMemory};
use pdsim::spec::deployment::Parallelism;
use pdsim::spec::hardware::HardwareProfile;
use pdsim::spec::model::{Dtype, ModelSpec};

#[test]
fn the_shipped_moe_scenario_runs_and_its_load_matters() {
    let f = scenario("qwen3-235b-moe-ep.yaml");
    let v = run_json(&[&f], &["--requests", "1500"]);
    assert_eq!(v["requests"]["arrived"], 1500);
    assert_eq!(v["requests"]["completed"], 1500);
    assert_eq!(v["gpus"], 16);
    let tpot = |v: &serde_json::Value| v["tpot_ms"]["mean"].as_f64().unwrap();
    let ttft = |v: &serde_json::Value| v["ttft_ms"]["mean"].as_f64().unwrap();
    // an even router prefills faster than aiconfigurator's power-law default (no straggler rank),
    // but decodes slower: a small batch spread evenly hits more experts, so reads more weights
    // (measured: 32 tokens on an EP 8 rank of Qwen3-235B's layer, 0.125 ms balanced, 0.116 ms
    // power law 1.01, aiconfigurator moe_perf.trtllm-1.3.0rc20)
    let even = run_json(&[&f], &["--requests", "1500", "--set", "expertLoad=balanced"]);
    assert!(ttft(&even) < ttft(&v), "balanced {} vs power law {}", ttft(&even), ttft(&v));
    assert!(tpot(&even) > tpot(&v), "balanced {} vs power law {}", tpot(&even), tpot(&v));
    // the same decode GPUs with every expert split 8 ways by columns instead of whole on 8 ranks:
    // narrow column shards run the measured kernels less efficiently
    let cols = run_json(&[&f], &["--requests", "1500", "--set", "decode.moeEp=1"]);
    assert!(tpot(&cols) > 1.05 * tpot(&v), "MoE TP 8 {} vs EP 8 {}", tpot(&cols), tpot(&v));
}

/// A 235B model in bf16 needs 118 GB per GPU at TP 4: the error says so and what to change.
#[test]
fn a_moe_model_that_does_not_fit_is_refused_naming_the_shortfall() {
    let f = scenario("qwen3-235b-moe-ep.yaml");
    let o = pdsim([
        "run".as_ref(),
        f.as_os_str(),
        "--set".as_ref(),
        "weights_dtype=bf16".as_ref(),
        "--requests".as_ref(),
        "10".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("Qwen3-235B-A22B weights need 117.") && e.contains("per GPU at tp=4 (bf16)"), "{e}");
    assert!(e.contains("nothing is left for KV cache"), "{e}");
    // an EP size that does not divide the pool is named with what is expected
    let o = pdsim(["run".as_ref(), f.as_os_str(), "--set".as_ref(), "prefill.moeEp=3".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("prefill.moeEp: expected a divisor of the pool's TP (4)"), "{}", stderr(&o));
}

/// H200's 141 GB hold the same weights per GPU as an H100's 80 GB and much more KV: more sequences
/// of Qwen3-235B-A22B-FP8 at the same TP 4 x EP 4.
#[test]
fn h200_admits_more_sequences_than_h100_at_the_same_shape() {
    let m = ModelSpec::preset("qwen3-235b-a22b").unwrap();
    let pool = PoolMemory {
        parallelism: Parallelism::expert_parallel(4, 4).unwrap(),
        fraction: 0.9,
        fraction_of: FractionOf::Free,
        max_step_tok: 8192,
        max_seqs: 256,
    };
    let plan = |hw: &HardwareProfile| memory_plan(&m, hw, Dtype::Fp8Block, Dtype::Fp8, pool);
    let (h100, h200) = (plan(&HardwareProfile::h100_sxm()), plan(&HardwareProfile::h200_sxm()));
    assert_eq!(h100.weights_per_gpu_bytes, h200.weights_per_gpu_bytes);
    // 4 x 0.9 x (141 - 80) GB more, at 2 x 94 layers x 4 KV heads x 128 x 1 byte = 96 KiB a token
    assert_eq!(m.kv_bytes_per_token(Dtype::Fp8), 96_256);
    let more = (h200.kv_capacity_tok - h100.kv_capacity_tok) as f64;
    let expect = 4.0 * 0.9 * (h200.budget_per_gpu_bytes as f64 - h100.budget_per_gpu_bytes as f64) / 96_256.0;
    assert!(h200.kv_capacity_tok > 2 * h100.kv_capacity_tok, "{} vs {}", h200.kv_capacity_tok, h100.kv_capacity_tok);
    assert!((more / expect - 1.0).abs() < 0.15, "{more} vs {expect}");
    // and the B200's 180 GiB more again
    let b200 = plan(&HardwareProfile::b200_sxm());
    assert_eq!(b200.weights_per_gpu_bytes, h200.weights_per_gpu_bytes);
    assert!(b200.kv_capacity_tok > h200.kv_capacity_tok, "{} vs {}", b200.kv_capacity_tok, h200.kv_capacity_tok);
}

/// Decode is bound by memory bandwidth: on their committed calibrations the same MoE decode step is
/// faster on the H200 (4.8 TB/s) than on the H100 (3.35), and faster again on the B200 (7.7).
#[test]
fn decode_step_follows_memory_bandwidth_across_gpus() {
    let step_ms = |hw: &str| -> f64 {
        let o = pdsim([
            "cost",
            "--model",
            "qwen3-235b-a22b-fp8",
            "--tp",
            "4",
            "--moe-ep",
            "4",
            "--phase",
            "decode",
            "--batch",
            "64",
            "--isl",
            "2000",
            "--hardware",
            hw,
            "--json",
        ]);
        assert!(o.status.success(), "{hw}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!((v["calibrated"].as_bool(), v["moe_fitted"].as_bool()), (Some(true), Some(true)), "{hw}");
        v["time_ms"].as_f64().unwrap()
    };
    let (h100, h200, b200) = (step_ms("h100-sxm"), step_ms("h200-sxm"), step_ms("b200-sxm"));
    assert!(b200 < h200 && h200 < h100, "{h100} {h200} {b200} ms");
}

/// The MoE validation rows: Qwen3-235B-A22B-FP8 on TensorRT-LLM, TPOT within 15% median where the
/// kernels were measured (the bar), and the MLA rows listed with their reason.
#[test]
fn validate_scores_the_moe_rows_and_lists_what_it_cannot_simulate() {
    let Some(file) = shared("validation-dev/silicon_h100_moe.csv") else { return };
    let dir = scratch("val-moe");
    let o = pdsim(["validate".as_ref(), "--silicon".as_ref(), file.as_os_str(), "--out".as_ref(), dir.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let row = report.lines().find(|l| l.starts_with("| trtllm |")).unwrap();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[2], "126", "{row}");
    let tpot_median: f64 = cells[5].trim_end_matches('%').parse().unwrap();
    assert!(tpot_median <= 15.0, "{row}");
    assert!(report.contains("DeepSeek-V3-family models use MLA attention"), "MLA rows listed with the reason");
}
