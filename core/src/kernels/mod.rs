//! Kernels over slices: scalar references, with SIMD variants chosen at compile
//! time (no_std) or run time (feature `std`).

pub mod scalar;

/// `sum(a[i] * b[i])`.
///
/// # Panics
/// If the slices differ in length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    scalar::dot(a, b)
}
