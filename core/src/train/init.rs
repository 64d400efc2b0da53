//! Weight initialization: Xavier (Glorot) and He (Kaiming), uniform or normal,
//! from a seedable [`Rng`].
//!
//! `fan_in` is the number of inputs feeding one output (`IN` for a dense
//! layer, `in_ch * k_h * k_w` for a convolution), `fan_out` the number of
//! outputs one input feeds.

use super::Rng;

/// Xavier/Glorot uniform: `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`,
/// for sigmoid and tanh layers.
pub fn xavier_uniform(w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
    let a = crate::math::sqrtf(6.0 / (fan_in + fan_out).max(1) as f32);
    for v in w {
        *v = rng.range(-a, a);
    }
}

/// Xavier/Glorot normal: `N(0, 2 / (fan_in + fan_out))`.
pub fn xavier_normal(w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
    let s = crate::math::sqrtf(2.0 / (fan_in + fan_out).max(1) as f32);
    for v in w {
        *v = s * rng.normal();
    }
}

/// He/Kaiming uniform: `U(-a, a)` with `a = sqrt(6 / fan_in)`, for ReLU layers.
pub fn he_uniform(w: &mut [f32], fan_in: usize, rng: &mut Rng) {
    let a = crate::math::sqrtf(6.0 / fan_in.max(1) as f32);
    for v in w {
        *v = rng.range(-a, a);
    }
}

/// He/Kaiming normal: `N(0, 2 / fan_in)`, for ReLU layers.
pub fn he_normal(w: &mut [f32], fan_in: usize, rng: &mut Rng) {
    let s = crate::math::sqrtf(2.0 / fan_in.max(1) as f32);
    for v in w {
        *v = s * rng.normal();
    }
}

/// Which initialization a layer's weights get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Init {
    /// [`xavier_uniform`].
    XavierUniform,
    /// [`xavier_normal`].
    XavierNormal,
    /// [`he_uniform`].
    HeUniform,
    /// [`he_normal`].
    HeNormal,
}

impl Init {
    /// Fills `w` with this initialization.
    pub fn fill(self, w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        match self {
            Init::XavierUniform => xavier_uniform(w, fan_in, fan_out, rng),
            Init::XavierNormal => xavier_normal(w, fan_in, fan_out, rng),
            Init::HeUniform => he_uniform(w, fan_in, rng),
            Init::HeNormal => he_normal(w, fan_in, rng),
        }
    }
}
