//! Synthetic traffic: random streams, token-length sampling, and open-loop arrival gaps.
//!
//! # Random streams
//!
//! Every random quantity comes from its own [`Pcg64`] stream derived from the one user seed by
//! [`rng_stream`] (splitmix64 of the seed mixed with a per-purpose constant). Arrival gaps, input lengths and
//! output lengths each have a stream of their own ([`STREAM_ARRIVALS`], [`STREAM_INPUT_LENGTHS`],
//! [`STREAM_OUTPUT_LENGTHS`]). So with one seed, the i-th request of a sweep point has the same input and
//! output length whatever the arrival rate, arrival process or the other length distribution: common random
//! numbers across sweep points, which makes differences between points far less noisy. `rand_pcg` is used
//! (not `StdRng`/`SmallRng`) because its output is fixed across releases.

use rand::RngExt;
use rand_distr::{Exp1, Gamma, StandardNormal};
use rand_pcg::Pcg64;

use super::spec::{Arrival, LengthDist};

/// Stream id of the arrival-gap random stream (see [`rng_stream`]).
pub const STREAM_ARRIVALS: u64 = 0x6172_7269_7661_6c73; // "arrivals"
/// Stream id of the input-length random stream.
pub const STREAM_INPUT_LENGTHS: u64 = 0x696e_7075_745f_6c65; // "input_le"
/// Stream id of the output-length random stream.
pub const STREAM_OUTPUT_LENGTHS: u64 = 0x6f75_7470_7574_6c65; // "outputle"

/// Default upper clamp of a lognormal length in [`LengthDist::parse`].
pub const DEFAULT_LOGNORMAL_MAX: u32 = 131_072;

/// One step of splitmix64 (Steele, Lea, Flood 2014): advances `state` and returns a well-mixed word.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An independent, reproducible random stream for one purpose: `seed` and `stream` (any constant naming the
/// purpose, e.g. [`STREAM_ARRIVALS`]) are mixed by splitmix64 into the 128-bit state and 128-bit increment of a
/// [`Pcg64`]. Different `stream` values give unrelated sequences; the same pair always gives the same one.
pub fn rng_stream(seed: u64, stream: u64) -> Pcg64 {
    let mut t = stream;
    let mut s = seed ^ splitmix64(&mut t);
    let a = splitmix64(&mut s);
    let b = splitmix64(&mut s);
    let c = splitmix64(&mut s);
    let d = splitmix64(&mut s);
    Pcg64::new((u128::from(a) << 64) | u128::from(b), (u128::from(c) << 64) | u128::from(d))
}

impl LengthDist {
    /// Analytic mean in tokens. For `LogNormal` this is the configured arithmetic `mean`, ignoring the
    /// `[min, max]` clamp and the rounding to whole tokens (both move the sampled mean only when the clamp
    /// cuts a noticeable part of the distribution).
    pub fn mean(&self) -> f64 {
        match *self {
            LengthDist::Fixed(n) => f64::from(n),
            LengthDist::Uniform { min, max } => (f64::from(min) + f64::from(max)) / 2.0,
            LengthDist::LogNormal { mean, .. } => mean,
        }
    }

    /// Checks the parameters: lengths >= 1, `min <= max`, lognormal `mean > 0` and finite, `sigma >= 0` and
    /// finite. The message says what was expected.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            LengthDist::Fixed(0) => Err("fixed length: expected a positive integer, got 0".into()),
            LengthDist::Fixed(_) => Ok(()),
            LengthDist::Uniform { min, max } => {
                if min == 0 {
                    Err("uniform length: expected min >= 1, got 0".into())
                } else if min > max {
                    Err(format!("uniform length: expected min <= max, got {min}-{max}"))
                } else {
                    Ok(())
                }
            }
            LengthDist::LogNormal { mean, sigma, min, max } => {
                if !(mean.is_finite() && mean > 0.0) {
                    Err(format!("lognormal length: expected mean > 0, got {mean}"))
                } else if !(sigma.is_finite() && sigma >= 0.0) {
                    Err(format!("lognormal length: expected sigma >= 0, got {sigma}"))
                } else if min == 0 {
                    Err("lognormal length: expected min >= 1, got 0".into())
                } else if min > max {
                    Err(format!("lognormal length: expected min <= max, got min={min}, max={max}"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Parses the compact CLI syntax:
    /// - `1024` or `fixed:1024`
    /// - `uniform:128-2048` (inclusive)
    /// - `lognormal:mean=1000,sigma=0.8[,min=1,max=32768]` (defaults: min 1, max 131072; keys in any order)
    ///
    /// The result is validated ([`LengthDist::validate`]); errors say what was expected.
    pub fn parse(s: &str) -> Result<LengthDist, String> {
        let s = s.trim();
        let (kind, rest) = match s.split_once(':') {
            Some((k, r)) => (k.trim(), Some(r.trim())),
            None => ("", None),
        };
        let dist = match (kind, rest) {
            ("", None) if !s.is_empty() => LengthDist::Fixed(parse_u32(s, "fixed length")?),
            ("fixed", Some(r)) => LengthDist::Fixed(parse_u32(r, "fixed length")?),
            ("uniform", Some(r)) => {
                let (a, b) = r.split_once('-').ok_or_else(|| {
                    format!("uniform length: expected `uniform:MIN-MAX` (e.g. uniform:128-2048), got {s:?}")
                })?;
                LengthDist::Uniform {
                    min: parse_u32(a.trim(), "uniform min")?,
                    max: parse_u32(b.trim(), "uniform max")?,
                }
            }
            ("lognormal", Some(r)) => parse_lognormal(r, s)?,
            _ => {
                return Err(format!(
                    "length distribution: expected `N`, `fixed:N`, `uniform:MIN-MAX` or \
                     `lognormal:mean=M,sigma=S[,min=A,max=B]`, got {s:?}"
                ))
            }
        };
        dist.validate()?;
        Ok(dist)
    }
}

impl std::str::FromStr for LengthDist {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LengthDist::parse(s)
    }
}

fn parse_u32(s: &str, what: &str) -> Result<u32, String> {
    s.parse::<u32>().map_err(|_| format!("{what}: expected a non-negative integer token count, got {s:?}"))
}

fn parse_lognormal(r: &str, whole: &str) -> Result<LengthDist, String> {
    let (mut mean, mut sigma, mut min, mut max) = (None, None, None, None);
    for part in r.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!("lognormal length: expected KEY=VALUE pairs (mean, sigma, min, max), got {part:?} in {whole:?}")
        })?;
        let (k, v) = (k.trim(), v.trim());
        let float =
            |v: &str| v.parse::<f64>().map_err(|_| format!("lognormal length: {k}: expected a number, got {v:?}"));
        let slot_dup = |present: bool| {
            if present {
                Err(format!("lognormal length: `{k}` given twice in {whole:?}"))
            } else {
                Ok(())
            }
        };
        match k {
            "mean" => {
                slot_dup(mean.is_some())?;
                mean = Some(float(v)?);
            }
            "sigma" => {
                slot_dup(sigma.is_some())?;
                sigma = Some(float(v)?);
            }
            "min" => {
                slot_dup(min.is_some())?;
                min = Some(parse_u32(v, "lognormal min")?);
            }
            "max" => {
                slot_dup(max.is_some())?;
                max = Some(parse_u32(v, "lognormal max")?);
            }
            _ => return Err(format!("lognormal length: unknown key {k:?}, expected one of mean, sigma, min, max")),
        }
    }
    let missing = |k: &str| format!("lognormal length: expected `{k}=...`, missing in {whole:?}");
    Ok(LengthDist::LogNormal {
        mean: mean.ok_or_else(|| missing("mean"))?,
        sigma: sigma.ok_or_else(|| missing("sigma"))?,
        min: min.unwrap_or(1),
        max: max.unwrap_or(DEFAULT_LOGNORMAL_MAX),
    })
}

/// A length distribution with its derived constants, coerced so sampling can never panic.
#[derive(Debug, Clone)]
enum Prepared {
    Fixed(u32),
    Uniform { lo: u32, hi: u32 },
    LogNormal { mu: f64, sigma: f64, lo: f64, hi: f64 },
}

impl Prepared {
    fn new(d: &LengthDist) -> Self {
        match *d {
            LengthDist::Fixed(n) => Prepared::Fixed(n.max(1)),
            LengthDist::Uniform { min, max } => {
                let lo = min.min(max).max(1);
                Prepared::Uniform { lo, hi: max.max(lo) }
            }
            LengthDist::LogNormal { mean, sigma, min, max } => {
                let sigma = if sigma.is_finite() { sigma.max(0.0) } else { 0.0 };
                let mean = if mean.is_finite() && mean > 0.0 { mean } else { 1.0 };
                let lo = min.min(max).max(1);
                let hi = max.max(lo);
                Prepared::LogNormal { mu: mean.ln() - sigma * sigma / 2.0, sigma, lo: f64::from(lo), hi: f64::from(hi) }
            }
        }
    }

    #[inline]
    fn sample(&self, rng: &mut Pcg64) -> u32 {
        match *self {
            Prepared::Fixed(n) => n,
            Prepared::Uniform { lo, hi } => rng.random_range(lo..=hi),
            Prepared::LogNormal { mu, sigma, lo, hi } => {
                let z: f64 = rng.sample(StandardNormal);
                // `clamp` maps NaN to NaN; `as u32` then gives 0 and `max(1)` repairs it.
                ((mu + sigma * z).exp().clamp(lo, hi).round() as u32).max(1)
            }
        }
    }
}

/// Draws (input tokens, output tokens) pairs, each >= 1, from two independent streams.
///
/// Lognormal lengths: `exp(mu + sigma * Z)` with `mu = ln(mean) - sigma^2 / 2` (so the arithmetic mean is
/// `mean`), clamped to `[min, max]`, rounded to nearest, at least 1. Uniform is inclusive on both ends.
///
/// `new` does not validate (call [`LengthDist::validate`] first for user input); nonsense parameters are
/// coerced (length 0 -> 1, swapped bounds, non-positive mean -> 1) rather than panicking. The streams are
/// [`rng_stream`]`(seed, STREAM_INPUT_LENGTHS)` and `(seed, STREAM_OUTPUT_LENGTHS)`, so an open-loop
/// workload and a closed-loop one with the same seed draw the same length sequence.
#[derive(Debug, Clone)]
pub struct LengthSampler {
    isl: Prepared,
    osl: Prepared,
    isl_rng: Pcg64,
    osl_rng: Pcg64,
}

impl LengthSampler {
    pub fn new(isl: LengthDist, osl: LengthDist, seed: u64) -> Self {
        LengthSampler {
            isl: Prepared::new(&isl),
            osl: Prepared::new(&osl),
            isl_rng: rng_stream(seed, STREAM_INPUT_LENGTHS),
            osl_rng: rng_stream(seed, STREAM_OUTPUT_LENGTHS),
        }
    }

    /// The next `(input_tok, output_tok)`.
    #[inline]
    pub fn sample(&mut self) -> (u32, u32) {
        (self.isl.sample(&mut self.isl_rng), self.osl.sample(&mut self.osl_rng))
    }
}

/// Open-loop inter-arrival gap generator in integer nanoseconds.
#[derive(Debug, Clone)]
pub(crate) enum GapGen {
    /// Exponential gaps with this mean (ns).
    Poisson {
        mean_gap_ns: f64,
    },
    Gamma(Gamma<f64>),
    /// Every gap is 0.
    Zero,
}

impl GapGen {
    /// Builds the gap generator; `Err` says which parameter is wrong. `ClosedLoop` is not handled here.
    pub(crate) fn new(arrival: &Arrival) -> Result<GapGen, String> {
        let check_rate = |rate: f64| {
            if rate.is_finite() && rate > 0.0 {
                Ok(1e9 / rate)
            } else {
                Err(format!("arrival rate: expected a positive number of requests/s, got {rate}"))
            }
        };
        match *arrival {
            Arrival::Poisson { rate_per_s } => Ok(GapGen::Poisson { mean_gap_ns: check_rate(rate_per_s)? }),
            Arrival::Gamma { rate_per_s, cv } => {
                let mean_gap_ns = check_rate(rate_per_s)?;
                if !(cv.is_finite() && cv > 0.0) {
                    return Err(format!("gamma arrival cv: expected a positive number, got {cv}"));
                }
                let k = 1.0 / (cv * cv);
                Gamma::new(k, mean_gap_ns / k)
                    .map(GapGen::Gamma)
                    .map_err(|e| format!("gamma arrival (rate {rate_per_s}/s, cv {cv}): {e}"))
            }
            Arrival::Offline => Ok(GapGen::Zero),
            Arrival::ClosedLoop { .. } => Err("closed-loop arrival has no inter-arrival gaps".into()),
        }
    }

    /// The next gap, rounded to whole nanoseconds.
    #[inline]
    pub(crate) fn gap_ns(&self, rng: &mut Pcg64) -> u64 {
        let g: f64 = match self {
            GapGen::Poisson { mean_gap_ns } => {
                let e: f64 = rng.sample(Exp1);
                e * mean_gap_ns
            }
            GapGen::Gamma(g) => rng.sample(g),
            GapGen::Zero => return 0,
        };
        // Saturating float-to-int cast: NaN -> 0, huge -> u64::MAX.
        g.round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lognormal(mean: f64, sigma: f64) -> LengthDist {
        LengthDist::LogNormal { mean, sigma, min: 1, max: DEFAULT_LOGNORMAL_MAX }
    }

    #[test]
    fn lognormal_sample_mean_within_2pct() {
        for (mean, sigma) in [(1000.0, 0.8), (250.0, 0.5), (4000.0, 1.0)] {
            let mut s = LengthSampler::new(lognormal(mean, sigma), lognormal(mean / 4.0, sigma), 7);
            let n = 200_000;
            let (mut si, mut so) = (0.0, 0.0);
            for _ in 0..n {
                let (i, o) = s.sample();
                assert!(i >= 1 && o >= 1);
                si += f64::from(i);
                so += f64::from(o);
            }
            let (mi, mo) = (si / n as f64, so / n as f64);
            assert!((mi / mean - 1.0).abs() < 0.02, "isl mean {mi} vs {mean} (sigma {sigma})");
            assert!((mo / (mean / 4.0) - 1.0).abs() < 0.02, "osl mean {mo} vs {} (sigma {sigma})", mean / 4.0);
            assert_eq!(lognormal(mean, sigma).mean(), mean);
        }
    }

    #[test]
    fn lognormal_clamps_and_rounds() {
        let d = LengthDist::LogNormal { mean: 1000.0, sigma: 2.0, min: 100, max: 2000 };
        let mut s = LengthSampler::new(d.clone(), d, 1);
        let (mut saw_lo, mut saw_hi) = (false, false);
        for _ in 0..10_000 {
            let (i, o) = s.sample();
            assert!((100..=2000).contains(&i) && (100..=2000).contains(&o));
            saw_lo |= i == 100;
            saw_hi |= i == 2000;
        }
        assert!(saw_lo && saw_hi);
        // sigma 0: exactly the mean.
        let mut s = LengthSampler::new(lognormal(512.4, 0.0), lognormal(0.3, 0.0), 1);
        assert_eq!(s.sample(), (512, 1));
    }

    #[test]
    fn fixed_and_uniform() {
        let mut s = LengthSampler::new(LengthDist::Fixed(77), LengthDist::Uniform { min: 3, max: 5 }, 9);
        let mut seen = [false; 3];
        for _ in 0..1000 {
            let (i, o) = s.sample();
            assert_eq!(i, 77);
            assert!((3..=5).contains(&o));
            seen[(o - 3) as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(LengthDist::Uniform { min: 128, max: 2048 }.mean(), 1088.0);
        assert_eq!(LengthDist::Fixed(5).mean(), 5.0);
        // Nonsense parameters are coerced, never panic.
        let mut s = LengthSampler::new(LengthDist::Fixed(0), LengthDist::Uniform { min: 9, max: 2 }, 1);
        let (i, o) = s.sample();
        assert_eq!(i, 1);
        assert!((2..=9).contains(&o));
        let mut s = LengthSampler::new(lognormal(-1.0, f64::NAN), lognormal(f64::NAN, 1.0), 1);
        let (i, o) = s.sample();
        assert!(i >= 1 && o >= 1);
    }

    #[test]
    fn sampler_is_deterministic_and_streams_independent() {
        let isl = lognormal(1000.0, 0.8);
        let osl = LengthDist::Uniform { min: 1, max: 1000 };
        let a: Vec<_> = {
            let mut s = LengthSampler::new(isl.clone(), osl.clone(), 42);
            (0..100).map(|_| s.sample()).collect()
        };
        let mut s = LengthSampler::new(isl.clone(), osl.clone(), 42);
        let b: Vec<_> = (0..100).map(|_| s.sample()).collect();
        assert_eq!(a, b);
        let mut s = LengthSampler::new(isl.clone(), osl.clone(), 43);
        let c: Vec<_> = (0..100).map(|_| s.sample()).collect();
        assert_ne!(a, c);
        // Changing the output distribution leaves the input lengths alone.
        let mut s = LengthSampler::new(isl, LengthDist::Fixed(10), 42);
        let d: Vec<_> = (0..100).map(|_| s.sample().0).collect();
        assert_eq!(d, a.iter().map(|x| x.0).collect::<Vec<_>>());
        // Streams of one seed differ from each other.
        let mut r1 = rng_stream(1, STREAM_ARRIVALS);
        let mut r2 = rng_stream(1, STREAM_INPUT_LENGTHS);
        assert_ne!(r1.random::<u64>(), r2.random::<u64>());
    }

    #[test]
    fn parse_accepts() {
        assert_eq!(LengthDist::parse("1024"), Ok(LengthDist::Fixed(1024)));
        assert_eq!(LengthDist::parse(" fixed:1024 "), Ok(LengthDist::Fixed(1024)));
        assert_eq!(LengthDist::parse("uniform:128-2048"), Ok(LengthDist::Uniform { min: 128, max: 2048 }));
        assert_eq!(LengthDist::parse("uniform:5-5"), Ok(LengthDist::Uniform { min: 5, max: 5 }));
        assert_eq!(
            LengthDist::parse("lognormal:mean=1000,sigma=0.8"),
            Ok(LengthDist::LogNormal { mean: 1000.0, sigma: 0.8, min: 1, max: 131_072 })
        );
        assert_eq!(
            LengthDist::parse("lognormal:sigma=0.5, mean=300.5, max=32768, min=16"),
            Ok(LengthDist::LogNormal { mean: 300.5, sigma: 0.5, min: 16, max: 32768 })
        );
        assert_eq!("uniform:1-2".parse::<LengthDist>(), Ok(LengthDist::Uniform { min: 1, max: 2 }));
    }

    #[test]
    fn parse_rejects() {
        let cases = [
            ("", "expected `N`"),
            ("abc", "expected a non-negative integer"),
            ("0", "positive"),
            ("-5", "non-negative integer"),
            ("1.5", "non-negative integer"),
            ("fixed:", "non-negative integer"),
            ("normal:5", "expected `N`, `fixed:N`"),
            ("uniform:128", "uniform:MIN-MAX"),
            ("uniform:2048-128", "min <= max"),
            ("uniform:0-10", "min >= 1"),
            ("uniform:a-10", "uniform min"),
            ("lognormal:mean=1000", "sigma=..."),
            ("lognormal:sigma=1", "mean=..."),
            ("lognormal:mean=0,sigma=1", "mean > 0"),
            ("lognormal:mean=100,sigma=-1", "sigma >= 0"),
            ("lognormal:mean=100,sigma=x", "expected a number"),
            ("lognormal:mean=100,sigma=1,foo=2", "unknown key"),
            ("lognormal:mean=100,sigma=1,mean=3", "given twice"),
            ("lognormal:mean=100,sigma=1,min=50,max=10", "min <= max"),
            ("lognormal:mean=100;sigma=1", "mean: expected a number"),
            ("lognormal:mean=100,sigma", "KEY=VALUE"),
            ("99999999999", "non-negative integer"),
        ];
        for (input, want) in cases {
            match LengthDist::parse(input) {
                Ok(d) => panic!("{input:?} parsed as {d:?}"),
                Err(e) => assert!(e.contains(want), "{input:?}: error {e:?} lacks {want:?}"),
            }
        }
    }

    #[test]
    fn gap_gen_rejects_bad_parameters() {
        for a in [
            Arrival::Poisson { rate_per_s: 0.0 },
            Arrival::Poisson { rate_per_s: f64::NAN },
            Arrival::Gamma { rate_per_s: 1.0, cv: 0.0 },
            Arrival::Gamma { rate_per_s: -1.0, cv: 1.0 },
            Arrival::ClosedLoop { concurrency: 4 },
        ] {
            assert!(GapGen::new(&a).is_err(), "{a:?}");
        }
    }
}
