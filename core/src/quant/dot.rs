//! The int8 inner product every int8 layer is built on:
//! `acc + sum(w[i] * (x[i] - x_zero_point))` in wrapping `i32`.
//!
//! Three variants, all bit-identical:
//!
//! - `*_scalar`: the reference, one element at a time.
//! - `*_dsp` (Arm with the DSP extension, `cfg(myelin_arm_dsp)`, set for every
//!   `thumbv7em` target): four elements per step with `SXTB16` (unpack two
//!   int8 lanes to int16), `SADD16` (subtract the zero point in both lanes)
//!   and `SMLAD` (two 16x16 multiplies added to the accumulator).
//! - `*_emulated`: the same loop as `*_dsp`, instruction for instruction, with
//!   each instruction written in portable Rust, so any host can check it.
//!
//! Why they agree bit for bit: every operand is exact (`x - zero_point` lies
//! in `[-255, 255]`, which fits an int16 lane; a product is below `2^15` in
//! magnitude), and `SMLAD` adds modulo `2^32` like `i32::wrapping_add`.
//! Addition modulo `2^32` is associative and commutative, so the grouping the
//! DSP loop uses gives the same `i32` as the scalar loop for every input,
//! overflow included.
//!
//! On x86-64, AVX2 ([`dot_avx2`]) and AVX-VNNI ([`dot_vnni`]) variants follow
//! the same argument with sixteen and thirty-two lanes.
//!
//! [`dot`] and [`dot2`] pick the DSP variant on Arm with DSP, AVX-VNNI or
//! AVX2 on x86-64 when the CPU has them (known at compile time, or probed
//! once with feature `std`), and the scalar one elsewhere.

#[cfg(target_arch = "x86_64")]
pub use super::x86::{dot_avx2, dot_vnni, dot2_avx2, dot2_vnni};

/// True when [`dot`] and [`dot2`] (and so the int8 layers) use the Cortex-M
/// DSP instructions.
pub const DSP_ACTIVE: bool = cfg!(myelin_arm_dsp);

/// `acc + sum(w[i] * (x[i] - x_zero_point))`, wrapping, with the fastest
/// variant this target has.
///
/// # Panics
/// If `w` and `x` differ in length.
#[inline]
pub fn dot(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
    Active::dot(w, x, x_zero_point, acc)
}

/// [`dot`] of two weight rows with the same input: returns
/// `(acc0 + w0·(x - zp), acc1 + w1·(x - zp))`.
///
/// # Panics
/// If `w0`, `w1` and `x` differ in length.
#[inline]
pub fn dot2(w0: &[i8], w1: &[i8], x: &[i8], x_zero_point: i8, acc: (i32, i32)) -> (i32, i32) {
    Active::dot2(w0, w1, x, x_zero_point, acc)
}

/// Scalar reference of [`dot`].
///
/// # Panics
/// If `w` and `x` differ in length.
pub fn dot_scalar(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
    assert_eq!(w.len(), x.len(), "int8 dot: lengths differ");
    let zp = i32::from(x_zero_point);
    w.iter().zip(x).fold(acc, |acc, (&w, &x)| {
        acc.wrapping_add(i32::from(w) * (i32::from(x) - zp))
    })
}

/// Scalar reference of [`dot2`].
///
/// # Panics
/// If `w0`, `w1` and `x` differ in length.
pub fn dot2_scalar(
    w0: &[i8],
    w1: &[i8],
    x: &[i8],
    x_zero_point: i8,
    acc: (i32, i32),
) -> (i32, i32) {
    (
        dot_scalar(w0, x, x_zero_point, acc.0),
        dot_scalar(w1, x, x_zero_point, acc.1),
    )
}

/// The DSP loop of [`dot`] with each instruction emulated in portable Rust.
///
/// # Panics
/// If `w` and `x` differ in length.
pub fn dot_emulated(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
    dot_with::<Portable>(w, x, x_zero_point, acc)
}

/// The DSP loop of [`dot2`] with each instruction emulated in portable Rust.
///
/// # Panics
/// If `w0`, `w1` and `x` differ in length.
pub fn dot2_emulated(
    w0: &[i8],
    w1: &[i8],
    x: &[i8],
    x_zero_point: i8,
    acc: (i32, i32),
) -> (i32, i32) {
    dot2_with::<Portable>(w0, w1, x, x_zero_point, acc)
}

/// [`dot`] with the Cortex-M DSP instructions.
///
/// # Panics
/// If `w` and `x` differ in length.
#[cfg(myelin_arm_dsp)]
pub fn dot_dsp(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
    dot_with::<arm::Dsp>(w, x, x_zero_point, acc)
}

/// [`dot2`] with the Cortex-M DSP instructions.
///
/// # Panics
/// If `w0`, `w1` and `x` differ in length.
#[cfg(myelin_arm_dsp)]
pub fn dot2_dsp(w0: &[i8], w1: &[i8], x: &[i8], x_zero_point: i8, acc: (i32, i32)) -> (i32, i32) {
    dot2_with::<arm::Dsp>(w0, w1, x, x_zero_point, acc)
}

/// The four Arm DSP instructions the dual-MAC loop uses, on 32-bit words
/// holding two 16-bit lanes (bits 0..16 and 16..32).
pub(crate) trait DualMac {
    /// `SXTB16 d, x`: bytes 0 and 2 of `x`, sign-extended into the two lanes.
    fn sxtb16(x: u32) -> u32;
    /// `SXTB16 d, x, ROR #8`: bytes 1 and 3 of `x`, sign-extended.
    fn sxtb16_ror8(x: u32) -> u32;
    /// `SADD16 d, a, b`: lane-wise wrapping 16-bit add.
    fn sadd16(a: u32, b: u32) -> u32;
    /// `SMLAD d, a, b, acc`: `acc + a.lo * b.lo + a.hi * b.hi` modulo `2^32`.
    fn smlad(a: u32, b: u32, acc: i32) -> i32;
}

/// Portable definitions of [`DualMac`], following the Arm pseudocode.
pub(crate) struct Portable;

impl DualMac for Portable {
    #[inline(always)]
    fn sxtb16(x: u32) -> u32 {
        let lo = x as u8 as i8 as i16 as u16;
        let hi = (x >> 16) as u8 as i8 as i16 as u16;
        u32::from(lo) | (u32::from(hi) << 16)
    }

    #[inline(always)]
    fn sxtb16_ror8(x: u32) -> u32 {
        Self::sxtb16(x.rotate_right(8))
    }

    #[inline(always)]
    fn sadd16(a: u32, b: u32) -> u32 {
        let lo = (a as u16 as i16).wrapping_add(b as u16 as i16) as u16;
        let hi = ((a >> 16) as u16 as i16).wrapping_add((b >> 16) as u16 as i16) as u16;
        u32::from(lo) | (u32::from(hi) << 16)
    }

    #[inline(always)]
    fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let lo = i32::from(a as u16 as i16) * i32::from(b as u16 as i16);
        let hi = i32::from((a >> 16) as u16 as i16) * i32::from((b >> 16) as u16 as i16);
        // The architectural result is the exact sum truncated to 32 bits.
        (i64::from(acc) + i64::from(lo) + i64::from(hi)) as i32
    }
}

#[cfg(myelin_arm_dsp)]
pub(crate) mod arm {
    use super::DualMac;
    use core::arch::asm;

    /// The DSP extension's instructions through inline assembly.
    pub(crate) struct Dsp;

    impl DualMac for Dsp {
        #[inline(always)]
        fn sxtb16(x: u32) -> u32 {
            let d: u32;
            // SAFETY: SXTB16 exists on every target with cfg(myelin_arm_dsp)
            // (build.rs sets it only for Arm cores with the DSP extension); it
            // reads and writes registers only.
            unsafe {
                asm!("sxtb16 {d}, {x}", d = lateout(reg) d, x = in(reg) x,
                    options(pure, nomem, nostack, preserves_flags));
            }
            d
        }

        #[inline(always)]
        fn sxtb16_ror8(x: u32) -> u32 {
            let d: u32;
            // SAFETY: as for `sxtb16`; the rotation is part of the instruction.
            unsafe {
                asm!("sxtb16 {d}, {x}, ror #8", d = lateout(reg) d, x = in(reg) x,
                    options(pure, nomem, nostack, preserves_flags));
            }
            d
        }

        #[inline(always)]
        fn sadd16(a: u32, b: u32) -> u32 {
            let d: u32;
            // SAFETY: SADD16 is a DSP-extension register instruction (see
            // `sxtb16`); it also sets the APSR.GE bits, which no Rust code
            // reads, so `preserves_flags` is not claimed.
            unsafe {
                asm!("sadd16 {d}, {a}, {b}", d = lateout(reg) d, a = in(reg) a, b = in(reg) b,
                    options(pure, nomem, nostack));
            }
            d
        }

        #[inline(always)]
        fn smlad(a: u32, b: u32, acc: i32) -> i32 {
            let d: i32;
            // SAFETY: SMLAD is a DSP-extension register instruction (see
            // `sxtb16`); on overflow it sets the sticky APSR.Q bit, which no
            // Rust code reads, so `preserves_flags` is not claimed.
            unsafe {
                asm!("smlad {d}, {a}, {b}, {acc}", d = lateout(reg) d, a = in(reg) a,
                    b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack));
            }
            d
        }
    }
}

/// Both lanes hold `-zero_point` (in `[-127, 128]`, fits an int16 lane).
#[inline(always)]
fn packed_offset(x_zero_point: i8) -> u32 {
    let lane = u32::from((-i16::from(x_zero_point)) as u16);
    lane | (lane << 16)
}

/// Four int8 values as one little-endian word, as `LDR` loads them.
#[inline(always)]
fn word(b: &[i8]) -> u32 {
    u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
}

#[inline(always)]
fn dot_with<M: DualMac>(w: &[i8], x: &[i8], x_zero_point: i8, mut acc: i32) -> i32 {
    assert_eq!(w.len(), x.len(), "int8 dot: lengths differ");
    let offset = packed_offset(x_zero_point);
    let (w4, w_tail) = w.split_at(w.len() & !3);
    let (x4, x_tail) = x.split_at(x.len() & !3);
    for (w, x) in w4.chunks_exact(4).zip(x4.chunks_exact(4)) {
        let xw = word(x);
        let x02 = M::sadd16(M::sxtb16(xw), offset);
        let x13 = M::sadd16(M::sxtb16_ror8(xw), offset);
        let ww = word(w);
        acc = M::smlad(M::sxtb16(ww), x02, acc);
        acc = M::smlad(M::sxtb16_ror8(ww), x13, acc);
    }
    dot_scalar(w_tail, x_tail, x_zero_point, acc)
}

#[inline(always)]
fn dot2_with<M: DualMac>(
    w0: &[i8],
    w1: &[i8],
    x: &[i8],
    x_zero_point: i8,
    acc: (i32, i32),
) -> (i32, i32) {
    assert!(
        w0.len() == x.len() && w1.len() == x.len(),
        "int8 dot2: lengths differ"
    );
    let (mut acc0, mut acc1) = acc;
    let offset = packed_offset(x_zero_point);
    let n4 = x.len() & !3;
    for ((x, w0), w1) in x[..n4]
        .chunks_exact(4)
        .zip(w0[..n4].chunks_exact(4))
        .zip(w1[..n4].chunks_exact(4))
    {
        let xw = word(x);
        let x02 = M::sadd16(M::sxtb16(xw), offset);
        let x13 = M::sadd16(M::sxtb16_ror8(xw), offset);
        let a = word(w0);
        acc0 = M::smlad(M::sxtb16(a), x02, acc0);
        acc0 = M::smlad(M::sxtb16_ror8(a), x13, acc0);
        let b = word(w1);
        acc1 = M::smlad(M::sxtb16(b), x02, acc1);
        acc1 = M::smlad(M::sxtb16_ror8(b), x13, acc1);
    }
    (
        dot_scalar(&w0[n4..], &x[n4..], x_zero_point, acc0),
        dot_scalar(&w1[n4..], &x[n4..], x_zero_point, acc1),
    )
}

/// An int8 dot-product implementation the layer kernels are generic over.
pub(crate) trait DotKernel {
    fn dot(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32;
    fn dot2(w0: &[i8], w1: &[i8], x: &[i8], x_zero_point: i8, acc: (i32, i32)) -> (i32, i32);
}

/// [`dot_scalar`] as a [`DotKernel`].
pub(crate) struct Scalar;
impl DotKernel for Scalar {
    #[inline(always)]
    fn dot(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
        dot_scalar(w, x, x_zero_point, acc)
    }
    #[inline(always)]
    fn dot2(w0: &[i8], w1: &[i8], x: &[i8], x_zero_point: i8, acc: (i32, i32)) -> (i32, i32) {
        dot2_scalar(w0, w1, x, x_zero_point, acc)
    }
}

/// [`dot_emulated`] as a [`DotKernel`].
pub(crate) struct Emulated;
impl DotKernel for Emulated {
    #[inline(always)]
    fn dot(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
        dot_with::<Portable>(w, x, x_zero_point, acc)
    }
    #[inline(always)]
    fn dot2(w0: &[i8], w1: &[i8], x: &[i8], x_zero_point: i8, acc: (i32, i32)) -> (i32, i32) {
        dot2_with::<Portable>(w0, w1, x, x_zero_point, acc)
    }
}

/// The DSP variant as a [`DotKernel`].
#[cfg(myelin_arm_dsp)]
pub(crate) struct Dsp;
#[cfg(myelin_arm_dsp)]
impl DotKernel for Dsp {
    #[inline(always)]
    fn dot(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
        dot_with::<arm::Dsp>(w, x, x_zero_point, acc)
    }
    #[inline(always)]
    fn dot2(w0: &[i8], w1: &[i8], x: &[i8], x_zero_point: i8, acc: (i32, i32)) -> (i32, i32) {
        dot2_with::<arm::Dsp>(w0, w1, x, x_zero_point, acc)
    }
}

/// AVX-VNNI, else AVX2, else scalar, whichever the CPU has, as a
/// [`DotKernel`].
#[cfg(target_arch = "x86_64")]
pub(crate) struct X86;
#[cfg(target_arch = "x86_64")]
impl DotKernel for X86 {
    #[inline(always)]
    fn dot(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
        match x86_level() {
            // SAFETY: `x86_level` confirmed AVX2 and AVX-VNNI.
            X86Level::Vnni if x.len() >= VNNI_STEP => unsafe { dot_vnni(w, x, x_zero_point, acc) },
            // SAFETY: `x86_level` confirmed AVX2.
            X86Level::Avx2 | X86Level::Vnni if x.len() >= AVX2_STEP => unsafe {
                dot_avx2(w, x, x_zero_point, acc)
            },
            _ => dot_scalar(w, x, x_zero_point, acc),
        }
    }
    #[inline(always)]
    fn dot2(w0: &[i8], w1: &[i8], x: &[i8], x_zero_point: i8, acc: (i32, i32)) -> (i32, i32) {
        match x86_level() {
            // SAFETY: `x86_level` confirmed AVX2 and AVX-VNNI.
            X86Level::Vnni if x.len() >= VNNI_STEP => unsafe {
                dot2_vnni(w0, w1, x, x_zero_point, acc)
            },
            // SAFETY: `x86_level` confirmed AVX2.
            X86Level::Avx2 | X86Level::Vnni if x.len() >= AVX2_STEP => unsafe {
                dot2_avx2(w0, w1, x, x_zero_point, acc)
            },
            _ => dot2_scalar(w0, w1, x, x_zero_point, acc),
        }
    }
}

/// Elements per step of the AVX-VNNI and AVX2 loops: a shorter vector
/// (a 3-tap kernel row) runs the next narrower variant, as the wide one would
/// only add its set-up and horizontal sums to the same scalar tail.
#[cfg(target_arch = "x86_64")]
const VNNI_STEP: usize = 32;
#[cfg(target_arch = "x86_64")]
const AVX2_STEP: usize = 16;

/// The int8 instruction sets an x86-64 CPU offers, best last.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(any(feature = "std", test, target_feature = "avx2")),
    allow(dead_code, reason = "only the scalar level is reachable in this build")
)]
pub(crate) enum X86Level {
    Scalar,
    Avx2,
    Vnni,
}

/// Whether this CPU runs the AVX2 int8 kernels: known at compile time when
/// the build enables AVX2, probed once (and cached) with feature `std`, else
/// no.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    x86_level() != X86Level::Scalar
}

#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn x86_level() -> X86Level {
    #[cfg(all(target_feature = "avx2", target_feature = "avxvnni"))]
    {
        X86Level::Vnni
    }
    #[cfg(all(
        not(all(target_feature = "avx2", target_feature = "avxvnni")),
        any(feature = "std", test)
    ))]
    {
        extern crate std;
        use core::sync::atomic::{AtomicU8, Ordering};
        // 0: not probed yet, else 1 + the level.
        static CACHE: AtomicU8 = AtomicU8::new(0);
        match CACHE.load(Ordering::Relaxed) {
            0 => {
                let level = if std::is_x86_feature_detected!("avx2") {
                    if std::is_x86_feature_detected!("avxvnni") {
                        X86Level::Vnni
                    } else {
                        X86Level::Avx2
                    }
                } else {
                    X86Level::Scalar
                };
                CACHE.store(1 + level as u8, Ordering::Relaxed);
                level
            }
            1 => X86Level::Scalar,
            2 => X86Level::Avx2,
            _ => X86Level::Vnni,
        }
    }
    #[cfg(all(
        not(all(target_feature = "avx2", target_feature = "avxvnni")),
        not(any(feature = "std", test)),
        target_feature = "avx2"
    ))]
    {
        X86Level::Avx2
    }
    #[cfg(all(not(any(feature = "std", test)), not(target_feature = "avx2")))]
    {
        X86Level::Scalar
    }
}

/// The variant [`dot`] uses on this target.
#[cfg(myelin_arm_dsp)]
pub(crate) type Active = Dsp;
/// The variant [`dot`] uses on this target.
#[cfg(target_arch = "x86_64")]
pub(crate) type Active = X86;
/// The variant [`dot`] uses on this target.
#[cfg(not(any(myelin_arm_dsp, target_arch = "x86_64")))]
pub(crate) type Active = Scalar;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn portable_instructions_follow_the_arm_definitions() {
        // Bytes (lsb first): 0x80 (-128), 0x7f (127), 0xff (-1), 0x01 (1).
        let x = 0x01ff_7f80u32;
        assert_eq!(Portable::sxtb16(x), 0xffff_ff80); // lanes -128, -1
        assert_eq!(Portable::sxtb16_ror8(x), 0x0001_007f); // lanes 127, 1
        assert_eq!(Portable::sadd16(0x7fff_0001, 0x0001_ffff), 0x8000_0000);
        // -32768 * -32768 twice overflows i32: wraps like SMLAD.
        let m = 0x8000_8000u32;
        assert_eq!(Portable::smlad(m, m, 0), i32::MIN);
        assert_eq!(Portable::smlad(0x0002_0003, 0x0005_0007, 1), 1 + 21 + 10);
        assert_eq!(packed_offset(-128), 0x0080_0080);
        assert_eq!(packed_offset(5), 0xfffb_fffb);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn dispatched_dense_equals_scalar() {
        use crate::quant::int8::{DenseQ, dense, dense_scalar};
        use crate::quant::{OutputQuant, Requant};
        let mut state = 7u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for (n_in, n_out) in [(1, 1), (15, 3), (16, 2), (17, 5), (100, 9), (784, 4)] {
            let w: [i8; 4000] = core::array::from_fn(|_| next() as i8);
            let x: [i8; 784] = core::array::from_fn(|_| next() as i8);
            let bias: [i32; 9] = core::array::from_fn(|_| (next() >> 8) as i32 - (1 << 23));
            let rq = [Requant {
                multiplier: 1 << 30,
                shift: -9,
            }];
            let layer = DenseQ {
                weights: &w[..n_in * n_out],
                bias: &bias[..n_out],
                requant: &rq,
                input_zero_point: next() as i8,
                output: OutputQuant::linear(3),
            };
            let (mut a, mut b) = ([0i8; 9], [0i8; 9]);
            dense(&layer, &x[..n_in], &mut a[..n_out]).unwrap();
            dense_scalar(&layer, &x[..n_in], &mut b[..n_out]).unwrap();
            assert_eq!(a, b, "{n_in}x{n_out}");
        }
        assert_eq!(has_avx2(), std::is_x86_feature_detected!("avx2"));
        let vnni =
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni");
        assert_eq!(x86_level() == X86Level::Vnni, vnni);
    }

    #[test]
    fn dot_matches_on_extremes() {
        let w = [-128i8, 127, -128, 127, -128, 127, 1];
        let x = [127i8, -128, -128, 127, 0, 5, -7];
        for zp in [-128i8, 0, 127] {
            let s = dot_scalar(&w, &x, zp, 17);
            assert_eq!(dot_emulated(&w, &x, zp, 17), s);
            let mut expect = 17i64;
            for (&w, &x) in w.iter().zip(&x) {
                expect += i64::from(w) * (i64::from(x) - i64::from(zp));
            }
            assert_eq!(s as i64, expect);
        }
    }
}
