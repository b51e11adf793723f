//! A calibrated hardware profile (`calibration/profiles/*.toml`): the fitted cost-model coefficients
//! for one GPU type, each with the data it came from and its held-out fit error. Written by
//! `pdsim calibrate`, read by the cost functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::spec::kernel_params::{
    AllReduceParams, ContextAttentionParams, GemmParams, GenerationAttentionParams, MoeParams, Peaks, TransferParams,
};

/// How well a fit predicts rows it was not fitted on (absolute relative error).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FitError {
    pub fitted_rows: usize,
    pub holdout_rows: usize,
    pub holdout_median_ape: f64,
    pub holdout_p90_ape: f64,
    /// The same on held-out rows whose shapes the preset models use (none if no such rows).
    pub preset_holdout_rows: usize,
    pub preset_holdout_median_ape: f64,
    pub preset_holdout_p90_ape: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmFit {
    /// `trtllm`, `vllm`, ...: the framework whose kernels were measured.
    pub framework: String,
    /// `bf16`, `fp8`, `fp8_block`.
    pub dtype: String,
    #[serde(flatten)]
    pub params: GemmParams,
    pub source: String,
    #[serde(flatten)]
    pub error: FitError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextAttentionFit {
    pub framework: String,
    /// Bytes per element of the attention math (2 bf16, 1 fp8) and of the KV cache.
    pub attn_bytes: u64,
    pub kv_bytes: u64,
    #[serde(flatten)]
    pub params: ContextAttentionParams,
    pub source: String,
    #[serde(flatten)]
    pub error: FitError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationAttentionFit {
    pub framework: String,
    pub kv_bytes: u64,
    /// The head dim of every row fitted; absent: rows of every head dim measured (the fallback for
    /// models with another head dim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u64>,
    #[serde(flatten)]
    pub params: GenerationAttentionParams,
    pub source: String,
    #[serde(flatten)]
    pub error: FitError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllReduceFit {
    /// `nccl`, or the framework's custom kernel (`trtllm`, `vllm`).
    pub kernel: String,
    pub gpus: u32,
    #[serde(flatten)]
    pub params: AllReduceParams,
    pub source: String,
    #[serde(flatten)]
    pub error: FitError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferFit {
    /// What was measured, e.g. `vLLM MooncakeConnector RDMA, 2x8 H800, TP8->TP8`.
    pub path: String,
    #[serde(flatten)]
    pub params: TransferParams,
    pub source: String,
    #[serde(flatten)]
    pub error: FitError,
}

/// Per-step framework overhead fitted end to end (scheduler, sampling, host work per step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadFit {
    pub backend: String,
    pub step_overhead_us: f64,
    pub source: String,
}

/// The routed experts of one MoE layer on one GPU, fitted per framework, weight dtype and expert load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoeFit {
    pub framework: String,
    /// The measured kernel (`kernel_source`): of several per framework and dtype, the one with the
    /// most rows.
    pub kernel: String,
    /// `bf16`, `fp8`, `fp8_block`.
    pub dtype: String,
    /// `balanced`, `power_law_1.01`, `power_law_1.2`.
    pub load: String,
    pub params: MoeParams,
    pub source: String,
    #[serde(flatten)]
    pub error: FitError,
}

/// The whole profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub name: String,
    /// The GPU whose datasheet profile (memory, links, roofline) this calibration completes, e.g.
    /// `h100-sxm`: a profile file says what it was measured on rather than inheriting a default.
    pub base_gpu: String,
    pub generated_by: String,
    pub peaks: Peaks,
    /// Data files fitted, relative to the data directory, with their row counts.
    pub data: BTreeMap<String, usize>,
    pub gemm: Vec<GemmFit>,
    pub context_attention: Vec<ContextAttentionFit>,
    pub generation_attention: Vec<GenerationAttentionFit>,
    pub allreduce: Vec<AllReduceFit>,
    /// KV transfers measured inside real prefill/decode serving, fitted per deployment. A check on
    /// the profile's link specs (`HardwareProfile::kv_link`, built from the same measurements and
    /// the source the simulator reads), not a second source: each is one system's TP8 -> TP8 path
    /// on another GPU (H800, H20), where the link spec is per GPU and NIC pair.
    pub kv_transfer: Vec<TransferFit>,
    #[serde(default)]
    pub overhead: Vec<OverheadFit>,
    #[serde(default)]
    pub moe: Vec<MoeFit>,
}

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("{path}: not a valid calibration profile: {msg}")]
    Parse { path: String, msg: String },
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Calibration {
    pub fn from_toml(text: &str, path: &str) -> Result<Calibration, ProfileError> {
        toml::from_str(text).map_err(|e| {
            let mut msg = e.to_string();
            if msg.contains("missing field `base_gpu`") {
                // profiles written before pdsim recorded the GPU: say how to fix it, not just what is missing
                msg.push_str(
                    "\na profile states the GPU it was measured on, e.g. base_gpu = \"h100-sxm\"; add the line or \
                     regenerate it with `pdsim calibrate --gpu ...`",
                );
            }
            ProfileError::Parse { path: path.to_string(), msg }
        })
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a calibration is plain numbers and strings");
        format!(
            "# Calibrated cost model for {}: written by `pdsim calibrate`; every coefficient carries its data\n\
             # source and its error on held-out rows. Regenerate rather than edit.\n{body}",
            self.name
        )
    }

    /// Framework whose kernels stand in for `backend`: SGLang has no microbenchmarks in the
    /// calibration data, and its kernels (FlashInfer attention, custom all-reduce) are closest to vLLM's.
    pub fn kernel_framework(backend: &str) -> &'static str {
        match backend {
            "trtllm" => "trtllm",
            _ => "vllm",
        }
    }

    pub fn gemm(&self, framework: &str, dtype: &str) -> Option<&GemmFit> {
        self.gemm.iter().find(|g| g.framework == framework && g.dtype == dtype)
    }

    /// The GEMM fit of `backend`'s own kernels for `dtype` where the profile has them (the H200
    /// profile fits SGLang's tables), else of the framework that stands in for its kernels.
    pub fn backend_gemm(&self, backend: &str, dtype: &str) -> Option<&GemmFit> {
        self.gemm(backend, dtype).or_else(|| self.gemm(Self::kernel_framework(backend), dtype))
    }

    pub fn context_attention(&self, framework: &str, attn_bytes: u64, kv_bytes: u64) -> Option<&ContextAttentionFit> {
        let all = || self.context_attention.iter().filter(|a| a.framework == framework);
        all()
            .find(|a| a.attn_bytes == attn_bytes && a.kv_bytes == kv_bytes)
            .or_else(|| all().find(|a| a.kv_bytes == kv_bytes))
            .or_else(|| all().next())
    }

    /// The decode-attention fit of `framework`'s kernel for this KV dtype and head dim, else the
    /// one over every head dim, else one of another head dim, else any of the framework's.
    pub fn generation_attention(
        &self,
        framework: &str,
        kv_bytes: u64,
        head_dim: u64,
    ) -> Option<&GenerationAttentionFit> {
        let all = || self.generation_attention.iter().filter(|a| a.framework == framework);
        all()
            .find(|a| a.kv_bytes == kv_bytes && a.head_dim == Some(head_dim))
            .or_else(|| all().find(|a| a.kv_bytes == kv_bytes && a.head_dim.is_none()))
            .or_else(|| all().find(|a| a.kv_bytes == kv_bytes))
            .or_else(|| all().find(|a| a.head_dim.is_none()))
            .or_else(|| all().next())
    }

    /// The all-reduce fit for `kernel` on `gpus` GPUs, else NCCL's, else the nearest larger count.
    pub fn allreduce(&self, kernel: &str, gpus: u32) -> Option<&AllReduceFit> {
        let pick = |k: &str| self.allreduce.iter().filter(|a| a.kernel == k && a.gpus >= gpus).min_by_key(|a| a.gpus);
        pick(kernel).or_else(|| pick("nccl"))
    }

    /// The MoE fit of `backend`'s own kernels for this dtype and load, else of the framework that
    /// stands in for its kernels ([`Self::kernel_framework`]).
    pub fn moe(&self, backend: &str, dtype: &str, load: &str) -> Option<&MoeFit> {
        let pick = |fw: &str| self.moe.iter().find(|m| m.framework == fw && m.dtype == dtype && m.load == load);
        pick(backend).or_else(|| pick(Self::kernel_framework(backend)))
    }

    pub fn step_overhead_us(&self, backend: &str) -> Option<f64> {
        self.overhead.iter().find(|o| o.backend == backend).map(|o| o.step_overhead_us)
    }
}
