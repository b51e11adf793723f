//! Named things the input edge turns into specs: hardware profiles by name or profile file (the
//! committed calibrations are built into the binary), models by preset name, `config.json` path or
//! model directory. These constructors live here, not beside the specs, because they read files.

use std::path::Path;

use crate::spec::fitted;
use crate::spec::hardware::{Gpu, HardwareError, HardwareProfile};
use crate::spec::model::{ModelError, ModelSpec};

/// The committed calibrations built into the binary, by the GPU they complete (their `base_gpu`):
/// a new GPU with a committed profile adds one line here and its datasheet profile in
/// `spec::hardware`.
const BUILT_IN_CALIBRATIONS: &[(&str, &str, &str)] = &[
    ("h100-sxm", "calibration/profiles/h100-sxm.toml", include_str!("../../calibration/profiles/h100-sxm.toml")),
    ("h200-sxm", "calibration/profiles/h200-sxm.toml", include_str!("../../calibration/profiles/h200-sxm.toml")),
    ("b200-sxm", "calibration/profiles/b200-sxm.toml", include_str!("../../calibration/profiles/b200-sxm.toml")),
];

fn built_in_calibration(gpu: &str) -> Option<std::sync::Arc<fitted::Calibration>> {
    type Parsed = Vec<(&'static str, std::sync::Arc<fitted::Calibration>)>;
    static CELL: std::sync::OnceLock<Parsed> = std::sync::OnceLock::new();
    let all = CELL.get_or_init(|| {
        BUILT_IN_CALIBRATIONS
            .iter()
            .map(|&(gpu, path, text)| {
                let cal = fitted::Calibration::from_toml(text, path).expect("the committed profiles parse (tested)");
                (gpu, std::sync::Arc::new(cal))
            })
            .collect()
    });
    all.iter().find(|(g, _)| *g == gpu).map(|(_, c)| c.clone())
}

impl HardwareProfile {
    /// A GPU's name (`h100-sxm`): its datasheet profile with the committed calibration, when there
    /// is one; `<gpu>-spec`: the datasheet roofline alone; a path to a `.toml` written by `pdsim
    /// calibrate`: the memory, links and roofline of the GPU its `base_gpu` names, with that
    /// profile's fitted kernels.
    pub fn by_name(name: &str) -> Result<HardwareProfile, HardwareError> {
        if name.ends_with(".toml") {
            let text = std::fs::read_to_string(name)
                .map_err(|source| fitted::ProfileError::Io { path: name.to_string(), source })?;
            let cal = fitted::Calibration::from_toml(&text, name)?;
            let base = HardwareProfile::base_gpu(&cal.base_gpu).ok_or_else(|| HardwareError::UnknownBase {
                path: name.to_string(),
                base: cal.base_gpu.clone(),
                known: HardwareProfile::gpu_names(),
            })?;
            return Ok(HardwareProfile { calibration: Some(std::sync::Arc::new(cal)), ..base });
        }
        let norm = name.trim().to_ascii_lowercase();
        if let Some(gpu) = norm.strip_suffix("-spec").or_else(|| norm.strip_suffix("_spec")).and_then(Gpu::find) {
            return Ok(HardwareProfile { name: gpu.spec_name, ..(gpu.profile)() });
        }
        match Gpu::find(&norm) {
            Some(gpu) => match built_in_calibration(gpu.name) {
                Some(cal) => Ok(HardwareProfile { calibration: Some(cal), ..(gpu.profile)() }),
                None => Err(HardwareError::Uncalibrated { gpu: gpu.name, spec: gpu.spec_name }),
            },
            None => Err(HardwareError::Unknown(name.to_string())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::hardware::GPUS;

    #[test]
    fn every_gpu_resolves_by_its_names_and_an_unknown_one_lists_them() {
        for g in GPUS {
            let spellings: Vec<String> = std::iter::once(g.name.to_string())
                .chain(g.aliases.iter().map(|a| a.to_ascii_uppercase()))
                .chain(std::iter::once(g.name.replace('-', "_")))
                .collect();
            for name in &spellings {
                match built_in_calibration(g.name) {
                    // a GPU with a committed calibration runs on it by its name
                    Some(_) => {
                        let hw = HardwareProfile::by_name(name).unwrap();
                        assert_eq!((hw.name, hw.calibration.is_some()), (g.name, true), "{name}");
                    }
                    // one without says so, and names its datasheet profile
                    None => {
                        let e = HardwareProfile::by_name(name).unwrap_err().to_string();
                        assert!(e.contains("no calibrated profile") && e.contains(g.spec_name), "{e}");
                    }
                }
            }
            let spec = HardwareProfile::by_name(&format!("{}-spec", g.name)).unwrap();
            assert_eq!((spec.name, spec.calibration.is_none()), (g.spec_name, true));
            assert_eq!(spec.gpu().map(|x| x.name), Some(g.name));
            assert_eq!(HardwareProfile::base_gpu(g.name).unwrap().name, g.name);
        }
        // each built-in profile was fitted for the GPU it is filed under
        for &(gpu, path, _) in BUILT_IN_CALIBRATIONS {
            assert_eq!(built_in_calibration(gpu).unwrap().base_gpu, gpu, "{path}");
        }
        assert!(built_in_calibration("b200-sxm").is_some());
        assert_eq!(HardwareProfile::by_name("h100-sxm").unwrap().gpu().map(|g| g.name), Some("h100-sxm"));
        let e = HardwareProfile::by_name("a100").unwrap_err().to_string();
        assert!(e.contains("'a100'") && e.contains(&HardwareProfile::gpu_names()), "{e}");
        assert!(HardwareProfile::base_gpu("h100-sxm-spec").is_none(), "a base is a GPU, not a profile name");
    }
}
