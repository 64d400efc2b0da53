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
