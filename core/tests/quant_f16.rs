//! f16 weight storage against f32 (needs feature `half`:
//! `cargo test -p myelin-core --features half --test quant_f16`).
#![cfg(feature = "half")]

use myelin_core::Error;
use myelin_core::quant::f16::{dense_f16, f16, to_f16, to_f32};
use proptest::collection::vec;
use proptest::prelude::*;

fn f64_dense(w: &[f32], x: &[f32], b: &[f32]) -> Vec<f64> {
    let n = x.len();
    b.iter()
        .enumerate()
        .map(|(o, &b)| {
            w[o * n..(o + 1) * n]
                .iter()
                .zip(x)
                .fold(f64::from(b), |a, (&w, &x)| a + f64::from(w) * f64::from(x))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn dense_f16_matches_f32_within_storage_rounding(
        (n_in, n_out) in (0usize..200, 1usize..6),
        seed in vec(-2.0f32..2.0, 200 * 6 + 200 + 6),
    ) {
        let (w, rest) = seed.split_at(n_in * n_out);
        let (x, b) = (&rest[..n_in], &rest[n_in..n_in + n_out]);
        let mut wh = vec![f16::ZERO; w.len()];
        to_f16(w, &mut wh);
        let mut y = vec![0.0f32; n_out];
        dense_f16(&wh, x, b, &mut y).unwrap();

        // The stored weights widened back: the same product, summed in f64.
        let mut w_back = vec![0.0f32; w.len()];
        to_f32(&wh, &mut w_back);
        let exact_stored = f64_dense(&w_back, x, b);
        let exact = f64_dense(w, x, b);
        for o in 0..n_out {
            let row = &w[o * n_in..(o + 1) * n_in];
            let mag: f64 = row.iter().zip(x).map(|(&w, &x)| f64::from((w * x).abs())).sum::<f64>()
                + f64::from(b[o].abs());
            // f32 summation of n terms: n * 2^-24 relative to the magnitudes.
            let sum_err = (n_in as f64 + 2.0) * mag * f64::from(f32::EPSILON);
            prop_assert!((f64::from(y[o]) - exact_stored[o]).abs() <= sum_err);
            // Storage: each weight moved by at most 2^-11 relative (normal range).
            let store_err = mag * f64::from(2.0f32.powi(-11));
            prop_assert!((f64::from(y[o]) - exact[o]).abs() <= store_err + sum_err);
        }
    }
}

#[test]
fn conversion_rounds_to_nearest_and_saturates_to_infinity() {
    let src = [1.0f32, 1.0 + 1.0 / 4096.0, 65504.0, 1.0e6, -0.0, f32::NAN];
    let mut h = [f16::ZERO; 6];
    to_f16(&src, &mut h);
    let mut back = [0.0f32; 6];
    to_f32(&h, &mut back);
    assert_eq!(back[0], 1.0);
    // Halfway between 1 and 1 + 2^-10: ties to even, down to 1.
    assert_eq!(back[1], 1.0);
    assert_eq!(back[2], 65504.0);
    assert_eq!(back[3], f32::INFINITY);
    assert!(back[4] == 0.0 && back[4].is_sign_negative());
    assert!(back[5].is_nan());
}

#[test]
fn shape_mismatch_is_an_error() {
    let w = [f16::ONE; 6];
    let mut y = [0.0f32; 2];
    assert_eq!(
        dense_f16(&w, &[1.0; 2], &[0.0; 2], &mut y),
        Err(Error::ShapeMismatch {
            expected: 4,
            found: 6
        })
    );
    assert!(dense_f16(&w, &[1.0; 3], &[0.0; 3], &mut y).is_err());
    dense_f16(&w, &[1.0; 3], &[0.5; 2], &mut y).unwrap();
    assert_eq!(y, [3.5, 3.5]);
}

#[test]
fn conv_f16_equals_f32_conv_of_widened_weights() {
    use myelin_core::kernels::{self, Conv1dShape, Conv2dShape};
    use myelin_core::quant::f16::{conv1d_f16, conv2d_f16};
    let mut state = 5u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    for (stride, pad) in [(1, 0), (1, 2), (2, 1)] {
        let s = Conv2dShape {
            in_ch: 3,
            in_h: 9,
            in_w: 8,
            out_ch: 4,
            k_h: 3,
            k_w: 5,
            stride,
            pad,
        };
        let x: Vec<f32> = (0..s.in_len()).map(|_| next()).collect();
        let w: Vec<f32> = (0..s.weight_len()).map(|_| next()).collect();
        let b: Vec<f32> = (0..4).map(|_| next()).collect();
        let mut wh = vec![f16::ZERO; w.len()];
        to_f16(&w, &mut wh);
        let mut w_wide = vec![0.0f32; w.len()];
        to_f32(&wh, &mut w_wide);
        let (mut y16, mut y32) = (vec![0.0f32; s.out_len()], vec![0.0f32; s.out_len()]);
        conv2d_f16(&s, &x, &wh, &b, &mut y16).unwrap();
        kernels::conv2d_forward(&s, &x, &w_wide, &b, &mut y32);
        assert!(
            y16.iter()
                .zip(&y32)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );

        let s1 = Conv1dShape {
            in_ch: 2,
            in_len: 17,
            out_ch: 3,
            k: 4,
            stride,
            pad,
        };
        let x: Vec<f32> = (0..s1.input_elems()).map(|_| next()).collect();
        let mut wh = vec![f16::ZERO; s1.weight_len()];
        let w: Vec<f32> = (0..s1.weight_len()).map(|_| next()).collect();
        to_f16(&w, &mut wh);
        let mut w_wide = vec![0.0f32; w.len()];
        to_f32(&wh, &mut w_wide);
        let n = s1.output_elems();
        let (mut y16, mut y32) = (vec![0.0f32; n], vec![0.0f32; n]);
        conv1d_f16(&s1, &x, &wh, &b[..3], &mut y16).unwrap();
        kernels::conv1d_forward(&s1, &x, &w_wide, &b[..3], &mut y32);
        assert!(
            y16.iter()
                .zip(&y32)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
    // Wrong lengths and oversized filters are errors, not panics.
    let s = Conv2dShape {
        in_ch: 50,
        in_h: 5,
        in_w: 5,
        out_ch: 1,
        k_h: 5,
        k_w: 5,
        stride: 1,
        pad: 0,
    };
    let wh = vec![f16::ZERO; s.weight_len()];
    let mut y = [0.0f32; 1];
    assert!(conv2d_f16(&s, &vec![0.0; s.in_len()], &wh, &[0.0], &mut y).is_err());
    assert!(conv2d_f16(&s, &[0.0; 3], &wh, &[0.0], &mut y).is_err());
}
