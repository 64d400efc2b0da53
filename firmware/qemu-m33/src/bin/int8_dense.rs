//! The int8 demo network, checked against the scalar kernels and an `i32` reference.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, programs};

#[entry]
fn main() -> ! {
    programs::int8_dense()
}
