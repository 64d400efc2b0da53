//! AVX2 and AVX-VNNI variants of the int8 inner product (x86-64 hosts).
//!
//! Sixteen elements per step: sign-extend int8 to int16 (`vpmovsxbw`),
//! subtract the zero point (`vpsubw`, exact: `x - zp` is in `[-255, 255]`),
//! multiply and add adjacent pairs into eight `i32` lanes (`vpmaddwd`, exact:
//! at most `2 * 128 * 255`), accumulate with wrapping `vpaddd`. Every step is
//! exact or wraps modulo `2^32`, so the result equals the scalar reference
//! bit for bit (see [`super::dot`]).
//!
//! AVX-VNNI: thirty-two elements per step. `vpdpbusd` multiplies unsigned by
//! signed bytes, so the input is offset to `x + 128` (a sign-bit flip) and
//! the offset removed at the end:
//! `sum w (x - zp) = sum w (x + 128) - (128 + zp) sum w`. Both sums come from
//! `vpdpbusd` (the second against a vector of ones), whose four-product
//! partial sums are exact; the rest is arithmetic modulo `2^32`, so this too
//! equals the scalar reference bit for bit.

use core::arch::x86_64::{
    __m128i, __m256i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32,
    _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16, _mm256_dpbusd_avx_epi32,
    _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi8,
    _mm256_set1_epi16, _mm256_setzero_si256, _mm256_sub_epi16, _mm256_xor_si256,
};

/// Sixteen int8 values from `v[i..i + 16]`, sign-extended to int16.
#[inline]
#[target_feature(enable = "avx2")]
fn load16(v: &[i8], i: usize) -> __m256i {
    let chunk = &v[i..i + 16];
    // SAFETY: `chunk` holds exactly 16 bytes; `loadu` has no alignment
    // requirement.
    let raw = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
    _mm256_cvtepi8_epi16(raw)
}

/// Wrapping sum of the eight `i32` lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// [`dot_scalar`](super::dot::dot_scalar) with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// If `w` and `x` differ in length.
#[target_feature(enable = "avx2")]
pub unsafe fn dot_avx2(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
    assert_eq!(w.len(), x.len(), "int8 dot: lengths differ");
    let zp = _mm256_set1_epi16(i16::from(x_zero_point));
    let n16 = x.len() & !15;
    let mut sum = _mm256_setzero_si256();
    let mut i = 0;
    while i < n16 {
        let xv = _mm256_sub_epi16(load16(x, i), zp);
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(load16(w, i), xv));
        i += 16;
    }
    let acc = acc.wrapping_add(hsum(sum));
    super::dot::dot_scalar(&w[n16..], &x[n16..], x_zero_point, acc)
}

/// [`dot2_scalar`](super::dot::dot2_scalar) with AVX2: the widened input is
/// shared by both rows.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// If `w0`, `w1` and `x` differ in length.
#[target_feature(enable = "avx2")]
pub unsafe fn dot2_avx2(
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
    let zp = _mm256_set1_epi16(i16::from(x_zero_point));
    let n16 = x.len() & !15;
    let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i < n16 {
        let xv = _mm256_sub_epi16(load16(x, i), zp);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(load16(w0, i), xv));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(load16(w1, i), xv));
        i += 16;
    }
    let (a0, a1) = (acc.0.wrapping_add(hsum(s0)), acc.1.wrapping_add(hsum(s1)));
    (
        super::dot::dot_scalar(&w0[n16..], &x[n16..], x_zero_point, a0),
        super::dot::dot_scalar(&w1[n16..], &x[n16..], x_zero_point, a1),
    )
}

/// Thirty-two int8 values from `v[i..i + 32]`.
#[inline]
#[target_feature(enable = "avx2")]
fn load32(v: &[i8], i: usize) -> __m256i {
    let chunk = &v[i..i + 32];
    // SAFETY: `chunk` holds exactly 32 bytes; `loadu` has no alignment
    // requirement.
    unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) }
}

/// `sum w (x - zp)` from the lane sums of `w (x + 128)` and of `w`.
#[inline]
#[target_feature(enable = "avx2,avxvnni")]
fn offset_total(sum_wx: __m256i, sum_w: __m256i, x_zero_point: i8) -> i32 {
    // sum w (x - zp) = sum w (x + 128) - (128 + zp) sum w, modulo 2^32.
    let shift = 128 + i32::from(x_zero_point);
    hsum(sum_wx).wrapping_sub(shift.wrapping_mul(hsum(sum_w)))
}

/// [`dot_scalar`](super::dot::dot_scalar) with AVX-VNNI.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI.
///
/// # Panics
/// If `w` and `x` differ in length.
#[target_feature(enable = "avx2,avxvnni")]
pub unsafe fn dot_vnni(w: &[i8], x: &[i8], x_zero_point: i8, acc: i32) -> i32 {
    assert_eq!(w.len(), x.len(), "int8 dot: lengths differ");
    let flip = _mm256_set1_epi8(i8::MIN);
    let ones = _mm256_set1_epi8(1);
    let n32 = x.len() & !31;
    let (mut sum_wx, mut sum_w) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i < n32 {
        let xu = _mm256_xor_si256(load32(x, i), flip);
        let wv = load32(w, i);
        sum_wx = _mm256_dpbusd_avx_epi32(sum_wx, xu, wv);
        sum_w = _mm256_dpbusd_avx_epi32(sum_w, ones, wv);
        i += 32;
    }
    let acc = acc.wrapping_add(offset_total(sum_wx, sum_w, x_zero_point));
    super::dot::dot_scalar(&w[n32..], &x[n32..], x_zero_point, acc)
}

/// [`dot2_scalar`](super::dot::dot2_scalar) with AVX-VNNI: the offset input
/// is shared by both rows.
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI.
///
/// # Panics
/// If `w0`, `w1` and `x` differ in length.
#[target_feature(enable = "avx2,avxvnni")]
pub unsafe fn dot2_vnni(
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
    let flip = _mm256_set1_epi8(i8::MIN);
    let ones = _mm256_set1_epi8(1);
    let n32 = x.len() & !31;
    let zero = _mm256_setzero_si256();
    let (mut s0, mut w0s, mut s1, mut w1s) = (zero, zero, zero, zero);
    let mut i = 0;
    while i < n32 {
        let xu = _mm256_xor_si256(load32(x, i), flip);
        let (a, b) = (load32(w0, i), load32(w1, i));
        s0 = _mm256_dpbusd_avx_epi32(s0, xu, a);
        w0s = _mm256_dpbusd_avx_epi32(w0s, ones, a);
        s1 = _mm256_dpbusd_avx_epi32(s1, xu, b);
        w1s = _mm256_dpbusd_avx_epi32(w1s, ones, b);
        i += 32;
    }
    let a0 = acc.0.wrapping_add(offset_total(s0, w0s, x_zero_point));
    let a1 = acc.1.wrapping_add(offset_total(s1, w1s, x_zero_point));
    (
        super::dot::dot_scalar(&w0[n32..], &x[n32..], x_zero_point, a0),
        super::dot::dot_scalar(&w1[n32..], &x[n32..], x_zero_point, a1),
    )
}
