//! A fixed dense network `IN -> HIDDEN (ReLU) -> OUT` whose outputs are exact
//! in `f32`.
//!
//! Weights and biases are `code / 8` and inputs `code / 4` with small integer
//! codes, so every product and partial sum is a multiple of `1/256` well below
//! `2^24 / 256`: any summation order, with or without fused multiply-add,
//! gives the same bits. [`reference_logits_x256`] computes the same logits in
//! integer arithmetic, which makes the network a self-checking workload for
//! every board (and a fixed one for instruction counts).

use myelin_core::kernels;

/// Input width.
pub const IN: usize = 32;
/// Hidden width (ReLU).
pub const HIDDEN: usize = 64;
/// Number of classes.
pub const OUT: usize = 10;
/// Multiply-accumulates in one inference.
pub const MACS: usize = IN * HIDDEN + HIDDEN * OUT;
/// Number of built-in input samples.
pub const SAMPLES: usize = 8;

/// Seeds of the four parameter tensors.
const SEED_W1: u32 = 1;
const SEED_B1: u32 = 2;
const SEED_W2: u32 = 3;
const SEED_B2: u32 = 4;
const SEED_INPUT: u32 = 5;

/// A well-mixed 32-bit hash of `(seed, index)` (the `lowbias32` finalizer).
const fn hash(seed: u32, index: u32) -> u32 {
    let mut x = seed.wrapping_mul(0x9E37_79B9) ^ index;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^= x >> 16;
    x
}

/// Parameter code in `-8..=8`; the parameter is `code / 8`.
const fn param_code(seed: u32, index: usize) -> i32 {
    (hash(seed, index as u32) % 17) as i32 - 8
}

/// Input code in `0..=4`; the input is `code / 4`.
const fn input_code(sample: usize, index: usize) -> i32 {
    (hash(SEED_INPUT, (sample * IN + index) as u32) % 5) as i32
}

/// The network's parameters, row-major (`w1[o * IN + i]`).
#[derive(Debug)]
pub struct Net {
    /// First layer weights, `HIDDEN x IN`.
    pub w1: [f32; HIDDEN * IN],
    /// First layer bias.
    pub b1: [f32; HIDDEN],
    /// Second layer weights, `OUT x HIDDEN`.
    pub w2: [f32; OUT * HIDDEN],
    /// Second layer bias.
    pub b2: [f32; OUT],
}

/// The demo network, built at compile time (lives in flash).
pub static NET: Net = Net::new();

/// Bytes of parameters in [`NET`].
pub const WEIGHTS_BYTES: usize = core::mem::size_of::<Net>();

const fn params<const N: usize>(seed: u32) -> [f32; N] {
    let mut out = [0.0; N];
    let mut i = 0;
    while i < N {
        out[i] = param_code(seed, i) as f32 / 8.0;
        i += 1;
    }
    out
}

impl Net {
    /// The fixed parameters.
    pub const fn new() -> Self {
        Self {
            w1: params(SEED_W1),
            b1: params(SEED_B1),
            w2: params(SEED_W2),
            b2: params(SEED_B2),
        }
    }

    /// `logits = W2 relu(W1 x + b1) + b2`, with `hidden` as scratch.
    pub fn forward(&self, x: &[f32; IN], hidden: &mut [f32; HIDDEN], logits: &mut [f32; OUT]) {
        kernels::gemv(&self.w1, x, &self.b1, hidden);
        for h in hidden.iter_mut() {
            *h = h.max(0.0);
        }
        kernels::gemv(&self.w2, hidden, &self.b2, logits);
    }

    /// Runs [`forward`](Self::forward) and returns the arg-max class.
    pub fn classify(&self, x: &[f32; IN]) -> usize {
        let mut hidden = [0.0; HIDDEN];
        let mut logits = [0.0; OUT];
        self.forward(x, &mut hidden, &mut logits);
        argmax(&logits)
    }
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

/// Built-in input sample `sample` (taken modulo [`SAMPLES`]).
pub fn input(sample: usize) -> [f32; IN] {
    let s = sample % SAMPLES;
    core::array::from_fn(|i| input_code(s, i) as f32 / 4.0)
}

/// The logits of sample `sample` times 256, in integer arithmetic (exact).
pub fn reference_logits_x256(sample: usize) -> [i32; OUT] {
    let s = sample % SAMPLES;
    // Hidden units in units of 1/32: (w/8)(x/4) = wx/32, b/8 = 4b/32.
    let hidden: [i32; HIDDEN] = core::array::from_fn(|o| {
        let mut acc = 4 * param_code(SEED_B1, o);
        for i in 0..IN {
            acc += param_code(SEED_W1, o * IN + i) * input_code(s, i);
        }
        acc.max(0)
    });
    // Logits in units of 1/256: (w/8)(h/32) = wh/256, b/8 = 32b/256.
    core::array::from_fn(|o| {
        let mut acc = 32 * param_code(SEED_B2, o);
        for (i, h) in hidden.iter().enumerate() {
            acc += param_code(SEED_W2, o * HIDDEN + i) * h;
        }
        acc
    })
}

/// The class [`reference_logits_x256`] picks for `sample`.
pub fn reference_class(sample: usize) -> usize {
    let logits = reference_logits_x256(sample);
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// Index of the largest value: the first one on ties; a NaN is skipped
/// unless it comes first.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// True if `logits` equal the integer reference of `sample` bit for bit.
pub fn matches_reference(sample: usize, logits: &[f32; OUT]) -> bool {
    let want = reference_logits_x256(sample);
    logits
        .iter()
        .zip(want.iter())
        .all(|(&got, &w)| got * 256.0 == w as f32)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// The logits in f64, straight from the definition of the network.
    fn logits_f64(sample: usize) -> [f64; OUT] {
        let x = input(sample);
        let mut hidden = [0.0f64; HIDDEN];
        for (o, h) in hidden.iter_mut().enumerate() {
            let mut acc = NET.b1[o] as f64;
            for (i, &xi) in x.iter().enumerate() {
                acc += NET.w1[o * IN + i] as f64 * xi as f64;
            }
            *h = acc.max(0.0);
        }
        core::array::from_fn(|o| {
            let mut acc = NET.b2[o] as f64;
            for (i, h) in hidden.iter().enumerate() {
                acc += NET.w2[o * HIDDEN + i] as f64 * h;
            }
            acc
        })
    }

    #[test]
    fn parameters_and_inputs_are_in_range() {
        assert!(
            NET.w1
                .iter()
                .chain(&NET.b1)
                .chain(&NET.w2)
                .chain(&NET.b2)
                .all(|w| w.abs() <= 1.0)
        );
        assert!(NET.w1.iter().any(|&w| w < 0.0) && NET.w1.iter().any(|&w| w > 0.0));
        for s in 0..SAMPLES {
            assert!(input(s).iter().all(|&x| (0.0..=1.0).contains(&x)));
        }
    }

    #[test]
    fn integer_reference_matches_f64() {
        for s in 0..SAMPLES {
            let want = logits_f64(s);
            let got = reference_logits_x256(s);
            for o in 0..OUT {
                assert_eq!(got[o] as f64 / 256.0, want[o], "sample {s} logit {o}");
            }
        }
    }

    #[test]
    fn forward_is_exact() {
        for s in 0..SAMPLES {
            let mut hidden = [0.0; HIDDEN];
            let mut logits = [0.0; OUT];
            NET.forward(&input(s), &mut hidden, &mut logits);
            assert!(matches_reference(s, &logits), "sample {s}: {logits:?}");
            assert_eq!(NET.classify(&input(s)), reference_class(s));
        }
    }

    #[test]
    fn samples_are_not_all_one_class() {
        let first = reference_class(0);
        assert!((1..SAMPLES).any(|s| reference_class(s) != first));
    }

    #[test]
    fn a_wrong_logit_is_detected() {
        let mut hidden = [0.0; HIDDEN];
        let mut logits = [0.0; OUT];
        NET.forward(&input(0), &mut hidden, &mut logits);
        logits[3] += 1.0 / 256.0;
        assert!(!matches_reference(0, &logits));
    }

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.0]), 0);
        assert_eq!(argmax(&[0.0, f32::NAN, 2.0]), 2);
    }
}
