//! Residual (skip) connection.

use super::{Layer, ParamVisitor, Tensor, Zero};
use crate::kernels;
use crate::train::{Init, Rng};

/// `y = x + f(x)` for an inner layer (or [`Chain`](super::Chain)) `F` whose
/// output shape equals its input shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residual<F>(pub F);

impl<F: Zero> Zero for Residual<F> {
    const ZERO: Self = Residual(F::ZERO);
}

/// Cache of a [`Residual`]: the inner cache, `f(x)` and the inner input gradient.
pub struct ResidualCache<F: Layer> {
    /// Cache of the inner layer.
    pub inner: F::Cache,
    /// `f(x)`.
    pub fx: F::Output,
    /// Input gradient through the inner layer.
    pub dfx: F::Input,
}

impl<F: Layer> core::fmt::Debug for ResidualCache<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResidualCache").finish_non_exhaustive()
    }
}

impl<F: Layer> Zero for ResidualCache<F> {
    const ZERO: Self = ResidualCache {
        inner: F::Cache::ZERO,
        fx: F::Output::ZERO,
        dfx: F::Input::ZERO,
    };
}

impl<T: Tensor, F: Layer<Input = T, Output = T>> Layer for Residual<F> {
    type Input = T;
    type Output = T;
    type Cache = ResidualCache<F>;
    type Grads = F::Grads;

    fn forward(&self, x: &T, y: &mut T, cache: &mut Self::Cache) {
        self.0.forward(x, &mut cache.fx, &mut cache.inner);
        y.flat_mut().copy_from_slice(cache.fx.flat());
        kernels::axpy(1.0, x.flat(), y.flat_mut());
    }

    fn backward(
        &self,
        x: &T,
        _: &T,
        cache: &mut Self::Cache,
        dy: &T,
        dx: &mut T,
        grads: &mut Self::Grads,
    ) {
        let ResidualCache { inner, fx, dfx } = cache;
        self.0.backward(x, fx, inner, dy, dfx, grads);
        dx.flat_mut().copy_from_slice(dy.flat());
        kernels::axpy(1.0, dfx.flat(), dx.flat_mut());
    }

    fn visit_params(
        &mut self,
        grads: &Self::Grads,
        s1: &mut Self::Grads,
        s2: &mut Self::Grads,
        f: &mut ParamVisitor<'_>,
    ) {
        self.0.visit_params(grads, s1, s2, f);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.0.init(init, rng);
    }
}
