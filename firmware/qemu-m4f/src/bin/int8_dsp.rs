//! int8 kernels on the Cortex-M4's DSP extension: the `SMLAD` variants
//! against the scalar references, bit for bit, on deterministic
//! pseudo-random inputs (every length up to 67, extreme values, wrapping
//! accumulators), the packed dense kernel included. A 256x64 int8 dense
//! layer (the per-step intrinsics loop, the active one-`asm!` loop and
//! scalar) and an 8x12x12 -> 16x8x8 5x5 convolution are measured for
//! `cargo xtask report`.
#![no_std]
#![no_main]

use core::hint::black_box;
use myelin_core::quant::dot::{DSP_ACTIVE, dot_dsp, dot_scalar, dot2_dsp, dot2_scalar};
use myelin_core::quant::int8::{
    Conv2dShape, ConvQ, DenseQ, conv2d_dsp, conv2d_scalar, dense, dense_dsp, dense_scalar,
};
use myelin_core::quant::packed::{
    DensePackedQ, PackedWeights, dense_packed, dense_packed_scalar, pack, packed_len, unpacked_len,
};
use myelin_core::quant::{OutputQuant, Requant};
use myelin_fw_common::{Checks, entry, measure};

/// Inputs of the measured dense layer.
const IN: usize = 256;
/// Outputs of the measured dense layer.
const OUT: usize = 64;
/// Longest vector in the dot-product sweep.
const MAX_LEN: usize = 67;
/// Bytes of the largest packed layer of the odd-shape sweep (64 inputs, 10 outputs).
const PACKED_MAX: usize = packed_len(10, 64);

/// xorshift32, with the int8 extremes drawn one time in four.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    fn int8(&mut self) -> i8 {
        let r = self.next();
        match r & 7 {
            0 => i8::MIN,
            1 => i8::MAX,
            _ => (r >> 8) as i8,
        }
    }

    fn fill(&mut self, v: &mut [i8]) {
        for v in v {
            *v = self.int8();
        }
    }

    fn requant(&mut self) -> Requant {
        Requant {
            multiplier: (1 << 30) | (self.next() >> 2) as i32,
            shift: -((self.next() % 20) as i32),
        }
    }
}

/// Adds one to `bad` unless the two outputs are equal.
fn count_mismatches<const N: usize>(a: &[i8; N], b: &[i8; N], bad: &mut u32) {
    if a != b {
        *bad += 1;
    }
}

#[entry]
fn main() -> ! {
    measure::paint_stack();
    let mut t = Checks::new();
    let mut rng = Rng(0x2545_f491);

    // Measured: one 256x64 dense layer through each variant.
    let mut w = [0i8; IN * OUT];
    let mut x = [0i8; IN];
    let mut bias = [0i32; OUT];
    let mut rq = [Requant::default(); OUT];
    rng.fill(&mut w);
    rng.fill(&mut x);
    for (b, m) in bias.iter_mut().zip(rq.iter_mut()) {
        *b = (rng.next() >> 12) as i32 - (1 << 19);
        *m = rng.requant();
    }
    let layer = DenseQ {
        weights: black_box(&w),
        bias: &bias,
        requant: &rq,
        input_zero_point: -3,
        output: OutputQuant::relu(-7),
    };
    let (mut y_dsp, mut y_ref) = ([0i8; OUT], [0i8; OUT]);
    let x_in = black_box(&x);
    let r = measure::instructions(|| dense_dsp(&layer, x_in, &mut y_dsp));
    let stack = measure::peak_stack();
    let macs = (IN * OUT) as u32;
    let bytes = (IN * OUT + 4 * OUT + 8 * OUT) as u32;
    measure::report("int8-dense-256x64", "int8-dsp", macs, bytes, stack);
    t.record(r.is_ok(), "dense_dsp 256x64 ran");
    measure::paint_stack();
    let r = measure::instructions(|| dense_scalar(&layer, x_in, &mut y_ref));
    let stack = measure::peak_stack();
    measure::report("int8-dense-256x64", "int8-scalar", macs, bytes, stack);
    t.record(r.is_ok(), "dense_scalar 256x64 ran");
    t.record(y_dsp == y_ref, "dense 256x64: dsp == scalar");
    let mut y_act = [0i8; OUT];
    measure::paint_stack();
    let r = measure::instructions(|| dense(&layer, x_in, &mut y_act));
    let stack = measure::peak_stack();
    measure::report("int8-dense-256x64", "int8-dsp-asm", macs, bytes, stack);
    t.record(
        r.is_ok(),
        "dense (active: asm loop, two rows per pass) 256x64 ran",
    );
    t.record(y_act == y_ref, "dense 256x64: active == scalar");

    // Measured: a LeNet-style second convolution, 8x12x12 -> 16x8x8, 5x5.
    let conv_shape = Conv2dShape {
        in_channels: 8,
        in_size: [12, 12],
        out_channels: 16,
        kernel: [5, 5],
        stride: [1, 1],
        padding: [0; 4],
    };
    let conv = ConvQ {
        weights: black_box(&w[..16 * 8 * 25]),
        bias: &bias[..16],
        requant: &rq[..16],
        input_zero_point: -128,
        output: OutputQuant::relu(-128),
    };
    let cx = black_box(&w[4096..4096 + 8 * 144]);
    let (mut c_dsp, mut c_ref) = ([0i8; 16 * 64], [0i8; 16 * 64]);
    let conv_macs = (16 * 64 * 8 * 25) as u32;
    let conv_bytes = (16 * 8 * 25 + 12 * 16) as u32;
    measure::paint_stack();
    let r = measure::instructions(|| conv2d_dsp(&conv, &conv_shape, cx, &mut c_dsp));
    let stack = measure::peak_stack();
    measure::report(
        "int8-conv-8x12x12-16x5x5",
        "int8-dsp",
        conv_macs,
        conv_bytes,
        stack,
    );
    t.record(r.is_ok(), "conv2d_dsp ran");
    measure::paint_stack();
    let r = measure::instructions(|| conv2d_scalar(&conv, &conv_shape, cx, &mut c_ref));
    let stack = measure::peak_stack();
    measure::report(
        "int8-conv-8x12x12-16x5x5",
        "int8-scalar",
        conv_macs,
        conv_bytes,
        stack,
    );
    t.record(r.is_ok(), "conv2d_scalar ran");
    t.record(c_dsp == c_ref, "conv 8x12x12 -> 16x8x8: dsp == scalar");
    t.record(DSP_ACTIVE, "the active int8 path is the DSP one");

    // Every length 0..=67 (all tails), five zero points, random accumulators.
    let (mut bad1, mut bad2) = (0u32, 0u32);
    let mut a = [0i8; MAX_LEN];
    let mut b = [0i8; MAX_LEN];
    let mut v = [0i8; MAX_LEN];
    for n in 0..=MAX_LEN {
        for zp in [i8::MIN, -1, 0, 1, i8::MAX] {
            rng.fill(&mut a);
            rng.fill(&mut b);
            rng.fill(&mut v);
            let acc = rng.next() as i32;
            let (a, b, v) = (black_box(&a[..n]), &b[..n], &v[..n]);
            if dot_dsp(a, v, zp, acc) != dot_scalar(a, v, zp, acc) {
                bad1 += 1;
            }
            if dot2_dsp(a, b, v, zp, (acc, !acc)) != dot2_scalar(a, b, v, zp, (acc, !acc)) {
                bad2 += 1;
            }
        }
    }
    t.record(bad1 == 0, "dot: dsp == scalar, lengths 0..=67");
    t.record(bad2 == 0, "dot2: dsp == scalar, lengths 0..=67");

    // Extremes: every product at its largest, accumulators that wrap.
    let lo = [i8::MIN; MAX_LEN];
    let hi = [i8::MAX; MAX_LEN];
    let mut bad = 0u32;
    for acc in [0, i32::MAX - 100_000, i32::MIN + 100_000] {
        for (w, x, zp) in [
            (&lo, &lo, i8::MAX),
            (&hi, &lo, i8::MAX),
            (&lo, &hi, i8::MIN),
        ] {
            let (w, x) = (black_box(&w[..]), black_box(&x[..]));
            if dot_dsp(w, x, zp, acc) != dot_scalar(w, x, zp, acc) {
                bad += 1;
            }
        }
    }
    let wrapped = dot_dsp(black_box(&lo), &lo, i8::MAX, i32::MAX - 100_000);
    t.record(bad == 0, "dot: dsp == scalar on -128/127 and wrapping sums");
    t.record(
        wrapped == (i32::MAX - 100_000).wrapping_add(67 * 32_640),
        "dot wraps modulo 2^32",
    );

    // Dense layers of odd shapes.
    let mut bad = 0u32;
    for (n_in, n_out) in [
        (0, 3),
        (1, 1),
        (3, 2),
        (4, 3),
        (7, 5),
        (8, 1),
        (17, 8),
        (33, 7),
        (64, 10),
        (67, 9),
    ] {
        rng.fill(&mut w[..n_in * n_out]);
        rng.fill(&mut x[..n_in]);
        let layer = DenseQ {
            weights: black_box(&w[..n_in * n_out]),
            bias: &bias[..n_out],
            requant: &rq[..n_out],
            input_zero_point: rng.int8(),
            output: OutputQuant::linear(rng.int8()),
        };
        let (mut p, mut q, mut r) = ([0i8; OUT], [0i8; OUT], [0i8; OUT]);
        let ok_a = dense_dsp(&layer, &x[..n_in], &mut p[..n_out]).is_ok();
        let ok_b = dense_scalar(&layer, &x[..n_in], &mut q[..n_out]).is_ok();
        let ok_c = dense(&layer, &x[..n_in], &mut r[..n_out]).is_ok();
        if !(ok_a && ok_b && ok_c) {
            bad += 1;
        }
        count_mismatches(&p, &q, &mut bad);
        count_mismatches(&r, &q, &mut bad);
        // The same layer packed: the `asm!` loop and the scalar reference.
        let (mut packed, mut folded) = (PackedWeights([0i8; PACKED_MAX]), [0i32; OUT]);
        let len = packed_len(n_out, n_in);
        let ok_pack = pack(&layer, n_in, &mut packed.0[..len], &mut folded[..n_out]).is_ok();
        let packed_layer = DensePackedQ {
            weights: &packed.words()[..len / 4],
            bias: &folded[..n_out],
            requant: layer.requant,
            output: layer.output,
        };
        let mut xs = [0u32; unpacked_len(MAX_LEN)];
        let (mut p, mut r) = ([0i8; OUT], [0i8; OUT]);
        let ok_a = dense_packed(&packed_layer, &x[..n_in], &mut p[..n_out], &mut xs).is_ok();
        let ok_b = dense_packed_scalar(&packed_layer, &x[..n_in], &mut r[..n_out]).is_ok();
        if !(ok_pack && ok_a && ok_b) {
            bad += 1;
        }
        count_mismatches(&p, &q, &mut bad);
        count_mismatches(&r, &q, &mut bad);
    }
    t.record(
        bad == 0,
        "dense: dsp == active == packed (asm, scalar) == scalar on 10 odd shapes (0..=67 inputs)",
    );

    // Convolutions with padding and strides (kernel rows of 1..=5 taps).
    let mut bad = 0u32;
    for (c, h, wd, k, s, p) in [
        (1, 9, 9, 3, 1, 1),
        (2, 8, 7, 5, 2, 2),
        (3, 6, 11, 4, 1, 0),
        (1, 5, 5, 1, 1, 0),
        (2, 1, 19, 3, 2, 1),
    ] {
        let shape = Conv2dShape {
            in_channels: c,
            in_size: [h, wd],
            out_channels: 3,
            kernel: [k.min(h), k],
            stride: [s, s],
            padding: [p.min(h - 1), p.min(h - 1), p, p],
        };
        let (Some(n_in), Some(n_w), Ok(n_out)) =
            (shape.input_len(), shape.weight_len(), shape.output_len())
        else {
            bad += 1;
            continue;
        };
        rng.fill(&mut w[..n_w]);
        rng.fill(&mut x[..n_in]);
        let layer = ConvQ {
            weights: black_box(&w[..n_w]),
            bias: &bias[..3],
            requant: &rq[..3],
            input_zero_point: rng.int8(),
            output: OutputQuant::relu(rng.int8()),
        };
        let (mut a, mut b) = ([0i8; 512], [0i8; 512]);
        let ok_a = conv2d_dsp(&layer, &shape, &x[..n_in], &mut a[..n_out]).is_ok();
        let ok_b = conv2d_scalar(&layer, &shape, &x[..n_in], &mut b[..n_out]).is_ok();
        if !(ok_a && ok_b) {
            bad += 1;
        }
        count_mismatches(&a, &b, &mut bad);
    }
    t.record(bad == 0, "conv2d: dsp == scalar on 5 shapes");
    t.finish()
}
