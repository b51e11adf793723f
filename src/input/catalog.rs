//! Named things the input edge turns into specs: hardware profiles by name or profile file (the
//! committed calibrations are built into the binary), models by preset name, `config.json` path or
//! model directory. These constructors live here, not beside the specs, because they read files.

use std::path::Path;

use crate::spec::fitted;
use crate::spec::hardware::{HardwareError, HardwareProfile};
use crate::spec::model::{ModelError, ModelSpec};

/// The committed H100 SXM calibration (`calibration/profiles/h100-sxm.toml`), built into the binary.
const H100_SXM_CALIBRATION: &str = include_str!("../../calibration/profiles/h100-sxm.toml");

fn h100_sxm_calibration() -> std::sync::Arc<fitted::Calibration> {
    static CELL: std::sync::OnceLock<std::sync::Arc<fitted::Calibration>> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let cal = fitted::Calibration::from_toml(H100_SXM_CALIBRATION, "calibration/profiles/h100-sxm.toml")
            .expect("the committed profile parses (tested)");
        std::sync::Arc::new(cal)
    })
    .clone()
}

impl HardwareProfile {
    /// `h100-sxm`: the datasheet profile with the committed calibration; `h100-sxm-spec`: the
    /// datasheet roofline alone; a path to a `.toml` written by `pdsim calibrate`: the memory, links
    /// and roofline of the GPU its `base_gpu` names, with that profile's fitted kernels.
    pub fn by_name(name: &str) -> Result<HardwareProfile, HardwareError> {
        match name.to_ascii_lowercase().as_str() {
            "h100-sxm" | "h100" | "h100_sxm" => {
                Ok(HardwareProfile { calibration: Some(h100_sxm_calibration()), ..HardwareProfile::h100_sxm() })
            }
            "h100-sxm-spec" => Ok(HardwareProfile { name: "h100-sxm-spec", ..HardwareProfile::h100_sxm() }),
            _ if name.ends_with(".toml") => {
                let text = std::fs::read_to_string(name)
                    .map_err(|source| fitted::ProfileError::Io { path: name.to_string(), source })?;
                let cal = fitted::Calibration::from_toml(&text, name)?;
                let base = HardwareProfile::base_gpu(&cal.base_gpu).ok_or_else(|| HardwareError::UnknownBase {
                    path: name.to_string(),
                    base: cal.base_gpu.clone(),
                    known: HardwareProfile::BASE_GPUS.join(", "),
                })?;
                Ok(HardwareProfile { calibration: Some(std::sync::Arc::new(cal)), ..base })
            }
            _ => Err(HardwareError::Unknown(name.to_string())),
        }
    }
}

impl ModelSpec {
    /// A preset name, a path to a Hugging Face `config.json`, or a directory holding one (a downloaded
    /// model), relative to `base_dir` when given. A name that is none of these is an unknown preset:
    /// a Hugging Face id such as `Qwen/Qwen3-0.6B` looks like a path but is not one.
    pub fn resolve(name_or_path: &str, base_dir: Option<&Path>) -> Result<ModelSpec, ModelError> {
        let name = name_or_path.trim();
        let unknown = match ModelSpec::preset(name) {
            Ok(m) => return Ok(m),
            Err(e) => e,
        };
        let p = Path::new(name);
        let full = match base_dir {
            Some(b) if p.is_relative() => b.join(p),
            _ => p.to_path_buf(),
        };
        if full.is_dir() {
            ModelSpec::from_hf_config(&full.join("config.json"))
        } else if full.exists() || name.ends_with(".json") {
            ModelSpec::from_hf_config(&full)
        } else {
            Err(unknown)
        }
    }

    /// Reads a dense model from a Hugging Face `config.json`.
    pub fn from_hf_config(path: &Path) -> Result<ModelSpec, ModelError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io { path: shown.clone(), source })?;
        ModelSpec::from_hf_json(&text, &shown)
    }
}
