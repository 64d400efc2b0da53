//! Pretraining of deep sigmoid nets: greedy layer-wise Deep Belief Network
//! pretraining with RBMs ([`dbn`]), discriminative layer-by-layer growth
//! ([`discriminative`]), both on dense stacks of the host's general engine
//! ([`stack`]).
//!
//! The math (RBM sampling and updates) is the core's and backprop is the
//! engine's ([`crate::train::Trainer`]); this module adds batching, epochs,
//! progress on stderr and the layer bookkeeping.

pub mod dbn;
pub mod discriminative;
pub mod network;
pub mod rbm;
pub mod stack;

use myelin_core::train::Rng;

pub use network::{PretrainArgs, pretrain_network};

/// Which pretraining to run before fine-tuning a deep net.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Pretrain {
    /// Greedy layer-wise RBM stacking (a Deep Belief Network).
    Dbn,
    /// Train one hidden layer, then insert hidden layers one at a time.
    Discriminative,
}

/// A random permutation of `0..n`.
pub fn permutation(n: usize, rng: &mut Rng) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    rng.shuffle(&mut order);
    order
}
