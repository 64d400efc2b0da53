//! x86-64 AVX-512F matrix multiply: the one compute-bound kernel, where
//! 16-lane FMAs double the AVX2 throughput on cores with 512-bit datapaths.
//! Everything memory-bound stays in [`super::avx2`].
//!
//! Every function here requires a CPU with AVX-512F (which implies AVX2 and
//! FMA); [`super`] calls them only after checking that at compile time or at
//! run time.

use super::avx2::transpose8;
use core::arch::x86_64::*;

const LANES: usize = 16;
/// Rows of `C` per micro-kernel tile.
const MR: usize = 12;
/// Columns of `C` per micro-kernel tile (two vectors).
const NR: usize = 32;
/// Largest depth block; the packed `B` strip (`KC x NR`) stays in L1.
const KC: usize = 256;

#[repr(C, align(64))]
struct PackedB([f32; KC * NR]);

/// Packs `op(B)[pc..pc+kc, jc..jc+nr]` as `kc` rows of `NR` floats, zero-padded.
#[target_feature(enable = "avx512f,avx2,fma")]
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
            for jb in (0..NR).step_by(8) {
                let mut r: [__m256; 8] = core::array::from_fn(|j| {
                    let row = &b[(jc + jb + j) * k + pc + p..][..8];
                    // SAFETY: `row` holds 8 floats.
                    unsafe { _mm256_loadu_ps(row.as_ptr()) }
                });
                transpose8(&mut r);
                for (q, v) in r.iter().enumerate() {
                    let dst = &mut out[(p + q) * NR + jb..][..8];
                    // SAFETY: `dst` holds 8 floats.
                    unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *v) };
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
/// over depth `kc`; see the AVX2 micro-kernel for the argument conventions.
///
/// # Safety
/// `a` must be readable for `R` rows and `kc` depth steps with these strides,
/// `bp` for `kc * NR` floats (64-byte aligned), and `c` writable for `R` rows
/// of `nr` floats with row stride `ldc`.
#[target_feature(enable = "avx512f,avx2,fma")]
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
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    // SAFETY: reads stay inside the A panel and the packed B strip the
    // caller guarantees.
    unsafe {
        if TA {
            let mut pa = a;
            let mut pb = bp;
            for _ in 0..kc {
                let b0 = _mm512_load_ps(pb);
                let b1 = _mm512_load_ps(pb.add(LANES));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*pa.add(r));
                    acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
                }
                pa = pa.add(lda);
                pb = pb.add(NR);
            }
        } else {
            let mut rows: [*const f32; R] = core::array::from_fn(|r| a.add(r * lda));
            let mut pb = bp;
            for _ in 0..kc {
                let b0 = _mm512_load_ps(pb);
                let b1 = _mm512_load_ps(pb.add(LANES));
                for (acc, row) in acc.iter_mut().zip(rows.iter_mut()) {
                    let av = _mm512_set1_ps(**row);
                    acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
                    *row = row.add(1);
                }
                pb = pb.add(NR);
            }
        }
    }
    let bv = _mm512_set1_ps(beta);
    // Lanes of the second vector that exist in C (all when nr == NR).
    let (m0, m1): (__mmask16, __mmask16) = if nr >= NR {
        (0xffff, 0xffff)
    } else if nr >= LANES {
        (0xffff, ((1u32 << (nr - LANES)) - 1) as u16)
    } else {
        (((1u32 << nr) - 1) as u16, 0)
    };
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: row r of C holds nr writable floats at c + r * ldc; the
        // masks limit every access to those.
        unsafe {
            let pc = c.add(r * ldc);
            // Past the row end when nr <= LANES; masked accesses never touch it.
            let pc1 = pc.wrapping_add(LANES);
            let (mut v0, mut v1) = (acc[0], acc[1]);
            if beta != 0.0 {
                v0 = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m0, pc), v0);
                v1 = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m1, pc1), v1);
            }
            _mm512_mask_storeu_ps(pc, m0, v0);
            _mm512_mask_storeu_ps(pc1, m1, v1);
        }
    }
}

/// Runs [`micro`] with the row count `mr` (1 to `MR`) as a constant.
///
/// # Safety
/// As [`micro`] with `R = mr`.
#[target_feature(enable = "avx512f,avx2,fma")]
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
    macro_rules! rows {
        ($($r:literal)*) => {
            match mr {
                // SAFETY: forwarded from the caller.
                $($r => unsafe { micro::<TA, $r>(kc, a, lda, bp, c, ldc, nr, beta) },)*
                // SAFETY: forwarded from the caller (mr == MR).
                _ => unsafe { micro::<TA, MR>(kc, a, lda, bp, c, ldc, nr, beta) },
            }
        };
    }
    rows!(1 2 3 4 5 6 7 8 9 10 11)
}

/// `c = beta * c + op(a) · op(b)`, blocked like the AVX2 version with a
/// `12 x 32` register tile.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
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
                let mr = (m - ic) / (tiles - t);
                let a_off = if trans_a { pc * m + ic } else { ic * k + pc };
                // SAFETY: the A panel spans mr rows and kc depth steps inside
                // `a`; the C tile spans mr rows of nr floats inside `c`; the
                // packed strip holds KC * NR >= kc * NR floats, 64-byte aligned.
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
