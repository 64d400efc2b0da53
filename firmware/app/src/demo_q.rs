//! A fixed int8 dense network `IN -> HIDDEN (ReLU) -> OUT` run by
//! myelin-core's int8 kernels (`quant::int8::dense`: the `SMLAD` path on
//! Cortex-M cores with the DSP extension, the scalar loop elsewhere).
//!
//! Parameters are synthetic (hashed), inputs span the whole int8 range, and
//! the scales keep most outputs off the clamps. [`reference`] recomputes the
//! network with plain `i32` loops, so a board checks its kernels against it
//! and against the scalar kernels bit for bit.

use myelin_core::Error;
use myelin_core::quant::int8::{self, DenseQ};
use myelin_core::quant::{OutputQuant, Requant};

/// Input width.
pub const IN: usize = 128;
/// Hidden width (fused ReLU).
pub const HIDDEN: usize = 64;
/// Number of classes.
pub const OUT: usize = 10;
/// Multiply-accumulates in one inference.
pub const MACS: usize = IN * HIDDEN + HIDDEN * OUT;
/// Number of built-in input samples.
pub const SAMPLES: usize = 4;

/// Zero point of the input tensor.
pub const INPUT_ZERO_POINT: i8 = -128;
/// Zero point of the hidden tensor (and its ReLU floor).
pub const HIDDEN_ZERO_POINT: i8 = -128;
/// Output quantization of the hidden layer.
const HIDDEN_OUT: OutputQuant = OutputQuant::relu(HIDDEN_ZERO_POINT);
/// Output quantization of the last layer.
const LOGITS_OUT: OutputQuant = OutputQuant::linear(0);
/// Multiplier of the hidden layer, `2^-11` (one for the whole tensor).
const REQUANT1: [Requant; 1] = [Requant {
    multiplier: 1 << 30,
    shift: -10,
}];
/// Multiplier of the last layer, `2^-10`.
const REQUANT2: [Requant; 1] = [Requant {
    multiplier: 1 << 30,
    shift: -9,
}];

/// The `lowbias32` finalizer of `(seed, index)`.
const fn hash(seed: u32, index: u32) -> u32 {
    let mut x = seed.wrapping_mul(0x9E37_79B9) ^ index;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^= x >> 16;
    x
}

const fn weights<const N: usize>(seed: u32) -> [i8; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = ((hash(seed, i as u32) % 255) as i32 - 127) as i8;
        i += 1;
    }
    out
}

const fn biases<const N: usize>(seed: u32) -> [i32; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = (hash(seed, i as u32) % 20_001) as i32 - 10_000;
        i += 1;
    }
    out
}

/// The network's integer parameters, row-major (`w1[o * IN + i]`).
#[derive(Debug)]
pub struct NetQ {
    /// First layer weights, `HIDDEN x IN`.
    pub w1: [i8; HIDDEN * IN],
    /// First layer bias.
    pub b1: [i32; HIDDEN],
    /// Second layer weights, `OUT x HIDDEN`.
    pub w2: [i8; OUT * HIDDEN],
    /// Second layer bias.
    pub b2: [i32; OUT],
}

/// The int8 demo network, built at compile time (lives in flash).
pub static NET_Q: NetQ = NetQ::new();

/// Bytes of parameters in [`NET_Q`] (weights, biases and multipliers).
pub const WEIGHTS_BYTES: usize =
    core::mem::size_of::<NetQ>() + core::mem::size_of::<[Requant; 2]>();

impl NetQ {
    /// The fixed parameters.
    pub const fn new() -> Self {
        Self {
            w1: weights(11),
            b1: biases(12),
            w2: weights(13),
            b2: biases(14),
        }
    }

    fn layers(&self) -> [DenseQ<'_>; 2] {
        [
            DenseQ {
                weights: &self.w1,
                bias: &self.b1,
                requant: &REQUANT1,
                input_zero_point: INPUT_ZERO_POINT,
                output: HIDDEN_OUT,
            },
            DenseQ {
                weights: &self.w2,
                bias: &self.b2,
                requant: &REQUANT2,
                input_zero_point: HIDDEN_ZERO_POINT,
                output: LOGITS_OUT,
            },
        ]
    }

    /// Forward pass with the fastest int8 kernels of this target.
    ///
    /// # Errors
    /// Never with these fixed shapes; a kernel's shape error is passed on.
    pub fn forward(
        &self,
        x: &[i8; IN],
        hidden: &mut [i8; HIDDEN],
        out: &mut [i8; OUT],
    ) -> Result<(), Error> {
        let [l1, l2] = self.layers();
        int8::dense(&l1, x, hidden)?;
        int8::dense(&l2, hidden, out)
    }

    /// Forward pass with the scalar reference kernels.
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn forward_scalar(
        &self,
        x: &[i8; IN],
        hidden: &mut [i8; HIDDEN],
        out: &mut [i8; OUT],
    ) -> Result<(), Error> {
        let [l1, l2] = self.layers();
        int8::dense_scalar(&l1, x, hidden)?;
        int8::dense_scalar(&l2, hidden, out)
    }
}

impl Default for NetQ {
    fn default() -> Self {
        Self::new()
    }
}

/// Built-in input sample `sample` (taken modulo [`SAMPLES`]).
pub fn input(sample: usize) -> [i8; IN] {
    let s = (sample % SAMPLES) as u32;
    core::array::from_fn(|i| (hash(15, s * IN as u32 + i as u32) % 256) as u8 as i8)
}

fn layer_reference(
    w: &[i8],
    b: &[i32],
    x: &[i8],
    zero_point: i8,
    requant: Requant,
    out: OutputQuant,
    y: &mut [i8],
) {
    for (o, y) in y.iter_mut().enumerate() {
        let mut acc = b[o];
        for (i, &xi) in x.iter().enumerate() {
            acc += i32::from(w[o * x.len() + i]) * (i32::from(xi) - i32::from(zero_point));
        }
        *y = out.requantize(acc, requant);
    }
}

/// The outputs of sample `sample` from plain `i32` loops.
pub fn reference(sample: usize) -> [i8; OUT] {
    let x = input(sample);
    let mut hidden = [0; HIDDEN];
    let n = &NET_Q;
    layer_reference(
        &n.w1,
        &n.b1,
        &x,
        INPUT_ZERO_POINT,
        REQUANT1[0],
        HIDDEN_OUT,
        &mut hidden,
    );
    let mut out = [0; OUT];
    layer_reference(
        &n.w2,
        &n.b2,
        &hidden,
        HIDDEN_ZERO_POINT,
        REQUANT2[0],
        LOGITS_OUT,
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn kernels_match_reference() {
        for s in 0..SAMPLES {
            let (mut h, mut y) = ([0; HIDDEN], [0; OUT]);
            NET_Q.forward(&input(s), &mut h, &mut y).unwrap();
            assert_eq!(y, reference(s), "sample {s}");
            let (mut h2, mut y2) = ([0; HIDDEN], [0; OUT]);
            NET_Q.forward_scalar(&input(s), &mut h2, &mut y2).unwrap();
            assert_eq!((h, y), (h2, y2), "sample {s}");
        }
    }

    #[test]
    fn activations_are_informative() {
        for s in 0..SAMPLES {
            let (mut h, mut y) = ([0; HIDDEN], [0; OUT]);
            NET_Q.forward(&input(s), &mut h, &mut y).unwrap();
            let floor = h.iter().filter(|&&v| v == HIDDEN_ZERO_POINT).count();
            let top = h.iter().filter(|&&v| v == i8::MAX).count();
            assert!(
                floor < HIDDEN * 3 / 4 && top < HIDDEN / 4,
                "sample {s}: {h:?}"
            );
            let clamped = y.iter().filter(|&&v| v == i8::MIN || v == i8::MAX).count();
            assert!(clamped <= OUT / 2, "sample {s}: {y:?}");
            assert!(y.iter().any(|&v| v != y[0]), "sample {s}: {y:?}");
        }
    }

    #[test]
    fn inputs_span_int8() {
        let all: std::vec::Vec<i8> = (0..SAMPLES).flat_map(input).collect();
        assert!(all.contains(&-128) && all.iter().any(|&v| v > 120));
    }
}
