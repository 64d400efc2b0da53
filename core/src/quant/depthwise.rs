//! int8 depthwise convolution: every output channel filters one input
//! channel (groups = input channels), as TFLite's `DEPTHWISE_CONV_2D`.
//!
//! Output channel `o` reads input channel `o / M`, `M = OUT / IN` the channel
//! multiplier; weights are `OUT x 1 x KH x KW`. Each channel is an ordinary
//! one-channel convolution, computed by the int8 convolution's row kernel
//! (the scalar reference, and microcontrollers). On 64-bit hosts an output
//! row is accumulated whole instead: one pass over an input row per tap,
//! which the compiler vectorizes (with AVX2 when the CPU has it). The sums
//! are the same exact products added modulo `2^32` in another order, so the
//! outputs are the reference's bit for bit. On DSP cores 3x3 filters run
//! over a zero-padded `i16` copy of each input channel: whole output rows
//! at a time in one `asm!` loop (19 instructions per output), then one
//! requantization loop per channel.

use super::dot::{self, DotKernel, DualMac};
use super::fixed::{Requant64, channel_requant};
use super::int8::{Conv2dShape, ConvQ, check_requant, conv2d_rows, expect_len};
use crate::Error;

/// Largest padded plane (`i16` values) the 3x3 path holds on the stack.
const PLANE_MAX: usize = 1024;
/// Planes up to this size use a smaller buffer (and stack frame).
const PLANE_SMALL: usize = 256;

/// Checks a depthwise layer and its tensor lengths against `shape`
/// (`shape.out_channels` a multiple of `shape.in_channels`).
///
/// # Errors
/// [`Error::InvalidShape`] for an unusable shape or a channel count that is
/// not a multiple of the input's, [`Error::ShapeMismatch`] naming the first
/// tensor that does not fit.
pub fn check(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x_len: usize,
    y_len: usize,
) -> Result<(), Error> {
    let out_len = shape.output_len()?;
    if !shape.out_channels.is_multiple_of(shape.in_channels) {
        return Err(Error::InvalidShape {
            what: "depthwise output channels not a multiple of the input channels",
        });
    }
    expect_len(x_len, shape.input_len())?;
    expect_len(y_len, Some(out_len))?;
    let taps = shape.kernel[0].checked_mul(shape.kernel[1]);
    expect_len(
        layer.weights.len(),
        taps.and_then(|t| t.checked_mul(shape.out_channels)),
    )?;
    expect_len(layer.bias.len(), Some(shape.out_channels))?;
    check_requant(layer.requant, shape.out_channels)
}

/// int8 depthwise convolution with the fastest inner product on this target.
///
/// # Errors
/// As [`check`].
pub fn depthwise_conv2d(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    #[cfg(myelin_arm_dsp)]
    {
        check(layer, shape, x.len(), y.len())?;
        if let Some(len) = padded_len(shape) {
            return dw3x3::<dot::arm::Dsp>(layer, shape, len, x, y);
        }
    }
    #[cfg(target_pointer_width = "64")]
    if shape.out_size().is_ok_and(|[_, w]| w <= ROW_MAX) {
        check(layer, shape, x.len(), y.len())?;
        #[cfg(target_arch = "x86_64")]
        if dot::x86_level() != dot::X86Level::Scalar {
            // SAFETY: `x86_level` confirmed AVX2.
            unsafe { by_rows_avx2(layer, shape, x, y) };
            return Ok(());
        }
        by_rows(layer, shape, x, y);
        return Ok(());
    }
    depthwise_with::<dot::Active>(layer, shape, x, y)
}

/// [`depthwise_conv2d`] with the DSP path's instructions emulated in
/// portable Rust (3x3 filters; others run the row kernel's emulation).
///
/// # Errors
/// As [`check`].
pub fn depthwise_conv2d_emulated(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    check(layer, shape, x.len(), y.len())?;
    match padded_len(shape) {
        Some(len) => dw3x3::<dot::Portable>(layer, shape, len, x, y),
        None => depthwise_with::<dot::Emulated>(layer, shape, x, y),
    }
}

/// Widest output row [`by_rows`] accumulates (on the stack).
#[cfg(target_pointer_width = "64")]
const ROW_MAX: usize = 512;

/// [`by_rows`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn by_rows_avx2(layer: &ConvQ<'_>, s: &Conv2dShape, x: &[i8], y: &mut [i8]) {
    by_rows(layer, s, x, y);
}

/// The depthwise convolution one output row at a time: the row's `i32`
/// accumulators start at the bias, and each tap `(ky, kx)` adds
/// `w * (x - zp)` along the input row it reads, over the outputs whose tap
/// lands inside the input (the padded ones add nothing). The caller has
/// checked the layer ([`check`]) and that output rows fit [`ROW_MAX`].
#[cfg(target_pointer_width = "64")]
#[inline(always)]
fn by_rows(layer: &ConvQ<'_>, s: &Conv2dShape, x: &[i8], y: &mut [i8]) {
    let Ok([out_h, out_w]) = s.out_size() else {
        return;
    };
    let [in_h, in_w] = s.in_size;
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [ph, _, pw, _] = s.padding;
    let zp = i32::from(layer.input_zero_point);
    let multiplier = s.out_channels / s.in_channels;
    let mut buf = [0i32; ROW_MAX];
    let acc = &mut buf[..out_w];
    for (o, y) in y.chunks_exact_mut(out_h * out_w).enumerate() {
        let c = o / multiplier;
        let plane = &x[c * in_h * in_w..(c + 1) * in_h * in_w];
        let filter = &layer.weights[o * kh * kw..(o + 1) * kh * kw];
        let m = channel_requant(layer.requant, o);
        for (oy, y) in y.chunks_exact_mut(out_w).enumerate() {
            acc.fill(layer.bias[o]);
            for (ky, taps) in filter.chunks_exact(kw).enumerate() {
                let Some(iy) = (oy * sh + ky).checked_sub(ph).filter(|&iy| iy < in_h) else {
                    continue;
                };
                let row = &plane[iy * in_w..(iy + 1) * in_w];
                for (kx, &w) in taps.iter().enumerate() {
                    // Outputs `ox` whose input `ox * sw + kx - pw` is in the row.
                    let lo = pw.saturating_sub(kx).div_ceil(sw);
                    let hi = (in_w + pw)
                        .checked_sub(kx + 1)
                        .map_or(0, |last| last / sw + 1)
                        .min(out_w);
                    if lo >= hi {
                        continue;
                    }
                    let w = i32::from(w);
                    let first = lo * sw + kx - pw;
                    if sw == 1 {
                        let src = &row[first..first + (hi - lo)];
                        for (a, &v) in acc[lo..hi].iter_mut().zip(src) {
                            *a = a.wrapping_add(w * (i32::from(v) - zp));
                        }
                    } else {
                        let src = row[first..].iter().step_by(sw);
                        for (a, &v) in acc[lo..hi].iter_mut().zip(src) {
                            *a = a.wrapping_add(w * (i32::from(v) - zp));
                        }
                    }
                }
            }
            for (d, &a) in y.iter_mut().zip(acc.iter()) {
                *d = layer.output.requantize(a, m);
            }
        }
    }
}

/// Scalar reference of [`depthwise_conv2d`].
///
/// # Errors
/// As [`check`].
pub fn depthwise_conv2d_scalar(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    depthwise_with::<dot::Scalar>(layer, shape, x, y)
}

fn depthwise_with<D: DotKernel>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    check(layer, s, x.len(), y.len())?;
    let [out_h, out_w] = s.out_size()?;
    let plane_in = s.in_size[0] * s.in_size[1];
    let plane_out = out_h * out_w;
    let taps = s.kernel[0] * s.kernel[1];
    let multiplier = s.out_channels / s.in_channels;
    let one = Conv2dShape {
        in_channels: 1,
        out_channels: 1,
        ..*s
    };
    for (o, y) in y.chunks_exact_mut(plane_out).enumerate() {
        let c = o / multiplier;
        let requant = if layer.requant.len() == 1 {
            layer.requant
        } else {
            &layer.requant[o..=o]
        };
        let channel = ConvQ {
            weights: &layer.weights[o * taps..(o + 1) * taps],
            bias: &layer.bias[o..=o],
            requant,
            ..*layer
        };
        conv2d_rows::<D>(&channel, &one, &x[c * plane_in..(c + 1) * plane_in], y)?;
    }
    Ok(())
}

/// `[rows, columns]` of the padded plane the outputs of `s` read: every
/// window of a 3x3 filter, padding included.
fn padded_size(s: &Conv2dShape) -> Option<[usize; 2]> {
    let [out_h, out_w] = s.out_size().ok()?;
    Some([
        (out_h - 1) * s.stride[0] + s.kernel[0],
        (out_w - 1) * s.stride[1] + s.kernel[1],
    ])
}

/// The padded plane's length if the 3x3 path takes `s`.
fn padded_len(s: &Conv2dShape) -> Option<usize> {
    if s.kernel != [3, 3] {
        return None;
    }
    let [h, w] = padded_size(s)?;
    let [_, out_w] = s.out_size().ok()?;
    Some(h * w).filter(|&n| n <= PLANE_MAX && out_w <= ACC_MAX)
}

/// The 3x3 path over a padded plane of `len` values; `s` checked.
fn dw3x3<M: Row3x3>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    len: usize,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    if len <= PLANE_SMALL {
        dw3x3_in::<M, { PLANE_SMALL * 2 }>(layer, s, x, y)
    } else {
        dw3x3_in::<M, { PLANE_MAX * 2 }>(layer, s, x, y)
    }
}

/// Outputs accumulated at once before they are requantized (whole output
/// rows; the 3x3 path takes rows up to this wide).
const ACC_MAX: usize = 256;

/// One output channel's 3x3 filter as `i16` lane pairs.
struct Taps3x3 {
    /// Taps 0 and 1 of each kernel row.
    rows: [u32; 3],
    /// Tap 2 of rows 0 (low lane) and 1 (high lane).
    third: u32,
    /// Tap 2 of row 2 (low lane).
    last: u32,
}

/// Where one run of output rows of the 3x3 path reads.
struct Run {
    /// Bytes from one plane row to the next.
    row_bytes: usize,
    /// Vertical and horizontal stride.
    stride: [usize; 2],
    /// Output rows and columns of the run.
    rows: usize,
    cols: usize,
}

/// The multiply-adds of a run of output rows of the 3x3 path: portable by
/// default, one `asm!` block on DSP cores.
trait Row3x3: DualMac + Sized {
    /// `acc[r * cols + i] = bias + ` the window of output `(r, i)` of the
    /// run: three kernel rows `row_bytes` apart in `plane`, starting at byte
    /// `(r * stride[0]) * row_bytes + 2 * i * stride[1]`.
    #[inline(always)]
    fn run(plane: &[u8], run: &Run, k: &Taps3x3, bias: i32, acc: &mut [i32]) {
        portable_run::<Self>(plane, run, k, bias, acc);
    }
}

impl Row3x3 for dot::Portable {}

/// [`Row3x3::run`] in Rust, instruction by instruction through `M`.
#[inline(always)]
fn portable_run<M: DualMac>(plane: &[u8], run: &Run, k: &Taps3x3, bias: i32, acc: &mut [i32]) {
    let lo = |w: u32| i32::from(w as u16 as i16);
    let hi = |w: u32| i32::from((w >> 16) as u16 as i16);
    let thirds = [lo(k.third), hi(k.third), lo(k.last)];
    let rb = run.row_bytes;
    for (oy, acc) in acc
        .chunks_exact_mut(run.cols.max(1))
        .take(run.rows)
        .enumerate()
    {
        let mut at = oy * run.stride[0] * rb;
        for acc in acc.iter_mut() {
            *acc = bias;
            for (r, (&pair, &w2)) in k.rows.iter().zip(&thirds).enumerate() {
                if let Some(&[a, b, c, d, e, f]) = plane.get(r * rb + at..r * rb + at + 6) {
                    // SMLAD, then SMLABB / SMLATB (wrapping like both).
                    *acc = M::smlad(pair, u32::from_le_bytes([a, b, c, d]), *acc)
                        .wrapping_add(w2 * i32::from(i16::from_le_bytes([e, f])));
                }
            }
            at += 2 * run.stride[1];
        }
    }
}

#[cfg(myelin_arm_dsp)]
impl Row3x3 for dot::arm::Dsp {
    #[inline(always)]
    fn run(plane: &[u8], run: &Run, k: &Taps3x3, bias: i32, acc: &mut [i32]) {
        let Run {
            row_bytes,
            stride: [sh, sw],
            rows,
            cols,
        } = *run;
        // The last window's last byte lies in the third row below the run's
        // last output row.
        let fits = rows > 0
            && cols > 0
            && (1..=2).contains(&sw)
            && acc.len() >= rows * cols
            && 2 * sw * (cols - 1) + 6 <= row_bytes
            && plane.len() >= ((rows - 1) * sh + 3) * row_bytes;
        if !fits {
            return portable_run::<Self>(plane, run, k, bias, acc);
        }
        // From just past a row's last window to the next row's first.
        let advance = sh * row_bytes - 2 * sw * cols;
        // SAFETY: `fits` bounds every load to `plane` (the windows of the
        // `rows x cols` outputs, 6 bytes from `(r * sh) * row_bytes + 2 * sw
        // * i` in each of three rows `row_bytes` apart) and every store to
        // `acc` (`rows * cols` words); unaligned `LDR`/`LDRSH` are allowed on
        // Armv7E-M and Armv8-M Main. The 16 bytes pushed below the stack
        // pointer are popped before the end. Only the declared registers and
        // the flags are written (`SMLAD` and `SMLABB` may set the sticky Q
        // bit, which no Rust code reads).
        unsafe {
            macro_rules! run_loop {
                ($step:literal) => {
                    core::arch::asm!(
                        "sub sp, sp, #16",
                        "str {a}, [sp]",
                        "str {t}, [sp, #4]",
                        "str {u}, [sp, #8]",
                        "str {n}, [sp, #12]",
                        "ldr {n}, [sp, #4]",
                        "2:",
                        "ldr {a}, [sp, #12]",
                        "ldr {t}, [{p}]",
                        "ldrsh {u}, [{p}, #4]",
                        "smlad {a}, {k0}, {t}, {a}",
                        "smlabb {a}, {kt}, {u}, {a}",
                        "add {t}, {p}, {rb}",
                        "ldrsh {u}, [{t}, #4]",
                        "ldr {t}, [{t}]",
                        "smlad {a}, {k1}, {t}, {a}",
                        "smlatb {a}, {kt}, {u}, {a}",
                        "add {t}, {p}, {rb}, lsl #1",
                        "ldrsh {u}, [{t}, #4]",
                        "ldr {t}, [{t}]",
                        "smlad {a}, {k2}, {t}, {a}",
                        "smlabb {a}, {kl}, {u}, {a}",
                        "str {a}, [{pa}], #4",
                        concat!("add {p}, {p}, #", $step),
                        "subs {n}, {n}, #1",
                        "bne 2b",
                        // The next output row, if any.
                        "ldr {t}, [sp, #8]",
                        "add {p}, {p}, {t}",
                        "ldr {n}, [sp, #4]",
                        "ldr {t}, [sp]",
                        "subs {t}, {t}, #1",
                        "str {t}, [sp]",
                        "bne 2b",
                        "add sp, sp, #16",
                        p = inout(reg) plane.as_ptr() => _,
                        pa = inout(reg) acc.as_mut_ptr() => _,
                        n = inout(reg) bias => _,
                        rb = in(reg) row_bytes,
                        k0 = in(reg) k.rows[0],
                        k1 = in(reg) k.rows[1],
                        k2 = in(reg) k.rows[2],
                        kt = in(reg) k.third,
                        kl = in(reg) k.last,
                        a = inout(reg) rows => _,
                        t = inout(reg) cols => _,
                        u = inout(reg) advance => _,
                    )
                };
            }
            // Stack words: rows left, columns, `advance`, the bias.
            if sw == 1 {
                run_loop!("2");
            } else {
                run_loop!("4");
            }
        }
    }
}

/// `src` minus the zero point `zp` into `dst` as little-endian `i16` bytes
/// (up to the shorter of the two), four values a step.
#[inline(always)]
fn widen_row<M: DualMac>(src: &[i8], zp: i16, dst: &mut [u8]) {
    let lane = u32::from((-zp) as u16);
    let offset = lane | (lane << 16);
    let src = src.get(..dst.len() / 2).unwrap_or(src);
    let dst = dst.get_mut(..2 * src.len()).unwrap_or_default();
    let mut d8 = dst.chunks_exact_mut(8);
    let mut s4 = src.chunks_exact(4);
    for (d, s) in (&mut d8).zip(&mut s4) {
        let w = u32::from_le_bytes([s[0] as u8, s[1] as u8, s[2] as u8, s[3] as u8]);
        // Lanes (v0, v2) and (v1, v3), then (v0, v1) and (v2, v3).
        let a = M::sadd16(M::sxtb16(w), offset);
        let b = M::sadd16(M::sxtb16_ror8(w), offset);
        let lo = (a & 0xffff) | (b << 16);
        let hi = (a >> 16) | (b & 0xffff_0000);
        d[..4].copy_from_slice(&lo.to_le_bytes());
        d[4..].copy_from_slice(&hi.to_le_bytes());
    }
    for (d, &v) in d8.into_remainder().chunks_exact_mut(2).zip(s4.remainder()) {
        d.copy_from_slice(&(i16::from(v) - zp).to_le_bytes());
    }
}

/// [`dw3x3`] with a plane of `B / 2` values on the stack (its own frame).
#[inline(never)]
fn dw3x3_in<M: Row3x3, const B: usize>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    let [ph, pw] = padded_size(s).unwrap_or_default();
    // The plane as little-endian `i16` bytes: two neighbours are one word.
    let mut plane = [0u8; B];
    let plane = plane.get_mut(..2 * ph * pw).ok_or(Error::InvalidShape {
        what: "depthwise plane too large",
    })?;
    dw3x3_body::<M>(layer, s, x, y, plane)
}

/// [`dw3x3_in`] over its zeroed plane buffer (one copy of the code for every
/// buffer size).
#[inline(never)]
fn dw3x3_body<M: Row3x3>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
    plane: &mut [u8],
) -> Result<(), Error> {
    let [out_h, out_w] = s.out_size()?;
    let [_, pw] = padded_size(s).unwrap_or_default();
    let [in_h, in_w] = s.in_size;
    let [sh, sw] = s.stride;
    let [pt, _, pl, _] = s.padding;
    let zp = i16::from(layer.input_zero_point);
    let plane_out = out_h * out_w;
    let multiplier = s.out_channels / s.in_channels;
    let row_bytes = 2 * pw;
    let mut acc = [0i32; ACC_MAX];
    // Whole output rows at a time.
    let run_rows = (ACC_MAX / out_w.max(1)).max(1);
    // Input columns inside the plane.
    let cols = in_w.min(pw.saturating_sub(pl));
    for (c, x) in x.chunks_exact(in_h * in_w).enumerate() {
        // Rows and columns of the input inside the plane (the rest stays 0;
        // a last row or column past the windows is not needed).
        let below = plane.get_mut(pt * row_bytes..).unwrap_or_default();
        for (src, dst) in x.chunks_exact(in_w).zip(below.chunks_exact_mut(row_bytes)) {
            let dst = dst.get_mut(2 * pl..2 * (pl + cols)).unwrap_or_default();
            widen_row::<M>(src, zp, dst);
        }
        for m in 0..multiplier {
            let o = c * multiplier + m;
            let w = layer.weights.get(9 * o..9 * o + 9).unwrap_or_default();
            let [w00, w01, w02, w10, w11, w12, w20, w21, w22] = w
                .first_chunk::<9>()
                .copied()
                .unwrap_or_default()
                .map(i32::from);
            let pair = |a: i32, b: i32| (a as u16 as u32) | ((b as u16 as u32) << 16);
            let k = Taps3x3 {
                rows: [pair(w00, w01), pair(w10, w11), pair(w20, w21)],
                third: pair(w02, w12),
                last: pair(w22, 0),
            };
            let bias = layer.bias.get(o).copied().unwrap_or(0);
            let rq = Requant64::new(channel_requant(layer.requant, o), layer.output);
            let y = y
                .get_mut(o * plane_out..(o + 1) * plane_out)
                .unwrap_or_default();
            for (chunk, y) in y.chunks_mut(run_rows * out_w).enumerate() {
                let rows = y.len() / out_w.max(1);
                let top = chunk * run_rows * sh * row_bytes;
                let run = Run {
                    row_bytes,
                    stride: [sh, sw],
                    rows,
                    cols: out_w,
                };
                let acc = &mut acc[..y.len()];
                M::run(plane.get(top..).unwrap_or_default(), &run, &k, bias, acc);
                rq.requantize_into(acc, y);
            }
        }
    }
    Ok(())
}
