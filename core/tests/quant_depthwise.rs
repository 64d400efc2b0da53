//! The int8 depthwise convolution against a direct loop over TFLite's
//! definition, and its fast variant against its scalar twin.

use myelin_core::quant::depthwise::{
    depthwise_conv2d, depthwise_conv2d_emulated, depthwise_conv2d_scalar,
};
use myelin_core::quant::int8::{Conv2dShape, ConvQ};
use myelin_core::quant::{OutputQuant, Requant};
use proptest::collection::vec;
use proptest::prelude::*;

/// `y[o][oy][ox] = requant(b[o] + sum w[o][ky][kx] (x[o / M][iy][ix] - zp))`
/// over the taps inside the input, `iy = oy SH + ky - PT`, `ix = ox SW + kx - PL`.
fn reference(layer: &ConvQ<'_>, s: &Conv2dShape, x: &[i8]) -> Vec<i8> {
    let [oh, ow] = s.out_size().unwrap();
    let [ih, iw] = s.in_size;
    let [kh, kw] = s.kernel;
    let m = s.out_channels / s.in_channels;
    let mut y = Vec::new();
    for o in 0..s.out_channels {
        let rq = layer.requant[if layer.requant.len() == 1 { 0 } else { o }];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = layer.bias[o];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = (oy * s.stride[0] + ky) as isize - s.padding[0] as isize;
                        let ix = (ox * s.stride[1] + kx) as isize - s.padding[2] as isize;
                        if iy < 0 || ix < 0 || iy >= ih as isize || ix >= iw as isize {
                            continue;
                        }
                        let xv = x[((o / m) * ih + iy as usize) * iw + ix as usize];
                        let wv = layer.weights[(o * kh + ky) * kw + kx];
                        acc += i32::from(wv) * (i32::from(xv) - i32::from(layer.input_zero_point));
                    }
                }
                y.push(layer.output.requantize(acc, rq));
            }
        }
    }
    y
}

fn requant() -> impl Strategy<Value = Requant> {
    ((1i32 << 30)..i32::MAX, -12i32..2)
        .prop_map(|(multiplier, shift)| Requant { multiplier, shift })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn depthwise_matches_the_definition(
        (c, mult, h, w) in (1usize..5, 1usize..3, 1usize..10, 1usize..10),
        (kh, kw, sh, sw) in (1usize..5, 1usize..5, 1usize..3, 1usize..3),
        (pt, pb, pl, pr) in (0usize..3, 0usize..3, 0usize..3, 0usize..3),
        seed in vec(any::<i8>(), 4 * 9 * 9 + 8 * 4 * 4),
        bias in vec(-5_000i32..5_000, 8),
        rq in vec(requant(), 8),
        per_tensor in any::<bool>(),
        (zp, out_zp, relu) in (any::<i8>(), any::<i8>(), any::<bool>()),
    ) {
        let s = Conv2dShape {
            in_channels: c,
            in_size: [h, w],
            out_channels: c * mult,
            kernel: [kh, kw],
            stride: [sh, sw],
            padding: [pt, pb, pl, pr],
        };
        prop_assume!(s.out_size().is_ok());
        let (x, weights) = seed.split_at(c * h * w);
        let oc = c * mult;
        let layer = ConvQ {
            weights: &weights[..oc * kh * kw],
            bias: &bias[..oc],
            requant: if per_tensor { &rq[..1] } else { &rq[..oc] },
            input_zero_point: zp,
            output: if relu { OutputQuant::relu(out_zp) } else { OutputQuant::linear(out_zp) },
        };
        let want = reference(&layer, &s, x);
        let (mut fast, mut scalar) = (vec![0i8; want.len()], vec![0i8; want.len()]);
        let mut emulated = vec![0i8; want.len()];
        depthwise_conv2d(&layer, &s, x, &mut fast).unwrap();
        depthwise_conv2d_scalar(&layer, &s, x, &mut scalar).unwrap();
        depthwise_conv2d_emulated(&layer, &s, x, &mut emulated).unwrap();
        prop_assert_eq!(&scalar, &want);
        prop_assert_eq!(&fast, &want);
        prop_assert_eq!(&emulated, &want);
    }

    /// The 3x3 path (padded plane, `SMLAD` per kernel row) on its own: any
    /// stride, TFLite's SAME padding (odd total at the bottom and right) or
    /// none, planes up to the large buffer, extreme values half the time.
    #[test]
    fn depthwise_3x3_emulation_matches_the_definition(
        (c, mult, h, w) in (1usize..4, 1usize..3, 1usize..31, 1usize..31),
        (sh, sw, same) in (1usize..4, 1usize..4, any::<bool>()),
        seed in vec(any::<i8>(), 3 * 30 * 30 + 6 * 9),
        extreme in any::<bool>(),
        bias in vec(-50_000i32..50_000, 6),
        rq in vec(requant(), 6),
        (zp, out_zp, relu) in (any::<i8>(), any::<i8>(), any::<bool>()),
    ) {
        // SAME: out = ceil(in / stride), total padding split top/left first.
        let pad = |n: usize, st: usize| {
            let total = ((n.div_ceil(st) - 1) * st + 3).saturating_sub(n);
            [total / 2, total - total / 2]
        };
        let ([pt, pb], [pl, pr]) = if same { (pad(h, sh), pad(w, sw)) } else { ([0, 0], [0, 0]) };
        let s = Conv2dShape {
            in_channels: c,
            in_size: [h, w],
            out_channels: c * mult,
            kernel: [3, 3],
            stride: [sh, sw],
            padding: [pt, pb, pl, pr],
        };
        prop_assume!(s.out_size().is_ok());
        let seed: Vec<i8> = if extreme {
            seed.iter().map(|&v| if v < 0 { i8::MIN } else { i8::MAX }).collect()
        } else {
            seed
        };
        let (x, weights) = seed.split_at(c * h * w);
        let oc = c * mult;
        let layer = ConvQ {
            weights: &weights[..oc * 9],
            bias: &bias[..oc],
            requant: &rq[..oc],
            input_zero_point: match (extreme, zp < 0) {
                (true, true) => i8::MAX,
                (true, false) => i8::MIN,
                (false, _) => zp,
            },
            output: if relu { OutputQuant::relu(out_zp) } else { OutputQuant::linear(out_zp) },
        };
        let want = reference(&layer, &s, x);
        let mut emulated = vec![0i8; want.len()];
        depthwise_conv2d_emulated(&layer, &s, x, &mut emulated).unwrap();
        prop_assert_eq!(&emulated, &want);
        let mut fast = vec![0i8; want.len()];
        depthwise_conv2d(&layer, &s, x, &mut fast).unwrap();
        prop_assert_eq!(&fast, &want);
    }

    #[test]
    fn depthwise_refuses_what_does_not_fit(
        (c, oc, h, w, k) in (0usize..4, 0usize..9, 0usize..6, 0usize..6, 0usize..4),
        (nx, nw, nb, ny) in (0usize..80, 0usize..80, 0usize..9, 0usize..80),
    ) {
        let s = Conv2dShape {
            in_channels: c,
            in_size: [h, w],
            out_channels: oc,
            kernel: [k, k],
            stride: [1, 1],
            padding: [0, 1, 0, 1],
        };
        let (x, weights, bias) = (vec![1i8; nx], vec![2i8; nw], vec![3i32; nb]);
        let rq = [Requant { multiplier: 1 << 30, shift: 0 }];
        let layer = ConvQ { weights: &weights, bias: &bias, requant: &rq, input_zero_point: 0, output: OutputQuant::linear(0) };
        let mut y = vec![0i8; ny];
        let fits = c > 0 && oc % c == 0 && s.output_len().is_ok_and(|n| n == ny)
            && nx == c * h * w && nw == oc * k * k && nb == oc;
        prop_assert_eq!(depthwise_conv2d(&layer, &s, &x, &mut y).is_ok(), fits);
    }
}

/// The fast variant, the scalar twin and the definition on one shape, over
/// pseudo-random codes with extreme zero points.
fn variants_agree(s: Conv2dShape) {
    let mut state = 0x9e37_79b9u32;
    let mut byte = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as i8
    };
    let x: Vec<i8> = (0..s.input_len().unwrap()).map(|_| byte()).collect();
    let taps = s.kernel[0] * s.kernel[1];
    let weights: Vec<i8> = (0..s.out_channels * taps).map(|_| byte()).collect();
    let bias: Vec<i32> = (0..s.out_channels as i32).map(|o| 300 * o - 4000).collect();
    let rq = [Requant {
        multiplier: 1_600_000_000,
        shift: -7,
    }];
    for zp in [-128i8, 5, 127] {
        let layer = ConvQ {
            weights: &weights,
            bias: &bias,
            requant: &rq,
            input_zero_point: zp,
            output: OutputQuant::linear(-3),
        };
        let want = reference(&layer, &s, &x);
        let (mut fast, mut scalar) = (vec![0i8; want.len()], vec![0i8; want.len()]);
        depthwise_conv2d(&layer, &s, &x, &mut fast).unwrap();
        depthwise_conv2d_scalar(&layer, &s, &x, &mut scalar).unwrap();
        assert_eq!(scalar, want, "{s:?}, zp {zp}");
        assert_eq!(fast, want, "{s:?}, zp {zp}");
        assert!(want.iter().any(|&v| v != want[0]), "{s:?}: constant output");
    }
}

#[test]
fn kws_sized_and_wide_rows_agree() {
    // DS-CNN's depthwise layers: 64 channels of 25 x 5, 3 x 3, SAME.
    variants_agree(Conv2dShape {
        in_channels: 64,
        in_size: [25, 5],
        out_channels: 64,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1, 1, 1],
    });
    // Rows of 600 and 300 outputs, stride 1 and 2 with a multiplier of 2:
    // wider than the row buffer (512) and within it.
    for stride in [1, 2] {
        variants_agree(Conv2dShape {
            in_channels: 2,
            in_size: [3, 600],
            out_channels: 4,
            kernel: [2, 5],
            stride: [1, stride],
            padding: [0, 1, 2, 2],
        });
    }
}
