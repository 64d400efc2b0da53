//! SIMD variants against their scalar twins.

extern crate std;

use super::*;
use proptest::prelude::*;
use std::{vec, vec::Vec};

/// `|a - b| <= tol * (1 + |b|)` elementwise, NaN matching NaN.
fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len());
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        if x.is_nan() || y.is_nan() {
            prop_assert!(x.is_nan() && y.is_nan(), "index {}: {} vs {}", i, x, y);
        } else {
            prop_assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "index {}: {} vs {}",
                i,
                x,
                y
            );
        }
    }
    Ok(())
}

fn vec_of(len: usize, scale: f32) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, len)
        .prop_map(move |v| v.into_iter().map(|x| x * scale).collect())
}

fn scale() -> impl Strategy<Value = f32> {
    prop_oneof![Just(0.0f32), Just(1.0), Just(30.0), Just(1e4)]
}

type GemmFn = fn(bool, bool, usize, usize, usize, &[f32], &[f32], f32, &mut [f32]);

/// The dispatching gemm and every SIMD gemm this CPU can run.
fn gemm_variants() -> Vec<GemmFn> {
    #[allow(unused_mut)]
    let mut v: Vec<GemmFn> = vec![gemm];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were just detected.
            v.push(|ta, tb, m, n, k, a, b, beta, c| unsafe {
                avx2::gemm(ta, tb, m, n, k, a, b, beta, c)
            });
        }
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F (with AVX2 and FMA) was just detected.
            v.push(|ta, tb, m, n, k, a, b, beta, c| unsafe {
                avx512::gemm(ta, tb, m, n, k, a, b, beta, c)
            });
        }
    }
    v
}

#[test]
fn dispatch_uses_simd_where_available() {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let avx512 = avx2 && std::is_x86_feature_detected!("avx512f");
        assert_eq!(isa() == Isa::Avx512F, avx512);
        assert_eq!(isa() == Isa::Avx2Fma, avx2 && !avx512);
    }
    #[cfg(target_arch = "aarch64")]
    assert_eq!(isa(), Isa::Neon);

    // The cap is process-wide, so it is exercised here, in the one test
    // that looks at `isa()`.
    // Tests running meanwhile compare against scalar with tolerances, so a
    // brief cap cannot break them.
    let best = isa();
    set_max_isa(Isa::Scalar);
    assert_eq!(isa(), Isa::Scalar);
    let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [5.0f32, 6.0, 7.0, 8.0]);
    let mut c = [0.0f32; 4];
    gemm(false, false, 2, 2, 2, &a, &b, 0.0, &mut c);
    assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
    set_max_isa(Isa::Avx2Fma);
    assert!(matches!(isa(), Isa::Avx2Fma | Isa::Neon | Isa::Scalar));
    set_max_isa(Isa::Avx512F);
    assert_eq!(isa(), best);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dot_matches_scalar((a, b) in (0usize..300, scale()).prop_flat_map(|(n, s)| (vec_of(n, s), vec_of(n, s)))) {
        let want = scalar::dot(&a, &b);
        let bound: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum::<f32>() * 1e-5 + 1e-6;
        let got = dot(&a, &b);
        prop_assert!((got - want).abs() <= bound, "{} vs {}", got, want);
    }

    #[test]
    fn gemv_family_matches_scalar(
        (n_out, n_in, w, x, b, dy) in (0usize..23, 0usize..41, scale()).prop_flat_map(|(o, i, s)| {
            (Just(o), Just(i), vec_of(o * i, s), vec_of(i, s), vec_of(o, s), vec_of(o, s))
        })
    ) {
        let tol = 1e-5 * (1.0 + w.iter().fold(0.0f32, |m, v| m.max(v.abs())).powi(2)) * (n_in.max(n_out) as f32 + 1.0);
        let mut y0 = vec![0.0; n_out];
        let mut y1 = vec![0.0; n_out];
        scalar::gemv(&w, &x, &b, &mut y0);
        gemv(&w, &x, &b, &mut y1);
        close(&y1, &y0, tol)?;
        let mut a0 = y0.clone();
        let mut a1 = y0.clone();
        scalar::gemv_acc(&w, &x, &mut a0);
        gemv_acc(&w, &x, &mut a1);
        close(&a1, &a0, tol)?;
        let mut d0 = vec![f32::NAN; n_in];
        let mut d1 = vec![f32::NAN; n_in];
        scalar::gemv_t(&w, &dy, &mut d0);
        gemv_t(&w, &dy, &mut d1);
        close(&d1, &d0, tol)?;
        let mut g0 = w.clone();
        let mut g1 = w.clone();
        scalar::outer_acc(&mut g0, &dy, &x);
        outer_acc(&mut g1, &dy, &x);
        close(&g1, &g0, tol)?;
    }

    #[test]
    fn gemm_matches_scalar(
        (ta, tb, m, n, k, a, b, c, beta) in (any::<bool>(), any::<bool>(), 0usize..40, 0usize..70, 0usize..300)
            .prop_flat_map(|(ta, tb, m, n, k)| {
                (Just(ta), Just(tb), Just(m), Just(n), Just(k), vec_of(m * k, 1.0), vec_of(k * n, 1.0),
                 vec_of(m * n, 1.0), prop_oneof![Just(0.0f32), Just(1.0), Just(0.5)])
            })
    ) {
        let mut c0 = c.clone();
        let mut c1 = c.clone();
        if beta == 0.0 {
            c1.fill(f32::NAN);
        }
        scalar::gemm(ta, tb, m, n, k, &a, &b, beta, &mut c0);
        for variant in gemm_variants() {
            let mut c2 = c1.clone();
            variant(ta, tb, m, n, k, &a, &b, beta, &mut c2);
            close(&c2, &c0, 1e-5 * (k as f32 + 1.0))?;
        }
    }

    #[test]
    fn activations_match_scalar(x in (0usize..100, scale()).prop_flat_map(|(n, s)| vec_of(n, s))) {
        let n = x.len();
        let dy: Vec<f32> = x.iter().map(|v| v * 0.5 - 1.0).collect();
        let (mut y0, mut y1, mut d0, mut d1) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);

        scalar::relu(&x, &mut y0);
        relu(&x, &mut y1);
        prop_assert_eq!(&y0, &y1);
        scalar::relu_backward(&y0, &dy, &mut d0);
        relu_backward(&y0, &dy, &mut d1);
        prop_assert_eq!(&d0, &d1);

        // Scaled so values straddle both ends of relu6.
        let x6: Vec<f32> = x.iter().map(|v| v * 8.0).collect();
        scalar::relu6(&x6, &mut y0);
        relu6(&x6, &mut y1);
        prop_assert_eq!(&y0, &y1);
        scalar::relu6_backward(&y0, &dy, &mut d0);
        relu6_backward(&y0, &dy, &mut d1);
        prop_assert_eq!(&d0, &d1);

        scalar::sigmoid(&x, &mut y0);
        sigmoid(&x, &mut y1);
        close(&y1, &y0, 2e-7)?;
        scalar::sigmoid_backward(&y0, &dy, &mut d0);
        sigmoid_backward(&y0, &dy, &mut d1);
        close(&d1, &d0, 1e-7)?;

        scalar::tanh(&x, &mut y0);
        tanh(&x, &mut y1);
        close(&y1, &y0, 2e-7)?;
        scalar::tanh_backward(&y0, &dy, &mut d0);
        tanh_backward(&y0, &dy, &mut d1);
        close(&d1, &d0, 1e-7)?;

        let mut inplace = x.clone();
        tanh_inplace(&mut inplace);
        prop_assert_eq!(&inplace, &y1);
    }

    #[test]
    fn corr_acc_matches_scalar(
        (n, k, rev, y, x, w) in (0usize..40, 1usize..8, any::<bool>()).prop_flat_map(|(n, k, rev)| {
            (Just(n), Just(k), Just(rev), vec_of(n, 1.0), vec_of(n + k - 1, 1.0), vec_of(k, 1.0))
        })
    ) {
        let _ = (n, k);
        let mut y0 = y.clone();
        let mut y1 = y.clone();
        scalar::corr_acc(&mut y0, &x, &w, rev);
        corr_acc(&mut y1, &x, &w, rev);
        close(&y1, &y0, 1e-5)?;
    }

    #[test]
    fn corr_dot_acc_matches_scalar(
        (out, x, g) in (1usize..9, 0usize..50).prop_flat_map(|(k, n)| {
            (vec_of(k, 1.0), vec_of(n + k - 1, 1.0), vec_of(n, 1.0))
        })
    ) {
        let mut o0 = out.clone();
        let mut o1 = out.clone();
        scalar::corr_dot_acc(&mut o0, &x, &g);
        corr_dot_acc(&mut o1, &x, &g);
        close(&o1, &o0, 1e-5 * (g.len() as f32 + 1.0))?;
    }

    #[test]
    fn max_matches_scalar(x in (0usize..100, scale()).prop_flat_map(|(n, s)| vec_of(n, s)), nan_at in any::<prop::sample::Index>()) {
        prop_assert_eq!(max(&x), scalar::max(&x));
        if !x.is_empty() {
            let mut y = x.clone();
            y[nan_at.index(x.len())] = f32::NAN;
            prop_assert!(max(&y).is_nan());
        }
    }

    #[test]
    fn exp_shift_sum_matches_scalar(x in (1usize..100, scale()).prop_flat_map(|(n, s)| vec_of(n, s))) {
        let m = scalar::max(&x);
        let mut y0 = vec![0.0; x.len()];
        let mut y1 = vec![0.0; x.len()];
        let s0 = scalar::exp_shift_sum(&x, m, &mut y0);
        let s1 = exp_shift_sum(&x, m, &mut y1);
        close(&y1, &y0, 1e-6)?;
        prop_assert!((s1 - s0).abs() <= 1e-6 * s0 * x.len() as f32);
    }
}

#[test]
fn approximations_meet_documented_error() {
    // A dense sweep over [-100, 100] plus the thresholds the code switches at.
    let mut x: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 5e-4).collect();
    x.extend([
        0.25, -0.25, 0.2499999, 87.3, -87.3, -87.4, 88.3, 1e-30, -1e-30, 0.0, -0.0,
    ]);
    let mut y = vec![0.0; x.len()];
    sigmoid(&x, &mut y);
    for (&xv, &yv) in x.iter().zip(&y) {
        let exact = 1.0 / (1.0 + (-(xv as f64)).exp());
        let err = (yv as f64 - exact).abs();
        assert!(err <= 2e-7, "sigmoid({xv}) = {yv}, exact {exact}");
        if exact > 1e-30 {
            assert!(err <= 1e-6 * exact, "sigmoid({xv}) = {yv}, exact {exact}");
        }
    }
    tanh(&x, &mut y);
    for (&xv, &yv) in x.iter().zip(&y) {
        let exact = (xv as f64).tanh();
        let err = (yv as f64 - exact).abs();
        assert!(err <= 2e-7, "tanh({xv}) = {yv}, exact {exact}");
        assert!(
            err <= 1e-6 * exact.abs(),
            "tanh({xv}) = {yv}, exact {exact}"
        );
    }
    let mut e = vec![0.0; x.len()];
    exp_shift_sum(&x, 0.0, &mut e);
    for (&xv, &ev) in x.iter().zip(&e) {
        let exact = (xv as f64).exp();
        if (-87.3..=88.3).contains(&xv) {
            assert!(
                (ev as f64 - exact).abs() <= 3e-7 * exact,
                "exp({xv}) = {ev}, exact {exact}"
            );
        }
    }
}

#[test]
fn special_values() {
    let x = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1e30,
        -1e30,
    ];
    let mut y = [0.0; 7];
    relu(&x, &mut y);
    assert_eq!(y[..3], [0.0, f32::INFINITY, 0.0]);
    sigmoid(&x, &mut y);
    assert!(y[0].is_nan());
    assert_eq!(y[1..], [1.0, 0.0, 0.5, 0.5, 1.0, 0.0]);
    tanh(&x, &mut y);
    assert!(y[0].is_nan());
    assert_eq!(y[1..], [1.0, -1.0, 0.0, 0.0, 1.0, -1.0]);
}

#[test]
fn softmax_is_stable_and_normalized() {
    let x = [1000.0, 1001.0, 999.0, -1e30];
    let mut y = [0.0; 4];
    softmax(&x, &mut y);
    let s: f32 = y.iter().sum();
    assert!((s - 1.0).abs() < 1e-6);
    let e = [1.0f64.exp(), 2.0f64.exp(), 1.0];
    let t: f64 = e.iter().sum();
    for i in 0..3 {
        assert!((y[i] as f64 - [e[0] / t, e[1] / t, e[2] / t][i]).abs() < 1e-6);
    }
    assert_eq!(y[3], 0.0);
}

#[test]
fn softmax_cross_entropy_matches_closed_form() {
    let x = [0.5f32, -1.0, 2.0, 0.0, 300.0];
    let mut g = [0.0; 5];
    let loss = softmax_cross_entropy(&x, 2, &mut g);
    let lse = x
        .iter()
        .map(|&v| (v as f64 - 300.0).exp())
        .sum::<f64>()
        .ln()
        + 300.0;
    assert!((loss as f64 - (lse - 2.0)).abs() < 1e-3);
    let mut p = [0.0; 5];
    softmax(&x, &mut p);
    for i in 0..5 {
        let want = p[i] - if i == 2 { 1.0 } else { 0.0 };
        assert!((g[i] - want).abs() < 1e-6);
    }
    let t = [0.0, 0.0, 1.0, 0.0, 0.0];
    let mut g2 = [0.0; 5];
    let loss2 = softmax_cross_entropy_soft(&x, &t, &mut g2);
    assert!((loss2 - loss).abs() < 1e-3);
    assert_eq!(g, g2);
}

#[test]
fn gemm_large_shapes_match_scalar() {
    // Shapes that span several depth blocks and partial tiles in both dimensions.
    let (m, n, k) = (29, 77, 600);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.1)
        .collect();
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut c0 = vec![1.0; m * n];
        scalar::gemm(ta, tb, m, n, k, &a, &b, 2.0, &mut c0);
        for variant in gemm_variants() {
            let mut c1 = vec![1.0; m * n];
            variant(ta, tb, m, n, k, &a, &b, 2.0, &mut c1);
            for (x, y) in c1.iter().zip(&c0) {
                assert!((x - y).abs() < 1e-3, "{ta} {tb}: {x} vs {y}");
            }
        }
    }
}
