//! LLM architecture: the shapes that set FLOPs, weight bytes and KV bytes per token.
//!
//! Presets are transcribed from each model's published Hugging Face `config.json`; any dense decoder,
//! or mixture-of-experts decoder with GQA attention (Qwen3-MoE, MiniMax-M2, Mixtral), can be read from
//! the text of its own `config.json` with [`ModelSpec::from_hf_json`] (the input edge reads the file).

use serde::Deserialize;
use thiserror::Error;

/// Number format of weights or KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    Bf16,
    /// fp8 (e4m3) with one scale per tensor.
    Fp8,
    /// fp8 (e4m3) with one scale per 128 x 128 block (DeepSeek-V3 and Qwen3 FP8 checkpoints,
    /// `weight_block_size: [128, 128]`): the same byte a weight, other GEMM and MoE kernels. The
    /// scales (4 bytes per 16384 weights) are left out of the weight bytes.
    Fp8Block,
}

impl Dtype {
    pub fn bytes(self) -> u64 {
        match self {
            Dtype::Bf16 => 2,
            Dtype::Fp8 | Dtype::Fp8Block => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bf16 => "bf16",
            Dtype::Fp8 => "fp8",
            Dtype::Fp8Block => "fp8_block",
        }
    }
    pub fn parse(s: &str) -> Option<Dtype> {
        match s.to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => Some(Dtype::Bf16),
            "fp8" | "float8" | "fp8_e4m3" => Some(Dtype::Fp8),
            "fp8_block" | "fp8-block" => Some(Dtype::Fp8Block),
            _ => None,
        }
    }
    /// Whether it runs on fp8 Tensor Cores.
    pub fn is_fp8(self) -> bool {
        matches!(self, Dtype::Fp8 | Dtype::Fp8Block)
    }
}

/// How the router's token-expert pairs spread over the experts, as aiconfigurator's MoE
/// microbenchmarks draw them (its collectors' `distribution`): `Balanced` gives every expert the
/// same count; `PowerLaw101` and `PowerLaw12` draw per-expert counts from a power law of exponent
/// 1.01 or 1.2, and time the most loaded expert-parallel rank (a straggler, which every other rank
/// waits for at the next collective).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExpertLoad {
    Balanced,
    PowerLaw101,
    PowerLaw12,
}

impl ExpertLoad {
    /// aiconfigurator's default (`workload_distribution = "power_law"`, read as exponent 1.01):
    /// real routers are not balanced, and no published serving measurement gives their spread.
    pub const DEFAULT: ExpertLoad = ExpertLoad::PowerLaw101;
    pub const ALL: [ExpertLoad; 3] = [ExpertLoad::Balanced, ExpertLoad::PowerLaw101, ExpertLoad::PowerLaw12];

    pub fn name(self) -> &'static str {
        match self {
            ExpertLoad::Balanced => "balanced",
            ExpertLoad::PowerLaw101 => "power_law_1.01",
            ExpertLoad::PowerLaw12 => "power_law_1.2",
        }
    }
    pub fn parse(s: &str) -> Option<ExpertLoad> {
        ExpertLoad::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// The mixture-of-experts part of a model: which layers route each token to `top_k` of `experts`
/// gated MLPs of width `expert_intermediate`, plus shared experts every token runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeSpec {
    pub experts: u64,
    pub top_k: u64,
    pub expert_intermediate: u64,
    /// Width of the shared experts together (DeepSeek: `n_shared_experts x moe_intermediate_size`;
    /// 0: none).
    pub shared_intermediate: u64,
    /// Layers whose MLP is the dense one of width `intermediate_size` (DeepSeek's
    /// `first_k_dense_replace`, Qwen's `mlp_only_layers` and `decoder_sparse_step`); the rest are MoE.
    pub dense_layers: u64,
}

/// A decoder-only transformer (Llama-style: GQA attention, gated MLP), dense or with
/// mixture-of-experts MLPs (`moe`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub num_layers: u64,
    pub hidden_size: u64,
    pub num_heads: u64,
    pub num_kv_heads: u64,
    pub head_dim: u64,
    pub intermediate_size: u64,
    pub vocab_size: u64,
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: u64,
    /// `None`: every layer's MLP is dense.
    pub moe: Option<MoeSpec>,
}

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("unknown model '{0}': expected one of {PRESET_NAMES} or a path to a Hugging Face config.json")]
    UnknownPreset(String),
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}:{line}:{column}: not a valid config.json: {msg}")]
    Json { path: String, line: usize, column: usize, msg: String },
    #[error("{path}: field '{field}': {expected}")]
    Invalid { path: String, field: &'static str, expected: String },
    #[error("{path}: '{field}' is present: {what} is not supported yet (dense and mixture-of-experts decoders with GQA attention are)")]
    Unsupported { path: String, field: &'static str, what: &'static str },
    #[error("model '{name}': {why}")]
    NotYet { name: String, why: &'static str },
}

const PRESET_NAMES: &str =
    "llama-3.1-8b, llama-3.1-70b, llama-3.1-405b, llama-2-70b, qwen3-32b, qwen3-235b-a22b, qwen3-30b-a3b";

/// Every preset, by the name [`ModelSpec::preset`] takes.
pub const PRESETS: &[&str] = &[
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "llama-2-70b",
    "qwen3-32b",
    "qwen3-235b-a22b",
    "qwen3-30b-a3b",
];

#[derive(Deserialize)]
struct HfConfig {
    num_hidden_layers: Option<u64>,
    hidden_size: Option<u64>,
    num_attention_heads: Option<u64>,
    num_key_value_heads: Option<u64>,
    head_dim: Option<u64>,
    intermediate_size: Option<u64>,
    vocab_size: Option<u64>,
    tie_word_embeddings: Option<bool>,
    max_position_embeddings: Option<u64>,
    num_local_experts: Option<serde_json::Value>,
    num_experts: Option<serde_json::Value>,
    n_routed_experts: Option<serde_json::Value>,
    num_experts_per_tok: Option<u64>,
    experts_per_token: Option<u64>,
    moe_intermediate_size: Option<u64>,
    n_shared_experts: Option<u64>,
    shared_expert_intermediate_size: Option<u64>,
    shared_intermediate_size: Option<u64>,
    first_k_dense_replace: Option<u64>,
    decoder_sparse_step: Option<u64>,
    mlp_only_layers: Option<Vec<u64>>,
    kv_lora_rank: Option<serde_json::Value>,
    layer_types: Option<Vec<String>>,
    use_sliding_window: Option<bool>,
    sliding_window: Option<serde_json::Value>,
    text_config: Option<serde_json::Value>,
    _name_or_path: Option<String>,
}

/// The experts of a config, by the field names each family uses: the count (`num_experts` Qwen,
/// `num_local_experts` Mixtral / MiniMax / gpt-oss, `n_routed_experts` DeepSeek), top-k
/// (`num_experts_per_tok`, gpt-oss also `experts_per_token`), expert width (`moe_intermediate_size`,
/// else `intermediate_size`, as Mixtral and MiniMax give it), shared experts (DeepSeek
/// `n_shared_experts`, Qwen2-MoE `shared_expert_intermediate_size`, MiniMax `shared_intermediate_size`)
/// and dense layers (DeepSeek `first_k_dense_replace`; Qwen `mlp_only_layers` and layers off the
/// `decoder_sparse_step`). `None` for a dense model (no count, or 0).
fn moe_of(c: &HfConfig, num_layers: u64, path: &str) -> Result<Option<MoeSpec>, ModelError> {
    let invalid =
        |field: &'static str, expected: String| ModelError::Invalid { path: path.to_string(), field, expected };
    let mut experts = None;
    for (field, v) in [
        ("num_experts", &c.num_experts),
        ("num_local_experts", &c.num_local_experts),
        ("n_routed_experts", &c.n_routed_experts),
    ] {
        match v {
            None => {}
            Some(v) if v.is_null() || v.as_u64() == Some(0) => {}
            Some(v) => match v.as_u64() {
                Some(n) => {
                    experts.get_or_insert((field, n));
                }
                None => return Err(invalid(field, format!("expected an expert count, got {v}"))),
            },
        }
    }
    let Some((count_field, experts)) = experts else { return Ok(None) };
    let top_k = c.num_experts_per_tok.or(c.experts_per_token).ok_or_else(|| {
        invalid("num_experts_per_tok", format!("missing; a mixture-of-experts config ({count_field}) needs it"))
    })?;
    if top_k == 0 || top_k > experts {
        return Err(invalid("num_experts_per_tok", format!("expected 1 to {experts} (the experts), got {top_k}")));
    }
    let expert_intermediate = match c.moe_intermediate_size.or(c.intermediate_size) {
        Some(x) if x > 0 => x,
        _ => return Err(invalid("moe_intermediate_size", "missing; a mixture-of-experts config needs it".into())),
    };
    let shared_intermediate = match (c.n_shared_experts, c.shared_expert_intermediate_size, c.shared_intermediate_size)
    {
        (Some(n), _, _) => n * expert_intermediate,
        (None, Some(w), _) | (None, None, Some(w)) => w,
        _ => 0,
    };
    let step = c.decoder_sparse_step.unwrap_or(1).max(1);
    let only_dense: std::collections::BTreeSet<u64> = c.mlp_only_layers.iter().flatten().copied().collect();
    if let Some(&l) = only_dense.iter().find(|&&l| l >= num_layers) {
        return Err(invalid("mlp_only_layers", format!("layer {l} is past the last (num_hidden_layers {num_layers})")));
    }
    let first_dense = c.first_k_dense_replace.unwrap_or(0).min(num_layers);
    // Qwen2/3-MoE: layer i is sparse when i is not in mlp_only_layers and (i + 1) % step == 0
    let dense_layers =
        (0..num_layers).filter(|&i| i < first_dense || only_dense.contains(&i) || (i + 1) % step != 0).count() as u64;
    Ok(Some(MoeSpec { experts, top_k, expert_intermediate, shared_intermediate, dense_layers }))
}

impl ModelSpec {
    /// A preset by name (case-insensitive; the `meta-llama/` or `Qwen/` org prefix and an `-Instruct`
    /// suffix are accepted). Shapes from each model's Hugging Face `config.json`.
    pub fn preset(name: &str) -> Result<ModelSpec, ModelError> {
        let key = name.to_ascii_lowercase();
        let key = key.rsplit('/').next().unwrap_or(&key);
        let key = key.trim_end_matches("-instruct");
        let key = key.trim_end_matches("-fp8");
        let llama = |name: &str, l, h, heads, kv, inter, vocab, maxpos| ModelSpec {
            name: name.to_string(),
            num_layers: l,
            hidden_size: h,
            num_heads: heads,
            num_kv_heads: kv,
            head_dim: h / heads,
            intermediate_size: inter,
            vocab_size: vocab,
            tie_word_embeddings: false,
            max_position_embeddings: maxpos,
            moe: None,
        };
        // Qwen3-MoE: GQA attention with an explicit head_dim 128, every layer MoE (decoder_sparse_step
        // 1, mlp_only_layers []), no shared expert
        let qwen3_moe = |name: &str, l, h, heads, kv, experts, inter| ModelSpec {
            head_dim: 128,
            moe: Some(MoeSpec {
                experts,
                top_k: 8,
                expert_intermediate: inter,
                shared_intermediate: 0,
                dense_layers: 0,
            }),
            ..llama(name, l, h, heads, kv, 0, 151936, 40960)
        };
        Ok(match key {
            // meta-llama/Llama-3.1-8B config.json
            "llama-3.1-8b" | "meta-llama-3.1-8b" => llama("Llama-3.1-8B", 32, 4096, 32, 8, 14336, 128256, 131072),
            // meta-llama/Llama-3.1-70B config.json
            "llama-3.1-70b" | "meta-llama-3.1-70b" => llama("Llama-3.1-70B", 80, 8192, 64, 8, 28672, 128256, 131072),
            // meta-llama/Llama-3.1-405B config.json
            "llama-3.1-405b" | "meta-llama-3.1-405b" => {
                llama("Llama-3.1-405B", 126, 16384, 128, 8, 53248, 128256, 131072)
            }
            // meta-llama/Llama-2-70b-hf config.json
            "llama-2-70b" | "llama-2-70b-hf" | "llama-2-70b-chat-hf" => {
                llama("Llama-2-70B", 80, 8192, 64, 8, 28672, 32000, 4096)
            }
            // Qwen/Qwen3-32B config.json: head_dim 128 is set explicitly (64 x 128 != 5120).
            "qwen3-32b" => ModelSpec { head_dim: 128, ..llama("Qwen3-32B", 64, 5120, 64, 8, 25600, 151936, 40960) },
            // Qwen/Qwen3-235B-A22B config.json (the -FP8 checkpoint has the same shapes); its
            // intermediate_size 12288 is of no layer (all are MoE)
            "qwen3-235b-a22b" => ModelSpec {
                intermediate_size: 12288,
                ..qwen3_moe("Qwen3-235B-A22B", 94, 4096, 64, 4, 128, 1536)
            },
            // Qwen/Qwen3-30B-A3B config.json
            "qwen3-30b-a3b" => {
                ModelSpec { intermediate_size: 6144, ..qwen3_moe("Qwen3-30B-A3B", 48, 2048, 32, 4, 128, 768) }
            }
            "deepseek-r1" | "deepseek-v3" | "kimi-k2" | "kimi-k2.5" => {
                return Err(ModelError::NotYet {
                    name: name.to_string(),
                    why: "DeepSeek-V3-family models use MLA attention, which pdsim does not simulate yet",
                })
            }
            "gpt-oss-120b" | "gpt-oss-20b" => {
                return Err(ModelError::NotYet {
                    name: name.to_string(),
                    why: "gpt-oss alternates sliding-window and full attention with MXFP4 experts, which pdsim does not simulate yet",
                })
            }
            _ => return Err(ModelError::UnknownPreset(name.to_string())),
        })
    }

    /// Parses the text of a `config.json`; `path` only labels errors.
    pub fn from_hf_json(text: &str, path: &str) -> Result<ModelSpec, ModelError> {
        let c: HfConfig = serde_json::from_str(text).map_err(|e| ModelError::Json {
            path: path.to_string(),
            line: e.line(),
            column: e.column(),
            msg: e.to_string(),
        })?;
        let unsupported =
            |field: &'static str, what: &'static str| ModelError::Unsupported { path: path.to_string(), field, what };
        if c.text_config.is_some() {
            return Err(unsupported("text_config", "a multimodal wrapper (Kimi-K2.5, Llama-4, Qwen-VL)"));
        }
        if c.kv_lora_rank.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(unsupported("kv_lora_rank", "MLA attention (DeepSeek-V3 family)"));
        }
        if c.layer_types.as_ref().is_some_and(|t| t.iter().any(|l| l != "full_attention")) {
            return Err(unsupported(
                "layer_types",
                "sliding-window attention alternating with full attention (gpt-oss)",
            ));
        }
        if c.use_sliding_window == Some(true) && c.sliding_window.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(unsupported("use_sliding_window", "sliding-window attention"));
        }
        let need = |v: Option<u64>, field: &'static str| -> Result<u64, ModelError> {
            match v {
                Some(x) if x > 0 => Ok(x),
                Some(_) => Err(ModelError::Invalid {
                    path: path.to_string(),
                    field,
                    expected: "expected a positive integer, got 0".into(),
                }),
                None => Err(ModelError::Invalid {
                    path: path.to_string(),
                    field,
                    expected: "missing; a dense decoder config needs it".into(),
                }),
            }
        };
        let hidden = need(c.hidden_size, "hidden_size")?;
        let heads = need(c.num_attention_heads, "num_attention_heads")?;
        let kv = match c.num_key_value_heads {
            None => heads,
            Some(_) => need(c.num_key_value_heads, "num_key_value_heads")?,
        };
        if heads % kv != 0 {
            return Err(ModelError::Invalid {
                path: path.to_string(),
                field: "num_key_value_heads",
                expected: format!("must divide num_attention_heads ({heads}), got {kv}"),
            });
        }
        let head_dim = match c.head_dim {
            Some(_) => need(c.head_dim, "head_dim")?,
            None => hidden / heads,
        };
        let name = c
            ._name_or_path
            .clone()
            .or_else(|| {
                std::path::Path::new(path)
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| path.to_string());
        let num_layers = need(c.num_hidden_layers, "num_hidden_layers")?;
        let moe = moe_of(&c, num_layers, path)?;
        Ok(ModelSpec {
            name,
            num_layers,
            hidden_size: hidden,
            num_heads: heads,
            num_kv_heads: kv,
            head_dim,
            intermediate_size: need(c.intermediate_size, "intermediate_size")?,
            vocab_size: need(c.vocab_size, "vocab_size")?,
            tie_word_embeddings: c.tie_word_embeddings.unwrap_or(false),
            max_position_embeddings: c.max_position_embeddings.unwrap_or(u64::MAX),
            moe,
        })
    }

    /// Width of the fused QKV projection output: `(heads + 2 kv_heads) * head_dim`.
    pub fn qkv_width(&self) -> u64 {
        (self.num_heads + 2 * self.num_kv_heads) * self.head_dim
    }

    /// Parameters of one layer's attention projections: `hidden*qkv_width + heads*head_dim*hidden`.
    pub fn attention_params(&self) -> u64 {
        self.hidden_size * self.qkv_width() + self.num_heads * self.head_dim * self.hidden_size
    }

    /// Linear-layer parameters of one dense transformer layer:
    /// `hidden*qkv_width + heads*head_dim*hidden + 3*hidden*intermediate` (Q,K,V,O and gated MLP).
    pub fn layer_linear_params(&self) -> u64 {
        self.attention_params() + 3 * self.hidden_size * self.intermediate_size
    }

    /// Layers whose MLP is mixture-of-experts (0 for a dense model).
    pub fn moe_layers(&self) -> u64 {
        self.moe.map_or(0, |m| self.num_layers - m.dense_layers)
    }

    /// Layers whose MLP is the dense one.
    pub fn dense_layers(&self) -> u64 {
        self.num_layers - self.moe_layers()
    }

    /// Parameters of the routed experts of every MoE layer: `moe_layers * experts * 3*hidden*expert_inter`.
    /// Expert parallelism divides these (and only these) across GPUs.
    pub fn routed_expert_params(&self) -> u64 {
        self.moe.map_or(0, |m| self.moe_layers() * m.experts * 3 * self.hidden_size * m.expert_intermediate)
    }

    /// Linear-layer parameters of one MoE layer besides its routed experts: attention, the router
    /// (`hidden*experts`) and the shared experts (`3*hidden*shared_inter`).
    fn moe_layer_dense_params(&self, m: &MoeSpec) -> u64 {
        self.attention_params() + self.hidden_size * m.experts + 3 * self.hidden_size * m.shared_intermediate
    }

    /// All parameters: layers (linear + 2 RMSNorm vectors), embedding, LM head unless tied, final norm.
    pub fn total_params(&self) -> u64 {
        let embed = self.vocab_size * self.hidden_size;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        let dense = self.dense_layers() * (self.layer_linear_params() + 2 * self.hidden_size);
        let moe = self.moe.map_or(0, |m| self.moe_layers() * (self.moe_layer_dense_params(&m) + 2 * self.hidden_size))
            + self.routed_expert_params();
        dense + moe + embed + head + self.hidden_size
    }

    /// Parameters one token runs through: every parameter but the routed experts it is not sent to
    /// (`top_k` of `experts` per MoE layer).
    pub fn active_params(&self) -> u64 {
        match self.moe {
            None => self.total_params(),
            Some(m) => self.total_params() - self.routed_expert_params() / m.experts * (m.experts - m.top_k),
        }
    }

    pub fn weight_bytes(&self, dtype: Dtype) -> u64 {
        self.total_params() * dtype.bytes()
    }

    /// Weights one GPU holds: everything but the routed experts split `tp` ways (attention heads,
    /// MLP columns, vocabulary), the routed experts `expert_shards` ways (MoE TP x EP).
    pub fn weight_bytes_per_gpu(&self, dtype: Dtype, tp: u32, expert_shards: u32) -> u64 {
        let t = tp.max(1) as u64;
        if self.moe.is_none() {
            return self.weight_bytes(dtype).div_ceil(t);
        }
        let routed = self.routed_expert_params() * dtype.bytes();
        (self.weight_bytes(dtype) - routed).div_ceil(t) + routed.div_ceil(expert_shards.max(1) as u64)
    }

    /// KV cache per token: `2 (K and V) * layers * kv_heads * head_dim * bytes`.
    pub fn kv_bytes_per_token(&self, kv_dtype: Dtype) -> u64 {
        2 * self.num_layers * self.num_kv_heads * self.head_dim * kv_dtype.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama70b_has_70_6b_params_and_320kib_kv_per_token() {
        let m = ModelSpec::preset("meta-llama/Llama-3.1-70B-Instruct").unwrap();
        let p = m.total_params() as f64 / 1e9;
        assert!((p - 70.55).abs() < 0.05, "{p}");
        assert_eq!(m.kv_bytes_per_token(Dtype::Bf16), 327_680);
        assert_eq!(m.kv_bytes_per_token(Dtype::Fp8), 163_840);
    }

    #[test]
    fn preset_param_counts_match_published_sizes() {
        for (name, billions, tol) in [
            ("llama-3.1-8b", 8.03, 0.02),
            ("llama-3.1-405b", 405.85, 0.5),
            ("llama-2-70b", 68.98, 0.05),
            ("qwen3-32b", 32.76, 0.1),
        ] {
            let p = ModelSpec::preset(name).unwrap().total_params() as f64 / 1e9;
            assert!((p - billions).abs() < tol, "{name}: {p}");
        }
    }

    #[test]
    fn hf_config_round_trip_and_errors() {
        let json = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":14336,
            "num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"vocab_size":128256}"#;
        let m = ModelSpec::from_hf_json(json, "x/config.json").unwrap();
        assert_eq!(m.total_params(), ModelSpec::preset("llama-3.1-8b").unwrap().total_params());
        let e = ModelSpec::from_hf_json("{\"hidden_size\": 4096,", "c.json").unwrap_err();
        assert!(e.to_string().starts_with("c.json:1:"), "{e}");
        let e = ModelSpec::from_hf_json(r#"{"hidden_size":4096}"#, "c.json").unwrap_err();
        assert!(e.to_string().contains("num_attention_heads"), "{e}");
        let e = ModelSpec::from_hf_json(&json.replace('}', r#","num_local_experts":8}"#), "c.json").unwrap_err();
        assert!(e.to_string().contains("num_experts_per_tok") && e.to_string().contains("missing"), "{e}");
        assert!(ModelSpec::preset("gpt-5").is_err());
    }

    /// Qwen3-235B-A22B is 235B parameters with 22B active, Qwen3-30B-A3B 30.5B with 3.3B active
    /// (their model cards); the presets are the config.json shapes.
    #[test]
    fn moe_presets_have_their_published_total_and_active_parameters() {
        for (name, total, active) in [("qwen3-235b-a22b", 235.1, 22.2), ("qwen3-30b-a3b", 30.5, 3.3)] {
            let m = ModelSpec::preset(name).unwrap();
            let (t, a) = (m.total_params() as f64 / 1e9, m.active_params() as f64 / 1e9);
            assert!((t - total).abs() < 0.3 && (a - active).abs() < 0.2, "{name}: {t} total, {a} active");
            assert_eq!(m.moe_layers(), m.num_layers);
        }
        assert_eq!(
            ModelSpec::preset("Qwen/Qwen3-235B-A22B-FP8").unwrap(),
            ModelSpec::preset("qwen3-235b-a22b").unwrap()
        );
        let e = ModelSpec::preset("deepseek-ai/DeepSeek-R1").unwrap_err().to_string();
        assert!(e.contains("MLA"), "{e}");
    }

    /// Expert parallelism divides the routed experts, and only them: at EP 4 the 94 layers x 128
    /// experts of Qwen3-235B hold a quarter each, the attention and embeddings stay split by TP.
    #[test]
    fn expert_parallelism_divides_expert_weights_only() {
        let m = ModelSpec::preset("qwen3-235b-a22b").unwrap();
        let routed = m.routed_expert_params();
        assert_eq!(routed, 94 * 128 * 3 * 4096 * 1536);
        let rest = m.total_params() - routed;
        let tp4_ep1 = m.weight_bytes_per_gpu(Dtype::Fp8Block, 4, 1);
        let tp4_ep4 = m.weight_bytes_per_gpu(Dtype::Fp8Block, 4, 4);
        assert_eq!(tp4_ep4, rest.div_ceil(4) + routed.div_ceil(4));
        assert_eq!(tp4_ep1, rest.div_ceil(4) + routed);
        let d = ModelSpec::preset("llama-3.1-70b").unwrap();
        assert_eq!(d.weight_bytes_per_gpu(Dtype::Bf16, 4, 4), d.weight_bytes(Dtype::Bf16).div_ceil(4));
    }

    /// The config.json readers against the real files in ../shared/models (skipped without them).
    #[test]
    fn hf_configs_of_moe_models_read_as_their_presets_or_say_what_is_missing() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
        if !dir.is_dir() {
            eprintln!("SKIPPED hf_configs_of_moe_models...: {} is absent", dir.display());
            return;
        }
        let read = |f: &str| {
            let p = dir.join(f);
            ModelSpec::from_hf_json(&std::fs::read_to_string(&p).unwrap(), &p.to_string_lossy())
        };
        for (file, preset) in [
            ("Qwen--Qwen3-235B-A22B.json", "qwen3-235b-a22b"),
            ("Qwen--Qwen3-235B-A22B-FP8.json", "qwen3-235b-a22b"),
            ("Qwen--Qwen3-30B-A3B.json", "qwen3-30b-a3b"),
            ("Qwen--Qwen3-32B.json", "qwen3-32b"),
            ("meta-llama--Meta-Llama-3.1-70B.json", "llama-3.1-70b"),
        ] {
            let m = read(file).unwrap();
            let p = ModelSpec::preset(preset).unwrap();
            assert_eq!(
                ModelSpec { name: p.name.clone(), max_position_embeddings: p.max_position_embeddings, ..m },
                p,
                "{file}"
            );
        }
        // MiniMax-M2.5: 256 experts top-8 of width intermediate_size (1536), no shared expert
        let mm = read("MiniMaxAI--MiniMax-M2.5.json").unwrap();
        assert_eq!(
            mm.moe,
            Some(MoeSpec {
                experts: 256,
                top_k: 8,
                expert_intermediate: 1536,
                shared_intermediate: 0,
                dense_layers: 0
            })
        );
        let p = mm.total_params() as f64 / 1e9;
        assert!((p - 228.7).abs() < 1.0, "MiniMax-M2.5 is a 229B model: {p}");
        for (file, field) in [
            ("deepseek-ai--DeepSeek-R1.json", "kv_lora_rank"),
            ("openai--gpt-oss-120b.json", "layer_types"),
            ("moonshotai--Kimi-K2.5.json", "text_config"),
        ] {
            let e = read(file).unwrap_err().to_string();
            assert!(e.contains(&format!("'{field}' is present")) && e.contains("not supported yet"), "{file}: {e}");
        }
    }
}
