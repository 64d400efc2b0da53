//! int8 convolution as a matrix product on the dual 16-bit multiply-add
//! (`SMLAD`): the receptive fields of two output positions are gathered into
//! columns of `i16` values with the input zero point already subtracted
//! (padding is 0), then every pair of filters runs over both columns at
//! once, four accumulators per pass, each weight word unpacked once for two
//! positions and each column word loaded once for two filters.
//!
//! A 1x1 convolution (pointwise) is a dense layer over the channels at every
//! position; its columns are gathered without the window arithmetic.
//!
//! Column layout: for every block of four taps `k..k + 4` two words,
//! `(v[k], v[k + 2])` and `(v[k + 1], v[k + 3])` as `(low, high)` lanes, the
//! order `SXTB16` and `SXTB16 ROR #8` unpack a weight word in. A last,
//! partial block is padded with zero values and zero weights.
//!
//! Generic over [`DualMac`]: the Cortex-M instructions, or their portable
//! emulation, which lets any host check this exact arithmetic against
//! [`conv2d_scalar`](super::int8::conv2d_scalar). Every product is exact
//! (`|v| <= 255`, `|w| <= 128`) and `SMLAD` adds modulo `2^32`, so the sums
//! equal the scalar ones bit for bit.

use super::dot::DualMac;
use super::fixed::channel_requant;
use super::int8::{Conv2dShape, ConvQ};
use crate::Error;

/// Largest filter (`IN x KH x KW` taps) the small column buffers hold.
const SMALL_TAPS: usize = 64;
/// Largest filter any column buffer holds; larger ones take another path.
pub(crate) const MAX_TAPS: usize = 640;

/// Bytes of one column of `taps` values: two words per block of four.
const fn column_bytes(taps: usize) -> usize {
    taps.div_ceil(4) * 8
}

/// [`conv2d`] runs `shape` (its filter fits the column buffers).
pub(crate) fn fits(shape: &Conv2dShape) -> bool {
    shape.in_channels * shape.kernel[0] * shape.kernel[1] <= MAX_TAPS
}

/// The convolution of `layer` over `x` into `y`, two positions by two
/// filters at a time. The caller has checked the shapes and [`fits`].
pub(crate) fn conv2d<M: DualMac>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    let taps = s.in_channels * s.kernel[0] * s.kernel[1];
    if taps <= SMALL_TAPS {
        conv2d_in::<M, { column_bytes(SMALL_TAPS) }>(layer, s, x, y)
    } else {
        conv2d_in::<M, { column_bytes(MAX_TAPS) }>(layer, s, x, y)
    }
}

/// [`conv2d`] with two columns of `B` bytes on the stack (its own frame, so
/// small filters do not pay for the large buffers).
#[inline(never)]
fn conv2d_in<M: DualMac, const B: usize>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    let taps = s.in_channels * s.kernel[0] * s.kernel[1];
    let bytes = column_bytes(taps);
    let [out_h, out_w] = s.out_size()?;
    let plane = out_h * out_w;
    if taps == 0 || bytes > B || plane == 0 {
        return Err(Error::InvalidShape {
            what: "filter too large for the gathered columns",
        });
    }
    let mut buf = [[0u8; B]; 2];
    let [c0, c1] = &mut buf;
    let (c0, c1) = (&mut c0[..bytes], &mut c1[..bytes]);
    let pointwise = s.kernel == [1, 1] && s.stride == [1, 1] && s.padding == [0; 4];
    let gather = |p: usize, col: &mut [u8]| {
        if pointwise {
            gather_pointwise(x, layer.input_zero_point, plane, p, col);
        } else {
            gather_window(s, x, layer.input_zero_point, out_w, p, col);
        }
    };
    let out = layer.output;
    let filters = layer.weights.chunks_exact(taps);
    let mut p = 0;
    while p < plane {
        // A last, odd position is computed twice and kept once.
        let pair = p + 1 < plane;
        gather(p, c0);
        if pair {
            gather(p + 1, c1);
        }
        let c1: &[u8] = if pair { c1 } else { c0 };
        let mut rows = filters.clone();
        let mut o = 0;
        while o < s.out_channels {
            let w0 = rows.next().unwrap_or_default();
            let last = o + 1 == s.out_channels;
            let w1 = if last {
                w0
            } else {
                rows.next().unwrap_or_default()
            };
            let b0 = layer.bias.get(o).copied().unwrap_or(0);
            let b1 = layer.bias.get(o + 1).copied().unwrap_or(b0);
            let [a00, a01, a10, a11] = mac2x2::<M>(w0, w1, c0, c1, [b0, b0, b1, b1]);
            let m0 = channel_requant(layer.requant, o);
            let at = o * plane + p;
            put(y, at, out.requantize(a00, m0));
            if pair {
                put(y, at + 1, out.requantize(a01, m0));
            }
            if !last {
                let m1 = channel_requant(layer.requant, o + 1);
                put(y, at + plane, out.requantize(a10, m1));
                if pair {
                    put(y, at + plane + 1, out.requantize(a11, m1));
                }
            }
            o += 2;
        }
        p += 2;
    }
    Ok(())
}

#[inline(always)]
fn put(y: &mut [i8], at: usize, v: i8) {
    if let Some(d) = y.get_mut(at) {
        *d = v;
    }
}

/// Byte offset in a column of tap `k`'s value (see the module docs).
#[inline(always)]
const fn tap_offset(k: usize) -> usize {
    // Within a block: taps 0, 1, 2, 3 at lanes 0, 2, 1, 3 (2 bytes each).
    const LANE: [usize; 4] = [0, 4, 2, 6];
    (k & !3) * 2 + LANE[k & 3]
}

#[inline(always)]
fn store(col: &mut [u8], k: usize, v: i16) {
    let at = tap_offset(k);
    if let Some(d) = col.get_mut(at..at + 2) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

/// The column of output position `p` of a 1x1 convolution: channel `c`'s
/// value at `p`, each `plane` bytes apart in `x`.
#[inline(always)]
fn gather_pointwise(x: &[i8], zp: i8, plane: usize, p: usize, col: &mut [u8]) {
    let zp = i16::from(zp);
    for (k, &v) in x.iter().skip(p).step_by(plane).enumerate() {
        store(col, k, i16::from(v) - zp);
    }
}

/// The column of output position `p` (row-major over `out_w` columns): the
/// receptive field in filter order (channel, kernel row, kernel column),
/// taps in the padding 0.
#[inline(always)]
fn gather_window(s: &Conv2dShape, x: &[i8], zp: i8, out_w: usize, p: usize, col: &mut [u8]) {
    let [in_h, in_w] = s.in_size;
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [pt, _, pl, _] = s.padding;
    let zp = i16::from(zp);
    let (top, left) = ((p / out_w) * sh, (p % out_w) * sw);
    // Kernel columns inside the input: ix = left + kx - pl in 0..in_w.
    let kx_lo = pl.saturating_sub(left).min(kw);
    let kx_hi = kw.min((in_w + pl).saturating_sub(left)).max(kx_lo);
    let mut k = 0;
    for c in 0..s.in_channels {
        for ky in 0..kh {
            let src = (top + ky)
                .checked_sub(pt)
                .filter(|&iy| iy < in_h && kx_lo < kx_hi)
                .and_then(|iy| {
                    let at = (c * in_h + iy) * in_w + left + kx_lo - pl;
                    x.get(at..at + (kx_hi - kx_lo))
                });
            match src {
                Some(src) => {
                    for kx in (0..kx_lo).chain(kx_hi..kw) {
                        store(col, k + kx, 0);
                    }
                    for (kx, &v) in (kx_lo..).zip(src) {
                        store(col, k + kx, i16::from(v) - zp);
                    }
                }
                None => {
                    for kx in 0..kw {
                        store(col, k + kx, 0);
                    }
                }
            }
            k += kw;
        }
    }
}

/// Four int8 values as one little-endian word.
#[inline(always)]
fn word(b: &[i8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_le_bytes([*a as u8, *b as u8, *c as u8, *d as u8]),
        _ => {
            // A partial last block: the missing weights are 0.
            let mut w = [0u8; 4];
            for (d, &v) in w.iter_mut().zip(b) {
                *d = v as u8;
            }
            u32::from_le_bytes(w)
        }
    }
}

/// Column words `2j` and `2j + 1` from their 8 bytes.
#[inline(always)]
fn words(c: &[u8]) -> (u32, u32) {
    match c {
        [a, b, c, d, e, f, g, h, ..] => (
            u32::from_le_bytes([*a, *b, *c, *d]),
            u32::from_le_bytes([*e, *f, *g, *h]),
        ),
        _ => (0, 0),
    }
}

/// `[acc0 + w0·c0, acc0' + w0·c1, acc1 + w1·c0, acc1' + w1·c1]`: two
/// filters (`taps` weights each) by two gathered columns.
#[inline(always)]
fn mac2x2<M: DualMac>(w0: &[i8], w1: &[i8], c0: &[u8], c1: &[u8], acc: [i32; 4]) -> [i32; 4] {
    let [mut a00, mut a01, mut a10, mut a11] = acc;
    let mut step = |u: u32, v: u32, (p02, p13): (u32, u32), (q02, q13): (u32, u32)| {
        let (u02, u13) = (M::sxtb16(u), M::sxtb16_ror8(u));
        let (v02, v13) = (M::sxtb16(v), M::sxtb16_ror8(v));
        a00 = M::smlad(u13, p13, M::smlad(u02, p02, a00));
        a01 = M::smlad(u13, q13, M::smlad(u02, q02, a01));
        a10 = M::smlad(v13, p13, M::smlad(v02, p02, a10));
        a11 = M::smlad(v13, q13, M::smlad(v02, q02, a11));
    };
    let blocks = w0.len() / 4;
    let (w0_main, w0_tail) = w0.split_at(blocks * 4);
    let (w1_main, w1_tail) = w1.split_at(blocks.min(w1.len() / 4) * 4);
    let (c0_main, c0_tail) = c0.split_at((blocks * 8).min(c0.len()));
    let (c1_main, c1_tail) = c1.split_at((blocks * 8).min(c1.len()));
    for (((u, v), p), q) in w0_main
        .chunks_exact(4)
        .zip(w1_main.chunks_exact(4))
        .zip(c0_main.chunks_exact(8))
        .zip(c1_main.chunks_exact(8))
    {
        step(word(u), word(v), words(p), words(q));
    }
    if !w0_tail.is_empty() {
        step(word(w0_tail), word(w1_tail), words(c0_tail), words(c1_tail));
    }
    [a00, a01, a10, a11]
}
