//! The fixed-point parameters TFLite derives from scales at load time, computed
//! the way its kernels do, for the nodes the importer writes.
//!
//! Dense, conv2d and add multipliers come from
//! [`quantize_multiplier`](myelin_core::quant::params::quantize_multiplier),
//! which is TFLite's `QuantizeMultiplier`. Softmax needs two more of its
//! helpers, `PreprocessSoftmaxScaling` and `CalculateInputRadius`, kept here
//! until the core's int8 softmax brings its own.

use myelin_core::quant::Requant;
use myelin_core::quant::params::quantize_multiplier;

/// Integer bits of the scaled input differences of TFLite's int8 softmax.
pub const SOFTMAX_INPUT_BITS: u32 = 5;

/// TFLite's `PreprocessSoftmaxScaling(beta, input_scale, 5)`: the multiplier
/// (`>= 1`, stored with its left shift) taking `x - max` to Q5.26, and
/// `diff_min`, the most negative difference that still counts
/// (`-CalculateInputRadius(5, left_shift, 31)`).
pub fn softmax_params(beta: f32, input_scale: f32) -> (Requant, i32) {
    let bits = SOFTMAX_INPUT_BITS;
    let max_real = f64::from(i32::MAX);
    let real =
        (f64::from(beta) * f64::from(input_scale) * f64::from(1u32 << (31 - bits))).min(max_real);
    let m = quantize_multiplier(real);
    (m, -input_radius(bits, m.shift, 31))
}

/// TFLite's `CalculateInputRadius`: the largest input difference, in input
/// codes, whose rescaled value still fits `input_bits` integer bits.
fn input_radius(input_bits: u32, left_shift: i32, total_bits: u32) -> i32 {
    let max = f64::from((1u32 << input_bits) - 1) * (1u64 << (total_bits - input_bits)) as f64
        / 2f64.powi(left_shift);
    max.floor() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_params_match_tflite_for_a_typical_scale() {
        // beta 1, input scale 1/16: real multiplier 2^26 / 16 = 2^22, which
        // QuantizeMultiplier stores as 2^30 with left shift 23; the radius is
        // floor(31 * 2^26 / 2^23) = 248.
        let (m, diff_min) = softmax_params(1.0, 1.0 / 16.0);
        assert_eq!((m.multiplier, m.shift), (1 << 30, 23));
        assert_eq!(diff_min, -248);
        // A scale that is not a power of two: the radius follows the shift.
        let (m, diff_min) = softmax_params(1.0, 0.1);
        let real = f64::from(0.1f32) * f64::from(1u32 << 26);
        let back = f64::from(m.multiplier) * 2f64.powi(m.shift - 31);
        assert!((back / real - 1.0).abs() < 1e-9);
        assert_eq!(
            diff_min,
            -((31.0 * 2f64.powi(26) / 2f64.powi(m.shift)).floor() as i32)
        );
    }
}
