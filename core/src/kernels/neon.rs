//! aarch64 NEON kernels. Each one handles any length (vector body plus a
//! scalar tail) and checks its slice lengths like its scalar twin.

use core::arch::aarch64::*;

const LANES: usize = 4;

/// `sum(a[i] * b[i])` with four 4-lane accumulators.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    // SAFETY: every load reads lanes below n.
    unsafe {
        while i + 4 * LANES <= n {
            for (u, acc) in acc.iter_mut().enumerate() {
                let o = i + u * LANES;
                *acc = vfmaq_f32(*acc, vld1q_f32(pa.add(o)), vld1q_f32(pb.add(o)));
            }
            i += 4 * LANES;
        }
        while i + LANES <= n {
            acc[0] = vfmaq_f32(acc[0], vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
            i += LANES;
        }
    }
    let v = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
    let mut s = vaddvq_f32(v);
    for j in i..n {
        s += a[j] * b[j];
    }
    s
}

/// `y = W x + b`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn gemv(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    let n_in = x.len();
    assert_eq!(w.len(), n_in * y.len(), "gemv: weight shape");
    assert_eq!(b.len(), y.len(), "gemv: bias length");
    for (o, yo) in y.iter_mut().enumerate() {
        // SAFETY: NEON is enabled in this function.
        *yo = b[o] + unsafe { dot(&w[o * n_in..(o + 1) * n_in], x) };
    }
}

/// `y += W x`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn gemv_acc(w: &[f32], x: &[f32], y: &mut [f32]) {
    let n_in = x.len();
    assert_eq!(w.len(), n_in * y.len(), "gemv_acc: weight shape");
    for (o, yo) in y.iter_mut().enumerate() {
        // SAFETY: NEON is enabled in this function.
        *yo += unsafe { dot(&w[o * n_in..(o + 1) * n_in], x) };
    }
}

/// `y += alpha * x`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: length mismatch");
    let n = x.len();
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut i = 0;
    // SAFETY: lanes i..i+4 <= n of both slices.
    unsafe {
        while i + LANES <= n {
            let v = vfmaq_n_f32(vld1q_f32(py.add(i)), vld1q_f32(px.add(i)), alpha);
            vst1q_f32(py.add(i), v);
            i += LANES;
        }
    }
    for j in i..n {
        y[j] += alpha * x[j];
    }
}

/// `dx = Wᵀ dy`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn gemv_t(w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let n_in = dx.len();
    assert_eq!(w.len(), n_in * dy.len(), "gemv_t: weight shape");
    dx.fill(0.0);
    for (o, &g) in dy.iter().enumerate() {
        // SAFETY: NEON is enabled in this function.
        unsafe { axpy(g, &w[o * n_in..(o + 1) * n_in], dx) };
    }
}

/// `dw += dy xᵀ`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn outer_acc(dw: &mut [f32], dy: &[f32], x: &[f32]) {
    assert_eq!(dw.len(), dy.len() * x.len(), "outer_acc: gradient shape");
    if x.is_empty() {
        return;
    }
    for (row, &g) in dw.chunks_exact_mut(x.len()).zip(dy) {
        // SAFETY: NEON is enabled in this function.
        unsafe { axpy(g, x, row) };
    }
}

/// Row correlation `y[j] += sum_t w'[t] * x[j + t]` (`w'` = `w`, reversed if `rev`).
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn corr_acc(y: &mut [f32], x: &[f32], w: &[f32], rev: bool) {
    let (n, k) = (y.len(), w.len());
    if n == 0 || k == 0 {
        return;
    }
    assert!(x.len() + 1 >= n + k, "corr_acc: input too short");
    let tap = |t: usize| if rev { w[k - 1 - t] } else { w[t] };
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut j = 0;
    // SAFETY: output lanes j..j+8 <= n; input lanes j+t..j+t+8 with t < k
    // stay below n + k - 1 <= x.len().
    unsafe {
        while j + 2 * LANES <= n {
            let mut a0 = vld1q_f32(py.add(j));
            let mut a1 = vld1q_f32(py.add(j + LANES));
            for t in 0..k {
                let wt = tap(t);
                a0 = vfmaq_n_f32(a0, vld1q_f32(px.add(j + t)), wt);
                a1 = vfmaq_n_f32(a1, vld1q_f32(px.add(j + t + LANES)), wt);
            }
            vst1q_f32(py.add(j), a0);
            vst1q_f32(py.add(j + LANES), a1);
            j += 2 * LANES;
        }
    }
    for jj in j..n {
        let mut s = 0.0;
        for t in 0..k {
            s += tap(t) * x[jj + t];
        }
        y[jj] += s;
    }
}

/// Largest element; NaN if any element is NaN; `-inf` for an empty slice.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn max(x: &[f32]) -> f32 {
    let n = x.len();
    let mut m = vdupq_n_f32(f32::NEG_INFINITY);
    let mut i = 0;
    // SAFETY: lanes i..i+4 <= n. `vmaxq_f32` returns NaN if either input is NaN.
    unsafe {
        while i + LANES <= n {
            m = vmaxq_f32(m, vld1q_f32(x.as_ptr().add(i)));
            i += LANES;
        }
    }
    let mut best = vmaxvq_f32(m);
    for &v in &x[i..] {
        if v.is_nan() {
            return v;
        }
        if v > best {
            best = v;
        }
    }
    best
}

/// Rows of `C` per micro-kernel tile.
const MR: usize = 8;
/// Columns of `C` per micro-kernel tile (two vectors).
const NR: usize = 8;
/// Largest depth block of the packed `B` strip.
const KC: usize = 256;

/// One `R x NR` tile: `C[..R, ..nr] = beta * C + A_panel · B_panel` over depth
/// `kc` (conventions as in the AVX2 micro-kernel).
///
/// # Safety
/// `a` readable for `R` rows and `kc` depth steps with these strides, `bp`
/// for `kc * NR` floats, `c` writable for `R` rows of `nr` floats, stride `ldc`.
#[target_feature(enable = "neon")]
#[allow(clippy::too_many_arguments)]
unsafe fn micro<const TA: bool, const R: usize>(
    kc: usize,
    a: *const f32,
    lda: usize,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    nr: usize,
    beta: f32,
) {
    let mut acc = [[vdupq_n_f32(0.0); 2]; R];
    // SAFETY: reads stay inside the A panel and the packed strip.
    unsafe {
        let mut pb = bp;
        if TA {
            let mut pa = a;
            for _ in 0..kc {
                let (b0, b1) = (vld1q_f32(pb), vld1q_f32(pb.add(LANES)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = *pa.add(r);
                    acc[0] = vfmaq_n_f32(acc[0], b0, av);
                    acc[1] = vfmaq_n_f32(acc[1], b1, av);
                }
                pa = pa.add(lda);
                pb = pb.add(NR);
            }
        } else {
            let mut rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * lda));
            for _ in 0..kc {
                let (b0, b1) = (vld1q_f32(pb), vld1q_f32(pb.add(LANES)));
                for (acc, row) in acc.iter_mut().zip(rows.iter_mut()) {
                    let av = **row;
                    acc[0] = vfmaq_n_f32(acc[0], b0, av);
                    acc[1] = vfmaq_n_f32(acc[1], b1, av);
                    *row = row.add(1);
                }
                pb = pb.add(NR);
            }
        }
    }
    let mut tile = [0.0f32; NR];
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: `tile` holds NR floats; row r of C holds nr writable floats.
        unsafe {
            vst1q_f32(tile.as_mut_ptr(), acc[0]);
            vst1q_f32(tile.as_mut_ptr().add(LANES), acc[1]);
            for (j, &t) in tile.iter().enumerate().take(nr) {
                let pc = c.add(r * ldc + j);
                let old = if beta == 0.0 { 0.0 } else { beta * *pc };
                *pc = old + t;
            }
        }
    }
}

/// `c = beta * c + op(a) · op(b)`: packs `NR`-column strips of `op(B)` and
/// runs an `8 x 8` register tile over balanced row panels of `op(A)`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) {
    assert_eq!(a.len(), m * k, "gemm: a shape");
    assert_eq!(b.len(), k * n, "gemm: b shape");
    assert_eq!(c.len(), m * n, "gemm: c shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for v in c.iter_mut() {
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
        }
        return;
    }
    let blocks = k.div_ceil(KC);
    let kb = k.div_ceil(blocks);
    let mut packed = [0.0f32; KC * NR];
    let lda = if trans_a { m } else { k };
    let tiles = m.div_ceil(MR);
    let pc_ptr = c.as_mut_ptr();
    for jc in (0..n).step_by(NR) {
        let nr = NR.min(n - jc);
        for pc in (0..k).step_by(kb) {
            let kc = kb.min(k - pc);
            for p in 0..kc {
                let dst = &mut packed[p * NR..(p + 1) * NR];
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = if j >= nr {
                        0.0
                    } else if trans_b {
                        b[(jc + j) * k + pc + p]
                    } else {
                        b[(pc + p) * n + jc + j]
                    };
                }
            }
            let beta_blk = if pc == 0 { beta } else { 1.0 };
            let mut ic = 0;
            for t in 0..tiles {
                let mr = (m - ic) / (tiles - t);
                let a_off = if trans_a { pc * m + ic } else { ic * k + pc };
                // SAFETY: the A panel spans mr rows and kc depth steps inside
                // `a`; the C tile spans mr rows of nr floats inside `c`; the
                // packed strip holds KC * NR >= kc * NR floats.
                unsafe {
                    let ap = a.as_ptr().add(a_off);
                    let cp = pc_ptr.add(ic * n + jc);
                    let bp = packed.as_ptr();
                    macro_rules! run {
                        ($ta:literal) => {
                            match mr {
                                1 => micro::<$ta, 1>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                                2 => micro::<$ta, 2>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                                3 => micro::<$ta, 3>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                                4 => micro::<$ta, 4>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                                5 => micro::<$ta, 5>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                                6 => micro::<$ta, 6>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                                7 => micro::<$ta, 7>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                                _ => micro::<$ta, MR>(kc, ap, lda, bp, cp, n, nr, beta_blk),
                            }
                        };
                    }
                    if trans_a { run!(true) } else { run!(false) }
                }
                ic += mr;
            }
        }
    }
}

/// `e^x` for four lanes; same method and accuracy as the AVX2 variant.
#[target_feature(enable = "neon")]
#[inline]
fn exp4(x: float32x4_t) -> float32x4_t {
    let lo = vdupq_n_f32(-87.3);
    let xc = vminq_f32(vmaxq_f32(x, lo), vdupq_n_f32(88.3));
    let n = vrndnq_f32(vmulq_n_f32(xc, core::f32::consts::LOG2_E));
    let r = vfmsq_f32(xc, n, vdupq_n_f32(0.693_359_4));
    let r = vfmsq_f32(r, n, vdupq_n_f32(-2.121_944_4e-4));
    let mut p = vdupq_n_f32(1.987_569_1e-4);
    p = vfmaq_f32(vdupq_n_f32(1.398_199_9e-3), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.333_452e-3), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.166_579_6e-2), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.166_666_65), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5), p, r);
    let r2 = vmulq_f32(r, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0)), p, r2);
    let e = vshlq_n_s32::<23>(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)));
    let y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    let under = vcltq_f32(x, lo);
    vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), under))
}

#[target_feature(enable = "neon")]
#[inline]
fn sigmoid4(x: float32x4_t) -> float32x4_t {
    let one = vdupq_n_f32(1.0);
    let e = exp4(vnegq_f32(vabsq_f32(x)));
    let num = vbslq_f32(vcgeq_f32(x, vdupq_n_f32(0.0)), one, e);
    vdivq_f32(num, vaddq_f32(one, e))
}

#[target_feature(enable = "neon")]
#[inline]
fn tanh4(x: float32x4_t) -> float32x4_t {
    let one = vdupq_n_f32(1.0);
    let ax = vabsq_f32(x);
    let t = exp4(vmulq_n_f32(ax, -2.0));
    let big = vdivq_f32(vsubq_f32(one, t), vaddq_f32(one, t));
    let big = vbslq_f32(vdupq_n_u32(0x8000_0000), x, big);
    let x2 = vmulq_f32(x, x);
    let mut p = vdupq_n_f32(62.0 / 2835.0);
    p = vfmaq_f32(vdupq_n_f32(-17.0 / 315.0), p, x2);
    p = vfmaq_f32(vdupq_n_f32(2.0 / 15.0), p, x2);
    p = vfmaq_f32(vdupq_n_f32(-1.0 / 3.0), p, x2);
    let small = vfmaq_f32(x, vmulq_f32(p, x2), x);
    vbslq_f32(vcltq_f32(ax, vdupq_n_f32(0.25)), small, big)
}

/// Applies `f` lane-wise from `src` to `dst` (`n` floats; they may alias).
///
/// # Safety
/// `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn map(src: *const f32, dst: *mut f32, n: usize, f: impl Fn(float32x4_t) -> float32x4_t) {
    let mut i = 0;
    // SAFETY: lanes i..i+4 <= n; the tail goes through a stack buffer.
    unsafe {
        while i + LANES <= n {
            vst1q_f32(dst.add(i), f(vld1q_f32(src.add(i))));
            i += LANES;
        }
        if i < n {
            let mut buf = [0.0f32; LANES];
            core::ptr::copy_nonoverlapping(src.add(i), buf.as_mut_ptr(), n - i);
            vst1q_f32(buf.as_mut_ptr(), f(vld1q_f32(buf.as_ptr())));
            core::ptr::copy_nonoverlapping(buf.as_ptr(), dst.add(i), n - i);
        }
    }
}

/// Applies `f(y, dy)` lane-wise into `dx` (`n` floats; `dx` may alias `dy`).
///
/// # Safety
/// `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn map2(
    y: *const f32,
    dy: *const f32,
    dx: *mut f32,
    n: usize,
    f: impl Fn(float32x4_t, float32x4_t) -> float32x4_t,
) {
    let mut i = 0;
    // SAFETY: lanes i..i+4 <= n; the tail goes through stack buffers.
    unsafe {
        while i + LANES <= n {
            vst1q_f32(dx.add(i), f(vld1q_f32(y.add(i)), vld1q_f32(dy.add(i))));
            i += LANES;
        }
        if i < n {
            let mut a = [0.0f32; LANES];
            let mut b = [0.0f32; LANES];
            core::ptr::copy_nonoverlapping(y.add(i), a.as_mut_ptr(), n - i);
            core::ptr::copy_nonoverlapping(dy.add(i), b.as_mut_ptr(), n - i);
            vst1q_f32(
                a.as_mut_ptr(),
                f(vld1q_f32(a.as_ptr()), vld1q_f32(b.as_ptr())),
            );
            core::ptr::copy_nonoverlapping(a.as_ptr(), dx.add(i), n - i);
        }
    }
}

/// ReLU from `src` to `dst` (`n` floats, may alias).
///
/// # Safety
/// NEON; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn relu(src: *const f32, dst: *mut f32, n: usize) {
    // `maxnm` returns the number for NaN and +0 for ±0: the scalar policy.
    // SAFETY: forwarded from the caller.
    unsafe { map(src, dst, n, |x| vmaxnmq_f32(x, vdupq_n_f32(0.0))) }
}

/// ReLU6 from `src` to `dst` (`n` floats, may alias).
///
/// # Safety
/// NEON; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn relu6(src: *const f32, dst: *mut f32, n: usize) {
    // `maxnm` maps NaN to 0 (as scalar), then `minnm` caps at 6.
    // SAFETY: forwarded from the caller.
    unsafe {
        map(src, dst, n, |x| {
            vminnmq_f32(vmaxnmq_f32(x, vdupq_n_f32(0.0)), vdupq_n_f32(6.0))
        })
    }
}

/// Logistic sigmoid from `src` to `dst` (`n` floats, may alias).
///
/// # Safety
/// NEON; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn sigmoid(src: *const f32, dst: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { map(src, dst, n, |x| sigmoid4(x)) }
}

/// Hyperbolic tangent from `src` to `dst` (`n` floats, may alias).
///
/// # Safety
/// NEON; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn tanh(src: *const f32, dst: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { map(src, dst, n, |x| tanh4(x)) }
}

/// ReLU backward: `dx = y > 0 ? dy : 0`.
///
/// # Safety
/// NEON; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn relu_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            let m = vcgtq_f32(y, vdupq_n_f32(0.0));
            vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(g)))
        })
    }
}

/// ReLU6 backward: `dx = 0 < y < 6 ? dy : 0`.
///
/// # Safety
/// NEON; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn relu6_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            let m = vandq_u32(
                vcgtq_f32(y, vdupq_n_f32(0.0)),
                vcltq_f32(y, vdupq_n_f32(6.0)),
            );
            vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(g)))
        })
    }
}

/// Sigmoid backward: `dx = dy * y * (1 - y)`.
///
/// # Safety
/// NEON; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn sigmoid_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            vmulq_f32(g, vmulq_f32(y, vsubq_f32(vdupq_n_f32(1.0), y)))
        })
    }
}

/// Tanh backward: `dx = dy * (1 - y²)`.
///
/// # Safety
/// NEON; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "neon")]
pub(super) unsafe fn tanh_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            vmulq_f32(g, vfmsq_f32(vdupq_n_f32(1.0), y, y))
        })
    }
}

/// `y = e^(x - shift)`, returning `sum(y)`.
///
/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub(super) unsafe fn exp_shift_sum(x: &[f32], shift: f32, y: &mut [f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "exp_shift_sum: length mismatch");
    let n = x.len();
    let sv = vdupq_n_f32(shift);
    let mut acc = vdupq_n_f32(0.0);
    let mut i = 0;
    // SAFETY: lanes i..i+4 <= n of both slices.
    unsafe {
        while i + LANES <= n {
            let e = exp4(vsubq_f32(vld1q_f32(x.as_ptr().add(i)), sv));
            vst1q_f32(y.as_mut_ptr().add(i), e);
            acc = vaddq_f32(acc, e);
            i += LANES;
        }
    }
    let mut s = vaddvq_f32(acc);
    if i < n {
        let mut buf = [f32::NEG_INFINITY; LANES];
        buf[..n - i].copy_from_slice(&x[i..]);
        // SAFETY: `buf` holds 4 floats.
        unsafe {
            let e = exp4(vsubq_f32(vld1q_f32(buf.as_ptr()), sv));
            vst1q_f32(buf.as_mut_ptr(), e);
        }
        y[i..].copy_from_slice(&buf[..n - i]);
        s += buf[..n - i].iter().sum::<f32>();
    }
    s
}
