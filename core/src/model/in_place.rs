//! Running an int8 node whose memory plan puts its output over one of its
//! inputs (same offset; [`overwrite_scratch`] says which nodes may): the
//! node's own kernels on small pieces, each piece of the input copied into a
//! scratch before the output covers it.
//!
//! - depthwise convolution: channel by channel, the input plane copied, then
//!   the kernel on that one channel writes the output plane (output plane
//!   `c` ends where input plane `c` ends or before);
//! - 1x1 convolution: [`POINTWISE_BLOCK`] positions at a time, every channel
//!   of them gathered, the kernel on a `[C, 1, B]` input into a `[OC, 1, B]`
//!   block, scattered back to the same positions;
//! - elementwise nodes: [`ELEMENTWISE_BLOCK`] elements at a time.
//!
//! [`overwrite_scratch`]: super::plan::overwrite_scratch
//! [`POINTWISE_BLOCK`]: super::plan::POINTWISE_BLOCK
//! [`ELEMENTWISE_BLOCK`]: super::plan::ELEMENTWISE_BLOCK
//!
//! Each output element is the same integer the whole-tensor kernel computes
//! (the kernels treat channels, positions and elements independently).

use super::int8::{add_q, conv_parts, layer, second_input_quant};
use super::plan::{ELEMENTWISE_BLOCK, POINTWISE_BLOCK};
use super::{LayerKind, LayerView, Model, shape_len};
use crate::Error;
use crate::quant::depthwise;
use crate::quant::int8::{self, Conv2dShape, ConvQ};

const SHORT_SCRATCH: Error = Error::Unsupported {
    what: "in-place node without its scratch",
};

/// Node `l` of `model` with its output over its input `u`: `region` holds
/// the bytes of both (starting at their shared offset), `other` reads the
/// node's other input, if any; `scratch` holds the node's
/// [`super::plan::overwrite_scratch`] elements.
#[inline(never)]
pub(super) fn run<'v>(
    model: &Model<'_>,
    l: &LayerView<'_>,
    u: usize,
    region: &mut [i8],
    other: impl Fn(usize) -> Result<&'v [i8], Error>,
    scratch: &mut [i8],
    cell: &mut [i16],
) -> Result<(), Error> {
    let out = shape_len(l.out_shape);
    match l.kind {
        LayerKind::Reshape => Ok(()),
        LayerKind::Conv2d => {
            let (conv, shape, depthwise) = conv_parts(l)?;
            if depthwise {
                depthwise_over(&conv, &shape, region, scratch)
            } else {
                pointwise_over(&conv, &shape, region, scratch)
            }
        }
        LayerKind::Add => {
            let &[a, b] = l.inputs() else {
                return Err(SHORT_SCRATCH);
            };
            let q = add_q(l, second_input_quant(model, b)?)?;
            let rest = other(if u == a { b } else { a })?;
            blocks(
                region.get_mut(..out).ok_or(SHORT_SCRATCH)?,
                scratch,
                |i, s, y| {
                    let r = rest.get(i..i + y.len()).ok_or(SHORT_SCRATCH)?;
                    if u == a {
                        int8::add(&q, s, r, y)
                    } else {
                        int8::add(&q, r, s, y)
                    }
                },
            )
        }
        _ => blocks(
            region.get_mut(..out).ok_or(SHORT_SCRATCH)?,
            scratch,
            |_, s, y| layer(l, s, y, &mut [], cell),
        ),
    }
}

/// `f(start, copy, y)` on each [`ELEMENTWISE_BLOCK`] of `y`, `copy` the
/// block's bytes before `f` writes them.
fn blocks(
    y: &mut [i8],
    scratch: &mut [i8],
    mut f: impl FnMut(usize, &[i8], &mut [i8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let s = scratch
        .get_mut(..ELEMENTWISE_BLOCK.min(y.len()))
        .ok_or(SHORT_SCRATCH)?;
    for (k, y) in y.chunks_mut(ELEMENTWISE_BLOCK).enumerate() {
        let s = &mut s[..y.len()];
        s.copy_from_slice(y);
        f(k * ELEMENTWISE_BLOCK, s, y)?;
    }
    Ok(())
}

/// A depthwise convolution (one filter per channel) over its input.
fn depthwise_over(
    conv: &ConvQ<'_>,
    shape: &Conv2dShape,
    region: &mut [i8],
    scratch: &mut [i8],
) -> Result<(), Error> {
    let c = shape.in_channels;
    let plane_in = shape.in_size[0] * shape.in_size[1];
    let plane_out = shape.output_len()? / c.max(1);
    let taps = shape.kernel[0] * shape.kernel[1];
    let one = Conv2dShape {
        in_channels: 1,
        out_channels: 1,
        ..*shape
    };
    let x = scratch.get_mut(..plane_in).ok_or(SHORT_SCRATCH)?;
    for ch in 0..c {
        x.copy_from_slice(
            region
                .get(ch * plane_in..(ch + 1) * plane_in)
                .ok_or(SHORT_SCRATCH)?,
        );
        let filter = ConvQ {
            weights: conv
                .weights
                .get(ch * taps..(ch + 1) * taps)
                .ok_or(SHORT_SCRATCH)?,
            bias: conv.bias.get(ch..=ch).ok_or(SHORT_SCRATCH)?,
            requant: channel(conv.requant, ch)?,
            ..*conv
        };
        let y = region
            .get_mut(ch * plane_out..(ch + 1) * plane_out)
            .ok_or(SHORT_SCRATCH)?;
        depthwise::depthwise_conv2d(&filter, &one, x, y)?;
    }
    Ok(())
}

/// Channel `ch`'s multiplier (or the tensor's only one).
fn channel<T>(m: &[T], ch: usize) -> Result<&[T], Error> {
    match m.len() {
        1 => Ok(m),
        _ => m.get(ch..=ch).ok_or(SHORT_SCRATCH),
    }
}

/// A 1x1 convolution (stride 1, no padding) over its input.
fn pointwise_over(
    conv: &ConvQ<'_>,
    shape: &Conv2dShape,
    region: &mut [i8],
    scratch: &mut [i8],
) -> Result<(), Error> {
    let (c, oc) = (shape.in_channels, shape.out_channels);
    let positions = shape.in_size[0] * shape.in_size[1];
    let block = POINTWISE_BLOCK.min(positions);
    let scratch = scratch.get_mut(..(c + oc) * block).ok_or(SHORT_SCRATCH)?;
    let mut p0 = 0;
    while p0 < positions {
        let n = block.min(positions - p0);
        let (x, y) = scratch.split_at_mut(c * n);
        let y = &mut y[..oc * n];
        for (ch, x) in x.chunks_exact_mut(n).enumerate() {
            let at = ch * positions + p0;
            x.copy_from_slice(region.get(at..at + n).ok_or(SHORT_SCRATCH)?);
        }
        let piece = Conv2dShape {
            in_size: [1, n],
            ..*shape
        };
        int8::conv2d(conv, &piece, x, y)?;
        for (o, y) in y.chunks_exact(n).enumerate() {
            let at = o * positions + p0;
            region
                .get_mut(at..at + n)
                .ok_or(SHORT_SCRATCH)?
                .copy_from_slice(y);
        }
        p0 += n;
    }
    Ok(())
}
