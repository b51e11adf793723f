//! Reproducible random streams: one per purpose, from the scenario seed, the same on every
//! platform and `rand` release (PCG64 with explicit state and increment).

use rand_pcg::Pcg64;

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
/// purpose, e.g. `workload::STREAM_ARRIVALS`) are mixed by splitmix64 into the 128-bit state and 128-bit increment of a
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
