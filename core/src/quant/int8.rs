//! int8 layer kernels over slices: integer only, identical on every target.
//!
//! Layouts match the f32 layers: activations are channels-first
//! (`C x H x W`, `C x L`), conv weights are `OUT x IN x KH x KW`, dense
//! weights `OUT x IN`. Every kernel checks its slices against its shape and
//! returns [`Error`] instead of panicking, so shapes read from a model file
//! can be passed straight in.
//!
//! Layers with weights accumulate `bias + sum(w * (x - x_zero_point))` in
//! `i32` through [`dot`](super::dot::dot) (Cortex-M DSP, AVX-VNNI or AVX2
//! where the target has them) and finish with [`OutputQuant::requantize`].

use super::dot::{self, DotKernel};
use super::fixed::{OutputQuant, Requant, channel_requant, rounding_divide_by_pot};
use super::gemm;
use super::lstm;
use super::m0;
use crate::{Error, kernels};

/// An int8 dense (fully connected) layer: `y = requant(W (x - zp) + b)`.
#[derive(Debug, Clone, Copy)]
pub struct DenseQ<'a> {
    /// `OUT x IN` weights, symmetric per output row.
    pub weights: &'a [i8],
    /// `OUT` biases at scale `input_scale * weight_scale[o]`.
    pub bias: &'a [i32],
    /// `OUT` multipliers (or one for the whole tensor).
    pub requant: &'a [Requant],
    /// Zero point of the input tensor.
    pub input_zero_point: i8,
    /// Output zero point and clamp (fused ReLU).
    pub output: OutputQuant,
}

impl DenseQ<'_> {
    /// Checks the layer against `inputs` and `outputs` elements.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] naming the first tensor that does not fit.
    pub fn check(&self, inputs: usize, outputs: usize) -> Result<(), Error> {
        expect_len(self.weights.len(), inputs.checked_mul(outputs))?;
        expect_len(self.bias.len(), Some(outputs))?;
        check_requant(self.requant, outputs)
    }
}

/// int8 dense forward with the fastest variant on this target.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the layer's tensors do not fit `x.len()`
/// inputs and `y.len()` outputs.
pub fn dense(layer: &DenseQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    #[cfg(myelin_arm_dsp)]
    {
        super::rows::dense(layer, x, y)
    }
    #[cfg(not(myelin_arm_dsp))]
    {
        dense_with::<dot::Active>(layer, x, y)
    }
}

/// Scalar reference of [`dense`].
///
/// # Errors
/// As [`dense`].
pub fn dense_scalar(layer: &DenseQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    dense_with::<dot::Scalar>(layer, x, y)
}

/// [`dense`] through the portable emulation of the Cortex-M DSP loop.
///
/// # Errors
/// As [`dense`].
pub fn dense_emulated(layer: &DenseQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    dense_with::<dot::Emulated>(layer, x, y)
}

/// [`dense`] through the Cortex-M DSP (`SMLAD`) loop.
///
/// # Errors
/// As [`dense`].
#[cfg(myelin_arm_dsp)]
pub fn dense_dsp(layer: &DenseQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    dense_with::<dot::Dsp>(layer, x, y)
}

/// [`dense`] with one rounding in the requantization
/// ([`OutputQuant::requantize_single_rounding`]), as LiteRT's reference
/// `FULLY_CONNECTED` computes.
///
/// # Errors
/// As [`dense`].
pub fn dense_single_rounding(layer: &DenseQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    #[cfg(myelin_arm_dsp)]
    {
        super::rows::dense_single_rounding(layer, x, y)
    }
    #[cfg(not(myelin_arm_dsp))]
    {
        dense_requantized::<dot::Active>(layer, x, y, OutputQuant::requantize_single_rounding)
    }
}

/// [`dense_single_rounding`] through the portable emulation of the Cortex-M
/// DSP loop.
///
/// # Errors
/// As [`dense`].
pub fn dense_single_rounding_emulated(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    dense_requantized::<dot::Emulated>(layer, x, y, OutputQuant::requantize_single_rounding)
}

/// Scalar reference of [`dense_single_rounding`].
///
/// # Errors
/// As [`dense`].
pub fn dense_single_rounding_scalar(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    dense_requantized::<dot::Scalar>(layer, x, y, OutputQuant::requantize_single_rounding)
}

#[inline(always)]
fn dense_with<D: DotKernel>(layer: &DenseQ<'_>, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    dense_requantized::<D>(layer, x, y, OutputQuant::requantize)
}

#[inline(always)]
fn dense_requantized<D: DotKernel>(
    layer: &DenseQ<'_>,
    x: &[i8],
    y: &mut [i8],
    requantize: impl Fn(OutputQuant, i32, Requant) -> i8,
) -> Result<(), Error> {
    let out = layer.output;
    let rq = |acc, o| requantize(out, acc, channel_requant(layer.requant, o));
    let n = x.len();
    layer.check(n, y.len())?;
    if n == 0 {
        for (o, y) in y.iter_mut().enumerate() {
            *y = rq(layer.bias[o], o);
        }
        return Ok(());
    }
    let zp = layer.input_zero_point;
    let mut rows = layer.weights.chunks_exact(n);
    let mut o = 0;
    while o + 2 <= y.len() {
        let (w0, w1) = (rows.next().unwrap_or(&[]), rows.next().unwrap_or(&[]));
        let (a0, a1) = D::dot2(w0, w1, x, zp, (layer.bias[o], layer.bias[o + 1]));
        y[o] = rq(a0, o);
        y[o + 1] = rq(a1, o + 1);
        o += 2;
    }
    if o < y.len() {
        let w = rows.next().unwrap_or(&[]);
        let acc = D::dot(w, x, zp, layer.bias[o]);
        y[o] = rq(acc, o);
    }
    Ok(())
}

/// Shape of a 2-D convolution over channels-first tensors.
///
/// Output size per axis: `(in + padding before + padding after - kernel) /
/// stride + 1`.
/// Padding stands for real 0 (the input zero point), so padded taps add
/// nothing to the accumulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Conv2dShape {
    /// Input channels.
    pub in_channels: usize,
    /// Input height and width.
    pub in_size: [usize; 2],
    /// Output channels (filters).
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Zero padding at the top, bottom, left and right (TFLite's SAME puts
    /// the odd row or column at the bottom or right).
    pub padding: [usize; 4],
}

impl Conv2dShape {
    /// A 1-D convolution over `C x L` tensors as a height-1 2-D one.
    pub const fn conv1d(
        in_channels: usize,
        in_len: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        Self {
            in_channels,
            in_size: [1, in_len],
            out_channels,
            kernel: [1, kernel],
            stride: [1, stride],
            padding: [0, 0, padding, padding],
        }
    }

    /// Output height and width.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] for zero channels, a zero stride or kernel, or
    /// a kernel larger than the padded input.
    pub fn out_size(&self) -> Result<[usize; 2], Error> {
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err(Error::InvalidShape {
                what: "zero channels",
            });
        }
        let mut out = [0; 2];
        for (axis, out) in out.iter_mut().enumerate() {
            *out = out_len(
                self.in_size[axis],
                self.kernel[axis],
                self.stride[axis],
                [self.padding[2 * axis], self.padding[2 * axis + 1]],
            )?;
        }
        Ok(out)
    }

    /// Elements of the input tensor.
    pub fn input_len(&self) -> Option<usize> {
        self.in_channels
            .checked_mul(self.in_size[0])?
            .checked_mul(self.in_size[1])
    }

    /// Elements of the weight tensor.
    pub fn weight_len(&self) -> Option<usize> {
        self.out_channels
            .checked_mul(self.in_channels)?
            .checked_mul(self.kernel[0])?
            .checked_mul(self.kernel[1])
    }

    /// Elements of the output tensor.
    ///
    /// # Errors
    /// As [`out_size`](Self::out_size).
    pub fn output_len(&self) -> Result<usize, Error> {
        let [h, w] = self.out_size()?;
        self.out_channels
            .checked_mul(h)
            .and_then(|n| n.checked_mul(w))
            .ok_or(Error::InvalidShape {
                what: "output too large",
            })
    }
}

impl From<kernels::Conv2dShape> for Conv2dShape {
    /// The int8 shape of an f32 convolution (same layouts).
    fn from(s: kernels::Conv2dShape) -> Self {
        Self {
            in_channels: s.in_ch,
            in_size: [s.in_h, s.in_w],
            out_channels: s.out_ch,
            kernel: [s.k_h, s.k_w],
            stride: [s.stride, s.stride],
            padding: [s.pad; 4],
        }
    }
}

impl From<kernels::Conv1dShape> for Conv2dShape {
    /// The int8 shape of an f32 1-D convolution (height 1).
    fn from(s: kernels::Conv1dShape) -> Self {
        Self::conv1d(s.in_ch, s.in_len, s.out_ch, s.k, s.stride, s.pad)
    }
}

fn out_len(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: [usize; 2],
) -> Result<usize, Error> {
    if stride == 0 {
        return Err(Error::InvalidShape {
            what: "zero stride",
        });
    }
    if kernel == 0 {
        return Err(Error::InvalidShape {
            what: "zero kernel",
        });
    }
    let padded = padding[0]
        .checked_add(padding[1])
        .and_then(|p| p.checked_add(input))
        .ok_or(Error::InvalidShape {
            what: "padding too large",
        })?;
    if kernel > padded {
        return Err(Error::InvalidShape {
            what: "kernel larger than padded input",
        });
    }
    Ok((padded - kernel) / stride + 1)
}

/// An int8 convolution (1-D or 2-D, see [`Conv2dShape`]).
#[derive(Debug, Clone, Copy)]
pub struct ConvQ<'a> {
    /// `OUT x IN x KH x KW` weights, symmetric per output channel.
    pub weights: &'a [i8],
    /// `OUT` biases at scale `input_scale * weight_scale[o]`.
    pub bias: &'a [i32],
    /// `OUT` multipliers (or one for the whole tensor).
    pub requant: &'a [Requant],
    /// Zero point of the input tensor.
    pub input_zero_point: i8,
    /// Output zero point and clamp (fused ReLU).
    pub output: OutputQuant,
}

impl ConvQ<'_> {
    /// Checks the layer and the tensor lengths against `shape`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] for an unusable shape,
    /// [`Error::ShapeMismatch`] naming the first tensor that does not fit.
    pub fn check(&self, shape: &Conv2dShape, x_len: usize, y_len: usize) -> Result<(), Error> {
        let out_len = shape.output_len()?;
        expect_len(x_len, shape.input_len())?;
        expect_len(y_len, Some(out_len))?;
        expect_len(self.weights.len(), shape.weight_len())?;
        expect_len(self.bias.len(), Some(shape.out_channels))?;
        check_requant(self.requant, shape.out_channels)
    }
}

/// int8 2-D (or 1-D) convolution with the fastest variant on this target.
///
/// # Errors
/// As [`ConvQ::check`].
pub fn conv2d(layer: &ConvQ<'_>, shape: &Conv2dShape, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    #[cfg(myelin_armv6m)]
    {
        layer.check(shape, x.len(), y.len())?;
        if m0::fits(shape) {
            return m0::conv2d::<m0::Asm>(layer, shape, x, y);
        }
    }
    #[cfg(myelin_arm_dsp)]
    {
        conv2d_dsp(layer, shape, x, y)
    }
    #[cfg(not(myelin_arm_dsp))]
    {
        conv2d_with::<dot::Active>(layer, shape, x, y)
    }
}

/// [`conv2d`]'s Armv6-M algorithm (blocks of positions, biased unsigned
/// inputs, see `quant::m0`) with its inner loop in portable Rust; shapes it
/// does not take (horizontal stride above 1, large scratch) run
/// [`conv2d_scalar`].
///
/// # Errors
/// As [`ConvQ::check`].
pub fn conv2d_blocked(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    layer.check(shape, x.len(), y.len())?;
    if m0::fits(shape) {
        m0::conv2d::<m0::Portable>(layer, shape, x, y)
    } else {
        conv2d_rows::<dot::Scalar>(layer, shape, x, y)
    }
}

/// Scalar reference of [`conv2d`]: direct, kernel row by kernel row.
///
/// # Errors
/// As [`ConvQ::check`].
pub fn conv2d_scalar(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    layer.check(shape, x.len(), y.len())?;
    conv2d_rows::<dot::Scalar>(layer, shape, x, y)
}

/// [`conv2d`] through the portable emulation of the Cortex-M DSP
/// instructions: a matrix product over receptive fields gathered as `i16`
/// columns, two positions by two filters per pass; filters of more than 640
/// taps take the gathered-patch inner products instead.
///
/// # Errors
/// As [`ConvQ::check`].
pub fn conv2d_emulated(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    layer.check(shape, x.len(), y.len())?;
    if gemm::fits(shape) {
        gemm::conv2d::<dot::Portable>(layer, shape, x, y)
    } else {
        conv2d_with::<dot::Emulated>(layer, shape, x, y)
    }
}

/// [`conv2d`] through the Cortex-M DSP (`SMLAD`) instructions: the
/// algorithm of [`conv2d_emulated`].
///
/// # Errors
/// As [`ConvQ::check`].
#[cfg(myelin_arm_dsp)]
pub fn conv2d_dsp(
    layer: &ConvQ<'_>,
    shape: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    layer.check(shape, x.len(), y.len())?;
    if gemm::fits(shape) {
        gemm::conv2d::<dot::arm::Dsp>(layer, shape, x, y)
    } else {
        conv2d_with::<dot::Dsp>(layer, shape, x, y)
    }
}

/// Largest receptive field (`IN x KH x KW` values) the fast variants gather
/// into a stack buffer; larger filters run kernel row by kernel row. 512
/// bytes of stack on microcontrollers; 4 KiB on 64-bit hosts, enough for a
/// 3x3 filter over 455 channels.
const PATCH_MAX: usize = if cfg!(target_pointer_width = "64") {
    4096
} else {
    512
};

/// The fast variants: one receptive field gathered per output position
/// (padding filled with the zero point, which adds nothing), then one long
/// inner product per filter, two filters at a time.
#[inline(always)]
fn conv2d_with<D: DotKernel>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    layer.check(s, x.len(), y.len())?;
    let filter_len = s.in_channels * s.kernel[0] * s.kernel[1];
    if filter_len > PATCH_MAX {
        return conv2d_rows::<D>(layer, s, x, y);
    }
    let [out_h, out_w] = s.out_size()?;
    let [in_h, in_w] = s.in_size;
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [ph, _, pw, _] = s.padding;
    let zp = layer.input_zero_point;
    let plane = out_h * out_w;
    let mut buf = [0i8; PATCH_MAX];
    let patch = &mut buf[..filter_len];
    let filter = |o: usize| &layer.weights[o * filter_len..(o + 1) * filter_len];
    // On 64-bit hosts a 1x1 filter without padding gathers by channel
    // alone and skips the general gather below (microcontrollers keep the
    // code their measured instruction counts come from).
    let pointwise = cfg!(target_pointer_width = "64") && kh == 1 && kw == 1 && s.padding == [0; 4];
    let skip = if pointwise { filter_len } else { 0 };
    for oy in 0..out_h {
        let top = oy * sh;
        for ox in 0..out_w {
            let left = ox * sw;
            let kx_lo = pw.saturating_sub(left).min(kw);
            let kx_hi = kw.min((in_w + pw).saturating_sub(left)).max(kx_lo);
            if pointwise {
                // One value per channel, never in the padding.
                let at = top * in_w + left;
                for (c, d) in patch.iter_mut().enumerate() {
                    *d = x[c * in_h * in_w + at];
                }
            }
            for (k, row) in patch.chunks_exact_mut(kw).enumerate().skip(skip) {
                let (c, ky) = (k / kh, k % kh);
                match (top + ky).checked_sub(ph).filter(|&iy| iy < in_h) {
                    Some(iy) if kx_lo < kx_hi => {
                        let x0 = (c * in_h + iy) * in_w + left + kx_lo - pw;
                        let src = &x[x0..x0 + kx_hi - kx_lo];
                        // Short rows: element loops beat memcpy/memset calls.
                        let (head, rest) = row.split_at_mut(kx_lo);
                        let (mid, tail) = rest.split_at_mut(kx_hi - kx_lo);
                        for (d, &v) in mid.iter_mut().zip(src) {
                            *d = v;
                        }
                        for d in head.iter_mut().chain(tail) {
                            *d = zp;
                        }
                    }
                    _ => row.fill(zp),
                }
            }
            let p = oy * out_w + ox;
            let mut o = 0;
            while o + 2 <= s.out_channels {
                let bias = (layer.bias[o], layer.bias[o + 1]);
                let (a0, a1) = D::dot2(filter(o), filter(o + 1), patch, zp, bias);
                y[o * plane + p] = layer
                    .output
                    .requantize(a0, channel_requant(layer.requant, o));
                y[(o + 1) * plane + p] = layer
                    .output
                    .requantize(a1, channel_requant(layer.requant, o + 1));
                o += 2;
            }
            if o < s.out_channels {
                let acc = D::dot(filter(o), patch, zp, layer.bias[o]);
                y[o * plane + p] = layer
                    .output
                    .requantize(acc, channel_requant(layer.requant, o));
            }
        }
    }
    Ok(())
}

/// Direct convolution, one inner product per kernel row inside the input
/// (padded taps skipped): the scalar reference, and the fallback for large
/// filters. The caller has checked the shapes.
pub(crate) fn conv2d_rows<D: DotKernel>(
    layer: &ConvQ<'_>,
    s: &Conv2dShape,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    let [out_h, out_w] = s.out_size()?;
    let [in_h, in_w] = s.in_size;
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [ph, _, pw, _] = s.padding;
    let zp = layer.input_zero_point;
    let filter_len = s.in_channels * kh * kw;
    for (o, y) in y.chunks_exact_mut(out_h * out_w).enumerate() {
        let filter = &layer.weights[o * filter_len..(o + 1) * filter_len];
        let m = channel_requant(layer.requant, o);
        for oy in 0..out_h {
            // Kernel rows that land inside the input: iy = oy*sh + ky - ph.
            let top = oy * sh;
            let ky_lo = ph.saturating_sub(top);
            let ky_hi = kh.min((in_h + ph).saturating_sub(top));
            for ox in 0..out_w {
                let left = ox * sw;
                let kx_lo = pw.saturating_sub(left);
                let kx_hi = kw.min((in_w + pw).saturating_sub(left));
                let mut acc = layer.bias[o];
                if kx_lo < kx_hi {
                    let run = kx_hi - kx_lo;
                    let ix = left + kx_lo - pw;
                    for c in 0..s.in_channels {
                        for ky in ky_lo..ky_hi {
                            let iy = top + ky - ph;
                            let w0 = (c * kh + ky) * kw + kx_lo;
                            let x0 = (c * in_h + iy) * in_w + ix;
                            acc = D::dot(&filter[w0..w0 + run], &x[x0..x0 + run], zp, acc);
                        }
                    }
                }
                y[oy * out_w + ox] = layer.output.requantize(acc, m);
            }
        }
    }
    Ok(())
}

/// Shape of a 2-D pooling window over channels-first tensors (no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pool2dShape {
    /// Channels (pooled independently).
    pub channels: usize,
    /// Input height and width.
    pub in_size: [usize; 2],
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
}

impl From<kernels::Pool2dShape> for Pool2dShape {
    /// The int8 shape of an f32 pooling (same layout).
    fn from(s: kernels::Pool2dShape) -> Self {
        Self {
            channels: s.ch,
            in_size: [s.in_h, s.in_w],
            kernel: [s.k_h, s.k_w],
            stride: [s.stride, s.stride],
        }
    }
}

impl Pool2dShape {
    /// Output height and width: `(in - kernel) / stride + 1`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] for zero channels, a zero stride or window, or
    /// a window larger than the input.
    pub fn out_size(&self) -> Result<[usize; 2], Error> {
        if self.channels == 0 {
            return Err(Error::InvalidShape {
                what: "zero channels",
            });
        }
        Ok([
            out_len(self.in_size[0], self.kernel[0], self.stride[0], [0, 0])?,
            out_len(self.in_size[1], self.kernel[1], self.stride[1], [0, 0])?,
        ])
    }

    fn check(&self, x_len: usize, y_len: usize) -> Result<[usize; 2], Error> {
        let out = self.out_size()?;
        let per = |hw: [usize; 2]| {
            self.channels
                .checked_mul(hw[0])
                .and_then(|n| n.checked_mul(hw[1]))
        };
        expect_len(x_len, per(self.in_size))?;
        expect_len(y_len, per(out))?;
        Ok(out)
    }
}

/// int8 max pooling. Quantization is monotonic, so the output keeps the
/// input's scale and zero point and equals max pooling of the real values.
///
/// # Errors
/// As [`Pool2dShape::out_size`], or [`Error::ShapeMismatch`] on tensor
/// lengths.
pub fn max_pool2d(shape: &Pool2dShape, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    pool2d(shape, x, y, i8::MIN, |m, v| m.max(v), |m| m)
}

/// int8 average pooling: the window's sum divided by its size, rounded to
/// nearest with ties away from zero, in the input's own quantization (the
/// zero point passes through the mean unchanged).
///
/// # Errors
/// As [`max_pool2d`].
pub fn avg_pool2d(shape: &Pool2dShape, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    let count = shape.kernel[0].saturating_mul(shape.kernel[1]);
    // A window of more than 2^23 values could overflow the i32 sum.
    if count > 1 << 23 {
        return Err(Error::InvalidShape {
            what: "pooling window too large",
        });
    }
    let count = count as i32;
    let half = count / 2;
    let mean = |sum: i32| {
        let q = if sum >= 0 {
            (sum + half) / count
        } else {
            (sum - half) / count
        };
        q as i8
    };
    pool2d(shape, x, y, 0i32, |s, v| s + i32::from(v), mean)
}

/// Folds each window with `step` from `init` and writes `finish` of it.
fn pool2d<A: Copy>(
    shape: &Pool2dShape,
    x: &[i8],
    y: &mut [i8],
    init: A,
    step: impl Fn(A, i8) -> A,
    finish: impl Fn(A) -> i8,
) -> Result<(), Error> {
    let [out_h, out_w] = shape.check(x.len(), y.len())?;
    let [in_h, in_w] = shape.in_size;
    let [kh, kw] = shape.kernel;
    let [sh, sw] = shape.stride;
    if shape.kernel == [2, 2] && shape.stride == [2, 2] {
        // The usual window, written out: a quarter of the instructions of
        // the general loop on a Cortex-M0.
        for (x, y) in x
            .chunks_exact(in_h * in_w)
            .zip(y.chunks_exact_mut(out_h * out_w))
        {
            for (oy, y) in y.chunks_exact_mut(out_w).enumerate() {
                let top = &x[2 * oy * in_w..][..in_w];
                let bottom = &x[(2 * oy + 1) * in_w..][..in_w];
                for ((y, t), b) in y
                    .iter_mut()
                    .zip(top.chunks_exact(2))
                    .zip(bottom.chunks_exact(2))
                {
                    *y = finish(step(step(step(step(init, t[0]), t[1]), b[0]), b[1]));
                }
            }
        }
        return Ok(());
    }
    for (x, y) in x
        .chunks_exact(in_h * in_w)
        .zip(y.chunks_exact_mut(out_h * out_w))
    {
        for (oy, y) in y.chunks_exact_mut(out_w).enumerate() {
            for (ox, y) in y.iter_mut().enumerate() {
                let mut acc = init;
                // Window row by row, stepping by the input width: no division
                // per output (Cortex-M0 has no divide instruction).
                let mut start = oy * sh * in_w + ox * sw;
                for _ in 0..kh {
                    for &v in &x[start..start + kw] {
                        acc = step(acc, v);
                    }
                    start += in_w;
                }
                *y = finish(acc);
            }
        }
    }
    Ok(())
}

/// int8 ReLU in place: values below the zero point (real < 0) become it.
pub fn relu(x: &mut [i8], zero_point: i8) {
    for v in x {
        *v = (*v).max(zero_point);
    }
}

/// `y = clamp(M (x - x_zero_point) + out.zero_point)`: one tensor moved to
/// another quantization (scale ratio `M`), e.g. to join two branches.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `x` and `y` have one length.
pub fn rescale(
    x: &[i8],
    x_zero_point: i8,
    m: Requant,
    out: OutputQuant,
    y: &mut [i8],
) -> Result<(), Error> {
    expect_len(y.len(), Some(x.len()))?;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = out.requantize(i32::from(x) - i32::from(x_zero_point), m);
    }
    Ok(())
}

/// int8 sigmoid: `x` (any quantization) to `y` with scale `1/256` and zero
/// point -128 ([`SIGMOID_OUTPUT`](super::params::SIGMOID_OUTPUT)).
/// `to_q12` is `s_x * 2^12`
/// ([`activation_requant`](super::params::activation_requant)); inputs
/// beyond +-8 saturate. Within 1 output step of the exact sigmoid of the
/// dequantized input.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `x` and `y` have one length.
pub fn sigmoid(x: &[i8], x_zero_point: i8, to_q12: Requant, y: &mut [i8]) -> Result<(), Error> {
    expect_len(y.len(), Some(x.len()))?;
    for (y, &x) in y.iter_mut().zip(x) {
        let s = i32::from(lstm::sigmoid_q15(to_q12_sat(x, x_zero_point, to_q12)));
        // Q0.15 -> steps of 1/256 (shift 7), then the zero point -128.
        *y = (rounding_divide_by_pot(s, 7) - 128).clamp(-128, 127) as i8;
    }
    Ok(())
}

/// int8 tanh: `x` (any quantization) to `y` with scale `1/128` and zero
/// point 0 ([`TANH_OUTPUT`](super::params::TANH_OUTPUT)); `to_q12` as for
/// [`sigmoid`]. Within 1 output step of the exact tanh of the dequantized
/// input.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `x` and `y` have one length.
pub fn tanh(x: &[i8], x_zero_point: i8, to_q12: Requant, y: &mut [i8]) -> Result<(), Error> {
    expect_len(y.len(), Some(x.len()))?;
    for (y, &x) in y.iter_mut().zip(x) {
        let t = i32::from(lstm::tanh_q15(to_q12_sat(x, x_zero_point, to_q12)));
        *y = rounding_divide_by_pot(t, 8).clamp(-128, 127) as i8;
    }
    Ok(())
}

/// `(x - zp) * M` as Q3.12, saturated to `i16`.
#[inline]
fn to_q12_sat(x: i8, zero_point: i8, m: Requant) -> i16 {
    let v = m.apply(i32::from(x) - i32::from(zero_point));
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// Extra bits given to both inputs of [`add`] before they are rescaled to a
/// common scale; 20 keeps 19+ significant bits and cannot overflow `i32`.
pub const ADD_LEFT_SHIFT: u32 = 20;

/// Parameters of an int8 element-wise add of two tensors with different
/// scales (the join of a residual block). Built on the host by
/// [`add_params`](super::params::add_params).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddQ {
    /// Zero point of input `a`.
    pub a_zero_point: i8,
    /// `scale_a / (2 * max(scale_a, scale_b))`.
    pub a_requant: Requant,
    /// Zero point of input `b`.
    pub b_zero_point: i8,
    /// `scale_b / (2 * max(scale_a, scale_b))`.
    pub b_requant: Requant,
    /// `2 * max(scale_a, scale_b) / (2^ADD_LEFT_SHIFT * scale_out)`.
    pub output_requant: Requant,
    /// Output zero point and clamp (fused ReLU).
    pub output: OutputQuant,
}

/// int8 `y = a + b` with each tensor in its own quantization:
/// `ya = M_a ((a - za) << 20)`, `yb = M_b ((b - zb) << 20)`,
/// `y = requant_out(ya + yb)`.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `a`, `b` and `y` have one length.
pub fn add(p: &AddQ, a: &[i8], b: &[i8], y: &mut [i8]) -> Result<(), Error> {
    expect_len(b.len(), Some(a.len()))?;
    expect_len(y.len(), Some(a.len()))?;
    if a.len() >= ADD_TABLES_FROM {
        add_by_tables(p, a, b, y);
    } else {
        add_direct(p, a, b, y);
    }
    Ok(())
}

/// Tensors at least this long take [`add_by_tables`] (its tables cost
/// about as much as this many elements done directly).
const ADD_TABLES_FROM: usize = 512;

/// [`add`] element by element, as defined.
pub(crate) fn add_direct(p: &AddQ, a: &[i8], b: &[i8], y: &mut [i8]) {
    let (za, zb) = (i32::from(p.a_zero_point), i32::from(p.b_zero_point));
    for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
        let a = p.a_requant.apply((i32::from(a) - za) << ADD_LEFT_SHIFT);
        let b = p.b_requant.apply((i32::from(b) - zb) << ADD_LEFT_SHIFT);
        *y = p.output.requantize(a.saturating_add(b), p.output_requant);
    }
}

/// [`add_direct`] with each input's rescaling looked up: an int8 input has
/// 256 codes, so both rescalings are tabulated once (2 KiB on the stack);
/// on cores with a fast 64-bit multiply the output stage is a
/// [`Requant64`](super::fixed::Requant64). The same sums and the same
/// output stage, so the same bits.
pub(crate) fn add_by_tables(p: &AddQ, a: &[i8], b: &[i8], y: &mut [i8]) {
    let table = |zero_point: i8, m: Requant| -> [i32; 256] {
        let z = i32::from(zero_point);
        core::array::from_fn(|i| m.apply((i32::from(i as u8 as i8) - z) << ADD_LEFT_SHIFT))
    };
    let ta = table(p.a_zero_point, p.a_requant);
    let tb = table(p.b_zero_point, p.b_requant);
    let sum = |a: i8, b: i8| ta[usize::from(a as u8)].saturating_add(tb[usize::from(b as u8)]);
    #[cfg(myelin_arm_dsp)]
    {
        let out = super::fixed::Requant64::new(p.output_requant, p.output);
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = out.requantize(sum(a, b));
        }
    }
    #[cfg(not(myelin_arm_dsp))]
    for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
        *y = p.output.requantize(sum(a, b), p.output_requant);
    }
}

/// `bias - offset * sum(row)`, wrapping: the bias that moves a constant
/// input offset out of the inner loop, since
/// `bias + sum(w * (v - offset)) == folded_bias(bias, w, offset) + sum(w * v)`
/// in wrapping `i32` for any inputs `v`.
pub(crate) fn folded_bias(bias: i32, row: &[i8], offset: i32) -> i32 {
    let sum = row.iter().fold(0i32, |a, &w| a.wrapping_add(i32::from(w)));
    bias.wrapping_sub(offset.wrapping_mul(sum))
}

pub(crate) fn expect_len(found: usize, expected: Option<usize>) -> Result<(), Error> {
    match expected {
        Some(expected) if expected == found => Ok(()),
        Some(expected) => Err(Error::ShapeMismatch { expected, found }),
        None => Err(Error::InvalidShape {
            what: "tensor size overflows usize",
        }),
    }
}

pub(crate) fn check_requant(requant: &[Requant], channels: usize) -> Result<(), Error> {
    if requant.len() == channels || requant.len() == 1 {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            expected: channels,
            found: requant.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Requant = Requant {
        multiplier: 1 << 30,
        shift: 1,
    };

    #[test]
    fn dense_by_hand() {
        // Two outputs, three inputs, input zero point 2.
        let w = [1i8, -2, 3, 4, 5, -6];
        let b = [10i32, -10];
        let layer = DenseQ {
            weights: &w,
            bias: &b,
            requant: &[ONE],
            input_zero_point: 2,
            output: OutputQuant::linear(-1),
        };
        let x = [3i8, 2, 0]; // x - zp = [1, 0, -2]
        let mut y = [0i8; 2];
        dense_scalar(&layer, &x, &mut y).unwrap();
        // 10 + 1 - 6 = 5, -1 -> 4; -10 + 4 + 12 = 6, -1 -> 5.
        assert_eq!(y, [4, 5]);
        let mut y2 = [0i8; 2];
        dense_emulated(&layer, &x, &mut y2).unwrap();
        assert_eq!(y, y2);
        assert_eq!(
            dense(&layer, &x[..2], &mut y),
            Err(Error::ShapeMismatch {
                expected: 4,
                found: 6
            })
        );
    }

    #[test]
    fn conv_padding_counts_as_zero() {
        // 1 channel 1x3 input, kernel 3, padding 1: a 3-tap sum.
        let shape = Conv2dShape::conv1d(1, 3, 1, 3, 1, 1);
        let layer = ConvQ {
            weights: &[1, 1, 1],
            bias: &[0],
            requant: &[ONE],
            input_zero_point: -5,
            output: OutputQuant::linear(0),
        };
        let x = [-4i8, -3, -2]; // real 1, 2, 3
        let mut y = [0i8; 3];
        conv2d_scalar(&layer, &shape, &x, &mut y).unwrap();
        assert_eq!(y, [3, 6, 5]);
        let bad = Conv2dShape::conv1d(1, 3, 1, 6, 1, 1);
        assert!(matches!(
            conv2d(&layer, &bad, &x, &mut y),
            Err(Error::InvalidShape { .. })
        ));
    }

    #[test]
    fn pools_by_hand() {
        let shape = Pool2dShape {
            channels: 1,
            in_size: [2, 4],
            kernel: [2, 2],
            stride: [2, 2],
        };
        let x = [1i8, 2, -5, -6, 3, 5, -7, -7];
        let mut y = [0i8; 2];
        max_pool2d(&shape, &x, &mut y).unwrap();
        assert_eq!(y, [5, -5]);
        avg_pool2d(&shape, &x, &mut y).unwrap();
        // 11/4 = 2.75 -> 3; -25/4 = -6.25 -> -6.
        assert_eq!(y, [3, -6]);
    }

    /// Max and average pooling against the definition, index by index, on
    /// random shapes and values.
    #[test]
    fn pools_match_definition() {
        let mut rng = crate::train::Rng::new(5);
        let mut pick = |n: usize| rng.below(n);
        for i in 0..crate::quant::test_cases(300) {
            let mut shape = Pool2dShape {
                channels: 1 + pick(3),
                in_size: [1 + pick(9), 1 + pick(9)],
                kernel: [1 + pick(3), 1 + pick(3)],
                stride: [1 + pick(3), 1 + pick(3)],
            };
            if i % 3 == 0 {
                // The written-out 2x2 path, on odd and even sizes.
                (shape.kernel, shape.stride) = ([2, 2], [2, 2]);
            }
            let Ok([oh, ow]) = shape.out_size() else {
                continue;
            };
            let [ih, iw] = shape.in_size;
            let mut buf = [0i8; 3 * 9 * 9];
            let x = &mut buf[..shape.channels * ih * iw];
            for v in x.iter_mut() {
                *v = pick(256) as u8 as i8;
            }
            let x = &*x;
            let (mut max, mut avg) = ([0i8; 3 * 9 * 9], [0i8; 3 * 9 * 9]);
            let n_out = shape.channels * oh * ow;
            let (max, avg) = (&mut max[..n_out], &mut avg[..n_out]);
            max_pool2d(&shape, x, max).unwrap();
            avg_pool2d(&shape, x, avg).unwrap();
            for c in 0..shape.channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let window = (0..shape.kernel[0]).flat_map(|ky| {
                            (0..shape.kernel[1]).map(move |kx| {
                                let (y, x_) =
                                    (oy * shape.stride[0] + ky, ox * shape.stride[1] + kx);
                                i32::from(x[(c * ih + y) * iw + x_])
                            })
                        });
                        let o = (c * oh + oy) * ow + ox;
                        assert_eq!(i32::from(max[o]), window.clone().max().unwrap());
                        let (sum, n) = (window.clone().sum::<i32>(), window.count() as i32);
                        let mean =
                            (f64::from(sum) / f64::from(n)).abs().round() * f64::from(sum.signum());
                        assert_eq!(f64::from(avg[o]), mean, "{shape:?} sum {sum} n {n}");
                    }
                }
            }
        }
    }

    #[test]
    fn add_tables_equal_the_direct_sums() {
        let mut state = 0x1234_5678u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let codes: [i8; 600] = core::array::from_fn(|_| next() as i8);
        let others: [i8; 600] = core::array::from_fn(|i| match i % 7 {
            0 => i8::MIN,
            1 => i8::MAX,
            _ => next() as i8,
        });
        let mut varied = 0;
        for case in 0..40 {
            let rq = |r: u32| Requant {
                multiplier: match case % 4 {
                    0 => i32::MAX,
                    1 => 1 << 30,
                    _ => (r as i32) & i32::MAX | 1 << 30,
                },
                shift: (r >> 24) as i32 % 8 - if case % 5 == 0 { 0 } else { 6 },
            };
            let p = AddQ {
                a_zero_point: next() as i8,
                a_requant: rq(next()),
                b_zero_point: if case % 3 == 0 { i8::MIN } else { next() as i8 },
                b_requant: rq(next()),
                output_requant: Requant {
                    multiplier: (next() as i32) & i32::MAX | 1 << 30,
                    shift: -((next() % 24) as i32),
                },
                output: if case % 2 == 0 {
                    OutputQuant::relu(next() as i8)
                } else {
                    OutputQuant::linear(next() as i8)
                },
            };
            let (mut direct, mut tables) = ([0i8; 600], [0i8; 600]);
            add_direct(&p, &codes, &others, &mut direct);
            add_by_tables(&p, &codes, &others, &mut tables);
            assert_eq!(direct, tables, "{p:?}");
            let mut y = [0i8; 600];
            add(&p, &codes, &others, &mut y).unwrap();
            assert_eq!(y, direct);
            let mut seen = [false; 256];
            for &v in &direct {
                seen[usize::from(v as u8)] = true;
            }
            varied += usize::from(seen.iter().filter(|&&s| s).count() > 16);
        }
        assert!(varied >= 10, "only {varied} cases with varied outputs");
    }

    #[test]
    fn relu_clamps_at_zero_point() {
        let mut x = [-128i8, -3, 0, 127];
        relu(&mut x, -3);
        assert_eq!(x, [-3, -3, 0, 127]);
    }
}
