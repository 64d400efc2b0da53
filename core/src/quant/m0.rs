//! int8 convolution for cores without the DSP extension (Armv6-M:
//! Cortex-M0/M0+), built around the 3-instruction multiply-accumulate
//! `LDRB; MULS; ADD` those cores allow.
//!
//! The algorithm, for convolutions with horizontal stride 1:
//!
//! - Output positions go in blocks of [`P`] neighbours along a row. For each
//!   output row, the scratch holds, per input channel `c` and kernel row
//!   `ky`, the input row under the blocks (as many as fit in
//!   [`SCRATCH_MAX`] bytes, usually the whole row), stored biased as
//!   `u = x + 128` (`x ^ 0x80`, so the byte is unsigned and `LDRB` loads it)
//!   and padded with `zero_point + 128`. Tap `kx` of position `p` is byte
//!   `kx + p` from the block's start: the windows overlap in place, and
//!   every filter reads the same scratch.
//! - Per filter and block, each weight is loaded once and multiplied with
//!   the `P` bytes it meets, into `P` accumulators.
//! - The zero point comes out exactly:
//!   `sum(w * (x - zp)) = sum(w * u) - (128 + zp) * sum(w)`, with `sum(w)`
//!   taken once per filter per layer call, and padded taps add
//!   `w * (zp + 128) - (128 + zp) * w = 0`.
//! - Outputs go through a [`Requantizer`] prepared once per filter.
//!
//! Every sum is in wrapping `i32`, so the result equals
//! [`conv2d_scalar`](super::int8::conv2d_scalar)'s bit for bit, overflow
//! included. [`Portable`] is the inner loop in Rust (every target; the host
//! tests it through [`conv2d_blocked`](super::int8::conv2d_blocked)); on
//! Armv6-M (`cfg(myelin_armv6m)`) `Asm` runs 5-wide kernel rows in
//! assembly, 23 instructions per weight and 7 products.

use super::fixed::{Requantizer, channel_requant};
use super::int8::{Conv2dShape, ConvQ, folded_bias};
use crate::Error;

/// Output positions per block (accumulators of the inner loop).
pub(crate) const P: usize = 7;

/// Largest scratch (`IN x KH` rows of inputs, biased) the kernel gathers;
/// layers whose one block needs more take another kernel.
const SCRATCH_MAX: usize = 768;

/// Filters whose [`Stage`] is kept at once.
const FILTERS_AT_ONCE: usize = 16;

/// The inner loop over the kernel rows of one filter:
/// `acc[p] += sum(w[r * kw + kx] * u[r * stride + kx + p])`, wrapping, for
/// `r < rows`, `kx < kw`, `p < P`.
pub(crate) trait Rows {
    /// Adds the products of `rows` kernel rows of `w` (`rows * kw` weights)
    /// with the scratch rows of `u`, `stride` bytes apart.
    fn rows(acc: &mut [i32; P], w: &[i8], u: &[u8], rows: usize, kw: usize, stride: usize);
}

/// [`Rows`] in portable Rust.
pub(crate) struct Portable;

impl Rows for Portable {
    #[inline]
    fn rows(acc: &mut [i32; P], w: &[i8], u: &[u8], rows: usize, kw: usize, stride: usize) {
        for r in 0..rows {
            let ur = &u[r * stride..];
            for (kx, &wv) in w[r * kw..(r + 1) * kw].iter().enumerate() {
                let wv = i32::from(wv);
                for (a, &uv) in acc.iter_mut().zip(&ur[kx..kx + P]) {
                    *a = a.wrapping_add(wv * i32::from(uv));
                }
            }
        }
    }
}

/// Whether [`conv2d`] takes `s`: stride 1 along the width, and one block's
/// scratch (`IN x KH x (P + KW - 1)` bytes) within [`SCRATCH_MAX`]. The
/// shape must have passed [`ConvQ::check`].
pub(crate) fn fits(s: &Conv2dShape) -> bool {
    let [kh, kw] = s.kernel;
    s.stride[1] == 1
        && (P + kw - 1)
            .checked_mul(kh)
            .and_then(|n| n.checked_mul(s.in_channels))
            .is_some_and(|n| n <= SCRATCH_MAX)
}

/// The blocked convolution. The caller has checked the layer and that the
/// shape [`fits`].
///
/// Per output row, the scratch holds the biased input rows under as many
/// neighbouring blocks as fit (the whole row when it can), gathered once and
/// read by every filter.
pub(crate) fn conv2d<R: Rows>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    let [out_h, out_w] = s.out_size()?;
    let [kh, kw] = s.kernel;
    let rows = s.in_channels * kh;
    let filter_len = rows * kw;
    let plane = out_h * out_w;
    let blocks = out_w.div_ceil(P);
    // Blocks gathered at once: rows * (n * P + kw - 1) <= SCRATCH_MAX.
    let at_once = ((SCRATCH_MAX / rows - (kw - 1)) / P).clamp(1, blocks);
    let zp = layer.input_zero_point;
    // x - zp = u - (128 + zp).
    let offset = 128 + i32::from(zp);
    let mut buf = [0u8; SCRATCH_MAX];
    let mut stages = [Stage::default(); FILTERS_AT_ONCE];
    let mut first = 0;
    while first < s.out_channels {
        let count = FILTERS_AT_ONCE.min(s.out_channels - first);
        let weights = &layer.weights[first * filter_len..(first + count) * filter_len];
        for (i, (stage, filter)) in stages
            .iter_mut()
            .zip(weights.chunks_exact(filter_len))
            .enumerate()
        {
            let bias = folded_bias(layer.bias[first + i], filter, offset);
            let m = channel_requant(layer.requant, first + i);
            *stage = Stage {
                bias,
                out: Requantizer::new(m, layer.output),
            };
        }
        for oy in 0..out_h {
            let mut block = 0;
            while block < blocks {
                let n = at_once.min(blocks - block);
                let ox0 = block * P;
                let stride = n * P + kw - 1;
                let scratch = &mut buf[..rows * stride];
                gather(scratch, s, x, zp, oy, ox0, stride);
                let scratch = &*scratch;
                for (i, (filter, stage)) in
                    weights.chunks_exact(filter_len).zip(&stages).enumerate()
                {
                    let out = &mut y[(first + i) * plane + oy * out_w..][..out_w];
                    for k in 0..n {
                        let ox = ox0 + k * P;
                        let mut acc = [stage.bias; P];
                        R::rows(&mut acc, filter, &scratch[k * P..], rows, kw, stride);
                        stage.store(&acc, &mut out[ox..out_w.min(ox + P)]);
                    }
                }
                block += n;
            }
        }
        first += count;
    }
    Ok(())
}

/// One filter's bias (zero point folded in) and output stage.
#[derive(Debug, Clone, Copy, Default)]
struct Stage {
    /// `bias - (128 + zp) * sum(w)`: the accumulators' start.
    bias: i32,
    out: Requantizer,
}

impl Stage {
    /// Requantizes the first `y.len()` accumulators into `y`.
    #[inline(never)]
    fn store(&self, acc: &[i32; P], y: &mut [i8]) {
        for (d, &a) in y.iter_mut().zip(acc) {
            *d = self.out.requantize(a);
        }
    }
}

/// Fills the scratch rows (`stride` bytes each) for output row `oy` from
/// output column `ox`: biased inputs, `zp + 128` where the windows leave the
/// input.
fn gather(
    scratch: &mut [u8],
    s: &Conv2dShape,
    x: &[i8],
    zp: i8,
    oy: usize,
    ox: usize,
    stride: usize,
) {
    let [in_h, in_w] = s.in_size;
    let [kh, _] = s.kernel;
    let [ph, _, pw, _] = s.padding;
    let pad = (zp as u8) ^ 0x80;
    // Scratch column j holds input column ox + j - pw.
    let lo = pw.saturating_sub(ox).min(stride);
    let hi = (in_w + pw).saturating_sub(ox).min(stride).max(lo);
    let top = oy * s.stride[0];
    let (mut ky, mut plane) = (0, 0);
    for row in scratch.chunks_exact_mut(stride) {
        let iy = (top + ky).wrapping_sub(ph);
        if iy < in_h && lo < hi {
            let x0 = plane + iy * in_w + ox + lo - pw;
            let (head, rest) = row.split_at_mut(lo);
            let (mid, tail) = rest.split_at_mut(hi - lo);
            for (d, &v) in mid.iter_mut().zip(&x[x0..x0 + (hi - lo)]) {
                *d = (v as u8) ^ 0x80;
            }
            // Short runs: element loops beat memset calls.
            for d in head.iter_mut().chain(tail) {
                *d = pad;
            }
        } else {
            for d in row.iter_mut() {
                *d = pad;
            }
        }
        ky += 1;
        if ky == kh {
            ky = 0;
            plane += in_h * in_w;
        }
    }
}

/// [`Rows`] with 5-wide kernel rows in Armv6-M assembly, [`Portable`] for
/// other widths.
#[cfg(myelin_armv6m)]
pub(crate) struct Asm;

#[cfg(myelin_armv6m)]
impl Rows for Asm {
    #[inline]
    fn rows(acc: &mut [i32; P], w: &[i8], u: &[u8], rows: usize, kw: usize, stride: usize) {
        if kw == 5
            && rows > 0
            && stride < 1 << 16
            && rows < 1 << 16
            && w.len() >= rows * 5
            && u.len() >= (rows - 1) * stride + P + 4
        {
            // SAFETY: `acc` is 7 writable `i32`s, `w` holds `5 * rows` bytes
            // and `u` the `rows` scratch rows `stride` apart, 11 bytes each:
            // exactly what `rows5` reads; both counts fit 16 bits.
            unsafe {
                rows5(
                    acc.as_mut_ptr(),
                    w.as_ptr(),
                    u.as_ptr(),
                    (rows | stride << 16) as u32,
                );
            }
        } else {
            Portable::rows(acc, w, u, rows, kw, stride);
        }
    }
}

/// [`Rows`] for `kw = 5`: `acc` (7 `i32`s) += the products of `rows` kernel
/// rows `w` (5 bytes each) with the scratch rows of `u`, where
/// `rows_stride = rows | stride << 16`.
///
/// Per weight: `LDRB; SXTB`, then `LDRB; MULS; ADD` for each of the 7
/// positions; per row, 4 instructions of loop. Accumulators in r4-r10.
///
/// # Safety
/// `rows > 0`; `acc` points at 7 writable `i32`s, `w` at `5 * rows`
/// readable bytes, and `u + r * stride` at 11 readable bytes for each
/// `r < rows`.
#[cfg(myelin_armv6m)]
#[unsafe(naked)]
unsafe extern "C" fn rows5(acc: *mut i32, w: *const i8, u: *const u8, rows_stride: u32) {
    core::arch::naked_asm!(
        r"
        push {{r4-r7, lr}}
        mov r4, r8
        mov r5, r9
        mov r6, r10
        mov r7, r11
        push {{r4-r7}}
        push {{r0}}
        lsrs r4, r3, #16
        mov r12, r4
        uxth r3, r3
        movs r4, #5
        muls r3, r4, r3
        adds r3, r1, r3
        mov r11, r3
        ldr r3, [r0, #16]
        mov r8, r3
        ldr r3, [r0, #20]
        mov r9, r3
        ldr r3, [r0, #24]
        mov r10, r3
        ldr r7, [r0, #12]
        ldr r6, [r0, #8]
        ldr r5, [r0, #4]
        ldr r4, [r0, #0]
    1:
        .irp kx, 0, 1, 2, 3, 4
        ldrb r3, [r1, #\kx]
        sxtb r3, r3
        ldrb r0, [r2, #(\kx + 0)]
        muls r0, r3, r0
        adds r4, r4, r0
        ldrb r0, [r2, #(\kx + 1)]
        muls r0, r3, r0
        adds r5, r5, r0
        ldrb r0, [r2, #(\kx + 2)]
        muls r0, r3, r0
        adds r6, r6, r0
        ldrb r0, [r2, #(\kx + 3)]
        muls r0, r3, r0
        adds r7, r7, r0
        ldrb r0, [r2, #(\kx + 4)]
        muls r0, r3, r0
        add r8, r0
        ldrb r0, [r2, #(\kx + 5)]
        muls r0, r3, r0
        add r9, r0
        ldrb r0, [r2, #(\kx + 6)]
        muls r0, r3, r0
        add r10, r0
        .endr
        adds r1, #5
        add r2, r12
        cmp r1, r11
        bne 1b
        pop {{r0}}
        str r4, [r0, #0]
        str r5, [r0, #4]
        str r6, [r0, #8]
        str r7, [r0, #12]
        mov r3, r8
        str r3, [r0, #16]
        mov r3, r9
        str r3, [r0, #20]
        mov r3, r10
        str r3, [r0, #24]
        pop {{r4-r7}}
        mov r8, r4
        mov r9, r5
        mov r10, r6
        mov r11, r7
        pop {{r4-r7, pc}}
        "
    )
}
