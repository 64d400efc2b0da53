//! int8 dense layers with weights prepared ahead of time ("packed") for the
//! Cortex-M DSP loop: the fastest int8 dense kernel on Armv7E-M/Armv8-M Main,
//! same outputs as [`dense_scalar`](super::int8::dense_scalar) bit for bit.
//!
//! Two changes to the row-major [`DenseQ`] layer, both made once, on the
//! host, by [`pack`]:
//!
//! - **Zero point folded into the bias.** `sum(w * (x - zp)) = sum(w * x) -
//!   zp * sum(w)`, so each bias becomes `bias[o] - zp * sum(row o)`. Exact in
//!   wrapping `i32` (every sum is taken modulo `2^32`), so the inner loop
//!   multiplies raw codes and no longer subtracts the zero point.
//! - **Four rows interleaved.** Inputs are cut into blocks of four (the last
//!   padded with zero weights). Rows `4g .. 4g + 4` are stored block by
//!   block: for each block, row `4g`'s four weights, then row `4g + 1`'s, and
//!   so on (16 bytes). Rows past the last whole group (`OUT % 4` of them)
//!   follow one after the other, each as its blocks. One pointer walks a
//!   group, so a pass over the input feeds four accumulators.
//!
//! The input is sign-extended once per layer into 16-bit lanes (two words per
//! block, `SXTB16` of bytes 0 and 2, then of bytes 1 and 3) in a caller-owned
//! buffer, so every group reads it with one `LDRD` per block. The DSP loop
//! then spends 19 instructions per block and group (16 multiply-accumulates):
//! one `LDRD` of input lanes, two `LDRD` of weights, and per weight word two
//! `SXTB16` and two `SMLAD`; with two blocks per iteration and a two-instruction
//! loop step, 40 instructions per 32 multiply-accumulates.
//!
//! Three variants, bit-identical (the argument of [`dot`](super::dot)
//! applies: exact products, sums modulo `2^32`):
//! [`dense_packed_scalar`] (reference, straight from the layout),
//! [`dense_packed_emulated`] (the DSP loop, each instruction in portable Rust)
//! and, with `cfg(myelin_arm_dsp)`, the `asm!` loop [`dense_packed`] uses.

use super::OutputQuant;
use super::dot::{DualMac, Portable};
use super::fixed::{Requant, channel_requant};
use super::int8::{DenseQ, check_requant, expect_len, folded_bias};
use crate::Error;

/// Rows interleaved in one group of the packed layout.
pub const GROUP_ROWS: usize = 4;
/// Inputs in one block of the packed layout.
pub const BLOCK: usize = 4;

/// `N` int8 weights in the packed order, 4-byte aligned so the DSP loop can
/// load them as words (`LDRD` requires word alignment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(4))]
pub struct PackedWeights<const N: usize>(pub [i8; N]);

impl<const N: usize> PackedWeights<N> {
    /// The weights as `N / 4` words, four bytes each in memory order.
    pub fn words(&self) -> &[u32] {
        // SAFETY: `repr(C, align(4))` puts the array at offset 0 of a 4-byte
        // aligned value, its `N` bytes are initialized, and every bit pattern
        // is a valid `u32`; `N / 4` words lie within it, borrowed as long as `self`.
        unsafe { core::slice::from_raw_parts(self.0.as_ptr().cast::<u32>(), N / 4) }
    }
}

/// A packed int8 dense layer: `y = requant(W x + b')` with `b' = b - zp * sum(W)`.
#[derive(Debug, Clone, Copy)]
pub struct DensePackedQ<'a> {
    /// `OUT * ceil(IN / 4)` words in the packed order (module docs).
    pub weights: &'a [u32],
    /// `OUT` biases with the input zero point folded in.
    pub bias: &'a [i32],
    /// `OUT` multipliers (or one for the whole tensor).
    pub requant: &'a [Requant],
    /// Output zero point and clamp (fused ReLU).
    pub output: OutputQuant,
}

impl DensePackedQ<'_> {
    /// Checks the layer against `inputs` and `outputs` elements.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] naming the first tensor that does not fit.
    pub fn check(&self, inputs: usize, outputs: usize) -> Result<(), Error> {
        expect_len(
            self.weights.len(),
            outputs.checked_mul(inputs.div_ceil(BLOCK)),
        )?;
        expect_len(self.bias.len(), Some(outputs))?;
        check_requant(self.requant, outputs)
    }
}

/// Words of the unpacked-input buffer a layer with `inputs` inputs needs:
/// two per block of four.
pub const fn unpacked_len(inputs: usize) -> usize {
    2 * inputs.div_ceil(BLOCK)
}

/// Bytes of the packed weights of an `outputs x inputs` layer (inputs padded
/// to whole blocks).
pub const fn packed_len(outputs: usize, inputs: usize) -> usize {
    outputs * inputs.div_ceil(BLOCK) * BLOCK
}

/// Byte offset of row `o`'s weight for input `i` in the packed layout of an
/// `outputs x inputs` layer: the one definition of the layout.
pub const fn packed_index(outputs: usize, inputs: usize, o: usize, i: usize) -> usize {
    let blocks = inputs.div_ceil(BLOCK);
    let (b, k) = (i / BLOCK, i % BLOCK);
    if o < outputs / GROUP_ROWS * GROUP_ROWS {
        ((o / GROUP_ROWS * blocks + b) * GROUP_ROWS + o % GROUP_ROWS) * BLOCK + k
    } else {
        (o * blocks + b) * BLOCK + k
    }
}

/// Packs the row-major `layer` with `inputs` inputs: its weights into
/// `weights` (padding zero) and its biases, zero point folded in, into `bias`.
/// View the result as a [`DensePackedQ`] with `layer`'s multipliers and output.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `layer` does not have `inputs` inputs, or
/// `weights` does not hold [`packed_len`] bytes, or `bias` one per output.
pub fn pack(
    layer: &DenseQ<'_>,
    inputs: usize,
    weights: &mut [i8],
    bias: &mut [i32],
) -> Result<(), Error> {
    let outputs = layer.bias.len();
    layer.check(inputs, outputs)?;
    expect_len(weights.len(), Some(packed_len(outputs, inputs)))?;
    expect_len(bias.len(), Some(outputs))?;
    weights.fill(0);
    let zp = i32::from(layer.input_zero_point);
    for (o, b) in bias.iter_mut().enumerate() {
        let row = &layer.weights[o * inputs..(o + 1) * inputs];
        for (i, &w) in row.iter().enumerate() {
            weights[packed_index(outputs, inputs, o, i)] = w;
        }
        *b = folded_bias(layer.bias[o], row, zp);
    }
    Ok(())
}

/// int8 packed dense forward with the fastest variant on this target.
/// `unpacked` is scratch of at least [`unpacked_len`]`(x.len())` words
/// (required on every target, used by the DSP loop). Never inlined: a
/// program keeps one copy however many layers it runs.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the layer's tensors do not fit `x.len()`
/// inputs and `y.len()` outputs, or `unpacked` is too short.
#[inline(never)]
pub fn dense_packed(
    layer: &DensePackedQ<'_>,
    x: &[i8],
    y: &mut [i8],
    unpacked: &mut [u32],
) -> Result<(), Error> {
    #[cfg(myelin_arm_dsp)]
    {
        dense_with::<arm::Asm>(layer, x, y, unpacked)
    }
    #[cfg(not(myelin_arm_dsp))]
    {
        scratch(unpacked, x.len())?;
        dense_packed_scalar(layer, x, y)
    }
}

/// Scalar reference of [`dense_packed`], reading the weights through
/// [`packed_index`].
///
/// # Errors
/// As [`dense_packed`] (without the scratch).
pub fn dense_packed_scalar(layer: &DensePackedQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    let (inputs, outputs) = (x.len(), y.len());
    layer.check(inputs, outputs)?;
    let byte = |j: usize| layer.weights[j / 4].to_ne_bytes()[j % 4] as i8;
    for (o, y) in y.iter_mut().enumerate() {
        let mut acc = layer.bias[o];
        for (i, &x) in x.iter().enumerate() {
            let w = byte(packed_index(outputs, inputs, o, i));
            acc = acc.wrapping_add(i32::from(w) * i32::from(x));
        }
        *y = layer
            .output
            .requantize(acc, channel_requant(layer.requant, o));
    }
    Ok(())
}

/// [`dense_packed`] through the portable emulation of the DSP loop.
///
/// # Errors
/// As [`dense_packed`].
pub fn dense_packed_emulated(
    layer: &DensePackedQ<'_>,
    x: &[i8],
    y: &mut [i8],
    unpacked: &mut [u32],
) -> Result<(), Error> {
    dense_with::<Emulated>(layer, x, y, unpacked)
}

/// The first [`unpacked_len`]`(inputs)` words of `unpacked`.
fn scratch(unpacked: &mut [u32], inputs: usize) -> Result<&mut [u32], Error> {
    let need = unpacked_len(inputs);
    let found = unpacked.len();
    unpacked.get_mut(..need).ok_or(Error::ShapeMismatch {
        expected: need,
        found,
    })
}

/// The loops of a DSP-style variant. Lengths: `xs` holds two words per
/// block; a group's weights four words per block, a single row's one.
trait Loops {
    /// Sign-extends `x` into 16-bit lanes, two words per block (the last
    /// block padded with zeros).
    fn unpack(x: &[i8], xs: &mut [u32]);
    /// Adds the products of the four interleaved rows `w` with `xs` to `acc`.
    fn group(xs: &[u32], w: &[u32], acc: [i32; 4]) -> [i32; 4];
    /// Adds the products of the single row `w` with `xs` to `acc`.
    fn row(xs: &[u32], w: &[u32], acc: i32) -> i32;
}

/// `x` (at most four bytes) as the little-endian word `LDR` would load,
/// zero-padded.
#[inline(always)]
fn le_word(x: &[i8]) -> u32 {
    x.iter()
        .rev()
        .fold(0u32, |w, &b| (w << 8) | u32::from(b as u8))
}

#[inline(always)]
fn unpack_with<M: DualMac>(x: &[i8], xs: &mut [u32]) {
    let blocks = x.chunks_exact(BLOCK);
    let tail = le_word(blocks.remainder());
    let words = blocks
        .map(|b| u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]))
        .chain((!x.len().is_multiple_of(BLOCK)).then_some(tail));
    for (lanes, w) in xs.chunks_exact_mut(2).zip(words) {
        if let [lo, hi] = lanes {
            *lo = M::sxtb16(w);
            *hi = M::sxtb16_ror8(w);
        }
    }
}

/// The DSP loop with each instruction emulated ([`Portable`]).
struct Emulated;

impl Loops for Emulated {
    fn unpack(x: &[i8], xs: &mut [u32]) {
        unpack_with::<Portable>(x, xs);
    }

    fn group(xs: &[u32], w: &[u32], mut acc: [i32; 4]) -> [i32; 4] {
        for (x, w) in xs.chunks_exact(2).zip(w.chunks_exact(GROUP_ROWS)) {
            for (a, &w) in acc.iter_mut().zip(w) {
                // The word `LDRD` loads: the bytes in memory order, little-endian.
                let w = u32::from_le_bytes(w.to_ne_bytes());
                *a = Portable::smlad(Portable::sxtb16(w), x[0], *a);
                *a = Portable::smlad(Portable::sxtb16_ror8(w), x[1], *a);
            }
        }
        acc
    }

    fn row(xs: &[u32], w: &[u32], mut acc: i32) -> i32 {
        for (x, &w) in xs.chunks_exact(2).zip(w) {
            let w = u32::from_le_bytes(w.to_ne_bytes());
            acc = Portable::smlad(Portable::sxtb16(w), x[0], acc);
            acc = Portable::smlad(Portable::sxtb16_ror8(w), x[1], acc);
        }
        acc
    }
}

/// The layer driver of the DSP-style variants. Nothing here can panic (no
/// indexing, no assertions), so a program running only this kernel links no
/// panic-message formatting.
#[inline(always)]
fn dense_with<L: Loops>(
    layer: &DensePackedQ<'_>,
    x: &[i8],
    y: &mut [i8],
    unpacked: &mut [u32],
) -> Result<(), Error> {
    let (inputs, outputs) = (x.len(), y.len());
    layer.check(inputs, outputs)?;
    let xs = scratch(unpacked, inputs)?;
    L::unpack(x, xs);
    let xs = &*xs;
    let bias = |o: usize| layer.bias.get(o).copied().unwrap_or(0);
    let blocks = inputs.div_ceil(BLOCK);
    if blocks == 0 {
        for (o, y) in y.iter_mut().enumerate() {
            *y = finish(layer, o, bias(o));
        }
        return Ok(());
    }
    let mut groups = layer.weights.chunks_exact(GROUP_ROWS * blocks);
    let mut ys = y.chunks_exact_mut(GROUP_ROWS);
    let mut o = 0;
    for (ys, w) in (&mut ys).zip(&mut groups) {
        let acc = L::group(xs, w, [bias(o), bias(o + 1), bias(o + 2), bias(o + 3)]);
        for (y, a) in ys.iter_mut().zip(acc) {
            *y = finish(layer, o, a);
            o += 1;
        }
    }
    let rows = groups.remainder().chunks_exact(blocks);
    for (y, w) in ys.into_remainder().iter_mut().zip(rows) {
        *y = finish(layer, o, L::row(xs, w, bias(o)));
        o += 1;
    }
    Ok(())
}

/// Row `o`'s output from its accumulator. Not inlined: one copy of the
/// requantization serves every row.
#[inline(never)]
fn finish(layer: &DensePackedQ<'_>, o: usize, acc: i32) -> i8 {
    let k = if layer.requant.len() == 1 { 0 } else { o };
    let m = layer.requant.get(k).copied().unwrap_or_default();
    layer.output.requantize(acc, m)
}

#[cfg(myelin_arm_dsp)]
mod arm {
    use super::{Loops, unpack_with};
    use crate::quant::dot::arm::Dsp;
    use core::arch::asm;

    /// The `asm!` loops.
    pub(super) struct Asm;

    impl Loops for Asm {
        #[inline(always)]
        fn unpack(x: &[i8], xs: &mut [u32]) {
            unpack_with::<Dsp>(x, xs);
        }

        #[inline(always)]
        fn group(xs: &[u32], w: &[u32], acc: [i32; 4]) -> [i32; 4] {
            let blocks = (xs.len() / 2).min(w.len() / 4);
            if blocks == 0 {
                return acc;
            }
            let [mut a0, mut a1, mut a2, mut a3] = acc;
            // SAFETY: `blocks > 0`; `xs` holds `2 * blocks` and `w` `4 * blocks`
            // words (checked above), 4-byte aligned as `u32` slices, which is
            // what the post-incremented `LDRD`s read: two words of `xs` and four
            // of `w` per block. Two blocks per iteration; `n = (blocks + 1) / 2`
            // iterations, entering at the second block when `blocks` is odd
            // (the carry out of the shift is `(blocks + 1) & 1`). Only the
            // declared registers and the flags are written (`SMLAD` may set
            // the sticky Q bit, which no Rust code reads).
            unsafe {
                asm!(
                    "adds {n}, {n}, #1",
                    "lsrs {n}, {n}, #1",
                    "bcc 3f",
                    "2:",
                    group_block!(),
                    "3:",
                    group_block!(),
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    px = inout(reg) xs.as_ptr() => _,
                    pw = inout(reg) w.as_ptr() => _,
                    n = inout(reg) blocks => _,
                    a0 = inout(reg) a0,
                    a1 = inout(reg) a1,
                    a2 = inout(reg) a2,
                    a3 = inout(reg) a3,
                    x0 = out(reg) _,
                    x1 = out(reg) _,
                    w0 = out(reg) _,
                    w1 = out(reg) _,
                    t = out(reg) _,
                    options(nostack, readonly),
                );
            }
            [a0, a1, a2, a3]
        }

        #[inline(always)]
        fn row(xs: &[u32], w: &[u32], mut acc: i32) -> i32 {
            let blocks = (xs.len() / 2).min(w.len());
            if blocks == 0 {
                return acc;
            }
            // SAFETY: `blocks > 0`; `xs` holds `2 * blocks` and `w` `blocks`
            // words (checked above), 4-byte aligned; each iteration reads two
            // words of `xs` (`LDRD`) and one of `w`. Only the declared registers
            // and the flags are written (see `group`).
            unsafe {
                asm!(
                    "2:",
                    "ldrd {x0}, {x1}, [{px}], #8",
                    "ldr {w}, [{pw}], #4",
                    "sxtb16 {t}, {w}",
                    "sxtb16 {w}, {w}, ror #8",
                    "smlad {a}, {t}, {x0}, {a}",
                    "smlad {a}, {w}, {x1}, {a}",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    px = inout(reg) xs.as_ptr() => _,
                    pw = inout(reg) w.as_ptr() => _,
                    n = inout(reg) blocks => _,
                    a = inout(reg) acc,
                    x0 = out(reg) _,
                    x1 = out(reg) _,
                    w = out(reg) _,
                    t = out(reg) _,
                    options(nostack, readonly),
                );
            }
            acc
        }
    }

    /// One block of a group: the input lanes, then two rows per `LDRD`.
    macro_rules! group_block {
        () => {
            concat!(
                "ldrd {x0}, {x1}, [{px}], #8\n",
                "ldrd {w0}, {w1}, [{pw}], #8\n",
                "sxtb16 {t}, {w0}\n",
                "sxtb16 {w0}, {w0}, ror #8\n",
                "smlad {a0}, {t}, {x0}, {a0}\n",
                "smlad {a0}, {w0}, {x1}, {a0}\n",
                "sxtb16 {t}, {w1}\n",
                "sxtb16 {w1}, {w1}, ror #8\n",
                "smlad {a1}, {t}, {x0}, {a1}\n",
                "smlad {a1}, {w1}, {x1}, {a1}\n",
                "ldrd {w0}, {w1}, [{pw}], #8\n",
                "sxtb16 {t}, {w0}\n",
                "sxtb16 {w0}, {w0}, ror #8\n",
                "smlad {a2}, {t}, {x0}, {a2}\n",
                "smlad {a2}, {w0}, {x1}, {a2}\n",
                "sxtb16 {t}, {w1}\n",
                "sxtb16 {w1}, {w1}, ror #8\n",
                "smlad {a3}, {t}, {x0}, {a3}\n",
                "smlad {a3}, {w1}, {x1}, {a3}",
            )
        };
    }
    use group_block;
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Packs `layer` on the heap: the packed words and folded biases.
    fn packed(layer: &DenseQ<'_>, inputs: usize) -> (Vec<u32>, Vec<i32>) {
        let outputs = layer.bias.len();
        let mut bytes = vec![0i8; packed_len(outputs, inputs)];
        let mut bias = vec![0i32; outputs];
        pack(layer, inputs, &mut bytes, &mut bias).unwrap();
        let words = bytes
            .chunks_exact(4)
            .map(|b| u32::from_ne_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]))
            .collect();
        (words, bias)
    }

    /// Runs every packed variant against `dense_scalar` on `layer`.
    fn check_all(layer: &DenseQ<'_>, x: &[i8]) -> Result<(), TestCaseError> {
        let outputs = layer.bias.len();
        let mut want = vec![0i8; outputs];
        super::super::int8::dense_scalar(layer, x, &mut want).unwrap();
        let (words, bias) = packed(layer, x.len());
        let p = DensePackedQ {
            weights: &words,
            bias: &bias,
            requant: layer.requant,
            output: layer.output,
        };
        let mut xs = vec![0u32; unpacked_len(x.len())];
        let mut got = vec![0i8; outputs];
        dense_packed_scalar(&p, x, &mut got).unwrap();
        prop_assert_eq!(&got, &want, "scalar");
        got.fill(0);
        dense_packed_emulated(&p, x, &mut got, &mut xs).unwrap();
        prop_assert_eq!(&got, &want, "emulated");
        got.fill(0);
        dense_packed(&p, x, &mut got, &mut xs).unwrap();
        prop_assert_eq!(&got, &want, "dispatched");
        Ok(())
    }

    fn int8() -> impl Strategy<Value = i8> {
        prop_oneof![Just(i8::MIN), Just(i8::MAX), any::<i8>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn packed_variants_equal_dense_scalar(
            (_, outputs, w, x, b, zp, oz, shift, per_row) in (0usize..70, 0usize..14)
                .prop_flat_map(|(i, o)| (
                    Just(i),
                    Just(o),
                    proptest::collection::vec(int8(), i * o),
                    proptest::collection::vec(int8(), i),
                    proptest::collection::vec(any::<i32>(), o),
                    int8(),
                    int8(),
                    -20i32..4,
                    any::<bool>(),
                ))
        ) {
            let rq: Vec<Requant> = (0..if per_row { outputs } else { 1 })
                .map(|k| Requant { multiplier: (1 << 30) + 12_345 * k as i32, shift })
                .collect();
            let layer = DenseQ {
                weights: &w,
                bias: &b,
                requant: &rq,
                input_zero_point: zp,
                output: OutputQuant::linear(oz),
            };
            check_all(&layer, &x)?;
        }
    }

    #[test]
    fn extremes_and_wrapping_sums_agree() {
        // Largest products, every zero point extreme, biases that wrap.
        for (inputs, outputs) in [(1, 1), (3, 5), (8, 4), (13, 9), (784, 6)] {
            for (wv, xv, zp) in [
                (i8::MIN, i8::MIN, i8::MAX),
                (i8::MIN, i8::MAX, i8::MIN),
                (i8::MAX, i8::MIN, i8::MIN),
            ] {
                let w = vec![wv; inputs * outputs];
                let x = vec![xv; inputs];
                let b: Vec<i32> = (0..outputs)
                    .map(|o| {
                        if o % 2 == 0 {
                            i32::MAX - 7
                        } else {
                            i32::MIN + 7
                        }
                    })
                    .collect();
                let rq = [Requant {
                    multiplier: 1 << 30,
                    shift: -24,
                }];
                let layer = DenseQ {
                    weights: &w,
                    bias: &b,
                    requant: &rq,
                    input_zero_point: zp,
                    output: OutputQuant::relu(-3),
                };
                check_all(&layer, &x).unwrap();
            }
        }
    }

    #[test]
    fn layout_by_hand() {
        // 5 outputs x 6 inputs: one group of four rows, then row 4 alone;
        // blocks of four inputs, the second padded with zeros.
        let w: Vec<i8> = (0..30).map(|v| v as i8 + 1).collect();
        let layer = DenseQ {
            weights: &w,
            bias: &[10, 20, 30, 40, 50],
            requant: &[Requant::default()],
            input_zero_point: 2,
            output: OutputQuant::linear(0),
        };
        let mut bytes = [0i8; 40];
        let mut bias = [0i32; 5];
        pack(&layer, 6, &mut bytes, &mut bias).unwrap();
        #[rustfmt::skip]
        let want: [i8; 40] = [
            1, 2, 3, 4, 7, 8, 9, 10, 13, 14, 15, 16, 19, 20, 21, 22,
            5, 6, 0, 0, 11, 12, 0, 0, 17, 18, 0, 0, 23, 24, 0, 0,
            25, 26, 27, 28, 29, 30, 0, 0,
        ];
        assert_eq!(bytes, want);
        // bias - 2 * row sum: row 0 sums 1..=6 = 21.
        assert_eq!(
            bias,
            [
                10 - 42,
                20 - 2 * 57,
                30 - 2 * 93,
                40 - 2 * 129,
                50 - 2 * 165
            ]
        );
        assert_eq!(packed_index(5, 6, 4, 5), 37);
        assert_eq!(packed_index(5, 6, 2, 4), 24);
    }

    #[test]
    fn shapes_and_scratch_are_checked() {
        let words = [0u32; 4];
        let layer = DensePackedQ {
            weights: &words,
            bias: &[0, 0],
            requant: &[Requant::default()],
            output: OutputQuant::linear(0),
        };
        let x = [1i8; 7];
        let mut y = [0i8; 2];
        let mut xs = [0u32; 4];
        assert_eq!(dense_packed(&layer, &x, &mut y, &mut xs), Ok(()));
        assert_eq!(
            dense_packed(&layer, &x, &mut y, &mut xs[..3]),
            Err(Error::ShapeMismatch {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            dense_packed_scalar(&layer, &x[..3], &mut y),
            Err(Error::ShapeMismatch {
                expected: 2,
                found: 4
            })
        );
        let aligned = PackedWeights([1i8, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(aligned.words().len(), 2);
        assert_eq!(aligned.words()[1].to_ne_bytes(), [0, 0, 0, 2]);
    }
}
