//! Fixed-size layers typed by their shape, and a way to stack them into one
//! network type.
//!
//! Every layer implements [`Layer`]: `forward` from an input array to an output
//! array, saving what `backward` needs in a caller-owned `Cache`, and
//! `backward` writing the input gradient and accumulating parameter gradients
//! into a caller-owned `Grads`. Shapes live in the types (`Dense<784, 128>`
//! takes `[f32; 784]`), shape rules that types cannot express are
//! compile-time assertions, and [`Chain`] composes two layers whose output and
//! input types agree. Nothing allocates; every buffer has a `ZERO` constant,
//! so whole networks, caches and gradients can live in `static` memory.
//!
//! ```
//! use myelin_core::layers::*;
//! use myelin_core::train::{Init, Rng, Sgd};
//!
//! type Net = myelin_core::net![Dense<2, 4>, Tanh<[f32; 4]>, Dense<4, 1>];
//! let mut net = Net::ZERO;
//! net.init(Init::XavierUniform, &mut Rng::new(1));
//! let mut cache = <Net as Layer>::Cache::ZERO;
//! let mut y = [0.0; 1];
//! net.forward(&[1.0, 0.0], &mut y, &mut cache);
//! let mut grads = <Net as Layer>::Grads::ZERO;
//! let mut dx = [0.0; 2];
//! net.backward(&[1.0, 0.0], &y, &mut cache, &[y[0] - 1.0], &mut dx, &mut grads);
//! let mut state = OptState::<<Net as Layer>::Grads>::ZERO;
//! Optimizer::Sgd(Sgd::new(0.1)).step(&mut net, &grads, &mut state);
//! ```

mod activation;
mod conv;
mod dense;
mod lstm;
mod pool;
mod residual;

pub use activation::{Relu, Relu6, Sigmoid, Softmax, Tanh};
pub use conv::{Conv1d, Conv1dGrads, Conv2d, Conv2dGrads};
pub use dense::{Dense, DenseGrads};
pub use lstm::{LastStep, Lstm, LstmCache, LstmGrads};
pub use pool::{AvgPool2d, Flatten, MaxPool2d};
pub use residual::{Residual, ResidualCache};

use crate::train::{Adam, Init, Rng, Sgd};

/// Types with an all-zero constant, usable in `static` initializers.
pub trait Zero: Sized {
    /// The all-zero value.
    const ZERO: Self;
}

impl Zero for () {
    const ZERO: Self = ();
}
impl Zero for f32 {
    const ZERO: Self = 0.0;
}
impl<T: Zero + Copy, const N: usize> Zero for [T; N] {
    const ZERO: Self = [T::ZERO; N];
}
impl<A: Zero, B: Zero> Zero for (A, B) {
    const ZERO: Self = (A::ZERO, B::ZERO);
}

/// A fixed-size array of `f32` (possibly nested, e.g. channels x rows x
/// columns) viewable as one contiguous slice.
pub trait Tensor: Zero + Copy {
    /// Number of floats.
    const LEN: usize;
    /// All elements, row-major.
    fn flat(&self) -> &[f32];
    /// All elements, row-major.
    fn flat_mut(&mut self) -> &mut [f32];
}

impl<const N: usize> Tensor for [f32; N] {
    const LEN: usize = N;
    fn flat(&self) -> &[f32] {
        self
    }
    fn flat_mut(&mut self) -> &mut [f32] {
        self
    }
}

impl<const N: usize, const M: usize> Tensor for [[f32; N]; M] {
    const LEN: usize = N * M;
    fn flat(&self) -> &[f32] {
        self.as_flattened()
    }
    fn flat_mut(&mut self) -> &mut [f32] {
        self.as_flattened_mut()
    }
}

impl<const N: usize, const M: usize, const L: usize> Tensor for [[[f32; N]; M]; L] {
    const LEN: usize = N * M * L;
    fn flat(&self) -> &[f32] {
        self.as_flattened().as_flattened()
    }
    fn flat_mut(&mut self) -> &mut [f32] {
        self.as_flattened_mut().as_flattened_mut()
    }
}

impl<const N: usize, const M: usize, const L: usize, const K: usize> Tensor
    for [[[[f32; N]; M]; L]; K]
{
    const LEN: usize = N * M * L * K;
    fn flat(&self) -> &[f32] {
        self.as_flattened().as_flattened().as_flattened()
    }
    fn flat_mut(&mut self) -> &mut [f32] {
        self.as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
    }
}

/// A set of parameter-shaped tensors (a layer's gradients, or optimizer
/// state shaped like them), visited in a fixed order.
pub trait Params: Zero {
    /// Calls `f` on every tensor, in order.
    fn for_each(&self, f: &mut dyn FnMut(&[f32]));
    /// Calls `f` on every tensor, in order.
    fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32]));

    /// Sum of squares of all elements.
    fn norm_sq(&self) -> f32 {
        let mut s = 0.0;
        self.for_each(&mut |t| s += crate::kernels::dot(t, t));
        s
    }
    /// Multiplies every element by `k` (e.g. `1 / batch`).
    fn scale(&mut self, k: f32) {
        self.for_each_mut(&mut |t| crate::kernels::scalar::scale(k, t));
    }
    /// Sets every element to zero.
    fn clear(&mut self) {
        self.for_each_mut(&mut |t| t.fill(0.0));
    }
}

impl Params for () {
    fn for_each(&self, _: &mut dyn FnMut(&[f32])) {}
    fn for_each_mut(&mut self, _: &mut dyn FnMut(&mut [f32])) {}
}

impl<A: Params, B: Params> Params for (A, B) {
    fn for_each(&self, f: &mut dyn FnMut(&[f32])) {
        self.0.for_each(f);
        self.1.for_each(f);
    }
    fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
        self.0.for_each_mut(f);
        self.1.for_each_mut(f);
    }
}

/// Visitor over (parameter, gradient, state 1, state 2) tensor quadruples.
pub type ParamVisitor<'a> = dyn FnMut(&mut [f32], &[f32], &mut [f32], &mut [f32]) + 'a;

/// A layer with fixed input and output shapes.
pub trait Layer {
    /// Input array.
    type Input: Tensor;
    /// Output array.
    type Output: Tensor;
    /// What `forward` saves for `backward` beyond the input and output.
    type Cache: Zero;
    /// Parameter gradients (`()` for layers without parameters).
    type Grads: Params;

    /// Computes `y` from `x`, filling `cache` for [`Layer::backward`].
    fn forward(&self, x: &Self::Input, y: &mut Self::Output, cache: &mut Self::Cache);

    /// From the forward input `x`, output `y`, `cache` and the output gradient
    /// `dy`, overwrites `dx` with the input gradient and adds the parameter
    /// gradients to `grads` (so a batch accumulates; clear them per step).
    fn backward(
        &self,
        x: &Self::Input,
        y: &Self::Output,
        cache: &mut Self::Cache,
        dy: &Self::Output,
        dx: &mut Self::Input,
        grads: &mut Self::Grads,
    );

    /// Calls `f(param, grad, s1, s2)` for every parameter tensor, with the
    /// matching tensors of `grads` and of two optimizer-state sets.
    fn visit_params(
        &mut self,
        grads: &Self::Grads,
        s1: &mut Self::Grads,
        s2: &mut Self::Grads,
        f: &mut ParamVisitor<'_>,
    );

    /// Initializes weights with `init` (biases to their defaults).
    fn init(&mut self, init: Init, rng: &mut Rng);

    /// Number of trainable parameters.
    fn param_count(&self) -> usize {
        let mut n = 0;
        Self::Grads::ZERO.for_each(&mut |t| n += t.len());
        n
    }
}

/// The type of a stack of layers: `net![A, B, C]` is `Chain<A, Chain<B, C>>`.
///
/// ```
/// use myelin_core::layers::{Chain, Dense, Relu};
/// type Mlp = myelin_core::net![Dense<4, 8>, Relu<[f32; 8]>, Dense<8, 2>];
/// let _: Chain<Dense<4, 8>, Chain<Relu<[f32; 8]>, Dense<8, 2>>> = <Mlp as myelin_core::layers::Zero>::ZERO;
/// ```
#[macro_export]
macro_rules! net {
    ($last:ty $(,)?) => { $last };
    ($first:ty, $($rest:ty),+ $(,)?) => {
        $crate::layers::Chain<$first, $crate::net!($($rest),+)>
    };
}

/// Runs `A` then `B`: the output type of `A` is the input type of `B`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chain<A, B>(pub A, pub B);

impl<A: Zero, B: Zero> Zero for Chain<A, B> {
    const ZERO: Self = Chain(A::ZERO, B::ZERO);
}

/// Cache of a [`Chain`]: both layers' caches, the intermediate activation and
/// its gradient.
pub struct ChainCache<A: Layer, B: Layer> {
    /// Cache of the first layer.
    pub a: A::Cache,
    /// Cache of the second layer.
    pub b: B::Cache,
    /// Output of the first layer.
    pub mid: A::Output,
    /// Gradient of `mid`.
    pub dmid: A::Output,
}

impl<A: Layer, B: Layer> core::fmt::Debug for ChainCache<A, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChainCache").finish_non_exhaustive()
    }
}

impl<A: Layer, B: Layer> Zero for ChainCache<A, B> {
    const ZERO: Self = ChainCache {
        a: A::Cache::ZERO,
        b: B::Cache::ZERO,
        mid: A::Output::ZERO,
        dmid: A::Output::ZERO,
    };
}

impl<A: Layer, B: Layer<Input = A::Output>> Layer for Chain<A, B> {
    type Input = A::Input;
    type Output = B::Output;
    type Cache = ChainCache<A, B>;
    type Grads = (A::Grads, B::Grads);

    fn forward(&self, x: &Self::Input, y: &mut Self::Output, cache: &mut Self::Cache) {
        self.0.forward(x, &mut cache.mid, &mut cache.a);
        self.1.forward(&cache.mid, y, &mut cache.b);
    }

    fn backward(
        &self,
        x: &Self::Input,
        y: &Self::Output,
        cache: &mut Self::Cache,
        dy: &Self::Output,
        dx: &mut Self::Input,
        grads: &mut Self::Grads,
    ) {
        let ChainCache { a, b, mid, dmid } = cache;
        self.1.backward(mid, y, b, dy, dmid, &mut grads.1);
        self.0.backward(x, mid, a, dmid, dx, &mut grads.0);
    }

    fn visit_params(
        &mut self,
        grads: &Self::Grads,
        s1: &mut Self::Grads,
        s2: &mut Self::Grads,
        f: &mut ParamVisitor<'_>,
    ) {
        self.0.visit_params(&grads.0, &mut s1.0, &mut s2.0, f);
        self.1.visit_params(&grads.1, &mut s1.1, &mut s2.1, f);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.0.init(init, rng);
        self.1.init(init, rng);
    }
}

/// Optimizer state for a network with gradients `G`: two gradient-shaped
/// buffers (SGD's velocity; Adam's moments) and the step count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptState<G> {
    /// SGD velocity or Adam first moment.
    pub s1: G,
    /// Adam second moment (unused by SGD).
    pub s2: G,
    /// Steps taken so far.
    pub t: u32,
}

impl<G: Zero> Zero for OptState<G> {
    const ZERO: Self = OptState {
        s1: G::ZERO,
        s2: G::ZERO,
        t: 0,
    };
}

/// An optimizer that updates every parameter of a [`Layer`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Optimizer {
    /// Stochastic gradient descent with momentum.
    Sgd(Sgd),
    /// Adam.
    Adam(Adam),
}

impl Optimizer {
    /// One update of `layer` from `grads` (already averaged over the batch).
    pub fn step<L: Layer>(&self, layer: &mut L, grads: &L::Grads, state: &mut OptState<L::Grads>) {
        state.t = state.t.saturating_add(1);
        let t = state.t;
        match *self {
            Optimizer::Sgd(sgd) => {
                layer.visit_params(grads, &mut state.s1, &mut state.s2, &mut |p, g, v, _| {
                    sgd.update(p, g, v)
                })
            }
            Optimizer::Adam(adam) => {
                layer.visit_params(grads, &mut state.s1, &mut state.s2, &mut |p, g, m, v| {
                    adam.update(t, p, g, m, v)
                })
            }
        }
    }
}

/// Implements [`Params`] for a gradient struct by listing its tensor fields.
macro_rules! params_struct {
    ($ty:ident < $(const $c:ident : usize),* >, $($field:ident),+) => {
        impl<$(const $c: usize),*> $crate::layers::Params for $ty<$($c),*> {
            fn for_each(&self, f: &mut dyn FnMut(&[f32])) {
                $( f($crate::layers::Tensor::flat(&self.$field)); )+
            }
            fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
                $( f($crate::layers::Tensor::flat_mut(&mut self.$field)); )+
            }
        }
    };
}
use params_struct;
