//! Training pieces: losses, optimizers, initialization.
