//! Fixed-point arithmetic of the int8 path: integers only, so every target
//! computes the same bits.
//!
//! A positive real multiplier `M` is stored as a Q31 mantissa and a power of
//! two, `M = multiplier * 2^(shift - 31)` with `multiplier` in `[2^30, 2^31)`.
//! Applying it to an `i32` is a rounding doubling high multiply followed by a
//! rounding right shift, the scheme gemmlowp and TFLite use.

/// A fixed-point real multiplier `M = multiplier * 2^(shift - 31)`.
///
/// Built on the host by [`quantize_multiplier`](super::params::quantize_multiplier);
/// applied on any target by [`Requant::apply`]. `multiplier == 0` means
/// `M == 0`. Laid out as two `i32`s (`repr(C)`), so a table of them can be
/// viewed in place in a 4-byte-aligned little-endian buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub struct Requant {
    /// Q31 mantissa, in `[2^30, 2^31)` (or 0).
    pub multiplier: i32,
    /// Power of two, in `[-31, 30]`; values outside are clamped when applied.
    pub shift: i32,
}

impl Requant {
    /// Smallest shift [`Requant::apply`] uses; smaller values are clamped.
    pub const MIN_SHIFT: i32 = -31;
    /// Largest shift [`Requant::apply`] uses; larger values are clamped.
    pub const MAX_SHIFT: i32 = 30;

    /// `x * M`, rounded to nearest, saturated to `i32`.
    ///
    /// For `M >= 1` (`shift > 0`) one rounding (ties toward +infinity); for
    /// `M < 1` two, as in TFLite: the high multiply, then the rounding shift.
    /// Either way the result is within 1 of `round(x * M)` computed exactly
    /// (tested against f64; about 2% of random inputs land 1 away). Never
    /// panics, whatever the fields hold.
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let shift = self.shift.clamp(Self::MIN_SHIFT, Self::MAX_SHIFT);
        if shift > 0 {
            // round(x * multiplier / 2^(31 - shift)) in i64: the same single
            // rounding as `high_mul(x << shift, multiplier)` whenever the
            // shift does not overflow, and a correct saturation when it does.
            let p = i64::from(x) * i64::from(self.multiplier);
            round_shift(p, 31 - shift as u32).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        } else {
            let y = saturating_rounding_doubling_high_mul(x, self.multiplier);
            rounding_divide_by_pot(y, shift.unsigned_abs())
        }
    }
}

impl Requant {
    /// `x * M` with one rounding for every `M`:
    /// `(x * multiplier + 2^(30 - shift)) >> (31 - shift)`, saturated to
    /// `i32`; the arithmetic of LiteRT's reference int8 `FULLY_CONNECTED`.
    /// Equal to [`apply`](Self::apply) for `M >= 1`.
    #[inline]
    pub fn apply_single_rounding(self, x: i32) -> i32 {
        let shift = self.shift.clamp(Self::MIN_SHIFT, Self::MAX_SHIFT);
        let p = i64::from(x) * i64::from(self.multiplier);
        if shift < 0 {
            // e = 31 - shift in 32..=62: |p| <= 2^62, so the result fits
            // without saturating, and floor(n / 2^e) is the high word of n
            // shifted by e - 32 (nested floors compose).
            let e = (31 - shift) as u32;
            let half = if e == 32 {
                1i64 << 31
            } else {
                i64::from(1u32 << (e - 33)) << 32
            };
            (((p + half) >> 32) as i32) >> (e - 32)
        } else {
            round_shift(p, (31 - shift) as u32).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                as i32
        }
    }
}

impl Requant {
    /// [`apply`](Self::apply) with 32-bit operations only when `M < 1`
    /// (`shift <= 0`): the product from 16-bit halves
    /// ([`saturating_rounding_doubling_high_mul_32`]), so cores without a
    /// 32x32->64 multiply (Cortex-M0) call no 64-bit multiply helper. Equal to
    /// `apply` for every input.
    #[inline]
    pub fn apply_32(self, x: i32) -> i32 {
        let shift = self.shift.clamp(Self::MIN_SHIFT, Self::MAX_SHIFT);
        if shift > 0 {
            self.apply(x)
        } else {
            let y = saturating_rounding_doubling_high_mul_32(x, self.multiplier);
            rounding_divide_by_pot(y, shift.unsigned_abs())
        }
    }
}

/// [`saturating_rounding_doubling_high_mul`] from four 16x16-bit products,
/// no 64-bit arithmetic; equal to it for every input.
///
/// With `a = ah * 2^16 + al` and `b = bh * 2^16 + bl` (`ah`, `bh` signed,
/// `al`, `bl` in `0..2^16`), `floor((a * b + 2^30) / 2^31)` is
/// `2 * ah * bh + floor((ah * bl + al * bh + floor(al * bl / 2^16) + 2^14) / 2^15)`;
/// the last floor is taken in parts so that no sum leaves `i32`.
#[inline]
pub fn saturating_rounding_doubling_high_mul_32(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let (ah, al) = (a >> 16, a & 0xffff);
    let (bh, bl) = (b >> 16, b & 0xffff);
    // Each product below lies in (-2^31, 2^31).
    let low = ((al as u32 * bl as u32) >> 16) as i32 + (1 << 14);
    let m1 = ah * bl;
    let m2 = al * bh;
    let mid = (m1 >> 15) + (m2 >> 15) + (((m1 & 0x7fff) + (m2 & 0x7fff) + low) >> 15);
    // The true result fits i32 (the one that does not returned above), so
    // wrapping in the last steps is exact.
    (ah * bh).wrapping_mul(2).wrapping_add(mid)
}

/// `round(a * b / 2^31)` saturated to `i32`: the high half of the doubled
/// product. Ties round toward +infinity; only `a == b == i32::MIN` saturates.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    round_shift(a as i64 * b as i64, 31) as i32
}

/// `p / 2^e` rounded to nearest, ties toward +infinity, for `e` in `1..=62`.
///
/// One add and one arithmetic shift (which floors): no 64-bit division, so
/// cores without a divider (Cortex-M0) call no division helper.
#[inline(always)]
fn round_shift(p: i64, e: u32) -> i64 {
    (p + (1i64 << (e - 1))) >> e
}

/// `x / 2^exponent` rounded to nearest, ties away from zero.
///
/// `exponent` is clamped to `31`.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let exponent = exponent.min(31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// Where an int8 layer's output lands: zero point and the clamp range.
///
/// A fused ReLU is `min = zero_point` (real 0); no activation is
/// `min = -128, max = 127`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OutputQuant {
    /// Quantized value of real 0 in the output tensor.
    pub zero_point: i8,
    /// Lowest output value.
    pub min: i8,
    /// Highest output value. If `max < min`, every output is `max`.
    pub max: i8,
}

impl OutputQuant {
    /// Full int8 range, no activation.
    pub const fn linear(zero_point: i8) -> Self {
        Self {
            zero_point,
            min: i8::MIN,
            max: i8::MAX,
        }
    }

    /// Fused ReLU: outputs below real 0 become real 0.
    pub const fn relu(zero_point: i8) -> Self {
        Self {
            zero_point,
            min: zero_point,
            max: i8::MAX,
        }
    }

    /// `clamp(M * acc + zero_point, min, max)`: the last step of every int8
    /// layer, from its `i32` accumulator to its `i8` output.
    #[inline]
    pub fn requantize(self, acc: i32, m: Requant) -> i8 {
        let v = m.apply(acc).saturating_add(i32::from(self.zero_point));
        // max() then min(): never panics, even with min > max.
        v.max(i32::from(self.min)).min(i32::from(self.max)) as i8
    }
}

impl OutputQuant {
    /// [`requantize`](Self::requantize) through
    /// [`Requant::apply_single_rounding`].
    #[inline]
    pub fn requantize_single_rounding(self, acc: i32, m: Requant) -> i8 {
        let v = m
            .apply_single_rounding(acc)
            .saturating_add(i32::from(self.zero_point));
        v.max(i32::from(self.min)).min(i32::from(self.max)) as i8
    }

    /// [`requantize`](Self::requantize) through [`Requant::apply_32`]: the
    /// same result.
    #[inline]
    pub fn requantize_32(self, acc: i32, m: Requant) -> i8 {
        let v = m.apply_32(acc).saturating_add(i32::from(self.zero_point));
        v.max(i32::from(self.min)).min(i32::from(self.max)) as i8
    }
}

/// An output stage ([`Requant`] then [`OutputQuant`]) prepared for many
/// accumulators: [`requantize`](Self::requantize) equals
/// `out.requantize(acc, m)` for every `acc`, with 32-bit operations only and
/// per-call constants worked out once.
///
/// Requantization never decreases as the accumulator grows when the
/// multiplier is non-negative, so the accumulators that give the lowest
/// output (a fused ReLU's zero) form an interval from `i32::MIN`; its end is
/// found once by bisection, and accumulators below it cost one comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requantizer {
    /// Accumulators below `floor` give `floor_out`.
    floor: i32,
    floor_out: i8,
    /// `multiplier >> 16` and `multiplier & 0xffff` (fast path).
    m_hi: i32,
    m_lo: i32,
    /// `-shift` (fast path).
    exponent: u32,
    zero_point: i32,
    min: i32,
    max: i32,
    /// `shift > 0` or a negative multiplier: [`OutputQuant::requantize_32`].
    general: Option<(Requant, OutputQuant)>,
}

impl Requantizer {
    /// Prepares `out.requantize(_, m)`.
    pub fn new(m: Requant, out: OutputQuant) -> Self {
        let f = |acc| out.requantize_32(acc, m);
        let floor_out = f(i32::MIN);
        let shift = m.shift.clamp(Requant::MIN_SHIFT, Requant::MAX_SHIFT);
        let monotonic = m.multiplier >= 0;
        let floor = if !monotonic {
            i32::MIN
        } else if f(i32::MAX) == floor_out {
            i32::MAX
        } else {
            // f(lo) == floor_out != f(hi).
            let (mut lo, mut hi) = (i32::MIN, i32::MAX);
            loop {
                let gap = hi.wrapping_sub(lo) as u32;
                if gap <= 1 {
                    break hi;
                }
                let mid = lo.wrapping_add((gap / 2) as i32);
                if f(mid) == floor_out {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        };
        Self {
            floor,
            floor_out,
            m_hi: m.multiplier >> 16,
            m_lo: m.multiplier & 0xffff,
            exponent: shift.unsigned_abs(),
            zero_point: i32::from(out.zero_point),
            min: i32::from(out.min),
            max: i32::from(out.max),
            general: (shift > 0 || !monotonic).then_some((m, out)),
        }
    }

    /// `out.requantize(acc, m)`.
    #[inline(always)]
    pub fn requantize(&self, acc: i32) -> i8 {
        if acc < self.floor {
            return self.floor_out;
        }
        if let Some((m, out)) = self.general {
            return out.requantize_32(acc, m);
        }
        // saturating_rounding_doubling_high_mul_32 with a multiplier in
        // [0, 2^31), so never the saturating case.
        let (ah, al) = (acc >> 16, acc & 0xffff);
        let low = ((al as u32 * self.m_lo as u32) >> 16) as i32 + (1 << 14);
        let m1 = ah * self.m_lo;
        let m2 = al * self.m_hi;
        let mid = (m1 >> 15) + (m2 >> 15) + (((m1 & 0x7fff) + (m2 & 0x7fff) + low) >> 15);
        let x = (ah * self.m_hi).wrapping_mul(2).wrapping_add(mid);
        let v = rounding_divide_by_pot(x, self.exponent).saturating_add(self.zero_point);
        v.max(self.min).min(self.max) as i8
    }
}

/// An output stage ([`Requant`] then [`OutputQuant`]) prepared for cores
/// with a fast 32x32->64 multiply (Cortex-M3 and up): equal to
/// `out.requantize(acc, m)` for every `acc`, with its constants worked out
/// once.
///
/// The common case (`0 < M < 1/2`: a positive multiplier, `shift < 0`) folds
/// TFLite's two roundings into one 64-bit addition: with `p = acc *
/// multiplier` and `e = -shift`, the high multiply is `x = floor((p + 2^30) /
/// 2^31)` and the rounding shift `floor((x + 2^(e - 1) - [x < 0]) / 2^e)`;
/// nested floors of integer quotients compose, so the result is
/// `floor((p + 2^30 + 2^(30 + e) - [x < 0] * 2^31) / 2^(31 + e))`, and
/// `[x < 0]` may be read as `[acc < 0]` (where they differ, `x` is 0 and both
/// give 0). The clamp is one `max(0)` and one `min` around the range's low
/// end. Other multipliers take the general form.
#[derive(Debug, Clone, Copy)]
pub struct Requant64 {
    multiplier: i32,
    /// Fast path: `2^30 + 2^(30 + e)`; general path: unused.
    bias: i64,
    /// Fast path: `e - 1`; general path: `-shift` (`M < 1`) or `31 - shift`.
    exponent: u32,
    /// `2^exponent - 1` and half of it (general path, `M < 1`).
    mask: i32,
    half: i32,
    /// `zero_point - min`, `max - min` and `min` of the output range.
    offset: i32,
    range: i32,
    min: i32,
    /// Which form [`requantize`](Self::requantize) takes.
    form: Form,
}

/// The arithmetic a [`Requant64`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `0 < multiplier`, `shift < 0`: one rounding of the 64-bit product.
    Folded,
    /// `M >= 1`: one rounding of the 64-bit product (`single`).
    Single,
    /// Any other multiplier: the high multiply then the rounding shift.
    Double,
}

impl Requant64 {
    /// Prepares `out.requantize(_, m)`.
    pub fn new(m: Requant, out: OutputQuant) -> Self {
        let shift = m.shift.clamp(Requant::MIN_SHIFT, Requant::MAX_SHIFT);
        let form = if shift > 0 {
            Form::Single
        } else if shift < 0 && m.multiplier > 0 {
            Form::Folded
        } else {
            Form::Double
        };
        let exponent = match form {
            Form::Single => (31 - shift) as u32,
            Form::Folded => shift.unsigned_abs() - 1,
            Form::Double => shift.unsigned_abs(),
        };
        let mask = ((1i64 << exponent) - 1) as i32;
        let (zero_point, min, max) = (
            i32::from(out.zero_point),
            i32::from(out.min),
            i32::from(out.max),
        );
        Self {
            multiplier: m.multiplier,
            bias: (1i64 << 30) + (1i64 << (30 + shift.unsigned_abs())),
            exponent,
            mask,
            half: mask >> 1,
            offset: zero_point - min,
            // An empty range (max < min) gives max: min + 0 with min := max.
            range: (max - min).max(0),
            min: min.min(max),
            form,
        }
    }

    /// `out.requantize(acc, m)`.
    #[inline(always)]
    pub fn requantize(&self, acc: i32) -> i8 {
        let p = i64::from(acc) * i64::from(self.multiplier);
        let v = match self.form {
            Form::Folded => return self.folded(acc),
            Form::Single => {
                round_shift(p, self.exponent).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
            }
            Form::Double => {
                // saturating_rounding_doubling_high_mul: only MIN * MIN saturates.
                let x = if p == 1 << 62 {
                    i32::MAX
                } else {
                    ((p + (1 << 30)) >> 31) as i32
                };
                // rounding_divide_by_pot with its constants prepared.
                let threshold = self.half + (x >> 31 & 1);
                (x >> self.exponent) + i32::from((x & self.mask) > threshold)
            }
        };
        self.clamp(v)
    }

    /// `y[i] = out.requantize(acc[i], m)` over the shorter of the two, the
    /// form chosen once (not inlined: the loop gets the registers to
    /// itself).
    #[inline(never)]
    pub fn requantize_into(&self, acc: &[i32], y: &mut [i8]) {
        match self.form {
            // The full int8 range (no activation, or a ReLU from -128): the
            // clamp is one saturation.
            Form::Folded if self.range == 255 => {
                let zero_point = self.offset + self.min;
                for (y, &a) in y.iter_mut().zip(acc) {
                    *y = (self.folded_unclamped(a) + zero_point).clamp(-128, 127) as i8;
                }
            }
            Form::Folded => {
                for (y, &a) in y.iter_mut().zip(acc) {
                    *y = self.folded(a);
                }
            }
            _ => {
                for (y, &a) in y.iter_mut().zip(acc) {
                    *y = self.requantize(a);
                }
            }
        }
    }

    /// The folded form before the output range: `|result| <= 2^30`.
    #[inline(always)]
    fn folded_unclamped(&self, acc: i32) -> i32 {
        let p = i64::from(acc) * i64::from(self.multiplier);
        // 2^31 where acc < 0: the `[x < 0]` term.
        let negative = i64::from(acc as u32 & 0x8000_0000);
        let n = p + self.bias - negative;
        ((n >> 32) as i32) >> self.exponent
    }

    /// [`requantize`](Self::requantize) in the folded form.
    #[inline(always)]
    fn folded(&self, acc: i32) -> i8 {
        self.clamp(self.folded_unclamped(acc))
    }

    /// clamp(v + zero_point, min, max) as min + clamp(v + offset, 0, range).
    #[inline(always)]
    fn clamp(&self, v: i32) -> i8 {
        let t = v.saturating_add(self.offset).max(0).min(self.range);
        (t + self.min) as i8
    }
}

/// `Requant` of channel `channel` from a per-channel list, or the only entry
/// of a per-tensor list.
#[inline]
pub(crate) fn channel_requant(requant: &[Requant], channel: usize) -> Requant {
    if requant.len() == 1 {
        requant[0]
    } else {
        requant[channel]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An xorshift64 stream from `state`.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// The nudge-and-truncating-division form [`round_shift`] replaces.
    fn round_by_division(p: i64, e: u32) -> i64 {
        let nudge = if p >= 0 {
            1i64 << (e - 1)
        } else {
            1 - (1i64 << (e - 1))
        };
        (p + nudge) / (1i64 << e)
    }

    #[test]
    fn round_shift_equals_nudged_division() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state
        };
        let edges = [
            0i64,
            1,
            -1,
            2,
            -2,
            3,
            -3,
            1 << 30,
            -(1 << 30),
            (1 << 30) + 1,
            -(1 << 30) - 1,
        ];
        for e in 1..=62u32 {
            for &p in &edges {
                assert_eq!(round_shift(p, e), round_by_division(p, e), "p={p} e={e}");
            }
            for _ in 0..crate::quant::test_cases(2_000) {
                // Products of two i32: |p| <= 2^62.
                let p = i64::from(next() as i32) * i64::from((next() >> 32) as i32);
                assert_eq!(round_shift(p, e), round_by_division(p, e), "p={p} e={e}");
                let half = 1i64 << (e - 1);
                for t in [
                    p - p.rem_euclid(half << 1) + half,
                    p - p.rem_euclid(half << 1) - half,
                ] {
                    assert_eq!(
                        round_shift(t, e),
                        round_by_division(t, e),
                        "tie t={t} e={e}"
                    );
                }
            }
        }
    }

    #[test]
    fn high_mul_32_equals_64_bit_form() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let edges = [
            0,
            1,
            -1,
            2,
            -2,
            0x7fff,
            0x8000,
            -0x8000,
            0xffff,
            0x1_0000,
            -0x1_0000,
            (1 << 30) - 1,
            1 << 30,
            -(1 << 30),
            i32::MAX,
            i32::MAX - 1,
            i32::MIN,
            i32::MIN + 1,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    saturating_rounding_doubling_high_mul_32(a, b),
                    saturating_rounding_doubling_high_mul(a, b),
                    "a={a} b={b}"
                );
            }
        }
        for _ in 0..crate::quant::test_cases(200_000) {
            let r = next();
            let (a, b) = (r as i32, (r >> 32) as i32);
            // Also narrow operands, where the halves are mostly 0 or -1.
            for (a, b) in [(a, b), (a >> 12, b), (a, b >> 20), (a >> 17, b >> 9)] {
                assert_eq!(
                    saturating_rounding_doubling_high_mul_32(a, b),
                    saturating_rounding_doubling_high_mul(a, b),
                    "a={a} b={b}"
                );
            }
        }
    }

    #[test]
    fn apply_32_equals_apply() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state
        };
        let accs = [0, 1, -1, 12_345, -12_345, i32::MAX, i32::MIN, i32::MIN + 1];
        let multipliers = [0, 1 << 30, (1 << 30) + 1, i32::MAX, -1, i32::MIN];
        for shift in -40..=40 {
            for &multiplier in &multipliers {
                let m = Requant { multiplier, shift };
                for &x in &accs {
                    assert_eq!(m.apply_32(x), m.apply(x), "{m:?} x={x}");
                }
            }
            for _ in 0..crate::quant::test_cases(2_000) {
                let r = next();
                let m = Requant {
                    multiplier: (r >> 32) as i32,
                    shift,
                };
                let x = (r as i32) >> (r >> 59);
                assert_eq!(m.apply_32(x), m.apply(x), "{m:?} x={x}");
                let out = OutputQuant::relu((r >> 24) as i8);
                assert_eq!(out.requantize_32(x, m), out.requantize(x, m));
            }
        }
    }

    #[test]
    fn single_rounding_equals_the_64_bit_definition() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let edges = [
            0,
            1,
            -1,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        for case in 0..crate::quant::test_cases(4_000) {
            let r = next();
            let m = Requant {
                multiplier: match case % 4 {
                    0 => i32::MIN,
                    1 => i32::MAX,
                    _ => r as i32,
                },
                shift: (r >> 32) as i32 % 40,
            };
            let shift = m.shift.clamp(Requant::MIN_SHIFT, Requant::MAX_SHIFT);
            for k in 0..24 {
                let x = edges.get(k).copied().unwrap_or((next() as i32) >> (k % 32));
                let p = i64::from(x) * i64::from(m.multiplier);
                let want = round_shift(p, (31 - shift) as u32)
                    .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                assert_eq!(i64::from(m.apply_single_rounding(x)), want, "{m:?} {x}");
            }
        }
    }

    /// Accumulators at the edges of the range, checked in every case.
    const EDGE_ACCS: [i32; 9] = [
        0,
        1,
        -1,
        2,
        -2,
        i32::MAX,
        i32::MIN,
        i32::MIN + 1,
        i32::MAX - 1,
    ];

    /// Requantization `case` from the random `r`: a multiplier of every
    /// class (at least 2^30, any, 0, `i32::MIN`, `i32::MAX`), a shift in
    /// `-39..40`, and a ReLU, linear or arbitrarily clamped output stage.
    fn requant_case(case: usize, r: u64) -> (Requant, OutputQuant) {
        let m = Requant {
            multiplier: match case % 5 {
                0 => (r as i32) & i32::MAX | 1 << 30,
                1 => r as i32,
                2 => 0,
                3 => i32::MIN,
                _ => i32::MAX,
            },
            shift: (r >> 32) as i32 % 40,
        };
        let out = match case % 3 {
            0 => OutputQuant::relu((r >> 40) as i8),
            1 => OutputQuant::linear((r >> 48) as i8),
            _ => OutputQuant {
                zero_point: (r >> 40) as i8,
                min: (r >> 48) as i8,
                max: (r >> 56) as i8,
            },
        };
        (m, out)
    }

    /// An accumulator of any magnitude up to the full range, from `r`.
    fn random_acc(r: u64) -> i32 {
        (r as i32) >> (r >> 59)
    }

    #[test]
    fn requant64_equals_requantize() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for case in 0..crate::quant::test_cases(3_000) {
            let (m, out) = requant_case(case, next());
            let q = Requant64::new(m, out);
            let accs: [i32; 40] = core::array::from_fn(|k| {
                EDGE_ACCS
                    .get(k)
                    .copied()
                    .unwrap_or_else(|| random_acc(next()))
            });
            for &acc in &accs {
                assert_eq!(
                    q.requantize(acc),
                    out.requantize(acc, m),
                    "{m:?} {out:?} {acc}"
                );
            }
            let mut y = [0i8; 40];
            q.requantize_into(&accs, &mut y);
            for (&a, &y) in accs.iter().zip(&y) {
                assert_eq!(y, out.requantize(a, m), "{m:?} {out:?} {a}");
            }
        }
    }

    #[test]
    fn requantizer_equals_requantize() {
        let mut next = xorshift(0x0123_4567_89ab_cdef);
        for case in 0..crate::quant::test_cases(3_000) {
            let (m, out) = requant_case(case, next());
            let q = Requantizer::new(m, out);
            // The edges, around the floor, and random accumulators.
            let floor = (-3..=3).map(|d| q.floor.saturating_add(d));
            let random = (0..crate::quant::test_cases(200)).map(|_| random_acc(next()));
            for acc in EDGE_ACCS.into_iter().chain(floor).chain(random) {
                assert_eq!(
                    q.requantize(acc),
                    out.requantize(acc, m),
                    "{m:?} {out:?} {acc}"
                );
            }
        }
    }

    #[test]
    fn rounding_divide_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(3, 1), 2);
        assert_eq!(rounding_divide_by_pot(-3, 1), -2);
        assert_eq!(rounding_divide_by_pot(5, 2), 1);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(-5, 2), -1);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 40), 1);
    }

    #[test]
    fn high_mul_rounds_and_saturates() {
        // 0.5 * 0.5 = 0.25 in Q31.
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX),
            -i32::MAX
        );
        // 3 * 0.5 = 1.5 -> 2; -3 * 0.5 = -1.5 -> -1 (ties toward +inf).
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
    }

    #[test]
    fn apply_clamps_bad_fields() {
        let m = Requant {
            multiplier: 1 << 30,
            shift: 99,
        };
        assert_eq!(m.apply(i32::MAX), i32::MAX);
        let m = Requant {
            multiplier: 1 << 30,
            shift: -99,
        };
        assert_eq!(m.apply(1000), 0);
    }

    #[test]
    fn output_stage_clamps() {
        let half = Requant {
            multiplier: 1 << 30,
            shift: 0,
        };
        let out = OutputQuant::relu(-10);
        assert_eq!(out.requantize(-100, half), -10);
        assert_eq!(out.requantize(100, half), 40);
        assert_eq!(out.requantize(i32::MAX, half), 127);
        let bad = OutputQuant {
            zero_point: 0,
            min: 5,
            max: -5,
        };
        assert_eq!(bad.requantize(0, half), -5);
    }
}
