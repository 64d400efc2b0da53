//! Convolution, pooling and LSTM kernels against naive references and
//! central finite differences.

#[path = "common.rs"]
mod common;

use common::{check_grad, data, dot64};
use myelin_core::kernels::*;

/// Naive 2-D convolution in f64.
fn conv_ref(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let (oh_n, ow_n) = (s.out_h(), s.out_w());
    let mut y = vec![0.0f64; s.out_len()];
    for oc in 0..s.out_ch {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let mut acc = b[oc] as f64;
                for ic in 0..s.in_ch {
                    for kh in 0..s.k_h {
                        for kw in 0..s.k_w {
                            let ih = (oh * s.stride + kh) as isize - s.pad as isize;
                            let iw = (ow * s.stride + kw) as isize - s.pad as isize;
                            if ih < 0 || iw < 0 || ih >= s.in_h as isize || iw >= s.in_w as isize {
                                continue;
                            }
                            let xi = (ic * s.in_h + ih as usize) * s.in_w + iw as usize;
                            let wi = ((oc * s.in_ch + ic) * s.k_h + kh) * s.k_w + kw;
                            acc += x[xi] as f64 * w[wi] as f64;
                        }
                    }
                }
                y[(oc * oh_n + oh) * ow_n + ow] = acc;
            }
        }
    }
    y
}

fn shapes() -> Vec<Conv2dShape> {
    let mut v = Vec::new();
    for (stride, pad) in [(1, 0), (1, 1), (2, 0), (2, 2), (3, 1)] {
        v.push(Conv2dShape {
            in_ch: 2,
            in_h: 7,
            in_w: 6,
            out_ch: 3,
            k_h: 3,
            k_w: 2,
            stride,
            pad,
        });
    }
    v.push(Conv2dShape {
        in_ch: 1,
        in_h: 5,
        in_w: 5,
        out_ch: 1,
        k_h: 5,
        k_w: 5,
        stride: 1,
        pad: 0,
    });
    v.push(Conv2dShape {
        in_ch: 1,
        in_h: 2,
        in_w: 3,
        out_ch: 2,
        k_h: 3,
        k_w: 3,
        stride: 1,
        pad: 2,
    });
    v
}

#[test]
fn conv2d_forward_matches_reference() {
    for s in shapes() {
        s.validate().unwrap();
        let (x, w, b) = (
            data(s.in_len(), 1),
            data(s.weight_len(), 2),
            data(s.out_ch, 3),
        );
        let want = conv_ref(&s, &x, &w, &b);
        let mut y = vec![f32::NAN; s.out_len()];
        conv2d_forward(&s, &x, &w, &b, &mut y);
        let mut y2 = vec![f32::NAN; s.out_len()];
        let mut scratch = vec![f32::NAN; s.im2col_len()];
        conv2d_forward_im2col(&s, &x, &w, &b, &mut y2, &mut scratch);
        for i in 0..y.len() {
            assert!((y[i] as f64 - want[i]).abs() < 1e-5, "{s:?} [{i}]");
            assert!((y2[i] as f64 - want[i]).abs() < 1e-5, "{s:?} im2col [{i}]");
        }
    }
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    for s in shapes() {
        let (x, w, b) = (
            data(s.in_len(), 4),
            data(s.weight_len(), 5),
            data(s.out_ch, 6),
        );
        let r = data(s.out_len(), 7); // loss = r · y
        let mut dx = vec![f32::NAN; x.len()];
        let mut dw = vec![0.0; w.len()];
        let mut db = vec![0.0; b.len()];
        conv2d_backward(&s, &x, &w, &r, Some(&mut dx), &mut dw, &mut db);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| {
            let mut y = vec![0.0; s.out_len()];
            conv2d_forward(&s, x, w, b, &mut y);
            dot64(&y, &r)
        };
        check_grad("conv2d dx", &x, &dx, 1e-2, 1e-3, |v| loss(v, &w, &b));
        check_grad("conv2d dw", &w, &dw, 1e-2, 1e-3, |v| loss(&x, v, &b));
        check_grad("conv2d db", &b, &db, 1e-2, 1e-3, |v| loss(&x, &w, v));
        // The weight-only form gives the same dw; col2im(Wᵀ dy) gives dx.
        let mut dw2 = vec![0.0; w.len()];
        let mut db2 = vec![0.0; b.len()];
        conv2d_backward(&s, &x, &w, &r, None, &mut dw2, &mut db2);
        assert_eq!(dw, dw2);
        let n = s.out_h() * s.out_w();
        let mut cols = vec![0.0; s.im2col_len()];
        gemm(
            true,
            false,
            s.in_ch * s.k_h * s.k_w,
            n,
            s.out_ch,
            &w,
            &r,
            0.0,
            &mut cols,
        );
        let mut dx2 = vec![f32::NAN; x.len()];
        col2im(&s, &cols, &mut dx2);
        for (a, b) in dx.iter().zip(&dx2) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}

#[test]
fn conv1d_matches_reference_and_finite_differences() {
    let s = Conv1dShape {
        in_ch: 3,
        in_len: 11,
        out_ch: 2,
        k: 3,
        stride: 2,
        pad: 1,
    };
    s.validate().unwrap();
    let (x, w, b) = (
        data(s.input_elems(), 8),
        data(s.weight_len(), 9),
        data(2, 10),
    );
    let mut y = vec![0.0; s.output_elems()];
    conv1d_forward(&s, &x, &w, &b, &mut y);
    let lo = s.out_steps();
    for oc in 0..2 {
        for o in 0..lo {
            let mut want = b[oc] as f64;
            for ic in 0..3 {
                for k in 0..3 {
                    let i = (o * 2 + k) as isize - 1;
                    if (0..11).contains(&i) {
                        want += x[ic * 11 + i as usize] as f64 * w[(oc * 3 + ic) * 3 + k] as f64;
                    }
                }
            }
            assert!((y[oc * lo + o] as f64 - want).abs() < 1e-5);
        }
    }
    let r = data(y.len(), 11);
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; 2]);
    conv1d_backward(&s, &x, &w, &r, Some(&mut dx), &mut dw, &mut db);
    let loss = |x: &[f32], w: &[f32]| {
        let mut y = vec![0.0; s.output_elems()];
        conv1d_forward(&s, x, w, &b, &mut y);
        dot64(&y, &r)
    };
    check_grad("conv1d dx", &x, &dx, 1e-2, 1e-3, |v| loss(v, &w));
    check_grad("conv1d dw", &w, &dw, 1e-2, 1e-3, |v| loss(&x, v));
}

#[test]
fn invalid_shapes_are_reported() {
    let mut s = shapes()[0];
    s.stride = 0;
    assert!(s.validate().is_err());
    let s = Conv2dShape {
        in_ch: 1,
        in_h: 2,
        in_w: 2,
        out_ch: 1,
        k_h: 5,
        k_w: 1,
        stride: 1,
        pad: 1,
    };
    assert!(s.validate().is_err());
    let huge = Conv2dShape {
        in_ch: usize::MAX / 2,
        in_h: 3,
        in_w: 3,
        out_ch: 1,
        k_h: 1,
        k_w: 1,
        stride: 1,
        pad: 0,
    };
    assert!(huge.validate().is_err());
    let huge_pad = Conv1dShape {
        in_ch: 1,
        in_len: 4,
        out_ch: 1,
        k: 1,
        stride: 1,
        pad: usize::MAX,
    };
    assert!(huge_pad.validate().is_err());
    assert_eq!(conv_out_len(4, 1, 1, usize::MAX), 0);
    let p = Pool2dShape {
        ch: 1,
        in_h: 3,
        in_w: 3,
        k_h: 4,
        k_w: 1,
        stride: 1,
    };
    assert!(p.validate().is_err());
}

#[test]
fn pooling_forward_and_backward() {
    let s = Pool2dShape {
        ch: 2,
        in_h: 6,
        in_w: 5,
        k_h: 2,
        k_w: 2,
        stride: 2,
    };
    s.validate().unwrap();
    // Distinct values, so the maximum is unique and finite differences are valid.
    let x: Vec<f32> = (0..s.in_len())
        .map(|i| ((i * 37) % 61) as f32 * 0.1)
        .collect();
    let mut y = vec![0.0; s.out_len()];
    max_pool2d_forward(&s, &x, &mut y);
    for c in 0..2 {
        for oh in 0..3 {
            for ow in 0..2 {
                let at = |h: usize, w: usize| x[(c * 6 + h) * 5 + w];
                let want = at(2 * oh, 2 * ow)
                    .max(at(2 * oh + 1, 2 * ow))
                    .max(at(2 * oh, 2 * ow + 1))
                    .max(at(2 * oh + 1, 2 * ow + 1));
                assert_eq!(y[(c * 3 + oh) * 2 + ow], want);
            }
        }
    }
    let r = data(s.out_len(), 12);
    let mut dx = vec![f32::NAN; x.len()];
    max_pool2d_backward(&s, &x, &r, &mut dx);
    check_grad("max_pool dx", &x, &dx, 1e-3, 1e-2, |v| {
        let mut y = vec![0.0; s.out_len()];
        max_pool2d_forward(&s, v, &mut y);
        dot64(&y, &r)
    });
    avg_pool2d_forward(&s, &x, &mut y);
    assert!((y[0] - (x[0] + x[1] + x[5] + x[6]) / 4.0).abs() < 1e-6);
    avg_pool2d_backward(&s, &r, &mut dx);
    check_grad("avg_pool dx", &x, &dx, 1e-2, 1e-3, |v| {
        let mut y = vec![0.0; s.out_len()];
        avg_pool2d_forward(&s, v, &mut y);
        dot64(&y, &r)
    });
}

#[test]
fn lstm_step_matches_finite_differences() {
    let s = LstmShape {
        input: 3,
        hidden: 4,
    };
    let (wx, wh, b) = (
        data(s.wx_len(), 20),
        data(s.wh_len(), 21),
        data(s.gates(), 22),
    );
    let (x, h0, c0) = (data(3, 23), data(4, 24), data(4, 25));
    let (rh, rc) = (data(4, 26), data(4, 27)); // loss = rh · h + rc · c
    let run = |wx: &[f32], wh: &[f32], b: &[f32], x: &[f32], h0: &[f32], c0: &[f32]| {
        let (mut g, mut c, mut h) = (vec![0.0; 16], vec![0.0; 4], vec![0.0; 4]);
        lstm_step_forward(&s, wx, wh, b, x, h0, c0, &mut g, &mut c, &mut h);
        (g, c, h)
    };
    let (g, c, h) = run(&wx, &wh, &b, &x, &h0, &c0);
    // Cell state and output match the closed form.
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    for k in 0..4 {
        let z = |gate: usize| {
            let row = gate * 4 + k;
            b[row] as f64
                + dot64(&wx[row * 3..row * 3 + 3], &x)
                + dot64(&wh[row * 4..row * 4 + 4], &h0)
        };
        let cc = sig(z(1)) * c0[k] as f64 + sig(z(0)) * z(2).tanh();
        assert!((c[k] as f64 - cc).abs() < 1e-5);
        assert!((h[k] as f64 - sig(z(3)) * cc.tanh()).abs() < 1e-5);
    }
    let mut dc = rc.clone();
    let mut dz = vec![0.0; 16];
    let (mut dwx, mut dwh, mut db) = (vec![0.0; wx.len()], vec![0.0; wh.len()], vec![0.0; 16]);
    let (mut dx, mut dh0) = (vec![0.0; 3], vec![0.0; 4]);
    lstm_step_backward(
        &s,
        &wx,
        &wh,
        &x,
        &h0,
        &c0,
        &g,
        &c,
        &rh,
        &mut dc,
        &mut dz,
        LstmStepGrads {
            wx: &mut dwx,
            wh: &mut dwh,
            b: &mut db,
        },
        &mut dx,
        &mut dh0,
    );
    let loss = |(_, c, h): (Vec<f32>, Vec<f32>, Vec<f32>)| dot64(&h, &rh) + dot64(&c, &rc);
    let (hh, tol) = (1e-2, 2e-3);
    check_grad("lstm dwx", &wx, &dwx, hh, tol, |v| {
        loss(run(v, &wh, &b, &x, &h0, &c0))
    });
    check_grad("lstm dwh", &wh, &dwh, hh, tol, |v| {
        loss(run(&wx, v, &b, &x, &h0, &c0))
    });
    check_grad("lstm db", &b, &db, hh, tol, |v| {
        loss(run(&wx, &wh, v, &x, &h0, &c0))
    });
    check_grad("lstm dx", &x, &dx, hh, tol, |v| {
        loss(run(&wx, &wh, &b, v, &h0, &c0))
    });
    check_grad("lstm dh0", &h0, &dh0, hh, tol, |v| {
        loss(run(&wx, &wh, &b, &x, v, &c0))
    });
    check_grad("lstm dc0", &c0, &dc, hh, tol, |v| {
        loss(run(&wx, &wh, &b, &x, &h0, v))
    });
}

#[test]
fn lstm_cell_backward_matches_closed_form_beyond_one_chunk() {
    let h = 150; // spans several internal chunks
    let mut gates = data(4 * h, 30);
    for (idx, v) in gates.iter_mut().enumerate() {
        // i, f, o in (0, 1); g in (-1, 1)
        if !(2 * h..3 * h).contains(&idx) {
            *v = 0.5 + 0.45 * *v;
        }
    }
    let (c_prev, c, dh, dc0) = (data(h, 31), data(h, 32), data(h, 33), data(h, 34));
    let mut dc = dc0.clone();
    let mut dz = vec![0.0; 4 * h];
    lstm_cell_backward(&gates, &c_prev, &c, &dh, &mut dc, &mut dz);
    for k in 0..h {
        let g64 = |j: usize| gates[j * h + k] as f64;
        let (i, f, g, o) = (g64(0), g64(1), g64(2), g64(3));
        let tc = (c[k] as f64).tanh();
        let dck = dc0[k] as f64 + dh[k] as f64 * o * (1.0 - tc * tc);
        let want = [
            dck * g * i * (1.0 - i),
            dck * c_prev[k] as f64 * f * (1.0 - f),
            dck * i * (1.0 - g * g),
            dh[k] as f64 * tc * o * (1.0 - o),
        ];
        for (j, w) in want.iter().enumerate() {
            assert!((dz[j * h + k] as f64 - w).abs() < 1e-5, "dz[{j}][{k}]");
        }
        assert!((dc[k] as f64 - dck * f).abs() < 1e-5, "dc[{k}]");
    }
}
