//! The regex subset label matchers (`=~`, `!~`) may use.

#[derive(Debug, Clone, Copy, PartialEq)]
enum RePiece {
    Lit(char),
    Any,
    AnyStar,
    AnyPlus,
}

/// A fully anchored regex (Prometheus wraps matcher regexes in `^(?s:...)$`) made of alternatives of
/// literals, `.`, `.*` and `.+`; `.` matches any character, newline included.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SimpleRegex {
    alts: Vec<Vec<RePiece>>,
}

impl SimpleRegex {
    /// Errors name the unsupported construct.
    pub(super) fn new(pattern: &str) -> Result<Self, String> {
        let mut p = pattern;
        while let Some(inner) = strip_outer_group(p) {
            p = inner;
        }
        let chars: Vec<char> = p.chars().collect();
        let mut alts = vec![Vec::new()];
        let mut i = 0;
        while i < chars.len() {
            let piece = match chars[i] {
                '|' => {
                    alts.push(Vec::new());
                    i += 1;
                    continue;
                }
                '\\' => match chars.get(i + 1) {
                    Some(&c) if !c.is_ascii_alphanumeric() => {
                        i += 1;
                        RePiece::Lit(c)
                    }
                    Some(&c) => return Err(format!("regex escape `\\{c}`")),
                    None => return Err("a regex ending in `\\`".into()),
                },
                '.' => match chars.get(i + 1) {
                    Some('*') => {
                        i += 1;
                        RePiece::AnyStar
                    }
                    Some('+') => {
                        i += 1;
                        RePiece::AnyPlus
                    }
                    _ => RePiece::Any,
                },
                c @ ('(' | ')' | '[' | ']' | '{' | '}' | '?' | '*' | '+' | '^' | '$') => {
                    return Err(format!(
                        "regex syntax `{c}` in {pattern:?} (supported: literals, `|`, `.`, `.*`, `.+`, one outer group)"
                    ))
                }
                c => RePiece::Lit(c),
            };
            alts.last_mut().expect("alts starts non-empty").push(piece);
            i += 1;
        }
        Ok(SimpleRegex { alts })
    }

    pub(super) fn is_match(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        self.alts.iter().any(|alt| match_pieces(alt, &chars))
    }
}

/// `(...)` around the whole pattern, if the first `(` closes at the last character.
fn strip_outer_group(p: &str) -> Option<&str> {
    let inner = p.strip_prefix('(')?.strip_suffix(')')?;
    let mut depth = 0i32;
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => depth += 1,
            ')' if depth == 0 => return None,
            ')' => depth -= 1,
            _ => {}
        }
    }
    (depth == 0 && !escaped && !inner.starts_with('?')).then_some(inner)
}

fn match_pieces(p: &[RePiece], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((RePiece::Lit(c), rest)) => s.first() == Some(c) && match_pieces(rest, &s[1..]),
        Some((RePiece::Any, rest)) => !s.is_empty() && match_pieces(rest, &s[1..]),
        Some((RePiece::AnyStar, rest)) => (0..=s.len()).any(|i| match_pieces(rest, &s[i..])),
        Some((RePiece::AnyPlus, rest)) => (1..=s.len()).any(|i| match_pieces(rest, &s[i..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_subset() {
        let re = SimpleRegex::new("decode|pre.+|x.*y|a\\.b").unwrap();
        for s in ["decode", "prefill", "xy", "x--y", "a.b"] {
            assert!(re.is_match(s), "{s}");
        }
        for s in ["decoder", "pre", "xyz", "axb", ""] {
            assert!(!re.is_match(s), "{s}");
        }
        assert!(SimpleRegex::new("(a|b)").unwrap().is_match("b"));
        assert!(SimpleRegex::new("a.c").unwrap().is_match("abc"));
        assert!(SimpleRegex::new("a[bc]").is_err());
        assert!(SimpleRegex::new("a*").is_err());
        assert!(SimpleRegex::new("(a)|(b)").is_err());
        assert!(SimpleRegex::new("\\d").is_err());
    }
}
