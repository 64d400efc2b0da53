//! Quantization: int8 (scale + zero point, fixed-point requantization) and f16 storage.
//!
//! The int8 scheme: weights symmetric per output channel
//! (`w = s_w[c] * q`), activations asymmetric per tensor
//! (`x = s_x * (q - z_x)`), biases `i32` at scale `s_x * s_w[c]`,
//! accumulation in `i32`, and a fixed-point multiplier per output channel
//! taking the accumulator to the output's scale. See `docs/quantization.md`.
//!
//! Two halves, kept apart on purpose:
//!
//! - **Inference, integers only** — [`fixed`], [`dot`], [`int8`],
//!   [`depthwise`], [`packed`], [`lstm`], [`softmax`], [`lut`].
//!   No floating point, so an int8 model gives the same bits on every
//!   target. On Cortex-M cores with the DSP extension the inner products use
//!   `SMLAD`; [`dot`] explains why that is bit-identical to the scalar loop.
//! - **Quantize time, floating point** — [`params`] (scales, zero points,
//!   multipliers, int8/int32 tensors from f32) and [`calib`] (activation
//!   ranges). The host runs these once; the kernels never call them.
//!
//! `f16` (feature `half`) stores weights as f16 and computes in f32.

pub mod calib;
pub mod depthwise;
pub mod dot;
#[cfg(feature = "half")]
pub mod f16;
pub mod fixed;
mod gemm;
pub mod int8;
pub mod lstm;
pub mod lut;
mod m0;
pub mod packed;
pub mod params;
#[cfg(myelin_arm_dsp)]
mod rows;
pub mod softmax;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use calib::{Calibration, Calibrator};
pub use fixed::{OutputQuant, Requant, Requant64, Requantizer};
pub use int8::{AddQ, Conv2dShape, ConvQ, DenseQ, Pool2dShape};
pub use lstm::LstmQ;
pub use packed::{DensePackedQ, PackedWeights};
pub use params::ActQuant;

/// How many of `n` random cases a unit test draws: all natively, a few under
/// Miri, which runs a thousand times slower and is there to check memory
/// safety, not to cover the arithmetic again.
#[cfg(test)]
pub(crate) const fn test_cases(n: usize) -> usize {
    if cfg!(miri) {
        if n < 8 { n } else { 8 }
    } else {
        n
    }
}
