//! LSTM over a fixed-length sequence, trained by backpropagation through time.

use super::{Layer, ParamVisitor, Tensor, Zero, params_struct};
use crate::kernels::{self, LstmShape, LstmStepGrads};
use crate::train::{Init, Rng};

/// An LSTM reading `SEQ` steps of `IN` features and returning the hidden
/// state after every step (`SEQ x HIDDEN`); the initial state is zero.
/// Gate order in every weight tensor: input, forget, cell, output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lstm<const IN: usize, const HIDDEN: usize, const SEQ: usize> {
    /// Input weights, `4 x HIDDEN x IN`.
    pub wx: [[[f32; IN]; HIDDEN]; 4],
    /// Recurrent weights, `4 x HIDDEN x HIDDEN`.
    pub wh: [[[f32; HIDDEN]; HIDDEN]; 4],
    /// Biases, `4 x HIDDEN`.
    pub bias: [[f32; HIDDEN]; 4],
}

/// Gradients of an [`Lstm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmGrads<const IN: usize, const HIDDEN: usize> {
    /// `∂L/∂Wx`.
    pub wx: [[[f32; IN]; HIDDEN]; 4],
    /// `∂L/∂Wh`.
    pub wh: [[[f32; HIDDEN]; HIDDEN]; 4],
    /// `∂L/∂b`.
    pub bias: [[f32; HIDDEN]; 4],
}

/// What an [`Lstm`] keeps from forward for BPTT, plus its backward scratch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmCache<const HIDDEN: usize, const SEQ: usize> {
    /// Activated gates of every step.
    pub gates: [[[f32; HIDDEN]; 4]; SEQ],
    /// Cell state after every step.
    pub c: [[f32; HIDDEN]; SEQ],
    dz: [[f32; HIDDEN]; 4],
    dh: [f32; HIDDEN],
    dc: [f32; HIDDEN],
    dh_prev: [f32; HIDDEN],
}

impl<const IN: usize, const HIDDEN: usize, const SEQ: usize> Zero for Lstm<IN, HIDDEN, SEQ> {
    const ZERO: Self = Self {
        wx: [[[0.0; IN]; HIDDEN]; 4],
        wh: [[[0.0; HIDDEN]; HIDDEN]; 4],
        bias: [[0.0; HIDDEN]; 4],
    };
}

impl<const IN: usize, const HIDDEN: usize> Zero for LstmGrads<IN, HIDDEN> {
    const ZERO: Self = Self {
        wx: [[[0.0; IN]; HIDDEN]; 4],
        wh: [[[0.0; HIDDEN]; HIDDEN]; 4],
        bias: [[0.0; HIDDEN]; 4],
    };
}
params_struct!(LstmGrads<const IN: usize, const HIDDEN: usize>, wx, wh, bias);

impl<const HIDDEN: usize, const SEQ: usize> Zero for LstmCache<HIDDEN, SEQ> {
    const ZERO: Self = Self {
        gates: [[[0.0; HIDDEN]; 4]; SEQ],
        c: [[0.0; HIDDEN]; SEQ],
        dz: [[0.0; HIDDEN]; 4],
        dh: [0.0; HIDDEN],
        dc: [0.0; HIDDEN],
        dh_prev: [0.0; HIDDEN],
    };
}

impl<const IN: usize, const HIDDEN: usize, const SEQ: usize> Lstm<IN, HIDDEN, SEQ> {
    /// The runtime shape the kernels take.
    pub const SHAPE: LstmShape = {
        assert!(IN > 0 && HIDDEN > 0 && SEQ > 0, "Lstm: zero size");
        LstmShape {
            input: IN,
            hidden: HIDDEN,
        }
    };
}

impl<const IN: usize, const HIDDEN: usize, const SEQ: usize> Layer for Lstm<IN, HIDDEN, SEQ> {
    type Input = [[f32; IN]; SEQ];
    type Output = [[f32; HIDDEN]; SEQ];
    type Cache = LstmCache<HIDDEN, SEQ>;
    type Grads = LstmGrads<IN, HIDDEN>;

    fn forward(&self, x: &Self::Input, y: &mut Self::Output, cache: &mut Self::Cache) {
        let zero = [0.0f32; HIDDEN];
        for (t, xt) in x.iter().enumerate() {
            let (done, rest) = y.split_at_mut(t);
            let (c_done, c_rest) = cache.c.split_at_mut(t);
            let h_prev = done.last().unwrap_or(&zero);
            let c_prev = c_done.last().unwrap_or(&zero);
            kernels::lstm_step_forward(
                &Self::SHAPE,
                self.wx.flat(),
                self.wh.flat(),
                self.bias.flat(),
                xt,
                h_prev,
                c_prev,
                cache.gates[t].flat_mut(),
                &mut c_rest[0],
                &mut rest[0],
            );
        }
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
        let zero = [0.0f32; HIDDEN];
        let LstmCache {
            gates,
            c,
            dz,
            dh,
            dc,
            dh_prev,
        } = cache;
        dh_prev.fill(0.0);
        dc.fill(0.0);
        for t in (0..SEQ).rev() {
            for k in 0..HIDDEN {
                dh[k] = dy[t][k] + dh_prev[k];
            }
            let h_prev = if t > 0 { &y[t - 1] } else { &zero };
            let c_prev = if t > 0 { &c[t - 1] } else { &zero };
            kernels::lstm_step_backward(
                &Self::SHAPE,
                self.wx.flat(),
                self.wh.flat(),
                &x[t],
                h_prev,
                c_prev,
                gates[t].flat(),
                &c[t],
                dh,
                dc,
                dz.flat_mut(),
                LstmStepGrads {
                    wx: grads.wx.flat_mut(),
                    wh: grads.wh.flat_mut(),
                    b: grads.bias.flat_mut(),
                },
                &mut dx[t],
                dh_prev,
            );
        }
    }

    fn visit_params(
        &mut self,
        g: &Self::Grads,
        s1: &mut Self::Grads,
        s2: &mut Self::Grads,
        f: &mut ParamVisitor<'_>,
    ) {
        f(
            self.wx.flat_mut(),
            g.wx.flat(),
            s1.wx.flat_mut(),
            s2.wx.flat_mut(),
        );
        f(
            self.wh.flat_mut(),
            g.wh.flat(),
            s1.wh.flat_mut(),
            s2.wh.flat_mut(),
        );
        f(
            self.bias.flat_mut(),
            g.bias.flat(),
            s1.bias.flat_mut(),
            s2.bias.flat_mut(),
        );
    }

    /// Weights from `init` (fan-in `IN` resp. `HIDDEN`, fan-out `HIDDEN`);
    /// biases zero except the forget gate's, which start at 1.
    fn init(&mut self, init: Init, rng: &mut Rng) {
        init.fill(self.wx.flat_mut(), IN, HIDDEN, rng);
        init.fill(self.wh.flat_mut(), HIDDEN, HIDDEN, rng);
        self.bias = [[0.0; HIDDEN]; 4];
        self.bias[1] = [1.0; HIDDEN];
    }
}

/// Keeps the last step of a sequence: `SEQ x N` in, `N` out (e.g. after an
/// [`Lstm`], to classify the whole sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LastStep<const N: usize, const SEQ: usize>;

impl<const N: usize, const SEQ: usize> Zero for LastStep<N, SEQ> {
    const ZERO: Self = Self;
}

impl<const N: usize, const SEQ: usize> Layer for LastStep<N, SEQ> {
    type Input = [[f32; N]; SEQ];
    type Output = [f32; N];
    type Cache = ();
    type Grads = ();

    fn forward(&self, x: &Self::Input, y: &mut [f32; N], _: &mut ()) {
        const { assert!(SEQ > 0, "LastStep: empty sequence") };
        *y = x[SEQ - 1];
    }

    fn backward(
        &self,
        _: &Self::Input,
        _: &[f32; N],
        _: &mut (),
        dy: &[f32; N],
        dx: &mut Self::Input,
        _: &mut (),
    ) {
        *dx = [[0.0; N]; SEQ];
        dx[SEQ - 1] = *dy;
    }

    fn visit_params(&mut self, _: &(), _: &mut (), _: &mut (), _: &mut ParamVisitor<'_>) {}

    fn init(&mut self, _: Init, _: &mut Rng) {}
}
