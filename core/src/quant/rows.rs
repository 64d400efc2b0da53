//! int8 dense on the Cortex-M DSP extension with the whole inner loop in one
//! `asm!` block (`cfg(myelin_arm_dsp)`): two output rows per pass over the
//! input, post-incremented loads, 17 instructions per 8 multiply-accumulates
//! where the loop built from [`dot2_dsp`](super::dot::dot2_dsp)'s per-step
//! intrinsics takes 20. Same arithmetic as every other variant: `SMLAD`
//! pairs the same products and integer sums do not depend on the order, so
//! outputs equal [`dense_scalar`](super::int8::dense_scalar)'s bit for bit
//! (checked on target by the firmware's `int8_dsp` and MNIST programs).

use super::fixed::{OutputQuant, Requant};
use super::int8::DenseQ;
use crate::Error;
use core::arch::asm;

/// Both 16-bit lanes hold `-zero_point`, added to the unpacked inputs.
fn packed_offset(x_zero_point: i8) -> u32 {
    let lane = u32::from((-i16::from(x_zero_point)) as u16);
    lane | (lane << 16)
}

/// Adds `sum(w0[i] * (x[i] - zp))` and the same for `w1` to `acc` over the
/// first `4 * blocks` elements, `offset` being [`packed_offset`]`(zp)`.
///
/// # Safety
/// `blocks > 0`, and `x`, `w0`, `w1` each point at `4 * blocks` readable bytes.
#[inline(always)]
unsafe fn dot2_blocks(
    x: *const i8,
    w0: *const i8,
    w1: *const i8,
    blocks: usize,
    offset: u32,
    acc: (i32, i32),
) -> (i32, i32) {
    let (mut a0, mut a1) = acc;
    // SAFETY: the caller guarantees `blocks > 0` (the loop runs at least once)
    // and `4 * blocks` readable bytes behind each pointer; the loop reads
    // exactly those with unaligned-capable `LDR` (Armv7E-M/Armv8-M Main) and
    // writes only the declared registers and the flags (`SMLAD` may set the
    // sticky Q bit, which no Rust code reads).
    unsafe {
        asm!(
            "2:",
            "ldr {xw}, [{px}], #4",
            "sxtb16 {x13}, {xw}, ror #8",
            "sxtb16 {xw}, {xw}",
            "sadd16 {x13}, {x13}, {off}",
            "sadd16 {xw}, {xw}, {off}",
            "ldr {t}, [{p0}], #4",
            "sxtb16 {u}, {t}",
            "sxtb16 {t}, {t}, ror #8",
            "smlad {a0}, {u}, {xw}, {a0}",
            "smlad {a0}, {t}, {x13}, {a0}",
            "ldr {t}, [{p1}], #4",
            "sxtb16 {u}, {t}",
            "sxtb16 {t}, {t}, ror #8",
            "smlad {a1}, {u}, {xw}, {a1}",
            "smlad {a1}, {t}, {x13}, {a1}",
            "subs {n}, {n}, #1",
            "bne 2b",
            px = inout(reg) x => _,
            p0 = inout(reg) w0 => _,
            p1 = inout(reg) w1 => _,
            n = inout(reg) blocks => _,
            off = in(reg) offset,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            xw = out(reg) _,
            x13 = out(reg) _,
            t = out(reg) _,
            u = out(reg) _,
            options(nostack, readonly),
        );
    }
    (a0, a1)
}

/// [`dot2_blocks`] over inputs already unpacked: per block of four, the
/// words `(x0 - zp, x2 - zp)` and `(x1 - zp, x3 - zp)`, two blocks a pass
/// (12 instructions per 8 multiply-accumulates).
///
/// # Safety
/// `blocks > 0`; `xs` points at `2 * blocks` readable, 8-byte aligned words
/// and `w0`, `w1` each at `4 * blocks` readable bytes.
#[inline(always)]
unsafe fn dot2_unpacked(
    xs: *const u32,
    w0: *const i8,
    w1: *const i8,
    blocks: usize,
    acc: (i32, i32),
) -> (i32, i32) {
    let (mut a0, mut a1) = acc;
    // SAFETY: as for `dot2_blocks`; `LDRD` needs the 8-byte alignment the
    // caller guarantees.
    unsafe {
        macro_rules! block {
            () => {
                concat!(
                    "ldrd {x02}, {x13}, [{px}], #8\n",
                    "ldr {t}, [{p0}], #4\n",
                    "sxtb16 {u}, {t}\n",
                    "sxtb16 {t}, {t}, ror #8\n",
                    "smlad {a0}, {u}, {x02}, {a0}\n",
                    "smlad {a0}, {t}, {x13}, {a0}\n",
                    "ldr {t}, [{p1}], #4\n",
                    "sxtb16 {u}, {t}\n",
                    "sxtb16 {t}, {t}, ror #8\n",
                    "smlad {a1}, {u}, {x02}, {a1}\n",
                    "smlad {a1}, {t}, {x13}, {a1}\n",
                )
            };
        }
        asm!(
            // An odd block first, then two blocks a pass.
            "lsrs {n}, {n}, #1",
            "bcc 3f",
            block!(),
            "3:",
            "cmp {n}, #0",
            "beq 4f",
            "2:",
            block!(),
            block!(),
            "subs {n}, {n}, #1",
            "bne 2b",
            "4:",
            px = inout(reg) xs => _,
            p0 = inout(reg) w0 => _,
            p1 = inout(reg) w1 => _,
            n = inout(reg) blocks => _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            x02 = out(reg) _,
            x13 = out(reg) _,
            t = out(reg) _,
            u = out(reg) _,
            options(nostack, readonly),
        );
    }
    (a0, a1)
}

/// Inputs unpacked for [`dot2_unpacked`], 8-byte aligned for `LDRD`.
#[repr(C, align(8))]
struct Unpacked<const N: usize>([[u32; 2]; N]);

/// Blocks of four inputs the small unpacked buffer holds.
const SMALL_BLOCKS: usize = 32;
/// Blocks of four inputs the large unpacked buffer holds; longer inputs
/// unpack as they go ([`dot2_blocks`]).
const LARGE_BLOCKS: usize = 256;

/// `sum(w[i] * (x[i] - zp))` over the elements past the last whole block, added to `acc`.
#[inline(always)]
fn tail(w: &[i8], x: &[i8], zp: i8, acc: i32) -> i32 {
    let zp = i32::from(zp);
    w.iter().zip(x).fold(acc, |acc, (&w, &x)| {
        acc.wrapping_add(i32::from(w) * (i32::from(x) - zp))
    })
}

/// int8 dense forward, two rows per pass (the layer kernel
/// [`int8::dense`](super::int8::dense) uses on targets with the DSP extension).
///
/// Nothing here can panic (no indexing, no assertions): a program that runs
/// only this kernel links no panic-message formatting.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the layer's tensors do not fit `x.len()`
/// inputs and `y.len()` outputs.
pub(crate) fn dense(layer: &DenseQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    dense_requantized(layer, x, y, OutputQuant::requantize)
}

/// [`dense`] with [`OutputQuant::requantize_single_rounding`] (LiteRT's
/// `FULLY_CONNECTED`).
///
/// # Errors
/// As [`dense`].
pub(crate) fn dense_single_rounding(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    dense_requantized(layer, x, y, OutputQuant::requantize_single_rounding)
}

/// [`dense_requantized_with`] with the inputs unpacked once into a stack
/// buffer of the smallest size that holds them (each size its own frame).
#[inline(always)]
fn dense_requantized(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
    requantize: impl Fn(OutputQuant, i32, Requant) -> i8,
) -> Result<(), Error> {
    let blocks = x.len() / 4;
    if blocks <= SMALL_BLOCKS {
        unpacked_in::<SMALL_BLOCKS, _>(layer, x, y, &requantize)
    } else if blocks <= LARGE_BLOCKS {
        unpacked_in::<LARGE_BLOCKS, _>(layer, x, y, &requantize)
    } else {
        dense_requantized_with(layer, x, y, None, requantize)
    }
}

#[inline(never)]
fn unpacked_in<const N: usize, F: Fn(OutputQuant, i32, Requant) -> i8>(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
    requantize: &F,
) -> Result<(), Error> {
    let mut buf = Unpacked([[0u32; 2]; N]);
    dense_unpacked(layer, x, y, &mut buf.0, requantize)
}

/// [`dense_requantized_with`] after unpacking `x` into `buf` (one copy of the
/// code for every buffer size).
#[inline(never)]
fn dense_unpacked<F: Fn(OutputQuant, i32, Requant) -> i8>(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
    buf: &mut [[u32; 2]],
    requantize: &F,
) -> Result<(), Error> {
    let blocks = (x.len() / 4).min(buf.len());
    let zp = i16::from(layer.input_zero_point);
    let lanes = |lo: i8, hi: i8| {
        u32::from((i16::from(lo) - zp) as u16) | (u32::from((i16::from(hi) - zp) as u16) << 16)
    };
    for (d, v) in buf.iter_mut().zip(x.chunks_exact(4)) {
        *d = [lanes(v[0], v[2]), lanes(v[1], v[3])];
    }
    let xs = buf.get(..blocks).unwrap_or_default();
    dense_requantized_with(layer, x, y, Some(xs), requantize)
}

/// The two-row dense; `xs` holds the whole blocks of `x` unpacked, if they
/// fit a buffer.
#[inline(always)]
fn dense_requantized_with(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
    xs: Option<&[[u32; 2]]>,
    requantize: impl Fn(OutputQuant, i32, Requant) -> i8,
) -> Result<(), Error> {
    let n = x.len();
    layer.check(n, y.len())?;
    let zp = layer.input_zero_point;
    let out = layer.output;
    let rq = |acc: i32, m: Requant| requantize(out, acc, m);
    // One multiplier for the whole tensor, or one per output (checked above).
    let requant = |o: usize| {
        let k = if layer.requant.len() == 1 { 0 } else { o };
        layer.requant.get(k).copied().unwrap_or_default()
    };
    let bias = |o: usize| layer.bias.get(o).copied().unwrap_or(0);
    let n4 = n & !3;
    let offset = packed_offset(zp);
    let (x4, x_tail) = x.split_at(n4);
    // Rows `o` and `o + 1` (`o + 1 == o` for a last, odd row: computed twice,
    // kept once).
    let pair = |o: usize, w0: &[i8], w1: &[i8]| -> (i32, i32) {
        let mut acc = (bias(o), bias(o + 1));
        if n4 > 0 && w0.len() == n && w1.len() == n {
            acc = match xs {
                // SAFETY: `xs` holds the `n4 / 4 > 0` blocks of `x4`, 8-byte
                // aligned (`Unpacked`); `w0`, `w1` hold `n >= n4` bytes each.
                Some(xs) if xs.len() == n4 / 4 => unsafe {
                    dot2_unpacked(xs.as_ptr().cast(), w0.as_ptr(), w1.as_ptr(), n4 / 4, acc)
                },
                // SAFETY: `n4 / 4 > 0` blocks, and `x`, `w0`, `w1` hold `n >= n4` bytes each.
                _ => unsafe {
                    dot2_blocks(x4.as_ptr(), w0.as_ptr(), w1.as_ptr(), n4 / 4, offset, acc)
                },
            };
        }
        (
            tail(w0.get(n4..).unwrap_or_default(), x_tail, zp, acc.0),
            tail(w1.get(n4..).unwrap_or_default(), x_tail, zp, acc.1),
        )
    };
    if n == 0 {
        for (o, y) in y.iter_mut().enumerate() {
            *y = rq(bias(o), requant(o));
        }
        return Ok(());
    }
    let mut rows = layer.weights.chunks_exact(n);
    let mut pairs = y.chunks_exact_mut(2);
    let mut o = 0;
    for yo in &mut pairs {
        let (Some(w0), Some(w1)) = (rows.next(), rows.next()) else {
            break;
        };
        let (a0, a1) = pair(o, w0, w1);
        if let [y0, y1] = yo {
            *y0 = rq(a0, requant(o));
            *y1 = rq(a1, requant(o + 1));
        }
        o += 2;
    }
    if let ([y_last], Some(w)) = (pairs.into_remainder(), rows.next()) {
        let (acc, _) = pair(o, w, w);
        *y_last = rq(acc, requant(o));
    }
    Ok(())
}
