//! The Armv6-M convolution algorithm (blocks of positions, biased unsigned
//! inputs, zero point taken out through the weight sums), in its portable
//! form, against the scalar reference: equal bit for bit.

use myelin_core::quant::int8::{Conv2dShape, ConvQ, conv2d, conv2d_blocked, conv2d_scalar};
use myelin_core::quant::{OutputQuant, Requant};
use proptest::collection::vec;
use proptest::prelude::*;

mod common;
use common::{int8, output, requant};

/// Runs the scalar, blocked and dispatched convolutions; all must agree.
fn agree(shape: &Conv2dShape, layer: &ConvQ<'_>, x: &[i8]) -> Vec<i8> {
    let n = shape.output_len().unwrap();
    let (mut a, mut b, mut c) = (vec![0i8; n], vec![0i8; n], vec![0i8; n]);
    conv2d_scalar(layer, shape, x, &mut a).unwrap();
    conv2d_blocked(layer, shape, x, &mut b).unwrap();
    conv2d(layer, shape, x, &mut c).unwrap();
    assert_eq!(a, b, "blocked vs scalar, {shape:?}");
    assert_eq!(a, c, "dispatched vs scalar, {shape:?}");
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn blocked_equals_scalar(
        (in_c, h, w, out_c) in (1usize..5, 1usize..12, 1usize..20, 1usize..5),
        (kh, kw, sh, sw, ph, pw) in (1usize..7, 1usize..7, 1usize..4, prop_oneof![3 => Just(1usize), 1 => 2usize..4], 0usize..4, 0usize..4),
        seed in vec(int8(), 4 * 11 * 19 + 4 * 4 * 6 * 6),
        bias in vec(any::<i32>(), 4),
        rq in vec(requant(), 4),
        per_tensor in any::<bool>(),
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
            requant: if per_tensor { &rq[..1] } else { &rq[..out_c] },
            input_zero_point: zp,
            output: out,
        };
        agree(&shape, &layer, x);
    }
}

fn bytes(seed: u32, n: usize) -> Vec<i8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as i8
        })
        .collect()
}

#[test]
fn mnist_sized_layers_agree() {
    // The mnist-cnn's second convolution: 8 -> 16, 5x5, 14x14, same padding.
    for (in_c, size, out_c) in [(1usize, 28usize, 8usize), (8, 14, 16)] {
        let shape = Conv2dShape {
            in_channels: in_c,
            in_size: [size, size],
            out_channels: out_c,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [2; 4],
        };
        let x = bytes(7, shape.input_len().unwrap());
        let w = bytes(11, shape.weight_len().unwrap());
        let bias: Vec<i32> = (0..out_c as i32).map(|o| o * 997 - 5000).collect();
        let rq = [Requant {
            multiplier: 1_518_500_250,
            shift: -9,
        }];
        for zp in [-128i8, -3, 0, 127] {
            let layer = ConvQ {
                weights: &w,
                bias: &bias,
                requant: &rq,
                input_zero_point: zp,
                output: OutputQuant::relu(-128),
            };
            let y = agree(&shape, &layer, &x);
            assert!(y.iter().any(|&v| v != -128) && y.iter().any(|&v| v != 127));
        }
    }
}

#[test]
fn extreme_sums_wrap_alike() {
    // Every weight and input -128, zero point 127: each product is 32,640,
    // 4 x 7 x 7 of them (6,397,440) at the centre, 4 x 4 x 4 at a corner.
    // With bias i32::MAX - 3,000,000 the centre wraps past 2^31 to a large
    // negative sum (output -128) while a corner stays positive (127).
    let shape = Conv2dShape {
        in_channels: 4,
        in_size: [7, 7],
        out_channels: 1,
        kernel: [7, 7],
        stride: [1, 1],
        padding: [3; 4],
    };
    let x = vec![i8::MIN; shape.input_len().unwrap()];
    let w = vec![i8::MIN; shape.weight_len().unwrap()];
    let layer = ConvQ {
        weights: &w,
        bias: &[i32::MAX - 3_000_000],
        requant: &[Requant {
            multiplier: 1 << 30,
            shift: -8,
        }],
        input_zero_point: i8::MAX,
        output: OutputQuant::linear(0),
    };
    let y = agree(&shape, &layer, &x);
    assert_eq!((y[0], y[3 * 7 + 3]), (127, -128));
}
