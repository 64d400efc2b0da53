//! Fixed-point requantization against an f64 reference: at most 1 LSB apart.

use myelin_core::quant::fixed::{
    OutputQuant, Requant, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
use myelin_core::quant::params::{quantize_multiplier, requant_to_f64};
use proptest::prelude::*;

/// `round(v)`, ties away from zero, in f64 (exact for |v| < 2^52).
fn round_away(v: f64) -> f64 {
    v.round()
}

/// A multiplier spread log-uniformly over `[2^-24, 2^8)`.
fn multiplier() -> impl Strategy<Value = f64> {
    (-24.0f64..8.0).prop_map(f64::exp2)
}

/// A multiplier and an accumulator whose product is at most `2^24`.
fn in_range() -> impl Strategy<Value = (f64, i32)> {
    (multiplier(), -16_777_216.0f64..16_777_216.0)
        .prop_map(|(m, target)| (m, (target / m).clamp(-2.0e9, 2.0e9) as i32))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn apply_is_within_one_of_exact((m, x) in in_range()) {
        let q = quantize_multiplier(m);
        let exact = f64::from(x) * requant_to_f64(q);
        prop_assume!(exact.abs() <= f64::from(1 << 24));
        let got = q.apply(x);
        prop_assert!(
            (f64::from(got) - round_away(exact)).abs() <= 1.0,
            "x {} M {} ({:?}): got {}, exact {}", x, m, q, got, exact
        );
        // Against the unquantized real multiplier as well.
        let real = f64::from(x) * m;
        prop_assert!((f64::from(got) - round_away(real)).abs() <= 1.0);
    }

    #[test]
    fn small_accumulators_are_within_one(
        m in (-24.0f64..4.0).prop_map(f64::exp2),
        x in -(1i32 << 20)..(1 << 20),
    ) {
        let q = quantize_multiplier(m);
        let exact = f64::from(x) * requant_to_f64(q);
        prop_assert!((f64::from(q.apply(x)) - round_away(exact)).abs() <= 1.0);
    }

    #[test]
    fn saturation_keeps_sign(m in multiplier(), x in any::<i32>()) {
        let q = quantize_multiplier(m);
        let exact = f64::from(x) * requant_to_f64(q);
        let got = f64::from(q.apply(x));
        if exact >= f64::from(i32::MAX) {
            prop_assert_eq!(got, f64::from(i32::MAX));
        } else if exact <= f64::from(i32::MIN) {
            prop_assert_eq!(got, f64::from(i32::MIN));
        } else {
            // Away from the rails the result is still close.
            prop_assert!((got - exact).abs() <= 1.0 + exact.abs() * 1e-9);
        }
    }

    #[test]
    fn high_mul_matches_f64(a in any::<i32>(), b in any::<i32>()) {
        let exact = f64::from(a) * f64::from(b) / f64::from(1u32 << 31);
        let got = saturating_rounding_doubling_high_mul(a, b);
        if a == i32::MIN && b == i32::MIN {
            prop_assert_eq!(got, i32::MAX);
        } else {
            // Round to nearest (ties up): within half a step.
            prop_assert!((f64::from(got) - exact).abs() <= 0.5);
        }
    }

    #[test]
    fn divide_by_pot_matches_f64(x in any::<i32>(), e in 0u32..32) {
        let exact = f64::from(x) / f64::exp2(f64::from(e));
        prop_assert_eq!(f64::from(rounding_divide_by_pot(x, e)), round_away(exact));
    }

    #[test]
    fn output_stage_is_within_one_lsb(
        m in (-20.0f64..0.0).prop_map(f64::exp2),
        acc in any::<i32>(),
        zp in any::<i8>(),
        relu in any::<bool>(),
    ) {
        let q = quantize_multiplier(m);
        let out = if relu { OutputQuant::relu(zp) } else { OutputQuant::linear(zp) };
        let exact = round_away(f64::from(acc) * requant_to_f64(q)) + f64::from(zp);
        let lo = if relu { f64::from(zp) } else { -128.0 };
        let expect = exact.clamp(lo, 127.0);
        let got = f64::from(out.requantize(acc, q));
        prop_assert!((got - expect).abs() <= 1.0, "got {} expected {}", got, expect);
    }
}

#[test]
fn sweep_is_within_one_lsb() {
    // Deterministic sweep: how often the two roundings differ from one.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (mut total, mut off) = (0u32, 0u32);
    for _ in 0..200_000 {
        let m = f64::exp2(-((next() % 20) as f64) - (next() % 1000) as f64 / 1000.0);
        let q = quantize_multiplier(m);
        let x = (next() as i32) >> (next() % 24);
        let exact = f64::from(x) * requant_to_f64(q);
        if exact.abs() > 1.0e6 {
            continue;
        }
        let d = (f64::from(q.apply(x)) - round_away(exact)).abs();
        assert!(d <= 1.0);
        total += 1;
        off += u32::from(d > 0.0);
    }
    println!("{off} of {total} results 1 LSB from the exact rounding");
    assert!(total > 10_000);
}

#[test]
fn known_values() {
    // M = 0.5: 3 -> 1.5 -> 2, -3 -> -1.5 -> -2 (the final shift rounds away).
    let half = quantize_multiplier(0.5);
    assert_eq!(
        half,
        Requant {
            multiplier: 1 << 30,
            shift: 0
        }
    );
    let quarter = quantize_multiplier(0.25);
    assert_eq!(quarter.apply(6), 2);
    assert_eq!(quarter.apply(-6), -2);
    // 1.25: the high multiply gives 2.5 -> 3, the shift 1.5 -> 2 (double
    // rounding, 1 LSB from the exact 1).
    assert_eq!(quarter.apply(5), 2);
    assert_eq!(quantize_multiplier(3.0).apply(7), 21);
    assert_eq!(quantize_multiplier(1.0).apply(i32::MAX), i32::MAX);
    assert_eq!(quantize_multiplier(1.0).apply(i32::MIN), i32::MIN);
}
