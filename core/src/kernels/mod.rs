//! Kernels over slices: scalar references, with SIMD variants chosen at compile
//! time (no_std) or run time (feature `std`).
//!
//! Conventions: matrices are row-major and contiguous; a weight matrix of a
//! dense layer is `OUT x IN` (`w[o * IN + i]`). Every function here panics if
//! the slice lengths do not match the shapes it is given (a programming error,
//! never run-time input).

pub mod scalar;

/// `sum(a[i] * b[i])`.
///
/// # Panics
/// If the slices differ in length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    scalar::dot(a, b)
}

/// `y = W x + b`, with `W` of shape `y.len() x x.len()`.
pub fn gemv(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    scalar::gemv(w, x, b, y)
}

/// `dx = Wᵀ dy` (overwrites `dx`), with `W` of shape `dy.len() x dx.len()`:
/// the input gradient of a dense layer.
pub fn gemv_t(w: &[f32], dy: &[f32], dx: &mut [f32]) {
    scalar::gemv_t(w, dy, dx)
}

/// `dw += dy xᵀ` (rank-1 update), with `dw` of shape `dy.len() x x.len()`:
/// the weight gradient of a dense layer for one sample.
pub fn outer_acc(dw: &mut [f32], dy: &[f32], x: &[f32]) {
    scalar::outer_acc(dw, dy, x)
}

/// `c = beta * c + op(a) · op(b)` where `op(a)` is `m x k`, `op(b)` is `k x n`
/// and `c` is `m x n`. `trans_a`: `a` is stored `k x m`; `trans_b`: `b` is
/// stored `n x k`. With `beta == 0.0` the old contents of `c` are ignored
/// (NaN in `c` does not propagate).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) {
    scalar::gemm(trans_a, trans_b, m, n, k, a, b, beta, c)
}
