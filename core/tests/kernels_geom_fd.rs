//! Convolution over `ConvGeom`, pooling over `Window2d`, batch norm, joins
//! and relu6: forward against naive references written out here, backward
//! against central finite differences, fast forms against the direct ones.

#[path = "common.rs"]
mod common;

use common::{check_grad, data, dot64};
use myelin_core::kernels::*;
use proptest::prelude::*;

fn win(in_hw: (usize, usize), k: (usize, usize), s: (usize, usize), p: Padding) -> Window2d {
    Window2d::new(in_hw.0, in_hw.1, k, s, p).unwrap()
}

fn explicit(top: usize, bottom: usize, left: usize, right: usize) -> Padding {
    Padding::Explicit {
        top,
        bottom,
        left,
        right,
    }
}

/// Naive convolution of `n` samples in f64, straight from the definition.
fn conv_ref(g: &ConvGeom, n: usize, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let v = &g.win;
    let gi = g.in_ch / g.groups;
    let og = g.out_ch / g.groups;
    let mut y = vec![0.0; n * g.out_len()];
    for s in 0..n {
        for oc in 0..g.out_ch {
            for oy in 0..v.out_h {
                for ox in 0..v.out_w {
                    let mut acc = b[oc] as f64;
                    for ci in 0..gi {
                        let ic = (oc / og) * gi + ci;
                        for ky in 0..v.k_h {
                            for kx in 0..v.k_w {
                                let iy = (oy * v.stride_h + ky) as isize - v.pad_top as isize;
                                let ix = (ox * v.stride_w + kx) as isize - v.pad_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= v.in_h as isize
                                    || ix >= v.in_w as isize
                                {
                                    continue;
                                }
                                let xi = ((s * g.in_ch + ic) * v.in_h + iy as usize) * v.in_w
                                    + ix as usize;
                                let wi = ((oc * gi + ci) * v.k_h + ky) * v.k_w + kx;
                                acc += x[xi] as f64 * w[wi] as f64;
                            }
                        }
                    }
                    y[((s * g.out_ch + oc) * v.out_h + oy) * v.out_w + ox] = acc;
                }
            }
        }
    }
    y
}

/// Every option the engine uses: strides, padding kinds, kernel shapes,
/// depthwise multipliers, 1x1, 1-D.
fn geoms() -> Vec<(&'static str, ConvGeom)> {
    let full = |i, o, w| ConvGeom::new(i, o, 1, w).unwrap();
    let dw = |i, o, w| ConvGeom::new(i, o, i, w).unwrap();
    vec![
        (
            "3x3 s1 same",
            full(2, 3, win((7, 6), (3, 3), (1, 1), Padding::Same)),
        ),
        (
            "3x3 s2 same",
            full(2, 3, win((8, 7), (3, 3), (2, 2), Padding::Same)),
        ),
        (
            "3x3 s2 valid",
            full(2, 3, win((8, 7), (3, 3), (2, 2), Padding::Valid)),
        ),
        (
            "4x4 s1 same (even)",
            full(2, 2, win((6, 7), (4, 4), (1, 1), Padding::Same)),
        ),
        (
            "3x2 s2 same (even)",
            full(2, 3, win((7, 6), (3, 2), (2, 2), Padding::Same)),
        ),
        (
            "3x3 s(1,2) explicit asymmetric",
            full(2, 3, win((6, 7), (3, 3), (1, 2), explicit(0, 2, 1, 0))),
        ),
        (
            "10x4 s2 same (kws)",
            full(1, 3, win((20, 8), (10, 4), (2, 2), Padding::Same)),
        ),
        (
            "dw 3x3 s1 same m1",
            dw(3, 3, win((6, 5), (3, 3), (1, 1), Padding::Same)),
        ),
        (
            "dw 3x3 s2 same m2",
            dw(3, 6, win((7, 6), (3, 3), (2, 2), Padding::Same)),
        ),
        (
            "dw 2x3 s1 explicit m1",
            dw(2, 2, win((5, 6), (2, 3), (1, 1), explicit(1, 0, 2, 1))),
        ),
        (
            "1x1 pointwise",
            full(4, 3, win((5, 6), (1, 1), (1, 1), Padding::Valid)),
        ),
        (
            "1x1 s2",
            full(3, 2, win((5, 6), (1, 1), (2, 2), Padding::Valid)),
        ),
        (
            "1-d k3 s2 same",
            full(2, 3, win((1, 11), (1, 3), (1, 2), Padding::Same)),
        ),
        (
            "1-d dw k4 s1 same",
            dw(2, 4, win((1, 9), (1, 4), (1, 1), Padding::Same)),
        ),
    ]
}

const N: usize = 2;

#[test]
fn conv_forward_matches_reference() {
    for (name, g) in geoms() {
        let (x, w, b) = (
            data(N * g.in_len(), 1),
            data(g.weight_len(), 2),
            data(g.out_ch, 3),
        );
        let want = conv_ref(&g, N, &x, &w, &b);
        let mut y = vec![f32::NAN; N * g.out_len()];
        conv_forward(&g, N, &x, &w, &b, &mut y);
        let mut yf = vec![f32::NAN; y.len()];
        let mut scratch = vec![f32::NAN; conv_forward_scratch_len(&g)];
        conv_forward_fast(&g, N, &x, &w, &b, &mut yf, &mut scratch);
        for i in 0..y.len() {
            assert!((y[i] as f64 - want[i]).abs() < 1e-5, "{name} direct [{i}]");
            assert!((yf[i] as f64 - want[i]).abs() < 1e-5, "{name} fast [{i}]");
        }
    }
    assert!(conv_is_pointwise(&geoms()[10].1));
    assert_eq!(conv_forward_scratch_len(&geoms()[10].1), 0);
    assert!(!conv_is_pointwise(&geoms()[11].1));
}

#[test]
fn conv_backward_matches_finite_differences() {
    for (name, g) in geoms() {
        let (x, w, b) = (
            data(N * g.in_len(), 4),
            data(g.weight_len(), 5),
            data(g.out_ch, 6),
        );
        let r = data(N * g.out_len(), 7); // loss = r · y
        let mut dx = vec![f32::NAN; x.len()];
        // dw and db accumulate: start from 1 and subtract it after.
        let mut dw = vec![1.0; w.len()];
        let mut db = vec![1.0; b.len()];
        conv_backward(&g, N, &x, &w, &r, Some(&mut dx), &mut dw, &mut db);
        dw.iter_mut().chain(db.iter_mut()).for_each(|v| *v -= 1.0);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| dot64(&conv_ref_f32(&g, x, w, b), &r);
        check_grad(&format!("{name} dx"), &x, &dx, 1e-2, 1e-3, |v| {
            loss(v, &w, &b)
        });
        check_grad(&format!("{name} dw"), &w, &dw, 1e-2, 1e-3, |v| {
            loss(&x, v, &b)
        });
        check_grad(&format!("{name} db"), &b, &db, 1e-2, 1e-3, |v| {
            loss(&x, &w, v)
        });

        // The weight-only form gives the same dw and db.
        let (mut dw2, mut db2) = (vec![0.0; w.len()], vec![0.0; b.len()]);
        conv_backward(&g, N, &x, &w, &r, None, &mut dw2, &mut db2);
        close(&dw2, &dw, 1e-5, name);
        close(&db2, &db, 1e-5, name);

        // The fast form gives the same gradients.
        let mut scratch = vec![f32::NAN; conv_backward_scratch_len(&g)];
        let mut dxf = vec![f32::NAN; x.len()];
        let (mut dwf, mut dbf) = (vec![0.0; w.len()], vec![0.0; b.len()]);
        conv_backward_fast(
            &g,
            N,
            &x,
            &w,
            &r,
            Some(&mut dxf),
            &mut dwf,
            &mut dbf,
            &mut scratch,
        );
        close(&dxf, &dx, 1e-5, name);
        close(&dwf, &dw, 1e-5, name);
        close(&dbf, &db, 1e-5, name);
        let (mut dwf2, mut dbf2) = (vec![0.0; w.len()], vec![0.0; b.len()]);
        conv_backward_fast(&g, N, &x, &w, &r, None, &mut dwf2, &mut dbf2, &mut scratch);
        close(&dwf2, &dw, 1e-5, name);
    }
}

/// The library's direct forward of `N` samples.
fn conv_ref_f32(g: &ConvGeom, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; N * g.out_len()];
    conv_forward(g, N, x, w, b, &mut y);
    y
}

fn close(a: &[f32], b: &[f32], tol: f32, name: &str) {
    assert_eq!(a.len(), b.len(), "{name}: length");
    for (i, (&u, &v)) in a.iter().zip(b).enumerate() {
        assert!(
            (u - v).abs() <= tol * (1.0 + v.abs()),
            "{name}[{i}]: {u} vs {v}"
        );
    }
}

#[test]
fn shards_sum_to_the_batch() {
    // Backward over two shards of one sample each adds up to one over both.
    let g = geoms()[1].1;
    let (x, w) = (data(2 * g.in_len(), 8), data(g.weight_len(), 9));
    let r = data(2 * g.out_len(), 10);
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; g.out_ch]);
    conv_backward(&g, 2, &x, &w, &r, None, &mut dw, &mut db);
    let (mut dw2, mut db2) = (vec![0.0; w.len()], vec![0.0; g.out_ch]);
    let (xl, yl) = (g.in_len(), g.out_len());
    let mut scratch = vec![0.0; conv_backward_scratch_len(&g)];
    for s in 0..2 {
        conv_backward_fast(
            &g,
            1,
            &x[s * xl..][..xl],
            &w,
            &r[s * yl..][..yl],
            None,
            &mut dw2,
            &mut db2,
            &mut scratch,
        );
    }
    close(&dw2, &dw, 1e-5, "shards dw");
    close(&db2, &db, 1e-5, "shards db");
}

/// A random valid convolution geometry with its shard size.
fn any_geom() -> impl Strategy<Value = (ConvGeom, usize)> {
    (
        (1usize..4, 1usize..3, any::<bool>(), 1usize..6),
        (
            1usize..9,
            1usize..9,
            1usize..5,
            1usize..5,
            1usize..4,
            1usize..4,
        ),
        (0usize..3, (0usize..3, 0usize..3, 0usize..3, 0usize..3)),
    )
        .prop_filter_map(
            "invalid geometry",
            |((in_ch, mult, depthwise, n), (h, w, kh, kw, sh, sw), (pk, (t, b, l, r)))| {
                let pad = match pk {
                    0 => Padding::Valid,
                    1 => Padding::Same,
                    _ => explicit(t, b, l, r),
                };
                let win = Window2d::new(h, w, (kh, kw), (sh, sw), pad).ok()?;
                let g = if depthwise {
                    ConvGeom::new(in_ch, in_ch * mult, in_ch, win)
                } else {
                    ConvGeom::new(in_ch, mult + 1, 1, win)
                };
                Some((g.ok()?, n))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The fast forms, `chunk` samples per gemm (the last chunk shorter when
    /// it does not divide `n`), give the direct forms' results.
    #[test]
    fn fast_conv_matches_direct((g, n) in any_geom(), chunk in 1usize..5, seed in 0u64..1000) {
        let (x, w, b) = (data(n * g.in_len(), seed), data(g.weight_len(), seed + 1), data(g.out_ch, seed + 2));
        let (mut y0, mut y1) = (vec![0.0; n * g.out_len()], vec![f32::NAN; n * g.out_len()]);
        conv_forward(&g, n, &x, &w, &b, &mut y0);
        let mut scratch = vec![f32::NAN; chunk * conv_forward_scratch_len(&g)];
        conv_forward_fast(&g, n, &x, &w, &b, &mut y1, &mut scratch);
        for (a, e) in y1.iter().zip(&y0) {
            prop_assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{:?}: {} vs {}", g, a, e);
        }
        let dy = data(y0.len(), seed + 3);
        let (mut dx0, mut dw0, mut db0) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        conv_backward(&g, n, &x, &w, &dy, Some(&mut dx0), &mut dw0, &mut db0);
        let (mut dx1, mut dw1, mut db1) = (vec![f32::NAN; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        let mut scratch = vec![f32::NAN; chunk * conv_backward_scratch_len(&g)];
        conv_backward_fast(&g, n, &x, &w, &dy, Some(&mut dx1), &mut dw1, &mut db1, &mut scratch);
        let (mut dw2, mut db2) = (vec![0.0; w.len()], vec![0.0; b.len()]);
        conv_backward_fast(&g, n, &x, &w, &dy, None, &mut dw2, &mut db2, &mut scratch);
        for (a, e) in dw2.iter().zip(&dw0).chain(db2.iter().zip(&db0)) {
            prop_assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{:?} no dx: {} vs {}", g, a, e);
        }
        for (a, e) in dx1.iter().zip(&dx0).chain(dw1.iter().zip(&dw0)).chain(db1.iter().zip(&db0)) {
            prop_assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "{:?}: {} vs {}", g, a, e);
        }
    }
}

/// A stride-1 geometry on planes up to 40 wide, depthwise (the fast form's
/// padded planes) or full (its block unfolding when the padding keeps the
/// width, as it does half the time here), with its shard size.
fn any_stride1() -> impl Strategy<Value = (ConvGeom, usize)> {
    (
        (1usize..4, 1usize..3, any::<bool>(), 1usize..4),
        (1usize..12, 1usize..40, 1usize..6, 1usize..6),
        (0usize..4, 0usize..4, 0usize..4, 0usize..4, any::<bool>()),
    )
        .prop_filter_map(
            "invalid geometry",
            |((in_ch, mult, depthwise, n), (h, w, kh, kw), (t, b, l, r, keep_w))| {
                let r = if keep_w { (kw - 1).checked_sub(l)? } else { r };
                let win = Window2d::new(h, w, (kh, kw), (1, 1), explicit(t, b, l, r)).ok()?;
                let g = if depthwise {
                    ConvGeom::new(in_ch, in_ch * mult, in_ch, win)
                } else {
                    ConvGeom::new(in_ch, mult + 1, 1, win)
                };
                Some((g.ok()?, n))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The stride-1 fast forms (padded planes for depthwise, whole-plane
    /// unfolding and folding for full convolutions) give the direct form's
    /// output and gradients, at inputs of any magnitude (the output and
    /// weight gradient compared relative to the input's scale).
    #[test]
    fn stride1_fast_forms_match_direct(
        (g, n) in any_stride1(),
        scale in prop_oneof![Just(1e-30f32), Just(1.0f32), Just(1e30f32)],
        seed in 0u64..1000,
    ) {
        let x: Vec<f32> = data(n * g.in_len(), seed).iter().map(|v| v * scale).collect();
        let (w, b) = (data(g.weight_len(), seed + 1), data(g.out_ch, seed + 2));
        let b: Vec<f32> = b.iter().map(|v| v * scale).collect();
        // The weight gradient sums up to n * plane products, the rest a few
        // dozen: f32 rounding of the two summation orders differs that much.
        let close_to = |a: f32, e: f32, s: f32, tol: f32| {
            let (a, e) = (a / s, e / s);
            (a - e).abs() <= tol * (1.0 + e.abs())
        };
        let close = |a: f32, e: f32, s: f32| close_to(a, e, s, 1e-5);
        let (mut y0, mut y1) = (vec![0.0; n * g.out_len()], vec![f32::NAN; n * g.out_len()]);
        conv_forward(&g, n, &x, &w, &b, &mut y0);
        let mut scratch = vec![f32::NAN; conv_forward_scratch_len(&g)];
        conv_forward_fast(&g, n, &x, &w, &b, &mut y1, &mut scratch);
        for (a, e) in y1.iter().zip(&y0) {
            prop_assert!(close(*a, *e, scale), "{:?} y: {} vs {}", g, a, e);
        }
        let dy = data(y0.len(), seed + 3);
        let (mut dx0, mut dw0, mut db0) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        conv_backward(&g, n, &x, &w, &dy, Some(&mut dx0), &mut dw0, &mut db0);
        let (mut dx1, mut dw1, mut db1) = (vec![f32::NAN; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        let mut scratch = vec![f32::NAN; conv_backward_scratch_len(&g)];
        conv_backward_fast(&g, n, &x, &w, &dy, Some(&mut dx1), &mut dw1, &mut db1, &mut scratch);
        for (a, e) in dw1.iter().zip(&dw0) {
            prop_assert!(close_to(*a, *e, scale, 1e-4), "{:?} dw: {} vs {}", g, a, e);
        }
        for (a, e) in dx1.iter().zip(&dx0).chain(db1.iter().zip(&db0)) {
            prop_assert!(close(*a, *e, 1.0), "{:?} dx, db: {} vs {}", g, a, e);
        }
        let (mut dw2, mut db2) = (vec![0.0; w.len()], vec![0.0; b.len()]);
        conv_backward_fast(&g, n, &x, &w, &dy, None, &mut dw2, &mut db2, &mut scratch);
        prop_assert_eq!(&dw2, &dw1);
        prop_assert_eq!(&db2, &db1);
    }
}

// ---- pooling ----

/// Naive max / average pooling of `planes` planes in f64: padding ignored,
/// the average over the in-bounds inputs.
fn pool_ref(v: &Window2d, planes: usize, x: &[f32], max: bool) -> Vec<f64> {
    let mut y = Vec::new();
    for p in 0..planes {
        for oy in 0..v.out_h {
            for ox in 0..v.out_w {
                let mut vals = Vec::new();
                for ky in 0..v.k_h {
                    for kx in 0..v.k_w {
                        let iy = (oy * v.stride_h + ky) as isize - v.pad_top as isize;
                        let ix = (ox * v.stride_w + kx) as isize - v.pad_left as isize;
                        if iy >= 0 && ix >= 0 && iy < v.in_h as isize && ix < v.in_w as isize {
                            vals.push(x[(p * v.in_h + iy as usize) * v.in_w + ix as usize] as f64);
                        }
                    }
                }
                y.push(if max {
                    vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.iter().sum::<f64>() / vals.len() as f64
                });
            }
        }
    }
    y
}

fn pools() -> Vec<(&'static str, Window2d)> {
    vec![
        ("2x2 s2 valid", win((6, 5), (2, 2), (2, 2), Padding::Valid)),
        ("3x3 s2 same", win((7, 6), (3, 3), (2, 2), Padding::Same)),
        ("3x3 s1 same", win((5, 5), (3, 3), (1, 1), Padding::Same)),
        (
            "2x3 s(1,2) explicit",
            win((5, 7), (2, 3), (1, 2), explicit(1, 0, 2, 1)),
        ),
        (
            "4x2 s(3,1) valid",
            win((9, 5), (4, 2), (3, 1), Padding::Valid),
        ),
        (
            "1-d k3 s2 same",
            win((1, 10), (1, 3), (1, 2), Padding::Same),
        ),
        (
            "1-d k2 s2 valid",
            win((1, 9), (1, 2), (1, 2), Padding::Valid),
        ),
        (
            "1-d k4 s1 explicit",
            win((1, 8), (1, 4), (1, 1), explicit(0, 0, 1, 2)),
        ),
    ]
}

/// Distinct values, so each window's maximum is unique and stays put under
/// a small perturbation.
fn distinct(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37) % 101) as f32 * 0.05 - 2.5)
        .collect()
}

#[test]
fn pools_match_reference_and_finite_differences() {
    let planes = 3;
    for (name, v) in pools() {
        let x = distinct(planes * v.in_plane());
        let r = data(planes * v.out_plane(), 11);
        let mut y = vec![f32::NAN; planes * v.out_plane()];
        for max in [true, false] {
            if max {
                max_pool_forward(&v, planes, &x, &mut y);
            } else {
                avg_pool_forward(&v, planes, &x, &mut y);
            }
            let want = pool_ref(&v, planes, &x, max);
            for i in 0..y.len() {
                assert!(
                    (y[i] as f64 - want[i]).abs() < 1e-5,
                    "{name} max={max} [{i}]"
                );
            }
            let mut dx = vec![f32::NAN; x.len()];
            if max {
                max_pool_backward(&v, planes, &x, &r, &mut dx);
            } else {
                avg_pool_backward(&v, planes, &r, &mut dx);
            }
            check_grad(&format!("{name} max={max}"), &x, &dx, 1e-3, 1e-2, |xv| {
                dot64(
                    &pool_ref(&v, planes, xv, max)
                        .iter()
                        .map(|&a| a as f32)
                        .collect::<Vec<_>>(),
                    &r,
                )
            });
            // The library forward agrees with the same finite differences.
            check_grad(
                &format!("{name} max={max} lib"),
                &x,
                &dx,
                1e-2,
                1e-2,
                |xv| {
                    let mut y = vec![0.0; planes * v.out_plane()];
                    if max {
                        max_pool_forward(&v, planes, xv, &mut y);
                    } else {
                        avg_pool_forward(&v, planes, xv, &mut y);
                    }
                    dot64(&y, &r)
                },
            );
        }
    }
}

#[test]
fn max_pool_routes_ties_to_the_first_maximum() {
    let v = win((2, 4), (2, 2), (2, 2), Padding::Valid);
    let x = [1.0, 5.0, 7.0, 7.0, 5.0, 2.0, 7.0, 7.0];
    let mut dx = [f32::NAN; 8];
    max_pool_backward(&v, 1, &x, &[1.0, 2.0], &mut dx);
    assert_eq!(dx, [0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn avg_pool_divides_by_in_bounds_count() {
    // 3x3 same on 2x2: every window sees the whole input (4 values).
    let v = win((2, 2), (3, 3), (1, 1), Padding::Same);
    let mut y = [0.0; 4];
    avg_pool_forward(&v, 1, &[1.0, 2.0, 3.0, 6.0], &mut y);
    assert_eq!(y, [3.0; 4]);
}

#[test]
fn global_avg_pool_matches_reference_and_finite_differences() {
    let (planes, plane) = (5, 7 * 3);
    let x = data(planes * plane, 12);
    let mut y = vec![f32::NAN; planes];
    global_avg_pool_forward(plane, &x, &mut y);
    for p in 0..planes {
        let want: f64 = x[p * plane..(p + 1) * plane]
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / plane as f64;
        assert!((y[p] as f64 - want).abs() < 1e-6);
    }
    let r = data(planes, 13);
    let mut dx = vec![f32::NAN; x.len()];
    global_avg_pool_backward(plane, &r, &mut dx);
    check_grad("global avg", &x, &dx, 1e-2, 1e-3, |xv| {
        let mut y = vec![0.0; planes];
        global_avg_pool_forward(plane, xv, &mut y);
        dot64(&y, &r)
    });
}

// ---- batch norm ----

/// Training-mode batch norm in f64: `(y, mean, biased var)`.
fn bn_ref(
    bn: &BatchNorm,
    n: usize,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let m = (n * bn.plane) as f64;
    let at = |s: usize, c: usize, i: usize| x[(s * bn.ch + c) * bn.plane + i] as f64;
    let mut y = vec![0.0; x.len()];
    let (mut means, mut vars) = (vec![], vec![]);
    for c in 0..bn.ch {
        let vals: Vec<f64> = (0..n)
            .flat_map(|s| (0..bn.plane).map(move |i| (s, i)))
            .map(|(s, i)| at(s, c, i))
            .collect();
        let mean = vals.iter().sum::<f64>() / m;
        let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m;
        for s in 0..n {
            for i in 0..bn.plane {
                y[(s * bn.ch + c) * bn.plane + i] = gamma[c] as f64 * (at(s, c, i) - mean)
                    / (var + bn.eps as f64).sqrt()
                    + beta[c] as f64;
            }
        }
        means.push(mean);
        vars.push(var);
    }
    (y, means, vars)
}

#[test]
fn batch_norm_training_matches_reference_and_finite_differences() {
    for (ch, plane, n) in [(3, 6, 4), (2, 1, 5), (4, 3, 1), (2, 37, 3)] {
        let bn = BatchNorm::new(ch, plane, 1e-3, 0.1).unwrap();
        let x = data(n * bn.len(), 14);
        let gamma: Vec<f32> = data(ch, 15).iter().map(|v| v + 1.5).collect();
        let beta = data(ch, 16);
        let (mut y, mut mean, mut inv_std) =
            (vec![f32::NAN; x.len()], vec![0.0; ch], vec![0.0; ch]);
        let (rm0, rv0) = (
            data(ch, 17),
            data(ch, 18).iter().map(|v| v + 2.0).collect::<Vec<f32>>(),
        );
        let (mut rm, mut rv) = (rm0.clone(), rv0.clone());
        batch_norm_forward_train(
            &bn,
            n,
            &x,
            &gamma,
            &beta,
            &mut y,
            &mut mean,
            &mut inv_std,
            &mut rm,
            &mut rv,
        );
        let (want, means, vars) = bn_ref(&bn, n, &x, &gamma, &beta);
        for i in 0..y.len() {
            assert!((y[i] as f64 - want[i]).abs() < 1e-4, "bn y[{i}]");
        }
        let m = (n * plane) as f64;
        for c in 0..ch {
            assert!((mean[c] as f64 - means[c]).abs() < 1e-6);
            assert!((inv_std[c] as f64 - 1.0 / (vars[c] + 1e-3).sqrt()).abs() < 1e-4);
            let unbiased = if m > 1.0 {
                vars[c] * m / (m - 1.0)
            } else {
                vars[c]
            };
            assert!((rm[c] as f64 - (0.9 * rm0[c] as f64 + 0.1 * means[c])).abs() < 1e-6);
            assert!((rv[c] as f64 - (0.9 * rv0[c] as f64 + 0.1 * unbiased)).abs() < 1e-5);
        }
        let r = data(x.len(), 19);
        let mut dx = vec![f32::NAN; x.len()];
        let (mut dg, mut dbt) = (vec![0.0; ch], vec![0.0; ch]);
        batch_norm_backward(
            &bn, n, &x, &gamma, &mean, &inv_std, &r, &mut dx, &mut dg, &mut dbt,
        );
        let loss = |x: &[f32], g: &[f32], b: &[f32]| {
            let (y, _, _) = bn_ref(&bn, n, x, g, b);
            y.iter().zip(&r).map(|(a, &b)| a * b as f64).sum::<f64>()
        };
        if n * plane > 1 {
            check_grad("bn dx", &x, &dx, 1e-3, 2e-3, |v| loss(v, &gamma, &beta));
        }
        check_grad("bn dgamma", &gamma, &dg, 1e-3, 1e-3, |v| loss(&x, v, &beta));
        check_grad("bn dbeta", &beta, &dbt, 1e-3, 1e-3, |v| loss(&x, &gamma, v));
    }
}

/// Wide planes (the lane sums' chunks and remainders) far from zero: the
/// statistics and gradients stay within f32 rounding of the f64 reference.
#[test]
fn batch_norm_keeps_precision_on_wide_planes_with_a_large_mean() {
    let (ch, plane, n) = (3, 301, 4);
    let bn = BatchNorm::new(ch, plane, 1e-5, 0.1).unwrap();
    let x: Vec<f32> = data(n * bn.len(), 31).iter().map(|v| 1000.0 + v).collect();
    let (gamma, beta) = (vec![1.5; ch], vec![0.25; ch]);
    let (mut y, mut mean, mut inv_std) = (vec![f32::NAN; x.len()], vec![0.0; ch], vec![0.0; ch]);
    let (mut rm, mut rv) = (vec![0.0; ch], vec![1.0; ch]);
    batch_norm_forward_train(
        &bn,
        n,
        &x,
        &gamma,
        &beta,
        &mut y,
        &mut mean,
        &mut inv_std,
        &mut rm,
        &mut rv,
    );
    let (want, means, vars) = bn_ref(&bn, n, &x, &gamma, &beta);
    for i in 0..y.len() {
        assert!(
            (y[i] as f64 - want[i]).abs() < 2e-3,
            "y[{i}]: {} vs {}",
            y[i],
            want[i]
        );
    }
    for c in 0..ch {
        assert!((mean[c] as f64 - means[c]).abs() < 1e-3, "mean[{c}]");
        let is = 1.0 / (vars[c] + 1e-5).sqrt();
        assert!((inv_std[c] as f64 - is).abs() < 1e-3 * is, "inv_std[{c}]");
    }
    let dy = data(x.len(), 32);
    let mut dx = vec![f32::NAN; x.len()];
    let (mut dg, mut dbt) = (vec![0.0; ch], vec![0.0; ch]);
    batch_norm_backward(
        &bn, n, &x, &gamma, &mean, &inv_std, &dy, &mut dx, &mut dg, &mut dbt,
    );
    let m = (n * plane) as f64;
    for c in 0..ch {
        let idx: Vec<usize> = (0..n)
            .flat_map(|s| (0..plane).map(move |i| (s * ch + c) * plane + i))
            .collect();
        let is = 1.0 / (vars[c] + 1e-5).sqrt();
        let xhat = |i: usize| (x[i] as f64 - means[c]) * is;
        let sg: f64 = idx.iter().map(|&i| dy[i] as f64).sum();
        let sgx: f64 = idx.iter().map(|&i| dy[i] as f64 * xhat(i)).sum();
        assert!(
            (dbt[c] as f64 - sg).abs() < 1e-3,
            "dbeta[{c}]: {} vs {sg}",
            dbt[c]
        );
        assert!(
            (dg[c] as f64 - sgx).abs() < 2e-2,
            "dgamma[{c}]: {} vs {sgx}",
            dg[c]
        );
        for &i in &idx {
            let want = 1.5 * is * (dy[i] as f64 - sg / m - xhat(i) * sgx / m);
            assert!(
                (dx[i] as f64 - want).abs() < 2e-3,
                "dx[{i}]: {} vs {want}",
                dx[i]
            );
        }
    }
}

#[test]
fn batch_norm_inference_uses_running_statistics() {
    let bn = BatchNorm::new(3, 4, 1e-5, 0.1).unwrap();
    let n = 2;
    let x = data(n * bn.len(), 20);
    let (gamma, beta, rm) = (data(3, 21), data(3, 22), data(3, 23));
    let rv: Vec<f32> = data(3, 24).iter().map(|v| v + 1.5).collect();
    let mut y = vec![f32::NAN; x.len()];
    batch_norm_forward_infer(&bn, n, &x, &gamma, &beta, &rm, &rv, &mut y);
    for (i, &yv) in y.iter().enumerate() {
        let c = (i / 4) % 3;
        let want = gamma[c] as f64 * (x[i] as f64 - rm[c] as f64) / (rv[c] as f64 + 1e-5).sqrt()
            + beta[c] as f64;
        assert!((yv as f64 - want).abs() < 1e-5, "bn infer [{i}]");
    }
    assert!(BatchNorm::new(0, 4, 1e-5, 0.1).is_err());
    assert!(BatchNorm::new(3, 4, 0.0, 0.1).is_err());
    assert!(BatchNorm::new(3, 4, 1e-5, 1.5).is_err());
}

#[test]
fn folded_conv_equals_conv_then_batch_norm() {
    for (name, g) in [geoms()[1], geoms()[8], geoms()[10]] {
        let bn = BatchNorm::new(g.out_ch, g.win.out_plane(), 1e-3, 0.1).unwrap();
        let (x, w, b) = (
            data(N * g.in_len(), 25),
            data(g.weight_len(), 26),
            data(g.out_ch, 27),
        );
        let (gamma, beta, rm) = (data(g.out_ch, 28), data(g.out_ch, 29), data(g.out_ch, 30));
        let rv: Vec<f32> = data(g.out_ch, 31).iter().map(|v| v + 1.2).collect();
        let mut y = vec![0.0; N * g.out_len()];
        conv_forward(&g, N, &x, &w, &b, &mut y);
        let mut want = vec![0.0; y.len()];
        batch_norm_forward_infer(&bn, N, &y, &gamma, &beta, &rm, &rv, &mut want);
        let (mut wf, mut bf) = (w.clone(), b.clone());
        fold_batch_norm(&mut wf, &mut bf, &gamma, &beta, &rm, &rv, 1e-3);
        conv_forward(&g, N, &x, &wf, &bf, &mut y);
        close(&y, &want, 1e-5, name);
    }
    // A dense layer: `w` is out x in.
    let (w, b, x) = (data(4 * 6, 32), data(4, 33), data(6, 34));
    let (gamma, beta, rm) = (data(4, 35), data(4, 36), data(4, 37));
    let rv: Vec<f32> = data(4, 38).iter().map(|v| v + 1.2).collect();
    let mut y = vec![0.0; 4];
    gemv(&w, &x, &b, &mut y);
    let bn = BatchNorm::new(4, 1, 1e-5, 0.1).unwrap();
    let mut want = vec![0.0; 4];
    batch_norm_forward_infer(&bn, 1, &y, &gamma, &beta, &rm, &rv, &mut want);
    let (mut wf, mut bf) = (w.clone(), b.clone());
    fold_batch_norm(&mut wf, &mut bf, &gamma, &beta, &rm, &rv, 1e-5);
    gemv(&wf, &x, &bf, &mut y);
    close(&y, &want, 1e-5, "dense fold");
}

// ---- joins and activations ----

#[test]
fn add_matches_sum_and_finite_differences() {
    let xs: Vec<Vec<f32>> = (0..3).map(|k| data(17, 40 + k)).collect();
    let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    let mut y = vec![f32::NAN; 17];
    add_forward(&refs, &mut y);
    for i in 0..17 {
        let want: f64 = xs.iter().map(|v| v[i] as f64).sum();
        assert!((y[i] as f64 - want).abs() < 1e-6);
    }
    let r = data(17, 44);
    let mut g = vec![vec![f32::NAN; 17]; 3];
    let mut gs: Vec<&mut [f32]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
    add_backward(&r, &mut gs);
    for k in 0..3 {
        check_grad("add", &xs[k], &g[k], 1e-2, 1e-4, |v| {
            let mut refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
            refs[k] = v;
            let mut y = vec![0.0; 17];
            add_forward(&refs, &mut y);
            dot64(&y, &r)
        });
    }
}

#[test]
fn concat_matches_reference_and_finite_differences() {
    let (n, plane, chans) = (3, 5, [2usize, 1, 3]);
    let xs: Vec<Vec<f32>> = chans
        .iter()
        .enumerate()
        .map(|(k, &c)| data(n * c * plane, 50 + k as u64))
        .collect();
    let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    let total: usize = chans.iter().sum();
    let mut y = vec![f32::NAN; n * total * plane];
    concat_forward(n, plane, &refs, &mut y);
    for s in 0..n {
        let mut oc = 0;
        for (k, &c) in chans.iter().enumerate() {
            for ic in 0..c {
                for i in 0..plane {
                    assert_eq!(
                        y[(s * total + oc) * plane + i],
                        xs[k][(s * c + ic) * plane + i]
                    );
                }
                oc += 1;
            }
        }
    }
    let r = data(y.len(), 54);
    let mut g: Vec<Vec<f32>> = xs.iter().map(|v| vec![f32::NAN; v.len()]).collect();
    let mut gs: Vec<&mut [f32]> = g.iter_mut().map(|v| v.as_mut_slice()).collect();
    concat_backward(n, plane, &r, &mut gs);
    for k in 0..3 {
        check_grad("concat", &xs[k], &g[k], 1e-2, 1e-4, |v| {
            let mut refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
            refs[k] = v;
            let mut y = vec![0.0; n * total * plane];
            concat_forward(n, plane, &refs, &mut y);
            dot64(&y, &r)
        });
    }
}

#[test]
fn relu6_matches_definition_and_finite_differences() {
    // Values away from the kinks at 0 and 6.
    let x: Vec<f32> = (0..40).map(|i| -3.05 + 0.25 * i as f32).collect();
    let mut y = vec![f32::NAN; x.len()];
    relu6(&x, &mut y);
    for (&a, &b) in x.iter().zip(&y) {
        assert_eq!(b, a.clamp(0.0, 6.0));
    }
    let mut y2 = [f32::NAN, 7.0, -1.0, 3.0];
    relu6_inplace(&mut y2);
    assert_eq!(y2, [0.0, 6.0, 0.0, 3.0]);
    let r = data(x.len(), 60);
    let mut dx = vec![f32::NAN; x.len()];
    relu6_backward(&y, &r, &mut dx);
    check_grad("relu6", &x, &dx, 1e-2, 1e-4, |v| {
        let mut y = vec![0.0; v.len()];
        relu6(v, &mut y);
        dot64(&y, &r)
    });
}

#[test]
fn dropout_drops_at_rate_and_scales_the_rest() {
    let mut rng = myelin_core::train::Rng::new(7);
    let mut mask = vec![f32::NAN; 20_000];
    dropout_mask(&mut rng, 0.25, &mut mask).unwrap();
    let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
    assert!((dropped - 0.25).abs() < 0.015, "dropped {dropped}");
    assert!(mask.iter().all(|&m| m == 0.0 || m == 1.0 / 0.75));
    assert!(dropout_mask(&mut rng, 1.0, &mut mask).is_err());
    assert!(dropout_mask(&mut rng, -0.1, &mut mask).is_err());
    let mut small = vec![0.0; 30];
    dropout_mask(&mut rng, 0.5, &mut small).unwrap();
    let x = data(30, 61);
    let mut y = vec![f32::NAN; 30];
    dropout_forward(&x, &small, &mut y);
    for i in 0..30 {
        assert_eq!(y[i], x[i] * small[i]);
    }
    let r = data(30, 62);
    let mut dx = vec![f32::NAN; 30];
    dropout_backward(&r, &small, &mut dx);
    check_grad("dropout", &x, &dx, 1e-2, 1e-4, |v| {
        let mut y = vec![0.0; 30];
        dropout_forward(v, &small, &mut y);
        dot64(&y, &r)
    });
}
