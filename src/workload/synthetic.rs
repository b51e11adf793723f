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

pub use crate::core::rng::{rng_stream, splitmix64};
use crate::spec::workload::{Arrival, LengthDist};

/// Stream id of the arrival-gap random stream (see [`rng_stream`]).
pub const STREAM_ARRIVALS: u64 = 0x6172_7269_7661_6c73; // "arrivals"
/// Stream id of the input-length random stream.
pub const STREAM_INPUT_LENGTHS: u64 = 0x696e_7075_745f_6c65; // "input_le"
/// Stream id of the output-length random stream.
pub const STREAM_OUTPUT_LENGTHS: u64 = 0x6f75_7470_7574_6c65; // "outputle"

/// Default upper clamp of a lognormal length in [`LengthDist::parse`].
pub const DEFAULT_LOGNORMAL_MAX: u32 = 131_072;

impl LengthDist {
    /// Analytic mean in tokens. For `LogNormal` this is the configured arithmetic `mean`, ignoring the
    /// `[min, max]` clamp and the rounding to whole tokens (both move the sampled mean only when the clamp
    /// cuts a noticeable part of the distribution).
    pub fn mean(&self) -> f64 {
        match *self {
            LengthDist::Fixed(n) => f64::from(n),
            LengthDist::Uniform { min, max } => (f64::from(min) + f64::from(max)) / 2.0,
            LengthDist::LogNormal { mean, .. } => mean,
            LengthDist::Empirical { ref knots } => {
                knots.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum()
            }
        }
    }

    /// The `p`-quantile (0 <= p <= 1) of an [`LengthDist::Empirical`] before rounding; `None` for other
    /// kinds.
    pub fn empirical_quantile(&self, p: f64) -> Option<f64> {
        match self {
            LengthDist::Empirical { knots } => Some(interpolate(knots, p)),
            _ => None,
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
            LengthDist::Empirical { ref knots } => validate_knots(knots),
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

/// Empirical knots: at least two, probabilities finite and strictly increasing from exactly 0 to exactly
/// 1, token values finite, >= 0 and non-decreasing.
fn validate_knots(knots: &[(f64, f64)]) -> Result<(), String> {
    if knots.len() < 2 {
        return Err(format!("empirical length: expected at least 2 quantile knots, got {}", knots.len()));
    }
    if knots[0].0 != 0.0 || knots[knots.len() - 1].0 != 1.0 {
        return Err(format!(
            "empirical length: expected knots from probability 0 to 1, got {} to {}",
            knots[0].0,
            knots[knots.len() - 1].0
        ));
    }
    for (i, &(p, q)) in knots.iter().enumerate() {
        if !(p.is_finite() && q.is_finite() && q >= 0.0) {
            return Err(format!("empirical length: knot {i}: expected finite values and tokens >= 0, got ({p}, {q})"));
        }
        if i > 0 && !(p > knots[i - 1].0 && q >= knots[i - 1].1) {
            return Err(format!(
                "empirical length: knot {i}: expected increasing probability and non-decreasing tokens, got ({}, \
                 {}) then ({p}, {q})",
                knots[i - 1].0,
                knots[i - 1].1
            ));
        }
    }
    Ok(())
}

/// The quantile function through `knots` at `u` (linear between knots, clamped to the end knots).
#[inline]
fn interpolate(knots: &[(f64, f64)], u: f64) -> f64 {
    let Some(last) = knots.last() else { return 1.0 };
    // First knot with probability > u; the segment is [i - 1, i].
    let i = knots.partition_point(|k| k.0 <= u);
    if i == 0 {
        return knots[0].1;
    }
    if i >= knots.len() {
        return last.1;
    }
    let ((p0, q0), (p1, q1)) = (knots[i - 1], knots[i]);
    let w = p1 - p0;
    if w > 0.0 {
        q0 + (q1 - q0) * ((u - p0) / w)
    } else {
        q1
    }
}

/// A length distribution with its derived constants, coerced so sampling can never panic.
#[derive(Debug, Clone)]
enum Prepared {
    Fixed(u32),
    Uniform { lo: u32, hi: u32 },
    LogNormal { mu: f64, sigma: f64, lo: f64, hi: f64 },
    Empirical(std::sync::Arc<[(f64, f64)]>),
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
            LengthDist::Empirical { ref knots } => Prepared::Empirical(knots.clone()),
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
            Prepared::Empirical(ref knots) => {
                let u: f64 = rng.random();
                // Saturating cast; NaN -> 0 -> 1.
                (interpolate(knots, u).round() as u32).max(1)
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

impl Arrival {
    /// The same process with every rate multiplied by `factor` (> 0); closed loop and offline unchanged.
    /// Used to start sessions at `rate / mean_turns` so that requests arrive at `rate`.
    pub fn scaled(&self, factor: f64) -> Arrival {
        let pts = |p: &[(f64, f64)]| p.iter().map(|&(t, r)| (t, r * factor)).collect();
        match *self {
            Arrival::Poisson { rate_per_s } => Arrival::Poisson { rate_per_s: rate_per_s * factor },
            Arrival::Gamma { rate_per_s, cv } => Arrival::Gamma { rate_per_s: rate_per_s * factor, cv },
            Arrival::Diurnal { rate_per_s, amplitude, period_s, phase_rad } => {
                Arrival::Diurnal { rate_per_s: rate_per_s * factor, amplitude, period_s, phase_rad }
            }
            Arrival::Step { ref points } => Arrival::Step { points: pts(points) },
            Arrival::Ramp { ref points } => Arrival::Ramp { points: pts(points) },
            Arrival::ClosedLoop { .. } | Arrival::Offline => self.clone(),
        }
    }

    /// The request rate (per s) the process aims at at time `t_s`; `None` for closed loop and offline.
    pub fn rate_at(&self, t_s: f64) -> Option<f64> {
        match *self {
            Arrival::Poisson { rate_per_s } | Arrival::Gamma { rate_per_s, .. } => Some(rate_per_s),
            Arrival::Diurnal { rate_per_s, amplitude, period_s, phase_rad } => {
                Some(rate_per_s * (1.0 + amplitude * (std::f64::consts::TAU * t_s / period_s + phase_rad).sin()))
            }
            Arrival::Step { ref points } | Arrival::Ramp { ref points } => {
                let ramp = matches!(self, Arrival::Ramp { .. });
                let i = points.partition_point(|p| p.0 <= t_s);
                if i == 0 {
                    return Some(0.0);
                }
                let (t0, r0) = points[i - 1];
                match points.get(i) {
                    Some(&(t1, r1)) if ramp => Some(r0 + (r1 - r0) * (t_s - t0) / (t1 - t0)),
                    _ => Some(r0),
                }
            }
            Arrival::ClosedLoop { .. } | Arrival::Offline => None,
        }
    }
}

/// Checks a step/ramp profile: at least one point, the first at t = 0, times finite and strictly
/// increasing, rates finite and >= 0, at least one rate > 0.
pub fn validate_profile(points: &[(f64, f64)]) -> Result<(), String> {
    let Some(&(t0, _)) = points.first() else {
        return Err("rate profile: expected at least one (time, rate) point, got none".into());
    };
    if t0 != 0.0 {
        return Err(format!("rate profile: expected the first point at time 0, got {t0}"));
    }
    for (i, &(t, r)) in points.iter().enumerate() {
        if !(r.is_finite() && r >= 0.0) {
            return Err(format!("rate profile: point {i}: expected a rate >= 0 requests/s, got {r}"));
        }
        if i > 0 && !(t.is_finite() && t > points[i - 1].0) {
            return Err(format!(
                "rate profile: point {i}: expected times increasing, got {t} s after {} s",
                points[i - 1].0
            ));
        }
    }
    if points.iter().all(|p| p.1 == 0.0) {
        return Err("rate profile: every rate is 0: expected at least one rate > 0".into());
    }
    Ok(())
}

/// Open-loop arrival-time generator in integer nanoseconds from t = 0.
///
/// - Poisson / Gamma: i.i.d. gaps (see [`crate::workload::open_loop`]), each rounded to whole ns and
///   accumulated in `u64`.
/// - Diurnal: a non-homogeneous Poisson process generated exactly by thinning (Lewis & Shedler 1979):
///   candidates from a homogeneous process at the peak rate `rate * (1 + amplitude)`, each kept with
///   probability `rate(t) / peak`. Candidate times are whole ns.
/// - Step / ramp: a non-homogeneous Poisson process generated exactly by time rescaling: each arrival
///   advances the integrated rate `Lambda(t)` by an Exp(1) draw and inverts `Lambda` in closed form
///   (linear in a step segment, quadratic in a ramp segment); times are rounded to whole ns. After the last
///   point its rate holds forever; a last rate of 0 ends the source.
///
/// All randomness comes from the one stream passed to [`ArrivalGen::next_ns`], so a seed fixes the times.
#[derive(Debug, Clone)]
pub(crate) struct ArrivalGen {
    kind: GenKind,
    now_ns: u64,
}

#[derive(Debug, Clone)]
enum GenKind {
    /// Exponential gaps with this mean (ns).
    Poisson {
        mean_gap_ns: f64,
    },
    Gamma(Gamma<f64>),
    /// Every arrival at t = 0.
    Zero,
    /// Rates per ns.
    Diurnal {
        amplitude: f64,
        omega: f64,
        phase: f64,
        peak_gap_ns: f64,
    },
    /// `(t ns, rate per ns)` points; `t` is the exact (unrounded) time of the last arrival.
    Piecewise {
        points: Vec<(f64, f64)>,
        ramp: bool,
        seg: usize,
        t: f64,
        done: bool,
    },
}

impl ArrivalGen {
    /// Builds the generator; `Err` says which parameter is wrong. `ClosedLoop` is not handled here.
    pub(crate) fn new(arrival: &Arrival) -> Result<ArrivalGen, String> {
        let check_rate = |rate: f64| {
            if rate.is_finite() && rate > 0.0 {
                Ok(1e9 / rate)
            } else {
                Err(format!("arrival rate: expected a positive number of requests/s, got {rate}"))
            }
        };
        let kind = match *arrival {
            Arrival::Poisson { rate_per_s } => GenKind::Poisson { mean_gap_ns: check_rate(rate_per_s)? },
            Arrival::Gamma { rate_per_s, cv } => {
                let mean_gap_ns = check_rate(rate_per_s)?;
                if !(cv.is_finite() && cv > 0.0) {
                    return Err(format!("gamma arrival cv: expected a positive number, got {cv}"));
                }
                let k = 1.0 / (cv * cv);
                Gamma::new(k, mean_gap_ns / k)
                    .map(GenKind::Gamma)
                    .map_err(|e| format!("gamma arrival (rate {rate_per_s}/s, cv {cv}): {e}"))?
            }
            Arrival::Offline => GenKind::Zero,
            Arrival::Diurnal { rate_per_s, amplitude, period_s, phase_rad } => {
                check_rate(rate_per_s)?;
                if !(0.0..=1.0).contains(&amplitude) {
                    return Err(format!("diurnal amplitude: expected a number in [0, 1], got {amplitude}"));
                }
                if !(period_s.is_finite() && period_s > 0.0) {
                    return Err(format!("diurnal period: expected a positive duration, got {period_s} s"));
                }
                if !phase_rad.is_finite() {
                    return Err(format!("diurnal phase: expected a finite number of radians, got {phase_rad}"));
                }
                let mean = rate_per_s * 1e-9;
                GenKind::Diurnal {
                    amplitude,
                    omega: std::f64::consts::TAU / (period_s * 1e9),
                    phase: phase_rad,
                    peak_gap_ns: 1.0 / (mean * (1.0 + amplitude)),
                }
            }
            Arrival::Step { ref points } | Arrival::Ramp { ref points } => {
                validate_profile(points)?;
                GenKind::Piecewise {
                    points: points.iter().map(|&(t, r)| (t * 1e9, r * 1e-9)).collect(),
                    ramp: matches!(arrival, Arrival::Ramp { .. }),
                    seg: 0,
                    t: 0.0,
                    done: false,
                }
            }
            Arrival::ClosedLoop { .. } => return Err("closed-loop arrival has no arrival process".into()),
        };
        Ok(ArrivalGen { kind, now_ns: 0 })
    }

    /// Whether the process ends (a step/ramp profile whose last rate is 0).
    pub(crate) fn ends(&self) -> bool {
        matches!(&self.kind, GenKind::Piecewise { points, .. } if points.last().is_some_and(|p| p.1 == 0.0))
    }

    /// The next arrival time (ns from 0, non-decreasing), or `None` when the process has ended (a profile
    /// whose last rate is 0).
    #[inline]
    pub(crate) fn next_ns(&mut self, rng: &mut Pcg64) -> Option<u64> {
        let gap: f64 = match &mut self.kind {
            GenKind::Poisson { mean_gap_ns } => {
                let e: f64 = rng.sample(Exp1);
                e * *mean_gap_ns
            }
            GenKind::Gamma(g) => rng.sample(*g),
            GenKind::Zero => 0.0,
            GenKind::Diurnal { amplitude, omega, phase, peak_gap_ns } => {
                let peak = 1.0 + *amplitude;
                loop {
                    let e: f64 = rng.sample(Exp1);
                    // Saturating float-to-int cast: huge -> u64::MAX.
                    self.now_ns = self.now_ns.saturating_add((e * *peak_gap_ns).round() as u64);
                    let t = self.now_ns as f64;
                    let rel = 1.0 + *amplitude * (*omega * t + *phase).sin();
                    let u: f64 = rng.random();
                    if u * peak < rel || self.now_ns == u64::MAX {
                        return Some(self.now_ns);
                    }
                }
            }
            GenKind::Piecewise { points, ramp, seg, t, done } => {
                if *done {
                    return None;
                }
                let mut need: f64 = rng.sample(Exp1);
                loop {
                    let (t0, r0) = points[*seg];
                    let next = points.get(*seg + 1).copied();
                    let slope = match next {
                        Some((t1, r1)) if *ramp => (r1 - r0) / (t1 - t0),
                        _ => 0.0,
                    };
                    let r_now = r0 + slope * (*t - t0);
                    let mass = match next {
                        Some((t1, _)) => (r_now + (r0 + slope * (t1 - t0))) / 2.0 * (t1 - *t),
                        None => f64::INFINITY,
                    };
                    if need <= mass && (r_now > 0.0 || slope > 0.0) {
                        // Solve r_now x + slope x^2 / 2 = need (stable form of the quadratic root).
                        let disc = (r_now * r_now + 2.0 * slope * need).max(0.0);
                        let x = 2.0 * need / (r_now + disc.sqrt());
                        *t += x;
                        if let Some((t1, _)) = next {
                            *t = t.min(t1);
                        }
                        break;
                    }
                    match next {
                        Some((t1, _)) => {
                            need -= mass.max(0.0);
                            *t = t1;
                            *seg += 1;
                        }
                        None => {
                            // Last segment with rate 0: no more arrivals.
                            *done = true;
                            return None;
                        }
                    }
                }
                let ns = t.round();
                if ns.is_nan() || ns >= u64::MAX as f64 {
                    *done = true;
                    return None;
                }
                self.now_ns = ns as u64;
                return Some(self.now_ns);
            }
        };
        // Saturating float-to-int cast: NaN -> 0, huge -> u64::MAX.
        self.now_ns = self.now_ns.saturating_add(gap.round() as u64);
        Some(self.now_ns)
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

    /// Arrival times (s) of `arrival` with seed 5 before `until_s`.
    fn times(arrival: &Arrival, until_s: f64) -> Vec<f64> {
        let mut g = ArrivalGen::new(arrival).unwrap();
        let mut rng = rng_stream(5, STREAM_ARRIVALS);
        let mut v = Vec::new();
        let mut prev = 0;
        while let Some(t) = g.next_ns(&mut rng) {
            assert!(t >= prev, "non-decreasing");
            prev = t;
            if t as f64 / 1e9 >= until_s {
                break;
            }
            v.push(t as f64 / 1e9);
        }
        v
    }

    /// Counts per `width`-second window against the expected counts `expect(a, b)`; `tol` relative.
    fn check_windows(t: &[f64], until_s: f64, width: f64, tol: f64, expect: impl Fn(f64, f64) -> f64) {
        let n = (until_s / width).round() as usize;
        let mut count = vec![0.0; n];
        for &x in t {
            count[((x / width) as usize).min(n - 1)] += 1.0;
        }
        for (i, c) in count.iter().enumerate() {
            let (a, b) = (i as f64 * width, (i + 1) as f64 * width);
            let e = expect(a, b);
            if e == 0.0 {
                assert_eq!(*c, 0.0, "window {a}-{b} s: expected no arrivals");
            } else {
                assert!((c / e - 1.0).abs() < tol, "window {a}-{b} s: {c} arrivals, expected {e:.0}");
            }
        }
    }

    #[test]
    fn diurnal_rate_follows_the_sinusoid() {
        let (rate, amp, period, phase) = (1000.0, 0.8, 100.0, 0.3);
        let arrival = Arrival::Diurnal { rate_per_s: rate, amplitude: amp, period_s: period, phase_rad: phase };
        let t = times(&arrival, 1000.0);
        // Integral of the rate over [a, b].
        let w = std::f64::consts::TAU / period;
        let mass = |a: f64, b: f64| rate * ((b - a) - amp / w * ((w * b + phase).cos() - (w * a + phase).cos()));
        // 5 s windows folded over the 10 periods: >= 10,000 expected arrivals each, so 4 % is > 4 sigma.
        let folded: Vec<f64> = t.iter().map(|x| x % period).collect();
        check_windows(&folded, period, 5.0, 0.04, |a, b| 10.0 * mass(a, b));
        assert!((t.len() as f64 / (rate * 1000.0) - 1.0).abs() < 0.01, "{}", t.len());
        assert_eq!(arrival.rate_at(0.0), Some(rate * (1.0 + amp * phase.sin())));
        // Amplitude 0 is a homogeneous Poisson process.
        let flat = times(&Arrival::Diurnal { rate_per_s: 50.0, amplitude: 0.0, period_s: 10.0, phase_rad: 0.0 }, 400.0);
        assert!((flat.len() as f64 / 20_000.0 - 1.0).abs() < 0.03);
    }

    #[test]
    fn step_profile_rates_per_window_and_end() {
        let arrival = Arrival::Step { points: vec![(0.0, 100.0), (100.0, 1000.0), (200.0, 0.0)] };
        let mut g = ArrivalGen::new(&arrival).unwrap();
        assert!(g.ends());
        let t = times(&arrival, f64::INFINITY);
        // The source ended by itself at 200 s.
        assert!(*t.last().unwrap() < 200.0);
        check_windows(&t, 300.0, 20.0, 0.05, |a, _| match a {
            a if a < 100.0 => 2000.0,
            a if a < 200.0 => 20_000.0,
            _ => 0.0,
        });
        assert!(g.next_ns(&mut rng_stream(1, 2)).is_some());
        assert_eq!(arrival.rate_at(150.0), Some(1000.0));
        assert_eq!(arrival.rate_at(1e6), Some(0.0));
        // A profile with a positive last rate goes on forever at that rate.
        let on = Arrival::Step { points: vec![(0.0, 0.0), (50.0, 200.0)] };
        assert!(!ArrivalGen::new(&on).unwrap().ends());
        let t = times(&on, 250.0);
        assert!(t[0] >= 50.0);
        check_windows(&t, 250.0, 50.0, 0.05, |a, b| if a < 50.0 { 0.0 } else { 200.0 * (b - a) });
    }

    #[test]
    fn ramp_profile_rates_per_window() {
        let arrival = Arrival::Ramp { points: vec![(0.0, 0.0), (100.0, 2000.0), (200.0, 500.0)] };
        let t = times(&arrival, 300.0);
        let rate = |x: f64| arrival.rate_at(x).unwrap();
        // Windows of 10 s: the integral of a linear rate is exact by the trapezoid rule. The first window
        // expects 1,000 arrivals (10 % at 3 sigma), the others >= 3,000.
        check_windows(&t[..], 300.0, 10.0, 0.1, |a, b| (rate(a) + rate(b)) / 2.0 * (b - a));
        let late: Vec<f64> = t.iter().copied().filter(|&x| x >= 10.0).collect();
        check_windows(
            &late,
            300.0,
            10.0,
            0.05,
            |a, b| if a < 10.0 { 0.0 } else { (rate(a) + rate(b)) / 2.0 * (b - a) },
        );
        assert_eq!(rate(50.0), 1000.0);
        assert_eq!(rate(150.0), 1250.0);
        assert_eq!(rate(250.0), 500.0);
    }

    #[test]
    fn non_homogeneous_processes_are_deterministic_per_seed() {
        for a in [
            Arrival::Diurnal { rate_per_s: 30.0, amplitude: 0.5, period_s: 60.0, phase_rad: 0.0 },
            Arrival::Step { points: vec![(0.0, 10.0), (5.0, 40.0)] },
            Arrival::Ramp { points: vec![(0.0, 10.0), (5.0, 40.0)] },
        ] {
            let run = |seed| {
                let mut g = ArrivalGen::new(&a).unwrap();
                let mut rng = rng_stream(seed, STREAM_ARRIVALS);
                (0..500).map(|_| g.next_ns(&mut rng).unwrap()).collect::<Vec<u64>>()
            };
            assert_eq!(run(1), run(1), "{a:?}");
            assert_ne!(run(1), run(2), "{a:?}");
        }
        // Scaling a process scales its rates.
        let s = Arrival::Ramp { points: vec![(0.0, 10.0), (5.0, 40.0)] }.scaled(0.5);
        assert_eq!(s, Arrival::Ramp { points: vec![(0.0, 5.0), (5.0, 20.0)] });
    }

    #[test]
    fn empirical_lengths() {
        let d = LengthDist::Empirical { knots: vec![(0.0, 10.0), (0.5, 20.0), (1.0, 100.0)].into() };
        d.validate().unwrap();
        assert_eq!(d.mean(), 0.5 * 15.0 + 0.5 * 60.0);
        assert_eq!(d.empirical_quantile(0.5), Some(20.0));
        assert_eq!(d.empirical_quantile(0.75), Some(60.0));
        assert_eq!(LengthDist::Fixed(3).empirical_quantile(0.5), None);
        let mut s = LengthSampler::new(d.clone(), d, 3);
        let v: Vec<u32> = (0..100_000).map(|_| s.sample().0).collect();
        assert!(v.iter().all(|x| (10..=100).contains(x)));
        let below = v.iter().filter(|&&x| x <= 20).count() as f64 / 1e5;
        assert!((below - 0.5).abs() < 0.01, "{below}");
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / 1e5;
        assert!((mean / 37.5 - 1.0).abs() < 0.01, "{mean}");
        for (knots, want) in [
            (vec![(0.0, 1.0)], "at least 2"),
            (vec![(0.1, 1.0), (1.0, 2.0)], "from probability 0 to 1"),
            (vec![(0.0, 5.0), (0.5, 4.0), (1.0, 6.0)], "non-decreasing"),
            (vec![(0.0, 5.0), (0.5, 6.0), (0.5, 7.0), (1.0, 8.0)], "increasing probability"),
            (vec![(0.0, f64::NAN), (1.0, 2.0)], "finite"),
        ] {
            let e = LengthDist::Empirical { knots: knots.into() }.validate().unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn gap_gen_rejects_bad_parameters() {
        for a in [
            Arrival::Poisson { rate_per_s: 0.0 },
            Arrival::Poisson { rate_per_s: f64::NAN },
            Arrival::Gamma { rate_per_s: 1.0, cv: 0.0 },
            Arrival::Gamma { rate_per_s: -1.0, cv: 1.0 },
            Arrival::ClosedLoop { concurrency: 4, ramp_up_ns: 0 },
            Arrival::Diurnal { rate_per_s: 1.0, amplitude: 1.5, period_s: 1.0, phase_rad: 0.0 },
            Arrival::Diurnal { rate_per_s: 1.0, amplitude: 0.5, period_s: 0.0, phase_rad: 0.0 },
            Arrival::Diurnal { rate_per_s: 0.0, amplitude: 0.5, period_s: 1.0, phase_rad: 0.0 },
            Arrival::Step { points: vec![] },
            Arrival::Step { points: vec![(1.0, 1.0)] },
            Arrival::Ramp { points: vec![(0.0, 1.0), (0.0, 2.0)] },
            Arrival::Ramp { points: vec![(0.0, 0.0), (1.0, 0.0)] },
            Arrival::Ramp { points: vec![(0.0, -1.0)] },
        ] {
            assert!(ArrivalGen::new(&a).is_err(), "{a:?}");
        }
    }
}
