//! f16 weight storage (feature `half`): weights stored as IEEE binary16,
//! converted to f32 and computed in f32 with the f32 kernels.

use crate::Error;
use crate::kernels;
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
