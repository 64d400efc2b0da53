//! int8 kernels given arbitrary shapes and slice lengths (as a corrupt model
//! file could describe them) return an error or a result, never panic.

use myelin_core::quant::int8::{
    AddQ, Conv2dShape, ConvQ, DenseQ, Pool2dShape, add, avg_pool2d, conv2d, conv2d_scalar, dense,
    max_pool2d,
};
use myelin_core::quant::lstm::{LstmQ, lstm_sequence, lstm_step};
use myelin_core::quant::{OutputQuant, Requant};
use proptest::collection::vec;
use proptest::prelude::*;

fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..6, 1 => Just(usize::MAX), 1 => Just(usize::MAX / 2 + 1)]
}

fn requant() -> impl Strategy<Value = Requant> {
    (any::<i32>(), any::<i32>()).prop_map(|(multiplier, shift)| Requant { multiplier, shift })
}

fn output() -> impl Strategy<Value = OutputQuant> {
    (any::<i8>(), any::<i8>(), any::<i8>()).prop_map(|(zero_point, min, max)| OutputQuant {
        zero_point,
        min,
        max,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn conv_never_panics(
        (c, h, w, o) in (dim(), dim(), dim(), dim()),
        (kh, kw, sh, sw, ph, pw) in (dim(), dim(), dim(), dim(), dim(), dim()),
        (nx, nw, nb, nr, ny) in (0usize..200, 0usize..200, 0usize..6, 0usize..6, 0usize..200),
        rq in requant(),
        out in output(),
        zp in any::<i8>(),
    ) {
        let shape = Conv2dShape {
            in_channels: c,
            in_size: [h, w],
            out_channels: o,
            kernel: [kh, kw],
            stride: [sh, sw],
            // TFLite SAME: an odd total puts the extra row or column last.
            padding: [ph, ph + (kh + sw) % 2, pw, pw + (kw + sh) % 2],
        };
        let weights = vec![3i8; nw];
        let bias = vec![-5i32; nb];
        let requant = vec![rq; nr];
        let layer = ConvQ { weights: &weights, bias: &bias, requant: &requant, input_zero_point: zp, output: out };
        let x = vec![7i8; nx];
        let (mut a, mut b) = (vec![0i8; ny], vec![0i8; ny]);
        let ra = conv2d(&layer, &shape, &x, &mut a);
        let rb = conv2d_scalar(&layer, &shape, &x, &mut b);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn dense_pool_add_lstm_never_panic(
        (nx, nw, nb, nr, ny) in (0usize..40, 0usize..80, 0usize..6, 0usize..6, 0usize..6),
        (ch, h, w, kh, kw, sh, sw) in (dim(), dim(), dim(), dim(), dim(), dim(), dim()),
        seq in vec(any::<i8>(), 0..40),
        rq in requant(),
        out in output(),
        zp in any::<i8>(),
    ) {
        let weights = vec![-2i8; nw];
        let bias = vec![9i32; nb];
        let requant = vec![rq; nr];
        let x = vec![1i8; nx];
        let mut y = vec![0i8; ny];
        let layer = DenseQ { weights: &weights, bias: &bias, requant: &requant, input_zero_point: zp, output: out };
        let _ = dense(&layer, &x, &mut y);

        let pool = Pool2dShape { channels: ch, in_size: [h, w], kernel: [kh, kw], stride: [sh, sw] };
        let _ = max_pool2d(&pool, &seq, &mut y);
        let _ = avg_pool2d(&pool, &seq, &mut y);

        let p = AddQ {
            a_zero_point: zp,
            a_requant: rq,
            b_zero_point: zp.wrapping_neg(),
            b_requant: rq,
            output_requant: rq,
            output: out,
        };
        let _ = add(&p, &seq, &x, &mut y);

        let lstm = LstmQ {
            input_weights: &weights,
            recurrent_weights: &weights[..nw.min(16)],
            bias: &bias,
            input_requant: &requant,
            recurrent_requant: &requant,
            input_zero_point: zp,
        };
        let hidden = nb.min(2);
        let (mut h, mut c, mut s) = (vec![0i8; hidden], vec![0i16; hidden], vec![0i8; hidden]);
        let _ = lstm_step(&lstm, &x, &mut h, &mut c, &mut s);
        let _ = lstm_sequence(&lstm, &seq, &mut h, &mut c, &mut s);
    }
}

#[test]
fn degenerate_shapes_are_refused() {
    let huge = usize::MAX / 2 + 1;
    let rq = [Requant::default()];
    let layer = ConvQ {
        weights: &[],
        bias: &[],
        requant: &rq,
        input_zero_point: 0,
        output: OutputQuant::linear(0),
    };
    // No channels would make every tensor empty whatever the spatial size.
    for (c, o) in [(0, 0), (0, 1), (1, 0)] {
        let shape = Conv2dShape {
            in_channels: c,
            in_size: [huge, 3],
            out_channels: o,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0; 4],
        };
        assert!(conv2d(&layer, &shape, &[], &mut []).is_err());
        assert!(conv2d_scalar(&layer, &shape, &[], &mut []).is_err());
    }
    let pool = Pool2dShape {
        channels: 0,
        in_size: [huge, huge],
        kernel: [1, 1],
        stride: [1, 1],
    };
    assert!(max_pool2d(&pool, &[], &mut []).is_err());
    assert!(avg_pool2d(&pool, &[], &mut []).is_err());
}
