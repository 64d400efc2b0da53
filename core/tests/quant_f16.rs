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
