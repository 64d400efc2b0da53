//! Scalar reference kernels: the definition every fast variant is tested against.

/// `sum(a[i] * b[i])`, accumulated left to right.
///
/// # Panics
/// If the slices differ in length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    a.iter().zip(b).fold(0.0, |acc, (x, y)| acc + x * y)
}
