//! f16 weight storage (feature `half`): weights stored as IEEE binary16,
//! converted to f32 and computed in f32 with the f32 kernels.
//!
//! Dense and convolution layers read their f16 weights in place (widening a
//! block or one filter at a time on the stack), so the weights stay in flash
//! at half the size. Other layers (LSTM) widen their weights once with
//! [`to_f32`] into a buffer.

use super::int8;
use crate::Error;
use crate::kernels::{self, Conv1dShape, Conv2dShape};
pub use half::f16;

/// Weights converted per block, so the f32 copy lives on the stack.
const BLOCK: usize = 64;

/// `dst[i] = f16(src[i])`, rounded to nearest even (relative error at most
/// `2^-11` in the normal range; beyond 65504 becomes infinity).
///
/// # Panics
/// If the slices differ in length.
pub fn to_f16(src: &[f32], dst: &mut [f16]) {
    assert_eq!(src.len(), dst.len(), "to_f16: lengths differ");
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(s);
    }
}

/// `dst[i] = f32(src[i])` (exact).
///
/// # Panics
/// If the slices differ in length.
pub fn to_f32(src: &[f16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "to_f32: lengths differ");
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
}

/// `y = W x + b` with `W` (`y.len() x x.len()`) stored as f16: each block of
/// 64 weights is widened to f32 (exactly) and multiplied with the f32 `dot`
/// kernel. Compared with the f32 layer on the same (widened) weights, only
/// the summation order differs.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `w` or `b` does not fit `x` and `y`.
pub fn dense_f16(w: &[f16], x: &[f32], b: &[f32], y: &mut [f32]) -> Result<(), Error> {
    let n = x.len();
    let expected = n.checked_mul(y.len()).ok_or(Error::InvalidShape {
        what: "tensor size overflows usize",
    })?;
    if w.len() != expected {
        return Err(Error::ShapeMismatch {
            expected,
            found: w.len(),
        });
    }
    if b.len() != y.len() {
        return Err(Error::ShapeMismatch {
            expected: y.len(),
            found: b.len(),
        });
    }
    let mut buf = [0.0f32; BLOCK];
    for (o, y) in y.iter_mut().enumerate() {
        let row = &w[o * n..(o + 1) * n];
        let mut acc = b[o];
        for (wc, xc) in row.chunks(BLOCK).zip(x.chunks(BLOCK)) {
            let buf = &mut buf[..wc.len()];
            to_f32(wc, buf);
            acc += kernels::dot(buf, xc);
        }
        *y = acc;
    }
    Ok(())
}

/// Largest filter (`IN x KH x KW` weights) the f16 convolutions widen on the
/// stack (4 KiB).
pub const MAX_FILTER: usize = 1024;

/// [`kernels::conv2d_forward`] with f16 weights: each filter is widened
/// (exactly) and convolved on its own, so the result equals the f32
/// convolution of the widened weights bit for bit.
///
/// # Errors
/// [`Error::ShapeMismatch`] if a slice does not fit `shape`,
/// [`Error::InvalidShape`] for an unusable shape or a filter larger than
/// [`MAX_FILTER`].
pub fn conv2d_f16(
    shape: &Conv2dShape,
    x: &[f32],
    w: &[f16],
    b: &[f32],
    y: &mut [f32],
) -> Result<(), Error> {
    check_conv(&(*shape).into(), [x.len(), w.len(), b.len(), y.len()])?;
    let one = Conv2dShape {
        out_ch: 1,
        ..*shape
    };
    per_filter(w, b, y, shape.out_ch, |filter, bias, plane| {
        kernels::conv2d_forward(&one, x, filter, bias, plane)
    })
}

/// [`kernels::conv1d_forward`] with f16 weights, as [`conv2d_f16`].
///
/// # Errors
/// As [`conv2d_f16`].
pub fn conv1d_f16(
    shape: &Conv1dShape,
    x: &[f32],
    w: &[f16],
    b: &[f32],
    y: &mut [f32],
) -> Result<(), Error> {
    check_conv(&(*shape).into(), [x.len(), w.len(), b.len(), y.len()])?;
    let one = Conv1dShape {
        out_ch: 1,
        ..*shape
    };
    per_filter(w, b, y, shape.out_ch, |filter, bias, plane| {
        kernels::conv1d_forward(&one, x, filter, bias, plane)
    })
}

/// Checks `[x, w, b, y]` lengths against `shape` with overflow-checked
/// sizes (the shape may come from a file).
fn check_conv(shape: &int8::Conv2dShape, found: [usize; 4]) -> Result<(), Error> {
    let out_len = shape.output_len()?;
    let expected = [
        shape.input_len(),
        shape.weight_len(),
        Some(shape.out_channels),
        Some(out_len),
    ];
    for (f, e) in found.into_iter().zip(expected) {
        let e = e.ok_or(Error::InvalidShape {
            what: "tensor size overflows usize",
        })?;
        if f != e {
            return Err(Error::ShapeMismatch {
                expected: e,
                found: f,
            });
        }
    }
    if found[1] / shape.out_channels > MAX_FILTER {
        return Err(Error::InvalidShape {
            what: "f16 convolution filter larger than MAX_FILTER",
        });
    }
    Ok(())
}

/// Widens filter `o` and hands it, its bias and output plane to `conv`.
fn per_filter(
    w: &[f16],
    b: &[f32],
    y: &mut [f32],
    out_ch: usize,
    conv: impl Fn(&[f32], &[f32], &mut [f32]),
) -> Result<(), Error> {
    let filter_len = w.len() / out_ch;
    let plane = y.len() / out_ch;
    let mut buf = [0.0f32; MAX_FILTER];
    let buf = &mut buf[..filter_len];
    for ((wf, bias), plane) in w
        .chunks_exact(filter_len.max(1))
        .zip(b.chunks_exact(1))
        .zip(y.chunks_exact_mut(plane.max(1)))
    {
        to_f32(wf, buf);
        conv(buf, bias, plane);
    }
    Ok(())
}
