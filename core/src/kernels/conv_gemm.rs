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
    let u = Unfolded::new(g);
    (u.rows + u.oc) * u.p
}

/// Backward scratch per sample of a chunk: the unfolded input, its
/// gradient and the channel-major output gradient.
pub(super) const fn backward_per_sample(g: &ConvGeom) -> usize {
    let u = Unfolded::new(g);
    (2 * u.rows + u.oc) * u.p
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

/// The gemm shape of a full convolution shared by forward and backward:
/// plane and sample sizes, unfolded rows, and the per-group blocks.
#[derive(Clone, Copy)]
struct Unfolded {
    /// Output plane: `out_h * out_w`.
    p: usize,
    /// Rows of the unfolded matrix ([`unfolded_rows`]).
    rows: usize,
    /// Output channels.
    oc: usize,
    /// Floats of one sample's input and output.
    in_len: usize,
    out_len: usize,
    /// Output channels and unfolded rows of one group.
    og: usize,
    kg: usize,
}

impl Unfolded {
    const fn new(g: &ConvGeom) -> Self {
        Unfolded {
            p: g.win.out_plane(),
            rows: unfolded_rows(g),
            oc: g.out_ch,
            in_len: g.in_len(),
            out_len: g.out_len(),
            og: g.out_ch / g.groups,
            kg: g.group_in() * g.win.k_len(),
        }
    }

    /// The chunks `(s0, m, ld)` of `n` samples: each `m` as many as
    /// `scratch` floats hold at `per` floats each (at least 1), starting at
    /// sample `s0`, with unfolded rows of `ld = m * p` floats.
    fn chunks(
        &self,
        n: usize,
        scratch: usize,
        per: usize,
    ) -> impl Iterator<Item = (usize, usize, usize)> {
        let (most, p) = ((scratch / per.max(1)).max(1), self.p);
        (0..n).step_by(most).map(move |s0| {
            let m = most.min(n - s0);
            (s0, m, m * p)
        })
    }
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
    let u = Unfolded::new(g);
    for (s0, m, ld) in u.chunks(n, scratch.len(), forward_per_sample(g)) {
        let (cols, rest) = scratch.split_at_mut(u.rows * ld);
        let yb = &mut rest[..u.oc * ld];
        for j in 0..m {
            unfold(
                g,
                &x[(s0 + j) * u.in_len..][..u.in_len],
                &mut cols[j * u.p..],
                ld,
            );
        }
        for grp in 0..g.groups {
            super::gemm(
                false,
                false,
                u.og,
                ld,
                u.kg,
                &w[grp * u.og * u.kg..][..u.og * u.kg],
                &cols[grp * u.kg * ld..][..u.kg * ld],
                0.0,
                &mut yb[grp * u.og * ld..][..u.og * ld],
            );
        }
        for j in 0..m {
            let ys = &mut y[(s0 + j) * u.out_len..][..u.out_len];
            for ((yc, &bv), c) in ys.chunks_exact_mut(u.p).zip(b).zip(0..u.oc) {
                let src = &yb[c * ld + j * u.p..][..u.p];
                for (d, &v) in yc.iter_mut().zip(src) {
                    *d = v + bv;
                }
            }
        }
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
    let u = Unfolded::new(g);
    for (s0, m, ld) in u.chunks(n, scratch.len(), backward_per_sample(g)) {
        let (cols, rest) = scratch.split_at_mut(u.rows * ld);
        let (dcols, rest) = rest.split_at_mut(u.rows * ld);
        let dyb = &mut rest[..u.oc * ld];
        for j in 0..m {
            let s = s0 + j;
            unfold(g, &x[s * u.in_len..][..u.in_len], &mut cols[j * u.p..], ld);
            let dys = &dy[s * u.out_len..][..u.out_len];
            for ((dyc, d), c) in dys.chunks_exact(u.p).zip(db.iter_mut()).zip(0..u.oc) {
                *d += dyc.iter().sum::<f32>();
                dyb[c * ld + j * u.p..][..u.p].copy_from_slice(dyc);
            }
        }
        for grp in 0..g.groups {
            let dyg = &dyb[grp * u.og * ld..][..u.og * ld];
            super::gemm(
                false,
                true,
                u.og,
                u.kg,
                ld,
                dyg,
                &cols[grp * u.kg * ld..][..u.kg * ld],
                1.0,
                &mut dw[grp * u.og * u.kg..][..u.og * u.kg],
            );
            if dx.is_some() {
                super::gemm(
                    true,
                    false,
                    u.kg,
                    ld,
                    u.og,
                    &w[grp * u.og * u.kg..][..u.og * u.kg],
                    dyg,
                    0.0,
                    &mut dcols[grp * u.kg * ld..][..u.kg * ld],
                );
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            for j in 0..m {
                let s = s0 + j;
                fold(
                    g,
                    &mut dcols[j * u.p..],
                    ld,
                    &mut dx[s * u.in_len..][..u.in_len],
                );
            }
        }
    }
}
