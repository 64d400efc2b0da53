//! Kernels on fixed data with known answers.
#![no_std]
#![no_main]

use myelin_fw_common::{entry, programs};

#[entry]
fn main() -> ! {
    programs::kernels()
}
