//! GPU, node and link specifications.
//!
//! Today one profile, `h100-sxm`, built from published specs and the measured facts collected in
//! `../shared/calibration-data/` (sources beside every number). The cost functions read only this
//! struct, so a fitted profile (`calibration/profiles/*.toml`) can replace these numbers without
//! touching them.

use thiserror::Error;

use crate::spec::fitted;
use crate::spec::kernel_params::Peaks;

use crate::spec::deployment::KvBackend;

/// A measured latency curve: `(message_bytes, latency_us)` points, increasing in bytes.
pub type LatencyCurve = &'static [(f64, f64)];

/// One KV-transfer path: `time = setup + bytes / (bandwidth per GPU pair * GPUs sending)`.
#[derive(Debug, Clone, PartialEq)]
pub struct KvLinkSpec {
    /// Fixed cost of one transfer (handshake, descriptor exchange, first-byte latency).
    pub setup_ns: u64,
    /// Effective bandwidth of one sending GPU (each GPU of a TP group moves its own shard of the KV).
    pub bytes_per_s_per_gpu: f64,
    pub source: &'static str,
}

/// Everything the cost model needs to know about a GPU type and its interconnects.
#[derive(Debug, Clone, PartialEq)]
pub struct HardwareProfile {
    pub name: &'static str,
    pub gpu_memory_bytes: u64,
    /// Dense Tensor Core peaks (no sparsity), HBM bandwidth and SM count.
    pub peaks: Peaks,
    /// Best measured large-GEMM share of peak, bf16 and fp8.
    pub gemm_eff_bf16: f64,
    pub gemm_eff_fp8: f64,
    /// Rate a memory-bound (small-m) GEMM streams its weights, bytes/s, bf16 and fp8 kernels.
    pub weight_stream_bf16_bytes_per_s: f64,
    pub weight_stream_fp8_bytes_per_s: f64,
    /// Shortest time of one GEMM kernel.
    pub gemm_floor_ns: u64,
    /// Prefill (context) attention throughput on long sequences, FLOP/s, and its per-call floor.
    pub prefill_attn_flops: f64,
    pub prefill_attn_floor_ns: u64,
    /// Decode attention: KV read rate, bytes/s, and per-call floor.
    pub decode_attn_bytes_per_s: f64,
    pub decode_attn_floor_ns: u64,
    /// Measured all-reduce latency curves for 2, 4 and 8 GPUs of one NVLink node.
    pub allreduce_2: LatencyCurve,
    pub allreduce_4: LatencyCurve,
    pub allreduce_8: LatencyCurve,
    pub gpus_per_node: u32,
    pub nvlink: KvLinkSpec,
    pub rdma: KvLinkSpec,
    pub tcp: KvLinkSpec,
    /// List price used when a scenario names none; `None` where pdsim has no published price comparable
    /// with the others' (the scenario must then give `pricing.usd_per_gpu_hour`).
    pub usd_per_gpu_hour_default: Option<f64>,
    /// Fitted kernel costs; when present they replace the roofline above for the families they cover.
    pub calibration: Option<std::sync::Arc<fitted::Calibration>>,
}

/// A GPU pdsim has a datasheet profile of. A new GPU is one entry of [`GPUS`] plus its constructor.
pub struct Gpu {
    /// Its name in scenarios, `--gpu` and a profile's `base_gpu`; also its calibrated profile's name.
    pub name: &'static str,
    /// The name of its datasheet-only profile (`<name>-spec`; profile names are `'static`).
    pub spec_name: &'static str,
    /// Other names a user may write for it.
    pub aliases: &'static [&'static str],
    /// The name CUDA reports for it, as aiconfigurator's tables record in their `device` column.
    pub devices: &'static [&'static str],
    pub profile: fn() -> HardwareProfile,
}

pub const GPUS: &[Gpu] = &[
    Gpu {
        name: "h100-sxm",
        spec_name: "h100-sxm-spec",
        aliases: &["h100"],
        devices: &["NVIDIA H100 80GB HBM3"],
        profile: HardwareProfile::h100_sxm,
    },
    Gpu {
        name: "h200-sxm",
        spec_name: "h200-sxm-spec",
        aliases: &["h200"],
        devices: &["NVIDIA H200"],
        profile: HardwareProfile::h200_sxm,
    },
    Gpu {
        name: "b200-sxm",
        spec_name: "b200-sxm-spec",
        aliases: &["b200"],
        devices: &["NVIDIA B200"],
        profile: HardwareProfile::b200_sxm,
    },
];

impl Gpu {
    /// The GPU a name or alias means (case, `_` for `-` and surrounding space aside).
    pub fn find(name: &str) -> Option<&'static Gpu> {
        let norm = name.trim().to_ascii_lowercase().replace('_', "-");
        GPUS.iter().find(|g| g.name == norm || g.aliases.contains(&norm.as_str()))
    }
}

#[derive(Debug, Error)]
pub enum HardwareError {
    #[error("unknown hardware profile '{0}': expected a GPU ({gpus}), <gpu>-spec for its datasheet roofline alone, or a calibrated profile .toml", gpus = HardwareProfile::gpu_names())]
    Unknown(String),
    #[error("hardware '{gpu}' has no calibrated profile built in yet: use '{spec}' (its datasheet roofline alone) or a profile .toml written by `pdsim calibrate --gpu {gpu}`")]
    Uncalibrated { gpu: &'static str, spec: &'static str },
    #[error(transparent)]
    Profile(#[from] fitted::ProfileError),
    #[error("{path}: base_gpu = \"{base}\" is not a GPU pdsim has a profile of: expected one of {known}")]
    UnknownBase { path: String, base: String, known: String },
}

/// Trtllm custom all-reduce, bf16, H100 SXM 8-GPU HGX, from
/// `aiconfigurator-h100/custom_allreduce_perf.trtllm-1.3.0rc20.csv` (message_size elements x 2 bytes,
/// latency ms -> us), every 4th power of two.
const AR2: LatencyCurve = &[
    (256.0, 2.66),
    (1024.0, 2.71),
    (4096.0, 2.87),
    (16384.0, 2.85),
    (65536.0, 3.06),
    (262144.0, 3.76),
    (1048576.0, 6.10),
    (4194304.0, 17.13),
    (16777216.0, 78.53),
    (67108864.0, 254.23),
    (268435456.0, 887.85),
    (1073741824.0, 3243.16),
];
#[allow(clippy::approx_constant)] // 3.14 us is a measurement, not pi
const AR4: LatencyCurve = &[
    (256.0, 2.80),
    (1024.0, 2.91),
    (4096.0, 3.14),
    (16384.0, 3.27),
    (65536.0, 3.68),
    (262144.0, 5.48),
    (1048576.0, 12.91),
    (4194304.0, 39.74),
    (16777216.0, 100.74),
    (67108864.0, 329.23),
    (268435456.0, 1191.84),
    (1073741824.0, 4534.37),
];
const AR8: LatencyCurve = &[
    (256.0, 3.23),
    (1024.0, 3.17),
    (4096.0, 3.53),
    (16384.0, 3.56),
    (65536.0, 4.59),
    (262144.0, 10.17),
    (1048576.0, 25.96),
    (4194304.0, 51.90),
    (16777216.0, 122.32),
    (67108864.0, 322.47),
    (268435456.0, 1089.62),
    (1073741824.0, 4007.81),
];

/// Trtllm custom all-reduce, bf16, H200 SXM 8-GPU HGX, from
/// `aiconfigurator-h200/custom_allreduce_perf.trtllm-1.3.0rc20.csv.gz`, the same points as the H100's.
const H200_AR2: LatencyCurve = &[
    (256.0, 2.64),
    (1024.0, 2.69),
    (4096.0, 2.78),
    (16384.0, 2.83),
    (65536.0, 2.95),
    (262144.0, 3.59),
    (1048576.0, 5.99),
    (4194304.0, 16.57),
    (16777216.0, 70.51),
    (67108864.0, 250.41),
    (268435456.0, 886.54),
    (1073741824.0, 3267.01),
];
const H200_AR4: LatencyCurve = &[
    (256.0, 2.79),
    (1024.0, 2.95),
    (4096.0, 3.16),
    (16384.0, 3.21),
    (65536.0, 3.61),
    (262144.0, 5.43),
    (1048576.0, 12.85),
    (4194304.0, 35.94),
    (16777216.0, 99.82),
    (67108864.0, 322.36),
    (268435456.0, 1182.66),
    (1073741824.0, 4553.07),
];
const H200_AR8: LatencyCurve = &[
    (256.0, 3.05),
    (1024.0, 3.17),
    (4096.0, 3.51),
    (16384.0, 3.49),
    (65536.0, 4.58),
    (262144.0, 10.11),
    (1048576.0, 25.74),
    (4194304.0, 47.47),
    (16777216.0, 121.39),
    (67108864.0, 317.2),
    (268435456.0, 1053.57),
    (1073741824.0, 4003.06),
];

/// Trtllm custom all-reduce, bf16, B200 SXM 8-GPU HGX, from
/// `aiconfigurator-b200/custom_allreduce_perf.trtllm-1.3.0rc20.csv.gz`, the same points as the H100's.
const B200_AR2: LatencyCurve = &[
    (256.0, 4.58),
    (1024.0, 4.89),
    (4096.0, 4.95),
    (16384.0, 5.22),
    (65536.0, 5.15),
    (262144.0, 4.99),
    (1048576.0, 6.42),
    (4194304.0, 11.91),
    (16777216.0, 44.29),
    (67108864.0, 154.79),
    (268435456.0, 533.73),
    (1073741824.0, 1892.89),
];
const B200_AR4: LatencyCurve = &[
    (256.0, 4.76),
    (1024.0, 5.04),
    (4096.0, 5.34),
    (16384.0, 5.52),
    (65536.0, 5.39),
    (262144.0, 5.79),
    (1048576.0, 9.66),
    (4194304.0, 26.79),
    (16777216.0, 72.7),
    (67108864.0, 188.65),
    (268435456.0, 715.24),
    (1073741824.0, 2596.76),
];
const B200_AR8: LatencyCurve = &[
    (256.0, 5.04),
    (1024.0, 5.38),
    (4096.0, 5.78),
    (16384.0, 5.93),
    (65536.0, 5.99),
    (262144.0, 7.93),
    (1048576.0, 17.78),
    (4194304.0, 39.42),
    (16777216.0, 84.76),
    (67108864.0, 278.76),
    (268435456.0, 718.7),
    (1073741824.0, 2579.88),
];

impl HardwareProfile {
    /// NVIDIA H100 SXM5 80 GB in an 8-GPU HGX node.
    pub fn h100_sxm() -> HardwareProfile {
        HardwareProfile {
            name: "h100-sxm",
            // NVIDIA H100 datasheet: 80 GB HBM3; nvidia-smi reports 81559 MiB total (85.52e9 bytes),
            // the capacity frameworks budget against (vLLM's gpu_memory_utilization is a share of it).
            gpu_memory_bytes: 81_559 * 1024 * 1024,
            // NVIDIA H100 datasheet, SXM5: 989.4 TFLOP/s dense bf16, 1978.9 dense fp8, HBM3 3.35 TB/s;
            // NVIDIA H100 Tensor Core GPU Architecture whitepaper: the SXM5 part enables 132 SMs.
            peaks: Peaks { bf16_flops: 989.4e12, fp8_flops: 1978.9e12, hbm_bytes_per_s: 3.35e12, sm_count: 132 },
            // aiconfigurator gemm_perf.trtllm: 8192^3 bf16 in 1.405 ms = 783 TFLOP/s (79%);
            // fp8 8192^3 in 0.885 ms = 1242 TFLOP/s (63%).
            gemm_eff_bf16: 783.0 / 989.4,
            gemm_eff_fp8: 1242.0 / 1978.9,
            // aiconfigurator gemm_perf.trtllm: m=1..64, n=k=8192 streams the weight matrix at
            // 2.66-2.73 TB/s in bf16 and 1.70-1.79 TB/s in fp8 (bytes of weights read per second).
            weight_stream_bf16_bytes_per_s: 2.70e12,
            weight_stream_fp8_bytes_per_s: 1.74e12,
            // aiconfigurator gemm_perf.trtllm: smallest bf16 GEMMs (m<=8, n,k<=256) take 2.54-2.58 us.
            gemm_floor_ns: 2_550,
            // aiconfigurator context_attention_perf.trtllm, bf16, head_dim 128, isl 8192: 450-526
            // TFLOP/s of causal attention (4*b*h*d*s^2/2 FLOP); isl 1024 with 8 heads: ~29-30 us per call.
            prefill_attn_flops: 500e12,
            prefill_attn_floor_ns: 26_000,
            // aiconfigurator generation_attention_perf.trtllm, bf16 KV, 16 heads / 2 KV heads / d 128:
            // batch 1 step 1 = 8.65 us; batch 64 step 16383 reads 1.07 GB in 368 us (2.91 TB/s).
            decode_attn_bytes_per_s: 2.9e12,
            decode_attn_floor_ns: 8_650,
            allreduce_2: AR2,
            allreduce_4: AR4,
            allreduce_8: AR8,
            gpus_per_node: 8,
            // NVLink4 GPU->GPU one-way p2p writes 371-377 GB/s (cuda-samples p2pBandwidthLatencyTest,
            // NVIDIA/nccl #1264, interconnect facts p2p1); setup from NCCL send/recv on one node,
            // vidur h100_dgx send_recv.csv devices_per_node=2 small messages (~17 us).
            nvlink: KvLinkSpec {
                setup_ns: 17_000,
                bytes_per_s_per_gpu: 371e9,
                source: "p2pBandwidthLatencyTest 371-377 GB/s (NVIDIA/nccl #1264); vidur send_recv floor",
            },
            // GPUDirect RDMA measured inside real P/D serving: vLLM + MooncakeConnector, 2x8 H800 with
            // 8x CX7 400G RoCE, TP8->TP8: transfer = 0.54 ms + bytes / 144 GB/s
            // (kv-transfer/vllm_pd_mooncakeconnector_h800_qwen3_8b.csv), i.e. 18 GB/s per GPU/NIC pair.
            rdma: KvLinkSpec {
                setup_ns: 540_000,
                bytes_per_s_per_gpu: 144e9 / 8.0,
                source: "vLLM MooncakeConnector KV transfer fit 0.54 ms + B/144 GB/s over 8 NICs",
            },
            // Host-staged TCP on the same 8-NIC class of node: Mooncake FAST'25 §5.4.1 measures TCP
            // 2.4x slower than its RDMA transfer engine on 4x200G (87 -> ~36 GB/s, interconnect facts
            // tcp1), so 144/2.4 = 60 GB/s per 8 GPUs. Setup: NIXL GPUDirect-TCPXO 4 KiB blocks average
            // ~600 us (ai-dynamo/nixl PR #2276, interconnect facts tcp3).
            tcp: KvLinkSpec {
                setup_ns: 600_000,
                bytes_per_s_per_gpu: 144e9 / 2.4 / 8.0,
                source: "Mooncake FAST'25 TCP = RDMA/2.4 (tcp1); NIXL TCPXO small-block latency ~600 us (tcp3)",
            },
            // Lambda on-demand 8x H100 SXM list price, $2.99 per GPU-hour (2025).
            usd_per_gpu_hour_default: Some(2.99),
            calibration: None,
        }
    }

    /// NVIDIA H200 SXM 141 GB in an 8-GPU HGX node: the H100's Hopper compute with more and faster
    /// HBM3e. Every kernel figure is read from aiconfigurator's H200 tables the way the H100's are
    /// from its own (`aiconfigurator-h200/*.trtllm-1.3.0rc20.csv.gz`, `h200_sxm.yaml`).
    pub fn h200_sxm() -> HardwareProfile {
        let h100 = HardwareProfile::h100_sxm();
        HardwareProfile {
            name: "h200-sxm",
            // aiconfigurator h200_sxm.yaml: mem_capacity 151397597184 bytes (141 GiB).
            gpu_memory_bytes: 151_397_597_184,
            // h200_sxm.yaml: 989 TFLOP/s bf16, 1978 fp8 Tensor Core, 4.8 TB/s HBM3e (NVIDIA H200
            // datasheet, SXM). The datasheet's compute equals the H100 SXM's, the same 132-SM Hopper part.
            peaks: Peaks { bf16_flops: 989e12, fp8_flops: 1978e12, hbm_bytes_per_s: 4.8e12, sm_count: 132 },
            // gemm_perf.trtllm: 8192^3 bf16 in 1.364 ms = 806 TFLOP/s; fp8 in 0.884 ms = 1243 TFLOP/s.
            gemm_eff_bf16: 806.0 / 989.0,
            gemm_eff_fp8: 1243.0 / 1978.0,
            // gemm_perf.trtllm: m=1..64, n=k=8192 streams the weights at 3.47-3.79 TB/s in bf16 and
            // 2.10-2.23 TB/s in fp8.
            weight_stream_bf16_bytes_per_s: 3.6e12,
            weight_stream_fp8_bytes_per_s: 2.17e12,
            // gemm_perf.trtllm: smallest bf16 GEMMs (m<=8, n,k<=256) from 2.44 us.
            gemm_floor_ns: 2_450,
            // context_attention_perf.trtllm, bf16, head_dim 128, isl 8192: median 488 TFLOP/s (up to
            // 534); isl 1024, 8 heads, batch 1: 28.9-29.8 us per call.
            prefill_attn_flops: 488e12,
            prefill_attn_floor_ns: 26_000,
            // generation_attention_perf.trtllm, bf16 KV, 16 heads / 2 KV heads / d 128: batch 1 step 1
            // = 8.46 us; batch 64 step 16383 reads 1.07 GB in 262 us, 253 us past the floor (4.24 TB/s,
            // the rate `floor + bytes / rate` needs to meet it).
            decode_attn_bytes_per_s: 4.24e12,
            decode_attn_floor_ns: 8_460,
            allreduce_2: H200_AR2,
            allreduce_4: H200_AR4,
            allreduce_8: H200_AR8,
            // h200_sxm.yaml: 8 GPUs per node, NVLink 450 GB/s per GPU per direction, as the H100's HGX.
            gpus_per_node: 8,
            // The HGX H200 board has the H100's NVLink4 switches, and its nodes the same class of
            // 400G NICs (h200_sxm.yaml: 1:1 CX7 NDR 400 Gb/s), so the KV links are the H100's
            // measured ones.
            nvlink: h100.nvlink,
            rdma: h100.rdma,
            tcp: h100.tcp,
            // No list price from the same source as the H100's: a scenario on H200 states its own.
            usd_per_gpu_hour_default: None,
            calibration: None,
        }
    }

    /// NVIDIA B200 SXM 180 GB in an 8-GPU HGX node. Every kernel figure is read from aiconfigurator's
    /// B200 tables the way the H100's are from its own (`aiconfigurator-b200/*.trtllm-1.3.0rc20.csv.gz`,
    /// `b200_sxm.yaml`, which cites NVIDIA's Blackwell datasheet). FP4 compute is not modelled.
    pub fn b200_sxm() -> HardwareProfile {
        let h100 = HardwareProfile::h100_sxm();
        HardwareProfile {
            name: "b200-sxm",
            // b200_sxm.yaml: mem_capacity 193273528320 bytes (180 GiB).
            gpu_memory_bytes: 193_273_528_320,
            // b200_sxm.yaml: 2250 TFLOP/s bf16 and 4500 fp8 dense Tensor Core, 7.7 TB/s HBM3e. 148 SMs:
            // the enabled count of the two-die part that FlashAttention-4's and DeepGEMM's B200 launch
            // configurations size their grids by (used only by calibrated kernels).
            peaks: Peaks { bf16_flops: 2250e12, fp8_flops: 4500e12, hbm_bytes_per_s: 7.7e12, sm_count: 148 },
            // gemm_perf.trtllm: 8192^3 bf16 in 0.737 ms = 1492 TFLOP/s; fp8 in 0.471 ms = 2335 TFLOP/s.
            gemm_eff_bf16: 1492.0 / 2250.0,
            gemm_eff_fp8: 2335.0 / 4500.0,
            // gemm_perf.trtllm: m=1..64, n=k=8192 streams the weights at 4.89-5.32 TB/s in bf16 and
            // 2.41-2.58 TB/s in fp8.
            weight_stream_bf16_bytes_per_s: 5.1e12,
            weight_stream_fp8_bytes_per_s: 2.5e12,
            // gemm_perf.trtllm: smallest bf16 GEMMs (m<=8, n,k<=256) from 1.71 us.
            gemm_floor_ns: 1_710,
            // context_attention_perf.trtllm, bf16, head_dim 128, isl 8192: median 969 TFLOP/s (up to
            // 1091); isl 1024, 8 heads, batch 1: 29.3-30.7 us per call.
            prefill_attn_flops: 969e12,
            prefill_attn_floor_ns: 26_000,
            // generation_attention_perf.trtllm, bf16 KV, 16 heads / 2 KV heads / d 128: batch 1 step 1
            // = 11.16 us; batch 64 step 16383 reads 1.07 GB in 158 us, 147 us past the floor (7.30 TB/s,
            // the rate `floor + bytes / rate` needs to meet it).
            decode_attn_bytes_per_s: 7.3e12,
            decode_attn_floor_ns: 11_160,
            allreduce_2: B200_AR2,
            allreduce_4: B200_AR4,
            allreduce_8: B200_AR8,
            gpus_per_node: 8,
            // No measured NVLink5 GPU-to-GPU copy rate in the data: the datasheet's 900 GB/s per GPU per
            // direction (b200_sxm.yaml intra_node_bw), the H100's measured setup.
            nvlink: KvLinkSpec {
                setup_ns: h100.nvlink.setup_ns,
                bytes_per_s_per_gpu: 900e9,
                source:
                    "NVLink5 datasheet 900 GB/s per direction (b200_sxm.yaml); setup as H100 (vidur send_recv floor)",
            },
            // Its nodes carry 800 Gb/s NICs (b200_sxm.yaml: CX8 XDR), twice the H100 nodes' line rate;
            // with no KV transfer measured on them, the H100's measured RDMA and TCP paths stand, which
            // understates the B200's network (say so when comparing disaggregated KV transfer).
            rdma: h100.rdma,
            tcp: h100.tcp,
            // No list price from the same source as the H100's: a scenario on B200 states its own.
            usd_per_gpu_hour_default: None,
            calibration: None,
        }
    }

    /// The GPU this profile runs on: a calibrated profile's `base_gpu`, else the GPU it is named for
    /// (`h100-sxm`, `h100-sxm-spec`).
    pub fn gpu(&self) -> Option<&'static Gpu> {
        match &self.calibration {
            Some(c) => Gpu::find(&c.base_gpu),
            None => Gpu::find(self.name.strip_suffix("-spec").unwrap_or(self.name)),
        }
    }

    /// The datasheet profile of a GPU by its name (or an alias), the base a calibrated profile builds on
    /// (`base_gpu` in its file). `None` for a GPU pdsim has no profile of.
    pub fn base_gpu(name: &str) -> Option<HardwareProfile> {
        Gpu::find(name).map(|g| (g.profile)())
    }

    /// The GPUs [`Self::base_gpu`] knows, for messages: `h100-sxm, ...`.
    pub fn gpu_names() -> String {
        GPUS.iter().map(|g| g.name).collect::<Vec<_>>().join(", ")
    }

    /// The KV link a backend uses.
    pub fn kv_link(&self, backend: KvBackend) -> &KvLinkSpec {
        match backend {
            KvBackend::Nvlink => &self.nvlink,
            KvBackend::Nccl | KvBackend::Nixl => &self.rdma,
            KvBackend::Tcp => &self.tcp,
        }
    }

    /// The measured all-reduce curve for `gpus` GPUs (2, 4 or 8; others use the next larger).
    pub fn allreduce_curve(&self, gpus: u32) -> LatencyCurve {
        match gpus {
            0..=2 => self.allreduce_2,
            3..=4 => self.allreduce_4,
            _ => self.allreduce_8,
        }
    }
}
