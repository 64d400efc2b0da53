//! int8 depthwise convolution: every output channel filters one input
//! channel (groups = input channels), as TFLite's `DEPTHWISE_CONV_2D`.
//!
//! Output channel `o` reads input channel `o / M`, `M = OUT / IN` the channel
//! multiplier; weights are `OUT x 1 x KH x KW`. Each channel is an ordinary
//! one-channel convolution, computed by the int8 convolution's row kernel
//! (the scalar reference, and microcontrollers). On 64-bit hosts an output
//! row is accumulated whole instead: one pass over an input row per tap,
//! which the compiler vectorizes (with AVX2 when the CPU has it). The sums
//! are the same exact products added modulo `2^32` in another order, so the
//! outputs are the reference's bit for bit.

use super::dot::{self, DotKernel};
#[cfg(target_pointer_width = "64")]
use super::fixed::channel_requant;
use super::int8::{Conv2dShape, ConvQ, check_requant, conv2d_rows, expect_len};
use crate::Error;

/// Checks a depthwise layer and its tensor lengths against `shape`
/// (`shape.out_channels` a multiple of `shape.in_channels`).
///
/// # Errors
/// [`Error::InvalidShape`] for an unusable shape or a channel count that is
/// not a multiple of the input's, [`Error::ShapeMismatch`] naming the first
/// tensor that does not fit.
pub fn check(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x_len: usize,
    y_len: usize,
) -> Result<(), Error> {
    let out_len = shape.output_len()?;
    if !shape.out_channels.is_multiple_of(shape.in_channels) {
        return Err(Error::InvalidShape {
            what: "depthwise output channels not a multiple of the input channels",
        });
    }
    expect_len(x_len, shape.input_len())?;
    expect_len(y_len, Some(out_len))?;
    let taps = shape.kernel[0].checked_mul(shape.kernel[1]);
    expect_len(
        layer.weights.len(),
        taps.and_then(|t| t.checked_mul(shape.out_channels)),
    )?;
    expect_len(layer.bias.len(), Some(shape.out_channels))?;
    check_requant(layer.requant, shape.out_channels)
}

/// int8 depthwise convolution with the fastest inner product on this target.
///
/// # Errors
/// As [`check`].
pub fn depthwise_conv2d(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    #[cfg(target_pointer_width = "64")]
    if shape.out_size().is_ok_and(|[_, w]| w <= ROW_MAX) {
        check(layer, shape, x.len(), y.len())?;
        #[cfg(target_arch = "x86_64")]
        if dot::x86_level() != dot::X86Level::Scalar {
            // SAFETY: `x86_level` confirmed AVX2.
            unsafe { by_rows_avx2(layer, shape, x, y) };
            return Ok(());
        }
        by_rows(layer, shape, x, y);
        return Ok(());
    }
    depthwise_with::<dot::Active>(layer, shape, x, y)
}

/// Widest output row [`by_rows`] accumulates (on the stack).
#[cfg(target_pointer_width = "64")]
const ROW_MAX: usize = 512;

/// [`by_rows`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn by_rows_avx2(layer: &ConvQ<'_>, s: &Conv2dShape, x: &[i8], y: &mut [i8]) {
    by_rows(layer, s, x, y);
}

/// The depthwise convolution one output row at a time: the row's `i32`
/// accumulators start at the bias, and each tap `(ky, kx)` adds
/// `w * (x - zp)` along the input row it reads, over the outputs whose tap
/// lands inside the input (the padded ones add nothing). The caller has
/// checked the layer ([`check`]) and that output rows fit [`ROW_MAX`].
#[cfg(target_pointer_width = "64")]
#[inline(always)]
fn by_rows(layer: &ConvQ<'_>, s: &Conv2dShape, x: &[i8], y: &mut [i8]) {
    let Ok([out_h, out_w]) = s.out_size() else {
        return;
    };
    let [in_h, in_w] = s.in_size;
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [ph, _, pw, _] = s.padding;
    let zp = i32::from(layer.input_zero_point);
    let multiplier = s.out_channels / s.in_channels;
    let mut buf = [0i32; ROW_MAX];
    let acc = &mut buf[..out_w];
    for (o, y) in y.chunks_exact_mut(out_h * out_w).enumerate() {
        let c = o / multiplier;
        let plane = &x[c * in_h * in_w..(c + 1) * in_h * in_w];
        let filter = &layer.weights[o * kh * kw..(o + 1) * kh * kw];
        let m = channel_requant(layer.requant, o);
        for (oy, y) in y.chunks_exact_mut(out_w).enumerate() {
            acc.fill(layer.bias[o]);
            for (ky, taps) in filter.chunks_exact(kw).enumerate() {
                let Some(iy) = (oy * sh + ky).checked_sub(ph).filter(|&iy| iy < in_h) else {
                    continue;
                };
                let row = &plane[iy * in_w..(iy + 1) * in_w];
                for (kx, &w) in taps.iter().enumerate() {
                    // Outputs `ox` whose input `ox * sw + kx - pw` is in the row.
                    let lo = pw.saturating_sub(kx).div_ceil(sw);
                    let hi = (in_w + pw)
                        .checked_sub(kx + 1)
                        .map_or(0, |last| last / sw + 1)
                        .min(out_w);
                    if lo >= hi {
                        continue;
                    }
                    let w = i32::from(w);
                    let first = lo * sw + kx - pw;
                    if sw == 1 {
                        let src = &row[first..first + (hi - lo)];
                        for (a, &v) in acc[lo..hi].iter_mut().zip(src) {
                            *a = a.wrapping_add(w * (i32::from(v) - zp));
                        }
                    } else {
                        let src = row[first..].iter().step_by(sw);
                        for (a, &v) in acc[lo..hi].iter_mut().zip(src) {
                            *a = a.wrapping_add(w * (i32::from(v) - zp));
                        }
                    }
                }
            }
            for (d, &a) in y.iter_mut().zip(acc.iter()) {
                *d = layer.output.requantize(a, m);
            }
        }
    }
}

/// Scalar reference of [`depthwise_conv2d`].
///
/// # Errors
/// As [`check`].
pub fn depthwise_conv2d_scalar(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    depthwise_with::<dot::Scalar>(layer, shape, x, y)
}

fn depthwise_with<D: DotKernel>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    check(layer, s, x.len(), y.len())?;
    let [out_h, out_w] = s.out_size()?;
    let plane_in = s.in_size[0] * s.in_size[1];
    let plane_out = out_h * out_w;
    let taps = s.kernel[0] * s.kernel[1];
    let multiplier = s.out_channels / s.in_channels;
    let one = Conv2dShape {
        in_channels: 1,
        out_channels: 1,
        ..*s
    };
    for (o, y) in y.chunks_exact_mut(plane_out).enumerate() {
        let c = o / multiplier;
        let requant = if layer.requant.len() == 1 {
            layer.requant
        } else {
            &layer.requant[o..=o]
        };
        let channel = ConvQ {
            weights: &layer.weights[o * taps..(o + 1) * taps],
            bias: &layer.bias[o..=o],
            requant,
            ..*layer
        };
        conv2d_rows::<D>(&channel, &one, &x[c * plane_in..(c + 1) * plane_in], y)?;
    }
    Ok(())
}
