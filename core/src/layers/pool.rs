//! Pooling layers and the reshape from nested arrays to a flat vector.

use super::{Layer, ParamVisitor, Tensor, Zero};
use crate::kernels::{self, Pool2dShape, conv_out_len};
use crate::train::{Init, Rng};
use core::marker::PhantomData;

macro_rules! pool {
    ($name:ident, $fwd:path, $doc:literal) => {
        #[doc = $doc]
        ///
        /// `C x H x W` in, `C x OH x OW` out, `K x K` windows every `S`
        /// positions, no padding; `OH == (H - K) / S + 1` and
        /// `OW == (W - K) / S + 1` are checked at compile time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name<
            const C: usize,
            const H: usize,
            const W: usize,
            const K: usize,
            const S: usize,
            const OH: usize,
            const OW: usize,
        >;

        impl<
            const C: usize,
            const H: usize,
            const W: usize,
            const K: usize,
            const S: usize,
            const OH: usize,
            const OW: usize,
        > Zero for $name<C, H, W, K, S, OH, OW>
        {
            const ZERO: Self = Self;
        }

        impl<
            const C: usize,
            const H: usize,
            const W: usize,
            const K: usize,
            const S: usize,
            const OH: usize,
            const OW: usize,
        > $name<C, H, W, K, S, OH, OW>
        {
            /// The runtime shape the kernels take.
            pub const SHAPE: Pool2dShape = {
                assert!(
                    C > 0 && K > 0 && S > 0 && K <= H && K <= W,
                    "pool: bad window"
                );
                assert!(
                    OH == conv_out_len(H, K, S, 0),
                    "pool: OH != (H - K) / S + 1"
                );
                assert!(
                    OW == conv_out_len(W, K, S, 0),
                    "pool: OW != (W - K) / S + 1"
                );
                Pool2dShape {
                    ch: C,
                    in_h: H,
                    in_w: W,
                    k_h: K,
                    k_w: K,
                    stride: S,
                }
            };
        }
    };
}

pool!(MaxPool2d, kernels::max_pool2d_forward, "Max pooling.");
pool!(AvgPool2d, kernels::avg_pool2d_forward, "Average pooling.");

impl<
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
> Layer for MaxPool2d<C, H, W, K, S, OH, OW>
{
    type Input = [[[f32; W]; H]; C];
    type Output = [[[f32; OW]; OH]; C];
    type Cache = ();
    type Grads = ();

    fn forward(&self, x: &Self::Input, y: &mut Self::Output, _: &mut ()) {
        kernels::max_pool2d_forward(&Self::SHAPE, x.flat(), y.flat_mut());
    }

    fn backward(
        &self,
        x: &Self::Input,
        _: &Self::Output,
        _: &mut (),
        dy: &Self::Output,
        dx: &mut Self::Input,
        _: &mut (),
    ) {
        kernels::max_pool2d_backward(&Self::SHAPE, x.flat(), dy.flat(), dx.flat_mut());
    }

    fn visit_params(&mut self, _: &(), _: &mut (), _: &mut (), _: &mut ParamVisitor<'_>) {}

    fn init(&mut self, _: Init, _: &mut Rng) {}
}

impl<
    const C: usize,
    const H: usize,
    const W: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
> Layer for AvgPool2d<C, H, W, K, S, OH, OW>
{
    type Input = [[[f32; W]; H]; C];
    type Output = [[[f32; OW]; OH]; C];
    type Cache = ();
    type Grads = ();

    fn forward(&self, x: &Self::Input, y: &mut Self::Output, _: &mut ()) {
        kernels::avg_pool2d_forward(&Self::SHAPE, x.flat(), y.flat_mut());
    }

    fn backward(
        &self,
        _: &Self::Input,
        _: &Self::Output,
        _: &mut (),
        dy: &Self::Output,
        dx: &mut Self::Input,
        _: &mut (),
    ) {
        kernels::avg_pool2d_backward(&Self::SHAPE, dy.flat(), dx.flat_mut());
    }

    fn visit_params(&mut self, _: &(), _: &mut (), _: &mut (), _: &mut ParamVisitor<'_>) {}

    fn init(&mut self, _: Init, _: &mut Rng) {}
}

/// Reshapes a tensor `T` (e.g. `C x H x W`) into a flat `[f32; N]`; `N` must
/// equal the element count of `T` (checked at compile time).
///
/// ```
/// use myelin_core::layers::{Flatten, Layer};
/// let mut y = [0.0; 12];
/// Flatten::<[[[f32; 2]; 3]; 2], 12>::new().forward(&[[[1.0; 2]; 3]; 2], &mut y, &mut ());
/// assert_eq!(y, [1.0; 12]);
/// ```
///
/// ```compile_fail
/// use myelin_core::layers::{Flatten, Layer};
/// let mut y = [0.0; 13];
/// Flatten::<[[[f32; 2]; 3]; 2], 13>::new().forward(&[[[1.0; 2]; 3]; 2], &mut y, &mut ());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flatten<T, const N: usize>(PhantomData<T>);

impl<T, const N: usize> Flatten<T, N> {
    /// The layer.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T, const N: usize> Zero for Flatten<T, N> {
    const ZERO: Self = Self(PhantomData);
}

impl<T: Tensor, const N: usize> Layer for Flatten<T, N> {
    type Input = T;
    type Output = [f32; N];
    type Cache = ();
    type Grads = ();

    fn forward(&self, x: &T, y: &mut [f32; N], _: &mut ()) {
        const { assert!(T::LEN == N, "Flatten: N != element count of the input") };
        y.copy_from_slice(x.flat());
    }

    fn backward(&self, _: &T, _: &[f32; N], _: &mut (), dy: &[f32; N], dx: &mut T, _: &mut ()) {
        dx.flat_mut().copy_from_slice(dy);
    }

    fn visit_params(&mut self, _: &(), _: &mut (), _: &mut (), _: &mut ParamVisitor<'_>) {}

    fn init(&mut self, _: Init, _: &mut Rng) {}
}
