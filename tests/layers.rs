//! The layering of `DESIGN.md` §1, checked on the source: every `crate::<module>` path in a file
//! under `src/<layer>/` names a layer that this layer may import, and the layers that do no I/O
//! touch no files. A change that runs an import against the layers fails here, naming the file,
//! the line and the import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each layer and the layers it may import (itself always). Apps (everything not listed) may import
/// any layer; no layer may import an app.
const LAYERS: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("spec", &["core"]),
    ("metrics", &["core"]),
    ("perf", &["core", "spec"]),
    ("promql", &["core", "spec", "metrics"]),
    ("workload", &["core", "spec"]),
    ("sim", &["core", "spec", "perf", "metrics"]),
    ("input", &["core", "spec", "perf", "workload", "promql", "metrics"]),
    ("analysis", &["core", "spec", "metrics"]),
    ("report", &["core", "spec", "metrics", "analysis", "promql"]),
];

/// Imports against the layers that are still to be removed, as `(file, imported layer)`: each one
/// listed here is a known debt, and the test fails once it is gone so that the list only shrinks.
const KNOWN_DEBT: &[(&str, &str)] = &[];

/// Layers whose code never reads or writes files (the engine and what it runs on).
const NO_IO: &[&str] = &["core", "spec", "perf", "sim", "metrics", "promql", "analysis"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The layer (or app) a file belongs to: its first folder under `src/`, or its stem at the top.
fn owner(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src/");
    let first = rel.components().next().expect("non-empty").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// One source file: its path from the repository root (`src/sim/mod.rs`), the layer it belongs to
/// and its text.
struct SourceFile {
    rel: String,
    owner: String,
    text: String,
}

/// Every `.rs` file under `src/`, in path order.
fn source_files() -> Vec<SourceFile> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|f| SourceFile {
            rel: f
                .strip_prefix(src.parent().expect("src/ has a parent"))
                .expect("under the root")
                .to_string_lossy()
                .replace('\\', "/"),
            owner: owner(&src, f),
            text: std::fs::read_to_string(f).expect("readable source"),
        })
        .collect()
}

/// `crate::name` paths on a line of code (comments and string literals left out).
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut out = Vec::new();
    let mut in_str = false;
    let mut prev = ' ';
    let mut cleaned = String::with_capacity(code.len());
    for c in code.chars() {
        if c == '"' && prev != '\\' {
            in_str = !in_str;
        } else if !in_str {
            cleaned.push(c);
        }
        prev = c;
    }
    let mut rest = cleaned.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn imports_follow_the_layers() {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut debt_seen = Vec::new();
    for f in source_files() {
        let me = f.owner.as_str();
        let Some(allowed) = layers.get(me) else { continue };
        for (n, line) in f.text.lines().enumerate() {
            for target in crate_paths(line) {
                if target == me || target == "VERSION" || allowed.contains(&target.as_str()) {
                    continue;
                }
                if KNOWN_DEBT.contains(&(f.rel.as_str(), target.as_str())) {
                    debt_seen.push((f.rel.clone(), target));
                    continue;
                }
                let kind = if layers.contains_key(target.as_str()) { "layer" } else { "app" };
                let may = if allowed.is_empty() { "nothing".to_string() } else { allowed.join(", ") };
                wrong.push(format!(
                    "{}:{}: layer `{me}` imports {kind} `{target}` (it may import: {may})",
                    f.rel,
                    n + 1
                ));
            }
        }
    }
    for (file, target) in KNOWN_DEBT {
        assert!(
            debt_seen.iter().any(|(f, t)| f == file && t == target),
            "{file} no longer imports `{target}`: remove it from KNOWN_DEBT"
        );
    }
    assert!(wrong.is_empty(), "{} imports against the layers of DESIGN.md §1:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn engine_layers_do_no_io() {
    let mut wrong = Vec::new();
    for f in source_files() {
        if !NO_IO.contains(&f.owner.as_str()) {
            continue;
        }
        // unit tests may build fixtures on disk
        let code = f.text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let c = line.split("//").next().unwrap_or("");
            for io in ["std::fs", "File::", "std::io::stdin", "std::net", "std::process", "include_str!"] {
                if c.contains(io) {
                    wrong.push(format!("{}:{}: `{io}` in layer `{}`", f.rel, n + 1, f.owner));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "I/O in layers that must do none:\n{}", wrong.join("\n"));
}

/// The checker itself: a path in a comment or a string is no import; one in code is.
#[test]
fn crate_paths_are_read_from_code_only() {
    assert_eq!(crate_paths("use crate::sim::{simulate, Traffic};"), vec!["sim"]);
    assert_eq!(crate_paths("let x = crate::perf::step::gemm_ns(a); // crate::runner"), vec!["perf"]);
    assert_eq!(crate_paths(r#"let s = "crate::runner::run";"#), Vec::<String>::new());
    assert_eq!(crate_paths("$crate::core::x; mycrate::sim"), Vec::<String>::new());
}
