//! The Cortex-M DSP loop (emulated instruction for instruction) against the
//! scalar reference: equal bit for bit on random shapes and values.

use myelin_core::quant::dot::{dot, dot_emulated, dot_scalar, dot2, dot2_emulated, dot2_scalar};
use myelin_core::quant::int8::{
    Conv2dShape, ConvQ, DenseQ, conv2d, conv2d_emulated, conv2d_scalar, dense, dense_emulated,
    dense_scalar, dense_single_rounding, dense_single_rounding_emulated,
    dense_single_rounding_scalar,
};
use myelin_core::quant::{OutputQuant, Requant};
use proptest::collection::vec;
use proptest::prelude::*;

mod common;
use common::{int8, output, requant};

/// Two int8 vectors of one length in `0..max`.
fn pair(max: usize) -> impl Strategy<Value = (Vec<i8>, Vec<i8>)> {
    (0..max).prop_flat_map(|n| (vec(int8(), n), vec(int8(), n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn dot_emulation_equals_scalar((w, x) in pair(70), zp in int8(), acc in any::<i32>()) {
        let s = dot_scalar(&w, &x, zp, acc);
        prop_assert_eq!(dot_emulated(&w, &x, zp, acc), s);
        prop_assert_eq!(dot(&w, &x, zp, acc), s);
        // And the scalar one is the exact sum modulo 2^32.
        let exact = w.iter().zip(&x).fold(i64::from(acc), |a, (&w, &x)| {
            a + i64::from(w) * (i64::from(x) - i64::from(zp))
        });
        prop_assert_eq!(s, exact as i32);
    }

    #[test]
    fn dot2_emulation_equals_scalar(
        (w0, x) in pair(70),
        seed in vec(int8(), 70),
        zp in int8(),
        acc in any::<(i32, i32)>(),
    ) {
        let w1 = &seed[..x.len()];
        let s = dot2_scalar(&w0, w1, &x, zp, acc);
        prop_assert_eq!(dot2_emulated(&w0, w1, &x, zp, acc), s);
        prop_assert_eq!(dot2(&w0, w1, &x, zp, acc), s);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_equals_scalar(
        (w0, x) in pair(100),
        seed in vec(int8(), 100),
        zp in int8(),
        acc in any::<(i32, i32)>(),
    ) {
        if std::is_x86_feature_detected!("avx2") {
            use myelin_core::quant::dot::{dot_avx2, dot2_avx2};
            let w1 = &seed[..x.len()];
            // SAFETY: AVX2 was detected just above.
            let (a, b) = unsafe {
                (dot_avx2(&w0, &x, zp, acc.0), dot2_avx2(&w0, w1, &x, zp, acc))
            };
            prop_assert_eq!(a, dot_scalar(&w0, &x, zp, acc.0));
            prop_assert_eq!(b, dot2_scalar(&w0, w1, &x, zp, acc));
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn vnni_equals_scalar(
        (w0, x) in pair(160),
        seed in vec(int8(), 160),
        zp in int8(),
        acc in any::<(i32, i32)>(),
    ) {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni") {
            use myelin_core::quant::dot::{dot_vnni, dot2_vnni};
            let w1 = &seed[..x.len()];
            // SAFETY: AVX2 and AVX-VNNI were detected just above.
            let (a, b) = unsafe {
                (dot_vnni(&w0, &x, zp, acc.0), dot2_vnni(&w0, w1, &x, zp, acc))
            };
            prop_assert_eq!(a, dot_scalar(&w0, &x, zp, acc.0));
            prop_assert_eq!(b, dot2_scalar(&w0, w1, &x, zp, acc));
        }
    }

    #[test]
    fn dense_emulation_equals_scalar(
        (n_in, n_out) in (1usize..40, 1usize..8),
        seed in vec(int8(), 40 * 8 + 40),
        bias in vec(any::<i32>(), 8),
        rq in vec(requant(), 8),
        per_tensor in any::<bool>(),
        zp in int8(),
        out in output(),
    ) {
        let (w, x) = seed.split_at(n_in * n_out);
        let layer = DenseQ {
            weights: w,
            bias: &bias[..n_out],
            requant: if per_tensor { &rq[..1] } else { &rq[..n_out] },
            input_zero_point: zp,
            output: out,
        };
        let x = &x[..n_in];
        let (mut a, mut b, mut c) = (vec![0i8; n_out], vec![0i8; n_out], vec![0i8; n_out]);
        dense_scalar(&layer, x, &mut a).unwrap();
        dense_emulated(&layer, x, &mut b).unwrap();
        dense(&layer, x, &mut c).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
        // LiteRT's single-rounding requantization, every variant.
        dense_single_rounding_scalar(&layer, x, &mut a).unwrap();
        dense_single_rounding_emulated(&layer, x, &mut b).unwrap();
        dense_single_rounding(&layer, x, &mut c).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn conv_emulation_equals_scalar(
        (in_c, h, w, out_c) in (1usize..4, 1usize..9, 1usize..9, 1usize..4),
        (kh, kw, sh, sw, ph, pw) in (1usize..6, 1usize..6, 1usize..4, 1usize..4, 0usize..3, 0usize..3),
        seed in vec(int8(), 3 * 8 * 8 + 3 * 3 * 5 * 5),
        bias in vec(-100_000i32..100_000, 3),
        rq in vec(requant(), 3),
        zp in int8(),
        out in output(),
    ) {
        let shape = Conv2dShape {
            in_channels: in_c,
            in_size: [h, w],
            out_channels: out_c,
            kernel: [kh, kw],
            stride: [sh, sw],
            // TFLite SAME: an odd total puts the extra row or column last.
            padding: [ph, ph + (kh + sw) % 2, pw, pw + (kw + sh) % 2],
        };
        prop_assume!(shape.out_size().is_ok());
        let (x, weights) = seed.split_at(in_c * h * w);
        let layer = ConvQ {
            weights: &weights[..shape.weight_len().unwrap()],
            bias: &bias[..out_c],
            requant: &rq[..out_c],
            input_zero_point: zp,
            output: out,
        };
        let n = shape.output_len().unwrap();
        let (mut a, mut b, mut c) = (vec![0i8; n], vec![0i8; n], vec![0i8; n]);
        conv2d_scalar(&layer, &shape, x, &mut a).unwrap();
        conv2d_emulated(&layer, &shape, x, &mut b).unwrap();
        conv2d(&layer, &shape, x, &mut c).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
    }
}

#[test]
fn extremes_and_wrapping_agree() {
    // (-128 - 127) * -128 = 32640 per element: 70,000 of them pass 2^31 and
    // wrap; every variant wraps the same way.
    let n = 70_001;
    let w = vec![i8::MIN; n];
    let x = vec![i8::MIN; n];
    let zp = i8::MAX;
    let exact = 32_640i64 * n as i64;
    assert!(exact > i64::from(i32::MAX));
    let s = dot_scalar(&w, &x, zp, 0);
    assert_eq!(s, exact as i32);
    assert_eq!(dot_emulated(&w, &x, zp, 0), s);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected just above.
        let a = unsafe { myelin_core::quant::dot::dot_avx2(&w, &x, zp, 0) };
        assert_eq!(a, s);
        if std::is_x86_feature_detected!("avxvnni") {
            // SAFETY: AVX2 and AVX-VNNI were detected just above.
            let v = unsafe { myelin_core::quant::dot::dot_vnni(&w, &x, zp, 0) };
            assert_eq!(v, s);
        }
    }
    // The most negative product: 127 * (-128 - 127).
    let w = vec![i8::MAX; 7];
    assert_eq!(dot_emulated(&w, &x[..7], zp, 0), 7 * 127 * -255);
    assert_eq!(dot_scalar(&w, &x[..7], zp, 0), 7 * 127 * -255);
}

#[test]
fn every_length_up_to_64_agrees() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut byte = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as i8
    };
    for n in 0..=64usize {
        let w: Vec<i8> = (0..n).map(|_| byte()).collect();
        let v: Vec<i8> = (0..n).map(|_| byte()).collect();
        let x: Vec<i8> = (0..n).map(|_| byte()).collect();
        for zp in [-128i8, -1, 0, 1, 127] {
            assert_eq!(
                dot_emulated(&w, &x, zp, n as i32),
                dot_scalar(&w, &x, zp, n as i32),
                "n = {n}, zp = {zp}"
            );
            assert_eq!(
                dot2_emulated(&w, &v, &x, zp, (1, -1)),
                dot2_scalar(&w, &v, &x, zp, (1, -1)),
                "n = {n}, zp = {zp}"
            );
        }
    }
}

/// Runs a convolution of `shape` on pseudo-random codes with every variant
/// and checks they agree (and are not all the output zero point).
fn conv_variants_agree(shape: Conv2dShape) {
    let mut state = 99u32;
    let mut byte = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as i8
    };
    let x: Vec<i8> = (0..shape.input_len().unwrap()).map(|_| byte()).collect();
    let w: Vec<i8> = (0..shape.weight_len().unwrap()).map(|_| byte()).collect();
    let rq = [Requant {
        multiplier: 1 << 30,
        shift: -12,
    }];
    let bias: Vec<i32> = (0..shape.out_channels as i32)
        .map(|o| 1000 - 700 * o)
        .collect();
    let layer = ConvQ {
        weights: &w,
        bias: &bias,
        requant: &rq,
        input_zero_point: -20,
        output: OutputQuant::linear(4),
    };
    let n = shape.output_len().unwrap();
    let (mut a, mut b, mut c) = (vec![0i8; n], vec![0i8; n], vec![0i8; n]);
    conv2d_scalar(&layer, &shape, &x, &mut a).unwrap();
    conv2d_emulated(&layer, &shape, &x, &mut b).unwrap();
    conv2d(&layer, &shape, &x, &mut c).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert!(
        a.iter().any(|&v| v != 4),
        "outputs should not all be the zero point"
    );
}

/// The DSP convolution's pointwise (1x1) columns and its large buffers, on
/// extreme values: every weight and input at -128 or 127 and the zero point
/// at the far end, so every product is the largest the lanes hold; channel
/// counts that leave partial blocks of four and an odd last filter and
/// position.
#[test]
fn pointwise_and_wide_filters_agree_on_extremes() {
    let mut state = 0x51f1_5eedu32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let shapes = [
        // (in, h, w, out, k, stride, padding)
        (64, 5, 5, 64, 1, 1, 0),
        (67, 3, 5, 9, 1, 1, 0),
        (13, 4, 3, 7, 1, 2, 0),
        (64, 6, 7, 5, 3, 1, 1),
        (70, 5, 4, 3, 3, 2, 1),
    ];
    for (in_c, h, w, out_c, k, stride, pad) in shapes {
        let shape = Conv2dShape {
            in_channels: in_c,
            in_size: [h, w],
            out_channels: out_c,
            kernel: [k, k],
            stride: [stride, stride],
            padding: [pad; 4],
        };
        for extreme in [false, true] {
            let mut byte = || {
                let v = next() as i8;
                match (extreme, v < 0) {
                    (true, true) => i8::MIN,
                    (true, false) => i8::MAX,
                    (false, _) => v,
                }
            };
            let x: Vec<i8> = (0..shape.input_len().unwrap()).map(|_| byte()).collect();
            let wts: Vec<i8> = (0..shape.weight_len().unwrap()).map(|_| byte()).collect();
            let bias: Vec<i32> = (0..out_c).map(|o| o as i32 * 1_000 - 4_000).collect();
            let rq: Vec<Requant> = (0..out_c)
                .map(|o| Requant {
                    multiplier: (1 << 30) + o as i32 * 12_345,
                    shift: -14 + (o % 3) as i32,
                })
                .collect();
            let zp = if extreme { i8::MAX } else { -7 };
            let layer = ConvQ {
                weights: &wts,
                bias: &bias,
                requant: &rq,
                input_zero_point: zp,
                output: OutputQuant::linear(3),
            };
            let n = shape.output_len().unwrap();
            let (mut a, mut b, mut c) = (vec![0i8; n], vec![0i8; n], vec![0i8; n]);
            conv2d_scalar(&layer, &shape, &x, &mut a).unwrap();
            conv2d_emulated(&layer, &shape, &x, &mut b).unwrap();
            conv2d(&layer, &shape, &x, &mut c).unwrap();
            assert_eq!(a, b, "{shape:?} extreme {extreme}");
            assert_eq!(a, c, "{shape:?} extreme {extreme}");
            let distinct = a.iter().collect::<std::collections::BTreeSet<_>>().len();
            assert!(distinct > 2, "{shape:?}: outputs barely vary");
        }
    }
}

#[test]
fn large_filters_fall_back_to_rows_and_agree() {
    // 6 x 10 x 10 = 600 taps: more than the patch holds on microcontrollers
    // (512), gathered on 64-bit hosts; 50 x 10 x 10 = 5000: more than either
    // holds (4096), kernel row by kernel row everywhere.
    for in_channels in [6, 50] {
        conv_variants_agree(Conv2dShape {
            in_channels,
            in_size: [12, 13],
            out_channels: 3,
            kernel: [10, 10],
            stride: [1, 2],
            padding: [1, 1, 2, 2],
        });
    }
}

#[test]
fn resnet_sized_filters_agree() {
    // 64 x 3 x 3 = 576 taps, SAME padding, strides 1 and 2 (ResNet-8's
    // widest convolutions); an odd number of filters leaves one single.
    for stride in [1, 2] {
        conv_variants_agree(Conv2dShape {
            in_channels: 64,
            in_size: [8, 8],
            out_channels: 5,
            kernel: [3, 3],
            stride: [stride, stride],
            padding: [1, 1, 1, 1],
        });
    }
}

#[test]
fn pointwise_filters_agree() {
    // 1x1 over 64 channels (DS-CNN's pointwise layers), stride 1 and 2, and
    // with padding (the general gather).
    for (stride, pad) in [(1, 0), (2, 0), (1, 1)] {
        conv_variants_agree(Conv2dShape {
            in_channels: 64,
            in_size: [25, 5],
            out_channels: 7,
            kernel: [1, 1],
            stride: [stride, stride],
            padding: [pad; 4],
        });
    }
}
