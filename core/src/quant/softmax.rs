//! int8 softmax as TFLite's reference kernel computes it: integer only,
//! gemmlowp's fixed-point `exp` and reciprocal, output scale `1/256` and
//! zero point `-128`.
//!
//! Per row: `d = x - max(x)`; differences below `diff_min` give the lowest
//! code. Otherwise `d` is scaled by `beta * s_in` into Q5.26 (a multiplier
//! `>= 1` with a left shift), `exp(d)` is evaluated in Q0.31, the exps are
//! summed in Q12.19, and each output is `exp(d) / sum` as a code.

use super::fixed::{Requant, rounding_divide_by_pot, saturating_rounding_doubling_high_mul};
use crate::Error;

/// Integer bits of the scaled differences (Q5.26).
pub const DIFF_INTEGER_BITS: u32 = 5;
/// Integer bits of the sum of exps (Q12.19).
const SUM_INTEGER_BITS: u32 = 12;

/// Parameters of an int8 softmax over rows of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxQ {
    /// `beta * input_scale * 2^26` as a multiplier `>= 1` with its left shift
    /// (TFLite's `input_beta_multiplier`, `input_beta_left_shift`).
    pub input_beta: Requant,
    /// Most negative difference `x - max` that contributes (TFLite's
    /// `diff_min`, `<= 0`).
    pub diff_min: i32,
}

/// Softmax over each run of `row` elements of `x` into `y` (output scale
/// `1/256`, zero point `-128`).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `x` and `y` differ in length or are not whole
/// rows, [`Error::InvalidShape`] for a zero row length.
pub fn softmax(p: &SoftmaxQ, row: usize, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    if row == 0 {
        return Err(Error::InvalidShape {
            what: "softmax over rows of zero elements",
        });
    }
    if x.len() != y.len() || !x.len().is_multiple_of(row) {
        return Err(Error::ShapeMismatch {
            expected: x.len(),
            found: y.len(),
        });
    }
    for (x, y) in x.chunks_exact(row).zip(y.chunks_exact_mut(row)) {
        softmax_row(p, x, y);
    }
    Ok(())
}

fn softmax_row(p: &SoftmaxQ, x: &[i8], y: &mut [i8]) {
    let max = x.iter().copied().max().unwrap_or(0);
    // The difference scaled to Q5.26 and its exp in Q0.31, for a
    // difference that counts.
    let exp = |v: i8| -> Option<i32> {
        let d = i32::from(v) - i32::from(max);
        (d >= p.diff_min).then(|| exp_on_negative_values(scale_difference(d, p.input_beta)))
    };
    let mut sum = 0i32;
    for &v in x {
        if let Some(e) = exp(v) {
            // Q0.31 to Q12.19, then accumulate.
            sum = sum.wrapping_add(rounding_divide_by_pot(e, SUM_INTEGER_BITS));
        }
    }
    let (reciprocal, bits_over_unit) = reciprocal(sum, SUM_INTEGER_BITS);
    for (y, &v) in y.iter_mut().zip(x) {
        *y = match exp(v) {
            Some(e) => {
                let q = saturating_rounding_doubling_high_mul(reciprocal, e);
                let exponent = (bits_over_unit + 31 - 8).clamp(0, 31) as u32;
                let code = rounding_divide_by_pot(q, exponent) - 128;
                code.clamp(-128, 127) as i8
            }
            None => i8::MIN,
        };
    }
}

/// TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne`:
/// `high_mul(d * 2^left_shift, multiplier)`.
fn scale_difference(d: i32, m: Requant) -> i32 {
    let shift = m.shift.clamp(0, 30) as u32;
    saturating_rounding_doubling_high_mul(d.wrapping_mul(1 << shift), m.multiplier)
}

/// Fixed-point product of two values (integer bits add up).
fn mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// `x * 2^exponent` with saturation (gemmlowp's
/// `SaturatingRoundingMultiplyByPOT` for a positive exponent).
fn saturating_shl(x: i32, exponent: u32) -> i32 {
    let threshold = (1i32 << (31 - exponent)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// `exp(a)` for `a` in `[-1/4, 0)`, Q0.31 in and out: a fourth-order Taylor
/// expansion around `-1/8`.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(mul(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` in Q5.26, result in Q0.31 (gemmlowp's
/// `exp_on_negative_values`).
pub fn exp_on_negative_values(a: i32) -> i32 {
    const FRACTIONAL_BITS: u32 = 31 - DIFF_INTEGER_BITS;
    let one_quarter = 1i32 << (FRACTIONAL_BITS - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(saturating_shl(
        a_mod_quarter_minus_one_quarter,
        DIFF_INTEGER_BITS,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // exp(-2^k) in Q0.31 for k = -2 ..= 4, applied for each bit of the
    // remainder (a barrel shifter over the integer part).
    const EXP_OF_MINUS_POWERS_OF_TWO: [i32; 7] = [
        1_672_461_947,
        1_302_514_674,
        790_015_084,
        290_630_308,
        39_332_535,
        720_401,
        242,
    ];
    for (k, &m) in EXP_OF_MINUS_POWERS_OF_TWO.iter().enumerate() {
        // Exponent k - 2 is used while the input has more integer bits.
        let exponent = k as i32 - 2;
        if (DIFF_INTEGER_BITS as i32) > exponent {
            let bit = FRACTIONAL_BITS as i32 + exponent;
            if remainder & (1 << bit) != 0 {
                result = mul(result, m);
            }
        }
    }
    if a == 0 { i32::MAX } else { result }
}

/// `1 / x` for a Q(`integer_bits`) sum `x >= 1`: the reciprocal in Q0.31 of
/// `x` normalized into `[1, 2)`, and the number of bits `x` had above one
/// (TFLite's `GetReciprocal`).
fn reciprocal(x: i32, integer_bits: u32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let bits_over_unit = integer_bits as i32 - headroom_plus_one as i32;
    let shifted_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one)).wrapping_sub(1 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_minus_one),
        bits_over_unit,
    )
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, Q0.31 in and out: three Newton-Raphson
/// steps on the half denominator in Q2.29.
fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const FORTY_EIGHT_OVER_SEVENTEEN: i32 = 1_515_870_810;
    const MINUS_THIRTY_TWO_OVER_SEVENTEEN: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    // (a + 1) / 2, rounded: gemmlowp's RoundingHalfSum with One = i32::MAX.
    let sum = i64::from(a) + i64::from(i32::MAX);
    let half_denominator = ((sum + if sum >= 0 { 1 } else { -1 }) / 2) as i32;
    let mut x = FORTY_EIGHT_OVER_SEVENTEEN
        .wrapping_add(mul(half_denominator, MINUS_THIRTY_TWO_OVER_SEVENTEEN));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(saturating_shl(mul(x, one_minus), 2));
    }
    saturating_shl(x, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_the_real_one() {
        for k in 0..=200 {
            let a = -(k as f64) * 0.08; // down to -16
            let raw = (a * f64::from(1u32 << 26)).round() as i32;
            let e = f64::from(exp_on_negative_values(raw)) / 2f64.powi(31);
            assert!((e - a.exp()).abs() < 2e-7, "exp({a}) = {e}");
        }
        assert_eq!(exp_on_negative_values(0), i32::MAX);
    }

    #[test]
    fn reciprocal_is_close_to_the_real_one() {
        for k in 1..200 {
            let x = 1.0 + k as f64 * 0.37; // a Q12.19 sum
            let raw = (x * f64::from(1u32 << 19)).round() as i32;
            let (r, bits) = reciprocal(raw, SUM_INTEGER_BITS);
            let back = f64::from(r) / 2f64.powi(31) / 2f64.powi(bits);
            let exact = f64::from(1u32 << 19) / f64::from(raw);
            assert!(
                (back / exact - 1.0).abs() < 1e-8,
                "1/{x}: {back} vs {exact}"
            );
        }
    }

    #[test]
    fn softmax_of_equal_codes_is_uniform_and_rows_are_independent() {
        // beta * s_in = 1/16 (see host import::fixed's test): multiplier
        // 2^30, left shift 23, diff_min -248.
        let p = SoftmaxQ {
            input_beta: Requant {
                multiplier: 1 << 30,
                shift: 23,
            },
            diff_min: -248,
        };
        let x = [5i8, 5, 5, 5, -100, 100, -100, -100];
        let mut y = [0i8; 8];
        softmax(&p, 4, &x, &mut y).unwrap();
        // 1/4 = 64/256: code 64 - 128.
        assert_eq!(&y[..4], &[-64; 4]);
        // 200/16 = 12.5 apart: exp(-12.5) * 256 rounds to 0; the top gets 1.
        assert_eq!(&y[4..], &[-128, 127, -128, -128]);
        assert!(softmax(&p, 3, &x, &mut y).is_err());
        assert!(softmax(&p, 0, &x, &mut y).is_err());
    }
}
