//! int8 depthwise convolution: every output channel filters one input
//! channel (groups = input channels), as TFLite's `DEPTHWISE_CONV_2D`.
//!
//! Output channel `o` reads input channel `o / M`, `M = OUT / IN` the channel
//! multiplier; weights are `OUT x 1 x KH x KW`. Each channel is an ordinary
//! one-channel convolution, computed by the int8 convolution's row kernel.

use super::dot::{self, DotKernel};
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
    depthwise_with::<dot::Active>(layer, shape, x, y)
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
