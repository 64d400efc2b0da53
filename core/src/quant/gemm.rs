//! int8 convolution as a matrix product on the dual 16-bit multiply-add
//! (`SMLAD`), tile by tile of output positions: the receptive fields of a
//! tile's positions are gathered once into columns of `i16` values with the
//! input zero point already subtracted (padding is 0); then each pair of
//! filters is widened to `i16` lanes once and runs over every pair of
//! columns of the tile, four accumulators per pass, each weight word loaded
//! once for two positions and each column word once for two filters; the
//! sums of the two filters over the tile are then requantized in one loop
//! each ([`Requant64::requantize_into`]).
//!
//! A 1x1 convolution (pointwise) is a dense layer over the channels at every
//! position; two positions' columns are gathered straight into the tile,
//! one half-word load per channel.
//!
//! Layout: for every block of four taps `k..k + 4` two words per column,
//! `(v[k], v[k + 1])` and `(v[k + 2], v[k + 3])` as `(low, high)` lanes; the
//! two columns of a pair interleaved block by block (four words a block), so
//! one pointer walks both; the widened filter pair likewise. A last, partial
//! block is padded with zero values and zero weights. Windows are first
//! copied in filter order into an `i16` staging row (whole kernel rows at a
//! time), then into the tile. On DSP cores the tile loop is one `asm!` block
//! (26 instructions per 32 multiply-accumulates, two blocks a pass) and the
//! widening another; the emulation runs the same steps in Rust.
//!
//! Generic over [`DualMac`]: the Cortex-M instructions, or their portable
//! emulation, which lets any host check this exact arithmetic against
//! [`conv2d_scalar`](super::int8::conv2d_scalar). Every product is exact
//! (`|v| <= 255`, `|w| <= 128`) and `SMLAD` adds modulo `2^32`, so the sums
//! equal the scalar ones bit for bit.

use super::dot::{DualMac, Portable};
use super::fixed::{Requant64, channel_requant};
use super::int8::{Conv2dShape, ConvQ};
use crate::Error;

/// Largest filter (`IN x KH x KW` taps) the small buffers hold.
const SMALL_TAPS: usize = 64;
/// Largest filter any buffer holds; larger ones take another path.
pub(crate) const MAX_TAPS: usize = 640;
/// Words of gathered columns a tile holds with small filters (4 KiB).
const SMALL_TILE_WORDS: usize = 1024;
/// Words of gathered columns a tile holds with large filters (8 KiB).
const TILE_WORDS: usize = 2048;

/// [`conv2d`] runs `shape` (its filter fits the buffers).
pub(crate) fn fits(shape: &Conv2dShape) -> bool {
    shape.in_channels * shape.kernel[0] * shape.kernel[1] <= MAX_TAPS
}

/// The convolution of `layer` over `x` into `y`, two positions by two
/// filters at a time. The caller has checked the shapes and [`fits`].
pub(crate) fn conv2d<M: Blocks>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    let taps = s.in_channels * s.kernel[0] * s.kernel[1];
    if taps <= SMALL_TAPS {
        conv2d_in::<M, { SMALL_TAPS / 4 }, SMALL_TAPS, SMALL_TILE_WORDS>(layer, s, x, y)
    } else {
        conv2d_in::<M, { MAX_TAPS / 4 }, MAX_TAPS, TILE_WORDS>(layer, s, x, y)
    }
}

/// Most pairs of positions in one tile (the accumulators of two filters over
/// them live on the stack).
const TILE_PAIRS: usize = 64;

/// Words, aligned for `LDRD`.
#[repr(C, align(8))]
struct Words<const N: usize>([u32; N]);

/// [`conv2d`] with buffers on the stack (its own frame, so small filters do
/// not pay for the large buffers): a staging row of `B` blocks of four taps,
/// one filter pair's widened weights (`W = 4 * B` words) and a tile of
/// gathered columns (`T` words).
#[inline(never)]
fn conv2d_in<M: Blocks, const B: usize, const W: usize, const T: usize>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    let taps = s.in_channels * s.kernel[0] * s.kernel[1];
    let blocks = taps.div_ceil(4);
    let [out_h, out_w] = s.out_size()?;
    if taps == 0 || blocks > B || 4 * blocks > W || out_h * out_w == 0 {
        return Err(Error::InvalidShape {
            what: "filter too large for the gathered columns",
        });
    }
    // The staging row is zero past `taps` up to the block.
    let mut row = [[0i16; 4]; B];
    let mut weights = Words([0u32; W]);
    let mut tile = Words([0u32; T]);
    conv2d_body::<M>(
        layer,
        s,
        x,
        y,
        &mut row[..blocks],
        &mut weights.0[..4 * blocks],
        &mut tile.0,
    )
}

/// [`conv2d_in`] over its buffers (one copy of the code for every buffer
/// size): the output positions tile by tile; in each, the columns of every
/// pair of positions gathered once, then every pair of filters widened to
/// `i16` lanes once and run over all the tile's pairs.
#[inline(never)]
fn conv2d_body<M: Blocks>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
    row: &mut [[i16; 4]],
    weights: &mut [u32],
    tile: &mut [u32],
) -> Result<(), Error> {
    let taps = s.in_channels * s.kernel[0] * s.kernel[1];
    let blocks = row.len();
    let pair_words = 4 * blocks;
    let [out_h, out_w] = s.out_size()?;
    let plane = out_h * out_w;
    let pointwise = s.kernel == [1, 1] && s.stride == [1, 1] && s.padding == [0; 4];
    let zp = layer.input_zero_point;
    let per_tile = 2 * (tile.len() / pair_words).clamp(1, TILE_PAIRS);
    let mut accs = [[0i32; 2 * TILE_PAIRS]; 2];
    let filters = layer.weights.chunks_exact(taps);
    let mut p0 = 0;
    while p0 < plane {
        let positions = per_tile.min(plane - p0);
        let pairs = positions.div_ceil(2);
        // A last, odd position is gathered into both columns and kept once.
        for (j, cols) in tile.chunks_exact_mut(pair_words).take(pairs).enumerate() {
            if pointwise && 2 * j + 1 < positions {
                gather_pointwise_pair::<M>(x, zp, plane, p0 + 2 * j, taps, cols);
                continue;
            }
            for slot in 0..2 {
                let q = p0 + (2 * j + slot).min(positions - 1);
                let staged = row.as_flattened_mut();
                let staged = staged.get_mut(..taps).unwrap_or_default();
                if pointwise {
                    gather_pointwise(x, zp, plane, q, staged);
                } else {
                    gather_window(s, x, zp, out_w, q, staged);
                }
                pack(row, slot, cols);
            }
        }
        let mut ws = filters.clone();
        let mut o = 0;
        while o < s.out_channels {
            let w0 = ws.next().unwrap_or_default();
            let last = o + 1 == s.out_channels;
            let w1 = if last {
                w0
            } else {
                ws.next().unwrap_or_default()
            };
            M::widen(w0, w1, weights);
            let b0 = layer.bias.get(o).copied().unwrap_or(0);
            let b1 = layer.bias.get(o + 1).copied().unwrap_or(b0);
            let [acc0, acc1] = &mut accs;
            let (acc0, acc1) = (&mut acc0[..2 * pairs], &mut acc1[..2 * pairs]);
            M::tile(weights, tile, blocks, [b0, b1], acc0, acc1);
            let outputs = [(o, &*acc0), (o + 1, &*acc1)];
            for (f, acc) in outputs.into_iter().take(if last { 1 } else { 2 }) {
                let rq = Requant64::new(channel_requant(layer.requant, f), layer.output);
                let at = f * plane + p0;
                if let Some(y) = y.get_mut(at..at + positions) {
                    rq.requantize_into(acc, y);
                }
            }
            o += 2;
        }
        p0 += positions;
    }
    Ok(())
}

/// Two `i16` values as the lanes `(lo, hi)` of one word.
#[inline(always)]
fn lanes(lo: i16, hi: i16) -> u32 {
    u32::from(lo as u16) | (u32::from(hi as u16) << 16)
}

/// The staging row (filter order) into column `slot` (0 or 1) of a pair's
/// column words `cols`.
#[inline(always)]
fn pack(row: &[[i16; 4]], slot: usize, cols: &mut [u32]) {
    for (c, a) in cols.chunks_exact_mut(4).zip(row) {
        if let Some(d) = c.get_mut(2 * slot..2 * slot + 2) {
            d[0] = lanes(a[0], a[1]);
            d[1] = lanes(a[2], a[3]);
        }
    }
}

/// Output positions `q` and `q + 1` of a 1x1 convolution over `channels`
/// channels straight into a pair's column words `cols`: one half-word load
/// holds both positions' values of a channel, two of them one word that
/// `SXTB16` splits by position, `SADD16` subtracts the zero point. A last,
/// partial block is filled value by value (zeros past the channels).
#[inline(always)]
fn gather_pointwise_pair<M: DualMac>(
    x: &[i8],
    zp: i8,
    plane: usize,
    q: usize,
    channels: usize,
    cols: &mut [u32],
) {
    let lane = u32::from((-i16::from(zp)) as u16);
    let offset = lane | (lane << 16);
    let mut rest = x.get(q..).unwrap_or_default();
    let mut half = || {
        let h = rest
            .first_chunk::<2>()
            .map_or(0, |&[a, b]| u32::from(a as u8) | (u32::from(b as u8) << 8));
        rest = rest.get(plane..).unwrap_or_default();
        h
    };
    let whole = channels / 4;
    let mut blocks = cols.chunks_exact_mut(4);
    for d in (&mut blocks).take(whole) {
        let w01 = half() | (half() << 16);
        let w23 = half() | (half() << 16);
        d[0] = M::sadd16(M::sxtb16(w01), offset);
        d[1] = M::sadd16(M::sxtb16(w23), offset);
        d[2] = M::sadd16(M::sxtb16_ror8(w01), offset);
        d[3] = M::sadd16(M::sxtb16_ror8(w23), offset);
    }
    if let Some(d) = blocks.next()
        && !channels.is_multiple_of(4)
    {
        let mut v = [[0i16; 4]; 2];
        let [p, q] = &mut v;
        for (p, q) in p.iter_mut().zip(q.iter_mut()).take(channels % 4) {
            let h = half();
            *p = i16::from(h as u8 as i8) - i16::from(zp);
            *q = i16::from((h >> 8) as u8 as i8) - i16::from(zp);
        }
        d[0] = lanes(v[0][0], v[0][1]);
        d[1] = lanes(v[0][2], v[0][3]);
        d[2] = lanes(v[1][0], v[1][1]);
        d[3] = lanes(v[1][2], v[1][3]);
    }
}

/// Output position `p` of a 1x1 convolution into `row`: channel `c`'s value
/// at `p`, each `plane` bytes apart in `x`.
#[inline(always)]
fn gather_pointwise(x: &[i8], zp: i8, plane: usize, p: usize, row: &mut [i16]) {
    let zp = i16::from(zp);
    for (d, &v) in row.iter_mut().zip(x.iter().skip(p).step_by(plane)) {
        *d = i16::from(v) - zp;
    }
}

/// Output position `p` (row-major over `out_w` columns) into `row`: the
/// receptive field in filter order (channel, kernel row, kernel column),
/// taps in the padding 0.
#[inline(always)]
fn gather_window(s: &Conv2dShape, x: &[i8], zp: i8, out_w: usize, p: usize, row: &mut [i16]) {
    let [in_h, in_w] = s.in_size;
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [pt, _, pl, _] = s.padding;
    let zp = i16::from(zp);
    let (top, left) = ((p / out_w) * sh, (p % out_w) * sw);
    // Kernel columns inside the input: ix = left + kx - pl in 0..in_w.
    let kx_lo = pl.saturating_sub(left).min(kw);
    let kx_hi = kw.min((in_w + pl).saturating_sub(left)).max(kx_lo);
    let run = kx_hi - kx_lo;
    // Kernel rows inside the input: iy = top + ky - pt in 0..in_h.
    let ky_lo = pt.saturating_sub(top).min(kh);
    let ky_hi = kh.min((in_h + pt).saturating_sub(top)).max(ky_lo);
    if run == 0 || ky_lo == ky_hi {
        row.fill(0);
        return;
    }
    let plane_in = in_h * in_w;
    // The first input of the window's first in-bounds row and column.
    let origin = (top + ky_lo - pt) * in_w + left + kx_lo - pl;
    if run == kw && ky_hi - ky_lo == kh {
        // Inside the input: whole kernel rows, no padding.
        match kw {
            3 if kh == 3 => interior3x3(x, zp, origin, in_w, plane_in, row),
            3 => interior::<3>(x, zp, origin, in_w, plane_in, kh, row),
            5 => interior::<5>(x, zp, origin, in_w, plane_in, kh, row),
            _ => {}
        }
        if kw == 3 || kw == 5 {
            return;
        }
    }
    if kh == 3 && kw == 3 {
        let rows = ky_hi - ky_lo;
        border3x3(
            x,
            zp,
            origin,
            [in_w, plane_in],
            [ky_lo, rows],
            [kx_lo, run],
            row,
        );
        return;
    }
    for (c, field) in row.chunks_exact_mut(kh * kw).enumerate() {
        let (above, rest) = field.split_at_mut(ky_lo * kw);
        let (inside, below) = rest.split_at_mut((ky_hi - ky_lo) * kw);
        zero(above);
        zero(below);
        let mut at = c * plane_in + origin;
        for taps in inside.chunks_exact_mut(kw) {
            let (head, rest) = taps.split_at_mut(kx_lo);
            let (mid, tail) = rest.split_at_mut(run);
            zero(head);
            zero(tail);
            if let Some(src) = x.get(at..at + run) {
                for (d, &v) in mid.iter_mut().zip(src) {
                    *d = i16::from(v) - zp;
                }
            }
            at += in_w;
        }
    }
}

/// A few taps of padding: a loop, cheaper than a `memset` call.
#[inline(always)]
fn zero(taps: &mut [i16]) {
    for d in taps.iter_mut() {
        *d = 0;
    }
}

/// [`gather_window`] for a 3x3 window that the padding cuts: each
/// channel's field zeroed, then its `rows` rows of `run` values inside the
/// input (the first at `origin`) copied to kernel row `ky_lo` on, column
/// `kx_lo` on.
#[inline(always)]
fn border3x3(
    x: &[i8],
    zp: i16,
    origin: usize,
    [in_w, plane_in]: [usize; 2],
    [ky_lo, rows]: [usize; 2],
    [kx_lo, run]: [usize; 2],
    row: &mut [i16],
) {
    let span = (rows - 1) * in_w + run;
    let mut channel = x.get(origin..).unwrap_or_default();
    for field in row.chunks_exact_mut(9) {
        zero(field);
        if let Some(win) = channel.get(..span) {
            for r in 0..rows {
                let src = win.get(r * in_w..r * in_w + run).unwrap_or_default();
                let at = 3 * (ky_lo + r) + kx_lo;
                let dst = field.get_mut(at..at + run).unwrap_or_default();
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = i16::from(v) - zp;
                }
            }
        }
        channel = channel.get(plane_in..).unwrap_or_default();
    }
}

/// [`interior`] for 3x3 kernels: each channel's window one slice of `2 *
/// in_w + 3` values, its three rows at fixed offsets.
#[inline(always)]
fn interior3x3(x: &[i8], zp: i16, origin: usize, in_w: usize, plane_in: usize, row: &mut [i16]) {
    let span = 2 * in_w + 3;
    let mut channel = x.get(origin..).unwrap_or_default();
    for field in row.chunks_exact_mut(9) {
        if let Some(win) = channel.get(..span) {
            for (ky, taps) in field.chunks_exact_mut(3).enumerate() {
                let src = &win[ky * in_w..ky * in_w + 3];
                for (d, &v) in taps.iter_mut().zip(src) {
                    *d = i16::from(v) - zp;
                }
            }
        }
        channel = channel.get(plane_in..).unwrap_or_default();
    }
}

/// [`gather_window`] for a window inside the input, `N`-wide kernel rows:
/// row `ky` of channel `c` starts at `origin + c * plane_in + ky * in_w`.
#[inline(always)]
fn interior<const N: usize>(
    x: &[i8],
    zp: i16,
    origin: usize,
    in_w: usize,
    plane_in: usize,
    kh: usize,
    row: &mut [i16],
) {
    let mut channel = x.get(origin..).unwrap_or_default();
    for field in row.chunks_exact_mut(kh * N) {
        // Kernel row `ky` starts `ky * in_w` into the channel.
        let mut src = channel;
        for taps in field.chunks_exact_mut(N) {
            if let Some(src) = src.first_chunk::<N>() {
                for (d, &v) in taps.iter_mut().zip(src) {
                    *d = i16::from(v) - zp;
                }
            }
            src = src.get(in_w..).unwrap_or_default();
        }
        channel = channel.get(plane_in..).unwrap_or_default();
    }
}

/// Four int8 values as one little-endian word; a partial last block's
/// missing weights are 0.
#[inline(always)]
fn word(b: &[i8]) -> u32 {
    match b.first_chunk::<4>() {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a as u8, b as u8, c as u8, d as u8]),
        None => {
            let mut w = [0u8; 4];
            for (d, &v) in w.iter_mut().zip(b) {
                *d = v as u8;
            }
            u32::from_le_bytes(w)
        }
    }
}

/// A pair of filters widened to `i16` lanes, block by block `[u01, u23,
/// v01, v23]` (filter 0 `u`, filter 1 `v`; `u01` holds taps `k` and `k + 1`
/// as `(low, high)`), the order of the columns. A last, partial block's
/// missing weights are 0.
#[inline(always)]
fn portable_widen<M: DualMac>(w0: &[i8], w1: &[i8], out: &mut [u32]) {
    let (u4, v4) = (w0.chunks_exact(4), w1.chunks_exact(4));
    let tail = [u4.remainder(), v4.remainder()];
    let mut out = out.chunks_exact_mut(4);
    // The weights first: `zip` stops at them without taking a block.
    for ((u, v), d) in u4.zip(v4).zip(&mut out) {
        let (u01, u23) = widen_word::<M>(word(u));
        let (v01, v23) = widen_word::<M>(word(v));
        d.copy_from_slice(&[u01, u23, v01, v23]);
    }
    if let Some(d) = out.next()
        && !tail[0].is_empty()
    {
        let (u01, u23) = widen_word::<M>(word(tail[0]));
        let (v01, v23) = widen_word::<M>(word(tail[1]));
        d.copy_from_slice(&[u01, u23, v01, v23]);
    }
}

/// Four int8 weights as the `i16` lane pairs `(w0, w1)` and `(w2, w3)`:
/// `SXTB16` and `SXTB16 ROR #8` give `(w0, w2)` and `(w1, w3)`, then one
/// half-word pack each.
#[inline(always)]
fn widen_word<M: DualMac>(w: u32) -> (u32, u32) {
    let (w02, w13) = (M::sxtb16(w), M::sxtb16_ror8(w));
    (
        (w02 & 0xffff) | (w13 << 16),
        (w02 >> 16) | (w13 & 0xffff_0000),
    )
}

/// One block of four taps: widened weights `[u01, u23, v01, v23]` against
/// the block's column words `[p01, p23, q01, q23]`.
#[inline(always)]
fn step<M: DualMac>(w: &[u32], c: &[u32], acc: &mut [i32; 4]) {
    let (Some(&[u01, u23, v01, v23]), Some(&[p01, p23, q01, q23])) =
        (w.first_chunk::<4>(), c.first_chunk::<4>())
    else {
        return;
    };
    let [a00, a01, a10, a11] = acc;
    *a00 = M::smlad(u23, p23, M::smlad(u01, p01, *a00));
    *a01 = M::smlad(u23, q23, M::smlad(u01, q01, *a01));
    *a10 = M::smlad(v23, p23, M::smlad(v01, p01, *a10));
    *a11 = M::smlad(v23, q23, M::smlad(v01, q01, *a11));
}

/// The multiply-adds of one pair of filters over a tile: portable by
/// default, one `asm!` block on DSP cores.
pub(crate) trait Blocks: DualMac + Sized {
    /// For every pair `j` of positions in `cols` (`4 * blocks` words each,
    /// `acc0.len() / 2` pairs), the first `blocks` blocks of the widened
    /// filter pair `w` ([`Blocks::widen`]) against the pair's columns: filter 0's
    /// sums (from `bias[0]`) into `acc0[2j]` and `acc0[2j + 1]`, filter 1's
    /// (from `bias[1]`) into `acc1`.
    #[inline(always)]
    fn tile(
        w: &[u32],
        cols: &[u32],
        blocks: usize,
        bias: [i32; 2],
        acc0: &mut [i32],
        acc1: &mut [i32],
    ) {
        portable_tile::<Self>(w, cols, blocks, bias, acc0, acc1);
    }

    /// Filters `w0` and `w1` (of equal length) widened into `out`
    /// ([`portable_widen`]).
    #[inline(always)]
    fn widen(w0: &[i8], w1: &[i8], out: &mut [u32]) {
        portable_widen::<Self>(w0, w1, out);
    }
}

/// [`Blocks::tile`] in Rust, instruction by instruction through `M`.
#[inline(always)]
fn portable_tile<M: DualMac>(
    w: &[u32],
    cols: &[u32],
    blocks: usize,
    [b0, b1]: [i32; 2],
    acc0: &mut [i32],
    acc1: &mut [i32],
) {
    let pairs = cols.chunks_exact(4 * blocks.max(1));
    for ((c, d0), d1) in pairs
        .zip(acc0.chunks_exact_mut(2))
        .zip(acc1.chunks_exact_mut(2))
    {
        let mut acc = [b0, b0, b1, b1];
        for (w, c) in w.chunks_exact(4).zip(c.chunks_exact(4)).take(blocks) {
            step::<M>(w, c, &mut acc);
        }
        d0.copy_from_slice(&acc[..2]);
        d1.copy_from_slice(&acc[2..]);
    }
}

impl Blocks for Portable {}

/// The constants of [`Blocks::tile`]'s `asm!` loop, read through one
/// register.
#[cfg(myelin_arm_dsp)]
#[repr(C, align(8))]
struct TileParams {
    /// Each pair's starting sums: filter 0 twice, filter 1 twice.
    bias: [i32; 4],
    /// The widened weights and `blocks / 2`.
    w: *const u32,
    halves: usize,
    /// Where the next pair's sums go, and the pairs left.
    acc0: *mut i32,
    acc1: *mut i32,
    pairs: usize,
    /// `blocks` is odd.
    odd: usize,
}

#[cfg(myelin_arm_dsp)]
impl Blocks for super::dot::arm::Dsp {
    #[inline(always)]
    fn widen(w0: &[i8], w1: &[i8], out: &mut [u32]) {
        let n = w0.len() / 4;
        let tail = 4 * n;
        if n == 0
            || w1.len() != w0.len()
            || out.len() < 4 * w0.len().div_ceil(4)
            || !(out.as_ptr() as usize).is_multiple_of(4)
        {
            return portable_widen::<Self>(w0, w1, out);
        }
        // SAFETY: `n > 0` whole words are read behind `w0` and `w1` (`4 * n
        // <= len`; unaligned `LDR` is allowed on Armv7E-M and Armv8-M Main)
        // and `4 * n` words written behind `out` (checked above; `Words`
        // aligns it for `STRD`). Only the declared registers and the flags
        // are changed.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {u}, [{p0}], #4",
                "ldr {v}, [{p1}], #4",
                "sxtb16 {a}, {u}",
                "sxtb16 {u}, {u}, ror #8",
                "pkhbt {b}, {a}, {u}, lsl #16",
                "pkhtb {a}, {u}, {a}, asr #16",
                "strd {b}, {a}, [{po}], #16",
                "sxtb16 {a}, {v}",
                "sxtb16 {v}, {v}, ror #8",
                "pkhbt {b}, {a}, {v}, lsl #16",
                "pkhtb {a}, {v}, {a}, asr #16",
                "strd {b}, {a}, [{po}, #-8]",
                "subs {n}, {n}, #1",
                "bne 2b",
                p0 = inout(reg) w0.as_ptr() => _,
                p1 = inout(reg) w1.as_ptr() => _,
                po = inout(reg) out.as_mut_ptr() => _,
                n = inout(reg) n => _,
                u = out(reg) _,
                v = out(reg) _,
                a = out(reg) _,
                b = out(reg) _,
                options(nostack),
            );
        }
        if tail < w0.len() {
            let rest = out.get_mut(4 * n..).unwrap_or_default();
            portable_widen::<Self>(&w0[tail..], &w1[tail..], rest);
        }
    }

    #[inline(always)]
    fn tile(
        w: &[u32],
        cols: &[u32],
        blocks: usize,
        bias: [i32; 2],
        acc0: &mut [i32],
        acc1: &mut [i32],
    ) {
        let pairs = acc0.len() / 2;
        let fits = blocks > 0
            && pairs > 0
            && acc1.len() == acc0.len()
            && w.len() >= 4 * blocks
            && cols.len() >= 4 * blocks * pairs
            && (cols.as_ptr() as usize).is_multiple_of(8)
            && (w.as_ptr() as usize).is_multiple_of(8);
        if !fits {
            return portable_tile::<Self>(w, cols, blocks, bias, acc0, acc1);
        }
        let mut prm = TileParams {
            bias: [bias[0], bias[0], bias[1], bias[1]],
            w: w.as_ptr(),
            halves: blocks / 2,
            acc0: acc0.as_mut_ptr(),
            acc1: acc1.as_mut_ptr(),
            pairs,
            odd: blocks % 2,
        };
        // SAFETY: `fits` guarantees `blocks > 0` blocks of 16 bytes behind
        // `w`, `pairs` runs of `blocks` such blocks behind `cols` (each
        // 8-byte aligned, as `LDRD` needs: `Words` makes them so) and `2 *
        // pairs` words behind `acc0` and `acc1`. Only those and `prm` are
        // read, only the accumulators and `prm` written; only the declared
        // registers and the flags are changed (`SMLAD` may set the sticky Q
        // bit, which no Rust code reads).
        unsafe {
            macro_rules! block {
                () => {
                    concat!(
                        "ldrd {u}, {t}, [{pw}], #16\n",
                        "ldrd {x}, {z}, [{pc}]\n",
                        "smlad {a00}, {u}, {x}, {a00}\n",
                        "smlad {a00}, {t}, {z}, {a00}\n",
                        "ldrd {x}, {z}, [{pc}, #8]\n",
                        "smlad {a01}, {u}, {x}, {a01}\n",
                        "smlad {a01}, {t}, {z}, {a01}\n",
                        "ldrd {u}, {t}, [{pw}, #-8]\n",
                        "smlad {a11}, {u}, {x}, {a11}\n",
                        "smlad {a11}, {t}, {z}, {a11}\n",
                        "ldrd {x}, {z}, [{pc}], #16\n",
                        "smlad {a10}, {u}, {x}, {a10}\n",
                        "smlad {a10}, {t}, {z}, {a10}\n",
                    )
                };
            }
            core::arch::asm!(
                "5:",
                "ldrd {a00}, {a01}, [{prm}]",
                "ldrd {a10}, {a11}, [{prm}, #8]",
                "ldrd {pw}, {n}, [{prm}, #16]",
                // An odd block first, then two blocks a pass.
                "ldr {x}, [{prm}, #36]",
                "cmp {x}, #0",
                "beq 3f",
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
                "ldrd {x}, {z}, [{prm}, #24]",
                "strd {a00}, {a01}, [{x}], #8",
                "strd {a10}, {a11}, [{z}], #8",
                "strd {x}, {z}, [{prm}, #24]",
                "ldr {x}, [{prm}, #32]",
                "subs {x}, {x}, #1",
                "str {x}, [{prm}, #32]",
                "bne 5b",
                prm = in(reg) &raw mut prm,
                pc = inout(reg) cols.as_ptr() => _,
                pw = out(reg) _,
                n = out(reg) _,
                a00 = out(reg) _,
                a01 = out(reg) _,
                a10 = out(reg) _,
                a11 = out(reg) _,
                t = out(reg) _,
                u = out(reg) _,
                x = out(reg) _,
                z = out(reg) _,
                options(nostack),
            );
        }
    }
}
