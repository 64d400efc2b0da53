#![no_std]
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod error;
pub mod kernels;
pub mod layers;
pub mod math;
pub mod model;
pub mod quant;
pub mod train;

pub use error::Error;
