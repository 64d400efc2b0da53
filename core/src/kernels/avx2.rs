//! x86-64 AVX2 + FMA kernels. Each one handles any length (vector body plus a
//! scalar tail) and checks its slice lengths like its scalar twin.
//!
//! Every function here requires a CPU with AVX2 and FMA; [`super`] calls them
//! only after checking that at compile time or at run time.

use core::arch::x86_64::*;

const LANES: usize = 8;

/// Sum of the eight lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Loads 8 floats from `p`.
///
/// # Safety
/// `p` must be valid for reading 8 floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn ld(p: *const f32) -> __m256 {
    // SAFETY: the caller guarantees 8 readable floats at `p`.
    unsafe { _mm256_loadu_ps(p) }
}

/// Stores 8 floats to `p`.
///
/// # Safety
/// `p` must be valid for writing 8 floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn st(p: *mut f32, v: __m256) {
    // SAFETY: the caller guarantees 8 writable floats at `p`.
    unsafe { _mm256_storeu_ps(p, v) }
}

/// `sum(a[i] * b[i])` with four 8-lane accumulators.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads lanes i..i+8 (or i..i+32) with i + width <= n.
    unsafe {
        while i + 4 * LANES <= n {
            for (u, acc) in acc.iter_mut().enumerate() {
                let o = i + u * LANES;
                *acc = _mm256_fmadd_ps(ld(pa.add(o)), ld(pb.add(o)), *acc);
            }
            i += 4 * LANES;
        }
        while i + LANES <= n {
            acc[0] = _mm256_fmadd_ps(ld(pa.add(i)), ld(pb.add(i)), acc[0]);
            i += LANES;
        }
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut s = hsum(v);
    for j in i..n {
        s += a[j] * b[j];
    }
    s
}

/// `y = W x + b`, four rows of `W` at a time.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    assert_eq!(b.len(), y.len(), "gemv: bias length");
    // SAFETY: AVX2 and FMA are enabled in this function.
    unsafe { gemv_impl(w, x, Some(b), y) }
}

/// `y += W x`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv_acc(w: &[f32], x: &[f32], y: &mut [f32]) {
    // SAFETY: AVX2 and FMA are enabled in this function.
    unsafe { gemv_impl(w, x, None, y) }
}

/// `y = W x + b`, or `y += W x` without `b`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_impl(w: &[f32], x: &[f32], b: Option<&[f32]>, y: &mut [f32]) {
    let (n_in, n_out) = (x.len(), y.len());
    assert_eq!(w.len(), n_in * n_out, "gemv: weight shape");
    let px = x.as_ptr();
    let base = |o: usize, y: &[f32]| match b {
        Some(b) => b[o],
        None => y[o],
    };
    let mut o = 0;
    while o + 4 <= n_out {
        let rows: [*const f32; 4] = core::array::from_fn(|r| w[(o + r) * n_in..].as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: rows o..o+4 hold n_in floats each; lanes i..i+8 <= n_in.
        unsafe {
            while i + LANES <= n_in {
                let xv = ld(px.add(i));
                for r in 0..4 {
                    acc[r] = _mm256_fmadd_ps(ld(rows[r].add(i)), xv, acc[r]);
                }
                i += LANES;
            }
        }
        for r in 0..4 {
            let row = &w[(o + r) * n_in..(o + r + 1) * n_in];
            let mut s = hsum(acc[r]);
            for j in i..n_in {
                s += row[j] * x[j];
            }
            y[o + r] = base(o + r, y) + s;
        }
        o += 4;
    }
    for r in o..n_out {
        // SAFETY: AVX2 and FMA are enabled in this function.
        y[r] = base(r, y) + unsafe { dot(&w[r * n_in..(r + 1) * n_in], x) };
    }
}

/// `dx = Wᵀ dy`, four rows of `W` at a time.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv_t(w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (n_in, n_out) = (dx.len(), dy.len());
    assert_eq!(w.len(), n_in * n_out, "gemv_t: weight shape");
    dx.fill(0.0);
    let pd = dx.as_mut_ptr();
    let mut o = 0;
    while o < n_out {
        let nr = (n_out - o).min(4);
        let mut g = [0.0f32; 4];
        g[..nr].copy_from_slice(&dy[o..o + nr]);
        // Rows past the end repeat row `o` with a zero coefficient.
        let rows: [*const f32; 4] =
            core::array::from_fn(|r| w[(o + if r < nr { r } else { 0 }) * n_in..].as_ptr());
        let gv: [__m256; 4] = core::array::from_fn(|r| _mm256_set1_ps(g[r]));
        let mut i = 0;
        // SAFETY: each row holds n_in floats and dx holds n_in; lanes i..i+8 <= n_in.
        unsafe {
            while i + LANES <= n_in {
                let mut d = ld(pd.add(i));
                for r in 0..4 {
                    d = _mm256_fmadd_ps(ld(rows[r].add(i)), gv[r], d);
                }
                st(pd.add(i), d);
                i += LANES;
            }
            for j in i..n_in {
                let mut d = *pd.add(j);
                for r in 0..4 {
                    d += *rows[r].add(j) * g[r];
                }
                *pd.add(j) = d;
            }
        }
        o += nr;
    }
}

/// `y += alpha * x`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: length mismatch");
    let n = x.len();
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let av = _mm256_set1_ps(alpha);
    let mut i = 0;
    // SAFETY: lanes i..i+8 <= n of both slices.
    unsafe {
        while i + LANES <= n {
            st(py.add(i), _mm256_fmadd_ps(av, ld(px.add(i)), ld(py.add(i))));
            i += LANES;
        }
    }
    for j in i..n {
        y[j] += alpha * x[j];
    }
}

/// `dw += dy xᵀ`, one AXPY per row.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn outer_acc(dw: &mut [f32], dy: &[f32], x: &[f32]) {
    assert_eq!(dw.len(), dy.len() * x.len(), "outer_acc: gradient shape");
    if x.is_empty() {
        return;
    }
    for (row, &g) in dw.chunks_exact_mut(x.len()).zip(dy) {
        // SAFETY: AVX2 and FMA are enabled in this function.
        unsafe { axpy(g, x, row) };
    }
}

/// Row correlation `y[j] += sum_t w'[t] * x[j + t]` (`w'` = `w`, reversed if `rev`).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn corr_acc(y: &mut [f32], x: &[f32], w: &[f32], rev: bool) {
    let (n, k) = (y.len(), w.len());
    if n == 0 || k == 0 {
        return;
    }
    assert!(x.len() + 1 >= n + k, "corr_acc: input too short");
    let tap = |t: usize| if rev { w[k - 1 - t] } else { w[t] };
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut j = 0;
    // SAFETY: output lanes j..j+16 (or j+8) <= n; input lanes j+t..j+t+16 with
    // t < k stay below n + k - 1 <= x.len().
    unsafe {
        while j + 2 * LANES <= n {
            let mut a0 = ld(py.add(j));
            let mut a1 = ld(py.add(j + LANES));
            for t in 0..k {
                let wv = _mm256_set1_ps(tap(t));
                a0 = _mm256_fmadd_ps(wv, ld(px.add(j + t)), a0);
                a1 = _mm256_fmadd_ps(wv, ld(px.add(j + t + LANES)), a1);
            }
            st(py.add(j), a0);
            st(py.add(j + LANES), a1);
            j += 2 * LANES;
        }
        while j + LANES <= n {
            let mut a0 = ld(py.add(j));
            for t in 0..k {
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(tap(t)), ld(px.add(j + t)), a0);
            }
            st(py.add(j), a0);
            j += LANES;
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

/// Row cross-correlation sums `out[t] += sum_j g[j] * x[j + t]`, four taps at a
/// time sharing each load of `g`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn corr_dot_acc(out: &mut [f32], x: &[f32], g: &[f32]) {
    let (k, n) = (out.len(), g.len());
    if k == 0 || n == 0 {
        return;
    }
    assert!(x.len() + 1 >= n + k, "corr_dot_acc: input too short");
    let (px, pg) = (x.as_ptr(), g.as_ptr());
    for t0 in (0..k).step_by(4) {
        let nt = (k - t0).min(4);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut j = 0;
        // SAFETY: lanes j..j+8 <= n of `g`; of `x`, lanes up to
        // j + 8 + t0 + q <= n + k - 1 <= x.len() for q < nt.
        unsafe {
            while j + LANES <= n {
                let gv = ld(pg.add(j));
                for (q, acc) in acc.iter_mut().enumerate().take(nt) {
                    *acc = _mm256_fmadd_ps(gv, ld(px.add(j + t0 + q)), *acc);
                }
                j += LANES;
            }
        }
        for (q, acc) in acc.iter().enumerate().take(nt) {
            let t = t0 + q;
            let mut s = hsum(*acc);
            for jj in j..n {
                s += g[jj] * x[jj + t];
            }
            out[t] += s;
        }
    }
}

// ---------------------------------------------------------------- gemm

/// Rows of `C` per micro-kernel tile.
const MR: usize = 6;
/// Columns of `C` per micro-kernel tile (two vectors).
const NR: usize = 16;
/// Largest depth block; the packed `B` strip (`KC x NR`) stays in L1.
const KC: usize = 256;

#[repr(C, align(32))]
struct PackedB([f32; KC * NR]);

/// Transposes the 8x8 block whose rows are `r`, in place.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn transpose8(r: &mut [__m256; 8]) {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    r[0] = _mm256_permute2f128_ps::<0x20>(s0, s4);
    r[1] = _mm256_permute2f128_ps::<0x20>(s1, s5);
    r[2] = _mm256_permute2f128_ps::<0x20>(s2, s6);
    r[3] = _mm256_permute2f128_ps::<0x20>(s3, s7);
    r[4] = _mm256_permute2f128_ps::<0x31>(s0, s4);
    r[5] = _mm256_permute2f128_ps::<0x31>(s1, s5);
    r[6] = _mm256_permute2f128_ps::<0x31>(s2, s6);
    r[7] = _mm256_permute2f128_ps::<0x31>(s3, s7);
}

/// Packs `op(B)[pc..pc+kc, jc..jc+nr]` as `kc` rows of `NR` floats, zero-padded.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn pack_b(
    trans_b: bool,
    b: &[f32],
    n: usize,
    k: usize,
    pc: usize,
    kc: usize,
    jc: usize,
    nr: usize,
    out: &mut PackedB,
) {
    let out = &mut out.0;
    if !trans_b {
        // op(B)[p, j] = b[p * n + j]: rows are contiguous.
        for p in 0..kc {
            let src = &b[(pc + p) * n + jc..(pc + p) * n + jc + nr];
            let dst = &mut out[p * NR..(p + 1) * NR];
            dst[..nr].copy_from_slice(src);
            dst[nr..].fill(0.0);
        }
        return;
    }
    // op(B)[p, j] = b[j * k + p]: transpose 8x8 blocks.
    let mut p = 0;
    if nr == NR {
        while p + 8 <= kc {
            for jb in [0, 8] {
                let mut r: [__m256; 8] = core::array::from_fn(|j| {
                    let row = &b[(jc + jb + j) * k + pc + p..][..8];
                    // SAFETY: `row` holds 8 floats.
                    unsafe { ld(row.as_ptr()) }
                });
                transpose8(&mut r);
                for (q, v) in r.iter().enumerate() {
                    let dst = &mut out[(p + q) * NR + jb..][..8];
                    // SAFETY: `dst` holds 8 floats.
                    unsafe { st(dst.as_mut_ptr(), *v) };
                }
            }
            p += 8;
        }
    }
    for p in p..kc {
        let dst = &mut out[p * NR..(p + 1) * NR];
        for (j, d) in dst.iter_mut().enumerate() {
            *d = if j < nr {
                b[(jc + j) * k + pc + p]
            } else {
                0.0
            };
        }
    }
}

/// One `R x NR` tile (`R <= MR`): `C[..R, ..nr] = beta * C + A_panel · B_panel`
/// over depth `kc`.
///
/// `TA`: `a` points at `op(A)[i0, p0]` stored transposed (row stride 1, depth
/// stride `lda`); otherwise row stride `lda`, depth stride 1. `beta == 0`
/// ignores the old contents of `C`.
///
/// # Safety
/// `a` must be readable for `R` rows and `kc` depth steps with these strides,
/// `bp` for `kc * NR` floats, and `c` writable for `R` rows of `nr` floats
/// with row stride `ldc`.
#[target_feature(enable = "avx2,fma")]
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
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    // SAFETY: reads stay inside the A panel and the packed B strip the
    // caller guarantees.
    unsafe {
        if TA {
            // Rows are adjacent: a[p * lda + r].
            let mut pa = a;
            let mut pb = bp;
            for _ in 0..kc {
                let b0 = _mm256_load_ps(pb);
                let b1 = _mm256_load_ps(pb.add(LANES));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*pa.add(r));
                    acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                }
                pa = pa.add(lda);
                pb = pb.add(NR);
            }
        } else {
            let mut rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * lda));
            let mut pb = bp;
            for _ in 0..kc {
                let b0 = _mm256_load_ps(pb);
                let b1 = _mm256_load_ps(pb.add(LANES));
                for (acc, row) in acc.iter_mut().zip(rows.iter_mut()) {
                    let av = _mm256_broadcast_ss(&**row);
                    acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                    *row = row.add(1);
                }
                pb = pb.add(NR);
            }
        }
    }
    let bv = _mm256_set1_ps(beta);
    if nr == NR {
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row r of C holds NR writable floats at c + r * ldc.
            unsafe {
                let pc = c.add(r * ldc);
                let (mut v0, mut v1) = (acc[0], acc[1]);
                if beta != 0.0 {
                    v0 = _mm256_fmadd_ps(bv, ld(pc), v0);
                    v1 = _mm256_fmadd_ps(bv, ld(pc.add(LANES)), v1);
                }
                st(pc, v0);
                st(pc.add(LANES), v1);
            }
        }
    } else {
        let mut tile = [0.0f32; NR];
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: `tile` holds two vectors; row r of C holds nr writable floats.
            unsafe {
                st(tile.as_mut_ptr(), acc[0]);
                st(tile.as_mut_ptr().add(LANES), acc[1]);
                for (j, &t) in tile.iter().enumerate().take(nr) {
                    let pc = c.add(r * ldc + j);
                    let old = if beta == 0.0 { 0.0 } else { beta * *pc };
                    *pc = old + t;
                }
            }
        }
    }
}

/// Runs [`micro`] with the row count `mr` (1 to `MR`) as a constant.
///
/// # Safety
/// As [`micro`] with `R = mr`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn micro_rows<const TA: bool>(
    mr: usize,
    kc: usize,
    a: *const f32,
    lda: usize,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    nr: usize,
    beta: f32,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match mr {
            1 => micro::<TA, 1>(kc, a, lda, bp, c, ldc, nr, beta),
            2 => micro::<TA, 2>(kc, a, lda, bp, c, ldc, nr, beta),
            3 => micro::<TA, 3>(kc, a, lda, bp, c, ldc, nr, beta),
            4 => micro::<TA, 4>(kc, a, lda, bp, c, ldc, nr, beta),
            5 => micro::<TA, 5>(kc, a, lda, bp, c, ldc, nr, beta),
            _ => micro::<TA, MR>(kc, a, lda, bp, c, ldc, nr, beta),
        }
    }
}

/// `c = beta * c + op(a) · op(b)`: packs `NR`-column strips of `op(B)` in
/// depth blocks of at most `KC` and runs the `MR x NR` micro-kernel over all
/// rows of `op(A)`, read in place.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
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
    // Equal depth blocks, so no block is much shorter than the others.
    let blocks = k.div_ceil(KC);
    let kb = k.div_ceil(blocks);
    let mut packed = PackedB([0.0; KC * NR]);
    let lda = if trans_a { m } else { k };
    let tiles = m.div_ceil(MR);
    let pc_ptr = c.as_mut_ptr();
    for jc in (0..n).step_by(NR) {
        let nr = NR.min(n - jc);
        for pc in (0..k).step_by(kb) {
            let kc = kb.min(k - pc);
            pack_b(trans_b, b, n, k, pc, kc, jc, nr, &mut packed);
            let beta_blk = if pc == 0 { beta } else { 1.0 };
            let mut ic = 0;
            for t in 0..tiles {
                // Balanced row tiles: sizes differ by at most one.
                let mr = (m - ic) / (tiles - t);
                let a_off = if trans_a { pc * m + ic } else { ic * k + pc };
                // SAFETY: the A panel starts at a valid offset and spans mr rows
                // and kc depth steps inside `a` (m * k floats); the C tile spans
                // mr rows of nr floats inside `c` (m * n floats); the packed
                // strip holds KC * NR >= kc * NR floats.
                unsafe {
                    let ap = a.as_ptr().add(a_off);
                    let cp = pc_ptr.add(ic * n + jc);
                    let bp = packed.0.as_ptr();
                    if trans_a {
                        micro_rows::<true>(mr, kc, ap, lda, bp, cp, n, nr, beta_blk);
                    } else {
                        micro_rows::<false>(mr, kc, ap, lda, bp, cp, n, nr, beta_blk);
                    }
                }
                ic += mr;
            }
        }
    }
}

// ------------------------------------------------------ activations

/// `e^x` for eight lanes: Cody-Waite range reduction and a degree-6
/// polynomial. Relative error below 3e-7 for `x` in [-87.3, 88.3]; inputs
/// below -87.3 give 0, inputs above 88.3 give `e^88.3`; NaN stays NaN.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp8(x: __m256) -> __m256 {
    let lo = _mm256_set1_ps(-87.3);
    let hi = _mm256_set1_ps(88.3);
    // max/min return the second operand when either is NaN: keep x second.
    let xc = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        xc,
        _mm256_set1_ps(core::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), xc);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.166_666_65));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5));
    let r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
    let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(n),
        _mm256_set1_epi32(127),
    ));
    let y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, lo);
    _mm256_andnot_ps(under, y)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn abs8(x: __m256) -> __m256 {
    _mm256_andnot_ps(_mm256_set1_ps(-0.0), x)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid8(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), abs8(x)));
    let pos = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_setzero_ps());
    let num = _mm256_blendv_ps(e, one, pos);
    _mm256_div_ps(num, _mm256_add_ps(one, e))
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh8(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    let ax = abs8(x);
    // |x| >= 0.25: (1 - e^-2|x|) / (1 + e^-2|x|) with the sign of x.
    let t = exp8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0)));
    let big = _mm256_div_ps(_mm256_sub_ps(one, t), _mm256_add_ps(one, t));
    let big = _mm256_or_ps(big, _mm256_and_ps(x, _mm256_set1_ps(-0.0)));
    // |x| < 0.25: odd Taylor polynomial through x^9.
    let x2 = _mm256_mul_ps(x, x);
    let mut p = _mm256_set1_ps(62.0 / 2835.0);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-17.0 / 315.0));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.0 / 15.0));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.0 / 3.0));
    let small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), x, x);
    let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(ax, _mm256_set1_ps(0.25));
    _mm256_blendv_ps(big, small, is_small)
}

/// Applies `f` lane-wise from `src` to `dst` (`n` floats; they may alias).
///
/// # Safety
/// `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn map(src: *const f32, dst: *mut f32, n: usize, f: impl Fn(__m256) -> __m256) {
    let mut i = 0;
    // SAFETY: lanes i..i+8 <= n; the tail goes through a stack buffer.
    unsafe {
        while i + LANES <= n {
            st(dst.add(i), f(ld(src.add(i))));
            i += LANES;
        }
        if i < n {
            let mut buf = [0.0f32; LANES];
            core::ptr::copy_nonoverlapping(src.add(i), buf.as_mut_ptr(), n - i);
            st(buf.as_mut_ptr(), f(ld(buf.as_ptr())));
            core::ptr::copy_nonoverlapping(buf.as_ptr(), dst.add(i), n - i);
        }
    }
}

/// Applies `f(y, dy)` lane-wise into `dx` (`n` floats; `dx` may alias `dy`).
///
/// # Safety
/// `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn map2(
    y: *const f32,
    dy: *const f32,
    dx: *mut f32,
    n: usize,
    f: impl Fn(__m256, __m256) -> __m256,
) {
    let mut i = 0;
    // SAFETY: lanes i..i+8 <= n; the tail goes through stack buffers.
    unsafe {
        while i + LANES <= n {
            st(dx.add(i), f(ld(y.add(i)), ld(dy.add(i))));
            i += LANES;
        }
        if i < n {
            let mut a = [0.0f32; LANES];
            let mut b = [0.0f32; LANES];
            core::ptr::copy_nonoverlapping(y.add(i), a.as_mut_ptr(), n - i);
            core::ptr::copy_nonoverlapping(dy.add(i), b.as_mut_ptr(), n - i);
            st(a.as_mut_ptr(), f(ld(a.as_ptr()), ld(b.as_ptr())));
            core::ptr::copy_nonoverlapping(a.as_ptr(), dx.add(i), n - i);
        }
    }
}

/// ReLU from `src` to `dst` (`n` floats, may alias).
///
/// # Safety
/// AVX2 and FMA; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn relu(src: *const f32, dst: *mut f32, n: usize) {
    // `max_ps(x, 0)` returns the second operand for NaN and for ±0: 0, as scalar.
    // SAFETY: forwarded from the caller.
    unsafe { map(src, dst, n, |x| _mm256_max_ps(x, _mm256_setzero_ps())) }
}

/// ReLU6 from `src` to `dst` (`n` floats, may alias).
///
/// # Safety
/// AVX2 and FMA; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn relu6(src: *const f32, dst: *mut f32, n: usize) {
    // `max_ps(x, 0)` maps NaN to 0 (as scalar), then `min_ps` caps at 6.
    // SAFETY: forwarded from the caller.
    unsafe {
        map(src, dst, n, |x| {
            _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), _mm256_set1_ps(6.0))
        })
    }
}

/// Logistic sigmoid from `src` to `dst` (`n` floats, may alias); see [`super::sigmoid`] for accuracy.
///
/// # Safety
/// AVX2 and FMA; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn sigmoid(src: *const f32, dst: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { map(src, dst, n, |x| sigmoid8(x)) }
}

/// Hyperbolic tangent from `src` to `dst` (`n` floats, may alias); see [`super::tanh`] for accuracy.
///
/// # Safety
/// AVX2 and FMA; `src` readable and `dst` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tanh(src: *const f32, dst: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { map(src, dst, n, |x| tanh8(x)) }
}

/// ReLU backward: `dx = y > 0 ? dy : 0`.
///
/// # Safety
/// AVX2 and FMA; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn relu_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(y, _mm256_setzero_ps()), g)
        })
    }
}

/// ReLU6 backward: `dx = 0 < y < 6 ? dy : 0`.
///
/// # Safety
/// AVX2 and FMA; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn relu6_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            let pos = _mm256_cmp_ps::<_CMP_GT_OQ>(y, _mm256_setzero_ps());
            let low = _mm256_cmp_ps::<_CMP_LT_OQ>(y, _mm256_set1_ps(6.0));
            _mm256_and_ps(_mm256_and_ps(pos, low), g)
        })
    }
}

/// Sigmoid backward: `dx = dy * y * (1 - y)`.
///
/// # Safety
/// AVX2 and FMA; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn sigmoid_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            let s = _mm256_mul_ps(y, _mm256_sub_ps(_mm256_set1_ps(1.0), y));
            _mm256_mul_ps(g, s)
        })
    }
}

/// Tanh backward: `dx = dy * (1 - y²)`.
///
/// # Safety
/// AVX2 and FMA; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tanh_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        map2(y, dy, dx, n, |y, g| {
            let s = _mm256_fnmadd_ps(y, y, _mm256_set1_ps(1.0));
            _mm256_mul_ps(g, s)
        })
    }
}

/// Largest element; NaN if any element is NaN; `-inf` for an empty slice.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn max(x: &[f32]) -> f32 {
    let n = x.len();
    let mut m = [_mm256_set1_ps(f32::NEG_INFINITY); 2];
    let mut nan = _mm256_setzero_ps();
    let mut i = 0;
    // SAFETY: lanes i..i+16 <= n.
    unsafe {
        while i + 2 * LANES <= n {
            for (u, m) in m.iter_mut().enumerate() {
                let v = ld(x.as_ptr().add(i + u * LANES));
                *m = _mm256_max_ps(v, *m);
                nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
            }
            i += 2 * LANES;
        }
    }
    if _mm256_movemask_ps(nan) != 0 {
        return f32::NAN;
    }
    let mut lanes = [0.0f32; LANES];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { st(lanes.as_mut_ptr(), _mm256_max_ps(m[0], m[1])) };
    let mut best = f32::NEG_INFINITY;
    for &v in lanes.iter().chain(&x[i..]) {
        if v.is_nan() {
            return v;
        }
        if v > best {
            best = v;
        }
    }
    best
}

/// `y = e^(x - shift)`, returning `sum(y)`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn exp_shift_sum(x: &[f32], shift: f32, y: &mut [f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "exp_shift_sum: length mismatch");
    let n = x.len();
    let sv = _mm256_set1_ps(shift);
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    // SAFETY: lanes i..i+8 <= n of both slices.
    unsafe {
        while i + LANES <= n {
            let e = exp8(_mm256_sub_ps(ld(x.as_ptr().add(i)), sv));
            st(y.as_mut_ptr().add(i), e);
            acc = _mm256_add_ps(acc, e);
            i += LANES;
        }
    }
    let mut s = hsum(acc);
    if i < n {
        let mut buf = [f32::NEG_INFINITY; LANES];
        buf[..n - i].copy_from_slice(&x[i..]);
        // SAFETY: `buf` holds 8 floats.
        let e = exp8(_mm256_sub_ps(unsafe { ld(buf.as_ptr()) }, sv));
        // SAFETY: `buf` holds 8 floats.
        unsafe { st(buf.as_mut_ptr(), e) };
        y[i..].copy_from_slice(&buf[..n - i]);
        s += buf[..n - i].iter().sum::<f32>();
    }
    s
}
