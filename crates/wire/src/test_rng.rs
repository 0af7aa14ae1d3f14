//! A tiny deterministic generator (xorshift64) for the mutation tests of the parsers a peer
//! reaches: the same inputs every run, so a failure reproduces.

/// `xorshift(seed)` returns the generator: each call gives the next 64-bit value.
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
