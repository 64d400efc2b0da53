//! Training pieces in `no_std`: losses, optimizers (SGD with momentum, Adam),
//! weight initialization and a seedable PRNG. Nothing here allocates: state
//! lives in caller-owned slices.

pub mod init;
pub mod loss;
pub mod optim;
pub mod rbm;
mod rng;
pub mod xor;

#[cfg(test)]
mod tests;

pub use init::{Init, he_normal, he_uniform, xavier_normal, xavier_uniform};
pub use loss::{argmax, bce_with_logits, cross_entropy, mse};
pub use optim::{Adam, Sgd, clip_grad_norm, l2_norm};
pub use rng::Rng;
