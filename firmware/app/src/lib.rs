//! Board-independent firmware logic.
//!
//! - [`demo`]: a small fixed dense network whose every output is exact in
//!   `f32`, with an integer reference to check it against on any target.
//! - [`demo_q`]: an int8 network on myelin-core's int8 kernels, with a plain
//!   integer reference.
//! - [`Blinker`]: runs the network and shows its answer on an LED, generic
//!   over embedded-hal 1.0 [`OutputPin`](embedded_hal::digital::OutputPin)
//!   and [`DelayNs`](embedded_hal::delay::DelayNs), so it is tested on the
//!   host with mocks and runs unchanged on every board.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blink;
pub mod demo;
pub mod demo_q;

pub use blink::{Blinker, Outcome};
