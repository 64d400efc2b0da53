//! The Armv6-M int8 convolution (`quant::int8::conv2d`: blocks of 7
//! positions, 5-wide kernel rows in assembly) against `conv2d_scalar` on
//! random shapes, values and zero points, bit for bit.
#![no_std]
#![no_main]

use core::hint::black_box;
use myelin_core::quant::int8::{Conv2dShape, ConvQ, conv2d, conv2d_scalar};
use myelin_core::quant::{OutputQuant, Requant};
use myelin_fw_common::{Checks, check, entry};

const MAX: usize = 1024;

/// xorshift32.
struct Bits(u32);

impl Bits {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.next() as usize % (hi - lo + 1)
    }

    /// An int8 value, the extremes one time in four.
    fn int8(&mut self) -> i8 {
        match self.next() % 8 {
            0 => i8::MIN,
            1 => i8::MAX,
            _ => self.next() as i8,
        }
    }
}

#[entry]
fn main() -> ! {
    let mut t = Checks::new();
    let mut bits = Bits(0x5eed_c0de);
    let (mut x, mut w) = ([0i8; MAX], [0i8; MAX]);
    let (mut fast, mut slow) = ([0i8; MAX], [0i8; MAX]);
    let (mut cases, mut assembly, mut mismatches) = (0u32, 0u32, 0u32);
    for case in 0..400 {
        // The mnist-cnn's second convolution first, then random shapes.
        let shape = if case == 0 {
            Conv2dShape {
                in_channels: 8,
                in_size: [10, 12],
                out_channels: 3,
                kernel: [5, 5],
                stride: [1, 1],
                padding: [2; 4],
            }
        } else {
            let kw = if bits.next().is_multiple_of(2) {
                5
            } else {
                bits.range(1, 7)
            };
            Conv2dShape {
                in_channels: bits.range(1, 4),
                in_size: [bits.range(1, 9), bits.range(1, 20)],
                out_channels: bits.range(1, 4),
                kernel: [bits.range(1, 5), kw],
                stride: [
                    bits.range(1, 2),
                    if bits.next().is_multiple_of(4) { 2 } else { 1 },
                ],
                padding: {
                    let (ph, pw) = (bits.range(0, 2), bits.range(0, 3));
                    [ph, ph, pw, pw]
                },
            }
        };
        let (Ok(n), Some(n_x), Some(n_w)) =
            (shape.output_len(), shape.input_len(), shape.weight_len())
        else {
            continue;
        };
        if n > MAX || n_x > MAX || n_w > MAX {
            continue;
        }
        for v in x[..n_x].iter_mut().chain(&mut w[..n_w]) {
            *v = bits.int8();
        }
        let mut bias = [0i32; 4];
        let mut requant = [Requant::default(); 4];
        for (b, r) in bias.iter_mut().zip(&mut requant) {
            *b = bits.next() as i32 >> bits.range(0, 24);
            *r = Requant {
                multiplier: (bits.next() >> 1 | 1 << 30) as i32,
                shift: -(bits.range(0, 14) as i32),
            };
        }
        let zp = bits.int8();
        let layer = ConvQ {
            weights: &w[..n_w],
            bias: &bias[..shape.out_channels],
            requant: &requant[..shape.out_channels],
            input_zero_point: zp,
            output: if bits.next().is_multiple_of(2) {
                OutputQuant::relu(bits.int8())
            } else {
                OutputQuant::linear(bits.int8())
            },
        };
        let ok_fast = conv2d(&layer, black_box(&shape), &x[..n_x], &mut fast[..n]).is_ok();
        let ok_slow = conv2d_scalar(&layer, &shape, &x[..n_x], &mut slow[..n]).is_ok();
        cases += 1;
        if shape.kernel[1] == 5 && shape.stride[1] == 1 {
            assembly += 1;
        }
        if !(ok_fast && ok_slow) || fast[..n] != slow[..n] {
            mismatches += 1;
            defmt::error!("case {}: {} differs from conv2d_scalar", case, shape);
        }
    }
    defmt::info!(
        "{} shapes ({} through the assembly rows), {} mismatches",
        cases,
        assembly,
        mismatches
    );
    check!(t, mismatches == 0);
    check!(t, cases > 200 && assembly > 100);
    t.finish()
}
