//! Program bodies shared by every board: each board's `src/bin/NAME.rs` is a
//! two-line `#[entry]` that calls the function of the same name here.
//!
//! Programs whose name starts with `fail_` must fail: `cargo xtask qemu`
//! requires them to exit non-zero (not by its timeout), which proves that a
//! panic, a fault or a failed check can neither hang nor pass.

use crate::{Checks, check, measure};
use core::hint::black_box;
use myelin_app::{demo, demo_q};
use myelin_core::kernels;

/// `myelin_core::kernels::{dot, gemv}` on fixed data with known answers, and
/// against the scalar kernels on random data.
pub fn kernels() -> ! {
    let mut t = Checks::new();
    let a: [f32; 8] = black_box([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let b: [f32; 8] = black_box([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
    let d = kernels::dot(&a, &b);
    defmt::info!("dot(a, b) = {}", d);
    check!(t, d == 120.0);
    let d7 = kernels::dot(&a[..7], &b[..7]);
    check!(t, d7 == 112.0);
    check!(t, kernels::dot(&[], &[]) == 0.0);

    let w: [f32; 12] = black_box([
        1.0, 2.0, 3.0, 4.0, //
        0.0, -1.0, 0.0, 1.0, //
        0.5, 0.5, 0.5, 0.5,
    ]);
    let x: [f32; 4] = black_box([1.0, 2.0, 3.0, 4.0]);
    let bias: [f32; 3] = black_box([1.0, 0.0, -1.0]);
    let mut y = [0.0; 3];
    kernels::gemv(&w, &x, &bias, &mut y);
    defmt::info!("gemv(W, x, b) = {}", y);
    t.same_f32("gemv", &y, &[31.0, 2.0, 4.0]);
    dispatched_vs_scalar(&mut t);
    t.finish()
}

/// `kernels::{dot, gemv}` (the target's fastest variant: `VFMA` on Cortex-M
/// cores with an FPU) against `kernels::scalar` on random data of every length
/// from 0 to 67, within the rounding both can differ by: `1e-6` of the sum of
/// the products' magnitudes (plus the smallest normal).
fn dispatched_vs_scalar(t: &mut Checks) {
    use myelin_core::train::Rng;
    let mut rng = Rng::new(0x5eed);
    let mut a = [0.0f32; 67];
    let mut b = [0.0f32; 67];
    let (mut dot_ok, mut gemv_ok) = (true, true);
    for n in 0..=a.len() {
        for v in a.iter_mut().chain(b.iter_mut()) {
            *v = rng.range(-4.0, 4.0);
        }
        let (a, b) = (black_box(&a[..n]), black_box(&b[..n]));
        let bound = |x: &[f32], y: &[f32]| {
            x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum::<f32>() * 1e-6 + f32::MIN_POSITIVE
        };
        let (fast, slow) = (kernels::dot(a, b), kernels::scalar::dot(a, b));
        if (fast - slow).abs() > bound(a, b) {
            defmt::error!("dot, n = {}: {} vs scalar {}", n, fast, slow);
            dot_ok = false;
        }
        // Two rows: a and b; x = b; bias 0.5, -0.5.
        let mut w = [0.0f32; 2 * 67];
        w[..n].copy_from_slice(a);
        w[n..2 * n].copy_from_slice(b);
        let (mut y, mut ys) = ([0.0f32; 2], [0.0f32; 2]);
        kernels::gemv(&w[..2 * n], b, &[0.5, -0.5], &mut y);
        kernels::scalar::gemv(&w[..2 * n], b, &[0.5, -0.5], &mut ys);
        let rows = [a, b];
        for k in 0..2 {
            if (y[k] - ys[k]).abs() > bound(rows[k], b) + 1e-6 {
                defmt::error!("gemv row {}, n = {}: {} vs scalar {}", k, n, y[k], ys[k]);
                gemv_ok = false;
            }
        }
    }
    t.record(dot_ok, "dot == scalar dot (within rounding), n = 0..=67");
    t.record(gemv_ok, "gemv == scalar gemv (within rounding), n = 0..=67");
}

/// The demo dense network (`myelin_app::demo`) on every built-in sample,
/// compared bit for bit with its integer reference. The first inference is
/// measured (instructions and peak stack) for `cargo xtask report`.
pub fn dense() -> ! {
    measure::paint_stack();
    let mut t = Checks::new();
    let mut hidden = [0.0; demo::HIDDEN];
    let mut logits = [0.0; demo::OUT];
    let x = black_box(demo::input(0));
    measure::instructions(|| demo::NET.forward(&x, &mut hidden, &mut logits));
    let stack = measure::peak_stack();
    measure::report(
        "dense-32x64x10",
        "f32",
        demo::MACS as u32,
        demo::WEIGHTS_BYTES as u32,
        stack,
    );
    t.record(
        demo::matches_reference(0, &logits),
        "measured logits == integer reference",
    );
    for sample in 0..demo::SAMPLES {
        let x = black_box(demo::input(sample));
        demo::NET.forward(&x, &mut hidden, &mut logits);
        let class = demo::argmax(&logits);
        defmt::info!("sample {}: class {} logits {}", sample, class, logits);
        t.record(
            demo::matches_reference(sample, &logits),
            "logits == integer reference",
        );
        t.record(class == demo::reference_class(sample), "class == reference");
    }
    t.finish()
}

/// The int8 demo network (`myelin_app::demo_q`) on every built-in sample:
/// the target's fastest int8 kernels (`SMLAD` where the core has DSP) against
/// the scalar kernels and a plain `i32` reference, bit for bit. The first
/// inference is measured for `cargo xtask report`.
pub fn int8_dense() -> ! {
    measure::paint_stack();
    let mut t = Checks::new();
    let mut hidden = [0i8; demo_q::HIDDEN];
    let mut out = [0i8; demo_q::OUT];
    let x = black_box(demo_q::input(0));
    let ran = measure::instructions(|| demo_q::NET_Q.forward(&x, &mut hidden, &mut out));
    let stack = measure::peak_stack();
    measure::report(
        "dense-q-128x64x10",
        "int8",
        demo_q::MACS as u32,
        demo_q::WEIGHTS_BYTES as u32,
        stack,
    );
    t.record(ran.is_ok(), "measured inference ran");
    t.record(out == demo_q::reference(0), "measured outputs == reference");
    for sample in 0..demo_q::SAMPLES {
        let x = black_box(demo_q::input(sample));
        let fast = demo_q::NET_Q.forward(&x, &mut hidden, &mut out);
        let (mut hidden_s, mut out_s) = ([0i8; demo_q::HIDDEN], [0i8; demo_q::OUT]);
        let scalar = demo_q::NET_Q.forward_scalar(&x, &mut hidden_s, &mut out_s);
        defmt::info!("sample {}: outputs {}", sample, out);
        t.record(fast.is_ok() && scalar.is_ok(), "both variants ran");
        t.record(
            hidden == hidden_s && out == out_s,
            "fast kernels == scalar kernels",
        );
        t.record(out == demo_q::reference(sample), "outputs == i32 reference");
    }
    t.finish()
}

/// What every measured program carries besides its model: start-up, defmt
/// over semihosting, stack painting, one measured call (empty here) with its
/// report line, and the check harness. Its `code` figure in `cargo xtask
/// report` is the part of a model program's code that is not the model's
/// runtime.
pub fn baseline() -> ! {
    measure::paint_stack();
    let mut t = Checks::new();
    let ran: Result<(), myelin_core::Error> = measure::instructions(|| black_box(Ok(())));
    let stack = measure::peak_stack();
    measure::ArenaReport {
        model: "baseline",
        dtype: "none",
        macs: 0,
        weights_bytes: 0,
        data_bytes: 0,
        stack_bytes: stack,
        arena_bytes: 0,
        arena_lower_bound: 0,
        arena_in_place_bound: 0,
    }
    .log();
    t.record(ran.is_ok(), "measured call ran");
    t.record(stack > 0, "peak stack measured");
    t.finish()
}

/// Must fail: one check with a wrong expected value.
pub fn fail_check() -> ! {
    let mut t = Checks::new();
    let d = kernels::dot(&black_box([1.0, 2.0]), &black_box([3.0, 4.0]));
    check!(t, d == 12.0);
    t.finish()
}

/// Must fail: a kernel called with mismatched lengths panics.
pub fn fail_panic() -> ! {
    let a = black_box([1.0f32; 4]);
    let b = black_box([1.0f32; 3]);
    let d = kernels::dot(&a, &b);
    defmt::error!("dot of mismatched lengths returned {}", d);
    crate::exit_success()
}

/// Must fail: an undefined instruction escalates to `HardFault`.
pub fn fail_hardfault() -> ! {
    cortex_m::asm::udf()
}
