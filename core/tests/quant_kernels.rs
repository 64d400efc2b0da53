//! int8 kernels against f64/f32 references.
//!
//! Two checks per layer:
//! - arithmetic: on the quantized tensors themselves, the int8 output is
//!   within 1 LSB of `clamp(round(M * acc) + zp)` computed in f64;
//! - end to end: quantizing an f32 layer (per-channel weights, calibrated
//!   activations) and running it in int8 stays within the error bound that
//!   the input, weight and output rounding steps add up to.

use myelin_core::quant::calib::{Calibration, Calibrator};
use myelin_core::quant::int8::{
    self, Conv2dShape, ConvQ, DenseQ, Pool2dShape, avg_pool2d, conv2d, dense, max_pool2d,
};
use myelin_core::quant::lstm::{LstmQ, lstm_sequence};
use myelin_core::quant::params::{
    self, ActQuant, LSTM_HIDDEN, add_params, lstm_requant, output_requant, quantize_bias,
    quantize_per_channel, requant_to_f64,
};
use myelin_core::quant::{OutputQuant, Requant};

/// xorshift64*: deterministic test data.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    fn fill(&mut self, v: &mut [f32], lo: f32, hi: f32) {
        for v in v {
            *v = self.uniform(lo, hi);
        }
    }
}

fn expected_output(acc: i64, m: Requant, out: OutputQuant) -> f64 {
    let v = (acc as f64 * requant_to_f64(m)).round() + f64::from(out.zero_point);
    v.clamp(f64::from(out.min), f64::from(out.max))
}

/// A quantized dense layer and the bookkeeping to check it.
struct QuantDense {
    w: Vec<i8>,
    w_scales: Vec<f32>,
    b: Vec<i32>,
    rq: Vec<Requant>,
    input: ActQuant,
    output: ActQuant,
}

fn f32_dense(w: &[f32], b: &[f32], x: &[f32], relu: bool) -> Vec<f32> {
    let n = x.len();
    b.iter()
        .enumerate()
        .map(|(o, &b)| {
            let y = w[o * n..(o + 1) * n]
                .iter()
                .zip(x)
                .fold(f64::from(b), |a, (&w, &x)| a + f64::from(w) * f64::from(x))
                as f32;
            if relu { y.max(0.0) } else { y }
        })
        .collect()
}

fn check_dense(relu: bool) {
    const IN: usize = 50;
    const OUT: usize = 10;
    const SAMPLES: usize = 300;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut w = vec![0.0f32; IN * OUT];
    rng.fill(&mut w, -0.5, 0.5);
    // Rows of very different magnitude: what per-channel scales are for.
    for (o, row) in w.chunks_mut(IN).enumerate() {
        let k = (o + 1) as f32 / OUT as f32;
        row.iter_mut().for_each(|v| *v *= k * k);
    }
    let mut b = vec![0.0f32; OUT];
    rng.fill(&mut b, -0.2, 0.2);
    let mut xs = vec![0.0f32; IN * SAMPLES];
    rng.fill(&mut xs, -1.0, 2.0);

    // Calibrate input and output ranges on the data.
    let (mut cal_in, mut cal_out) = (Calibrator::<256>::new(), Calibrator::<256>::new());
    for x in xs.chunks(IN) {
        cal_in.observe(x);
        cal_out.observe(&f32_dense(&w, &b, x, relu));
    }
    let input = cal_in.act_quant(Calibration::MinMax).unwrap();
    let output = cal_out.act_quant(Calibration::MinMax).unwrap();
    let mut q = QuantDense {
        w: vec![0; IN * OUT],
        w_scales: vec![0.0; OUT],
        b: vec![0; OUT],
        rq: vec![Requant::default(); OUT],
        input,
        output,
    };
    quantize_per_channel(&w, &mut q.w, &mut q.w_scales).unwrap();
    quantize_bias(&b, input.scale, &q.w_scales, &mut q.b).unwrap();
    output_requant(input.scale, &q.w_scales, output.scale, &mut q.rq).unwrap();
    let out = if relu { output.relu() } else { output.linear() };
    let layer = DenseQ {
        weights: &q.w,
        bias: &q.b,
        requant: &q.rq,
        input_zero_point: input.zero_point,
        output: out,
    };

    let mut worst_lsb = 0.0f64;
    let mut xq = [0i8; IN];
    let mut yq = [0i8; OUT];
    for x in xs.chunks(IN) {
        q.input.quantize_slice(x, &mut xq);
        dense(&layer, &xq, &mut yq).unwrap();
        let y_ref = f32_dense(&w, &b, x, relu);
        for o in 0..OUT {
            // Arithmetic on the quantized tensors.
            let acc = q.w[o * IN..(o + 1) * IN]
                .iter()
                .zip(&xq)
                .fold(i64::from(q.b[o]), |a, (&w, &x)| {
                    a + i64::from(w) * (i64::from(x) - i64::from(input.zero_point))
                });
            let e = expected_output(acc, q.rq[o], out);
            assert!(
                (f64::from(yq[o]) - e).abs() <= 1.0,
                "output {o}: {} vs {e}",
                yq[o]
            );
            // End to end against f32.
            let (sx, sw, sy) = (
                f64::from(input.scale),
                f64::from(q.w_scales[o]),
                f64::from(output.scale),
            );
            let row = &w[o * IN..(o + 1) * IN];
            let bound = 1.5 * sy
                + sx * sw / 2.0
                + row
                    .iter()
                    .zip(x)
                    .map(|(&w, &x)| {
                        f64::from(w.abs()) * sx / 2.0
                            + f64::from(x.abs()) * sw / 2.0
                            + sx * sw / 4.0
                    })
                    .sum::<f64>();
            let err = (f64::from(q.output.dequantize(yq[o])) - f64::from(y_ref[o])).abs();
            assert!(err <= bound, "output {o}: error {err} > bound {bound}");
            worst_lsb = worst_lsb.max(err / sy);
        }
    }
    println!("dense relu={relu}: max error {worst_lsb:.2} output LSB");
}

#[test]
fn dense_matches_f32_linear() {
    check_dense(false);
}

#[test]
fn dense_matches_f32_relu() {
    check_dense(true);
}

/// Convolution in f64 and, given `(s_x, s_w)`, the error bound per output:
/// the sum over taps of `|w| s_x/2 + |x| s_w[o]/2 + s_x s_w[o]/4`.
fn f64_conv(
    s: &Conv2dShape,
    w: &[f32],
    b: &[f32],
    x: &[f32],
    relu: bool,
    scales: Option<(f32, &[f32])>,
) -> (Vec<f32>, Vec<f64>) {
    let [oh, ow] = s.out_size().unwrap();
    let [ih, iw] = s.in_size;
    let [kh, kw] = s.kernel;
    let mut y = vec![0.0f32; s.out_channels * oh * ow];
    let mut bound = vec![0.0f64; y.len()];
    for o in 0..s.out_channels {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = f64::from(b[o]);
                let mut wx = 0.0f64;
                for c in 0..s.in_channels {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * s.stride[0] + ky) as isize - s.padding[0] as isize;
                            let ix = (ox * s.stride[1] + kx) as isize - s.padding[2] as isize;
                            if iy < 0 || ix < 0 || iy >= ih as isize || ix >= iw as isize {
                                continue;
                            }
                            let wv = w[((o * s.in_channels + c) * kh + ky) * kw + kx];
                            let xv = x[(c * ih + iy as usize) * iw + ix as usize];
                            acc += f64::from(wv) * f64::from(xv);
                            if let Some((sx, ws)) = scales {
                                let (sx, sw) = (f64::from(sx), f64::from(ws[o]));
                                wx += f64::from(wv.abs()) * sx / 2.0
                                    + f64::from(xv.abs()) * sw / 2.0
                                    + sx * sw / 4.0;
                            }
                        }
                    }
                }
                let i = (o * oh + oy) * ow + ox;
                bound[i] = wx;
                y[i] = if relu {
                    acc.max(0.0) as f32
                } else {
                    acc as f32
                };
            }
        }
    }
    (y, bound)
}

#[test]
fn conv2d_matches_f32() {
    let s = Conv2dShape {
        in_channels: 2,
        in_size: [9, 11],
        out_channels: 3,
        kernel: [3, 4],
        stride: [2, 1],
        padding: [1, 2, 2, 1],
    };
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut w = vec![0.0f32; s.weight_len().unwrap()];
    rng.fill(&mut w, -0.4, 0.4);
    let mut b = vec![0.0f32; 3];
    rng.fill(&mut b, -0.1, 0.1);
    let n_in = s.input_len().unwrap();
    let mut xs = vec![0.0f32; n_in * 20];
    rng.fill(&mut xs, 0.0, 1.0); // like pixels: real 0 is -128
    let (mut cal_in, mut cal_out) = (Calibrator::<64>::new(), Calibrator::<64>::new());
    for x in xs.chunks(n_in) {
        cal_in.observe(x);
        cal_out.observe(&f64_conv(&s, &w, &b, x, true, None).0);
    }
    let input = cal_in.act_quant(Calibration::MinMax).unwrap();
    let output = cal_out.act_quant(Calibration::MinMax).unwrap();
    assert_eq!(input.zero_point, -128);
    let mut wq = vec![0i8; w.len()];
    let mut ws = vec![0.0f32; 3];
    quantize_per_channel(&w, &mut wq, &mut ws).unwrap();
    let mut bq = vec![0i32; 3];
    quantize_bias(&b, input.scale, &ws, &mut bq).unwrap();
    let mut rq = vec![Requant::default(); 3];
    output_requant(input.scale, &ws, output.scale, &mut rq).unwrap();
    let layer = ConvQ {
        weights: &wq,
        bias: &bq,
        requant: &rq,
        input_zero_point: input.zero_point,
        output: output.relu(),
    };
    // Dequantized weights give the exact accumulator in f64.
    let mut w_deq = vec![0.0f32; w.len()];
    params::dequantize_per_channel(&wq, &ws, &mut w_deq);
    let n_out = s.output_len().unwrap();
    let (mut xq, mut yq) = (vec![0i8; n_in], vec![0i8; n_out]);
    let mut x_deq = vec![0.0f32; n_in];
    let mut worst = 0.0f64;
    let per_channel = n_out / 3;
    for x in xs.chunks(n_in) {
        input.quantize_slice(x, &mut xq);
        conv2d(&layer, &s, &xq, &mut yq).unwrap();
        // Arithmetic: f64 conv of the dequantized tensors, divided by the
        // output scale, is the exact `M * acc` (bias included).
        input.dequantize_slice(&xq, &mut x_deq);
        let b_deq: Vec<f32> = (0..3)
            .map(|o| (f64::from(bq[o]) * f64::from(input.scale) * f64::from(ws[o])) as f32)
            .collect();
        let (exact, _) = f64_conv(&s, &w_deq, &b_deq, &x_deq, false, None);
        for (i, (&y, &e)) in yq.iter().zip(&exact).enumerate() {
            let o = i / per_channel;
            let m_ratio = requant_to_f64(rq[o])
                / (f64::from(input.scale) * f64::from(ws[o]) / f64::from(output.scale));
            let e = (f64::from(e) / f64::from(output.scale) * m_ratio).round()
                + f64::from(output.zero_point);
            let e = e.clamp(f64::from(output.zero_point), 127.0);
            // f32 rounding of the dequantized sums adds a little slack.
            assert!((f64::from(y) - e).abs() <= 1.0 + 1e-3, "{i}: {y} vs {e}");
        }
        // End to end.
        let (y_ref, bound) = f64_conv(&s, &w, &b, x, true, Some((input.scale, &ws)));
        for (i, (&y, &r)) in yq.iter().zip(&y_ref).enumerate() {
            let o = i / per_channel;
            let sy = f64::from(output.scale);
            let bnd = bound[i] + 1.5 * sy + f64::from(input.scale) * f64::from(ws[o]) / 2.0;
            let err = (f64::from(output.dequantize(y)) - f64::from(r)).abs();
            assert!(err <= bnd, "{i}: error {err} > {bnd}");
            worst = worst.max(err / sy);
        }
    }
    println!("conv2d: max error {worst:.2} output LSB");
}

#[test]
fn conv1d_is_conv2d_of_height_one() {
    let s = Conv2dShape::conv1d(2, 10, 2, 3, 2, 1);
    assert_eq!(s.out_size().unwrap(), [1, 5]);
    let w: Vec<i8> = (0..12).map(|v| (v * 37 % 255 - 127) as i8).collect();
    let x: Vec<i8> = (0..20).map(|v| (v * 53 % 255 - 127) as i8).collect();
    let rq = [params::quantize_multiplier(0.01)];
    let layer = ConvQ {
        weights: &w,
        bias: &[5, -5],
        requant: &rq,
        input_zero_point: 3,
        output: OutputQuant::linear(1),
    };
    let mut y = [0i8; 10];
    conv2d(&layer, &s, &x, &mut y).unwrap();
    // By hand: y[o][t] = bias + sum_c sum_k w[o][c][k] * (x[c][2t + k - 1] - 3).
    for o in 0..2 {
        for t in 0..5 {
            let mut acc = [5i64, -5][o];
            for c in 0..2 {
                for k in 0..3 {
                    let i = (2 * t + k) as isize - 1;
                    if (0..10).contains(&i) {
                        acc += i64::from(w[(o * 2 + c) * 3 + k])
                            * (i64::from(x[c * 10 + i as usize]) - 3);
                    }
                }
            }
            let e = expected_output(acc, rq[0], layer.output);
            assert!((f64::from(y[o * 5 + t]) - e).abs() <= 1.0);
        }
    }
}

#[test]
fn pooling_matches_dequantized() {
    let s = Pool2dShape {
        channels: 3,
        in_size: [8, 7],
        kernel: [2, 3],
        stride: [2, 2],
    };
    let [oh, ow] = s.out_size().unwrap();
    let mut rng = Rng(42);
    let q = ActQuant::from_range(-0.7, 1.9).unwrap();
    let x: Vec<i8> = (0..3 * 56).map(|_| rng.next_u64() as i8).collect();
    let (mut ymax, mut yavg) = (vec![0i8; 3 * oh * ow], vec![0i8; 3 * oh * ow]);
    max_pool2d(&s, &x, &mut ymax).unwrap();
    avg_pool2d(&s, &x, &mut yavg).unwrap();
    for c in 0..3 {
        for oy in 0..oh {
            for ox in 0..ow {
                let window: Vec<f32> = (0..2)
                    .flat_map(|ky| (0..3).map(move |kx| (ky, kx)))
                    .map(|(ky, kx)| q.dequantize(x[(c * 8 + oy * 2 + ky) * 7 + ox * 2 + kx]))
                    .collect();
                let i = (c * oh + oy) * ow + ox;
                let max = window.iter().copied().fold(f32::MIN, f32::max);
                assert_eq!(q.dequantize(ymax[i]), max);
                let mean = window.iter().sum::<f32>() / 6.0;
                assert!((q.dequantize(yavg[i]) - mean).abs() <= q.scale * 0.5 + 1e-6);
            }
        }
    }
}

#[test]
fn add_matches_f64() {
    let a = ActQuant::from_range(-1.0, 3.0).unwrap();
    let b = ActQuant::from_range(-0.25, 0.5).unwrap();
    let out = ActQuant::from_range(-1.25, 3.5).unwrap();
    for relu in [false, true] {
        let p = add_params(&a, &b, &out, relu);
        let xs: Vec<i8> = (0..=255u8).map(|v| v as i8).collect();
        let ys: Vec<i8> = (0..=255u8).map(|v| v.wrapping_mul(97) as i8).collect();
        let mut y = vec![0i8; 256];
        int8::add(&p, &xs, &ys, &mut y).unwrap();
        for i in 0..256 {
            let real = f64::from(a.dequantize(xs[i])) + f64::from(b.dequantize(ys[i]));
            let lo = if relu {
                f64::from(out.zero_point)
            } else {
                -128.0
            };
            let e = ((real / f64::from(out.scale)).round() + f64::from(out.zero_point))
                .clamp(lo, 127.0);
            assert!((f64::from(y[i]) - e).abs() <= 1.0, "{i}: {} vs {e}", y[i]);
        }
    }
    assert!(
        int8::add(
            &add_params(&a, &b, &out, false),
            &[0; 3],
            &[0; 2],
            &mut [0; 3]
        )
        .is_err()
    );
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn lstm_matches_f32() {
    check_lstm::<4, 6, 12>(0.8, 0.6, 2.0 / 128.0, 0.03);
}

#[test]
fn lstm_mnist_sized_matches_f32() {
    // Rows of 28 pixels, 28 steps, 64 hidden units, Xavier-sized weights.
    check_lstm::<28, 64, 28>(0.2, 0.15, 3.0 / 128.0, 0.05);
}

fn check_lstm<const IN: usize, const H: usize, const T: usize>(
    wx_range: f32,
    wh_range: f32,
    h_tol: f32,
    c_tol: f32,
) {
    let mut rng = Rng(0x5eed);
    let mut wx = vec![0.0f32; 4 * H * IN];
    let mut wh = vec![0.0f32; 4 * H * H];
    let mut b = vec![0.0f32; 4 * H];
    rng.fill(&mut wx, -wx_range, wx_range);
    rng.fill(&mut wh, -wh_range, wh_range);
    rng.fill(&mut b, -0.3, 0.3);
    b[H..2 * H].iter_mut().for_each(|v| *v += 1.0); // forget-gate bias
    let mut worst_h = 0.0f32;
    let mut worst_c = 0.0f32;
    for seq in 0..20 {
        let mut xs = vec![0.0f32; T * IN];
        rng.fill(&mut xs, -1.0, 1.0 + seq as f32 * 0.1);
        let input = ActQuant::from_range(-1.0, 3.0).unwrap();
        // f32 reference.
        let (mut h, mut c) = ([0.0f32; H], [0.0f32; H]);
        for x in xs.chunks(IN) {
            let mut pre = vec![0.0f32; 4 * H];
            for (r, p) in pre.iter_mut().enumerate() {
                *p = b[r]
                    + (0..IN).map(|i| wx[r * IN + i] * x[i]).sum::<f32>()
                    + (0..H).map(|j| wh[r * H + j] * h[j]).sum::<f32>();
            }
            for j in 0..H {
                let (i, f) = (sigmoid(pre[j]), sigmoid(pre[H + j]));
                let (g, o) = (pre[2 * H + j].tanh(), sigmoid(pre[3 * H + j]));
                c[j] = f * c[j] + i * g;
                h[j] = o * c[j].tanh();
            }
        }
        // int8.
        let (mut wxq, mut whq) = (vec![0i8; wx.len()], vec![0i8; wh.len()]);
        let (mut sx, mut sh) = (vec![0.0f32; 4 * H], vec![0.0f32; 4 * H]);
        quantize_per_channel(&wx, &mut wxq, &mut sx).unwrap();
        quantize_per_channel(&wh, &mut whq, &mut sh).unwrap();
        let mut bq = vec![0i32; 4 * H];
        quantize_bias(&b, input.scale, &sx, &mut bq).unwrap();
        let (mut rx, mut rh) = (
            vec![Requant::default(); 4 * H],
            vec![Requant::default(); 4 * H],
        );
        lstm_requant(input.scale, &sx, &sh, &mut rx, &mut rh).unwrap();
        let layer = LstmQ {
            input_weights: &wxq,
            recurrent_weights: &whq,
            bias: &bq,
            input_requant: &rx,
            recurrent_requant: &rh,
            input_zero_point: input.zero_point,
        };
        let mut xq = vec![0i8; T * IN];
        input.quantize_slice(&xs, &mut xq);
        let (mut hq, mut cq, mut scratch) = ([0i8; H], [0i16; H], [0i8; H]);
        lstm_sequence(&layer, &xq, &mut hq, &mut cq, &mut scratch).unwrap();
        for j in 0..H {
            worst_h = worst_h.max((LSTM_HIDDEN.dequantize(hq[j]) - h[j]).abs());
            worst_c = worst_c.max((f32::from(cq[j]) / 2048.0 - c[j]).abs());
        }
    }
    println!("lstm {IN}->{H}, {T} steps: max |h error| {worst_h:.4}, max |c error| {worst_c:.4}");
    assert!(worst_h <= h_tol, "h error {worst_h}");
    assert!(worst_c <= c_tol, "c error {worst_c}");
}

#[test]
fn shape_errors_do_not_panic() {
    let rq = [Requant::default()];
    let layer = DenseQ {
        weights: &[0; 6],
        bias: &[0; 2],
        requant: &rq,
        input_zero_point: 0,
        output: OutputQuant::linear(0),
    };
    assert!(dense(&layer, &[0; 2], &mut [0; 2]).is_err());
    assert!(dense(&layer, &[0; 3], &mut [0; 3]).is_err());
    let bad = Conv2dShape {
        in_channels: 1,
        in_size: [usize::MAX, 2],
        out_channels: 1,
        kernel: [1, 1],
        stride: [1, 0],
        padding: [0; 4],
    };
    let conv = ConvQ {
        weights: &[0],
        bias: &[0],
        requant: &rq,
        input_zero_point: 0,
        output: OutputQuant::linear(0),
    };
    assert!(conv2d(&conv, &bad, &[0; 4], &mut [0; 4]).is_err());
    let huge = Conv2dShape {
        stride: [1, 1],
        ..bad
    };
    assert!(conv2d(&conv, &huge, &[0; 4], &mut [0; 4]).is_err());
    let pool = Pool2dShape {
        channels: 1,
        in_size: [2, 2],
        kernel: [3, 1],
        stride: [1, 1],
    };
    assert!(max_pool2d(&pool, &[0; 4], &mut [0; 4]).is_err());
    let lstm = LstmQ {
        input_weights: &[0; 8],
        recurrent_weights: &[0; 4],
        bias: &[0; 4],
        input_requant: &rq,
        recurrent_requant: &rq,
        input_zero_point: 0,
    };
    // 4 rows x 2 inputs, 1 hidden unit: a 3-value sequence is not whole steps.
    assert!(lstm_sequence(&lstm, &[0; 3], &mut [0], &mut [0], &mut [0]).is_err());
    assert!(lstm_sequence(&lstm, &[0; 4], &mut [0], &mut [0], &mut [0]).is_ok());
}

#[test]
fn shapes_convert_from_the_f32_kernels() {
    use myelin_core::kernels;
    for (k, stride, pad) in [(1, 1, 0), (3, 1, 1), (5, 2, 2), (4, 3, 0)] {
        let f = kernels::Conv2dShape {
            in_ch: 2,
            in_h: 11,
            in_w: 9,
            out_ch: 3,
            k_h: k,
            k_w: k,
            stride,
            pad,
        };
        let q = Conv2dShape::from(f);
        assert_eq!(q.out_size().unwrap(), [f.out_h(), f.out_w()]);
        assert_eq!(q.input_len(), Some(f.in_len()));
        assert_eq!(q.weight_len(), Some(f.weight_len()));
        assert_eq!(q.output_len().unwrap(), f.out_len());
        let p = kernels::Pool2dShape {
            ch: 2,
            in_h: 11,
            in_w: 9,
            k_h: k,
            k_w: k,
            stride,
        };
        assert_eq!(
            Pool2dShape::from(p).out_size().unwrap(),
            [p.out_h(), p.out_w()]
        );
    }
}

#[test]
fn sigmoid_and_tanh_within_one_step() {
    use myelin_core::quant::params::{SIGMOID_OUTPUT, TANH_OUTPUT, activation_requant};
    for (lo, hi) in [(-10.0f32, 10.0), (-3.0, 1.0), (-0.5, 0.5)] {
        let input = ActQuant::from_range(lo, hi).unwrap();
        let m = activation_requant(input.scale);
        let x: Vec<i8> = (-128..=127).collect();
        let (mut s, mut t) = ([0i8; 256], [0i8; 256]);
        int8::sigmoid(&x, input.zero_point, m, &mut s).unwrap();
        int8::tanh(&x, input.zero_point, m, &mut t).unwrap();
        for i in 0..256 {
            let r = input.dequantize(x[i]);
            let es = sigmoid(r);
            let et = r.tanh();
            let ds = (SIGMOID_OUTPUT.dequantize(s[i]) - es).abs() / SIGMOID_OUTPUT.scale;
            let dt = (TANH_OUTPUT.dequantize(t[i]) - et).abs() / TANH_OUTPUT.scale;
            assert!(
                ds <= 1.0,
                "sigmoid({r}) = {} vs {es}",
                SIGMOID_OUTPUT.dequantize(s[i])
            );
            assert!(
                dt <= 1.0,
                "tanh({r}) = {} vs {et}",
                TANH_OUTPUT.dequantize(t[i])
            );
        }
    }
}

#[test]
fn rescale_moves_between_quantizations() {
    use myelin_core::quant::params::rescale_requant;
    let from = ActQuant::from_range(-2.0, 6.0).unwrap();
    let to = ActQuant::from_range(-1.0, 1.0).unwrap();
    let m = rescale_requant(&from, &to);
    let x: Vec<i8> = (-128..=127).collect();
    let mut y = [0i8; 256];
    int8::rescale(&x, from.zero_point, m, to.linear(), &mut y).unwrap();
    for i in 0..256 {
        let r = f64::from(from.dequantize(x[i]));
        let e = ((r / f64::from(to.scale)).round() + f64::from(to.zero_point)).clamp(-128.0, 127.0);
        assert!((f64::from(y[i]) - e).abs() <= 1.0, "{r}: {} vs {e}", y[i]);
    }
}
