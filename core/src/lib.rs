#![no_std]
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod error;
pub mod kernels;
pub mod math;

pub use error::Error;
