//! myelin: deep neural networks that train on a laptop and run, bit for bit
//! the same, on a Cortex-M microcontroller.
//!
//! This facade re-exports the two crates: [`core`] (`myelin-core`, `no_std`
//! kernels, layers and model format) and [`host`] (`myelin-host`, training
//! and the CLI).

#![forbid(unsafe_code)]

pub use myelin_core as core;
pub use myelin_host as host;
