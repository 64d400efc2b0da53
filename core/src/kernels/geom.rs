//! Window geometry shared by every convolution and pooling kernel, f32 and
//! int8: kernel size, stride and padding per axis, and TFLite's SAME rule.
//!
//! Layout (the one myelin uses everywhere): one sample is channel-major,
//! `channels x height x width` (`x[(c * h + y) * w + x]`); a 1-D signal is
//! `channels x 1 x length`. Padding may differ on each side, so TFLite's
//! SAME padding for even kernels or stride 2 (more padding after than
//! before) is represented exactly.

use crate::Error;

/// How an axis is padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Padding {
    /// No padding: only windows that fit inside the input.
    Valid,
    /// TFLite / TensorFlow SAME: `out = ceil(in / stride)`, the total padding
    /// `max((out - 1) * stride + k - in, 0)` split with the smaller half before.
    Same,
    /// Explicit zero padding on each side of each axis.
    Explicit {
        /// Rows above.
        top: usize,
        /// Rows below.
        bottom: usize,
        /// Columns on the left.
        left: usize,
        /// Columns on the right.
        right: usize,
    },
}

/// Padding of one axis: `(before, after)` for a window of `k` at `stride`
/// over `n` positions; `None` if `stride` or `k` is zero or sizes overflow.
pub fn same_padding(n: usize, k: usize, stride: usize) -> Option<(usize, usize)> {
    if stride == 0 || k == 0 || n == 0 {
        return None;
    }
    let out = n.div_ceil(stride);
    let needed = (out - 1).checked_mul(stride)?.checked_add(k)?;
    let total = needed.saturating_sub(n);
    Some((total / 2, total - total / 2))
}

/// Output length of one axis: `(n + before + after - k) / stride + 1`, or
/// `None` if the window does not fit, the stride is zero or sizes overflow.
pub fn window_out_len(
    n: usize,
    k: usize,
    stride: usize,
    before: usize,
    after: usize,
) -> Option<usize> {
    let padded = n.checked_add(before)?.checked_add(after)?;
    if stride == 0 || k == 0 || padded < k {
        return None;
    }
    Some((padded - k) / stride + 1)
}

/// A 2-D sliding window over an `in_h x in_w` plane: kernel, stride and
/// padding per axis. A 1-D window is one with `in_h = k_h = stride_h = 1`
/// and no vertical padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Window2d {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Step between output rows.
    pub stride_h: usize,
    /// Step between output columns.
    pub stride_w: usize,
    /// Zero rows above the input.
    pub pad_top: usize,
    /// Zero rows below.
    pub pad_bottom: usize,
    /// Zero columns on the left.
    pub pad_left: usize,
    /// Zero columns on the right.
    pub pad_right: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

impl Window2d {
    /// The window of a `k_h x k_w` kernel at the given strides and padding
    /// over an `in_h x in_w` plane; an error if the window does not fit, a
    /// size is zero, or sizes overflow.
    pub fn new(
        in_h: usize,
        in_w: usize,
        (k_h, k_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        padding: Padding,
    ) -> Result<Window2d, Error> {
        let bad = Error::InvalidShape {
            what: "window: a zero size or stride, or a window larger than its padded input",
        };
        if in_h == 0 || in_w == 0 {
            return Err(bad);
        }
        let (pad_top, pad_bottom, pad_left, pad_right) = match padding {
            Padding::Valid => (0, 0, 0, 0),
            Padding::Same => {
                let (t, b) = same_padding(in_h, k_h, stride_h).ok_or(bad)?;
                let (l, r) = same_padding(in_w, k_w, stride_w).ok_or(bad)?;
                (t, b, l, r)
            }
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } => (top, bottom, left, right),
        };
        // A pad as large as the kernel gives windows that see only padding.
        let any_pad = pad_top | pad_bottom | pad_left | pad_right != 0;
        if any_pad && (pad_top >= k_h || pad_bottom >= k_h || pad_left >= k_w || pad_right >= k_w) {
            return Err(Error::InvalidShape {
                what: "window: padding as large as the kernel",
            });
        }
        let out_h = window_out_len(in_h, k_h, stride_h, pad_top, pad_bottom).ok_or(bad)?;
        let out_w = window_out_len(in_w, k_w, stride_w, pad_left, pad_right).ok_or(bad)?;
        Ok(Window2d {
            in_h,
            in_w,
            k_h,
            k_w,
            stride_h,
            stride_w,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
            out_h,
            out_w,
        })
    }

    /// Positions of the input plane.
    pub const fn in_plane(&self) -> usize {
        self.in_h * self.in_w
    }

    /// Positions of the output plane.
    pub const fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Window elements: `k_h * k_w`.
    pub const fn k_len(&self) -> usize {
        self.k_h * self.k_w
    }

    /// The input row of kernel row `ky` for output row `oy`, or `None` when
    /// it falls in the padding.
    #[inline]
    pub fn in_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride_h + ky)
            .checked_sub(self.pad_top)
            .filter(|&y| y < self.in_h)
    }

    /// The input column of kernel column `kx` for output column `ox`, or
    /// `None` when it falls in the padding.
    #[inline]
    pub fn in_col(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.stride_w + kx)
            .checked_sub(self.pad_left)
            .filter(|&x| x < self.in_w)
    }
}

impl Window2d {
    /// Kernel rows `lo..hi` that land inside the input for output row `oy`
    /// (input row `oy * stride_h + ky - pad_top`).
    #[inline]
    pub fn k_rows(&self, oy: usize) -> (usize, usize) {
        k_range(oy * self.stride_h, self.pad_top, self.in_h, self.k_h)
    }

    /// Kernel columns `lo..hi` that land inside the input for output column
    /// `ox` (input column `ox * stride_w + kx - pad_left`).
    #[inline]
    pub fn k_cols(&self, ox: usize) -> (usize, usize) {
        k_range(ox * self.stride_w, self.pad_left, self.in_w, self.k_w)
    }

    /// Whether the window is a plain 1x1 at stride 1 with no padding (the
    /// output plane is the input plane).
    pub const fn is_identity(&self) -> bool {
        self.k_h == 1
            && self.k_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_top == 0
            && self.pad_bottom == 0
            && self.pad_left == 0
            && self.pad_right == 0
    }
}

/// Taps `lo..hi` of a `k`-wide window starting at padded position `start`
/// whose input index `start + t - pad` lies in `0..n` (empty if none do).
#[inline]
fn k_range(start: usize, pad: usize, n: usize, k: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(start).min(k);
    let hi = (n + pad).saturating_sub(start).min(k);
    (lo, hi.max(lo))
}

/// Geometry of a 2-D convolution over `in_ch` channels. `groups == 1` is a
/// full convolution (weights `out_ch x in_ch x k_h x k_w`); `groups ==
/// in_ch` is depthwise (weights `out_ch x 1 x k_h x k_w`, output channel `o`
/// reads input channel `o / (out_ch / in_ch)`: TFLite's channel multiplier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvGeom {
    /// Input channels.
    pub in_ch: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Channel groups: 1 (full) or `in_ch` (depthwise).
    pub groups: usize,
    /// The sliding window.
    pub win: Window2d,
}

impl ConvGeom {
    /// A convolution geometry; an error unless `groups` is 1 or `in_ch` and
    /// divides `out_ch`, and every size is non-zero.
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        groups: usize,
        win: Window2d,
    ) -> Result<ConvGeom, Error> {
        let ok = in_ch > 0
            && out_ch > 0
            && (groups == 1 || groups == in_ch)
            && out_ch.is_multiple_of(groups);
        if !ok {
            return Err(Error::InvalidShape {
                what: "convolution: groups must be 1 or the input channels and divide the output channels",
            });
        }
        Ok(ConvGeom {
            in_ch,
            out_ch,
            groups,
            win,
        })
    }

    /// Whether this is a depthwise convolution (`groups == in_ch > 1`).
    pub const fn is_depthwise(&self) -> bool {
        self.groups > 1
    }

    /// Input channels each output channel reads: `in_ch / groups`.
    pub const fn group_in(&self) -> usize {
        self.in_ch / self.groups
    }

    /// Elements of one sample's input.
    pub const fn in_len(&self) -> usize {
        self.in_ch * self.win.in_plane()
    }

    /// Elements of one sample's output.
    pub const fn out_len(&self) -> usize {
        self.out_ch * self.win.out_plane()
    }

    /// Weight elements: `out_ch * group_in * k_h * k_w`.
    pub const fn weight_len(&self) -> usize {
        self.out_ch * self.group_in() * self.win.k_len()
    }

    /// Multiply-accumulates per sample.
    pub const fn macs(&self) -> usize {
        self.out_len() * self.group_in() * self.win.k_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_follows_tflite() {
        // Odd kernel, stride 1: symmetric.
        assert_eq!(same_padding(28, 3, 1), Some((1, 1)));
        // Even kernel: the extra row goes after.
        assert_eq!(same_padding(28, 4, 1), Some((1, 2)));
        // Stride 2 on an even input: out = 16, total = 15*2 + 3 - 32 = 1.
        assert_eq!(same_padding(32, 3, 2), Some((0, 1)));
        // KWS first conv: 49x10 input, 10x4 kernel, stride 2.
        assert_eq!(same_padding(49, 10, 2), Some((4, 5)));
        assert_eq!(same_padding(10, 4, 2), Some((1, 1)));
        assert_eq!(same_padding(5, 1, 2), Some((0, 0)));
        assert_eq!(same_padding(5, 3, 0), None);
    }

    #[test]
    fn window_shapes() {
        let w = Window2d::new(49, 10, (10, 4), (2, 2), Padding::Same).unwrap();
        assert_eq!((w.out_h, w.out_w), (25, 5));
        let w = Window2d::new(28, 28, (2, 2), (2, 2), Padding::Valid).unwrap();
        assert_eq!((w.out_h, w.out_w), (14, 14));
        // Window larger than its input.
        assert!(Window2d::new(2, 2, (3, 3), (1, 1), Padding::Valid).is_err());
        // Zero stride.
        assert!(Window2d::new(4, 4, (3, 3), (0, 1), Padding::Valid).is_err());
        // Rows in the padding.
        let w = Window2d::new(4, 4, (3, 3), (1, 1), Padding::Same).unwrap();
        assert_eq!(w.in_row(0, 0), None);
        assert_eq!(w.in_row(0, 1), Some(0));
        assert_eq!(w.in_col(3, 2), None);
    }

    #[test]
    fn kernel_ranges_skip_the_padding() {
        // 5 columns, k 3, stride 2, one column of padding each side.
        let w = Window2d::new(4, 5, (3, 3), (1, 2), Padding::Same).unwrap();
        assert_eq!((w.pad_left, w.pad_right, w.out_w), (1, 1, 3));
        for ox in 0..w.out_w {
            let (lo, hi) = w.k_cols(ox);
            for kx in 0..w.k_w {
                assert_eq!((lo..hi).contains(&kx), w.in_col(ox, kx).is_some());
            }
        }
        for oy in 0..w.out_h {
            let (lo, hi) = w.k_rows(oy);
            for ky in 0..w.k_h {
                assert_eq!((lo..hi).contains(&ky), w.in_row(oy, ky).is_some());
            }
        }
        assert!(
            Window2d::new(3, 3, (1, 1), (1, 1), Padding::Valid)
                .unwrap()
                .is_identity()
        );
        assert!(
            !Window2d::new(3, 3, (1, 1), (2, 1), Padding::Valid)
                .unwrap()
                .is_identity()
        );
    }

    #[test]
    fn conv_geometry() {
        let win = Window2d::new(8, 8, (3, 3), (1, 1), Padding::Same).unwrap();
        let g = ConvGeom::new(4, 8, 4, win).unwrap();
        assert!(g.is_depthwise());
        assert_eq!(g.weight_len(), 8 * 9);
        assert!(ConvGeom::new(4, 6, 4, win).is_err());
        assert!(ConvGeom::new(4, 8, 2, win).is_err());
    }
}
