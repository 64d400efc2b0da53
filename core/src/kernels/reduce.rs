//! Sums over slices in independent lanes. A single running sum is one long
//! chain of dependent additions that the compiler may not reorder; partial
//! sums in lanes let it vectorize the loop (the result differs from the
//! sequential sum only by rounding).

/// Independent partial sums per reduction (four SSE or two AVX registers).
const LANES: usize = 16;

/// `sum(f(a[i], b[i]))` over two slices of one length, in lanes.
#[inline(always)]
fn lane_sum2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += f(xa[i], xb[i]);
        }
    }
    // The tail goes into lanes of its own too: no chain of dependent adds.
    for ((a, &va), &vb) in acc.iter_mut().zip(ra).zip(rb) {
        *a += f(va, vb);
    }
    fold_lanes(acc)
}

/// `sum(x[i])`.
pub(super) fn sum(x: &[f32]) -> f32 {
    lane_sum2(x, x, |v, _| v)
}

/// `sum((x[i] - mu)^2)`.
pub(super) fn sum_sq_dev(x: &[f32], mu: f32) -> f32 {
    lane_sum2(x, x, |v, _| (v - mu) * (v - mu))
}

/// `(sum(g[i]), sum(g[i] * (x[i] - mu)))` in one pass.
///
/// # Panics
/// If the slices differ in length.
pub(super) fn sum_and_dot_dev(g: &[f32], x: &[f32], mu: f32) -> (f32, f32) {
    assert_eq!(g.len(), x.len(), "sum_and_dot_dev: length mismatch");
    let (mut s, mut d) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (cg, cx) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
    let (rg, rx) = (cg.remainder(), cx.remainder());
    for (vg, vx) in cg.zip(cx) {
        for i in 0..LANES {
            s[i] += vg[i];
            d[i] += vg[i] * (vx[i] - mu);
        }
    }
    for (i, (&vg, &vx)) in rg.iter().zip(rx).enumerate() {
        s[i] += vg;
        d[i] += vg * (vx - mu);
    }
    (fold_lanes(s), fold_lanes(d))
}

/// The sum of the lanes, pairwise.
#[inline(always)]
fn fold_lanes(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_sums_match_f64_sums_at_every_length() {
        let xs: [f32; 70] = core::array::from_fn(|i| ((i * 37 % 11) as f32 - 5.0) * 0.37);
        let gs: [f32; 70] = core::array::from_fn(|i| ((i * 13 % 7) as f32 - 3.0) * 1.1);
        for n in 0..70 {
            let (x, g, mu) = (&xs[..n], &gs[..n], 0.25f32);
            let want: f64 = x.iter().map(|&v| v as f64).sum();
            let sq: f64 = x.iter().map(|&v| (v as f64 - 0.25).powi(2)).sum();
            let gd: f64 = g
                .iter()
                .zip(x)
                .map(|(&a, &b)| a as f64 * (b as f64 - 0.25))
                .sum();
            assert!((sum(x) as f64 - want).abs() < 1e-4, "sum, n = {n}");
            assert!(
                (sum_sq_dev(x, mu) as f64 - sq).abs() < 1e-4,
                "sum_sq_dev, n = {n}"
            );
            let (sg, d) = sum_and_dot_dev(g, x, mu);
            let gs: f64 = g.iter().map(|&v| v as f64).sum();
            assert!(
                (sg as f64 - gs).abs() < 1e-4,
                "sum_and_dot_dev sum, n = {n}"
            );
            assert!((d as f64 - gd).abs() < 1e-4, "sum_and_dot_dev dot, n = {n}");
        }
    }

    #[test]
    fn lane_sums_keep_infinities_and_nan() {
        let mut x = [1.0f32; 40];
        x[33] = f32::INFINITY;
        assert_eq!(sum(&x), f32::INFINITY);
        x[5] = f32::NAN;
        assert!(sum(&x).is_nan());
    }
}
