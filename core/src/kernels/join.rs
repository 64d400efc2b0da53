//! Joins of several tensors and dropout: elementwise add of `k` inputs,
//! channel concat of `k` inputs with one plane size, and inverted dropout
//! with a mask drawn from [`Rng`]. Every forward and backward overwrites its
//! outputs.

use crate::Error;
use crate::train::Rng;

/// Elementwise sum of `k >= 1` inputs of one length: `y = x_0 + ... + x_{k-1}`.
///
/// # Panics
/// If `inputs` is empty or an input's length differs from `y`'s.
pub fn add_forward(inputs: &[&[f32]], y: &mut [f32]) {
    let (first, rest) = inputs.split_first().expect("add: no inputs");
    assert_eq!(first.len(), y.len(), "add: input length");
    y.copy_from_slice(first);
    for x in rest {
        assert_eq!(x.len(), y.len(), "add: input length");
        super::axpy(1.0, x, y);
    }
}

/// Backward of [`add_forward`]: every input's gradient is `dy`.
///
/// # Panics
/// If a gradient's length differs from `dy`'s.
pub fn add_backward(dy: &[f32], dxs: &mut [&mut [f32]]) {
    for dx in dxs.iter_mut() {
        assert_eq!(dx.len(), dy.len(), "add: gradient length");
        dx.copy_from_slice(dy);
    }
}

/// Channels of each of `n` samples in a tensor of `len` values with planes
/// of `plane` values.
fn channels(len: usize, n: usize, plane: usize) -> usize {
    assert!(
        n > 0 && plane > 0 && len.is_multiple_of(n * plane),
        "concat: input length is not n x channels x plane"
    );
    len / (n * plane)
}

/// Channel concat of `k` inputs for `n` samples (f32, or int8 codes that
/// share one quantization): input `i` is `n x c_i x plane`, `y` is `n x (c_0 + ... + c_{k-1}) x plane`, each
/// sample's channels in input order. The `c_i` follow from the lengths.
///
/// # Panics
/// If `n` or `plane` is zero, an input's length is not a multiple of
/// `n * plane`, or `y`'s length is not the sum of the inputs'.
pub fn concat_forward<T: Copy>(n: usize, plane: usize, inputs: &[&[T]], y: &mut [T]) {
    let total: usize = inputs.iter().map(|x| x.len()).sum();
    assert_eq!(y.len(), total, "concat: output length");
    let out = channels(total, n, plane) * plane;
    let mut off = 0;
    for x in inputs {
        let part = channels(x.len(), n, plane) * plane;
        for s in 0..n {
            y[s * out + off..][..part].copy_from_slice(&x[s * part..][..part]);
        }
        off += part;
    }
}

/// Backward of [`concat_forward`]: splits `dy` back into the inputs'
/// gradients `dxs` (same lengths as the inputs).
///
/// # Panics
/// As [`concat_forward`], with `dy` for `y`.
pub fn concat_backward(n: usize, plane: usize, dy: &[f32], dxs: &mut [&mut [f32]]) {
    let total: usize = dxs.iter().map(|x| x.len()).sum();
    assert_eq!(dy.len(), total, "concat: gradient length");
    let out = channels(total, n, plane) * plane;
    let mut off = 0;
    for dx in dxs.iter_mut() {
        let part = channels(dx.len(), n, plane) * plane;
        for s in 0..n {
            dx[s * part..][..part].copy_from_slice(&dy[s * out + off..][..part]);
        }
        off += part;
    }
}

/// Draws an inverted-dropout mask: each entry is 0 with probability `p`,
/// else `1 / (1 - p)`, so the expected output equals the input. An error if
/// `p` is not in `[0, 1)`.
pub fn dropout_mask(rng: &mut Rng, p: f32, mask: &mut [f32]) -> Result<(), Error> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::InvalidShape {
            what: "dropout: probability must be in [0, 1)",
        });
    }
    let keep = 1.0 / (1.0 - p);
    for m in mask.iter_mut() {
        *m = if rng.uniform() < p { 0.0 } else { keep };
    }
    Ok(())
}

/// Dropout forward with a mask from [`dropout_mask`]: `y = x * mask`, and
/// exactly 0 where the mask is 0 (even for an infinite `x`).
///
/// # Panics
/// If the slices differ in length.
pub fn dropout_forward(x: &[f32], mask: &[f32], y: &mut [f32]) {
    assert!(
        x.len() == mask.len() && x.len() == y.len(),
        "dropout: length mismatch"
    );
    for ((yv, &xv), &m) in y.iter_mut().zip(x).zip(mask) {
        *yv = if m == 0.0 { 0.0 } else { xv * m };
    }
}

/// Dropout backward: `dx = dy * mask`, the mask of the forward pass.
///
/// # Panics
/// If the slices differ in length.
pub fn dropout_backward(dy: &[f32], mask: &[f32], dx: &mut [f32]) {
    dropout_forward(dy, mask, dx)
}
