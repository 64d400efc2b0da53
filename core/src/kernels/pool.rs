//! 2-D max and average pooling, forward and backward, for one sample in
//! channel-major layout (`ch x in_h x in_w` to `ch x out_h x out_w`), no padding.
//! A 1-D pooling is the case `in_h = k_h = 1`.

use super::conv::{conv_out_len, mul};
use crate::Error;

/// Shape of a 2-D pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pool2dShape {
    /// Channels (pooled independently).
    pub ch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Window height.
    pub k_h: usize,
    /// Window width.
    pub k_w: usize,
    /// Step between windows, both axes.
    pub stride: usize,
}

impl Pool2dShape {
    /// Output height: `(in_h - k_h) / stride + 1`.
    pub const fn out_h(&self) -> usize {
        conv_out_len(self.in_h, self.k_h, self.stride, 0)
    }
    /// Output width: `(in_w - k_w) / stride + 1`.
    pub const fn out_w(&self) -> usize {
        conv_out_len(self.in_w, self.k_w, self.stride, 0)
    }
    /// Input elements.
    pub const fn in_len(&self) -> usize {
        self.ch * self.in_h * self.in_w
    }
    /// Output elements.
    pub const fn out_len(&self) -> usize {
        self.ch * self.out_h() * self.out_w()
    }
    /// Checks that the window fits and the stride is nonzero.
    pub const fn validate(&self) -> Result<(), Error> {
        if self.ch == 0 || self.stride == 0 || self.k_h == 0 || self.k_w == 0 {
            return Err(Error::InvalidShape {
                what: "pool2d: zero channels, window or stride",
            });
        }
        if self.k_h > self.in_h || self.k_w > self.in_w {
            return Err(Error::InvalidShape {
                what: "pool2d: window larger than input",
            });
        }
        if mul(mul(Some(self.ch), self.in_h), self.in_w).is_none() {
            return Err(Error::InvalidShape {
                what: "pool2d: size overflows usize",
            });
        }
        Ok(())
    }

    fn check(&self, x: usize, y: usize) {
        assert!(self.validate().is_ok(), "pool2d: invalid shape");
        assert_eq!(x, self.in_len(), "pool2d: input length");
        assert_eq!(y, self.out_len(), "pool2d: output length");
    }

    /// Calls `f(out_index, first_input_index)` for every output position.
    #[inline]
    fn for_each_window(&self, mut f: impl FnMut(usize, usize)) {
        let (oh_n, ow_n) = (self.out_h(), self.out_w());
        for c in 0..self.ch {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let o = (c * oh_n + oh) * ow_n + ow;
                    let i = (c * self.in_h + oh * self.stride) * self.in_w + ow * self.stride;
                    f(o, i);
                }
            }
        }
    }

    /// Index of the largest input in the window starting at `i0` (the first on ties;
    /// a NaN wins so it propagates).
    #[inline]
    fn argmax(&self, x: &[f32], i0: usize) -> usize {
        let mut best = i0;
        for kh in 0..self.k_h {
            for kw in 0..self.k_w {
                let i = i0 + kh * self.in_w + kw;
                if x[i] > x[best] || (x[i].is_nan() && !x[best].is_nan()) {
                    best = i;
                }
            }
        }
        best
    }
}

/// Max pooling forward: `y` = the largest input of each window.
///
/// # Panics
/// If a slice length does not match `shape`, or the shape is invalid.
pub fn max_pool2d_forward(shape: &Pool2dShape, x: &[f32], y: &mut [f32]) {
    shape.check(x.len(), y.len());
    shape.for_each_window(|o, i| y[o] = x[shape.argmax(x, i)]);
}

/// Max pooling backward: overwrites `dx` with `dy` routed to the position of
/// each window's maximum in the forward input `x` (the first on ties).
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn max_pool2d_backward(shape: &Pool2dShape, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    shape.check(x.len(), dy.len());
    assert_eq!(dx.len(), x.len(), "pool2d: input gradient length");
    dx.fill(0.0);
    shape.for_each_window(|o, i| dx[shape.argmax(x, i)] += dy[o]);
}

/// Max pooling forward that also records, for the backward pass, the input
/// index of each window's maximum in `argmax` (one per output; the first
/// on ties, a NaN wins).
///
/// # Panics
/// If a slice length does not match `shape`, the shape is invalid, or the
/// input has more than `u32::MAX` elements.
pub fn max_pool2d_forward_indexed(
    shape: &Pool2dShape,
    x: &[f32],
    y: &mut [f32],
    argmax: &mut [u32],
) {
    shape.check(x.len(), y.len());
    assert_eq!(argmax.len(), y.len(), "pool2d: index length");
    assert!(
        u32::try_from(x.len()).is_ok(),
        "pool2d: input too large to index"
    );
    shape.for_each_window(|o, i| {
        let a = shape.argmax(x, i);
        y[o] = x[a];
        argmax[o] = a as u32;
    });
}

/// Max pooling backward from the indices [`max_pool2d_forward_indexed`]
/// recorded: overwrites `dx` with each `dy` added at its window's maximum,
/// in output order (as [`max_pool2d_backward`] does, without searching the
/// windows again).
///
/// # Panics
/// If `argmax` and `dy` differ in length or an index is outside `dx`.
pub fn max_pool2d_backward_indexed(argmax: &[u32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(argmax.len(), dy.len(), "pool2d: index length");
    dx.fill(0.0);
    for (&i, &g) in argmax.iter().zip(dy) {
        dx[i as usize] += g;
    }
}

/// Average pooling forward: `y` = the mean of each window.
///
/// # Panics
/// If a slice length does not match `shape`, or the shape is invalid.
pub fn avg_pool2d_forward(shape: &Pool2dShape, x: &[f32], y: &mut [f32]) {
    shape.check(x.len(), y.len());
    let inv = 1.0 / (shape.k_h * shape.k_w) as f32;
    shape.for_each_window(|o, i0| {
        let mut s = 0.0;
        for kh in 0..shape.k_h {
            s += x[i0 + kh * shape.in_w..][..shape.k_w].iter().sum::<f32>();
        }
        y[o] = s * inv;
    });
}

/// Average pooling backward: overwrites `dx` with each `dy` spread evenly
/// over its window.
///
/// # Panics
/// If a slice length does not match `shape`.
pub fn avg_pool2d_backward(shape: &Pool2dShape, dy: &[f32], dx: &mut [f32]) {
    shape.check(dx.len(), dy.len());
    dx.fill(0.0);
    let inv = 1.0 / (shape.k_h * shape.k_w) as f32;
    shape.for_each_window(|o, i0| {
        let g = dy[o] * inv;
        for kh in 0..shape.k_h {
            for v in &mut dx[i0 + kh * shape.in_w..][..shape.k_w] {
                *v += g;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::{vec, vec::Vec};

    /// Values with many ties (a coarse grid), some NaNs and infinities.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut z = seed.wrapping_mul(0x9e37_79b9) | 1;
        (0..n)
            .map(|_| {
                z ^= z << 13;
                z ^= z >> 17;
                z ^= z << 5;
                match z % 23 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => f32::NEG_INFINITY,
                    r => (r % 5) as f32 - 2.0,
                }
            })
            .collect()
    }

    #[test]
    fn indexed_max_pool_equals_the_searching_one_bit_for_bit() {
        let mut seed = 1;
        for ch in 1..=3 {
            for (in_h, in_w) in [(1, 7), (4, 4), (5, 6), (9, 3)] {
                for (k_h, k_w, stride) in [(1, 1, 1), (1, 3, 2), (2, 2, 2), (3, 2, 1), (3, 3, 3)] {
                    let shape = Pool2dShape {
                        ch,
                        in_h,
                        in_w,
                        k_h,
                        k_w,
                        stride,
                    };
                    if shape.validate().is_err() {
                        continue;
                    }
                    seed += 1;
                    let x = values(shape.in_len(), seed);
                    let dy = values(shape.out_len(), seed + 1000);
                    let mut y = vec![0.0; shape.out_len()];
                    let mut want_y = y.clone();
                    let mut idx = vec![0; shape.out_len()];
                    max_pool2d_forward(&shape, &x, &mut want_y);
                    max_pool2d_forward_indexed(&shape, &x, &mut y, &mut idx);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&y), bits(&want_y), "{shape:?}");
                    let mut dx = vec![7.0; shape.in_len()];
                    let mut want_dx = dx.clone();
                    max_pool2d_backward(&shape, &x, &dy, &mut want_dx);
                    max_pool2d_backward_indexed(&idx, &dy, &mut dx);
                    assert_eq!(bits(&dx), bits(&want_dx), "{shape:?}");
                }
            }
        }
    }
}
