extern crate std;

use super::*;
use std::{vec, vec::Vec};

#[test]
fn rng_is_deterministic_and_uniform() {
    let mut a = Rng::new(42);
    let mut b = Rng::new(42);
    let xs: Vec<f32> = (0..20_000).map(|_| a.uniform()).collect();
    let ys: Vec<f32> = (0..20_000).map(|_| b.uniform()).collect();
    assert_eq!(xs, ys);
    assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = xs.iter().sum::<f32>() / xs.len() as f32;
    assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    let mut c = Rng::new(43);
    assert_ne!(c.next_u64(), Rng::new(42).next_u64());
    let mut buckets = [0usize; 7];
    for _ in 0..7000 {
        buckets[c.below(7)] += 1;
    }
    assert!(
        buckets.iter().all(|&n| (850..1150).contains(&n)),
        "{buckets:?}"
    );
}

#[test]
fn normal_has_unit_variance() {
    let mut r = Rng::new(7);
    let xs: Vec<f32> = (0..50_000).map(|_| r.normal()).collect();
    let mean = xs.iter().sum::<f32>() / xs.len() as f32;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / xs.len() as f32;
    assert!(mean.abs() < 0.02, "mean {mean}");
    assert!((var - 1.0).abs() < 0.03, "var {var}");
    assert!(xs.iter().all(|x| x.is_finite()));
}

#[test]
fn shuffle_is_a_permutation() {
    let mut v: Vec<usize> = (0..100).collect();
    Rng::new(1).shuffle(&mut v);
    assert_ne!(v, (0..100).collect::<Vec<_>>());
    v.sort_unstable();
    assert_eq!(v, (0..100).collect::<Vec<_>>());
}

#[test]
fn init_scales() {
    let mut r = Rng::new(3);
    let mut w = vec![0.0; 40_000];
    he_normal(&mut w, 200, &mut r);
    let var = w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32;
    assert!((var - 0.01).abs() < 0.0005, "he var {var}");
    xavier_uniform(&mut w, 100, 50, &mut r);
    let a = (6.0f32 / 150.0).sqrt();
    assert!(w.iter().all(|x| x.abs() <= a));
    let var = w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32;
    assert!((var - a * a / 3.0).abs() < 0.001, "xavier var {var}");
}

/// Central finite differences of `f` at `x` (in f64 steps on f32 inputs).
fn numeric_grad(x: &[f32], f: &dyn Fn(&[f32]) -> f32) -> Vec<f64> {
    let h = 1e-2f32;
    (0..x.len())
        .map(|i| {
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[i] += h;
            xm[i] -= h;
            (f(&xp) as f64 - f(&xm) as f64) / (2.0 * h as f64)
        })
        .collect()
}

#[test]
fn loss_gradients_match_finite_differences() {
    let x = [0.3f32, -1.2, 2.0, 0.1];
    let t = [0.0f32, 1.0, 0.5, 0.0];
    let mut g = [0.0; 4];
    let mut scratch = [0.0; 4];

    mse(&x, &t, &mut g);
    let num = numeric_grad(&x, &|x| mse(x, &t, &mut [0.0; 4]));
    for (a, b) in g.iter().zip(&num) {
        assert!((*a as f64 - b).abs() < 1e-3, "mse {a} vs {b}");
    }
    bce_with_logits(&x, &t, &mut g);
    let num = numeric_grad(&x, &|x| bce_with_logits(x, &t, &mut [0.0; 4]));
    for (a, b) in g.iter().zip(&num) {
        assert!((*a as f64 - b).abs() < 1e-3, "bce {a} vs {b}");
    }
    cross_entropy(&x, 1, &mut g);
    let num = numeric_grad(&x, &|x| cross_entropy(x, 1, &mut [0.0; 4]));
    for (a, b) in g.iter().zip(&num) {
        assert!((*a as f64 - b).abs() < 1e-3, "ce {a} vs {b}");
    }
    // Closed forms.
    assert!((mse(&[1.0, 3.0], &[0.0, 1.0], &mut scratch[..2]) - 2.5).abs() < 1e-6);
    assert!(
        (bce_with_logits(&[0.0], &[1.0], &mut scratch[..1]) - core::f32::consts::LN_2).abs() < 1e-6
    );
    assert!(bce_with_logits(&[-100.0], &[1.0], &mut scratch[..1]).is_finite());
    assert_eq!(argmax(&[1.0, 5.0, 5.0, -1.0]), 1);
}

#[test]
fn sgd_momentum_matches_hand_computation() {
    // f(p) = p²/2, so g = p.
    let opt = Sgd::with_momentum(0.1, 0.9);
    let mut p = [1.0f32];
    let mut v = [0.0f32];
    let g = [p[0]];
    opt.update(&mut p, &g, &mut v);
    assert!((p[0] - 0.9).abs() < 1e-7);
    let g = [p[0]];
    opt.update(&mut p, &g, &mut v);
    assert!((p[0] - 0.72).abs() < 1e-6, "{}", p[0]);
    let decay = Sgd {
        weight_decay: 0.5,
        ..Sgd::new(0.1)
    };
    let mut q = [2.0f32];
    decay.update(&mut q, &[0.0], &mut []);
    assert!((q[0] - 1.9).abs() < 1e-6);
}

#[test]
fn adam_first_step_is_lr_sized_and_converges() {
    let opt = Adam::new(0.01);
    let mut p = [1.0f32, -2.0, 3.0];
    let (mut m, mut v) = ([0.0; 3], [0.0; 3]);
    let g: Vec<f32> = p.iter().map(|x| 2.0 * x).collect();
    opt.update(1, &mut p, &g, &mut m, &mut v);
    for (a, b) in p.iter().zip([0.99f32, -1.99, 2.99]) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let opt = Adam::new(0.1);
    for t in 2..500 {
        let g: Vec<f32> = p.iter().map(|x| 2.0 * x).collect();
        opt.update(t, &mut p, &g, &mut m, &mut v);
    }
    assert!(p.iter().all(|x| x.abs() < 0.05), "{p:?}");
}

#[test]
fn clipping_bounds_the_norm() {
    let mut g = [3.0f32, 4.0];
    assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
    assert!((l2_norm(&g) - 1.0).abs() < 1e-6);
    let mut h = [0.3f32, 0.4];
    clip_grad_norm(&mut h, 1.0);
    assert_eq!(h, [0.3, 0.4]);
}
