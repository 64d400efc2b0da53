//! Helpers shared by the integration tests (included with `#[path]`).
#![allow(dead_code)]

/// Deterministic values in `[-1, 1)`.
pub fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut r = myelin_core::train::Rng::new(seed);
    (0..n).map(|_| r.range(-1.0, 1.0)).collect()
}

/// `sum(a[i] * b[i])` in f64.
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Checks `analytic` against central finite differences of `loss` around
/// `x`, perturbing each coordinate by `h`; the loss is accumulated in f64.
/// Passes when `|a - n| <= tol * max(1, |n|)` for every coordinate.
pub fn check_grad(
    name: &str,
    x: &[f32],
    analytic: &[f32],
    h: f32,
    tol: f64,
    mut loss: impl FnMut(&[f32]) -> f64,
) {
    assert_eq!(x.len(), analytic.len(), "{name}: gradient length");
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let lp = loss(&xp);
        xp[i] = x[i] - h;
        let lm = loss(&xp);
        xp[i] = x[i];
        let num = (lp - lm) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        assert!(
            (a - num).abs() <= tol * num.abs().max(1.0),
            "{name}[{i}]: analytic {a}, numeric {num}"
        );
    }
}

/// int8 values with the extremes -128 and 127 and 0 heavily represented.
pub fn int8() -> impl proptest::strategy::Strategy<Value = i8> {
    use proptest::prelude::*;
    prop_oneof![
        3 => any::<i8>(),
        1 => Just(i8::MIN),
        1 => Just(i8::MAX),
        1 => Just(0i8),
    ]
}

/// Valid requantization multipliers: a Q31 mantissa in `[2^30, 2^31)` and a
/// shift in `-31..=4` (real multipliers from about 2^-32 to 16).
pub fn requant() -> impl proptest::strategy::Strategy<Value = myelin_core::quant::Requant> {
    use proptest::prelude::*;
    ((1i32 << 30)..i32::MAX, -31i32..=4)
        .prop_map(|(multiplier, shift)| myelin_core::quant::Requant { multiplier, shift })
}

/// Output stages with any zero point, linear or with a fused ReLU.
pub fn output() -> impl proptest::strategy::Strategy<Value = myelin_core::quant::OutputQuant> {
    use myelin_core::quant::OutputQuant;
    use proptest::prelude::*;
    (any::<i8>(), any::<bool>()).prop_map(|(zp, relu)| {
        if relu {
            OutputQuant::relu(zp)
        } else {
            OutputQuant::linear(zp)
        }
    })
}
