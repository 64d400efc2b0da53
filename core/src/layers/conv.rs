//! Convolution layers over channel-major nested arrays.

use super::{Layer, ParamVisitor, Tensor, Zero, params_struct};
use crate::kernels::{self, Conv1dShape, Conv2dShape, conv_out_len};
use crate::train::{Init, Rng};

/// 2-D convolution: `C x H x W` in, `OC x OH x OW` out, square `K x K`
/// kernel, stride `S`, zero padding `P`. `OH` and `OW` are checked at compile
/// time to equal `(H + 2P - K) / S + 1` and `(W + 2P - K) / S + 1`.
///
/// ```
/// use myelin_core::layers::{Conv2d, Layer, Zero};
/// let conv = Conv2d::<1, 28, 28, 8, 5, 1, 0, 24, 24>::ZERO;
/// let mut y = [[[0.0; 24]; 24]; 8];
/// conv.forward(&[[[0.0; 28]; 28]; 1], &mut y, &mut ());
/// ```
///
/// A wrong output size does not compile:
///
/// ```compile_fail
/// use myelin_core::layers::{Conv2d, Layer, Zero};
/// let conv = Conv2d::<1, 28, 28, 8, 5, 1, 0, 25, 24>::ZERO;
/// let mut y = [[[0.0; 24]; 25]; 8];
/// conv.forward(&[[[0.0; 28]; 28]; 1], &mut y, &mut ());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
> {
    /// Kernels, `OC x C x K x K`.
    pub weights: [[[[f32; K]; K]; C]; OC],
    /// One bias per output channel.
    pub bias: [f32; OC],
}

/// Gradients of a [`Conv2d`] layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dGrads<const C: usize, const OC: usize, const K: usize> {
    /// `∂L/∂W`.
    pub weights: [[[[f32; K]; K]; C]; OC],
    /// `∂L/∂b`.
    pub bias: [f32; OC],
}

impl<const C: usize, const OC: usize, const K: usize> Zero for Conv2dGrads<C, OC, K> {
    const ZERO: Self = Self {
        weights: [[[[0.0; K]; K]; C]; OC],
        bias: [0.0; OC],
    };
}
params_struct!(Conv2dGrads<const C: usize, const OC: usize, const K: usize>, weights, bias);

impl<
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
> Zero for Conv2d<C, H, W, OC, K, S, P, OH, OW>
{
    const ZERO: Self = Self {
        weights: [[[[0.0; K]; K]; C]; OC],
        bias: [0.0; OC],
    };
}

impl<
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
> Conv2d<C, H, W, OC, K, S, P, OH, OW>
{
    /// The runtime shape the kernels take.
    pub const SHAPE: Conv2dShape = {
        assert!(C > 0 && OC > 0 && K > 0 && S > 0, "Conv2d: zero size");
        assert!(
            OH == conv_out_len(H, K, S, P),
            "Conv2d: OH != (H + 2P - K) / S + 1"
        );
        assert!(
            OW == conv_out_len(W, K, S, P),
            "Conv2d: OW != (W + 2P - K) / S + 1"
        );
        Conv2dShape {
            in_ch: C,
            in_h: H,
            in_w: W,
            out_ch: OC,
            k_h: K,
            k_w: K,
            stride: S,
            pad: P,
        }
    };
}

impl<
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
> Layer for Conv2d<C, H, W, OC, K, S, P, OH, OW>
{
    type Input = [[[f32; W]; H]; C];
    type Output = [[[f32; OW]; OH]; OC];
    type Cache = ();
    type Grads = Conv2dGrads<C, OC, K>;

    fn forward(&self, x: &Self::Input, y: &mut Self::Output, _: &mut ()) {
        kernels::conv2d_forward(
            &Self::SHAPE,
            x.flat(),
            self.weights.flat(),
            &self.bias,
            y.flat_mut(),
        );
    }

    fn backward(
        &self,
        x: &Self::Input,
        _: &Self::Output,
        _: &mut (),
        dy: &Self::Output,
        dx: &mut Self::Input,
        grads: &mut Self::Grads,
    ) {
        kernels::conv2d_backward(
            &Self::SHAPE,
            x.flat(),
            self.weights.flat(),
            dy.flat(),
            Some(dx.flat_mut()),
            grads.weights.flat_mut(),
            &mut grads.bias,
        );
    }

    fn visit_params(
        &mut self,
        g: &Self::Grads,
        s1: &mut Self::Grads,
        s2: &mut Self::Grads,
        f: &mut ParamVisitor<'_>,
    ) {
        f(
            self.weights.flat_mut(),
            g.weights.flat(),
            s1.weights.flat_mut(),
            s2.weights.flat_mut(),
        );
        f(&mut self.bias, &g.bias, &mut s1.bias, &mut s2.bias);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        init.fill(self.weights.flat_mut(), C * K * K, OC * K * K, rng);
        self.bias = [0.0; OC];
    }
}

/// 1-D convolution: `C x L` in, `OC x OL` out, kernel `K`, stride `S`, zero
/// padding `P`; `OL` is checked at compile time to equal `(L + 2P - K) / S + 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv1d<
    const C: usize,
    const L: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OL: usize,
> {
    /// Kernels, `OC x C x K`.
    pub weights: [[[f32; K]; C]; OC],
    /// One bias per output channel.
    pub bias: [f32; OC],
}

/// Gradients of a [`Conv1d`] layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv1dGrads<const C: usize, const OC: usize, const K: usize> {
    /// `∂L/∂W`.
    pub weights: [[[f32; K]; C]; OC],
    /// `∂L/∂b`.
    pub bias: [f32; OC],
}

impl<const C: usize, const OC: usize, const K: usize> Zero for Conv1dGrads<C, OC, K> {
    const ZERO: Self = Self {
        weights: [[[0.0; K]; C]; OC],
        bias: [0.0; OC],
    };
}
params_struct!(Conv1dGrads<const C: usize, const OC: usize, const K: usize>, weights, bias);

impl<
    const C: usize,
    const L: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OL: usize,
> Zero for Conv1d<C, L, OC, K, S, P, OL>
{
    const ZERO: Self = Self {
        weights: [[[0.0; K]; C]; OC],
        bias: [0.0; OC],
    };
}

impl<
    const C: usize,
    const L: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OL: usize,
> Conv1d<C, L, OC, K, S, P, OL>
{
    /// The runtime shape the kernels take.
    pub const SHAPE: Conv1dShape = {
        assert!(C > 0 && OC > 0 && K > 0 && S > 0, "Conv1d: zero size");
        assert!(
            OL == conv_out_len(L, K, S, P),
            "Conv1d: OL != (L + 2P - K) / S + 1"
        );
        Conv1dShape {
            in_ch: C,
            in_len: L,
            out_ch: OC,
            k: K,
            stride: S,
            pad: P,
        }
    };
}

impl<
    const C: usize,
    const L: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OL: usize,
> Layer for Conv1d<C, L, OC, K, S, P, OL>
{
    type Input = [[f32; L]; C];
    type Output = [[f32; OL]; OC];
    type Cache = ();
    type Grads = Conv1dGrads<C, OC, K>;

    fn forward(&self, x: &Self::Input, y: &mut Self::Output, _: &mut ()) {
        kernels::conv1d_forward(
            &Self::SHAPE,
            x.flat(),
            self.weights.flat(),
            &self.bias,
            y.flat_mut(),
        );
    }

    fn backward(
        &self,
        x: &Self::Input,
        _: &Self::Output,
        _: &mut (),
        dy: &Self::Output,
        dx: &mut Self::Input,
        grads: &mut Self::Grads,
    ) {
        kernels::conv1d_backward(
            &Self::SHAPE,
            x.flat(),
            self.weights.flat(),
            dy.flat(),
            Some(dx.flat_mut()),
            grads.weights.flat_mut(),
            &mut grads.bias,
        );
    }

    fn visit_params(
        &mut self,
        g: &Self::Grads,
        s1: &mut Self::Grads,
        s2: &mut Self::Grads,
        f: &mut ParamVisitor<'_>,
    ) {
        f(
            self.weights.flat_mut(),
            g.weights.flat(),
            s1.weights.flat_mut(),
            s2.weights.flat_mut(),
        );
        f(&mut self.bias, &g.bias, &mut s1.bias, &mut s2.bias);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        init.fill(self.weights.flat_mut(), C * K, OC * K, rng);
        self.bias = [0.0; OC];
    }
}
