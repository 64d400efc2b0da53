//! Computing int8 parameters from f32 weights and calibrated ranges.
//!
//! Everything here uses floating point and runs once, at quantize time, on the
//! host. The int8 kernels never call it: they only see the integers it
//! produces (`i8` weights, `i32` biases, [`Requant`] multipliers, zero
//! points). Ratios of scales are formed in f64 so the Q31 multipliers are as
//! exact as their 31 bits allow.

use super::fixed::{OutputQuant, Requant};
use super::int8::{ADD_LEFT_SHIFT, AddQ};
use super::lstm::{GATE_FRAC_BITS, HIDDEN_FRAC_BITS};
use super::softmax::{DIFF_INTEGER_BITS, SoftmaxQ};
use crate::Error;

/// Scale and zero point of an asymmetric per-tensor int8 tensor:
/// `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ActQuant {
    /// Size of one quantization step; positive and finite.
    pub scale: f32,
    /// The int8 value that stands for real 0 (exactly representable).
    pub zero_point: i8,
}

impl ActQuant {
    /// Parameters covering `[min, max]`, widened to contain 0 so that real 0
    /// (padding, ReLU) is exact. An empty range (`min == max == 0`) gets
    /// `scale = 1`.
    ///
    /// # Errors
    /// [`Error::NonFinite`] if `min` (index 0) or `max` (index 1) is NaN or
    /// infinite.
    pub fn from_range(min: f32, max: f32) -> Result<Self, Error> {
        if !min.is_finite() {
            return Err(Error::NonFinite { index: 0 });
        }
        if !max.is_finite() {
            return Err(Error::NonFinite { index: 1 });
        }
        let lo = f64::from(min.min(max).min(0.0));
        let hi = f64::from(min.max(max).max(0.0));
        if hi - lo <= 0.0 {
            return Ok(Self {
                scale: 1.0,
                zero_point: 0,
            });
        }
        let scale = ((hi - lo) / 255.0) as f32;
        let scale = scale.max(f32::MIN_POSITIVE);
        let zp = libm::round(-128.0 - lo / f64::from(scale));
        Ok(Self {
            scale,
            zero_point: zp.clamp(-128.0, 127.0) as i8,
        })
    }

    /// `clamp(round(x / scale) + zero_point, -128, 127)`; NaN maps to the
    /// zero point.
    pub fn quantize(&self, x: f32) -> i8 {
        let q = libm::roundf(x / self.scale);
        let q = if q.is_nan() { 0.0 } else { q };
        (q + f32::from(self.zero_point)).clamp(-128.0, 127.0) as i8
    }

    /// `scale * (q - zero_point)`.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (i32::from(q) - i32::from(self.zero_point)) as f32
    }

    /// [`quantize`](Self::quantize) element-wise.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn quantize_slice(&self, x: &[f32], q: &mut [i8]) {
        assert_eq!(x.len(), q.len(), "quantize_slice: lengths differ");
        for (q, &x) in q.iter_mut().zip(x) {
            *q = self.quantize(x);
        }
    }

    /// [`dequantize`](Self::dequantize) element-wise.
    ///
    /// # Panics
    /// If the slices differ in length.
    pub fn dequantize_slice(&self, q: &[i8], x: &mut [f32]) {
        assert_eq!(x.len(), q.len(), "dequantize_slice: lengths differ");
        for (x, &q) in x.iter_mut().zip(q) {
            *x = self.dequantize(q);
        }
    }

    /// Output stage writing into this tensor with no activation.
    pub fn linear(&self) -> OutputQuant {
        OutputQuant::linear(self.zero_point)
    }

    /// Output stage writing into this tensor with a fused ReLU.
    pub fn relu(&self) -> OutputQuant {
        OutputQuant::relu(self.zero_point)
    }
}

/// The fixed-point form of a real multiplier `m`, exact to 31 significant
/// bits (relative error at most `2^-31`).
///
/// `m <= 0`, NaN and `m < 2^-32` give the zero multiplier; `m >= 2^30`
/// saturates.
pub fn quantize_multiplier(m: f64) -> Requant {
    if m.is_nan() || m <= 0.0 {
        return Requant::default();
    }
    if !m.is_finite() {
        return Requant {
            multiplier: i32::MAX,
            shift: Requant::MAX_SHIFT,
        };
    }
    // m = frac * 2^exp, frac in [0.5, 1).
    let (frac, exp) = libm::frexp(m);
    let mut q = libm::round(frac * (1u64 << 31) as f64) as i64;
    let mut shift = exp;
    if q == 1 << 31 {
        q >>= 1;
        shift += 1;
    }
    if shift < Requant::MIN_SHIFT {
        return Requant::default();
    }
    if shift > Requant::MAX_SHIFT {
        return Requant {
            multiplier: i32::MAX,
            shift: Requant::MAX_SHIFT,
        };
    }
    Requant {
        multiplier: q as i32,
        shift,
    }
}

/// The real value of a fixed-point multiplier (for tests and reports).
pub fn requant_to_f64(m: Requant) -> f64 {
    f64::from(m.multiplier) * libm::exp2(f64::from(m.shift) - 31.0)
}

/// Symmetric per-output-channel quantization of a weight tensor whose
/// outermost dimension is the output channel (`w` is `scales.len()` rows of
/// equal length): `scale[c] = max|w[c, :]| / 127`,
/// `q = clamp(round(w / scale[c]), -127, 127)`. An all-zero row gets scale 1.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `q.len() != w.len()` or `w.len()` is not a
/// multiple of `scales.len()`; [`Error::NonFinite`] at the first NaN or
/// infinite weight.
pub fn quantize_per_channel(w: &[f32], q: &mut [i8], scales: &mut [f32]) -> Result<(), Error> {
    if q.len() != w.len() {
        return Err(Error::ShapeMismatch {
            expected: w.len(),
            found: q.len(),
        });
    }
    let channels = scales.len();
    if channels == 0 || !w.len().is_multiple_of(channels) {
        return Err(Error::ShapeMismatch {
            expected: channels,
            found: w.len(),
        });
    }
    if let Some(index) = w.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { index });
    }
    let row = w.len() / channels;
    if row == 0 {
        return Ok(());
    }
    for ((w, q), scale) in w
        .chunks_exact(row)
        .zip(q.chunks_exact_mut(row))
        .zip(scales.iter_mut())
    {
        let max_abs = w.iter().fold(0.0f32, |m, &x| m.max(libm::fabsf(x)));
        *scale = if max_abs > 0.0 {
            (max_abs / 127.0).max(f32::MIN_POSITIVE)
        } else {
            1.0
        };
        for (q, &x) in q.iter_mut().zip(w) {
            *q = libm::roundf(x / *scale).clamp(-127.0, 127.0) as i8;
        }
    }
    Ok(())
}

/// `w = scale[c] * q` for a per-channel tensor laid out as in
/// [`quantize_per_channel`].
///
/// # Panics
/// If `q.len() != w.len()` or the length is not a multiple of `scales.len()`.
pub fn dequantize_per_channel(q: &[i8], scales: &[f32], w: &mut [f32]) {
    assert_eq!(q.len(), w.len(), "dequantize_per_channel: lengths differ");
    assert!(
        !scales.is_empty() && q.len().is_multiple_of(scales.len()),
        "dequantize_per_channel: length not a multiple of the channel count"
    );
    let row = q.len() / scales.len();
    if row == 0 {
        return;
    }
    for ((w, q), &s) in w.chunks_exact_mut(row).zip(q.chunks_exact(row)).zip(scales) {
        for (w, &q) in w.iter_mut().zip(q) {
            *w = s * f32::from(q);
        }
    }
}

/// `i32` biases at scale `input_scale * weight_scales[c]`:
/// `q[c] = round(b[c] / (input_scale * weight_scales[c]))`, saturated.
///
/// `weight_scales` has one entry per bias or a single per-tensor entry.
///
/// # Errors
/// [`Error::ShapeMismatch`] on mismatched lengths; [`Error::NonFinite`] at the
/// first NaN or infinite bias.
pub fn quantize_bias(
    b: &[f32],
    input_scale: f32,
    weight_scales: &[f32],
    q: &mut [i32],
) -> Result<(), Error> {
    check_per_channel(b.len(), weight_scales.len())?;
    if q.len() != b.len() {
        return Err(Error::ShapeMismatch {
            expected: b.len(),
            found: q.len(),
        });
    }
    if let Some(index) = b.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { index });
    }
    for (c, (q, &b)) in q.iter_mut().zip(b).enumerate() {
        let s = f64::from(input_scale) * f64::from(per_channel(weight_scales, c));
        // `as` saturates to the i32 range.
        *q = libm::round(f64::from(b) / s) as i32;
    }
    Ok(())
}

/// Per-channel output multipliers
/// `M[c] = input_scale * weight_scales[c] / output_scale`: the factor from a
/// layer's `i32` accumulator to its output's quantization steps.
///
/// `weight_scales` has `out.len()` entries or a single per-tensor one.
///
/// # Errors
/// [`Error::ShapeMismatch`] on mismatched lengths.
pub fn output_requant(
    input_scale: f32,
    weight_scales: &[f32],
    output_scale: f32,
    out: &mut [Requant],
) -> Result<(), Error> {
    check_per_channel(out.len(), weight_scales.len())?;
    for (c, m) in out.iter_mut().enumerate() {
        let real = f64::from(input_scale) * f64::from(per_channel(weight_scales, c))
            / f64::from(output_scale);
        *m = quantize_multiplier(real);
    }
    Ok(())
}

/// Parameters of [`add`](super::int8::add) for `y = a + b`, each tensor in
/// its own quantization, with an optional fused ReLU.
pub fn add_params(a: &ActQuant, b: &ActQuant, out: &ActQuant, relu: bool) -> AddQ {
    let (sa, sb, so) = (f64::from(a.scale), f64::from(b.scale), f64::from(out.scale));
    let twice_max = 2.0 * sa.max(sb);
    AddQ {
        a_zero_point: a.zero_point,
        a_requant: quantize_multiplier(sa / twice_max),
        b_zero_point: b.zero_point,
        b_requant: quantize_multiplier(sb / twice_max),
        output_requant: quantize_multiplier(
            twice_max / (libm::exp2(f64::from(ADD_LEFT_SHIFT)) * so),
        ),
        output: if relu { out.relu() } else { out.linear() },
    }
}

/// Output quantization of [`int8::sigmoid`](super::int8::sigmoid): `[0, 1)`
/// in steps of `1/256`.
pub const SIGMOID_OUTPUT: ActQuant = ActQuant {
    scale: 1.0 / 256.0,
    zero_point: -128,
};

/// Output quantization of [`int8::tanh`](super::int8::tanh): `[-1, 1)` in
/// steps of `1/128`.
pub const TANH_OUTPUT: ActQuant = ActQuant {
    scale: 1.0 / 128.0,
    zero_point: 0,
};

/// Output quantization of [`softmax`](super::softmax::softmax): `[0, 1)` in
/// steps of `1/256`, as TFLite's int8 softmax.
pub const SOFTMAX_OUTPUT: ActQuant = SIGMOID_OUTPUT;

/// The parameters of an int8 softmax with `beta` over an input of scale
/// `input_scale`, as TFLite's `PreprocessSoftmaxScaling(beta, s_in, 5)`
/// computes them: the multiplier (`>= 1`, stored with its left shift) taking
/// `x - max` to Q5.26, and `diff_min = -CalculateInputRadius(5, shift, 31)`,
/// the most negative difference whose rescaled value still fits.
pub fn softmax_params(beta: f32, input_scale: f32) -> SoftmaxQ {
    let bits = DIFF_INTEGER_BITS;
    let real = (f64::from(beta) * f64::from(input_scale) * f64::from(1u32 << (31 - bits)))
        .min(f64::from(i32::MAX));
    let input_beta = quantize_multiplier(real);
    let radius = f64::from((1u32 << bits) - 1) * f64::from(1u32 << (31 - bits))
        / libm::exp2(f64::from(input_beta.shift));
    SoftmaxQ {
        input_beta,
        diff_min: -(libm::floor(radius) as i32),
    }
}

/// The multiplier taking `x - zero_point` of a tensor with scale
/// `input_scale` to Q3.12, as [`int8::sigmoid`](super::int8::sigmoid) and
/// [`int8::tanh`](super::int8::tanh) need.
pub fn activation_requant(input_scale: f32) -> Requant {
    quantize_multiplier(f64::from(input_scale) * libm::exp2(f64::from(GATE_FRAC_BITS)))
}

/// The multiplier of [`int8::rescale`](super::int8::rescale) from `from` to
/// `to`: `from.scale / to.scale`.
pub fn rescale_requant(from: &ActQuant, to: &ActQuant) -> Requant {
    quantize_multiplier(f64::from(from.scale) / f64::from(to.scale))
}

/// Quantization of an int8 LSTM's hidden state (`2^-7`, zero point 0): the
/// input parameters of the layer that reads it.
pub const LSTM_HIDDEN: ActQuant = ActQuant {
    scale: 1.0 / (1 << HIDDEN_FRAC_BITS) as f32,
    zero_point: 0,
};

/// Multipliers of an int8 LSTM (see [`LstmQ`](super::lstm::LstmQ)):
/// `input_requant[r] = s_x * s_wx[r] * 2^12` and
/// `recurrent_requant[r] = 2^-7 * s_wh[r] * 2^12`, taking the gate
/// accumulators to Q3.12. Biases use [`quantize_bias`] with `input_scale` and
/// `input_weight_scales`.
///
/// # Errors
/// [`Error::ShapeMismatch`] on mismatched lengths.
pub fn lstm_requant(
    input_scale: f32,
    input_weight_scales: &[f32],
    recurrent_weight_scales: &[f32],
    input_requant: &mut [Requant],
    recurrent_requant: &mut [Requant],
) -> Result<(), Error> {
    let gate_one = libm::exp2(f64::from(GATE_FRAC_BITS));
    let hidden_scale = f64::from(LSTM_HIDDEN.scale);
    check_per_channel(input_requant.len(), input_weight_scales.len())?;
    check_per_channel(recurrent_requant.len(), recurrent_weight_scales.len())?;
    for (r, m) in input_requant.iter_mut().enumerate() {
        let s = f64::from(per_channel(input_weight_scales, r));
        *m = quantize_multiplier(f64::from(input_scale) * s * gate_one);
    }
    for (r, m) in recurrent_requant.iter_mut().enumerate() {
        let s = f64::from(per_channel(recurrent_weight_scales, r));
        *m = quantize_multiplier(hidden_scale * s * gate_one);
    }
    Ok(())
}

fn check_per_channel(channels: usize, scales: usize) -> Result<(), Error> {
    if scales == channels || scales == 1 {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            expected: channels,
            found: scales,
        })
    }
}

fn per_channel(scales: &[f32], c: usize) -> f32 {
    if scales.len() == 1 {
        scales[0]
    } else {
        scales[c]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_params_match_tflite_for_a_typical_scale() {
        // beta 1, input scale 1/16: real multiplier 2^26 / 16 = 2^22, which
        // QuantizeMultiplier stores as 2^30 with left shift 23; the radius is
        // floor(31 * 2^26 / 2^23) = 248.
        let p = softmax_params(1.0, 1.0 / 16.0);
        assert_eq!((p.input_beta.multiplier, p.input_beta.shift), (1 << 30, 23));
        assert_eq!(p.diff_min, -248);
        // A scale that is not a power of two: the radius follows the shift.
        let p = softmax_params(1.0, 0.1);
        let real = f64::from(0.1f32) * f64::from(1u32 << 26);
        assert!((requant_to_f64(p.input_beta) / real - 1.0).abs() < 1e-9);
        let radius = 31.0 * 2f64.powi(26) / 2f64.powi(p.input_beta.shift);
        assert_eq!(p.diff_min, -(radius.floor() as i32));
    }

    #[test]
    fn multiplier_round_trips() {
        for &m in &[
            1.0e-9,
            0.000_123,
            0.25,
            0.5,
            0.7,
            0.999_999_999_9,
            1.0,
            3.5,
            1000.0,
        ] {
            let q = quantize_multiplier(m);
            assert!((q.multiplier as i64) >= 1 << 30, "{m}: {q:?}");
            let back = requant_to_f64(q);
            assert!(
                ((back - m) / m).abs() <= 1.0 / (1u64 << 31) as f64,
                "{m}: {back}"
            );
        }
        assert_eq!(quantize_multiplier(0.0), Requant::default());
        assert_eq!(quantize_multiplier(-1.0), Requant::default());
        assert_eq!(quantize_multiplier(f64::NAN), Requant::default());
        assert_eq!(quantize_multiplier(1.0e-12), Requant::default());
    }

    #[test]
    fn activation_range_contains_zero_exactly() {
        let a = ActQuant::from_range(-1.0, 3.0).unwrap();
        assert_eq!(a.dequantize(a.zero_point), 0.0);
        assert_eq!(a.quantize(-1.0), -128);
        assert_eq!(a.quantize(3.0), 127);
        // Positive-only range: real 0 is -128.
        let r = ActQuant::from_range(0.5, 6.0).unwrap();
        assert_eq!(r.zero_point, -128);
        assert_eq!(
            ActQuant::from_range(f32::NAN, 1.0),
            Err(Error::NonFinite { index: 0 })
        );
        assert_eq!(ActQuant::from_range(0.0, 0.0).unwrap().scale, 1.0);
    }

    #[test]
    fn per_channel_weights_use_full_range() {
        let w = [0.5, -1.0, 0.25, 0.0, 0.0, 0.0, 2.0, 1.0, -0.5];
        let mut q = [0i8; 9];
        let mut s = [0.0f32; 3];
        quantize_per_channel(&w, &mut q, &mut s).unwrap();
        assert_eq!(&q[..3], &[64, -127, 32]);
        assert_eq!(&q[3..6], &[0, 0, 0]);
        assert_eq!(s[1], 1.0);
        assert_eq!(&q[6..], &[127, 64, -32]);
        let mut back = [0.0f32; 9];
        dequantize_per_channel(&q, &s, &mut back);
        for (a, b) in w.iter().zip(&back) {
            assert!((a - b).abs() <= 2.0 / 254.0);
        }
        let bad = [1.0, f32::INFINITY];
        assert_eq!(
            quantize_per_channel(&bad, &mut [0; 2], &mut [0.0; 1]),
            Err(Error::NonFinite { index: 1 })
        );
    }
}
