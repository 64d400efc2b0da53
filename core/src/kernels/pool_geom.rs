//! Pooling over a [`Window2d`] (window and stride independent, padding per
//! side), forward and backward, over `planes` channel planes stored one after
//! another: a shard of `n` samples of `c` channels is `planes = n * c`.
//! A 1-D pool is the window with height 1.
//!
//! Padding never counts: max pooling ignores it (as if it held `-inf`), and
//! average pooling divides by the number of in-bounds inputs of each window
//! (TFLite; PyTorch's `count_include_pad=False`). Every window of a valid
//! [`Window2d`] holds at least one input. Every backward overwrites `dx`.

use super::geom::Window2d;

/// Checks the lengths of `planes` input and output planes.
fn check(win: &Window2d, planes: usize, x: usize, y: usize) {
    assert_eq!(x, planes * win.in_plane(), "pool: input length");
    assert_eq!(y, planes * win.out_plane(), "pool: output length");
}

/// Calls `f(out_index, (ky0, ky1), (kx0, kx1), first)` for every output
/// position of one plane: the in-bounds kernel rows and columns, and the
/// plane index of tap (0, 0) (wrapping: it may lie in the padding).
#[inline]
fn for_each_window(
    win: &Window2d,
    mut f: impl FnMut(usize, (usize, usize), (usize, usize), usize),
) {
    for oy in 0..win.out_h {
        let rows = win.k_rows(oy);
        for ox in 0..win.out_w {
            let cols = win.k_cols(ox);
            let iy0 = (oy * win.stride_h).wrapping_sub(win.pad_top);
            let ix0 = (ox * win.stride_w).wrapping_sub(win.pad_left);
            let first = iy0.wrapping_mul(win.in_w).wrapping_add(ix0);
            f(oy * win.out_w + ox, rows, cols, first);
        }
    }
}

/// Index in the plane `x` of the largest in-bounds input of a window (the
/// first in row-major order on ties; a NaN wins so it propagates).
#[inline]
fn argmax(
    win: &Window2d,
    x: &[f32],
    (ky0, ky1): (usize, usize),
    (kx0, kx1): (usize, usize),
    first: usize,
) -> usize {
    let mut best = first.wrapping_add(ky0 * win.in_w + kx0);
    for ky in ky0..ky1 {
        let row = first.wrapping_add(ky * win.in_w);
        for kx in kx0..kx1 {
            let i = row.wrapping_add(kx);
            if x[i] > x[best] || (x[i].is_nan() && !x[best].is_nan()) {
                best = i;
            }
        }
    }
    best
}

/// Max pooling forward: `y` = the largest in-bounds input of each window;
/// overwrites `y`.
///
/// # Panics
/// If a slice length does not match `win` and `planes`.
pub fn max_pool_forward(win: &Window2d, planes: usize, x: &[f32], y: &mut [f32]) {
    check(win, planes, x.len(), y.len());
    for (xp, yp) in x
        .chunks_exact(win.in_plane())
        .zip(y.chunks_exact_mut(win.out_plane()))
    {
        for_each_window(win, |o, r, c, first| {
            yp[o] = xp[argmax(win, xp, r, c, first)]
        });
    }
}

/// Max pooling backward: overwrites `dx` with each `dy` routed to its
/// window's maximum in the forward input `x` (the first on ties).
///
/// # Panics
/// If a slice length does not match `win` and `planes`.
pub fn max_pool_backward(win: &Window2d, planes: usize, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    check(win, planes, x.len(), dy.len());
    assert_eq!(dx.len(), x.len(), "pool: input gradient length");
    dx.fill(0.0);
    for ((xp, dyp), dxp) in x
        .chunks_exact(win.in_plane())
        .zip(dy.chunks_exact(win.out_plane()))
        .zip(dx.chunks_exact_mut(win.in_plane()))
    {
        for_each_window(win, |o, r, c, first| {
            dxp[argmax(win, xp, r, c, first)] += dyp[o]
        });
    }
}

/// In-bounds inputs of a window.
#[inline]
fn count((ky0, ky1): (usize, usize), (kx0, kx1): (usize, usize)) -> f32 {
    ((ky1 - ky0) * (kx1 - kx0)) as f32
}

/// Average pooling forward: `y` = the mean of each window's in-bounds
/// inputs; overwrites `y`.
///
/// # Panics
/// If a slice length does not match `win` and `planes`.
pub fn avg_pool_forward(win: &Window2d, planes: usize, x: &[f32], y: &mut [f32]) {
    check(win, planes, x.len(), y.len());
    for (xp, yp) in x
        .chunks_exact(win.in_plane())
        .zip(y.chunks_exact_mut(win.out_plane()))
    {
        for_each_window(win, |o, (ky0, ky1), (kx0, kx1), first| {
            let mut s = 0.0;
            for ky in ky0..ky1 {
                let row = first.wrapping_add(ky * win.in_w);
                s += xp[row.wrapping_add(kx0)..row.wrapping_add(kx1)]
                    .iter()
                    .sum::<f32>();
            }
            yp[o] = s / count((ky0, ky1), (kx0, kx1));
        });
    }
}

/// Average pooling backward: overwrites `dx` with each `dy` spread evenly
/// over its window's in-bounds inputs.
///
/// # Panics
/// If a slice length does not match `win` and `planes`.
pub fn avg_pool_backward(win: &Window2d, planes: usize, dy: &[f32], dx: &mut [f32]) {
    check(win, planes, dx.len(), dy.len());
    dx.fill(0.0);
    for (dyp, dxp) in dy
        .chunks_exact(win.out_plane())
        .zip(dx.chunks_exact_mut(win.in_plane()))
    {
        for_each_window(win, |o, (ky0, ky1), (kx0, kx1), first| {
            let gv = dyp[o] / count((ky0, ky1), (kx0, kx1));
            for ky in ky0..ky1 {
                let row = first.wrapping_add(ky * win.in_w);
                for v in &mut dxp[row.wrapping_add(kx0)..row.wrapping_add(kx1)] {
                    *v += gv;
                }
            }
        });
    }
}

/// Global average pooling forward: `y[p]` = the mean of plane `p` of `x`
/// (`y.len()` planes of `plane` values: `C x H x W -> C` per sample);
/// overwrites `y`.
///
/// # Panics
/// If `plane == 0` or `x.len() != y.len() * plane`.
pub fn global_avg_pool_forward(plane: usize, x: &[f32], y: &mut [f32]) {
    assert!(plane > 0, "global_avg_pool: empty plane");
    assert_eq!(x.len(), y.len() * plane, "global_avg_pool: input length");
    let inv = 1.0 / plane as f32;
    for (yv, xp) in y.iter_mut().zip(x.chunks_exact(plane)) {
        *yv = xp.iter().sum::<f32>() * inv;
    }
}

/// Global average pooling backward: overwrites `dx` with each `dy[p]`
/// spread evenly over plane `p`.
///
/// # Panics
/// If `plane == 0` or `dx.len() != dy.len() * plane`.
pub fn global_avg_pool_backward(plane: usize, dy: &[f32], dx: &mut [f32]) {
    assert!(plane > 0, "global_avg_pool: empty plane");
    assert_eq!(dx.len(), dy.len() * plane, "global_avg_pool: input length");
    let inv = 1.0 / plane as f32;
    for (&g, dxp) in dy.iter().zip(dx.chunks_exact_mut(plane)) {
        dxp.fill(g * inv);
    }
}
