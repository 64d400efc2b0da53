//! The one place that picks the scalar math functions (`exp`, `tanh`, `sqrt`).
//!
//! `libm` gives the same correctly-rounded-or-close results on every target,
//! so host and firmware agree without depending on a platform libm.

/// `e^x`.
#[inline]
pub fn expf(x: f32) -> f32 {
    libm::expf(x)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanhf(x: f32) -> f32 {
    libm::tanhf(x)
}

/// Square root.
#[inline]
pub fn sqrtf(x: f32) -> f32 {
    libm::sqrtf(x)
}

/// Natural logarithm.
#[inline]
pub fn lnf(x: f32) -> f32 {
    libm::logf(x)
}

/// Cosine.
#[inline]
pub fn cosf(x: f32) -> f32 {
    libm::cosf(x)
}

/// `|x|`.
#[inline]
pub fn absf(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7fff_ffff)
}
