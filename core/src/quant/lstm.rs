//! int8 LSTM: int8 weights, `i32` accumulators, int16 gates and cell state.
//!
//! Fixed-point formats (all integer, no floating point at run time):
//!
//! | value | type | format | real range |
//! | --- | --- | --- | --- |
//! | input `x` | `i8` | scale `s_x`, zero point `z_x` | calibrated |
//! | hidden `h` | `i8` | scale `2^-7`, zero point 0 | `[-1, 1)` |
//! | gate pre-activation | `i16` | Q3.12 | `[-8, 8)` |
//! | `sigmoid`, `tanh` outputs | `i16` | Q0.15 | `[-1, 1)` |
//! | cell `c` | `i16` | Q4.11 | `[-16, 16)` |
//!
//! One step, gates in the order `i, f, g, o` (rows `g*H + j` of the weights):
//!
//! ```text
//! pre[r] = sat16(Mx[r] (bias[r] + Wx[r]·(x - z_x)) + Mh[r] (Wh[r]·h))   Q3.12
//! i, f, o = sigmoid(pre)    g = tanh(pre)                               Q0.15
//! c = sat16(round(f*c / 2^15) + round(i*g / 2^19))                      Q4.11
//! h = clamp(round(o * tanh(2c) / 2^23), -128, 127)                      2^-7
//! ```
//!
//! `sigmoid` and `tanh` read tables over `[-8, 8]` (steps 1/16 and 1/32,
//! built at compile time, 1.5 KB of flash) with linear interpolation; maximum
//! errors are stated on [`sigmoid_q15`] and [`tanh_q15`].

use super::dot::{self, DotKernel};
use super::fixed::{Requant, rounding_divide_by_pot};
use super::int8::{check_requant, expect_len};
use crate::Error;

/// Fractional bits of the gate pre-activations (Q3.12).
pub const GATE_FRAC_BITS: u32 = 12;
/// Fractional bits of the cell state (Q4.11).
pub const CELL_FRAC_BITS: u32 = 11;
/// The hidden state's scale is `2^-HIDDEN_FRAC_BITS`, its zero point 0.
pub const HIDDEN_FRAC_BITS: u32 = 7;

/// An int8 LSTM layer with `H` hidden units and `IN` inputs.
#[derive(Debug, Clone, Copy)]
pub struct LstmQ<'a> {
    /// `4H x IN` input weights, gates `i, f, g, o`, symmetric per row.
    pub input_weights: &'a [i8],
    /// `4H x H` recurrent weights, same gate order, symmetric per row.
    pub recurrent_weights: &'a [i8],
    /// `4H` biases at scale `s_x * s_wx[r]`.
    pub bias: &'a [i32],
    /// `4H` multipliers `s_x * s_wx[r] * 2^12` (to Q3.12), or one.
    pub input_requant: &'a [Requant],
    /// `4H` multipliers `2^-7 * s_wh[r] * 2^12` (to Q3.12), or one.
    pub recurrent_requant: &'a [Requant],
    /// Zero point of the input.
    pub input_zero_point: i8,
}

impl LstmQ<'_> {
    /// Checks the layer against `inputs` and `hidden` units.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] naming the first tensor that does not fit.
    pub fn check(&self, inputs: usize, hidden: usize) -> Result<(), Error> {
        let rows = hidden.checked_mul(4);
        expect_len(
            self.input_weights.len(),
            rows.and_then(|r| r.checked_mul(inputs)),
        )?;
        expect_len(
            self.recurrent_weights.len(),
            rows.and_then(|r| r.checked_mul(hidden)),
        )?;
        expect_len(self.bias.len(), rows)?;
        let rows = rows.unwrap_or(0);
        check_requant(self.input_requant, rows)?;
        check_requant(self.recurrent_requant, rows)
    }
}

/// One LSTM step: updates `h` (int8, scale `2^-7`) and `c` (Q4.11) from
/// input `x`. `scratch` holds `H` values (the new `h` while the old one is
/// still read).
///
/// # Errors
/// [`Error::ShapeMismatch`] if the tensors do not fit `x.len()` inputs and
/// `h.len()` hidden units, or `c`/`scratch` are not `h.len()` long.
pub fn lstm_step(
    layer: &LstmQ<'_>,
    x: &[i8],
    h: &mut [i8],
    c: &mut [i16],
    scratch: &mut [i8],
) -> Result<(), Error> {
    check_state(layer, x.len(), h, c, scratch)?;
    step_with::<dot::Active>(layer, x, h, c, scratch);
    Ok(())
}

/// [`lstm_step`] over a sequence: `xs` holds `T` inputs of `IN` values each,
/// back to back; `h` and `c` carry the state in and out.
///
/// # Errors
/// As [`lstm_step`], and [`Error::ShapeMismatch`] if `xs.len()` is not a
/// multiple of the layer's input count.
pub fn lstm_sequence(
    layer: &LstmQ<'_>,
    xs: &[i8],
    h: &mut [i8],
    c: &mut [i16],
    scratch: &mut [i8],
) -> Result<(), Error> {
    let rows = h.len().checked_mul(4).unwrap_or(0);
    let inputs = layer.input_weights.len().checked_div(rows).unwrap_or(0);
    check_state(layer, inputs, h, c, scratch)?;
    if inputs == 0 {
        return Ok(());
    }
    if !xs.len().is_multiple_of(inputs) {
        return Err(Error::ShapeMismatch {
            expected: xs.len() - xs.len() % inputs,
            found: xs.len(),
        });
    }
    for x in xs.chunks_exact(inputs) {
        step_with::<dot::Active>(layer, x, h, c, scratch);
    }
    Ok(())
}

fn check_state(
    layer: &LstmQ<'_>,
    inputs: usize,
    h: &[i8],
    c: &[i16],
    scratch: &[i8],
) -> Result<(), Error> {
    layer.check(inputs, h.len())?;
    expect_len(c.len(), Some(h.len()))?;
    expect_len(scratch.len(), Some(h.len()))
}

fn step_with<D: DotKernel>(
    layer: &LstmQ<'_>,
    x: &[i8],
    h: &mut [i8],
    c: &mut [i16],
    scratch: &mut [i8],
) {
    let hidden = h.len();
    let n_in = x.len();
    let zp = layer.input_zero_point;
    let pre = |r: usize, acc_x: i32, acc_h: i32| -> i16 {
        let mx = super::fixed::channel_requant(layer.input_requant, r);
        let mh = super::fixed::channel_requant(layer.recurrent_requant, r);
        sat16(mx.apply(acc_x).saturating_add(mh.apply(acc_h)))
    };
    let wx = |r: usize| &layer.input_weights[r * n_in..(r + 1) * n_in];
    let wh = |r: usize| &layer.recurrent_weights[r * hidden..(r + 1) * hidden];
    for j in 0..hidden {
        let [ri, rf, rg, ro] = [j, hidden + j, 2 * hidden + j, 3 * hidden + j];
        let bias = |r: usize| layer.bias[r];
        let (xi, xf) = D::dot2(wx(ri), wx(rf), x, zp, (bias(ri), bias(rf)));
        let (xg, xo) = D::dot2(wx(rg), wx(ro), x, zp, (bias(rg), bias(ro)));
        let (hi, hf) = D::dot2(wh(ri), wh(rf), h, 0, (0, 0));
        let (hg, ho) = D::dot2(wh(rg), wh(ro), h, 0, (0, 0));
        let i = i32::from(sigmoid_q15(pre(ri, xi, hi)));
        let f = i32::from(sigmoid_q15(pre(rf, xf, hf)));
        let g = i32::from(tanh_q15(pre(rg, xg, hg)));
        let o = i32::from(sigmoid_q15(pre(ro, xo, ho)));
        // f*c: Q15 * Q11 -> Q11 after 15 bits; i*g: Q30 -> Q11 after 19.
        let keep = rounding_divide_by_pot(f * i32::from(c[j]), 15);
        let add = rounding_divide_by_pot(i * g, 30 - CELL_FRAC_BITS);
        let cj = sat16(keep + add);
        c[j] = cj;
        // Q4.11 -> Q3.12 for tanh (saturating: tanh is flat beyond 8).
        let t = i32::from(tanh_q15(sat16(i32::from(cj) * 2)));
        let hj = rounding_divide_by_pot(o * t, 30 - HIDDEN_FRAC_BITS);
        scratch[j] = hj.clamp(-128, 127) as i8;
    }
    h.copy_from_slice(scratch);
}

#[inline]
fn sat16(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// `sigmoid(x)` for `x` in Q3.12, as Q0.15 (`[0, 32767]`).
///
/// Maximum error 2.2 LSB (`6.8e-5`) over every input, tested exhaustively
/// against f64.
#[inline]
pub fn sigmoid_q15(x: i16) -> i16 {
    interpolate::<257, 8>(&SIGMOID_TABLE, x)
}

/// `tanh(x)` for `x` in Q3.12, as Q0.15 (`[-32767, 32767]`).
///
/// Maximum error 3.8 LSB (`1.2e-4`) over every input, tested exhaustively
/// against f64; the int8 hidden state's step is 256 LSB.
#[inline]
pub fn tanh_q15(x: i16) -> i16 {
    interpolate::<513, 7>(&TANH_TABLE, x)
}

/// Entry `k` of a table of `N = 2^(16 - FRAC) + 1` entries holds
/// `f(-8 + k * 2^(FRAC - 12))` in Q0.15; inputs between entries interpolate
/// linearly over the low `FRAC` bits of the Q3.12 input.
#[inline]
fn interpolate<const N: usize, const FRAC: u32>(table: &[i16; N], x: i16) -> i16 {
    let u = (i32::from(x) + 32768) as usize; // 0..=65535
    let (k, frac) = (u >> FRAC, (u & ((1 << FRAC) - 1)) as i32);
    let (a, b) = (i32::from(table[k]), i32::from(table[k + 1]));
    (a + rounding_divide_by_pot((b - a) * frac, FRAC)) as i16
}

/// `e^x` for `|x| <= 32` at compile time: a Taylor series on `x / 64`,
/// squared six times (relative error below `1e-14`).
const fn exp_const(x: f64) -> f64 {
    let y = x / 64.0;
    let mut sum = 1.0;
    let mut term = 1.0;
    let mut k = 1;
    while k < 20 {
        term = term * y / k as f64;
        sum += term;
        k += 1;
    }
    let mut i = 0;
    while i < 6 {
        sum *= sum;
        i += 1;
    }
    sum
}

/// `round(v * 2^15)` for `v` in `[0, 1]`, capped at 32767.
const fn to_q15(v: f64) -> i16 {
    let q = (v * 32768.0 + 0.5) as i32;
    if q > 32767 { 32767 } else { q as i16 }
}

/// `N` entries over `[-8, 8]`: `N - 1` steps of `16 / (N - 1)`.
const fn build_table<const N: usize>(tanh: bool) -> [i16; N] {
    let mut t = [0i16; N];
    let half = (N - 1) as f64 / 2.0;
    let mut k = 0;
    while k < N {
        let x = (k as f64 - half) * 8.0 / half;
        let ax = if x < 0.0 { -x } else { x };
        t[k] = if tanh {
            // tanh|x| = 1 - 2 / (e^{2|x|} + 1); odd, so round the magnitude.
            let m = to_q15(1.0 - 2.0 / (exp_const(2.0 * ax) + 1.0));
            if x < 0.0 { -m } else { m }
        } else {
            to_q15(1.0 / (1.0 + exp_const(-x)))
        };
        k += 1;
    }
    t
}

static SIGMOID_TABLE: [i16; 257] = build_table(false);
static TANH_TABLE: [i16; 513] = build_table(true);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn max_error(f: fn(i16) -> i16, reference: fn(f64) -> f64) -> f64 {
        let mut worst = 0.0f64;
        for x in i16::MIN..=i16::MAX {
            let exact = reference(f64::from(x) / 4096.0) * 32768.0;
            worst = worst.max((f64::from(f(x)) - exact).abs());
        }
        worst
    }

    #[test]
    fn tables_match_f64() {
        for (k, &q) in SIGMOID_TABLE.iter().enumerate() {
            let x = (k as f64 - 128.0) / 16.0;
            let s = (1.0 / (1.0 + (-x).exp()) * 32768.0).round().min(32767.0);
            assert_eq!(f64::from(q), s, "sigmoid entry {k}");
        }
        for (k, &q) in TANH_TABLE.iter().enumerate() {
            let x = (k as f64 - 256.0) / 32.0;
            let t = (x.tanh() * 32768.0).round().clamp(-32767.0, 32767.0);
            assert_eq!(f64::from(q), t, "tanh entry {k}");
        }
    }

    #[test]
    fn activation_errors_within_stated_bounds() {
        let s = max_error(sigmoid_q15, |x| 1.0 / (1.0 + (-x).exp()));
        let t = max_error(tanh_q15, f64::tanh);
        std::println!("max error: sigmoid {s:.3} LSB, tanh {t:.3} LSB");
        assert!(s <= 2.2, "sigmoid max error {s} LSB");
        assert!(t <= 3.8, "tanh max error {t} LSB");
    }
}
