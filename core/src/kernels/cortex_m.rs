//! f32 kernels for Cortex-M cores with a single-precision FPU that has fused
//! multiply-add (Cortex-M4F, M7, M33; `cfg(myelin_cortex_m_fpu)`, set by
//! `build.rs` for `thumbv7em-none-eabihf` and `thumbv8m.main-none-eabihf`).
//!
//! [`dot`] streams eight floats of each operand per `VLDMIA` and accumulates
//! them with `VFMA` into four independent sums: about 1.5 instructions per
//! multiply-accumulate in the loop, against about 4 for the scalar loop the
//! compiler emits (separate loads, multiply and add per element). The sums are
//! fused and in a different order than [`scalar::dot`](super::scalar::dot),
//! so results may differ from it in the last bits, as the AVX2 and NEON
//! kernels' do; the firmware's `kernels` program checks them against it.

use core::arch::asm;

/// `sum(a[i] * b[i])`.
///
/// # Panics
/// If the slices differ in length.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    let blocks = a.len() / 8;
    let mut bits = 0u32;
    if blocks > 0 {
        // SAFETY: `a` and `b` each hold at least `8 * blocks` floats; the loop
        // reads exactly those through the two pointers (advanced by the
        // `VLDMIA` write-back). The FPU registers it uses (s0-s23) are pushed
        // first and popped last, the only stack use, so the compiler's values
        // in them survive; r0-r3 are declared. The target has an FPv4/FPv5 single-precision FPU
        // (`myelin_cortex_m_fpu`), so `VFMA.F32` and s0-s23 exist.
        unsafe {
            asm!(
                "vpush {{s0-s23}}",
                "vmov s0, r3",
                "vmov s1, r3",
                "vmov s2, r3",
                "vmov s3, r3",
                "2:",
                "vldmia r0!, {{s8-s15}}",
                "vldmia r1!, {{s16-s23}}",
                "vfma.f32 s0, s8, s16",
                "vfma.f32 s1, s9, s17",
                "vfma.f32 s2, s10, s18",
                "vfma.f32 s3, s11, s19",
                "vfma.f32 s0, s12, s20",
                "vfma.f32 s1, s13, s21",
                "vfma.f32 s2, s14, s22",
                "vfma.f32 s3, s15, s23",
                "subs r2, r2, #1",
                "bne 2b",
                "vadd.f32 s0, s0, s1",
                "vadd.f32 s2, s2, s3",
                "vadd.f32 s0, s0, s2",
                "vmov r3, s0",
                "vpop {{s0-s23}}",
                inout("r0") a.as_ptr() => _,
                inout("r1") b.as_ptr() => _,
                inout("r2") blocks => _,
                // In: the bits of 0.0 for the sums; out: the bits of the total.
                inout("r3") 0u32 => bits,
                options(readonly),
            );
        }
    }
    let mut sum = f32::from_bits(bits);
    for (x, y) in a[8 * blocks..].iter().zip(&b[8 * blocks..]) {
        sum += x * y;
    }
    sum
}

/// `y = W x + b`, one [`dot`] per row.
///
/// # Panics
/// If the slice lengths do not match.
pub(super) fn gemv(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    assert_eq!(w.len(), x.len() * y.len(), "gemv: weight shape");
    assert_eq!(b.len(), y.len(), "gemv: bias length");
    if x.is_empty() {
        y.copy_from_slice(b);
        return;
    }
    for ((yo, row), bo) in y.iter_mut().zip(w.chunks_exact(x.len())).zip(b) {
        *yo = bo + dot(row, x);
    }
}
