//! Fully connected layer.

use super::{Layer, ParamVisitor, Tensor, Zero, params_struct};
use crate::kernels;
use crate::train::{Init, Rng};

/// `y = W x + b` with `W` of shape `OUT x IN`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dense<const IN: usize, const OUT: usize> {
    /// Weights, one row per output.
    pub weights: [[f32; IN]; OUT],
    /// Biases.
    pub bias: [f32; OUT],
}

/// Gradients of a [`Dense`] layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseGrads<const IN: usize, const OUT: usize> {
    /// `∂L/∂W`.
    pub weights: [[f32; IN]; OUT],
    /// `∂L/∂b`.
    pub bias: [f32; OUT],
}

impl<const IN: usize, const OUT: usize> Zero for Dense<IN, OUT> {
    const ZERO: Self = Self {
        weights: [[0.0; IN]; OUT],
        bias: [0.0; OUT],
    };
}

impl<const IN: usize, const OUT: usize> Zero for DenseGrads<IN, OUT> {
    const ZERO: Self = Self {
        weights: [[0.0; IN]; OUT],
        bias: [0.0; OUT],
    };
}

params_struct!(DenseGrads<const IN: usize, const OUT: usize>, weights, bias);

impl<const IN: usize, const OUT: usize> Layer for Dense<IN, OUT> {
    type Input = [f32; IN];
    type Output = [f32; OUT];
    type Cache = ();
    type Grads = DenseGrads<IN, OUT>;

    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT], _: &mut ()) {
        const { assert!(IN > 0 && OUT > 0, "Dense: IN and OUT must be nonzero") };
        kernels::gemv(self.weights.as_flattened(), x, &self.bias, y);
    }

    fn backward(
        &self,
        x: &[f32; IN],
        _: &[f32; OUT],
        _: &mut (),
        dy: &[f32; OUT],
        dx: &mut [f32; IN],
        grads: &mut Self::Grads,
    ) {
        kernels::outer_acc(grads.weights.as_flattened_mut(), dy, x);
        kernels::axpy(1.0, dy, &mut grads.bias);
        kernels::gemv_t(self.weights.as_flattened(), dy, dx);
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
        init.fill(self.weights.flat_mut(), IN, OUT, rng);
        self.bias = [0.0; OUT];
    }
}

impl<const IN: usize, const OUT: usize> Dense<IN, OUT> {
    /// `y = W x + b` without a cache (inference).
    pub fn infer(&self, x: &[f32; IN], y: &mut [f32; OUT]) {
        self.forward(x, y, &mut ());
    }
}
