//! LLM architecture: the shapes that set FLOPs, weight bytes and KV bytes per token.
//!
//! Presets are transcribed from each model's published Hugging Face `config.json`; any dense decoder
//! can be read from the text of its own `config.json` with [`ModelSpec::from_hf_json`] (the input edge
//! reads the file).

use serde::Deserialize;
use thiserror::Error;

/// Number format of weights or KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    Bf16,
    Fp8,
}

impl Dtype {
    pub fn bytes(self) -> u64 {
        match self {
            Dtype::Bf16 => 2,
            Dtype::Fp8 => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bf16 => "bf16",
            Dtype::Fp8 => "fp8",
        }
    }
    pub fn parse(s: &str) -> Option<Dtype> {
        match s.to_ascii_lowercase().as_str() {
            "bf16" | "bfloat16" => Some(Dtype::Bf16),
            "fp8" | "float8" | "fp8_e4m3" => Some(Dtype::Fp8),
            _ => None,
        }
    }
}

/// A dense decoder-only transformer (Llama-style: GQA attention, gated MLP).
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
    #[error("{path}: '{field}' is present: mixture-of-experts models are not supported yet, only dense decoders")]
    Moe { path: String, field: &'static str },
}

const PRESET_NAMES: &str = "llama-3.1-8b, llama-3.1-70b, llama-3.1-405b, llama-2-70b, qwen3-32b";

/// Every preset, by the name [`ModelSpec::preset`] takes.
pub const PRESETS: &[&str] = &["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-2-70b", "qwen3-32b"];

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
    _name_or_path: Option<String>,
}

impl ModelSpec {
    /// A preset by name (case-insensitive; the `meta-llama/` or `Qwen/` org prefix and an `-Instruct`
    /// suffix are accepted). Shapes from each model's Hugging Face `config.json`.
    pub fn preset(name: &str) -> Result<ModelSpec, ModelError> {
        let key = name.to_ascii_lowercase();
        let key = key.rsplit('/').next().unwrap_or(&key);
        let key = key.trim_end_matches("-instruct");
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
        for (field, v) in [
            ("num_local_experts", &c.num_local_experts),
            ("num_experts", &c.num_experts),
            ("n_routed_experts", &c.n_routed_experts),
        ] {
            if v.as_ref().is_some_and(|v| !v.is_null() && v.as_u64() != Some(0)) {
                return Err(ModelError::Moe { path: path.to_string(), field });
            }
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
        Ok(ModelSpec {
            name,
            num_layers: need(c.num_hidden_layers, "num_hidden_layers")?,
            hidden_size: hidden,
            num_heads: heads,
            num_kv_heads: kv,
            head_dim,
            intermediate_size: need(c.intermediate_size, "intermediate_size")?,
            vocab_size: need(c.vocab_size, "vocab_size")?,
            tie_word_embeddings: c.tie_word_embeddings.unwrap_or(false),
            max_position_embeddings: c.max_position_embeddings.unwrap_or(u64::MAX),
        })
    }

    /// Width of the fused QKV projection output: `(heads + 2 kv_heads) * head_dim`.
    pub fn qkv_width(&self) -> u64 {
        (self.num_heads + 2 * self.num_kv_heads) * self.head_dim
    }

    /// Linear-layer parameters of one transformer layer:
    /// `hidden*qkv_width + heads*head_dim*hidden + 3*hidden*intermediate` (Q,K,V,O and gated MLP).
    pub fn layer_linear_params(&self) -> u64 {
        self.hidden_size * self.qkv_width()
            + self.num_heads * self.head_dim * self.hidden_size
            + 3 * self.hidden_size * self.intermediate_size
    }

    /// All parameters: layers (linear + 2 RMSNorm vectors), embedding, LM head unless tied, final norm.
    pub fn total_params(&self) -> u64 {
        let embed = self.vocab_size * self.hidden_size;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        self.num_layers * (self.layer_linear_params() + 2 * self.hidden_size) + embed + head + self.hidden_size
    }

    pub fn weight_bytes(&self, dtype: Dtype) -> u64 {
        self.total_params() * dtype.bytes()
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
        let e = ModelSpec::from_hf_json(r#"{"num_local_experts":8}"#, "c.json").unwrap_err();
        assert!(e.to_string().contains("mixture-of-experts"), "{e}");
        assert!(ModelSpec::preset("gpt-5").is_err());
    }
}
