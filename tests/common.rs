//! Helpers shared by the end-to-end tests: run the `pdsim` binary, make scratch directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scenario(name: &str) -> PathBuf {
    root().join("scenarios").join(name)
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "pdsim-test-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn pdsim<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_pdsim")).args(args).output().expect("pdsim runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `pdsim run ... --json` and parses the summary.
pub fn run_json(files: &[&Path], extra: &[&str]) -> serde_json::Value {
    let mut args: Vec<std::ffi::OsString> = vec!["run".into()];
    args.extend(files.iter().map(|f| f.as_os_str().to_owned()));
    args.extend(extra.iter().map(|s| std::ffi::OsString::from(*s)));
    args.push("--json".into());
    let o = pdsim(&args);
    assert!(o.status.success(), "pdsim {:?} failed: {}", args, stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("--json is not one JSON object: {e}\n{}", stdout(&o)))
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `../shared` beside the project, or `None` after saying the test is skipped.
pub fn shared(what: &str) -> Option<PathBuf> {
    let p = root().join("..").join("shared").join(what);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} not found (../shared is absent on this machine)", p.display());
        None
    }
}

/// A small disaggregated scenario: Llama-3.1-8B, 1 prefill + 1 decode worker at TP1.
pub const SMALL: &str = r#"
kind: Scenario
name: small
model: llama-3.1-8b
workload:
  kind: poisson
  rate: 20
  isl: 512
  osl: 64
requests: 300
seed: 7
---
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
metadata: {name: small}
spec:
  components:
    frontend:
      config: {maxConcurrentRequests: 1000, requestTimeoutMs: 60000}
    prefill:
      replicas: 1
      config: {tensorParallelSize: 1, maxBatchSize: 8, maxBatchTokens: 8192}
    decode:
      replicas: 1
      config: {tensorParallelSize: 1, maxBatchSize: 64, kvCacheMemoryFraction: 0.9}
    kvTransfer:
      backend: nccl
"#;
