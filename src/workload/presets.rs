//! Workload presets for the deployment guide's traffic patterns, each with input/output length
//! distributions taken from a published production trace.
//!
//! Each grounded preset's lengths are [`LengthDist::Empirical`] quantile functions whose knots are the
//! measured quantiles of the named trace column (numpy's default linear-interpolation quantiles at
//! p = 0, 1, 2, 5, 10, 15, ..., 90, 92.5, 95, 96, 97, 98, 99, 99.5, 99.8, 99.9, 99.95 and 100 %, rounded to
//! whole tokens). Sampling interpolates linearly between knots, so the trace's p90 is reproduced exactly
//! and its mean to within the knots' resolution (computed means: 0.14 % to 1.7 % off, see
//! [`TraceSource`]). A lognormal cannot do this: Azure conversation's p90/mean ratio (2.37) and its
//! bimodal prompts (a mode near 400 and one near 4,080 tokens) are out of a lognormal's reach.
//!
//! | preset | source | input mean / p90 | output mean / p90 |
//! |---|---|---|---|
//! | `chatbot` | Azure LLM inference trace 2023, conversation (Splitwise, ISCA'24) | 1154.7 / 2734.5 | 211.1 / 424 |
//! | `code_generation` | Azure LLM inference trace 2023, code (Splitwise, ISCA'24) | 2047.8 / 5187.6 | 27.9 / 55 |
//! | `rag` | Mooncake conversation trace (Kimi, FAST'25) | 12035.1 / 27367 | 342.6 / 597 |
//! | `summarization` | none yet: an error | | |
//! | `batch` | none yet: an error | | |
//!
//! The statistics were recomputed from the files in `../shared/traces` (19,366, 8,819 and 12,031
//! requests); the tests recompute them again when the files are present.

use std::sync::Arc;

use crate::spec::workload::LengthDist;

/// The mean and p90 of one trace column (tokens).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnStat {
    pub mean: f64,
    pub p90: f64,
}

/// A published trace a preset's lengths come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceSource {
    /// Human name with the paper that published it.
    pub name: &'static str,
    /// The file under `../shared/traces` (and upstream) the statistics were computed from.
    pub file: &'static str,
    /// Input column (Azure `ContextTokens`, Mooncake `input_length`).
    pub input: ColumnStat,
    /// Output column (Azure `GeneratedTokens`, Mooncake `output_length`).
    pub output: ColumnStat,
    pub input_knots: &'static [(f64, f64)],
    pub output_knots: &'static [(f64, f64)],
}

/// Azure LLM inference trace 2023, conversation service (Azure/AzurePublicDataset, CC-BY 4.0; Patel et al.,
/// "Splitwise", ISCA 2024), `AzureLLMInferenceTrace_conv.csv`, 19,366 requests, 2023-11-16.
pub const AZURE_CONV_2023: TraceSource = TraceSource {
    name: "Azure LLM inference trace 2023, conversation (Splitwise, ISCA'24)",
    file: "azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
    input: ColumnStat { mean: 1154.70, p90: 2734.5 },
    output: ColumnStat { mean: 211.13, p90: 424.0 },
    input_knots: AZURE_CONV_IN,
    output_knots: AZURE_CONV_OUT,
};

/// Azure LLM inference trace 2023, code-completion service (same dataset and paper),
/// `AzureLLMInferenceTrace_code.csv`, 8,819 requests.
pub const AZURE_CODE_2023: TraceSource = TraceSource {
    name: "Azure LLM inference trace 2023, code (Splitwise, ISCA'24)",
    file: "azure-llm-2023/AzureLLMInferenceTrace_code.csv",
    input: ColumnStat { mean: 2047.85, p90: 5187.6 },
    output: ColumnStat { mean: 27.88, p90: 55.0 },
    input_knots: AZURE_CODE_IN,
    output_knots: AZURE_CODE_OUT,
};

/// Mooncake conversation trace (kvcache-ai/Mooncake `FAST25-release/traces/conversation_trace.jsonl`,
/// Apache-2.0; Qin et al., "Mooncake", FAST 2025): Kimi's production chat, 12,031 requests.
pub const MOONCAKE_CONV: TraceSource = TraceSource {
    name: "Mooncake conversation trace (Kimi, FAST'25)",
    file: "mooncake/conversation_trace.jsonl",
    input: ColumnStat { mean: 12035.06, p90: 27367.0 },
    output: ColumnStat { mean: 342.62, p90: 597.0 },
    input_knots: MOONCAKE_CONV_IN,
    output_knots: MOONCAKE_CONV_OUT,
};

/// A traffic pattern of the deployment guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Interactive chat: [`AZURE_CONV_2023`] lengths.
    Chatbot,
    /// Retrieval-augmented generation, long prompts and short answers: [`MOONCAKE_CONV`] lengths. Not a
    /// RAG trace: Kimi's chat is a long-context service whose prompts carry uploaded documents, web search
    /// results and long histories (input/output ratio ~35, median prompt 6,909 tokens, p90 27,367), the
    /// shape of RAG traffic, and it is the only long-prompt production trace at hand.
    Rag,
    /// Code generation / completion: [`AZURE_CODE_2023`] lengths.
    CodeGeneration,
    /// Summarization (long in, short out): no trace at hand publishes summarization lengths, so this is an
    /// error rather than invented numbers.
    Summarization,
    /// Offline batch jobs: no trace at hand records batch traffic; an error rather than invented numbers.
    Batch,
}

impl Preset {
    pub const ALL: [Preset; 5] =
        [Preset::Chatbot, Preset::Rag, Preset::CodeGeneration, Preset::Summarization, Preset::Batch];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Chatbot => "chatbot",
            Preset::Rag => "rag",
            Preset::CodeGeneration => "code_generation",
            Preset::Summarization => "summarization",
            Preset::Batch => "batch",
        }
    }

    /// The trace its lengths come from; `None` for a preset with no grounded source yet.
    pub fn source(self) -> Option<&'static TraceSource> {
        match self {
            Preset::Chatbot => Some(&AZURE_CONV_2023),
            Preset::Rag => Some(&MOONCAKE_CONV),
            Preset::CodeGeneration => Some(&AZURE_CODE_2023),
            Preset::Summarization | Preset::Batch => None,
        }
    }

    /// One line for users: the pattern, its source and the source's statistics.
    pub fn description(self) -> String {
        let what = match self {
            Preset::Chatbot => "interactive chat",
            Preset::Rag => "long-context prompts standing in for RAG",
            Preset::CodeGeneration => "code generation",
            Preset::Summarization => "long in, short out",
            Preset::Batch => "offline batch jobs",
        };
        match self.source() {
            Some(s) => format!(
                "{} ({what}): lengths of the {}: input mean {:.0} / p90 {:.0}, output mean {:.0} / p90 {:.0} tokens",
                self.name(),
                s.name,
                s.input.mean,
                s.input.p90,
                s.output.mean,
                s.output.p90
            ),
            None => format!("{} ({what}): no grounded length source yet", self.name()),
        }
    }

    /// Parses a preset name (case-insensitive, `-` = `_`; `code` and `codegen` for code generation).
    /// Unknown names list every preset with its description.
    pub fn parse(s: &str) -> Result<Preset, String> {
        let n = s.trim().to_ascii_lowercase().replace('-', "_");
        let p = match n.as_str() {
            "chatbot" | "chat" => Preset::Chatbot,
            "rag" => Preset::Rag,
            "code_generation" | "code" | "codegen" => Preset::CodeGeneration,
            "summarization" | "summarisation" => Preset::Summarization,
            "batch" => Preset::Batch,
            _ => {
                let list: Vec<String> = Preset::ALL.iter().map(|p| p.description()).collect();
                return Err(format!("unknown preset {s:?}: expected one of: {}", list.join("; ")));
            }
        };
        Ok(p)
    }

    /// `(input, output)` length distributions, or an error for a preset without a grounded source.
    pub fn lengths(self) -> Result<(LengthDist, LengthDist), String> {
        match self.source() {
            Some(s) => Ok((
                LengthDist::Empirical { knots: Arc::from(s.input_knots) },
                LengthDist::Empirical { knots: Arc::from(s.output_knots) },
            )),
            None => Err(format!(
                "preset {} has no grounded length source yet (no trace at hand records {} traffic): \
                 expected chatbot, rag or code_generation, or isl and osl without a preset",
                self.name(),
                self.name()
            )),
        }
    }
}

// Knots: (cumulative probability, tokens) at the measured quantiles of each column.
// n=19366 mean=1154.70 p90=2734.50
#[rustfmt::skip]
const AZURE_CONV_IN: &[(f64, f64)] = &[
    (0.0, 2.0), (0.01, 29.0), (0.02, 91.0), (0.05, 181.0), (0.1, 207.0), (0.15, 372.0), (0.2, 387.0), (0.25, 396.0),
    (0.3, 403.0), (0.35, 414.0), (0.4, 703.0), (0.45, 984.0), (0.5, 1020.0), (0.55, 1045.0), (0.6, 1071.0),
    (0.65, 1097.0), (0.7, 1130.0), (0.75, 1189.0), (0.8, 1315.0), (0.85, 1876.0), (0.9, 2734.0), (0.925, 4075.0),
    (0.95, 4083.0), (0.96, 4086.0), (0.97, 4090.0), (0.98, 4098.0), (0.99, 4142.0), (0.995, 4831.0),
    (0.998, 5652.0), (0.999, 6179.0), (0.9995, 6570.0), (1.0, 14050.0),
];
// n=19366 mean=211.13 p90=424.00
#[rustfmt::skip]
const AZURE_CONV_OUT: &[(f64, f64)] = &[
    (0.0, 7.0), (0.01, 16.0), (0.02, 24.0), (0.05, 41.0), (0.1, 54.0), (0.15, 67.0), (0.2, 77.0), (0.25, 85.0),
    (0.3, 91.0), (0.35, 96.0), (0.4, 103.0), (0.45, 113.0), (0.5, 129.0), (0.55, 151.0), (0.6, 177.0),
    (0.65, 217.0), (0.7, 384.0), (0.75, 395.0), (0.8, 400.0), (0.85, 411.0), (0.9, 424.0), (0.925, 430.0),
    (0.95, 451.0), (0.96, 468.0), (0.97, 509.0), (0.98, 540.0), (0.99, 601.0), (0.995, 643.0), (0.998, 917.0),
    (0.999, 954.0), (0.9995, 1000.0), (1.0, 1000.0),
];
// n=8819 mean=2047.85 p90=5187.60
#[rustfmt::skip]
const AZURE_CODE_IN: &[(f64, f64)] = &[
    (0.0, 3.0), (0.01, 17.0), (0.02, 35.0), (0.05, 75.0), (0.1, 147.0), (0.15, 232.0), (0.2, 386.0), (0.25, 578.0),
    (0.3, 770.0), (0.35, 939.0), (0.4, 1075.0), (0.45, 1261.0), (0.5, 1469.0), (0.55, 1690.0), (0.6, 1909.0),
    (0.65, 2164.0), (0.7, 2433.0), (0.75, 2744.0), (0.8, 3192.0), (0.85, 3920.0), (0.9, 5188.0), (0.925, 6097.0),
    (0.95, 7303.0), (0.96, 7430.0), (0.97, 7435.0), (0.98, 7436.0), (0.99, 7436.0), (0.995, 7436.0),
    (0.998, 7436.0), (0.999, 7437.0), (0.9995, 7437.0), (1.0, 7437.0),
];
// n=8819 mean=27.88 p90=55.00
#[rustfmt::skip]
const AZURE_CODE_OUT: &[(f64, f64)] = &[
    (0.0, 6.0), (0.01, 6.0), (0.02, 6.0), (0.05, 6.0), (0.1, 7.0), (0.15, 7.0), (0.2, 8.0), (0.25, 9.0), (0.3, 9.0),
    (0.35, 10.0), (0.4, 11.0), (0.45, 12.0), (0.5, 13.0), (0.55, 14.0), (0.6, 16.0), (0.65, 18.0), (0.7, 20.0),
    (0.75, 24.0), (0.8, 29.0), (0.85, 39.0), (0.9, 55.0), (0.925, 69.0), (0.95, 90.0), (0.96, 105.0),
    (0.97, 128.0), (0.98, 171.0), (0.99, 251.0), (0.995, 359.0), (0.998, 670.0), (0.999, 825.0), (0.9995, 885.0),
    (1.0, 1899.0),
];
// n=12031 mean=12035.06 p90=27367.00
#[rustfmt::skip]
const MOONCAKE_CONV_IN: &[(f64, f64)] = &[
    (0.0, 891.0), (0.01, 894.0), (0.02, 896.0), (0.05, 901.0), (0.1, 964.0), (0.15, 1261.0), (0.2, 1662.0),
    (0.25, 2306.0), (0.3, 3263.0), (0.35, 4251.0), (0.4, 4993.0), (0.45, 5870.0), (0.5, 6909.0), (0.55, 8187.0),
    (0.6, 9570.0), (0.65, 11238.0), (0.7, 13196.0), (0.75, 15367.0), (0.8, 17869.0), (0.85, 21464.0),
    (0.9, 27367.0), (0.925, 31519.0), (0.95, 39550.0), (0.96, 44613.0), (0.97, 52215.0), (0.98, 66449.0),
    (0.99, 85400.0), (0.995, 100810.0), (0.998, 118461.0), (0.999, 121301.0), (0.9995, 122891.0), (1.0, 126195.0),
];
// n=12031 mean=342.62 p90=597.00
#[rustfmt::skip]
const MOONCAKE_CONV_OUT: &[(f64, f64)] = &[
    (0.0, 1.0), (0.01, 3.0), (0.02, 3.0), (0.05, 10.0), (0.1, 24.0), (0.15, 46.0), (0.2, 100.0), (0.25, 156.0),
    (0.3, 213.0), (0.35, 256.0), (0.4, 291.0), (0.45, 322.0), (0.5, 350.0), (0.55, 375.0), (0.6, 399.0),
    (0.65, 423.0), (0.7, 447.0), (0.75, 472.0), (0.8, 504.0), (0.85, 543.0), (0.9, 597.0), (0.925, 639.0),
    (0.95, 698.0), (0.96, 738.0), (0.97, 800.0), (0.98, 892.0), (0.99, 1119.0), (0.995, 1568.0), (0.998, 2000.0),
    (0.999, 2000.0), (0.9995, 2000.0), (1.0, 2000.0),
];

#[cfg(test)]
mod tests {
    use super::super::synthetic::LengthSampler;
    use super::*;

    /// `p`-quantile of sorted data, numpy's default (linear) definition.
    fn quantile(sorted: &[f64], p: f64) -> f64 {
        let h = (sorted.len() - 1) as f64 * p;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (h - h.floor())
    }

    fn stat(mut v: Vec<f64>) -> ColumnStat {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.sort_by(f64::total_cmp);
        ColumnStat { mean, p90: quantile(&v, 0.9) }
    }

    fn within(what: &str, got: ColumnStat, want: ColumnStat, tol: f64) {
        for (k, g, w) in [("mean", got.mean, want.mean), ("p90", got.p90, want.p90)] {
            assert!((g / w - 1.0).abs() <= tol, "{what} {k}: {g:.2} vs source {w:.2} (tolerance {tol})");
        }
    }

    /// 200k draws of each grounded preset: mean and p90 within 5 % of the source (in fact ~2 %).
    #[test]
    fn preset_lengths_match_their_sources() {
        for p in Preset::ALL {
            let Some(src) = p.source() else { continue };
            let (isl, osl) = p.lengths().unwrap();
            isl.validate().unwrap();
            osl.validate().unwrap();
            // The analytic mean of the knots is close too, and the p90 knot is the source's p90.
            for (d, c) in [(&isl, src.input), (&osl, src.output)] {
                assert!((d.mean() / c.mean - 1.0).abs() < 0.02, "{}: knot mean {} vs {}", p.name(), d.mean(), c.mean);
                assert!((d.empirical_quantile(0.9).unwrap() - c.p90).abs() <= 0.5, "{}", p.name());
            }
            let mut s = LengthSampler::new(isl, osl, 17);
            let (mut i, mut o) = (Vec::with_capacity(200_000), Vec::with_capacity(200_000));
            for _ in 0..200_000 {
                let (a, b) = s.sample();
                i.push(f64::from(a));
                o.push(f64::from(b));
            }
            let (si, so) = (stat(i), stat(o));
            eprintln!(
                "preset {}: input mean {:.1} p90 {:.1} (source {:.1} / {:.1}); output mean {:.1} p90 {:.1} \
                 (source {:.1} / {:.1})",
                p.name(),
                si.mean,
                si.p90,
                src.input.mean,
                src.input.p90,
                so.mean,
                so.p90,
                src.output.mean,
                src.output.p90
            );
            within(&format!("{} input", p.name()), si, src.input, 0.05);
            within(&format!("{} output", p.name()), so, src.output, 0.05);
        }
    }

    /// Recomputes each source's statistics from the trace file in `../shared/traces` when it is there.
    #[test]
    fn source_statistics_match_the_trace_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces");
        for src in [&AZURE_CONV_2023, &AZURE_CODE_2023, &MOONCAKE_CONV] {
            let path = dir.join(src.file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                eprintln!("SKIPPED: {} not found; compared with the stored constants only", path.display());
                continue;
            };
            let (mut i, mut o) = (Vec::new(), Vec::new());
            if src.file.ends_with(".csv") {
                for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                    let f: Vec<&str> = line.split(',').collect();
                    i.push(f[1].trim().parse::<f64>().unwrap());
                    o.push(f[2].trim().parse::<f64>().unwrap());
                }
            } else {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    i.push(v["input_length"].as_f64().unwrap());
                    o.push(v["output_length"].as_f64().unwrap());
                }
            }
            let (si, so) = (stat(i), stat(o));
            within(&format!("{} input", src.file), si, src.input, 0.001);
            within(&format!("{} output", src.file), so, src.output, 0.001);
        }
    }

    #[test]
    fn names_and_ungrounded_presets() {
        for p in Preset::ALL {
            assert_eq!(Preset::parse(p.name()), Ok(p));
            assert!(p.description().starts_with(p.name()));
        }
        assert_eq!(Preset::parse(" Code-Generation "), Ok(Preset::CodeGeneration));
        let e = Preset::parse("chatty").unwrap_err();
        assert!(e.contains("unknown preset") && e.contains("Azure LLM inference trace 2023, conversation"), "{e}");
        for p in [Preset::Summarization, Preset::Batch] {
            let e = p.lengths().unwrap_err();
            assert!(e.contains(&format!("preset {} has no grounded length source yet", p.name())), "{e}");
        }
    }
}
