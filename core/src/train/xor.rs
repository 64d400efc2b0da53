//! A complete no_std training run small enough for any microcontroller: a
//! 2-8-1 tanh network learning XOR with Adam on binary cross-entropy. Used by
//! the tests and by the firmware's on-target training check.
//!
//! ```
//! let report = myelin_core::train::xor::train_xor(1, 2000);
//! assert_eq!(report.correct, 4);
//! ```

use super::{Adam, Init, Rng, bce_with_logits};
use crate::layers::{Dense, Layer, OptState, Optimizer, Params, Tanh, Zero};

/// Hidden units of [`XorNet`].
pub const XOR_HIDDEN: usize = 8;

/// The network: `Dense<2, 8>`, tanh, `Dense<8, 1>` giving one logit.
pub type XorNet = crate::net![Dense<2, XOR_HIDDEN>, Tanh<[f32; XOR_HIDDEN]>, Dense<XOR_HIDDEN, 1>];

/// The four XOR inputs.
pub const XOR_INPUTS: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// The XOR truth table for [`XOR_INPUTS`].
pub const XOR_TARGETS: [f32; 4] = [0.0, 1.0, 1.0, 0.0];

/// Network, cache, gradients and optimizer state for XOR training: everything
/// lives in this one value (under 700 bytes), so it can be a `static`.
#[derive(Debug)]
pub struct XorTrainer {
    /// The network being trained.
    pub net: XorNet,
    cache: <XorNet as Layer>::Cache,
    grads: <XorNet as Layer>::Grads,
    state: OptState<<XorNet as Layer>::Grads>,
    optimizer: Optimizer,
}

/// Outcome of [`train_xor`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct XorReport {
    /// Epochs run (each one full-batch update over the four patterns).
    pub epochs: u32,
    /// Mean loss of the last epoch.
    pub loss: f32,
    /// Patterns classified correctly at the end (4 is perfect).
    pub correct: u32,
}

impl XorTrainer {
    /// A freshly initialized trainer (Xavier-uniform weights from `seed`).
    pub fn new(seed: u64) -> Self {
        let mut net = XorNet::ZERO;
        net.init(Init::XavierUniform, &mut Rng::new(seed));
        Self {
            net,
            cache: Zero::ZERO,
            grads: Zero::ZERO,
            state: OptState::ZERO,
            optimizer: Optimizer::Adam(Adam::new(0.05)),
        }
    }

    /// The network's logit for `x` (positive means "1").
    pub fn logit(&mut self, x: &[f32; 2]) -> f32 {
        let mut y = [0.0];
        self.net.forward(x, &mut y, &mut self.cache);
        y[0]
    }

    /// One full-batch step over the four patterns; returns their mean loss.
    pub fn epoch(&mut self) -> f32 {
        self.grads.clear();
        let mut loss = 0.0;
        for (x, &t) in XOR_INPUTS.iter().zip(&XOR_TARGETS) {
            let mut y = [0.0];
            self.net.forward(x, &mut y, &mut self.cache);
            let mut dy = [0.0];
            loss += bce_with_logits(&y, &[t], &mut dy);
            let mut dx = [0.0; 2];
            self.net
                .backward(x, &y, &mut self.cache, &dy, &mut dx, &mut self.grads);
        }
        self.grads.scale(0.25);
        self.optimizer
            .step(&mut self.net, &self.grads, &mut self.state);
        loss * 0.25
    }

    /// Patterns the network classifies correctly (0 to 4).
    pub fn correct(&mut self) -> u32 {
        let mut n = 0;
        for (x, &t) in XOR_INPUTS.iter().zip(&XOR_TARGETS) {
            if (self.logit(x) > 0.0) == (t > 0.5) {
                n += 1;
            }
        }
        n
    }
}

/// Trains XOR from `seed` until all four patterns are right and the mean
/// loss is below 0.05, or `max_epochs` have run.
pub fn train_xor(seed: u64, max_epochs: u32) -> XorReport {
    let mut t = XorTrainer::new(seed);
    let mut loss = f32::INFINITY;
    let mut epochs = 0;
    while epochs < max_epochs {
        loss = t.epoch();
        epochs += 1;
        if loss < 0.05 && t.correct() == 4 {
            break;
        }
    }
    XorReport {
        epochs,
        loss,
        correct: t.correct(),
    }
}
