//! Training pieces: losses, optimizers, initialization.
pub mod rbm;
