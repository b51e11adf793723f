//! The lexer: expression text to tokens, each with its 1-based character column for error messages.

use super::AlertError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    /// The text between `[` and `]`, trimmed.
    Range(String),
    Sym(&'static str),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// 1-based character column.
    pub(super) col: usize,
    pub(super) text: String,
}

const SYMBOLS: [&str; 16] = ["==", "!=", ">=", "<=", "=~", "!~", "=", ">", "<", "+", "-", "*", "/", "%", "^", "@"];

pub(super) fn lex(src: &str) -> Result<Vec<Token>, AlertError> {
    let chars: Vec<char> = src.chars().collect();
    let syntax = |col: usize, expected: &str, found: String| AlertError::Syntax {
        expr: src.to_string(),
        col,
        expected: expected.to_string(),
        found,
    };
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let tok = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.eq_ignore_ascii_case("inf") {
                Tok::Num(f64::INFINITY)
            } else if word.eq_ignore_ascii_case("nan") {
                Tok::Num(f64::NAN)
            } else {
                Tok::Ident(word)
            }
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            match lex_number(&chars, &mut i) {
                Some(v) => Tok::Num(v),
                None => {
                    let text: String = chars[start..i].iter().collect();
                    return Err(syntax(start + 1, "a number", format!("`{text}`")));
                }
            }
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(syntax(
                            chars.len() + 1,
                            &format!("closing {c} of the string"),
                            "end of expression".into(),
                        ))
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some('\\') if c != '`' => {
                        let unescaped = match chars.get(i + 1) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some(&e @ ('\\' | '"' | '\'')) => e,
                            Some(e) => return Err(syntax(i + 1, "a valid escape sequence", format!("`\\{e}`"))),
                            None => return Err(syntax(i + 2, "an escaped character", "end of expression".into())),
                        };
                        s.push(unescaped);
                        i += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else if c == '[' {
            let Some(len) = chars[i + 1..].iter().position(|&c| c == ']') else {
                return Err(syntax(chars.len() + 1, "`]` closing the range", "end of expression".into()));
            };
            let inner: String = chars[i + 1..i + 1 + len].iter().collect();
            i += len + 2;
            Tok::Range(inner.trim().to_string())
        } else {
            let single = match c {
                '(' => Some(Tok::LParen),
                ')' => Some(Tok::RParen),
                '{' => Some(Tok::LBrace),
                '}' => Some(Tok::RBrace),
                ',' => Some(Tok::Comma),
                _ => None,
            };
            if let Some(t) = single {
                i += 1;
                t
            } else {
                let rest: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let Some(&sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                    return Err(syntax(i + 1, "an expression or operator", format!("unexpected character `{c}`")));
                };
                i += sym.len();
                Tok::Sym(sym)
            }
        };
        toks.push(Token { tok, col: start + 1, text: chars[start..i].iter().collect() });
    }
    toks.push(Token { tok: Tok::Eof, col: chars.len() + 1, text: String::new() });
    Ok(toks)
}

/// A number literal as Prometheus' lexer reads it: decimal with optional fraction and exponent, or hex.
fn lex_number(chars: &[char], i: &mut usize) -> Option<f64> {
    let start = *i;
    let digits = |i: &mut usize| {
        while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
    };
    if chars[start] == '0' && matches!(chars.get(start + 1), Some('x' | 'X')) {
        *i += 2;
        while chars.get(*i).is_some_and(|c| c.is_ascii_hexdigit()) {
            *i += 1;
        }
        let hex: String = chars[start + 2..*i].iter().collect();
        return u64::from_str_radix(&hex, 16).ok().map(|v| v as f64);
    }
    digits(i);
    if chars.get(*i) == Some(&'.') {
        *i += 1;
        digits(i);
    }
    if matches!(chars.get(*i), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(*i + 1), Some('+' | '-')));
        if chars.get(*i + 1 + sign).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1 + sign;
            digits(i);
        }
    }
    chars[start..*i].iter().collect::<String>().parse().ok()
}
