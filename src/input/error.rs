//! Errors of scenario loading. Every message starts with where the problem is (`file:line:column`, or the
//! `--set` argument), then the field path, then what was expected and what was found:
//! `scenarios/x.yaml:12:5: spec.components.decode.config.maxBatchSize: expected a positive integer, got -4`.

use std::fmt;
use std::path::PathBuf;

/// Where a value or a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A place in a scenario file; `line` and `column` are 1-based, 0 when unknown.
    File { file: String, line: u32, column: u32 },
    /// A `--set KEY=VALUE` argument (the whole argument).
    Set(String),
}

impl Origin {
    pub(crate) fn file(file: &str, line: u64, column: u64) -> Origin {
        Origin::File {
            file: file.to_string(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// A file as a whole (no line).
    pub(crate) fn whole_file(file: &str) -> Origin {
        Origin::file(file, 0, 0)
    }

    pub(crate) fn is_set(&self) -> bool {
        matches!(self, Origin::Set(_))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, line: 0, .. } => write!(f, "{file}"),
            Origin::File { file, line, column: 0 } => write!(f, "{file}:{line}"),
            Origin::File { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::Set(arg) => write!(f, "--set {arg}"),
        }
    }
}

/// Everything that can be wrong with a scenario. The CLI maps every variant to exit code 2.
#[derive(thiserror::Error, Debug)]
pub enum ScenarioError {
    #[error("{}: cannot read: {source}", .file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Found while parsing the YAML: a syntax error, a value of the wrong type, an unknown field.
    /// `field` is the path of the enclosing keys (empty when not known, e.g. for syntax errors).
    #[error("{origin}: {}{msg}", field_prefix(.field))]
    Parse { origin: Origin, field: String, msg: String },
    /// A value that parsed but is not allowed (`msg` says what was expected and what was found).
    #[error("{origin}: {field}: {msg}")]
    Invalid { origin: Origin, field: String, msg: String },
    /// A problem with the set of documents: a missing or second deployment, an unsupported `kind`, no workload.
    #[error("{origin}: {msg}")]
    Document { origin: Origin, msg: String },
    /// A malformed `--set` argument or an unknown key.
    #[error("--set {arg}: {msg}")]
    Set { arg: String, msg: String },
    /// The deployment cannot run (from [`crate::input::deployment::validate_deployment`]); `msg` names the key.
    #[error("{origin}: {msg}")]
    Deployment { origin: Origin, msg: String },
    #[error("no scenario file given")]
    NoInput,
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

impl ScenarioError {
    pub(crate) fn invalid(origin: &Origin, field: &str, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { origin: origin.clone(), field: field.to_string(), msg: msg.into() }
    }

    pub(crate) fn document(origin: &Origin, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::Document { origin: origin.clone(), msg: msg.into() }
    }

    /// Converts a serde-saphyr error on the text of `file` into a `Parse` error with the line, column
    /// and (for errors inside a mapping) the path of keys leading to it.
    pub(crate) fn from_yaml(file: &str, text: &str, e: &serde_saphyr::Error) -> ScenarioError {
        use serde_saphyr::MessageFormatter;
        let inner = e.without_snippet();
        let mut msg = serde_saphyr::UserMessageFormatter.format_message(inner).into_owned();
        let Some(loc) = inner.location().filter(|l| l.line() > 0) else {
            return ScenarioError::Parse { origin: Origin::whole_file(file), field: String::new(), msg };
        };
        let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
        if let Some(stripped) = msg.strip_suffix(&suffix) {
            msg = stripped.to_string();
        }
        if msg == "expected mapping start" {
            msg = "expected a mapping (`key: value` lines)".into();
        }
        let syntax = matches!(inner, serde_saphyr::Error::ExternalMessage { .. });
        let field = if syntax { String::new() } else { yaml_path_at(text, loc.line(), loc.column()) };
        ScenarioError::Parse { origin: Origin::file(file, loc.line(), loc.column()), field, msg }
    }
}

/// The dotted path of block-mapping keys that lead to `line:column` of `text` (1-based), found from
/// indentation: the key on that line (when it starts at or before `column`), then each less-indented key
/// above it, up to the document start. Flow mappings (`{a: 1}`) and list items add nothing; this is a
/// hint for messages, not a YAML parser.
pub(crate) fn yaml_path_at(text: &str, line: u64, column: u64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(idx) = usize::try_from(line).ok().and_then(|l| l.checked_sub(1)) else {
        return String::new();
    };
    if idx >= lines.len() {
        return String::new();
    }
    let col0 = usize::try_from(column).unwrap_or(usize::MAX).saturating_sub(1);
    let mut parts: Vec<String> = Vec::new();
    let mut limit = col0;
    if let Some((indent, key)) = key_of(lines[idx]) {
        if indent <= col0 {
            parts.push(key);
            limit = indent;
        }
    }
    for l in lines[..idx].iter().rev() {
        if limit == 0 || l.starts_with("---") || l.starts_with("...") {
            break;
        }
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = l.len() - t.len();
        if indent >= limit {
            continue;
        }
        match key_of(l) {
            Some((key_indent, key)) if key_indent < limit => {
                parts.push(key);
                limit = key_indent;
            }
            _ => limit = indent,
        }
    }
    parts.reverse();
    parts.join(".")
}

/// `(column of the key, key)` when the line is `key:` / `key: value` / `- key: value` in block style.
fn key_of(line: &str) -> Option<(usize, String)> {
    let t = line.trim_start();
    let mut indent = line.len() - t.len();
    let mut t = t;
    while let Some(rest) = t.strip_prefix("- ") {
        let r = rest.trim_start();
        indent += t.len() - r.len();
        t = r;
    }
    if t.starts_with('#') || t.starts_with('{') || t.starts_with('[') {
        return None;
    }
    let colon = t.find(": ").or_else(|| t.strip_suffix(':').map(|s| s.len()))?;
    let key = t[..colon].trim().trim_matches(|c| c == '"' || c == '\'');
    if key.is_empty() || key.contains(' ') && !t.starts_with(['"', '\'']) {
        return None;
    }
    Some((indent, key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_from_indentation() {
        let y = "kind: X\nspec:\n  components:\n    decode:\n      replicas: 1\n      config:\n        # c\n        maxBatchSize: -4\n";
        assert_eq!(yaml_path_at(y, 8, 23), "spec.components.decode.config.maxBatchSize");
        assert_eq!(yaml_path_at(y, 8, 9), "spec.components.decode.config.maxBatchSize");
        assert_eq!(yaml_path_at(y, 5, 7), "spec.components.decode.replicas");
        assert_eq!(yaml_path_at(y, 1, 7), "kind");
        let y = "a: 1\n---\nspec:\n  services:\n    - name: x\n      bad: 2\n";
        assert_eq!(yaml_path_at(y, 6, 7), "spec.services.bad");
    }

    #[test]
    fn origin_display() {
        assert_eq!(Origin::file("a.yaml", 3, 4).to_string(), "a.yaml:3:4");
        assert_eq!(Origin::file("a.yaml", 3, 0).to_string(), "a.yaml:3");
        assert_eq!(Origin::whole_file("a.yaml").to_string(), "a.yaml");
        assert_eq!(Origin::Set("seed=1".into()).to_string(), "--set seed=1");
    }
}
