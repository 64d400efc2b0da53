//! Activation layers over any fixed-size tensor `T` (`[f32; N]`, or nested
//! arrays after a convolution). Their backward uses the forward output.

use super::{Layer, ParamVisitor, Tensor, Zero};
use crate::kernels;
use crate::train::{Init, Rng};
use core::marker::PhantomData;

macro_rules! activation {
    ($name:ident, $fwd:path, $bwd:path, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name<T>(PhantomData<T>);

        impl<T> $name<T> {
            /// The layer (it has no parameters).
            pub const fn new() -> Self {
                Self(PhantomData)
            }
        }

        impl<T> Zero for $name<T> {
            const ZERO: Self = Self(PhantomData);
        }

        impl<T: Tensor> Layer for $name<T> {
            type Input = T;
            type Output = T;
            type Cache = ();
            type Grads = ();

            fn forward(&self, x: &T, y: &mut T, _: &mut ()) {
                $fwd(x.flat(), y.flat_mut());
            }

            fn backward(&self, _: &T, y: &T, _: &mut (), dy: &T, dx: &mut T, _: &mut ()) {
                $bwd(y.flat(), dy.flat(), dx.flat_mut());
            }

            fn visit_params(&mut self, _: &(), _: &mut (), _: &mut (), _: &mut ParamVisitor<'_>) {}

            fn init(&mut self, _: Init, _: &mut Rng) {}
        }
    };
}

activation!(
    Relu,
    kernels::relu,
    kernels::relu_backward,
    "`y = max(x, 0)` elementwise."
);
activation!(
    Relu6,
    kernels::relu6,
    kernels::relu6_backward,
    "`y = min(max(x, 0), 6)` elementwise."
);
activation!(
    Sigmoid,
    kernels::sigmoid,
    kernels::sigmoid_backward,
    "`y = 1 / (1 + e^-x)` elementwise."
);
activation!(
    Tanh,
    kernels::tanh,
    kernels::tanh_backward,
    "`y = tanh(x)` elementwise."
);
activation!(
    Softmax,
    kernels::softmax,
    kernels::softmax_backward,
    "`y = softmax(x)` over the whole tensor. For training with cross-entropy, \
     end the network at the logits and use [`crate::train::cross_entropy`], \
     which fuses both."
);
