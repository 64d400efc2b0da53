//! myelin-host: the std side of myelin. Data loading, training and the CLI
//! around the `myelin-core` kernels.

#![forbid(unsafe_code)]

pub mod augment;
pub mod checkpoint;
pub mod cli;
pub mod crew;
pub mod data;
pub mod engine;
pub mod experiment;
pub mod export;
pub mod fold;
pub mod graph;
pub mod idx;
pub mod import;
pub mod net;
pub mod npy;
pub mod plot;
pub mod pretrain;
pub mod quantize;
pub mod run;
pub mod train;
pub mod workers;
