//! A full (not depthwise, not pointwise) convolution over a shard as packed
//! [`gemm`](super::gemm)s on several samples at once.
//!
//! A chunk of `m` samples is unfolded side by side: row `r` of the unfolded
//! matrix holds `m * out_plane` floats, sample `j` at offset `j * out_plane`.
//! Then, per channel group,
//! - forward: `Y = W · cols` (`out_ch x m * out_plane`), scattered into the
//!   sample-major output with the bias;
//! - weight gradient: `dW += dY · colsᵀ`, depth `m * out_plane`;
//! - input gradient: `dcols = Wᵀ · dY`, folded back into each sample.
//!
//! The chunk size comes from the scratch the caller hands in, so one
//! workspace always runs the same chunks and the result does not depend on
//! anything but the scratch length; [`conv_cache_samples`] picks a chunk
//! whose buffers stay in the core's cache.

use super::conv_geom::{fold, unfold};
use super::geom::ConvGeom;

/// Scratch floats the chunked forms aim to stay within (1 MiB).
const CACHE_FLOATS: usize = 1 << 18;

/// Rows of the unfolded matrix: `in_ch * k_h * k_w`.
const fn unfolded_rows(g: &ConvGeom) -> usize {
    g.in_ch * g.win.k_len()
}

/// Forward scratch per sample of a chunk: the unfolded input and the
/// channel-major output.
pub(super) const fn forward_per_sample(g: &ConvGeom) -> usize {
    (unfolded_rows(g) + g.out_ch) * g.win.out_plane()
}

/// Backward scratch per sample of a chunk: the unfolded input, its
/// gradient and the channel-major output gradient.
pub(super) const fn backward_per_sample(g: &ConvGeom) -> usize {
    (2 * unfolded_rows(g) + g.out_ch) * g.win.out_plane()
}

/// Samples per chunk whose backward scratch stays within about 1 MiB (at
/// least 1).
pub const fn conv_cache_samples(g: &ConvGeom) -> usize {
    let per = backward_per_sample(g);
    if per == 0 || per >= CACHE_FLOATS {
        1
    } else {
        CACHE_FLOATS / per
    }
}

/// Samples of the next chunk: as many as `scratch` floats hold at `per`
/// floats each, at least 1, at most `left`.
fn chunk(scratch: usize, per: usize, left: usize) -> usize {
    (scratch / per.max(1)).clamp(1, left.max(1))
}

/// `y = conv(x, w) + b` for `n` samples, in chunks of as many samples as
/// `scratch` holds at [`forward_per_sample`] floats each (at least one).
pub(super) fn forward_unfolded(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let p = g.win.out_plane();
    let (rows, oc) = (unfolded_rows(g), g.out_ch);
    let (in_len, out_len) = (g.in_len(), g.out_len());
    let (og, kg) = (oc / g.groups, g.group_in() * g.win.k_len());
    let mut s0 = 0;
    while s0 < n {
        let m = chunk(scratch.len(), forward_per_sample(g), n - s0);
        let ld = m * p;
        let (cols, rest) = scratch.split_at_mut(rows * ld);
        let yb = &mut rest[..oc * ld];
        for j in 0..m {
            unfold(g, &x[(s0 + j) * in_len..][..in_len], &mut cols[j * p..], ld);
        }
        for grp in 0..g.groups {
            super::gemm(
                false,
                false,
                og,
                ld,
                kg,
                &w[grp * og * kg..][..og * kg],
                &cols[grp * kg * ld..][..kg * ld],
                0.0,
                &mut yb[grp * og * ld..][..og * ld],
            );
        }
        for j in 0..m {
            let ys = &mut y[(s0 + j) * out_len..][..out_len];
            for ((yc, &bv), c) in ys.chunks_exact_mut(p).zip(b).zip(0..oc) {
                let src = &yb[c * ld + j * p..][..p];
                for (d, &v) in yc.iter_mut().zip(src) {
                    *d = v + bv;
                }
            }
        }
        s0 += m;
    }
}

/// Backward for `n` samples in chunks of as many samples as `scratch` holds
/// at [`backward_per_sample`] floats each (at least one): overwrites `dx`
/// when given, accumulates `dw` and `db`.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_unfolded(
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
    let p = g.win.out_plane();
    let (rows, oc) = (unfolded_rows(g), g.out_ch);
    let (in_len, out_len) = (g.in_len(), g.out_len());
    let (og, kg) = (oc / g.groups, g.group_in() * g.win.k_len());
    let mut s0 = 0;
    while s0 < n {
        let m = chunk(scratch.len(), backward_per_sample(g), n - s0);
        let ld = m * p;
        let (cols, rest) = scratch.split_at_mut(rows * ld);
        let (dcols, rest) = rest.split_at_mut(rows * ld);
        let dyb = &mut rest[..oc * ld];
        for j in 0..m {
            let s = s0 + j;
            unfold(g, &x[s * in_len..][..in_len], &mut cols[j * p..], ld);
            let dys = &dy[s * out_len..][..out_len];
            for ((dyc, d), c) in dys.chunks_exact(p).zip(db.iter_mut()).zip(0..oc) {
                *d += dyc.iter().sum::<f32>();
                dyb[c * ld + j * p..][..p].copy_from_slice(dyc);
            }
        }
        for grp in 0..g.groups {
            let dyg = &dyb[grp * og * ld..][..og * ld];
            super::gemm(
                false,
                true,
                og,
                kg,
                ld,
                dyg,
                &cols[grp * kg * ld..][..kg * ld],
                1.0,
                &mut dw[grp * og * kg..][..og * kg],
            );
            if dx.is_some() {
                super::gemm(
                    true,
                    false,
                    kg,
                    ld,
                    og,
                    &w[grp * og * kg..][..og * kg],
                    dyg,
                    0.0,
                    &mut dcols[grp * kg * ld..][..kg * ld],
                );
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            for j in 0..m {
                let s = s0 + j;
                fold(g, &mut dcols[j * p..], ld, &mut dx[s * in_len..][..in_len]);
            }
        }
        s0 += m;
    }
}
