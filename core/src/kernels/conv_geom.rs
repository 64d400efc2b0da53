//! Convolution over a [`ConvGeom`]: full and depthwise, any strides,
//! padding per side, non-square kernels; forward and backward for a shard of
//! `n` samples stored one after another (`x` is `n x in_ch x in_h x in_w`,
//! `y` is `n x out_ch x out_h x out_w`).
//!
//! Weights are `out_ch x group_in x k_h x k_w` ([`ConvGeom::weight_len`]),
//! bias `out_ch`. Two forms with one meaning:
//! - direct ([`conv_forward`], [`conv_backward`]): no scratch memory, the
//!   reference and the microcontroller form;
//! - fast ([`conv_forward_fast`], [`conv_backward_fast`]): a full
//!   convolution as [`conv_im2col`] plus one [`gemm`](super::gemm), or a
//!   straight gemm with no unfolding for a 1x1 stride-1 unpadded one; a
//!   depthwise convolution tap by tap (one gemm per channel would be too
//!   small to pay for the unfolding): at stride 1 over a zero-padded copy
//!   of each input plane, where every tap is one long `axpy` or `dot`
//!   across all rows at once (rows of a few values, as in keyword spotting,
//!   would not fill a vector), otherwise over whole output rows. Scratch
//!   lengths come from [`conv_forward_scratch_len`] and
//!   [`conv_backward_scratch_len`].
//!
//! Every backward overwrites `dx` and accumulates `dw += ∂L/∂w`,
//! `db += ∂L/∂b` over the shard, so partial sums over shards add up.

use super::geom::{ConvGeom, Window2d};

/// Checks the slice lengths of a shard of `n` samples.
fn check(g: &ConvGeom, n: usize, x: usize, w: usize, y: usize, b: usize) {
    assert_eq!(x, n * g.in_len(), "conv: input length");
    assert_eq!(w, g.weight_len(), "conv: weight length");
    assert_eq!(y, n * g.out_len(), "conv: output length");
    assert_eq!(b, g.out_ch, "conv: bias length");
}

/// Output positions `lo..hi` along one axis whose input index
/// `o * stride + t - pad` lies in `0..n`, for kernel tap `t`.
#[inline]
fn out_range(n: usize, out: usize, t: usize, pad: usize, stride: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(t).div_ceil(stride).min(out);
    if n + pad <= t {
        return (lo, lo);
    }
    let hi = ((n + pad - t - 1) / stride + 1).min(out);
    (lo, hi.max(lo))
}

/// Convolution forward, direct (no scratch): `y = conv(x, w) + b` for `n`
/// samples; overwrites `y`.
///
/// # Panics
/// If a slice length does not match `g` and `n`.
pub fn conv_forward(g: &ConvGeom, n: usize, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    check(g, n, x.len(), w.len(), y.len(), b.len());
    let win = &g.win;
    let (gi, og, kl) = (g.group_in(), g.out_ch / g.groups, win.k_len());
    let (in_len, out_len) = (g.in_len(), g.out_len());
    for s in 0..n {
        let xs = &x[s * in_len..][..in_len];
        let ys = &mut y[s * out_len..][..out_len];
        for oc in 0..g.out_ch {
            let ic0 = (oc / og) * gi;
            let wo = &w[oc * gi * kl..][..gi * kl];
            let yc = &mut ys[oc * win.out_plane()..][..win.out_plane()];
            for oy in 0..win.out_h {
                let (ky0, ky1) = win.k_rows(oy);
                for ox in 0..win.out_w {
                    let (kx0, kx1) = win.k_cols(ox);
                    let mut acc = b[oc];
                    for ci in 0..gi {
                        let xc = &xs[(ic0 + ci) * win.in_plane()..][..win.in_plane()];
                        for ky in ky0..ky1 {
                            let iy = oy * win.stride_h + ky - win.pad_top;
                            let xr = &xc[iy * win.in_w..][..win.in_w];
                            let wr = &wo[(ci * win.k_h + ky) * win.k_w..][..win.k_w];
                            let ix0 = (ox * win.stride_w).wrapping_sub(win.pad_left);
                            for kx in kx0..kx1 {
                                acc += wr[kx] * xr[ix0.wrapping_add(kx)];
                            }
                        }
                    }
                    yc[oy * win.out_w + ox] = acc;
                }
            }
        }
    }
}

/// Convolution backward, direct (no scratch), for `n` samples: from the
/// forward input `x` and the output gradient `dy`, overwrites `dx` with
/// `∂L/∂x` when given and accumulates `dw += ∂L/∂w`, `db += ∂L/∂b`.
///
/// # Panics
/// If a slice length does not match `g` and `n`.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
) {
    check(g, n, x.len(), w.len(), dy.len(), db.len());
    assert_eq!(dw.len(), w.len(), "conv: weight gradient length");
    match dx {
        Some(dx) => {
            assert_eq!(dx.len(), x.len(), "conv: input gradient length");
            dx.fill(0.0);
            backward_direct::<true>(g, n, x, w, dy, dx, dw, db);
        }
        None => backward_direct::<false>(g, n, x, w, dy, &mut [], dw, db),
    }
}

/// [`conv_backward`]'s loops; `DX` says whether `dx` is written.
#[allow(clippy::too_many_arguments)]
fn backward_direct<const DX: bool>(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
) {
    let win = &g.win;
    let (gi, og) = (g.group_in(), g.out_ch / g.groups);
    let (in_len, out_len, ip) = (g.in_len(), g.out_len(), win.in_plane());
    for s in 0..n {
        let dys = &dy[s * out_len..][..out_len];
        for oc in 0..g.out_ch {
            let ic0 = (oc / og) * gi;
            let dyc = &dys[oc * win.out_plane()..][..win.out_plane()];
            db[oc] += dyc.iter().sum::<f32>();
            for oy in 0..win.out_h {
                let (ky0, ky1) = win.k_rows(oy);
                for ox in 0..win.out_w {
                    let (kx0, kx1) = win.k_cols(ox);
                    let gv = dyc[oy * win.out_w + ox];
                    let ix0 = (ox * win.stride_w).wrapping_sub(win.pad_left);
                    for ci in 0..gi {
                        let xo = s * in_len + (ic0 + ci) * ip;
                        for ky in ky0..ky1 {
                            let iy = oy * win.stride_h + ky - win.pad_top;
                            let wo = ((oc * gi + ci) * win.k_h + ky) * win.k_w;
                            let xr = xo + iy * win.in_w;
                            for kx in kx0..kx1 {
                                let xi = xr + ix0.wrapping_add(kx);
                                dw[wo + kx] += gv * x[xi];
                                if DX {
                                    dx[xi] += gv * w[wo + kx];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether the fast form runs `g` as a straight gemm (1x1 kernel, stride 1,
/// no padding, full convolution): no unfolding, no scratch.
pub const fn conv_is_pointwise(g: &ConvGeom) -> bool {
    g.groups == 1 && g.win.is_identity()
}

/// Floats of the unfolded input of one sample: `in_ch * k_h * k_w` rows of
/// `out_h * out_w` (the layout [`conv_im2col`] writes).
pub const fn conv_im2col_len(g: &ConvGeom) -> usize {
    g.in_ch * g.win.k_len() * g.win.out_plane()
}

/// Whether the fast form unfolds `g` (neither pointwise nor depthwise).
const fn unfolds(g: &ConvGeom) -> bool {
    !(conv_is_pointwise(g) || g.is_depthwise())
}

/// Whether the fast form runs depthwise `g` over padded planes (stride 1
/// along both axes).
const fn depthwise_padded(g: &ConvGeom) -> bool {
    g.is_depthwise() && g.win.stride_h == 1 && g.win.stride_w == 1
}

/// Height and width of a zero-padded input plane of a stride-1 window:
/// `out + k - 1` along each axis (the input plus its padding).
const fn padded_dims(win: &Window2d) -> (usize, usize) {
    (win.out_h + win.k_h - 1, win.out_w + win.k_w - 1)
}

/// Floats of one padded plane, and of one output plane with rows of the
/// padded width.
const fn padded_lens(win: &Window2d) -> (usize, usize) {
    let (hp, wp) = padded_dims(win);
    (hp * wp, win.out_h * wp)
}

/// Scratch floats [`conv_forward_fast`] needs to run one sample per gemm
/// (any `n`): 0 for a pointwise or a strided depthwise convolution, a
/// padded input and output plane for a stride-1 depthwise one, else the
/// unfolded input and the output of one sample. `k` times as much runs `k`
/// samples per gemm.
pub const fn conv_forward_scratch_len(g: &ConvGeom) -> usize {
    if unfolds(g) {
        super::conv_gemm::forward_per_sample(g)
    } else if depthwise_padded(g) {
        let (plane, out) = padded_lens(&g.win);
        plane + out
    } else {
        0
    }
}

/// Scratch floats [`conv_backward_fast`] needs to run one sample per gemm
/// (any `n`): 0 for a pointwise or a strided depthwise convolution, padded
/// planes of the input, its gradient and the output gradient for a
/// stride-1 depthwise one, else the unfolded input, its gradient and the
/// output gradient of one sample. `k` times as much runs `k` samples per
/// gemm (see [`conv_cache_samples`](super::conv_cache_samples)).
pub const fn conv_backward_scratch_len(g: &ConvGeom) -> usize {
    if unfolds(g) {
        super::conv_gemm::backward_per_sample(g)
    } else if depthwise_padded(g) {
        let (plane, out) = padded_lens(&g.win);
        2 * plane + out
    } else {
        0
    }
}

/// Unfolds one sample `x` (`in_ch x in_h x in_w`) into `cols`: row
/// `(ic * k_h + ky) * k_w + kx` holds, for every output position, the input
/// that tap meets (0 in the padding). Channel group `grp`'s rows are the
/// contiguous block `grp * group_in * k_h * k_w ..`, so each group's
/// convolution is `y_grp = W_grp · cols_grp`.
///
/// # Panics
/// If `x.len() != g.in_len()` or `cols.len() < conv_im2col_len(g)`.
pub fn conv_im2col(g: &ConvGeom, x: &[f32], cols: &mut [f32]) {
    assert_eq!(x.len(), g.in_len(), "conv_im2col: input length");
    assert!(
        cols.len() >= conv_im2col_len(g),
        "conv_im2col: scratch length"
    );
    unfold(g, x, cols, g.win.out_plane());
}

/// [`conv_im2col`] with rows `ld` floats apart: row `r` of this sample is
/// `cols[r * ld..][..out_plane]`, so several samples can sit side by side
/// in one row (`ld = samples * out_plane`, each sample at its own offset).
pub(super) fn unfold(g: &ConvGeom, x: &[f32], cols: &mut [f32], ld: usize) {
    let win = &g.win;
    let p = win.out_plane();
    for ic in 0..g.in_ch {
        let xc = &x[ic * win.in_plane()..][..win.in_plane()];
        for ky in 0..win.k_h {
            for kx in 0..win.k_w {
                let row = ((ic * win.k_h + ky) * win.k_w + kx) * ld;
                let dst = &mut cols[row..row + p];
                if let Some(t) = PlaneTap::new(win, ky, kx) {
                    dst[..t.start].fill(0.0);
                    dst[t.end..].fill(0.0);
                    dst[t.start..t.end].copy_from_slice(&xc[t.src()..][..t.end - t.start]);
                    t.zero_gaps(dst);
                    continue;
                }
                let (lo, hi) = out_range(win.in_w, win.out_w, kx, win.pad_left, win.stride_w);
                for oy in 0..win.out_h {
                    let d = &mut dst[oy * win.out_w..][..win.out_w];
                    let Some(iy) = win.in_row(oy, ky) else {
                        d.fill(0.0);
                        continue;
                    };
                    d[..lo].fill(0.0);
                    d[hi..].fill(0.0);
                    if lo == hi {
                        continue;
                    }
                    let xr = &xc[iy * win.in_w..][..win.in_w];
                    let ix0 = (lo * win.stride_w + kx).wrapping_sub(win.pad_left);
                    if win.stride_w == 1 {
                        d[lo..hi].copy_from_slice(&xr[ix0..ix0 + (hi - lo)]);
                    } else {
                        for (j, v) in d[lo..hi].iter_mut().enumerate() {
                            *v = xr[ix0 + j * win.stride_w];
                        }
                    }
                }
            }
        }
    }
}

/// Folds `cols` (the layout of [`conv_im2col`]) back into one sample's
/// input gradient `dx`, which it overwrites: taps meeting one input add up.
/// The entries of `cols` that meet the padding may be zeroed on the way.
///
/// # Panics
/// If `dx.len() != g.in_len()` or `cols.len() < conv_im2col_len(g)`.
pub fn conv_col2im(g: &ConvGeom, cols: &mut [f32], dx: &mut [f32]) {
    assert_eq!(dx.len(), g.in_len(), "conv_col2im: input length");
    assert!(
        cols.len() >= conv_im2col_len(g),
        "conv_col2im: scratch length"
    );
    fold(g, cols, g.win.out_plane(), dx);
}

/// [`conv_col2im`] with rows `ld` floats apart (the layout of [`unfold`]).
pub(super) fn fold(g: &ConvGeom, cols: &mut [f32], ld: usize, dx: &mut [f32]) {
    dx.fill(0.0);
    let win = &g.win;
    let p = win.out_plane();
    for ic in 0..g.in_ch {
        let dxc = &mut dx[ic * win.in_plane()..][..win.in_plane()];
        for ky in 0..win.k_h {
            for kx in 0..win.k_w {
                let src = &mut cols[((ic * win.k_h + ky) * win.k_w + kx) * ld..][..p];
                if let Some(t) = PlaneTap::new(win, ky, kx) {
                    t.zero_gaps(src);
                    let n = t.end - t.start;
                    super::axpy(1.0, &src[t.start..t.end], &mut dxc[t.src()..][..n]);
                    continue;
                }
                let src = &*src;
                let (lo, hi) = out_range(win.in_w, win.out_w, kx, win.pad_left, win.stride_w);
                if lo >= hi {
                    continue;
                }
                for oy in 0..win.out_h {
                    let Some(iy) = win.in_row(oy, ky) else {
                        continue;
                    };
                    let s = &src[oy * win.out_w..][lo..hi];
                    let xr = &mut dxc[iy * win.in_w..][..win.in_w];
                    let ix0 = (lo * win.stride_w + kx).wrapping_sub(win.pad_left);
                    if win.stride_w == 1 {
                        super::axpy(1.0, s, &mut xr[ix0..ix0 + (hi - lo)]);
                    } else {
                        for (j, &v) in s.iter().enumerate() {
                            xr[ix0 + j * win.stride_w] += v;
                        }
                    }
                }
            }
        }
    }
}

/// One kernel tap of a stride-1 window whose output rows are as wide as its
/// input rows (padding `same` along the width): the input the tap meets is
/// then the input plane read straight on, `off` floats from the output
/// position, so unfolding and folding move one block per tap instead of
/// one row at a time. Within the block `start..end` of output positions,
/// the columns where a row's tap falls into the left or right padding
/// (`gap` floats at every row boundary) must hold 0.
struct PlaneTap {
    /// Output positions of the block.
    start: usize,
    end: usize,
    /// Output columns where each row's tap lands inside the input.
    lo: usize,
    hi: usize,
    /// Row width (input and output).
    w: usize,
    /// Input position minus output position (non-negative over the block).
    off: isize,
}

impl PlaneTap {
    /// The block of tap `(ky, kx)`, or `None` when `win` is not such a
    /// window or the tap meets only padding.
    fn new(win: &Window2d, ky: usize, kx: usize) -> Option<PlaneTap> {
        if win.stride_h != 1 || win.stride_w != 1 || win.out_w != win.in_w {
            return None;
        }
        let w = win.in_w;
        let (oy_lo, oy_hi) = out_range(win.in_h, win.out_h, ky, win.pad_top, 1);
        let (lo, hi) = out_range(win.in_w, win.out_w, kx, win.pad_left, 1);
        if oy_lo >= oy_hi || lo >= hi {
            return None;
        }
        let off =
            (ky as isize - win.pad_top as isize) * w as isize + kx as isize - win.pad_left as isize;
        Some(PlaneTap {
            start: oy_lo * w + lo,
            end: (oy_hi - 1) * w + hi,
            lo,
            hi,
            w,
            off,
        })
    }

    /// Input position of the block's first output position.
    fn src(&self) -> usize {
        (self.start as isize + self.off) as usize
    }

    /// Zeroes the padding columns between the block's rows in `plane`.
    fn zero_gaps(&self, plane: &mut [f32]) {
        let gap = self.w - self.hi + self.lo;
        if gap == 0 {
            return;
        }
        let mut at = self.start - self.lo + self.hi;
        while at < self.end {
            if gap == 1 {
                plane[at] = 0.0;
            } else {
                plane[at..at + gap].fill(0.0);
            }
            at += self.w;
        }
    }
}

/// Fills each output channel's plane of one sample with its bias.
fn fill_bias(win: &Window2d, b: &[f32], ys: &mut [f32]) {
    for (yc, &bv) in ys.chunks_exact_mut(win.out_plane()).zip(b) {
        yc.fill(bv);
    }
}

/// Convolution forward through [`conv_im2col`] and [`gemm`](super::gemm)
/// on as many samples at once as `scratch` holds (a straight gemm per
/// sample for a pointwise convolution): the same `y` as [`conv_forward`] up
/// to rounding, for `n` samples; overwrites `y`. `scratch` holds at least
/// [`conv_forward_scratch_len`] floats.
///
/// # Panics
/// If a slice length does not match `g` and `n`, or `scratch` is short.
pub fn conv_forward_fast(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
) {
    check(g, n, x.len(), w.len(), y.len(), b.len());
    assert!(
        scratch.len() >= conv_forward_scratch_len(g),
        "conv_forward_fast: scratch length"
    );
    if unfolds(g) {
        super::conv_gemm::forward_unfolded(g, n, x, w, b, y, scratch);
        return;
    }
    let win = &g.win;
    let (in_len, out_len, p) = (g.in_len(), g.out_len(), win.out_plane());
    for s in 0..n {
        let xs = &x[s * in_len..][..in_len];
        let ys = &mut y[s * out_len..][..out_len];
        if depthwise_padded(g) {
            depthwise_forward_padded(g, xs, w, b, ys, scratch);
            continue;
        }
        fill_bias(win, b, ys);
        if conv_is_pointwise(g) {
            super::gemm(false, false, g.out_ch, p, g.in_ch, w, xs, 1.0, ys);
        } else {
            depthwise_forward_rows(g, xs, w, ys);
        }
    }
}

/// Convolution backward through [`conv_im2col`], [`gemm`](super::gemm) and
/// [`conv_col2im`] on as many samples at once as `scratch` holds (straight
/// gemms per sample for a pointwise convolution), for `n` samples: the same gradients as [`conv_backward`] up to rounding.
/// Overwrites `dx` when given; accumulates `dw` and `db`. `scratch` holds at
/// least [`conv_backward_scratch_len`] floats.
///
/// # Panics
/// If a slice length does not match `g` and `n`, or `scratch` is short.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward_fast(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: &mut [f32],
    scratch: &mut [f32],
) {
    check(g, n, x.len(), w.len(), dy.len(), db.len());
    assert_eq!(dw.len(), w.len(), "conv: weight gradient length");
    if let Some(dx) = dx.as_deref() {
        assert_eq!(dx.len(), x.len(), "conv: input gradient length");
    }
    assert!(
        scratch.len() >= conv_backward_scratch_len(g),
        "conv_backward_fast: scratch length"
    );
    if unfolds(g) {
        super::conv_gemm::backward_unfolded(g, n, x, w, dy, dx, dw, db, scratch);
        return;
    }
    let win = &g.win;
    let (in_len, out_len, p) = (g.in_len(), g.out_len(), win.out_plane());
    for s in 0..n {
        let xs = &x[s * in_len..][..in_len];
        let dys = &dy[s * out_len..][..out_len];
        for (d, dyc) in db.iter_mut().zip(dys.chunks_exact(p)) {
            *d += super::reduce::sum(dyc);
        }
        let dxs = dx.as_deref_mut().map(|d| &mut d[s * in_len..][..in_len]);
        if depthwise_padded(g) {
            depthwise_backward_padded(g, xs, w, dys, dxs, dw, scratch);
            continue;
        }
        if conv_is_pointwise(g) {
            let c = g.in_ch;
            super::gemm(false, true, g.out_ch, c, p, dys, xs, 1.0, dw);
            if let Some(dxs) = dxs {
                super::gemm(true, false, c, p, g.out_ch, w, dys, 0.0, dxs);
            }
            continue;
        }
        match dxs {
            Some(dxs) => depthwise_backward_rows::<true>(g, xs, w, dys, dxs, dw),
            None => depthwise_backward_rows::<false>(g, xs, w, dys, &mut [], dw),
        }
    }
}

/// Calls `f(wi, oc, ic, oy, iy, lo, hi, ix0)` for every depthwise kernel tap
/// `wi` and output row `oy` of channel `oc` (reading input channel `ic`, row
/// `iy`): output columns `lo..hi` meet input columns `ix0 + j * stride_w`.
#[inline]
#[allow(clippy::type_complexity)]
fn for_each_dw_row(
    g: &ConvGeom,
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize, usize),
) {
    let win = &g.win;
    let (kl, mult) = (win.k_len(), g.out_ch / g.groups);
    for oc in 0..g.out_ch {
        let ic = oc / mult;
        for ky in 0..win.k_h {
            let (oy_lo, oy_hi) = out_range(win.in_h, win.out_h, ky, win.pad_top, win.stride_h);
            for kx in 0..win.k_w {
                let (lo, hi) = out_range(win.in_w, win.out_w, kx, win.pad_left, win.stride_w);
                if lo >= hi {
                    continue;
                }
                let ix0 = (lo * win.stride_w + kx) - win.pad_left;
                for oy in oy_lo..oy_hi {
                    let iy = oy * win.stride_h + ky - win.pad_top;
                    f(oc * kl + ky * win.k_w + kx, oc, ic, oy, iy, lo, hi, ix0);
                }
            }
        }
    }
}

/// Depthwise forward of one sample, tap by tap over whole output rows (no
/// scratch): `ys` holds the bias on entry and the output on return.
fn depthwise_forward_rows(g: &ConvGeom, xs: &[f32], w: &[f32], ys: &mut [f32]) {
    let win = &g.win;
    let (p, ip, sw) = (win.out_plane(), win.in_plane(), win.stride_w);
    for_each_dw_row(g, |wi, oc, ic, oy, iy, lo, hi, ix0| {
        let wv = w[wi];
        let yr = &mut ys[oc * p + oy * win.out_w..][lo..hi];
        let xr = &xs[ic * ip + iy * win.in_w..][..win.in_w];
        if sw == 1 {
            for (yv, &xv) in yr.iter_mut().zip(&xr[ix0..ix0 + (hi - lo)]) {
                *yv += wv * xv;
            }
        } else {
            for (j, yv) in yr.iter_mut().enumerate() {
                *yv += wv * xr[ix0 + j * sw];
            }
        }
    });
}

/// Depthwise backward of one sample over whole output rows (no scratch):
/// accumulates `dw` and, when `DX`, adds into `dxs` (zeroed here).
fn depthwise_backward_rows<const DX: bool>(
    g: &ConvGeom,
    xs: &[f32],
    w: &[f32],
    dys: &[f32],
    dxs: &mut [f32],
    dw: &mut [f32],
) {
    let win = &g.win;
    let (p, ip, sw) = (win.out_plane(), win.in_plane(), win.stride_w);
    if DX {
        dxs.fill(0.0);
    }
    for_each_dw_row(g, |wi, oc, ic, oy, iy, lo, hi, ix0| {
        let wv = w[wi];
        let gr = &dys[oc * p + oy * win.out_w..][lo..hi];
        let xo = ic * ip + iy * win.in_w;
        let xr = &xs[xo..][..win.in_w];
        let mut acc = 0.0;
        if sw == 1 {
            for (&gv, &xv) in gr.iter().zip(&xr[ix0..ix0 + (hi - lo)]) {
                acc += gv * xv;
            }
            if DX {
                let dr = &mut dxs[xo + ix0..][..hi - lo];
                for (d, &gv) in dr.iter_mut().zip(gr) {
                    *d += wv * gv;
                }
            }
        } else {
            for (j, &gv) in gr.iter().enumerate() {
                acc += gv * xr[ix0 + j * sw];
                if DX {
                    dxs[xo + ix0 + j * sw] += wv * gv;
                }
            }
        }
        dw[wi] += acc;
    });
}

/// Copies input plane `xc` (`in_h x in_w`) into `xp`, a zeroed plane of
/// [`padded_dims`] with the input at row `pad_top`, column `pad_left`.
fn pad_plane(win: &Window2d, xc: &[f32], xp: &mut [f32]) {
    let wp = padded_dims(win).1;
    xp.fill(0.0);
    for (iy, row) in xc.chunks_exact(win.in_w).enumerate() {
        xp[(iy + win.pad_top) * wp + win.pad_left..][..win.in_w].copy_from_slice(row);
    }
}

/// Floats of a wide output plane (rows of the padded width) that taps
/// touch: all but the last row's columns past `out_w`, so that no tap reads
/// past the padded plane.
const fn wide_len(win: &Window2d) -> usize {
    padded_lens(win).1 - (win.k_w - 1)
}

/// Stride-1 depthwise forward of one sample over padded planes: per output
/// channel, the bias and one `axpy` per tap over the whole wide output
/// plane (tap `(ky, kx)` reads the padded input `ky * wp + kx` further on),
/// then the `out_w` valid columns of each row. Overwrites `ys`.
fn depthwise_forward_padded(
    g: &ConvGeom,
    xs: &[f32],
    w: &[f32],
    b: &[f32],
    ys: &mut [f32],
    scratch: &mut [f32],
) {
    let win = &g.win;
    let (wp, (plane, out)) = (padded_dims(win).1, padded_lens(win));
    let (xp, rest) = scratch.split_at_mut(plane);
    let yw = &mut rest[..out];
    let (l, kl, mult, p) = (
        wide_len(win),
        win.k_len(),
        g.out_ch / g.groups,
        win.out_plane(),
    );
    for (ic, xc) in xs.chunks_exact(win.in_plane()).enumerate() {
        pad_plane(win, xc, xp);
        for oc in ic * mult..(ic + 1) * mult {
            yw.fill(b[oc]);
            for ky in 0..win.k_h {
                for kx in 0..win.k_w {
                    let wv = w[oc * kl + ky * win.k_w + kx];
                    super::axpy(wv, &xp[ky * wp + kx..][..l], &mut yw[..l]);
                }
            }
            let yc = &mut ys[oc * p..][..p];
            for (yr, wr) in yc.chunks_exact_mut(win.out_w).zip(yw.chunks(wp)) {
                yr.copy_from_slice(&wr[..win.out_w]);
            }
        }
    }
}

/// Stride-1 depthwise backward of one sample over padded planes: the
/// output gradient goes into a wide plane with zeros past `out_w` in every
/// row, so that per tap `dw += dot(dy, x shifted)` and `dx shifted += w dy`
/// are one `dot` and one `axpy` over all rows (the zero columns add
/// nothing for finite inputs). Accumulates `dw`; overwrites `dxs` when given.
fn depthwise_backward_padded(
    g: &ConvGeom,
    xs: &[f32],
    w: &[f32],
    dys: &[f32],
    mut dxs: Option<&mut [f32]>,
    dw: &mut [f32],
    scratch: &mut [f32],
) {
    let win = &g.win;
    let (wp, (plane, out)) = (padded_dims(win).1, padded_lens(win));
    let (xp, rest) = scratch.split_at_mut(plane);
    let (dxp, rest) = rest.split_at_mut(plane);
    let dyw = &mut rest[..out];
    let (l, kl, mult, p) = (
        wide_len(win),
        win.k_len(),
        g.out_ch / g.groups,
        win.out_plane(),
    );
    let ip = win.in_plane();
    dyw.fill(0.0);
    for (ic, xc) in xs.chunks_exact(ip).enumerate() {
        pad_plane(win, xc, xp);
        dxp.fill(0.0);
        for oc in ic * mult..(ic + 1) * mult {
            let dyc = &dys[oc * p..][..p];
            for (wr, gr) in dyw.chunks_mut(wp).zip(dyc.chunks_exact(win.out_w)) {
                wr[..win.out_w].copy_from_slice(gr);
            }
            for ky in 0..win.k_h {
                for kx in 0..win.k_w {
                    let (wi, off) = (oc * kl + ky * win.k_w + kx, ky * wp + kx);
                    dw[wi] += super::dot(&dyw[..l], &xp[off..][..l]);
                    if dxs.is_some() {
                        super::axpy(w[wi], &dyw[..l], &mut dxp[off..][..l]);
                    }
                }
            }
        }
        if let Some(dxs) = dxs.as_deref_mut() {
            let dxc = &mut dxs[ic * ip..][..ip];
            for (iy, row) in dxc.chunks_exact_mut(win.in_w).enumerate() {
                row.copy_from_slice(&dxp[(iy + win.pad_top) * wp + win.pad_left..][..win.in_w]);
            }
        }
    }
}
